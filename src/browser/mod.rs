//! Browser adapters for the engine's traits: the import runs in the engine's job driver, these give it a tab's I/O.
//!
//! - [`clock::BrowserClock`]: `Date.now()` and `setTimeout`;
//! - [`fetch_source::FetchSource`]: an object behind a (presigned) URL through `fetch` and `ReadableStream`, resumed
//!   with `Range` + `If-Match`;
//! - [`sink::ProxySink`]: bulk bodies to `sluice serve` over gloo-net;
//! - [`store::IdbStore`]: checkpoints and dead letters in IndexedDB.

pub mod clock;
pub mod fetch_source;
pub mod sink;
pub mod store;

use wasm_bindgen::{JsCast, JsValue};

/// A JavaScript error (or any thrown value) as text.
pub fn js_error_text(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
