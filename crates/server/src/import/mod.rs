//! `sluice import`: the engine run headless, with a checkpoint file. The drop-in for a Glue job.

pub mod sink;
pub mod source;
pub mod stores;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sluice_engine::flow::ConcurrencyMode;
use sluice_engine::job::{JobFailure, JobIo, JobPlan};
use sluice_engine::progress::{human_duration, Progress};
use sluice_engine::source_url::redact;
use sluice_engine::{
    run_job, Action, ByteSource, Checkpoint, Clock, Command, FormatChoice, IdStrategy, ImportSettings, JobStatus,
    SourceIdentity, Tuning, Validation,
};

use crate::cli::{http_client, parse_format, CsvArgs, TargetArgs, TransformArgs};
use sink::HttpSink;
use source::{FileSource, Gunzip, UrlSource};
use stores::{FileCheckpoints, FileDeadLetters};

/// Exit code: every record indexed.
pub const EXIT_OK: u8 = 0;
/// Exit code: the import stopped (error, pause, cancel); the checkpoint is saved, run again to resume.
pub const EXIT_STOPPED: u8 = 1;
/// Exit code: wrong arguments (clap's own code).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: completed, but some records are in the dead-letter file.
pub const EXIT_PARTIAL: u8 = 3;

/// `--concurrency-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConcurrencyModeArg {
    /// Adapt to the cluster (default).
    Adaptive,
    /// Always --concurrency requests.
    Fixed,
}

/// Arguments of `sluice import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Presigned S3 GET URL, or any HTTP(S) URL that answers Range requests.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub url: Option<String>,
    /// A local file instead of a URL.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Input format: auto (a file starting with '[' is a JSON array, '{' JSON Lines, a line of delimited names
    /// CSV or TSV), json, jsonl, csv or tsv.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: FormatChoice,
    /// Target index.
    #[arg(long)]
    pub index: String,
    /// Field holding each record's _id: a JSON pointer (/id, /user/id) or a dotted path (user.id). Without it, ids
    /// are derived from the object and the record's byte offset, so re-runs overwrite instead of duplicating.
    #[arg(long, conflicts_with = "auto_ids")]
    pub id_field: Option<String>,
    /// Let OpenSearch choose ids. A resume may then index some records twice.
    #[arg(long)]
    pub auto_ids: bool,
    /// Bulk action.
    #[arg(long, value_enum, default_value_t = ActionArg::Index)]
    pub action: ActionArg,
    /// Ingest pipeline to run on each document.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Flush a bulk request at this size (MiB).
    #[arg(long, default_value_t = 5.0)]
    pub batch_mib: f64,
    /// Flush a bulk request at this many records.
    #[arg(long, default_value_t = 5000)]
    pub batch_docs: usize,
    /// Most bulk requests in flight. With adaptive concurrency (the default) Sluice starts lower and adapts to the
    /// cluster's answers, never above this.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// `adaptive`: grow while the cluster answers fast, cut on 429s and rising latency; `fixed`: always
    /// --concurrency requests (for comparisons).
    #[arg(long, value_enum, default_value = "adaptive")]
    pub concurrency_mode: ConcurrencyModeArg,
    /// Checkpoint file (created, updated atomically, resumed). Default: <object name>.checkpoint.json here.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Save the checkpoint each time N more batches are done (and at least every 5 s); 1 keeps what a kill
    /// replays to the requests in flight.
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: u32,
    /// Dead-letter file (NDJSON: offset, end, reason, record). Default: <object name>.dead-letters.ndjson here.
    #[arg(long)]
    pub dead_letters: Option<PathBuf>,
    /// Ignore an existing checkpoint and start from the first byte.
    #[arg(long)]
    pub restart: bool,
    /// Local validation: full (parse every record) or structural (only check {...}; the cluster rejects the rest).
    #[arg(long, value_enum, default_value_t = ValidationArg::Full)]
    pub validation: ValidationArg,
    /// Records larger than this (MiB) go to dead letters.
    #[arg(long, default_value_t = 10.0)]
    pub max_record_mib: f64,
    /// Where documents go.
    #[command(flatten)]
    pub target: TargetArgs,
    /// CSV and TSV.
    #[command(flatten, next_help_heading = "CSV and TSV")]
    pub csv: CsvArgs,
    /// Per-field transforms.
    #[command(flatten, next_help_heading = "Transforms")]
    pub transforms: TransformArgs,
    /// Only print the final summary and errors.
    #[arg(long)]
    pub quiet: bool,
}

