//! Backoff per coderd: a coderd whose lists fail (down, overloaded, refusing the token) is
//! asked less often, doubling the wait after each failed round up to [`MAX_INTERVALS`] sync
//! intervals, and at the normal pace again after the first round that works. Keyed by coderd
//! URL, so namespaces whose control planes point at the same coderd share one backoff: a round
//! does not ask a coderd that just failed again for the next namespace.
//!
//! Writes through the API are not held back: they ask coderd at once and report its state
//! to the client (503 with Retry-After), which is the user's own retry loop.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest wait between two rounds of a failing coderd, in sync intervals.
pub const MAX_INTERVALS: u32 = 8;

#[derive(Debug)]
struct Failing {
    /// Failed rounds in a row.
    failures: u32,
    /// No round before this.
    next: Instant,
}

pub struct Backoff {
    interval: Duration,
    failing: Mutex<HashMap<String, Failing>>,
}

impl Backoff {
    /// Backoff in steps of the sync `interval`.
    pub fn new(interval: Duration) -> Self {
        Backoff {
            interval,
            failing: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a round may ask the coderd at `url` at `now`.
    pub fn due(&self, url: &str, now: Instant) -> bool {
        let Ok(failing) = self.failing.lock() else {
            return true;
        };
        failing.get(url).is_none_or(|f| now >= f.next)
    }

    /// A round of `url` failed at `now`; returns how long the next one waits.
    pub fn failed(&self, url: &str, now: Instant) -> Duration {
        let Ok(mut failing) = self.failing.lock() else {
            return self.interval;
        };
        let entry = failing.entry(url.to_string()).or_insert(Failing {
            failures: 0,
            next: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        // The first failure keeps the normal pace (one lost round is common: a restart, a
        // deploy); each further one doubles the wait.
        let factor = 1u32
            .checked_shl(entry.failures - 1)
            .unwrap_or(u32::MAX)
            .min(MAX_INTERVALS);
        let wait = self.interval.saturating_mul(factor);
        // Rounds start one interval apart anyway: wait for the rest.
        entry.next = now + wait.saturating_sub(self.interval);
        wait
    }

    /// A round of `url` worked: back to the normal pace.
    pub fn succeeded(&self, url: &str) {
        if let Ok(mut failing) = self.failing.lock() {
            failing.remove(url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://coder.example.com";

    #[test]
    fn failures_double_the_wait_up_to_the_cap_and_success_resets_it() {
        let backoff = Backoff::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(backoff.due(URL, t0));
        let waits: Vec<u64> = (0..6).map(|_| backoff.failed(URL, t0).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 80, 80]);
        // After the last failure the next round waits 80 s in all, 70 s beyond the interval.
        assert!(!backoff.due(URL, t0 + Duration::from_secs(69)));
        assert!(backoff.due(URL, t0 + Duration::from_secs(70)));
        backoff.succeeded(URL);
        assert!(backoff.due(URL, t0));
        assert_eq!(backoff.failed(URL, t0), Duration::from_secs(10));
    }

    #[test]
    fn each_coderd_has_its_own_backoff() {
        let backoff = Backoff::new(Duration::from_secs(1));
        let t0 = Instant::now();
        backoff.failed(URL, t0);
        backoff.failed(URL, t0);
        assert!(!backoff.due(URL, t0));
        assert!(backoff.due("https://other.example.com", t0));
    }

    #[test]
    fn the_first_failure_keeps_the_normal_pace() {
        let backoff = Backoff::new(Duration::from_secs(10));
        let t0 = Instant::now();
        backoff.failed(URL, t0);
        assert!(
            backoff.due(URL, t0),
            "one failure: the next round runs after the usual sleep"
        );
    }
}
