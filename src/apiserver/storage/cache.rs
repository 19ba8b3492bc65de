//! `CachedStorage`: a watch cache in front of any backend, after kube-apiserver's cacher.
//!
//! Per resource (`/<group>/<plural>/`), on first use, a reflector lists the backend and then
//! keeps one backend watch open, applying every change to an in-memory mirror (a
//! `MemoryStorage` fed by `replicate*`). Lists and watches are served by the mirror, so any
//! number of client watches cost one backend watch and lists cost no backend round trip but the
//! revision check:
//! - a list without a revision is a consistent read: the backend's current revision is fetched
//!   and the mirror waited for (progress requests advance it when nothing changes in this
//!   resource), as kube-apiserver's consistent reads from cache do;
//! - a list at a revision is served from the mirror's history (undo), or from the backend when
//!   the mirror no longer has it;
//! - a watch replays the mirror's history, or falls back to a backend watch for older revisions.
//!
//! Gets and writes go to the backend (a get without resourceVersion is a consistent read in
//! kube too). When the mirror is not fresh within `FRESH_WAIT` the backend serves the read.
//! When the backend watch ends (compaction, outage) every cache watcher ends with that error
//! (clients relist) and the reflector relists with a backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;
use tokio::sync::Notify;

use super::memory::{MemoryConfig, MemoryStorage};
use super::{
    Key, ListPage, ListRequest, Prefix, ProgressRequester, Revision, Storage, StorageError,
    Versioned, WatchItem, WatchStream,
};

/// How long a read waits for the mirror before the backend answers it instead.
const FRESH_WAIT: Duration = Duration::from_secs(3);
/// Page size of the reflector's initial list.
const RELIST_PAGE: usize = 1_000;
const RELIST_BACKOFF: Duration = Duration::from_millis(200);

pub struct CachedStorage {
    backend: Arc<dyn Storage>,
    config: MemoryConfig,
    resources: Mutex<HashMap<String, Arc<Resource>>>,
}

/// The cache of one resource.
struct Resource {
    mirror: MemoryStorage,
    /// Set once the first list is applied; until then reads go to the backend.
    ready: std::sync::atomic::AtomicBool,
    /// Woken on every applied change or progress notification.
    advanced: Notify,
    progress: Mutex<Option<ProgressRequester>>,
    reflector: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Resource {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.reflector).take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `/<group>/<plural>/` of a key or collection prefix.
fn resource_prefix(path: &str) -> String {
    match path.match_indices('/').nth(2) {
        Some((i, _)) => path[..=i].to_string(),
        None => path.to_string(),
    }
}

impl CachedStorage {
    pub fn new(backend: Arc<dyn Storage>, config: MemoryConfig) -> Self {
        CachedStorage {
            backend,
            config,
            resources: Mutex::new(HashMap::new()),
        }
    }

    /// The cache of `prefix`'s resource, its reflector started on first use.
    fn resource(&self, prefix: &str) -> Arc<Resource> {
        let name = resource_prefix(prefix);
        let mut resources = lock(&self.resources);
        if let Some(r) = resources.get(&name) {
            return r.clone();
        }
        let resource = Arc::new(Resource {
            mirror: MemoryStorage::with_config(self.config.clone()),
            ready: Default::default(),
            advanced: Notify::new(),
            progress: Mutex::new(None),
            reflector: Mutex::new(None),
        });
        let task = tokio::spawn(reflect(
            self.backend.clone(),
            Prefix::from_raw(name.clone()),
            Arc::downgrade(&resource),
        ));
        *lock(&resource.reflector) = Some(task);
        resources.insert(name, resource.clone());
        resource
    }
}

impl Resource {
    fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until the mirror has applied everything up to `revision`; false on timeout.
    async fn wait_fresh(&self, revision: Revision) -> bool {
        let deadline = tokio::time::Instant::now() + FRESH_WAIT;
        loop {
            let notified = self.advanced.notified();
            if self.is_ready() && self.mirror.revision() >= revision {
                return true;
            }
            if self.is_ready() {
                // Ask the backend watch to report progress; the answer advances the mirror.
                // A backend without reliable progress answers serves the read itself: nothing
                // but a change in this resource would advance the mirror.
                let requester = lock(&self.progress).clone();
                match requester {
                    Some(request) => request(),
                    None => return false,
                }
            }
            let step = tokio::time::Instant::now() + Duration::from_millis(100);
            if tokio::time::timeout_at(step.min(deadline), notified)
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return false;
            }
        }
    }
}

