//! `sluice preview`: the head of a source (never the whole object), its records and fields, and, with an index,
//! whether they fit its mapping. The same engine functions as the web app's preview.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use sluice_engine::mapping::{check_sample, propose_mapping, Conflict, IndexMapping};
use sluice_engine::preview::{cell_text, Preview, HEAD_BYTES, TABLE_ROWS};
use sluice_engine::{ByteSource, FormatChoice, IdStrategy, ImportSettings};

use crate::cli::{http_client, parse_format, CsvArgs, TargetArgs};
use crate::import::sink::Auth;
use crate::import::source::{FileSource, UrlSource};

/// Exit code: the sample looks importable.
const EXIT_OK: u8 = 0;
/// Exit code: not importable (the wrong file, unreadable).
const EXIT_NOT_IMPORTABLE: u8 = 1;
/// Exit code: importable, but some sampled records would fail (invalid, or conflicting with the mapping).
const EXIT_PROBLEMS: u8 = 3;

/// Decompressed bytes of a gzip head looked at, at most.
const MAX_DECOMPRESSED: usize = 4 * HEAD_BYTES as usize;

/// Arguments of `sluice preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Presigned S3 GET URL, or any HTTP(S) URL that answers Range requests.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub url: Option<String>,
    /// A local file instead of a URL.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Input format: auto, json, jsonl, csv or tsv.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: FormatChoice,
    /// The id field the import will use (records without it are counted as invalid).
    #[arg(long)]
    pub id_field: Option<String>,
    /// Check the sample against this index's mapping (needs --opensearch or --proxy).
    #[arg(long)]
    pub index: Option<String>,
    /// Where the index is.
    #[command(flatten)]
    pub target: TargetArgs,
    /// CSV and TSV: the same choices as the import's, so the preview shows the types the import will use.
    #[command(flatten, next_help_heading = "CSV and TSV")]
    pub csv: CsvArgs,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sluice preview`.
pub fn run(args: PreviewArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start: {error}")),
    };
    runtime.block_on(preview(args))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sluice preview: {message}");
    ExitCode::from(EXIT_NOT_IMPORTABLE)
}

/// What the index check found.
enum IndexCheck {
    Exists(IndexMapping, Vec<Conflict>),
    Missing(Value),
}

async fn preview(args: PreviewArgs) -> ExitCode {
    let client = match http_client() {
        Ok(client) => client,
        Err(message) => return fail(&message),
    };
    let head = match (&args.url, &args.file) {
        (Some(url), _) => read_url_head(client.clone(), url).await,
        (None, Some(path)) => read_file_head(path.clone()).await,
        (None, None) => return fail("say what to preview: --url URL or --file PATH"),
    };
    let (bytes, complete) = match head {
        Ok(head) => head,
        Err(message) => return fail(&message),
    };
    let mut settings = ImportSettings::new("x");
    settings.format = args.format;
    settings.id = IdStrategy::from_field(args.id_field.as_deref().unwrap_or_default());
    settings.csv = match args.csv.options() {
        Ok(options) => options,
        Err(message) => return fail(&message),
    };
    let sample = Preview::from_head(&bytes, complete, &settings);
    let check = match &args.index {
        None => None,
        Some(index) => {
            if let Err(message) = ImportSettings::new(index.clone()).validate() {
                return fail(&message);
            }
            let Some((base, auth)) = args.target.target() else {
                eprintln!("sluice preview: --index needs --opensearch URL or --proxy URL to read the mapping");
                return ExitCode::from(2);
            };
            match read_mapping(&client, &base, &auth, index).await {
                Ok(Some(mapping)) => {
                    let conflicts = check_sample(&sample, &mapping);
                    Some(IndexCheck::Exists(mapping, conflicts))
                }
                Ok(None) => Some(IndexCheck::Missing(propose_mapping(&sample, &BTreeMap::new()))),
                Err(message) => return fail(&message),
            }
        }
    };
    if args.json {
        println!("{}", as_json(&sample, check.as_ref(), args.index.as_deref()));
    } else {
        print_human(&sample, check.as_ref(), args.index.as_deref());
    }
    let failing = matches!(&check, Some(IndexCheck::Exists(_, conflicts)) if conflicts.iter().any(|c| c.fails));
    if sample.wrong_file.is_some() {
        ExitCode::from(EXIT_NOT_IMPORTABLE)
    } else if failing || sample.invalid_count > 0 {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

/// The first [`HEAD_BYTES`] of an object (one `Range: bytes=0-262143` request after the size probe), decompressed
/// when it is gzip. Returns the bytes and whether they are the whole source.
async fn read_url_head(client: reqwest::Client, url: &str) -> Result<(Vec<u8>, bool), String> {
    let (mut source, identity) = UrlSource::probe(client, url).await.map_err(|e| e.message)?;
    source.limit_to(HEAD_BYTES);
    let raw = read_all(&mut source).await?;
    let whole = identity.size.is_some_and(|size| size <= HEAD_BYTES);
    Ok(decompress_if_gzip(raw, identity.gzip, whole))
}

async fn read_file_head(path: PathBuf) -> Result<(Vec<u8>, bool), String> {
    let (mut source, identity) = FileSource::probe(path).await.map_err(|e| e.message)?;
    let mut raw = read_all_until(&mut source, HEAD_BYTES as usize).await?;
    raw.truncate(HEAD_BYTES as usize);
    let whole = identity.size.is_some_and(|size| size <= HEAD_BYTES);
    Ok(decompress_if_gzip(raw, identity.gzip, whole))
}

async fn read_all<S: ByteSource>(source: &mut S) -> Result<Vec<u8>, String> {
    read_all_until(source, usize::MAX).await
}

async fn read_all_until<S: ByteSource>(source: &mut S, limit: usize) -> Result<Vec<u8>, String> {
    source.open(0).await.map_err(|e| e.message)?;
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match source.next_chunk().await.map_err(|e| e.message)? {
            Some(chunk) => bytes.extend_from_slice(&chunk),
            None => break,
        }
    }
    Ok(bytes)
}

/// Decompresses as much of a (possibly cut) gzip head as it holds.
fn decompress_if_gzip(raw: Vec<u8>, gzip: bool, whole: bool) -> (Vec<u8>, bool) {
    if !(gzip || raw.starts_with(&[0x1f, 0x8b])) {
        return (raw, whole);
    }
    let mut decoder = flate2::read::MultiGzDecoder::new(raw.as_slice());
    let mut out = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut ended = false;
    while out.len() < MAX_DECOMPRESSED {
        match decoder.read(&mut buffer) {
            Ok(0) => {
                ended = true;
                break;
            }
            Ok(read) => out.extend_from_slice(&buffer[..read]),
            // A cut-off stream ends here: what was decompressed is the head.
            Err(_) => break,
        }
    }
    (out, whole && ended)
}

/// The index's mapping, `None` when the index does not exist.
async fn read_mapping(
    client: &reqwest::Client,
    base: &str,
    auth: &Auth,
    index: &str,
) -> Result<Option<IndexMapping>, String> {
    let url = format!("{base}/{index}/_mapping");
    let response = auth.apply(client.get(&url)).send().await.map_err(|e| {
        format!(
            "cannot read the mapping of {index}: {}",
            crate::http_error::describe(&e)
        )
    })?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    match status {
        200 => IndexMapping::from_response(&body).map(Some),
        404 => Ok(None),
        _ => Err(format!(
            "cannot read the mapping of {index} (HTTP {status}): {}",
            body["sluice_error"]["message"]
                .as_str()
                .or(body["error"]["reason"].as_str())
                .unwrap_or("no reason given")
        )),
    }
}

fn as_json(sample: &Preview, check: Option<&IndexCheck>, index: Option<&str>) -> Value {
    let fields: Vec<Value> = sample
        .fields
        .iter()
        .map(|f| {
            let types: serde_json::Map<String, Value> =
                f.types.iter().map(|(t, n)| (t.name().to_string(), json!(n))).collect();
            json!({"path": f.path, "types": types, "records": f.records, "inferred": f.inferred().name()})
        })
        .collect();
    let mut out = json!({
        "format": sample.format.map(|f| f.name()),
        "csv": sample.csv.as_ref().map(|layout| json!({
            "delimiter": layout.delimiter.to_string(),
            "columns": layout.columns.names.iter().zip(&layout.columns.types)
                .map(|(name, kind)| json!({"name": name, "type": kind.name()}))
                .collect::<Vec<_>>(),
        })),
        "bytes": sample.bytes,
        "complete": sample.complete,
        "records": sample.records.len(),
        "fields": fields,
        "invalid": sample.invalid_count,
        "invalid_examples": sample.invalid,
        "wrong_file": sample.wrong_file,
        "structure_error": sample.structure_error,
        "duplicate_ids": sample.duplicate_ids,
    });
    match check {
        Some(IndexCheck::Exists(mapping, conflicts)) => {
            out["index"] = json!(index);
            out["index_exists"] = json!(true);
            out["conflicts"] = conflicts
                .iter()
                .map(|c| {
                    json!({"path": c.path, "mapped": c.mapped, "found": c.found, "count": c.count,
                           "example": c.example, "fails": c.fails,
                           "message": c.explain(&mapping.index, sample.records.len())})
                })
                .collect();
        }
        Some(IndexCheck::Missing(proposed)) => {
            out["index"] = json!(index);
            out["index_exists"] = json!(false);
            out["conflicts"] = json!([]);
            out["proposed_mapping"] = proposed.clone();
        }
        None => {}
    }
    out
}

fn print_human(sample: &Preview, check: Option<&IndexCheck>, index: Option<&str>) {
    let format = sample.format.map_or("unknown".to_string(), |f| f.to_string());
    println!(
        "Format: {format}. Looked at the first {} bytes{}: {} valid records, {} invalid.",
        sample.bytes,
        if sample.complete { " (the whole source)" } else { "" },
        sample.records.len(),
        sample.invalid_count
    );
    if let Some(message) = &sample.wrong_file {
        println!("\nNot importable: {message}.");
        return;
    }
    if let Some(error) = &sample.structure_error {
        println!("Warning: {error}; an import stops there, after importing the records before it.");
    }
    if let Some(layout) = &sample.csv {
        let columns: Vec<String> = layout
            .columns
            .names
            .iter()
            .zip(&layout.columns.types)
            .map(|(name, kind)| format!("{name} ({})", kind.name()))
            .collect();
        println!(
            "Columns ({}, separated by {:?}; change a type with --column-type NAME=TYPE): {}",
            columns.len(),
            layout.delimiter,
            columns.join(", ")
        );
    }
    let columns = sample.columns();
    if !columns.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = sample
            .records
            .iter()
            .take(TABLE_ROWS)
            .map(|record| columns.iter().map(|c| cell_text(record.get(c), 24)).collect())
            .collect();
        print_table(&columns, &rows);
    }
    println!("\nFields ({}):", sample.fields.len());
    let rows: Vec<Vec<String>> = sample
        .fields
        .iter()
        .map(|f| {
            let types: Vec<String> = f.types.iter().map(|(t, n)| format!("{} {n}", t.name())).collect();
            vec![
                f.path.clone(),
                f.inferred().name().to_string(),
                types.join(", "),
                format!("{} of {}", f.records, sample.records.len()),
                match (f.is_mixed(), f.arrays > 0) {
                    (true, _) => "mixed types".into(),
                    (false, true) => "arrays".into(),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    print_table(
        &[
            "field".into(),
            "type".into(),
            "values".into(),
            "in records".into(),
            String::new(),
        ],
        &rows,
    );
    if sample.invalid_count > 0 {
        if sample.invalid_count == 1 {
            println!("\n1 sampled record would be a dead letter:");
        } else {
            println!("\n{} sampled records would be dead letters:", sample.invalid_count);
        }
        for invalid in sample.invalid.iter().take(5) {
            println!("  byte {}: {}", invalid.offset, invalid.reason);
        }
    }
    if !sample.duplicate_ids.is_empty() {
        println!(
            "\nSome ids appear more than once in the sample (later records overwrite earlier ones): {}",
            sample.duplicate_ids.join(", ")
        );
    }
    match check {
        Some(IndexCheck::Exists(mapping, conflicts)) if conflicts.is_empty() => {
            println!("\nThe sample fits the mapping of {}.", mapping.index);
        }
        Some(IndexCheck::Exists(mapping, conflicts)) => {
            println!("\nAgainst the mapping of {}:", mapping.index);
            for conflict in conflicts {
                println!("  - {}", conflict.explain(&mapping.index, sample.records.len()));
            }
        }
        Some(IndexCheck::Missing(proposed)) => {
            println!(
                "\nThe index {} does not exist. A mapping from the sample (create the index with it, or let the \
                 import map fields dynamically):\n{}",
                index.unwrap_or_default(),
                serde_json::to_string_pretty(&json!({ "mappings": proposed })).unwrap_or_default()
            );
        }
        None => {}
    }
}

fn print_table(header: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(header));
    println!("{}", line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    for row in rows {
        // Control characters would break the table: show them escaped.
        let row: Vec<String> = row
            .iter()
            .map(|c| c.escape_debug().to_string().replace("\\\"", "\""))
            .collect();
        println!("{}", line(&row));
    }
}
