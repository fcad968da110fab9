//! # sluice-engine
//!
//! The platform-free core of Sluice: everything between "bytes of a source" and "a committed checkpoint", with
//! no I/O and no async runtime of its own, so it compiles natively and to `wasm32-unknown-unknown`.
//!
//! Data flows one way:
//!
//! ```text
//! ByteSource ─► split::Splitter ─► batch::BatchBuilder ─► BulkSink ─► bulk::classify ─► watermark ─► CheckpointStore
//! ```
//!
//! - [`split`]: incremental splitting of JSON Lines and JSON arrays, with absolute byte offsets.
//! - [`record`]: per-record validation and `_id` extraction.
//! - [`batch`]: NDJSON `_bulk` bodies built from the records' bytes verbatim.
//! - [`bulk`]: classification of `_bulk` responses, per request and per item.
//! - [`retry`]: backoff with full jitter and `Retry-After`.
//! - [`watermark`]: the committed offset with requests acknowledged out of order.
//! - [`checkpoint`]: the versioned checkpoint document and resume validation.
//! - [`job`]: the async driver and the traits adapters implement (`ByteSource`, `BulkSink`, `CheckpointStore`,
//!   `DeadLetterStore`, `Clock`).
//! - [`export`]: a job's checkpoints as a file, checked when read back.
//! - [`manifest`]: a job of several objects, each with its own checkpoint.
//! - [`progress`]: figures for progress bars.
//! - [`source_url`]: bucket, key and expiry of (presigned) source URLs.

#![warn(missing_docs)]

pub mod batch;
pub mod bulk;
pub mod checkpoint;
pub mod dead_letter;
pub mod export;
pub mod format;
pub mod job;
pub mod manifest;
pub mod progress;
pub mod record;
pub mod retry;
pub mod settings;
pub mod source_url;
pub mod split;
pub mod watermark;

pub use checkpoint::{Checkpoint, JobStatus, SourceIdentity};
pub use dead_letter::DeadLetter;
pub use format::{Format, FormatChoice};
pub use job::{run_job, BulkSink, ByteSource, CheckpointStore, Clock, Command, DeadLetterStore, JobPlan};
pub use settings::{Action, IdStrategy, ImportSettings, Tuning, Validation};

/// The engine's version, shown by the web app and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
