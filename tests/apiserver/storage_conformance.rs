//! The `Storage` conformance suite: one set of behaviours every backend must have, run
//! unchanged against `MemoryStorage`, `EtcdStorage` (a real etcd on loopback), and the watch
//! cache (`CachedStorage`) in front of each. Each case
//! gets a fresh store (etcd: a unique key prefix on one shared etcd).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use coder_k8s::apiserver::storage::etcd::client::{ClientConfig, EtcdClient};
use coder_k8s::apiserver::storage::etcd::wire::CompactionRequest;
use coder_k8s::apiserver::storage::memory::DEFAULT_MAX_OBJECT_BYTES;
use coder_k8s::apiserver::storage::unstamped;
use coder_k8s::apiserver::storage::{
    CachedStorage, ChangeKind, EtcdConfig, EtcdStorage, Key, ListPage, ListRequest, MemoryStorage,
    Prefix, ProgressRequester, Revision, Storage, StorageError, WatchItem, WatchStream,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use envtest::Etcd;

/// A fresh store and a way to compact its history up to a revision.
struct Fixture {
    storage: Arc<dyn Storage>,
    compact: Box<dyn Fn(Revision) -> BoxFuture<'static, ()> + Send + Sync>,
    /// etcd's revision counter and compaction are global to the cluster: cases on the shared
    /// etcd take turns so revision assertions hold.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// etcd before 3.4.31 / 3.5.13 (Debian's 3.4 here) answers progress requests ahead of
    /// undelivered changes, so its watches offer none (`request_progress` is None).
    may_decline_progress: bool,
}

fn memory() -> BoxFuture<'static, Fixture> {
    Box::pin(async {
        let storage = Arc::new(MemoryStorage::new());
        let compactor = storage.clone();
        Fixture {
            storage,
            compact: Box::new(move |rev| {
                compactor.compact(rev);
                Box::pin(async {})
            }),
            _turn: None,
            may_decline_progress: false,
        }
    })
}

fn shared_etcd() -> &'static Etcd {
    static ETCD: OnceLock<Etcd> = OnceLock::new();
    ETCD.get_or_init(Etcd::start)
}

fn etcd() -> BoxFuture<'static, Fixture> {
    Box::pin(async {
        static TURN: OnceLock<Arc<tokio::sync::Mutex<()>>> = OnceLock::new();
        let turn = TURN
            .get_or_init(Default::default)
            .clone()
            .lock_owned()
            .await;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = shared_etcd().url().to_string();
        let storage = EtcdStorage::connect(EtcdConfig {
            endpoints: vec![url.clone()],
            prefix: format!("/conformance-{}-{n}", std::process::id()),
            tls: None,
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_object_bytes: coder_k8s::apiserver::storage::memory::DEFAULT_MAX_OBJECT_BYTES,
        })
        .await
        .expect("etcd client");
        Fixture {
            storage: Arc::new(storage),
            compact: Box::new(move |rev| {
                let url = url.clone();
                Box::pin(async move {
                    let client = EtcdClient::connect(&ClientConfig {
                        endpoints: vec![url],
                        tls: None,
                        dial_timeout: Duration::from_secs(5),
                        request_timeout: Duration::from_secs(5),
                    })
                    .unwrap();
                    client
                        .compact(CompactionRequest {
                            revision: rev as i64,
                            physical: true,
                        })
                        .await
                        .unwrap();
                })
            }),
            _turn: Some(turn),
            may_decline_progress: true,
        }
    })
}

/// The watch cache in front of a backend fixture.
fn cached(inner: BoxFuture<'static, Fixture>) -> BoxFuture<'static, Fixture> {
    Box::pin(async move {
        let inner = inner.await;
        Fixture {
            storage: Arc::new(CachedStorage::new(inner.storage, Default::default())),
            compact: inner.compact,
            _turn: inner._turn,
            may_decline_progress: inner.may_decline_progress,
        }
    })
}

fn memory_cached() -> BoxFuture<'static, Fixture> {
    cached(memory())
}

fn etcd_cached() -> BoxFuture<'static, Fixture> {
    cached(etcd())
}

fn key(name: &str) -> Key {
    Key::object("g", "things", Some("ns"), name)
}

