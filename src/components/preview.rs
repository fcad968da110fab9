//! The preview of the first object, shown before Import: its records, its fields (with a type choice for a new
//! index's mapping and a rename / drop per field), the wrong-file verdict, and the target index's conflicts.
//! All the judgement is the engine's (`preview`, `mapping`); this renders it and keeps the analyst's choices.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use sluice_engine::mapping::{check_sample, propose_mapping, Conflict, IndexMapping};
use sluice_engine::preview::{cell_text, FieldType, Preview, TABLE_ROWS};
use sluice_engine::settings::CsvOptions;
use sluice_engine::transform::Transform;

use crate::components::csv_options::ColumnTypes;

/// What the page knows about the target index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexState {
    /// No index name yet, or no preview to check.
    Unknown,
    /// Asking the proxy.
    Checking,
    /// It exists, with this mapping.
    Exists(IndexMapping),
    /// It does not exist (yet).
    Missing,
    /// The proxy could not tell.
    Unreadable(String),
}

/// The analyst's choices in the field list: what becomes of each field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldChoices {
    /// Types for a new index's mapping, where they differ from the inferred ones.
    pub types: BTreeMap<String, FieldType>,
    /// New names, by path.
    pub renames: BTreeMap<String, String>,
    /// Fields not to send.
    pub drops: BTreeSet<String>,
    /// Date fields to parse into ISO-8601 (common forms: a space or a `T`, with or without a zone, epoch millis).
    pub dates: BTreeSet<String>,
    /// A field to set to the object's name.
    pub source_name_field: String,
    /// A constant field: its name and its value (JSON when it parses, else text).
    pub constant: (String, String),
}

impl FieldChoices {
    /// The transforms these choices make, in the order the CLI documents (renames, drops, then set fields).
    pub fn transforms(&self) -> Vec<Transform> {
        let mut steps: Vec<Transform> = self
            .renames
            .iter()
            .filter(|(from, to)| !to.trim().is_empty() && to.trim() != from.as_str() && !self.drops.contains(*from))
            .map(|(from, to)| Transform::Rename {
                from: from.clone(),
                to: to.trim().to_string(),
            })
            .collect();
        // Dates are parsed at their new names, after the renames.
        steps.extend(self.dates.iter().filter(|f| !self.drops.contains(*f)).map(|field| {
            Transform::ParseDate {
                field: self
                    .renames
                    .get(field)
                    .map(|to| to.trim())
                    .filter(|to| !to.is_empty())
                    .unwrap_or(field)
                    .to_string(),
                format: None,
            }
        }));
        steps.extend(self.drops.iter().map(|field| Transform::Drop { field: field.clone() }));
        let source = self.source_name_field.trim();
        if !source.is_empty() {
            steps.push(Transform::SetSourceName {
                field: source.to_string(),
            });
        }
        let (name, value) = (self.constant.0.trim(), &self.constant.1);
        if !name.is_empty() {
            steps.push(Transform::Set {
                field: name.to_string(),
                value: value.clone(),
            });
        }
        steps
    }
}

/// The conflicts of a preview against the index, or none when it is not known to exist.
pub fn conflicts_of(preview: &Preview, index: &IndexState) -> Vec<Conflict> {
    match index {
        IndexState::Exists(mapping) => check_sample(preview, mapping),
        _ => Vec::new(),
    }
}

