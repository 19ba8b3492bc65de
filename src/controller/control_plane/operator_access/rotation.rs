//! When a minted token is replaced: once less than a third of its lifetime is left, so the
//! aggregated apiserver always holds a token with days (at the default 168h) to spare.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::coder::ApiKey;

/// The moment `key` should be replaced: a third of its lifetime before it expires. The
/// lifetime is the key's own (`expires_at - created_at`, coderd may have capped the one we
/// asked for), else `configured`.
pub fn rotation_at(key: &ApiKey, configured: Duration) -> Timestamp {
    let lifetime = key
        .created_at
        .map(|created| key.expires_at.duration_since(created))
        .filter(|lifetime| lifetime.is_positive())
        .unwrap_or_else(|| SignedDuration::try_from(configured).unwrap_or(SignedDuration::MAX));
    key.expires_at
        .checked_sub(lifetime / 3)
        .unwrap_or(key.expires_at)
}

/// How long until `at`, at least `min` (never a busy loop) and at most `max`.
pub fn until(now: Timestamp, at: Timestamp, min: Duration, max: Duration) -> Duration {
    let left = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
    left.clamp(min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(created: &str, expires: &str) -> ApiKey {
        serde_json::from_value(serde_json::json!({
            "id": "abcdefghij",
            "user_id": "a8f5c3e2-6f2b-4c5d-9d1e-1f2a3b4c5d6e",
            "created_at": created,
            "expires_at": expires,
        }))
        .unwrap()
    }

    #[test]
    fn rotation_is_due_with_a_third_of_the_lifetime_left() {
        let key = key("2026-11-30T00:00:00Z", "2026-11-30T03:00:00Z");
        let at = rotation_at(&key, Duration::from_secs(1));
        assert_eq!(at, "2026-11-30T02:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn without_created_at_the_configured_lifetime_counts() {
        let mut key = key("2026-11-30T00:00:00Z", "2026-11-30T03:00:00Z");
        key.created_at = None;
        let at = rotation_at(&key, Duration::from_secs(30 * 60));
        assert_eq!(at, "2026-11-30T02:50:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn waits_are_clamped() {
        let now: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let later: Timestamp = "2026-11-30T01:00:00Z".parse().unwrap();
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(until(now, later, min, max), max);
        assert_eq!(until(later, now, min, max), min);
        assert_eq!(
            until(now, "2026-11-30T00:00:10Z".parse().unwrap(), min, max),
            Duration::from_secs(10)
        );
    }
}
