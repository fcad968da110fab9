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
    /// Every type, in the order a choice lists them.
    pub const ALL: [ColumnType; 5] = [
        ColumnType::Keyword,
        ColumnType::Long,
        ColumnType::Double,
        ColumnType::Boolean,
        ColumnType::Date,
    ];

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
    let mut sample = TypeSample::default();
    for cell in cells {
        sample.observe(cell);
    }
    sample.inferred()
}

const CANDIDATES: [ColumnType; 4] = [
    ColumnType::Long,
    ColumnType::Double,
    ColumnType::Boolean,
    ColumnType::Date,
];

/// What the cells of one column seen so far fit: [`infer_type`] one cell at a time, with nothing kept.
#[derive(Debug, Clone, Copy)]
pub struct TypeSample {
    fits: [bool; 4],
    seen: bool,
}

impl Default for TypeSample {
    fn default() -> Self {
        TypeSample {
            fits: [true; 4],
            seen: false,
        }
    }
}

impl TypeSample {
    /// Takes one cell into account (an empty cell says nothing).
    pub fn observe(&mut self, cell: &str) {
        if cell.is_empty() {
            return;
        }
        self.seen = true;
        for (fit, candidate) in self.fits.iter_mut().zip(CANDIDATES) {
            *fit = *fit && fits_type(candidate, cell);
        }
    }

    /// The narrowest type every cell seen fits.
    pub fn inferred(&self) -> ColumnType {
        match CANDIDATES.iter().zip(self.fits).find(|(_, fit)| *fit) {
            Some((&candidate, _)) if self.seen => candidate,
            _ => ColumnType::Keyword,
        }
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
    nest_dotted: bool,
    /// The fields in the order they are written: grouped by object when dotted names nest.
    leaves: Vec<Leaf>,
    /// `"name":` of each object a nested field sits in, escaped once, by node id.
    object_keys: Vec<Vec<u8>>,
    reader: csv_core::Reader,
    /// The current row's unquoted cells, one after the other, and where each ends.
    text: Vec<u8>,
    ends: Vec<usize>,
    /// The objects open while a document is written (node ids), and whether each already has a member.
    open: Vec<u32>,
    has_member: Vec<bool>,
}

/// One column's place in the document.
struct Leaf {
    column: usize,
    /// The objects it sits in, outermost first (empty when not nested).
    parents: Vec<u32>,
    /// `"name":` of the field itself, escaped once.
    key: Vec<u8>,
}

fn json_key(name: &str) -> Vec<u8> {
    let mut key = Vec::new();
    write_json_string(&mut key, name);
    key.push(b':');
    key
}

/// A node of the tree of dotted names: an object (with members, in the order first seen) or a column.
enum Node {
    Object(Vec<(String, usize)>),
    Column(usize),
}

impl RowConverter {
    /// A converter for rows of `columns`, written in `dialect`. With `nest_dotted`, a column named `user.name` is
    /// the field `name` of an object `user`. Refused: two columns of one name, and (nested) a name that would be
    /// both a value and an object.
    pub fn new(dialect: Dialect, columns: Columns, nest_dotted: bool) -> Result<Self, String> {
        let mut nodes = vec![Node::Object(Vec::new())];
        for (column, name) in columns.names.iter().enumerate() {
            let segments = field_path(name, nest_dotted);
            let mut at = 0;
            for (depth, segment) in segments.iter().enumerate() {
                let last = depth + 1 == segments.len();
                let members = match &nodes[at] {
                    Node::Object(members) => members,
                    Node::Column(other) => return Err(collision(&columns.names[*other], name)),
                };
                match members.iter().find(|(member, _)| member == segment) {
                    Some(&(_, child)) if last => {
                        return Err(match nodes[child] {
                            Node::Column(_) => format!("two columns are named '{name}'; rename one of them"),
                            Node::Object(_) => collision(name, &columns.names[first_column_under(&nodes, child)]),
                        })
                    }
                    Some(&(_, child)) => at = child,
                    None => {
                        let child = nodes.len();
                        nodes.push(if last {
                            Node::Column(column)
                        } else {
                            Node::Object(Vec::new())
                        });
                        if let Node::Object(members) = &mut nodes[at] {
                            members.push((segment.to_string(), child));
                        }
                        at = child;
                    }
                }
            }
        }
        let mut leaves = Vec::with_capacity(columns.names.len());
        let mut object_keys = vec![Vec::new(); nodes.len()];
        let mut parents = Vec::new();
        collect_leaves(&nodes, 0, &mut parents, &mut leaves, &mut object_keys);
        Ok(RowConverter {
            dialect,
            columns,
            nest_dotted,
            leaves,
            object_keys,
            reader: reader(dialect),
            text: Vec::new(),
            ends: Vec::new(),
            open: Vec::new(),
            has_member: Vec::new(),
        })
    }

