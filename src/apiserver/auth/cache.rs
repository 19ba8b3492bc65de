//! A bounded cache whose entries expire: decisions of TokenReview and SubjectAccessReview are
//! reused for a short time (kube's defaults: 10 s) so that a busy client costs one review per
//! TTL, not one per request. Bounded so that a flood of distinct tokens cannot grow memory.

use std::hash::Hash;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    entries: quick_cache::sync::Cache<K, (V, Instant)>,
}

impl<K, V> TtlCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// The value stored for `key` unless it expired.
    pub fn get(&self, key: &K) -> Option<V> {
        let (value, expires) = self.entries.get(key)?;
        if Instant::now() < expires {
            Some(value)
        } else {
            self.entries.remove(key);
            None
        }
    }

    /// Stores `value` for `ttl`; a zero TTL stores nothing (caching disabled).
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        self.entries.insert(key, (value, Instant::now() + ttl));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_zero_ttl_disables() {
        let cache = TtlCache::new(8);
        cache.insert("a", 1, Duration::from_millis(30));
        cache.insert("b", 2, Duration::ZERO);
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"b"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = TtlCache::new(16);
        for i in 0..1000 {
            cache.insert(i, i, Duration::from_secs(60));
        }
        assert!(cache.len() <= 32, "{} entries", cache.len());
    }
}
