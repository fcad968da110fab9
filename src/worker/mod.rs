//! The engine's own thread. The page stays free for the analyst because the import itself (downloading, splitting,
//! batching, bulk requests, checkpoint and dead-letter writes to IndexedDB) runs in a dedicated Web Worker, built by
//! Trunk from the `sluice-worker` binary. The page keeps everything that needs a person or the tab: the job's Web
//! Lock, reading checkpoints and deciding which part runs, probing the object, file pickers and permissions, and the
//! view. It hands the worker one part at a time and renders what the worker reports.
//!
//! - [`protocol`]: the messages, as JSON (a local `File` travels beside the JSON, as a structured clone);
//! - [`client`]: the page's side, [`client::EngineWorker`];
//! - [`service`]: the worker's side, [`service::serve`].
//!
//! The worker lives no longer than the page that started it, so the page's lock covers everything the worker sends.

pub mod client;
pub mod protocol;
pub mod service;

/// The script that starts the worker (Trunk's loader shim for the `sluice-worker` binary), beside `index.html`.
pub const SCRIPT: &str = "sluice-worker_loader.js";
