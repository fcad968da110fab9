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
/// letter; the committed offset is the end of the longest prefix of finished batches, so with several requests in
/// flight a late batch holds back the ones after it (they are replayed after a crash, which deterministic ids make
/// harmless) and nothing is ever committed ahead of a record that is neither indexed nor stored.
#[derive(Debug, Clone)]
pub struct Watermark {
    next_seq: u64,
    committed: BatchTally,
    finished_ahead: BTreeMap<u64, BatchTally>,
}

impl Watermark {
    /// Starts after everything a checkpoint committed; the next batch to commit is `next_seq`.
    pub fn new(next_seq: u64, committed: BatchTally) -> Self {
        Watermark {
            next_seq,
            committed,
            finished_ahead: BTreeMap::new(),
        }
    }

    /// Marks batch `seq` finished. Returns true when the committed offset moved.
    pub fn finish(&mut self, seq: u64, tally: BatchTally) -> bool {
        debug_assert!(seq >= self.next_seq, "batch {seq} finished twice");
        self.finished_ahead.insert(seq, tally);
        let mut moved = false;
        while let Some(tally) = self.finished_ahead.remove(&self.next_seq) {
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
        self.committed
    }

    /// The first batch not committed yet.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Moves the committed offset to the end of the source once every batch is committed (trailing whitespace or
    /// the closing `]` hold no record).
    pub fn commit_end_of_source(&mut self, end_offset: u64) {
        debug_assert!(self.finished_ahead.is_empty());
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
