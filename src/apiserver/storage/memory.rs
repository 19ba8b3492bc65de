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
    Versioned, WatchItem, WatchStream,
};

/// Changes kept for watch resumption and paginated lists, like kube's watch cache capacity.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Events buffered per watcher before it counts as too slow.
pub const DEFAULT_WATCH_BUFFER: usize = 1_000;

pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
}

struct State {
    revision: Revision,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
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
        MemoryStorage {
            state: Arc::new(Mutex::new(State {
                revision: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_limit: history.max(1),
                compacted: 0,
                watchers: Vec::new(),
                next_watcher: 0,
                watch_buffer: watch_buffer.max(1),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// No code panics while holding the lock, so a poisoned mutex still guards consistent data.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sets `metadata.resourceVersion`; values that are not objects are stored as given.
fn stamp(mut value: Value, revision: Revision) -> Value {
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "resourceVersion".to_string(),
                Value::String(revision.to_string()),
            );
        }
    }
    value
}

fn revision_of(value: &Value) -> Revision {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

impl State {
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

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.revision;
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

    /// The keys of `request`'s range as they were at `revision`.
    fn snapshot(
        &self,
        request: &ListRequest,
        revision: Revision,
    ) -> Result<BTreeMap<Key, Arc<Value>>, StorageError> {
        let lower = match &request.start_after {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Included(Key(request.prefix.as_str().to_string())),
        };
        let in_range = |key: &Key| {
            request.prefix.contains(key)
                && request.start_after.as_ref().is_none_or(|start| key > start)
        };
        let mut range: BTreeMap<Key, Arc<Value>> = self
            .objects
            .range((lower, Bound::Unbounded))
            .take_while(|(key, _)| request.prefix.contains(key))
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
            for change in self.history.iter().rev() {
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
        let result = state.snapshot(&request, revision).map(|range| {
            let total = range.len();
            let take = request.limit.unwrap_or(usize::MAX).min(total);
            let items = range
                .into_iter()
                .take(take)
                .map(|(key, value)| Versioned {
                    revision: revision_of(&value),
                    key,
                    value,
                })
                .collect();
            ListPage {
                items,
                revision,
                remaining: (total - take) as u64,
            }
        });
        drop(state);
        futures::future::ready(result).boxed()
    }

    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        let mut state = self.lock();
        let result = if state.objects.contains_key(key) {
            Err(StorageError::AlreadyExists(key.clone()))
        } else {
            let revision = state.revision + 1;
            state.revision = revision;
            let value = Arc::new(stamp(value, revision));
            state.objects.insert(key.clone(), value.clone());
            state.record(Change {
                kind: ChangeKind::Created,
                key: key.clone(),
                value: value.clone(),
                prev: None,
                revision,
            });
            Ok(Versioned {
                key: key.clone(),
                value,
                revision,
            })
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
        let mut state = self.lock();
        let result = state.check_expected(key, expected).map(|()| {
            let revision = state.revision + 1;
            state.revision = revision;
            let value = Arc::new(stamp(value, revision));
            let prev = state.objects.insert(key.clone(), value.clone());
            state.record(Change {
                kind: ChangeKind::Updated,
                key: key.clone(),
                value: value.clone(),
                prev,
                revision,
            });
            Versioned {
                key: key.clone(),
                value,
                revision,
            }
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
            let prev = state
                .objects
                .remove(key)
                .ok_or_else(|| StorageError::NotFound(key.clone()))?;
            let revision = state.revision + 1;
            state.revision = revision;
            let value = Arc::new(stamp((*prev).clone(), revision));
            state.record(Change {
                kind: ChangeKind::Deleted,
                key: key.clone(),
                value: value.clone(),
                prev: Some(prev),
                revision,
            });
            Ok(Versioned {
                key: key.clone(),
                value,
                revision,
            })
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
        let items = futures::stream::iter(replay).chain(live).boxed();
        futures::future::ready(Ok(WatchStream {
            items,
            request_progress,
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
}
