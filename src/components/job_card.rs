//! One import's card: progress, figures, state in words, its controls, its failed records and their repair.

use leptos::prelude::*;

use crate::runner::{JobState, JobView, Runner};

/// One import: progress, figures, state in words, and its controls.
#[component]
pub(crate) fn JobCard(
    job: JobView,
    runner: Runner,
    jobs: RwSignal<Vec<JobView>>,
    dashboards: RwSignal<Option<String>>,
) -> impl IntoView {
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
    // Reading runs ahead of what is done (indexed or kept as a failed record, safe on a reload) by up to a few
    // batches: the bar shows both, so it moves while a batch is on its way, not only when it is acknowledged.
    let read_percent = move || {
        if state.get() == JobState::Completed {
            return Some(100.0);
        }
        let p = totals.get();
        p.total_bytes
            .filter(|t| *t > 0)
            .map(|t| (p.bytes_read.max(p.committed_offset) as f64 / t as f64 * 100.0).min(100.0))
    };
    let done_bytes = move || {
        let p = totals.get();
        match p.total_bytes.filter(|_| state.get() == JobState::Completed) {
            Some(total) => human_bytes(total as f64),
            None => human_bytes(p.committed_offset as f64),
        }
    };
    let read_bytes = move || {
        let p = totals.get();
        human_bytes(p.bytes_read.max(p.committed_offset) as f64)
    };
    // A gzip object's size is of its compressed bytes, not of what is read: no total then.
    let of_total = move || {
        totals
            .get()
            .total_bytes
            .filter(|t| *t > 0)
            .map(|t| format!(" of {}", human_bytes(t as f64)))
            .unwrap_or_default()
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
                let flow = if p.concurrency > 0 {
                    format!(" · {} requests at a time", p.concurrency)
                } else {
                    String::new()
                };
                let busy = if p.rejections_per_min > 0 {
                    format!(
                        " · cluster busy: {} rejections in the last minute",
                        p.rejections_per_min
                    )
                } else {
                    String::new()
                };
                format!(
                    " · {:.0} docs/s · {:.1} MB/s{flow}{busy}{eta}",
                    p.docs_per_sec,
                    p.bytes_per_sec / 1e6
                )
            } else {
                String::new()
            };
            let retried = if p.retried_requests > 0 {
                format!("{} retried in {} requests", p.retried, p.retried_requests)
            } else {
                format!("{} retried", p.retried)
            };
            format!(
                "{} records read · {} indexed · {} failed · {retried}{speed}",
                p.records, p.indexed, p.failed
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
    let repair_panel = view! { <crate::components::repair::RepairPanel job=job.clone() runner=runner.clone() dashboards=dashboards /> };
    let several = job.parts.len() > 1;
    let parts = job.parts.clone();
    let title = format!("{} → {}", job.source(), job.index);
    let label = title.clone();
    view! {
        <article class="card job" aria-label=label>
            <h3>{title}</h3>
            // Without a known size (gzip) the bar has no value: an indeterminate bar, not a false 0 %.
            <div class="bar" class:indeterminate=move || percent().is_none() role="progressbar"
                aria-label="Progress of this import" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=move || percent().map(|p| format!("{p:.1}"))
                aria-valuetext=move || percent().map_or("size unknown".into(), |p| format!("{p:.0} % done"))>
                <div class="read" style:transform=move || format!("scaleX({:.4})", read_percent().unwrap_or(0.0) / 100.0)></div>
                <div class="done" style:transform=move || format!("scaleX({:.4})", percent().unwrap_or(0.0) / 100.0)></div>
            </div>
            <p class="bar-legend">
                <span class="swatch done" aria-hidden="true"></span>{done_bytes}" done (indexed or kept as failed) · "
                <span class="swatch read" aria-hidden="true"></span>{read_bytes}" read"{of_total}
            </p>
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
            // A few samples draw a speck, not a line: an import over in a second or two shows none.
            {move || (job.rates.with(Vec::len) >= SPARKLINE_SAMPLES).then(|| view! { <Sparkline rates=job.rates /> })}
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
            {repair_panel}
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
pub(crate) fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.0} kB", b / 1e3),
        b => format!("{b:.0} bytes"),
    }
}

/// Up to `limit` failed records of a job, object by object, each with the object's label.
pub(crate) async fn job_dead_letters(job: &JobView, limit: u32) -> Vec<(String, sluice_engine::DeadLetter)> {
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

/// Progress reports needed before the throughput line is drawn.
const SPARKLINE_SAMPLES: usize = 10;

/// A small throughput line (docs/s over the last samples).
#[component]
pub(crate) fn Sparkline(rates: RwSignal<Vec<f64>>) -> impl IntoView {
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

pub(crate) fn download_file(name: &str, bytes: &[u8], media_type: &str) {
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
