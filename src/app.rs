//! The page's components. They render signals and call plain functions ([`crate::runner`]); no import logic here.

use leptos::prelude::*;
use sluice_engine::batch::{BatchBuilder, BatchLimits};
use sluice_engine::split::{Splitter, DEFAULT_MAX_RECORD_BYTES};
use sluice_engine::ImportSettings;

#[cfg(target_arch = "wasm32")]
use crate::browser::file_access::PickedFile;
#[cfg(target_arch = "wasm32")]
use crate::runner::{ImportRequest, JobState, JobView, Runner};

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let check = engine_self_check();
    view! {
        <header class="masthead">
            <h1>"Sluice"</h1>
            <p class="tagline">"Resumable imports from S3 into OpenSearch, right in your browser."</p>
        </header>
        <main>
            <Importer />
            <EngineCheck check=check />
        </main>
        <footer>
            <span class="version">"Sluice " {sluice_engine::VERSION}</span>
        </footer>
    }
}

/// The form, the resume banner and the list of imports (browser only: natively there is nothing to run).
#[cfg(target_arch = "wasm32")]
#[component]
fn Importer() -> impl IntoView {
    let auto_resume = RwSignal::new(stored("sluice.autoResume", Storage::Local).as_deref() != Some("false"));
    let retention_days = RwSignal::new(
        stored("sluice.retentionDays", Storage::Local)
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|d| *d > 0.0)
            .unwrap_or(7.0),
    );
    let cleanup: RwSignal<Option<String>> = RwSignal::new(None);
    let storage: RwSignal<Option<f64>> = RwSignal::new(None);
    let import_problem: RwSignal<Option<String>> = RwSignal::new(None);
    let runner = Runner {
        proxy: RwSignal::new(String::new()),
        token: RwSignal::new(stored("sluice.token", Storage::Session)),
        auto_resume,
    };
    // Imports wait for the deploy-time configuration (it names the proxy).
    let ready = RwSignal::new(false);
    let jobs: RwSignal<Vec<JobView>> = RwSignal::new(Vec::new());
    let banner: RwSignal<Option<String>> = RwSignal::new(None);
    let allowed: RwSignal<Vec<String>> = RwSignal::new(Vec::new());
    let token_required = RwSignal::new(false);
    let proxy_problem: RwSignal<Option<String>> = RwSignal::new(None);
    // Live figures of jobs another tab is running.
    crate::browser::tabs::listen(move |job_id, part, figures| {
        jobs.with_untracked(|list| {
            if let Some(job) = list
                .iter()
                .find(|j| j.id == job_id && j.state.get_untracked() == JobState::Elsewhere)
            {
                if let Some(view) = job.parts.get(part) {
                    view.progress.set(figures);
                    job.current.set(part);
                }
            }
        });
    });
    {
        let runner = runner.clone();
        leptos::task::spawn_local(async move {
            match site_config().await {
                Ok(proxy) => runner.proxy.set(proxy),
                Err(message) => proxy_problem.set(Some(message)),
            }
            ready.set(true);
            match load_proxy_config(&runner.proxy.get_untracked()).await {
                Ok((patterns, required)) => {
                    allowed.set(patterns);
                    token_required.set(required);
                }
                Err(message) => proxy_problem.set(Some(message)),
            }
            resume_interrupted(
                &runner,
                jobs,
                banner,
                cleanup,
                auto_resume.get_untracked(),
                retention_days.get_untracked(),
            )
            .await;
            storage.set(storage_used().await);
        });
    }
    let token = runner.token;
    let start = {
        let runner = runner.clone();
        move |request: ImportRequest| {
            let view = runner.start(request);
            jobs.update(|list| list.insert(0, view));
        }
    };
    view! {
        {move || proxy_problem.get().map(|message| view! { <p role="alert" class="error">{message}</p> })}
        {move || banner.get().map(|message| view! { <p role="status" class="notice" id="resume-banner">{message}</p> })}
        {move || token_required.get().then(|| view! {
            <div class="card token">
                <label for="token">"Analyst token (this proxy requires one; ask your admin)"</label>
                <input type="password" id="token" autocomplete="off" prop:value=move || token.get().unwrap_or_default()
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        store("sluice.token", &value, Storage::Session);
                        token.set((!value.is_empty()).then_some(value));
                    } />
            </div>
        })}
        <ImportForm allowed=allowed ready=ready on_start=start />
        <label class="setting">
            <input type="checkbox" prop:checked=move || auto_resume.get()
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    store("sluice.autoResume", if on { "true" } else { "false" }, Storage::Local);
                    auto_resume.set(on);
                } />
            " Resume interrupted imports automatically when this page opens"
        </label>
        <label class="setting">
            "Keep completed imports and their failed records for "
            <input type="number" min="1" class="days" aria-label="Days to keep completed imports"
                prop:value=move || retention_days.get().to_string()
                on:change=move |ev| {
                    if let Ok(days) = event_target_value(&ev).parse::<f64>() {
                        if days > 0.0 {
                            store("sluice.retentionDays", &days.to_string(), Storage::Local);
                            retention_days.set(days);
                        }
                    }
                } />
            " days"
        </label>
        <section aria-labelledby="jobs-heading" class="jobs">
            <h2 id="jobs-heading">"Imports"</h2>
            {move || cleanup.get().map(|message| view! { <p role="status" class="notice" id="cleanup-notice">{message}</p> })}
            <div class="continue-file">
                <label for="checkpoint-file">"Continue an import exported from another browser (checkpoint file)"</label>
                <input type="file" id="checkpoint-file" accept=".json,application/json" on:change={
                    let runner = runner.clone();
                    move |ev| {
                        use wasm_bindgen::JsCast;
                        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
                        let Some(file) = input.as_ref().and_then(|i| i.files()).and_then(|l| l.get(0)) else { return };
                        if let Some(input) = input {
                            input.set_value("");
                        }
                        let runner = runner.clone();
                        leptos::task::spawn_local(async move {
                            let read = wasm_bindgen_futures::JsFuture::from(file.text()).await;
                            let text = read.ok().and_then(|t| t.as_string()).unwrap_or_default();
                            match runner.import_checkpoint_file(text.as_bytes()).await {
                                Ok(view) => {
                                    import_problem.set(None);
                                    jobs.update(|list| list.insert(0, view));
                                }
                                Err(message) => import_problem.set(Some(format!(
                                    "This checkpoint file cannot be used: {message}"
                                ))),
                            }
                        });
                    }
                } />
                {move || import_problem.get().map(|message| view! { <p role="alert" class="error">{message}</p> })}
            </div>
            {move || jobs.with(Vec::is_empty).then(|| view! { <p class="muted">"No imports yet."</p> })}
            <For
                each=move || jobs.get()
                key=|job| job.id.clone()
                children={
                    let runner = runner.clone();
                    move |job| {
                        let runner = runner.clone();
                        view! { <JobCard job=job runner=runner jobs=jobs /> }
                    }
                }
            />
            {move || storage.get().map(|bytes| view! {
                <p class="muted storage" id="storage-figure">
                    {format!("Sluice's data in this browser (imports, checkpoints, failed records): {}", human_bytes(bytes))}
                </p>
            })}
        </section>
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[component]
fn Importer() -> impl IntoView {
    view! { <p>"The importer runs in a browser."</p> }
}

