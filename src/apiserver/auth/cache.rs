//! A bounded cache whose entries expire: decisions of TokenReview and SubjectAccessReview are
//! reused for a short time (kube's defaults: 10 s) so that a busy client costs one review per
//! TTL, not one per request. Bounded so that a flood of distinct tokens cannot grow memory.
//! Misses are single-flight: concurrent requests with the same key wait for one review instead
//! of each sending their own (a client opening 50 connections at once costs one TokenReview).

use std::future::Future;
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

    /// The cached value for `key`, else the one `fetch` produces, stored for `ttl_of(value)`.
    /// Concurrent callers with the same key wait for the first one's fetch; when it fails
    /// (nothing cached), the next waiter fetches in turn.
    pub async fn get_or_fetch<E, Fut>(
        &self,
        key: &K,
        ttl_of: impl Fn(&V) -> Duration,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        loop {
            match self.entries.get_value_or_guard_async(key).await {
                Ok((value, expires)) if Instant::now() < expires => return Ok(value),
                // Expired: drop it and race for the placeholder again.
                Ok(_) => {
                    self.entries.remove(key);
                }
                Err(guard) => {
                    // On error the guard drops unfilled, which hands the miss to a waiter.
                    let value = fetch().await?;
                    let ttl = ttl_of(&value);
                    if !ttl.is_zero() {
                        let _ = guard.insert((value.clone(), Instant::now() + ttl));
                    }
                    return Ok(value);
                }
            }
        }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_fetch_once_and_failures_are_not_cached() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = Arc::new(TtlCache::new(8));
        let fetches = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (cache, fetches) = (cache.clone(), fetches.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fetch(
                            &"token",
                            |_| Duration::from_secs(60),
                            || async {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Ok::<_, ()>(7)
                            },
                        )
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.expect("caller"), Ok(7));
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "one review for 50 callers"
        );

        let failed: Result<i32, &str> = cache
            .get_or_fetch(
                &"other",
                |_| Duration::from_secs(60),
                || async { Err("down") },
            )
            .await;
        assert_eq!(failed, Err("down"));
        let retried: Result<i32, &str> = cache
            .get_or_fetch(&"other", |_| Duration::from_secs(60), || async { Ok(8) })
            .await;
        assert_eq!(retried, Ok(8), "a failure is not cached");
        let zero_ttl: Result<i32, ()> = cache
            .get_or_fetch(&"uncached", |_| Duration::ZERO, || async { Ok(9) })
            .await;
        assert_eq!(zero_ttl, Ok(9));
        assert_eq!(cache.get(&"uncached"), None, "a zero TTL stores nothing");
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
