//! Sluice's web app: the analyst-facing page, a Leptos client-side-rendered app built with Trunk.
//!
//! Components only render signals; the import itself runs in the engine's job driver (`sluice-engine`).

// Natively nothing mounts the app (only its logic is unit-tested), so its components look unused there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("sluice-web is the browser app: build it with `trunk build --release` (see README.md).");
    std::process::exit(2);
}
