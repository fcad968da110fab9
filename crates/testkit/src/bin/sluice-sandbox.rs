//! A local sandbox for trying Sluice without a cluster or a bucket: the OpenSearch test server and an S3-like object
//! server holding sample datasets, with presigned-style URLs printed to paste into the app or the CLI.
//!
//! `sluice-sandbox [--opensearch-port 9200] [--objects-port 9000] [--records 10000] [--latency-ms 0]
//! [--cut-port P --control-port C] [--discard-sources] [--fast]`; Ctrl-C stops it. `--latency-ms` slows every bulk request (to watch or interrupt
//! an import).
//!
//! For end-to-end tests, `--cut-port` serves the same objects through a TCP fault proxy that can cut downloads
//! mid-stream, and `--control-port` opens a loopback-only control API the tests drive:
//! - `GET /requests`: `[[bucket/key, Range header], …]` of every object GET so far (proof of where a resume started);
//! - `PUT /objects/{bucket}/{key}`: store or rewrite an object (its ETag changes with its content);
//! - `PUT /faults/opensearch` `{"item_429_rate": 0.1, "latency_ms": 25}`: the cluster's faults from now on;
//! - `PUT /faults/objects` `{"cut_after_bytes": 200000, "cuts": 3}`: cut the next downloads through `--cut-port`;
//! - `GET /counts`: the cluster's counters (requests, bulk requests, items, overwrites, …).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::Router;
use serde_json::{json, Value};
use sluice_testkit::fault_proxy::{FaultProxy, ProxyFaults};
use sluice_testkit::objects::ObjectServer;
use sluice_testkit::opensearch::{Faults, OpenSearchServer, Options};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2)
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].parse().ok())
        .unwrap_or(default)
}

/// Sample records: nested objects with text in several scripts, and a few planted bad ones so dead letters show.
fn sample(records: u64, array: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if array {
        out.extend_from_slice(b"[\n");
    }
    for i in 0..records {
        if array && i > 0 {
            out.extend_from_slice(b",\n");
        }
        let record = if i % 1000 == 999 {
            format!("{{\"id\":\"evt-{i}\",\"status\":\"not-a-number\",\"note\":\"planted mapping conflict\"}}")
        } else {
            let city = ["Zürich", "東京", "São Paulo", "Kraków", "Reykjavík"][(i % 5) as usize];
            format!(
                "{{\"id\":\"evt-{i}\",\"ts\":\"2026-11-{:02}T{:02}:{:02}:00Z\",\"status\":{},\"user\":{{\"id\":{},\"city\":\"{city}\"}},\"message\":\"request {i} took {} ms\"}}",
                1 + i % 28,
                i % 24,
                i % 60,
                [200, 201, 404, 500][(i % 4) as usize],
                i % 997,
                i % 250
            )
        };
        out.extend_from_slice(record.as_bytes());
        if !array {
            out.push(b'\n');
        }
    }
    if array {
        out.extend_from_slice(b"\n]\n");
    }
    out
}

/// What the control API acts on.
struct Sandbox {
    opensearch: OpenSearchServer,
    objects: ObjectServer,
    cut: Option<FaultProxy>,
}

type Shared = State<Arc<Sandbox>>;

fn bad_request(message: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message)
}

fn json_body(body: &[u8]) -> Result<Value, (StatusCode, String)> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}

async fn requests(State(sandbox): Shared) -> String {
    let list: Vec<Value> = sandbox
        .objects
        .requests()
        .into_iter()
        .map(|(path, range)| json!([path, range]))
        .collect();
    Value::Array(list).to_string()
}

async fn counts(State(sandbox): Shared) -> String {
    let c = sandbox.opensearch.counts();
    json!({
        "requests": c.requests, "bulk_requests": c.bulk_requests, "items": c.items, "indexed": c.indexed,
        "overwrites": c.overwrites, "rejected": c.rejected, "failed": c.failed, "dropped": c.dropped,
    })
    .to_string()
}

async fn put_object(State(sandbox): Shared, Path((bucket, key)): Path<(String, String)>, body: Bytes) -> StatusCode {
    sandbox.objects.put(&bucket, &key, body);
    StatusCode::NO_CONTENT
}

