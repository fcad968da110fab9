//! The job driver: reads a source, sends batches, commits progress. Generic over the I/O it needs, so the same
//! code runs in a browser tab and in the native CLI.
//!
//! The traits below are the whole boundary between the engine and the world. Their futures are `?Send` on
//! purpose: browser futures (fetch, IndexedDB) are not `Send`, and a job is one task on one thread anyway.
//!
//! Flow: source chunks → [`RecordReader`](crate::reader::RecordReader) (the JSON splitter or CSV rows) → [`BatchBuilder`] → queue → up to `max_in_flight` requests through the
//! [`BulkSink`] → each record resolved (indexed, dead letter, or retried) → a batch with every record resolved is
//! finished: its dead letters are stored, then the [`Watermark`] may move → the checkpoint is saved by policy.
//! Dropping the future returned by [`run_job`] at any await point loses nothing: whatever was not committed is
//! sent again on resume, and deterministic ids turn that replay into overwrites.

#![allow(async_fn_in_trait)] // See the module documentation: ?Send is deliberate.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::batch::{Batch, BatchBuilder, BatchLimits};
use crate::bulk::{classify, is_back_pressure, ItemOutcome, SinkResponse, Verdict};
use crate::checkpoint::{Checkpoint, Counters, JobStatus};
use crate::dead_letter::DeadLetter;
use crate::flow::{ConcurrencyMode, FlowControl, Load};
use crate::progress::{eta_ms, Progress, RateMeter};
use crate::reader::RecordReader;
use crate::settings::Tuning;
use crate::sniff::{rows_refused, sniff};
use crate::split::SplitError;
use crate::transform::TransformContext;
use crate::watermark::{BatchTally, Watermark};

/// How a source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// A network hiccup: reopen at the last byte consumed and go on.
    Transient,
    /// The presigned URL expired or was refused (403): a fresh URL is needed.
    Expired,
    /// The object changed (412 on `If-Match`, another size): the checkpoint no longer applies.
    Changed,
    /// Anything else that retrying will not fix.
    Fatal,
}

/// A source failure, with a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct SourceError {
    /// What kind of failure.
    pub kind: SourceErrorKind,
    /// What happened and what to do.
    pub message: String,
}

impl SourceError {
    /// A failure of the given kind.
    pub fn new(kind: SourceErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            message: message.into(),
        }
    }
}

/// The bytes of one source, streamed from any offset.
pub trait ByteSource {
    /// Starts (or restarts) the stream at `absolute_byte_offset`. For an uncompressed object this is a Range
    /// request guarded by the ETag; for gzip the adapter decompresses from the start and skips.
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError>;
    /// The next chunk of bytes, `None` at the end of the source.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError>;
}

/// A transport failure: the request may or may not have reached the cluster. Always retried.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where bulk bodies go (the proxy, or OpenSearch directly).
pub trait BulkSink {
    /// POSTs one NDJSON body to `_bulk` and returns the answer, whatever its status.
    async fn send(&self, body: Bytes) -> Result<SinkResponse, SinkError>;
}

/// A storage failure (IndexedDB, a file).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Keeps checkpoints.
pub trait CheckpointStore {
    /// Saves (replaces) the job's checkpoint. Must be durable when it returns.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), StoreError>;
}

/// Keeps dead letters.
pub trait DeadLetterStore {
    /// Stores dead letters of a job, keyed by offset (storing one again replaces it). Durable when it returns.
    async fn store(&self, job_id: &str, letters: &[DeadLetter]) -> Result<(), StoreError>;
}

/// Time.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u64);
}

/// What the user can ask of a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Stop reading, let requests in flight finish, save a checkpoint with status `paused`.
    Pause,
    /// Stop now; save the checkpoint (status `cancelled`). Whatever was in flight is replayed on resume.
    Cancel,
    /// Stop reading, send what was already read (the batch being built and the queued ones), let every request
    /// finish (retries included), then save a checkpoint with status `paused`. The edge ends each of its slices
    /// this way, so a slice commits everything it read up to its last complete record, however small its budget.
    Drain,
}

/// Why a job stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The presigned URL expired: ask for a fresh one and resume.
    SourceExpired,
    /// The object changed: the import must start over.
    SourceChanged,
    /// The source could not be read.
    SourceUnreadable,
    /// The input's structure is broken (truncated array, garbage between records).
    BadInput,
    /// None of the first records is a valid record: the source is not what the analyst meant to import (CSV, an
    /// HTML error page, binary). Nothing was sent and the checkpoint is still at the start.
    WrongFile,
    /// The proxy or cluster refused the requests (credentials, permissions, index not allowed...).
    Refused,
    /// Retries were used up (the cluster stayed busy or unreachable).
    RetriesExhausted,
    /// A checkpoint or dead letters could not be stored.
    Storage,
}

/// A job that stopped on an error. The checkpoint was saved (when storage allowed) and the job can resume.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct JobFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What happened and what to do.
    pub message: String,
    /// The checkpoint as last saved.
    pub checkpoint: Checkpoint,
}

/// How a job ended without an error.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Completed, paused or cancelled.
    pub status: JobStatus,
    /// The checkpoint as saved at the end.
    pub checkpoint: Checkpoint,
}

/// What [`run_job`] works on.
pub struct JobPlan {
    /// Where to start: [`Checkpoint::start`] for a new job, or a checkpoint that passed
    /// [`Checkpoint::check_resume`].
    pub checkpoint: Checkpoint,
    /// Speed and memory knobs.
    pub tuning: Tuning,
    /// Seed of the jitter generator (any value; tests fix it).
    pub seed: u64,
}

