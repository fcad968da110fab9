//! A local sandbox for trying Sluice without a cluster or a bucket: the OpenSearch test server and an S3-like object
//! server holding sample datasets, with presigned-style URLs printed to paste into the app or the CLI.
//!
//! `sluice-sandbox [--opensearch-port 9200] [--objects-port 9000] [--records 10000] [--latency-ms 0]`; Ctrl-C
//! stops it. `--latency-ms` slows every bulk request (to watch or interrupt an import).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;

use sluice_testkit::objects::ObjectServer;
use sluice_testkit::opensearch::{OpenSearchServer, Options};

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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("sluice-sandbox [--opensearch-port 9200] [--objects-port 9000] [--records 10000] [--latency-ms 0]");
        return;
    }
    let opensearch_port = arg(&args, "--opensearch-port", 9200) as u16;
    let objects_port = arg(&args, "--objects-port", 9000) as u16;
    let records = arg(&args, "--records", 10_000);
    let latency = std::time::Duration::from_millis(arg(&args, "--latency-ms", 0));
    let bind = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let options = Options {
        faults: sluice_testkit::opensearch::Faults {
            latency,
            ..Default::default()
        },
        ..Options::default()
    };
    let opensearch = match OpenSearchServer::bind(bind(opensearch_port), options).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("sluice-sandbox: cannot listen on port {opensearch_port}: {error}");
            std::process::exit(1);
        }
    };
    let objects = match ObjectServer::bind(bind(objects_port)).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("sluice-sandbox: cannot listen on port {objects_port}: {error}");
            std::process::exit(1);
        }
    };
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
    println!("Ctrl-C stops the sandbox.");
    let _ = tokio::signal::ctrl_c().await;
}