/// The proxy's address from `config.json` beside the page (`{"proxy": "https://proxy.example.com"}`): deploy-time
/// configuration, no rebuild. Without the file, the proxy is the page's own origin (`sluice serve --site`).
#[cfg(target_arch = "wasm32")]
async fn site_config() -> Result<String, String> {
    let response = match gloo_net::http::Request::get("config.json").send().await {
        Ok(response) => response,
        // Offline or blocked: the same origin is the best guess, and the proxy check below reports the rest.
        Err(_) => return Ok(String::new()),
    };
    if response.status() == 404 {
        return Ok(String::new());
    }
    let text = response.text().await.unwrap_or_default();
    if !response.ok() {
        return Err(format!(
            "This site's config.json could not be read (HTTP {}); using this site's own address for the proxy.",
            response.status()
        ));
    }
    parse_site_config(&text)
}

/// Reads `config.json`: `{"proxy": "<base URL>"}`; an absent or empty `proxy` means the page's own origin.
pub fn parse_site_config(text: &str) -> Result<String, String> {
    let config: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("This site's config.json is not valid JSON ({e}); ask whoever deployed it to fix it."))?;
    match &config["proxy"] {
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::String(url)
            if url.is_empty() || url.starts_with("http://") || url.starts_with("https://") =>
        {
            Ok(url.trim_end_matches('/').to_string())
        }
        other => Err(format!(
            "This site's config.json names the proxy as {other}; it must be an http(s) URL such as \
             \"https://proxy.example.com\"."
        )),
    }
}

#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy)]
enum Storage {
    /// Kept across visits (settings).
    Local,
    /// Kept for this tab only (the token: a secret).
    Session,
}

#[cfg(target_arch = "wasm32")]
fn web_storage(kind: Storage) -> Option<web_sys::Storage> {
    let window = web_sys::window()?;
    match kind {
        Storage::Local => window.local_storage().ok().flatten(),
        Storage::Session => window.session_storage().ok().flatten(),
    }
}

