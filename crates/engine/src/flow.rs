//! How many bulk requests to keep in flight: additive increase, multiplicative decrease (AIMD, as TCP and
//! opensearch-spark's adaptive rate limiting do), between 1 and the tuning's maximum.
//!
//! A cluster with `T` write threads and a queue of `Q` answers at its service time while at most `T` requests are in
//! flight, slower as the queue fills, and 429 (`rejected_execution_exception`) past `T + Q`. So the controller starts
//! low and adds about one request per round trip while answers come back fast and healthy; it stops growing when
//! their latency rises well above the fastest seen (requests are queueing: more would only wait), and cuts at most
//! once per round trip, since answers to requests sent before a cut still carry the old load. How much it cuts
//! depends on what the signal says: a first 429 (whole-request or item-level) after a calm spell says the window
//! just passed the cluster's room, so one request fewer is enough (a multiplicative cut there leaves threads idle
//! until it grows back: a quarter of the capacity of a cluster with no queue); 429s that go on after a cut, a
//! latency far above the baseline, or the first rejection of the slow start (which overshoots by up to twice)
//! say the room is much smaller, and the window is cut by a factor. A queue forming during the slow start (latency
//! up by half) halves the window for the same reason: the answers that show it were sent a round trip ago, when the
//! window was half what it is now.

use serde::{Deserialize, Serialize};

/// Fixed or adaptive concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyMode {
    /// Start low and adapt to the cluster, never above the maximum (default).
    #[default]
    Adaptive,
    /// Always the maximum (the behaviour before flow control; for comparisons).
    Fixed,
}

/// What one answer said about the cluster's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Answered, nothing rejected for load.
    Healthy,
    /// 429 for the whole request or for some items: the cluster's queue is full.
    Busy,
}

/// Latency above this many times the fastest seen means requests are queueing: stop growing.
const QUEUEING: f64 = 1.5;
/// Latency above this many times the fastest seen means the queue is long: cut as on a 429.
const OVERLOADED: f64 = 3.0;
/// The factor of a cut.
const CUT: f64 = 0.7;
/// A rejection within this many round trips of the last cut means the cut was not enough.
const PERSISTING: f64 = 4.0;
/// Near the window last rejected (from this share of it), growth is PROBE times slower.
const BAND: f64 = 0.85;
/// How much slower.
const PROBE: f64 = 16.0;

/// The controller. Call [`FlowControl::on_answer`] for each answer, read [`FlowControl::limit`] before sending.
#[derive(Debug, Clone)]
pub struct FlowControl {
    mode: ConcurrencyMode,
    max: f64,
    window: f64,
    /// The fastest answer seen recently (slowly forgotten, so a cluster that got slower is learnt again).
    baseline_ms: Option<f64>,
    /// When the last cut happened, and the latency then: one cut per round trip.
    last_cut_ms: Option<u64>,
    smoothed_ms: Option<f64>,
    /// The window at the last rejection: growth slows near it, so the cluster's limit is probed rarely.
    ceiling: Option<f64>,
    /// Until the first sign of load, one more request per answer (TCP's slow start): the window doubles each
    /// round trip instead of growing by one.
    slow_start: bool,
}

impl FlowControl {
    /// A controller allowing at most `max` requests in flight.
    pub fn new(mode: ConcurrencyMode, max: usize) -> Self {
        let max = max.max(1) as f64;
        FlowControl {
            mode,
            max,
            window: match mode {
                ConcurrencyMode::Adaptive => max.min(2.0),
                ConcurrencyMode::Fixed => max,
            },
            baseline_ms: None,
            last_cut_ms: None,
            smoothed_ms: None,
            ceiling: None,
            slow_start: true,
        }
    }

    fn cut(&mut self, now_ms: u64) {
        self.cut_to(self.window * CUT, now_ms);
    }

    fn cut_to(&mut self, window: f64, now_ms: u64) {
        self.slow_start = false;
        self.window = window.max(1.0);
        self.last_cut_ms = Some(now_ms);
    }

    fn round_trip_ms(&self) -> f64 {
        self.smoothed_ms.unwrap_or(0.0).max(1.0)
    }

    /// True when the last cut was less than `round_trips` round trips before `now_ms`.
    fn cut_within(&self, round_trips: f64, now_ms: u64) -> bool {
        self.last_cut_ms
            .is_some_and(|at| (now_ms.saturating_sub(at) as f64) < round_trips * self.round_trip_ms())
    }

