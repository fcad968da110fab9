//! The web app's entry point (see `lib.rs`).

#[cfg(target_arch = "wasm32")]
fn main() {
    sluice::browser::expose_memory_size();
    leptos::mount::mount_to_body(sluice::app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("sluice-web is the browser app: build it with `trunk build --release` (see README.md).");
    std::process::exit(2);
}
