//! `MemoryStorage`: the embedded default backend. One mutex guards the map, the revision
//! counter, the change history and the watcher list, so every write is linearizable and each
//! watcher sees changes in revision order. Nothing awaits under the lock.
//!
//! Past revisions are served by undoing retained changes on a copy of the requested range
//! (lists for pagination) or by replaying them (watches). Watchers get bounded channels; a
//! watcher whose channel is full is dropped with `StorageError::TooSlow` instead of blocking
//! writers, like kube-apiserver terminates watchers that cannot keep up.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    Change, ChangeKind, Key, ListPage, ListRequest, Prefix, Revision, Storage, StorageError,
    StoredObject, Versioned, WatchItem, WatchStream,
};

/// Changes kept for watch resumption and paginated lists, like kube's watch cache capacity.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Bytes the history's values may hold (`StoredObject::held_bytes`: JSON text and attributes;
/// whichever bound is hit first evicts the oldest change).
pub const DEFAULT_HISTORY_BYTES: u64 = 64 * 1024 * 1024;
/// Largest object stored, as JSON: etcd's default request limit (`--max-request-bytes`,
/// 1.5 MiB = 1,572,864) less 2 KiB. etcd counts the whole write against its limit, not only
/// the value: an update transaction carries the key three times (guard, put, and the read on
/// failure) plus framing, inside etcd's raft envelope: 1,221 bytes with the longest key under
/// the default `--etcd-prefix` (docs/storage.md; pinned by a test in `storage::etcd`). The
/// rest of the 2 KiB covers an etcd user name and a longer prefix. The memory backend keeps
/// the same limit, so what one backend accepts the other does.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = ETCD_DEFAULT_MAX_REQUEST_BYTES - 2 * 1024;
/// etcd's default `--max-request-bytes`.
pub const ETCD_DEFAULT_MAX_REQUEST_BYTES: u64 = 1_572_864;
/// Events buffered per watcher before it counts as too slow.
pub const DEFAULT_WATCH_BUFFER: usize = 1_000;

pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
}

struct State {
    revision: Revision,
    objects: BTreeMap<Key, Arc<StoredObject>>,
    /// Each retained change with the bytes its value holds (`StoredObject::held_bytes`).
    history: VecDeque<(Arc<Change>, u64)>,
    history_limit: usize,
    history_bytes: u64,
    history_bytes_limit: u64,
    max_object_bytes: u64,
    /// Highest revision whose change left the history; revisions below it cannot be served.
    compacted: Revision,
    watchers: Vec<Watcher>,
    next_watcher: u64,
    watch_buffer: usize,
}

struct Watcher {
    id: u64,
    prefix: Prefix,
    tx: mpsc::Sender<WatchItem>,
    overflowed: Arc<AtomicBool>,
}