/// The reflector: list, then follow the backend watch into the mirror; on any end, terminate
/// the cache's watchers and start over.
async fn reflect(backend: Arc<dyn Storage>, prefix: Prefix, resource: std::sync::Weak<Resource>) {
    loop {
        let error = match follow(&backend, &prefix, &resource).await {
            Ok(()) => return, // the cache is gone
            Err(e) => e,
        };
        let Some(r) = resource.upgrade() else { return };
        r.ready.store(false, std::sync::atomic::Ordering::Release);
        *lock(&r.progress) = None;
        tracing::debug!(prefix = %prefix.as_str(), error = %error, "watch cache relists");
        r.mirror.terminate_watchers(error);
        drop(r);
        tokio::time::sleep(RELIST_BACKOFF).await;
    }
}

async fn follow(
    backend: &Arc<dyn Storage>,
    prefix: &Prefix,
    resource: &std::sync::Weak<Resource>,
) -> Result<(), StorageError> {
    // The whole resource at one revision, page by page.
    let mut items = Vec::new();
    let mut revision = None;
    let mut start_after = None;
    loop {
        let page = backend
            .list(ListRequest {
                prefix: prefix.clone(),
                revision,
                start_after: start_after.clone(),
                limit: Some(RELIST_PAGE),
            })
            .await?;
        revision = Some(page.revision);
        start_after = page.items.last().map(|i| i.key.clone());
        items.extend(page.items);
        if page.remaining == 0 {
            break;
        }
    }
    let revision = revision.unwrap_or(0);
    let mut watch = backend.watch(prefix.clone(), revision).await?;
    {
        let Some(r) = resource.upgrade() else {
            return Ok(());
        };
        r.mirror.replicate_reset(items, revision);
        *lock(&r.progress) = watch.request_progress.clone();
        r.ready.store(true, std::sync::atomic::Ordering::Release);
        r.advanced.notify_waiters();
    }
    while let Some(item) = watch.items.next().await {
        let Some(r) = resource.upgrade() else {
            return Ok(());
        };
        match item {
            WatchItem::Change(change) => r.mirror.replicate((*change).clone()),
            WatchItem::Progress(revision) => r.mirror.replicate_progress(revision),
            WatchItem::Error(e) => return Err(e),
        }
        r.advanced.notify_waiters();
    }
    Err(StorageError::Unavailable(
        "the backend watch of the watch cache ended".into(),
    ))
}

impl Storage for CachedStorage {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        self.backend.get(key)
    }

    fn list(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>> {
        async move {
            let resource = self.resource(request.prefix.as_str());
            let current = self.backend.current_revision().await?;
            // A revision from the future reads the present, as the backends do.
            let target = request.revision.map_or(current, |r| r.min(current));
            if resource.wait_fresh(target).await {
                let from_cache = resource
                    .mirror
                    .list(ListRequest {
                        revision: Some(target),
                        ..request.clone()
                    })
                    .await;
                match from_cache {
                    Err(StorageError::Expired { .. }) => {}
                    other => return other,
                }
            }
            self.backend.list(request).await
        }
        .boxed()
    }

    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.backend.create(key, value)
    }

    fn update<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.backend.update(key, value, expected)
    }

    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.backend.delete(key, expected)
    }

    fn watch(
        &self,
        prefix: Prefix,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StorageError>> {
        async move {
            let resource = self.resource(prefix.as_str());
            // Ready (or the wait timed out): the mirror serves what its history covers.
            resource.wait_fresh(0).await;
            if resource.is_ready() {
                match resource.mirror.watch(prefix.clone(), after).await {
                    Err(StorageError::Expired { .. }) => {}
                    other => return other,
                }
            }
            self.backend.watch(prefix, after).await
        }
        .boxed()
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>> {
        self.backend.current_revision()
    }

    fn count(&self) -> BoxFuture<'_, u64> {
        self.backend.count()
    }

    fn history_bytes(&self) -> u64 {
        let resources: Vec<Arc<Resource>> = lock(&self.resources).values().cloned().collect();
        resources
            .iter()
            .map(|r| r.mirror.history_bytes())
            .sum::<u64>()
            + self.backend.history_bytes()
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.backend.ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_prefixes() {
        assert_eq!(resource_prefix("/g/things/ns/a"), "/g/things/");
        assert_eq!(resource_prefix("/g/things/"), "/g/things/");
        assert_eq!(resource_prefix("/g/things/ns/"), "/g/things/");
    }
}
