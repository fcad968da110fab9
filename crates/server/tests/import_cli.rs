//! End-to-end: the `sluice import` binary against the OpenSearch test server and the S3-like object server, on
//! loopback. Killed with SIGKILL mid-import and resumed; connection cuts; busy clusters; expired URLs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use sluice_testkit::fault_proxy::{FaultProxy, ProxyFaults};
use sluice_testkit::opensearch::Faults;

mod common;

use common::{dataset, text, Dataset, World};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// The index `e2e` holds exactly the good records, the dead letters are the planted ones, and the import completed.
fn assert_exact(world: &World, data: &Dataset) {
    let ids: BTreeSet<String> = world.opensearch.ids("e2e").into_iter().collect();
    assert_eq!(ids.len(), data.good_ids.len(), "one document per good record");
    assert_eq!(ids, data.good_ids, "exactly the good records' ids");
    assert_eq!(
        world.dead_letter_offsets(),
        data.bad_offsets,
        "dead letters are exactly the planted records"
    );
    let checkpoint = world.checkpoint().unwrap();
    assert_eq!(checkpoint["status"], "completed");
    assert_eq!(checkpoint["committed_offset"], data.bytes.len() as u64);
}

fn finish(child: std::process::Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn kill_9_five_times_then_resume_indexes_each_record_exactly_once() {
    let world = World::new("kill");
    let data = dataset(100_000, false);
    world.objects.put("bucket", "big.jsonl", data.bytes.clone());
    world.opensearch.set_faults(Faults {
        latency: Duration::from_millis(15),
        ..Faults::default()
    });
    let url = world.url("big.jsonl");
    let source = ["--url", url.as_str()];
    let options = ["--id-field", "id", "--batch-docs", "300", "--checkpoint-every", "1"];
    let mut resumed_from = Vec::new();
    let mut rng = 0x5eed_u64;
    for _ in 0..5 {
        let committed = world
            .checkpoint()
            .map_or(0, |c| c["committed_offset"].as_u64().unwrap());
        if committed > 0 {
            resumed_from.push(committed);
        }
        let mut child = world.import("e2e", &source, &options);
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(250 + (rng >> 33) % 500));
        child.kill().unwrap(); // SIGKILL: no chance to save anything
        let _ = child.wait();
    }
    let committed = world.checkpoint().unwrap()["committed_offset"].as_u64().unwrap();
    assert!(
        committed > 0 && committed < data.bytes.len() as u64,
        "the kills landed mid-import ({committed})"
    );
    resumed_from.push(committed);
    let output = finish(world.import("e2e", &source, &options));
    assert_eq!(
        output.status.code(),
        Some(3),
        "completed with dead letters: {}",
        text(&output)
    );
    assert!(text(&output).contains("Resuming from byte"), "{}", text(&output));
    assert_exact(&world, &data);
    // Each resume asked the object server for the rest only, guarded by the ETag.
    let ranges = world.objects.ranges();
    for offset in resumed_from {
        assert!(
            ranges.contains(&format!("bytes={offset}-")),
            "a resume from {offset} in {ranges:?}"
        );
    }
    let counts = world.opensearch.counts();
    println!("kill -9 x5: {counts:?} (overwrites are replays of uncommitted batches)");
}

#[test]
fn json_array_with_busy_cluster_and_a_cut_download() {
    let world = World::new("array");
    let data = dataset(20_000, true);
    world.objects.put("bucket", "data.json", data.bytes.clone());
    let proxy = world
        .runtime
        .block_on(FaultProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            world.objects.address(),
        ))
        .unwrap();
    proxy.set_faults(ProxyFaults {
        cut_after_bytes: Some(300_000),
        cuts_remaining: 2,
        bytes_per_second: None,
    });
    world.opensearch.set_faults(Faults {
        item_429_rate: 0.1,
        ..Faults::default()
    });
    let url = world.url("data.json").replace(
        &format!(":{}/", world.objects.address().port()),
        &format!(":{}/", proxy.address().port()),
    );
    let output = finish(world.import("e2e", &["--url", &url], &["--id-field", "/id", "--batch-docs", "500"]));
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert_exact(&world, &data);
    assert!(proxy.connections_and_cuts().1 >= 2, "the download was cut and resumed");
    let heads = proxy.request_heads();
    assert!(
        heads
            .iter()
            .skip(2)
            .any(|h| h.to_ascii_lowercase().contains("if-match:")),
        "reconnections use If-Match: {heads:?}"
    );
    assert!(world.opensearch.counts().rejected > 0, "429s happened and were retried");
}

