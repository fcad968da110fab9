//! The preview: what the head of a source holds, before anything is sent.
//!
//! Adapters read only the first [`HEAD_BYTES`] of the first object (a Range request, decompressed for gzip) and
//! hand them to [`Preview::from_head`]. The same [`RecordReader`](crate::reader::RecordReader) and record checks as the import run over them, so the
//! preview counts exactly the records an import would refuse locally. The last record of a head that was cut off
//! is left out, not reported as broken.
//!
//! Field types are inferred per field path (dotted, as in mappings) from every sampled record: see
//! [`FieldType`]. Several types at one path is a conflict inside the data, reported as such.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::csv_source::{CsvLayout, DocumentSink};
use crate::format::Format;
use crate::reader::RecordReader;
use crate::record::{check_record, JsonPointer};
use crate::settings::{IdStrategy, ImportSettings, Validation};
use crate::sniff::{rows_refused, sniff, Looks};
use crate::split::{RecordSink, Span};

/// How much of a source the preview reads: 256 KiB.
pub const HEAD_BYTES: u64 = 256 * 1024;

/// How many records the preview samples at most (the table shows the first [`TABLE_ROWS`]).
pub const SAMPLE_RECORDS: usize = 1000;

/// Rows of the preview table.
pub const TABLE_ROWS: usize = 20;

/// The type a field's values suggest, named as in OpenSearch mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Short strings (≤ 256 characters): exact values, aggregations.
    Keyword,
    /// Long strings: full text.
    Text,
    /// Integers.
    Long,
    /// Numbers with a fraction or an exponent.
    Double,
    /// `true` / `false`.
    Boolean,
    /// ISO-8601 date strings (`2026-03-04`, `2026-03-04T05:06:07Z`), or epoch milliseconds in a field whose name
    /// says it is a time (`created_at`, `timestamp`, `ts` ...).
    Date,
    /// A JSON object (its fields are listed under their own paths).
    Object,
    /// `null`: says nothing about the type.
    Null,
}

impl FieldType {
    /// The name used in mappings and messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Keyword => "keyword",
            FieldType::Text => "text",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Object => "object",
            FieldType::Null => "null",
        }
    }

    /// Parses a name (for per-field overrides in the page and the CLI).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "keyword" => FieldType::Keyword,
            "text" => FieldType::Text,
            "long" | "integer" => FieldType::Long,
            "double" | "float" => FieldType::Double,
            "boolean" | "bool" => FieldType::Boolean,
            "date" => FieldType::Date,
            "object" => FieldType::Object,
            _ => return None,
        })
    }

    /// The type of one JSON value found at `path`.
    pub fn of(path: &str, value: &Value) -> Self {
        match value {
            Value::Null => FieldType::Null,
            Value::Bool(_) => FieldType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                if n.as_i64().is_some_and(is_epoch_millis) && is_time_name(path) {
                    FieldType::Date
                } else {
                    FieldType::Long
                }
            }
            Value::Number(_) => FieldType::Double,
            Value::String(s) if is_iso_date(s) => FieldType::Date,
            Value::String(s) if s.chars().count() > 256 => FieldType::Text,
            Value::String(_) => FieldType::Keyword,
            Value::Object(_) => FieldType::Object,
            Value::Array(_) => unreachable!("arrays are described by their elements"),
        }
    }
}

/// Between 2000-01-01 and 2100-01-01 in milliseconds: plausible as a time, implausible as a count.
fn is_epoch_millis(n: i64) -> bool {
    (946_684_800_000..4_102_444_800_000).contains(&n)
}

fn is_time_name(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    leaf == "ts"
        || leaf.ends_with("_at")
        || leaf.ends_with("_ts")
        || ["time", "date", "timestamp", "created", "updated", "modified"]
            .iter()
            .any(|word| leaf.contains(word))
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and a time, with an optional zone: what OpenSearch's
/// default date format (`strict_date_optional_time||epoch_millis`) accepts, plus the common space separator.
pub fn is_iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 10 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if !matches!(b[10], b'T' | b' ') || b.len() < 16 || !digits(11..13) || b[13] != b':' || !digits(14..16) {
        return false;
    }
    text[16..]
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ':' | '.' | ',' | 'Z' | '+' | '-'))
}

