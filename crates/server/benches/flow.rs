//! Flow control against a busy cluster, printed, never asserted: `sluice import` (release binary) of a generated
//! JSON Lines file into the OpenSearch test server in its capacity-limited mode (a fixed docs/s over T write
//! threads, a queue of Q, 429 when full), for Q in {0, 2, 8} and `--concurrency` 4 and 16, adaptive against
//! `--concurrency-mode fixed`, whole-request and item-level rejections.
//!
//! Columns: the run's wall time (process start to exit) and the time the cluster was in use (first bulk request
//! received to last answered: the client's start-up and shutdown are not flow control), goodput (documents per
//! second of that use over the cluster's capacity), rejected requests over requests sent, and bytes on the wire over
//! the bytes one clean pass sends (measured first, against the same server with no limit). Every run must leave the
//! index exact; the count is checked and printed.
//!
//! Beside them, opensearch-js's `helpers.bulk` (tests/bench/helpers-bulk.mjs; needs `npm ci`) on the same server at
//! `--concurrency 16`: it retries items rejected with 429 three times, 5 s apart, and stops at the first request
//! answered 429 as a whole.
//!
//! Run: `cargo bench -p sluice-server --bench flow` (SLUICE_BENCH_DOCS, default 200000; SLUICE_BENCH_CAPACITY
//! docs/s, default 50000; SLUICE_BENCH_THREADS, default 4; SLUICE_BENCH_ONLY, cases whose name holds one of
//! these comma-separated parts, as `item-level q8 c16 adaptive`; SLUICE_BENCH_REPEAT, how many times, default 1).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use sluice_testkit::data::event_record;
use sluice_testkit::opensearch::{Capacity, Counts, OpenSearchServer, Options};

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether a case is in SLUICE_BENCH_ONLY (comma-separated parts of a case's name, `item-level q8 c16 adaptive`;
/// unset runs every case).
fn chosen(rejections: &str, queue: usize, concurrency: usize, client: &str) -> bool {
    let name = format!("{rejections} q{queue} c{concurrency} {client}");
    std::env::var("SLUICE_BENCH_ONLY").map_or(true, |only| only.split(',').any(|part| name.contains(part.trim())))
}

/// What one client's run did to a fresh server.
struct Run {
    wall_s: f64,
    in_use_s: f64,
    counts: Counts,
    indexed: usize,
    /// What stopped the client, when it stopped short.
    error: Option<String>,
}

impl Run {
    fn new(wall_s: f64, cluster: &OpenSearchServer, error: Option<String>) -> Run {
        Run {
            wall_s,
            in_use_s: cluster.bulk_window_secs(),
            counts: cluster.counts(),
            indexed: cluster.doc_count("bench"),
            error,
        }
    }
}

/// One `sluice import` of `file` into a fresh server.
fn import(
    runtime: &tokio::runtime::Runtime,
    file: &Path,
    capacity: Option<Capacity>,
    concurrency: usize,
    mode: &str,
) -> Run {
    let options = Options {
        discard_sources: true,
        capacity,
        ..Options::default()
    };
    let cluster = runtime.block_on(OpenSearchServer::start(options)).unwrap();
    let checkpoint = file.with_extension(format!("{concurrency}-{mode}.checkpoint.json"));
    let _ = std::fs::remove_file(&checkpoint);
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "import",
            "--index",
            "bench",
            "--id-field",
            "id",
            "--quiet",
            "--batch-docs",
            "1000",
        ])
        .arg("--file")
        .arg(file)
        .arg("--checkpoint")
        .arg(&checkpoint)
        .args(["--concurrency", &concurrency.to_string(), "--concurrency-mode", mode])
        .args(["--opensearch", &cluster.url()])
        .output()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_file(&checkpoint);
    Run::new(elapsed, &cluster, None)
}

