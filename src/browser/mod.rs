//! Browser adapters for the engine's traits: the import runs in the engine's job driver, these give it a tab's I/O.
//!
//! - [`clock::BrowserClock`]: `Date.now()` and `setTimeout`;
//! - [`fetch_source::FetchSource`]: an object behind a (presigned) URL through `fetch` and `ReadableStream`, resumed
//!   with `Range` + `If-Match`; gzip through [`gunzip`];
//! - [`file_source::LocalFileSource`]: a picked or dropped file through `Blob.slice` + `stream()`;
//! - [`file_access`]: lasting access to local files (File System Access handles), so a reload need not re-pick;
//! - [`inspect`]: the head of a source for the preview; the target index's mapping, pipelines and creation;
//! - [`pieces::Pieces`]: both sources' bytes in pieces the page can afford (≤ 128 KiB, yielding every 10 ms);
//! - [`sink::ProxySink`]: bulk bodies to `sluice serve` over gloo-net;
//! - [`store::IdbStore`]: jobs, checkpoints and dead letters in IndexedDB;
//! - [`tabs`]: one tab per job (Web Locks) and live progress for the other tabs (BroadcastChannel).

pub mod file_access;
pub mod file_source;
pub mod inspect;
pub mod sink;
pub mod store;
pub mod tabs;

// Shared with the edge Worker (crates/web-io): fetch-based sources, pieces, the clock, gunzip.
pub use sluice_web_io::{clock, fetch_source, gunzip, js_error_text, pieces};

/// `sluiceWasmMemoryBytes()` on the global object (the page's window, or the worker's scope): the size of this
/// module's linear memory, which the browser benchmark reads (the JS heap figure does not include it).
pub fn expose_memory_size() {
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