/// What the sample says about one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldStats {
    /// Dotted path (`user.name`).
    pub path: String,
    /// How many values of each type were seen (elements of arrays count one by one).
    pub types: BTreeMap<FieldType, u64>,
    /// In how many sampled records the field appears.
    pub records: u64,
    /// How many of those hold an array there.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub arrays: u64,
    /// One value per type, for messages (compact JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub examples: BTreeMap<FieldType, String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FieldStats {
    /// The type to map the field as: the most frequent non-null type; long and double together make double, and
    /// keyword with text makes text.
    pub fn inferred(&self) -> FieldType {
        let has = |t| self.types.contains_key(&t);
        let kinds: Vec<FieldType> = self.types.keys().copied().filter(|t| *t != FieldType::Null).collect();
        if has(FieldType::Double) && kinds.iter().all(|t| matches!(t, FieldType::Long | FieldType::Double)) {
            return FieldType::Double;
        }
        if has(FieldType::Text) && kinds.iter().all(|t| matches!(t, FieldType::Keyword | FieldType::Text)) {
            return FieldType::Text;
        }
        kinds
            .iter()
            .copied()
            .max_by_key(|t| self.types[t])
            .unwrap_or(FieldType::Keyword)
    }

    /// True when the sample holds values of types that one mapping cannot all take (a conflict inside the data).
    pub fn is_mixed(&self) -> bool {
        let families: std::collections::BTreeSet<u8> = self
            .types
            .keys()
            .filter_map(|t| match t {
                FieldType::Null => None,
                FieldType::Long | FieldType::Double => Some(0),
                FieldType::Keyword | FieldType::Text => Some(1),
                FieldType::Boolean => Some(2),
                FieldType::Date => Some(3),
                FieldType::Object => Some(4),
            })
            .collect();
        families.len() > 1
    }
}

/// A sampled record that an import would refuse locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRecord {
    /// Absolute offset of its first byte.
    pub offset: u64,
    /// Why, in the words of the dead-letter list.
    pub reason: String,
    /// Its first characters.
    pub text: String,
}

/// What the head of a source holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    /// The detected format, when the head says.
    pub format: Option<Format>,
    /// Bytes looked at.
    pub bytes: u64,
    /// True when the head is the whole source.
    pub complete: bool,
    /// Valid records, in source order (at most [`SAMPLE_RECORDS`]).
    pub records: Vec<Value>,
    /// Records an import would refuse locally, with reasons (at most 100 kept; `invalid_count` has them all).
    pub invalid: Vec<InvalidRecord>,
    /// How many sampled records are invalid.
    pub invalid_count: u64,
    /// Fields by path, in the order they were first seen.
    pub fields: Vec<FieldStats>,
    /// The structure broke inside the head (a JSON array with garbage between records, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure_error: Option<String>,
    /// When no sampled record is valid: what the source looks like instead, in words. An import must not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrong_file: Option<String>,
    /// Id values that appear more than once in the sample (with an id field): later records overwrite earlier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_ids: Vec<String>,
    /// For CSV and TSV: the delimiter, the columns and the type each gets (inferred from this sample, as the
    /// import infers them, or chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvLayout>,
}

struct Collector<'a> {
    validation: Validation,
    id_field: Option<&'a JsonPointer>,
    records: Vec<(Value, Option<String>)>,
    invalid: Vec<InvalidRecord>,
    invalid_count: u64,
}

impl RecordSink for Collector<'_> {
    fn record(&mut self, span: Span, bytes: &[u8]) {
        if self.records.len() + self.invalid_count as usize >= SAMPLE_RECORDS {
            return;
        }
        let checked = check_record(bytes, self.validation, self.id_field).and_then(|id| {
            serde_json::from_slice::<Value>(bytes)
                .map(|value| (value, id))
                .map_err(|e| crate::record::RecordProblem::InvalidJson(e.to_string()))
        });
        match checked {
            Ok(record) => self.records.push(record),
            Err(problem) => self.reject(span, problem.to_string(), bytes),
        }
    }

    fn oversize(&mut self, span: Span) {
        self.reject(
            span,
            format!("the record is {} bytes, over the maximum record size", span.len()),
            &[],
        );
    }
}