/// `--action`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    /// Create or overwrite.
    Index,
    /// Create only.
    Create,
}

/// `--validation`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ValidationArg {
    /// Parse every record locally.
    Full,
    /// Check braces only.
    Structural,
}

/// Wall-clock time on tokio.
pub struct TokioClock;

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Runs `sluice import`.
pub fn run(args: ImportArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start: {error}")),
    };
    runtime.block_on(import(args))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sluice import: {message}");
    ExitCode::from(EXIT_STOPPED)
}

fn settings_from(args: &ImportArgs) -> Result<ImportSettings, String> {
    let mut settings = ImportSettings::new(args.index.clone());
    settings.format = args.format;
    settings.action = match args.action {
        ActionArg::Index => Action::Index,
        ActionArg::Create => Action::Create,
    };
    settings.id = match (&args.id_field, args.auto_ids) {
        (Some(field), _) => IdStrategy::from_field(field),
        (None, true) => IdStrategy::Auto,
        (None, false) => IdStrategy::Derived,
    };
    settings.pipeline = args.pipeline.clone();
    settings.validation = match args.validation {
        ValidationArg::Full => Validation::Full,
        ValidationArg::Structural => Validation::Structural,
    };
    settings.max_record_bytes = (args.max_record_mib * 1024.0 * 1024.0) as usize;
    settings.transforms = args.transforms.transforms()?;
    settings.csv = args.csv.options()?;
    Ok(settings)
}

/// `part-0001.jsonl.gz` from a key, URL or path.
fn object_name(identity: &SourceIdentity) -> String {
    let full = identity
        .key
        .clone()
        .or_else(|| identity.name.clone())
        .or_else(|| identity.url.clone())
        .unwrap_or_else(|| "import".into());
    let name = full.rsplit(['/', '\\']).next().unwrap_or("import");
    if name.is_empty() {
        "import".into()
    } else {
        name.to_string()
    }
}

