//! Sluice at the edge: the Worker (crates/edge, built by `./scripts/edge.sh build`) running in workerd from npm,
//! against the OpenSearch test server and the S3-like object server on loopback. Jobs complete exactly through
//! SIGKILLs of workerd, resume at their committed offsets, survive an expired URL, and the proxy at the edge refuses
//! the security table's requests as `sluice serve` does; failed records are retried there after a fix, through a
//! kill.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_testkit::free_port;

mod common;

use common::security::{hostile_calls, Call, TOKEN};
use common::{csv_export, dataset, Dataset, World};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// workerd running the built Worker, on its own port and state directory.
struct Edge {
    child: Option<Child>,
    port: u16,
    state: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Edge {
    fn start(world: &World, name: &str, env: &[(&str, &str)]) -> Edge {
        let built = repo().join("target/edge/sluice_edge_bg.wasm");
        assert!(
            built.is_file(),
            "the edge Worker is not built: run ./scripts/edge.sh build (scripts/test.sh does) before these tests"
        );
        let state = world.dir.join(format!("edge-state-{name}"));
        let mut all: Vec<(String, String)> = vec![
            ("OPENSEARCH_URL".into(), world.opensearch.url()),
            ("SLUICE_ALLOW_INDEX".into(), "logs-*,products".into()),
            ("SLUICE_TOKENS".into(), TOKEN.into()),
            ("EDGE_SITE_DIR".into(), "/nonexistent".into()),
        ];
        for (key, value) in env {
            all.retain(|(k, _)| k != key);
            all.push((key.to_string(), value.to_string()));
        }
        let mut edge = Edge {
            child: None,
            port: free_port(),
            state,
            env: all,
            log: world.dir.join(format!("edge-{name}.log")),
        };
        edge.launch();
        edge
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        // edge.sh exec's workerd: the child is workerd itself, so a SIGKILL reaches it.
        let child = Command::new("bash")
            .arg(repo().join("scripts/edge.sh"))
            .arg("run")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("EDGE_PORT", self.port.to_string())
            .env("EDGE_STATE_DIR", &self.state)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::blocking::get(format!("{}/_sluice/config", self.url())).is_ok_and(|r| r.status() == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "workerd did not start: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL, as a crash or an evicted machine would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::blocking::Client::new();
        let mut request = client
            .request(method.parse().unwrap(), format!("{}{path}", self.url()))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn create(&self, job: Value) -> String {
        let (status, answer) = self.call("POST", "/jobs", Some(job));
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    fn status(&self, id: &str) -> Value {
        let (status, view) = self.call("GET", &format!("/jobs/{id}"), None);
        assert_eq!(status, 200, "{view}");
        view
    }

    /// Polls the job until `done` holds for its view.
    fn wait(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let view = self.status(id);
            if done(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {view}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_finished(&self, id: &str) -> Value {
        self.wait(id, "the job to finish", |v| v["status"] != "running")
    }

    fn dead_letter_offsets(&self, id: &str, part: Option<usize>) -> BTreeSet<u64> {
        let query = part.map(|n| format!("?part={n}")).unwrap_or_default();
        let response = reqwest::blocking::Client::new()
            .get(format!("{}/jobs/{id}/dead-letters{query}", self.url()))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let offsets: BTreeSet<u64> = lines.iter().map(|l| l["offset"].as_u64().unwrap()).collect();
        assert_eq!(offsets.len(), lines.len(), "no dead letter twice");
        assert!(lines
            .iter()
            .all(|l| l["reason"].as_str().is_some_and(|r| !r.is_empty())));
        offsets
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.kill();
    }
}

fn assert_exact(world: &World, index: &str, data: &Dataset) {
    let ids: BTreeSet<String> = world.opensearch.ids(index).into_iter().collect();
    assert_eq!(ids.len(), data.good_ids.len(), "one document per good record");
    assert_eq!(ids, data.good_ids, "exactly the good records' ids");
    assert_eq!(world.opensearch.doc_count(index), data.good_ids.len());
}

/// Kills workerd `kills` times as the job `id` moves through its `size`-byte object, each time once it has
/// committed a further share of it, and checks that every restart resumes with a Range request from the
/// committed offset. Returns those offsets.
fn kill_and_resume(edge: &mut Edge, world: &World, id: &str, size: u64, kills: u64) -> Vec<u64> {
    let mut resumed_at = Vec::new();
    for kill in 1..=kills {
        let threshold = size * kill / (kills + 2);
        edge.wait(id, "progress before a kill", |v| {
            v["committed_offset"].as_u64().unwrap() >= threshold || v["status"] != "running"
        });
        edge.kill();
        // Held at its resume point: every GET answers 503 while we read where the job stands.
        world.objects.set_unavailable(true);
        let before = world.objects.requests().len();
        edge.launch();
        let deadline = Instant::now() + Duration::from_secs(30);
        while world.objects.requests().len() == before {
            assert!(Instant::now() < deadline, "the job did not resume after the restart");
            std::thread::sleep(Duration::from_millis(20));
        }
        let view = edge.status(id);
        assert_eq!(view["status"], "running", "{view}");
        let committed = view["committed_offset"].as_u64().unwrap();
        assert!(committed > 0 && committed < size, "killed mid-job: {view}");
        let range = world.objects.requests()[before].1.clone();
        assert_eq!(
            range,
            format!("bytes={committed}-"),
            "the resume asks for the committed offset"
        );
        resumed_at.push(committed);
        world.objects.set_unavailable(false);
    }
    assert!(resumed_at.windows(2).all(|w| w[0] <= w[1]), "{resumed_at:?}");
    resumed_at
}

#[test]
fn a_jsonl_job_completes_exactly_through_three_sigkills_resuming_at_its_committed_offsets() {
    let world = World::new("edge-kills");
    let data = dataset(100_000, false);
    world.objects.put("bucket", "events.jsonl", data.bytes.clone());
    let size = data.bytes.len() as u64;
    // Small slices, so the job runs many of them and a kill can land anywhere.
    let mut edge = Edge::start(&world, "kills", &[("SLUICE_SLICE_MIB", "1")]);
    let id = edge.create(json!({
        "urls": [world.url("events.jsonl")], "index": "logs-edge", "format": "jsonl", "id_field": "id",
    }));
    let resumed_at = kill_and_resume(&mut edge, &world, &id, size, 3);
    let view = edge.wait_finished(&id);
    assert_eq!(view["status"], "completed", "{view}");
    assert_exact(&world, "logs-edge", &data);
    assert_eq!(view["indexed"], data.good_ids.len() as u64);
    assert_eq!(view["failed"], data.bad_offsets.len() as u64);
    assert_eq!(view["committed_offset"], size);
    assert_eq!(edge.dead_letter_offsets(&id, None), data.bad_offsets);
    // Every download after the first started at the end of a record (before its newline), never at 0 again.
    let ranges = world.objects.ranges();
    let starts: Vec<u64> = ranges
        .iter()
        .filter_map(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .filter(|&start| start > 0)
        .collect();
    assert!(starts.len() >= 3, "{ranges:?}");
    assert!(starts.iter().all(|&s| data.bytes[s as usize] == b'\n'), "{starts:?}");
    eprintln!("resumed at {resumed_at:?} of {size} bytes; {} slices", view["slices"]);
}

#[test]
fn a_csv_job_with_chosen_types_resumes_at_its_committed_offsets_and_keeps_its_bad_rows() {
    let world = World::new("edge-csv");
    let data = csv_export(40_000);
    world.objects.put("bucket", "export.csv", data.bytes.clone());
    let size = data.bytes.len() as u64;
    let mut edge = Edge::start(&world, "csv", &[("SLUICE_SLICE_MIB", "1")]);
    let id = edge.create(json!({
        "urls": [world.url("export.csv")], "index": "logs-csv", "format": "csv", "id_field": "id",
        "csv": {"column_types": {"zip": "keyword", "qty": "long"}, "nest_dotted": true},
    }));
    kill_and_resume(&mut edge, &world, &id, size, 2);
    let view = edge.wait_finished(&id);
    assert_eq!(view["status"], "completed", "{view}");
    assert_exact(&world, "logs-csv", &data);
    assert_eq!(view["failed"], data.bad_offsets.len() as u64);
    assert_eq!(edge.dead_letter_offsets(&id, None), data.bad_offsets);
    // The header and the inferred types came from the start of the object, kept in the checkpoint across kills.
    assert_eq!(
        world.opensearch.get("logs-csv", "r14").unwrap(),
        json!({"id": "r14", "name": "Smith, J. \"14\"\nsecond line", "zip": "10014", "price": 14.4, "qty": 14,
               "active": true, "seen": "2026-12-15T10:00:00Z", "user": {"name": "u14"}})
    );
}

#[test]
fn a_job_of_two_objects_runs_its_parts_side_by_side_and_keeps_their_dead_letters_apart() {
    let world = World::new("edge-parts");
    let array = dataset(20_000, true);
    let lines = dataset(20_000, false);
    world.objects.put("bucket", "a.json", array.bytes.clone());
    world.objects.put("bucket", "b.jsonl", lines.bytes.clone());
    let edge = Edge::start(&world, "parts", &[("SLUICE_SLICE_MIB", "1")]);
    // Derived ids: the two objects share record ids, and each record is its own document.
    let id = edge.create(json!({"urls": [world.url("a.json"), world.url("b.jsonl")], "index": "logs-parts"}));
    let view = edge.wait_finished(&id);
    assert_eq!(view["status"], "completed", "{view}");
    let good = array.good_ids.len() + lines.good_ids.len();
    assert_eq!(world.opensearch.doc_count("logs-parts"), good);
    assert_eq!(view["indexed"], good as u64);
    assert_eq!(view["parts"][0]["failed"], array.bad_offsets.len() as u64);
    assert_eq!(view["parts"][1]["failed"], lines.bad_offsets.len() as u64);
    assert_eq!(edge.dead_letter_offsets(&id, Some(0)), array.bad_offsets);
    assert_eq!(edge.dead_letter_offsets(&id, Some(1)), lines.bad_offsets);
    assert!(view["slices"].as_u64().unwrap() > 1, "{view}");
    // The list shows it; delete removes it.
    let (_, list) = edge.call("GET", "/jobs", None);
    assert!(
        list["jobs"].as_array().unwrap().iter().any(|j| j["id"] == id.as_str()),
        "{list}"
    );
    assert_eq!(edge.call("DELETE", &format!("/jobs/{id}"), None).0, 200);
    assert_eq!(edge.call("GET", &format!("/jobs/{id}"), None).0, 404);
    let (_, list) = edge.call("GET", "/jobs", None);
    assert!(list["jobs"].as_array().unwrap().is_empty(), "{list}");
}

#[test]
fn an_expired_url_stops_the_job_clearly_and_fresh_urls_finish_it() {
    let world = World::new("edge-expiry");
    let data = dataset(40_000, false);
    world.objects.put("bucket", "events.jsonl", data.bytes.clone());
    world.objects.put("bucket", "other.jsonl", dataset(10, false).bytes);
    let edge = Edge::start(&world, "expiry", &[("SLUICE_SLICE_MIB", "0.25")]);
    let id = edge.create(json!({"urls": [world.url("events.jsonl")], "index": "logs-expiry", "id_field": "id"}));
    edge.wait(&id, "some progress", |v| v["committed_offset"].as_u64().unwrap() > 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    world.objects.set_now(Some(now + 7200));
    let view = edge.wait_finished(&id);
    assert_eq!(view["status"], "failed", "{view}");
    let error = view["last_error"].as_str().unwrap();
    assert!(error.contains("expired"), "{error}");
    // Pause, resume and cancel answer with the view; a URL for another object is refused.
    let other = world
        .objects
        .presigned_url("127.0.0.1", "bucket", "other.jsonl", now + 7200, 3600);
    let (status, refused) = edge.call("PUT", &format!("/jobs/{id}/urls"), Some(json!({"urls": [other]})));
    assert_eq!(
        (status, refused["sluice_error"]["code"].as_str()),
        (400, Some("different_object")),
        "{refused}"
    );
    let fresh = world
        .objects
        .presigned_url("127.0.0.1", "bucket", "events.jsonl", now + 7200, 3600);
    let (status, resumed) = edge.call("PUT", &format!("/jobs/{id}/urls"), Some(json!({"urls": [fresh]})));
    assert_eq!(status, 200, "{resumed}");
    let view = edge.wait_finished(&id);
    assert_eq!(view["status"], "completed", "{view}");
    assert_exact(&world, "logs-expiry", &data);
    assert_eq!(edge.dead_letter_offsets(&id, None), data.bad_offsets);
}

#[test]
fn pause_resume_and_cancel_are_obeyed() {
    let world = World::new("edge-control");
    let data = dataset(60_000, false);
    world.objects.put("bucket", "events.jsonl", data.bytes.clone());
    let edge = Edge::start(&world, "control", &[("SLUICE_SLICE_MIB", "0.5")]);
    let id = edge.create(json!({"urls": [world.url("events.jsonl")], "index": "logs-control", "id_field": "id"}));
    edge.wait(&id, "some progress", |v| v["committed_offset"].as_u64().unwrap() > 0);
    let (status, paused) = edge.call("POST", &format!("/jobs/{id}/pause"), None);
    assert_eq!(status, 200, "{paused}");
    let paused = edge.wait(&id, "the pause", |v| v["parts"][0]["status"] != "running");
    assert_eq!(paused["status"], "paused", "{paused}");
    let indexed = world.opensearch.doc_count("logs-control");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        world.opensearch.doc_count("logs-control"),
        indexed,
        "nothing is sent while paused"
    );
    assert!(indexed < data.good_ids.len());
    edge.call("POST", &format!("/jobs/{id}/cancel"), None);
    assert_eq!(edge.status(&id)["status"], "cancelled");
    let (status, _) = edge.call("POST", &format!("/jobs/{id}/resume"), None);
    assert_eq!(status, 200);
    let view = edge.wait_finished(&id);
    assert_eq!(view["status"], "completed", "{view}");
    assert_exact(&world, "logs-control", &data);
}

#[test]
fn the_proxy_at_the_edge_refuses_the_security_table_and_nothing_reaches_the_cluster() {
    let world = World::new("edge-security");
    let edge = Edge::start(
        &world,
        "security",
        &[
            ("SLUICE_MAX_BODY_MIB", "1"),
            ("SLUICE_ALLOW_ORIGIN", "https://tools.example.com"),
        ],
    );
    let client = reqwest::blocking::Client::new();
    let send = |call: &Call| -> (u16, Value) {
        let mut request = client
            .request(call.method.parse().unwrap(), format!("{}{}", edge.url(), call.path))
            .body(call.body.clone());
        if let Some(content_type) = call.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = call.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().unwrap()).unwrap_or(Value::Null),
        )
    };
    let cases = hostile_calls();
    for (name, call, status, code) in &cases {
        let (got, body) = send(call);
        assert_eq!(got, *status, "{name}: {body}");
        assert_eq!(body["sluice_error"]["code"], *code, "{name}: {body}");
    }
    let (_, body) = send(&cases[7].1);
    assert!(
        body["sluice_error"]["message"].as_str().unwrap().contains("line 10001"),
        "{body}"
    );
    // The jobs API takes the same token and writes only to allowed indices.
    let (status, _) = send(&Call {
        method: "GET",
        path: "/jobs".into(),
        content_type: None,
        token: None,
        body: String::new(),
    });
    assert_eq!(status, 401);
    let (status, body) = edge.call(
        "POST",
        "/jobs",
        Some(json!({"urls": [world.url("x.jsonl")], "index": "secret"})),
    );
    assert_eq!(
        (status, body["sluice_error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    assert_eq!(
        world.opensearch.counts().requests,
        0,
        "no hostile request reached the cluster"
    );
    // CORS answers the listed origin only.
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{}/_bulk", edge.url()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .unwrap()
    };
    let allowed = preflight("https://tools.example.com");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://tools.example.com"
    );
    assert!(allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    assert!(preflight("https://evil.example")
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    // And an allowed write passes with the cluster's answer.
    let (status, body) = send(&common::security::bulk(common::security::action("logs-a")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["index"]["status"], 201, "{body}");
}

#[test]
fn the_edge_authenticates_to_the_cluster_with_its_secrets() {
    use sluice_testkit::fault_proxy::FaultProxy;
    use sluice_testkit::opensearch::{OpenSearchServer, Options};
    let world = World::new("edge-auth");
    // Basic auth: a cluster that requires it takes a whole job.
    let options = Options {
        basic_auth: Some(("ingest".into(), "s3cret pass".into())),
        ..Options::default()
    };
    let guarded = world.runtime.block_on(OpenSearchServer::start(options)).unwrap();
    let data = dataset(3000, false);
    world.objects.put("bucket", "events.jsonl", data.bytes.clone());
    let url = guarded.url();
    let edge = Edge::start(
        &world,
        "basic",
        &[
            ("OPENSEARCH_URL", &url),
            ("OPENSEARCH_USERNAME", "ingest"),
            ("OPENSEARCH_PASSWORD", "s3cret pass"),
        ],
    );
    let id = edge.create(json!({"urls": [world.url("events.jsonl")], "index": "logs-auth", "id_field": "id"}));
    assert_eq!(edge.wait_finished(&id)["status"], "completed");
    assert_eq!(guarded.doc_count("logs-auth"), data.good_ids.len());
    // SigV4 (Amazon OpenSearch Service): the signature is computed in the Worker's wasm with the runtime's clock.
    let heads = world
        .runtime
        .block_on(FaultProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            world.opensearch.address(),
        ))
        .unwrap();
    let through = format!("http://{}", heads.address());
    let edge = Edge::start(
        &world,
        "sigv4",
        &[
            ("OPENSEARCH_URL", &through),
            ("SLUICE_AWS_SIGV4", "es"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        ],
    );
    let id = edge.create(json!({"urls": [world.url("events.jsonl")], "index": "logs-signed", "id_field": "id"}));
    assert_eq!(edge.wait_finished(&id)["status"], "completed");
    let bulk_heads: Vec<String> = heads
        .request_heads()
        .into_iter()
        .filter(|h| h.starts_with("POST /_bulk"))
        .collect();
    assert!(!bulk_heads.is_empty());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let today = sluice_testkit::objects::amz_date(now)[..8].to_string();
    for head in &bulk_heads {
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains(&format!(
                "authorization: aws4-hmac-sha256 credential=akidexample/{today}/eu-west-1/es/aws4_request"
            )),
            "{head}"
        );
        assert!(
            lower.contains("x-amz-content-sha256: ") && lower.contains("x-amz-date: "),
            "{head}"
        );
    }
}

#[test]
fn a_job_deleted_while_it_runs_stops_sending_and_is_gone() {
    let world = World::new("edge-delete");
    let data = dataset(60_000, false);
    world.objects.put("bucket", "events.jsonl", data.bytes.clone());
    let edge = Edge::start(&world, "delete", &[("SLUICE_SLICE_MIB", "0.5")]);
    let id = edge.create(json!({"urls": [world.url("events.jsonl")], "index": "logs-delete", "id_field": "id"}));
    edge.wait(&id, "some progress", |v| v["committed_offset"].as_u64().unwrap() > 0);
    assert_eq!(edge.call("DELETE", &format!("/jobs/{id}"), None).0, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let indexed = world.opensearch.doc_count("logs-delete");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        world.opensearch.doc_count("logs-delete"),
        indexed,
        "nothing is sent after the delete"
    );
    assert!(indexed < data.good_ids.len());
    assert_eq!(edge.call("GET", &format!("/jobs/{id}"), None).0, 404);
    assert_eq!(edge.call("GET", &format!("/jobs/{id}/dead-letters"), None).0, 404);
}

/// `records` sales lines; every third has `status: "n/a"` where the others have a number.
fn sales(records: usize) -> (Vec<u8>, usize) {
    let text: String = (0..records)
        .map(|i| {
            let status = if i % 3 == 1 { json!("n/a") } else { json!(i % 5) };
            format!(
                "{}\n",
                json!({"id": format!("s{i}"), "status": status, "price": 1.5 + i as f64})
            )
        })
        .collect();
    (text.into_bytes(), records.div_ceil(3) - usize::from(records % 3 == 1))
}

#[test]
fn failed_records_are_retried_at_the_edge_after_a_fix_and_a_kill_mid_retry_loses_none() {
    let world = World::new("edge-retry");
    let records = 30_000;
    let (bytes, bad) = sales(records);
    assert_eq!(bad, 10_000);
    world.objects.put("bucket", "sales.jsonl", bytes);
    world.create_index(
        "logs-sales",
        json!({"mappings": {"properties": {"status": {"type": "long"}}}}),
    );
    let mut edge = Edge::start(&world, "retry", &[]);
    let id = edge.create(json!({"urls": [world.url("sales.jsonl")], "index": "logs-sales", "id_field": "id"}));
    let view = edge.wait_finished(&id);
    assert_eq!(
        (view["status"].as_str(), view["failed"].as_u64()),
        (Some("completed"), Some(bad as u64)),
        "{view}"
    );
    let (status, reasons) = edge.call("GET", &format!("/jobs/{id}/reasons"), None);
    assert_eq!(status, 200, "{reasons}");
    assert_eq!(
        reasons,
        json!({"reasons": [{"reason": "`status` is not a number", "count": bad}], "counted": bad, "partial": false})
    );
    let retry_path = format!("/jobs/{id}/retry");
    let retry_ended = |v: &Value| v["retry"]["status"].as_str().is_some_and(|s| s != "running");

    // Nothing fixed: every record fails again and stays listed, with the cluster's new answer.
    let (status, answer) = edge.call("POST", &retry_path, None);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["retry"]["total"], bad as u64, "{answer}");
    let view = edge.wait(&id, "the retry to end", retry_ended);
    assert_eq!(view["retry"]["status"], "completed", "{view}");
    assert_eq!(
        (
            view["retry"]["indexed"].as_u64(),
            view["retry"]["still_failing"].as_u64()
        ),
        (Some(0), Some(bad as u64))
    );
    assert_eq!(view["failed"], bad as u64);
    assert_eq!(edge.dead_letter_offsets(&id, None).len(), bad);

    // A choice that does not fit the source is refused in words, and nothing starts.
    let (status, answer) = edge.call(
        "POST",
        &retry_path,
        Some(json!({"column_types": {"status": "keyword"}})),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["sluice_error"]["message"]
            .as_str()
            .unwrap()
            .contains("CSV and TSV"),
        "{answer}"
    );

    // The fix: the text statuses go to a field of their own. workerd is killed mid-retry; the next alarm goes on.
    let fix = json!({"transforms": [{"op": "rename", "from": "status", "to": "status_text"}]});
    let (status, answer) = edge.call("POST", &retry_path, Some(fix));
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = edge.call("POST", &format!("/jobs/{id}/resume"), None);
    assert_eq!(
        (status, answer["sluice_error"]["code"].as_str()),
        (409, Some("retry_running")),
        "{answer}"
    );
    let view = edge.wait(&id, "a part of the retry", |v| {
        v["retry"]["sent"].as_u64() >= Some(4000) || retry_ended(v)
    });
    let (killed_mid_retry, sent_at_kill) = (!retry_ended(&view), view["retry"]["sent"].clone());
    edge.kill();
    edge.launch();
    let view = edge.wait(&id, "the retry to end after the restart", retry_ended);
    assert_eq!(view["retry"]["status"], "completed", "{view}");
    assert_eq!(view["retry"]["indexed"], bad as u64, "{view}");
    assert_eq!(view["retry"]["still_failing"], 0);
    assert_eq!(
        (view["indexed"].as_u64(), view["failed"].as_u64()),
        (Some(records as u64), Some(0)),
        "{view}"
    );
    assert!(edge.dead_letter_offsets(&id, None).is_empty());
    assert_eq!(world.opensearch.doc_count("logs-sales"), records, "each record once");
    assert_eq!(world.opensearch.get("logs-sales", "s1").unwrap()["status_text"], "n/a");
    eprintln!("killed mid-retry: {killed_mid_retry} (sent {sent_at_kill} of {bad} when killed)");
}