/// Bounds of a `MemoryStorage`.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Changes retained for watches and paginated lists (at least 1).
    pub history_events: usize,
    /// Bytes the values the history retains may hold (JSON text and attributes).
    pub history_bytes: u64,
    /// Events queued per watcher before it is dropped as too slow (at least 1).
    pub watch_buffer: usize,
    /// Largest object accepted, in JSON bytes.
    pub max_object_bytes: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            history_events: DEFAULT_HISTORY,
            history_bytes: DEFAULT_HISTORY_BYTES,
            watch_buffer: DEFAULT_WATCH_BUFFER,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
        }
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_HISTORY, DEFAULT_WATCH_BUFFER)
    }

    /// `history`: changes retained (at least 1); `watch_buffer`: events queued per watcher
    /// (at least 1).
    pub fn with_limits(history: usize, watch_buffer: usize) -> Self {
        Self::with_config(MemoryConfig {
            history_events: history,
            watch_buffer,
            ..MemoryConfig::default()
        })
    }

    pub fn with_config(config: MemoryConfig) -> Self {
        let (history, watch_buffer) = (config.history_events, config.watch_buffer);
        MemoryStorage {
            state: Arc::new(Mutex::new(State {
                revision: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_limit: history.max(1),
                history_bytes: 0,
                history_bytes_limit: config.history_bytes,
                max_object_bytes: config.max_object_bytes,
                compacted: 0,
                watchers: Vec::new(),
                next_watcher: 0,
                watch_buffer: watch_buffer.max(1),
            })),
        }
    }

    /// Forgets the history up to and including `revision`, like etcd's compaction: lists at
    /// and watches from older revisions then fail with `Expired`.
    pub fn compact(&self, revision: Revision) {
        let mut state = self.lock();
        while state
            .history
            .front()
            .is_some_and(|(c, _)| c.revision <= revision)
        {
            if let Some((_, bytes)) = state.history.pop_front() {
                state.history_bytes -= bytes;
            }
        }
        state.compacted = state.compacted.max(revision.min(state.revision));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // ---- replication: a MemoryStorage as a mirror of another store (the watch cache) ------

    /// The revision of the last applied write (or progress, for a mirror).
    pub fn revision(&self) -> Revision {
        self.lock().revision
    }

    /// Replaces the content with `items` as of `revision` and forgets the history: lists at
    /// older revisions and watches from before it are `Expired` here.
    pub fn replicate_reset(&self, items: Vec<Versioned>, revision: Revision) {
        let mut state = self.lock();
        state.objects = items.into_iter().map(|v| (v.key, v.value)).collect();
        state.history.clear();
        state.history_bytes = 0;
        state.revision = revision;
        state.compacted = revision;
    }

    /// Applies a change made at `change.revision` by the mirrored store and fans it out.
    pub fn replicate(&self, change: Change) {
        let bytes = change.value.held_bytes();
        let mut state = self.lock();
        if change.revision <= state.revision {
            return;
        }
        state.revision = change.revision;
        match change.kind {
            ChangeKind::Created | ChangeKind::Updated => {
                state
                    .objects
                    .insert(change.key.clone(), change.value.clone());
            }
            ChangeKind::Deleted => {
                state.objects.remove(&change.key);
            }
        }
        state.record(change, bytes);
    }

    /// The mirrored store has delivered every change up to `revision`.
    pub fn replicate_progress(&self, revision: Revision) {
        let mut state = self.lock();
        state.revision = state.revision.max(revision);
    }

    /// Ends every watch with `error` (the mirror lost continuity and will be reset).
    pub fn terminate_watchers(&self, error: StorageError) {
        let mut state = self.lock();
        for w in state.watchers.drain(..) {
            if w.tx.try_send(WatchItem::Error(error.clone())).is_err() {
                w.overflowed.store(true, Ordering::Release);
            }
        }
    }
}

/// No code panics while holding the lock, so a poisoned mutex still guards consistent data.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

use super::unstamped::Unstamped;
use super::unstamped::stamp;

fn revision_of(value: &StoredObject) -> Revision {
    value.attrs().resource_version().unwrap_or(0)
}

impl State {
    fn check_size(&self, key: &Key, bytes: u64) -> Result<(), StorageError> {
        if bytes > self.max_object_bytes {
            return Err(StorageError::TooLarge {
                key: key.clone(),
                size: bytes,
                limit: self.max_object_bytes,
            });
        }
        Ok(())
    }

