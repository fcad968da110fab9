//! Input formats: what the user asks for and what the splitter settles on.

use serde::{Deserialize, Serialize};

/// The format the user chose for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    /// Decide from the head: `[` means a JSON array, `{` JSON Lines, a first line of delimited names CSV or TSV,
    /// anything else JSON Lines.
    #[default]
    Auto,
    /// One top-level JSON array whose elements are the records.
    Json,
    /// One record per line (LF or CRLF).
    Jsonl,
    /// Comma-separated values (or another delimiter), a header line first unless column names are given.
    Csv,
    /// Tab-separated values.
    Tsv,
}

/// The format a source turned out to have. A checkpoint stores this, so a resumed job never re-detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One top-level JSON array whose elements are the records.
    Json,
    /// One record per line (LF or CRLF).
    Jsonl,
    /// Comma-separated values, or another delimiter (the checkpoint's CSV layout says which).
    Csv,
    /// Tab-separated values.
    Tsv,
}

impl Format {
    /// True for the delimited formats, whose rows become documents through the CSV layout.
    pub fn is_delimited(self) -> bool {
        matches!(self, Format::Csv | Format::Tsv)
    }

    /// The name the CLI and the web form use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
        }
    }
}

impl FormatChoice {
    /// The format when the user named one; `None` for auto-detection.
    pub fn fixed(self) -> Option<Format> {
        match self {
            FormatChoice::Auto => None,
            FormatChoice::Json => Some(Format::Json),
            FormatChoice::Jsonl => Some(Format::Jsonl),
            FormatChoice::Csv => Some(Format::Csv),
            FormatChoice::Tsv => Some(Format::Tsv),
        }
    }

    /// What the CLI's error says the names are.
    pub const NAMES: &'static str = "auto, json, jsonl, csv or tsv";

    /// Parses the names used on the command line and in the web form.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(FormatChoice::Auto),
            "json" | "array" | "json-array" => Some(FormatChoice::Json),
            "jsonl" | "ndjson" | "json-lines" | "lines" => Some(FormatChoice::Jsonl),
            "csv" => Some(FormatChoice::Csv),
            "tsv" | "tab" => Some(FormatChoice::Tsv),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON array",
            Format::Jsonl => "JSON Lines",
            Format::Csv => "CSV",
            Format::Tsv => "TSV",
        })
    }
}
