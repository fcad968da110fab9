//! Turns records into `_bulk` request bodies (NDJSON), copying each record's bytes verbatim.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::Bytes;
use memchr::memchr2;

use crate::csv_source::DocumentSink;
use crate::dead_letter::DeadLetter;
use crate::record::{check_record, id_from_text, JsonPointer};
use crate::settings::{fnv1a64, IdStrategy, ImportSettings, Validation};
use crate::split::{RecordSink, Span};
use crate::transform::{TransformContext, TransformPlan};

/// One record inside a batch body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// Where the record is in the source.
    pub span: Span,
    /// The action line and source line of this record inside [`Batch::body`], newline included.
    pub entry: Range<usize>,
    /// Where the source line starts inside the body (it ends one byte before `entry.end`).
    pub source_start: usize,
}

/// A sealed bulk request body plus what the driver needs to resolve it record by record.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Position in the source order; the watermark commits batches in this order.
    pub seq: u64,
    /// Absolute offset of the end of the last record this batch covers (sent or dead-lettered).
    pub end_offset: u64,
    /// The NDJSON body: one action line and one source line per item.
    pub body: Bytes,
    /// The records that are sent.
    pub items: Vec<BatchItem>,
    /// Records of this stretch of the source that are not sent (invalid, oversize).
    pub dead_letters: Vec<DeadLetter>,
}

impl Batch {
    /// Records this batch accounts for, sent or not.
    pub fn record_count(&self) -> u64 {
        (self.items.len() + self.dead_letters.len()) as u64
    }

    /// The body for a subset of the items (a retry of some items, or half of a split batch).
    pub fn body_for(&self, items: &[usize]) -> Bytes {
        if items.len() == self.items.len() {
            return self.body.clone();
        }
        let size = items.iter().map(|&i| self.items[i].entry.len()).sum();
        let mut body = Vec::with_capacity(size);
        for &i in items {
            body.extend_from_slice(&self.body[self.items[i].entry.clone()]);
        }
        Bytes::from(body)
    }

    /// The bytes sent as the source line of an item (the record, with any raw newline turned into a space).
    pub fn item_record(&self, item: usize) -> &[u8] {
        let entry = &self.items[item];
        &self.body[entry.source_start..entry.entry.end - 1]
    }
}

/// How `_id`s are made.
#[derive(Debug, Clone)]
enum IdPlan {
    Field(JsonPointer),
    Derived { namespace: u64 },
    Auto,
}

/// Size and count limits of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Seal a batch before its body would pass this many bytes (a single larger record still gets its own batch).
    pub max_bytes: usize,
    /// Seal a batch when it accounts for this many records.
    pub max_records: usize,
}

/// Receives records from the splitter and seals batches. Sealed batches wait in [`BatchBuilder::take_ready`].
#[derive(Debug)]
pub struct BatchBuilder {
    action_prefix: Vec<u8>,
    id_plan: IdPlan,
    validation: Validation,
    /// The documents are Sluice's own (CSV rows): JSON on one line by construction.
    trusted: bool,
    /// `None`: records are copied verbatim (the fast path).
    transforms: Option<TransformPlan>,
    limits: BatchLimits,
    body: Vec<u8>,
    items: Vec<BatchItem>,
    dead_letters: Vec<DeadLetter>,
    dead_letter_bytes: usize,
    last_end: u64,
    next_seq: u64,
    ready: VecDeque<Batch>,
}

