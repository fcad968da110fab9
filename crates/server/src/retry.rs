//! `sluice retry`: sends the records of a dead-letter file again, once their cause is fixed (a transform, a
//! pipeline, a mapping change on the cluster). The file is rewritten atomically after every batch with only what
//! still fails, so an interrupted retry resumes by running the same command again.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use sluice_engine::job::StoreError;
use sluice_engine::repair::{group_reasons, retry_dead_letters, RetryLedger};
use sluice_engine::transform::TransformContext;
use sluice_engine::{CheckpointStore, DeadLetter, IdStrategy, ImportSettings, Tuning};

use crate::cli::{http_client, TargetArgs, TransformArgs};
use crate::import::sink::HttpSink;
use crate::import::stores::{write_atomically, FileCheckpoints};
use crate::import::TokioClock;

/// Arguments of `sluice retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The dead-letter file an import wrote (NDJSON).
    #[arg(long)]
    pub dead_letters: PathBuf,
    /// The import's checkpoint file: it names the source, so retried records get the ids the import gave them.
    /// Default: the dead-letter file's name with `.dead-letters.ndjson` replaced by `.checkpoint.json`.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Target index (default: the checkpoint's).
    #[arg(long)]
    pub index: Option<String>,
    /// Id field (default: the checkpoint's id strategy).
    #[arg(long)]
    pub id_field: Option<String>,
    /// Ingest pipeline (default: the checkpoint's).
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Flush a bulk request at this many records.
    #[arg(long, default_value_t = 1000)]
    pub batch_docs: usize,
    /// CSV/TSV rows refused before sending are made into documents again with the checkpoint's columns; this
    /// changes some columns' types first: --column-type qty=keyword (the fix for cells that were not numbers).
    #[arg(long = "column-type", value_name = "NAME=TYPE")]
    pub column_types: Vec<String>,
    /// Where documents go.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Transforms (the current ones: they replace the import's).
    #[command(flatten, next_help_heading = "Transforms")]
    pub transforms: TransformArgs,
}

/// Runs `sluice retry`.
pub fn run(args: RetryArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start: {error}")),
    };
    runtime.block_on(retry(args))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sluice retry: {message}");
    ExitCode::from(1)
}

fn usage(message: &str) -> ExitCode {
    eprintln!("sluice retry: {message}");
    ExitCode::from(2)
}

/// `x.dead-letters.ndjson` → `x.checkpoint.json`.
fn default_checkpoint(dead_letters: &Path) -> Option<PathBuf> {
    let name = dead_letters.file_name()?.to_str()?;
    let stem = name.strip_suffix(".dead-letters.ndjson")?;
    Some(dead_letters.with_file_name(format!("{stem}.checkpoint.json")))
}

/// The dead-letter file, rewritten whole (atomically) after each batch.
struct FileLedger {
    path: PathBuf,
    letters: RefCell<BTreeMap<u64, DeadLetter>>,
}

impl FileLedger {
    fn open(path: PathBuf) -> Result<Self, String> {
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut letters = BTreeMap::new();
        for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let letter: DeadLetter = serde_json::from_slice(line).map_err(|e| {
                format!(
                    "{} line {} is not a dead letter ({e}); it must be the file `sluice import` wrote",
                    path.display(),
                    number + 1
                )
            })?;
            letters.insert(letter.offset, letter);
        }
        Ok(FileLedger {
            path,
            letters: RefCell::new(letters),
        })
    }
}

impl RetryLedger for FileLedger {
    async fn settle(&self, indexed: &[u64], still_failing: &[DeadLetter]) -> Result<(), StoreError> {
        let bytes = {
            let mut letters = self.letters.borrow_mut();
            for offset in indexed {
                letters.remove(offset);
            }
            for letter in still_failing {
                letters.insert(letter.offset, letter.clone());
            }
            letters
                .values()
                .flat_map(DeadLetter::to_ndjson_line)
                .collect::<Vec<u8>>()
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|e| StoreError(e.to_string()))?
            .map_err(|e| StoreError(format!("{}: {e}", self.path.display())))
    }
}

