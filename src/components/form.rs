//! The import form: sources, target index, options; the preview and the index check before Import.

use leptos::prelude::*;
use sluice_engine::ImportSettings;

use sluice_engine::settings::CsvOptions;
use sluice_engine::{FormatChoice, IdStrategy};

use crate::browser::file_access::PickedFile;
use crate::components::csv_options::CsvOptionsRow;
use crate::components::job_card::human_bytes;
use crate::components::preview::{FieldChoices, IndexState, PreviewPanel};
use crate::runner::ImportRequest;

/// The import form: URL + index + Import is enough; the rest has sensible defaults.
#[component]
pub(crate) fn ImportForm(
    allowed: RwSignal<Vec<String>>,
    ready: RwSignal<bool>,
    on_start: impl Fn(ImportRequest) + 'static + Clone,
    proxy: RwSignal<String>,
    token: RwSignal<Option<String>>,
    create_allowed: RwSignal<bool>,
    edge: RwSignal<Option<String>>,
    on_edge_job: impl Fn(crate::components::edge::EdgeJob) + 'static + Clone,
) -> impl IntoView {
    use sluice_engine::{Action, Tuning};
    let urls = RwSignal::new(String::new());
    // Picked or dropped files (browser objects: this tab only).
    let files: RwSignal<Vec<PickedFile>, LocalStorage> = RwSignal::new_local(Vec::new());
    let lasting_access = crate::browser::file_access::picker_available();
    let dragging = RwSignal::new(false);
    let index = RwSignal::new(String::new());
    let format = RwSignal::new("auto".to_string());
    let csv = RwSignal::new(CsvOptions::default());
    let id_field = RwSignal::new(String::new());
    let action = RwSignal::new("index".to_string());
    let batch_mib = RwSignal::new("5".to_string());
    let batch_docs = RwSignal::new("5000".to_string());
    let in_flight = RwSignal::new("4".to_string());
    let checkpoint_every = RwSignal::new("1".to_string());
    let pipeline = RwSignal::new(String::new());
    let problem: RwSignal<Option<String>> = RwSignal::new(None);
    let at_edge = RwSignal::new(false);
    let inspected = Inspection::new(
        urls,
        files,
        SampleChoices { format, csv, id_field },
        index,
        proxy,
        token,
    );
    let pipelines: RwSignal<Vec<(String, Option<String>)>> = RwSignal::new(Vec::new());
    Effect::new(move |_| {
        if !ready.get() {
            return;
        }
        let (base, key) = (proxy.get_untracked(), token.get_untracked());
        leptos::task::spawn_local(async move {
            pipelines.set(crate::browser::inspect::pipelines(&base, key.as_deref()).await);
        });
    });
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
        if let Some(Ok(sample)) = inspected.preview.get_untracked() {
            if let Some(message) = sample.wrong_file {
                return problem.set(Some(format!("Not imported: {message}. Pick the right file or URL.")));
            }
        }
        let mut settings = ImportSettings::new(index.get_untracked().trim());
        settings.transforms = inspected.choices.get_untracked().transforms();
        settings.format = FormatChoice::parse(&format.get_untracked()).unwrap_or_default();
        settings.csv = csv.get_untracked();
        settings.action = if action.get_untracked() == "create" {
            Action::Create
        } else {
            Action::Index
        };
        settings.id = IdStrategy::from_field(&id_field.get_untracked());
        let pipeline_name = pipeline.get_untracked().trim().to_string();
        settings.pipeline = (!pipeline_name.is_empty()).then_some(pipeline_name);
        if let Err(message) = settings.validate() {
            return problem.set(Some(format!("Index: {message}")));
        }
        problem.set(None);
        if let (true, Some(edge_base)) = (at_edge.get_untracked(), edge.get_untracked()) {
            let body = match crate::components::edge::new_job_body(&list, picked.len(), &settings, &tuning) {
                Ok(body) => body,
                Err(message) => return problem.set(Some(message)),
            };
            let first = sluice_engine::source_url::redact(&list[0]);
            let more = list.len() - 1;
            let title = if more == 0 {
                format!("{first} → {}", settings.index)
            } else {
                format!("{first} and {more} more → {}", settings.index)
            };
            let on_edge_job = on_edge_job.clone();
            leptos::task::spawn_local(async move {
                let key = token.get_untracked();
                match crate::components::edge::hand_over(&edge_base, key.as_deref(), &body).await {
                    Ok(id) => {
                        on_edge_job(crate::components::edge::EdgeJob {
                            id,
                            edge: edge_base,
                            title,
                        });
                        urls.set(String::new());
                    }
                    Err(message) => problem.set(Some(message)),
                }
            });
            return;
        }
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
            <label for="files">"Or local files (JSON array, JSON Lines, CSV, TSV, .gz), picked here or dropped on this form"</label>
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
                        prop:value=move || index.get() on:input=move |ev| index.set(event_target_value(&ev))
                        on:change=move |_| inspected.check_index() />
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
                        <option value="csv">"CSV"</option>
                        <option value="tsv">"TSV (tab-separated)"</option>
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
            {move || {
                let chosen = matches!(format.get().as_str(), "csv" | "tsv");
                let detected = inspected.preview.with(|p| {
                    matches!(p, Some(Ok(sample)) if sample.format.is_some_and(|f| f.is_delimited()))
                });
                (chosen || detected || csv.with(|o| !o.is_default())).then(|| view! { <CsvOptionsRow options=csv /> })
            }}
            <details>
                <summary>"Advanced"</summary>
                <div class="row">
                    <div class="field"><label for="batch-mib">"Batch size (MiB)"</label>{text_input("batch-mib", batch_mib)}</div>
                    <div class="field"><label for="batch-docs">"Batch size (records)"</label>{text_input("batch-docs", batch_docs)}</div>
                    <div class="field"><label for="in-flight">"Requests in flight"</label>{text_input("in-flight", in_flight)}</div>
                    <div class="field"><label for="checkpoint-every">"Checkpoint every (batches)"</label>{text_input("checkpoint-every", checkpoint_every)}</div>
                    <div class="field"><label for="pipeline">"Ingest pipeline"</label>
                        <input type="text" id="pipeline" list="pipelines" prop:value=move || pipeline.get()
                            on:input=move |ev| pipeline.set(event_target_value(&ev)) />
                        <datalist id="pipelines">
                            {move || pipelines.get().into_iter().map(|(name, description)| {
                                let label = description.unwrap_or_else(|| name.clone());
                                view! { <option value=name>{label}</option> }
                            }).collect_view()}
                        </datalist>
                    </div>
                </div>
            </details>
            <PreviewPanel preview=inspected.preview csv=csv index=index index_state=inspected.index_state
                choices=inspected.choices create_allowed=create_allowed create=inspected.create_callback()
                create_problem=inspected.create_problem />
            {move || problem.get().map(|message| view! { <p role="alert" class="error">{message}</p> })}
            {move || edge.get().is_some().then(|| view! {
                <label class="setting at-edge">
                    <input type="checkbox" id="run-at-edge" prop:checked=move || at_edge.get()
                        on:change=move |ev| at_edge.set(event_target_checked(&ev)) />
                    " Run at the edge (keeps going when this tab closes)"
                </label>
            })}
            <button type="submit" disabled=move || !ready.get()>"Import"</button>
        </form>
    }
}