impl BatchBuilder {
    /// A builder for a job. `id_namespace` identifies the source (see `SourceIdentity::id_namespace`); derived ids
    /// are made from it and the record's offset. `context` is what the settings' transforms may read about the job.
    /// `first_seq` continues the numbering of an earlier run.
    pub fn new(
        settings: &ImportSettings,
        id_namespace: &str,
        context: &TransformContext,
        limits: BatchLimits,
        first_seq: u64,
    ) -> Result<Self, String> {
        let transforms = TransformPlan::new(&settings.transforms, context)?;
        let id_plan = match &settings.id {
            IdStrategy::Field { pointer } => IdPlan::Field(JsonPointer::parse(pointer)?),
            IdStrategy::Derived => IdPlan::Derived {
                namespace: fnv1a64(id_namespace.as_bytes()),
            },
            IdStrategy::Auto => IdPlan::Auto,
        };
        let mut action_prefix = Vec::new();
        action_prefix.extend_from_slice(b"{\"");
        action_prefix.extend_from_slice(settings.action.name().as_bytes());
        action_prefix.extend_from_slice(b"\":{\"_index\":");
        write_json_string(&mut action_prefix, &settings.index);
        if let Some(pipeline) = &settings.pipeline {
            action_prefix.extend_from_slice(b",\"pipeline\":");
            write_json_string(&mut action_prefix, pipeline);
        }
        Ok(BatchBuilder {
            action_prefix,
            id_plan,
            validation: settings.validation,
            trusted: false,
            transforms,
            limits: BatchLimits {
                max_bytes: limits.max_bytes.max(1),
                max_records: limits.max_records.max(1),
            },
            body: Vec::new(),
            items: Vec::new(),
            dead_letters: Vec::new(),
            dead_letter_bytes: 0,
            last_end: 0,
            next_seq: first_seq,
            ready: VecDeque::new(),
        })
    }

    /// The size past which a batch is sealed.
    pub fn max_bytes(&self) -> usize {
        self.limits.max_bytes
    }

    /// Seals later batches (and the one being built) before `max_bytes`, when that is lower than the limit now:
    /// the server refused a body as too large.
    pub fn lower_max_bytes(&mut self, max_bytes: usize) {
        self.limits.max_bytes = self.limits.max_bytes.min(max_bytes.max(1));
    }

    /// Takes the batches sealed so far, oldest first.
    pub fn take_ready(&mut self) -> impl Iterator<Item = Batch> + '_ {
        self.ready.drain(..)
    }

    /// Records in the batch being built: (to be sent, dead letters).
    pub fn pending(&self) -> (usize, usize) {
        (self.items.len(), self.dead_letters.len())
    }

    /// The first record refused locally in the batch being built.
    pub fn first_pending_dead_letter(&self) -> Option<&DeadLetter> {
        self.dead_letters.first()
    }

    /// True when a sealed batch waits in [`BatchBuilder::take_ready`].
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Seals the batch being built, if it holds anything. Call at the end of the source.
    pub fn flush(&mut self) {
        if self.items.is_empty() && self.dead_letters.is_empty() {
            return;
        }
        let batch = Batch {
            seq: self.next_seq,
            end_offset: self.last_end,
            body: Bytes::from(std::mem::take(&mut self.body)),
            items: std::mem::take(&mut self.items),
            dead_letters: std::mem::take(&mut self.dead_letters),
        };
        self.next_seq += 1;
        self.dead_letter_bytes = 0;
        self.ready.push_back(batch);
    }

    fn record_count(&self) -> usize {
        self.items.len() + self.dead_letters.len()
    }

    fn after_record(&mut self, span: Span) {
        self.last_end = span.end;
        if self.record_count() >= self.limits.max_records
            || self.body.len() + self.dead_letter_bytes >= self.limits.max_bytes
        {
            self.flush();
        }
    }

    /// A record that is not sent: a dead letter holding its bytes.
    fn refuse(&mut self, span: Span, reason: String, bytes: &[u8]) {
        self.dead_letter(DeadLetter::with_record(span, reason, bytes));
        self.after_record(span);
    }

    fn dead_letter(&mut self, letter: DeadLetter) {
        self.dead_letter_bytes += letter.record.as_ref().map_or(0, String::len);
        self.dead_letters.push(letter);
    }
}

impl BatchBuilder {
    fn id_pointer(&self) -> Option<&JsonPointer> {
        match &self.id_plan {
            IdPlan::Field(pointer) => Some(pointer),
            _ => None,
        }
    }

