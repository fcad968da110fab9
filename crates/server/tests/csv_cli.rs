//! End-to-end: CSV and TSV sources through the `sluice` binary, against the OpenSearch test server and the S3-like
//! object server on loopback. A 100 000-row CSV with planted bad rows is killed with SIGKILL several times and
//! resumed; a gzipped TSV file is recognised and imported; the preview shows the types the import uses.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use sluice_testkit::opensearch::Faults;

mod common;

use common::{csv_export, text, World};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

#[test]
fn a_csv_killed_four_times_then_resumed_is_indexed_exactly_with_the_chosen_types() {
    let world = World::new("csv-kill");
    let data = csv_export(100_000);
    world.objects.put("bucket", "export.csv", data.bytes.clone());
    world.opensearch.set_faults(Faults {
        latency: Duration::from_millis(15),
        ..Faults::default()
    });
    let url = world.url("export.csv");
    let source = ["--url", url.as_str()];
    let options = [
        "--id-field",
        "id",
        "--column-type",
        "zip=keyword,qty=long",
        "--nest-dotted",
        "--batch-docs",
        "300",
    ];
    let mut resumed_from = Vec::new();
    let mut rng = 0xc5f_u64;
    for _ in 0..4 {
        let committed = world
            .checkpoint()
            .map_or(0, |c| c["committed_offset"].as_u64().unwrap());
        if committed > 0 {
            resumed_from.push(committed);
        }
        let mut child = world.import("csv", &source, &options);
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(300 + (rng >> 33) % 500));
        child.kill().unwrap(); // SIGKILL: nothing saved on the way out
        let _ = child.wait();
    }
    let saved = world.checkpoint().unwrap();
    let committed = saved["committed_offset"].as_u64().unwrap();
    assert!(
        committed > 0 && committed < data.bytes.len() as u64,
        "the kills landed mid-import ({committed})"
    );
    assert_eq!(
        saved["csv"]["columns"]["names"][7], "user.name",
        "the checkpoint keeps the header: {saved}"
    );
    resumed_from.push(committed);
    let output = world.import("csv", &source, &options).wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "completed with dead letters: {}",
        text(&output)
    );
    assert!(text(&output).contains("Resuming from byte"), "{}", text(&output));

    let ids: BTreeSet<String> = world.opensearch.ids("csv").into_iter().collect();
    assert_eq!(ids.len(), data.good_ids.len(), "one document per good row");
    assert_eq!(ids, data.good_ids, "exactly the good rows' ids");
    let letters = world.dead_letters();
    let offsets: BTreeSet<u64> = letters.iter().map(|l| l["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets.len(), letters.len(), "no dead letter is written twice");
    assert_eq!(offsets, data.bad_offsets, "dead letters are exactly the planted rows");
    let reasons: BTreeSet<String> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.contains("the row has 7 cells, the header has 8"), "{reasons:?}");
    assert!(
        reasons.contains("the cell of 'qty' is not a whole number: \"many\""),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("never closed")), "{reasons:?}");

    // Typed as chosen (zip) and as inferred (price, active, seen), the dotted name nested, empty cells absent.
    assert_eq!(
        world.opensearch.get("csv", "r14").unwrap(),
        json!({"id": "r14", "name": "Smith, J. \"14\"\nsecond line", "zip": "10014", "price": 14.4, "qty": 14,
               "active": true, "seen": "2026-12-15T10:00:00Z", "user": {"name": "u14"}})
    );
    assert!(world.opensearch.get("csv", "r22").unwrap().get("price").is_none());
    // Each resume asked the object server for the rest only: the header was not read again.
    let ranges = world.objects.ranges();
    for offset in resumed_from {
        assert!(
            ranges.contains(&format!("bytes={offset}-")),
            "a resume from {offset} in {ranges:?}"
        );
    }
    println!("csv kill -9 x4: {:?}", world.opensearch.counts());
}

