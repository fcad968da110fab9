//! The incremental record splitter: bytes in, records with absolute byte offsets out.
//!
//! # Why push
//! Sources hand us chunks whose boundaries mean nothing: a network read can end inside a string, an escape, a
//! UTF-8 sequence or a CRLF. The splitter is therefore push-based ([`Splitter::push`]) and keeps only the part of
//! the current record that it has not been able to hand out yet. A record that lies whole inside one chunk is
//! handed to the [`RecordSink`] as a slice of that chunk, without a copy; a record cut by a chunk boundary is
//! assembled in a carry buffer that never grows past the maximum record size. Past that size the record is
//! reported as oversize and its bytes are skipped, not buffered, so memory is bounded by the maximum record size
//! whatever the input holds.
//!
//! # Offsets
//! Every offset here is an `absolute_byte_offset`: a position relative to the start of the whole source (of the
//! decompressed stream for gzip input), never an index into a chunk or a buffer. A record's [`Span`] is
//! `[start, end)`. The end of a record is what a checkpoint commits, and [`Splitter::resume`] starts from it:
//! for JSON Lines at the rest of that line, for a JSON array "inside the array, before the next element".
//!
//! # Errors
//! A malformed *record* is not the splitter's business: it is handed out like any other and the batcher sends it
//! to dead letters. The splitter fails only when it cannot tell where records are: a JSON array that is never
//! closed, a string that never ends, or bytes between elements that are neither `,` nor `]`. After an error the
//! splitter must not be pushed again.

use memchr::{memchr, memchr2};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::format::{Format, FormatChoice};

/// The default maximum record size: 10 MiB, Amazon OpenSearch Service's smallest request limit.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A half-open byte range `[start, end)` of the source, in absolute byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// Absolute offset of the first byte.
    pub start: u64,
    /// Absolute offset one past the last byte.
    pub end: u64,
}

impl Span {
    /// Number of bytes covered.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True when the span covers no byte.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Receives what the splitter finds, in source order.
///
/// Both methods are called synchronously from inside [`Splitter::push`] or [`Splitter::finish`], so a sink can
/// borrow the record's bytes without copying them when it does not need to keep them.
pub trait RecordSink {
    /// Called once per record. `bytes` are exactly the source bytes of `span` (JSON Lines records are trimmed of
    /// surrounding whitespace and the line terminator; array elements are the element's own bytes). They are not
    /// validated: the record may be malformed JSON.
    fn record(&mut self, span: Span, bytes: &[u8]);

    /// Called once per record longer than the maximum record size. Its bytes were skipped, never buffered; the
    /// span says where they are so they can be recovered from the source.
    fn oversize(&mut self, span: Span);
}

/// Why the splitter cannot tell where records are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    /// The input ended before the structure was complete.
    #[error("the input is truncated: it ends at byte {offset} {detail}")]
    Truncated {
        /// Where the input ended (absolute).
        offset: u64,
        /// What was still open, in words.
        detail: String,
    },
    /// A byte that cannot appear where it was found.
    #[error("unexpected {found} at byte {offset}: expected {expected}")]
    Unexpected {
        /// Absolute offset of the byte.
        offset: u64,
        /// The byte, described for a person.
        found: String,
        /// What the splitter expected there.
        expected: &'static str,
    },
    /// A CSV source whose header cannot be used (two columns of one name, a type chosen for a column it does not
    /// have...): no row can become a document.
    #[error("the CSV header cannot be used: {message}")]
    Header {
        /// Why, in words.
        message: String,
    },
}

impl SplitError {
    /// The absolute offset the error names.
    pub fn offset(&self) -> u64 {
        match self {
            SplitError::Truncated { offset, .. } | SplitError::Unexpected { offset, .. } => *offset,
            SplitError::Header { .. } => 0,
        }
    }
}

/// Where a JSON array parse stands between records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayPhase {
    /// Before the opening `[`.
    Open,
    /// Right after `[`: a value or `]`.
    First,
    /// After a `,`: a value (or, leniently, `]` for a trailing comma).
    Next,
    /// After a value: `,` or `]`.
    After,
    /// After the closing `]`: only whitespace may follow.
    Closed,
    /// Inside a value.
    InValue,
}

