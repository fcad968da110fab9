//! Runs imports for the page: takes the job's lock, decides which part runs and checks it may resume, then hands
//! each part to the engine's worker (`crate::worker`) and turns what it reports into signals that the components only
//! render. No view code here.

use std::collections::HashMap;

use futures::channel::mpsc::{self, UnboundedSender};
use leptos::prelude::*;
use leptos::task::spawn_local;
use sluice_engine::checkpoint::ResumeRefusal;
use sluice_engine::export::JobExport;
use sluice_engine::job::SourceError;
use sluice_engine::job::{FailureKind, SourceErrorKind};
use sluice_engine::manifest::{combine, job_status, next_part, JobManifest};
use sluice_engine::progress::Progress;
use sluice_engine::source_url::redact;
use sluice_engine::{Checkpoint, Command, ImportSettings, JobStatus, SourceIdentity, Tuning};

use crate::browser::fetch_source::FetchSource;
use crate::browser::file_access::{self, Access, FileHandle, PickedFile};
use crate::browser::file_source::LocalFileSource;
use crate::browser::store::IdbStore;
use crate::browser::tabs::{self, JobLock, ProgressBroadcast};
use crate::worker::client::EngineWorker;
use crate::worker::protocol::{PartEnding, PartSource, RunPart};

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
    /// A local file must be picked again (the page lost it in a reload).
    NeedsFile(String),
    /// The browser can reopen the local file (its handle is stored) once the analyst allows it again.
    NeedsPermission(String),
    /// Another tab of this browser is running it (it holds the job's lock).
    Elsewhere,
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
            JobState::NeedsFile(message) => format!("Pick the file again: {message}"),
            JobState::NeedsPermission(message) => format!("Allow access to the file again: {message}"),
            JobState::Elsewhere => "Running in another tab: this tab takes over if that one closes".into(),
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
            JobState::NeedsFile(_) => "Waiting for the file".into(),
            JobState::NeedsPermission(_) => "Waiting for access to the file".into(),
            other => other.describe(),
        }
    }

    /// True while the engine runs the job.
    pub fn is_active(&self) -> bool {
        matches!(self, JobState::Starting | JobState::Running | JobState::Pausing)
    }
}

/// Where a retry of failed records stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairState {
    /// Sending: records done of all.
    Running(u64, u64),
    /// Finished: indexed now, still failing.
    Done(u64, u64),
    /// Stopped with this message (what was settled stays settled).
    Stopped(String),
}

/// One object of an import as the page shows it.
#[derive(Clone)]
pub struct PartView {
    /// The part's id (the key of its checkpoint).
    pub id: String,
    /// The object, redacted (never the signature).
    pub label: String,
    /// Its latest figures.
    pub progress: RwSignal<Progress>,
}

/// One import as the page shows it. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct JobView {
    /// The job's id (the key of its manifest).
    pub id: String,
    /// The target index.
    pub index: String,
    /// Its objects, in import order.
    pub parts: Vec<PartView>,
    /// The object being imported (or next to import).
    pub current: RwSignal<usize>,
    /// Where it stands.
    pub state: RwSignal<JobState>,
    /// Throughput samples (docs/s) for the sparkline.
    pub rates: RwSignal<Vec<f64>>,
    /// The retry of failed records, when one runs or ran in this page: what it says.
    pub repair: RwSignal<Option<RepairState>>,
    manifest: StoredValue<JobManifest>,
    control: StoredValue<Option<UnboundedSender<Command>>>,
    /// The local files of this job picked in this page, by part id (gone after a reload).
    files: StoredValue<HashMap<String, web_sys::File>, LocalStorage>,
    /// Stored handles of local files that wait for the analyst to allow reading them again, by part id.
    handles: StoredValue<HashMap<String, FileHandle>, LocalStorage>,
}

