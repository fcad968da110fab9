//! Imports handed to the edge: when `config.json` names an `"edge"`, the form can send a job there (`POST /jobs`),
//! and its card shows the job's progress as the edge reports it, with pause, resume, cancel and the failed records.
//! The page only remembers which jobs it handed over (local storage), so a reload, another tab or a later visit
//! shows them again; the import itself runs at the edge whether or not any tab is open.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_engine::{IdStrategy, ImportSettings, Tuning};

/// A job this browser handed to the edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeJob {
    /// The edge's id for it.
    pub id: String,
    /// The edge's base URL ("" for this site's own origin).
    pub edge: String,
    /// What the card is titled with.
    pub title: String,
}

/// `POST /jobs`'s body for what the form holds. Local files cannot go: the edge reads objects by URL.
pub fn new_job_body(
    urls: &[String],
    files: usize,
    settings: &ImportSettings,
    tuning: &Tuning,
) -> Result<Value, String> {
    if files > 0 {
        return Err(
            "Local files cannot run at the edge: it reads objects by URL. Import them in this tab, or \
                    upload them to S3 and paste their presigned URLs."
                .into(),
        );
    }
    if urls.is_empty() {
        return Err("Paste at least one presigned S3 URL to run at the edge.".into());
    }
    let id_field = match &settings.id {
        IdStrategy::Field { pointer } => Some(pointer.clone()),
        IdStrategy::Derived => None,
        IdStrategy::Auto => {
            return Err(
                "Ids chosen by OpenSearch are not offered at the edge: a resumed slice could index a \
                        record twice. Give an id field, or leave it empty for ids derived from each record's place."
                    .into(),
            )
        }
    };
    Ok(json!({
        "urls": urls,
        "index": settings.index,
        "format": settings.format,
        "csv": settings.csv,
        "id_field": id_field,
        "action": settings.action,
        "pipeline": settings.pipeline,
        "validation": settings.validation,
        "max_record_bytes": settings.max_record_bytes,
        "transforms": settings.transforms,
        "batch_docs": tuning.batch_docs,
        "batch_bytes": tuning.batch_bytes,
        "concurrency": tuning.max_in_flight,
    }))
}

/// `config.json`'s optional `"edge"`: an http(s) base URL, or `""` for this site's own origin (the site served by
/// the edge Worker itself).
pub fn parse_edge(text: &str) -> Option<String> {
    let config: Value = serde_json::from_str(text).ok()?;
    config["edge"]
        .as_str()
        .filter(|url| url.is_empty() || url.starts_with("http://") || url.starts_with("https://"))
        .map(|url| url.trim_end_matches('/').to_string())
}

/// The card's headline for a job's view from `GET /jobs/{id}`.
pub fn status_line(view: &Value) -> String {
    match view["status"].as_str().unwrap_or("") {
        "running" => "Running at the edge: it keeps going when this tab closes".into(),
        "paused" => "Paused at the edge".into(),
        "completed" => "Completed".into(),
        "cancelled" => "Cancelled".into(),
        "failed" => "Stopped at the edge".into(),
        other => format!("Status: {other}"),
    }
}

/// The card's line about a retry of the job's failed records, from the view's `retry`.
pub fn retry_line(view: &Value) -> Option<String> {
    let retry = &view["retry"];
    let number = |field: &str| retry[field].as_u64().unwrap_or(0);
    match retry["status"].as_str()? {
        "running" => Some(format!(
            "Retrying failed records at the edge: {} of {} sent…",
            number("sent"),
            number("total")
        )),
        "completed" => Some(format!(
            "Retry finished: {} indexed, {} still failing.",
            number("indexed"),
            number("still_failing")
        )),
        _ => Some(format!(
            "The retry stopped: {}",
            retry["message"].as_str().unwrap_or("no reason given")
        )),
    }
}

