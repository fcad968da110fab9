//! The budget of one alarm's slice of work. A Worker invocation has limits (CPU time, wall time, subrequests), and
//! in production its clock only moves on I/O, so a slice is bounded by what it does (source bytes, records, requests)
//! as well as by time. When any is spent the running parts are drained (the engine's `Command::Drain`): what they
//! read is sent, every request finishes, their checkpoints are saved, and the next alarm continues from them.

use std::cell::Cell;

/// Limits of one slice, well under Workers' (30 s CPU, 15 min wall for an alarm, 1 000–10 000 subrequests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceBudget {
    /// Source bytes read, over all parts of the slice.
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// Subrequests: bulk requests and source downloads.
    pub subrequests: u32,
    /// Wall time in milliseconds.
    pub wall_ms: u64,
}

impl Default for SliceBudget {
    fn default() -> Self {
        SliceBudget {
            bytes: 64 * 1024 * 1024,
            records: 500_000,
            subrequests: 500,
            wall_ms: 60_000,
        }
    }
}

/// What a slice has used so far, shared by the parts it runs.
#[derive(Debug)]
pub struct SliceMeter {
    budget: SliceBudget,
    started_ms: u64,
    bytes: Cell<u64>,
    records: Cell<u64>,
    subrequests: Cell<u32>,
    spent: Cell<Option<&'static str>>,
}

impl SliceMeter {
    /// A meter for a slice started at `now_ms`.
    pub fn new(budget: SliceBudget, now_ms: u64) -> Self {
        SliceMeter {
            budget,
            started_ms: now_ms,
            bytes: Cell::new(0),
            records: Cell::new(0),
            subrequests: Cell::new(0),
            spent: Cell::new(None),
        }
    }

    /// Counts source bytes. True the first time the slice's budget is spent (by anything).
    pub fn bytes(&self, n: u64, now_ms: u64) -> bool {
        self.bytes.set(self.bytes.get() + n);
        self.check(now_ms)
    }

    /// Counts records read (a part reports its own total, from `first` at the slice's start).
    pub fn records(&self, n: u64, now_ms: u64) -> bool {
        self.records.set(self.records.get() + n);
        self.check(now_ms)
    }

    /// Counts one subrequest.
    pub fn subrequest(&self, now_ms: u64) -> bool {
        self.subrequests.set(self.subrequests.get() + 1);
        self.check(now_ms)
    }

    /// What ran out, once the budget is spent.
    pub fn spent(&self) -> Option<&'static str> {
        self.spent.get()
    }

    /// Subrequests so far.
    pub fn subrequests_used(&self) -> u32 {
        self.subrequests.get()
    }

    fn check(&self, now_ms: u64) -> bool {
        if self.spent.get().is_some() {
            return false;
        }
        let spent = if self.bytes.get() >= self.budget.bytes {
            Some("bytes")
        } else if self.records.get() >= self.budget.records {
            Some("records")
        } else if self.subrequests.get() >= self.budget.subrequests {
            Some("subrequests")
        } else if now_ms.saturating_sub(self.started_ms) >= self.budget.wall_ms {
            Some("time")
        } else {
            None
        };
        self.spent.set(spent);
        spent.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_limit_reached_ends_the_slice_once() {
        let budget = SliceBudget {
            bytes: 100,
            records: 10,
            subrequests: 3,
            wall_ms: 1000,
        };
        let meter = SliceMeter::new(budget, 0);
        assert!(!meter.bytes(60, 1));
        assert!(!meter.subrequest(2));
        assert!(meter.bytes(40, 3), "100 bytes is the budget");
        assert_eq!(meter.spent(), Some("bytes"));
        assert!(!meter.subrequest(4), "reported once");
        let meter = SliceMeter::new(budget, 0);
        assert!(!meter.subrequest(1) && !meter.subrequest(1));
        assert!(meter.subrequest(1));
        assert_eq!(meter.spent(), Some("subrequests"));
        let meter = SliceMeter::new(budget, 500);
        assert!(!meter.records(9, 600));
        assert!(meter.records(0, 1500), "time ran out");
        assert_eq!(meter.spent(), Some("time"));
        let meter = SliceMeter::new(budget, 0);
        assert!(meter.records(10, 1));
        assert_eq!(meter.subrequests_used(), 0);
    }
}