/// The I/O a job needs.
pub struct JobIo<'a, K, C, D, T> {
    /// Where bodies go.
    pub sink: &'a K,
    /// Where checkpoints go.
    pub checkpoints: &'a C,
    /// Where dead letters go.
    pub dead_letters: &'a D,
    /// Time.
    pub clock: &'a T,
}

/// Runs a job until it completes, is paused or cancelled through `commands`, or fails.
pub async fn run_job<S, K, C, D, T>(
    plan: JobPlan,
    source: S,
    io: JobIo<'_, K, C, D, T>,
    commands: UnboundedReceiver<Command>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome, JobFailure>
where
    S: ByteSource,
    K: BulkSink,
    C: CheckpointStore,
    D: DeadLetterStore,
    T: Clock,
{
    let mut checkpoint = plan.checkpoint;
    if checkpoint.is_completed() {
        return Ok(Outcome {
            status: JobStatus::Completed,
            checkpoint,
        });
    }
    checkpoint.status = JobStatus::Running;
    checkpoint.last_error = None;
    let context = TransformContext {
        source_name: checkpoint.source.display_name(),
        import_started_ms: checkpoint.created_at_ms,
    };
    let builder = match BatchBuilder::new(
        &checkpoint.settings,
        &checkpoint.source.id_namespace(),
        &context,
        BatchLimits {
            max_bytes: plan.tuning.batch_bytes,
            max_records: plan.tuning.batch_docs,
        },
        0,
    ) {
        Ok(builder) => builder,
        Err(message) => {
            return Err(JobFailure {
                kind: FailureKind::BadInput,
                message,
                checkpoint,
            })
        }
    };
    let reader = match checkpoint.format {
        Some(format) => RecordReader::resume(
            format,
            checkpoint.committed_offset,
            checkpoint.csv.as_ref(),
            &checkpoint.settings,
        ),
        None if checkpoint.committed_offset == 0 => Ok(RecordReader::new(&checkpoint.settings)),
        None => Err("the checkpoint has an offset but no detected format; start the import over".into()),
    };
    let reader = match reader {
        Ok(reader) => reader,
        Err(message) => {
            return Err(JobFailure {
                kind: FailureKind::BadInput,
                message,
                checkpoint,
            })
        }
    };
    let now = io.clock.now_ms();
    let watermark = Watermark::new(
        0,
        BatchTally {
            end_offset: checkpoint.committed_offset,
            records: checkpoint.committed_records,
            indexed: checkpoint.counters.indexed,
            failed: checkpoint.counters.failed,
        },
    );
    // The wrong-file guard watches a source read from its start; a resumed one already had valid records.
    let guard = (checkpoint.committed_offset == 0 && checkpoint.committed_records == 0).then(WrongFileGuard::default);
    let flow = FlowControl::new(plan.tuning.concurrency_mode, plan.tuning.max_in_flight);
    let mut run = Run {
        guard,
        input_error: None,
        live: LiveCounts {
            records: checkpoint.committed_records,
            indexed: checkpoint.counters.indexed,
            failed: checkpoint.counters.failed,
            retried: checkpoint.counters.retried,
            retried_requests: checkpoint.counters.retried_requests,
        },
        checkpoint,
        tuning: plan.tuning,
        rng: plan.seed,
        io,
        reader,
        builder,
        watermark,
        batches: HashMap::new(),
        queue: VecDeque::new(),
        in_flight: FuturesUnordered::new(),
        waiting: 0,
        finished: Vec::new(),
        buffered_bytes: 0,
        sealed_end: 0,
        widest_batch: 0,
        reading: Reading::Idle(source),
        reopen: Some((0, 0)),
        source_attempts: 0,
        source_done: false,
        stop: None,
        batches_since_save: 0,
        last_save_ms: now,
        saving: None,
        last_progress_ms: 0,
        rates: RateMeter::new(10_000),
        note: None,
        commands: Some(commands),
        flow,
        rejections: VecDeque::new(),
    };
    run.reopen = Some((run.checkpoint.committed_offset, 0));
    run.drive(on_progress).await
}

struct Request {
    seq: u64,
    items: Vec<usize>,
    attempt: u32,
}

/// With adaptive flow control, this many 429s of one request send it again without a backoff (the flow control's
/// cut already sends less); later ones wait the backoff.
const REQUEUED_REJECTIONS: u32 = 2;

/// What a future of `in_flight` ends with: a request's answer, or a retry's wait that is over.
enum Finished {
    Answer(Completion),
    /// The request waited out its backoff without holding a place among the requests in flight; it goes to the
    /// front of the queue and is sent when the flow control allows.
    Due(Request),
}

struct Completion {
    request: Request,
    result: Result<SinkResponse, SinkError>,
    /// From sending to the answer (a retry's wait not included).
    latency_ms: u64,
}

/// What became of one item of a batch so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemState {
    Pending,
    Indexed,
    /// Refused by the cluster: its dead letter waits in [`OpenBatch::dead_letters`] until stored.
    Refused,
}

struct OpenBatch {
    batch: Batch,
    unresolved: usize,
    indexed: u64,
    /// Dead letters not stored yet: the batch's invalid records, then the items the cluster refused.
    dead_letters: Vec<DeadLetter>,
    items: Vec<ItemState>,
    /// The leading items that are resolved; the watermark may commit up to the end of the last of them.
    resolved_prefix: usize,
    /// Of those, indexed.
    prefix_indexed: u64,
    /// Dead letters of this batch already stored (when its resolved prefix was committed).
    stored_failed: u64,
}