/// Scanning state inside one array element. Objects, arrays and strings are tracked by bracket depth and string
/// state; a scalar ends at the next delimiter.
#[derive(Debug, Clone, Copy, Default)]
struct ValueScan {
    scalar: bool,
    depth: u32,
    in_string: bool,
    escape: bool,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Auto-detection: skipping a BOM and whitespace until the first significant byte.
    Detect,
    Lines {
        strip_bom: bool,
    },
    Array(ArrayPhase),
}

/// The push-based splitter. See the module documentation.
#[derive(Debug)]
pub struct Splitter {
    mode: Mode,
    /// Absolute offset of the next byte `push` will receive.
    position: u64,
    max_record_bytes: usize,
    /// Start of the record (or JSON Lines line) being assembled.
    record_start: u64,
    /// Bytes of the current record that arrived in earlier chunks.
    carry: Vec<u8>,
    /// The current record passed the size limit: its bytes are being skipped.
    oversize: bool,
    scan: ValueScan,
    /// How many BOM bytes have been skipped at the very start of the source.
    bom_matched: u8,
}

/// Structural bytes that matter outside strings inside an array element.
const fn structural_table() -> [bool; 256] {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table
}
static STRUCTURAL: [bool; 256] = structural_table();

fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

impl Splitter {
    /// A splitter for a source read from its first byte. Delimited formats are the CSV splitter's
    /// ([`crate::csv_split`]); asked for one, this one reads lines.
    pub fn new(choice: FormatChoice, max_record_bytes: usize) -> Self {
        let mode = match choice.fixed() {
            None => Mode::Detect,
            Some(Format::Jsonl | Format::Csv | Format::Tsv) => Mode::Lines { strip_bom: true },
            Some(Format::Json) => Mode::Array(ArrayPhase::Open),
        };
        Self::with_mode(mode, 0, max_record_bytes)
    }

    /// A splitter that continues a source at a committed offset: the end of a record, or 0. The format must be
    /// the one the source was detected as (checkpoints store it).
    pub fn resume(format: Format, absolute_byte_offset: u64, max_record_bytes: usize) -> Self {
        let mode = match (format, absolute_byte_offset) {
            (Format::Jsonl | Format::Csv | Format::Tsv, offset) => Mode::Lines { strip_bom: offset == 0 },
            (Format::Json, 0) => Mode::Array(ArrayPhase::Open),
            (Format::Json, _) => Mode::Array(ArrayPhase::After),
        };
        Self::with_mode(mode, absolute_byte_offset, max_record_bytes)
    }

    fn with_mode(mode: Mode, position: u64, max_record_bytes: usize) -> Self {
        Splitter {
            mode,
            position,
            max_record_bytes: max_record_bytes.max(1),
            record_start: position,
            carry: Vec::new(),
            oversize: false,
            scan: ValueScan::default(),
            bom_matched: 0,
        }
    }

    /// The format, once known (always known unless auto-detection has not seen a significant byte yet).
    pub fn format(&self) -> Option<Format> {
        match self.mode {
            Mode::Detect => None,
            Mode::Lines { .. } => Some(Format::Jsonl),
            Mode::Array(_) => Some(Format::Json),
        }
    }

