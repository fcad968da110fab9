//! CSV and TSV sources: rows in, JSON documents out, through the same [`RecordSink`] the JSON splitters feed.
//!
//! A source read from its start goes through three stages:
//! 1. **Header**: the first row names the columns (unless the settings give the names).
//! 2. **Sample**: the rows of the first [`SAMPLE_BYTES`] (at most [`SAMPLE_ROWS`]) are held back until each
//!    column's type is decided from them; they are the rows the preview samples, so the page shows the types the
//!    import uses. Types chosen by the user win over inferred ones.
//! 3. **Rows**: each row becomes a document written straight into the sink's buffer; a row that does not fit
//!    goes to the sink as rejected, with its reason and its bytes, in its place.
//!
//! The header's names and the decided types form the [`CsvLayout`] a checkpoint keeps: a resume starts in stage 3
//! at the committed offset and never reads the start of the source again.

use serde::{Deserialize, Serialize};

use crate::csv_rows::{ColumnType, Columns, RowConverter, TypeSample};
use crate::csv_split::{CsvSplitter, Dialect};
use crate::format::Format;
use crate::preview::{HEAD_BYTES, SAMPLE_RECORDS};
use crate::record::JsonPointer;
use crate::settings::CsvOptions;
use crate::split::{RecordSink, Span};

/// Rows whose line ends within this many bytes of the start are the sample types are inferred from (the
/// preview's head).
pub const SAMPLE_BYTES: u64 = HEAD_BYTES;

/// At most this many rows are sampled (the preview's sample).
pub const SAMPLE_ROWS: usize = SAMPLE_RECORDS;

/// What a CSV source turned out to be: kept in the checkpoint once the header is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvLayout {
    /// The byte between cells.
    pub delimiter: char,
    /// The columns' names and types.
    pub columns: Columns,
}

impl CsvLayout {
    /// How the rows are written.
    pub fn dialect(&self) -> Dialect {
        Dialect {
            delimiter: self.delimiter as u8,
            quote: b'"',
        }
    }
}

/// A [`RecordSink`] that also takes rows that could not become documents.
pub trait DocumentSink: RecordSink {
    /// A row that is not sent: `reason` in words, `row` its bytes as in the source.
    fn reject(&mut self, span: Span, reason: String, row: &[u8]);

    /// The documents that follow were written by Sluice from CSV rows: valid JSON objects by construction, with no
    /// need to be validated again.
    fn trust_documents(&mut self) {}

    /// The field the sink reads each document's id from, if it reads one. A source that can tell the field's
    /// value from the row hands it over with [`DocumentSink::document_with_id`], which saves parsing the document.
    fn id_field(&self) -> Option<&JsonPointer> {
        None
    }

    /// A document written from a row, with the text of its id field (`None`: the field is absent).
    fn document_with_id(&mut self, span: Span, document: &[u8], _id: Option<&str>) {
        self.record(span, document);
    }
}

/// The dialect of `format` with the user's delimiter, if any.
pub fn dialect(format: Format, options: &CsvOptions) -> Dialect {
    let own = if format == Format::Tsv { b'\t' } else { b',' };
    Dialect {
        delimiter: options.delimiter.map_or(own, |c| c as u8),
        quote: b'"',
    }
}

/// A row held back while the sample is gathered: its bytes, or `None` when it was over the size limit.
type HeldRow = (Span, Option<Vec<u8>>);

enum Stage {
    Header,
    Sample {
        names: Vec<String>,
        held: Vec<HeldRow>,
    },
    Rows(Box<RowConverter>),
    /// The header cannot be used; nothing more is read.
    Failed,
}

/// A CSV or TSV source being read. See the module documentation.
pub struct CsvRecords {
    splitter: CsvSplitter,
    state: RowState,
}

/// Everything but the splitter, which feeds it.
struct RowState {
    dialect: Dialect,
    options: CsvOptions,
    stage: Stage,
    failure: Option<String>,
    /// The document being written, reused from row to row.
    document: Vec<u8>,
    /// The column holding the sink's id field, once asked (`Some(None)`: no column does, or no id is read).
    id_column: Option<Option<usize>>,
}

impl CsvRecords {
    /// A source read from its first byte.
    pub fn new(dialect: Dialect, options: &CsvOptions, max_record_bytes: usize) -> Self {
        let stage = if options.columns.is_empty() {
            Stage::Header
        } else {
            Stage::Sample {
                names: options.columns.iter().map(|name| name.trim().to_string()).collect(),
                held: Vec::new(),
            }
        };
        CsvRecords {
            splitter: CsvSplitter::new(dialect, max_record_bytes),
            state: RowState::new(dialect, options, stage),
        }
    }

