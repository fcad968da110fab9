//! Time in a browser tab.

use sluice_engine::Clock;
use wasm_bindgen_futures::JsFuture;

/// `Date.now()` and `setTimeout`.
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    async fn sleep(&self, ms: u64) {
        let delay = ms.min(i32::MAX as u64) as i32;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, delay);
            }
        });
        let _ = JsFuture::from(promise).await;
    }
}
