//! The engine's traits in a Durable Object: the sink posts to OpenSearch, the stores write to the object's storage,
//! and the source (the same [`FetchSource`](sluice_web_io::fetch_source::FetchSource) as the page's) is metered
//! against the slice's budget.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use futures::channel::mpsc::UnboundedSender;
use sluice_engine::bulk::SinkResponse;
use sluice_engine::job::{Command, SinkError, SourceError, StoreError};
use sluice_engine::repair::RetryLedger;
use sluice_engine::{BulkSink, ByteSource, Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore};

use super::js::{self, Storage};
use super::upstream::Upstream;
use crate::layout;
use crate::slice::SliceMeter;

/// The slice running now: its meter, and the command channels of the parts it runs, so that a spent budget, a pause
/// or a cancel reaches every one of them.
pub struct SliceControl {
    /// What the slice has used.
    pub meter: SliceMeter,
    senders: RefCell<Vec<UnboundedSender<Command>>>,
}

impl SliceControl {
    /// A slice with `meter`.
    pub fn new(meter: SliceMeter) -> Self {
        SliceControl {
            meter,
            senders: RefCell::new(Vec::new()),
        }
    }

    /// Adds a running part's command channel.
    pub fn add(&self, sender: UnboundedSender<Command>) {
        self.senders.borrow_mut().push(sender);
    }

    /// Sends `command` to every running part.
    pub fn command(&self, command: Command) {
        for sender in self.senders.borrow().iter() {
            let _ = sender.unbounded_send(command);
        }
    }

    /// Ends the slice when the meter says its budget was just spent: each part sends what it has read and pauses
    /// once it is all resolved, so every slice commits its work however small the budget.
    pub(crate) fn end_if(&self, spent: bool) {
        if spent {
            self.command(Command::Drain);
        }
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Bulk bodies straight to OpenSearch, with the Worker's credentials.
pub struct UpstreamSink {
    /// The cluster.
    pub upstream: Upstream,
    /// The slice, which counts each request.
    pub slice: Rc<SliceControl>,
}

impl BulkSink for UpstreamSink {
    async fn send(&self, body: Bytes) -> Result<SinkResponse, SinkError> {
        self.slice.end_if(self.slice.meter.subrequest(now_ms()));
        let response = self
            .upstream
            .send("POST", "/_bulk", Some((&body, "application/x-ndjson")))
            .await
            .map_err(SinkError)?;
        let status = response.status();
        let retry_after = js::header(&response.headers(), "retry-after");
        let body = js::body_bytes(&response)
            .await
            .map_err(|e| SinkError(format!("the answer broke off: {e}")))?;
        Ok(SinkResponse {
            status,
            retry_after,
            body,
        })
    }
}

/// A source whose downloads and bytes count against the slice's budget.
pub struct MeteredSource<S> {
    /// The source.
    pub inner: S,
    /// The slice.
    pub slice: Rc<SliceControl>,
}

impl<S: ByteSource> ByteSource for MeteredSource<S> {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        self.slice.end_if(self.slice.meter.subrequest(now_ms()));
        self.inner.open(absolute_byte_offset).await
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let chunk = self.inner.next_chunk().await?;
        if let Some(bytes) = &chunk {
            self.slice.end_if(self.slice.meter.bytes(bytes.len() as u64, now_ms()));
        }
        Ok(chunk)
    }
}

/// A part's checkpoint in the object's storage.
pub struct StoredCheckpoint {
    /// The storage.
    pub storage: Storage,
    /// The part.
    pub part: usize,
}

impl CheckpointStore for StoredCheckpoint {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let text = String::from_utf8(checkpoint.to_json()).map_err(|e| StoreError(e.to_string()))?;
        self.storage
            .put_text(&layout::checkpoint_key(self.part), &text)
            .await
            .map_err(|e| StoreError(format!("Durable Object storage refused the checkpoint: {e}")))
    }
}

/// A part's dead letters in the object's storage, keyed by offset (a replayed record is stored again in place).
pub struct StoredDeadLetters {
    /// The storage.
    pub storage: Storage,
    /// The part.
    pub part: usize,
}

impl DeadLetterStore for StoredDeadLetters {
    async fn store(&self, _job_id: &str, letters: &[DeadLetter]) -> Result<(), StoreError> {
        // Each group is one atomic write of whole letters; storing one again is harmless.
        put_letters(&self.storage, self.part, letters).await
    }
}

async fn put_letters(storage: &Storage, part: usize, letters: &[DeadLetter]) -> Result<(), StoreError> {
    for group in layout::letter_groups(part, letters) {
        storage
            .put_many(&group)
            .await
            .map_err(|e| StoreError(format!("Durable Object storage refused the dead letters: {e}")))?;
    }
    Ok(())
}

/// A part's dead letters seen from a retry: the letters read for it, with how many pieces each was stored in, so
/// that a letter indexed now has all its pieces removed in one write, and one stored again with a shorter reason
/// loses the pieces it no longer has.
pub struct RetriedDeadLetters {
    /// The storage.
    pub storage: Storage,
    /// The part.
    pub part: usize,
    /// Pieces stored per letter offset.
    pub pieces: RefCell<HashMap<u64, usize>>,
}

impl RetryLedger for RetriedDeadLetters {
    async fn settle(&self, indexed: &[u64], still_failing: &[DeadLetter]) -> Result<(), StoreError> {
        let refused = |e: String| StoreError(format!("Durable Object storage refused the failed records: {e}"));
        // The new versions first (written over the old pieces), then what is gone: an interruption in between
        // leaves a record listed, never lost.
        put_letters(&self.storage, self.part, still_failing).await?;
        let mut gone = Vec::new();
        for letter in still_failing {
            let now = layout::dead_letter_pieces(self.part, letter).len();
            let before = self.pieces.borrow_mut().insert(letter.offset, now).unwrap_or(0);
            gone.push(
                (now..before)
                    .map(|k| layout::piece_key(self.part, letter.offset, k))
                    .collect::<Vec<_>>(),
            );
        }
        for offset in indexed {
            let before = self.pieces.borrow_mut().remove(offset).unwrap_or(1);
            gone.push((0..before).map(|k| layout::piece_key(self.part, *offset, k)).collect());
        }
        for keys in layout::whole_groups(gone.into_iter().filter(|keys| !keys.is_empty())) {
            self.storage.delete_many(&keys).await.map_err(refused)?;
        }
        Ok(())
    }
}