impl OpenBatch {
    fn resolve(&mut self, item: usize, state: ItemState) {
        self.items[item] = state;
        self.unresolved -= 1;
        while let Some(&state) = self.items.get(self.resolved_prefix) {
            match state {
                ItemState::Pending => break,
                ItemState::Indexed => self.prefix_indexed += 1,
                ItemState::Refused => {}
            }
            self.resolved_prefix += 1;
        }
    }

    /// End of the last record of the resolved prefix.
    fn prefix_end(&self) -> Option<u64> {
        let last = self.resolved_prefix.checked_sub(1)?;
        Some(self.batch.items[last].span.end)
    }
}

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A read hands the source back with its result, so the future can own the source while it runs.
type ChunkResult = Result<Option<Vec<u8>>, SourceError>;

enum Reading<'a, S> {
    Idle(S),
    Busy(LocalFuture<'a, (S, ChunkResult)>),
    Gone,
}

enum Event<S> {
    Command(Option<Command>),
    Chunk(S, ChunkResult),
    Done(Finished),
    Saved(Result<(), StoreError>),
}

/// Why the job is winding down.
struct Stop {
    status: JobStatus,
    failure: Option<(FailureKind, String)>,
    /// Wait for requests in flight (pause, bad input) or drop them (cancel, refusal).
    drain: bool,
    /// Also send the queued batches and retry what the cluster asks to retry ([`Command::Drain`]).
    send_queued: bool,
}

/// How many records the wrong-file guard looks at before it lets an import go on with no valid record yet.
pub const WRONG_FILE_RECORDS: u64 = 1000;

/// Holds back the dead letters of a source's first records until one valid record is seen: when the first
/// [`WRONG_FILE_RECORDS`] (or the whole source, if smaller) are all invalid, the import stops with what the source
/// looks like instead of storing a dead letter per line of the wrong file.
#[derive(Default)]
struct WrongFileGuard {
    /// The first bytes of the source, for [`sniff`].
    head: Vec<u8>,
    /// Records seen so far, all invalid.
    seen: u64,
    /// Batches of invalid records only, not yet finished.
    held: Vec<u64>,
}

const GUARD_HEAD_BYTES: usize = 4096;

struct LiveCounts {
    records: u64,
    indexed: u64,
    failed: u64,
    retried: u64,
    retried_requests: u64,
}

struct Run<'a, S, K, C, D, T> {
    guard: Option<WrongFileGuard>,
    /// The input's structure broke here: the records before it are sent and committed, then the job fails.
    input_error: Option<SplitError>,
    checkpoint: Checkpoint,
    tuning: Tuning,
    rng: u64,
    io: JobIo<'a, K, C, D, T>,
    reader: RecordReader,
    builder: BatchBuilder,
    watermark: Watermark,
    batches: HashMap<u64, OpenBatch>,
    queue: VecDeque<Request>,
    in_flight: FuturesUnordered<LocalFuture<'a, Finished>>,
    /// Of `in_flight`, the retries still waiting out their backoff (not sent, so not counted against the limit).
    waiting: usize,
    finished: Vec<u64>,
    buffered_bytes: usize,
    /// End of the last sealed batch, and the most source bytes one sealed batch covered: reading stops while the
    /// uncommitted stretch would pass one such batch per request allowed in flight, plus one, so a kill or
    /// reload replays about that much and no more.
    sealed_end: u64,
    widest_batch: u64,
    reading: Reading<'a, S>,
    /// Open the source at this offset after this delay before the next read.
    reopen: Option<(u64, u64)>,
    source_attempts: u32,
    source_done: bool,
    stop: Option<Stop>,
    batches_since_save: u32,
    last_save_ms: u64,
    /// The checkpoint save running while the import goes on (at most one, so saves land in order). It holds a copy
    /// of the checkpoint taken when it started, which describes only what was acknowledged and stored by then.
    saving: Option<LocalFuture<'a, Result<(), StoreError>>>,
    last_progress_ms: u64,
    rates: RateMeter,
    note: Option<String>,
    live: LiveCounts,
    commands: Option<UnboundedReceiver<Command>>,
    /// Requests in flight, adapted to the cluster's answers.
    flow: FlowControl,
    /// When the answers of the last minute said the cluster is busy.
    rejections: VecDeque<u64>,
}