fn progress_of(checkpoint: &Checkpoint) -> Progress {
    Progress {
        status: Some(checkpoint.status),
        records: checkpoint.committed_records,
        bytes_read: checkpoint.committed_offset,
        total_bytes: checkpoint.source.size.filter(|_| !checkpoint.source.gzip),
        indexed: checkpoint.counters.indexed,
        failed: checkpoint.counters.failed,
        retried: checkpoint.counters.retried,
        retried_requests: checkpoint.counters.retried_requests,
        committed_offset: checkpoint.committed_offset,
        ..Progress::default()
    }
}

impl JobView {
    /// A view of a job and its parts' checkpoints (`None` for a part not started).
    pub fn new(manifest: JobManifest, checkpoints: &[Option<Checkpoint>], state: JobState) -> Self {
        let parts = manifest
            .parts
            .iter()
            .enumerate()
            .map(|(n, part)| PartView {
                id: part.id.clone(),
                label: part.label.clone(),
                progress: RwSignal::new(
                    checkpoints
                        .get(n)
                        .cloned()
                        .flatten()
                        .as_ref()
                        .map(progress_of)
                        .unwrap_or_default(),
                ),
            })
            .collect();
        let statuses: Vec<_> = checkpoints.iter().map(|c| c.as_ref().map(|c| c.status)).collect();
        JobView {
            id: manifest.id.clone(),
            index: manifest.settings.index.clone(),
            parts,
            current: RwSignal::new(next_part(&statuses).unwrap_or(manifest.parts.len().saturating_sub(1))),
            state: RwSignal::new(state),
            rates: RwSignal::new(Vec::new()),
            repair: RwSignal::new(None),
            manifest: StoredValue::new(manifest),
            control: StoredValue::new(None),
            files: StoredValue::new_local(HashMap::new()),
            handles: StoredValue::new_local(HashMap::new()),
        }
    }

    /// The part being imported (or next to import).
    pub fn current_part(&self) -> PartView {
        self.parts[self.current.get_untracked().min(self.parts.len() - 1)].clone()
    }

    /// True when the part being imported is a local file.
    pub fn current_is_local_file(&self) -> bool {
        let n = self.current.get();
        self.manifest
            .with_value(|m| m.parts.get(n).is_some_and(|p| p.local_file))
    }

    /// Holds `file` as the source of the current part (picked again after a reload).
    pub fn hold_file(&self, file: web_sys::File) {
        let id = self.current_part().id;
        self.files.update_value(|files| {
            files.insert(id, file);
        });
    }

    /// The name of the file that waits for the analyst's permission, if any.
    pub fn file_waiting_for_access(&self) -> Option<String> {
        let id = self.current_part().id;
        self.handles
            .with_value(|handles| handles.get(&id).map(FileHandle::name))
    }

    /// A view of a stored job (after a reload).
    pub fn from_stored(manifest: JobManifest, checkpoints: &[Option<Checkpoint>]) -> Self {
        let statuses: Vec<_> = checkpoints.iter().map(|c| c.as_ref().map(|c| c.status)).collect();
        let state = match job_status(&statuses) {
            JobStatus::Completed => JobState::Completed,
            JobStatus::Cancelled => JobState::Cancelled,
            JobStatus::Paused => JobState::Paused,
            JobStatus::Failed => JobState::Failed(
                next_part(&statuses)
                    .and_then(|n| checkpoints[n].as_ref())
                    .and_then(|c| c.last_error.clone())
                    .unwrap_or_default(),
            ),
            JobStatus::Running => JobState::Interrupted,
        };
        JobView::new(manifest, checkpoints, state)
    }

