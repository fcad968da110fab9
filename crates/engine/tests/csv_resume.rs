//! Crash-and-resume with CSV and TSV sources: a job killed at random points and resumed from its last checkpoint
//! indexes every good row exactly once as the document its cells make, stores every bad row as a dead letter at its
//! offset, and, once something is committed, never reads the start of the source (the header) again.

mod sim;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Map, Value};
use sluice_engine::csv_rows::ColumnType;
use sluice_engine::job::{JobIo, JobPlan, SourceError};
use sluice_engine::retry::RetryPolicy;
use sluice_engine::{
    run_job, ByteSource, Checkpoint, FormatChoice, IdStrategy, ImportSettings, JobStatus, SourceIdentity, Tuning,
};

use sim::{poll_at_most, Faults, MemCheckpoints, MemDeadLetters, MemSource, SimClock, SimCluster};

/// What a generated row is meant to become.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    /// A document: `id`, then `name`, `price` (absent when empty) and `flag`.
    Good {
        name: Option<String>,
        price: Option<(u32, u8)>,
        flag: bool,
    },
    /// Too few or too many cells.
    WrongWidth { cells: usize },
    /// A price that is not a number (only when the types are chosen: inferred, it would make the column text).
    BadPrice,
}

fn row_strategy(typed: bool) -> impl Strategy<Value = Row> {
    let name = proptest::option::of("[a-z ,;\"\t\n\r\u{e9}\u{4e2d}]{0,12}".prop_map(|text| format!("n{text}")));
    let good = (name, proptest::option::of((0u32..100_000, 1u8..10)), any::<bool>())
        .prop_map(|(name, price, flag)| Row::Good { name, price, flag });
    let width = prop_oneof![Just(1usize), Just(3), Just(5)].prop_map(|cells| Row::WrongWidth { cells });
    if typed {
        prop_oneof![8 => good, 1 => width, 1 => Just(Row::BadPrice)].boxed()
    } else {
        prop_oneof![9 => good, 1 => width].boxed()
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    /// `,` (format auto), `;` (csv with a delimiter) or tab (tsv).
    delimiter: char,
    crlf: bool,
    bom: bool,
    /// The last row has no line break.
    open_end: bool,
    /// Every column's type is chosen (rows go out at once) instead of inferred from the sample (rows wait for it).
    typed: bool,
    rows: Vec<Row>,
    id_field: bool,
    batch_docs: usize,
    in_flight: usize,
    /// Kills after this many polls of the job (jobs this small finish in a few hundred: most kills land mid-way).
    crashes: Vec<u64>,
    seed: u64,
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (any::<bool>(), prop_oneof![Just(','), Just(';'), Just('\t')]).prop_flat_map(|(typed, delimiter)| {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(row_strategy(typed), 1..80),
            any::<bool>(),
            1usize..12,
            1usize..5,
            proptest::collection::vec(1u64..150, 0..6),
            any::<u64>(),
        )
            .prop_map(
                move |(crlf, bom, open_end, rows, id_field, batch_docs, in_flight, crashes, seed)| Scenario {
                    delimiter,
                    crlf,
                    bom,
                    open_end,
                    typed,
                    rows,
                    id_field,
                    batch_docs,
                    in_flight,
                    crashes,
                    seed,
                },
            )
    })
}

