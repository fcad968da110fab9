//! Dead letters: records that could not be indexed, kept with their offset and the reason.

use serde::{Deserialize, Serialize};

use crate::split::Span;

/// A record that will not be indexed, and why. Stored (keyed by `offset`, so storing it twice after a replay
/// overwrites) before the checkpoint passes it, so nothing is ever lost silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Absolute byte offset of the record's first byte in the source.
    pub offset: u64,
    /// Absolute byte offset one past its last byte.
    pub end: u64,
    /// Why it was not indexed, in words (OpenSearch's own reason when the cluster refused it).
    pub reason: String,
    /// The record's text; `None` when it was too large to keep (its bytes are at `offset..end` of the source).
    /// Invalid UTF-8 is replaced by U+FFFD here, and a record refused by the cluster is stored as it was sent (raw
    /// newlines of a pretty-printed array element became spaces); the offsets always point at the original bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

impl DeadLetter {
    /// A dead letter for a record whose bytes are at hand.
    pub fn with_record(span: Span, reason: impl Into<String>, bytes: &[u8]) -> Self {
        DeadLetter {
            offset: span.start,
            end: span.end,
            reason: reason.into(),
            record: Some(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// One NDJSON line (with its newline): the format of downloaded or written dead-letter files.
    pub fn to_ndjson_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}
