//! Per-object exponential backoff with jitter for failed reconciles. kube-runtime requeues with
//! whatever `error_policy` returns; this decides how long, from how often the object failed.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
    seed: RandomState,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            failures: Mutex::default(),
            seed: RandomState::new(),
        }
    }

    /// Records a failure of `key` and returns how long to wait: `base * 2^(n-1)` capped at `max`,
    /// then "equal jitter" (half fixed, half random) so objects that failed together (an API
    /// server outage) do not retry in lockstep.
    pub fn next_delay(&self, key: &str) -> Duration {
        let attempt = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let count = failures.entry(key.to_string()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let half = ceiling / 2;
        let random = self
            .seed
            .hash_one((key, attempt, std::time::Instant::now()));
        let jitter_nanos = if half.as_nanos() == 0 {
            0
        } else {
            random % (half.as_nanos() as u64).max(1)
        };
        half + Duration::from_nanos(jitter_nanos)
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    pub fn failures(&self, key: &str) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_is_capped() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = Vec::new();
        for attempt in 1..=8u32 {
            let delay = backoff.next_delay("a");
            let ceiling =
                Duration::from_millis(100 * 2u64.pow(attempt - 1)).min(Duration::from_secs(2));
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay:?}"
            );
            ceilings.push(ceiling);
        }
        assert_eq!(*ceilings.last().unwrap(), Duration::from_secs(2));
        assert_eq!(backoff.failures("a"), 8);
    }

    #[test]
    fn reset_starts_over_and_keys_are_independent() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        for _ in 0..5 {
            backoff.next_delay("a");
        }
        assert!(backoff.next_delay("b") <= Duration::from_millis(100));
        backoff.reset("a");
        assert_eq!(backoff.failures("a"), 0);
        assert!(backoff.next_delay("a") <= Duration::from_millis(100));
    }
}
