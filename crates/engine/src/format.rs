//! Input formats: what the user asks for and what the splitter settles on.

use serde::{Deserialize, Serialize};

/// The format the user chose for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    /// Decide from the first significant byte: `[` means a JSON array, anything else JSON Lines.
    #[default]
    Auto,
    /// One top-level JSON array whose elements are the records.
    Json,
    /// One record per line (LF or CRLF).
    Jsonl,
}

/// The format a source turned out to have. A checkpoint stores this, so a resumed job never re-detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One top-level JSON array whose elements are the records.
    Json,
    /// One record per line (LF or CRLF).
    Jsonl,
}

impl FormatChoice {
    /// The format when the user named one; `None` for auto-detection.
    pub fn fixed(self) -> Option<Format> {
        match self {
            FormatChoice::Auto => None,
            FormatChoice::Json => Some(Format::Json),
            FormatChoice::Jsonl => Some(Format::Jsonl),
        }
    }

    /// Parses the names used on the command line and in the web form.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(FormatChoice::Auto),
            "json" | "array" | "json-array" => Some(FormatChoice::Json),
            "jsonl" | "ndjson" | "json-lines" | "lines" => Some(FormatChoice::Jsonl),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON array",
            Format::Jsonl => "JSON Lines",
        })
    }
}
