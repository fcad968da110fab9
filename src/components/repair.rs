//! Repair on a job's card: the summary of a finished import, its failed records grouped by reason, and **Retry
//! failed records** once the analyst fixed the cause (a transform here, a pipeline, a mapping change).
//!
//! The retry runs on the page through the engine's `repair::retry_dead_letters`, under the job's Web Lock, and
//! settles each batch in IndexedDB (indexed records leave the dead-letter store, the others get their new reason).
//! A marker in local storage (`sluice.retry.<job>`, holding the analyst's [`RepairChoice`]) says a retry was under
//! way: after a reload the page runs it again over the dead letters still stored, and the records' deterministic
//! ids make anything sent twice an overwrite.

use leptos::prelude::*;
use sluice_engine::job::StoreError;
pub use sluice_engine::repair::RepairChoice;
use sluice_engine::repair::{group_reasons, retry_dead_letters, RetryLedger};
use sluice_engine::transform::{Transform, TransformContext};
use sluice_engine::{Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore, Tuning};

use crate::browser::store::IdbStore;
use crate::components::settings::{forget, store, stored, Storage};
use crate::runner::{JobState, JobView, RepairState, Runner};

fn marker(job_id: &str) -> String {
    format!("sluice.retry.{job_id}")
}

/// A part's dead letters in IndexedDB, seen from a retry.
struct PartLedger<'a> {
    store: &'a IdbStore,
    part: String,
}

impl RetryLedger for PartLedger<'_> {
    async fn settle(&self, indexed: &[u64], still_failing: &[DeadLetter]) -> Result<(), StoreError> {
        self.store.store(&self.part, still_failing).await?;
        self.store.delete_dead_letters(&self.part, indexed).await
    }
}

/// Runs (or, after a reload, resumes) the retry of a job's failed records with the analyst's `choice` applied over
/// the job's settings. Updates `job.repair` and the parts' figures as it goes.
pub async fn retry_failed(job: JobView, runner: Runner, choice: RepairChoice) {
    let Some(_lock) = crate::browser::tabs::try_lock(&job.id).await else {
        job.repair.set(Some(RepairState::Stopped(
            "this import is open in another tab of this browser; retry its failed records there".into(),
        )));
        return;
    };
    store(
        &marker(&job.id),
        &serde_json::to_string(&choice).unwrap_or_default(),
        Storage::Local,
    );
    let outcome = retry_parts(&job, &runner, &choice).await;
    forget(&marker(&job.id), Storage::Local);
    job.repair.set(Some(match outcome {
        Ok((indexed, failed)) => RepairState::Done(indexed, failed),
        Err(message) => RepairState::Stopped(message),
    }));
}

/// Failed records are read and retried this many at a time, so memory stays flat however many there are.
const PAGE: u32 = 5000;

async fn retry_parts(job: &JobView, runner: &Runner, choice: &RepairChoice) -> Result<(u64, u64), String> {
    let idb = IdbStore::open().await.map_err(|e| e.to_string())?;
    // The parts' failure counts say how many there are to retry, without reading them all.
    let total: u64 = job.parts.iter().map(|p| p.progress.get_untracked().failed).sum();
    let (mut indexed, mut failed, mut done) = (0, 0, 0);
    job.repair.set(Some(RepairState::Running(0, total)));
    let sink = crate::browser::sink::ProxySink::new(&runner.proxy.get_untracked(), runner.token.get_untracked());
    let tuning = Tuning {
        batch_docs: 500,
        ..Tuning::default()
    };
    for part in &job.parts {
        let Some(mut checkpoint): Option<Checkpoint> = idb.load(&part.id).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let settings = choice.settings_for(&checkpoint)?;
        let context = TransformContext {
            source_name: checkpoint.source.display_name(),
            import_started_ms: checkpoint.created_at_ms,
        };
        let namespace = checkpoint.source.id_namespace();
        let ledger = PartLedger {
            store: &idb,
            part: part.id.clone(),
        };
        let mut from = 0;
        loop {
            let letters = idb
                .dead_letters_from(&part.id, from, PAGE)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = letters.last().map(|l| l.offset) else {
                break;
            };
            from = last + 1;
            let count = letters.len() as u64;
            let repair = job.repair;
            let before = done;
            let mut on_progress =
                |n: u64, _: u64| repair.set(Some(RepairState::Running(before + n, total.max(before + n))));
            let report = retry_dead_letters(
                letters,
                &settings,
                &namespace,
                &context,
                checkpoint.csv.as_ref(),
                &tuning,
                &sink,
                &crate::browser::clock::BrowserClock,
                &ledger,
                &mut on_progress,
            )
            .await
            .map_err(|e| e.to_string())?;
            done += count;
            indexed += report.indexed;
            failed += report.failed + report.skipped;
        }
        // The import's figures follow the repair (counted from what is still stored, so a retry interrupted and
        // resumed counts right); its settings stay those it ran with.
        let remaining = idb.count_dead_letters(&part.id).await.map_err(|e| e.to_string())?;
        checkpoint.settle_repair(remaining);
        idb.save(&checkpoint).await.map_err(|e| e.to_string())?;
        let indexed_now = checkpoint.counters.indexed;
        part.progress.update(|p| {
            p.indexed = indexed_now;
            p.failed = remaining;
        });
    }
    Ok((indexed, failed))
}