async fn import(args: ImportArgs) -> ExitCode {
    let settings = match settings_from(&args).and_then(|s| s.validate().map(|()| s)) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("sluice import: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Some((base, auth)) = args.target.target() else {
        eprintln!(
            "sluice import: say where to send the documents: --opensearch URL (or OPENSEARCH_URL) or --proxy URL"
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let client = match http_client() {
        Ok(client) => client,
        Err(message) => return fail(&message),
    };
    let sink = HttpSink::new(client.clone(), &base, auth);
    match (&args.url, &args.file) {
        (Some(url), _) => match UrlSource::probe(client, url).await {
            Ok((source, identity)) if identity.gzip => {
                run_with(&args, settings, Gunzip::new(source), identity, &sink).await
            }
            Ok((source, identity)) => run_with(&args, settings, source, identity, &sink).await,
            Err(error) => fail(&error.message),
        },
        (None, Some(path)) => match FileSource::probe(path.clone()).await {
            Ok((source, identity)) if identity.gzip => {
                run_with(&args, settings, Gunzip::new(source), identity, &sink).await
            }
            Ok((source, identity)) => run_with(&args, settings, source, identity, &sink).await,
            Err(error) => fail(&error.message),
        },
        (None, None) => {
            eprintln!("sluice import: say what to import: --url URL or --file PATH");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn default_path(explicit: &Option<PathBuf>, identity: &SourceIdentity, suffix: &str) -> PathBuf {
    explicit
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.{suffix}", object_name(identity))))
}

async fn run_with<S: ByteSource>(
    args: &ImportArgs,
    settings: ImportSettings,
    source: S,
    identity: SourceIdentity,
    sink: &HttpSink,
) -> ExitCode {
    let checkpoints = FileCheckpoints::new(default_path(&args.checkpoint, &identity, "checkpoint.json"));
    let dead_letter_path = default_path(&args.dead_letters, &identity, "dead-letters.ndjson");
    let clock = TokioClock;
    let existing = if args.restart {
        None
    } else {
        match checkpoints.load() {
            Ok(existing) => existing,
            Err(refusal) => {
                return fail(&format!(
                    "{refusal} ({}); use --restart to start over",
                    checkpoints.path().display()
                ))
            }
        }
    };
    if args.restart {
        let _ = std::fs::remove_file(&dead_letter_path);
    }
    let checkpoint = match existing {
        Some(checkpoint) if checkpoint.is_completed() => {
            println!(
                "Already completed ({} indexed, {} dead letters) according to {}. Use --restart to import again.",
                checkpoint.counters.indexed,
                checkpoint.counters.failed,
                checkpoints.path().display()
            );
            return ExitCode::from(EXIT_OK);
        }
        Some(checkpoint) => {
            if let Err(refusal) = checkpoint.check_resume(&identity, &settings) {
                return fail(&format!(
                    "cannot resume from {}: {refusal} Use --restart to start over.",
                    checkpoints.path().display()
                ));
            }
            if !args.quiet {
                eprintln!(
                    "Resuming from byte {} ({} records done) using {}",
                    checkpoint.committed_offset,
                    checkpoint.committed_records,
                    checkpoints.path().display()
                );
            }
            checkpoint
        }
        None => {
            let job_id = format!("cli-{:x}", clock.now_ms());
            Checkpoint::start(job_id, identity.clone(), settings, clock.now_ms())
        }
    };
    let dead_letters = match FileDeadLetters::open(dead_letter_path) {
        Ok(store) => store,
        Err(error) => return fail(&format!("cannot read the dead-letter file: {error}")),
    };
    let tuning = Tuning {
        batch_bytes: (args.batch_mib * 1024.0 * 1024.0) as usize,
        batch_docs: args.batch_docs,
        max_in_flight: args.concurrency.max(1),
        concurrency_mode: match args.concurrency_mode {
            ConcurrencyModeArg::Adaptive => ConcurrencyMode::Adaptive,
            ConcurrencyModeArg::Fixed => ConcurrencyMode::Fixed,
        },
        max_buffered_bytes: (args.batch_mib * 1024.0 * 1024.0) as usize * (args.concurrency.max(1) + 2),
        checkpoint_every_batches: args.checkpoint_every.max(1),
        ..Tuning::default()
    };
    let (control, commands) = futures::channel::mpsc::unbounded();
    tokio::spawn(async move {
        // First Ctrl-C pauses (requests in flight finish, checkpoint saved); a second one stops at once.
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nPausing: letting requests in flight finish (Ctrl-C again to stop at once)...");
            let _ = control.unbounded_send(Command::Pause);
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = control.unbounded_send(Command::Cancel);
            }
        }
    });
    let mut reporter = Reporter::new(args.quiet, identity.size.filter(|_| !identity.gzip));
    let started = Instant::now();
    let result = run_job(
        JobPlan {
            checkpoint,
            tuning,
            seed: clock.now_ms(),
        },
        source,
        JobIo {
            sink,
            checkpoints: &checkpoints,
            dead_letters: &dead_letters,
            clock: &clock,
        },
        commands,
        &mut |progress| reporter.update(progress),
    )
    .await;
    reporter.finish();
    summarize(result, started.elapsed(), &checkpoints, &dead_letters, &identity)
}

fn summarize(
    result: Result<sluice_engine::job::Outcome, JobFailure>,
    elapsed: Duration,
    checkpoints: &FileCheckpoints,
    dead_letters: &FileDeadLetters,
    identity: &SourceIdentity,
) -> ExitCode {
    let source = identity
        .url
        .as_deref()
        .map(redact)
        .or_else(|| identity.name.clone())
        .unwrap_or_default();
    match result {
        Ok(outcome) => {
            let c = &outcome.checkpoint;
            let seconds = elapsed.as_secs_f64().max(0.001);
            match outcome.status {
                JobStatus::Completed => {
                    println!(
                        "Imported {source}: {} records, {} indexed, {} dead letters, {} documents retried in {} requests, in {:.1} s ({:.0} docs/s)",
                        c.committed_records, c.counters.indexed, c.counters.failed, c.counters.retried,
                        c.counters.retried_requests, seconds,
                        c.counters.indexed as f64 / seconds
                    );
                    if c.counters.failed > 0 {
                        println!(
                            "Dead letters: {} ({} lines)",
                            dead_letters.path().display(),
                            dead_letters.count()
                        );
                        return ExitCode::from(EXIT_PARTIAL);
                    }
                    ExitCode::from(EXIT_OK)
                }
                status => {
                    println!(
                        "Stopped ({}) at byte {} after {} records; run the same command to resume ({}).",
                        format!("{status:?}").to_lowercase(),
                        c.committed_offset,
                        c.committed_records,
                        checkpoints.path().display()
                    );
                    ExitCode::from(EXIT_STOPPED)
                }
            }
        }
        Err(failure) => {
            eprintln!("sluice import: {}", failure.message);
            eprintln!(
                "The checkpoint is saved at byte {} ({} records done) in {}; fix the cause and run the same command to resume.",
                failure.checkpoint.committed_offset,
                failure.checkpoint.committed_records,
                checkpoints.path().display()
            );
            ExitCode::from(EXIT_STOPPED)
        }
    }
}

/// A progress bar on a terminal, a line every 5 s otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    last_line: Option<Instant>,
}

impl Reporter {
    fn new(quiet: bool, total: Option<u64>) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::new_spinner(),
            };
            let style = ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Reporter {
            bar,
            quiet,
            // The first plain line comes after one interval, not at zero.
            last_line: Some(Instant::now()),
        }
    }

    fn update(&mut self, progress: &Progress) {
        let message = format!(
            "{} indexed, {} failed, {} retried, {} in flight (up to {}), {} busy answers/min, {:.0} docs/s, {:.1} MB/s{}{}",
            progress.indexed,
            progress.failed,
            progress.retried,
            progress.in_flight,
            progress.concurrency,
            progress.rejections_per_min,
            progress.docs_per_sec,
            progress.bytes_per_sec / 1e6,
            progress
                .eta_ms
                .map(|ms| format!(", ETA {}", human_duration(ms)))
                .unwrap_or_default(),
            progress.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default(),
        );
        if let Some(bar) = &self.bar {
            bar.set_position(progress.committed_offset);
            bar.set_message(message);
        } else if !self.quiet && self.last_line.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
            self.last_line = Some(Instant::now());
            eprintln!(
                "progress: {} of {} bytes done, {message}",
                progress.committed_offset,
                progress.total_bytes.map_or("?".to_string(), |t| t.to_string())
            );
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The path of a checkpoint, for callers that want it without running.
pub fn checkpoint_path_for(explicit: &Option<PathBuf>, identity: &SourceIdentity) -> PathBuf {
    default_path(explicit, identity, "checkpoint.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn object_names_for_default_paths() {
        let identity = SourceIdentity {
            key: Some("exports/2026/part-1.jsonl.gz".into()),
            ..SourceIdentity::default()
        };
        assert_eq!(object_name(&identity), "part-1.jsonl.gz");
        assert_eq!(
            checkpoint_path_for(&None, &identity),
            Path::new("part-1.jsonl.gz.checkpoint.json")
        );
    }
}
