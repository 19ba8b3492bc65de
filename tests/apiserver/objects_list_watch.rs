//! Lists, watches and concurrency of the object layer through `Objects` on a `MemoryStorage`:
//! selectors, pagination on a snapshot, expired tokens and revisions, watch resumption,
//! selector transitions, bookmarks, slow watchers, and racing updates.

use std::sync::Arc;
use std::time::Duration;

use coder_k8s::api::registry::{ResourceDescriptor, find};
use coder_k8s::apiserver::objects::{
    DeleteOptions, Error, ListOptions, Objects, Patch, WatchEvent, WatchOptions, WriteOptions,
};
use coder_k8s::apiserver::storage::{MemoryStorage, StoredObject};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};

fn workspaces() -> &'static ResourceDescriptor {
    find("aggregation.coder.com", "v1alpha1", "coderworkspaces").unwrap()
}

fn objects() -> Objects {
    Objects::new(Arc::new(MemoryStorage::new()))
}

async fn create(o: &Objects, ns: &str, name: &str, labels: Value) -> Value {
    let body = json!({"metadata": {"name": name, "labels": labels}, "spec": {"running": true}});
    o.create(workspaces(), Some(ns), body, &WriteOptions::default())
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap()
}

async fn label(o: &Objects, ns: &str, name: &str, key: &str, value: &str) -> Value {
    let patch = Patch::Merge(json!({"metadata": {"labels": {key: value}}}));
    o.patch(
        workspaces(),
        Some(ns),
        name,
        None,
        patch,
        &WriteOptions::default(),
    )
    .await
    .unwrap()
    .object
    .to_value()
    .unwrap()
}