/// The failed records' reasons grouped, read a page at a time and at most [`GROUPED`] of them.
async fn grouped_reasons(idb: &IdbStore, job: &JobView) -> (Vec<(String, u64)>, bool) {
    let mut reasons = Vec::new();
    for part in &job.parts {
        let mut from = 0;
        while reasons.len() < GROUPED {
            let Ok(page) = idb.dead_letters_from(&part.id, from, PAGE).await else {
                break;
            };
            let Some(last) = page.last().map(|l| l.offset) else {
                break;
            };
            from = last + 1;
            reasons.extend(page.into_iter().map(|l| l.reason));
        }
    }
    let more = reasons.len() >= GROUPED;
    (group_reasons(reasons.iter().map(String::as_str)), more)
}

/// Reasons grouped at most: enough to name every cause an analyst needs to fix.
const GROUPED: usize = 100_000;

/// Jobs whose retry was interrupted (a reload, a closed tab): what the analyst had chosen for it.
pub fn interrupted_retry(job_id: &str) -> Option<RepairChoice> {
    let text = stored(&marker(job_id), Storage::Local)?;
    serde_json::from_str(&text)
        .ok()
        // A marker left by an earlier version of the page: its extra transforms alone.
        .or_else(|| {
            serde_json::from_str(&text).ok().map(|transforms| RepairChoice {
                transforms,
                ..RepairChoice::default()
            })
        })
}

/// The repair form's fields as a choice: "old=new, a=b" → renames; "x, y" → drops; "qty=keyword" → column types,
/// each a column of `columns` (the CSV job's header; `None` where the retry itself checks them: at the edge). Empty
/// parts are ignored.
pub fn parse_repair_choice(
    renames: &str,
    drops: &str,
    types: &str,
    columns: Option<&[String]>,
) -> Result<RepairChoice, String> {
    let csv = sluice_engine::settings::CsvOptions {
        column_types: sluice_engine::settings::CsvOptions::parse_column_types(types)?,
        ..Default::default()
    };
    if let Some(columns) = columns {
        sluice_engine::csv_source::check_chosen_columns(&csv, columns)?;
    }
    Ok(RepairChoice {
        transforms: parse_repair_transforms(renames, drops)?,
        column_types: csv.column_types,
    })
}

/// "old=new, a=b" → renames; "x, y" → drops. Empty parts are ignored; a rename without '=' is an error.
fn parse_repair_transforms(renames: &str, drops: &str) -> Result<Vec<Transform>, String> {
    let mut steps = Vec::new();
    for pair in renames.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((from, to)) = pair.split_once('=') else {
            return Err(format!("'{pair}': write a rename as old=new"));
        };
        steps.push(Transform::Rename {
            from: from.trim().to_string(),
            to: to.trim().to_string(),
        });
    }
    for field in drops.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        steps.push(Transform::Drop {
            field: field.to_string(),
        });
    }
    for step in &steps {
        step.validate()?;
    }
    Ok(steps)
}

