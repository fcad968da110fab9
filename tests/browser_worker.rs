//! The adapters' browser tests (`browser/adapters.rs`) run in a dedicated Web Worker, the scope the web app's imports
//! run in (`src/worker/`): no `window` there, so an adapter that reached for it fails here.
//!
//! `scripts/browser-tests.sh` starts the servers and sets SLUICE_TEST_OBJECTS / SLUICE_TEST_PROXY at build time.

#![cfg(target_arch = "wasm32")]

#[path = "browser/adapters.rs"]
mod adapters;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// The scope is what it claims: a worker, without `window` (each adapter test above ran here).
#[wasm_bindgen_test::wasm_bindgen_test]
fn these_tests_run_without_a_window() {
    assert!(web_sys::window().is_none());
}
