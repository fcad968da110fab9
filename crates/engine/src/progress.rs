//! Progress figures a job reports while it runs: counts, rates over a sliding window, ETA.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::checkpoint::JobStatus;

/// A snapshot of a running job, for a progress bar or a log line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Where the job stands.
    pub status: Option<JobStatus>,
    /// Records read from the source so far (this run and before).
    pub records: u64,
    /// Bytes of the source read so far (absolute position).
    pub bytes_read: u64,
    /// Source size when known (for gzip: compressed size, so no ratio is shown).
    pub total_bytes: Option<u64>,
    /// Records indexed (acknowledged, committed or not).
    pub indexed: u64,
    /// Records in dead letters.
    pub failed: u64,
    /// Documents sent again.
    pub retried: u64,
    /// Bulk requests sent again (whole or for some of their items).
    #[serde(default)]
    pub retried_requests: u64,
    /// Requests allowed in flight now (adaptive concurrency).
    #[serde(default)]
    pub concurrency: usize,
    /// Answers over the last minute that said the cluster is busy (429s, whole or item-level).
    #[serde(default)]
    pub rejections_per_min: u64,
    /// The committed offset.
    pub committed_offset: u64,
    /// Bulk requests in flight (including ones waiting to retry).
    pub in_flight: usize,
    /// Indexing rate over the last seconds.
    pub docs_per_sec: f64,
    /// Rate at which the source is done (committed bytes) over the last seconds.
    pub bytes_per_sec: f64,
    /// Estimated time left, when the size and a rate are known.
    pub eta_ms: Option<u64>,
    /// The latest notable condition in words ("the cluster is busy, slowing down ...").
    pub note: Option<String>,
}

/// Rates over a sliding window of samples.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window_ms: u64,
    samples: VecDeque<(u64, u64, u64)>,
}

impl RateMeter {
    /// A meter averaging over `window_ms`.
    pub fn new(window_ms: u64) -> Self {
        RateMeter {
            window_ms: window_ms.max(1),
            samples: VecDeque::new(),
        }
    }

    /// Records the totals at `now_ms`; returns (docs/s, bytes/s) over the window.
    pub fn sample(&mut self, now_ms: u64, docs: u64, bytes: u64) -> (f64, f64) {
        // Until the first bytes are done the time is start-up (the probe, the first batch's round trip), not the
        // pace of the import: keep only the last such sample, or the first rates (and the time left) are far off.
        if self.samples.back().is_some_and(|&(_, d, b)| (d, b) == (docs, bytes))
            && self.samples.front().is_some_and(|&(_, d, b)| (d, b) == (docs, bytes))
        {
            self.samples.clear();
        }
        self.samples.push_back((now_ms, docs, bytes));
        while self.samples.len() > 2 && self.samples[0].0 + self.window_ms < now_ms {
            self.samples.pop_front();
        }
        let (t0, d0, b0) = self.samples[0];
        let elapsed_ms = now_ms.saturating_sub(t0);
        if elapsed_ms == 0 {
            return (0.0, 0.0);
        }
        let seconds = elapsed_ms as f64 / 1000.0;
        (
            docs.saturating_sub(d0) as f64 / seconds,
            bytes.saturating_sub(b0) as f64 / seconds,
        )
    }
}

/// Time left at `bytes_per_sec` for the bytes not read yet.
pub fn eta_ms(bytes_read: u64, total: Option<u64>, bytes_per_sec: f64) -> Option<u64> {
    let total = total?;
    if bytes_per_sec <= 0.0 {
        return None;
    }
    Some((total.saturating_sub(bytes_read) as f64 / bytes_per_sec * 1000.0) as u64)
}

/// A duration for people: `42 s`, `3 min 05 s`, `1 h 02 min`.
pub fn human_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {:02} s", seconds / 60, seconds % 60),
        _ => format!("{} h {:02} min", seconds / 3600, seconds / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_window() {
        let mut meter = RateMeter::new(10_000);
        assert_eq!(meter.sample(0, 0, 0), (0.0, 0.0));
        assert_eq!(meter.sample(1000, 100, 1_000_000), (100.0, 1_000_000.0));
        let (docs, _) = meter.sample(2000, 300, 2_000_000);
        assert_eq!(docs, 150.0);
        // Old samples leave the window: only the last 10 s count.
        meter.sample(20_000, 300, 2_000_000);
        let (docs, _) = meter.sample(21_000, 1300, 2_000_000);
        assert_eq!(docs, 1000.0);
        assert_eq!(eta_ms(500, Some(1500), 100.0), Some(10_000));
        assert_eq!(eta_ms(500, None, 100.0), None);
    }

    #[test]
    fn start_up_time_does_not_slow_the_first_rates() {
        let mut meter = RateMeter::new(10_000);
        // Four seconds before the first batch is done, then 10 MB/s.
        for t in 0..=4 {
            meter.sample(t * 1000, 0, 0);
        }
        let (_, bytes) = meter.sample(5000, 1000, 10_000_000);
        assert_eq!(bytes, 10_000_000.0);
        // Once moving, a stall counts: the rate falls.
        meter.sample(6000, 1000, 10_000_000);
        let (_, bytes) = meter.sample(7000, 1000, 10_000_000);
        assert_eq!(bytes, 10_000_000.0 / 3.0);
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human_duration(42_000), "42 s");
        assert_eq!(human_duration(185_000), "3 min 05 s");
        assert_eq!(human_duration(3_725_000), "1 h 02 min");
    }
}