    /// Batches a record that passed its checks, with the id read from its field, if the job takes ids from one.
    fn append(&mut self, span: Span, bytes: &[u8], field_id: Option<String>) {
        // The id was read from the record as it is in the source; transforms change only what is sent.
        let transformed;
        let bytes = match &self.transforms {
            None => bytes,
            Some(plan) => match plan.apply_to_bytes(bytes) {
                Ok(out) => {
                    transformed = out;
                    transformed.as_slice()
                }
                Err(reason) => return self.refuse(span, reason, bytes),
            },
        };
        let estimate = self.action_prefix.len() + field_id.as_ref().map_or(40, String::len) + 16 + bytes.len();
        if !self.items.is_empty() && self.body.len() + self.dead_letter_bytes + estimate > self.limits.max_bytes {
            self.flush();
        }
        let start = self.body.len();
        self.body.extend_from_slice(&self.action_prefix);
        match (&self.id_plan, field_id) {
            (_, Some(id)) => {
                self.body.extend_from_slice(b",\"_id\":");
                write_json_string(&mut self.body, &id);
            }
            (IdPlan::Derived { namespace }, None) => {
                write_derived_id(&mut self.body, *namespace, span.start);
            }
            _ => {}
        }
        self.body.extend_from_slice(b"}}\n");
        let source_start = self.body.len();
        self.body.extend_from_slice(bytes);
        // NDJSON needs the record on one line. Outside strings a raw newline is only whitespace (inside a string it
        // is invalid JSON, already refused by full validation), so a space keeps the record's meaning and length.
        if !self.trusted && memchr2(b'\n', b'\r', bytes).is_some() {
            for byte in &mut self.body[source_start..] {
                if *byte == b'\n' || *byte == b'\r' {
                    *byte = b' ';
                }
            }
        }
        self.body.push(b'\n');
        self.items.push(BatchItem {
            span,
            entry: start..self.body.len(),
            source_start,
        });
        self.after_record(span);
    }
}

impl RecordSink for BatchBuilder {
    fn record(&mut self, span: Span, bytes: &[u8]) {
        match check_record(bytes, self.validation, self.id_pointer()) {
            Ok(field_id) => self.append(span, bytes, field_id),
            Err(problem) => self.refuse(span, problem.to_string(), bytes),
        }
    }

    fn oversize(&mut self, span: Span) {
        self.dead_letter(DeadLetter {
            offset: span.start,
            end: span.end,
            reason: format!(
                "the record is {} bytes, over the maximum record size; it was skipped (it is at bytes {}..{} of the \
                 source)",
                span.len(),
                span.start,
                span.end
            ),
            record: None,
        });
        self.after_record(span);
    }
}

impl DocumentSink for BatchBuilder {
    fn reject(&mut self, span: Span, reason: String, row: &[u8]) {
        self.refuse(span, reason, row);
    }

    /// CSV documents are parsed only to read an id field, not to be validated again.
    fn trust_documents(&mut self) {
        self.validation = Validation::Structural;
        self.trusted = true;
    }

    fn id_field(&self) -> Option<&JsonPointer> {
        self.id_pointer()
    }

    fn document_with_id(&mut self, span: Span, document: &[u8], id: Option<&str>) {
        let Some(pointer) = self.id_pointer() else {
            return self.record(span, document);
        };
        match id_from_text(pointer, id) {
            Ok(id) => self.append(span, document, Some(id)),
            Err(problem) => self.refuse(span, problem.to_string(), document),
        }
    }
}

/// Appends the `,"_id":"…"` fragment of a derived id: the source's namespace hash and the record's offset, so the
/// same record of the same source always gets the same id. Written in place: this runs once per record.
fn write_derived_id(out: &mut Vec<u8>, namespace: u64, absolute_byte_offset: u64) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, ",\"_id\":\"{namespace:016x}-{absolute_byte_offset}\"");
}

