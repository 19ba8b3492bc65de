//! The watch cache (`CachedStorage`): one backend watch per resource whatever the number of
//! client watches, lists served from the cache, consistent lists that see writes made through
//! another replica, and a broken backend watch ending the cache's watchers (clients relist)
//! followed by an automatic relist.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coder_k8s::apiserver::storage::{
    CachedStorage, EtcdConfig, EtcdStorage, Key, ListPage, ListRequest, MemoryStorage, Prefix,
    Revision, Storage, StorageError, Versioned, WatchItem, WatchStream,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

/// A backend that counts the list and watch calls it receives.
struct Counting {
    inner: MemoryStorage,
    lists: AtomicUsize,
    watches: AtomicUsize,
}

impl Storage for Counting {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        self.inner.get(key)
    }
    fn list(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(request)
    }
    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.inner.create(key, value)
    }
    fn update<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.inner.update(key, value, expected)
    }
    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.inner.delete(key, expected)
    }
    fn watch(
        &self,
        prefix: Prefix,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StorageError>> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        self.inner.watch(prefix, after)
    }
    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>> {
        self.inner.current_revision()
    }
    fn count(&self) -> BoxFuture<'_, u64> {
        self.inner.count()
    }
}

/// A backend that makes one write just before its first watch starts: the write lands between
/// the cache's initial list and its backend watch, which then catches up from history.
struct WritesBeforeFirstWatch {
    inner: EtcdStorage,
    written: std::sync::atomic::AtomicBool,
}

impl Storage for WritesBeforeFirstWatch {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        self.inner.get(key)
    }
    fn list(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>> {
        self.inner.list(request)
    }
    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.inner.create(key, value)
    }
    fn update<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.inner.update(key, value, expected)
    }
    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        self.inner.delete(key, expected)
    }
    fn watch(
        &self,
        prefix: Prefix,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StorageError>> {
        Box::pin(async move {
            if !self.written.swap(true, Ordering::SeqCst) {
                self.inner.create(&key("ns", "late"), obj("late")).await?;
            }
            self.inner.watch(prefix, after).await
        })
    }
    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>> {
        self.inner.current_revision()
    }
    fn count(&self) -> BoxFuture<'_, u64> {
        self.inner.count()
    }
}

fn counting(inner: MemoryStorage) -> Arc<Counting> {
    Arc::new(Counting {
        inner,
        lists: AtomicUsize::new(0),
        watches: AtomicUsize::new(0),
    })
}

fn key(ns: &str, name: &str) -> Key {
    Key::object("g", "things", Some(ns), name)
}

fn obj(name: &str) -> Value {
    json!({"metadata": {"name": name}})
}

fn all() -> ListRequest {
    ListRequest {
        prefix: Prefix::collection("g", "things", None),
        revision: None,
        start_after: None,
        limit: None,
    }
}

