//! What the head of a source looks like, when it holds no usable JSON record: the words of the wrong-file guard.
//!
//! The preview and the job driver both stop an import whose first records are all invalid; this module tells the
//! analyst *why* in terms of what they picked ("this looks like CSV", "this is an HTML page: the URL probably
//! returned an error"), from the first few KiB alone.

/// What the bytes look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Looks {
    /// Nothing at all (or only whitespace).
    Empty,
    /// An HTML page.
    Html,
    /// An XML document: S3 answers errors (`AccessDenied`, `NoSuchKey`, `SignatureDoesNotMatch`) in XML.
    Xml {
        /// The S3 error code, when the document is an S3 error.
        s3_error: Option<String>,
    },
    /// Delimited text with a header line.
    Delimited {
        /// The delimiter (`,`, `;`, tab or `|`).
        delimiter: char,
        /// The header's first names.
        columns: Vec<String>,
    },
    /// Compressed or binary data.
    Binary {
        /// A name for it when its magic number is known (gzip, zip, parquet ...).
        kind: Option<&'static str>,
    },
    /// JSON (records may still be invalid: not objects, say).
    Json,
    /// Some other text.
    Text,
}

impl Looks {
    /// One sentence for the analyst: what the source looks like and what to do.
    pub fn explain(&self) -> String {
        match self {
            Looks::Empty => "the source is empty".into(),
            Looks::Html => "this is an HTML page, not data: the URL probably returned an error page or a login \
                            page; check the link (presigned URLs expire) or download the object and pick the file"
                .into(),
            Looks::Xml { s3_error: Some(code) } => format!(
                "this is an S3 error document ({code}), not data: the URL is wrong, expired or not allowed; \
                 make a new presigned URL"
            ),
            Looks::Xml { s3_error: None } => "this is an XML document, not JSON; Sluice imports JSON arrays and \
                                              JSON Lines"
                .into(),
            Looks::Delimited { delimiter, columns } => format!(
                "this looks like {} with columns {}: choose the format {} (or auto) to import it",
                match delimiter {
                    '\t' => "TSV (tab-separated values)".to_string(),
                    ',' => "CSV".to_string(),
                    other => format!("delimited text (separated by '{other}')"),
                },
                columns
                    .iter()
                    .take(5)
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if *delimiter == '\t' { "TSV" } else { "CSV" }
            ),
            Looks::Binary { kind: Some(kind) } => {
                format!("this is {kind} data, not JSON text; Sluice reads JSON, JSON Lines and their .gz")
            }
            Looks::Binary { kind: None } => "this is binary data, not JSON text".into(),
            Looks::Json => "it is JSON, but no record is a JSON object ({...}); each record must be an object".into(),
            Looks::Text => "this is text, but not JSON records; each line (or array element) must be a JSON \
                            object"
                .into(),
        }
    }
}

/// Why no row of a CSV/TSV source could be imported, from the reason the first one was refused: the words of the
/// wrong-file guard for delimited sources, where the head being "delimited text" is no news.
pub fn rows_refused(first_reason: Option<&str>) -> String {
    let first = first_reason
        .map(|reason| format!(" (the first: {reason})"))
        .unwrap_or_default();
    format!(
        "every row was refused{first}; check the delimiter, the header line (or the column names given) and the \
         column types"
    )
}

