//! Browser tests (wasm-bindgen-test in headless Chromium): the IndexedDB stores, the fetch source against a real
//! object server (Range, If-Match 412, expiry 403), and a whole import run by the engine in the browser through
//! `sluice serve` into the OpenSearch test server, with checkpoints in IndexedDB.
//!
//! `scripts/test.sh` starts the servers and sets SLUICE_TEST_OBJECTS / SLUICE_TEST_PROXY at build time.

#![cfg(target_arch = "wasm32")]

use futures::channel::mpsc;
use sluice::browser::clock::BrowserClock;
use sluice::browser::fetch_source::FetchSource;
use sluice::browser::sink::ProxySink;
use sluice::browser::store::IdbStore;
use sluice_engine::job::{JobIo, JobPlan, SourceErrorKind};
use sluice_engine::split::Span;
use sluice_engine::{
    run_job, ByteSource, Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore, ImportSettings, JobStatus,
    SourceIdentity, Tuning,
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const OBJECTS: &str = match option_env!("SLUICE_TEST_OBJECTS") {
    Some(url) => url,
    None => "http://127.0.0.1:19000",
};
const PROXY: &str = match option_env!("SLUICE_TEST_PROXY") {
    Some(url) => url,
    None => "http://127.0.0.1:18080",
};

fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Date::now() as u64)
}

#[wasm_bindgen_test]
async fn indexeddb_keeps_checkpoints_and_dead_letters_across_reopening() {
    let database = unique("sluice-test");
    let store = IdbStore::open_named(&database).await.unwrap();
    let mut checkpoint = Checkpoint::start(
        "job-1",
        SourceIdentity {
            bucket: Some("b".into()),
            key: Some("k".into()),
            etag: Some("\"e\"".into()),
            size: Some(100),
            ..SourceIdentity::default()
        },
        ImportSettings::new("logs"),
        1,
    );
    checkpoint.committed_offset = 42;
    store.save(&checkpoint).await.unwrap();
    let letter = |offset: u64| {
        DeadLetter::with_record(
            Span {
                start: offset,
                end: offset + 3,
            },
            "not JSON",
            b"x y",
        )
    };
    store.store("job-1", &[letter(7), letter(30)]).await.unwrap();
    // A replay stores the same dead letter again: it replaces, never duplicates.
    store.store("job-1", &[letter(30)]).await.unwrap();
    store.store("job-2", &[letter(5)]).await.unwrap();
    store
        .remember_source_url("job-1", "https://b.s3.amazonaws.com/k?X-Amz-Signature=s")
        .await
        .unwrap();
    store.close();

    let reopened = IdbStore::open_named(&database).await.unwrap();
    assert_eq!(reopened.load("job-1").await.unwrap(), Some(checkpoint.clone()));
    assert_eq!(reopened.list().await.unwrap().len(), 1);
    let letters = reopened.dead_letters("job-1", 100).await.unwrap();
    assert_eq!(letters.iter().map(|l| l.offset).collect::<Vec<_>>(), vec![7, 30]);
    assert_eq!(reopened.dead_letters("job-1", 1).await.unwrap().len(), 1);
    assert!(reopened.source_url("job-1").await.unwrap().is_some());
    reopened.forget_source_url("job-1").await.unwrap();
    assert_eq!(reopened.source_url("job-1").await.unwrap(), None);
    reopened.delete_job("job-1").await.unwrap();
    assert_eq!(reopened.load("job-1").await.unwrap(), None);
    assert!(reopened.dead_letters("job-1", 100).await.unwrap().is_empty());
    assert_eq!(
        reopened.dead_letters("job-2", 100).await.unwrap().len(),
        1,
        "other jobs are untouched"
    );
}

async fn whole_object(url: &str) -> Vec<u8> {
    let mut source = FetchSource::probe(url).await.unwrap().0;
    source.open(0).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = source.next_chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

#[wasm_bindgen_test]
async fn fetch_source_resumes_with_range_and_detects_changes() {
    let url = format!("{OBJECTS}/sample/events.jsonl");
    let (mut source, identity) = FetchSource::probe(&url).await.unwrap();
    let size = identity.size.unwrap();
    assert!(identity.etag.is_some(), "the ETag is exposed through CORS");
    assert_eq!(
        (identity.bucket.as_deref(), identity.key.as_deref()),
        (None, None),
        "a plain URL has no bucket"
    );
    let whole = whole_object(&url).await;
    assert_eq!(whole.len() as u64, size);
    source.open(1000).await.unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = source.next_chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(
        &rest[..],
        &whole[1000..],
        "a resume downloads exactly the bytes after the offset"
    );

    let mut changed = identity.clone();
    changed.etag = Some("\"another-version\"".into());
    let refused = FetchSource::resume(&url, &changed).open(1000).await.unwrap_err();
    assert_eq!(refused.kind, SourceErrorKind::Changed, "{}", refused.message);

    let expired = format!("{url}?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-Signature=0");
    let error = FetchSource::probe(&expired)
        .await
        .err()
        .expect("an expired URL is refused");
    assert_eq!(error.kind, SourceErrorKind::Expired, "{}", error.message);
    assert!(
        !error.message.contains("X-Amz-Signature"),
        "presigned URLs are never shown: {}",
        error.message
    );
}

#[wasm_bindgen_test]
async fn the_engine_imports_in_the_browser_through_the_proxy() {
    let url = format!("{OBJECTS}/sample/events.json");
    let (source, identity) = FetchSource::probe(&url).await.unwrap();
    let index = unique("browser");
    let mut settings = ImportSettings::new(index.clone());
    settings.id = sluice_engine::IdStrategy::Field { pointer: "/id".into() };
    let store = IdbStore::open_named(&unique("sluice-job")).await.unwrap();
    let checkpoint = Checkpoint::start("browser-job", identity, settings, js_sys::Date::now() as u64);
    let sink = ProxySink::new(PROXY, None);
    let (_control, commands) = mpsc::unbounded();
    let mut events = 0;
    let mut on_progress = |_: &sluice_engine::progress::Progress| events += 1;
    let outcome = run_job(
        JobPlan {
            checkpoint,
            tuning: Tuning {
                batch_docs: 1000,
                ..Tuning::default()
            },
            seed: 1,
        },
        source,
        JobIo {
            sink: &sink,
            checkpoints: &store,
            dead_letters: &store,
            clock: &BrowserClock,
        },
        commands,
        &mut on_progress,
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, JobStatus::Completed);
    let saved = store.load("browser-job").await.unwrap().unwrap();
    assert_eq!(saved.status, JobStatus::Completed);
    // The sandbox's sample: 10 000 records, one in 1000 planted to fail the mapping.
    assert_eq!((saved.counters.indexed, saved.counters.failed), (9990, 10));
    let letters = store.dead_letters("browser-job", 100).await.unwrap();
    assert_eq!(letters.len(), 10);
    assert!(
        letters[0].reason.contains("mapper_parsing_exception"),
        "{}",
        letters[0].reason
    );
    assert!(events > 0, "progress was reported");
    let count: serde_json::Value = gloo_net::http::Request::get(&format!("{PROXY}/{index}/_count"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 9990);
}