impl DocumentSink for Collector<'_> {
    fn reject(&mut self, span: Span, reason: String, bytes: &[u8]) {
        if self.records.len() + self.invalid_count as usize >= SAMPLE_RECORDS {
            return;
        }
        self.invalid_count += 1;
        if self.invalid.len() < 100 {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
            self.invalid.push(InvalidRecord {
                offset: span.start,
                reason,
                text,
            });
        }
    }
}

impl Preview {
    /// Samples the head of a source. `complete` says whether `head` is the whole source (then a last line
    /// without a newline counts, and an unclosed array is an error). The job's settings say the format, the CSV
    /// options, and the id strategy (records without their id count as invalid, as the import would count them).
    pub fn from_head(head: &[u8], complete: bool, settings: &ImportSettings) -> Self {
        let pointer = match &settings.id {
            IdStrategy::Field { pointer } => JsonPointer::parse(pointer).ok(),
            _ => None,
        };
        let mut collector = Collector {
            validation: Validation::Full,
            id_field: pointer.as_ref(),
            records: Vec::new(),
            invalid: Vec::new(),
            invalid_count: 0,
        };
        let mut reader = RecordReader::new(settings);
        let mut structure_error = reader.push(head, &mut collector).err().map(|e| e.to_string());
        if structure_error.is_none() {
            let end = if complete {
                reader.finish(&mut collector)
            } else {
                reader.settle(&mut collector)
            };
            structure_error = end.err().map(|e| e.to_string());
        }
        let mut fields: Vec<FieldStats> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (record, _) in &collector.records {
            let mut seen = std::collections::BTreeSet::new();
            walk(record, &mut String::new(), &mut |path, value, in_array| {
                let at = *index.entry(path.to_string()).or_insert_with(|| {
                    fields.push(FieldStats {
                        path: path.to_string(),
                        types: BTreeMap::new(),
                        records: 0,
                        arrays: 0,
                        examples: BTreeMap::new(),
                    });
                    fields.len() - 1
                });
                let stats = &mut fields[at];
                if seen.insert(at) {
                    stats.records += 1;
                    if in_array {
                        stats.arrays += 1;
                    }
                }
                let kind = FieldType::of(path, value);
                *stats.types.entry(kind).or_insert(0) += 1;
                stats
                    .examples
                    .entry(kind)
                    .or_insert_with(|| crate::transform::compact(value, 60));
            });
        }
        let mut ids: BTreeMap<&str, u32> = BTreeMap::new();
        for id in collector.records.iter().filter_map(|(_, id)| id.as_deref()) {
            *ids.entry(id).or_insert(0) += 1;
        }
        let duplicate_ids = ids
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| id.to_string())
            .take(20)
            .collect();
        let wrong_file = if collector.records.is_empty() {
            let looks = sniff(head);
            match (&looks, collector.invalid_count, &structure_error) {
                (Looks::Empty, _, _) => Some(looks.explain()),
                (_, 0, Some(error)) => Some(format!("no record could be read: {error}")),
                (_, 0, None) if !complete => Some(format!(
                    "no complete record in the first {} KiB ({})",
                    head.len() / 1024,
                    looks.explain()
                )),
                (_, 0, None) => Some(looks.explain()),
                (_, invalid, _) if reader.format().is_some_and(|format| format.is_delimited()) => Some(format!(
                    "none of the {invalid} rows sampled is a valid record: {}",
                    rows_refused(collector.invalid.first().map(|record| record.reason.as_str()))
                )),
                (_, invalid, _) => Some(format!(
                    "none of the {invalid} records sampled is a valid record, and {}",
                    looks.explain()
                )),
            }
        } else {
            None
        };
        Preview {
            format: reader.format(),
            csv: reader.csv_layout(),
            bytes: head.len() as u64,
            complete,
            records: collector.records.into_iter().map(|(value, _)| value).collect(),
            invalid: collector.invalid,
            invalid_count: collector.invalid_count,
            fields,
            structure_error,
            wrong_file,
            duplicate_ids,
        }
    }

    /// The top-level field names of the first records, in order of appearance: the preview table's columns.
    pub fn columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        for record in self.records.iter().take(TABLE_ROWS) {
            if let Value::Object(map) = record {
                for key in map.keys() {
                    if !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
            }
        }
        columns
    }

    /// The stats of a field.
    pub fn field(&self, path: &str) -> Option<&FieldStats> {
        self.fields.iter().find(|f| f.path == path)
    }
}

