//! Flow control against a busy cluster, printed, never asserted: `sluice import` (release binary) of a generated
//! JSON Lines file into the OpenSearch test server in its capacity-limited mode (a fixed docs/s over T write
//! threads, a queue of Q, 429 when full), for Q in {0, 2, 8} and `--concurrency` 4 and 16, adaptive against
//! `--concurrency-mode fixed`, whole-request and item-level rejections.
//!
//! Columns: goodput (documents per second over the cluster's capacity), rejected requests over requests sent, and
//! bytes on the wire over the bytes one clean pass sends (measured first, against the same server with no limit).
//! Every run must leave the index exact; the count is checked and printed.
//!
//! Beside them, opensearch-js's `helpers.bulk` (tests/bench/helpers-bulk.mjs; needs `npm ci`) on the same server at
//! `--concurrency 16`: it retries items rejected with 429 three times, 5 s apart, and stops at the first request
//! answered 429 as a whole.
//!
//! Run: `cargo bench -p sluice-server --bench flow` (SLUICE_BENCH_DOCS, default 200000; SLUICE_BENCH_CAPACITY
//! docs/s, default 50000; SLUICE_BENCH_THREADS, default 4).

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

/// One `sluice import` of `file` into a fresh server; returns the seconds it took, the server's counters and the
/// documents in the index.
fn import(
    runtime: &tokio::runtime::Runtime,
    file: &Path,
    capacity: Option<Capacity>,
    concurrency: usize,
    mode: &str,
) -> (f64, Counts, usize) {
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
    (elapsed, cluster.counts(), cluster.doc_count("bench"))
}

/// opensearch-js's `helpers.bulk` into a fresh server: seconds, counters, documents in the index, and the error that
/// stopped it. `None` when node or the package is missing.
fn helpers_bulk(
    runtime: &tokio::runtime::Runtime,
    file: &Path,
    capacity: Capacity,
    concurrency: usize,
) -> Option<(f64, Counts, usize, Option<String>)> {
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
    Some((seconds, cluster.counts(), cluster.doc_count("bench"), error))
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

    let (clean_s, clean, clean_docs) = import(&runtime, &file, None, 4, "fixed");
    let data_bytes = clean.bulk_bytes as f64;
    println!(
        "{docs} documents, batches of 1000; one clean pass with no limit: {clean_s:.1} s, {:.0} docs/s, {:.1} MB of bulk bodies ({clean_docs} documents)",
        docs as f64 / clean_s,
        data_bytes / 1e6
    );
    println!("cluster: {docs_per_sec:.0} docs/s over {threads} write threads\n");
    println!("| rejections | queue Q | --concurrency | mode | time | goodput | rejected requests | bytes on the wire | index |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for item_level in [false, true] {
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
                    let (seconds, counts, indexed) = import(&runtime, &file, Some(capacity), concurrency, mode);
                    let goodput = docs as f64 / seconds / docs_per_sec;
                    let rejected = counts.rejected_requests as f64 / counts.bulk_requests.max(1) as f64;
                    let wire = counts.bulk_bytes as f64 / data_bytes;
                    println!(
                        "| {} | {queue} | {concurrency} | {mode} | {seconds:.1} s | {:.0} % | {:.1} % ({} of {}) | {wire:.2} × | {} |",
                        if item_level { "item-level" } else { "whole request" },
                        goodput * 100.0,
                        rejected * 100.0,
                        counts.rejected_requests,
                        counts.bulk_requests,
                        if indexed as u64 == docs { "exact".to_string() } else { format!("{indexed} of {docs}") }
                    );
                }
                if concurrency != 16 {
                    continue;
                }
                match helpers_bulk(&runtime, &file, capacity, concurrency) {
                    Some((seconds, counts, indexed, error)) => println!(
                        "| {} | {queue} | {concurrency} | opensearch-js helpers.bulk | {seconds:.1} s | {} | {:.1} % ({} of {}) | {:.2} × | {} |",
                        if item_level { "item-level" } else { "whole request" },
                        if indexed as u64 == docs {
                            format!("{:.0} %", docs as f64 / seconds / docs_per_sec * 100.0)
                        } else {
                            "—".to_string()
                        },
                        counts.rejected_requests as f64 / counts.bulk_requests.max(1) as f64 * 100.0,
                        counts.rejected_requests,
                        counts.bulk_requests,
                        counts.bulk_bytes as f64 / data_bytes,
                        match (indexed as u64 == docs, error) {
                            (true, _) => "exact".to_string(),
                            (false, Some(error)) => format!("{indexed} of {docs}: stopped by {error}"),
                            (false, None) => format!("{indexed} of {docs}"),
                        }
                    ),
                    None => println!("(opensearch-js helpers.bulk skipped: run `npm ci` for @opensearch-project/opensearch)"),
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
