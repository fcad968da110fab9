//! The committed offset: how far the source is safely done while acknowledgements arrive out of order.

use std::collections::BTreeMap;

/// What one finished batch adds to the committed totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// End of the last record the batch covers.
    pub end_offset: u64,
    /// Records it accounts for.
    pub records: u64,
    /// Of those, indexed (or already present).
    pub indexed: u64,
    /// Of those, stored as dead letters.
    pub failed: u64,
}

/// Commits batches in source order. A batch is finished when every record in it is indexed or stored as a dead
/// letter; the committed offset is the end of the longest prefix of finished batches, extended into the oldest
/// unfinished batch up to its own longest resolved prefix of records. So a batch whose last few records are being
/// retried holds back only those records and what follows them (replayed after a crash, which deterministic ids
/// make harmless), and nothing is ever committed ahead of a record that is neither indexed nor stored.
#[derive(Debug, Clone)]
pub struct Watermark {
    next_seq: u64,
    /// Totals of the whole batches before `next_seq`.
    committed: BatchTally,
    /// The resolved prefix of batch `next_seq`, counted from its start.
    partial: Option<BatchTally>,
    finished_ahead: BTreeMap<u64, BatchTally>,
}

impl Watermark {
    /// Starts after everything a checkpoint committed; the next batch to commit is `next_seq`.
    pub fn new(next_seq: u64, committed: BatchTally) -> Self {
        Watermark {
            next_seq,
            committed,
            partial: None,
            finished_ahead: BTreeMap::new(),
        }
    }

    /// The oldest unfinished batch `seq` has resolved a prefix of its records, ending at `prefix.end_offset`, with
    /// `prefix` counting them (their dead letters already stored). Returns true when the committed offset moved.
    /// Ignored for any other batch: only the oldest one can extend the committed prefix.
    pub fn advance_within(&mut self, seq: u64, prefix: BatchTally) -> bool {
        let further = self
            .partial
            .map_or(prefix.end_offset > self.committed.end_offset, |partial| {
                prefix.end_offset > partial.end_offset
            });
        if seq != self.next_seq || !further {
            return false;
        }
        self.partial = Some(prefix);
        true
    }

    /// Marks batch `seq` finished. Returns true when the committed offset moved.
    pub fn finish(&mut self, seq: u64, tally: BatchTally) -> bool {
        debug_assert!(seq >= self.next_seq, "batch {seq} finished twice");
        self.finished_ahead.insert(seq, tally);
        let mut moved = false;
        while let Some(tally) = self.finished_ahead.remove(&self.next_seq) {
            // The whole batch's tally includes its resolved prefix.
            self.partial = None;
            self.committed.end_offset = tally.end_offset;
            self.committed.records += tally.records;
            self.committed.indexed += tally.indexed;
            self.committed.failed += tally.failed;
            self.next_seq += 1;
            moved = true;
        }
        moved
    }

    /// Totals up to the committed offset.
    pub fn committed(&self) -> BatchTally {
        match self.partial {
            None => self.committed,
            Some(partial) => BatchTally {
                end_offset: partial.end_offset,
                records: self.committed.records + partial.records,
                indexed: self.committed.indexed + partial.indexed,
                failed: self.committed.failed + partial.failed,
            },
        }
    }

    /// The first batch not committed yet.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Moves the committed offset to the end of the source once every batch is committed (trailing whitespace or
    /// the closing `]` hold no record).
    pub fn commit_end_of_source(&mut self, end_offset: u64) {
        debug_assert!(self.finished_ahead.is_empty() && self.partial.is_none());
        self.committed.end_offset = self.committed.end_offset.max(end_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(end: u64) -> BatchTally {
        BatchTally {
            end_offset: end,
            records: 1,
            indexed: 1,
            failed: 0,
        }
    }

    #[test]
    fn waits_for_the_oldest_batch() {
        let mut mark = Watermark::new(0, BatchTally::default());
        assert!(!mark.finish(1, tally(20)));
        assert!(!mark.finish(2, tally(30)));
        assert_eq!(mark.committed().end_offset, 0);
        assert!(mark.finish(0, tally(10)));
        assert_eq!(
            mark.committed(),
            BatchTally {
                end_offset: 30,
                records: 3,
                indexed: 3,
                failed: 0
            }
        );
        assert_eq!(mark.next_seq(), 3);
    }

    #[test]
    fn the_oldest_batch_commits_its_resolved_prefix() {
        let mut mark = Watermark::new(0, BatchTally::default());
        let prefix = |end, records| BatchTally {
            end_offset: end,
            records,
            indexed: records,
            failed: 0,
        };
        // Only the oldest batch may extend the committed offset.
        assert!(!mark.advance_within(1, prefix(15, 1)));
        assert!(mark.advance_within(0, prefix(4, 2)));
        assert_eq!(mark.committed(), prefix(4, 2));
        assert!(!mark.advance_within(0, prefix(4, 2)), "no move, no save");
        assert!(!mark.finish(1, tally(20)));
        // Finishing the oldest replaces its prefix by the whole batch, then the next one follows.
        let whole = BatchTally {
            end_offset: 10,
            records: 5,
            indexed: 4,
            failed: 1,
        };
        assert!(mark.finish(0, whole));
        assert_eq!(
            mark.committed(),
            BatchTally {
                end_offset: 20,
                records: 6,
                indexed: 5,
                failed: 1
            }
        );
        assert!(mark.advance_within(2, prefix(25, 3)));
        assert_eq!(mark.committed().records, 9);
    }

    proptest! {
        #[test]
        fn committed_offset_is_the_longest_finished_prefix(order in Just((0u64..40).collect::<Vec<_>>()).prop_shuffle()) {
            let mut mark = Watermark::new(0, BatchTally::default());
            let mut finished = [false; 40];
            for seq in order {
                mark.finish(seq, tally((seq + 1) * 10));
                finished[seq as usize] = true;
                let prefix = finished.iter().take_while(|&&f| f).count() as u64;
                prop_assert_eq!(mark.committed().end_offset, prefix * 10);
                prop_assert_eq!(mark.committed().records, prefix);
            }
        }
    }
}
