//! End-to-end: `sluice preview`, transforms on `sluice import`, and `sluice retry`, as a user runs them against the
//! OpenSearch test server and the S3-like object server on loopback.

use std::process::{Command, Output};

use serde_json::{json, Value};

mod common;

use common::{text, World};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

impl World {
    fn sluice(&self, args: &[&str]) -> Output {
        Command::new(BIN).args(args).output().unwrap()
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// 1000 sales records; every 100th has `status: "n/a"` where the others have a number.
fn sales() -> Vec<u8> {
    (0..1000)
        .map(|i| {
            let status = if i % 100 == 7 { json!("n/a") } else { json!(i % 5) };
            format!(
                "{}\n",
                json!({"id": format!("s{i}"), "status": status, "price": 1.5 + i as f64,
                       "at": "2026-03-04T05:06:07Z", "customer": {"name": format!("c{i}")}})
            )
        })
        .collect::<String>()
        .into_bytes()
}

#[test]
fn preview_reads_only_the_head_and_reports_fields_and_mapping_conflicts() {
    let world = World::new("preview");
    // Large enough that the head is a small part of it.
    let mut big = Vec::new();
    while big.len() < 2 * 1024 * 1024 {
        big.extend_from_slice(&sales());
    }
    world.objects.put("bucket", "sales.jsonl", big.clone());
    world.create_index(
        "sales-2024",
        json!({"mappings": {"properties": {"status": {"type": "long"}, "price": {"type": "double"}}}}),
    );
    let url = world.url("sales.jsonl");
    let output = world.sluice(&[
        "preview",
        "--url",
        &url,
        "--index",
        "sales-2024",
        "--opensearch",
        &world.opensearch.url(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(3), "conflicts found: {}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["format"], "jsonl");
    assert_eq!(report["records"], 1000, "the sample is capped at 1000 records");
    assert_eq!(report["invalid"], 0);
    assert_eq!(report["index_exists"], true);
    let fields: Vec<&str> = report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id", "status", "price", "at", "customer", "customer.name"]);
    let status = &report["fields"][1];
    assert_eq!(status["types"], json!({"keyword": 10, "long": 990}));
    let conflicts = report["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        (
            &conflicts[0]["path"],
            &conflicts[0]["mapped"],
            &conflicts[0]["count"],
            &conflicts[0]["example"]
        ),
        (&json!("status"), &json!("long"), &json!(10), &json!("\"n/a\""))
    );
    // Only the head was read: the probe and one bounded range.
    let ranges = world.objects.ranges();
    assert_eq!(ranges, ["bytes=0-0", "bytes=0-262143"], "{ranges:?}");

    // The human report says it in words.
    let output = world.sluice(&[
        "preview",
        "--url",
        &url,
        "--index",
        "sales-2024",
        "--opensearch",
        &world.opensearch.url(),
    ]);
    let shown = text(&output);
    assert!(
        shown.contains(
            "field `status` is `long` in sales-2024; 10 of the 1000 sampled records have text there (e.g. \"n/a\")"
        ),
        "{shown}"
    );
    assert!(shown.contains("customer.name") && shown.contains("keyword"), "{shown}");

    // A missing index gets a proposed mapping.
    let output = world.sluice(&[
        "preview",
        "--url",
        &url,
        "--index",
        "new-sales",
        "--opensearch",
        &world.opensearch.url(),
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["index_exists"], false);
    assert_eq!(report["proposed_mapping"]["properties"]["at"], json!({"type": "date"}));
    assert_eq!(
        report["proposed_mapping"]["properties"]["customer"]["properties"]["name"],
        json!({"type": "keyword"})
    );
}

#[test]
fn preview_and_import_refuse_a_csv_read_as_json_lines_and_say_to_choose_csv() {
    let world = World::new("wrong");
    let csv: String = std::iter::once("id,name,price\n".to_string())
        .chain((0..5000).map(|i| format!("{i},item {i},{i}.5\n")))
        .collect();
    let path = world.path("export.csv");
    std::fs::write(&path, &csv).unwrap();
    let output = world.sluice(&["preview", "--file", &path, "--format", "jsonl"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("this looks like CSV") && text(&output).contains("choose the format CSV"),
        "{}",
        text(&output)
    );
    // With the format left to auto, the same file is a CSV with typed columns.
    let output = world.sluice(&["preview", "--file", &path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("id (long), name (keyword), price (double)"),
        "{}",
        text(&output)
    );

    let output = world.sluice(&[
        "import",
        "--file",
        &path,
        "--format",
        "jsonl",
        "--index",
        "sales",
        "--opensearch",
        &world.opensearch.url(),
        "--checkpoint",
        &world.path("c.json"),
        "--dead-letters",
        &world.path("d.ndjson"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("none of the first 1000 records"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("looks like CSV"), "{}", text(&output));
    assert_eq!(world.opensearch.counts().bulk_requests, 0, "not a single bulk request");
    assert!(
        !std::path::Path::new(&world.path("d.ndjson")).exists(),
        "no dead letter for a wrong file"
    );
}

#[test]
fn a_truncated_array_imports_the_records_before_the_break() {
    let world = World::new("truncated");
    let path = world.path("cut.json");
    std::fs::write(&path, br#"[{"id":1},{"id":2},{"id":3"#).unwrap();
    let output = world.sluice(&[
        "import",
        "--file",
        &path,
        "--index",
        "cut",
        "--id-field",
        "id",
        "--opensearch",
        &world.opensearch.url(),
        "--checkpoint",
        &world.path("c.json"),
        "--dead-letters",
        &world.path("d.ndjson"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("The 2 complete records before it were imported"),
        "{}",
        text(&output)
    );
    let mut ids = world.opensearch.ids("cut");
    ids.sort();
    assert_eq!(ids, ["1", "2"]);
    let checkpoint: Value = serde_json::from_slice(&std::fs::read(world.path("c.json")).unwrap()).unwrap();
    assert_eq!(checkpoint["committed_offset"], br#"[{"id":1},{"id":2}"#.len());
}

#[test]
fn import_with_transforms_then_retry_the_failed_records_after_fixing_the_cause() {
    let world = World::new("retry");
    world.objects.put("bucket", "sales.jsonl", sales());
    world.create_index(
        "sales",
        json!({"mappings": {"properties": {"status": {"type": "long"}}}}),
    );
    let url = world.url("sales.jsonl");
    let checkpoint = world.path("sales.checkpoint.json");
    let dead_letters = world.path("sales.dead-letters.ndjson");
    let os = world.opensearch.url();
    let output = world.sluice(&[
        "import",
        "--url",
        &url,
        "--index",
        "sales",
        "--opensearch",
        &os,
        "--checkpoint",
        &checkpoint,
        "--dead-letters",
        &dead_letters,
        "--rename",
        "customer.name=customer_name",
        "--set-source-name",
        "source",
        "--set",
        "region=EU",
    ]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "completed with dead letters: {}",
        text(&output)
    );
    assert_eq!(world.opensearch.doc_count("sales"), 990);
    let ids = world.opensearch.ids("sales");
    let doc = world.opensearch.get("sales", &ids[0]).unwrap();
    assert_eq!((&doc["region"], &doc["source"]), (&json!("EU"), &json!("sales.jsonl")));
    assert!(
        doc["customer_name"].is_string() && doc["customer"].get("name").is_none(),
        "{doc}"
    );

    // A completed import is not run again (a resume with other transforms is refused: the driver tests).
    let output = world.sluice(&[
        "import",
        "--url",
        &url,
        "--index",
        "sales",
        "--opensearch",
        &os,
        "--checkpoint",
        &checkpoint,
        "--dead-letters",
        &dead_letters,
    ]);
    assert!(text(&output).contains("Already completed"), "{}", text(&output));

    // Retry without fixing anything: all ten fail again, grouped by reason; nothing else is sent.
    let before = world.opensearch.counts().bulk_requests;
    let output = world.sluice(&["retry", "--dead-letters", &dead_letters, "--opensearch", &os]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(
        text(&output).contains("10  `status` is not a number"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read_to_string(&dead_letters).unwrap().lines().count(), 10);
    assert!(world.opensearch.counts().bulk_requests > before);

    // Fix: the same transforms plus parse the bad status away by renaming it; all ten go in with the ids the import
    // would have given them, and the dead-letter file is empty.
    let output = world.sluice(&[
        "retry",
        "--dead-letters",
        &dead_letters,
        "--opensearch",
        &os,
        "--rename",
        "customer.name=customer_name",
        "--rename",
        "status=status_text",
        "--set-source-name",
        "source",
        "--set",
        "region=EU",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("10 indexed, 0 still failing"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read_to_string(&dead_letters).unwrap(), "");
    assert_eq!(world.opensearch.doc_count("sales"), 1000, "each record once");
    let repaired = world
        .opensearch
        .ids("sales")
        .into_iter()
        .filter_map(|id| world.opensearch.get("sales", &id))
        .find(|doc| doc.get("status_text").is_some())
        .unwrap();
    assert_eq!(repaired["status_text"], "n/a");
    let saved: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(
        (&saved["counters"]["indexed"], &saved["counters"]["failed"]),
        (&json!(1000), &json!(0))
    );
}
