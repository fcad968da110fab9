//! Runs imports in the tab: the engine's job driver with the browser adapters, reporting into signals that the
//! components only render. No view code here.

use futures::channel::mpsc::{self, UnboundedSender};
use leptos::prelude::*;
use leptos::task::spawn_local;
use sluice_engine::job::{FailureKind, JobIo, JobPlan};
use sluice_engine::progress::Progress;
use sluice_engine::source_url::redact;
use sluice_engine::{run_job, Checkpoint, Command, ImportSettings, JobStatus, SourceIdentity, Tuning};

use crate::browser::clock::BrowserClock;
use crate::browser::fetch_source::FetchSource;
use crate::browser::sink::ProxySink;
use crate::browser::store::IdbStore;

/// Where a job stands, for the page.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Checking the object.
    Starting,
    /// Importing.
    Running,
    /// Waiting for requests in flight before pausing.
    Pausing,
    /// Paused by the analyst.
    Paused,
    /// Interrupted (reload, closed tab, lost network) and not resumed yet.
    Interrupted,
    /// Stopped by an error: the text says what and what to do.
    Failed(String),
    /// The presigned URL expired: a fresh one is needed.
    NeedsFreshUrl(String),
    /// The object changed since the import started: it can only start over.
    Changed(String),
    /// Cancelled by the analyst.
    Cancelled,
    /// Done.
    Completed,
}

impl JobState {
    /// The state in words.
    pub fn describe(&self) -> String {
        match self {
            JobState::Starting => "Checking the object…".into(),
            JobState::Running => "Importing".into(),
            JobState::Pausing => "Pausing: finishing the requests in flight…".into(),
            JobState::Paused => "Paused".into(),
            JobState::Interrupted => "Interrupted: resume to continue where it stopped".into(),
            JobState::Failed(message) => format!("Stopped: {message}"),
            JobState::NeedsFreshUrl(message) => format!("Needs a fresh URL: {message}"),
            JobState::Changed(message) => format!("The object changed: {message}"),
            JobState::Cancelled => "Cancelled".into(),
            JobState::Completed => "Completed".into(),
        }
    }

    /// A few words for the status line (the full text goes in the alert for failures).
    pub fn title(&self) -> String {
        match self {
            JobState::Failed(_) => "Stopped".into(),
            JobState::NeedsFreshUrl(_) => "Needs a fresh URL".into(),
            JobState::Changed(_) => "The object changed".into(),
            other => other.describe(),
        }
    }

    /// True while the engine runs the job.
    pub fn is_active(&self) -> bool {
        matches!(self, JobState::Starting | JobState::Running | JobState::Pausing)
    }
}

/// One import as the page shows it. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct JobView {
    /// The engine's job id (also the IndexedDB key).
    pub id: String,
    /// The source, redacted (never the signature).
    pub source: String,
    /// The target index.
    pub index: String,
    /// Where it stands.
    pub state: RwSignal<JobState>,
    /// The latest figures.
    pub progress: RwSignal<Progress>,
    /// Throughput samples (docs/s) for the sparkline.
    pub rates: RwSignal<Vec<f64>>,
    control: StoredValue<Option<UnboundedSender<Command>>>,
    /// What the analyst asked for, kept until the first checkpoint holds it (a URL can expire before that).
    requested: StoredValue<Option<(ImportSettings, Tuning)>>,
}

impl JobView {
    fn new(id: String, source: String, index: String, state: JobState) -> Self {
        JobView {
            id,
            source,
            index,
            state: RwSignal::new(state),
            progress: RwSignal::new(Progress::default()),
            rates: RwSignal::new(Vec::new()),
            control: StoredValue::new(None),
            requested: StoredValue::new(None),
        }
    }

    /// A view of a stored checkpoint (after a reload).
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Self {
        let state = match checkpoint.status {
            JobStatus::Completed => JobState::Completed,
            JobStatus::Cancelled => JobState::Cancelled,
            JobStatus::Paused => JobState::Paused,
            JobStatus::Failed => JobState::Failed(checkpoint.last_error.clone().unwrap_or_default()),
            JobStatus::Running => JobState::Interrupted,
        };
        let view = JobView::new(
            checkpoint.job_id.clone(),
            source_label(&checkpoint.source),
            checkpoint.settings.index.clone(),
            state,
        );
        view.progress.set(Progress {
            status: Some(checkpoint.status),
            records: checkpoint.committed_records,
            bytes_read: checkpoint.committed_offset,
            total_bytes: checkpoint.source.size.filter(|_| !checkpoint.source.gzip),
            indexed: checkpoint.counters.indexed,
            failed: checkpoint.counters.failed,
            retried: checkpoint.counters.retried,
            committed_offset: checkpoint.committed_offset,
            ..Progress::default()
        });
        view
    }

    /// Asks the running job to pause (requests in flight finish first).
    pub fn pause(&self) {
        self.send(Command::Pause);
        self.state.set(JobState::Pausing);
    }

    /// Asks the running job to stop at once.
    pub fn cancel(&self) {
        self.send(Command::Cancel);
    }

    fn send(&self, command: Command) {
        if let Some(control) = self.control.get_value() {
            let _ = control.unbounded_send(command);
        }
    }
}

fn source_label(source: &SourceIdentity) -> String {
    source
        .url
        .clone()
        .or_else(|| source.name.clone())
        .unwrap_or_else(|| "unnamed source".into())
}

/// What an analyst asked for in the form.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The presigned URL.
    pub url: String,
    /// What lands where.
    pub settings: ImportSettings,
    /// Speed knobs.
    pub tuning: Tuning,
}