impl<'a, S, K, C, D, T> Run<'a, S, K, C, D, T>
where
    S: ByteSource + 'a,
    K: BulkSink,
    C: CheckpointStore,
    D: DeadLetterStore,
    T: Clock,
{
    async fn drive(mut self, on_progress: &mut dyn FnMut(&Progress)) -> Result<Outcome, JobFailure> {
        self.save(JobStatus::Running, None).await?;
        loop {
            self.launch_queued();
            self.finish_batches().await?;
            if let Some(end) = self.check_end().await? {
                self.report(on_progress, true);
                return end;
            }
            self.start_read();
            let event = self.next_event().await;
            match event {
                Event::Command(Some(Command::Pause)) => self.begin_stop(JobStatus::Paused, None, true),
                Event::Command(Some(Command::Cancel)) => self.begin_stop(JobStatus::Cancelled, None, false),
                Event::Command(Some(Command::Drain)) => self.begin_drain(),
                // The controller went away: the job runs to its end.
                Event::Command(None) => self.commands = None,
                Event::Chunk(source, result) => self.on_chunk(source, result),
                Event::Done(Finished::Answer(completion)) => self.on_completion(completion),
                Event::Done(Finished::Due(request)) => {
                    self.waiting -= 1;
                    self.queue.push_front(request);
                }
                Event::Saved(result) => {
                    self.saving = None;
                    if let Err(error) = result {
                        return Err(self.save_failure(error));
                    }
                }
            }
            self.report(on_progress, false);
        }
    }

    /// Waits for the next thing to happen: a command, a chunk, or a request's answer.
    async fn next_event(&mut self) -> Event<S> {
        let commands = &mut self.commands;
        let reading = &mut self.reading;
        let in_flight = &mut self.in_flight;
        let saving = &mut self.saving;
        poll_fn(|cx| {
            if let Some(save) = saving {
                if let Poll::Ready(result) = save.as_mut().poll(cx) {
                    return Poll::Ready(Event::Saved(result));
                }
            }
            if let Some(commands) = commands {
                if let Poll::Ready(command) = commands.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Command(command));
                }
            }
            if let Reading::Busy(future) = reading {
                if let Poll::Ready((source, result)) = future.as_mut().poll(cx) {
                    *reading = Reading::Gone;
                    return Poll::Ready(Event::Chunk(source, result));
                }
            }
            if !in_flight.is_empty() {
                if let Poll::Ready(Some(completion)) = in_flight.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Done(completion));
                }
            }
            Poll::Pending
        })
        .await
    }

    fn max_in_flight(&self) -> usize {
        self.flow.limit()
    }

    fn launch_queued(&mut self) {
        if self.stop.as_ref().is_some_and(|stop| !stop.send_queued) {
            return;
        }
        while self.sending() < self.max_in_flight() {
            let Some(request) = self.queue.pop_front() else { break };
            self.launch(request);
        }
    }

    /// Requests sent and not answered yet.
    fn sending(&self) -> usize {
        self.in_flight.len() - self.waiting
    }

    /// Queues `request` again after `delay_ms`, without holding a place among the requests in flight meanwhile.
    fn send_later(&mut self, request: Request, delay_ms: u64) {
        if delay_ms == 0 {
            self.queue.push_front(request);
            return;
        }
        let clock = self.io.clock;
        self.waiting += 1;
        self.in_flight.push(Box::pin(async move {
            clock.sleep(delay_ms).await;
            Finished::Due(request)
        }));
    }

    fn launch(&mut self, request: Request) {
        let Some(open) = self.batches.get(&request.seq) else {
            return;
        };
        let body = open.batch.body_for(&request.items);
        let sink = self.io.sink;
        let clock = self.io.clock;
        self.in_flight.push(Box::pin(async move {
            let sent_at = clock.now_ms();
            let result = sink.send(body).await;
            Finished::Answer(Completion {
                request,
                result,
                latency_ms: clock.now_ms().saturating_sub(sent_at),
            })
        }));
    }

    fn start_read(&mut self) {
        let may_read = self.stop.is_none()
            && !self.source_done
            && self.queue.is_empty()
            && self.buffered_bytes < self.tuning.max_buffered_bytes.max(1)
            && !self.too_far_ahead();
        if !may_read || !matches!(self.reading, Reading::Idle(_)) {
            return;
        }
        let Reading::Idle(mut source) = std::mem::replace(&mut self.reading, Reading::Gone) else {
            unreachable!("checked above")
        };
        let reopen = self.reopen.take();
        let clock = self.io.clock;
        self.reading = Reading::Busy(Box::pin(async move {
            if let Some((offset, delay_ms)) = reopen {
                if delay_ms > 0 {
                    clock.sleep(delay_ms).await;
                }
                if let Err(error) = source.open(offset).await {
                    return (source, Err(error));
                }
            }
            let result = source.next_chunk().await;
            (source, result)
        }));
    }

    /// Reading waits while the stretch past the committed offset is as wide as one batch per request allowed in
    /// flight plus one. Never while nothing sealed is uncommitted (the stretch is then the batch being built, which
    /// only reading can seal), nor while the wrong-file guard holds batches back to decide.
    fn too_far_ahead(&self) -> bool {
        let committed = self.watermark.committed().end_offset;
        if self.sealed_end <= committed || self.guard.is_some() || self.widest_batch == 0 {
            return false;
        }
        let lead = self.reader.position().saturating_sub(committed);
        lead >= (self.flow.limit() as u64 + 1).saturating_mul(self.widest_batch)
    }

    fn on_chunk(&mut self, source: S, result: ChunkResult) {
        self.reading = Reading::Idle(source);
        match result {
            Ok(Some(chunk)) => {
                self.source_attempts = 0;
                if let Some(guard) = &mut self.guard {
                    let room = GUARD_HEAD_BYTES.saturating_sub(guard.head.len()).min(chunk.len());
                    guard.head.extend_from_slice(&chunk[..room]);
                }
                let pushed = self.reader.push(&chunk, &mut self.builder);
                if let Err(error) = pushed {
                    self.fail_input(error);
                } else {
                    self.take_batches();
                }
            }
            Ok(None) => match self.reader.finish(&mut self.builder) {
                Ok(()) => {
                    self.builder.flush();
                    self.source_done = true;
                    self.take_batches();
                }
                Err(error) => self.fail_input(error),
            },
            Err(error) if error.kind == SourceErrorKind::Transient => {
                self.source_attempts += 1;
                let unit = self.next_random();
                match self.tuning.retry.delay_ms(self.source_attempts + 1, unit, None) {
                    Some(delay) => {
                        self.note = Some(format!("reconnecting to the source: {}", error.message));
                        self.reopen = Some((self.reader.position(), delay));
                    }
                    None => self.begin_stop(
                        JobStatus::Failed,
                        Some((
                            FailureKind::SourceUnreadable,
                            format!(
                                "the source kept failing after {} attempts: {}",
                                self.source_attempts, error.message
                            ),
                        )),
                        true,
                    ),
                }
            }
            Err(error) => {
                let kind = match error.kind {
                    SourceErrorKind::Expired => FailureKind::SourceExpired,
                    SourceErrorKind::Changed => FailureKind::SourceChanged,
                    _ => FailureKind::SourceUnreadable,
                };
                self.begin_stop(JobStatus::Failed, Some((kind, error.message)), true);
            }
        }
    }

    /// The structure broke: the complete records before the break are still sent and committed (the job ends
    /// once they are resolved, in [`Run::check_end`]); nothing after it is read.
    fn fail_input(&mut self, error: SplitError) {
        self.builder.flush();
        self.input_error = Some(error);
        self.source_done = true;
        self.reading = Reading::Gone;
        self.take_batches();
    }

    /// Lets the held batches go once a valid record shows up; stops the job when the source is the wrong file.
    fn check_guard(&mut self, valid_records: bool) {
        let Some(guard) = &mut self.guard else { return };
        if valid_records {
            self.finished.append(&mut guard.held);
            self.guard = None;
            return;
        }
        // Records still in the batch being built count too, so the guard decides at the 1000th record whatever
        // the batch size.
        let (pending_valid, pending_invalid) = self.builder.pending();
        if pending_valid > 0 {
            return; // the batch being built holds a valid record: the next check lets everything go
        }
        let seen = guard.seen + pending_invalid as u64;
        if seen == 0 || (seen < WRONG_FILE_RECORDS && !self.source_done) {
            return;
        }
        guard.seen = seen;
        let delimited = self.reader.format().is_some_and(|format| format.is_delimited());
        let unit = if delimited { "rows" } else { "records" };
        let counted = if guard.seen >= WRONG_FILE_RECORDS {
            format!("none of the first {WRONG_FILE_RECORDS} {unit}")
        } else {
            format!("none of its {} {unit}", guard.seen)
        };
        let message = if delimited {
            let first_reason = guard
                .held
                .iter()
                .filter_map(|seq| self.batches.get(seq))
                .find_map(|open| open.dead_letters.first())
                .or(self.builder.first_pending_dead_letter())
                .map(|letter| letter.reason.as_str());
            format!(
                "Not imported: {counted} is a valid record: {}. Nothing was sent.",
                rows_refused(first_reason)
            )
        } else {
            format!(
                "Not imported: {counted} is a valid record, and {}. Nothing was sent; pick the right file or URL.",
                sniff(&guard.head).explain()
            )
        };
        for seq in std::mem::take(&mut guard.held) {
            if let Some(open) = self.batches.remove(&seq) {
                self.buffered_bytes -= open.batch.body.len();
            }
        }
        self.guard = None;
        self.input_error = None;
        self.begin_stop(JobStatus::Failed, Some((FailureKind::WrongFile, message)), false);
    }

    /// Moves sealed batches into the queue.
    fn take_batches(&mut self) {
        let ready: Vec<Batch> = self.builder.take_ready().collect();
        let mut valid_records = false;
        for mut batch in ready {
            self.live.records += batch.record_count();
            self.live.failed += batch.dead_letters.len() as u64;
            self.buffered_bytes += batch.body.len();
            let start = self.sealed_end.max(self.checkpoint.committed_offset);
            self.widest_batch = self.widest_batch.max(batch.end_offset.saturating_sub(start));
            self.sealed_end = self.sealed_end.max(batch.end_offset);
            let seq = batch.seq;
            let items = batch.items.len();
            let dead_letters = std::mem::take(&mut batch.dead_letters);
            self.batches.insert(
                seq,
                OpenBatch {
                    batch,
                    unresolved: items,
                    indexed: 0,
                    dead_letters,
                    items: vec![ItemState::Pending; items],
                    resolved_prefix: 0,
                    prefix_indexed: 0,
                    stored_failed: 0,
                },
            );
            valid_records |= items > 0;
            if let Some(guard) = self.guard.as_mut().filter(|_| items == 0) {
                guard.seen += self.batches[&seq].dead_letters.len() as u64;
                guard.held.push(seq);
            } else if items == 0 {
                self.finished.push(seq);
            } else {
                self.queue.push_back(Request {
                    seq,
                    items: (0..items).collect(),
                    attempt: 1,
                });
            }
        }
        self.check_guard(valid_records);
    }

    fn on_completion(&mut self, completion: Completion) {
        let Completion {
            request,
            result,
            latency_ms,
        } = completion;
        if !self.batches.contains_key(&request.seq) {
            return;
        }
        let settings = &self.checkpoint.settings;
        let verdict = match result {
            Ok(response) => classify(
                &response,
                request.items.len(),
                settings.action,
                settings.id.is_deterministic(),
                self.io.clock.now_ms(),
            ),
            Err(error) => Verdict::RetryAll {
                reason: format!("the request did not complete ({error})"),
                retry_after_ms: None,
            },
        };
        let now = self.io.clock.now_ms();
        let load = match &verdict {
            Verdict::RetryAll { reason, .. } if is_back_pressure(reason) => Some(Load::Busy),
            Verdict::Items(outcomes)
                if outcomes
                    .iter()
                    .any(|o| matches!(o, ItemOutcome::Retry(reason) if is_back_pressure(reason))) =>
            {
                Some(Load::Busy)
            }
            // A transport failure says nothing about the cluster's load.
            Verdict::RetryAll { .. } => None,
            _ => Some(Load::Healthy),
        };
        if let Some(load) = load {
            self.flow.on_answer(load, latency_ms, now);
            if load == Load::Busy {
                self.rejections.push_back(now);
            }
        }
        while self
            .rejections
            .front()
            .is_some_and(|&at| now.saturating_sub(at) > 60_000)
        {
            self.rejections.pop_front();
        }
        match verdict {
            Verdict::Items(outcomes) => self.on_items(request, outcomes),
            Verdict::RetryAll { reason, retry_after_ms } => {
                self.live.retried += request.items.len() as u64;
                self.retry(request, reason, retry_after_ms);
            }
            Verdict::Split if request.items.len() > 1 => {
                // The server's limit holds for the rest of the import: batches built from now on are at most half
                // the refused body, so one 413 does not become one per batch.
                let refused_bytes: usize = self.batches.get(&request.seq).map_or(0, |open| {
                    request
                        .items
                        .iter()
                        .map(|&item| open.batch.items[item].entry.len())
                        .sum()
                });
                let halved = refused_bytes / 2;
                if halved > 0 && halved < self.builder.max_bytes() {
                    self.builder.lower_max_bytes(halved);
                }
                let (first, second) = request.items.split_at(request.items.len() / 2);
                self.note = Some(format!(
                    "the server refused a request as too large (413): sending it in halves, and requests of at most \
                     {} from now on",
                    size_text(self.builder.max_bytes())
                ));
                for items in [second, first] {
                    self.queue.push_front(Request {
                        seq: request.seq,
                        items: items.to_vec(),
                        attempt: request.attempt,
                    });
                }
            }
            Verdict::Split => {
                let reason = "the record is too large for the cluster or proxy even on its own (413 Request Entity \
                              Too Large); raise the request size limit or split the record"
                    .to_string();
                self.on_items(request, vec![ItemOutcome::Rejected(reason)]);
            }
            Verdict::Fatal(message) => self.begin_stop(JobStatus::Failed, Some((FailureKind::Refused, message)), false),
        }
    }

    fn on_items(&mut self, request: Request, outcomes: Vec<ItemOutcome>) {
        let Some(open) = self.batches.get_mut(&request.seq) else {
            return;
        };
        let mut again = Vec::new();
        let mut retry_reason = None;
        for (&item, outcome) in request.items.iter().zip(outcomes) {
            match outcome {
                ItemOutcome::Indexed | ItemOutcome::AlreadyIndexed => {
                    open.resolve(item, ItemState::Indexed);
                    open.indexed += 1;
                    self.live.indexed += 1;
                }
                ItemOutcome::Rejected(reason) => {
                    let span = open.batch.items[item].span;
                    open.dead_letters.push(DeadLetter::with_record(
                        span,
                        format!("refused by the cluster: {reason}"),
                        open.batch.item_record(item),
                    ));
                    open.resolve(item, ItemState::Refused);
                    self.live.failed += 1;
                }
                ItemOutcome::Retry(reason) => {
                    again.push(item);
                    retry_reason = Some(reason);
                }
            }
        }
        if open.unresolved == 0 {
            self.finished.push(request.seq);
        }
        if let Some(reason) = retry_reason {
            self.live.retried += again.len() as u64;
            let retry = Request {
                seq: request.seq,
                items: again,
                attempt: request.attempt,
            };
            self.retry(retry, reason, None);
        }
    }

    fn retry(&mut self, request: Request, reason: String, retry_after_ms: Option<u64>) {
        if self
            .stop
            .as_ref()
            .is_some_and(|stop| !stop.send_queued && (!stop.drain || stop.status == JobStatus::Paused))
        {
            // Pausing or stopping: the unresolved records are replayed on resume.
            return;
        }
        let next_attempt = request.attempt + 1;
        let unit = self.next_random();
        let busy = is_back_pressure(&reason);
        // The attempt limit is for errors: a busy cluster is not broken, so its 429s are retried (at the longest
        // backoff) for as long as they last, while the flow control sends less.
        let counted = if busy {
            next_attempt.min(self.tuning.retry.max_attempts.max(2))
        } else {
            next_attempt
        };
        // With adaptive flow control a 429 has already cut the requests in flight: the rejected one goes back to
        // the front of the queue at once and is sent when an answer frees a place (waiting a backoff as well
        // would leave a write thread idle and hold the watermark). A request rejected again, a cluster that asks
        // for a delay, or a window down to one request waits the backoff.
        let requeue_now = busy
            && retry_after_ms.is_none()
            && request.attempt <= REQUEUED_REJECTIONS
            && self.tuning.concurrency_mode == ConcurrencyMode::Adaptive
            && self.flow.limit() > 1;
        let delay = if requeue_now {
            Some(0)
        } else {
            self.tuning.retry.delay_ms(counted, unit, retry_after_ms)
        };
        match delay {
            Some(delay) => {
                self.live.retried_requests += 1;
                self.note = Some(if busy {
                    format!(
                        "the cluster is busy (429): sending at most {} request{} at a time and retrying what it rejected",
                        self.flow.limit(),
                        if self.flow.limit() == 1 { "" } else { "s" }
                    )
                } else {
                    format!("retrying: {reason}")
                });
                self.send_later(
                    Request {
                        attempt: next_attempt,
                        ..request
                    },
                    delay,
                );
            }
            None => self.begin_stop(
                JobStatus::Failed,
                Some((
                    FailureKind::RetriesExhausted,
                    format!(
                        "gave up after {} attempts: {reason}. Nothing was lost; resume later.",
                        request.attempt
                    ),
                )),
                false,
            ),
        }
    }

    fn begin_stop(&mut self, status: JobStatus, failure: Option<(FailureKind, String)>, drain: bool) {
        if self.stop.as_ref().is_some_and(|stop| stop.failure.is_some()) {
            return; // the first error is the one to report
        }
        if let Some((_, message)) = &failure {
            self.note = Some(message.clone());
        }
        self.queue.clear();
        self.reading = Reading::Gone;
        if !drain {
            self.in_flight = FuturesUnordered::new();
            self.waiting = 0;
        }
        self.stop = Some(Stop {
            status,
            failure,
            drain,
            send_queued: false,
        });
    }

    /// [`Command::Drain`]: the records read so far go out as batches; nothing more is read.
    fn begin_drain(&mut self) {
        if self.stop.is_some() {
            return;
        }
        self.builder.flush();
        self.take_batches();
        self.reading = Reading::Gone;
        self.stop = Some(Stop {
            status: JobStatus::Paused,
            failure: None,
            drain: true,
            send_queued: true,
        });
    }

    /// Stores the dead letters of finished batches, then lets the watermark move (over whole batches, then into
    /// the oldest open one as far as its records are resolved) and saves by policy.
    async fn finish_batches(&mut self) -> Result<(), JobFailure> {
        for seq in std::mem::take(&mut self.finished) {
            let Some(mut open) = self.batches.remove(&seq) else {
                continue;
            };
            self.buffered_bytes -= open.batch.body.len();
            let letters = std::mem::take(&mut open.dead_letters);
            self.store_dead_letters(&letters).await?;
            // Every item is now indexed or among the dead letters (which include the batch's invalid records).
            let failed = open.stored_failed + letters.len() as u64;
            let tally = BatchTally {
                end_offset: open.batch.end_offset,
                records: open.indexed + failed,
                indexed: open.indexed,
                failed,
            };
            if self.watermark.finish(seq, tally) {
                self.batches_since_save += 1;
            }
        }
        self.commit_oldest_prefix().await?;
        let due = self.batches_since_save >= self.tuning.checkpoint_every_batches.max(1)
            || (self.batches_since_save > 0
                && self.io.clock.now_ms().saturating_sub(self.last_save_ms) >= self.tuning.checkpoint_every_ms);
        if due && self.saving.is_none() {
            // Saved while the import goes on: waiting here would stop reading and sending for the time storage
            // takes (IndexedDB in a browser), once per batch.
            let store = self.io.checkpoints;
            let checkpoint = self.stamp(JobStatus::Running, None).clone();
            self.saving = Some(Box::pin(async move { store.save(&checkpoint).await }));
        }
        Ok(())
    }

    /// Moves the committed offset into the oldest open batch, to the end of its resolved prefix of records, once
    /// the dead letters before that point are stored.
    async fn commit_oldest_prefix(&mut self) -> Result<(), JobFailure> {
        let seq = self.watermark.next_seq();
        let committed = self.watermark.committed().end_offset;
        let Some(open) = self.batches.get_mut(&seq) else {
            return Ok(());
        };
        let Some(point) = open.prefix_end().filter(|&point| point > committed) else {
            return Ok(());
        };
        let (before, after): (Vec<DeadLetter>, Vec<DeadLetter>) = std::mem::take(&mut open.dead_letters)
            .into_iter()
            .partition(|letter| letter.end <= point);
        open.dead_letters = after;
        open.stored_failed += before.len() as u64;
        let prefix = BatchTally {
            end_offset: point,
            records: open.prefix_indexed + open.stored_failed,
            indexed: open.prefix_indexed,
            failed: open.stored_failed,
        };
        self.store_dead_letters(&before).await?;
        if self.watermark.advance_within(seq, prefix) {
            self.batches_since_save += 1;
        }
        Ok(())
    }

    async fn store_dead_letters(&mut self, letters: &[DeadLetter]) -> Result<(), JobFailure> {
        if letters.is_empty() {
            return Ok(());
        }
        match self.io.dead_letters.store(&self.checkpoint.job_id, letters).await {
            Ok(()) => Ok(()),
            Err(error) => Err(self
                .storage_failure(format!("could not store dead letters: {error}"))
                .await),
        }
    }

    /// Ends the run when there is nothing left to wait for.
    async fn check_end(&mut self) -> Result<Option<Result<Outcome, JobFailure>>, JobFailure> {
        if let Some(stop) = &self.stop {
            // A retry waiting out its backoff is not on the wire: a pause, which sends nothing more, ends without it
            // (its records are unresolved, so they are replayed on resume) instead of waiting up to the longest
            // backoff for nothing. A drain sends it, so it waits.
            let unanswered = if stop.send_queued {
                self.in_flight.len()
            } else {
                self.sending()
            };
            if stop.drain && unanswered > 0 {
                return Ok(None);
            }
            if stop.send_queued && !self.queue.is_empty() {
                return Ok(None);
            }
            let status = stop.status;
            let failure = stop.failure.clone();
            let message = failure.as_ref().map(|(_, message)| message.clone());
            self.save(status, message).await?;
            return Ok(Some(match failure {
                None => Ok(Outcome {
                    status,
                    checkpoint: self.checkpoint.clone(),
                }),
                Some((kind, message)) => Err(JobFailure {
                    kind,
                    message,
                    checkpoint: self.checkpoint.clone(),
                }),
            }));
        }
        let all_done =
            self.source_done && self.batches.is_empty() && self.queue.is_empty() && self.in_flight.is_empty();
        if !all_done {
            return Ok(None);
        }
        if let Some(error) = self.input_error.take() {
            // Everything before the break is committed now; the source itself needs fixing.
            let committed = self.watermark.committed();
            let message = if matches!(error, SplitError::Header { .. }) {
                format!("{error}. Nothing was imported; fix the header or the column settings and start again.")
            } else {
                format!(
                    "{error}. The {} complete records before it were imported (the checkpoint is at byte {}); fix the \
                 file and start over to import the rest.",
                    committed.records, committed.end_offset
                )
            };
            self.save(JobStatus::Failed, Some(message.clone())).await?;
            return Ok(Some(Err(JobFailure {
                kind: FailureKind::BadInput,
                message,
                checkpoint: self.checkpoint.clone(),
            })));
        }
        self.watermark.commit_end_of_source(self.reader.position());
        self.save(JobStatus::Completed, None).await?;
        Ok(Some(Ok(Outcome {
            status: JobStatus::Completed,
            checkpoint: self.checkpoint.clone(),
        })))
    }

    /// Brings the checkpoint up to the committed state and `status`, for a save; counts as the last save.
    fn stamp(&mut self, status: JobStatus, last_error: Option<String>) -> &Checkpoint {
        let committed = self.watermark.committed();
        let now = self.io.clock.now_ms();
        let checkpoint = &mut self.checkpoint;
        checkpoint.status = status;
        checkpoint.last_error = last_error;
        checkpoint.updated_at_ms = now;
        checkpoint.format = self.reader.format().or(checkpoint.format);
        if checkpoint.csv.is_none() {
            checkpoint.csv = self.reader.csv_layout();
        }
        checkpoint.committed_offset = committed.end_offset;
        checkpoint.committed_records = committed.records;
        checkpoint.counters = Counters {
            indexed: committed.indexed,
            failed: committed.failed,
            retried: self.live.retried,
            retried_requests: self.live.retried_requests,
        };
        self.last_save_ms = now;
        self.batches_since_save = 0;
        &self.checkpoint
    }

    /// Saves the checkpoint and waits until it is durable (after the save running in the background, if any, so
    /// this one lands last).
    async fn save(&mut self, status: JobStatus, last_error: Option<String>) -> Result<(), JobFailure> {
        if let Some(running) = self.saving.take() {
            running.await.map_err(|error| self.save_failure(error))?;
        }
        self.stamp(status, last_error);
        self.io
            .checkpoints
            .save(&self.checkpoint)
            .await
            .map_err(|error| self.save_failure(error))
    }

    fn save_failure(&self, error: StoreError) -> JobFailure {
        JobFailure {
            kind: FailureKind::Storage,
            message: format!("could not save the checkpoint: {error}. The import stopped; resume when storage works."),
            checkpoint: self.checkpoint.clone(),
        }
    }

    async fn storage_failure(&mut self, message: String) -> JobFailure {
        // Try to record the failure in the checkpoint; the committed offset has not passed the unstored letters.
        let _ = self.save(JobStatus::Failed, Some(message.clone())).await;
        JobFailure {
            kind: FailureKind::Storage,
            message,
            checkpoint: self.checkpoint.clone(),
        }
    }

    fn report(&mut self, on_progress: &mut dyn FnMut(&Progress), force: bool) {
        let now = self.io.clock.now_ms();
        if !force && now.saturating_sub(self.last_progress_ms) < self.tuning.progress_every_ms {
            return;
        }
        self.last_progress_ms = now;
        let bytes_read = self.reader.position();
        // Rates and ETA follow the committed offset: reading runs ahead of indexing by up to the buffer, then waits.
        let committed = self.watermark.committed().end_offset;
        let (docs_per_sec, bytes_per_sec) = self.rates.sample(now, self.live.indexed, committed);
        let total_bytes = self.checkpoint.source.size.filter(|_| !self.checkpoint.source.gzip);
        on_progress(&Progress {
            status: Some(if force {
                self.checkpoint.status
            } else {
                JobStatus::Running
            }),
            records: self.live.records,
            bytes_read,
            total_bytes,
            indexed: self.live.indexed,
            failed: self.live.failed,
            retried: self.live.retried,
            retried_requests: self.live.retried_requests,
            concurrency: self.flow.limit(),
            rejections_per_min: self.rejections.len() as u64,
            committed_offset: committed,
            in_flight: self.sending(),
            docs_per_sec,
            bytes_per_sec,
            eta_ms: eta_ms(committed, total_bytes, bytes_per_sec),
            note: self.note.clone(),
        });
    }

    /// splitmix64 → uniform [0, 1): jitter needs spread, not cryptographic strength.
    fn next_random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A request size for a message: `1.5 MiB`, `300 KiB`.
fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} KiB", bytes.div_ceil(1 << 10))
    }
}