fn names(items: &[Arc<StoredObject>]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i.to_value().unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The next event; a hang fails the test instead of blocking it forever.
async fn next(stream: &mut BoxStream<'static, WatchEvent>) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no watch event within 10 s")
        .expect("the watch ended")
}

/// (type, name) of an event, for compact assertions.
fn summary(event: &WatchEvent) -> (String, String) {
    let (kind, object) = match event {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        WatchEvent::Bookmark {
            resource_version, ..
        } => return ("BOOKMARK".into(), resource_version.clone()),
        WatchEvent::Error(e) => return ("ERROR".into(), e.to_string()),
    };
    (
        kind.to_string(),
        object.to_value().unwrap()["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

fn ev(kind: &str, name: &str) -> (String, String) {
    (kind.to_string(), name.to_string())
}

fn list_opts(labels: Option<&str>, fields: Option<&str>) -> ListOptions {
    ListOptions {
        label_selector: labels.map(str::to_string),
        field_selector: fields.map(str::to_string),
        ..Default::default()
    }
}

#[tokio::test]
async fn list_scopes_namespaces_and_applies_selectors() {
    let o = objects();
    create(&o, "default", "a", json!({"env": "prod", "tier": "web"})).await;
    create(&o, "default", "b", json!({"env": "dev"})).await;
    let last = create(&o, "sandbox", "c", json!({})).await;

    let all = o
        .list(workspaces(), None, &list_opts(None, None))
        .await
        .unwrap();
    assert_eq!(names(&all.items), ["a", "b", "c"]);
    assert_eq!(all.resource_version, rv(&last));
    assert_eq!(all.continue_token, None);

    let default = o
        .list(workspaces(), Some("default"), &list_opts(None, None))
        .await
        .unwrap();
    assert_eq!(names(&default.items), ["a", "b"]);

    let cases = [
        (Some("env=prod"), None, vec!["a"]),
        (Some("env!=prod"), None, vec!["b", "c"]),
        (Some("env in (prod,dev)"), None, vec!["a", "b"]),
        (Some("env notin (prod)"), None, vec!["b", "c"]),
        (Some("tier"), None, vec!["a"]),
        (Some("!env"), None, vec!["c"]),
        (None, Some("metadata.name=b"), vec!["b"]),
        (None, Some("metadata.namespace!=default"), vec!["c"]),
        (Some("env"), Some("metadata.name!=a"), vec!["b"]),
    ];
    for (labels, fields, expected) in cases {
        let list = o
            .list(workspaces(), None, &list_opts(labels, fields))
            .await
            .unwrap();
        assert_eq!(names(&list.items), expected, "{labels:?} {fields:?}");
    }

    assert_eq!(
        o.list(
            workspaces(),
            None,
            &list_opts(None, Some("spec.running=true"))
        )
        .await
        .unwrap_err(),
        Error::BadRequest("field label not supported: spec.running".into())
    );
    assert!(matches!(
        o.list(workspaces(), None, &list_opts(Some("env in prod"), None))
            .await,
        Err(Error::BadRequest(_))
    ));
}

#[tokio::test]
async fn pages_come_from_one_snapshot() {
    let o = objects();
    for i in 0..10 {
        create(
            &o,
            "default",
            &format!("ws-{i}"),
            json!({"n": i.to_string()}),
        )
        .await;
    }
    let first = o
        .list(
            workspaces(),
            None,
            &ListOptions {
                limit: Some(4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&first.items), ["ws-0", "ws-1", "ws-2", "ws-3"]);
    assert_eq!(first.remaining_item_count, Some(6));
    let snapshot_rv = first.resource_version.clone();

    // Writes between pages do not leak into the continued list.
    o.delete(
        workspaces(),
        Some("default"),
        "ws-5",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    create(&o, "default", "ws-55", json!({})).await;
    label(&o, "default", "ws-6", "changed", "yes").await;

    let mut seen = names(&first.items);
    let mut token = first.continue_token.clone();
    let mut pages = 1;
    while let Some(t) = token {
        let page = o
            .list(
                workspaces(),
                None,
                &ListOptions {
                    limit: Some(4),
                    continue_token: Some(t),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.resource_version, snapshot_rv);
        for item in &page.items {
            assert!(
                item.to_value().unwrap()["metadata"]["labels"]
                    .get("changed")
                    .is_none()
            );
        }
        seen.extend(names(&page.items));
        token = page.continue_token;
        pages += 1;
        assert!(pages <= 3, "ten items in pages of four take three pages");
    }
    let expected: Vec<String> = (0..10).map(|i| format!("ws-{i}")).collect();
    assert_eq!(seen, expected);

    // A selector filters within pages and still paginates.
    let filtered = o
        .list(
            workspaces(),
            None,
            &ListOptions {
                label_selector: Some("n in (1,3,7,9)".into()),
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&filtered.items), ["ws-1", "ws-3"]);
    assert_eq!(filtered.remaining_item_count, None);
    let rest = o
        .list(
            workspaces(),
            None,
            &ListOptions {
                label_selector: Some("n in (1,3,7,9)".into()),
                limit: Some(2),
                continue_token: filtered.continue_token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&rest.items), ["ws-7", "ws-9"]);
}

#[tokio::test]
async fn continue_tokens_expire_with_the_history() {
    let o = Objects::new(Arc::new(MemoryStorage::with_limits(5, 100)));
    for i in 0..3 {
        create(&o, "default", &format!("ws-{i}"), json!({})).await;
    }
    let first = o
        .list(
            workspaces(),
            None,
            &ListOptions {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for i in 0..10 {
        label(&o, "default", "ws-2", "i", &i.to_string()).await;
    }
    let err = o
        .list(
            workspaces(),
            None,
            &ListOptions {
                limit: Some(1),
                continue_token: first.continue_token,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Expired(_)));
    assert!(err.to_string().starts_with(
        "The provided continue parameter is too old to display a consistent list result."
    ));

    let garbage = o
        .list(
            workspaces(),
            None,
            &ListOptions {
                continue_token: Some("not-a-token".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(garbage, Err(Error::BadRequest(_))));
}

#[tokio::test]
async fn watch_without_a_version_starts_with_the_current_state() {
    let o = objects();
    create(&o, "default", "a", json!({})).await;
    create(&o, "sandbox", "b", json!({})).await;
    let mut all = o
        .watch(workspaces(), None, &WatchOptions::default())
        .await
        .unwrap();
    let mut default = o
        .watch(workspaces(), Some("default"), &WatchOptions::default())
        .await
        .unwrap();
    assert_eq!(summary(&next(&mut all).await), ev("ADDED", "a"));
    assert_eq!(summary(&next(&mut all).await), ev("ADDED", "b"));
    assert_eq!(summary(&next(&mut default).await), ev("ADDED", "a"));

    create(&o, "sandbox", "c", json!({})).await;
    let modified = label(&o, "default", "a", "x", "y").await;
    o.delete(
        workspaces(),
        Some("default"),
        "a",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary(&next(&mut all).await), ev("ADDED", "c"));
    let event = next(&mut all).await;
    assert_eq!(summary(&event), ev("MODIFIED", "a"));
    match event {
        WatchEvent::Modified(object) => assert_eq!(object.to_value().unwrap(), modified),
        other => panic!("{other:?}"),
    }
    match next(&mut all).await {
        WatchEvent::Deleted(object) => {
            assert_eq!(object.to_value().unwrap()["metadata"]["name"], "a");
            let deleted_rv: u64 = rv(&object.to_value().unwrap()).parse().unwrap();
            let modified_rv: u64 = rv(&modified).parse().unwrap();
            assert!(deleted_rv > modified_rv);
        }
        other => panic!("{other:?}"),
    }
    // The namespaced watch never saw sandbox/c.
    assert_eq!(summary(&next(&mut default).await), ev("MODIFIED", "a"));
    assert_eq!(summary(&next(&mut default).await), ev("DELETED", "a"));
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let o = objects();
    let a = create(&o, "default", "a", json!({})).await;
    create(&o, "default", "b", json!({})).await;
    label(&o, "default", "a", "x", "1").await;
    let mut stream = o
        .watch(
            workspaces(),
            None,
            &WatchOptions {
                resource_version: Some(rv(&a)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Only what happened after `a` was created.
    assert_eq!(summary(&next(&mut stream).await), ev("ADDED", "b"));
    assert_eq!(summary(&next(&mut stream).await), ev("MODIFIED", "a"));
    create(&o, "default", "c", json!({})).await;
    assert_eq!(summary(&next(&mut stream).await), ev("ADDED", "c"));
}

#[tokio::test]
async fn watch_from_a_compacted_version_is_expired() {
    let o = Objects::new(Arc::new(MemoryStorage::with_limits(3, 100)));
    let a = create(&o, "default", "a", json!({})).await;
    for i in 0..5 {
        label(&o, "default", "a", "i", &i.to_string()).await;
    }
    let mut stream = o
        .watch(
            workspaces(),
            None,
            &WatchOptions {
                resource_version: Some(rv(&a)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    match next(&mut stream).await {
        WatchEvent::Error(Error::Expired(message)) => {
            assert_eq!(message, "too old resource version: 1 (3)");
        }
        other => panic!("expected an Expired error, got {other:?}"),
    }
    assert!(stream.next().await.is_none(), "an error ends the watch");
}

#[tokio::test]
async fn selectors_turn_label_changes_into_added_and_deleted() {
    let o = objects();
    create(&o, "default", "a", json!({"env": "dev"})).await;
    let mut prod = o
        .watch(
            workspaces(),
            None,
            &WatchOptions {
                label_selector: Some("env=prod".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    create(&o, "default", "b", json!({"env": "dev"})).await;
    label(&o, "default", "a", "env", "prod").await;
    label(&o, "default", "a", "tier", "web").await;
    label(&o, "default", "a", "env", "dev").await;
    o.delete(
        workspaces(),
        Some("default"),
        "b",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    create(&o, "default", "c", json!({"env": "prod"})).await;

    assert_eq!(summary(&next(&mut prod).await), ev("ADDED", "a"));
    assert_eq!(summary(&next(&mut prod).await), ev("MODIFIED", "a"));
    match next(&mut prod).await {
        // kube sends the last matching state with the new resourceVersion.
        WatchEvent::Deleted(object) => {
            assert_eq!(object.to_value().unwrap()["metadata"]["name"], "a");
            assert_eq!(
                object.to_value().unwrap()["metadata"]["labels"]["env"],
                "prod"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(summary(&next(&mut prod).await), ev("ADDED", "c"));
}

#[tokio::test]
async fn send_initial_events_ends_with_the_marked_bookmark() {
    let o = objects();
    create(&o, "default", "a", json!({})).await;
    let b = create(&o, "default", "b", json!({})).await;
    let mut stream = o
        .watch(
            workspaces(),
            None,
            &WatchOptions {
                resource_version: Some(rv(&b)),
                send_initial_events: true,
                allow_bookmarks: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(summary(&next(&mut stream).await), ev("ADDED", "a"));
    assert_eq!(summary(&next(&mut stream).await), ev("ADDED", "b"));
    match next(&mut stream).await {
        WatchEvent::Bookmark {
            resource_version,
            initial_events_end,
        } => {
            assert!(initial_events_end);
            assert_eq!(resource_version, rv(&b));
        }
        other => panic!("{other:?}"),
    }
    create(&o, "default", "c", json!({})).await;
    assert_eq!(summary(&next(&mut stream).await), ev("ADDED", "c"));
}

#[tokio::test]
async fn bookmarks_report_progress_when_allowed() {
    let o = objects().with_bookmark_interval(Duration::from_millis(10));
    let a = create(&o, "default", "a", json!({})).await;
    let mut stream = o
        .watch(
            workspaces(),
            None,
            &WatchOptions {
                resource_version: Some(rv(&a)),
                allow_bookmarks: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let b = create(&o, "default", "b", json!({})).await;
    assert_eq!(summary(&next(&mut stream).await), ev("ADDED", "b"));
    match next(&mut stream).await {
        WatchEvent::Bookmark {
            resource_version,
            initial_events_end,
        } => {
            assert!(!initial_events_end);
            assert_eq!(resource_version, rv(&b));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_slow_watcher_is_closed_without_blocking_writers_or_others() {
    let o = Objects::new(Arc::new(MemoryStorage::with_limits(1_000, 4)));
    let a = create(&o, "default", "a", json!({})).await;
    let from = WatchOptions {
        resource_version: Some(rv(&a)),
        ..Default::default()
    };
    let mut slow = o.watch(workspaces(), None, &from).await.unwrap();
    let mut fast = o.watch(workspaces(), None, &from).await.unwrap();
    let writer = {
        let o = o.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                label(&o, "default", "a", "i", &i.to_string()).await;
                // Let the consuming watcher drain between writes (single-threaded runtime).
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..20 {
        assert_eq!(summary(&next(&mut fast).await), ev("MODIFIED", "a"));
    }
    writer.await.unwrap();

    // The slow one gets what was buffered, then an Expired error, then the end.
    let mut modified = 0;
    loop {
        match next(&mut slow).await {
            WatchEvent::Modified(_) => modified += 1,
            WatchEvent::Error(Error::Expired(_)) => break,
            other => panic!("{other:?}"),
        }
        assert!(modified <= 4, "more events than the buffer holds");
    }
    assert!(slow.next().await.is_none());
}

/// Racing read-modify-write cycles with resourceVersions: every acknowledged update is kept,
/// losers get Conflict, and a watcher sees every acknowledged write in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_lose_nothing() {
    const TASKS: usize = 8;
    const UPDATES: usize = 50;
    let o = objects();
    let created = create(&o, "default", "counter", json!({})).await;
    let mut watch = o
        .watch(
            workspaces(),
            None,
            &WatchOptions {
                resource_version: Some(rv(&created)),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let o = o.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            let mut conflicts = 0usize;
            // Bounded: each attempt either lands or loses to a write that landed.
            for _ in 0..TASKS * UPDATES * 4 {
                if written.len() == UPDATES {
                    break;
                }
                let mut current = o
                    .get(workspaces(), Some("default"), "counter")
                    .await
                    .unwrap()
                    .to_value()
                    .unwrap();
                let n: u64 = current["metadata"]["annotations"]["n"]
                    .as_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap();
                current["metadata"]["annotations"] = json!({"n": (n + 1).to_string()});
                match o
                    .update(
                        workspaces(),
                        Some("default"),
                        "counter",
                        None,
                        current,
                        &WriteOptions::default(),
                    )
                    .await
                {
                    Ok(_) => written.push(n + 1),
                    Err(Error::Conflict { .. }) => conflicts += 1,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            (written, conflicts)
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        // Losers saw only Conflicts (any other error panics in the task).
        let (written, _conflicts) = task.await.unwrap();
        assert_eq!(written.len(), UPDATES);
        acknowledged.extend(written);
    }
    acknowledged.sort_unstable();
    let expected: Vec<u64> = (1..=(TASKS * UPDATES) as u64).collect();
    assert_eq!(
        acknowledged, expected,
        "each value was written exactly once"
    );

    let stored = o
        .get(workspaces(), Some("default"), "counter")
        .await
        .unwrap();
    assert_eq!(
        stored.to_value().unwrap()["metadata"]["annotations"]["n"],
        (TASKS * UPDATES).to_string()
    );
    for expected in 1..=(TASKS * UPDATES) {
        match next(&mut watch).await {
            WatchEvent::Modified(object) => {
                assert_eq!(
                    object.to_value().unwrap()["metadata"]["annotations"]["n"],
                    expected.to_string()
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
