//! Time, in a tab or in a worker.

use sluice_engine::Clock;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout`: the same in a tab and in a worker.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
}

/// `Date.now()` and `setTimeout`.
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    async fn sleep(&self, ms: u64) {
        let delay = ms.min(i32::MAX as u64) as i32;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            set_timeout(&resolve, delay);
        });
        let _ = JsFuture::from(promise).await;
    }
}

/// Work the import may do on the main thread before it lets the page paint and handle input (ms). Chromium counts a
/// task over 50 ms as a "long task" that makes a page feel stuck; this keeps each well under.
const WORK_BUDGET_MS: f64 = 10.0;

thread_local! {
    static LAST_YIELD: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// The page's `performance`, or `None` in a worker: looked up once, since asking for the window is a type
    /// check across the JS boundary on every piece read.
    static PAGE_PERFORMANCE: Option<web_sys::Performance> = web_sys::window().and_then(|window| window.performance());
}

/// Gives the main thread back to the page when the import has worked for longer than its budget since the last
/// time. Awaiting one promise after another runs as microtasks inside a single task, so without this a fast
/// download (many chunks already buffered) would be split and batched in one long task. A `MessageChannel` message
/// is a new task that, unlike a nested `setTimeout`, is not clamped to 4 ms.
///
/// In a worker (where the web app runs its imports) there is no page to give back to, and this returns at once.
pub async fn yield_if_due() {
    let Some(performance) = PAGE_PERFORMANCE.with(Clone::clone) else {
        return;
    };
    let now = performance.now();
    if now - LAST_YIELD.with(std::cell::Cell::get) < WORK_BUDGET_MS {
        return;
    }
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let Ok(channel) = web_sys::MessageChannel::new() else {
            let _ = resolve.call0(&JsValue::NULL);
            return;
        };
        channel.port1().set_onmessage(Some(&resolve));
        let _ = channel.port2().post_message(&JsValue::NULL);
    });
    let _ = JsFuture::from(promise).await;
    LAST_YIELD.with(|last| last.set(performance.now()));
}