    /// Absolute offset of the next byte to push: how much of the source has been consumed.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Feeds the next chunk of the source. Records completed by this chunk go to `sink` before it returns.
    pub fn push<S: RecordSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), SplitError> {
        let base = self.position;
        let mut i = 0;
        while i < chunk.len() {
            i = match self.mode {
                Mode::Detect => self.detect(base, chunk, i),
                Mode::Lines { .. } => self.lines(base, chunk, i, sink),
                Mode::Array(phase) => self.array(phase, base, chunk, i, sink)?,
            };
        }
        self.position = base + chunk.len() as u64;
        Ok(())
    }

    /// Declares the end of the source. A JSON Lines source's last line needs no newline; a JSON array must have
    /// been closed.
    pub fn finish<S: RecordSink>(&mut self, sink: &mut S) -> Result<(), SplitError> {
        let end = self.position;
        match self.mode {
            Mode::Detect => Ok(()),
            Mode::Lines { strip_bom } => {
                if self.oversize {
                    sink.oversize(Span {
                        start: self.record_start,
                        end,
                    });
                } else if !self.carry.is_empty() {
                    let carry = std::mem::take(&mut self.carry);
                    emit_line(strip_bom, self.record_start, &carry, sink);
                }
                self.oversize = false;
                self.record_start = end;
                Ok(())
            }
            Mode::Array(ArrayPhase::Closed) => Ok(()),
            Mode::Array(phase) => Err(SplitError::Truncated {
                offset: end,
                detail: match phase {
                    ArrayPhase::Open => "before the JSON array began (expected '[')".to_string(),
                    ArrayPhase::InValue if self.scan.in_string => format!(
                        "inside a string of the record that starts at byte {}: the string never ends",
                        self.record_start
                    ),
                    ArrayPhase::InValue => format!(
                        "inside the record that starts at byte {}, and the array is never closed",
                        self.record_start
                    ),
                    _ => "inside the JSON array: it is never closed with ']'".to_string(),
                },
            }),
        }
    }

    /// Skips a BOM and whitespace at the start; at the first significant byte, picks the format.
    fn detect(&mut self, base: u64, chunk: &[u8], mut i: usize) -> usize {
        while i < chunk.len() {
            let byte = chunk[i];
            if self.skip_bom_byte(base + i as u64, byte) || is_json_whitespace(byte) {
                i += 1;
                continue;
            }
            if byte == b'[' {
                self.mode = Mode::Array(ArrayPhase::First);
                return i + 1;
            }
            self.mode = Mode::Lines { strip_bom: false };
            self.record_start = base + i as u64;
            return i;
        }
        i
    }

    /// True when `byte` at `absolute` continues a UTF-8 BOM at the start of the source.
    fn skip_bom_byte(&mut self, absolute: u64, byte: u8) -> bool {
        let matched = self.bom_matched as usize;
        if absolute == matched as u64 && matched < BOM.len() && byte == BOM[matched] {
            self.bom_matched += 1;
            true
        } else {
            false
        }
    }

    fn lines<S: RecordSink>(&mut self, base: u64, chunk: &[u8], i: usize, sink: &mut S) -> usize {
        let Mode::Lines { strip_bom } = self.mode else {
            unreachable!("lines() is only called in line mode")
        };
        let rest = &chunk[i..];
        let Some(newline) = memchr(b'\n', rest) else {
            // A partial line: keep it (within the limit) until its newline arrives.
            if !self.oversize {
                if self.carry.len() + rest.len() > self.max_record_bytes {
                    self.oversize = true;
                    self.carry = Vec::new();
                } else {
                    self.carry.extend_from_slice(rest);
                }
            }
            return chunk.len();
        };
        let line_end = base + (i + newline) as u64;
        let piece = &rest[..newline];
        if self.oversize || self.carry.len() + piece.len() > self.max_record_bytes {
            let end = if piece.last() == Some(&b'\r') {
                line_end - 1
            } else {
                line_end
            };
            sink.oversize(Span {
                start: self.record_start,
                end,
            });
            self.carry = Vec::new();
            self.oversize = false;
        } else if self.carry.is_empty() {
            emit_line(strip_bom, self.record_start, piece, sink);
        } else {
            self.carry.extend_from_slice(piece);
            emit_line(strip_bom, self.record_start, &self.carry, sink);
            self.carry.clear();
        }
        self.record_start = line_end + 1;
        self.mode = Mode::Lines { strip_bom: false };
        i + newline + 1
    }

    fn array<S: RecordSink>(
        &mut self,
        phase: ArrayPhase,
        base: u64,
        chunk: &[u8],
        mut i: usize,
        sink: &mut S,
    ) -> Result<usize, SplitError> {
        if phase == ArrayPhase::InValue {
            return Ok(self.value(base, chunk, i, sink));
        }
        while i < chunk.len() {
            let byte = chunk[i];
            let absolute = base + i as u64;
            if is_json_whitespace(byte) || (phase == ArrayPhase::Open && self.skip_bom_byte(absolute, byte)) {
                i += 1;
                continue;
            }
            let unexpected = |expected| SplitError::Unexpected {
                offset: absolute,
                found: describe_byte(byte),
                expected,
            };
            let next = match (phase, byte) {
                (ArrayPhase::Open, b'[') => ArrayPhase::First,
                (ArrayPhase::Open, _) => return Err(unexpected("'[' to open the JSON array")),
                (ArrayPhase::First | ArrayPhase::Next, b']') => ArrayPhase::Closed,
                (ArrayPhase::Next, b',') => return Err(unexpected("a value after ','")),
                (ArrayPhase::First | ArrayPhase::Next, _) => {
                    self.record_start = absolute;
                    self.scan = ValueScan {
                        scalar: !matches!(byte, b'{' | b'[' | b'"'),
                        ..ValueScan::default()
                    };
                    self.mode = Mode::Array(ArrayPhase::InValue);
                    return Ok(i);
                }
                (ArrayPhase::After, b',') => ArrayPhase::Next,
                (ArrayPhase::After, b']') => ArrayPhase::Closed,
                (ArrayPhase::After, _) => return Err(unexpected("',' or ']' after a record")),
                (ArrayPhase::Closed, _) => return Err(unexpected("nothing after the closing ']' of the array")),
                (ArrayPhase::InValue, _) => unreachable!("handled above"),
            };
            self.mode = Mode::Array(next);
            return Ok(i + 1);
        }
        Ok(i)
    }

    /// Scans inside an array element; emits it when it ends.
    fn value<S: RecordSink>(&mut self, base: u64, chunk: &[u8], i: usize, sink: &mut S) -> usize {
        let rest = &chunk[i..];
        let (consumed, done) = self.scan.advance(rest);
        let piece = &rest[..consumed];
        if !self.oversize {
            if self.carry.len() + piece.len() > self.max_record_bytes {
                self.oversize = true;
                self.carry = Vec::new();
            } else if !done {
                self.carry.extend_from_slice(piece);
            }
        }
        if done {
            let span = Span {
                start: self.record_start,
                end: base + (i + consumed) as u64,
            };
            if self.oversize {
                sink.oversize(span);
            } else if self.carry.is_empty() {
                sink.record(span, piece);
            } else {
                self.carry.extend_from_slice(piece);
                sink.record(span, &self.carry);
                self.carry.clear();
            }
            self.oversize = false;
            self.mode = Mode::Array(ArrayPhase::After);
        }
        i + consumed
    }
}

