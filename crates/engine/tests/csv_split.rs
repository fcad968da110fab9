//! Property tests of the CSV row splitter: any chunking of any CSV (quotes, doubled quotes, embedded newlines,
//! CRLF, a BOM, a last row without a terminator) yields the rows and offsets of one chunk, and resuming at any row
//! end yields the rest.

use proptest::prelude::*;
use sluice_engine::csv_rows::{ColumnType, Columns, RowConverter};
use sluice_engine::csv_split::{CsvSplitter, Dialect};
use sluice_engine::split::{RecordSink, Span};

#[derive(Default, Debug, PartialEq)]
struct Rows(Vec<(Span, Vec<u8>)>);

impl RecordSink for Rows {
    fn record(&mut self, span: Span, bytes: &[u8]) {
        self.0.push((span, bytes.to_vec()));
    }
    fn oversize(&mut self, span: Span) {
        panic!("no generated row is oversize: {span:?}");
    }
}

/// A cell as a CSV writer would write it: quoted (quotes doubled) when it holds a delimiter, quote or line break.
fn encode(cell: &str, delimiter: char) -> String {
    if cell.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[derive(Debug, Clone)]
struct Generated {
    bytes: Vec<u8>,
    /// Each row's span and text, as written.
    rows: Vec<(Span, Vec<u8>)>,
    /// Each row's cells, before they were written.
    cells: Vec<Vec<String>>,
    dialect: Dialect,
}

fn generated() -> impl Strategy<Value = Generated> {
    let cell = proptest::string::string_regex("[a-z0-9 ,;\"\\t\\r\\n]{1,8}").unwrap();
    let row = prop::collection::vec(cell, 1..6);
    (
        prop::collection::vec((row, prop::bool::ANY, 0..3usize), 1..25),
        prop::bool::ANY,
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(rows, bom, tsv, last_terminated)| {
            let dialect = if tsv { Dialect::TSV } else { Dialect::CSV };
            let delimiter = dialect.delimiter as char;
            let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            let mut spans = Vec::new();
            let mut all_cells = Vec::new();
            let count = rows.len();
            for (n, (cells, crlf, blank_lines)) in rows.into_iter().enumerate() {
                let text = cells
                    .iter()
                    .map(|c| encode(c, delimiter))
                    .collect::<Vec<_>>()
                    .join(&delimiter.to_string());
                let start = bytes.len() as u64;
                bytes.extend_from_slice(text.as_bytes());
                spans.push((
                    Span {
                        start,
                        end: bytes.len() as u64,
                    },
                    text.into_bytes(),
                ));
                all_cells.push(cells);
                if n + 1 < count || last_terminated {
                    let terminator: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                    for _ in 0..=blank_lines {
                        bytes.extend_from_slice(terminator);
                    }
                }
            }
            Generated {
                bytes,
                rows: spans,
                cells: all_cells,
                dialect,
            }
        })
}

fn split(splitter: &mut CsvSplitter, bytes: &[u8], cuts: &[usize]) -> Rows {
    let mut rows = Rows::default();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let cut = cut.clamp(from, bytes.len());
        splitter.push(&bytes[from..cut], &mut rows);
        from = cut;
    }
    splitter.finish(&mut rows);
    rows
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_yields_the_rows_as_written(input in generated(), mut cuts in prop::collection::vec(0..400usize, 0..30)) {
        cuts.sort_unstable();
        let mut splitter = CsvSplitter::new(input.dialect, 1 << 20);
        let rows = split(&mut splitter, &input.bytes, &cuts);
        prop_assert_eq!(&rows.0, &input.rows);
        prop_assert_eq!(splitter.position(), input.bytes.len() as u64);
    }

    #[test]
    fn resuming_at_any_row_end_yields_the_rest(input in generated(), at in any::<prop::sample::Index>(), cut in 0..400usize) {
        let resume_at = input.rows[at.index(input.rows.len())].0.end;
        let rest = &input.bytes[resume_at as usize..];
        let mut splitter = CsvSplitter::resume(input.dialect, resume_at, 1 << 20);
        let rows = split(&mut splitter, rest, &[cut]);
        let expected: Vec<_> = input.rows.iter().filter(|(span, _)| span.start >= resume_at).cloned().collect();
        prop_assert_eq!(rows.0, expected);
    }

    #[test]
    fn each_row_reads_back_as_the_cells_written(input in generated()) {
        prop_assert_eq!(input.cells.len(), input.rows.len());
        for (cells, (_, row)) in input.cells.iter().zip(&input.rows) {
            let names: Vec<String> = (0..cells.len()).map(|n| format!("c{n}")).collect();
            let mut converter = RowConverter::new(
                input.dialect,
                Columns { types: vec![ColumnType::Keyword; names.len()], names: names.clone() },
                false,
            ).unwrap();
            let mut out = Vec::new();
            converter.write_document(row, &mut out).map_err(TestCaseError::fail)?;
            let document: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let expected: serde_json::Map<String, serde_json::Value> =
                names.into_iter().zip(cells.iter().map(|c| serde_json::Value::from(c.as_str()))).collect();
            prop_assert_eq!(document, serde_json::Value::Object(expected));
        }
    }
}