    /// A source resumed at a committed row end, with the layout its start decided.
    pub fn resume(
        layout: &CsvLayout,
        options: &CsvOptions,
        absolute_byte_offset: u64,
        max_record_bytes: usize,
    ) -> Result<Self, String> {
        let dialect = layout.dialect();
        let converter = RowConverter::new(dialect, layout.columns.clone(), options.nest_dotted)?;
        Ok(CsvRecords {
            splitter: CsvSplitter::resume(dialect, absolute_byte_offset, max_record_bytes),
            state: RowState::new(dialect, options, Stage::Rows(Box::new(converter))),
        })
    }

    /// Absolute offset of the next byte to push.
    pub fn position(&self) -> u64 {
        self.splitter.position()
    }

    /// The names and types, once decided.
    pub fn layout(&self) -> Option<CsvLayout> {
        match &self.state.stage {
            Stage::Rows(converter) => Some(CsvLayout {
                delimiter: self.state.dialect.delimiter as char,
                columns: converter.columns().clone(),
            }),
            _ => None,
        }
    }

    /// Feeds the next chunk; documents of the rows it completes go to `sink`. An error means the header cannot
    /// be used (the message says why); push no more then.
    pub fn push<S: DocumentSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), String> {
        if matches!(self.state.stage, Stage::Rows(_)) {
            sink.trust_documents();
        }
        self.splitter.push(
            chunk,
            &mut Rows {
                state: &mut self.state,
                sink,
            },
        );
        self.state.check()
    }

    /// Declares the end of the source: a last row without a line break is read, and a sample still held is
    /// decided and handed on.
    pub fn finish<S: DocumentSink>(&mut self, sink: &mut S) -> Result<(), String> {
        self.splitter.finish(&mut Rows {
            state: &mut self.state,
            sink,
        });
        self.settle(sink)
    }

    /// Decides the columns from the rows held so far and hands them on: for a head that ends before the sample
    /// would (the preview's). A header not read yet stays unread.
    pub fn settle<S: DocumentSink>(&mut self, sink: &mut S) -> Result<(), String> {
        Rows {
            state: &mut self.state,
            sink,
        }
        .decide();
        self.state.check()
    }
}

impl RowState {
    fn new(dialect: Dialect, options: &CsvOptions, stage: Stage) -> Self {
        RowState {
            dialect,
            options: options.clone(),
            stage,
            failure: None,
            document: Vec::new(),
            id_column: None,
        }
    }

    fn check(&self) -> Result<(), String> {
        match &self.failure {
            Some(message) => Err(message.clone()),
            None => Ok(()),
        }
    }
}

/// The splitter's sink while a chunk is pushed: the stage machine, and where documents go.
struct Rows<'r, S> {
    state: &'r mut RowState,
    sink: &'r mut S,
}

impl<S: DocumentSink> Rows<'_, S> {
    fn fail(&mut self, message: String) {
        self.state.failure = Some(message);
        self.state.stage = Stage::Failed;
    }

    fn header(&mut self, row: &[u8]) {
        let mut cells = RowConverter::for_cells(self.state.dialect);
        match cells.cells(row) {
            Ok(count) => {
                let names = (0..count)
                    .map(|n| match String::from_utf8_lossy(cells.cell(n)).trim() {
                        "" => format!("column_{}", n + 1),
                        name => name.to_string(),
                    })
                    .collect();
                self.state.stage = Stage::Sample {
                    names,
                    held: Vec::new(),
                };
            }
            Err(reason) => self.fail(format!("the header line cannot be read: {reason}")),
        }
    }

    /// Ends the sample, if one is being gathered: the columns' types from the held rows, then the held rows as
    /// documents.
    fn decide(&mut self) {
        if !matches!(self.state.stage, Stage::Sample { .. }) {
            return;
        }
        let Stage::Sample { names, held } = std::mem::replace(&mut self.state.stage, Stage::Failed) else {
            unreachable!("checked just above")
        };
        match decide_columns(names, &held, self.state.dialect, &self.state.options) {
            Ok(converter) => {
                self.state.stage = Stage::Rows(Box::new(converter));
                self.sink.trust_documents();
                for (span, row) in held {
                    match row {
                        Some(row) => self.convert(span, &row),
                        None => self.sink.oversize(span),
                    }
                }
            }
            Err(message) => self.fail(message),
        }
    }

    fn convert(&mut self, span: Span, row: &[u8]) {
        let Stage::Rows(converter) = &mut self.state.stage else {
            return;
        };
        let id_column = *self.state.id_column.get_or_insert_with(|| {
            let field = self.sink.id_field()?;
            converter.column_at(field.segments())
        });
        let document = &mut self.state.document;
        document.clear();
        if let Err(reason) = converter.write_document(row, document) {
            return self.sink.reject(span, reason, row);
        }
        match id_column.and_then(|column| converter.id_text(column)) {
            Some(id) => self.sink.document_with_id(span, document, id),
            None => self.sink.record(span, document),
        }
    }

    fn sampling_ends_before(&self, span: Span) -> bool {
        match &self.state.stage {
            Stage::Sample { names, held } => {
                span.end >= SAMPLE_BYTES || held.len() >= SAMPLE_ROWS || !self.state.options.infers_any(names)
            }
            _ => false,
        }
    }
}