/// The preview's state: the head of the first source, the sample made of it, the target index's mapping, and the
/// analyst's choices in the field list. Reading happens here; the panel only renders.
#[derive(Clone, Copy)]
struct Inspection {
    preview: Memo<Option<Result<sluice_engine::preview::Preview, String>>>,
    index_state: RwSignal<IndexState>,
    choices: RwSignal<FieldChoices>,
    create_problem: RwSignal<Option<String>>,
    index: RwSignal<String>,
    proxy: RwSignal<String>,
    token: RwSignal<Option<String>>,
    /// Bumped for each new check, so a slow answer for an old index name is dropped.
    generation: RwSignal<u64>,
}

/// The form's choices that change what the sample is (the import uses the same ones).
#[derive(Clone, Copy)]
struct SampleChoices {
    format: RwSignal<String>,
    csv: RwSignal<CsvOptions>,
    id_field: RwSignal<String>,
}

impl Inspection {
    fn new(
        urls: RwSignal<String>,
        files: RwSignal<Vec<PickedFile>, LocalStorage>,
        SampleChoices { format, csv, id_field }: SampleChoices,
        index: RwSignal<String>,
        proxy: RwSignal<String>,
        token: RwSignal<Option<String>>,
    ) -> Self {
        type Head = Option<Result<(Vec<u8>, bool), String>>;
        let head: RwSignal<Head> = RwSignal::new(None);
        // The first source, by what identifies it: a new one is read again, an unchanged one is not.
        let first_url =
            Memo::new(move |_| urls.with(|text| text.lines().map(str::trim).find(|l| !l.is_empty()).map(String::from)));
        let first_file = Memo::new(move |_| {
            files.with(|picked| {
                picked
                    .first()
                    .map(|p| format!("{}/{}/{}", p.file.name(), p.file.size(), p.file.last_modified()))
            })
        });
        let reads = RwSignal::new(0u64);
        Effect::new(move |_| {
            let (url, file_key) = (first_url.get(), first_file.get());
            let generation = reads.get_untracked() + 1;
            reads.set(generation);
            let file = file_key.and_then(|_| files.with_untracked(|picked| picked.first().map(|p| p.file.clone())));
            let Some(source) = url.map(Ok).or(file.map(Err)) else {
                head.set(None);
                return;
            };
            leptos::task::spawn_local(async move {
                let read = match source {
                    Ok(url) => crate::browser::inspect::url_head(&url).await,
                    Err(file) => crate::browser::inspect::file_head(&file).await,
                };
                if reads.get_untracked() == generation {
                    head.set(Some(read));
                }
            });
        });
        let preview = Memo::new(move |_| {
            // The settings that change what the sample is: the import uses the same ones.
            let mut settings = ImportSettings::new("preview");
            settings.format = FormatChoice::parse(&format.get()).unwrap_or_default();
            settings.id = IdStrategy::from_field(&id_field.get());
            settings.csv = csv.get();
            head.with(|head| {
                head.as_ref().map(|read| {
                    read.as_ref().map_err(Clone::clone).map(|(bytes, complete)| {
                        sluice_engine::preview::Preview::from_head(bytes, *complete, &settings)
                    })
                })
            })
        });
        let inspection = Inspection {
            preview,
            index_state: RwSignal::new(IndexState::Unknown),
            choices: RwSignal::new(FieldChoices::default()),
            create_problem: RwSignal::new(None),
            index,
            proxy,
            token,
            generation: RwSignal::new(0),
        };
        // A new sample is checked against the index already named.
        Effect::new(move |_| {
            if matches!(preview.get(), Some(Ok(_))) {
                inspection.check_index();
            }
        });
        inspection
    }

