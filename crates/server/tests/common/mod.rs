//! What the end-to-end tests of the `sluice` binary share: the test servers on loopback, a scratch directory, and
//! the text a command printed.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod security;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use sluice_testkit::objects::ObjectServer;
use sluice_testkit::opensearch::{OpenSearchServer, Options};

/// The OpenSearch test server and the S3-like object server, on a runtime of their own, and a scratch directory
/// removed when the world is dropped.
pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub opensearch: OpenSearchServer,
    pub objects: ObjectServer,
    pub dir: PathBuf,
}

impl World {
    pub fn new(name: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let opensearch = runtime.block_on(OpenSearchServer::start(Options::default())).unwrap();
        let objects = runtime.block_on(ObjectServer::start()).unwrap();
        let dir = std::env::temp_dir().join(format!("sluice-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        World {
            runtime,
            opensearch,
            objects,
            dir,
        }
    }

    /// A presigned URL of an object in the bucket `bucket`, valid for an hour.
    pub fn url(&self, key: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.objects.presigned_url("127.0.0.1", "bucket", key, now, 3600)
    }

    /// Creates `index` in the test cluster with `body` (settings, mappings).
    pub fn create_index(&self, name: &str, body: Value) {
        let url = format!("{}/{name}", self.opensearch.url());
        self.runtime.block_on(async {
            let response = reqwest::Client::new()
                .put(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        });
    }

    /// Starts `sluice import` of `source` into `index` of the test cluster, with its checkpoint and dead letters in
    /// the scratch directory (the same files on every run, so a second run resumes the first).
    pub fn import(&self, index: &str, source: &[&str], extra: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("import")
            .args(source)
            .args(["--index", index, "--opensearch", &self.opensearch.url()])
            .arg("--checkpoint")
            .arg(self.dir.join("checkpoint.json"))
            .arg("--dead-letters")
            .arg(self.dir.join("dead-letters.ndjson"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The checkpoint file of [`World::import`], if one was saved.
    pub fn checkpoint(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join("checkpoint.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The dead-letter file of [`World::import`], line by line.
    pub fn dead_letters(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("dead-letters.ndjson")).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// The offsets of the dead letters; none may be written twice.
    pub fn dead_letter_offsets(&self) -> BTreeSet<u64> {
        let letters = self.dead_letters();
        let offsets: BTreeSet<u64> = letters.iter().map(|l| l["offset"].as_u64().unwrap()).collect();
        assert_eq!(offsets.len(), letters.len(), "no dead letter is written twice");
        offsets
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a command printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A generated source and what importing it must give.
pub struct Dataset {
    pub bytes: Vec<u8>,
    pub good_ids: BTreeSet<String>,
    pub bad_offsets: BTreeSet<u64>,
}

/// `records` records, one in 500 planted bad: not JSON, not an object, or a mapping conflict the cluster refuses.
pub fn dataset(records: usize, array: bool) -> Dataset {
    let mut bytes = Vec::new();
    let mut good_ids = BTreeSet::new();
    let mut bad_offsets = BTreeSet::new();
    if array {
        bytes.extend_from_slice(b"[\n");
    }
    for i in 0..records {
        if array && i > 0 {
            bytes.extend_from_slice(b",\n");
        }
        let offset = bytes.len() as u64;
        let record = match i % 500 {
            137 if !array => "{\"id\": \"broken".to_string(),
            251 => format!("[\"not\", \"an object\", {i}]"),
            389 => format!("{{\"id\":\"r{i}\",\"n\":\"not a number\",\"text\":\"conflict\"}}"),
            _ => {
                good_ids.insert(format!("r{i}"));
                format!(
                    "{{\"id\":\"r{i}\",\"n\":{i},\"text\":\"record {i} \\\"quoted\\\" é 日本\",\"tags\":[\"a\",\"b\"],\"nested\":{{\"k\":{i}}}}}"
                )
            }
        };
        if !good_ids.contains(&format!("r{i}")) {
            bad_offsets.insert(offset);
        }
        bytes.extend_from_slice(record.as_bytes());
        if !array {
            bytes.push(b'\n');
        }
    }
    if array {
        bytes.extend_from_slice(b"\n]\n");
    }
    Dataset {
        bytes,
        good_ids,
        bad_offsets,
    }
}

/// `rows` rows of eight columns (quoted names with commas, quotes and line breaks; 5-digit zips; prices; counts;
/// booleans; dates; a dotted `user.name`), CRLF line ends. One row in 500 is bad: a cell missing, or a count that
/// is not a number; the file ends inside a quoted cell.
pub fn csv_export(rows: usize) -> Dataset {
    let mut bytes = b"id,name,zip,price,qty,active,seen,user.name\r\n".to_vec();
    let mut good_ids = BTreeSet::new();
    let mut bad_offsets = BTreeSet::new();
    for i in 0..rows {
        let offset = bytes.len() as u64;
        let row = match i % 500 {
            137 => format!(
                "r{i},\"short, one cell missing\",{},1.5,3,true,2026-12-01",
                10000 + i % 90000
            ),
            251 => format!("r{i},name {i},{},1.5,many,true,2026-12-01,u{i}", 10000 + i % 90000),
            _ => {
                good_ids.insert(format!("r{i}"));
                let name = if i % 7 == 0 {
                    format!("\"Smith, J. \"\"{i}\"\"\nsecond line\"")
                } else {
                    format!("name {i} é")
                };
                let price = if i % 11 == 0 {
                    String::new()
                } else {
                    format!("{}.{}", i % 1000, i % 10)
                };
                format!(
                    "r{i},{name},{},{price},{},{},2026-12-{:02}T10:00:00Z,u{i}",
                    10000 + i % 90000,
                    i % 100,
                    i % 2 == 0,
                    1 + i % 28
                )
            }
        };
        if !good_ids.contains(&format!("r{i}")) {
            bad_offsets.insert(offset);
        }
        bytes.extend_from_slice(row.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bad_offsets.insert(bytes.len() as u64);
    bytes.extend_from_slice(b"r-last,\"a quote never closed,1,1,1,true,2026-12-01,u\r\n");
    Dataset {
        bytes,
        good_ids,
        bad_offsets,
    }
}