/// A cell as a CSV writer writes it: quoted, quotes doubled, when it holds the delimiter, a quote or a line break.
fn encode(cell: &str, delimiter: char) -> String {
    if cell.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// The source's bytes, and per row its start offset and (for a good row) the document it must become.
fn render(scenario: &Scenario) -> (Vec<u8>, Vec<(u64, Option<Value>)>) {
    let d = scenario.delimiter;
    let eol = if scenario.crlf { "\r\n" } else { "\n" };
    let mut text = String::new();
    if scenario.bom {
        text.push('\u{feff}');
    }
    text.push_str(&["id", "name", "price", "flag"].join(&d.to_string()));
    text.push_str(eol);
    let mut rows = Vec::new();
    // The first row is good, so the wrong-file guard never has its say (a driver test covers it).
    let first_good = Row::Good {
        name: None,
        price: Some((1, 5)),
        flag: true,
    };
    for (i, row) in std::iter::once(&first_good).chain(&scenario.rows).enumerate() {
        let start = text.len() as u64;
        let (cells, document) = match row {
            Row::Good { name, price, flag } => {
                let price_text = price.map(|(whole, tenth)| format!("{whole}.{tenth}"));
                let mut document = Map::new();
                document.insert("id".into(), Value::from(i as u64));
                if let Some(name) = name {
                    document.insert("name".into(), Value::from(name.clone()));
                }
                if let Some(price) = &price_text {
                    document.insert("price".into(), serde_json::from_str(price).unwrap());
                }
                document.insert("flag".into(), Value::from(*flag));
                let cells = vec![
                    i.to_string(),
                    name.clone().unwrap_or_default(),
                    price_text.unwrap_or_default(),
                    flag.to_string(),
                ];
                (cells, Some(Value::Object(document)))
            }
            Row::WrongWidth { cells } => ((0..*cells).map(|n| format!("{}", i + n)).collect(), None),
            Row::BadPrice => (vec![i.to_string(), "nbad".into(), "n/a".into(), "true".into()], None),
        };
        let cells: Vec<String> = cells.iter().map(|cell| encode(cell, d)).collect();
        text.push_str(&cells.join(&d.to_string()));
        text.push_str(eol);
        rows.push((start, document));
    }
    if scenario.open_end {
        text.truncate(text.len() - eol.len());
    }
    (text.into_bytes(), rows)
}

/// The source the job reads, with every offset it was opened at kept.
struct Watched<'a> {
    inner: MemSource,
    opens: &'a RefCell<Vec<u64>>,
}

impl ByteSource for Watched<'_> {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        self.opens.borrow_mut().push(absolute_byte_offset);
        self.inner.open(absolute_byte_offset).await
    }
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        self.inner.next_chunk().await
    }
}

fn settings_for(scenario: &Scenario) -> ImportSettings {
    let mut settings = ImportSettings::new("sim");
    match scenario.delimiter {
        ',' => {} // auto: recognised from the header line
        '\t' => settings.format = FormatChoice::Tsv,
        other => {
            settings.format = FormatChoice::Csv;
            settings.csv.delimiter = Some(other);
        }
    }
    if scenario.typed {
        settings.csv.column_types = BTreeMap::from([
            ("id".into(), ColumnType::Long),
            ("name".into(), ColumnType::Keyword),
            ("price".into(), ColumnType::Double),
            ("flag".into(), ColumnType::Boolean),
        ]);
    }
    if scenario.id_field {
        settings.id = IdStrategy::from_field("id");
    }
    settings
}

