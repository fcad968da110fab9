//! When to try again: exponential backoff with full jitter, a cap, a maximum number of attempts, `Retry-After`.

use serde::{Deserialize, Serialize};

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The first retry waits up to this long (milliseconds).
    pub base_ms: u64,
    /// No wait is longer than this (milliseconds), except what a server's `Retry-After` asks for.
    pub cap_ms: u64,
    /// Attempts in all (the first try included) before the job stops with an error.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 250,
            cap_ms: 30_000,
            max_attempts: 10,
        }
    }
}

/// A `Retry-After` longer than this is not trusted (10 minutes).
const MAX_RETRY_AFTER_MS: u64 = 600_000;

impl RetryPolicy {
    /// The wait before attempt number `next_attempt` (2 for the first retry), or `None` when attempts are used up.
    /// `unit_random` is uniform in `[0, 1)`: full jitter spreads retries of many clients. A server's
    /// `Retry-After` is a floor.
    pub fn delay_ms(&self, next_attempt: u32, unit_random: f64, retry_after_ms: Option<u64>) -> Option<u64> {
        if next_attempt > self.max_attempts {
            return None;
        }
        let exponent = next_attempt.saturating_sub(2).min(32);
        let ceiling = self.base_ms.saturating_mul(1u64 << exponent).min(self.cap_ms);
        let jittered = (ceiling as f64 * unit_random.clamp(0.0, 1.0)) as u64;
        Some(jittered.max(retry_after_ms.unwrap_or(0).min(MAX_RETRY_AFTER_MS)))
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (IMF-fixdate). Returns milliseconds from `now_ms`.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at_ms = parse_imf_fixdate(value)?;
    Some(at_ms.saturating_sub(now_ms))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → milliseconds since the Unix epoch.
fn parse_imf_fixdate(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let seconds = days.checked_mul(86_400)? + (hour * 3600 + minute * 60 + second) as i64;
    u64::try_from(seconds).ok().map(|s| s * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_stops() {
        let policy = RetryPolicy {
            base_ms: 100,
            cap_ms: 1000,
            max_attempts: 6,
        };
        let top = |attempt| policy.delay_ms(attempt, 0.999_999, None).unwrap();
        assert_eq!([top(2), top(3), top(4), top(5), top(6)], [99, 199, 399, 799, 999]);
        assert_eq!(policy.delay_ms(7, 0.5, None), None);
        assert_eq!(policy.delay_ms(2, 0.0, None), Some(0));
        // Full jitter: anywhere between zero and the ceiling.
        assert_eq!(policy.delay_ms(4, 0.5, None), Some(200));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_ms(2, 0.1, Some(5000)), Some(5000));
        assert_eq!(policy.delay_ms(2, 0.1, Some(10_000_000)), Some(600_000));
    }

    #[test]
    fn parses_both_retry_after_forms() {
        assert_eq!(parse_retry_after(" 120 ", 0), Some(120_000));
        // RFC 9110's example date.
        let at = 784_111_777_000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 3000),
            Some(3000)
        );
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 1), Some(0));
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0), None);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
