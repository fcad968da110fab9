//! CSV/TSV rows into JSON documents: the header's names, a type per column, and each row written straight into
//! JSON text (no `serde_json::Value` per row).
//!
//! Types are inferred per column from a sample of rows ([`infer_type`]) and can be overridden; they are part of
//! what a job's checkpoint must keep, with the header, so that a resume in the middle of the file converts rows as
//! the start did. A row that does not fit (too many or too few cells, a quote never closed, a cell that is not of its
//! column's type) is refused with a reason in words, for a dead letter: bad rows are data, the import goes on.

use serde::{Deserialize, Serialize};

use crate::batch::write_json_string;
use crate::csv_split::Dialect;
use crate::preview::is_iso_date;

/// What a column's cells become in the documents. An empty cell is always an absent field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// A JSON string, as written.
    Keyword,
    /// A JSON integer (64-bit).
    Long,
    /// A JSON number.
    Double,
    /// `true` or `false` (any case).
    Boolean,
    /// An ISO-8601 date or date-time, as a JSON string (the index maps it as a date).
    Date,
}

impl ColumnType {
    /// The type's name as the CLI and the page write it.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Keyword => "keyword",
            ColumnType::Long => "long",
            ColumnType::Double => "double",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
        }
    }

    /// Reads a type's name (`string` and `text` are taken for `keyword`).
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "keyword" | "string" | "text" => ColumnType::Keyword,
            "long" | "integer" | "int" => ColumnType::Long,
            "double" | "float" | "number" => ColumnType::Double,
            "boolean" | "bool" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            _ => return None,
        })
    }
}

fn as_long(cell: &str) -> Option<i64> {
    // A leading zero ("01234", a zip code or an account number) would be lost as a number: such cells are text.
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    if (digits.len() > 1 && digits.starts_with('0')) || cell.starts_with('+') {
        return None;
    }
    cell.parse().ok()
}

fn as_double(cell: &str) -> Option<f64> {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    // Only plain decimal notation: Rust also reads "inf", "NaN" and "+1", which are not numbers in JSON.
    let plain = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits[1..].starts_with(['.', 'e', 'E']);
    if !plain || leading_zero {
        return None;
    }
    cell.parse().ok().filter(|value: &f64| value.is_finite())
}

fn as_boolean(cell: &str) -> Option<bool> {
    if cell.eq_ignore_ascii_case("true") {
        Some(true)
    } else if cell.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The narrowest type that fits every non-empty cell of a sample of one column: long, double, boolean, date, else
/// keyword (also when the sample has no non-empty cell).
pub fn infer_type<'c>(cells: impl IntoIterator<Item = &'c str>) -> ColumnType {
    let candidates = [
        ColumnType::Long,
        ColumnType::Double,
        ColumnType::Boolean,
        ColumnType::Date,
    ];
    let mut fits = [true; 4];
    let mut seen = false;
    for cell in cells.into_iter().filter(|cell| !cell.is_empty()) {
        seen = true;
        for (fit, candidate) in fits.iter_mut().zip(candidates) {
            *fit = *fit && fits_type(candidate, cell);
        }
    }
    match candidates.iter().zip(fits).find(|(_, fit)| *fit) {
        Some((&candidate, _)) if seen => candidate,
        _ => ColumnType::Keyword,
    }
}

fn fits_type(column: ColumnType, cell: &str) -> bool {
    match column {
        ColumnType::Keyword => true,
        ColumnType::Long => as_long(cell).is_some(),
        ColumnType::Double => as_double(cell).is_some(),
        ColumnType::Boolean => as_boolean(cell).is_some(),
        ColumnType::Date => is_iso_date(cell),
    }
}

/// The columns of a CSV source: names from its header (or given), and a type each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    /// The names, in the order of the cells.
    pub names: Vec<String>,
    /// The type of each column, in the same order.
    pub types: Vec<ColumnType>,
}

