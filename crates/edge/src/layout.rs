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

/// The key of piece `piece` of part `part`'s dead letter at `offset`.
pub fn piece_key(part: usize, offset: u64, piece: usize) -> String {
    format!("{}{offset:020}:{piece:03}", dead_letter_prefix(part))
}

/// A listing's `startAfter` that skips every piece of the dead letter at `offset` (`~` sorts after the digits).
pub fn after_dead_letter(part: usize, offset: u64) -> String {
    format!("{}{offset:020}:~", dead_letter_prefix(part))
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
        pieces.push((piece_key(part, letter.offset, pieces.len()), piece.to_string()));
        rest = tail;
        if rest.is_empty() {
            return pieces;
        }
    }
}

/// Most keys one storage write takes.
pub const KEYS_PER_WRITE: usize = 128;

/// The pieces of `letters` in groups of at most [`KEYS_PER_WRITE`] keys, never splitting a letter between two
/// groups (unless one letter alone has more pieces): each group is one atomic write, so a letter stored again with a
/// new reason is never left half old, half new.
pub fn letter_groups(part: usize, letters: &[DeadLetter]) -> Vec<Vec<(String, String)>> {
    whole_groups(letters.iter().map(|letter| dead_letter_pieces(part, letter)))
}

/// Each letter's keys (or entries) packed into writes of at most [`KEYS_PER_WRITE`], a letter never split between
/// two of them unless it alone has more.
pub fn whole_groups<T: Clone>(letters: impl IntoIterator<Item = Vec<T>>) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    for pieces in letters {
        match groups.last_mut() {
            Some(group) if group.len() + pieces.len() <= KEYS_PER_WRITE => group.extend(pieces),
            _ if pieces.len() <= KEYS_PER_WRITE => groups.push(pieces),
            _ => groups.extend(pieces.chunks(KEYS_PER_WRITE).map(<[T]>::to_vec)),
        }
    }
    groups
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

    #[test]
    fn letters_are_written_in_groups_that_never_split_one() {
        let letter = |offset: u64, chars: usize| DeadLetter {
            offset,
            end: offset + 1,
            reason: "r".into(),
            record: Some("x".repeat(chars)),
        };
        // 100 one-piece letters, then one of 3 pieces that does not fit beside them, then 40 more.
        let mut letters: Vec<DeadLetter> = (0..100).map(|n| letter(n, 10)).collect();
        letters.push(letter(100, PIECE_CHARS * 2 + 5));
        letters.extend((101..141).map(|n| letter(n, 10)));
        let groups = letter_groups(0, &letters);
        assert!(groups.iter().all(|g| g.len() <= KEYS_PER_WRITE));
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 143);
        let with_big = groups
            .iter()
            .filter(|g| g.iter().any(|(k, _)| k.contains(":00000000000000000100:")))
            .count();
        assert_eq!(with_big, 1, "the three pieces go in one write");
        assert_eq!(
            after_dead_letter(0, 100).as_str().cmp(&piece_key(0, 100, 999)),
            std::cmp::Ordering::Greater
        );
        assert!(after_dead_letter(0, 100) < piece_key(0, 101, 0));
    }
}