/// Everything a running job needs from the page.
#[derive(Clone)]
pub struct Runner {
    /// The proxy's base URL ("" for the page's own origin).
    pub proxy: String,
    /// The analyst token, if the proxy wants one (read when a job starts).
    pub token: RwSignal<Option<String>>,
}

impl Runner {
    /// Starts a new import. Returns its view at once; the work goes on in the background.
    pub fn start(&self, request: ImportRequest) -> JobView {
        let id = format!(
            "job-{:x}-{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 1e9) as u64
        );
        let view = JobView::new(
            id,
            redact(&request.url),
            request.settings.index.clone(),
            JobState::Starting,
        );
        view.requested.set_value(Some((request.settings, request.tuning)));
        let runner = self.clone();
        let job = view.clone();
        spawn_local(async move {
            runner.run(job, request.url).await;
        });
        view
    }

    /// Starts a job over from byte 0 after its object changed: its checkpoint and failed records are deleted, its
    /// settings kept.
    pub fn start_over(&self, view: JobView) {
        view.state.set(JobState::Starting);
        let runner = self.clone();
        spawn_local(async move {
            let store = match IdbStore::open().await {
                Ok(store) => store,
                Err(error) => return view.state.set(JobState::Failed(error.to_string())),
            };
            let checkpoint = store.load(&view.id).await.ok().flatten();
            let url = store.source_url(&view.id).await.ok().flatten();
            let (Some(checkpoint), Some(url)) = (checkpoint, url) else {
                return view.state.set(JobState::Failed(
                    "this import's settings or URL are no longer stored in this browser; start a new import".into(),
                ));
            };
            if let Err(error) = store.delete_job(&view.id).await {
                return view.state.set(JobState::Failed(error.to_string()));
            }
            view.requested.set_value(Some((checkpoint.settings, Tuning::default())));
            view.progress.set(Progress::default());
            runner.run(view, url).await;
        });
    }

    /// Resumes a stored job with `url` (its remembered URL, or a fresh one for the same object).
    pub fn resume(&self, view: JobView, url: String) {
        view.state.set(JobState::Starting);
        let runner = self.clone();
        spawn_local(async move {
            runner.run(view, url).await;
        });
    }

    async fn run(&self, view: JobView, url: String) {
        let fail = |message: String| view.state.set(JobState::Failed(message));
        let store = match IdbStore::open().await {
            Ok(store) => store,
            Err(error) => return fail(error.to_string()),
        };
        let (source, identity) = match FetchSource::probe(&url).await {
            Ok(probed) => probed,
            Err(error) if error.kind == sluice_engine::job::SourceErrorKind::Expired => {
                return view.state.set(JobState::NeedsFreshUrl(error.message))
            }
            Err(error) => return fail(error.message),
        };
        let requested = view.requested.get_value();
        let tuning = requested.as_ref().map(|(_, tuning)| tuning.clone()).unwrap_or_default();
        let checkpoint = match (store.load(&view.id).await, requested) {
            (Ok(Some(checkpoint)), _) => {
                match checkpoint.check_resume(&identity, &checkpoint.settings) {
                    Ok(()) => {}
                    Err(refusal @ sluice_engine::checkpoint::ResumeRefusal::SourceChanged(_)) => {
                        // Keep the URL (if it is a fresh one) so "Start over" can use it.
                        let _ = store.remember_source_url(&view.id, &url).await;
                        return view.state.set(JobState::Changed(refusal.to_string()));
                    }
                    Err(refusal) => return fail(refusal.to_string()),
                }
                checkpoint
            }
            (Ok(None), Some((settings, _))) => {
                if let Err(message) = settings.validate() {
                    return fail(message);
                }
                Checkpoint::start(view.id.clone(), identity.clone(), settings, js_sys::Date::now() as u64)
            }
            (Ok(None), None) => return fail("this job's checkpoint is gone from the browser's storage".into()),
            (Err(error), _) => return fail(error.to_string()),
        };
        if let Err(error) = store.remember_source_url(&view.id, &url).await {
            return fail(error.to_string());
        }
        let (control, commands) = mpsc::unbounded();
        view.control.set_value(Some(control));
        view.state.set(JobState::Running);
        let sink = ProxySink::new(&self.proxy, self.token.get_untracked());
        let progress = view.progress;
        let rates = view.rates;
        let mut on_progress = move |figures: &Progress| {
            progress.set(figures.clone());
            rates.update(|samples| {
                samples.push(figures.docs_per_sec);
                if samples.len() > 60 {
                    samples.remove(0);
                }
            });
        };
        let result = run_job(
            JobPlan {
                checkpoint,
                tuning,
                seed: (js_sys::Math::random() * 1e15) as u64,
            },
            source,
            JobIo {
                sink: &sink,
                checkpoints: &store,
                dead_letters: &store,
                clock: &BrowserClock,
            },
            commands,
            &mut on_progress,
        )
        .await;
        view.control.set_value(None);
        match result {
            Ok(outcome) => {
                view.state.set(match outcome.status {
                    JobStatus::Completed => JobState::Completed,
                    JobStatus::Paused => JobState::Paused,
                    JobStatus::Cancelled => JobState::Cancelled,
                    _ => JobState::Interrupted,
                });
                if outcome.status == JobStatus::Completed {
                    // A presigned URL is a secret: keep it no longer than needed.
                    let _ = store.forget_source_url(&view.id).await;
                }
            }
            Err(failure) if failure.kind == FailureKind::SourceExpired => {
                view.state.set(JobState::NeedsFreshUrl(failure.message))
            }
            Err(failure) if failure.kind == FailureKind::SourceChanged => {
                view.state.set(JobState::Changed(failure.message))
            }
            Err(failure) => view.state.set(JobState::Failed(failure.message)),
        }
    }
}
