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

pub mod clock;
pub mod fetch_source;
pub mod file_access;
pub mod file_source;
pub mod inspect;
pub mod pieces;
pub mod sink;
pub mod store;
pub mod tabs;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

// `DecompressionStream` is still behind web-sys's unstable flag; these two bindings are all Sluice needs.
#[wasm_bindgen]
extern "C" {
    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, JsValue>;
    #[wasm_bindgen(js_name = ReadableStream)]
    type PipeableStream;
    #[wasm_bindgen(method, js_name = pipeThrough)]
    fn pipe_through(this: &PipeableStream, transform: &DecompressionStream) -> web_sys::ReadableStream;
}

/// The decompressed bytes of a gzip stream, through the browser's own `DecompressionStream` (native code, so
/// inflating costs the tab almost nothing).
pub fn gunzip(stream: &web_sys::ReadableStream) -> Result<web_sys::ReadableStream, String> {
    let inflater = DecompressionStream::new("gzip").map_err(|e| {
        format!(
            "this browser cannot decompress gzip (DecompressionStream: {})",
            js_error_text(&e)
        )
    })?;
    Ok(stream.unchecked_ref::<PipeableStream>().pipe_through(&inflater))
}

/// A JavaScript error (or any thrown value) as text.
pub fn js_error_text(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

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
