//! The adapters the engine's worker runs on, tested in whichever scope includes this module: `tests/browser.rs`
//! runs them on a page, `tests/browser_worker.rs` in a dedicated worker, where the web app's imports run. IndexedDB
//! checkpoints and dead letters, the fetch source against a real object server (Range, If-Match 412, expiry 403, cut
//! downloads, gzip), a local file read from an offset, and a whole import through `sluice serve` into the OpenSearch
//! test server.

use futures::channel::mpsc;
use sluice::browser::clock::BrowserClock;
use sluice::browser::fetch_source::FetchSource;
use sluice::browser::file_source::LocalFileSource;
use sluice::browser::sink::ProxySink;
use sluice::browser::store::IdbStore;
use sluice_engine::job::{JobIo, JobPlan, SourceErrorKind};
use sluice_engine::split::Span;
use sluice_engine::{
    run_job, ByteSource, Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore, ImportSettings, JobStatus,
    SourceIdentity, Tuning,
};
use wasm_bindgen_test::*;

pub const OBJECTS: &str = match option_env!("SLUICE_TEST_OBJECTS") {
    Some(url) => url,
    None => "http://127.0.0.1:19000",
};
pub const PROXY: &str = match option_env!("SLUICE_TEST_PROXY") {
    Some(url) => url,
    None => "http://127.0.0.1:18080",
};

/// The same objects through the sandbox's download-cutting proxy (scripts/browser-tests.sh arms the cuts).
pub const CUT_OBJECTS: &str = match option_env!("SLUICE_TEST_CUT_OBJECTS") {
    Some(url) => url,
    None => "http://127.0.0.1:19001",
};

pub fn unique(name: &str) -> String {
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
    reopened.delete_part("job-1").await.unwrap();
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
async fn fetch_source_reconnects_after_a_cut_download_from_the_last_byte() {
    let whole = whole_object(&format!("{OBJECTS}/sample/events.jsonl")).await;
    let (mut source, _) = FetchSource::probe(&format!("{CUT_OBJECTS}/sample/events.jsonl"))
        .await
        .unwrap();
    source.open(0).await.unwrap();
    let (mut bytes, mut cuts) = (Vec::new(), 0);
    loop {
        match source.next_chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => {
                assert_eq!(error.kind, SourceErrorKind::Transient, "{}", error.message);
                cuts += 1;
                assert!(cuts < 100, "the download never finished");
                // What the engine does: reopen at the last byte consumed.
                source.open(bytes.len() as u64).await.unwrap();
            }
        }
    }
    assert!(cuts >= 2, "the proxy cut the download ({cuts} cuts seen)");
    assert_eq!(bytes.len(), whole.len());
    assert!(
        bytes == whole,
        "the bytes across reconnections are the object's, in order, once"
    );
}

#[wasm_bindgen_test]
async fn a_gzip_object_is_inflated_and_resumes_at_a_decompressed_offset() {
    let plain = whole_object(&format!("{OBJECTS}/sample/events.jsonl")).await;
    let url = format!("{OBJECTS}/sample/events.jsonl.gz");
    let (mut source, identity) = FetchSource::probe(&url).await.unwrap();
    assert!(identity.gzip);
    assert!(
        identity.size.unwrap() < plain.len() as u64 / 2,
        "the object is compressed"
    );
    assert_eq!(whole_object(&url).await, plain);
    source.open(5000).await.unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = source.next_chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert!(rest == plain[5000..], "offsets count decompressed bytes");
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

#[wasm_bindgen_test]
async fn a_local_file_is_read_from_an_offset() {
    let text = "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n";
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(text.as_bytes()));
    let file = web_sys::File::new_with_u8_array_sequence(&parts, "local.jsonl").unwrap();
    let identity = LocalFileSource::identify(&file).await.unwrap();
    assert_eq!(identity.size, Some(text.len() as u64));
    let mut source = LocalFileSource::new(file);
    source.open(10).await.unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = source.next_chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(
        &rest[..],
        &text.as_bytes()[10..],
        "a resume reads the bytes after the offset, once"
    );
}
