//! The record reader: one front for every format. Bytes in, documents out to a [`DocumentSink`], in source order,
//! with absolute offsets; the job driver and the preview use only this.
//!
//! JSON sources go to the JSON [`Splitter`], whose records are the documents. CSV and TSV sources go to
//! [`CsvRecords`], whose rows become documents. With the `auto` format the head decides: the reader holds the
//! first bytes until it can tell (`[` or `{` first means JSON; otherwise the first line, once whole: delimited
//! names mean CSV or TSV, anything else JSON Lines, for the wrong-file guard to explain).

use memchr::memchr2;

use crate::csv_source::{dialect, CsvLayout, CsvRecords, DocumentSink};
use crate::csv_split::Dialect;
use crate::format::{Format, FormatChoice};
use crate::settings::{CsvOptions, ImportSettings};
use crate::sniff::{sniff, Looks};
use crate::split::{SplitError, Splitter};

/// With `auto`, a first line longer than this is decided on what it holds so far.
const DETECT_BYTES: usize = 64 * 1024;

/// See the module documentation.
pub struct RecordReader {
    kind: Kind,
    max_record_bytes: usize,
    options: CsvOptions,
}

enum Kind {
    /// `auto`, undecided: the bytes so far.
    Detect(Vec<u8>),
    Json(Splitter),
    /// Boxed: its row converter is large, and there is one per source.
    Csv(Box<CsvRecords>, Format),
}

impl RecordReader {
    /// A reader for a source read from its first byte.
    pub fn new(settings: &ImportSettings) -> Self {
        let max = settings.max_record_bytes;
        let options = &settings.csv;
        // A delimiter or column names given with `auto` can only mean CSV.
        let chosen_csv = options.delimiter.is_some() || !options.columns.is_empty();
        let kind = match settings.format.fixed() {
            Some(format @ (Format::Csv | Format::Tsv)) => csv(format, dialect(format, options), options, max),
            Some(_) => Kind::Json(Splitter::new(settings.format, max)),
            None if chosen_csv => {
                let format = if options.delimiter == Some('\t') {
                    Format::Tsv
                } else {
                    Format::Csv
                };
                csv(format, dialect(format, options), options, max)
            }
            None => Kind::Detect(Vec::new()),
        };
        RecordReader {
            kind,
            max_record_bytes: max,
            options: options.clone(),
        }
    }

    /// A reader that continues a source at a committed offset, in the format (and for CSV the layout) the
    /// checkpoint kept.
    pub fn resume(
        format: Format,
        absolute_byte_offset: u64,
        layout: Option<&CsvLayout>,
        settings: &ImportSettings,
    ) -> Result<Self, String> {
        let max = settings.max_record_bytes;
        let options = &settings.csv;
        let kind = match (format, layout) {
            (Format::Json | Format::Jsonl, _) => Kind::Json(Splitter::resume(format, absolute_byte_offset, max)),
            (_, Some(layout)) if absolute_byte_offset > 0 => Kind::Csv(
                Box::new(
                    CsvRecords::resume(layout, options, absolute_byte_offset, max)
                        .map_err(|error| format!("the checkpoint's CSV columns cannot be used: {error}"))?,
                ),
                format,
            ),
            // Nothing committed yet: the header is read again (with the delimiter found the first time).
            (_, layout) if absolute_byte_offset == 0 => {
                let dialect = layout.map_or_else(|| dialect(format, options), CsvLayout::dialect);
                csv(format, dialect, options, max)
            }
            (_, _) => {
                return Err(
                    "the checkpoint has an offset in a CSV source but not its columns; start the import \
                            over"
                        .into(),
                )
            }
        };
        Ok(RecordReader {
            kind,
            max_record_bytes: max,
            options: options.clone(),
        })
    }

