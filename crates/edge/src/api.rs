//! The edge import service's HTTP API as data: what `POST /jobs` accepts, what a job's Durable Object keeps beside
//! the engine's checkpoints ([`Control`]), and what `GET /jobs/{id}` answers ([`JobView`]). Platform-free, so it is
//! tested natively.

use serde::{Deserialize, Serialize};
use sluice_engine::format::FormatChoice;
use sluice_engine::manifest::JobManifest;
use sluice_engine::progress::Progress;
use sluice_engine::repair::RepairChoice;
use sluice_engine::settings::{Action, CsvOptions, IdStrategy, Validation};
use sluice_engine::source_url::{redact, SourceUrl};
use sluice_engine::transform::Transform;
use sluice_engine::{Checkpoint, ImportSettings, JobStatus, Tuning};
use sluice_proxy::policy::IndexPatterns;

/// Most objects in one job (each is a part with its own checkpoint and URL).
pub const MAX_PARTS: usize = 1000;
/// Most bulk requests in flight per part.
pub const MAX_CONCURRENCY: usize = 16;
/// Unacknowledged bodies a part may hold (a Worker has 128 MB for everything).
pub const MAX_BUFFERED_BYTES: usize = 48 * 1024 * 1024;

/// `POST /jobs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// Presigned (or public) URLs of the objects, imported as parts of one job.
    pub urls: Vec<String>,
    /// Target index (must be allowed by `SLUICE_ALLOW_INDEX`).
    pub index: String,
    /// `auto` (default), `json`, `jsonl`, `csv` or `tsv`.
    #[serde(default)]
    pub format: FormatChoice,
    /// How CSV and TSV rows become documents (`{"delimiter":";","column_types":{"zip":"keyword"}}` …).
    #[serde(default)]
    pub csv: CsvOptions,
    /// Field holding the document id (`id`, `user.id` or a JSON pointer); derived ids when absent.
    #[serde(default)]
    pub id_field: Option<String>,
    /// `index` (default) or `create`.
    #[serde(default)]
    pub action: Action,
    /// Ingest pipeline.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// `full` (default) or `structural`.
    #[serde(default)]
    pub validation: Validation,
    /// Records longer than this become dead letters (default 10 MiB).
    #[serde(default)]
    pub max_record_bytes: Option<usize>,
    /// The engine's transforms, in its JSON form (`{"op":"rename","from":"a","to":"b"}` …).
    #[serde(default)]
    pub transforms: Vec<Transform>,
    /// Records per bulk request (default 5000).
    #[serde(default)]
    pub batch_docs: Option<usize>,
    /// Bytes per bulk request (default 5 MiB).
    #[serde(default)]
    pub batch_bytes: Option<usize>,
    /// Bulk requests in flight per part (default 4, at most 16).
    #[serde(default)]
    pub concurrency: Option<usize>,
}