/// Hands out one JSON Lines line, trimmed; blank lines are skipped.
fn emit_line<S: RecordSink>(strip_bom: bool, start: u64, line: &[u8], sink: &mut S) {
    let (mut start, mut line) = (start, line);
    if strip_bom && start == 0 && line.starts_with(&BOM) {
        start += BOM.len() as u64;
        line = &line[BOM.len()..];
    }
    let Some(first) = line.iter().position(|&b| !is_json_whitespace(b)) else {
        return;
    };
    let last = line.iter().rposition(|&b| !is_json_whitespace(b)).unwrap_or(first);
    sink.record(
        Span {
            start: start + first as u64,
            end: start + last as u64 + 1,
        },
        &line[first..=last],
    );
}

impl ValueScan {
    /// Consumes bytes of the current element. Returns how many bytes belong to it and whether it ended.
    fn advance(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        if self.scalar {
            return match bytes
                .iter()
                .position(|&b| b == b',' || b == b']' || is_json_whitespace(b))
            {
                Some(end) => (end, true),
                None => (bytes.len(), false),
            };
        }
        while i < bytes.len() {
            if self.escape {
                self.escape = false;
                i += 1;
                continue;
            }
            if self.in_string {
                match memchr2(b'"', b'\\', &bytes[i..]) {
                    None => return (bytes.len(), false),
                    Some(at) if bytes[i + at] == b'\\' => {
                        self.escape = true;
                        i += at + 1;
                    }
                    Some(at) => {
                        self.in_string = false;
                        i += at + 1;
                        if self.depth == 0 {
                            return (i, true);
                        }
                    }
                }
                continue;
            }
            let Some(at) = bytes[i..].iter().position(|&b| STRUCTURAL[b as usize]) else {
                return (bytes.len(), false);
            };
            i += at;
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                _ => {
                    // A closing bracket. Malformed nesting cannot be trusted to end the element earlier than
                    // depth zero; the batcher rejects such a record as invalid JSON.
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return (i + 1, true);
                    }
                }
            }
            i += 1;
        }
        (i, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    pub(crate) struct Collected {
        pub records: Vec<(Span, Vec<u8>)>,
        pub oversize: Vec<Span>,
    }

    impl RecordSink for Collected {
        fn record(&mut self, span: Span, bytes: &[u8]) {
            self.records.push((span, bytes.to_vec()));
        }
        fn oversize(&mut self, span: Span) {
            self.oversize.push(span);
        }
    }

    fn split(choice: FormatChoice, input: &[u8]) -> Result<Collected, SplitError> {
        let mut splitter = Splitter::new(choice, DEFAULT_MAX_RECORD_BYTES);
        let mut out = Collected::default();
        splitter.push(input, &mut out)?;
        splitter.finish(&mut out)?;
        Ok(out)
    }

    fn texts(out: &Collected) -> Vec<&str> {
        out.records
            .iter()
            .map(|(_, b)| std::str::from_utf8(b).expect("utf8"))
            .collect()
    }

    #[test]
    fn jsonl_handles_crlf_blank_lines_bom_and_missing_final_newline() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n   \n{\"b\":2}\n{\"c\":3}";
        let out = split(FormatChoice::Jsonl, input).unwrap();
        assert_eq!(texts(&out), vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
        assert_eq!(out.records[0].0, Span { start: 3, end: 10 });
        for (span, bytes) in &out.records {
            assert_eq!(&input[span.start as usize..span.end as usize], bytes.as_slice());
        }
    }

    #[test]
    fn array_handles_whitespace_and_tricky_strings() {
        let input = br#" [ {"s":"a \" ] } [ \\"} ,
            {"n":[1,{"x":"}"}]}, "str", 42 ,null ] "#;
        let out = split(FormatChoice::Json, input).unwrap();
        assert_eq!(
            texts(&out),
            vec![
                r#"{"s":"a \" ] } [ \\"}"#,
                r#"{"n":[1,{"x":"}"}]}"#,
                r#""str""#,
                "42",
                "null"
            ]
        );
        for (span, bytes) in &out.records {
            assert_eq!(&input[span.start as usize..span.end as usize], bytes.as_slice());
        }
    }

    #[test]
    fn auto_detects_both_formats() {
        let array = split(FormatChoice::Auto, b"\xEF\xBB\xBF \n [{\"a\":1},{\"a\":2}]").unwrap();
        assert_eq!(texts(&array), vec![r#"{"a":1}"#, r#"{"a":2}"#]);
        let lines = split(FormatChoice::Auto, b"\n\n {\"a\":1}\n{\"a\":2}\n").unwrap();
        assert_eq!(texts(&lines), vec![r#"{"a":1}"#, r#"{"a":2}"#]);
        assert_eq!(lines.records[0].0.start, 3);
        assert!(split(FormatChoice::Auto, b"").unwrap().records.is_empty());
    }

    #[test]
    fn empty_array_and_trailing_comma() {
        assert!(split(FormatChoice::Json, b"[]").unwrap().records.is_empty());
        assert!(split(FormatChoice::Json, b"[ \n ]\n").unwrap().records.is_empty());
        assert_eq!(texts(&split(FormatChoice::Json, b"[{},]").unwrap()), vec!["{}"]);
    }

    #[test]
    fn truncated_array_names_the_offset() {
        let err = split(FormatChoice::Json, br#"[{"a":1},{"b":"x"#).unwrap_err();
        assert!(matches!(err, SplitError::Truncated { offset: 16, .. }), "{err}");
        assert!(err.to_string().contains("byte 9"), "{err}");
        assert!(err.to_string().contains("string never ends"), "{err}");
        let err = split(FormatChoice::Json, br#"[{"a":1}"#).unwrap_err();
        assert!(err.to_string().contains("never closed"), "{err}");
        let err = split(FormatChoice::Json, b"").unwrap_err();
        assert!(err.to_string().contains("expected '['"), "{err}");
    }

    #[test]
    fn garbage_between_elements_is_an_error_with_offset() {
        let err = split(FormatChoice::Json, br#"[{"a":1} x]"#).unwrap_err();
        assert_eq!(err.offset(), 9);
        assert!(err.to_string().contains("'x'"), "{err}");
        let err = split(FormatChoice::Json, br#"{"a":1}"#).unwrap_err();
        assert_eq!(err.offset(), 0);
        let err = split(FormatChoice::Json, br#"[1] 2"#).unwrap_err();
        assert_eq!(err.offset(), 4);
        let err = split(FormatChoice::Json, br#"[1,,2]"#).unwrap_err();
        assert_eq!(err.offset(), 3);
    }

    #[test]
    fn oversize_records_are_reported_and_skipped() {
        let mut splitter = Splitter::new(FormatChoice::Jsonl, 10);
        let mut out = Collected::default();
        let input = b"{\"a\":1}\n{\"big\":\"0123456789\"}\n{\"b\":2}\n";
        for chunk in input.chunks(3) {
            splitter.push(chunk, &mut out).unwrap();
        }
        splitter.finish(&mut out).unwrap();
        assert_eq!(texts(&out), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(out.oversize, vec![Span { start: 8, end: 28 }]);
        assert!(
            splitter.carry.capacity() <= 16,
            "carry grew to {}",
            splitter.carry.capacity()
        );

        let mut splitter = Splitter::new(FormatChoice::Json, 10);
        let mut out = Collected::default();
        let input = br#"[{"a":1},{"big":"0123456789"},{"b":2}]"#;
        for chunk in input.chunks(4) {
            splitter.push(chunk, &mut out).unwrap();
        }
        splitter.finish(&mut out).unwrap();
        assert_eq!(texts(&out), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(out.oversize, vec![Span { start: 9, end: 29 }]);
    }

    #[test]
    fn resume_continues_after_a_committed_record() {
        let input = br#"[{"a":1}, {"a":2} ,{"a":3}]"#;
        let mut splitter = Splitter::resume(Format::Json, 8, DEFAULT_MAX_RECORD_BYTES);
        let mut out = Collected::default();
        splitter.push(&input[8..], &mut out).unwrap();
        splitter.finish(&mut out).unwrap();
        assert_eq!(texts(&out), vec![r#"{"a":2}"#, r#"{"a":3}"#]);
        assert_eq!(out.records[0].0, Span { start: 10, end: 17 });

        let input = b"{\"a\":1}\r\n{\"a\":2}\r\n";
        let mut splitter = Splitter::resume(Format::Jsonl, 7, DEFAULT_MAX_RECORD_BYTES);
        let mut out = Collected::default();
        splitter.push(&input[7..], &mut out).unwrap();
        splitter.finish(&mut out).unwrap();
        assert_eq!(texts(&out), vec![r#"{"a":2}"#]);
        assert_eq!(out.records[0].0, Span { start: 9, end: 16 });
    }

    #[test]
    fn escapes_and_multibyte_text_cut_anywhere() {
        let input = "[{\"t\":\"é \\\\\\\" 日本\"},{\"u\":\"\\u00e9\"}]".as_bytes();
        let whole = split(FormatChoice::Json, input).unwrap();
        for cut in 1..input.len() {
            let mut splitter = Splitter::new(FormatChoice::Json, DEFAULT_MAX_RECORD_BYTES);
            let mut out = Collected::default();
            splitter.push(&input[..cut], &mut out).unwrap();
            splitter.push(&input[cut..], &mut out).unwrap();
            splitter.finish(&mut out).unwrap();
            assert_eq!(out, whole, "cut at {cut}");
        }
    }
}
