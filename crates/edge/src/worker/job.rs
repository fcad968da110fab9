//! One import job in one Durable Object. Its storage holds the manifest, the control record, each part's URL,
//! checkpoint and dead letters ([`crate::layout`]). Each alarm runs one slice: up to `SLUICE_PART_PARALLELISM`
//! unfinished parts through the engine's job driver until the slice's budget is spent, then re-arms the alarm.
//!
//! Nothing is kept only in memory: a slice first arms a watchdog alarm, so an isolate evicted or killed mid-slice is
//! followed by another alarm, which resumes every part from its checkpoint (Range + If-Match, as in the browser).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::mpsc;
use futures::future::join_all;
use serde::Deserialize;
use serde_json::json;
use sluice_engine::job::{run_job, Command, JobIo, JobPlan};
use sluice_engine::manifest::JobManifest;
use sluice_engine::progress::Progress;
use sluice_engine::repair::{group_reasons, retry_dead_letters, RepairChoice};
use sluice_engine::transform::TransformContext;
use sluice_engine::{Checkpoint, DeadLetter, JobStatus, Tuning};
use sluice_web_io::clock::BrowserClock;
use sluice_web_io::fetch_source::FetchSource;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{Request, Response};

use super::adapters::{
    MeteredSource, RetriedDeadLetters, SliceControl, StoredCheckpoint, StoredDeadLetters, UpstreamSink,
};
use super::js::{self, DurableObjectState, Storage};
use super::upstream::Upstream;
use crate::api::{job_view, parts_to_run, Control, Desired, JobView, NewUrls, RetryRun, RetryStatus};
use crate::config::EdgeConfig;
use crate::layout;
use crate::slice::SliceMeter;

/// What the Worker sends to create a job.
#[derive(Deserialize)]
struct Create {
    manifest: JobManifest,
    urls: Vec<String>,
}

/// The job's Durable Object (the JavaScript class `SluiceJob` hands its events here).
#[wasm_bindgen]
pub struct JobObject {
    inner: Rc<Job>,
}

struct Job {
    storage: Storage,
    config: Result<EdgeConfig, String>,
    /// The slice running now, to reach its parts with a pause or cancel.
    slice: RefCell<Option<Rc<SliceControl>>>,
    /// Progress of the parts of the running slice (fresher than their checkpoints).
    live: RefCell<Vec<Option<Progress>>>,
    running: Cell<bool>,
    /// Deleted while a slice ran: the slice's last writes are removed when it ends.
    deleted: Cell<bool>,
}