/// Splits rows into cells and writes them as documents.
pub struct RowConverter {
    dialect: Dialect,
    columns: Columns,
    /// Each column's `"name":`, escaped once.
    keys: Vec<Vec<u8>>,
    reader: csv_core::Reader,
    /// The current row's unquoted cells, one after the other, and where each ends.
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl RowConverter {
    /// A converter for rows of `columns`, written in `dialect`.
    pub fn new(dialect: Dialect, columns: Columns) -> Self {
        let keys = columns
            .names
            .iter()
            .map(|name| {
                let mut key = Vec::new();
                write_json_string(&mut key, name);
                key.push(b':');
                key
            })
            .collect();
        RowConverter {
            dialect,
            columns,
            keys,
            reader: reader(dialect),
            text: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The columns it writes.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// Appends the document of `row` (a row's bytes, as the splitter hands them out) to `out`, or says what is
    /// wrong with the row (then `out` is as it was).
    pub fn write_document(&mut self, row: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let cells = self.cells(row)?;
        let expected = self.columns.names.len();
        if cells != expected {
            return Err(format!(
                "the row has {cells} cell{}, the header has {expected}",
                if cells == 1 { "" } else { "s" }
            ));
        }
        let rollback = out.len();
        out.push(b'{');
        let mut first = true;
        let mut from = 0;
        for column in 0..expected {
            let to = self.ends[column];
            let raw = &self.text[from..to];
            from = to;
            if raw.is_empty() {
                continue;
            }
            let name = &self.columns.names[column];
            let Ok(cell) = std::str::from_utf8(raw) else {
                out.truncate(rollback);
                return Err(format!("the cell of '{name}' is not UTF-8 text"));
            };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&self.keys[column]);
            if let Err(reason) = write_cell(self.columns.types[column], cell, out) {
                out.truncate(rollback);
                return Err(format!("the cell of '{name}' {reason}"));
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// Splits `row` into `self.text` and `self.ends`; returns the number of cells.
    pub fn cells(&mut self, row: &[u8]) -> Result<usize, String> {
        if ends_inside_quotes(row, self.dialect) {
            return Err("a quoted cell is never closed (the file ends inside it)".into());
        }
        self.reader.reset();
        self.text.clear();
        self.ends.clear();
        self.text.resize(row.len().max(1), 0);
        self.ends.resize(row.len() + 1, 0);
        let (mut read, mut written, mut cells) = (0, 0, 0);
        loop {
            let (result, r, w, e) =
                self.reader
                    .read_record(&row[read..], &mut self.text[written..], &mut self.ends[cells..]);
            read += r;
            written += w;
            cells += e;
            match result {
                csv_core::ReadRecordResult::InputEmpty if read == row.len() => {
                    // The row has no terminator: the empty input ends it.
                    let (result, _, _, e) = self.reader.read_record(&[], &mut [], &mut self.ends[cells..]);
                    cells += e;
                    debug_assert!(matches!(
                        result,
                        csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End
                    ));
                    break;
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
                // The buffers are as large as the row, so neither fills; input is always what is left of it.
                _ => {}
            }
        }
        self.text.truncate(written);
        self.ends.truncate(cells);
        Ok(cells)
    }

    /// The cell `n` of the row last split by [`RowConverter::cells`].
    pub fn cell(&self, n: usize) -> &[u8] {
        let from = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.text[from..self.ends[n]]
    }
}

fn reader(dialect: Dialect) -> csv_core::Reader {
    csv_core::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .build()
}

/// True when `row` ends inside a quoted cell: only the last row of a file can (anywhere else the splitter would
/// have gone on to the closing quote).
fn ends_inside_quotes(row: &[u8], dialect: Dialect) -> bool {
    let (mut at_cell_start, mut quoted, mut i) = (true, false, 0);
    while i < row.len() {
        let byte = row[i];
        if quoted {
            if byte == dialect.quote {
                if row.get(i + 1) == Some(&dialect.quote) {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
        } else if at_cell_start && byte == dialect.quote {
            quoted = true;
        }
        at_cell_start = !quoted && byte == dialect.delimiter;
        i += 1;
    }
    quoted
}

fn write_cell(column: ColumnType, cell: &str, out: &mut Vec<u8>) -> Result<(), String> {
    match column {
        ColumnType::Keyword => write_json_string(out, cell),
        // A cell that reads as its type and is already a JSON number is copied as it is (formatting a number
        // again costs more than the rest of the row); others ("1.", "1E5" is fine) are written again.
        ColumnType::Long => match as_long(cell) {
            Some(_) => out.extend_from_slice(cell.as_bytes()),
            None => return Err(format!("is not a whole number: {}", quoted(cell))),
        },
        ColumnType::Double => match as_double(cell) {
            Some(_) if is_json_number(cell.as_bytes()) => out.extend_from_slice(cell.as_bytes()),
            Some(value) => out.extend_from_slice(value.to_string().as_bytes()),
            None => return Err(format!("is not a number: {}", quoted(cell))),
        },
        ColumnType::Boolean => match as_boolean(cell) {
            Some(value) => out.extend_from_slice(if value { b"true" } else { b"false" }),
            None => return Err(format!("is not true or false: {}", quoted(cell))),
        },
        ColumnType::Date if is_iso_date(cell) => write_json_string(out, cell),
        ColumnType::Date => return Err(format!("is not an ISO-8601 date: {}", quoted(cell))),
    }
    Ok(())
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: JSON's grammar of numbers.
fn is_json_number(text: &[u8]) -> bool {
    let digits = |at: usize| text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut i = usize::from(text.first() == Some(&b'-'));
    match digits(i) {
        0 => return false,
        n if n > 1 && text[i] == b'0' => return false,
        n => i += n,
    }
    if text.get(i) == Some(&b'.') {
        match digits(i + 1) {
            0 => return false,
            n => i += 1 + n,
        }
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        match digits(i) {
            0 => return false,
            n => i += n,
        }
    }
    i == text.len()
}

/// A cell for a message: quoted, cut after 40 characters.
fn quoted(cell: &str) -> String {
    let mut shown: String = cell.chars().take(40).collect();
    if shown.len() < cell.len() {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converter(names: &[&str], types: &[ColumnType]) -> RowConverter {
        RowConverter::new(
            Dialect::CSV,
            Columns {
                names: names.iter().map(|n| n.to_string()).collect(),
                types: types.to_vec(),
            },
        )
    }

    fn document(converter: &mut RowConverter, row: &str) -> Result<serde_json::Value, String> {
        let mut out = Vec::new();
        converter.write_document(row.as_bytes(), &mut out)?;
        Ok(serde_json::from_slice(&out).expect("the document is JSON"))
    }

    #[test]
    fn cells_become_typed_fields_and_empty_cells_are_absent() {
        use ColumnType::*;
        let mut rows = converter(
            &["id", "price", "ok", "at", "note", "zip"],
            &[Long, Double, Boolean, Date, Keyword, Keyword],
        );
        assert_eq!(
            document(
                &mut rows,
                "7,12.50,TRUE,2026-12-03,\"say \"\"hi\"\", then\nleave\",01234"
            )
            .unwrap(),
            serde_json::json!({"id": 7, "price": 12.5, "ok": true, "at": "2026-12-03",
                "note": "say \"hi\", then\nleave", "zip": "01234"})
        );
        assert_eq!(
            document(&mut rows, "8,,false,,,").unwrap(),
            serde_json::json!({"id": 8, "ok": false})
        );
    }

    #[test]
    fn rows_that_do_not_fit_are_refused_with_the_reason() {
        use ColumnType::*;
        let mut rows = converter(&["id", "price"], &[Long, Double]);
        assert_eq!(
            document(&mut rows, "1,2,3").unwrap_err(),
            "the row has 3 cells, the header has 2"
        );
        assert_eq!(
            document(&mut rows, "1").unwrap_err(),
            "the row has 1 cell, the header has 2"
        );
        assert_eq!(
            document(&mut rows, "x,2").unwrap_err(),
            "the cell of 'id' is not a whole number: \"x\""
        );
        assert_eq!(
            document(&mut rows, "1,NaN").unwrap_err(),
            "the cell of 'price' is not a number: \"NaN\""
        );
        assert_eq!(
            document(&mut rows, "1,\"2").unwrap_err(),
            "a quoted cell is never closed (the file ends inside it)"
        );
        // A quote inside an unquoted cell is data, not an opening quote.
        let mut text = converter(&["height", "n"], &[Keyword, Long]);
        assert_eq!(
            document(&mut text, "5'11\",3").unwrap(),
            serde_json::json!({"height": "5'11\"", "n": 3})
        );
    }

    #[test]
    fn types_are_inferred_from_the_sample_and_leading_zeros_stay_text() {
        use ColumnType::*;
        assert_eq!(infer_type(["1", "-20", ""]), Long);
        assert_eq!(infer_type(["1", "2.5", "1e3"]), Double);
        assert_eq!(infer_type(["true", "False"]), Boolean);
        assert_eq!(infer_type(["2026-12-03", "2026-12-03T10:00:00Z"]), Date);
        assert_eq!(infer_type(["01234", "12345"]), Keyword);
        assert_eq!(infer_type(["1", "x"]), Keyword);
        assert_eq!(infer_type(["", ""]), Keyword);
        assert_eq!(infer_type(["inf", "NaN"]), Keyword);
        assert_eq!(ColumnType::parse("Double"), Some(Double));
        for (text, json) in [
            ("1", true),
            ("-0.5", true),
            ("1e5", true),
            ("2.5E-3", true),
            ("1.", false),
            ("01", false),
        ] {
            assert_eq!(is_json_number(text.as_bytes()), json, "{text}");
        }
        assert_eq!(ColumnType::parse("string"), Some(Keyword));
        assert_eq!(ColumnType::parse("money"), None);
    }
}
