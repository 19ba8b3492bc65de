//! kube-rs against the aggregated apiserver over TLS: typed CRUD with `Api<CoderWorkspace>`,
//! the status subresource, a paginated list, and `kube::runtime::watcher` resuming after its
//! watch ends, relisting after a 410, and using streaming lists.

use crate::apiserver_support as support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use coder_k8s::api::aggregation::v1alpha1::{CoderWorkspace, CoderWorkspaceSpec};
use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::MemoryStorage;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use support::*;

fn ws(name: &str, labels: &[(&str, &str)]) -> CoderWorkspace {
    let mut w = CoderWorkspace::new(
        name,
        CoderWorkspaceSpec {
            running: Some(true),
            ..Default::default()
        },
    );
    w.metadata.namespace = Some("default".into());
    if !labels.is_empty() {
        w.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }
    w
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_crud_status_and_pagination() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let api: Api<CoderWorkspace> = Api::namespaced(client.clone(), "default");

    let created = api
        .create(&PostParams::default(), &ws("one", &[]))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().expect("uid");
    assert!(created.metadata.resource_version.is_some());
    assert_eq!(created.metadata.generation, Some(1));

    let mut fetched = api.get("one").await.unwrap();
    assert_eq!(fetched.metadata.uid.as_deref(), Some(uid.as_str()));
    fetched.spec.running = Some(false);
    let replaced = api
        .replace("one", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_eq!(replaced.spec.running, Some(false));
    assert_eq!(replaced.metadata.generation, Some(2));

    // Status goes through the subresource and leaves the spec and generation alone.
    let status = api
        .patch_status(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"autoShutdown": "2030-01-01T00:00:00Z"}})),
        )
        .await
        .unwrap();
    assert!(status.status.and_then(|s| s.auto_shutdown).is_some());
    assert_eq!(status.metadata.generation, Some(2));

    // dryRun=All answers as if written but stores nothing.
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &ws("ghost", &[]),
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("ghost"));
    assert!(api.get_opt("ghost").await.unwrap().is_none());

    // A paginated list returns every object once, at one resourceVersion.
    for i in 0..23 {
        api.create(&PostParams::default(), &ws(&format!("page-{i:02}"), &[]))
            .await
            .unwrap();
    }
    let mut names = BTreeSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut list_rv = None;
    loop {
        let mut lp = ListParams::default().limit(5);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 5);
        if list_rv.is_none() {
            list_rv = page.metadata.resource_version.clone();
        }
        for item in page.items {
            assert!(names.insert(item.metadata.name.unwrap()), "no duplicates");
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() || pages > 20 {
            break;
        }
    }
    assert_eq!(names.len(), 24, "{names:?}");
    assert_eq!(pages, 5);
    assert!(list_rv.is_some());

    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("one").await.unwrap().is_none());
    let deleted = api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    assert!(deleted.left().is_some_and(|l| l.items.len() == 23));
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    server.stop().await;
}

/// Forwards a watcher's events into a channel so it keeps running while the test acts.
fn spawn_watcher(
    api: Api<CoderWorkspace>,
    config: watcher::Config,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<Event<CoderWorkspace>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = watcher::watcher(api, config).boxed();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                // 410s and reconnects surface as errors; the watcher recovers by itself.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    (rx, task)
}

fn describe(event: &Event<CoderWorkspace>) -> String {
    let name = |w: &CoderWorkspace| w.metadata.name.clone().unwrap_or_default();
    match event {
        Event::Apply(w) => format!("apply:{}", name(w)),
        Event::Delete(w) => format!("delete:{}", name(w)),
        Event::Init => "init".into(),
        Event::InitApply(w) => format!("initapply:{}", name(w)),
        Event::InitDone => "initdone".into(),
    }
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event<CoderWorkspace>>) -> String {
    let event = tokio::time::timeout(CALL_TIMEOUT, rx.recv())
        .await
        .expect("watcher event in time")
        .expect("watcher running");
    describe(&event)
}

/// Resume: the server ends each watch after 1 s; the watcher re-watches from its last
/// resourceVersion and sees later changes without relisting. Relist: once the store has
/// compacted past that resourceVersion, the re-watch gets 410 and the watcher lists again.
#[tokio::test(flavor = "multi_thread")]
async fn watcher_resumes_and_relists_after_410() {
    let objects = Objects::new(Arc::new(MemoryStorage::with_limits(4, 256)));
    let server = TestServer::start_with(args(), objects).await;
    let api: Api<CoderWorkspace> = Api::namespaced(server.client().await, "default");
    api.create(&PostParams::default(), &ws("keep-0", &[("watched", "yes")]))
        .await
        .unwrap();

    let config = watcher::Config::default()
        .labels("watched=yes")
        .timeout(1)
        .disable_bookmarks();
    let (mut rx, task) = spawn_watcher(api.clone(), config);
    assert_eq!(next(&mut rx).await, "init");
    assert_eq!(next(&mut rx).await, "initapply:keep-0");
    assert_eq!(next(&mut rx).await, "initdone");

    // Let at least one watch end and be resumed, then change something.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    api.create(&PostParams::default(), &ws("keep-1", &[("watched", "yes")]))
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx).await,
        "apply:keep-1",
        "resumed without a relist"
    );

    // Writes the selector hides move the store's window past the watcher's resourceVersion.
    for i in 0..12 {
        api.create(&PostParams::default(), &ws(&format!("noise-{i}"), &[]))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut rx).await, "init", "relisted after 410 Expired");
    let mut listed = BTreeSet::new();
    loop {
        match next(&mut rx).await.as_str() {
            "initdone" => break,
            other => {
                listed.insert(other.to_string());
            }
        }
    }
    assert_eq!(
        listed,
        BTreeSet::from([
            "initapply:keep-0".to_string(),
            "initapply:keep-1".to_string()
        ])
    );
    task.abort();
    server.stop().await;
}

/// Streaming lists (`sendInitialEvents=true`): initial state as ADDED events, then the
/// `k8s.io/initial-events-end` bookmark, which the watcher needs to finish its init.
#[tokio::test(flavor = "multi_thread")]
async fn watcher_streaming_lists() {
    let server = TestServer::start().await;
    let api: Api<CoderWorkspace> = Api::namespaced(server.client().await, "default");
    for name in ["s-1", "s-2"] {
        api.create(&PostParams::default(), &ws(name, &[]))
            .await
            .unwrap();
    }
    let (mut rx, task) = spawn_watcher(api.clone(), watcher::Config::default().streaming_lists());
    assert_eq!(next(&mut rx).await, "init");
    let mut listed = BTreeSet::new();
    loop {
        match next(&mut rx).await.as_str() {
            "initdone" => break,
            other => {
                listed.insert(other.to_string());
            }
        }
    }
    assert_eq!(
        listed,
        BTreeSet::from(["initapply:s-1".to_string(), "initapply:s-2".to_string()])
    );
    api.delete("s-1", &DeleteParams::default()).await.unwrap();
    assert_eq!(next(&mut rx).await, "delete:s-1");
    task.abort();
    server.stop().await;
}
