//! The web app's entry point (see `lib.rs`).

#[cfg(target_arch = "wasm32")]
fn main() {
    expose_memory_size();
    leptos::mount::mount_to_body(sluice::app::App);
}

/// `window.sluiceWasmMemoryBytes()`: the size of this module's linear memory, which the browser benchmark reads
/// (the JS heap figure does not include it).
#[cfg(target_arch = "wasm32")]
fn expose_memory_size() {
    use wasm_bindgen::prelude::Closure;
    let size = Closure::<dyn Fn() -> f64>::new(|| {
        let buffer = js_sys::Reflect::get(&wasm_bindgen::memory(), &"buffer".into()).unwrap_or_default();
        js_sys::Reflect::get(&buffer, &"byteLength".into())
            .ok()
            .and_then(|n| n.as_f64())
            .unwrap_or(0.0)
    });
    let _ = js_sys::Reflect::set(&js_sys::global(), &"sluiceWasmMemoryBytes".into(), size.as_ref());
    size.forget();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("sluice-web is the browser app: build it with `trunk build --release` (see README.md).");
    std::process::exit(2);
}