#[cfg(target_arch = "wasm32")]
fn stored(key: &str, kind: Storage) -> Option<String> {
    web_storage(kind)?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

#[cfg(target_arch = "wasm32")]
fn store(key: &str, value: &str, kind: Storage) {
    if let Some(storage) = web_storage(kind) {
        let _ = storage.set_item(key, value);
    }
}

/// The proxy's allowed index patterns and whether it needs a token.
#[cfg(target_arch = "wasm32")]
async fn load_proxy_config(proxy: &str) -> Result<(Vec<String>, bool), String> {
    let url = format!("{}/_sluice/config", proxy.trim_end_matches('/'));
    let response = gloo_net::http::Request::get(&url).send().await.map_err(|e| {
        format!("The Sluice proxy cannot be reached at {url} ({e}). Imports need it: ask your admin whether `sluice serve` is running.")
    })?;
    if !response.ok() {
        return Err(format!(
            "The Sluice proxy answered {} at {url}; imports need a working proxy.",
            response.status()
        ));
    }
    let config: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("The proxy's configuration is unreadable: {e}"))?;
    let patterns = config["allowed_indices"]
        .as_array()
        .map(|patterns| patterns.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok((patterns, config["token_required"].as_bool().unwrap_or(false)))
}

/// True for a completed job whose last checkpoint is older than `oldest_kept` (ms since the epoch).
#[cfg(target_arch = "wasm32")]
fn expired(checkpoints: &[Option<sluice_engine::Checkpoint>], oldest_kept: f64) -> bool {
    let statuses: Vec<_> = checkpoints.iter().map(|c| c.as_ref().map(|c| c.status)).collect();
    let last = checkpoints.iter().flatten().map(|c| c.updated_at_ms).max().unwrap_or(0);
    sluice_engine::manifest::job_status(&statuses) == sluice_engine::JobStatus::Completed && (last as f64) < oldest_kept
}

/// How much of the browser's storage this site uses, in bytes (`navigator.storage.estimate()`).
#[cfg(target_arch = "wasm32")]
async fn storage_used() -> Option<f64> {
    use js_sys::Reflect;
    use wasm_bindgen::JsCast;
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    let estimate = Reflect::get(&storage, &"estimate".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let promise = estimate.call0(&storage).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    Reflect::get(&answer, &"usage".into()).ok()?.as_f64()
}

/// Lists stored jobs; interrupted ones with a remembered URL resume by themselves unless the analyst turned that off.
#[cfg(target_arch = "wasm32")]
async fn resume_interrupted(
    runner: &Runner,
    jobs: RwSignal<Vec<JobView>>,
    banner: RwSignal<Option<String>>,
    cleanup: RwSignal<Option<String>>,
    auto: bool,
    retention_days: f64,
) {
    let Ok(store) = crate::browser::store::IdbStore::open().await else {
        return;
    };
    let Ok(stored) = store.jobs().await else {
        return;
    };
    let (mut resumed, mut waiting, mut needs_file, mut needs_access, mut elsewhere) = (0, 0, 0, 0, 0);
    let oldest_kept = js_sys::Date::now() - retention_days * 86_400_000.0;
    let mut removed = 0;
    // Newest first, as new imports are added at the top.
    for (manifest, checkpoints) in stored.into_iter().rev() {
        if expired(&checkpoints, oldest_kept) && store.delete_job(&manifest).await.is_ok() {
            removed += 1;
            continue;
        }
        let view = JobView::from_stored(manifest, &checkpoints);
        let interrupted = view.state.get_untracked() == JobState::Interrupted;
        jobs.update(|list| list.push(view.clone()));
        if interrupted && view.current_is_local_file() && !runner.reopen_file(&view).await {
            // The page forgot the file and cannot reopen it by itself: the card says whether to allow access to
            // it again or to pick it again; then it resumes.
            if matches!(view.state.get_untracked(), JobState::NeedsPermission(_)) {
                needs_access += 1;
            } else {
                needs_file += 1;
            }
        } else if interrupted && !auto {
            waiting += 1;
        } else if interrupted {
            match crate::browser::tabs::try_lock(&view.id).await {
                Some(lock) => {
                    runner.resume_holding(view, lock);
                    resumed += 1;
                }
                None => {
                    view.state.set(JobState::Elsewhere);
                    runner.take_over_when_free(view);
                    elsewhere += 1;
                }
            }
        }
    }
    if removed > 0 {
        cleanup.set(Some(format!(
            "Removed {removed} completed import{} older than {retention_days} days, with {} failed records.",
            if removed == 1 { "" } else { "s" },
            if removed == 1 { "its" } else { "their" }
        )));
    }
    if needs_file + needs_access > 0 {
        let (count, what) = match (needs_file, needs_access) {
            (0, n) => (n, "allow access to the file"),
            (n, 0) => (n, "pick the file again"),
            (files, access) => (files + access, "allow access to the file or pick it again"),
        };
        banner.set(Some(format!(
            "{count} interrupted import{} of local files: {what} below to continue where {} stopped.",
            if count == 1 { "" } else { "s" },
            if count == 1 { "it" } else { "they" }
        )));
    } else if waiting > 0 {
        banner.set(Some(format!(
            "{waiting} interrupted import{} waiting: press Resume to continue where {} stopped.",
            if waiting == 1 { " is" } else { "s are" },
            if waiting == 1 { "it" } else { "they" }
        )));
    } else if elsewhere > 0 && resumed == 0 {
        banner.set(Some(format!(
            "{elsewhere} import{} running in another tab of this browser; this tab shows {} progress and takes over \
             if that tab closes.",
            if elsewhere == 1 { " is" } else { "s are" },
            if elsewhere == 1 { "its" } else { "their" }
        )));
    } else if resumed > 0 {
        banner.set(Some(format!(
            "Resumed {resumed} interrupted import{} from where {} stopped.",
            if resumed == 1 { "" } else { "s" },
            if resumed == 1 { "it" } else { "they" }
        )));
    }
}

/// The import form: URL + index + Import is enough; the rest has sensible defaults.
#[cfg(target_arch = "wasm32")]
#[component]
fn ImportForm(
    allowed: RwSignal<Vec<String>>,
    ready: RwSignal<bool>,
    on_start: impl Fn(ImportRequest) + 'static + Clone,
) -> impl IntoView {
    use sluice_engine::{Action, FormatChoice, IdStrategy, Tuning};
    let urls = RwSignal::new(String::new());
    // Picked or dropped files (browser objects: this tab only).
    let files: RwSignal<Vec<PickedFile>, LocalStorage> = RwSignal::new_local(Vec::new());
    let lasting_access = crate::browser::file_access::picker_available();
    let dragging = RwSignal::new(false);
    let index = RwSignal::new(String::new());
    let format = RwSignal::new("auto".to_string());
    let id_field = RwSignal::new(String::new());
    let action = RwSignal::new("index".to_string());
    let batch_mib = RwSignal::new("5".to_string());
    let batch_docs = RwSignal::new("5000".to_string());
    let in_flight = RwSignal::new("4".to_string());
    let checkpoint_every = RwSignal::new("5".to_string());
    let pipeline = RwSignal::new(String::new());
    let problem: RwSignal<Option<String>> = RwSignal::new(None);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let urls_text = urls.get_untracked();
        let list: Vec<String> = urls_text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let picked = files.get_untracked();
        if list.is_empty() && picked.is_empty() {
            return problem.set(Some(
                "Paste at least one presigned S3 URL (one per line), or pick or drop local files.".into(),
            ));
        }
        let number = |signal: RwSignal<String>, name: &str| -> Result<f64, String> {
            signal
                .get_untracked()
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0)
                .ok_or(format!("{name} must be a positive number"))
        };
        let tuning = match (
            number(batch_mib, "Batch size (MiB)"),
            number(batch_docs, "Batch size (records)"),
            number(in_flight, "Requests in flight"),
            number(checkpoint_every, "Checkpoint every"),
        ) {
            (Ok(mib), Ok(docs), Ok(flight), Ok(every)) => Tuning {
                batch_bytes: (mib * 1024.0 * 1024.0) as usize,
                batch_docs: docs as usize,
                max_in_flight: flight as usize,
                max_buffered_bytes: (mib * 1024.0 * 1024.0) as usize * (flight as usize + 2),
                checkpoint_every_batches: every as u32,
                ..Tuning::default()
            },
            (Err(m), ..) | (_, Err(m), ..) | (_, _, Err(m), _) | (.., Err(m)) => return problem.set(Some(m)),
        };
        let mut settings = ImportSettings::new(index.get_untracked().trim());
        settings.format = FormatChoice::parse(&format.get_untracked()).unwrap_or_default();
        settings.action = if action.get_untracked() == "create" {
            Action::Create
        } else {
            Action::Index
        };
        let field = id_field.get_untracked().trim().to_string();
        if !field.is_empty() {
            let pointer = if field.starts_with('/') {
                field
            } else {
                format!("/{}", field.replace('.', "/"))
            };
            settings.id = IdStrategy::Field { pointer };
        }
        let pipeline_name = pipeline.get_untracked().trim().to_string();
        settings.pipeline = (!pipeline_name.is_empty()).then_some(pipeline_name);
        if let Err(message) = settings.validate() {
            return problem.set(Some(format!("Index: {message}")));
        }
        problem.set(None);
        on_start(ImportRequest {
            urls: list,
            files: picked,
            settings,
            tuning,
        });
        urls.set(String::new());
        files.set(Vec::new());
    };
    let add_files = move |list: Option<web_sys::FileList>| {
        let Some(list) = list else { return };
        files.update(|picked| {
            picked.extend(
                (0..list.length())
                    .filter_map(|i| list.get(i))
                    .map(PickedFile::without_handle),
            )
        });
    };
    let choose_files = move |_| {
        leptos::task::spawn_local(async move {
            match crate::browser::file_access::pick_files().await {
                Ok(chosen) => files.update(|picked| picked.extend(chosen)),
                Err(message) => problem.set(Some(message)),
            }
        });
    };
    let text_input = |id: &'static str, signal: RwSignal<String>| {
        view! { <input type="text" id=id prop:value=move || signal.get() on:input=move |ev| signal.set(event_target_value(&ev)) /> }
    };
    view! {
        <form class="card import-form" class:dragging=move || dragging.get() on:submit=submit aria-labelledby="form-heading"
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(false);
                let Some(transfer) = ev.data_transfer() else { return };
                let Some(list) = transfer.files() else { return };
                let dropped: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
                // Handles must be asked for while the drop event lasts; they are awaited after it.
                let handles = crate::browser::file_access::dropped_handles(&transfer);
                leptos::task::spawn_local(async move {
                    let picked = crate::browser::file_access::with_dropped_handles(dropped, handles).await;
                    files.update(|list| list.extend(picked));
                });
            }>
            <h2 id="form-heading">"New import"</h2>
            <label for="urls">"Presigned S3 URLs (one per line)"</label>
            <small class="muted" id="urls-help">"Several URLs make one import: the objects are imported in order, each resuming where it stopped."</small>
            <textarea id="urls" rows="3" placeholder="https://my-bucket.s3.eu-west-1.amazonaws.com/export.jsonl?X-Amz-…"
                prop:value=move || urls.get() on:input=move |ev| urls.set(event_target_value(&ev))></textarea>
            <label for="files">"Or local files (JSON array, JSON Lines, .gz), picked here or dropped on this form"</label>
            {lasting_access.then(|| view! {
                <div class="file-choice">
                    <button type="button" class="secondary" on:click=choose_files>"Choose files…"</button>
                    <small class="muted">"Files chosen here or dropped are reopened after a reload without picking them again (the browser may ask you to allow it)."</small>
                </div>
            })}
            <input type="file" id="files" multiple=true accept=".json,.jsonl,.ndjson,.gz,application/json"
                class:visually-hidden=lasting_access
                on:change=move |ev| {
                    use wasm_bindgen::JsCast;
                    let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
                    if let Some(input) = input {
                        add_files(input.files());
                        // Picking the same file again must fire `change` again.
                        input.set_value("");
                    }
                } />
            {move || files.with(|picked| (!picked.is_empty()).then(|| {
                let names: Vec<String> = picked.iter().map(|p| format!("{} ({})", p.file.name(), human_bytes(p.file.size()))).collect();
                view! {
                    <p class="picked">{format!("Files: {}", names.join(", "))}
                        " " <button type="button" class="secondary small" on:click=move |_| files.set(Vec::new())>"Clear files"</button>
                    </p>
                }
            }))}
            <div class="row">
                <div class="field">
                    <label for="index">"Index"</label>
                    <input type="text" id="index" list="allowed-indices" required=true
                        prop:value=move || index.get() on:input=move |ev| index.set(event_target_value(&ev)) />
                    <datalist id="allowed-indices">
                        {move || allowed.get().into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
                    </datalist>
                    <small class="muted">{move || {
                        let patterns = allowed.get();
                        if patterns.is_empty() { String::new() } else { format!("Allowed: {}", patterns.join(", ")) }
                    }}</small>
                </div>
                <div class="field">
                    <label for="format">"Format"</label>
                    <select id="format" on:change=move |ev| format.set(event_target_value(&ev))>
                        <option value="auto">"Auto-detect"</option>
                        <option value="json">"JSON array"</option>
                        <option value="jsonl">"JSON Lines"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="id-field">"Id field (optional)"</label>
                    {text_input("id-field", id_field)}
                </div>
                <div class="field">
                    <label for="action">"Action"</label>
                    <select id="action" on:change=move |ev| action.set(event_target_value(&ev))>
                        <option value="index">"index (replace)"</option>
                        <option value="create">"create (keep)"</option>
                    </select>
                </div>
            </div>
            <details>
                <summary>"Advanced"</summary>
                <div class="row">
                    <div class="field"><label for="batch-mib">"Batch size (MiB)"</label>{text_input("batch-mib", batch_mib)}</div>
                    <div class="field"><label for="batch-docs">"Batch size (records)"</label>{text_input("batch-docs", batch_docs)}</div>
                    <div class="field"><label for="in-flight">"Requests in flight"</label>{text_input("in-flight", in_flight)}</div>
                    <div class="field"><label for="checkpoint-every">"Checkpoint every (batches)"</label>{text_input("checkpoint-every", checkpoint_every)}</div>
                    <div class="field"><label for="pipeline">"Ingest pipeline"</label>{text_input("pipeline", pipeline)}</div>
                </div>
            </details>
            {move || problem.get().map(|message| view! { <p role="alert" class="error">{message}</p> })}
            <button type="submit" disabled=move || !ready.get()>"Import"</button>
        </form>
    }
}