/// The preview panel. `create` is called with the proposed mapping when the analyst presses Create index.
#[component]
pub fn PreviewPanel(
    preview: Memo<Option<Result<Preview, String>>>,
    csv: RwSignal<CsvOptions>,
    index: RwSignal<String>,
    index_state: RwSignal<IndexState>,
    choices: RwSignal<FieldChoices>,
    create_allowed: RwSignal<bool>,
    create: Callback<serde_json::Value>,
    create_problem: RwSignal<Option<String>>,
) -> impl IntoView {
    move || {
        let sample = match preview.get() {
            None => return None,
            Some(Err(message)) => {
                return Some(
                    view! { <p role="alert" class="error" id="preview-error">{format!("Cannot preview this source: {message}")}</p> }
                        .into_any(),
                )
            }
            Some(Ok(sample)) => sample,
        };
        if let Some(message) = &sample.wrong_file {
            return Some(
                view! {
                    <section class="card preview" aria-labelledby="preview-heading">
                        <h2 id="preview-heading">"Preview"</h2>
                        <p role="alert" class="error" id="wrong-file">{format!("This cannot be imported: {message}.")}</p>
                    </section>
                }
                .into_any(),
            );
        }
        let format = sample.format.map_or("unknown format".to_string(), |f| f.to_string());
        let summary = format!(
            "{format} · {} records sampled from the first {} KiB{}{}",
            sample.records.len(),
            sample.bytes / 1024,
            if sample.complete { " (the whole source)" } else { "" },
            if sample.invalid_count > 0 {
                format!(" · {} would fail (not valid records)", sample.invalid_count)
            } else {
                String::new()
            }
        );
        let columns = sample.columns();
        let rows: Vec<Vec<String>> = sample
            .records
            .iter()
            .take(TABLE_ROWS)
            .map(|record| columns.iter().map(|c| cell_text(record.get(c), 40)).collect())
            .collect();
        let state = index_state.get();
        let conflicts = conflicts_of(&sample, &state);
        let sampled = sample.records.len();
        let index_name = match &state {
            IndexState::Exists(mapping) => mapping.index.clone(),
            _ => index.get_untracked(),
        };
        let missing = state == IndexState::Missing;
        let invalid = sample.invalid.clone();
        let invalid_count = sample.invalid_count;
        let duplicates = sample.duplicate_ids.clone();
        let fields = sample.fields.clone();
        let structure_error = sample.structure_error.clone();
        let for_mapping = sample.clone();
        let layout = sample.csv.clone();
        Some(
            view! {
                <section class="card preview" aria-labelledby="preview-heading">
                    <h2 id="preview-heading">"Preview"</h2>
                    <p class="muted" id="preview-summary">{summary}</p>
                    {structure_error.map(|e| view! { <p role="alert" class="error">{format!("{e}: an import stops there, after importing the records before it.")}</p> })}
                    <div class="table-scroll">
                        <table class="sample" id="preview-table">
                            <caption>{format!("The first {} records", rows.len())}</caption>
                            <thead><tr>{columns.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}</tr></thead>
                            <tbody>
                                {rows.into_iter().map(|row| view! {
                                    <tr>{row.into_iter().map(|cell| view! { <td>{cell}</td> }).collect_view()}</tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {(invalid_count > 0).then(|| view! {
                        <details class="invalid">
                            <summary>{format!("{invalid_count} sampled records would fail")}</summary>
                            <ul>{invalid.into_iter().take(10).map(|i| view! { <li>{format!("byte {}: {}", i.offset, i.reason)}</li> }).collect_view()}</ul>
                        </details>
                    })}
                    {(!duplicates.is_empty()).then(|| view! {
                        <p class="notice">{format!("Some ids appear more than once in the sample; later records overwrite earlier ones: {}", duplicates.join(", "))}</p>
                    })}
                    {match &state {
                        IndexState::Checking => Some(view! { <p class="muted" id="index-check">"Checking the index…"</p> }.into_any()),
                        IndexState::Unreadable(message) => Some(view! { <p class="notice" id="index-check">{format!("The index's mapping could not be read: {message}")}</p> }.into_any()),
                        IndexState::Exists(_) if conflicts.is_empty() => Some(view! { <p class="ok" id="index-check">{format!("The sample fits the mapping of {index_name}.")}</p> }.into_any()),
                        IndexState::Exists(_) => Some(view! {
                            <div role="alert" class="conflicts" id="conflicts">
                                <p><strong>{format!("Against the mapping of {index_name}:")}</strong></p>
                                <ul>{conflicts.iter().map(|c| view! { <li>{c.explain(&index_name, sampled)}</li> }).collect_view()}</ul>
                                <p class="muted">"Fix it before importing: drop or rename the field below, choose another index, or change the mapping. Or import anyway: those records become failed records you can retry later."</p>
                            </div>
                        }.into_any()),
                        IndexState::Missing => Some(view! {
                            <div class="notice" id="index-check">
                                <p>{format!("The index {index_name} does not exist yet. The types below make its mapping; change any of them.")}</p>
                                {move || if create_allowed.get() {
                                    let sample = for_mapping.clone();
                                    view! {
                                        <button type="button" id="create-index" on:click=move |_| create.run(propose_mapping(&sample, &choices.get_untracked().types))>
                                            {format!("Create index {}", index.get_untracked())}
                                        </button>
                                    }.into_any()
                                } else {
                                    view! { <p class="muted">"The import will let OpenSearch map the fields itself (this proxy does not create indices)."</p> }.into_any()
                                }}
                                {move || create_problem.get().map(|m| view! { <p role="alert" class="error">{m}</p> })}
                            </div>
                        }.into_any()),
                        IndexState::Unknown => None,
                    }}
                    {layout.map(|layout| view! { <ColumnTypes layout=layout options=csv /> })}
                    <FieldList fields=fields sampled=sampled choices=choices show_types=missing />
                </section>
            }
            .into_any(),
        )
    }
}

/// The fields of the sample: path, types seen, in how many records; a type choice for a new index; rename / drop.
#[component]
fn FieldList(
    fields: Vec<sluice_engine::preview::FieldStats>,
    sampled: usize,
    choices: RwSignal<FieldChoices>,
    show_types: bool,
) -> impl IntoView {
    const TYPES: [FieldType; 7] = [
        FieldType::Keyword,
        FieldType::Text,
        FieldType::Long,
        FieldType::Double,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::Object,
    ];
    view! {
        <table class="fields" id="field-list">
            <caption>"Fields"</caption>
            <thead><tr>
                <th scope="col">"Field"</th><th scope="col">"Type"</th><th scope="col">"Values seen"</th>
                <th scope="col">"In records"</th><th scope="col">"Rename to"</th><th scope="col">"Parse as date"</th><th scope="col">"Drop"</th>
            </tr></thead>
            <tbody>
                {fields.into_iter().map(|field| {
                    let path = field.path.clone();
                    let inferred = field.inferred();
                    let seen = field.types.iter().map(|(t, n)| format!("{} {n}", t.name())).collect::<Vec<_>>().join(", ");
                    let mixed = field.is_mixed();
                    let (p1, p2, p3, p4) = (path.clone(), path.clone(), path.clone(), path.clone());
                    view! {
                        <tr class:mixed=mixed>
                            <th scope="row"><code>{path.clone()}</code></th>
                            <td>{if show_types {
                                view! {
                                    <select aria-label=format!("Type of {path}") on:change=move |ev| {
                                        let chosen = FieldType::parse(&event_target_value(&ev));
                                        choices.update(|c| match chosen {
                                            Some(t) if t != inferred => { c.types.insert(p1.clone(), t); }
                                            _ => { c.types.remove(&p1); }
                                        });
                                    }>
                                        {TYPES.iter().map(|t| {
                                            let selected = choices.get_untracked().types.get(&p2).copied().unwrap_or(inferred) == *t;
                                            view! { <option value=t.name() selected=selected>{t.name()}</option> }
                                        }).collect_view()}
                                    </select>
                                }.into_any()
                            } else {
                                view! { <span>{inferred.name()}</span> }.into_any()
                            }}</td>
                            <td>{seen}{mixed.then_some(" (mixed types: some records may fail)")}</td>
                            <td>{format!("{} of {sampled}", field.records)}</td>
                            <td><input type="text" class="rename" aria-label=format!("Rename {path} to")
                                prop:value=move || choices.with(|c| c.renames.get(&p3).cloned().unwrap_or_default())
                                on:change=move |ev| {
                                    let to = event_target_value(&ev);
                                    choices.update(|c| { if to.trim().is_empty() { c.renames.remove(&p4); } else { c.renames.insert(p4.clone(), to); } });
                                } /></td>
                            <td><input type="checkbox" aria-label=format!("Parse {path} as a date")
                                prop:checked={let p = path.clone(); move || choices.with(|c| c.dates.contains(&p))}
                                on:change={let p = path.clone(); move |ev| {
                                    let on = event_target_checked(&ev);
                                    choices.update(|c| { if on { c.dates.insert(p.clone()); } else { c.dates.remove(&p); } });
                                }} /></td>
                            <td><input type="checkbox" aria-label=format!("Drop {path}")
                                prop:checked={let p = path.clone(); move || choices.with(|c| c.drops.contains(&p))}
                                on:change={let p = path.clone(); move |ev| {
                                    let on = event_target_checked(&ev);
                                    choices.update(|c| { if on { c.drops.insert(p.clone()); } else { c.drops.remove(&p); } });
                                }} /></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <label class="setting">"Add a field with the object's name: "
            <input type="text" id="source-name-field" placeholder="e.g. source_file"
                prop:value=move || choices.with(|c| c.source_name_field.clone())
                on:change=move |ev| { let v = event_target_value(&ev); choices.update(|c| c.source_name_field = v); } />
        </label>
        <div class="setting constant">"Add a constant field: "
            <input type="text" id="constant-name" aria-label="Name of the constant field" placeholder="e.g. region"
                prop:value=move || choices.with(|c| c.constant.0.clone())
                on:change=move |ev| { let v = event_target_value(&ev); choices.update(|c| c.constant.0 = v); } />
            " = "
            <input type="text" id="constant-value" aria-label="Value of the constant field" placeholder="e.g. EU"
                prop:value=move || choices.with(|c| c.constant.1.clone())
                on:change=move |ev| { let v = event_target_value(&ev); choices.update(|c| c.constant.1 = v); } />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_transforms_in_order() {
        let mut choices = FieldChoices::default();
        choices.renames.insert("a".into(), "b".into());
        choices.renames.insert("gone".into(), "x".into());
        choices.renames.insert("same".into(), "same".into());
        choices.drops.insert("gone".into());
        choices.dates.insert("a".into());
        choices.source_name_field = "source".into();
        choices.constant = ("region".into(), "EU".into());
        let described: Vec<String> = choices.transforms().iter().map(Transform::describe).collect();
        assert_eq!(
            described,
            [
                "rename a → b",
                "parse b as a date",
                "drop gone",
                "set source = the source's name",
                "set region = EU"
            ]
        );
    }
}
