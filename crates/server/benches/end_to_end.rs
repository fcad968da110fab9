//! End-to-end figures on loopback, printed, never asserted:
//!
//! 1. proxy overhead: the same `_bulk` bodies posted straight to the OpenSearch test server and through
//!    `sluice serve`, in the same run, alternating, best of 3 rounds each;
//! 2. `sluice import` (release binary) of a generated JSONL file of SLUICE_BENCH_MB megabytes (default 1000) into
//!    the test server: wall time, MB/s, docs/s.
//!
//! Run: `cargo bench -p sluice-server --bench end_to_end` (SLUICE_BENCH_MB=200 for a quicker run).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::time::{Duration, Instant};

use sluice_server::policy::IndexPatterns;
use sluice_server::serve::{router, ProxyConfig, UpstreamAuth};
use sluice_testkit::data::event_record as record;
use sluice_testkit::opensearch::{OpenSearchServer, Options};

fn bulk_bodies(count: usize, docs_per_body: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|b| {
            let mut body = Vec::new();
            for d in 0..docs_per_body {
                let i = (b * docs_per_body + d) as u64;
                body.extend_from_slice(format!("{{\"index\":{{\"_index\":\"bench\",\"_id\":\"{i}\"}}}}\n").as_bytes());
                body.extend_from_slice(record(i).as_bytes());
                body.push(b'\n');
            }
            body
        })
        .collect()
}

/// Posts every body to `{base}/_bulk` with 4 requests in flight; returns the elapsed time.
async fn post_all(client: &reqwest::Client, base: &str, bodies: &[Vec<u8>]) -> Duration {
    let started = Instant::now();
    let mut next = 0;
    let mut in_flight = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    loop {
        while in_flight.len() < 4 && next < bodies.len() {
            let request = client
                .post(format!("{base}/_bulk"))
                .header("content-type", "application/x-ndjson")
                .body(bodies[next].clone());
            in_flight.push(async move {
                let response = request.send().await.expect("the bench servers answer");
                assert_eq!(response.status().as_u16(), 200);
                response.bytes().await.expect("a body")
            });
            next += 1;
        }
        if in_flight.next().await.is_none() {
            break;
        }
    }
    started.elapsed()
}

fn main() {
    let megabytes: u64 = std::env::var("SLUICE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let options = Options {
        discard_sources: true,
        ..Options::default()
    };
    let cluster = runtime.block_on(OpenSearchServer::start(options)).unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let app = router(ProxyConfig {
        upstream: cluster.url(),
        auth: UpstreamAuth::None,
        indices: IndexPatterns::new(["bench*"]).unwrap(),
        allowed_origins: Vec::new(),
        max_body: 10 * 1024 * 1024,
        tokens: Vec::new(),
        timeout: Duration::from_secs(120),
        site: None,
        ca_certificate: None,
        allow_create_index: false,
    })
    .unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });

    // 1. Proxy overhead.
    let bodies = bulk_bodies(200, 3000);
    let total: usize = bodies.iter().map(Vec::len).sum();
    let client = reqwest::Client::new();
    let (mut direct, mut proxied) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        direct = direct.min(runtime.block_on(post_all(&client, &cluster.url(), &bodies)));
        proxied = proxied.min(runtime.block_on(post_all(&client, &proxy, &bodies)));
    }
    let mbps = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
    println!(
        "proxy overhead: {} bulk bodies, {:.0} MB, 4 in flight, best of 3: direct {:.2} s ({:.0} MB/s), through sluice serve {:.2} s ({:.0} MB/s): {:+.1} %",
        bodies.len(),
        total as f64 / 1e6,
        direct.as_secs_f64(),
        mbps(direct),
        proxied.as_secs_f64(),
        mbps(proxied),
        (proxied.as_secs_f64() / direct.as_secs_f64() - 1.0) * 100.0
    );
    drop(bodies);

    // 2. sluice import of a large JSONL file.
    let dir = std::env::temp_dir().join(format!("sluice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let (mut written, mut records) = (0u64, 0u64);
    while written < megabytes * 1_000_000 {
        let line = record(records);
        file.write_all(line.as_bytes()).unwrap();
        file.write_all(b"\n").unwrap();
        written += line.len() as u64 + 1;
        records += 1;
    }
    file.flush().unwrap();
    drop(file);
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["import", "--index", "bench-import", "--id-field", "id", "--quiet"])
        .arg("--file")
        .arg(&path)
        .arg("--checkpoint")
        .arg(dir.join("cp.json"))
        .args(["--opensearch", &cluster.url()])
        .output()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    println!(
        "sluice import: {:.0} MB JSONL, {records} records into the test server: {elapsed:.1} s, {:.0} MB/s, {:.0} docs/s ({} documents in the index)",
        written as f64 / 1e6,
        written as f64 / elapsed / 1e6,
        records as f64 / elapsed,
        cluster.doc_count("bench-import")
    );
    let _ = std::fs::remove_dir_all(dir);
}