impl NewJob {
    /// The job's manifest and its parts' URLs, or what is wrong with the request, in words.
    pub fn plan(
        self,
        job_id: &str,
        now_ms: u64,
        allowed: &IndexPatterns,
    ) -> Result<(JobManifest, Vec<String>), String> {
        if self.urls.is_empty() {
            return Err("'urls' is empty: give the presigned URL of at least one object".into());
        }
        if self.urls.len() > MAX_PARTS {
            return Err(format!(
                "a job takes at most {MAX_PARTS} objects, not {}; split it into several jobs",
                self.urls.len()
            ));
        }
        for url in &self.urls {
            SourceUrl::parse(url).map_err(|message| format!("{}: {message}", redact(url)))?;
        }
        if !allowed.allows(&self.index) {
            return Err(format!(
                "index '{}' is not allowed at this edge (SLUICE_ALLOW_INDEX is {}); ask the admin to allow it",
                self.index,
                allowed.patterns().join(",")
            ));
        }
        let mut settings = ImportSettings::new(self.index);
        settings.format = self.format;
        settings.csv = self.csv;
        settings.action = self.action;
        settings.id = IdStrategy::from_field(self.id_field.as_deref().unwrap_or(""));
        settings.pipeline = self.pipeline.filter(|p| !p.trim().is_empty());
        settings.validation = self.validation;
        if let Some(max) = self.max_record_bytes {
            settings.max_record_bytes = max;
        }
        settings.transforms = self.transforms;
        settings.validate()?;
        let mut tuning = Tuning::default();
        if let Some(docs) = self.batch_docs {
            if docs == 0 {
                return Err("'batch_docs' must be at least 1".into());
            }
            tuning.batch_docs = docs;
        }
        if let Some(bytes) = self.batch_bytes {
            if bytes < 1024 {
                return Err("'batch_bytes' must be at least 1024".into());
            }
            tuning.batch_bytes = bytes;
        }
        if let Some(concurrency) = self.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
                return Err(format!("'concurrency' must be from 1 to {MAX_CONCURRENCY}"));
            }
            tuning.max_in_flight = concurrency;
        }
        let fitting = MAX_BUFFERED_BYTES / (tuning.max_in_flight + 2);
        if self.batch_bytes.is_none() {
            // More requests in flight: smaller default batches, so the Worker's memory holds them all.
            tuning.batch_bytes = tuning.batch_bytes.min(fitting);
        }
        tuning.max_buffered_bytes = tuning.batch_bytes * (tuning.max_in_flight + 2);
        if tuning.max_buffered_bytes > MAX_BUFFERED_BYTES {
            return Err(format!(
                "batch_bytes × (concurrency + 2) is {} bytes, over the {MAX_BUFFERED_BYTES} a Worker can hold; send \
                 smaller batches or fewer at once",
                tuning.max_buffered_bytes
            ));
        }
        let labels = self.urls.iter().map(|url| redact(url)).collect();
        let manifest = JobManifest::new(job_id, now_ms, settings, tuning, labels, Vec::new());
        Ok((manifest, self.urls))
    }
}

/// `PUT /jobs/{id}/urls`: fresh presigned URLs, one per part in order (`null` keeps a part's URL).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUrls {
    /// The URLs.
    pub urls: Vec<Option<String>>,
}

/// What the user asked of a job, beside the checkpoints the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// Run slices until every part is done.
    #[default]
    Running,
    /// Stopped after the requests in flight; `resume` continues.
    Paused,
    /// Stopped at once; `resume` continues from the checkpoints.
    Cancelled,
}

/// A job's control record in its Durable Object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Run, pause or cancel.
    pub desired: Desired,
    /// Why the job stopped on its own (an expired URL, a refusal): no slice runs until `resume` or new URLs.
    #[serde(default)]
    pub halted: Option<String>,
    /// Time spent in slices, for the average rate.
    #[serde(default)]
    pub active_ms: u64,
    /// Slices run so far.
    #[serde(default)]
    pub slices: u64,
    /// When the last slice ended.
    #[serde(default)]
    pub updated_at_ms: u64,
    /// The last retry of the job's failed records, while it runs and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryRun>,
}

/// Where a retry of failed records stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryStatus {
    /// Alarms send the failed records again, a page at a time.
    Running,
    /// Every failed record stored when it started was sent again.
    Completed,
    /// Stopped before the end (cancelled, or the cluster or the storage failed); what it settled stays settled.
    Stopped,
}

/// A retry of a job's failed records (`POST /jobs/{id}/retry`), kept in the [`Control`] record. Alarms run it a page
/// of failed records at a time, part by part; each page's batches are settled in storage as they are answered
/// (indexed records leave the failed list, the others get their new reason), so an evicted isolate loses nothing:
/// the next alarm starts the page again, and a record sent twice overwrites itself (the same `_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryRun {
    /// What the analyst changed over the job's settings.
    #[serde(default)]
    pub choice: RepairChoice,
    /// Running, completed or stopped.
    pub status: RetryStatus,
    /// The part being retried; the parts before it are done.
    pub part: usize,
    /// The offset of the last failed record of `part` already sent: the next page starts after it.
    #[serde(default)]
    pub after: Option<u64>,
    /// Failed records when the retry started.
    pub total: u64,
    /// Failed records sent again so far.
    #[serde(default)]
    pub sent: u64,
    /// Failed records still stored once it ended.
    #[serde(default)]
    pub still_failing: Option<u64>,
    /// Why it stopped.
    #[serde(default)]
    pub message: Option<String>,
}