/// `GET /jobs/{id}/reasons`' groups as (cause, count), biggest first as the edge sent them.
pub fn reason_groups(answer: &Value) -> Vec<(String, u64)> {
    answer["reasons"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| Some((g["reason"].as_str()?.to_string(), g["count"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The columns of a job's CSV and TSV parts (each header's names, in order, once), from `GET /jobs/{id}`; `None` for
/// a job of JSON sources or before any header is read, when there are no column types to change.
pub fn csv_columns(view: &Value) -> Option<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    for part in view["parts"].as_array()? {
        for name in part["csv_columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !columns.iter().any(|known| known == name) {
                columns.push(name.to_string());
            }
        }
    }
    (!columns.is_empty()).then_some(columns)
}

/// How many failed records the causes were counted over, when that is not all of them (`GET /jobs/{id}/reasons`).
pub fn reasons_counted_of_some(answer: &Value) -> Option<u64> {
    if answer["partial"].as_bool() == Some(true) {
        answer["counted"].as_u64()
    } else {
        None
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use browser::*;

#[cfg(target_arch = "wasm32")]
mod browser {
    use leptos::prelude::*;
    use serde_json::Value;

    use super::{retry_line, status_line, EdgeJob};
    use crate::components::job_card::{download_file, human_bytes};
    use crate::components::repair::parse_repair_choice;
    use crate::components::settings::{store, stored, Storage};

    const LIST_KEY: &str = "sluice.edgeJobs";

    /// The jobs this browser handed to the edge, newest first.
    pub(crate) fn remembered() -> Vec<EdgeJob> {
        stored(LIST_KEY, Storage::Local)
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub(crate) fn remember(jobs: &[EdgeJob]) {
        store(
            LIST_KEY,
            &serde_json::to_string(jobs).unwrap_or_default(),
            Storage::Local,
        );
    }

    /// A call to the edge's jobs API; the error says what happened in words.
    pub(crate) async fn call(
        edge: &str,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{edge}{path}");
        let mut request = gloo_net::http::RequestBuilder::new(&url).method(match method {
            "POST" => gloo_net::http::Method::POST,
            "PUT" => gloo_net::http::Method::PUT,
            "DELETE" => gloo_net::http::Method::DELETE,
            _ => gloo_net::http::Method::GET,
        });
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let sent = match body {
            Some(body) => {
                request
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .map_err(|e| e.to_string())?
                    .send()
                    .await
            }
            None => request.send().await,
        };
        let response = sent.map_err(|e| format!("the edge cannot be reached at {url} ({e})"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// The message of an error answer (the proxy's `sluice_error` shape).
    pub(crate) fn error_message(status: u16, answer: &Value) -> String {
        answer["sluice_error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the edge answered HTTP {status}"))
    }

    /// Hands a job to the edge; its id on success.
    pub(crate) async fn hand_over(edge: &str, token: Option<&str>, body: &Value) -> Result<String, String> {
        let (status, answer) = call(edge, token, "POST", "/jobs", Some(body)).await?;
        if status != 201 {
            return Err(format!(
                "The edge did not take the import: {}",
                error_message(status, &answer)
            ));
        }
        answer["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the edge gave no job id".into())
    }

    /// A job at the edge: polled every second while it runs, every five otherwise.
    #[component]
    pub(crate) fn EdgeCard(
        job: EdgeJob,
        token: RwSignal<Option<String>>,
        on_forget: Callback<String>,
    ) -> impl IntoView {
        let view_signal: RwSignal<Option<Value>> = RwSignal::new(None);
        let problem: RwSignal<Option<String>> = RwSignal::new(None);
        let gone = RwSignal::new(false);
        let (edge, id) = (job.edge.clone(), job.id.clone());
        let refresh = {
            let (edge, id) = (edge.clone(), id.clone());
            move || {
                let (edge, id) = (edge.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    let token = token.get_untracked();
                    match super::browser::call(&edge, token.as_deref(), "GET", &format!("/jobs/{id}"), None).await {
                        Ok((200, view)) => {
                            problem.set(None);
                            view_signal.set(Some(view));
                        }
                        Ok((404, _)) => gone.set(true),
                        Ok((status, answer)) => problem.set(Some(error_message(status, &answer))),
                        Err(message) => problem.set(Some(message)),
                    }
                });
            }
        };
        refresh();
        let ticks = RwSignal::new(0u32);
        let handle = set_interval_with_handle(
            {
                let refresh = refresh.clone();
                move || {
                    let tick = ticks.get_untracked().wrapping_add(1);
                    ticks.set(tick);
                    let running = view_signal.with_untracked(|v| {
                        v.as_ref()
                            .is_some_and(|v| v["status"] == "running" || v["retry"]["status"] == "running")
                    });
                    if running || tick.is_multiple_of(5) {
                        refresh();
                    }
                }
            },
            std::time::Duration::from_millis(1000),
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
        let act = {
            let (edge, id) = (edge.clone(), id.clone());
            move |action: &'static str| {
                let (edge, id) = (edge.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    let token = token.get_untracked();
                    let path = format!("/jobs/{id}/{action}");
                    match super::browser::call(&edge, token.as_deref(), "POST", &path, None).await {
                        Ok((200, view)) => view_signal.set(Some(view)),
                        Ok((status, answer)) => problem.set(Some(error_message(status, &answer))),
                        Err(message) => problem.set(Some(message)),
                    }
                });
            }
        };
        let download = {
            let (edge, id) = (edge.clone(), id.clone());
            move |_| {
                let (edge, id) = (edge.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    let mut request = gloo_net::http::Request::get(&format!("{edge}/jobs/{id}/dead-letters"));
                    if let Some(token) = token.get_untracked() {
                        request = request.header("Authorization", &format!("Bearer {token}"));
                    }
                    match request.send().await {
                        Ok(response) if response.ok() => {
                            let bytes = response.binary().await.unwrap_or_default();
                            download_file(&format!("{id}-failed-records.ndjson"), &bytes, "application/x-ndjson");
                        }
                        Ok(response) => problem.set(Some(format!(
                            "The failed records could not be read (HTTP {})",
                            response.status()
                        ))),
                        Err(error) => problem.set(Some(format!("The edge cannot be reached ({error})"))),
                    }
                });
            }
        };
        let (renames, drops, types) = (
            RwSignal::new(String::new()),
            RwSignal::new(String::new()),
            RwSignal::new(String::new()),
        );
        // The column-type field is offered for CSV and TSV jobs only, with their columns named.
        let columns = Memo::new(move |_| view_signal.with(|v| v.as_ref().and_then(super::csv_columns)));
        let retry = {
            let (edge, id) = (edge.clone(), id.clone());
            move |_| {
                let columns = columns.get_untracked();
                let choice = match parse_repair_choice(
                    &renames.get_untracked(),
                    &drops.get_untracked(),
                    &types.get_untracked(),
                    columns.as_deref(),
                ) {
                    Ok(choice) => choice,
                    Err(message) => return problem.set(Some(message)),
                };
                let (edge, id) = (edge.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    let token = token.get_untracked();
                    let body = serde_json::to_value(&choice).unwrap_or_default();
                    let path = format!("/jobs/{id}/retry");
                    match super::browser::call(&edge, token.as_deref(), "POST", &path, Some(&body)).await {
                        Ok((202, view)) => {
                            problem.set(None);
                            view_signal.set(Some(view));
                        }
                        Ok((status, answer)) => problem.set(Some(format!(
                            "The retry did not start: {}",
                            error_message(status, &answer)
                        ))),
                        Err(message) => problem.set(Some(message)),
                    }
                });
            }
        };
        let retrying = move || view_signal.with(|v| v.as_ref().is_some_and(|v| v["retry"]["status"] == "running"));
        // The failed records' causes, asked for again whenever the job stops or a retry ends.
        let reasons: RwSignal<Vec<(String, u64)>> = RwSignal::new(Vec::new());
        let reasons_counted: RwSignal<Option<u64>> = RwSignal::new(None);
        let stopped_with_failures = Memo::new(move |_| {
            view_signal.with(|v| {
                v.as_ref().and_then(|v| {
                    let idle = v["status"] != "running" && v["retry"]["status"] != "running";
                    let failed = v["failed"].as_u64().unwrap_or(0);
                    (idle && failed > 0).then(|| (failed, v["retry"]["status"].as_str().unwrap_or("").to_string()))
                })
            })
        });
        {
            let (edge, id) = (edge.clone(), id.clone());
            Effect::new(move |_| {
                if stopped_with_failures.get().is_none() {
                    return;
                }
                let (edge, id) = (edge.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    let token = token.get_untracked();
                    let path = format!("/jobs/{id}/reasons");
                    if let Ok((200, answer)) = super::browser::call(&edge, token.as_deref(), "GET", &path, None).await {
                        reasons.set(super::reason_groups(&answer));
                        reasons_counted.set(super::reasons_counted_of_some(&answer));
                    }
                });
            });
        }
        let status =
            move || view_signal.with(|v| v.as_ref().and_then(|v| v["status"].as_str()).unwrap_or("").to_string());
        let number = move |field: &str| view_signal.with(|v| v.as_ref().and_then(|v| v[field].as_f64()).unwrap_or(0.0));
        let percent = move || {
            let total = number("bytes_total");
            if status() == "completed" {
                Some(100.0)
            } else {
                (total > 0.0).then(|| number("committed_offset") / total * 100.0)
            }
        };
        let figures = move || {
            view_signal.get().map(|v| {
                let indexed = v["indexed"].as_u64().unwrap_or(0);
                let failed = v["failed"].as_u64().unwrap_or(0);
                let committed = human_bytes(v["committed_offset"].as_f64().unwrap_or(0.0));
                let total = v["bytes_total"].as_f64().map(human_bytes).unwrap_or_else(|| "?".into());
                let rate = v["docs_per_s"].as_f64().unwrap_or(0.0);
                format!("{indexed} indexed · {failed} failed · {committed} of {total} · {rate:.0} docs/s")
            })
        };
        let forget_id = id.clone();
        let (title, label) = (job.title.clone(), job.title.clone());
        let pause = act.clone();
        let resume = act.clone();
        let stop_retry = act.clone();
        let cancel = act;
        view! {
            <article class="card job edge-job" aria-label=label data-edge-job=id.clone()>
                <h3>{title} " " <span class="badge">"at the edge"</span></h3>
                <progress max="100" value=percent aria-label="Progress of this import"></progress>
                <p role="status" class="state">{move || if gone.get() {
                    "This import no longer exists at the edge (it was deleted there).".to_string()
                } else {
                    view_signal.get().as_ref().map(status_line).unwrap_or_else(|| "Asking the edge…".into())
                }}</p>
                <p class="figures">{figures}</p>
                {move || view_signal.get().and_then(|v| v["last_error"].as_str().map(str::to_string)).map(|error| view! {
                    <p role="alert" class="error">{error}</p>
                })}
                {move || view_signal.get().as_ref().and_then(retry_line).map(|text| view! {
                    <p role="status" class="notice repair-status">{text}</p>
                })}
                {move || (number("failed") > 0.0 && status() != "running" && !retrying()).then(|| {
                    let retry = retry.clone();
                    view! {
                        <div class="failed-groups edge-repair">
                            <p><strong>{move || format!("{} records failed:", number("failed"))}</strong></p>
                            <ul class="reasons">
                                {move || reasons.get().into_iter().map(|(reason, count)| view! { <li>{format!("{reason} ({count})")}</li> }).collect_view()}
                            </ul>
                            {move || reasons_counted.get().map(|counted| view! { <p class="muted">{format!("Causes of the first {counted} failed records.")}</p> })}
                            <p class="muted">"Fix the cause first: a mapping change or a pipeline on the cluster, or change the records here. Then only the failed records are sent again, at the edge, with the same ids."</p>
                            <label>"Rename fields (old=new, comma-separated)"
                                <input type="text" class="repair-rename" prop:value=move || renames.get() on:input=move |ev| renames.set(event_target_value(&ev)) /></label>
                            <label>"Drop fields (comma-separated)"
                                <input type="text" class="repair-drop" prop:value=move || drops.get() on:input=move |ev| drops.set(event_target_value(&ev)) /></label>
                            {move || columns.get().map(|columns| view! {
                                <label>"Change column types (column=type, comma-separated: keyword, long, double, boolean, date)"
                                    <input type="text" class="repair-types" placeholder=format!("columns: {}", columns.join(", "))
                                        prop:value=move || types.get() on:input=move |ev| types.set(event_target_value(&ev)) /></label>
                            })}
                            <button type="button" class="retry-failed" on:click=retry>"Retry failed records"</button>
                        </div>
                    }
                })}
                {move || problem.get().map(|message| view! { <p role="alert" class="error">{message}</p> })}
                <div class="actions">
                    {move || retrying().then(|| {
                        let stop_retry = stop_retry.clone();
                        view! { <button type="button" on:click=move |_| stop_retry("pause")>"Stop the retry"</button> }
                    })}
                    {move || (status() == "running").then(|| {
                        let pause = pause.clone();
                        view! { <button type="button" on:click=move |_| pause("pause")>"Pause"</button> }
                    })}
                    {move || matches!(status().as_str(), "paused" | "failed" | "cancelled").then(|| {
                        let resume = resume.clone();
                        view! { <button type="button" on:click=move |_| resume("resume")>"Resume"</button> }
                    })}
                    {move || matches!(status().as_str(), "running" | "paused").then(|| {
                        let cancel = cancel.clone();
                        view! { <button type="button" on:click=move |_| cancel("cancel")>"Cancel"</button> }
                    })}
                    {move || (number("failed") > 0.0).then(|| {
                        let download = download.clone();
                        view! { <button type="button" class="secondary" on:click=download>"Download failed records"</button> }
                    })}
                    {move || (status() != "running").then(|| {
                        let forget_id = forget_id.clone();
                        view! { <button type="button" class="secondary" on:click=move |_| on_forget.run(forget_id.clone())>"Remove from this list"</button> }
                    })}
                </div>
            </article>
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_settings_become_an_edge_job() {
        let mut settings = ImportSettings::new("logs-a");
        settings.id = IdStrategy::from_field("user.id");
        settings.pipeline = Some("p".into());
        let body = new_job_body(&["https://b/k".into()], 0, &settings, &Tuning::default()).unwrap();
        assert_eq!(body["id_field"], "/user/id");
        assert_eq!(body["index"], "logs-a");
        assert_eq!(body["format"], "auto");
        assert_eq!(body["action"], "index");
        assert_eq!(body["concurrency"], 4);
        assert!(new_job_body(&["https://b/k".into()], 1, &settings, &Tuning::default())
            .unwrap_err()
            .contains("Local files"));
        settings.id = IdStrategy::Auto;
        assert!(new_job_body(&["https://b/k".into()], 0, &settings, &Tuning::default()).is_err());
    }

    #[test]
    fn config_json_may_name_the_edge() {
        assert_eq!(
            parse_edge(r#"{"edge": "https://edge.example.com/"}"#),
            Some("https://edge.example.com".into())
        );
        assert_eq!(
            parse_edge(r#"{"edge": ""}"#),
            Some(String::new()),
            "the site's own origin"
        );
        assert_eq!(parse_edge(r#"{"edge": "javascript:x"}"#), None);
        assert_eq!(parse_edge("{}"), None);
    }

    #[test]
    fn the_card_says_where_a_retry_stands() {
        assert_eq!(retry_line(&json!({"status": "completed"})), None);
        let running = json!({"retry": {"status": "running", "sent": 2499, "total": 10000}});
        assert_eq!(
            retry_line(&running).unwrap(),
            "Retrying failed records at the edge: 2499 of 10000 sent…"
        );
        let done = json!({"retry": {"status": "completed", "indexed": 9, "still_failing": 1}});
        assert_eq!(
            retry_line(&done).unwrap(),
            "Retry finished: 9 indexed, 1 still failing."
        );
        let answer = json!({"reasons": [{"reason": "`status` is not a number", "count": 10}, {"reason": 3}]});
        assert_eq!(reason_groups(&answer), [("`status` is not a number".to_string(), 10)]);
        let stopped = json!({"retry": {"status": "stopped", "message": "the cluster refused"}});
        assert!(retry_line(&stopped).unwrap().contains("the cluster refused"));
    }

    #[test]
    fn column_types_are_offered_for_the_columns_of_csv_parts_only() {
        let json_job = json!({"parts": [{"status": "completed"}]});
        assert_eq!(csv_columns(&json_job), None);
        let csv_job = json!({"parts": [
            {"csv_columns": ["id", "qty"]},
            {"csv_columns": ["id", "price"]},
            {"status": "pending"}
        ]});
        assert_eq!(csv_columns(&csv_job).unwrap(), ["id", "qty", "price"]);
        assert_eq!(
            reasons_counted_of_some(&json!({"partial": true, "counted": 100000})),
            Some(100000)
        );
        assert_eq!(reasons_counted_of_some(&json!({"partial": false, "counted": 10})), None);
    }

    #[test]
    fn the_card_says_where_the_job_stands() {
        assert!(status_line(&json!({"status": "running"})).contains("keeps going when this tab closes"));
        assert_eq!(status_line(&json!({"status": "completed"})), "Completed");
    }
}
