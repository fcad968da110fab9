//! A simulated world for the job driver: an in-memory source, an OpenSearch-like sink with faults, stores, and a
//! clock with virtual time. Nothing sleeps; "latency" is a number of polls, so runs are deterministic per seed.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use sluice_engine::bulk::SinkResponse;
use sluice_engine::job::{SinkError, SourceError, SourceErrorKind, StoreError};
use sluice_engine::{BulkSink, ByteSource, Checkpoint, CheckpointStore, Clock, DeadLetter, DeadLetterStore};

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Returns Pending `n` times, waking itself each time: simulated latency.
pub struct Yield(pub u32);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Serves a byte slice in random chunks, with occasional transient failures.
pub struct MemSource {
    pub data: Bytes,
    pub position: usize,
    pub rng: Rng,
    pub max_chunk: usize,
    pub failure_rate: f64,
    pub opened_at: Vec<u64>,
}

impl MemSource {
    pub fn new(data: Bytes, seed: u64, max_chunk: usize, failure_rate: f64) -> Self {
        MemSource {
            data,
            position: 0,
            rng: Rng(seed),
            max_chunk,
            failure_rate,
            opened_at: Vec::new(),
        }
    }
}

impl ByteSource for MemSource {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        Yield(self.rng.below(3) as u32).await;
        self.opened_at.push(absolute_byte_offset);
        self.position = absolute_byte_offset as usize;
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        Yield(self.rng.below(3) as u32).await;
        if self.rng.chance(self.failure_rate) {
            return Err(SourceError::new(
                SourceErrorKind::Transient,
                "connection reset by the simulation",
            ));
        }
        if self.position >= self.data.len() {
            return Ok(None);
        }
        let size = 1 + self.rng.below(self.max_chunk as u64) as usize;
        let end = (self.position + size).min(self.data.len());
        let chunk = self.data[self.position..end].to_vec();
        self.position = end;
        Ok(Some(chunk))
    }
}

/// Faults the simulated cluster injects.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Per-item 429 probability.
    pub item_429: f64,
    /// Whole-request 429 probability.
    pub request_429: f64,
    /// Probability that the request is applied but the connection drops before the answer.
    pub drop_after_apply: f64,
    /// Bodies larger than this get 413 with an empty body.
    pub max_body: usize,
    /// Maximum simulated latency in polls.
    pub max_latency: u32,
}

/// What the simulated index holds: `_id` → (document bytes, writes).
#[derive(Debug, Default)]
pub struct Index {
    pub docs: HashMap<String, (Vec<u8>, u32)>,
    pub auto_id: u64,
    pub requests: u64,
    /// Requests answered 413 (too large).
    pub too_large: u64,
}

/// An in-memory OpenSearch `_bulk` endpoint that answers with OpenSearch's response shapes.
pub struct SimCluster {
    pub index: RefCell<Index>,
    pub rng: RefCell<Rng>,
    pub faults: Faults,
}

impl SimCluster {
    pub fn new(seed: u64, faults: Faults) -> Self {
        SimCluster {
            index: RefCell::new(Index::default()),
            rng: RefCell::new(Rng(seed)),
            faults,
        }
    }

