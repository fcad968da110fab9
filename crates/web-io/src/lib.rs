//! The engine's I/O over the web platform's own APIs (`fetch`, `ReadableStream`, `setTimeout`,
//! `DecompressionStream`), with nothing that needs a window: the same adapters run on a page, in the engine's Web
//! Worker and in the edge Worker (workerd).
//!
//! - [`clock::BrowserClock`]: `Date.now()` and `setTimeout`; [`clock::yield_if_due`] yields on a page's thread only;
//! - [`fetch_source::FetchSource`]: an object behind a (presigned) URL, resumed with `Range` + `If-Match`;
//! - [`pieces::Pieces`]: a body stream in pieces of at most 128 KiB;
//! - [`gunzip`]: gzip through `DecompressionStream`.

#![cfg(target_arch = "wasm32")]
#![warn(missing_docs)]

pub mod clock;
pub mod fetch_source;
pub mod pieces;

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

/// The decompressed bytes of a gzip stream, through the platform's own `DecompressionStream` (native code, so
/// inflating costs almost nothing).
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