/// opensearch-js's `helpers.bulk` into a fresh server (its wall time is the script's own measure, without node's
/// start-up). `None` when node or the package is missing.
fn helpers_bulk(runtime: &tokio::runtime::Runtime, file: &Path, capacity: Capacity, concurrency: usize) -> Option<Run> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bench/helpers-bulk.mjs");
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/@opensearch-project/opensearch");
    if !package.exists() {
        return None;
    }
    let options = Options {
        discard_sources: true,
        capacity: Some(capacity),
        ..Options::default()
    };
    let cluster = runtime.block_on(OpenSearchServer::start(options)).unwrap();
    // About 1000 of these documents per request, like the imports.
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(cluster.url())
        .arg(file)
        .args(["bench", &concurrency.to_string(), "270000"])
        .output()
        .ok()?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let seconds = report["seconds"].as_f64()?;
    let error = report["error"].as_str().map(str::to_string);
    Some(Run::new(seconds, &cluster, error))
}

fn main() {
    let docs = env_number("SLUICE_BENCH_DOCS", 200_000.0) as u64;
    let docs_per_sec = env_number("SLUICE_BENCH_CAPACITY", 50_000.0);
    let threads = env_number("SLUICE_BENCH_THREADS", 4.0) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("sluice-flow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..docs {
        out.write_all(event_record(i).as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let clean = import(&runtime, &file, None, 4, "fixed");
    let data_bytes = clean.counts.bulk_bytes as f64;
    println!(
        "{docs} documents, batches of 1000; one clean pass with no limit: {:.1} s, {:.0} docs/s, {:.1} MB of bulk bodies ({} documents)",
        clean.wall_s,
        docs as f64 / clean.wall_s,
        data_bytes / 1e6,
        clean.indexed
    );
    println!(
        "cluster: {docs_per_sec:.0} docs/s over {threads} write threads (ideal time in use: {:.1} s)\n",
        docs as f64 / docs_per_sec
    );
    println!("| rejections | queue Q | --concurrency | client | time | cluster in use | goodput | rejected requests | bytes on the wire | index |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    let row = |rejections: &str, queue: usize, concurrency: usize, client: &str, run: &Run| {
        let complete = run.indexed as u64 == docs;
        println!(
            "| {rejections} | {queue} | {concurrency} | {client} | {:.1} s | {:.1} s | {} | {:.1} % ({} of {}) | {:.2} × | {} |",
            run.wall_s,
            run.in_use_s,
            if complete {
                format!("{:.0} %", docs as f64 / run.in_use_s / docs_per_sec * 100.0)
            } else {
                "—".to_string()
            },
            run.counts.rejected_requests as f64 / run.counts.bulk_requests.max(1) as f64 * 100.0,
            run.counts.rejected_requests,
            run.counts.bulk_requests,
            run.counts.bulk_bytes as f64 / data_bytes,
            match (complete, &run.error) {
                (true, _) => "exact".to_string(),
                (false, Some(error)) => format!("{} of {docs}: stopped by {error}", run.indexed),
                (false, None) => format!("{} of {docs}", run.indexed),
            }
        );
    };
    for _ in 0..env_number("SLUICE_BENCH_REPEAT", 1.0) as usize {
        for item_level in [false, true] {
            let rejections = if item_level { "item-level" } else { "whole request" };
            for queue in [0usize, 2, 8] {
                let capacity = Capacity {
                    docs_per_sec,
                    threads,
                    queue,
                    item_level,
                };
                for concurrency in [4usize, 16] {
                    for mode in ["adaptive", "fixed"] {
                        if item_level && mode == "fixed" {
                            continue;
                        }
                        if !chosen(rejections, queue, concurrency, mode) {
                            continue;
                        }
                        let run = import(&runtime, &file, Some(capacity), concurrency, mode);
                        row(rejections, queue, concurrency, &format!("sluice, {mode}"), &run);
                    }
                    if concurrency != 16 || !chosen(rejections, queue, concurrency, "helpers") {
                        continue;
                    }
                    match helpers_bulk(&runtime, &file, capacity, concurrency) {
                        Some(run) => row(rejections, queue, concurrency, "opensearch-js helpers.bulk", &run),
                        None => println!(
                            "(opensearch-js helpers.bulk skipped: run `npm ci` for @opensearch-project/opensearch)"
                        ),
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