#[test]
fn a_gzipped_tsv_file_is_recognised_and_its_preview_shows_the_import_types() {
    use std::io::Write;
    let world = World::new("tsv-gz");
    let mut tsv = String::from("code\tcity\tpopulation\n");
    for i in 0..3000 {
        tsv.push_str(&format!("{:05}\tcity \"{i}\"\t{}\n", i, 1000 + i * 7));
    }
    tsv.push_str("last\tno line break\t5"); // the last row has no line break
    let path = world.dir.join("cities.tsv.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(tsv.as_bytes()).unwrap();
    std::fs::write(&path, encoder.finish().unwrap()).unwrap();
    let path_text = path.display().to_string();

    let preview = Command::new(BIN)
        .args(["preview", "--file", &path_text, "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&preview.stdout).unwrap_or_else(|_| panic!("{}", text(&preview)));
    assert_eq!(shown["format"], "tsv");
    assert_eq!(
        shown["csv"]["columns"],
        json!([{"name": "code", "type": "keyword"}, {"name": "city", "type": "keyword"},
               {"name": "population", "type": "long"}]),
        "codes with leading zeros stay text"
    );

    let output = world
        .import("csv", &["--file", &path_text], &["--id-field", "code"])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(world.opensearch.doc_count("csv"), 3001);
    assert_eq!(
        world.opensearch.get("csv", "00042").unwrap(),
        json!({"code": "00042", "city": "city \"42\"", "population": 1294})
    );
    assert_eq!(
        world.opensearch.get("csv", "last").unwrap(),
        json!({"code": "last", "city": "no line break", "population": 5})
    );
}

#[test]
fn csv_usage_errors_and_an_unusable_header_explain_themselves() {
    let world = World::new("csv-usage");
    let run = |args: &[&str]| -> Output {
        Command::new(BIN)
            .arg("import")
            .args(args)
            .args(["--index", "csv", "--opensearch", &world.opensearch.url()])
            .arg("--checkpoint")
            .arg(world.dir.join("usage.checkpoint.json"))
            .output()
            .unwrap()
    };
    let path = world.dir.join("a.csv");
    std::fs::write(&path, "id,price\n1,2\n").unwrap();
    let file = path.display().to_string();
    let bad_type = run(&["--file", &file, "--column-type", "price=money"]);
    assert_eq!(bad_type.status.code(), Some(2), "{}", text(&bad_type));
    assert!(
        text(&bad_type).contains("'money' is not a column type"),
        "{}",
        text(&bad_type)
    );
    let no_columns = run(&["--file", &file, "--no-header"]);
    assert_eq!(no_columns.status.code(), Some(2), "{}", text(&no_columns));
    assert!(text(&no_columns).contains("--columns"), "{}", text(&no_columns));
    let unknown = run(&["--file", &file, "--column-type", "prise=double"]);
    assert_ne!(unknown.status.code(), Some(0), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("'prise'") && text(&unknown).contains("'id', 'price'"),
        "{}",
        text(&unknown)
    );
    assert_eq!(world.opensearch.counts().bulk_requests, 0, "nothing was sent");
}

#[test]
fn rows_refused_for_their_type_are_retried_with_another_column_type() {
    let world = World::new("csv-retry");
    let mut csv = String::from("id,code,n\n");
    for i in 0..50 {
        // Three rows carry a code that is not a number; the others leave it empty (absent).
        let code = if i % 20 == 3 { format!("A{i}") } else { String::new() };
        csv.push_str(&format!("r{i},{code},{i}\n"));
    }
    let path = world.dir.join("codes.csv");
    std::fs::write(&path, &csv).unwrap();
    let path_text = path.display().to_string();
    let output = world
        .import(
            "csv",
            &["--file", &path_text],
            &["--id-field", "id", "--column-type", "code=long"],
        )
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert_eq!(world.opensearch.doc_count("csv"), 47);
    let retry = |extra: &[&str]| -> Output {
        Command::new(BIN)
            .arg("retry")
            .arg("--dead-letters")
            .arg(world.dir.join("dead-letters.ndjson"))
            .arg("--checkpoint")
            .arg(world.dir.join("checkpoint.json"))
            .args(["--opensearch", &world.opensearch.url()])
            .args(extra)
            .output()
            .unwrap()
    };
    // Nothing changed: the rows are refused again, for the same reason (not as text that is not JSON).
    let again = retry(&[]);
    assert_ne!(again.status.code(), Some(0), "{}", text(&again));
    let letters = world.dead_letters();
    assert_eq!(letters.len(), 3);
    assert_eq!(letters[0]["reason"], "the cell of 'code' is not a whole number: \"A3\"");
    // A misspelt column is refused, not silently ignored; nothing is sent.
    let misspelt = retry(&["--column-type", "cod=keyword"]);
    assert_ne!(misspelt.status.code(), Some(0), "{}", text(&misspelt));
    assert!(
        text(&misspelt).contains("a type was chosen for the column 'cod', which the source does not have"),
        "{}",
        text(&misspelt)
    );
    assert_eq!(world.dead_letters().len(), 3);
    // The fix: the column is text. The three rows go in as documents, under the ids the import would give them.
    let fixed = retry(&["--column-type", "code=keyword"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed));
    assert!(world.dead_letters().is_empty());
    assert_eq!(world.opensearch.doc_count("csv"), 50);
    assert_eq!(
        world.opensearch.get("csv", "r23").unwrap(),
        json!({"id": "r23", "code": "A23", "n": 23})
    );
}