fn all() -> Prefix {
    Prefix::collection("g", "things", None)
}

fn obj(name: &str, v: i64) -> Value {
    json!({"apiVersion": "g/v1", "kind": "Thing", "metadata": {"name": name}, "v": v})
}

fn list_req(
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
        .map(|i| {
            i.value.to_value().unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn next(w: &mut WatchStream) -> WatchItem {
    tokio::time::timeout(Duration::from_secs(10), w.items.next())
        .await
        .expect("a watch item within 10 s")
        .expect("the watch stream ended")
}

async fn next_change(w: &mut WatchStream) -> String {
    loop {
        match next(w).await {
            WatchItem::Change(c) => {
                return format!(
                    "{:?} {} v={} rv={}",
                    c.kind,
                    c.key,
                    c.value.to_value().unwrap()["v"],
                    c.value.to_value().unwrap()["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                );
            }
            // etcd may send progress notifications on its own; they carry no change.
            WatchItem::Progress(_) => continue,
            WatchItem::Error(e) => panic!("watch error {e}"),
        }
    }
}

// ---- the cases ------------------------------------------------------------------------------

async fn writes_stamp_revisions_and_check_expectations(f: Fixture) {
    let s = f.storage;
    let a = s.create(&key("a"), obj("a", 1)).await.unwrap();
    assert!(a.revision > 0);
    assert_eq!(
        a.value.to_value().unwrap()["metadata"]["resourceVersion"],
        a.revision.to_string()
    );
    let got = s.get(&key("a")).await.unwrap().unwrap();
    assert_eq!(got.revision, a.revision);
    assert_eq!(got.value, a.value);
    assert_eq!(
        s.create(&key("a"), obj("a", 1)).await,
        Err(StorageError::AlreadyExists(key("a")))
    );
    let b = s
        .update(&key("a"), obj("a", 2), Some(a.revision))
        .await
        .unwrap();
    assert!(b.revision > a.revision);
    assert_eq!(
        s.update(&key("a"), obj("a", 3), Some(a.revision)).await,
        Err(StorageError::Conflict {
            key: key("a"),
            expected: a.revision,
            current: b.revision
        })
    );
    let c = s.update(&key("a"), obj("a", 3), None).await.unwrap();
    assert_eq!(
        s.delete(&key("a"), Some(b.revision)).await.map(|_| ()),
        Err(StorageError::Conflict {
            key: key("a"),
            expected: b.revision,
            current: c.revision
        })
    );
    let deleted = s.delete(&key("a"), Some(c.revision)).await.unwrap();
    assert!(deleted.revision > c.revision);
    assert_eq!(deleted.value.to_value().unwrap()["v"], 3);
    assert_eq!(
        deleted.value.to_value().unwrap()["metadata"]["resourceVersion"],
        deleted.revision.to_string()
    );
    assert_eq!(s.get(&key("a")).await.unwrap(), None);
    assert_eq!(
        s.update(&key("a"), obj("a", 1), None).await,
        Err(StorageError::NotFound(key("a")))
    );
    assert_eq!(
        s.update(&key("a"), obj("a", 1), Some(1)).await,
        Err(StorageError::NotFound(key("a")))
    );
    assert_eq!(
        s.delete(&key("a"), None).await.map(|_| ()),
        Err(StorageError::NotFound(key("a")))
    );
    assert_eq!(s.current_revision().await.unwrap(), deleted.revision);
    assert_eq!(s.count().await, 0);
    // A resourceVersion sent in by the caller is replaced by the store's.
    let mut with_rv = obj("b", 0);
    with_rv["metadata"]["resourceVersion"] = json!("12345");
    let b = s.create(&key("b"), with_rv).await.unwrap();
    assert_eq!(
        s.get(&key("b"))
            .await
            .unwrap()
            .unwrap()
            .value
            .to_value()
            .unwrap()["metadata"]["resourceVersion"],
        b.revision.to_string()
    );
    assert_eq!(s.count().await, 1);
}

async fn lists_are_pinned_to_a_revision(f: Fixture) {
    let s = f.storage;
    for name in ["a", "b", "c"] {
        s.create(&key(name), obj(name, 0)).await.unwrap();
    }
    // Another collection whose name extends this one's must not leak in.
    s.create(&Key::object("g", "thingsx", Some("ns"), "z"), obj("z", 0))
        .await
        .unwrap();
    let at = s.current_revision().await.unwrap();
    s.update(&key("a"), obj("a", 1), None).await.unwrap();
    s.delete(&key("b"), None).await.unwrap();
    s.create(&key("bb"), obj("bb", 0)).await.unwrap();

    let now = s.list(list_req(None, None, None)).await.unwrap();
    assert_eq!(names(&now), ["a", "bb", "c"]);
    assert_eq!(now.revision, s.current_revision().await.unwrap());
    assert_eq!(now.remaining, 0);
    let then = s.list(list_req(Some(at), None, None)).await.unwrap();
    assert_eq!(then.revision, at);
    assert_eq!(names(&then), ["a", "b", "c"]);
    assert_eq!(then.items[0].value.to_value().unwrap()["v"], 0);

    let page = s.list(list_req(Some(at), None, Some(2))).await.unwrap();
    assert_eq!(names(&page), ["a", "b"]);
    assert_eq!(page.remaining, 1);
    assert_eq!(page.revision, at);
    let rest = s
        .list(list_req(Some(at), Some(key("b")), Some(2)))
        .await
        .unwrap();
    assert_eq!(names(&rest), ["c"]);
    assert_eq!(rest.remaining, 0);

    // One namespace only.
    s.create(&Key::object("g", "things", Some("other"), "o"), obj("o", 0))
        .await
        .unwrap();
    let ns = s
        .list(ListRequest {
            prefix: Prefix::collection("g", "things", Some("ns")),
            revision: None,
            start_after: None,
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(names(&ns), ["a", "bb", "c"]);

    // A revision from the future reads the present ("not older than").
    let current = s.current_revision().await.unwrap();
    let future = s
        .list(list_req(Some(current + 1000), None, None))
        .await
        .unwrap();
    assert_eq!(future.revision, current);
    assert_eq!(names(&future), ["a", "bb", "c", "o"]);
}

async fn watches_replay_then_follow(f: Fixture) {
    let s = f.storage;
    let a = s.create(&key("a"), obj("a", 0)).await.unwrap();
    let b = s.create(&key("b"), obj("b", 0)).await.unwrap();
    let mut w = s.watch(all(), a.revision).await.unwrap();
    let u = s.update(&key("a"), obj("a", 1), None).await.unwrap();
    s.create(&Key::object("g", "other", Some("ns"), "x"), obj("x", 0))
        .await
        .unwrap();
    let d = s.delete(&key("b"), None).await.unwrap();
    assert_eq!(
        next_change(&mut w).await,
        format!("Created /g/things/ns/b v=0 rv={}", b.revision)
    );
    assert_eq!(
        next_change(&mut w).await,
        format!("Updated /g/things/ns/a v=1 rv={}", u.revision)
    );
    // The other collection's write is not delivered; the delete carries the last value
    // stamped with the deletion revision.
    assert_eq!(
        next_change(&mut w).await,
        format!("Deleted /g/things/ns/b v=0 rv={}", d.revision)
    );

    // Previous values are delivered (selectors need them).
    let mut w = s.watch(all(), d.revision).await.unwrap();
    s.update(&key("a"), obj("a", 2), None).await.unwrap();
    match next(&mut w).await {
        WatchItem::Change(c) => {
            assert_eq!(c.kind, ChangeKind::Updated);
            assert_eq!(c.prev.as_ref().unwrap().to_value().unwrap()["v"], 1);
            assert_eq!(
                c.prev.as_ref().unwrap().to_value().unwrap()["metadata"]["resourceVersion"],
                u.revision.to_string()
            );
        }
        other => panic!("expected a change, got {other:?}"),
    }
}

/// The progress requester of `w`; None only where the fixture allows the backend to decline.
fn requester(w: &WatchStream, may_decline: bool) -> Option<ProgressRequester> {
    if w.request_progress.is_none() {
        assert!(may_decline, "this store must answer progress requests");
    }
    w.request_progress.clone()
}

async fn progress_requests_are_answered_after_earlier_changes(f: Fixture) {
    let s = f.storage;
    let a = s.create(&key("a"), obj("a", 0)).await.unwrap();
    let mut w = s.watch(all(), a.revision).await.unwrap();
    let b = s.create(&key("b"), obj("b", 0)).await.unwrap();
    // Let the watch deliver b first, then ask for progress.
    assert!(
        next_change(&mut w)
            .await
            .starts_with("Created /g/things/ns/b")
    );
    let Some(request) = requester(&w, f.may_decline_progress) else {
        return;
    };
    request();
    match next(&mut w).await {
        WatchItem::Progress(rev) => {
            assert!(rev >= b.revision, "progress {rev} < {}", b.revision)
        }
        other => panic!("expected progress, got {other:?}"),
    }
}

/// A progress answer claims only what the watch has delivered: asked right after a watch starts
/// from before two changes (etcd then catches the watcher up from its history), every change
/// at or below the reported revision has already come. A cache that trusts an early answer
/// drops the change it later receives (the lost event of a kube-rs watcher on the watch cache).
async fn progress_never_runs_ahead_of_changes(f: Fixture) {
    let s = f.storage;
    let start = s.create(&key("a"), obj("a", 0)).await.unwrap().revision;
    let b = s.create(&key("b"), obj("b", 0)).await.unwrap();
    let c = s.create(&key("c"), obj("c", 0)).await.unwrap();
    let mut w = s.watch(all(), start).await.unwrap();
    if let Some(request) = requester(&w, f.may_decline_progress) {
        request();
    }
    let mut delivered = start;
    while delivered < c.revision {
        match next(&mut w).await {
            WatchItem::Change(change) => delivered = change.revision,
            WatchItem::Progress(rev) => assert!(
                rev <= delivered,
                "progress at {rev} before the change at {} (b: {}, c: {}) was delivered",
                delivered + 1,
                b.revision,
                c.revision
            ),
            WatchItem::Error(e) => panic!("watch error {e}"),
        }
    }
}

/// `Expired` comes either from `watch` itself or as the watch's first item.
async fn watch_expired(s: &dyn Storage, after: Revision) -> bool {
    match s.watch(all(), after).await {
        Err(StorageError::Expired { .. }) => true,
        Err(e) => panic!("unexpected {e}"),
        Ok(mut w) => loop {
            match next(&mut w).await {
                WatchItem::Error(StorageError::Expired { .. }) => return true,
                WatchItem::Progress(_) => continue,
                _ => return false,
            }
        },
    }
}

async fn compacted_revisions_are_expired(f: Fixture) {
    let s = f.storage;
    let first = s.create(&key("a"), obj("a", 0)).await.unwrap().revision;
    for v in 1..5 {
        s.update(&key("a"), obj("a", v), None).await.unwrap();
    }
    let current = s.current_revision().await.unwrap();
    (f.compact)(current - 1).await;
    assert!(matches!(
        s.list(list_req(Some(first), None, None)).await,
        Err(StorageError::Expired { .. })
    ));
    assert_eq!(
        s.list(list_req(Some(current), None, None))
            .await
            .unwrap()
            .items[0]
            .value
            .to_value()
            .unwrap()["v"],
        4
    );
    assert!(watch_expired(s.as_ref(), first).await);
    // A watch from the present still works.
    let mut w = s.watch(all(), current).await.unwrap();
    s.update(&key("a"), obj("a", 9), None).await.unwrap();
    assert!(
        next_change(&mut w)
            .await
            .starts_with("Updated /g/things/ns/a v=9")
    );
}

async fn concurrent_conditional_writes_have_one_winner(f: Fixture) {
    let s = f.storage;
    let a = s.create(&key("a"), obj("a", 0)).await.unwrap();
    let updates = (0..8).map(|v| {
        let s = s.clone();
        async move { s.update(&key("a"), obj("a", v), Some(a.revision)).await }
    });
    let results = futures::future::join_all(updates).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StorageError::Conflict { .. }))
    );
    let creates = (0..8).map(|v| {
        let s = s.clone();
        async move { s.create(&key("new"), obj("new", v)).await }
    });
    let results = futures::future::join_all(creates).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StorageError::AlreadyExists(_)))
    );
}

async fn objects_over_the_size_limit_are_refused(f: Fixture) {
    let s = f.storage;
    let big = |n: usize| json!({"metadata": {"name": "big"}, "data": "x".repeat(n)});
    let small = s.create(&key("big"), big(1000)).await.unwrap();
    // The default limit is etcd's 1.5 MiB less 2 KiB.
    assert!(matches!(
        s.create(&key("big2"), big(2 * 1024 * 1024)).await,
        Err(StorageError::TooLarge {
            limit: 1_570_816,
            ..
        })
    ));
    assert!(matches!(
        s.update(&key("big"), big(2 * 1024 * 1024), None).await,
        Err(StorageError::TooLarge { .. })
    ));
    // Nothing was written.
    assert_eq!(s.current_revision().await.unwrap(), small.revision);
    assert_eq!(s.get(&key("big2")).await.unwrap(), None);
    // Just under the limit is fine.
    s.update(&key("big"), big(1_500_000), None).await.unwrap();

    // Exactly at the limit, under a long key, is stored and updated (etcd: the default limit
    // leaves room under etcd's own 1.5 MiB request limit for the key and the transaction);
    // one byte more is refused as too large, never as a server error.
    let long_name = "x".repeat(253);
    let long_key = Key::object("g", "things", Some(&"n".repeat(63)), &long_name);
    let sized = |len: usize| {
        let empty = json!({"metadata": {"name": long_name}, "data": ""});
        let base = serde_json::to_vec(&empty).unwrap().len();
        json!({"metadata": {"name": long_name}, "data": "x".repeat(len - base)})
    };
    let limit = DEFAULT_MAX_OBJECT_BYTES as usize;
    let at_limit = s.create(&long_key, sized(limit)).await.unwrap();
    let updated = s
        .update(&long_key, sized(limit), Some(at_limit.revision))
        .await
        .unwrap();
    assert!(matches!(
        s.update(&long_key, sized(limit + 1), Some(updated.revision)).await,
        Err(StorageError::TooLarge { size, .. }) if size == limit as u64 + 1
    ));
}

/// The bytes of a written revision are exactly serde_json's compact form of the object stamped
/// with its revision (`unstamped::stamp`): whether the writer sent a resourceVersion or not, and
/// the same bytes are read back.
async fn written_bytes_are_the_stamped_object_serialized(f: Fixture) {
    let s = f.storage;
    let object = |rv: Option<&str>| {
        let mut o = json!({"apiVersion": "g/v1", "kind": "Thing",
            "metadata": {"name": "a", "namespace": "ns", "labels": {"app": "x"},
                         "managedFields": [{"manager": "m", "fieldsV1": {"f:v": {}}}]},
            "spec": {"text": "é\"\n", "n": 1.5}});
        if let Some(rv) = rv {
            o["metadata"]["resourceVersion"] = json!(rv);
        }
        o
    };
    let expected = |value: Value, revision: Revision| {
        serde_json::to_vec(&unstamped::stamp(value, revision)).unwrap()
    };
    let created = s.create(&key("a"), object(None)).await.unwrap();
    assert_eq!(
        created.value.json().as_ref(),
        expected(object(None), created.revision)
    );
    let updated = s
        .update(&key("a"), object(Some("1")), Some(created.revision))
        .await
        .unwrap();
    assert_eq!(
        updated.value.json().as_ref(),
        expected(object(Some("1")), updated.revision)
    );
    assert_eq!(
        updated.value.attrs().resource_version(),
        Some(updated.revision)
    );
    assert_eq!(updated.value.attrs().label("app"), Some("x"));
    let got = s.get(&key("a")).await.unwrap().unwrap();
    assert_eq!(got.value.json(), updated.value.json());
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::$backend().await).await;
                }
            )*
        }
    };
}