    /// Asks the proxy for the index's mapping (when there is a sample to check and an index name).
    fn check_index(self) {
        let name = self.index.get_untracked().trim().to_string();
        let generation = self.generation.get_untracked() + 1;
        self.generation.set(generation);
        self.create_problem.set(None);
        if name.is_empty() || !matches!(self.preview.get_untracked(), Some(Ok(_))) {
            self.index_state.set(IndexState::Unknown);
            return;
        }
        if let Err(message) = ImportSettings::new(name.clone()).validate() {
            self.index_state.set(IndexState::Unreadable(message));
            return;
        }
        self.index_state.set(IndexState::Checking);
        let (base, key) = (self.proxy.get_untracked(), self.token.get_untracked());
        leptos::task::spawn_local(async move {
            let state = match crate::browser::inspect::index_mapping(&base, key.as_deref(), &name).await {
                Ok(Some(mapping)) => IndexState::Exists(mapping),
                Ok(None) => IndexState::Missing,
                Err(message) => IndexState::Unreadable(message),
            };
            if self.generation.get_untracked() == generation {
                self.index_state.set(state);
            }
        });
    }

    /// Creates the index with the proposed mapping, then checks it again.
    fn create_callback(self) -> Callback<serde_json::Value> {
        Callback::new(move |mappings: serde_json::Value| {
            let name = self.index.get_untracked().trim().to_string();
            let (base, key) = (self.proxy.get_untracked(), self.token.get_untracked());
            leptos::task::spawn_local(async move {
                match crate::browser::inspect::create_index(&base, key.as_deref(), &name, &mappings).await {
                    Ok(()) => self.check_index(),
                    Err(message) => self
                        .create_problem
                        .set(Some(format!("The index was not created: {message}"))),
                }
            });
        })
    }
}