    fn check_expected(&self, key: &Key, expected: Option<Revision>) -> Result<(), StorageError> {
        let current = self
            .objects
            .get(key)
            .ok_or_else(|| StorageError::NotFound(key.clone()))?;
        match expected {
            Some(expected) if revision_of(current) != expected => Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: revision_of(current),
            }),
            _ => Ok(()),
        }
    }

    fn oldest_servable(&self) -> Revision {
        self.compacted
    }

    /// Records one write of `key` (create, update or delete) at `revision` for history and
    /// watchers, and returns what the writer answers: the one tail of every write.
    fn record_write(
        &mut self,
        kind: ChangeKind,
        key: &Key,
        value: Arc<StoredObject>,
        prev: Option<Arc<StoredObject>>,
        revision: Revision,
    ) -> Versioned {
        let bytes = value.held_bytes();
        let change = Change {
            kind,
            key: key.clone(),
            value: value.clone(),
            prev,
            revision,
        };
        self.record(change, bytes);
        Versioned {
            key: key.clone(),
            value,
            revision,
        }
    }

    fn record(&mut self, change: Change, bytes: u64) {
        let change = Arc::new(change);
        self.history.push_back((change.clone(), bytes));
        self.history_bytes += bytes;
        while self.history.len() > self.history_limit
            || (self.history_bytes > self.history_bytes_limit && !self.history.is_empty())
        {
            if let Some((dropped, dropped_bytes)) = self.history.pop_front() {
                self.compacted = dropped.revision;
                self.history_bytes -= dropped_bytes;
            }
        }
        self.watchers.retain(|w| {
            if !w.prefix.contains(&change.key) {
                return !w.tx.is_closed();
            }
            match w.tx.try_send(WatchItem::Change(change.clone())) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    w.overflowed.store(true, Ordering::Release);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// The current entries of `request`'s range, in key order.
    fn current_range<'s>(
        &'s self,
        request: &'s ListRequest,
    ) -> impl Iterator<Item = (&'s Key, &'s Arc<StoredObject>)> + 's {
        let lower = match &request.start_after {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Included(Key(request.prefix.as_str().to_string())),
        };
        self.objects
            .range((lower, Bound::Unbounded))
            .take_while(|(key, _)| request.prefix.contains(key))
    }

    fn page(&self, request: &ListRequest, revision: Revision) -> Result<ListPage, StorageError> {
        let limit = request.limit.unwrap_or(usize::MAX);
        let versioned = |(key, value): (Key, Arc<StoredObject>)| Versioned {
            revision: revision_of(&value),
            key,
            value,
        };
        if revision == self.revision {
            // The present needs no undo: copy only the page and count the rest.
            let mut range = self.current_range(request);
            let items: Vec<Versioned> = range
                .by_ref()
                .take(limit)
                .map(|(k, v)| versioned((k.clone(), v.clone())))
                .collect();
            let remaining = range.count() as u64;
            return Ok(ListPage {
                items,
                revision,
                remaining,
            });
        }
        let range = self.snapshot(request, revision)?;
        let total = range.len();
        let take = limit.min(total);
        let items = range.into_iter().take(take).map(versioned).collect();
        Ok(ListPage {
            items,
            revision,
            remaining: (total - take) as u64,
        })
    }

    /// The keys of `request`'s range as they were at `revision`.
    fn snapshot(
        &self,
        request: &ListRequest,
        revision: Revision,
    ) -> Result<BTreeMap<Key, Arc<StoredObject>>, StorageError> {
        let in_range = |key: &Key| {
            request.prefix.contains(key)
                && request.start_after.as_ref().is_none_or(|start| key > start)
        };
        let mut range: BTreeMap<Key, Arc<StoredObject>> = self
            .current_range(request)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if revision < self.revision {
            if revision < self.oldest_servable() {
                return Err(StorageError::Expired {
                    requested: revision,
                    oldest: self.oldest_servable(),
                });
            }
            // Undo the newer changes, newest first.
            for (change, _) in self.history.iter().rev() {
                if change.revision <= revision {
                    break;
                }
                if !in_range(&change.key) {
                    continue;
                }
                match (&change.kind, &change.prev) {
                    (ChangeKind::Created, _) => {
                        range.remove(&change.key);
                    }
                    (_, Some(prev)) => {
                        range.insert(change.key.clone(), prev.clone());
                    }
                    (_, None) => {
                        return Err(StorageError::Internal(format!(
                            "change {} of {} lacks its previous value",
                            change.revision, change.key
                        )));
                    }
                }
            }
        }
        Ok(range)
    }
}