impl<S: DocumentSink> RecordSink for Rows<'_, S> {
    fn record(&mut self, span: Span, bytes: &[u8]) {
        if self.sampling_ends_before(span) {
            self.decide();
        }
        match &mut self.state.stage {
            Stage::Header => self.header(bytes),
            Stage::Sample { held, .. } => held.push((span, Some(bytes.to_vec()))),
            Stage::Rows(_) => self.convert(span, bytes),
            Stage::Failed => {}
        }
    }

    fn oversize(&mut self, span: Span) {
        if self.sampling_ends_before(span) {
            self.decide();
        }
        match &mut self.state.stage {
            Stage::Header => self.fail(format!(
                "the header line is {} bytes long, over the maximum record size",
                span.len()
            )),
            Stage::Sample { held, .. } => held.push((span, None)),
            Stage::Rows(_) => self.sink.oversize(span),
            Stage::Failed => {}
        }
    }
}

/// Refuses column types chosen for columns that `names` (the source's header) lacks: a misspelt name would
/// otherwise change nothing, silently.
pub fn check_chosen_columns(options: &CsvOptions, names: &[String]) -> Result<(), String> {
    let Some(unknown) = options.column_types.keys().find(|name| !names.contains(name)) else {
        return Ok(());
    };
    let shown: Vec<String> = names.iter().take(12).map(|name| format!("'{name}'")).collect();
    Err(format!(
        "a type was chosen for the column '{unknown}', which the source does not have (its columns: {}{})",
        shown.join(", "),
        if names.len() > shown.len() { ", …" } else { "" }
    ))
}