/// One import: progress, figures, state in words, and its controls.
#[cfg(target_arch = "wasm32")]
#[component]
fn JobCard(job: JobView, runner: Runner, jobs: RwSignal<Vec<JobView>>) -> impl IntoView {
    let fresh_url = RwSignal::new(String::new());
    let letters: RwSignal<Option<Vec<(String, sluice_engine::DeadLetter)>>> = RwSignal::new(None);
    let state = job.state;
    // A derived signal is Copy, so every closure below can read the job's figures.
    let totals = {
        let job = job.clone();
        Signal::derive(move || job.totals())
    };
    let percent = move || {
        if state.get() == JobState::Completed {
            return Some(100.0);
        }
        let p = totals.get();
        // Nothing done yet is 0 % whatever the size: an indeterminate bar would look busy on a stopped import.
        if p.committed_offset == 0 && !state.get().is_active() {
            return Some(0.0);
        }
        p.total_bytes
            .filter(|t| *t > 0)
            .map(|t| p.committed_offset as f64 / t as f64 * 100.0)
    };
    let figures = {
        move || {
            let p = totals.get();
            // Rates and time left mean something only while the import runs.
            let speed = if state.get().is_active() {
                let eta = p
                    .eta_ms
                    .map(|ms| format!(" · about {} left", sluice_engine::progress::human_duration(ms)))
                    .unwrap_or_default();
                format!(
                    " · {:.0} docs/s · {:.1} MB/s{eta}",
                    p.docs_per_sec,
                    p.bytes_per_sec / 1e6
                )
            } else {
                String::new()
            };
            format!(
                "{} records read · {} indexed · {} failed · {} retried{speed}",
                p.records, p.indexed, p.failed, p.retried
            )
        }
    };
    let resume = {
        let runner = runner.clone();
        let job = job.clone();
        move |_| runner.resume(job.clone(), None)
    };
    let continue_with_fresh = {
        let runner = runner.clone();
        let job = job.clone();
        move |_| {
            let url = fresh_url.get_untracked().trim().to_string();
            if !url.is_empty() {
                runner.resume(job.clone(), Some(url));
            }
        }
    };
    let start_over = {
        let runner = runner.clone();
        let job = job.clone();
        move |_| runner.start_over(job.clone())
    };
    let pause = {
        let job = job.clone();
        move |_| job.pause()
    };
    let cancel = {
        let job = job.clone();
        move |_| job.cancel()
    };
    let delete = {
        let job = job.clone();
        move |_| {
            let job = job.clone();
            leptos::task::spawn_local(async move {
                if let Ok(store) = crate::browser::store::IdbStore::open().await {
                    let _ = store.delete_job(&job.manifest()).await;
                }
                jobs.update(|list| list.retain(|j| j.id != job.id));
            });
        }
    };
    let show_letters = {
        let job = job.clone();
        move |_| {
            let job = job.clone();
            leptos::task::spawn_local(async move {
                letters.set(Some(job_dead_letters(&job, 100).await));
            });
        }
    };
    let download = {
        let job = job.clone();
        move |_| {
            let job = job.clone();
            leptos::task::spawn_local(async move {
                let mut text = Vec::new();
                for (object, letter) in job_dead_letters(&job, u32::MAX).await {
                    // The engine's dead-letter line, plus the object it came from.
                    let mut line = serde_json::to_value(&letter).unwrap_or_default();
                    line["object"] = object.into();
                    text.extend(line.to_string().into_bytes());
                    text.push(b'\n');
                }
                download_file(
                    &format!("{}-failed-records.ndjson", job.id),
                    &text,
                    "application/x-ndjson",
                );
            });
        }
    };
    let include_urls = RwSignal::new(false);
    let export = {
        let job = job.clone();
        let runner = runner.clone();
        move |_| {
            let job = job.clone();
            let runner = runner.clone();
            leptos::task::spawn_local(async move {
                match runner.export(&job, include_urls.get_untracked()).await {
                    Ok(bytes) => download_file(&format!("{}-checkpoint.json", job.id), &bytes, "application/json"),
                    Err(message) => job.state.set(JobState::Failed(message)),
                }
            });
        }
    };
    let several = job.parts.len() > 1;
    let parts = job.parts.clone();
    let title = format!("{} → {}", job.source(), job.index);
    let label = title.clone();
    view! {
        <article class="card job" aria-label=label>
            <h3>{title}</h3>
            // Without a known size (gzip) the bar has no value: an indeterminate bar, not a false 0 %.
            <progress max="100" value=percent
                aria-label="Progress of this import">{move || percent().map_or("size unknown".into(), |p| format!("{p:.0} %"))}</progress>
            {several.then(|| view! {
                <ol class="parts">
                    {parts.into_iter().enumerate().map(|(n, part)| {
                        let progress = part.progress;
                        let current = job.current;
                        let part_percent = move || {
                            let p = progress.get();
                            if p.status == Some(sluice_engine::JobStatus::Completed) {
                                return Some(100.0);
                            }
                            p.total_bytes.filter(|t| *t > 0).map(|t| p.committed_offset as f64 / t as f64 * 100.0)
                        };
                        view! {
                            <li class:current=move || current.get() == n && state.get().is_active()>
                                <span class="part-label">{part.label.clone()}</span>
                                <progress max="100" value=part_percent aria-label=format!("Progress of {}", part.label)></progress>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            })}
            <p role="status" class="state">{move || state.get().title()}</p>
            <p class="figures">{figures}</p>
            {move || (job.rates.with(Vec::len) > 1).then(|| view! { <Sparkline rates=job.rates /> })}
            {move || totals.get().note.filter(|_| state.get().is_active()).map(|note| view! { <p class="note">{note}</p> })}
            {move || matches!(state.get(), JobState::Failed(_) | JobState::NeedsFreshUrl(_) | JobState::Changed(_) | JobState::NeedsFile(_) | JobState::NeedsPermission(_)).then(|| view! {
                <p role="alert" class="error">{state.get().describe()}</p>
            })}
            {
                let job = job.clone();
                let runner = runner.clone();
                move || {
                    let waiting = matches!(state.get(), JobState::NeedsPermission(_)).then(|| job.file_waiting_for_access()).flatten();
                    waiting.map(|name| {
                        let (job, runner) = (job.clone(), runner.clone());
                        view! {
                            <div class="actions">
                                <button type="button" on:click=move |_| runner.allow_file_access(job.clone())>{format!("Allow access to {name}")}</button>
                            </div>
                        }
                    })
                }
            }
            {move || matches!(state.get(), JobState::Changed(_)).then(|| view! {
                <p class="muted">"Start over imports this object again from its first byte (objects before it stay imported)."</p>
            })}
            {
                let job = job.clone();
                let runner = runner.clone();
                move || {
                    let wants_file = matches!(state.get(), JobState::NeedsFile(_) | JobState::NeedsPermission(_))
                        || (matches!(state.get(), JobState::Changed(_)) && job.current_is_local_file());
                    wants_file.then(|| {
                        let job = job.clone();
                        let runner = runner.clone();
                        let input_id = format!("file-{}", job.id);
                        view! {
                            <div class="fresh-url">
                                <label for=input_id.clone()>{format!(
                                    "{} {} again",
                                    if matches!(state.get_untracked(), JobState::NeedsPermission(_)) { "Or pick" } else { "Pick" },
                                    job.current_part().label
                                )}</label>
                                <input type="file" id=input_id on:change=move |ev| {
                                    use wasm_bindgen::JsCast;
                                    let file = ev.target()
                                        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                                        .and_then(|input| input.files())
                                        .and_then(|list| list.get(0));
                                    if let Some(file) = file {
                                        runner.resume_with_file(job.clone(), file);
                                    }
                                } />
                            </div>
                        }
                    })
                }
            }
            {move || matches!(state.get(), JobState::NeedsFreshUrl(_)).then(|| view! {
                <div class="fresh-url">
                    <label for=format!("fresh-{}", job.id)>"Fresh presigned URL for the same object"</label>
                    <input type="text" id=format!("fresh-{}", job.id) prop:value=move || fresh_url.get()
                        on:input=move |ev| fresh_url.set(event_target_value(&ev)) />
                    <button type="button" on:click=continue_with_fresh.clone()>"Continue with this URL"</button>
                </div>
            })}
            <div class="actions">
                {move || matches!(state.get(), JobState::Running).then(|| view! { <button type="button" on:click=pause.clone()>"Pause"</button> })}
                {move || matches!(state.get(), JobState::Paused | JobState::Interrupted | JobState::Failed(_) | JobState::Cancelled)
                    .then(|| view! { <button type="button" on:click=resume.clone()>"Resume"</button> })}
                {move || matches!(state.get(), JobState::Changed(_)).then(|| view! {
                    <button type="button" on:click=start_over.clone()>"Start over"</button>
                })}
                {move || state.get().is_active().then(|| view! { <button type="button" on:click=cancel.clone()>"Cancel"</button> })}
                {move || (!state.get().is_active() && state.get() != JobState::Elsewhere).then(|| view! { <button type="button" class="secondary" on:click=delete.clone()>"Delete"</button> })}
                {move || (totals.get().failed > 0).then(|| view! {
                    <button type="button" class="secondary" on:click=show_letters.clone()>"Show failed records"</button>
                    <button type="button" class="secondary" on:click=download.clone()>"Download failed records"</button>
                })}
            </div>
            <details class="export">
                <summary>"Checkpoint file"</summary>
                <p class="muted">"Continue this import in another browser or on another machine: export its checkpoint, then open the file there with “Continue an import exported from another browser”."</p>
                <label class="setting">
                    <input type="checkbox" prop:checked=move || include_urls.get()
                        on:change=move |ev| include_urls.set(event_target_checked(&ev)) />
                    " Include the presigned URLs (they are secrets: anyone with the file can read the objects until they expire)"
                </label>
                <button type="button" class="secondary" on:click=export>"Export checkpoint"</button>
            </details>
            {move || letters.get().map(|list| view! {
                <table class="letters">
                    <caption>"Failed records (first 100)"</caption>
                    <thead><tr>{several.then(|| view! { <th>"Object"</th> })}<th>"Byte offset"</th><th>"Reason"</th><th>"Record"</th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|(object, l)| view! {
                            <tr>{several.then(|| view! { <td>{object}</td> })}<td>{l.offset}</td><td>{l.reason}</td><td><code>{l.record.unwrap_or_default()}</code></td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </article>
    }
}

/// A size in words: "1.2 MB".
#[cfg(target_arch = "wasm32")]
fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.0} kB", b / 1e3),
        b => format!("{b:.0} bytes"),
    }
}

/// Up to `limit` failed records of a job, object by object, each with the object's label.
#[cfg(target_arch = "wasm32")]
async fn job_dead_letters(job: &JobView, limit: u32) -> Vec<(String, sluice_engine::DeadLetter)> {
    let mut all = Vec::new();
    let Ok(store) = crate::browser::store::IdbStore::open().await else {
        return all;
    };
    for part in &job.parts {
        let left = limit.saturating_sub(all.len() as u32);
        if left == 0 {
            break;
        }
        if let Ok(letters) = store.dead_letters(&part.id, left).await {
            all.extend(letters.into_iter().map(|letter| (part.label.clone(), letter)));
        }
    }
    all
}

/// A small throughput line (docs/s over the last samples).
#[cfg(target_arch = "wasm32")]
#[component]
fn Sparkline(rates: RwSignal<Vec<f64>>) -> impl IntoView {
    let points = move || {
        let samples = rates.get();
        let max = samples.iter().cloned().fold(1.0, f64::max);
        samples
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{},{:.1}", i * 2, 20.0 - v / max * 18.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    view! {
        <svg class="sparkline" viewBox="0 0 120 20" width="120" height="20" role="img" aria-label="Throughput over the last minute">
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5" />
        </svg>
    }
}

#[cfg(target_arch = "wasm32")]
fn download_file(name: &str, bytes: &[u8], media_type: &str) {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(media_type);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let document = web_sys::window().and_then(|w| w.document());
    if let Some(anchor) = document
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// Shows the result of the start-up self-check.
#[component]
fn EngineCheck(check: Result<SelfCheck, String>) -> impl IntoView {
    match check {
        Ok(SelfCheck {
            records,
            batched,
            dead_letters,
        }) => view! {
            <p class="check ok muted" id="engine-check">
                {format!(
                    "Engine check passed in this browser: {records} sample records split, {batched} batched for \
                     OpenSearch, {dead_letters} malformed one set aside as a dead letter."
                )}
            </p>
        }
        .into_any(),
        Err(message) => view! {
            <p role="alert" class="check failed" id="engine-check">
                {format!("Engine check failed: {message}. Please report this with your browser's name and version.")}
            </p>
        }
        .into_any(),
    }
}

/// What the self-check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfCheck {
    records: usize,
    batched: usize,
    dead_letters: usize,
}

/// Runs the engine's splitter and batcher on a small built-in sample, cut into awkward chunks, with one malformed
/// record, and checks the result. It proves the compiled engine works in this browser before any import starts.
pub fn engine_self_check() -> Result<SelfCheck, String> {
    const SAMPLE: &[u8] =
        "\u{feff}{\"id\":1,\"city\":\"Zürich\"}\r\n{\"id\":2,\"q\":\"say \\\"hi\\\"\"}\n{broken\n{\"id\":3}".as_bytes();
    let mut settings = ImportSettings::new("self-check");
    settings.id = sluice_engine::IdStrategy::Field { pointer: "/id".into() };
    let limits = BatchLimits {
        max_bytes: 1 << 20,
        max_records: 100,
    };
    let mut builder = BatchBuilder::new(&settings, "self-check", &Default::default(), limits, 0)?;
    let mut splitter = Splitter::new(settings.format, DEFAULT_MAX_RECORD_BYTES);
    for chunk in SAMPLE.chunks(5) {
        splitter.push(chunk, &mut builder).map_err(|e| e.to_string())?;
    }
    splitter.finish(&mut builder).map_err(|e| e.to_string())?;
    builder.flush();
    let batches: Vec<_> = builder.take_ready().collect();
    let batched: usize = batches.iter().map(|b| b.items.len()).sum();
    let dead_letters: usize = batches.iter().map(|b| b.dead_letters.len()).sum();
    let body_ok = batches
        .first()
        .is_some_and(|b| b.body.starts_with(br#"{"index":{"_index":"self-check","_id":"1"}}"#));
    if (batched, dead_letters, body_ok) != (3, 1, true) {
        return Err(format!(
            "expected 3 records batched and 1 dead letter, got {batched} and {dead_letters}"
        ));
    }
    Ok(SelfCheck {
        records: batched + dead_letters,
        batched,
        dead_letters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_names_the_proxy_or_leaves_the_same_origin() {
        assert_eq!(
            parse_site_config(r#"{"proxy": "https://p.example.com/"}"#),
            Ok("https://p.example.com".into())
        );
        assert_eq!(parse_site_config("{}"), Ok(String::new()));
        assert_eq!(parse_site_config(r#"{"proxy": ""}"#), Ok(String::new()));
        let wrong = parse_site_config(r#"{"proxy": 8080}"#).unwrap_err();
        assert!(wrong.contains("must be an http(s) URL"), "{wrong}");
        assert!(parse_site_config("{proxy:").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn the_self_check_passes_natively() {
        assert_eq!(
            engine_self_check(),
            Ok(SelfCheck {
                records: 4,
                batched: 3,
                dead_letters: 1
            })
        );
    }
}