async fn opensearch_faults(State(sandbox): Shared, body: Bytes) -> Result<StatusCode, (StatusCode, String)> {
    let wanted = json_body(&body)?;
    sandbox.opensearch.set_faults(Faults {
        item_429_rate: wanted["item_429_rate"].as_f64().unwrap_or(0.0),
        request_429_rate: wanted["request_429_rate"].as_f64().unwrap_or(0.0),
        latency: std::time::Duration::from_millis(wanted["latency_ms"].as_u64().unwrap_or(0)),
        ..Faults::default()
    });
    Ok(StatusCode::NO_CONTENT)
}

async fn object_faults(State(sandbox): Shared, body: Bytes) -> Result<StatusCode, (StatusCode, String)> {
    let wanted = json_body(&body)?;
    let proxy = sandbox
        .cut
        .as_ref()
        .ok_or_else(|| bad_request("start the sandbox with --cut-port to cut downloads".into()))?;
    proxy.set_faults(ProxyFaults {
        cut_after_bytes: wanted["cut_after_bytes"].as_u64(),
        cuts_remaining: wanted["cuts"].as_u64().unwrap_or(0) as u32,
        bytes_per_second: wanted["bytes_per_second"].as_u64(),
    });
    Ok(StatusCode::NO_CONTENT)
}

fn control_api(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/requests", get(requests))
        .route("/counts", get(counts))
        .route("/objects/{bucket}/{*key}", put(put_object))
        .route("/faults/opensearch", put(opensearch_faults))
        .route("/faults/objects", put(object_faults))
        // Objects of any size (axum limits bodies to 2 MB by default).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(sandbox)
}

fn fail(message: String) -> ! {
    eprintln!("sluice-sandbox: {message}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "sluice-sandbox [--opensearch-port 9200] [--objects-port 9000] [--records 10000] [--latency-ms 0] \
             [--cut-port P] [--control-port C] [--discard-sources] [--fast]"
        );
        return;
    }
    let opensearch_port = arg(&args, "--opensearch-port", 9200) as u16;
    let objects_port = arg(&args, "--objects-port", 9000) as u16;
    let cut_port = arg(&args, "--cut-port", 0) as u16;
    let control_port = arg(&args, "--control-port", 0) as u16;
    let records = arg(&args, "--records", 10_000);
    let latency = std::time::Duration::from_millis(arg(&args, "--latency-ms", 0));
    // Benchmarks index gigabytes: keep ids, versions and mappings, forget the documents' bodies.
    let discard_sources = args.iter().any(|a| a == "--discard-sources");
    // A sink that never limits the importer: action lines checked, ids counted, sources neither parsed nor kept.
    let fast = args.iter().any(|a| a == "--fast");
    let bind = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let options = Options {
        faults: Faults {
            latency,
            ..Default::default()
        },
        discard_sources,
        fast,
        ..Options::default()
    };
    let opensearch = OpenSearchServer::bind(bind(opensearch_port), options)
        .await
        .unwrap_or_else(|error| fail(format!("cannot listen on port {opensearch_port}: {error}")));
    let objects = ObjectServer::bind(bind(objects_port))
        .await
        .unwrap_or_else(|error| fail(format!("cannot listen on port {objects_port}: {error}")));
    objects.put("sample", "events.jsonl", sample(records, false));
    objects.put("sample", "events.json", sample(records, true));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    println!("OpenSearch test server: {}", opensearch.url());
    println!("Sample objects ({records} records each, one in 1000 planted to fail; URLs valid 24 h):");
    for key in ["events.jsonl", "events.json"] {
        println!("  {}", objects.presigned_url("127.0.0.1", "sample", key, now, 86_400));
    }
    let cut = if cut_port == 0 {
        None
    } else {
        let proxy = FaultProxy::start(bind(cut_port), objects.address())
            .await
            .unwrap_or_else(|error| fail(format!("cannot listen on port {cut_port}: {error}")));
        println!(
            "The same objects through a download-cutting proxy: http://{}",
            proxy.address()
        );
        Some(proxy)
    };
    let sandbox = Arc::new(Sandbox {
        opensearch,
        objects,
        cut,
    });
    if control_port != 0 {
        let listener = tokio::net::TcpListener::bind(bind(control_port))
            .await
            .unwrap_or_else(|error| fail(format!("cannot listen on port {control_port}: {error}")));
        println!("Control API for tests: http://{}", bind(control_port));
        let app = control_api(sandbox.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    println!("Ctrl-C stops the sandbox.");
    let _ = tokio::signal::ctrl_c().await;
}