impl RetryRun {
    /// A retry of the job whose view, checkpoints and control are given, or why it cannot start now: the status,
    /// a code and a message in words.
    pub fn start(
        view: &JobView,
        control: &Control,
        checkpoints: &[Option<Checkpoint>],
        choice: RepairChoice,
    ) -> Result<RetryRun, (u16, &'static str, String)> {
        if view.status == "running" {
            return Err((
                409,
                "job_running",
                "the import is still running: retry its failed records once it has completed, or pause it first".into(),
            ));
        }
        if control.retry.as_ref().is_some_and(|r| r.status == RetryStatus::Running) {
            return Err((
                409,
                "retry_running",
                "a retry of this job's failed records is already running".into(),
            ));
        }
        if view.failed == 0 {
            return Err((409, "nothing_to_retry", "this job has no failed records".into()));
        }
        for (checkpoint, part) in checkpoints.iter().zip(&view.parts) {
            if let Some(checkpoint) = checkpoint.as_ref().filter(|c| c.counters.failed > 0) {
                choice
                    .settings_for(checkpoint)
                    .map_err(|why| (400, "bad_request", format!("{}: {why}", part.label)))?;
            }
        }
        Ok(RetryRun {
            choice,
            status: RetryStatus::Running,
            part: 0,
            after: None,
            total: view.failed,
            sent: 0,
            still_failing: None,
            message: None,
        })
    }

    /// Ends the retry with the failed records still stored and, when it stopped early, why.
    pub fn end(&mut self, still_failing: u64, stopped: Option<String>) {
        self.status = if stopped.is_some() {
            RetryStatus::Stopped
        } else {
            RetryStatus::Completed
        };
        self.still_failing = Some(still_failing);
        self.message = stopped;
    }
}

/// The retry part of [`JobView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryView {
    /// `running`, `completed` or `stopped`.
    pub status: RetryStatus,
    /// Failed records sent again so far.
    pub sent: u64,
    /// Failed records when it started.
    pub total: u64,
    /// Records indexed by the retry, once it ended.
    pub indexed: Option<u64>,
    /// Failed records still stored, once it ended (with their new reasons).
    pub still_failing: Option<u64>,
    /// Why it stopped.
    pub message: Option<String>,
}

impl From<&RetryRun> for RetryView {
    fn from(run: &RetryRun) -> Self {
        RetryView {
            status: run.status,
            sent: run.sent.min(run.total),
            total: run.total,
            indexed: run.still_failing.map(|still| run.total.saturating_sub(still)),
            still_failing: run.still_failing,
            message: run.message.clone(),
        }
    }
}

/// One part of [`JobView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartView {
    /// `job#n`.
    pub id: String,
    /// The URL without its signature.
    pub label: String,
    /// `pending` (not started), `running`, `paused`, `completed`, `failed`, `cancelled`.
    pub status: String,
    /// Records read and resolved (committed).
    pub records: u64,
    /// Documents indexed.
    pub indexed: u64,
    /// Records that became dead letters.
    pub failed: u64,
    /// Documents sent again after a retryable answer.
    pub retried: u64,
    /// Bytes of the object committed: a resume starts here.
    pub committed_offset: u64,
    /// The object's size.
    pub bytes_total: Option<u64>,
    /// Why the part stopped, when it did.
    pub last_error: Option<String>,
    /// A CSV or TSV part's columns, once its header is read: what a retry may change the types of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_columns: Option<Vec<String>>,
}

/// `GET /jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// The job's id.
    pub id: String,
    /// `running`, `paused`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// Target index.
    pub index: String,
    /// When it was created (ms since the epoch).
    pub created_at_ms: u64,
    /// Its parts.
    pub parts: Vec<PartView>,
    /// Sums over the parts.
    pub records: u64,
    /// Documents indexed.
    pub indexed: u64,
    /// Dead letters.
    pub failed: u64,
    /// Documents sent again.
    pub retried: u64,
    /// Bytes committed over all parts.
    pub committed_offset: u64,
    /// Total size, when every part's is known.
    pub bytes_total: Option<u64>,
    /// Documents indexed per second of import time (live while a slice runs).
    pub docs_per_s: f64,
    /// Slices run so far.
    pub slices: u64,
    /// Why the job stopped, when it stopped on its own.
    pub last_error: Option<String>,
    /// The last retry of its failed records, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryView>,
}

