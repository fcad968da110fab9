//! What a job does ([`ImportSettings`], part of the checkpoint's identity) and how fast it goes ([`Tuning`], free
//! to change between runs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::csv_rows::ColumnType;
use crate::flow::ConcurrencyMode;
use crate::format::FormatChoice;
use crate::retry::RetryPolicy;
use crate::split::DEFAULT_MAX_RECORD_BYTES;
use crate::transform::Transform;

/// The bulk action each record is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create or overwrite the document: a replay overwrites, so it is idempotent.
    #[default]
    Index,
    /// Create only; an existing id answers 409, which a replay with deterministic ids counts as already indexed.
    Create,
}

impl Action {
    /// The name OpenSearch uses in the action line.
    pub fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
        }
    }
}

/// Where a document's `_id` comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IdStrategy {
    /// From a field of the record, named by a JSON pointer such as `/id` or `/user/id`.
    Field {
        /// The JSON pointer (RFC 6901).
        pointer: String,
    },
    /// Deterministic from the source identity and the record's byte offset, so replays overwrite.
    #[default]
    Derived,
    /// Left to OpenSearch. Explicit opt-out: a replay after a crash can then index a record twice.
    Auto,
}

impl IdStrategy {
    /// The strategy for an id field as an analyst writes it (`id`, `user.id`, or a JSON pointer `/user/id`): an
    /// empty field means derived ids. Shared by the CLI's `--id-field` and the page's form.
    pub fn from_field(field: &str) -> Self {
        let field = field.trim();
        if field.is_empty() {
            IdStrategy::Derived
        } else {
            IdStrategy::Field {
                pointer: id_pointer(field),
            }
        }
    }

    /// True when a replayed record gets the same `_id` again, which is what makes resume exact.
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, IdStrategy::Auto)
    }
}

/// How much a record is checked before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Parse every record: invalid JSON and non-objects become dead letters with a local reason.
    #[default]
    Full,
    /// Only check that a record looks like an object (`{` ... `}`) and leave full parsing to the cluster, which
    /// rejects a malformed document per item (`mapper_parsing_exception`), so it still ends in dead letters.
    /// Faster. Records with an id field are always parsed in full.
    Structural,
}

/// The settings that decide which documents land where. A checkpoint records them and their hash; resuming with
/// different ones is refused, because the replayed part would not match what was already indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSettings {
    /// The target index.
    pub index: String,
    /// Input format.
    #[serde(default)]
    pub format: FormatChoice,
    /// Bulk action.
    #[serde(default)]
    pub action: Action,
    /// `_id` strategy.
    #[serde(default)]
    pub id: IdStrategy,
    /// Optional ingest pipeline (sent as the `pipeline` query parameter by the sink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Records longer than this are reported as oversize dead letters.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Local validation level.
    #[serde(default)]
    pub validation: Validation,
    /// Per-field transforms, in order. Left out of the document when empty, so checkpoints written before
    /// transforms existed keep their settings hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    /// How CSV and TSV rows become documents. Left out when it is the default, so the hash of JSON jobs is as it
    /// was before CSV existed.
    #[serde(default, skip_serializing_if = "CsvOptions::is_default")]
    pub csv: CsvOptions,
}

/// How CSV and TSV rows become documents: the choices of the user. What the source's header and sample then
/// decide (names, inferred types) is kept in the checkpoint's CSV layout.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CsvOptions {
    /// The byte between cells when it is not the format's own (`,` for CSV, tab for TSV): `;` or `|`, say.
    /// Given with the `auto` format, it means CSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// The names of the columns of a file without a header line. Empty: the first row is the header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Types chosen for some columns, by name; the others are inferred from the sample.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_types: BTreeMap<String, ColumnType>,
    /// Every column is text (keyword), nothing inferred; per-column types still apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_strings: bool,
    /// `user.name` becomes `{"user":{"name":…}}`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nest_dotted: bool,
}

impl CsvOptions {
    /// True when nothing was chosen.
    pub fn is_default(&self) -> bool {
        *self == CsvOptions::default()
    }

    /// Checks what can be checked before the header is read.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(delimiter) = self.delimiter {
            if !delimiter.is_ascii() || matches!(delimiter, '"' | '\n' | '\r') {
                return Err(format!(
                    "the delimiter {delimiter:?} cannot be used: it must be one ASCII character other than a quote \
                     or a line break (',', ';', '|', a tab...)"
                ));
            }
        }
        if let Some(empty) = self.columns.iter().position(|name| name.trim().is_empty()) {
            return Err(format!("column {} of the given column names is empty", empty + 1));
        }
        Ok(())
    }

    /// True when some of these columns' types are left to the sample: nothing chosen for them, and not all
    /// strings. When none is, rows need not wait for a sample.
    pub fn infers_any(&self, names: &[String]) -> bool {
        !self.all_strings && names.iter().any(|name| !self.column_types.contains_key(name))
    }

    /// Parses `price=double,zip=keyword` (the CLI's `--column-type`) into per-column types.
    pub fn parse_column_types(text: &str) -> Result<BTreeMap<String, ColumnType>, String> {
        let mut types = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let Some((name, kind)) = pair.rsplit_once('=') else {
                return Err(format!("'{pair}' is not column=type (for example price=double)"));
            };
            let kind = ColumnType::parse(kind)
                .ok_or_else(|| format!("'{kind}' is not a column type: use keyword, long, double, boolean or date"))?;
            types.insert(name.trim().to_string(), kind);
        }
        Ok(types)
    }
}

fn default_max_record_bytes() -> usize {
    DEFAULT_MAX_RECORD_BYTES
}