#[test]
fn gzip_file_with_derived_ids_and_a_clean_exit() {
    use std::io::Write;
    let world = World::new("gzip");
    let mut text_lines = String::new();
    for i in 0..5000 {
        text_lines.push_str(&format!("{{\"n\":{i},\"s\":\"line {i}\"}}\n"));
    }
    let path = world.dir.join("lines.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text_lines.as_bytes()).unwrap();
    std::fs::write(&path, encoder.finish().unwrap()).unwrap();
    let path_text = path.display().to_string();
    let output = finish(world.import("e2e", &["--file", &path_text], &["--batch-docs", "700"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(world.opensearch.doc_count("e2e"), 5000);
    // A second run finds the completed checkpoint and sends nothing.
    let requests = world.opensearch.counts().bulk_requests;
    let again = finish(world.import("e2e", &["--file", &path_text], &["--batch-docs", "700"]));
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again).contains("Already completed"), "{}", text(&again));
    assert_eq!(world.opensearch.counts().bulk_requests, requests);
    // --restart imports again: derived ids make it overwrite, not duplicate.
    let restarted = finish(world.import("e2e", &["--file", &path_text], &["--batch-docs", "700", "--restart"]));
    assert_eq!(restarted.status.code(), Some(0), "{}", text(&restarted));
    assert_eq!(world.opensearch.doc_count("e2e"), 5000);
    assert_eq!(world.opensearch.counts().overwrites, 5000);
}

#[test]
fn an_expired_url_stops_resumably_and_a_changed_object_is_refused() {
    let world = World::new("expired");
    let data = dataset(3000, false);
    world.objects.put("bucket", "e.jsonl", data.bytes.clone());
    let expired = world
        .objects
        .presigned_url("127.0.0.1", "bucket", "e.jsonl", 1_700_000_000, 60);
    let output = finish(world.import("e2e", &["--url", &expired], &[]));
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output);
    assert!(message.contains("expired") && message.contains("fresh"), "{message}");
    assert!(
        !message.contains("X-Amz-Signature"),
        "presigned URLs are never printed: {message}"
    );

    let fresh = world.url("e.jsonl");
    let output = finish(world.import("e2e", &["--url", &fresh], &["--id-field", "id"]));
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert_exact(&world, &data);

    // The object is rewritten: resuming (or re-running) against the old checkpoint is refused with a reason.
    let mut changed = data.bytes.clone();
    changed.extend_from_slice(b"{\"id\":\"extra\"}\n");
    world.objects.put("bucket", "e.jsonl", changed);
    std::fs::write(
        world.dir.join("checkpoint.json"),
        serde_json::to_vec(&{
            let mut c = world.checkpoint().unwrap();
            c["status"] = Value::from("paused");
            c
        })
        .unwrap(),
    )
    .unwrap();
    let output = finish(world.import("e2e", &["--url", &fresh], &["--id-field", "id"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("changed"), "{}", text(&output));
    assert!(text(&output).contains("--restart"), "{}", text(&output));
}

#[test]
fn usage_errors_explain_themselves() {
    let output = Command::new(BIN)
        .args(["import", "--file", "x.json", "--index", "e2e"])
        .env_remove("OPENSEARCH_URL")
        .env_remove("SLUICE_PROXY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("--opensearch"), "{}", text(&output));
    let output = Command::new(BIN)
        .args([
            "import",
            "--file",
            "x.json",
            "--index",
            "Bad",
            "--opensearch",
            "http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("not a valid index name"), "{}", text(&output));
    let _ = Path::new("x.json");
}