conformance!(memory:
    writes_stamp_revisions_and_check_expectations,
    lists_are_pinned_to_a_revision,
    watches_replay_then_follow,
    progress_requests_are_answered_after_earlier_changes,
    progress_never_runs_ahead_of_changes,
    compacted_revisions_are_expired,
    concurrent_conditional_writes_have_one_winner,
    objects_over_the_size_limit_are_refused,
    written_bytes_are_the_stamped_object_serialized,
);

conformance!(etcd:
    writes_stamp_revisions_and_check_expectations,
    lists_are_pinned_to_a_revision,
    watches_replay_then_follow,
    progress_requests_are_answered_after_earlier_changes,
    progress_never_runs_ahead_of_changes,
    compacted_revisions_are_expired,
    concurrent_conditional_writes_have_one_winner,
    objects_over_the_size_limit_are_refused,
    written_bytes_are_the_stamped_object_serialized,
);

conformance!(memory_cached:
    writes_stamp_revisions_and_check_expectations,
    lists_are_pinned_to_a_revision,
    watches_replay_then_follow,
    progress_requests_are_answered_after_earlier_changes,
    progress_never_runs_ahead_of_changes,
    compacted_revisions_are_expired,
    concurrent_conditional_writes_have_one_winner,
    objects_over_the_size_limit_are_refused,
    written_bytes_are_the_stamped_object_serialized,
);

