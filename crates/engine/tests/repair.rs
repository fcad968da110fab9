//! Retry of failed records in the simulated world: only the dead letters are sent, with the same ids, those that
//! now succeed leave the store, and an interrupted retry resumes by running again.

mod sim;

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_engine::job::{JobIo, JobPlan, StoreError};
use sluice_engine::repair::{retry_dead_letters, RetryLedger, RetryReport};
use sluice_engine::retry::RetryPolicy;
use sluice_engine::transform::{Transform, TransformContext};
use sluice_engine::{run_job, Checkpoint, DeadLetter, ImportSettings, JobStatus, SourceIdentity, Tuning};

use sim::{poll_at_most, Faults, MemCheckpoints, MemDeadLetters, MemSource, SimClock, SimCluster};

const CALM: Faults = Faults {
    item_429: 0.0,
    request_429: 0.0,
    drop_after_apply: 0.0,
    max_body: usize::MAX,
    max_latency: 2,
};

fn tuning() -> Tuning {
    Tuning {
        batch_docs: 4,
        retry: RetryPolicy {
            base_ms: 5,
            cap_ms: 50,
            max_attempts: 30,
        },
        checkpoint_every_batches: 1,
        ..Tuning::default()
    }
}

/// The sim cluster refuses documents with a `poison` field: every 5th record has one.
fn source() -> Bytes {
    Bytes::from(
        (0..60)
            .map(|i| {
                if i % 5 == 0 {
                    format!("{{\"n\":{i},\"poison\":true}}\n")
                } else {
                    format!("{{\"n\":{i}}}\n")
                }
            })
            .collect::<String>(),
    )
}

fn identity(size: usize) -> SourceIdentity {
    SourceIdentity {
        bucket: Some("b".into()),
        key: Some("k.jsonl".into()),
        size: Some(size as u64),
        ..SourceIdentity::default()
    }
}

/// A ledger over the in-memory dead-letter store.
struct Ledger<'a>(&'a MemDeadLetters);

impl RetryLedger for Ledger<'_> {
    async fn settle(&self, indexed: &[u64], still_failing: &[DeadLetter]) -> Result<(), StoreError> {
        let mut letters = self.0.letters.borrow_mut();
        for offset in indexed {
            letters.remove(offset);
        }
        for letter in still_failing {
            letters.insert(letter.offset, letter.clone());
        }
        Ok(())
    }
}

fn import(cluster: &SimCluster, dead_letters: &MemDeadLetters) -> Checkpoint {
    let data = source();
    let checkpoints = MemCheckpoints::default();
    let clock = SimClock::default();
    let (_control, commands) = futures::channel::mpsc::unbounded();
    let mut on_progress = |_: &sluice_engine::progress::Progress| {};
    let job = run_job(
        JobPlan {
            checkpoint: Checkpoint::start("job", identity(data.len()), ImportSettings::new("docs"), 0),
            tuning: tuning(),
            seed: 1,
        },
        MemSource::new(data, 1, 100, 0.0),
        JobIo {
            sink: cluster,
            checkpoints: &checkpoints,
            dead_letters,
            clock: &clock,
        },
        commands,
        &mut on_progress,
    );
    let outcome = poll_at_most(job, 10_000_000).unwrap().unwrap();
    assert_eq!(outcome.status, JobStatus::Completed);
    outcome.checkpoint
}

fn retry(
    cluster: &SimCluster,
    dead_letters: &MemDeadLetters,
    settings: &ImportSettings,
    polls: u64,
) -> Option<RetryReport> {
    let letters: Vec<DeadLetter> = dead_letters.letters.borrow().values().cloned().collect();
    let clock = SimClock::default();
    let ledger = Ledger(dead_letters);
    let namespace = identity(0).id_namespace();
    let context = TransformContext::default();
    let tuning = tuning();
    let mut on_progress = |_: u64, _: u64| {};
    let job = retry_dead_letters(
        letters,
        settings,
        &namespace,
        &context,
        None,
        &tuning,
        cluster,
        &clock,
        &ledger,
        &mut on_progress,
    );
    poll_at_most(job, polls).map(|r| r.unwrap())
}

fn doc_ids(cluster: &SimCluster) -> BTreeMap<String, u32> {
    cluster
        .index
        .borrow()
        .docs
        .iter()
        .map(|(id, (_, writes))| (id.clone(), *writes))
        .collect()
}

#[test]
fn a_fixed_cause_sends_only_the_failed_records_with_their_original_ids() {
    let cluster = SimCluster::new(3, CALM);
    let dead_letters = MemDeadLetters::default();
    let checkpoint = import(&cluster, &dead_letters);
    assert_eq!((checkpoint.counters.indexed, checkpoint.counters.failed), (48, 12));
    let before = doc_ids(&cluster);

    // Nothing changed: the same records fail again, with their reason, and nothing else is sent.
    let unchanged = retry(&cluster, &dead_letters, &ImportSettings::new("docs"), 1_000_000).unwrap();
    assert_eq!((unchanged.indexed, unchanged.failed), (0, 12));
    assert_eq!(dead_letters.letters.borrow().len(), 12);
    assert_eq!(doc_ids(&cluster), before, "no good record was sent again");

    // The analyst drops the offending field: all twelve go in, under the ids the import would have given them.
    let mut fixed = ImportSettings::new("docs");
    fixed.transforms = vec![Transform::Drop { field: "poison".into() }];
    let report = retry(&cluster, &dead_letters, &fixed, 1_000_000).unwrap();
    assert_eq!((report.indexed, report.failed, report.skipped), (12, 0, 0));
    assert!(dead_letters.letters.borrow().is_empty());
    let after = doc_ids(&cluster);
    assert_eq!(after.len(), 60);
    assert!(
        after.values().all(|&writes| writes == 1),
        "each record was written once"
    );
    let namespace = format!(
        "{:016x}",
        sluice_engine::settings::fnv1a64(identity(0).id_namespace().as_bytes())
    );
    assert!(after.keys().all(|id| id.starts_with(&namespace)));
}

#[test]
fn an_interrupted_retry_resumes_by_running_again() {
    let cluster = SimCluster::new(4, Faults { item_429: 0.2, ..CALM });
    let dead_letters = MemDeadLetters::default();
    import(&cluster, &dead_letters);
    let mut fixed = ImportSettings::new("docs");
    fixed.transforms = vec![Transform::Drop { field: "poison".into() }];
    // Crash after a growing number of polls until the crash lands between batches.
    let mut polls = 1;
    while dead_letters.letters.borrow().len() == 12 {
        assert!(
            retry(&cluster, &dead_letters, &fixed, polls).is_none(),
            "crashed before the end"
        );
        polls += 3;
    }
    let left = dead_letters.letters.borrow().len();
    assert!(left > 0 && left < 12, "{left} left after the crash");
    let report = retry(&cluster, &dead_letters, &fixed, 10_000_000).unwrap();
    assert_eq!(report.indexed as usize, left);
    assert!(dead_letters.letters.borrow().is_empty());
    let docs = doc_ids(&cluster);
    assert_eq!(docs.len(), 60, "nothing lost, nothing twice");
}