/// Writes `text` as a JSON string literal. Runs of bytes that need no escape are copied whole.
pub(crate) fn write_json_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.push(b'"');
    let mut from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if byte != b'"' && byte != b'\\' && byte >= 0x20 {
            continue;
        }
        out.extend_from_slice(&bytes[from..i]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Format, FormatChoice};
    use crate::record::MAX_ID_BYTES;
    use crate::settings::{Action, CsvOptions};
    use crate::split::{Splitter, DEFAULT_MAX_RECORD_BYTES};

    fn build(settings: &ImportSettings, input: &[u8], limits: BatchLimits) -> Vec<Batch> {
        let mut builder =
            BatchBuilder::new(settings, "s3://bucket/key", &TransformContext::default(), limits, 0).unwrap();
        let mut splitter = Splitter::new(settings.format, DEFAULT_MAX_RECORD_BYTES);
        splitter.push(input, &mut builder).unwrap();
        splitter.finish(&mut builder).unwrap();
        builder.flush();
        builder.take_ready().collect()
    }

    const ROOMY: BatchLimits = BatchLimits {
        max_bytes: 1 << 20,
        max_records: 1000,
    };

    #[test]
    fn builds_action_lines_and_copies_records_verbatim() {
        let mut settings = ImportSettings::new("logs");
        settings.id = IdStrategy::Field { pointer: "/id".into() };
        settings.action = Action::Create;
        settings.pipeline = Some("enrich".into());
        let batches = build(&settings, b"{\"id\":\"a\\\"1\", \"v\" : 1.50}\n{\"id\":7}\n", ROOMY);
        assert_eq!(batches.len(), 1);
        let body = std::str::from_utf8(&batches[0].body).unwrap();
        assert_eq!(
            body,
            "{\"create\":{\"_index\":\"logs\",\"pipeline\":\"enrich\",\"_id\":\"a\\\"1\"}}\n{\"id\":\"a\\\"1\", \"v\" : 1.50}\n\
             {\"create\":{\"_index\":\"logs\",\"pipeline\":\"enrich\",\"_id\":\"7\"}}\n{\"id\":7}\n"
        );
        assert_eq!(batches[0].item_record(1), b"{\"id\":7}");
        assert_eq!(batches[0].end_offset, 34);
    }

    #[test]
    fn derived_ids_depend_on_source_and_offset_only() {
        let settings = ImportSettings::new("logs");
        let a = build(&settings, b"{\"a\":1}\n{\"a\":1}\n", ROOMY);
        let body = std::str::from_utf8(&a[0].body).unwrap();
        let ns = fnv1a64(b"s3://bucket/key");
        assert!(body.contains(&format!("\"_id\":\"{ns:016x}-0\"")), "{body}");
        assert!(body.contains(&format!("\"_id\":\"{ns:016x}-8\"")), "{body}");
        let mut auto = settings.clone();
        auto.id = IdStrategy::Auto;
        let b = build(&auto, b"{\"a\":1}\n", ROOMY);
        assert_eq!(&b[0].body[..], b"{\"index\":{\"_index\":\"logs\"}}\n{\"a\":1}\n");
    }

    #[test]
    fn bad_records_become_dead_letters_and_keep_their_place() {
        let mut settings = ImportSettings::new("logs");
        settings.id = IdStrategy::Field { pointer: "/id".into() };
        let batches = build(&settings, b"{\"id\":1}\nnot json\n[1]\n{\"x\":2}\n{\"id\":3}\n", ROOMY);
        let letters = &batches[0].dead_letters;
        assert_eq!(letters.len(), 3);
        assert_eq!((letters[0].offset, letters[0].end), (9, 17));
        assert!(letters[0].reason.starts_with("not valid JSON"), "{}", letters[0].reason);
        assert_eq!(letters[0].record.as_deref(), Some("not json"));
        assert!(letters[1].reason.contains("not a JSON object"));
        assert!(letters[2].reason.contains("/id is missing"));
        assert_eq!(batches[0].items.len(), 2);
        assert_eq!(batches[0].record_count(), 5);
    }

    #[test]
    fn pretty_printed_array_elements_become_single_lines() {
        let mut settings = ImportSettings::new("logs");
        settings.format = FormatChoice::Json;
        let batches = build(
            &settings,
            b"[\n  {\n    \"a\": \"x\",\r\n    \"b\": [1,\n 2]\n  }\n]\n",
            ROOMY,
        );
        let record = batches[0].item_record(0);
        assert!(!record.contains(&b'\n') && !record.contains(&b'\r'));
        let value: serde_json::Value = serde_json::from_slice(record).unwrap();
        assert_eq!(value["b"][1], 2);
    }

    #[test]
    fn flushes_by_bytes_and_by_count() {
        let settings = ImportSettings::new("logs");
        let input: Vec<u8> = (0..100)
            .flat_map(|i| format!("{{\"n\":\"{i:04}\"}}\n").into_bytes())
            .collect();
        let by_count = build(
            &settings,
            &input,
            BatchLimits {
                max_bytes: 1 << 20,
                max_records: 30,
            },
        );
        assert_eq!(
            by_count.iter().map(|b| b.items.len()).collect::<Vec<_>>(),
            vec![30, 30, 30, 10]
        );
        let by_bytes = build(
            &settings,
            &input,
            BatchLimits {
                max_bytes: 1000,
                max_records: 1000,
            },
        );
        assert!(by_bytes.len() > 1);
        assert!(by_bytes.iter().all(|b| b.body.len() <= 1000));
        assert_eq!(by_bytes.iter().map(|b| b.items.len()).sum::<usize>(), 100);
        let seqs: Vec<u64> = by_bytes.iter().map(|b| b.seq).collect();
        assert_eq!(seqs, (0..by_bytes.len() as u64).collect::<Vec<_>>());
        // Subset bodies are the concatenation of the chosen entries.
        let first = &by_bytes[0];
        let subset = first.body_for(&[1, 0]);
        let expected = [
            &first.body[first.items[1].entry.clone()],
            &first.body[first.items[0].entry.clone()],
        ]
        .concat();
        assert_eq!(&subset[..], &expected[..]);
    }

    /// The builder, but asked to parse each document for its id, as it does for JSON sources.
    struct ParsesIds(BatchBuilder);

    impl RecordSink for ParsesIds {
        fn record(&mut self, span: Span, bytes: &[u8]) {
            self.0.record(span, bytes);
        }
        fn oversize(&mut self, span: Span) {
            self.0.oversize(span);
        }
    }

    impl DocumentSink for ParsesIds {
        fn reject(&mut self, span: Span, reason: String, row: &[u8]) {
            self.0.reject(span, reason, row);
        }
        fn trust_documents(&mut self) {
            self.0.trust_documents();
        }
    }

    fn csv_batches<S: DocumentSink>(input: &[u8], options: &CsvOptions, sink: &mut S) {
        use crate::csv_source::{dialect, CsvRecords};
        let mut source = CsvRecords::new(dialect(Format::Csv, options), options, DEFAULT_MAX_RECORD_BYTES);
        for piece in input.chunks(13) {
            source.push(piece, sink).unwrap();
        }
        source.finish(sink).unwrap();
    }

    fn outcome(mut builder: BatchBuilder) -> (Vec<u8>, Vec<(u64, String)>) {
        builder.flush();
        let batches: Vec<Batch> = builder.take_ready().collect();
        let body = batches.iter().flat_map(|b| b.body.to_vec()).collect();
        let letters = batches
            .iter()
            .flat_map(|b| b.dead_letters.iter().map(|l| (l.offset, l.reason.clone())))
            .collect();
        (body, letters)
    }

    #[test]
    fn ids_handed_over_by_a_csv_source_are_the_ids_parsing_its_documents_reads() {
        let long_id = "x".repeat(MAX_ID_BYTES + 1);
        let input = format!(
            "id,n,d,b,user.id\n\
             a,1,1.5,true,u1\n\
             ,-0,2,false,u2\n\
             \"q\"\"uote\",-12,3e2,true,\n\
             {long_id},9223372036854775807,,,u4\n\
             é,,-1,false,u5\n"
        );
        let builder = |settings: &ImportSettings| {
            BatchBuilder::new(settings, "s3://b/k.csv", &TransformContext::default(), ROOMY, 0).unwrap()
        };
        for nest_dotted in [false, true] {
            let mut options = CsvOptions {
                nest_dotted,
                ..CsvOptions::default()
            };
            options
                .column_types
                .insert("n".into(), crate::csv_rows::ColumnType::Long);
            for pointer in ["/id", "/n", "/d", "/b", "/user/id", "/user.id", "/absent"] {
                let mut settings = ImportSettings::new("t");
                settings.id = IdStrategy::Field {
                    pointer: pointer.into(),
                };
                let mut handed = builder(&settings);
                csv_batches(input.as_bytes(), &options, &mut handed);
                let mut parsed = ParsesIds(builder(&settings));
                csv_batches(input.as_bytes(), &options, &mut parsed);
                let (handed, parsed) = (outcome(handed), outcome(parsed.0));
                assert_eq!(
                    String::from_utf8_lossy(&handed.0),
                    String::from_utf8_lossy(&parsed.0),
                    "{pointer}, nested: {nest_dotted}"
                );
                assert_eq!(handed.1, parsed.1, "{pointer}, nested: {nest_dotted}");
            }
        }
    }

    #[test]
    fn json_string_escaping() {
        let mut out = Vec::new();
        write_json_string(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, b"\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
    }
}