/// Calls `visit(path, value, in_array)` for every field of an object, depth first; array elements are visited
/// at the array's path, objects also at their own path before their fields.
pub fn walk(value: &Value, path: &mut String, visit: &mut dyn FnMut(&str, &Value, bool)) {
    let Value::Object(map) = value else { return };
    for (key, value) in map {
        let parent = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        match value {
            Value::Array(items) => {
                for item in items {
                    if !item.is_array() {
                        visit(path, item, true);
                    }
                    walk(item, path, visit);
                }
            }
            other => {
                visit(path, other, false);
                walk(other, path, visit);
            }
        }
        path.truncate(parent);
    }
}

/// A cell of the preview table: scalars as text, nested values as compact JSON, cut at `max_chars`.
pub fn cell_text(value: Option<&Value>, max_chars: usize) -> String {
    match value {
        None => String::new(),
        Some(Value::String(s)) if s.chars().count() <= max_chars => s.clone(),
        Some(Value::String(s)) => format!("{}…", s.chars().take(max_chars.saturating_sub(1)).collect::<String>()),
        Some(other) => crate::transform::compact(other, max_chars),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn preview(head: &[u8], complete: bool) -> Preview {
        Preview::from_head(head, complete, &ImportSettings::new("logs"))
    }

    #[test]
    fn infers_types_per_path_and_counts_records() {
        let p = preview(
            br#"{"id":1,"name":"a","price":2.5,"ok":true,"at":"2026-03-04T05:06:07Z","user":{"n":"x"},"tags":["a","b"]}
{"id":2,"name":"b","price":3,"ok":false,"at":"2026-03-05","user":{"n":"y"},"tags":[],"created_at":1767225600000}
"#,
            true,
        );
        assert_eq!(p.format, Some(Format::Jsonl));
        assert_eq!(p.records.len(), 2);
        let kind = |path: &str| p.field(path).map(FieldStats::inferred);
        assert_eq!(kind("id"), Some(FieldType::Long));
        assert_eq!(kind("name"), Some(FieldType::Keyword));
        assert_eq!(kind("price"), Some(FieldType::Double));
        assert_eq!(kind("ok"), Some(FieldType::Boolean));
        assert_eq!(kind("at"), Some(FieldType::Date));
        assert_eq!(kind("user"), Some(FieldType::Object));
        assert_eq!(kind("user.n"), Some(FieldType::Keyword));
        assert_eq!(kind("tags"), Some(FieldType::Keyword));
        assert_eq!(kind("created_at"), Some(FieldType::Date));
        assert_eq!(p.field("tags").unwrap().records, 1, "an empty array holds no value");
        assert_eq!(p.field("id").unwrap().records, 2);
        assert!(
            !p.field("price").unwrap().is_mixed(),
            "long and double together are numbers"
        );
        assert_eq!(p.columns()[..3], ["id".to_string(), "name".into(), "price".into()]);
    }

    #[test]
    fn mixed_types_are_a_conflict_inside_the_data() {
        let p = preview(b"{\"status\":1}\n{\"status\":\"n/a\"}\n{\"status\":2}\n", true);
        let status = p.field("status").unwrap();
        assert!(status.is_mixed());
        assert_eq!(status.types[&FieldType::Long], 2);
        assert_eq!(status.examples[&FieldType::Keyword], "\"n/a\"");
    }

    #[test]
    fn a_cut_head_drops_its_partial_last_record() {
        let head = b"[{\"a\":1},{\"a\":2},{\"a\":";
        let p = Preview::from_head(head, false, &ImportSettings::new("logs"));
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.invalid_count, 0);
        assert!(p.structure_error.is_none() && p.wrong_file.is_none());
        let lines = preview(b"{\"a\":1}\n{\"a\":", false);
        assert_eq!((lines.records.len(), lines.invalid_count), (1, 0));
    }

    #[test]
    fn invalid_records_and_missing_ids_are_counted() {
        let mut settings = ImportSettings::new("logs");
        settings.id = IdStrategy::Field { pointer: "/id".into() };
        let p = Preview::from_head(b"{\"id\":1}\nnot json\n[1]\n{\"x\":2}\n{\"id\":1}\n", true, &settings);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.invalid_count, 3);
        assert!(p.invalid.iter().any(|i| i.reason.contains("id field /id is missing")));
        assert_eq!(p.duplicate_ids, ["1"]);
        assert!(p.wrong_file.is_none());
    }

    #[test]
    fn the_wrong_file_guard_says_what_it_looks_like() {
        let mut lines = ImportSettings::new("logs");
        lines.format = crate::format::FormatChoice::Jsonl;
        let csv = Preview::from_head(b"id,name,price\n1,apple,2.5\n2,pear,3\n", true, &lines);
        assert!(
            csv.wrong_file.as_deref().unwrap().contains("CSV"),
            "{:?}",
            csv.wrong_file
        );
        let html = preview(b"<!DOCTYPE html>\n<html><body>Expired</body></html>\n", true);
        assert!(html.wrong_file.as_deref().unwrap().contains("HTML page"));
        let numbers = preview(b"[1,2,3]", true);
        assert!(numbers
            .wrong_file
            .as_deref()
            .unwrap()
            .contains("no record is a JSON object"));
        assert!(preview(b"", true).wrong_file.as_deref().unwrap().contains("empty"));
        let broken = preview(b"[{\"a\":1} x", true);
        assert_eq!(broken.records.len(), 1);
        assert!(broken.structure_error.is_some() && broken.wrong_file.is_none());
    }

    #[test]
    fn csv_heads_show_their_columns_types_and_bad_rows() {
        use crate::csv_rows::ColumnType::*;
        let head = b"sku,price,qty,added\n01,2.50,3,2026-12-01\n02,3,4,2026-12-02\n03,1,2,3,4\n04,9.5,";
        let p = preview(head, false);
        assert_eq!(p.format, Some(Format::Csv));
        let layout = p.csv.as_ref().unwrap();
        assert_eq!(layout.columns.names, ["sku", "price", "qty", "added"]);
        assert_eq!(layout.columns.types, [Keyword, Double, Long, Date]);
        // The cut-off last row is left out; the row of five cells is what the import would refuse.
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            p.records[0],
            json!({"sku": "01", "price": 2.5, "qty": 3, "added": "2026-12-01"})
        );
        assert_eq!((p.invalid_count, p.invalid[0].offset), (1, 59));
        assert_eq!(p.invalid[0].reason, "the row has 5 cells, the header has 4");
        assert_eq!(p.field("added").unwrap().inferred(), FieldType::Date);
        // A type chosen for a column is what the preview shows and converts with.
        let mut settings = ImportSettings::new("logs");
        settings.csv.column_types.insert("qty".into(), Double);
        let chosen = Preview::from_head(head, false, &settings);
        assert_eq!(chosen.csv.as_ref().unwrap().columns.types[2], Double);
        assert_eq!(
            chosen.field("qty").unwrap().inferred(),
            FieldType::Long,
            "3 is still written as 3"
        );
    }

    #[test]
    fn cells_are_compact_and_cut() {
        assert_eq!(cell_text(Some(&json!("abc")), 10), "abc");
        assert_eq!(cell_text(Some(&json!("abcdefghijkl")), 5), "abcd…");
        assert_eq!(cell_text(Some(&json!({"a": [1, 2]})), 40), "{\"a\":[1,2]}");
        assert_eq!(cell_text(None, 5), "");
    }

    #[test]
    fn dates_are_recognised_strictly() {
        for yes in [
            "2026-03-04",
            "2026-03-04T05:06",
            "2026-03-04 05:06:07.123+02:00",
            "2026-12-31T23:59:59Z",
        ] {
            assert!(is_iso_date(yes), "{yes}");
        }
        for no in [
            "2026-13-04",
            "2026-3-4",
            "04/03/2026",
            "2026-03-04x",
            "2026-03-04T5:06",
            "n/a",
        ] {
            assert!(!is_iso_date(no), "{no}");
        }
    }
}