    /// Absolute offset of the next byte to push: how much of the source has been consumed.
    pub fn position(&self) -> u64 {
        match &self.kind {
            Kind::Detect(head) => head.len() as u64,
            Kind::Json(splitter) => splitter.position(),
            Kind::Csv(records, _) => records.position(),
        }
    }

    /// The format, once known.
    pub fn format(&self) -> Option<Format> {
        match &self.kind {
            Kind::Detect(_) => None,
            Kind::Json(splitter) => splitter.format(),
            Kind::Csv(_, format) => Some(*format),
        }
    }

    /// For CSV and TSV, the columns once the header and the sample decided them.
    pub fn csv_layout(&self) -> Option<CsvLayout> {
        match &self.kind {
            Kind::Csv(records, _) => records.layout(),
            _ => None,
        }
    }

    /// Feeds the next chunk of the source; documents it completes go to `sink` before it returns. After an error
    /// the reader must not be pushed again.
    pub fn push<S: DocumentSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), SplitError> {
        if let Kind::Detect(head) = &mut self.kind {
            head.extend_from_slice(chunk);
            if let Some(kind) = detect(head, false, &self.options, self.max_record_bytes) {
                let head = std::mem::take(head);
                self.kind = kind;
                return self.push(&head, sink);
            }
            return Ok(());
        }
        match &mut self.kind {
            Kind::Json(splitter) => splitter.push(chunk, sink),
            Kind::Csv(records, _) => records.push(chunk, sink).map_err(header_error),
            Kind::Detect(_) => unreachable!("handled above"),
        }
    }

    /// Declares the end of the source.
    pub fn finish<S: DocumentSink>(&mut self, sink: &mut S) -> Result<(), SplitError> {
        if let Kind::Detect(head) = &mut self.kind {
            let head = std::mem::take(head);
            self.kind = detect(&head, true, &self.options, self.max_record_bytes).expect("a whole source decides");
            self.push(&head, sink)?;
        }
        match &mut self.kind {
            Kind::Json(splitter) => splitter.finish(sink),
            Kind::Csv(records, _) => records.finish(sink).map_err(header_error),
            Kind::Detect(_) => unreachable!("decided above"),
        }
    }

    /// For a head that is not the whole source (the preview): hands on what is held back to decide (the CSV
    /// sample, an undecided head's records), without declaring the end.
    pub fn settle<S: DocumentSink>(&mut self, sink: &mut S) -> Result<(), SplitError> {
        if let Kind::Detect(head) = &mut self.kind {
            let head = std::mem::take(head);
            self.kind = detect(&head, true, &self.options, self.max_record_bytes).expect("a whole head decides");
            self.push(&head, sink)?;
        }
        match &mut self.kind {
            Kind::Csv(records, _) => records.settle(sink).map_err(header_error),
            _ => Ok(()),
        }
    }
}

fn csv(format: Format, dialect: Dialect, options: &CsvOptions, max: usize) -> Kind {
    Kind::Csv(Box::new(CsvRecords::new(dialect, options, max)), format)
}

fn header_error(message: String) -> SplitError {
    SplitError::Header { message }
}

/// What `auto` makes of the head, or `None` while it cannot tell yet.
fn detect(head: &[u8], whole: bool, options: &CsvOptions, max: usize) -> Option<Kind> {
    let json = || Some(Kind::Json(Splitter::new(FormatChoice::Auto, max)));
    let text = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let Some(start) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
        return if whole { json() } else { None };
    };
    let text = &text[start..];
    if matches!(text[0], b'[' | b'{') {
        return json();
    }
    let line = match memchr2(b'\n', b'\r', text) {
        Some(end) => &text[..end],
        None if whole || head.len() >= DETECT_BYTES => text,
        None => return None,
    };
    if matches!(sniff(head), Looks::Html | Looks::Xml { .. } | Looks::Binary { .. }) {
        return json(); // not data: the JSON path's wrong-file guard says what it is instead
    }
    match header_delimiter(line) {
        Some(b'\t') => Some(csv(Format::Tsv, Dialect::TSV, options, max)),
        Some(delimiter) => Some(csv(
            Format::Csv,
            Dialect {
                delimiter,
                ..Dialect::CSV
            },
            options,
            max,
        )),
        None => json(),
    }
}

