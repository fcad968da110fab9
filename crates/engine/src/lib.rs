//! # sluice-engine
//!
//! The platform-free core of Sluice: everything between "bytes of a source" and "a committed checkpoint", with
//! no I/O and no async runtime of its own, so it compiles natively and to `wasm32-unknown-unknown`.
//!
//! Data flows one way:
//!
//! ```text
//! ByteSource ─► reader::RecordReader ─► batch::BatchBuilder ─► BulkSink ─► bulk::classify ─► watermark ─► CheckpointStore
//! ```
//!
//! - [`reader`]: the reader of a source: format detection, then the JSON splitter or CSV/TSV rows as documents.
//! - [`split`]: incremental splitting of JSON Lines and JSON arrays, with absolute byte offsets.
//! - [`csv_split`], [`csv_rows`], [`csv_source`]: CSV/TSV rows with offsets, rows into typed JSON documents, and
//!   the header → sample → rows stages whose layout a checkpoint keeps.
//! - [`record`]: per-record validation and `_id` extraction.
//! - [`batch`]: NDJSON `_bulk` bodies built from the records' bytes verbatim.
//! - [`bulk`]: classification of `_bulk` responses, per request and per item.
//! - [`repair`]: failed records grouped by reason and sent again once the cause is fixed.
//! - [`retry`]: backoff with full jitter and `Retry-After`.
//! - [`transform`]: optional per-field transforms (rename, drop, keep, set, parse dates).
//! - [`watermark`]: the committed offset with requests acknowledged out of order.
//! - [`checkpoint`]: the versioned checkpoint document and resume validation.
//! - [`job`]: the async driver and the traits adapters implement (`ByteSource`, `BulkSink`, `CheckpointStore`,
//!   `DeadLetterStore`, `Clock`).
//! - [`export`]: a job's checkpoints as a file, checked when read back.
//! - [`manifest`]: a job of several objects, each with its own checkpoint.
//! - [`preview`]: the head of a source sampled: format, records, fields and their inferred types.
//! - [`mapping`]: the target index's mapping checked against a preview; a mapping proposed for a new index.
//! - [`progress`]: figures for progress bars.
//! - [`sniff`]: what a source that holds no valid record looks like (CSV, HTML, binary...).
//! - [`source_url`]: bucket, key and expiry of (presigned) source URLs.

#![warn(missing_docs)]

pub mod batch;
pub mod bulk;
pub mod checkpoint;
pub mod csv_rows;
pub mod csv_source;
pub mod csv_split;
pub mod dead_letter;
pub mod export;
pub mod flow;
pub mod format;
pub mod job;
pub mod manifest;
pub mod mapping;
pub mod preview;
pub mod progress;
pub mod raw_object;
pub mod reader;
pub mod record;
pub mod repair;
pub mod retry;
pub mod settings;
pub mod sniff;
pub mod source_url;
pub mod split;
pub mod transform;
pub mod watermark;

pub use checkpoint::{Checkpoint, JobStatus, SourceIdentity};
pub use dead_letter::DeadLetter;
pub use format::{Format, FormatChoice};
pub use job::{run_job, BulkSink, ByteSource, CheckpointStore, Clock, Command, DeadLetterStore, JobPlan};
pub use settings::{Action, IdStrategy, ImportSettings, Tuning, Validation};

/// The engine's version, shown by the web app and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