async fn next(w: &mut WatchStream) -> WatchItem {
    tokio::time::timeout(Duration::from_secs(10), w.items.next())
        .await
        .expect("a watch item within 10 s")
        .expect("the watch goes on")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_backend_watch_fans_out_and_lists_come_from_the_cache() {
    let backend = counting(MemoryStorage::new());
    let cache = CachedStorage::new(backend.clone(), Default::default());
    for name in ["a", "b", "c"] {
        cache.create(&key("ns", name), obj(name)).await.unwrap();
    }
    assert_eq!(cache.list(all()).await.unwrap().items.len(), 3);
    let lists_after_start = backend.lists.load(Ordering::SeqCst);
    let now = cache.current_revision().await.unwrap();

    let mut watchers = Vec::new();
    for i in 0..50 {
        // Half watch one namespace, half everything.
        let prefix = if i % 2 == 0 {
            Prefix::collection("g", "things", Some("ns"))
        } else {
            Prefix::collection("g", "things", None)
        };
        watchers.push(cache.watch(prefix, now).await.unwrap());
    }
    for _ in 0..10 {
        assert_eq!(cache.list(all()).await.unwrap().items.len(), 3);
    }
    // A write through the backend (another replica) reaches every cache watcher.
    let d = backend.create(&key("ns", "d"), obj("d")).await.unwrap();
    for w in &mut watchers {
        match next(w).await {
            WatchItem::Change(c) => assert_eq!(c.revision, d.revision),
            other => panic!("expected d's creation, got {other:?}"),
        }
    }
    assert_eq!(backend.watches.load(Ordering::SeqCst), 1);
    assert_eq!(backend.lists.load(Ordering::SeqCst), lists_after_start);
    assert!(cache.history_bytes() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn consistent_lists_see_writes_made_through_another_replica() {
    let backend = counting(MemoryStorage::new());
    let cache = CachedStorage::new(backend.clone(), Default::default());
    cache.list(all()).await.unwrap();
    for i in 0..20 {
        let name = format!("o{i}");
        backend.create(&key("ns", &name), obj(&name)).await.unwrap();
        // No resourceVersion: the most recent state, including the write just made.
        let page = cache.list(all()).await.unwrap();
        assert_eq!(page.items.len(), i + 1);
        assert_eq!(page.revision, backend.current_revision().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_backend_watch_ends_cache_watchers_then_the_cache_relists() {
    // A backend watch buffer of 2: a burst drops the cache's backend watch as too slow.
    let backend = counting(MemoryStorage::with_limits(10_000, 2));
    let cache = CachedStorage::new(backend.clone(), Default::default());
    cache.list(all()).await.unwrap();
    let mut w = cache
        .watch(Prefix::collection("g", "things", None), 0)
        .await
        .unwrap();
    for i in 0..100 {
        let name = format!("o{i}");
        // Ready futures: the burst lands before the reflector runs again.
        backend.create(&key("ns", &name), obj(&name)).await.unwrap();
    }
    let mut ended_with = None;
    for _ in 0..200 {
        match next(&mut w).await {
            WatchItem::Error(e) => {
                ended_with = Some(e);
                break;
            }
            _ => continue,
        }
    }
    assert_eq!(ended_with, Some(StorageError::TooSlow));
    // The cache relisted on its own and serves the full state again.
    let page = cache.list(all()).await.unwrap();
    assert_eq!(page.items.len(), 100);
    assert!(backend.watches.load(Ordering::SeqCst) >= 2);
}

/// The lost event of a kube-rs watcher on a replica: its list (a consistent read) and the watch
/// from that list's revision together show every object, even one written while the cache's
/// backend watch was starting. etcd before 3.4.31 answered the cache's progress request ahead
/// of that write; the cache then listed without the object and dropped its event.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_while_the_backend_watch_starts_reaches_list_or_watch() {
    let etcd = envtest::Etcd::start();
    let inner = EtcdStorage::connect(EtcdConfig {
        endpoints: vec![etcd.url().to_string()],
        prefix: "/cache-test".into(),
        tls: None,
        dial_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        max_object_bytes: coder_k8s::apiserver::storage::memory::DEFAULT_MAX_OBJECT_BYTES,
    })
    .await
    .expect("etcd client");
    let backend = Arc::new(WritesBeforeFirstWatch {
        inner,
        written: Default::default(),
    });
    let cache = CachedStorage::new(backend.clone(), Default::default());
    // The first list starts the cache (and so the write); the second is the watcher's list.
    cache.list(all()).await.unwrap();
    let page = cache.list(all()).await.unwrap();
    let late = backend
        .get(&key("ns", "late"))
        .await
        .unwrap()
        .expect("late");
    assert!(late.revision <= page.revision, "the list is consistent");
    if page.items.iter().any(|i| i.key == key("ns", "late")) {
        return;
    }
    let mut w = cache
        .watch(Prefix::collection("g", "things", None), page.revision)
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), w.items.next()).await {
            Ok(Some(WatchItem::Change(c))) if c.key == key("ns", "late") => return,
            Ok(Some(WatchItem::Change(_) | WatchItem::Progress(_))) => continue,
            other => panic!(
                "listed at {} without the write at {}, and the watch did not deliver it: {other:?}",
                page.revision, late.revision
            ),
        }
    }
}
