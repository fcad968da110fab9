//! The edge against the CLI, printed, never asserted: one generated JSONL object of SLUICE_BENCH_MB megabytes
//! (default 200) on the S3-like object server, imported into the OpenSearch test server (sources discarded, so it
//! is not the bottleneck) in the same run by
//!
//! 1. the ceiling: the same documents as prebuilt `_bulk` bodies posted straight to the test server;
//! 2. `sluice import` (release binary) from the object's presigned URL;
//! 3. an edge job in workerd (the Worker as `./scripts/edge.sh build` leaves it), timed from `POST /jobs` to
//!    `completed`.
//!
//! Run: `./scripts/edge.sh build && cargo bench -p sluice-server --bench edge`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use sluice_testkit::data::event_record;
use sluice_testkit::free_port;
use sluice_testkit::objects::ObjectServer;
use sluice_testkit::opensearch::{OpenSearchServer, Options};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Posts `_bulk` bodies of 5000 documents, 4 in flight, the engine's defaults.
async fn ceiling(base: &str, object: &[u8]) -> Duration {
    let mut bodies = Vec::new();
    let mut body = Vec::new();
    for (n, line) in object.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        body.extend_from_slice(format!("{{\"index\":{{\"_index\":\"bench-ceiling\",\"_id\":\"{n}\"}}}}\n").as_bytes());
        body.extend_from_slice(line);
        body.push(b'\n');
        if (n + 1) % 5000 == 0 {
            bodies.push(std::mem::take(&mut body));
        }
    }
    bodies.push(body);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut requests = futures::stream::iter(bodies.into_iter().map(|body| {
        let request = client
            .post(format!("{base}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send();
        async move { request.await.unwrap().bytes().await.unwrap() }
    }))
    .buffer_unordered(4);
    while requests.next().await.is_some() {}
    started.elapsed()
}

fn main() {
    let megabytes: u64 = std::env::var("SLUICE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        repo.join("target/edge/sluice_edge_bg.wasm").is_file(),
        "build the Worker first: ./scripts/edge.sh build"
    );
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
    let objects = runtime.block_on(ObjectServer::start()).unwrap();
    let mut object = Vec::new();
    let mut records = 0u64;
    while (object.len() as u64) < megabytes * 1_000_000 {
        object.extend_from_slice(event_record(records).as_bytes());
        object.push(b'\n');
        records += 1;
    }
    let size = object.len() as f64;
    let figures = |what: &str, elapsed: f64| {
        println!(
            "{what:<44} {elapsed:>7.1} s {:>7.0} MB/s {:>9.0} docs/s",
            size / elapsed / 1e6,
            records as f64 / elapsed
        );
    };
    println!(
        "{:.0} MB JSONL, {records} records, into the OpenSearch test server on loopback:",
        size / 1e6
    );

    let elapsed = runtime.block_on(ceiling(&cluster.url(), &object)).as_secs_f64();
    figures("ceiling (prebuilt bodies, 4 in flight)", elapsed);

    objects.put("bucket", "bench.jsonl", object.clone());
    drop(object);
    let url = objects.presigned_url("127.0.0.1", "bucket", "bench.jsonl", now_secs(), 3600);
    let dir = std::env::temp_dir().join(format!("sluice-edge-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "import",
            "--url",
            &url,
            "--index",
            "bench-cli",
            "--id-field",
            "id",
            "--quiet",
        ])
        .arg("--checkpoint")
        .arg(dir.join("cp.json"))
        .args(["--opensearch", &cluster.url()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    figures("sluice import (native CLI, same URL)", started.elapsed().as_secs_f64());

    let port = free_port();
    let mut workerd = Command::new("bash")
        .arg(repo.join("scripts/edge.sh"))
        .arg("run")
        .env("EDGE_PORT", port.to_string())
        .env("EDGE_STATE_DIR", dir.join("edge-state"))
        .env("EDGE_SITE_DIR", "/nonexistent")
        .env("OPENSEARCH_URL", cluster.url())
        .env("SLUICE_ALLOW_INDEX", "bench-*")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let edge = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    while client.get(format!("{edge}/_sluice/config")).send().is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let read =
        |response: reqwest::blocking::Response| -> Value { serde_json::from_str(&response.text().unwrap()).unwrap() };
    let created = read(
        client
            .post(format!("{edge}/jobs"))
            .header("content-type", "application/json")
            .body(json!({"urls": [url], "index": "bench-edge", "id_field": "id"}).to_string())
            .send()
            .unwrap(),
    );
    let id = created["id"].as_str().expect("a job id").to_string();
    let view = loop {
        let view = read(client.get(format!("{edge}/jobs/{id}")).send().unwrap());
        if view["status"] != "running" {
            break view;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(view["status"], "completed", "{view}");
    figures(&format!("edge job in workerd ({} slices)", view["slices"]), elapsed);
    let _ = workerd.kill();
    let _ = workerd.wait();
    println!(
        "documents: cli {}, edge {}",
        cluster.doc_count("bench-cli"),
        cluster.doc_count("bench-edge")
    );
    let _ = std::fs::remove_dir_all(dir);
}