    /// A converter that only splits rows into cells ([`RowConverter::cells`]): for a header, or a sample.
    pub fn for_cells(dialect: Dialect) -> Self {
        RowConverter {
            dialect,
            columns: Columns {
                names: Vec::new(),
                types: Vec::new(),
            },
            nest_dotted: false,
            leaves: Vec::new(),
            object_keys: Vec::new(),
            reader: reader(dialect),
            text: Vec::new(),
            ends: Vec::new(),
            open: Vec::new(),
            has_member: Vec::new(),
        }
    }

    /// The columns it writes.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The column written as the field at `path` (field names, outermost first), if one is.
    pub fn column_at(&self, path: &[String]) -> Option<usize> {
        let nest_dotted = self.nest_dotted;
        self.columns
            .names
            .iter()
            .position(|name| field_path(name, nest_dotted).iter().eq(path.iter()))
    }

    /// What the document last written holds in the field of `column`, as an id would read it: `Some(None)` when
    /// the field is absent, `Some(Some(text))` for a string or a whole number; `None` when only parsing the
    /// document can tell (a double's or boolean's value, a number written in a form JSON reads differently).
    pub fn id_text(&self, column: usize) -> Option<Option<&str>> {
        let cell = std::str::from_utf8(self.cell(column)).ok()?;
        if cell.is_empty() {
            return Some(None);
        }
        match self.columns.types[column] {
            ColumnType::Keyword | ColumnType::Date => Some(Some(cell)),
            // A long is written as it is in the cell, which `as_long` only accepts in its canonical form, but for
            // "-0" (JSON may read it as a decimal).
            ColumnType::Long if cell != "-0" => Some(Some(cell)),
            _ => None,
        }
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
        // One UTF-8 check for the row rather than one per cell; a cell cut inside a character is caught below.
        let text = match std::str::from_utf8(&self.text) {
            Ok(text) => text,
            Err(error) => {
                let column = self.ends.iter().position(|&end| end > error.valid_up_to()).unwrap_or(0);
                return Err(format!(
                    "the cell of '{}' is not UTF-8 text",
                    self.columns.names[column]
                ));
            }
        };
        let rollback = out.len();
        self.open.clear();
        self.has_member.clear();
        self.has_member.push(false);
        out.push(b'{');
        for leaf in &self.leaves {
            let from = if leaf.column == 0 {
                0
            } else {
                self.ends[leaf.column - 1]
            };
            let to = self.ends[leaf.column];
            if from == to {
                continue;
            }
            let name = &self.columns.names[leaf.column];
            let Some(cell) = text.get(from..to) else {
                out.truncate(rollback);
                return Err(format!("the cell of '{name}' is not UTF-8 text"));
            };
            // Close the objects this field is not in, open the ones it is in: fields of one object are adjacent.
            let shared = self
                .open
                .iter()
                .zip(&leaf.parents)
                .take_while(|(open, parent)| open == parent)
                .count();
            while self.open.len() > shared {
                self.open.pop();
                self.has_member.pop();
                out.push(b'}');
            }
            for &parent in &leaf.parents[shared..] {
                member_separator(&mut self.has_member, out);
                out.extend_from_slice(&self.object_keys[parent as usize]);
                out.push(b'{');
                self.open.push(parent);
                self.has_member.push(false);
            }
            member_separator(&mut self.has_member, out);
            out.extend_from_slice(&leaf.key);
            if let Err(reason) = write_cell(self.columns.types[leaf.column], cell, out) {
                out.truncate(rollback);
                return Err(format!("the cell of '{name}' {reason}"));
            }
        }
        for _ in 0..self.open.len() {
            out.push(b'}');
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

/// The field names a column's name becomes: split at its dots when dotted names nest (and none of the parts is
/// empty), else the name itself.
fn field_path(name: &str, nest_dotted: bool) -> Vec<&str> {
    match name.split('.').collect::<Vec<_>>() {
        parts if nest_dotted && parts.iter().all(|part| !part.is_empty()) => parts,
        _ => vec![name],
    }
}

fn member_separator(has_member: &mut [bool], out: &mut Vec<u8>) {
    if let Some(has) = has_member.last_mut() {
        if *has {
            out.push(b',');
        }
        *has = true;
    }
}

fn collision(value: &str, object_member: &str) -> String {
    format!(
        "the columns '{value}' and '{object_member}' cannot both be fields with dotted names nested: '{value}' would \
         be a value and an object; rename one of them or do not nest dotted names"
    )
}

/// The first column under an object node.
fn first_column_under(nodes: &[Node], mut at: usize) -> usize {
    loop {
        match &nodes[at] {
            Node::Column(column) => return *column,
            Node::Object(members) => at = members[0].1,
        }
    }
}

fn collect_leaves(
    nodes: &[Node],
    at: usize,
    parents: &mut Vec<u32>,
    leaves: &mut Vec<Leaf>,
    object_keys: &mut [Vec<u8>],
) {
    let Node::Object(members) = &nodes[at] else { return };
    for (name, child) in members {
        match &nodes[*child] {
            Node::Column(column) => leaves.push(Leaf {
                column: *column,
                parents: parents.clone(),
                key: json_key(name),
            }),
            Node::Object(_) => {
                object_keys[*child] = json_key(name);
                parents.push(*child as u32);
                collect_leaves(nodes, *child, parents, leaves, object_keys);
                parents.pop();
            }
        }
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
            false,
        )
        .unwrap()
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

    #[test]
    fn dotted_names_nest_when_asked_and_collisions_are_refused() {
        use ColumnType::*;
        let columns = |names: &[&str]| Columns {
            names: names.iter().map(|n| n.to_string()).collect(),
            types: vec![Keyword; names.len()],
        };
        let mut nested = RowConverter::new(
            Dialect::CSV,
            columns(&["user.name", "age", "user.address.city", "user.id", "a..b"]),
            true,
        )
        .unwrap();
        assert_eq!(
            document(&mut nested, "ann,40,Oslo,7,x").unwrap(),
            serde_json::json!({"user": {"name": "ann", "address": {"city": "Oslo"}, "id": "7"}, "age": "40",
                "a..b": "x"})
        );
        // An object whose cells are all empty is left out, like an empty cell.
        assert_eq!(
            document(&mut nested, ",40,,,").unwrap(),
            serde_json::json!({"age": "40"})
        );
        assert_eq!(
            document(&mut nested, ",,Oslo,,").unwrap(),
            serde_json::json!({"user": {"address": {"city": "Oslo"}}})
        );
        let flat = RowConverter::new(Dialect::CSV, columns(&["user.name", "user"]), false);
        assert!(flat.is_ok(), "without nesting the names are plain keys");
        let refuse = |names: &[&str], nest| RowConverter::new(Dialect::CSV, columns(names), nest).err().unwrap();
        assert_eq!(
            refuse(&["a", "b", "a"], false),
            "two columns are named 'a'; rename one of them"
        );
        assert_eq!(
            refuse(&["u.x", "u.x"], true),
            "two columns are named 'u.x'; rename one of them"
        );
        assert!(refuse(&["user", "user.name"], true).starts_with("the columns 'user' and 'user.name' cannot"));
        assert!(refuse(&["user.name", "user"], true).starts_with("the columns 'user' and 'user.name' cannot"));
    }
}