async fn retry(args: RetryArgs) -> ExitCode {
    let transforms = match args.transforms.transforms() {
        Ok(transforms) => transforms,
        Err(message) => return usage(&message),
    };
    let checkpoint_path = args
        .checkpoint
        .clone()
        .or_else(|| default_checkpoint(&args.dead_letters));
    let checkpoints = checkpoint_path.clone().map(FileCheckpoints::new);
    let checkpoint = match checkpoints.as_ref().map(FileCheckpoints::load) {
        Some(Ok(found)) => found,
        Some(Err(refusal)) => return fail(&refusal.to_string()),
        None => None,
    };
    if args.checkpoint.is_some() && checkpoint.is_none() {
        return fail(&format!(
            "the checkpoint file {} does not exist",
            checkpoint_path.as_deref().unwrap_or(Path::new("")).display()
        ));
    }
    let mut settings = match (&checkpoint, &args.index) {
        (Some(checkpoint), _) => checkpoint.settings.clone(),
        (None, Some(index)) => ImportSettings::new(index.clone()),
        (None, None) => {
            return usage("say which index to send to: --index NAME (or give the import's --checkpoint file)")
        }
    };
    if let Some(index) = &args.index {
        settings.index = index.clone();
    }
    if let Some(field) = &args.id_field {
        settings.id = IdStrategy::from_field(field);
    }
    if let Some(pipeline) = &args.pipeline {
        settings.pipeline = (!pipeline.is_empty()).then(|| pipeline.clone());
    }
    settings.transforms = transforms;
    for text in &args.column_types {
        match sluice_engine::settings::CsvOptions::parse_column_types(text) {
            Ok(types) => settings.csv.column_types.extend(types),
            Err(message) => return usage(&format!("--column-type: {message}")),
        }
    }
    if let Err(message) = settings.validate() {
        return usage(&message);
    }
    if checkpoint.is_none() && settings.id == IdStrategy::Derived {
        return usage(
            "without the import's checkpoint file the retried records cannot get the ids the import gave them; \
             give --checkpoint FILE, or --id-field if the records carry their id",
        );
    }
    let Some((base, auth)) = args.target.target() else {
        return usage("say where to send the documents: --opensearch URL (or OPENSEARCH_URL) or --proxy URL");
    };
    let client = match http_client() {
        Ok(client) => client,
        Err(message) => return fail(&message),
    };
    let ledger = match FileLedger::open(args.dead_letters.clone()) {
        Ok(ledger) => ledger,
        Err(message) => return fail(&message),
    };
    let letters: Vec<DeadLetter> = ledger.letters.borrow().values().cloned().collect();
    if letters.is_empty() {
        println!(
            "No failed records in {}: nothing to retry.",
            args.dead_letters.display()
        );
        return ExitCode::SUCCESS;
    }
    let (namespace, context) = match &checkpoint {
        Some(checkpoint) => (
            checkpoint.source.id_namespace(),
            TransformContext {
                source_name: checkpoint.source.display_name(),
                import_started_ms: checkpoint.created_at_ms,
            },
        ),
        None => (String::new(), TransformContext::default()),
    };
    let tuning = Tuning {
        batch_docs: args.batch_docs.max(1),
        ..Tuning::default()
    };
    let sink = HttpSink::new(client, &base, auth);
    let started = Instant::now();
    let total = letters.len();
    let mut on_progress = |done: u64, total: u64| {
        eprintln!("retried {done} of {total}");
    };
    let result = retry_dead_letters(
        letters,
        &settings,
        &namespace,
        &context,
        checkpoint.as_ref().and_then(|c| c.csv.as_ref()),
        &tuning,
        &sink,
        &TokioClock,
        &ledger,
        &mut on_progress,
    )
    .await;
    let report = match result {
        Ok(report) => report,
        Err(stopped) => {
            eprintln!("sluice retry: {stopped}");
            eprintln!(
                "{} still holds every record not yet indexed; run the same command to go on.",
                args.dead_letters.display()
            );
            return ExitCode::from(1);
        }
    };
    if let (Some(store), Some(mut checkpoint)) = (checkpoints, checkpoint) {
        // The import's figures follow the repair; its settings stay those it ran with.
        // Counted from what the file still holds, so an interrupted retry run again counts right.
        checkpoint.settle_repair(ledger.letters.borrow().len() as u64);
        if let Err(error) = store.save(&checkpoint).await {
            eprintln!(
                "sluice retry: the records were retried, but the checkpoint's counts could not be updated: {error}"
            );
        }
    }
    println!(
        "Retried {total} failed records in {:.1} s: {} indexed, {} still failing{}.",
        started.elapsed().as_secs_f64(),
        report.indexed,
        report.failed,
        if report.skipped > 0 {
            format!(
                ", {} not retried (too large to have been kept; they are at their offsets in the source)",
                report.skipped
            )
        } else {
            String::new()
        }
    );
    let letters = ledger.letters.borrow();
    if letters.is_empty() {
        println!("{} is empty now.", args.dead_letters.display());
        return ExitCode::SUCCESS;
    }
    println!("Still failing, by reason:");
    for (reason, count) in group_reasons(letters.values().map(|l| l.reason.as_str())) {
        println!("  {count:>7}  {reason}");
    }
    println!("They stay in {} with their new reasons.", args.dead_letters.display());
    ExitCode::from(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_sits_beside_the_dead_letters() {
        assert_eq!(
            default_checkpoint(Path::new("runs/sales.jsonl.dead-letters.ndjson")),
            Some(PathBuf::from("runs/sales.jsonl.checkpoint.json"))
        );
        assert_eq!(default_checkpoint(Path::new("failed.ndjson")), None);
    }
}