    /// What is imported, in a few words: the object, or the first of several.
    pub fn source(&self) -> String {
        match self.parts.as_slice() {
            [only] => only.label.clone(),
            [first, rest @ ..] => format!(
                "{} and {} more object{}",
                first.label,
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
            [] => "no objects".into(),
        }
    }

    /// The job's figures: its parts' added up (reactive when read inside a view).
    pub fn totals(&self) -> Progress {
        let parts: Vec<Progress> = self.parts.iter().map(|part| part.progress.get()).collect();
        combine(&parts, self.current.get())
    }

    /// The job's manifest.
    pub fn manifest(&self) -> JobManifest {
        self.manifest.get_value()
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

/// What an analyst asked for in the form.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The presigned URLs, imported in this order...
    pub urls: Vec<String>,
    /// ...then these local files (with their handles where the browser gave them, for reopening after a reload).
    pub files: Vec<PickedFile>,
    /// What lands where.
    pub settings: ImportSettings,
    /// Speed knobs.
    pub tuning: Tuning,
}

/// A part's source, checked and ready for the worker to read.
struct Opened {
    source: PartSource,
    /// The local file the worker reads (`None` for an object behind a URL).
    file: Option<web_sys::File>,
    identity: SourceIdentity,
    /// The URL it was opened with (`None` for a local file), remembered for resuming.
    url: Option<String>,
}

/// How one part's run ended.
enum PartEnd {
    /// Imported: go on with the next part.
    Completed,
    /// Stopped (paused, failed, needs a fresh URL, ...): the job's state says why.
    Stopped,
}

/// Everything a running job needs from the page.
#[derive(Clone)]
pub struct Runner {
    /// The proxy's base URL ("" for the page's own origin), from the site's `config.json`.
    pub proxy: RwSignal<String>,
    /// The analyst token, if the proxy wants one (read when a job starts).
    pub token: RwSignal<Option<String>>,
    /// Resume interrupted jobs by themselves (after a reload, or when another tab running one closes).
    pub auto_resume: RwSignal<bool>,
}

impl Runner {
    /// Starts a new import. Returns its view at once; the work goes on in the background.
    pub fn start(&self, request: ImportRequest) -> JobView {
        let id = format!(
            "job-{:x}-{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 1e9) as u64
        );
        let labels = request.urls.iter().map(|url| redact(url)).collect();
        let names = request.files.iter().map(|picked| picked.file.name()).collect();
        let manifest = JobManifest::new(
            id,
            js_sys::Date::now() as u64,
            request.settings,
            request.tuning,
            labels,
            names,
        );
        let view = JobView::new(manifest.clone(), &[], JobState::Starting);
        let local_parts: Vec<String> = view.parts[request.urls.len()..].iter().map(|p| p.id.clone()).collect();
        for (part, picked) in view.parts[request.urls.len()..].iter().zip(&request.files) {
            if !picked.file.name().to_ascii_lowercase().ends_with(".gz") {
                part.progress
                    .update(|p| p.total_bytes = Some(picked.file.size() as u64));
            }
            view.files.update_value(|files| {
                files.insert(part.id.clone(), picked.file.clone());
            });
        }
        let runner = self.clone();
        let job = view.clone();
        spawn_local(async move {
            // The manifest and the URLs are stored first, so a reload at any moment finds the whole job.
            let stored = async {
                let store = IdbStore::open().await?;
                store.save_manifest(&manifest).await?;
                for (part, url) in manifest.parts.iter().zip(&request.urls) {
                    store.remember_source_url(&part.id, url).await?;
                }
                for (part_id, picked) in local_parts.iter().zip(&request.files) {
                    if let Some(handle) = &picked.handle {
                        // A convenience, not a need: without the handle, the analyst picks the file again.
                        let _ = store.remember_file_handle(part_id, handle).await;
                    }
                }
                Ok::<_, sluice_engine::job::StoreError>(())
            };
            match stored.await {
                Ok(()) => runner.run(job, None, None).await,
                Err(error) => job.state.set(JobState::Failed(error.to_string())),
            }
        });
        view
    }

    /// Starts the current object over from byte 0 after it changed: its checkpoint and failed records are deleted;
    /// the objects before it stay imported.
    pub fn start_over(&self, view: JobView) {
        view.state.set(JobState::Starting);
        let runner = self.clone();
        spawn_local(async move {
            let part = view.current_part();
            let local_file = view.current_is_local_file();
            let restarted = async {
                let store = IdbStore::open().await?;
                let url = store.source_url(&part.id).await?;
                let handle = store.file_handle(&part.id).await?;
                store.delete_part(&part.id).await?;
                if let Some(url) = &url {
                    store.remember_source_url(&part.id, url).await?;
                }
                if let Some(handle) = &handle {
                    store.remember_file_handle(&part.id, handle).await?;
                }
                Ok::<_, sluice_engine::job::StoreError>(url)
            };
            match restarted.await {
                Ok(url) if url.is_some() || local_file => {
                    part.progress.set(Progress::default());
                    runner.run(view, None, None).await
                }
                Ok(_) => view.state.set(JobState::NeedsFreshUrl(format!(
                    "the URL of {} is no longer stored in this browser",
                    part.label
                ))),
                Err(error) => view.state.set(JobState::Failed(error.to_string())),
            }
        });
    }

    /// Resumes a job whose current part is a local file, with `file` picked again by the analyst through the file
    /// field. The file is checked (name, size, lastModified, first 64 KiB) against the checkpoint before anything is
    /// imported. A stored handle of the part is forgotten: it may name another file (the one that changed), which a
    /// reload would otherwise reopen instead of the one picked here; after a reload the page asks for the file again.
    pub fn resume_with_file(&self, view: JobView, file: web_sys::File) {
        view.hold_file(file);
        view.state.set(JobState::Starting);
        let part = view.current_part().id;
        let runner = self.clone();
        spawn_local(async move {
            if let Ok(store) = IdbStore::open().await {
                let _ = store.forget_file_handle(&part).await;
            }
            runner.run(view, None, None).await;
        });
    }

    /// Asks the analyst (the browser's own prompt; call from a click) to let the page read the waiting local file
    /// again, then resumes from where it stopped. Refused, the card asks to pick the file instead.
    pub fn allow_file_access(&self, view: JobView) {
        let part = view.current_part();
        let Some(handle) = view.handles.with_value(|handles| handles.get(&part.id).cloned()) else {
            return view
                .state
                .set(pick_again(format!("this page no longer holds {}", part.label)));
        };
        let runner = self.clone();
        spawn_local(async move {
            let file = match file_access::ask_for_read_access(&handle).await {
                Access::Granted => file_access::open(&handle).await,
                _ => Err(format!("reading {} again was not allowed", part.label)),
            };
            match file {
                Ok(file) => {
                    view.handles.update_value(|handles| {
                        handles.remove(&part.id);
                    });
                    // The file came through its stored handle, which stays for the next reload.
                    view.hold_file(file);
                    runner.resume(view, None);
                }
                Err(message) => view.state.set(pick_again(message)),
            }
        });
    }

    /// After a reload, reopens the current part's local file from its stored handle when the browser still allows
    /// it. Returns true when the file is held again (the job can resume); otherwise sets the state that says what
    /// the analyst must do (allow access, or pick the file again).
    pub async fn reopen_file(&self, view: &JobView) -> bool {
        let store = match IdbStore::open().await {
            Ok(store) => store,
            Err(error) => {
                view.state.set(JobState::Failed(error.to_string()));
                return false;
            }
        };
        match reopen(view, &store, view.current.get_untracked()).await {
            Ok(_) => true,
            Err(state) => {
                view.state.set(state);
                false
            }
        }
    }

    /// Resumes a stored job: with the remembered URLs, or with `fresh_url` for the object it stopped at (a fresh
    /// presigned URL for the same object).
    pub fn resume(&self, view: JobView, fresh_url: Option<String>) {
        view.state.set(JobState::Starting);
        let runner = self.clone();
        spawn_local(async move {
            runner.run(view, fresh_url, None).await;
        });
    }

    /// Runs the job's parts in order from the first one not completed, holding the job's lock throughout.
    async fn run(&self, view: JobView, mut fresh_url: Option<String>, held: Option<JobLock>) {
        let lock = match held {
            Some(lock) => Some(lock),
            None => tabs::try_lock(&view.id).await,
        };
        let Some(_lock) = lock else {
            view.state.set(JobState::Elsewhere);
            return self.take_over_when_free(view);
        };
        // The worker loads while the page reads the checkpoints and probes the object (or reads the file).
        let mut worker = match EngineWorker::spawn() {
            Ok(worker) => worker,
            Err(message) => return view.state.set(JobState::Failed(message)),
        };
        let broadcast = ProgressBroadcast::open();
        let store = match IdbStore::open().await {
            Ok(store) => store,
            Err(error) => return view.state.set(JobState::Failed(error.to_string())),
        };
        let mut statuses = Vec::new();
        for part in &view.parts {
            match store.load(&part.id).await {
                Ok(checkpoint) => statuses.push(checkpoint.map(|c| c.status)),
                Err(error) => return view.state.set(JobState::Failed(error.to_string())),
            }
        }
        if view.parts.len() > 1 {
            self.learn_sizes(&view, &store, &statuses).await;
        }
        let Some(first) = next_part(&statuses) else {
            return view.state.set(JobState::Completed);
        };
        for n in first..view.parts.len() {
            view.current.set(n);
            let part = &view.parts[n];
            let ended = if view.manifest.with_value(|m| m.parts[n].local_file) {
                let held = view.files.with_value(|files| files.get(&part.id).cloned());
                let file = match held {
                    Some(file) => file,
                    None => match reopen(&view, &store, n).await {
                        Ok(file) => file,
                        Err(state) => return view.state.set(state),
                    },
                };
                match LocalFileSource::identify(&file).await {
                    Ok(identity) => {
                        let opened = Opened {
                            source: PartSource::LocalFile,
                            file: Some(file),
                            identity,
                            url: None,
                        };
                        self.run_part(&view, &store, &broadcast, &mut worker, n, opened).await
                    }
                    Err(error) => return view.state.set(JobState::Failed(error.message)),
                }
            } else {
                let url = match fresh_url.take() {
                    Some(url) => Some(url),
                    None => store.source_url(&part.id).await.ok().flatten(),
                };
                let Some(url) = url else {
                    return view.state.set(JobState::NeedsFreshUrl(format!(
                        "the URL of {} is no longer stored in this browser",
                        part.label
                    )));
                };
                match FetchSource::probe(&url).await {
                    Ok((source, identity)) => {
                        let opened = Opened {
                            source: PartSource::Url(source.into_object()),
                            file: None,
                            identity,
                            url: Some(url),
                        };
                        self.run_part(&view, &store, &broadcast, &mut worker, n, opened).await
                    }
                    Err(error) => return view.state.set(about_part(&view, n, error)),
                }
            };
            match ended {
                PartEnd::Completed => {
                    // A presigned URL is a secret: keep it no longer than needed (a file handle is not needed).
                    let _ = store.forget_source_url(&part.id).await;
                    let _ = store.forget_file_handle(&part.id).await;
                }
                PartEnd::Stopped => return,
            }
        }
        view.state.set(JobState::Completed);
    }

    /// The job's checkpoint file: its manifest and checkpoints, with the presigned URLs only if `include_urls`.
    pub async fn export(&self, view: &JobView, include_urls: bool) -> Result<Vec<u8>, String> {
        let store = IdbStore::open().await.map_err(|e| e.to_string())?;
        let (mut checkpoints, mut urls) = (Vec::new(), Vec::new());
        for part in &view.parts {
            if let Some(checkpoint) = store.load(&part.id).await.map_err(|e| e.to_string())? {
                checkpoints.push(checkpoint);
            }
            if include_urls {
                if let Some(url) = store.source_url(&part.id).await.map_err(|e| e.to_string())? {
                    urls.push((part.id.clone(), url));
                }
            }
        }
        Ok(JobExport::new(view.manifest(), checkpoints, urls, js_sys::Date::now() as u64).to_json())
    }

    /// Adds a job from a checkpoint file (exported in another browser) and resumes it: it asks for a fresh URL or
    /// the file when the checkpoint file has none.
    pub async fn import_checkpoint_file(&self, bytes: &[u8]) -> Result<JobView, String> {
        let export = JobExport::from_json(bytes).map_err(|problems| problems.join("; "))?;
        let store = IdbStore::open().await.map_err(|e| e.to_string())?;
        store.import_job(&export).await.map_err(|e| e.to_string())?;
        let checkpoints: Vec<Option<Checkpoint>> = export
            .manifest
            .parts
            .iter()
            .map(|part| export.checkpoints.iter().find(|c| c.job_id == part.id).cloned())
            .collect();
        let view = JobView::from_stored(export.manifest, &checkpoints);
        // Opening the file says "continue": anything not completed resumes (and asks for what it lacks).
        if view.state.get_untracked() != JobState::Completed {
            self.resume(view.clone(), None);
        }
        Ok(view)
    }

    /// Resumes a stored job this tab already holds the lock of.
    pub fn resume_holding(&self, view: JobView, lock: JobLock) {
        view.state.set(JobState::Starting);
        let runner = self.clone();
        spawn_local(async move {
            runner.run(view, None, Some(lock)).await;
        });
    }

    /// Waits in the background for the tab running `view` to let go of it (closed, crashed, or the job stopped
    /// there), then resumes it here, or offers Resume when automatic resume is off.
    pub fn take_over_when_free(&self, view: JobView) {
        let runner = self.clone();
        spawn_local(async move {
            let lock = tabs::wait_for_lock(&view.id).await;
            if view.state.get_untracked() != JobState::Elsewhere {
                return;
            }
            match lock {
                // The lock goes straight to the run: released and taken again, it could be lost in between.
                Some(lock) if runner.auto_resume.get_untracked() => {
                    view.state.set(JobState::Starting);
                    runner.run(view, None, Some(lock)).await;
                }
                _ => view.state.set(JobState::Interrupted),
            }
        });
    }

    /// Probes the objects not started yet, so the job's progress bar knows the total size from the start.
    async fn learn_sizes(&self, view: &JobView, store: &IdbStore, statuses: &[Option<JobStatus>]) {
        for (part, status) in view.parts.iter().zip(statuses) {
            let local_file = view
                .manifest
                .with_value(|m| m.parts.iter().any(|p| p.id == part.id && p.local_file));
            if status.is_some() || local_file || part.progress.with_untracked(|p| p.total_bytes.is_some()) {
                continue;
            }
            if let Ok(Some(url)) = store.source_url(&part.id).await {
                if let Ok((_, identity)) = FetchSource::probe(&url).await {
                    let size = identity.size.filter(|_| !identity.gzip);
                    part.progress.update(|p| p.total_bytes = size);
                }
            }
        }
    }

    async fn run_part(
        &self,
        view: &JobView,
        store: &IdbStore,
        broadcast: &ProgressBroadcast,
        worker: &mut EngineWorker,
        n: usize,
        opened: Opened,
    ) -> PartEnd {
        let Opened {
            source,
            file,
            identity,
            url,
        } = opened;
        let part = &view.parts[n];
        let about = |message: String| about(view, n, message);
        let stop = |state: JobState| {
            view.state.set(state);
            PartEnd::Stopped
        };
        let fail = |message: String| stop(JobState::Failed(message));
        let manifest = view.manifest.get_value();
        let checkpoint = match store.load(&part.id).await {
            Ok(Some(checkpoint)) => {
                match checkpoint.check_resume(&identity, &checkpoint.settings) {
                    Ok(()) => {}
                    Err(refusal @ ResumeRefusal::SourceChanged(_)) => {
                        let Some(url) = &url else {
                            return stop(JobState::Changed(about(format!(
                                "{refusal} If you picked the wrong file, pick the original one; Start over imports \
                                 this one from its first byte."
                            ))));
                        };
                        // Keep the URL (if it is a fresh one) so "Start over" can use it.
                        let _ = store.remember_source_url(&part.id, url).await;
                        return stop(JobState::Changed(about(refusal.to_string())));
                    }
                    Err(refusal) => return fail(refusal.to_string()),
                }
                checkpoint
            }
            Ok(None) => {
                if let Err(message) = manifest.settings.validate() {
                    return fail(message);
                }
                Checkpoint::start(
                    part.id.clone(),
                    identity.clone(),
                    manifest.settings.clone(),
                    js_sys::Date::now() as u64,
                )
            }
            Err(error) => return fail(error.to_string()),
        };
        if let Some(url) = &url {
            if let Err(error) = store.remember_source_url(&part.id, url).await {
                return fail(error.to_string());
            }
        }
        let (control, commands) = mpsc::unbounded();
        view.control.set_value(Some(control));
        view.state.set(JobState::Running);
        let progress = part.progress;
        let rates = view.rates;
        let job_id = view.id.clone();
        let mut on_progress = move |figures: &Progress| {
            progress.set(figures.clone());
            broadcast.send(&job_id, n, figures);
            rates.update(|samples| {
                samples.push(figures.docs_per_sec);
                if samples.len() > 60 {
                    samples.remove(0);
                }
            });
        };
        let part_run = RunPart {
            checkpoint,
            tuning: manifest.tuning.clone(),
            seed: (js_sys::Math::random() * 1e15) as u64,
            proxy: self.proxy.get_untracked(),
            token: self.token.get_untracked(),
            source,
        };
        let ended = worker.run(part_run, file.as_ref(), commands, &mut on_progress).await;
        view.control.set_value(None);
        match ended {
            Ok(PartEnding::Finished { status }) => match status {
                JobStatus::Completed => PartEnd::Completed,
                JobStatus::Paused => stop(JobState::Paused),
                JobStatus::Cancelled => stop(JobState::Cancelled),
                _ => stop(JobState::Interrupted),
            },
            Ok(PartEnding::Failed { kind, message }) => match kind {
                FailureKind::SourceExpired => stop(JobState::NeedsFreshUrl(about(message))),
                FailureKind::SourceChanged => stop(JobState::Changed(about(message))),
                _ => fail(about(message)),
            },
            Err(broke) => fail(about(broke)),
        }
    }
}

/// The state that asks the analyst to pick a local file again, saying why.
fn pick_again(why: String) -> JobState {
    JobState::NeedsFile(format!("{why}; pick the same file to continue where it stopped"))
}

/// Gets part `n`'s local file back after a reload, from its stored File System Access handle, and holds it in the
/// view. `Err` is the state that says what the analyst must do instead.
async fn reopen(view: &JobView, store: &IdbStore, n: usize) -> Result<web_sys::File, JobState> {
    let part = &view.parts[n];
    let forgotten = || {
        pick_again(format!(
            "this page no longer holds {} (browsers forget picked files on reload)",
            part.label
        ))
    };
    let Ok(Some(handle)) = store.file_handle(&part.id).await else {
        return Err(forgotten());
    };
    match file_access::read_access(&handle).await {
        Access::Granted => {
            let file = file_access::open(&handle).await.map_err(pick_again)?;
            view.files.update_value(|files| {
                files.insert(part.id.clone(), file.clone());
            });
            Ok(file)
        }
        Access::Prompt => {
            view.handles.update_value(|handles| {
                handles.insert(part.id.clone(), handle);
            });
            Err(JobState::NeedsPermission(format!(
                "the browser asks before this page may read {} again: allow it, and the import continues where \
                 it stopped, without picking the file",
                part.label
            )))
        }
        Access::Denied => Err(pick_again(format!("reading {} again was not allowed", part.label))),
    }
}

/// With several objects, says which one a problem is about.
fn about(view: &JobView, n: usize, message: String) -> String {
    if view.parts.len() > 1 {
        format!("{}: {message}", view.parts[n].label)
    } else {
        message
    }
}

/// The state for a source that could not be opened.
fn about_part(view: &JobView, n: usize, error: SourceError) -> JobState {
    match error.kind {
        SourceErrorKind::Expired => JobState::NeedsFreshUrl(about(view, n, error.message)),
        _ => JobState::Failed(about(view, n, error.message)),
    }
}
