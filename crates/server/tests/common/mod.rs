//! What the end-to-end tests of the `sluice` binary share: the test servers on loopback, a scratch directory, and
//! the text a command printed.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod security;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;

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
