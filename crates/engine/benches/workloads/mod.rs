//! The workloads of the throughput benchmark, shared by its native runner (`benches/throughput.rs`) and its
//! WebAssembly runner (`crates/wasm-bench`), so both measure the same code on the same data. No timing here: each
//! runner has its own clock.

use std::hint::black_box;

use sluice_engine::batch::{BatchBuilder, BatchLimits};
use sluice_engine::csv_split::{CsvSplitter, Dialect};
use sluice_engine::reader::RecordReader;
use sluice_engine::split::{RecordSink, Span, Splitter, DEFAULT_MAX_RECORD_BYTES};
use sluice_engine::transform::{Transform, TransformContext};
use sluice_engine::{FormatChoice, IdStrategy, ImportSettings, Validation};

/// The size of the chunks the source is fed in, as a network read would deliver them.
pub const CHUNK: usize = 64 * 1024;

/// ~300-byte nested objects with escapes and non-ASCII text, like application logs or product records.
fn record(i: u64) -> String {
    const WORDS: [&str; 12] = [
        "alpha",
        "Zürich",
        "naïve",
        "日本語",
        "quote\\\"d",
        "tab\\t",
        "brace}",
        "[bracket]",
        "ÆØÅ",
        "emoji 🚀",
        "back\\\\slash",
        "plain",
    ];
    let w = |k: u64| WORDS[((i.wrapping_mul(2654435761) >> k) % WORDS.len() as u64) as usize];
    format!(
        concat!(
            r#"{{"id":"evt-{i:010}","ts":"2026-11-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z","level":"{lvl}","#,
            r#""user":{{"id":{u},"name":"{w1} {w2}","tags":["{w3}","{w4}"]}},"#,
            r#""message":"{w5} request to /api/v2/items/{u} took {ms} ms, {w6}","#,
            r#""http":{{"status":{st},"bytes":{b},"latency_ms":{lat}.{ms}}},"geo":{{"lat":47.{u},"lon":8.{b}}}}}"#
        ),
        i = i,
        d = 1 + i % 28,
        h = i % 24,
        m = i % 60,
        s = (i / 7) % 60,
        ms = i % 1000,
        lvl = ["info", "warn", "error", "debug"][(i % 4) as usize],
        u = i % 100_003,
        w1 = w(3),
        w2 = w(7),
        w3 = w(11),
        w4 = w(13),
        w5 = w(17),
        w6 = w(19),
        st = [200, 201, 404, 500][(i % 4) as usize],
        b = (i * 37) % 50_000,
        lat = i % 250,
    )
}

fn generate(target_bytes: usize, array: bool) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(target_bytes + 1024);
    if array {
        out.push(b'[');
    }
    let mut count = 0u64;
    while out.len() < target_bytes {
        if array && count > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(record(count).as_bytes());
        if !array {
            out.push(b'\n');
        }
        count += 1;
    }
    if array {
        out.extend_from_slice(b"]\n");
    }
    (out, count)
}

struct CountOnly(u64);

impl RecordSink for CountOnly {
    fn record(&mut self, _span: Span, bytes: &[u8]) {
        self.0 += 1;
        black_box(bytes);
    }
    fn oversize(&mut self, _span: Span) {}
}

fn split_only(input: &[u8], choice: FormatChoice) -> u64 {
    let mut splitter = Splitter::new(choice, DEFAULT_MAX_RECORD_BYTES);
    let mut sink = CountOnly(0);
    for chunk in input.chunks(CHUNK) {
        splitter.push(chunk, &mut sink).expect("generated input is well-formed");
    }
    splitter.finish(&mut sink).expect("generated input is well-formed");
    sink.0
}

/// A CSV export of 20 columns (ids, numbers, dates, words, and a quoted text cell with commas, doubled quotes and
/// sometimes a newline), about 200 bytes per row, with a header.
fn generate_csv(target_bytes: usize) -> (Vec<u8>, u64) {
    let mut out = b"id,ts,user,country,city,status,bytes,latency_ms,ratio,ok,path,method,agent,ref,zip,price,qty,tag,score,note\r\n".to_vec();
    let mut rows = 1;
    let cities = ["Zürich", "Lyon", "Porto", "Kraków", "Oslo", "Gent"];
    while out.len() < target_bytes {
        let i = rows;
        let note = if i % 7 == 0 {
            "said \"\"fine\"\", then\nleft"
        } else {
            "plain, with a comma"
        };
        out.extend_from_slice(
            format!(
                "{i},2026-12-03T10:{:02}:{:02}Z,user{},{},{},{},{},{},{:.3},{},/api/v1/items/{},GET,Mozilla/5.0,\
                 https://example.com/,{:05},{}.{:02},{},t{},{:.2},\"{note}\"\r\n",
                i % 60,
                (i / 60) % 60,
                i % 1000,
                ["CH", "FR", "PT", "PL", "NO", "BE"][i as usize % 6],
                cities[i as usize % 6],
                [200, 404, 500][i as usize % 3],
                i * 37 % 100_000,
                i % 900,
                (i % 1000) as f64 / 999.0,
                i % 2 == 0,
                i % 5000,
                i % 100_000,
                i % 500,
                i % 100,
                i % 20,
                i % 12,
                (i % 10_000) as f64 / 100.0,
            )
            .as_bytes(),
        );
        rows += 1;
    }
    (out, rows)
}