/// The summary and the repair panel of a finished import.
#[component]
pub fn RepairPanel(job: JobView, runner: Runner, dashboards: RwSignal<Option<String>>) -> impl IntoView {
    let groups: RwSignal<Option<Vec<(String, u64)>>> = RwSignal::new(None);
    // True when only the first failed records were grouped (there are more than GROUPED).
    let partial = RwSignal::new(false);
    let summary: RwSignal<Option<String>> = RwSignal::new(None);
    let renames = RwSignal::new(String::new());
    let drops = RwSignal::new(String::new());
    let types = RwSignal::new(String::new());
    // The header of a CSV job (from its first part's checkpoint); none for JSON sources.
    let csv_columns: RwSignal<Option<Vec<String>>> = RwSignal::new(None);
    let problem: RwSignal<Option<String>> = RwSignal::new(None);
    let state = job.state;
    let repair = job.repair;
    let failed = {
        let job = job.clone();
        Signal::derive(move || job.totals().failed)
    };
    // Reload the groups and the summary whenever the job completes or a retry ends.
    {
        let job = job.clone();
        Effect::new(move |_| {
            let completed = state.get() == JobState::Completed;
            let settled = !matches!(repair.get(), Some(RepairState::Running(..)));
            if !(completed && settled) {
                return;
            }
            let job = job.clone();
            leptos::task::spawn_local(async move {
                let Ok(idb) = IdbStore::open().await else { return };
                let mut checkpoints = Vec::new();
                for part in &job.parts {
                    if let Ok(Some(checkpoint)) = idb.load(&part.id).await {
                        checkpoints.push(checkpoint);
                    }
                }
                let (found, more) = grouped_reasons(&idb, &job).await;
                csv_columns.set(
                    checkpoints
                        .iter()
                        .find_map(|c| c.csv.as_ref())
                        .map(|layout| layout.columns.names.clone()),
                );
                groups.set(Some(found));
                partial.set(more);
                summary.set(summary_of(&checkpoints));
            });
        });
    }
    let start = {
        let job = job.clone();
        let runner = runner.clone();
        move |_| match parse_repair_choice(
            &renames.get_untracked(),
            &drops.get_untracked(),
            &types.get_untracked(),
            Some(&csv_columns.get_untracked().unwrap_or_default()),
        ) {
            Ok(choice) => {
                problem.set(None);
                let (job, runner) = (job.clone(), runner.clone());
                leptos::task::spawn_local(retry_failed(job, runner, choice));
            }
            Err(message) => problem.set(Some(message)),
        }
    };
    let index = job.index.clone();
    let id = job.id.clone();
    move || {
        (state.get() == JobState::Completed).then(|| {
            let start = start.clone();
            let index = index.clone();
            let id = id.clone();
            view! {
                <div class="repair">
                    {move || summary.get().map(|text| view! { <p class="summary" id=format!("summary-{}", id)>{text}</p> })}
                    {
                        let index = index.clone();
                        move || dashboards.get().map(|base| {
                            let href = format!("{}/app/data-explorer/discover#?_q=(query:(language:kuery,query:''))&_a=(metadata:(indexPattern:'{}'))", base.trim_end_matches('/'), index);
                            view! { <p><a href=href target="_blank" rel="noopener">{format!("Open {} in OpenSearch Dashboards (Discover)", index)}</a></p> }
                        })
                    }
                    {move || repair.get().map(|r| match r {
                        RepairState::Running(done, total) => view! { <p role="status" class="notice repair-status">{format!("Retrying failed records: {done} of {total}…")}</p> }.into_any(),
                        RepairState::Done(indexed, still) => view! { <p role="status" class="notice repair-status">{format!("Retry finished: {indexed} indexed, {still} still failing.")}</p> }.into_any(),
                        RepairState::Stopped(message) => view! { <p role="alert" class="error repair-status">{format!("The retry stopped: {message}. The records not yet indexed are still in the failed list; retry again.")}</p> }.into_any(),
                    })}
                    {move || (failed.get() > 0).then(|| {
                        let start = start.clone();
                        view! {
                            <div class="failed-groups">
                                <p><strong>{move || format!("{} records failed:", failed.get())}</strong></p>
                                <ul class="reasons">
                                    {move || groups.get().unwrap_or_default().into_iter().map(|(reason, count)| view! { <li>{format!("{reason} ({count})")}</li> }).collect_view()}
                                </ul>
                                {move || partial.get().then(|| view! { <p class="muted">{format!("Causes of the first {GROUPED} failed records.")}</p> })}
                                <p class="muted">"Fix the cause first: a mapping change or a pipeline on the cluster, or change the records here. Then only the failed records are sent again, with the same ids."</p>
                                <label>"Rename fields (old=new, comma-separated)"
                                    <input type="text" class="repair-rename" prop:value=move || renames.get() on:input=move |ev| renames.set(event_target_value(&ev)) /></label>
                                <label>"Drop fields (comma-separated)"
                                    <input type="text" class="repair-drop" prop:value=move || drops.get() on:input=move |ev| drops.set(event_target_value(&ev)) /></label>
                                {move || csv_columns.get().map(|columns| view! {
                                    <label>"Change column types (column=type, comma-separated: keyword, long, double, boolean, date)"
                                        <input type="text" class="repair-types" placeholder=format!("columns: {}", columns.join(", "))
                                            prop:value=move || types.get() on:input=move |ev| types.set(event_target_value(&ev)) /></label>
                                })}
                                {move || problem.get().map(|m| view! { <p role="alert" class="error">{m}</p> })}
                                <button type="button" class="retry-failed" disabled=move || matches!(repair.get(), Some(RepairState::Running(..)))
                                    on:click=start.clone()>"Retry failed records"</button>
                            </div>
                        }
                    })}
                </div>
            }
        })
    }
}

/// "Done in 2 min 5 s · 9 990 docs/s on average · 12.3 MB/s" from the parts' checkpoints.
fn summary_of(checkpoints: &[Checkpoint]) -> Option<String> {
    let started = checkpoints.iter().map(|c| c.created_at_ms).min()?;
    let ended = checkpoints.iter().map(|c| c.updated_at_ms).max()?;
    let indexed: u64 = checkpoints.iter().map(|c| c.counters.indexed).sum();
    let failed: u64 = checkpoints.iter().map(|c| c.counters.failed).sum();
    let bytes: u64 = checkpoints.iter().map(|c| c.committed_offset).sum();
    let seconds = (ended.saturating_sub(started) as f64 / 1000.0).max(0.001);
    Some(format!(
        "Done in {} · {indexed} indexed, {failed} failed · {:.0} docs/s and {:.1} MB/s on average",
        sluice_engine::progress::human_duration(ended.saturating_sub(started)),
        indexed as f64 / seconds,
        bytes as f64 / seconds / 1e6
    ))
}
