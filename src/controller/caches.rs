//! When the watch caches (reflector stores) are complete, and what waits for that. The caches
//! and the streams that fill them are shared by every kind's loop (`shared_watch`); each kind
//! keeps its own set of handles to them (for the control plane, `control_plane/caches.rs`).
//!
//! Reconciles read children from these caches: an unchanged child is not applied again, the
//! stale-RBAC sweep and the Ingress removal need no LIST or GET, and readiness means what it
//! means in controller-runtime: every cache holds a complete initial list.
//!
//! Sync is observed on the stream itself (the first `InitDone` each cache applies), not through
//! `Store::wait_until_ready`: that future wakes only the last task that polled it, so with the
//! controller's own waiter and a readiness waiter parked at once, one of them never wakes.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::sync::watch;

use super::health::Health;

/// Kinds whose caches have not synced yet. Readiness reports them; the CoderControlPlane watch
/// waits until the children's caches are complete, so no reconcile runs on a partial view
/// (which would re-apply existing children or report them as created).
#[derive(Clone)]
pub struct SyncTracker {
    pending: Arc<watch::Sender<BTreeSet<&'static str>>>,
    health: Arc<Health>,
}

impl SyncTracker {
    pub fn new(kinds: &[&'static str], health: Arc<Health>) -> Self {
        health.syncing(kinds.iter().copied());
        let (pending, _) = watch::channel(kinds.iter().copied().collect());
        Self {
            pending: Arc::new(pending),
            health,
        }
    }

    pub fn synced(&self, kind: &'static str) {
        self.pending
            .send_if_modified(|pending| pending.remove(kind));
        self.health.synced(kind);
    }

    pub fn is_synced(&self, kind: &'static str) -> bool {
        !self.pending.borrow().contains(kind)
    }

    /// Resolves once every kind but `except` has synced.
    pub async fn wait_for_all_but(&self, except: &'static str) {
        let mut pending = self.pending.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = pending
            .wait_for(|kinds| kinds.iter().all(|k| *k == except))
            .await;
    }
}

/// Starts `stream` only once `sync` has seen every other kind synced.
pub fn after_children_synced<S>(
    sync: SyncTracker,
    own_kind: &'static str,
    stream: S,
) -> impl Stream<Item = S::Item> + Send + 'static
where
    S: Stream + Send + 'static,
{
    futures::stream::once(async move {
        sync.wait_for_all_but(own_kind).await;
        stream
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tracker_releases_waiters_once_all_other_kinds_synced() {
        let health = Arc::new(Health::default());
        let sync = SyncTracker::new(&["a", "b", "own"], health.clone());
        let waiter = tokio::spawn({
            let sync = sync.clone();
            async move { sync.wait_for_all_but("own").await }
        });
        let second = tokio::spawn({
            let sync = sync.clone();
            async move { sync.wait_for_all_but("own").await }
        });
        sync.synced("a");
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        sync.synced("b");
        // Both parked waiters wake (the bug of a single-waker future would strand one).
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("first waiter woke")
            .expect("no panic");
        tokio::time::timeout(std::time::Duration::from_secs(5), second)
            .await
            .expect("second waiter woke")
            .expect("no panic");
        assert_eq!(
            health.not_ready_reason().as_deref(),
            Some("watch caches not synced: own")
        );
        sync.synced("own");
        assert!(health.is_ready());
    }
}