fn csv_split_only(input: &[u8]) -> u64 {
    let mut splitter = CsvSplitter::new(Dialect::CSV, DEFAULT_MAX_RECORD_BYTES);
    let mut sink = CountOnly(0);
    for chunk in input.chunks(CHUNK) {
        splitter.push(chunk, &mut sink);
    }
    splitter.finish(&mut sink);
    sink.0
}

fn split_and_batch(input: &[u8], settings: &ImportSettings) -> u64 {
    let limits = BatchLimits {
        max_bytes: 5 * 1024 * 1024,
        max_records: 5000,
    };
    let mut builder = BatchBuilder::new(settings, "s3://bench/data", &TransformContext::default(), limits, 0)
        .expect("valid settings");
    // The job's reader: the JSON splitter, or CSV rows typed from the sample and written as documents.
    let mut reader = RecordReader::new(settings);
    let mut items = 0u64;
    for chunk in input.chunks(CHUNK) {
        reader
            .push(chunk, &mut builder)
            .expect("generated input is well-formed");
        for batch in builder.take_ready() {
            assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters.first());
            items += batch.items.len() as u64;
            black_box(batch);
        }
    }
    reader.finish(&mut builder).expect("generated input is well-formed");
    builder.flush();
    for batch in builder.take_ready() {
        items += batch.items.len() as u64;
    }
    items
}

/// The sources measured, each generated to about the size asked.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Jsonl,
    JsonArray,
    Csv,
}

pub const KINDS: [Kind; 3] = [Kind::Jsonl, Kind::JsonArray, Kind::Csv];

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Jsonl => "JSONL",
            Kind::JsonArray => "JSON array",
            Kind::Csv => "CSV, 20 columns",
        }
    }

    /// The source's bytes and its number of records.
    pub fn generate(self, target_bytes: usize) -> (Vec<u8>, u64) {
        match self {
            Kind::Jsonl => generate(target_bytes, false),
            Kind::JsonArray => generate(target_bytes, true),
            Kind::Csv => generate_csv(target_bytes),
        }
    }
}

/// A run over the whole source that returns the records it handled.
pub type Run = Box<dyn Fn(&[u8]) -> u64>;

/// One measured workload: a name for the table, and its run.
pub struct Case {
    pub name: String,
    pub run: Run,
}

fn case(name: String, run: impl Fn(&[u8]) -> u64 + 'static) -> Case {
    Case {
        name,
        run: Box::new(run),
    }
}

/// The workloads measured on a source of `kind`, in the order they are printed.
pub fn cases(kind: Kind) -> Vec<Case> {
    let choice = match kind {
        Kind::Jsonl => FormatChoice::Jsonl,
        Kind::JsonArray => FormatChoice::Json,
        Kind::Csv => FormatChoice::Csv,
    };
    let batched = |name: String, configure: &dyn Fn(&mut ImportSettings)| {
        let mut settings = ImportSettings::new("bench");
        settings.format = choice;
        configure(&mut settings);
        case(name, move |input| split_and_batch(input, &settings))
    };
    if let Kind::Csv = kind {
        return vec![
            case("CSV split only".into(), csv_split_only),
            // As the job runs it: header, types inferred from the sample, rows written as documents into bodies.
            batched("CSV split+batch, inferred types".into(), &|_| {}),
            batched("CSV split+batch, id column".into(), &|settings| {
                settings.id = IdStrategy::Field { pointer: "/id".into() };
            }),
        ];
    }
    let label = kind.label();
    vec![
        case(format!("{label} split only"), move |input| split_only(input, choice)),
        batched(format!("{label} split+batch, structural check"), &|settings| {
            settings.validation = Validation::Structural;
        }),
        batched(format!("{label} split+batch, full validation"), &|settings| {
            settings.validation = Validation::Full;
        }),
        batched(format!("{label} split+batch, id field /id"), &|settings| {
            settings.validation = Validation::Full;
            settings.id = IdStrategy::Field { pointer: "/id".into() };
        }),
        // Transforms rewrite every record: scanned, edited in place, written again (the verbatim fast path above is
        // what runs without them).
        batched(format!("{label} split+batch, 2 transforms"), &|settings| {
            settings.validation = Validation::Full;
            settings.id = IdStrategy::Derived;
            settings.transforms = vec![
                Transform::Rename {
                    from: "message".into(),
                    to: "text".into(),
                },
                Transform::SetSourceName { field: "source".into() },
            ];
        }),
    ]
}
