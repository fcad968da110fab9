//! What the end-to-end tests of the `sluice` binary share: the test servers on loopback, a scratch directory, and
//! the text a command printed.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod security;

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