impl Storage for MemoryStorage {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        let state = self.lock();
        let found = state.objects.get(key).map(|value| Versioned {
            key: key.clone(),
            value: value.clone(),
            revision: revision_of(value),
        });
        drop(state);
        futures::future::ready(Ok(found)).boxed()
    }

    fn list(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>> {
        let state = self.lock();
        let revision = match request.revision {
            // A revision from the future reads the present: it is "not older than" asked.
            Some(rv) if rv < state.revision => rv,
            _ => state.revision,
        };
        let result = state.page(&request, revision);
        drop(state);
        futures::future::ready(result).boxed()
    }

    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        // Serialized once, outside the lock; stamping under it only copies the bytes.
        let unstamped = Unstamped::encode(&value);
        drop(value);
        let mut state = self.lock();
        let result = if let Err(e) = state.check_size(key, unstamped.given_len()) {
            Err(e)
        } else if state.objects.contains_key(key) {
            Err(StorageError::AlreadyExists(key.clone()))
        } else {
            let revision = state.revision + 1;
            state.revision = revision;
            let value = Arc::new(unstamped.stamp(revision));
            state.objects.insert(key.clone(), value.clone());
            Ok(state.record_write(ChangeKind::Created, key, value, None, revision))
        };
        drop(state);
        futures::future::ready(result).boxed()
    }

    fn update<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        // Serialized once, outside the lock; stamping under it only copies the bytes.
        let unstamped = Unstamped::encode(&value);
        drop(value);
        let mut state = self.lock();
        let checked = state
            .check_size(key, unstamped.given_len())
            .and_then(|()| state.check_expected(key, expected));
        let result = checked.map(|()| {
            let revision = state.revision + 1;
            state.revision = revision;
            let value = Arc::new(unstamped.stamp(revision));
            let prev = state.objects.insert(key.clone(), value.clone());
            state.record_write(ChangeKind::Updated, key, value, prev, revision)
        });
        drop(state);
        futures::future::ready(result).boxed()
    }

    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        let mut state = self.lock();
        let result = state.check_expected(key, expected).and_then(|()| {
            let last = state
                .objects
                .get(key)
                .ok_or_else(|| StorageError::NotFound(key.clone()))?
                .to_value()
                .map_err(|e| StorageError::Internal(e.to_string()))?;
            let prev = state
                .objects
                .remove(key)
                .ok_or_else(|| StorageError::NotFound(key.clone()))?;
            let revision = state.revision + 1;
            state.revision = revision;
            // The last value re-stamped with the deletion revision: a new revision's bytes.
            let value = Arc::new(StoredObject::new(stamp(last, revision)));
            Ok(state.record_write(ChangeKind::Deleted, key, value, Some(prev), revision))
        });
        drop(state);
        futures::future::ready(result).boxed()
    }

    fn watch(
        &self,
        prefix: Prefix,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StorageError>> {
        let mut state = self.lock();
        if after < state.oldest_servable() {
            let oldest = state.oldest_servable();
            drop(state);
            return futures::future::ready(Err(StorageError::Expired {
                requested: after,
                oldest,
            }))
            .boxed();
        }
        // Replay from the history directly (it may exceed the channel), then go live. Both
        // happen under the lock, so no change is missed or repeated.
        let replay: Vec<WatchItem> = state
            .history
            .iter()
            .map(|(c, _)| c)
            .filter(|c| c.revision > after && prefix.contains(&c.key))
            .map(|c| WatchItem::Change(c.clone()))
            .collect();
        let (tx, rx) = mpsc::channel(state.watch_buffer);
        let overflowed = Arc::new(AtomicBool::new(false));
        let id = state.next_watcher;
        state.next_watcher += 1;
        state.watchers.push(Watcher {
            id,
            prefix,
            tx,
            overflowed: overflowed.clone(),
        });
        drop(state);

        let weak: Weak<Mutex<State>> = Arc::downgrade(&self.state);
        let request_progress = Arc::new(move || {
            let Some(state) = weak.upgrade() else { return };
            let state = lock(&state);
            if let Some(w) = state.watchers.iter().find(|w| w.id == id) {
                // A full channel means the watcher is about to be dropped; skip the progress.
                let _ = w.tx.try_send(WatchItem::Progress(state.revision));
            }
        });
        let live = futures::stream::unfold(Some(rx), move |rx| {
            let overflowed = overflowed.clone();
            async move {
                let mut rx = rx?;
                match rx.recv().await {
                    Some(item) => Some((item, Some(rx))),
                    // The sender is gone: dropped as too slow, or the store is gone.
                    None if overflowed.load(Ordering::Acquire) => {
                        Some((WatchItem::Error(StorageError::TooSlow), None))
                    }
                    None => None,
                }
            }
        });
        // A watch from a revision the store has not reached yet skips the changes up to it.
        let live = live.filter(move |item| {
            let early = matches!(item, WatchItem::Change(c) if c.revision <= after);
            futures::future::ready(!early)
        });
        let items = futures::stream::iter(replay).chain(live).boxed();
        futures::future::ready(Ok(WatchStream {
            items,
            request_progress: Some(request_progress),
        }))
        .boxed()
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>> {
        let revision = self.lock().revision;
        futures::future::ready(Ok(revision)).boxed()
    }

    fn count(&self) -> BoxFuture<'_, u64> {
        let count = self.lock().objects.len() as u64;
        futures::future::ready(count).boxed()
    }

    fn history_bytes(&self) -> u64 {
        self.lock().history_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        Key::object("g", "things", Some("ns"), name)
    }

    fn all() -> Prefix {
        Prefix::collection("g", "things", None)
    }

    fn list(
        revision: Option<Revision>,
        start_after: Option<Key>,
        limit: Option<usize>,
    ) -> ListRequest {
        ListRequest {
            prefix: all(),
            revision,
            start_after,
            limit,
        }
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.items
            .iter()
            .map(|i| i.value.attrs().name().to_string())
            .collect()
    }

    fn obj(name: &str, v: i64) -> Value {
        json!({"metadata": {"name": name}, "v": v})
    }

    #[tokio::test]
    async fn writes_stamp_revisions_and_check_expectations() {
        let s = MemoryStorage::new();
        let a = s.create(&key("a"), obj("a", 1)).await.unwrap();
        assert_eq!(a.revision, 1);
        assert_eq!(
            a.value.to_value().unwrap()["metadata"]["resourceVersion"],
            "1"
        );
        assert_eq!(
            s.create(&key("a"), obj("a", 1)).await,
            Err(StorageError::AlreadyExists(key("a")))
        );
        let b = s.update(&key("a"), obj("a", 2), Some(1)).await.unwrap();
        assert_eq!(b.revision, 2);
        assert_eq!(
            s.update(&key("a"), obj("a", 3), Some(1)).await,
            Err(StorageError::Conflict {
                key: key("a"),
                expected: 1,
                current: 2
            })
        );
        assert!(s.update(&key("a"), obj("a", 3), None).await.is_ok());
        assert_eq!(
            s.delete(&key("a"), Some(2)).await.map(|_| ()),
            Err(StorageError::Conflict {
                key: key("a"),
                expected: 2,
                current: 3
            })
        );
        let deleted = s.delete(&key("a"), Some(3)).await.unwrap();
        assert_eq!(deleted.revision, 4);
        assert_eq!(deleted.value.to_value().unwrap()["v"], 3);
        assert_eq!(s.get(&key("a")).await.unwrap(), None);
        assert_eq!(
            s.update(&key("a"), obj("a", 1), None).await,
            Err(StorageError::NotFound(key("a")))
        );
        assert_eq!(s.current_revision().await.unwrap(), 4);
        assert_eq!(s.count().await, 0);
    }

    #[tokio::test]
    async fn lists_at_past_revisions_undo_later_changes() {
        let s = MemoryStorage::new();
        for name in ["a", "b", "c"] {
            s.create(&key(name), obj(name, 0)).await.unwrap();
        }
        // Another collection sharing a prefix string start must not leak in.
        s.create(&Key::object("g", "thingsx", Some("ns"), "z"), obj("z", 0))
            .await
            .unwrap();
        let at = s.current_revision().await.unwrap();
        s.update(&key("a"), obj("a", 1), None).await.unwrap();
        s.delete(&key("b"), None).await.unwrap();
        s.create(&key("bb"), obj("bb", 0)).await.unwrap();

        let now = s.list(list(None, None, None)).await.unwrap();
        assert_eq!(names(&now), ["a", "bb", "c"]);
        let then = s.list(list(Some(at), None, None)).await.unwrap();
        assert_eq!(then.revision, at);
        assert_eq!(names(&then), ["a", "b", "c"]);
        assert_eq!(then.items[0].value.to_value().unwrap()["v"], 0);

        let page = s.list(list(Some(at), None, Some(2))).await.unwrap();
        assert_eq!(names(&page), ["a", "b"]);
        assert_eq!(page.remaining, 1);
        let rest = s
            .list(list(Some(at), Some(key("b")), Some(2)))
            .await
            .unwrap();
        assert_eq!(names(&rest), ["c"]);
        assert_eq!(rest.remaining, 0);
    }

    #[tokio::test]
    async fn compacted_revisions_are_expired() {
        let s = MemoryStorage::with_limits(2, 10);
        for v in 0..5 {
            if v == 0 {
                s.create(&key("a"), obj("a", v)).await.unwrap();
            } else {
                s.update(&key("a"), obj("a", v), None).await.unwrap();
            }
        }
        // Revisions 4 and 5 are retained: state at 3 is servable, at 2 it is not.
        assert!(s.list(list(Some(3), None, None)).await.is_ok());
        assert_eq!(
            s.list(list(Some(2), None, None)).await.map(|_| ()),
            Err(StorageError::Expired {
                requested: 2,
                oldest: 3
            })
        );
        assert!(s.watch(all(), 3).await.is_ok());
        assert!(matches!(
            s.watch(all(), 2).await,
            Err(StorageError::Expired { .. })
        ));
    }

    #[tokio::test]
    async fn watches_replay_then_follow_and_answer_progress_requests() {
        let s = MemoryStorage::new();
        s.create(&key("a"), obj("a", 0)).await.unwrap();
        s.create(&key("b"), obj("b", 0)).await.unwrap();
        let mut w = s.watch(all(), 1).await.unwrap();
        s.update(&key("a"), obj("a", 1), None).await.unwrap();
        s.create(&Key::object("g", "other", Some("ns"), "x"), obj("x", 0))
            .await
            .unwrap();
        (w.request_progress
            .expect("memory answers progress requests"))();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(match w.items.next().await.unwrap() {
                WatchItem::Change(c) => format!("{:?} {} @{}", c.kind, c.key, c.revision),
                WatchItem::Progress(rv) => format!("progress @{rv}"),
                WatchItem::Error(e) => panic!("{e}"),
            });
        }
        // b (replayed), a's update (live), then progress at the store revision; the other
        // collection's write is not delivered.
        assert_eq!(
            seen,
            [
                "Created /g/things/ns/b @2",
                "Updated /g/things/ns/a @3",
                "progress @4"
            ]
        );
    }

    #[tokio::test]
    async fn a_full_watcher_is_dropped_with_too_slow() {
        let s = MemoryStorage::with_limits(100, 2);
        let mut w = s.watch(all(), 0).await.unwrap();
        for name in ["a", "b", "c", "d"] {
            s.create(&key(name), obj(name, 0)).await.unwrap();
        }
        assert!(matches!(w.items.next().await, Some(WatchItem::Change(_))));
        assert!(matches!(w.items.next().await, Some(WatchItem::Change(_))));
        assert!(matches!(
            w.items.next().await,
            Some(WatchItem::Error(StorageError::TooSlow))
        ));
        assert!(w.items.next().await.is_none());
        assert!(s.lock().watchers.is_empty());
    }
}