/// A job's view from its manifest, control record, checkpoints (`None` for a part not started) and the live
/// progress of parts running in the current slice, which is fresher than their last checkpoint.
pub fn job_view(
    manifest: &JobManifest,
    control: &Control,
    checkpoints: &[Option<Checkpoint>],
    live: &[Option<Progress>],
) -> JobView {
    let parts: Vec<PartView> = manifest
        .parts
        .iter()
        .enumerate()
        .map(|(n, part)| {
            let checkpoint = checkpoints.get(n).and_then(Option::as_ref);
            let progress = live.get(n).and_then(Option::as_ref);
            let status = match (checkpoint.map(|c| c.status), progress) {
                (Some(JobStatus::Completed), _) => "completed",
                (_, Some(_)) => "running",
                (None, None) => "pending",
                (Some(status), None) => status_name(status),
            };
            let committed = checkpoint.map_or(0, |c| c.committed_offset);
            PartView {
                id: part.id.clone(),
                label: part.label.clone(),
                status: status.to_string(),
                records: progress.map_or(checkpoint.map_or(0, |c| c.committed_records), |p| p.records),
                indexed: progress.map_or(checkpoint.map_or(0, |c| c.counters.indexed), |p| p.indexed),
                failed: progress.map_or(checkpoint.map_or(0, |c| c.counters.failed), |p| p.failed),
                retried: progress.map_or(checkpoint.map_or(0, |c| c.counters.retried), |p| p.retried),
                committed_offset: progress.map_or(committed, |p| p.committed_offset.max(committed)),
                bytes_total: checkpoint.and_then(|c| c.source.size),
                last_error: checkpoint.and_then(|c| c.last_error.clone()),
                csv_columns: checkpoint
                    .and_then(|c| c.csv.as_ref())
                    .map(|layout| layout.columns.names.clone()),
            }
        })
        .collect();
    let all_done = parts.iter().all(|p| p.status == "completed");
    let status = if all_done {
        "completed"
    } else {
        match control.desired {
            Desired::Cancelled => "cancelled",
            Desired::Paused => "paused",
            Desired::Running if control.halted.is_some() => "failed",
            Desired::Running => "running",
        }
    };
    let indexed: u64 = parts.iter().map(|p| p.indexed).sum();
    let live_rate: f64 = live.iter().flatten().map(|p| p.docs_per_sec).sum();
    let docs_per_s = if live_rate > 0.0 {
        live_rate
    } else if control.active_ms > 0 {
        indexed as f64 * 1000.0 / control.active_ms as f64
    } else {
        0.0
    };
    JobView {
        id: manifest.id.clone(),
        status: status.to_string(),
        index: manifest.settings.index.clone(),
        created_at_ms: manifest.created_at_ms,
        records: parts.iter().map(|p| p.records).sum(),
        indexed,
        failed: parts.iter().map(|p| p.failed).sum(),
        retried: parts.iter().map(|p| p.retried).sum(),
        committed_offset: parts.iter().map(|p| p.committed_offset).sum(),
        bytes_total: parts.iter().map(|p| p.bytes_total).sum(),
        docs_per_s: (docs_per_s * 10.0).round() / 10.0,
        slices: control.slices,
        last_error: if all_done { None } else { control.halted.clone() },
        retry: control.retry.as_ref().map(RetryView::from),
        parts,
    }
}

fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Running => "running",
        JobStatus::Paused => "paused",
        JobStatus::Completed => "completed",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