/// Looks at the first bytes of a (decompressed) source.
pub fn sniff(head: &[u8]) -> Looks {
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let text = &head[start..];
    if text.is_empty() {
        return Looks::Empty;
    }
    if let Some(kind) = magic(text) {
        return Looks::Binary { kind: Some(kind) };
    }
    let sample = &text[..text.len().min(4096)];
    let controls = sample
        .iter()
        .filter(|&&b| b < 0x09 || (b > 0x0d && b < 0x20) || b == 0x7f)
        .count();
    if controls * 20 > sample.len() || std::str::from_utf8(cut_at_char(sample)).is_err() {
        return Looks::Binary { kind: None };
    }
    let lower = String::from_utf8_lossy(&sample[..sample.len().min(512)]).to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<body") {
        return Looks::Html;
    }
    if lower.starts_with("<?xml") || lower.starts_with('<') {
        let full = String::from_utf8_lossy(sample);
        let s3_error = full
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map(|(code, _)| code.trim().to_string());
        return Looks::Xml { s3_error };
    }
    if matches!(text[0], b'{' | b'[' | b'"') || text.starts_with(b"null") || text[0].is_ascii_digit() {
        if let Some(delimited) = delimited(sample) {
            if !matches!(text[0], b'{' | b'[') {
                return delimited;
            }
        }
        return Looks::Json;
    }
    delimited(sample).unwrap_or(Looks::Text)
}

/// A cut that does not end inside a UTF-8 sequence.
fn cut_at_char(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    let mut back = 0;
    while end > 0 && back < 3 && (bytes[end - 1] & 0xC0) == 0x80 {
        end -= 1;
        back += 1;
    }
    if end > 0 && bytes[end - 1] >= 0xC0 {
        end -= 1;
    }
    &bytes[..end]
}

fn magic(bytes: &[u8]) -> Option<&'static str> {
    const KNOWN: [(&[u8], &str); 8] = [
        (&[0x1f, 0x8b], "gzip-compressed"),
        (b"PK\x03\x04", "ZIP (or Excel .xlsx)"),
        (b"PAR1", "Parquet"),
        (b"%PDF", "PDF"),
        (b"BZh", "bzip2-compressed"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed"),
        (b"Obj\x01", "Avro"),
        (b"ORC", "ORC"),
    ];
    KNOWN
        .iter()
        .find(|(prefix, _)| bytes.starts_with(prefix))
        .map(|(_, kind)| *kind)
}

/// A header line of delimited names followed by rows with as many cells.
fn delimited(sample: &[u8]) -> Option<Looks> {
    let text = String::from_utf8_lossy(sample);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(6).collect();
    let header = *lines.first()?;
    ['\t', ',', ';', '|'].into_iter().find_map(|delimiter| {
        let cells = header.split(delimiter).count();
        if cells < 2 {
            return None;
        }
        // Rows must agree with the header (quoted cells may hold delimiters: allow a little slack).
        let rows = &lines[1..lines.len().saturating_sub(1).max(1).min(lines.len())];
        let agree = rows.iter().all(|row| row.split(delimiter).count() >= cells.min(2));
        agree.then(|| Looks::Delimited {
            delimiter,
            columns: header
                .split(delimiter)
                .map(|c| c.trim().trim_matches('"').to_string())
                .collect(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_analysts_pick_by_mistake() {
        assert_eq!(sniff(b"  \n"), Looks::Empty);
        assert!(matches!(
            sniff(b"id,name,price\n1,a,2.5\n2,b,3\n"),
            Looks::Delimited { delimiter: ',', .. }
        ));
        assert!(matches!(
            sniff(b"id\tname\n1\ta\n"),
            Looks::Delimited { delimiter: '\t', .. }
        ));
        assert_eq!(sniff(b"<!DOCTYPE html><html><body>Sign in</body></html>"), Looks::Html);
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>"),
            Looks::Xml {
                s3_error: Some("AccessDenied".into())
            }
        );
        assert_eq!(
            sniff(&[0x1f, 0x8b, 8, 0, 0, 0]),
            Looks::Binary {
                kind: Some("gzip-compressed")
            }
        );
        assert_eq!(sniff(&[0u8, 1, 2, 3, 200, 201, 5, 6]), Looks::Binary { kind: None });
        assert_eq!(sniff(b"[1, 2, 3]"), Looks::Json);
        assert_eq!(sniff(b"hello there\nhow are you\n"), Looks::Text);
        let csv = sniff(b"id,name\n1,a\n").explain();
        assert!(csv.contains("CSV") && csv.contains("'id'"), "{csv}");
        assert!(sniff(b"<html>").explain().contains("URL probably returned an error"));
    }
}
