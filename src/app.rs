//! The page's components. They render signals and call plain functions ([`crate::runner`]); no import logic here.

use leptos::prelude::*;

use crate::components::diagnostics::{engine_self_check, EngineCheck};
#[cfg(target_arch = "wasm32")]
use crate::components::edge::{EdgeCard, EdgeJob};
#[cfg(target_arch = "wasm32")]
use crate::components::form::ImportForm;
#[cfg(target_arch = "wasm32")]
use crate::components::job_card::{human_bytes, JobCard};
#[cfg(target_arch = "wasm32")]
use crate::components::settings::{expired, load_proxy_config, site_config, storage_used, store, stored, Storage};
#[cfg(target_arch = "wasm32")]
use crate::runner::{ImportRequest, JobState, JobView, Runner};

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let check = engine_self_check();
    let check_failed = check.is_err();
    view! {
        <header class="masthead">
            <h1>"Sluice"</h1>
            <p class="tagline">"Resumable imports from S3 into OpenSearch, right in your browser."</p>
        </header>
        <main>
            <Importer />
            // A developer's diagnostic: closed unless the check failed.
            <details class="diagnostics" open=check_failed>
                <summary>"Diagnostics"</summary>
                <EngineCheck check=check />
            </details>
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
    let create_allowed = RwSignal::new(false);
    let dashboards: RwSignal<Option<String>> = RwSignal::new(None);
    let proxy_problem: RwSignal<Option<String>> = RwSignal::new(None);
    let edge: RwSignal<Option<String>> = RwSignal::new(None);
    let edge_jobs: RwSignal<Vec<EdgeJob>> = RwSignal::new(crate::components::edge::remembered());
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
            let config = site_config().await;
            match config.proxy {
                Ok(proxy) => runner.proxy.set(proxy),
                Err(message) => proxy_problem.set(Some(message)),
            }
            dashboards.set(config.dashboards);
            edge.set(config.edge);
            ready.set(true);
            match load_proxy_config(&runner.proxy.get_untracked()).await {
                Ok(info) => {
                    allowed.set(info.patterns);
                    token_required.set(info.token_required);
                    create_allowed.set(info.create_index_allowed);
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
    let handed_over = move |job: EdgeJob| {
        edge_jobs.update(|list| list.insert(0, job));
        crate::components::edge::remember(&edge_jobs.get_untracked());
    };
    let forget_edge_job = Callback::new(move |id: String| {
        edge_jobs.update(|list| list.retain(|job| job.id != id));
        crate::components::edge::remember(&edge_jobs.get_untracked());
    });
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
        <ImportForm allowed=allowed ready=ready on_start=start proxy=runner.proxy token=runner.token create_allowed=create_allowed
            edge=edge on_edge_job=handed_over />
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
            {move || (jobs.with(Vec::is_empty) && edge_jobs.with(Vec::is_empty)).then(|| view! { <p class="muted">"No imports yet."</p> })}
            <For
                each=move || edge_jobs.get()
                key=|job| job.id.clone()
                children=move |job| view! { <EdgeCard job=job token=token on_forget=forget_edge_job /> }
            />
            <For
                each=move || jobs.get()
                key=|job| job.id.clone()
                children={
                    let runner = runner.clone();
                    move |job| {
                        let runner = runner.clone();
                        view! { <JobCard job=job runner=runner jobs=jobs dashboards=dashboards /> }
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
        if let Some(choice) = crate::components::repair::interrupted_retry(&view.id) {
            // A retry of failed records was under way when the page went: it goes on over what is still failed.
            leptos::task::spawn_local(crate::components::repair::retry_failed(
                view.clone(),
                runner.clone(),
                choice,
            ));
            continue;
        }
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

#[cfg(test)]
mod tests {
    use crate::components::settings::parse_site_config;

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
    fn config_json_may_name_opensearch_dashboards() {
        use crate::components::settings::parse_dashboards;
        assert_eq!(
            parse_dashboards(r#"{"proxy": "", "dashboards": "https://dash.example.com/"}"#),
            Some("https://dash.example.com".into())
        );
        assert_eq!(
            parse_dashboards(r#"{"dashboards": "javascript:alert(1)"}"#),
            None,
            "only http(s) links"
        );
        assert_eq!(parse_dashboards("{}"), None);
    }
}
