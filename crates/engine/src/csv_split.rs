//! The incremental CSV/TSV row splitter: bytes in, rows with absolute byte offsets out, through the same
//! [`RecordSink`] boundary as the JSON splitters.
//!
//! Quoting is the hard part of CSV (a delimiter, a doubled quote or a newline inside quotes is data, and a chunk can
//! end anywhere inside one), so the state machine is `csv-core`'s: it only tells where each row ends. This module
//! keeps the row's bytes (a slice of the chunk when the row lies inside one, a carry buffer bounded by the maximum
//! record size otherwise) and its absolute span.
//!
//! # Spans
//! A row's [`Span`] covers its bytes without the line terminator (`\n`, `\r\n` or `\r`); blank lines between rows
//! are skipped. A checkpoint commits a row's end, and [`CsvSplitter::resume`] starts there: what follows is the
//! rest of that terminator, then the next row. The header is the first row like any other: the caller decides what
//! it means.
//!
//! # Errors
//! None: `csv-core` prefers *a* parse over none. A row that is wrong for its header (too many or too few cells, a
//! quote never closed at the end of the file) is handed out like any other, for the caller to keep as a dead letter.

use crate::split::{RecordSink, Span};

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The byte between cells: `,` for CSV, `\t` for TSV, or another one (`;` in much of Europe).
    pub delimiter: u8,
    /// The byte that quotes a cell (doubled inside it for itself).
    pub quote: u8,
}

impl Dialect {
    /// Comma-separated, double quotes.
    pub const CSV: Dialect = Dialect {
        delimiter: b',',
        quote: b'"',
    };
    /// Tab-separated, double quotes.
    pub const TSV: Dialect = Dialect {
        delimiter: b'\t',
        quote: b'"',
    };
}

/// The push-based row splitter. See the module documentation.
#[derive(Debug)]
pub struct CsvSplitter {
    reader: csv_core::Reader,
    /// Absolute offset of the next byte `push` will receive.
    position: u64,
    /// Absolute offset of the first byte of the row being read; `None` between rows.
    row_start: Option<u64>,
    /// Bytes of the current row that arrived in earlier chunks.
    carry: Vec<u8>,
    /// The current row passed the size limit: its bytes are not kept.
    oversize: bool,
    max_record_bytes: usize,
    /// BOM bytes still to match at the very start of the source.
    bom_matched: usize,
    /// `csv-core` writes each row's unquoted cells here; only where the row ends matters to splitting.
    scratch: Vec<u8>,
    ends: Vec<usize>,
}

fn is_terminator(byte: u8) -> bool {
    matches!(byte, b'\n' | b'\r')
}

impl CsvSplitter {
    /// A splitter for a source read from its first byte (a UTF-8 BOM there is skipped).
    pub fn new(dialect: Dialect, max_record_bytes: usize) -> Self {
        Self::resume(dialect, 0, max_record_bytes)
    }

    /// A splitter that continues a source at a committed offset: the end of a row, or 0.
    pub fn resume(dialect: Dialect, absolute_byte_offset: u64, max_record_bytes: usize) -> Self {
        let reader = csv_core::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .build();
        CsvSplitter {
            reader,
            position: absolute_byte_offset,
            row_start: None,
            carry: Vec::new(),
            oversize: false,
            max_record_bytes: max_record_bytes.max(1),
            // Only the source's very first bytes can be a BOM; elsewhere they are data.
            bom_matched: if absolute_byte_offset == 0 { 0 } else { BOM.len() },
            scratch: vec![0; 64 * 1024],
            ends: vec![0; 1024],
        }
    }

    /// Absolute offset of the next byte to push: how much of the source has been consumed.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Feeds the next chunk of the source. Rows completed by this chunk go to `sink` before it returns.
    pub fn push<S: RecordSink>(&mut self, chunk: &[u8], sink: &mut S) {
        let base = self.position;
        let mut i = self.skip_bom(chunk);
        // Where the current row's bytes start in this chunk.
        let mut row_from = 0;
        while i < chunk.len() {
            if self.row_start.is_none() {
                // Between rows: the rest of a terminator, or blank lines.
                while i < chunk.len() && is_terminator(chunk[i]) {
                    i += 1;
                }
                if i == chunk.len() {
                    break;
                }
                self.row_start = Some(base + i as u64);
                row_from = i;
            }
            let (result, read, _, _) = self.reader.read_record(&chunk[i..], &mut self.scratch, &mut self.ends);
            i += read;
            if result == csv_core::ReadRecordResult::Record {
                self.end_row(&chunk[row_from..i], base + i as u64, sink);
            }
        }
        if self.row_start.is_some() {
            self.keep(&chunk[row_from..]);
        }
        self.position = base + chunk.len() as u64;
    }

    /// Declares the end of the source: a last row without a terminator is handed out too.
    pub fn finish<S: RecordSink>(&mut self, sink: &mut S) {
        loop {
            let (result, _, _, _) = self.reader.read_record(&[], &mut self.scratch, &mut self.ends);
            match result {
                csv_core::ReadRecordResult::Record => self.end_row(&[], self.position, sink),
                csv_core::ReadRecordResult::End => break,
                // Only the buffers' room: asking again goes on.
                _ => {}
            }
        }
    }