/// The delimiter of a header line: the most frequent of tab, `,`, `;` and `|` outside quotes (ties in that
/// order), when there is one.
fn header_delimiter(line: &[u8]) -> Option<u8> {
    const CANDIDATES: [u8; 4] = [b'\t', b',', b';', b'|'];
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &byte in line {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(at) = CANDIDATES.iter().position(|&c| c == byte) {
                counts[at] += 1;
            }
        }
    }
    let (best, count) = counts.iter().enumerate().fold(
        (0, 0),
        |(best, most), (at, &n)| if n > most { (at, n) } else { (best, most) },
    );
    (count > 0).then_some(CANDIDATES[best])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::{RecordSink, Span};

    #[derive(Default)]
    struct Count {
        documents: Vec<String>,
        rejected: usize,
    }
    impl RecordSink for Count {
        fn record(&mut self, _span: Span, bytes: &[u8]) {
            self.documents.push(String::from_utf8_lossy(bytes).into_owned());
        }
        fn oversize(&mut self, _span: Span) {}
    }
    impl DocumentSink for Count {
        fn reject(&mut self, _span: Span, _reason: String, _row: &[u8]) {
            self.rejected += 1;
        }
    }

    fn auto(input: &[u8], chunk: usize) -> (Option<Format>, Vec<String>) {
        let mut reader = RecordReader::new(&ImportSettings::new("x"));
        let mut sink = Count::default();
        for piece in input.chunks(chunk) {
            reader.push(piece, &mut sink).unwrap();
        }
        reader.finish(&mut sink).unwrap();
        (reader.format(), sink.documents)
    }

    #[test]
    fn auto_tells_json_from_csv_and_tsv_by_the_head() {
        assert_eq!(auto(b"[{\"a\":1}]", 2).0, Some(Format::Json));
        assert_eq!(auto(b"\xef\xbb\xbf {\"a\":1}\n", 1).0, Some(Format::Jsonl));
        let (format, documents) = auto(b"id,name\r\n1,ann\r\n", 3);
        assert_eq!(format, Some(Format::Csv));
        assert_eq!(documents, vec!["{\"id\":1,\"name\":\"ann\"}"]);
        assert_eq!(auto(b"a\tb\n1\t2\n", 1).0, Some(Format::Tsv));
        // Semicolons (and a comma inside a quoted name) make a semicolon-separated header.
        let (format, documents) = auto(b"\"price, EUR\";qty;name\n2,5;3;x\n", 4);
        assert_eq!(format, Some(Format::Csv));
        assert_eq!(documents, vec!["{\"price, EUR\":\"2,5\",\"qty\":3,\"name\":\"x\"}"]);
        // A last line without a break, no delimiter at all, an HTML page: decided at the end.
        assert_eq!(auto(b"x,y", 10).0, Some(Format::Csv));
        assert_eq!(auto(b"hello\n", 10).0, Some(Format::Jsonl));
        assert_eq!(auto(b"<html><body>a, b</body></html>\n", 10).0, Some(Format::Jsonl));
        assert_eq!(auto(b"", 1).0, None, "an empty source has no format");
    }

    #[test]
    fn a_delimiter_given_with_auto_means_csv() {
        let mut settings = ImportSettings::new("x");
        settings.csv.delimiter = Some('|');
        let mut reader = RecordReader::new(&settings);
        let mut sink = Count::default();
        reader.push(b"{a|b\n1|2\n", &mut sink).unwrap();
        reader.finish(&mut sink).unwrap();
        assert_eq!(reader.format(), Some(Format::Csv));
        assert_eq!(sink.documents, vec!["{\"{a\":1,\"b\":2}"]);
    }
}
