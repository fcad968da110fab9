//! Sluice's web app: the analyst-facing page (Leptos, client-side rendered, built with Trunk) and the browser
//! adapters that let the engine's job driver run in a browser, in a Web Worker beside the page (`worker`).
//!
//! Components only render signals; the import itself runs in the engine (`sluice-engine`).

// Natively nothing mounts the app (only its logic is unit-tested), so its components look unused there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod runner;
#[cfg(target_arch = "wasm32")]
pub mod worker;