    fn skip_bom(&mut self, chunk: &[u8]) -> usize {
        let mut i = 0;
        while self.bom_matched < BOM.len() && i < chunk.len() {
            if chunk[i] != BOM[self.bom_matched] {
                // Not a BOM after all: bytes matched so far were data, and a CSV does not start with part of one.
                self.bom_matched = BOM.len();
                return 0;
            }
            self.bom_matched += 1;
            i += 1;
        }
        i
    }

    fn keep(&mut self, bytes: &[u8]) {
        if self.oversize {
            return;
        }
        if self.carry.len() + bytes.len() > self.max_record_bytes {
            self.oversize = true;
            self.carry = Vec::new();
        } else {
            self.carry.extend_from_slice(bytes);
        }
    }

    /// The current row ends with `tail` (its bytes in this chunk, the terminator included), which ends at the
    /// absolute offset `tail_end`.
    fn end_row<S: RecordSink>(&mut self, tail: &[u8], tail_end: u64, sink: &mut S) {
        let Some(start) = self.row_start.take() else {
            return;
        };
        let terminator = |bytes: &[u8]| bytes.iter().rev().take_while(|&&b| is_terminator(b)).count();
        if self.oversize {
            self.oversize = false;
            let end = tail_end - terminator(tail) as u64;
            sink.oversize(Span { start, end });
            return;
        }
        let mut row = std::mem::take(&mut self.carry);
        let bytes = if row.is_empty() {
            &tail[..tail.len() - terminator(tail)]
        } else {
            row.extend_from_slice(tail);
            row.truncate(row.len() - terminator(&row));
            &row[..]
        };
        let span = Span {
            start,
            end: start + bytes.len() as u64,
        };
        if bytes.len() > self.max_record_bytes {
            sink.oversize(span);
        } else {
            sink.record(span, bytes);
        }
        // The carry's allocation is kept for the next row that needs one.
        row.clear();
        self.carry = row;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Rows(Vec<(Span, Vec<u8>)>, Vec<Span>);

    impl RecordSink for Rows {
        fn record(&mut self, span: Span, bytes: &[u8]) {
            self.0.push((span, bytes.to_vec()));
        }
        fn oversize(&mut self, span: Span) {
            self.1.push(span);
        }
    }

    fn split(input: &[u8], chunk: usize) -> Rows {
        let mut splitter = CsvSplitter::new(Dialect::CSV, 100);
        let mut rows = Rows::default();
        for piece in input.chunks(chunk.max(1)) {
            splitter.push(piece, &mut rows);
        }
        splitter.finish(&mut rows);
        rows
    }

    fn texts(rows: &Rows) -> Vec<(u64, u64, String)> {
        rows.0
            .iter()
            .map(|(span, bytes)| (span.start, span.end, String::from_utf8_lossy(bytes).into_owned()))
            .collect()
    }

    #[test]
    fn rows_end_at_lf_crlf_or_cr_and_blank_lines_are_skipped() {
        let rows = split(b"a,b\nc,d\r\n\r\ne,f\rg,h", 1000);
        assert_eq!(
            texts(&rows),
            vec![
                (0, 3, "a,b".into()),
                (4, 7, "c,d".into()),
                (11, 14, "e,f".into()),
                (15, 18, "g,h".into())
            ]
        );
    }

    #[test]
    fn quotes_keep_delimiters_doubled_quotes_and_newlines_inside_a_row() {
        let input = b"id,note\n1,\"a, \"\"quoted\"\"\nline\"\n2,x\n";
        for chunk in 1..input.len() {
            let rows = split(input, chunk);
            assert_eq!(
                texts(&rows),
                vec![
                    (0, 7, "id,note".into()),
                    (8, 30, "1,\"a, \"\"quoted\"\"\nline\"".into()),
                    (31, 34, "2,x".into())
                ],
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_bom_is_skipped_only_at_the_start() {
        let rows = split(b"\xEF\xBB\xBFa,b\n", 1);
        assert_eq!(texts(&rows), vec![(3, 6, "a,b".into())]);
    }

    #[test]
    fn a_row_past_the_limit_is_reported_by_its_span_not_kept() {
        let long = format!("x,{}\ny,z\n", "a".repeat(150));
        for chunk in [7, 64, 1000] {
            let rows = split(long.as_bytes(), chunk);
            assert_eq!(rows.1, vec![Span { start: 0, end: 152 }], "chunks of {chunk}");
            assert_eq!(texts(&rows), vec![(153, 156, "y,z".into())]);
        }
    }

    #[test]
    fn resuming_at_a_row_end_yields_the_rest() {
        let input = b"a,b\r\nc,\"d\r\ne\"\r\nf,g";
        let whole = split(input, 1000);
        for (span, _) in &whole.0 {
            let mut splitter = CsvSplitter::resume(Dialect::CSV, span.end, 100);
            let mut rows = Rows::default();
            splitter.push(&input[span.end as usize..], &mut rows);
            splitter.finish(&mut rows);
            let expected: Vec<_> = whole.0.iter().filter(|(s, _)| s.start >= span.end).cloned().collect();
            assert_eq!(rows.0, expected, "resumed at {}", span.end);
        }
    }
}