conformance!(etcd_cached:
    writes_stamp_revisions_and_check_expectations,
    lists_are_pinned_to_a_revision,
    watches_replay_then_follow,
    progress_requests_are_answered_after_earlier_changes,
    progress_never_runs_ahead_of_changes,
    compacted_revisions_are_expired,
    concurrent_conditional_writes_have_one_winner,
    objects_over_the_size_limit_are_refused,
    written_bytes_are_the_stamped_object_serialized,
);

/// A second etcd client on the same prefix has decoded nothing: it reads the stored bytes
/// (splicing the resourceVersion in) and gets exactly the writer's bytes, for gets, lists
/// and a watch replay. (The object carries no resourceVersion: in test builds serde_json keeps
/// insertion order, so a given resourceVersion keeps its place in the writer's bytes while a
/// reader appends it, as `unstamped::stamp` on the parsed value does; release builds sort keys.)
#[tokio::test]
async fn a_second_etcd_reader_decodes_the_writers_bytes() {
    let connect = |prefix: String| async move {
        EtcdStorage::connect(EtcdConfig {
            endpoints: vec![shared_etcd().url().to_string()],
            prefix,
            tls: None,
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_object_bytes: coder_k8s::apiserver::storage::memory::DEFAULT_MAX_OBJECT_BYTES,
        })
        .await
        .expect("etcd client")
    };
    // Holds the shared etcd's turn: other cases compact it.
    let _turn = etcd().await;
    let prefix = format!("/second-reader-{}", std::process::id());
    let writer = connect(prefix.clone()).await;
    let value = json!({"apiVersion": "g/v1", "kind": "Thing",
        "metadata": {"name": "a", "namespace": "ns", "uid": "u"},
        "spec": {"x": [1, "two"]}});
    let created = writer.create(&key("a"), value.clone()).await.unwrap();
    let nameless = json!({"kind": "Thing"});
    let other = writer.create(&key("b"), nameless).await.unwrap();

    let reader = connect(prefix).await;
    let got = reader.get(&key("a")).await.unwrap().unwrap();
    assert_eq!(got.value.json(), created.value.json());
    assert_eq!(got.value.attrs(), created.value.attrs());
    let page = reader.list(list_req(None, None, None)).await.unwrap();
    let listed: Vec<_> = page.items.iter().map(|v| v.value.json().clone()).collect();
    assert_eq!(
        listed,
        vec![created.value.json().clone(), other.value.json().clone()]
    );
    let mut watch = reader.watch(all(), created.revision - 1).await.unwrap();
    for written in [&created, &other] {
        match next(&mut watch).await {
            WatchItem::Change(change) => assert_eq!(change.value.json(), written.value.json()),
            item => panic!("expected a change, got {item:?}"),
        }
    }
    let deleted = writer.delete(&key("a"), None).await.unwrap();
    assert_eq!(
        deleted.value.json().as_ref(),
        serde_json::to_vec(&unstamped::stamp(
            created.value.to_value().unwrap(),
            deleted.revision
        ))
        .unwrap()
    );
}
