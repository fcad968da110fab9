//! Where a job's Durable Object keeps things (keys of its storage), and dead letters cut into pieces that fit a
//! stored value (a failed record can be 10 MiB; a value is at most 2 MB in SQLite-backed Durable Objects).

use sluice_engine::DeadLetter;

/// The job's manifest.
pub const MANIFEST: &str = "manifest";
/// The job's [`Control`](crate::api::Control) record.
pub const CONTROL: &str = "control";

/// Most characters of dead-letter text in one stored value.
pub const PIECE_CHARS: usize = 512 * 1024;

/// Part `n`'s checkpoint.
pub fn checkpoint_key(part: usize) -> String {
    format!("cp:{part:04}")
}

/// Part `n`'s URL, apart from everything shown, so no view or log carries a signature.
pub fn url_key(part: usize) -> String {
    format!("url:{part:04}")
}

/// The prefix of part `n`'s dead letters.
pub fn dead_letter_prefix(part: usize) -> String {
    format!("dl:{part:04}:")
}

/// A dead letter as stored: its NDJSON line (without the newline) in pieces under keys that sort by offset, then
/// piece. Storing a replayed record again writes the same keys.
pub fn dead_letter_pieces(part: usize, letter: &DeadLetter) -> Vec<(String, String)> {
    let line = serde_json::to_string(letter).unwrap_or_default();
    let mut pieces = Vec::new();
    let mut rest = line.as_str();
    loop {
        let mut cut = rest.len().min(PIECE_CHARS);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push((
            format!("{}{:020}:{:03}", dead_letter_prefix(part), letter.offset, pieces.len()),
            piece.to_string(),
        ));
        rest = tail;
        if rest.is_empty() {
            return pieces;
        }
    }
}

/// Joins stored pieces (in key order) back into NDJSON lines. `pending` carries a line whose pieces continue in the
/// next page of a listing; pass the same one for every page, then call with `finish` to flush it.
pub fn join_pieces(
    pieces: impl IntoIterator<Item = (String, String)>,
    pending: &mut Option<(String, String)>,
    out: &mut Vec<u8>,
) {
    for (key, piece) in pieces {
        // key: dl:PPPP:OFFSET:NNN; a line is the pieces sharing the key up to the piece number.
        let line_key = key.rsplit_once(':').map_or(key.as_str(), |(line, _)| line).to_string();
        match pending {
            Some((current, text)) if *current == line_key => text.push_str(&piece),
            _ => {
                flush(pending, out);
                *pending = Some((line_key, piece));
            }
        }
    }
}

/// Writes out the line [`join_pieces`] was still collecting.
pub fn flush(pending: &mut Option<(String, String)>, out: &mut Vec<u8>) {
    if let Some((_, text)) = pending.take() {
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_dead_letters_are_stored_in_pieces_and_read_back_whole() {
        let big = DeadLetter {
            offset: 7,
            end: 9,
            reason: "too big".into(),
            record: Some("é".repeat(PIECE_CHARS)),
        };
        let small = DeadLetter {
            offset: 12,
            end: 20,
            reason: "not JSON".into(),
            record: Some("{oops".into()),
        };
        let mut stored: Vec<(String, String)> = dead_letter_pieces(3, &big);
        assert!(stored.len() >= 3, "2 bytes per char: cut on char boundaries");
        assert!(stored.iter().all(|(_, piece)| piece.len() <= PIECE_CHARS));
        stored.extend(dead_letter_pieces(3, &small));
        stored.sort();
        // Read in pages of two pieces, as a listing would hand them.
        let mut out = Vec::new();
        let mut pending = None;
        for page in stored.chunks(2) {
            join_pieces(page.to_vec(), &mut pending, &mut out);
        }
        flush(&mut pending, &mut out);
        let expected = [big.to_ndjson_line(), small.to_ndjson_line()].concat();
        assert_eq!(out, expected);
        assert!(stored[0].0.starts_with("dl:0003:00000000000000000007:000"));
    }
}