impl ImportSettings {
    /// Settings with defaults for everything but the index.
    pub fn new(index: impl Into<String>) -> Self {
        ImportSettings {
            index: index.into(),
            format: FormatChoice::Auto,
            action: Action::Index,
            id: IdStrategy::Derived,
            pipeline: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            validation: Validation::Full,
            transforms: Vec::new(),
            csv: CsvOptions::default(),
        }
    }

    /// A stable hash of these settings (hex), stored in checkpoints to detect a change on resume.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        format!("{:016x}", fnv1a64(&canonical))
    }

    /// Checks what can be checked before any byte is read.
    pub fn validate(&self) -> Result<(), String> {
        if self.index.is_empty() {
            return Err("the index name is empty".into());
        }
        if self.index.starts_with(['_', '-', '+', '.'])
            || self.index.chars().any(|c| {
                c.is_ascii_uppercase()
                    || matches!(
                        c,
                        ' ' | '"' | '*' | '\\' | '<' | '|' | ',' | '>' | '/' | '?' | '#' | ':'
                    )
            })
        {
            return Err(format!(
                "'{}' is not a valid index name: use lowercase letters, digits, '-' and '_', not starting with \
                 '_', '-', '+' or '.'",
                self.index
            ));
        }
        if let IdStrategy::Field { pointer } = &self.id {
            crate::record::JsonPointer::parse(pointer)?;
        }
        if self.max_record_bytes == 0 {
            return Err("the maximum record size must be at least 1 byte".into());
        }
        self.csv.validate()?;
        for transform in &self.transforms {
            transform
                .validate()
                .map_err(|message| format!("transform '{}': {message}", transform.describe()))?;
        }
        Ok(())
    }
}

/// Knobs that change speed and memory, not the result. Free to change between runs of the same job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// Flush a batch before its body would pass this many bytes (default 5 MiB).
    pub batch_bytes: usize,
    /// Flush a batch at this many records (default 5000).
    pub batch_docs: usize,
    /// Most bulk requests in flight at once (default 4); with adaptive concurrency the engine starts lower and
    /// adapts to the cluster's answers.
    pub max_in_flight: usize,
    /// Adaptive (default) or fixed concurrency.
    #[serde(default)]
    pub concurrency_mode: ConcurrencyMode,
    /// Stop reading the source while unacknowledged batch bodies hold this many bytes.
    pub max_buffered_bytes: usize,
    /// Backoff for retries.
    pub retry: RetryPolicy,
    /// Save a checkpoint each time the committed offset moved this many times (default 1: a save is one small
    /// write per batch, and a kill then replays no more than the requests in flight).
    pub checkpoint_every_batches: u32,
    /// ... and at least this often while batches are acknowledged (milliseconds, default 5000).
    pub checkpoint_every_ms: u64,
    /// Minimum interval between progress events (milliseconds).
    pub progress_every_ms: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        let batch_bytes = 5 * 1024 * 1024;
        let max_in_flight = 4;
        Tuning {
            batch_bytes,
            batch_docs: 5000,
            max_in_flight,
            concurrency_mode: ConcurrencyMode::Adaptive,
            max_buffered_bytes: batch_bytes * (max_in_flight + 2),
            retry: RetryPolicy::default(),
            checkpoint_every_batches: 1,
            checkpoint_every_ms: 5000,
            progress_every_ms: 250,
        }
    }
}

/// `id` → `/id`, `user.id` → `/user/id`, `/user/id` stays (a JSON pointer, escaped as RFC 6901 says).
pub fn id_pointer(field: &str) -> String {
    if field.starts_with('/') {
        field.to_string()
    } else {
        format!("/{}", field.replace('~', "~0").replace('/', "~1").replace('.', "/"))
    }
}

/// 64-bit FNV-1a: small, stable across platforms and versions, good enough to tell settings or sources apart.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = ImportSettings::new("logs");
        assert_eq!(a.hash(), ImportSettings::new("logs").hash());
        let mut b = a.clone();
        b.id = IdStrategy::Field { pointer: "/id".into() };
        assert_ne!(a.hash(), b.hash());
        // Transforms are part of what lands where.
        let mut c = a.clone();
        c.transforms.push(Transform::Drop { field: "secret".into() });
        assert_ne!(a.hash(), c.hash());
        // A document without transforms hashes as it did before they existed.
        assert!(!String::from_utf8(serde_json::to_vec(&a).unwrap())
            .unwrap()
            .contains("transforms"));
        // Known FNV-1a vector.
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn id_fields_become_pointers() {
        assert_eq!(id_pointer("id"), "/id");
        assert_eq!(id_pointer("user.id"), "/user/id");
        assert_eq!(id_pointer("/user/id"), "/user/id");
        assert_eq!(id_pointer("a/b"), "/a~1b");
        assert_eq!(IdStrategy::from_field("  "), IdStrategy::Derived);
        assert_eq!(
            IdStrategy::from_field(" user.id "),
            IdStrategy::Field {
                pointer: "/user/id".into()
            }
        );
    }

    #[test]
    fn validates_index_names_and_pointers() {
        assert!(ImportSettings::new("logs-2026").validate().is_ok());
        assert!(ImportSettings::new("Logs").validate().is_err());
        assert!(ImportSettings::new(".kibana").validate().is_err());
        assert!(ImportSettings::new("").validate().is_err());
        let mut s = ImportSettings::new("logs");
        s.id = IdStrategy::Field { pointer: "id".into() };
        assert!(s.validate().unwrap_err().contains("'/'"));
    }
}