/// The converter for `names`: each column's type chosen by the user, or inferred from the sample's rows of the
/// header's width (all text with `all_strings`).
fn decide_columns(
    names: Vec<String>,
    held: &[HeldRow],
    dialect: Dialect,
    options: &CsvOptions,
) -> Result<RowConverter, String> {
    check_chosen_columns(options, &names)?;
    let mut samples = vec![TypeSample::default(); names.len()];
    if !options.all_strings {
        let mut cells = RowConverter::for_cells(dialect);
        for row in held.iter().filter_map(|(_, row)| row.as_deref()) {
            if cells.cells(row) != Ok(names.len()) {
                continue; // a row that will be a dead letter says nothing about the types
            }
            for (n, sample) in samples.iter_mut().enumerate() {
                if let Ok(cell) = std::str::from_utf8(cells.cell(n)) {
                    sample.observe(cell);
                }
            }
        }
    }
    let types = names
        .iter()
        .zip(&samples)
        .map(|(name, sample)| match options.column_types.get(name) {
            Some(chosen) => *chosen,
            None if options.all_strings => ColumnType::Keyword,
            None => sample.inferred(),
        })
        .collect();
    RowConverter::new(dialect, Columns { names, types }, options.nest_dotted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letter::DeadLetter;

    #[derive(Default)]
    struct Documents {
        sent: Vec<(Span, serde_json::Value)>,
        rejected: Vec<DeadLetter>,
        oversize: Vec<Span>,
    }

    impl RecordSink for Documents {
        fn record(&mut self, span: Span, bytes: &[u8]) {
            self.sent
                .push((span, serde_json::from_slice(bytes).expect("documents are JSON")));
        }
        fn oversize(&mut self, span: Span) {
            self.oversize.push(span);
        }
    }

    impl DocumentSink for Documents {
        fn reject(&mut self, span: Span, reason: String, row: &[u8]) {
            self.rejected.push(DeadLetter::with_record(span, reason, row));
        }
    }

    fn read(input: &[u8], options: &CsvOptions, chunk: usize) -> (Documents, Result<(), String>, CsvRecords) {
        let mut source = CsvRecords::new(dialect(Format::Csv, options), options, 1 << 20);
        let mut documents = Documents::default();
        for piece in input.chunks(chunk.max(1)) {
            if let Err(error) = source.push(piece, &mut documents) {
                return (documents, Err(error), source);
            }
        }
        let result = source.finish(&mut documents);
        (documents, result, source)
    }

    #[test]
    fn header_names_and_inferred_types_make_the_documents() {
        let input = b"id,price,ok,seen, \n1,2.5,true,2026-12-03,x\n2,3,false,,y\n";
        let (documents, result, source) = read(input, &CsvOptions::default(), 7);
        result.unwrap();
        let values: Vec<_> = documents.sent.iter().map(|(_, value)| value.clone()).collect();
        assert_eq!(
            values,
            vec![
                serde_json::json!({"id": 1, "price": 2.5, "ok": true, "seen": "2026-12-03", "column_5": "x"}),
                serde_json::json!({"id": 2, "price": 3, "ok": false, "column_5": "y"}),
            ]
        );
        assert_eq!(documents.sent[0].0, Span { start: 19, end: 42 });
        let layout = source.layout().unwrap();
        assert_eq!(layout.delimiter, ',');
        use ColumnType::*;
        assert_eq!(layout.columns.types, vec![Long, Double, Boolean, Date, Keyword]);
    }

    #[test]
    fn chosen_types_win_and_bad_rows_are_rejected_in_place() {
        let mut options = CsvOptions::default();
        options.column_types.insert("zip".into(), ColumnType::Keyword);
        options.column_types.insert("n".into(), ColumnType::Long);
        let input = b"zip,n\n01234,1\n12345,x\n99999\n\"7,2\n";
        let (documents, result, _) = read(input, &options, 3);
        result.unwrap();
        assert_eq!(documents.sent.len(), 1);
        assert_eq!(documents.sent[0].1, serde_json::json!({"zip": "01234", "n": 1}));
        let reasons: Vec<_> = documents.rejected.iter().map(|letter| letter.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "the cell of 'n' is not a whole number: \"x\"",
                "the row has 1 cell, the header has 2",
                "a quoted cell is never closed (the file ends inside it)",
            ]
        );
        assert_eq!(documents.rejected[0].offset, 14);
        assert_eq!(documents.rejected[0].record.as_deref(), Some("12345,x"));
    }

    #[test]
    fn all_strings_given_names_and_a_resume_from_the_layout() {
        let options = CsvOptions {
            columns: vec!["a".into(), "b".into()],
            all_strings: true,
            ..CsvOptions::default()
        };
        let input = b"1,2\n3,4\n";
        let (documents, result, source) = read(input, &options, 100);
        result.unwrap();
        assert_eq!(documents.sent[0].1, serde_json::json!({"a": "1", "b": "2"}));
        // A resume at the end of the first row reads the second with the same layout, without the header.
        let layout = source.layout().unwrap();
        let mut resumed = CsvRecords::resume(&layout, &options, 3, 1 << 20).unwrap();
        let mut rest = Documents::default();
        resumed.push(&input[3..], &mut rest).unwrap();
        resumed.finish(&mut rest).unwrap();
        assert_eq!(
            rest.sent,
            vec![(Span { start: 4, end: 7 }, serde_json::json!({"a": "3", "b": "4"}))]
        );
    }

    #[test]
    fn the_sample_ends_at_its_row_limit_and_later_rows_do_not_change_the_types() {
        let mut input = b"n\n".to_vec();
        for i in 0..SAMPLE_ROWS {
            input.extend_from_slice(format!("{i}\n").as_bytes());
        }
        input.extend_from_slice(b"1.5\n");
        let (documents, result, source) = read(&input, &CsvOptions::default(), 4096);
        result.unwrap();
        assert_eq!(source.layout().unwrap().columns.types, vec![ColumnType::Long]);
        assert_eq!(documents.sent.len(), SAMPLE_ROWS);
        assert_eq!(
            documents.rejected[0].reason,
            "the cell of 'n' is not a whole number: \"1.5\""
        );
    }

    #[test]
    fn rows_wait_for_the_sample_only_when_a_type_is_left_to_it() {
        let push = |options: &CsvOptions| {
            let mut source = CsvRecords::new(dialect(Format::Csv, options), options, 1 << 20);
            let mut documents = Documents::default();
            source.push(b"a,b\n1,2\n3,4\n", &mut documents).unwrap();
            documents.sent.len()
        };
        let mut options = CsvOptions::default();
        assert_eq!(push(&options), 0, "held for the sample");
        options.column_types.insert("a".into(), ColumnType::Long);
        assert_eq!(push(&options), 0, "b is still inferred");
        options.column_types.insert("b".into(), ColumnType::Double);
        assert_eq!(push(&options), 2, "nothing to infer: sent at once");
        let all_strings = CsvOptions {
            all_strings: true,
            ..CsvOptions::default()
        };
        assert_eq!(push(&all_strings), 2);
    }

    #[test]
    fn headers_that_cannot_be_used_stop_with_the_reason() {
        let (_, result, _) = read(b"a,b,a\n1,2,3\n", &CsvOptions::default(), 100);
        assert_eq!(result.unwrap_err(), "two columns are named 'a'; rename one of them");
        let mut options = CsvOptions::default();
        options.column_types.insert("prise".into(), ColumnType::Double);
        let (_, result, _) = read(b"id,price\n1,2\n", &options, 100);
        let message = result.unwrap_err();
        assert!(
            message.contains("'prise'") && message.contains("'id', 'price'"),
            "{message}"
        );
    }
}