    fn apply(&self, body: &[u8]) -> (String, bool) {
        let mut index = self.index.borrow_mut();
        index.requests += 1;
        let mut items = Vec::new();
        let mut errors = false;
        let mut lines = body.split(|&b| b == b'\n');
        while let Some(action_line) = lines.next() {
            if action_line.is_empty() {
                continue;
            }
            let source = lines.next().expect("a source line after each action line");
            let action: serde_json::Value = serde_json::from_slice(action_line).expect("action line is JSON");
            let (name, meta) = action.as_object().unwrap().iter().next().unwrap();
            let id = match meta.get("_id").and_then(|v| v.as_str()) {
                Some(id) => id.to_string(),
                None => {
                    index.auto_id += 1;
                    format!("auto-{}", index.auto_id)
                }
            };
            let doc: serde_json::Value = serde_json::from_slice(source).expect("the engine sends valid JSON here");
            let item = if doc.get("poison").is_some() {
                errors = true;
                format!(
                    r#"{{"{name}":{{"_index":"sim","_id":"{id}","status":400,"error":{{"type":"mapper_parsing_exception","reason":"failed to parse field [poison] of type [long] in document with id '{id}'. Preview of field's value: 'true'"}}}}}}"#
                )
            } else if self.rng.borrow_mut().chance(self.faults.item_429) {
                errors = true;
                format!(
                    r#"{{"{name}":{{"_index":"sim","_id":"{id}","status":429,"error":{{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}}}}"#
                )
            } else if name == "create" && index.docs.contains_key(&id) {
                errors = true;
                format!(
                    r#"{{"create":{{"_index":"sim","_id":"{id}","status":409,"error":{{"type":"version_conflict_engine_exception","reason":"[{id}]: version conflict, document already exists (current version [1])"}}}}}}"#
                )
            } else {
                let entry = index.docs.entry(id.clone()).or_insert_with(|| (Vec::new(), 0));
                entry.0 = source.to_vec();
                entry.1 += 1;
                let (result, status) = if entry.1 == 1 {
                    ("created", 201)
                } else {
                    ("updated", 200)
                };
                format!(
                    r#"{{"{name}":{{"_index":"sim","_id":"{id}","_version":{},"result":"{result}","_shards":{{"total":2,"successful":1,"failed":0}},"_seq_no":0,"_primary_term":1,"status":{status}}}}}"#,
                    entry.1
                )
            };
            items.push(item);
        }
        (
            format!(r#"{{"took":1,"errors":{errors},"items":[{}]}}"#, items.join(",")),
            errors,
        )
    }
}

impl BulkSink for SimCluster {
    async fn send(&self, body: Bytes) -> Result<SinkResponse, SinkError> {
        let latency = self.rng.borrow_mut().below(u64::from(self.faults.max_latency) + 1) as u32;
        Yield(latency).await;
        if body.len() > self.faults.max_body {
            self.index.borrow_mut().too_large += 1;
            return Ok(SinkResponse {
                status: 413,
                retry_after: None,
                body: Vec::new(),
            });
        }
        if self.rng.borrow_mut().chance(self.faults.request_429) {
            return Ok(SinkResponse {
                status: 429,
                retry_after: Some("0".into()),
                body: br#"{"error":{"root_cause":[{"type":"rejected_execution_exception","reason":"rejected execution of bulk"}],"type":"rejected_execution_exception","reason":"rejected execution of bulk"},"status":429}"#.to_vec(),
            });
        }
        let (answer, _) = self.apply(&body);
        if self.rng.borrow_mut().chance(self.faults.drop_after_apply) {
            return Err(SinkError("connection closed before the response (simulated)".into()));
        }
        let latency = self.rng.borrow_mut().below(3) as u32;
        Yield(latency).await;
        Ok(SinkResponse {
            status: 200,
            retry_after: None,
            body: answer.into_bytes(),
        })
    }
}

/// Keeps the last saved checkpoint, as JSON (so the document round-trips like in a real store).
#[derive(Default)]
pub struct MemCheckpoints {
    pub saved: RefCell<Option<Vec<u8>>>,
    pub saves: Cell<u32>,
    /// Saves from this one on (counted from 1) never complete: storage that stalls.
    pub stall_from: Cell<Option<u32>>,
    /// Saves from this one on fail: storage that broke.
    pub fail_from: Cell<Option<u32>>,
}

impl MemCheckpoints {
    pub fn load(&self) -> Option<Checkpoint> {
        self.saved
            .borrow()
            .as_ref()
            .map(|json| Checkpoint::from_json(json).expect("a saved checkpoint reads back"))
    }
}

impl CheckpointStore for MemCheckpoints {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let attempt = self.saves.get() + 1;
        if self.stall_from.get().is_some_and(|from| attempt >= from) {
            futures::future::pending::<()>().await;
        }
        if self.fail_from.get().is_some_and(|from| attempt >= from) {
            self.saves.set(attempt);
            return Err(StoreError("the disk is full".into()));
        }
        Yield(1).await;
        *self.saved.borrow_mut() = Some(checkpoint.to_json());
        self.saves.set(self.saves.get() + 1);
        Ok(())
    }
}

/// Dead letters keyed by offset, like the IndexedDB store.
#[derive(Default)]
pub struct MemDeadLetters {
    pub letters: RefCell<BTreeMap<u64, DeadLetter>>,
}

impl DeadLetterStore for MemDeadLetters {
    async fn store(&self, _job_id: &str, letters: &[DeadLetter]) -> Result<(), StoreError> {
        Yield(1).await;
        let mut stored = self.letters.borrow_mut();
        for letter in letters {
            stored.insert(letter.offset, letter.clone());
        }
        Ok(())
    }
}

/// Virtual time: sleeping advances it at once.
#[derive(Default)]
pub struct SimClock {
    pub now: Cell<u64>,
    /// When set, a sleep takes one poll per this many milliseconds of it, so a long backoff costs a test's poll
    /// budget what it costs a user in time (unset, every sleep takes one poll).
    pub ms_per_poll: Option<u64>,
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
    async fn sleep(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
        let polls = self.ms_per_poll.map_or(1, |pace| (ms / pace.max(1)).max(1));
        Yield(polls.min(u32::MAX as u64) as u32).await;
    }
}

/// Polls `future` at most `polls` times with a no-op waker; `None` means it was dropped unfinished (a crash).
pub fn poll_at_most<F: Future>(future: F, polls: u64) -> Option<F::Output> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}