fn run_scenario(scenario: &Scenario) -> Result<(), TestCaseError> {
    let (input, rows) = render(scenario);
    let input = Bytes::from(input);
    let settings = settings_for(scenario);
    let identity = SourceIdentity {
        bucket: Some("bucket".into()),
        key: Some("export.csv".into()),
        etag: Some("\"e1\"".into()),
        size: Some(input.len() as u64),
        ..SourceIdentity::default()
    };
    let tuning = Tuning {
        batch_bytes: 1 << 20,
        batch_docs: scenario.batch_docs,
        max_in_flight: scenario.in_flight,
        retry: RetryPolicy {
            base_ms: 5,
            cap_ms: 50,
            max_attempts: 60,
        },
        checkpoint_every_batches: 1,
        progress_every_ms: 0,
        ..Tuning::default()
    };
    let faults = Faults {
        item_429: 0.1,
        request_429: 0.05,
        drop_after_apply: 0.05,
        max_body: usize::MAX,
        max_latency: 6,
    };
    let cluster = SimCluster::new(scenario.seed, faults);
    let checkpoints = MemCheckpoints::default();
    let dead_letters = MemDeadLetters::default();
    let clock = SimClock::default();
    let runs = scenario.crashes.iter().map(|&polls| Some(polls)).chain([None]);
    let mut finished = None;
    for (attempt, polls) in runs.enumerate() {
        let checkpoint = match checkpoints.load() {
            Some(checkpoint) => {
                checkpoint
                    .check_resume(&identity, &settings)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                checkpoint
            }
            None => Checkpoint::start("job", identity.clone(), settings.clone(), clock.now.get()),
        };
        let committed = checkpoint.committed_offset;
        if committed > 0 {
            prop_assert!(checkpoint.csv.is_some(), "a committed CSV checkpoint keeps its columns");
        }
        let opens = RefCell::new(Vec::new());
        let source = Watched {
            inner: MemSource::new(input.clone(), scenario.seed ^ attempt as u64, 61, 0.02),
            opens: &opens,
        };
        let (_control, commands) = futures::channel::mpsc::unbounded();
        let mut no_progress = |_: &sluice_engine::progress::Progress| {};
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
            &mut no_progress,
        );
        let result = poll_at_most(job, polls.unwrap_or(2_000_000));
        // A resume reads from the committed offset on: the header is never read again once rows are committed.
        prop_assert!(
            opens.borrow().iter().all(|&at| at >= committed),
            "resumed at {} but opened at {:?}",
            committed,
            opens.borrow()
        );
        match result {
            Some(result) => {
                finished = Some(result);
                break;
            }
            None => prop_assert!(polls.is_some(), "the final run did not finish"),
        }
    }
    let outcome = finished
        .expect("a run finished")
        .map_err(|failure| TestCaseError::fail(failure.message))?;
    prop_assert_eq!(outcome.status, JobStatus::Completed);

    let index = cluster.index.borrow();
    let letters = dead_letters.letters.borrow();
    let expected: Vec<&Value> = rows.iter().filter_map(|(_, document)| document.as_ref()).collect();
    let bad_starts: BTreeSet<u64> = rows
        .iter()
        .filter(|(_, document)| document.is_none())
        .map(|(start, _)| *start)
        .collect();
    prop_assert_eq!(index.docs.len(), expected.len(), "indexed documents");
    let sent: BTreeSet<String> = index
        .docs
        .values()
        .map(|(doc, _)| serde_json::from_slice::<Value>(doc).unwrap().to_string())
        .collect();
    let wanted: BTreeSet<String> = expected.iter().map(|document| document.to_string()).collect();
    prop_assert_eq!(sent, wanted, "each good row's document, once");
    if scenario.id_field {
        for (id, (doc, _)) in &index.docs {
            let document: Value = serde_json::from_slice(doc).unwrap();
            prop_assert_eq!(document["id"].to_string(), id.clone(), "the id column is the _id");
        }
    }
    let letter_starts: BTreeSet<u64> = letters.values().map(|letter| letter.offset).collect();
    prop_assert_eq!(letters.len(), bad_starts.len(), "dead letters");
    prop_assert_eq!(
        &letter_starts,
        &bad_starts,
        "each bad row is a dead letter at its offset"
    );
    for letter in letters.values() {
        let row = String::from_utf8_lossy(&input[letter.offset as usize..letter.end as usize]).into_owned();
        prop_assert_eq!(letter.record.as_deref(), Some(row.trim_end_matches(['\r', '\n'])));
    }
    let checkpoint = checkpoints.load().unwrap();
    prop_assert_eq!(checkpoint.status, JobStatus::Completed);
    prop_assert_eq!(checkpoint.committed_offset, input.len() as u64);
    prop_assert_eq!(checkpoint.counters.indexed, expected.len() as u64);
    prop_assert_eq!(checkpoint.counters.failed, bad_starts.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn crash_and_resume_of_csv_indexes_every_good_row_once_and_every_bad_row_as_a_dead_letter(
        scenario in scenario_strategy()
    ) {
        run_scenario(&scenario)?;
    }
}
