//! The CSV and TSV choices of the import form: the delimiter, column names for a file without a header line,
//! nesting of dotted names, and, once the preview has read the header, each column's type (inferred from the
//! sample, changeable here). All of it is `CsvOptions` in the job's settings, so it is hashed into the checkpoint.

use leptos::prelude::*;
use sluice_engine::csv_rows::ColumnType;
use sluice_engine::csv_source::CsvLayout;
use sluice_engine::settings::CsvOptions;

/// The delimiter choices: the value in the select, and its label.
const DELIMITERS: [(&str, &str); 5] = [
    ("", "the format's own (, for CSV, tab for TSV)"),
    (",", ", (comma)"),
    (";", "; (semicolon)"),
    ("|", "| (pipe)"),
    ("tab", "tab"),
];

fn delimiter_value(delimiter: Option<char>) -> &'static str {
    match delimiter {
        None => "",
        Some('\t') => "tab",
        Some(',') => ",",
        Some(';') => ";",
        Some('|') => "|",
        Some(_) => "",
    }
}

/// The choices made before the header is read. Shown when the format is CSV or TSV, chosen or detected.
#[component]
pub fn CsvOptionsRow(options: RwSignal<CsvOptions>) -> impl IntoView {
    view! {
        <div class="row csv-options" id="csv-options">
            <div class="field">
                <label for="csv-delimiter">"Delimiter"</label>
                <select id="csv-delimiter" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    options.update(|o| o.delimiter = match value.as_str() {
                        "" => None,
                        "tab" => Some('\t'),
                        other => other.chars().next(),
                    });
                }>
                    {DELIMITERS.iter().map(|(value, label)| {
                        let selected = delimiter_value(options.get_untracked().delimiter) == *value;
                        view! { <option value=*value selected=selected>{*label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="csv-columns">"Column names (only if the file has no header line)"</label>
                <input type="text" id="csv-columns" placeholder="e.g. id,name,price"
                    prop:value=move || options.with(|o| o.columns.join(","))
                    on:change=move |ev| {
                        let names: Vec<String> = event_target_value(&ev)
                            .split(',')
                            .map(|name| name.trim().to_string())
                            .filter(|name| !name.is_empty())
                            .collect();
                        options.update(|o| o.columns = names);
                    } />
            </div>
            <label class="setting">
                <input type="checkbox" id="csv-nest-dotted" prop:checked=move || options.with(|o| o.nest_dotted)
                    on:change=move |ev| { let on = event_target_checked(&ev); options.update(|o| o.nest_dotted = on); } />
                " Nest dotted names (user.name → {\"user\": {\"name\": …}})"
            </label>
        </div>
    }
}

/// The columns the preview read, each with its type: inferred from the sample unless chosen here. A change
/// makes the preview again, so the sample and the mapping check show the documents the import will send.
#[component]
pub fn ColumnTypes(layout: CsvLayout, options: RwSignal<CsvOptions>) -> impl IntoView {
    let delimiter = match layout.delimiter {
        '\t' => "tabs".to_string(),
        other => format!("'{other}'"),
    };
    let header = if options.with_untracked(|o| o.columns.is_empty()) {
        "from the header line"
    } else {
        "as given"
    };
    view! {
        <table class="fields" id="column-types">
            <caption>{format!("Columns ({} separated by {delimiter}, names {header}): types are inferred from the sample; change any of them", layout.columns.names.len())}</caption>
            <thead><tr><th scope="col">"Column"</th><th scope="col">"Type"</th><th scope="col"></th></tr></thead>
            <tbody>
                {layout.columns.names.iter().zip(&layout.columns.types).map(|(name, kind)| {
                    let (name, kind) = (name.clone(), *kind);
                    let chosen = options.with_untracked(|o| o.column_types.contains_key(&name));
                    let (for_change, for_reset) = (name.clone(), name.clone());
                    view! {
                        <tr>
                            <th scope="row"><code>{name.clone()}</code></th>
                            <td><select class="column-type" aria-label=format!("Type of column {name}") on:change=move |ev| {
                                let value = event_target_value(&ev);
                                options.update(|o| match ColumnType::parse(&value) {
                                    Some(kind) => { o.column_types.insert(for_change.clone(), kind); }
                                    None => { o.column_types.remove(&for_change); }
                                });
                            }>
                                {ColumnType::ALL.iter().map(|t| view! {
                                    <option value=t.name() selected=*t == kind>{t.name()}</option>
                                }).collect_view()}
                            </select></td>
                            <td>{if chosen {
                                view! {
                                    <button type="button" class="link" on:click=move |_| options.update(|o| { o.column_types.remove(&for_reset); })>
                                        "infer again"
                                    </button>
                                }.into_any()
                            } else {
                                view! { <span class="muted">"inferred"</span> }.into_any()
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