    /// A 429: one request fewer when it is the first after a calm spell, else a cut by a factor.
    fn on_rejection(&mut self, now_ms: u64) {
        if self.cut_within(1.0, now_ms) {
            return;
        }
        self.ceiling = Some(self.window);
        let persisting = self.cut_within(PERSISTING, now_ms);
        let window = if self.slow_start {
            self.window / 2.0
        } else if persisting {
            self.window * CUT
        } else {
            (self.window.floor() - 1.0).max(self.window * CUT)
        };
        self.cut_to(window, now_ms);
    }

    /// Requests that may be in flight now (1 to the maximum).
    pub fn limit(&self) -> usize {
        (self.window.floor() as usize).clamp(1, self.max as usize)
    }

    /// Takes in one answer: its load signal, how long it took, and when it arrived.
    pub fn on_answer(&mut self, load: Load, latency_ms: u64, now_ms: u64) {
        if self.mode == ConcurrencyMode::Fixed {
            return;
        }
        if load == Load::Busy {
            // A rejection is answered fast: its latency says nothing about the cluster's service time.
            self.on_rejection(now_ms);
            return;
        }
        let latency = latency_ms.max(1) as f64;
        let smoothed = match self.smoothed_ms {
            Some(previous) => previous * 0.8 + latency * 0.2,
            None => latency,
        };
        self.smoothed_ms = Some(smoothed);
        // The baseline creeps up by 1 % per answer, so a lasting change of the cluster's speed is learnt.
        let baseline = self.baseline_ms.map_or(latency, |b| latency.min(b * 1.01));
        self.baseline_ms = Some(baseline);
        // Latency counts as high when this answer's is as well as the average, so that one slow answer (the first,
        // which connected and shook hands) does not hold the window while the average forgets it.
        let slower_than = |factor: f64| smoothed > baseline * factor && latency > baseline * factor;
        if self.slow_start && slower_than(QUEUEING) {
            // A queue has formed. Its latency shows a round trip late, and the slow start doubled the window in that
            // round trip: half of it is what built the queue.
            self.cut_to(self.window / 2.0, now_ms);
            return;
        }
        if slower_than(OVERLOADED) {
            if !self.cut_within(1.0, now_ms) {
                self.cut(now_ms);
            }
            return;
        }
        if slower_than(QUEUEING) {
            // Requests are queueing: more in flight would only wait.
            return;
        }
        if self.slow_start {
            self.window = (self.window + 1.0).min(self.max);
            return;
        }
        {
            // About one more request per round trip (each of `window` answers adds 1 / window); near the window
            // that was last rejected, one per PROBE round trips.
            let window = match self.ceiling {
                // Past the window last rejected: the cluster takes more now; grow as usual.
                Some(ceiling) if self.window > ceiling => {
                    self.ceiling = None;
                    self.window + 1.0 / self.window
                }
                Some(ceiling) if self.window >= ceiling * BAND => self.window + 1.0 / (PROBE * self.window),
                Some(ceiling) => (self.window + 1.0 / self.window).min(ceiling * BAND),
                None => self.window + 1.0 / self.window,
            };
            self.window = window.min(self.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One round trip against a cluster with `threads` workers (`service_ms` each) and a queue of `queue`, with
    /// `in_flight` requests out: those past `threads + queue` are rejected, the others take one service time per
    /// wave of `threads`. Returns (accepted, rejected).
    fn round(flow: &mut FlowControl, now: &mut u64, threads: usize, queue: usize) -> (usize, usize) {
        let in_flight = flow.limit();
        let accepted = in_flight.min(threads + queue);
        let latency = 100 * accepted.div_ceil(threads) as u64;
        for n in 0..in_flight {
            *now += latency / in_flight as u64;
            if n < accepted {
                flow.on_answer(Load::Healthy, latency, *now);
            } else {
                flow.on_answer(Load::Busy, 2, *now);
            }
        }
        (accepted, in_flight - accepted)
    }

    #[test]
    fn converges_near_the_clusters_capacity_with_few_rejections_and_never_exceeds_the_maximum() {
        for (max, threads, queue) in [
            (16, 4, 0),
            (16, 4, 2),
            (16, 4, 8),
            (4, 4, 2),
            (16, 8, 8),
            (3, 8, 0),
            (16, 2, 0),
        ] {
            let mut flow = FlowControl::new(ConcurrencyMode::Adaptive, max);
            let mut now = 0;
            let (mut busy_threads, mut sent, mut rejected, mut rounds) = (0.0, 0, 0, 0);
            for r in 0..600 {
                let limit_before = flow.limit();
                assert!((1..=max).contains(&limit_before));
                let (accepted, refused) = round(&mut flow, &mut now, threads, queue);
                if r >= 100 {
                    rounds += 1;
                    busy_threads += accepted.min(threads) as f64 / threads.min(max) as f64;
                    sent += accepted + refused;
                    rejected += refused;
                }
            }
            let goodput = busy_threads / rounds as f64;
            let rejected_share = rejected as f64 / sent as f64;
            assert!(
                goodput >= 0.9,
                "max {max}, T {threads}, Q {queue}: goodput {goodput:.2}"
            );
            assert!(
                rejected_share <= 0.05,
                "max {max}, T {threads}, Q {queue}: {rejected_share:.3} rejected"
            );
        }
    }

    #[test]
    fn recovers_after_a_burst_of_rejections() {
        let mut flow = FlowControl::new(ConcurrencyMode::Adaptive, 16);
        let mut now = 0;
        for _ in 0..200 {
            now += 10;
            flow.on_answer(Load::Healthy, 100, now);
        }
        let before = flow.limit();
        assert!(before >= 8, "{before}");
        for _ in 0..50 {
            now += 200;
            flow.on_answer(Load::Busy, 5, now);
        }
        assert_eq!(flow.limit(), 1, "cut to one, never below");
        for _ in 0..400 {
            now += 10;
            flow.on_answer(Load::Healthy, 100, now);
        }
        assert!(flow.limit() >= before, "grows back: {}", flow.limit());
    }

    #[test]
    fn cuts_once_per_round_trip_and_fixed_mode_never_moves() {
        let mut flow = FlowControl::new(ConcurrencyMode::Adaptive, 16);
        for i in 0..100 {
            flow.on_answer(Load::Healthy, 100, i * 10);
        }
        let grown = flow.window;
        for i in 0..5 {
            flow.on_answer(Load::Busy, 100, 1000 + i);
        }
        assert!(
            (flow.window - grown / 2.0).abs() < 1e-9,
            "one cut for answers of one round trip, by half when it ends the slow start"
        );
        let mut fixed = FlowControl::new(ConcurrencyMode::Fixed, 16);
        fixed.on_answer(Load::Busy, 5, 1);
        assert_eq!(fixed.limit(), 16);
        assert_eq!(FlowControl::new(ConcurrencyMode::Adaptive, 16).limit(), 2, "starts low");
    }

    #[test]
    fn a_queue_forming_in_the_slow_start_halves_the_window_but_one_slow_first_answer_does_not() {
        let mut flow = FlowControl::new(ConcurrencyMode::Adaptive, 16);
        // A first answer slowed by connecting, then fast ones: the slow start goes on.
        flow.on_answer(Load::Healthy, 400, 0);
        for i in 1..=6 {
            flow.on_answer(Load::Healthy, 100, i * 10);
        }
        assert!(flow.slow_start, "{flow:?}");
        assert_eq!(flow.limit(), 9);

        let mut flow = FlowControl::new(ConcurrencyMode::Adaptive, 16);
        for i in 1..=6 {
            flow.on_answer(Load::Healthy, 100, i * 10);
        }
        // Answers twice as slow: requests queue behind the cluster's threads. The average shows it a few answers
        // late, after the slow start grew the window further.
        let mut now = 100;
        let mut before = flow.window;
        for _ in 0..20 {
            before = flow.window;
            now += 10;
            flow.on_answer(Load::Healthy, 200, now);
            if !flow.slow_start {
                break;
            }
        }
        assert!(!flow.slow_start, "a queue ends the slow start: {flow:?}");
        assert!(before > 8.0, "grew until the average rose: {before}");
        assert_eq!(flow.window, before / 2.0, "{flow:?}");
    }

    #[test]
    fn a_first_rejection_after_a_calm_spell_costs_one_request_and_lasting_ones_a_factor() {
        let mut flow = FlowControl::new(ConcurrencyMode::Adaptive, 16);
        let mut now = 0;
        let healthy = |flow: &mut FlowControl, now: &mut u64, answers: usize| {
            for _ in 0..answers {
                *now += 100;
                flow.on_answer(Load::Healthy, 100, *now);
            }
        };
        // Out of the slow start at 8 (its cut halves), then calm at about 8 for many round trips.
        healthy(&mut flow, &mut now, 6);
        now += 100;
        flow.on_answer(Load::Busy, 2, now);
        healthy(&mut flow, &mut now, 200);
        let calm = flow.window;
        now += 100;
        flow.on_answer(Load::Busy, 2, now);
        assert_eq!(flow.window, calm.floor() - 1.0, "one fewer after a calm spell");
        // Rejected again within a few round trips: the cluster has far less room; cut by the factor.
        now += 250;
        let before = flow.window;
        flow.on_answer(Load::Busy, 2, now);
        assert!(
            (flow.window - before * CUT).abs() < 1e-9,
            "{} after {before}",
            flow.window
        );
    }
}
