//! Property tests: the splitter does not care where chunks are cut, and a job that is killed at random points and
//! resumed from its last checkpoint indexes every record exactly once or stores it as a dead letter.

mod sim;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{json, Value};
use sluice_engine::flow::ConcurrencyMode;
use sluice_engine::job::{JobIo, JobPlan};
use sluice_engine::retry::RetryPolicy;
use sluice_engine::split::{RecordSink, Span, Splitter, DEFAULT_MAX_RECORD_BYTES};
use sluice_engine::{
    run_job, Action, Checkpoint, FormatChoice, IdStrategy, ImportSettings, JobStatus, SourceIdentity, Tuning,
};

use sim::{poll_at_most, Faults, MemCheckpoints, MemDeadLetters, MemSource, SimClock, SimCluster};

/// What a generated record is meant to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Good,
    /// Valid JSON but the cluster refuses it (mapping conflict).
    Poison,
    /// Not a JSON object, or not JSON at all: a dead letter before it is sent.
    Invalid,
}

#[derive(Debug, Clone)]
struct GenRecord {
    kind: Kind,
    text: String,
    id: u64,
}

fn text_strategy() -> impl Strategy<Value = String> {
    // Quotes, backslashes, brackets, newlines (escaped by serde_json), multi-byte UTF-8.
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("[{".to_string()),
            Just("}]".to_string()),
            Just("\n".to_string()),
            Just("é".to_string()),
            Just("日本".to_string()),
            Just("🦀".to_string()),
            "[a-z ,:]{0,6}",
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn record_strategy(allow_invalid: bool) -> impl Strategy<Value = (Kind, Value, String)> {
    let kind = if allow_invalid {
        prop_oneof![8 => Just(Kind::Good), 1 => Just(Kind::Poison), 1 => Just(Kind::Invalid)].boxed()
    } else {
        Just(Kind::Good).boxed()
    };
    (kind, text_strategy(), any::<i32>(), any::<bool>()).prop_map(|(kind, text, n, nested)| {
        let body = if nested {
            json!({"text": text, "n": n, "tags": [text, {"k": n}], "deep": {"a": {"b": [1.5, null, true]}}})
        } else {
            json!({"text": text, "n": n})
        };
        let invalid = if n % 2 == 0 {
            "[1, 2, 3]".to_string()
        } else {
            format!("\"{}\"", n)
        };
        (kind, body, invalid)
    })
}

/// Renders records as JSON Lines or a JSON array, with the formatting variations real files have.
fn render(records: &[(Kind, Value, String)], array: bool, style: u64) -> (Vec<u8>, Vec<GenRecord>) {
    let mut out = Vec::new();
    let mut generated = Vec::new();
    if style & 1 == 1 {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    if array {
        out.extend_from_slice(if style & 2 == 2 { b"[\n  " } else { b"[" });
    }
    for (i, (kind, body, invalid)) in records.iter().enumerate() {
        let id = i as u64 + 1;
        let text = match kind {
            Kind::Invalid => invalid.clone(),
            _ => {
                let mut body = body.clone();
                body["id"] = json!(id);
                if *kind == Kind::Poison {
                    body["poison"] = json!(true);
                }
                if array && style & 4 == 4 {
                    serde_json::to_string_pretty(&body).unwrap()
                } else {
                    serde_json::to_string(&body).unwrap()
                }
            }
        };
        if array {
            if i > 0 {
                out.extend_from_slice(if style & 2 == 2 { b" ,\n  " } else { b"," });
            }
        } else if i > 0 {
            out.extend_from_slice(if style & 8 == 8 { b"\r\n" } else { b"\n" });
            if style & 16 == 16 {
                out.extend_from_slice(b"\n  \n");
            }
        }
        out.extend_from_slice(text.as_bytes());
        generated.push(GenRecord { kind: *kind, text, id });
    }
    if array {
        out.extend_from_slice(if style & 2 == 2 { b"\n]\n" } else { b"]" });
    } else if style & 32 == 32 {
        out.push(b'\n');
    }
    (out, generated)
}

#[derive(Default, Debug, PartialEq)]
struct Collected {
    records: Vec<(Span, Vec<u8>)>,
    oversize: Vec<Span>,
}

impl RecordSink for Collected {
    fn record(&mut self, span: Span, bytes: &[u8]) {
        self.records.push((span, bytes.to_vec()));
    }
    fn oversize(&mut self, span: Span) {
        self.oversize.push(span);
    }
}

fn split_in_chunks(choice: FormatChoice, input: &[u8], cuts: &[usize]) -> Collected {
    let mut splitter = Splitter::new(choice, DEFAULT_MAX_RECORD_BYTES);
    let mut out = Collected::default();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([input.len()]) {
        splitter
            .push(&input[start..cut.max(start)], &mut out)
            .expect("well-formed input");
        start = cut.max(start);
    }
    splitter.finish(&mut out).expect("well-formed input");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_yields_the_same_records_and_offsets(
        records in proptest::collection::vec(record_strategy(true), 0..25),
        array in any::<bool>(),
        auto in any::<bool>(),
        style in 0u64..64,
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (input, generated) = render(&records, array, style);
        // Auto-detection reads the first significant byte: a JSON Lines file whose first line is an array is
        // taken for a JSON array (documented). Such a file needs an explicit format.
        prop_assume!(!(auto && !array && generated.first().is_some_and(|r| r.text.starts_with('['))));
        let choice = match (auto, array) {
            (true, _) => FormatChoice::Auto,
            (false, true) => FormatChoice::Json,
            (false, false) => FormatChoice::Jsonl,
        };
        let whole = split_in_chunks(choice, &input, &[]);
        let chunked = split_in_chunks(choice, &input, &cuts);
        prop_assert_eq!(&chunked, &whole);
        // And the records are exactly the generated ones, at offsets that point at their bytes.
        let texts: Vec<&[u8]> = whole.records.iter().map(|(_, bytes)| bytes.as_slice()).collect();
        let expected: Vec<&[u8]> = generated.iter().map(|r| r.text.as_bytes()).collect();
        prop_assert_eq!(texts, expected);
        for (span, bytes) in &whole.records {
            prop_assert_eq!(&input[span.start as usize..span.end as usize], bytes.as_slice());
        }
    }

    #[test]
    fn resuming_at_any_record_end_yields_the_rest(
        records in proptest::collection::vec(record_strategy(false), 1..15),
        array in any::<bool>(),
        style in 0u64..64,
        pick in any::<prop::sample::Index>(),
    ) {
        let (input, _) = render(&records, array, style);
        let choice = if array { FormatChoice::Json } else { FormatChoice::Jsonl };
        let whole = split_in_chunks(choice, &input, &[]);
        let at = pick.index(whole.records.len());
        let offset = whole.records[at].0.end;
        let format = choice.fixed().unwrap();
        let mut splitter = Splitter::resume(format, offset, DEFAULT_MAX_RECORD_BYTES);
        let mut rest = Collected::default();
        splitter.push(&input[offset as usize..], &mut rest).unwrap();
        splitter.finish(&mut rest).unwrap();
        prop_assert_eq!(&rest.records[..], &whole.records[at + 1..]);
    }
}

/// The scenario of one crash-resume property case.
#[derive(Debug, Clone)]
struct Scenario {
    records: Vec<(Kind, Value, String)>,
    array: bool,
    style: u64,
    id_field: bool,
    create: bool,
    batch_docs: usize,
    batch_bytes: usize,
    in_flight: usize,
    checkpoint_every: u32,
    crashes: Vec<u64>,
    seed: u64,
    /// Most answers are 429s (the cluster is saturated), checkpoints are saved at every move, and each kill must
    /// replay no more than the window the driver allows past the committed offset.
    saturated: bool,
}

/// Source bytes one sealed batch can cover at most: `batch_docs` consecutive records, from the end of the record
/// before them (or the start of the data) to the end of the last.
fn widest_batch(input: &[u8], format: FormatChoice, batch_docs: usize) -> u64 {
    let ends: Vec<u64> = split_in_chunks(format, input, &[])
        .records
        .iter()
        .map(|(span, _)| span.end)
        .collect();
    (0..ends.len())
        .map(|first| {
            let last = (first + batch_docs - 1).min(ends.len() - 1);
            ends[last] - if first == 0 { 0 } else { ends[first - 1] }
        })
        .max()
        .unwrap_or(0)
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    scenario_with(1..60, 0..6, 1..3000)
}

/// Longer sources and later kills: enough batches for the retried ones to fall behind.
fn saturated_scenario_strategy() -> impl Strategy<Value = Scenario> {
    scenario_with(80..240, 1..5, 20..1500).prop_map(|scenario| Scenario {
        saturated: true,
        ..scenario
    })
}

fn scenario_with(
    records: std::ops::Range<usize>,
    crashes: std::ops::Range<usize>,
    crash_polls: std::ops::Range<u64>,
) -> impl Strategy<Value = Scenario> {
    (
        proptest::collection::vec(record_strategy(true), records),
        any::<bool>(),
        0u64..64,
        any::<bool>(),
        any::<bool>(),
        1usize..12,
        300usize..3000,
        1usize..6,
        1u32..6,
        proptest::collection::vec(crash_polls, crashes),
        any::<u64>(),
    )
        .prop_map(
            |(
                records,
                array,
                style,
                id_field,
                create,
                batch_docs,
                batch_bytes,
                in_flight,
                checkpoint_every,
                crashes,
                seed,
            )| {
                Scenario {
                    saturated: false,
                    records,
                    array,
                    style,
                    id_field,
                    create,
                    batch_docs,
                    batch_bytes,
                    in_flight,
                    checkpoint_every,
                    crashes,
                    seed,
                }
            },
        )
}

fn run_scenario(scenario: &Scenario) -> Result<(), TestCaseError> {
    let (input, generated) = render(&scenario.records, scenario.array, scenario.style);
    let input = Bytes::from(input);
    let mut settings = ImportSettings::new("sim");
    // Auto-detect unless the first line of a JSON Lines file is itself an array (see the splitting property).
    if !scenario.array && generated.first().is_some_and(|r| r.text.starts_with('[')) {
        settings.format = FormatChoice::Jsonl;
    }
    if scenario.id_field {
        settings.id = IdStrategy::Field { pointer: "/id".into() };
    }
    if scenario.create {
        settings.action = Action::Create;
    }
    let identity = SourceIdentity {
        bucket: Some("bucket".into()),
        key: Some("data.json".into()),
        etag: Some("\"e1\"".into()),
        size: Some(input.len() as u64),
        ..SourceIdentity::default()
    };
    let tuning = Tuning {
        batch_bytes: scenario.batch_bytes,
        batch_docs: scenario.batch_docs,
        max_in_flight: scenario.in_flight,
        // Both modes: adaptive concurrency changes when requests go out, never what is committed.
        concurrency_mode: if scenario.checkpoint_every.is_multiple_of(2) {
            ConcurrencyMode::Adaptive
        } else {
            ConcurrencyMode::Fixed
        },
        max_buffered_bytes: scenario.batch_bytes * (scenario.in_flight + 2),
        retry: RetryPolicy {
            base_ms: 5,
            cap_ms: 50,
            max_attempts: 60,
        },
        checkpoint_every_batches: scenario.checkpoint_every,
        checkpoint_every_ms: 1000,
        progress_every_ms: 0,
    };
    let tuning = if scenario.saturated {
        Tuning {
            checkpoint_every_batches: 1,
            ..tuning
        }
    } else {
        tuning
    };
    let (item_429, request_429) = if scenario.saturated { (0.3, 0.5) } else { (0.1, 0.05) };
    let faults = Faults {
        item_429,
        request_429,
        drop_after_apply: 0.05,
        // Small enough that multi-record batches get 413 and are split, large enough for any single record.
        max_body: (scenario.batch_bytes * 2 / 3).max(generated.iter().map(|r| r.text.len() + 200).max().unwrap_or(0)),
        max_latency: 6,
    };
    let cluster = SimCluster::new(scenario.seed, faults);
    let checkpoints = MemCheckpoints::default();
    let dead_letters = MemDeadLetters::default();
    let clock = SimClock::default();
    let mut resumed_at = Vec::new();
    // The furthest the source was read before each kill.
    let mut read_before_crash = Vec::new();

    // Crash at each listed poll count, then a final run that must finish.
    let runs = scenario.crashes.iter().map(|&polls| Some(polls)).chain([None]);
    let mut finished = None;
    for (attempt, polls) in runs.enumerate() {
        let checkpoint = match checkpoints.load() {
            Some(checkpoint) => {
                checkpoint
                    .check_resume(&identity, &settings)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                resumed_at.push(checkpoint.committed_offset);
                checkpoint
            }
            None => Checkpoint::start("job", identity.clone(), settings.clone(), clock.now.get()),
        };
        let source = MemSource::new(input.clone(), scenario.seed ^ attempt as u64, 97, 0.02);
        let (_control, commands) = futures::channel::mpsc::unbounded();
        let mut last_progress = None;
        let mut ignore_progress = |p: &sluice_engine::progress::Progress| last_progress = Some(p.clone());
        let job = run_job(
            JobPlan {
                checkpoint,
                tuning: tuning.clone(),
                seed: scenario.seed.rotate_left(attempt as u32),
            },
            source,
            JobIo {
                sink: &cluster,
                checkpoints: &checkpoints,
                dead_letters: &dead_letters,
                clock: &clock,
            },
            commands,
            &mut ignore_progress,
        );
        match poll_at_most(job, polls.unwrap_or(2_000_000)) {
            Some(result) => {
                finished = Some(result);
                break;
            }
            None if polls.is_some() => read_before_crash.push(last_progress.map_or(0, |p| p.bytes_read)),
            None => prop_assert!(
                false,
                "the final run did not finish: {:?} input {} bytes, scenario batch_bytes {} docs {} in_flight {}",
                last_progress,
                input.len(),
                scenario.batch_bytes,
                scenario.batch_docs,
                scenario.in_flight
            ),
        }
    }
    // A source whose records are all invalid is the wrong file: nothing is sent, nothing stored, no progress.
    if !generated.is_empty() && generated.iter().all(|r| r.kind == Kind::Invalid) {
        let failure = finished
            .expect("a run finished")
            .expect_err("the wrong-file guard stops it");
        prop_assert_eq!(failure.kind, sluice_engine::job::FailureKind::WrongFile);
        prop_assert_eq!(cluster.index.borrow().requests, 0);
        prop_assert!(dead_letters.letters.borrow().is_empty());
        prop_assert_eq!(checkpoints.load().map_or(0, |c| c.committed_offset), 0);
        return Ok(());
    }
    let outcome = finished
        .expect("a run finished")
        .map_err(|failure| TestCaseError::fail(failure.message))?;
    prop_assert_eq!(outcome.status, JobStatus::Completed);

    // Every record: indexed once (overwrites count as one) or a dead letter at its offset. Nothing else.
    let index = cluster.index.borrow();
    let letters = dead_letters.letters.borrow();
    let good: Vec<&GenRecord> = generated.iter().filter(|r| r.kind == Kind::Good).collect();
    let bad = generated.len() - good.len();
    prop_assert_eq!(index.docs.len(), good.len(), "indexed documents");
    prop_assert_eq!(letters.len(), bad, "dead letters");
    if scenario.id_field {
        let by_id: BTreeMap<String, &GenRecord> = good.iter().map(|r| (r.id.to_string(), *r)).collect();
        for (id, (doc, _)) in &index.docs {
            let record = by_id
                .get(id)
                .ok_or_else(|| TestCaseError::fail(format!("unexpected id {id}")))?;
            let sent: Value = serde_json::from_slice(doc).unwrap();
            let original: Value = serde_json::from_str(&record.text).unwrap();
            prop_assert_eq!(sent, original);
        }
    }
    let docs: BTreeSet<Vec<u8>> = index.docs.values().map(|(doc, _)| doc.clone()).collect();
    prop_assert_eq!(docs.len(), good.len(), "each good record's document is there once");
    // A refused record is stored as sent: raw newlines of a pretty-printed element became spaces.
    let one_line = |text: &[u8]| -> Vec<u8> {
        text.iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect()
    };
    for letter in letters.values() {
        let record = one_line(letter.record.as_deref().unwrap_or_default().as_bytes());
        let matching = generated
            .iter()
            .any(|r| r.kind != Kind::Good && one_line(r.text.as_bytes()) == record);
        prop_assert!(matching, "dead letter {:?} is not a bad record", letter);
        prop_assert_eq!(one_line(&input[letter.offset as usize..letter.end as usize]), record);
    }
    // The checkpoint is complete and its counters are exact despite replays.
    let checkpoint = checkpoints.load().unwrap();
    prop_assert_eq!(checkpoint.status, JobStatus::Completed);
    prop_assert_eq!(checkpoint.committed_offset, input.len() as u64);
    prop_assert_eq!(checkpoint.committed_records, generated.len() as u64);
    prop_assert_eq!(checkpoint.counters.indexed, good.len() as u64);
    prop_assert_eq!(checkpoint.counters.failed, bad as u64);
    // Resumes never go backwards.
    prop_assert!(
        resumed_at.windows(2).all(|w| w[0] <= w[1]),
        "resume offsets {:?}",
        resumed_at
    );
    // However long some records are retried, a kill replays at most one batch per request allowed in flight, plus
    // one, plus the chunk read last (the wrong-file guard may read further while no valid record is seen yet).
    if scenario.saturated && generated[0].kind == Kind::Good {
        let widest = widest_batch(&input, settings.format, scenario.batch_docs);
        let window = (scenario.in_flight as u64 + 1) * widest + 97;
        for (read, resumed) in read_before_crash.iter().zip(&resumed_at) {
            prop_assert!(
                read.saturating_sub(*resumed) <= window,
                "read to {} but resumed at {}: more than the window of {} bytes (widest batch {})",
                read,
                resumed,
                window,
                widest
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn crash_and_resume_indexes_every_record_exactly_once(scenario in scenario_strategy()) {
        run_scenario(&scenario)?;
    }

    #[test]
    fn a_saturated_cluster_holds_the_checkpoint_back_by_at_most_the_window(scenario in saturated_scenario_strategy()) {
        run_scenario(&scenario)?;
    }
}

/// The batch bodies a source becomes, and the records the splitter found in it.
fn bodies_for(input: &[u8], settings: &ImportSettings) -> (Vec<Vec<u8>>, Collected) {
    use sluice_engine::batch::{BatchBuilder, BatchLimits};
    use sluice_engine::transform::TransformContext;
    let limits = BatchLimits {
        max_bytes: 1 << 20,
        max_records: 7,
    };
    let mut builder = BatchBuilder::new(settings, "s3://b/k", &TransformContext::default(), limits, 0).unwrap();
    let mut splitter = Splitter::new(FormatChoice::Auto, DEFAULT_MAX_RECORD_BYTES);
    splitter.push(input, &mut builder).expect("well-formed input");
    splitter.finish(&mut builder).expect("well-formed input");
    builder.flush();
    let bodies = builder.take_ready().map(|b| b.body.to_vec()).collect();
    (bodies, split_in_chunks(FormatChoice::Auto, input, &[]))
}

/// The source lines of NDJSON bodies (every second line).
fn source_lines(bodies: &[Vec<u8>]) -> Vec<Vec<u8>> {
    bodies
        .iter()
        .flat_map(|body| {
            body.split(|&b| b == b'\n')
                .skip(1)
                .step_by(2)
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// With no transform, each record goes out byte for byte as it is in the source (the verbatim fast path);
    /// with a transform that changes nothing in these records, each goes out as the same JSON value.
    #[test]
    fn without_transforms_records_are_sent_verbatim(
        records in proptest::collection::vec(record_strategy(false), 1..30),
        array in any::<bool>(),
        style in any::<u64>(),
    ) {
        let (input, _) = render(&records, array, style);
        let plain = ImportSettings::new("docs");
        let (bodies, found) = bodies_for(&input, &plain);
        let sent = source_lines(&bodies);
        let expected: Vec<Vec<u8>> = found
            .records
            .iter()
            .map(|(_, bytes)| bytes.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect())
            .collect();
        prop_assert_eq!(&sent, &expected);

        let mut transformed = plain.clone();
        transformed.transforms = vec![sluice_engine::transform::Transform::Drop { field: "not_in_any_record".into() }];
        let (bodies, _) = bodies_for(&input, &transformed);
        let sent = source_lines(&bodies);
        prop_assert_eq!(sent.len(), expected.len());
        for (sent, original) in sent.iter().zip(&expected) {
            let sent: Value = serde_json::from_slice(sent).unwrap();
            let original: Value = serde_json::from_slice(original).unwrap();
            prop_assert_eq!(sent, original);
        }
    }
}