/// The parts the next slice runs: those not completed and not failed, in order, at most `parallelism`.
pub fn parts_to_run(checkpoints: &[Option<Checkpoint>], parallelism: usize) -> Vec<usize> {
    checkpoints
        .iter()
        .enumerate()
        .filter(|(_, checkpoint)| {
            !checkpoint
                .as_ref()
                .is_some_and(|c| matches!(c.status, JobStatus::Completed | JobStatus::Failed))
        })
        .map(|(n, _)| n)
        .take(parallelism.max(1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::SourceIdentity;

    fn allowed() -> IndexPatterns {
        IndexPatterns::new(["logs-*"]).unwrap()
    }

    fn new_job(json: &str) -> Result<(JobManifest, Vec<String>), String> {
        let job: NewJob = serde_json::from_str(json).map_err(|e| e.to_string())?;
        job.plan("job-1", 5, &allowed())
    }

    #[test]
    fn a_new_job_becomes_a_manifest_with_unsigned_labels() {
        let (manifest, urls) = new_job(
            r#"{"urls":["https://b.s3.amazonaws.com/a.jsonl?X-Amz-Signature=secret","https://b.s3.amazonaws.com/b.json"],
                "index":"logs-a","format":"jsonl","id_field":"user.id","action":"create","pipeline":"p",
                "transforms":[{"op":"drop","field":"secret"}],"concurrency":8}"#,
        )
        .unwrap();
        assert_eq!(urls.len(), 2);
        assert_eq!(manifest.parts[0].id, "job-1#0");
        assert!(
            !manifest.parts[0].label.contains("secret"),
            "{}",
            manifest.parts[0].label
        );
        assert_eq!(
            manifest.settings.id,
            IdStrategy::Field {
                pointer: "/user/id".into()
            }
        );
        assert_eq!(manifest.settings.action, Action::Create);
        assert_eq!(manifest.settings.pipeline.as_deref(), Some("p"));
        assert_eq!(manifest.settings.transforms.len(), 1);
        assert_eq!(manifest.tuning.max_in_flight, 8);
        assert!(
            manifest.tuning.batch_bytes < 5 * 1024 * 1024,
            "smaller batches for 8 in flight"
        );
        assert!(manifest.tuning.max_buffered_bytes <= MAX_BUFFERED_BYTES);
    }

    #[test]
    fn bad_requests_are_refused_in_words() {
        let refused = |json: &str| new_job(json).unwrap_err();
        assert!(refused(r#"{"urls":[],"index":"logs-a"}"#).contains("at least one object"));
        assert!(refused(r#"{"urls":["https://h/a"],"index":"secret"}"#).contains("not allowed"));
        assert!(refused(r#"{"urls":["ftp://h/a"],"index":"logs-a"}"#).contains("ftp://h/a"));
        assert!(refused(r#"{"urls":["https://h/a"],"index":"logs-a","concurrency":99}"#).contains("1 to 16"));
        assert!(refused(r#"{"urls":["https://h/a"],"index":"logs-a","batch_bytes":20000000}"#).contains("Worker"));
        assert!(refused(r#"{"urls":["https://h/a"],"index":"logs-a","colour":1}"#).contains("unknown field"));
        assert!(refused(r#"{"urls":["https://h/a"],"index":"logs-a","format":"xml"}"#).contains("unknown variant"));
    }

    fn checkpoint(status: JobStatus, offset: u64) -> Checkpoint {
        let source = SourceIdentity {
            size: Some(100),
            ..SourceIdentity::default()
        };
        let mut checkpoint = Checkpoint::start("job-1#0", source, ImportSettings::new("logs-a"), 1);
        checkpoint.status = status;
        checkpoint.committed_offset = offset;
        checkpoint.counters.indexed = offset;
        checkpoint
    }

    #[test]
    fn the_view_adds_up_parts_and_prefers_live_progress() {
        let (manifest, _) =
            new_job(r#"{"urls":["https://h/a","https://h/b","https://h/c"],"index":"logs-a"}"#).unwrap();
        let checkpoints = vec![
            Some(checkpoint(JobStatus::Completed, 100)),
            Some(checkpoint(JobStatus::Paused, 40)),
            None,
        ];
        let live = vec![
            None,
            Some(Progress {
                indexed: 60,
                committed_offset: 60,
                docs_per_sec: 12.0,
                ..Progress::default()
            }),
            None,
        ];
        let control = Control::default();
        let view = job_view(&manifest, &control, &checkpoints, &live);
        assert_eq!(view.status, "running");
        assert_eq!(view.indexed, 160);
        assert_eq!(view.committed_offset, 160);
        assert_eq!(view.bytes_total, None, "the third part's size is not known yet");
        assert_eq!(view.docs_per_s, 12.0);
        assert_eq!(
            view.parts.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(),
            ["completed", "running", "pending"]
        );
        let halted = Control {
            halted: Some("the URL expired".into()),
            active_ms: 2000,
            ..Control::default()
        };
        let view = job_view(&manifest, &halted, &checkpoints, &[]);
        assert_eq!(
            (view.status.as_str(), view.last_error.as_deref()),
            ("failed", Some("the URL expired"))
        );
        assert_eq!(view.docs_per_s, 70.0);
        let paused = Control {
            desired: Desired::Paused,
            ..Control::default()
        };
        assert_eq!(job_view(&manifest, &paused, &checkpoints, &[]).status, "paused");
        let done = vec![Some(checkpoint(JobStatus::Completed, 100)); 3];
        let view = job_view(&manifest, &halted, &done, &[]);
        assert_eq!((view.status.as_str(), view.bytes_total), ("completed", Some(300)));
    }

    #[test]
    fn a_retry_starts_only_on_a_stopped_job_with_failed_records_and_a_choice_that_fits() {
        let (manifest, _) = new_job(r#"{"urls":["https://h/a","https://h/b"],"index":"logs-a"}"#).unwrap();
        let mut failing = checkpoint(JobStatus::Completed, 100);
        failing.counters.failed = 7;
        let checkpoints = vec![Some(failing), Some(checkpoint(JobStatus::Completed, 100))];
        let control = Control::default();
        let view = job_view(&manifest, &control, &checkpoints, &[]);
        let rename: RepairChoice =
            serde_json::from_str(r#"{"transforms":[{"op":"rename","from":"a","to":"b"}]}"#).unwrap();
        let mut run = RetryRun::start(&view, &control, &checkpoints, rename.clone()).unwrap();
        assert_eq!(
            (run.status, run.part, run.after, run.total),
            (RetryStatus::Running, 0, None, 7)
        );
        let refused = |view: &JobView, control: &Control, choice: RepairChoice| {
            RetryRun::start(view, control, &checkpoints, choice).unwrap_err()
        };
        let busy = Control {
            retry: Some(run.clone()),
            ..Control::default()
        };
        assert_eq!(refused(&view, &busy, rename.clone()).1, "retry_running");
        let typed: RepairChoice = serde_json::from_str(r#"{"column_types":{"qty":"keyword"}}"#).unwrap();
        let (status, code, message) = refused(&view, &control, typed);
        assert_eq!((status, code), (400, "bad_request"));
        assert!(message.contains("CSV and TSV"), "{message}");
        let mut running = checkpoints.clone();
        running[1].as_mut().unwrap().status = JobStatus::Paused;
        let view_running = job_view(&manifest, &control, &running, &[]);
        assert_eq!(refused(&view_running, &control, rename.clone()).1, "job_running");
        let clean = vec![Some(checkpoint(JobStatus::Completed, 100)); 2];
        let view_clean = job_view(&manifest, &control, &clean, &[]);
        assert_eq!(refused(&view_clean, &control, rename).1, "nothing_to_retry");
        // The view says what it did once it ends.
        run.sent = 7;
        run.end(2, None);
        let ended = Control {
            retry: Some(run.clone()),
            ..Control::default()
        };
        let retry = job_view(&manifest, &ended, &checkpoints, &[]).retry.unwrap();
        assert_eq!(
            (retry.status, retry.sent, retry.indexed, retry.still_failing),
            (RetryStatus::Completed, 7, Some(5), Some(2))
        );
        run.end(7, Some("cancelled".into()));
        assert_eq!(RetryView::from(&run).status, RetryStatus::Stopped);
        let stored: Control = serde_json::from_str(&serde_json::to_string(&ended).unwrap()).unwrap();
        assert_eq!(stored, ended, "kept in the control record");
        assert_eq!(
            serde_json::from_str::<Control>(r#"{"desired":"running"}"#)
                .unwrap()
                .retry,
            None,
            "control records written before retries existed still read"
        );
    }

    #[test]
    fn slices_run_unfinished_parts_in_order_with_bounded_parallelism() {
        let checkpoints = vec![
            Some(checkpoint(JobStatus::Completed, 100)),
            Some(checkpoint(JobStatus::Failed, 3)),
            Some(checkpoint(JobStatus::Paused, 3)),
            None,
            None,
        ];
        assert_eq!(parts_to_run(&checkpoints, 2), [2, 3]);
        assert_eq!(parts_to_run(&checkpoints, 0), [2]);
        assert!(parts_to_run(&checkpoints[..2], 4).is_empty());
    }
}