#[wasm_bindgen]
impl JobObject {
    /// The object for `state`, configured from `env`.
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: JsValue) -> JobObject {
        let config = super::config_from(&env);
        JobObject {
            inner: Rc::new(Job {
                storage: state.storage(),
                config,
                slice: RefCell::new(None),
                live: RefCell::new(Vec::new()),
                running: Cell::new(false),
                deleted: Cell::new(false),
            }),
        }
    }

    /// A call from the Worker (`http://do/{action}`).
    pub fn fetch(&self, request: Request) -> js_sys::Promise {
        let job = self.inner.clone();
        future_to_promise(async move { Ok(job.fetch(request).await.into()) })
    }

    /// The alarm: one slice of the import.
    pub fn alarm(&self) -> js_sys::Promise {
        let job = self.inner.clone();
        future_to_promise(async move {
            job.alarm().await.map_err(|message| JsValue::from_str(&message))?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// How soon after a slice starts an alarm is due, in case the isolate dies: an alarm that fires while the slice
/// still runs only re-arms this one, so a lost isolate costs at most this long.
const WATCHDOG_MS: u64 = 5_000;

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn part_number(key: &str) -> Option<usize> {
    key.split(':').nth(1)?.parse().ok()
}

impl Job {
    async fn fetch(&self, request: Request) -> Response {
        let url = web_sys::Url::new(&request.url()).ok();
        let path = url.as_ref().map(|u| u.pathname()).unwrap_or_default();
        let query_part = url
            .as_ref()
            .and_then(|u| u.search_params().get("part"))
            .and_then(|p| p.parse().ok());
        let answer = match (request.method().as_str(), path.trim_start_matches('/')) {
            ("POST", "create") => self.create(&request).await,
            ("GET", "status") => self.status().await,
            ("POST", "pause") => self.command(Desired::Paused).await,
            ("POST", "cancel") => self.command(Desired::Cancelled).await,
            ("POST", "resume") => self.resume().await,
            ("POST", "retry") => self.start_retry(&request).await,
            ("PUT", "urls") => self.replace_urls(&request).await,
            ("GET", "dead-letters") => self.dead_letters(query_part).await,
            ("GET", "reasons") => self.reasons().await,
            ("DELETE", "delete") => self.delete().await,
            _ => Err((404, "not_found", "no such call".to_string())),
        };
        answer.unwrap_or_else(|(status, code, message)| js::error_response(status, code, &message))
    }

    async fn load(&self) -> Result<Option<(JobManifest, Control, Vec<Option<Checkpoint>>)>, String> {
        let Some(manifest) = self.storage.get_json::<JobManifest>(layout::MANIFEST).await? else {
            return Ok(None);
        };
        let control = self
            .storage
            .get_json::<Control>(layout::CONTROL)
            .await?
            .unwrap_or_default();
        let mut checkpoints = vec![None; manifest.parts.len()];
        let mut after: Option<String> = None;
        loop {
            let page = self.storage.list("cp:", after.as_deref(), 256).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (key, text) in page {
                if let (Some(n), Ok(checkpoint)) = (part_number(&key), Checkpoint::from_json(text.as_bytes())) {
                    if let Some(slot) = checkpoints.get_mut(n) {
                        *slot = Some(checkpoint);
                    }
                }
            }
        }
        Ok(Some((manifest, control, checkpoints)))
    }

    async fn view(&self) -> Result<JobView, Answer> {
        match self.load().await.map_err(storage_error)? {
            Some((manifest, control, checkpoints)) => {
                Ok(job_view(&manifest, &control, &checkpoints, &self.live.borrow()))
            }
            None => Err((
                404,
                "job_not_found",
                "there is no such job (it may have been deleted)".into(),
            )),
        }
    }

    async fn status(&self) -> Result<Response, Answer> {
        Ok(js::json_response(200, &json!(self.view().await?)))
    }

    async fn create(&self, request: &Request) -> Result<Response, Answer> {
        let body = js::request_bytes(request, 16 * 1024 * 1024)
            .await
            .map_err(|m| (400, "bad_request", m))?;
        let create: Create = serde_json::from_slice(&body).map_err(|e| (400, "bad_request", e.to_string()))?;
        if self
            .storage
            .get_text(layout::MANIFEST)
            .await
            .map_err(storage_error)?
            .is_some()
        {
            return Err((409, "job_exists", "a job with this id exists".into()));
        }
        for (n, url) in create.urls.iter().enumerate() {
            self.storage
                .put_text(&layout::url_key(n), url)
                .await
                .map_err(storage_error)?;
        }
        self.storage
            .put_json(layout::CONTROL, &Control::default())
            .await
            .map_err(storage_error)?;
        // The manifest last: a job exists once it has one, and then it has everything.
        self.storage
            .put_json(layout::MANIFEST, &create.manifest)
            .await
            .map_err(storage_error)?;
        self.storage.set_alarm(now_ms()).await.map_err(storage_error)?;
        Ok(js::json_response(201, &json!(self.view().await?)))
    }

    async fn control(&self) -> Result<Control, Answer> {
        if self
            .storage
            .get_text(layout::MANIFEST)
            .await
            .map_err(storage_error)?
            .is_none()
        {
            return Err((
                404,
                "job_not_found",
                "there is no such job (it may have been deleted)".into(),
            ));
        }
        Ok(self
            .storage
            .get_json(layout::CONTROL)
            .await
            .map_err(storage_error)?
            .unwrap_or_default())
    }

    async fn command(&self, desired: Desired) -> Result<Response, Answer> {
        let mut control = self.control().await?;
        control.desired = desired;
        if let Some(run) = control.retry.as_mut().filter(|r| r.status == RetryStatus::Running) {
            // A page being sent finishes its batches; the slice's end settles the counts again after them.
            self.finish_retry(run, Some(RETRY_STOPPED.into()))
                .await
                .map_err(storage_error)?;
        }
        self.storage
            .put_json(layout::CONTROL, &control)
            .await
            .map_err(storage_error)?;
        self.storage.delete_alarm().await.map_err(storage_error)?;
        if let Some(slice) = self.slice.borrow().as_ref() {
            slice.command(match desired {
                Desired::Cancelled => Command::Cancel,
                _ => Command::Pause,
            });
        }
        self.status().await
    }

    /// Runs the job again: after a pause or cancel, and after a failure once its cause is fixed (parts that failed
    /// are tried again from their checkpoints).
    async fn resume(&self) -> Result<Response, Answer> {
        let mut control = self.control().await?;
        if control.retry.as_ref().is_some_and(|r| r.status == RetryStatus::Running) {
            return Err((
                409,
                "retry_running",
                "a retry of this job's failed records is running: resume the import once it has ended".into(),
            ));
        }
        control.desired = Desired::Running;
        control.halted = None;
        self.storage
            .put_json(layout::CONTROL, &control)
            .await
            .map_err(storage_error)?;
        if let Some((_, _, checkpoints)) = self.load().await.map_err(storage_error)? {
            for (n, checkpoint) in checkpoints.into_iter().enumerate() {
                if let Some(mut checkpoint) = checkpoint.filter(|c| c.status == JobStatus::Failed) {
                    checkpoint.status = JobStatus::Paused;
                    let saved = String::from_utf8_lossy(&checkpoint.to_json()).into_owned();
                    self.storage
                        .put_text(&layout::checkpoint_key(n), &saved)
                        .await
                        .map_err(storage_error)?;
                }
            }
        }
        if !self.running.get() {
            self.storage.set_alarm(now_ms()).await.map_err(storage_error)?;
        }
        self.status().await
    }

    /// Fresh presigned URLs. Each is probed and must point at the object its part started with; then a job that
    /// stopped (an expired URL) goes on.
    async fn replace_urls(&self, request: &Request) -> Result<Response, Answer> {
        let body = js::request_bytes(request, 16 * 1024 * 1024)
            .await
            .map_err(|m| (400, "bad_request", m))?;
        let urls: NewUrls = serde_json::from_slice(&body).map_err(|e| (400, "bad_request", e.to_string()))?;
        let Some((manifest, control, checkpoints)) = self.load().await.map_err(storage_error)? else {
            return Err((
                404,
                "job_not_found",
                "there is no such job (it may have been deleted)".into(),
            ));
        };
        if urls.urls.len() != manifest.parts.len() {
            return Err((
                400,
                "bad_request",
                format!(
                    "the job has {} objects; give one URL per object, in order (null keeps one)",
                    manifest.parts.len()
                ),
            ));
        }
        for (n, url) in urls.urls.iter().enumerate() {
            let (Some(url), Some(checkpoint)) = (url, &checkpoints[n]) else {
                continue;
            };
            let label = &manifest.parts[n].label;
            let (_, identity) = FetchSource::probe(url).await.map_err(|e| {
                (
                    400,
                    "url_unreadable",
                    format!("{label}: the new URL cannot be read: {}", e.message),
                )
            })?;
            checkpoint.source.check_same_object(&identity).map_err(|why| {
                (
                    400,
                    "different_object",
                    format!("{label}: the new URL is not for this object: {why}"),
                )
            })?;
        }
        for (n, url) in urls.urls.iter().enumerate() {
            if let Some(url) = url {
                self.storage
                    .put_text(&layout::url_key(n), url)
                    .await
                    .map_err(storage_error)?;
            }
        }
        if control.desired == Desired::Running {
            return self.resume().await;
        }
        self.status().await
    }

    /// The dead letters as NDJSON (`?part=N` for one part's), streamed a page of storage at a time.
    async fn dead_letters(&self, part: Option<usize>) -> Result<Response, Answer> {
        self.control().await?;
        let prefix = match part {
            Some(n) => layout::dead_letter_prefix(n),
            None => "dl:".to_string(),
        };
        let storage = self.storage.clone();
        struct Reading {
            after: Option<String>,
            pending: Option<(String, String)>,
            done: bool,
        }
        let start = Reading {
            after: None,
            pending: None,
            done: false,
        };
        let pages = futures::stream::unfold(start, move |mut reading| {
            let storage = storage.clone();
            let prefix = prefix.clone();
            async move {
                if reading.done {
                    return None;
                }
                let mut out = Vec::new();
                match storage.list(&prefix, reading.after.as_deref(), 500).await {
                    Ok(page) if page.is_empty() => {
                        layout::flush(&mut reading.pending, &mut out);
                        reading.done = true;
                    }
                    Ok(page) => {
                        reading.after = page.last().map(|(key, _)| key.clone());
                        layout::join_pieces(page, &mut reading.pending, &mut out);
                    }
                    Err(message) => return Some((Err(JsValue::from_str(&message)), Reading { done: true, ..reading })),
                }
                Some((Ok(JsValue::from(js_sys::Uint8Array::from(out.as_slice()))), reading))
            }
        });
        let stream = wasm_streams::ReadableStream::from_stream(pages).into_raw();
        let init = web_sys::ResponseInit::new();
        init.set_status(200);
        let headers = web_sys::Headers::new().expect("Headers");
        let _ = headers.set("content-type", "application/x-ndjson");
        init.set_headers(&headers);
        Response::new_with_opt_readable_stream_and_init(Some(&stream), &init)
            .map_err(|e| (500, "internal", sluice_web_io::js_error_text(&e)))
    }

    /// `GET /jobs/{id}/reasons`: the failed records' reasons grouped by cause ("`status` is not a number": 10), over
    /// at most [`GROUPED`] records, so an analyst sees what to fix before retrying.
    async fn reasons(&self) -> Result<Response, Answer> {
        self.control().await?;
        let (mut reasons, mut pending, mut lines, mut cursor) = (Vec::new(), None, Vec::new(), None::<String>);
        let mut letters = Vec::new();
        while reasons.len() < GROUPED {
            let page = self
                .storage
                .list("dl:", cursor.as_deref(), 500)
                .await
                .map_err(storage_error)?;
            let Some((last, _)) = page.last() else {
                layout::flush(&mut pending, &mut lines);
                read_lines(&lines, &mut letters).map_err(storage_error)?;
                reasons.extend(letters.drain(..).map(|l| l.reason));
                break;
            };
            cursor = Some(last.clone());
            layout::join_pieces(page, &mut pending, &mut lines);
            read_lines(&lines, &mut letters).map_err(storage_error)?;
            lines.clear();
            reasons.extend(letters.drain(..).map(|l| l.reason));
        }
        let partial = reasons.len() >= GROUPED;
        let groups: Vec<_> = group_reasons(reasons.iter().map(String::as_str))
            .into_iter()
            .map(|(reason, count)| json!({"reason": reason, "count": count}))
            .collect();
        Ok(js::json_response(
            200,
            &json!({"reasons": groups, "counted": reasons.len(), "partial": partial}),
        ))
    }

    async fn delete(&self) -> Result<Response, Answer> {
        if let Some(slice) = self.slice.borrow().as_ref() {
            slice.command(Command::Cancel);
        }
        // A cancelled part still saves its checkpoint: the slice deletes again when it ends.
        self.deleted.set(self.running.get());
        self.storage.delete_alarm().await.map_err(storage_error)?;
        self.storage.delete_all().await.map_err(storage_error)?;
        Ok(js::json_response(200, &json!({"deleted": true})))
    }

    async fn alarm(&self) -> Result<(), String> {
        if self.running.replace(true) {
            // A slice is running here: keep a watchdog armed, whatever the platform does with this alarm.
            return self.storage.set_alarm(now_ms() + WATCHDOG_MS).await;
        }
        let result = self.slice().await;
        self.running.set(false);
        result
    }

    /// One slice: runs the parts due, then decides whether another alarm is needed.
    async fn slice(&self) -> Result<(), String> {
        let Some((manifest, control, checkpoints)) = self.load().await? else {
            return Ok(());
        };
        if let Some(run) = control.retry.clone().filter(|r| r.status == RetryStatus::Running) {
            return self.retry_slice(&manifest, run).await;
        }
        if control.desired != Desired::Running || control.halted.is_some() {
            return Ok(());
        }
        let config = match &self.config {
            Ok(config) => config.clone(),
            Err(message) => {
                let halted = Control {
                    halted: Some(format!("the Worker is misconfigured: {message}")),
                    ..control
                };
                return self.storage.put_json(layout::CONTROL, &halted).await;
            }
        };
        let due = parts_to_run(&checkpoints, config.part_parallelism);
        if due.is_empty() {
            return Ok(());
        }
        let started = now_ms();
        // The watchdog: if this isolate dies mid-slice, this alarm fires and the parts resume from their checkpoints.
        self.storage.set_alarm(started + WATCHDOG_MS).await?;
        let slice = Rc::new(SliceControl::new(SliceMeter::new(config.budget, started)));
        *self.slice.borrow_mut() = Some(slice.clone());
        *self.live.borrow_mut() = vec![None; manifest.parts.len()];
        let upstream = Upstream::new(&config);
        let runs = due
            .iter()
            .map(|&n| self.run_part(n, &manifest, checkpoints[n].clone(), &upstream, slice.clone()));
        let results = join_all(runs).await;
        *self.slice.borrow_mut() = None;
        self.live.borrow_mut().clear();
        if self.deleted.replace(false) {
            self.storage.delete_alarm().await?;
            return self.storage.delete_all().await;
        }
        // Reloaded: a pause, cancel or new URLs may have come in while the slice ran.
        let Some((_, mut control, checkpoints)) = self.load().await? else {
            return Ok(());
        };
        control.active_ms += now_ms().saturating_sub(started);
        control.slices += 1;
        control.updated_at_ms = now_ms();
        if let Some(message) = results.into_iter().find_map(Result::err) {
            control.halted.get_or_insert(message);
        }
        self.storage.put_json(layout::CONTROL, &control).await?;
        let more = control.desired == Desired::Running
            && control.halted.is_none()
            && !parts_to_run(&checkpoints, 1).is_empty();
        if more {
            self.storage.set_alarm(now_ms()).await
        } else {
            self.storage.delete_alarm().await
        }
    }

    /// `POST /jobs/{id}/retry`: sends the job's failed records again, with the analyst's [`RepairChoice`] (the body;
    /// empty for the job's own settings) over the job's settings, once its cause is fixed. Alarms run it.
    async fn start_retry(&self, request: &Request) -> Result<Response, Answer> {
        let body = js::request_bytes(request, 1024 * 1024)
            .await
            .map_err(|m| (400, "bad_request", m))?;
        let choice: RepairChoice = if body.iter().all(u8::is_ascii_whitespace) {
            RepairChoice::default()
        } else {
            serde_json::from_slice(&body).map_err(|e| (400, "bad_request", format!("the retry's body: {e}")))?
        };
        let Some((manifest, mut control, checkpoints)) = self.load().await.map_err(storage_error)? else {
            return Err((
                404,
                "job_not_found",
                "there is no such job (it may have been deleted)".into(),
            ));
        };
        let view = job_view(&manifest, &control, &checkpoints, &self.live.borrow());
        if self.running.get() && control.retry.as_ref().is_none_or(|r| r.status != RetryStatus::Running) {
            return Err((
                409,
                "job_running",
                "the import is still finishing its last requests: retry in a few seconds".into(),
            ));
        }
        control.retry = Some(RetryRun::start(&view, &control, &checkpoints, choice)?);
        self.storage
            .put_json(layout::CONTROL, &control)
            .await
            .map_err(storage_error)?;
        self.storage.set_alarm(now_ms()).await.map_err(storage_error)?;
        Ok(js::json_response(202, &json!(self.view().await?)))
    }

    /// One alarm of a retry: one page of failed records sent again, then the alarm re-armed while more remain.
    async fn retry_slice(&self, manifest: &JobManifest, mut run: RetryRun) -> Result<(), String> {
        // The watchdog, as for an import slice: a page interrupted is started again.
        self.storage.set_alarm(now_ms() + WATCHDOG_MS).await?;
        let outcome = match &self.config {
            Ok(config) => self.retry_page(manifest, &mut run, config).await,
            Err(message) => Err(format!("the Worker is misconfigured: {message}")),
        };
        if self.deleted.replace(false) {
            self.storage.delete_alarm().await?;
            return self.storage.delete_all().await;
        }
        // Reloaded: a pause or cancel may have stopped the retry while the page was sent.
        let Some(mut control) = self.storage.get_json::<Control>(layout::CONTROL).await? else {
            return Ok(());
        };
        let stopped_meanwhile = control.retry.as_ref().filter(|r| r.status != RetryStatus::Running);
        let more = match (outcome, stopped_meanwhile) {
            (_, Some(stopped)) => {
                let message = stopped.message.clone();
                self.finish_retry(&mut run, message).await?;
                false
            }
            (Ok(true), None) => true,
            (Ok(false), None) => {
                self.finish_retry(&mut run, None).await?;
                false
            }
            (Err(message), None) => {
                let message = format!("{message}; the records not yet indexed are still in the failed list");
                self.finish_retry(&mut run, Some(message)).await?;
                false
            }
        };
        control.retry = Some(run);
        self.storage.put_json(layout::CONTROL, &control).await?;
        if more {
            self.storage.set_alarm(now_ms()).await
        } else {
            self.storage.delete_alarm().await
        }
    }

    /// Sends the next page of failed records of the retry's part, moving to the next part when one has none left.
    /// True while more may remain.
    async fn retry_page(
        &self,
        manifest: &JobManifest,
        run: &mut RetryRun,
        config: &EdgeConfig,
    ) -> Result<bool, String> {
        while let Some(part) = manifest.parts.get(run.part) {
            let n = run.part;
            let checkpoint = self
                .storage
                .get_text(&layout::checkpoint_key(n))
                .await?
                .and_then(|text| Checkpoint::from_json(text.as_bytes()).ok());
            let Some(checkpoint) = checkpoint.filter(|c| c.counters.failed > 0) else {
                run.part += 1;
                run.after = None;
                continue;
            };
            let letters = self.failed_records_after(n, run.after, RETRY_PAGE).await?;
            let Some(last) = letters.last().map(|l| l.offset) else {
                self.settle_part(n).await?;
                run.part += 1;
                run.after = None;
                continue;
            };
            let settings = run
                .choice
                .settings_for(&checkpoint)
                .map_err(|why| format!("{}: {why}", part.label))?;
            let ledger = RetriedDeadLetters {
                storage: self.storage.clone(),
                part: n,
                pieces: RefCell::new(
                    letters
                        .iter()
                        .map(|letter| (letter.offset, layout::dead_letter_pieces(n, letter).len()))
                        .collect(),
                ),
            };
            let sink = UpstreamSink {
                upstream: Upstream::new(config),
                slice: Rc::new(SliceControl::new(SliceMeter::new(config.budget, now_ms()))),
            };
            let context = TransformContext {
                source_name: checkpoint.source.display_name(),
                import_started_ms: checkpoint.created_at_ms,
            };
            let tuning = Tuning {
                batch_docs: RETRY_BATCH_DOCS,
                ..manifest.tuning.clone()
            };
            let count = letters.len() as u64;
            retry_dead_letters(
                letters,
                &settings,
                &checkpoint.source.id_namespace(),
                &context,
                checkpoint.csv.as_ref(),
                &tuning,
                &sink,
                &BrowserClock,
                &ledger,
                &mut |_, _| {},
            )
            .await
            .map_err(|stopped| format!("{}: {stopped}", part.label))?;
            run.sent += count;
            run.after = Some(last);
            return Ok(true);
        }
        Ok(false)
    }

    /// Up to `most` whole failed records of part `n` stored after offset `after`, in offset order.
    async fn failed_records_after(&self, n: usize, after: Option<u64>, most: usize) -> Result<Vec<DeadLetter>, String> {
        let prefix = layout::dead_letter_prefix(n);
        let mut cursor = after.map(|offset| layout::after_dead_letter(n, offset));
        let (mut pending, mut lines, mut letters) = (None, Vec::new(), Vec::new());
        loop {
            let page = self.storage.list(&prefix, cursor.as_deref(), 500).await?;
            let Some((last, _)) = page.last() else {
                layout::flush(&mut pending, &mut lines);
                read_lines(&lines, &mut letters)?;
                return Ok(letters);
            };
            cursor = Some(last.clone());
            layout::join_pieces(page, &mut pending, &mut lines);
            read_lines(&lines, &mut letters)?;
            lines.clear();
            if letters.len() >= most {
                // The next call starts after the last letter kept (the line still being joined may go on in the
                // next page, and is read whole then).
                letters.truncate(most);
                return Ok(letters);
            }
        }
    }

    /// Part `n`'s figures after a retry: failed as many as are still stored, the rest indexed.
    async fn settle_part(&self, n: usize) -> Result<(), String> {
        let key = layout::checkpoint_key(n);
        let Some(mut checkpoint) = self
            .storage
            .get_text(&key)
            .await?
            .and_then(|text| Checkpoint::from_json(text.as_bytes()).ok())
        else {
            return Ok(());
        };
        let prefix = layout::dead_letter_prefix(n);
        let (mut remaining, mut cursor) = (0, None::<String>);
        loop {
            let page = self.storage.list(&prefix, cursor.as_deref(), 500).await?;
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            remaining += page.iter().filter(|(key, _)| key.ends_with(":000")).count() as u64;
        }
        checkpoint.settle_repair(remaining);
        let text = String::from_utf8_lossy(&checkpoint.to_json()).into_owned();
        self.storage.put_text(&key, &text).await
    }

    /// Ends `run`: the figures of the part it was in are settled, and it counts what still fails in every part.
    async fn finish_retry(&self, run: &mut RetryRun, stopped: Option<String>) -> Result<(), String> {
        self.settle_part(run.part).await?;
        let still_failing = match self.load().await? {
            Some((_, _, checkpoints)) => checkpoints.iter().flatten().map(|c| c.counters.failed).sum(),
            None => 0,
        };
        run.end(still_failing, stopped);
        Ok(())
    }

    /// Runs part `n` until it completes, fails, or the slice ends. The error is the job's `last_error`.
    async fn run_part(
        &self,
        n: usize,
        manifest: &JobManifest,
        checkpoint: Option<Checkpoint>,
        upstream: &Upstream,
        slice: Rc<SliceControl>,
    ) -> Result<(), String> {
        let part = &manifest.parts[n];
        let url = self.storage.get_text(&layout::url_key(n)).await?.ok_or_else(|| {
            format!(
                "{}: the job has no URL for this object; give one with PUT /jobs/{{id}}/urls",
                part.label
            )
        })?;
        let (source, checkpoint) = match checkpoint {
            Some(checkpoint) => (FetchSource::resume(&url, &checkpoint.source), checkpoint),
            None => {
                let (source, identity) = FetchSource::probe(&url)
                    .await
                    .map_err(|error| format!("{}: {}", part.label, error.message))?;
                let checkpoint = Checkpoint::start(part.id.clone(), identity, manifest.settings.clone(), now_ms());
                let saved = String::from_utf8_lossy(&checkpoint.to_json()).into_owned();
                self.storage.put_text(&layout::checkpoint_key(n), &saved).await?;
                (source, checkpoint)
            }
        };
        let (sender, commands) = mpsc::unbounded();
        slice.add(sender);
        if slice.meter.spent().is_some() {
            // The budget ran out while this part was being probed: it starts in the next slice.
            return Ok(());
        }
        let sink = UpstreamSink {
            upstream: upstream.clone(),
            slice: slice.clone(),
        };
        let checkpoints = StoredCheckpoint {
            storage: self.storage.clone(),
            part: n,
        };
        let dead_letters = StoredDeadLetters {
            storage: self.storage.clone(),
            part: n,
        };
        let clock = BrowserClock;
        let mut records_seen = checkpoint.committed_records;
        let live = &self.live;
        let meter_slice = slice.clone();
        let mut on_progress = |progress: &Progress| {
            if let Some(slot) = live.borrow_mut().get_mut(n) {
                *slot = Some(progress.clone());
            }
            let fresh = progress.records.saturating_sub(records_seen);
            records_seen = records_seen.max(progress.records);
            meter_slice.end_if(meter_slice.meter.records(fresh, now_ms()));
        };
        let plan = JobPlan {
            checkpoint,
            tuning: manifest.tuning.clone(),
            seed: now_ms() ^ n as u64,
        };
        let source = MeteredSource { inner: source, slice };
        let io = JobIo {
            sink: &sink,
            checkpoints: &checkpoints,
            dead_letters: &dead_letters,
            clock: &clock,
        };
        let outcome = run_job(plan, source, io, commands, &mut on_progress).await;
        if let Some(slot) = self.live.borrow_mut().get_mut(n) {
            *slot = None;
        }
        outcome
            .map(drop)
            .map_err(|failure| format!("{}: {}", part.label, failure.message))
    }
}

/// Failed records whose reasons are grouped at most: enough to name every cause an analyst needs to fix.
const GROUPED: usize = 100_000;
/// Failed records read and sent per alarm of a retry.
const RETRY_PAGE: usize = 2000;
/// Records per bulk request of a retry: small, so one bad cause costs little to send again.
const RETRY_BATCH_DOCS: usize = 500;
/// Why a retry stopped on a pause or cancel.
const RETRY_STOPPED: &str = "stopped by a pause or cancel; the records not yet retried are still in the failed list";

/// Parses NDJSON lines of stored failed records.
fn read_lines(lines: &[u8], letters: &mut Vec<DeadLetter>) -> Result<(), String> {
    for line in lines.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        letters.push(
            serde_json::from_slice(line).map_err(|e| format!("a stored failed record could not be read back: {e}"))?,
        );
    }
    Ok(())
}

/// An error answer: status, code, message.
type Answer = (u16, &'static str, String);

fn storage_error(message: String) -> Answer {
    (500, "storage", format!("the job's storage failed: {message}"))
}
