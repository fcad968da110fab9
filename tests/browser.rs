//! Browser tests (wasm-bindgen-test in headless Chromium) on a page: the adapters (`browser/adapters.rs`, which
//! `browser_worker.rs` runs in a worker too), and what only the page does: the IndexedDB schema upgrades and the
//! jobs list, and File System Access handles kept in IndexedDB.
//!
//! `scripts/browser-tests.sh` starts the servers and sets SLUICE_TEST_OBJECTS / SLUICE_TEST_PROXY at build time.

#![cfg(target_arch = "wasm32")]

#[path = "browser/adapters.rs"]
mod adapters;

use adapters::unique;
use sluice::browser::file_access::{self, Access, FileHandle};
use sluice::browser::file_source::LocalFileSource;
use sluice::browser::store::IdbStore;
use sluice_engine::manifest::JobManifest;
use sluice_engine::{Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore, ImportSettings, SourceIdentity, Tuning};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn checkpoint_for(part_id: &str, offset: u64) -> Checkpoint {
    let mut checkpoint = Checkpoint::start(
        part_id,
        SourceIdentity {
            url: Some(format!("https://b.s3.amazonaws.com/{part_id}.jsonl")),
            etag: Some("\"e\"".into()),
            size: Some(1000),
            ..SourceIdentity::default()
        },
        ImportSettings::new("logs"),
        1,
    );
    checkpoint.committed_offset = offset;
    checkpoint
}

#[wasm_bindgen_test]
async fn a_version_1_database_upgrades_and_its_jobs_are_kept() {
    let database = unique("sluice-upgrade");
    // A browser that last ran a version-1 build: checkpoints, one object per job, no manifests.
    let old = IdbStore::open_at_version(&database, 1).await.unwrap();
    old.save(&checkpoint_for("job-old", 400)).await.unwrap();
    old.remember_source_url("job-old", "https://b.s3.amazonaws.com/job-old.jsonl?X-Amz-Signature=s")
        .await
        .unwrap();
    old.close();

    let upgraded = IdbStore::open_named(&database).await.unwrap();
    let manifest = JobManifest::new(
        "job-new",
        2,
        ImportSettings::new("logs"),
        Tuning::default(),
        vec!["first".into(), "second".into()],
        vec![],
    );
    upgraded.save_manifest(&manifest).await.unwrap();
    upgraded.save(&checkpoint_for("job-new#0", 1000)).await.unwrap();
    let jobs = upgraded.jobs().await.unwrap();
    assert_eq!(jobs.len(), 2, "the old job and the new one");
    let (lone, parts) = &jobs[0];
    assert_eq!(lone.id, "job-old");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].as_ref().map(|c| c.committed_offset), Some(400));
    let (several, parts) = &jobs[1];
    assert_eq!(several, &manifest);
    assert_eq!(parts.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false]);

    upgraded
        .store(
            "job-new#0",
            &[DeadLetter {
                offset: 3,
                end: 4,
                reason: "not JSON".into(),
                record: None,
            }],
        )
        .await
        .unwrap();
    upgraded.delete_job(&manifest).await.unwrap();
    let left = upgraded.jobs().await.unwrap();
    assert_eq!(left.len(), 1, "deleting a job removes its manifest and parts only");
    assert!(upgraded.dead_letters("job-new#0", 10).await.unwrap().is_empty());
    assert!(upgraded.source_url("job-old").await.unwrap().is_some());
}

/// A file in this origin's private file system (OPFS) holding `text`, and its handle: a real `FileSystemFileHandle`,
/// as `showOpenFilePicker` gives for a file on disk, but one a test can make without a dialog.
async fn private_file(name: &str, text: &str) -> FileHandle {
    let make = js_sys::Function::new_with_args(
        "name, text",
        "return (async () => { const root = await navigator.storage.getDirectory(); \
         const handle = await root.getFileHandle(name, { create: true }); \
         const writer = await handle.createWritable(); await writer.write(text); await writer.close(); \
         return handle; })()",
    );
    let promise = make.call2(&JsValue::NULL, &name.into(), &text.into()).unwrap();
    JsFuture::from(js_sys::Promise::from(promise))
        .await
        .unwrap()
        .unchecked_into()
}

#[wasm_bindgen_test]
async fn a_local_file_handle_survives_in_indexeddb_and_reopens_the_same_file() {
    let database = unique("sluice-handles");
    // A browser that last ran a version-2 build keeps its jobs when version 3 adds the handles' store.
    let old = IdbStore::open_at_version(&database, 2).await.unwrap();
    old.save(&checkpoint_for("job-2#0", 10)).await.unwrap();
    old.close();
    let text = "{\"id\": 1}\n{\"id\": 2}\n";
    let handle = private_file(&unique("local.jsonl"), text).await;
    let store = IdbStore::open_named(&database).await.unwrap();
    assert!(store.file_handle("job-3#0").await.unwrap().is_none());
    store.remember_file_handle("job-3#0", &handle).await.unwrap();
    store.close();

    // As after a reload: a new connection, and only what IndexedDB kept.
    let store = IdbStore::open_named(&database).await.unwrap();
    assert!(
        store.load("job-2#0").await.unwrap().is_some(),
        "the version-2 checkpoint is kept"
    );
    let kept = store.file_handle("job-3#0").await.unwrap().expect("the handle is kept");
    assert_eq!(kept.name(), handle.name());
    assert_eq!(file_access::read_access(&kept).await, Access::Granted);
    let reopened = file_access::open(&kept).await.unwrap();
    let identity = LocalFileSource::identify(&reopened).await.unwrap();
    let original = LocalFileSource::identify(&file_access::open(&handle).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        identity, original,
        "the same file: name, size, lastModified and first bytes"
    );
    assert_eq!(identity.size, Some(text.len() as u64));

    store.delete_part("job-3#0").await.unwrap();
    assert!(
        store.file_handle("job-3#0").await.unwrap().is_none(),
        "a fresh start forgets the handle"
    );
}
