//! The aggregated apiserver on a real etcd (`--storage=etcd`): two replicas sharing one etcd,
//! an etcd outage (503 + Retry-After, /readyz failing, automatic recovery, no acknowledged
//! write lost or doubled), and compaction (410 on watch, kube-rs watcher relists).

use crate::apiserver_support as support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use coder_k8s::api::aggregation::v1alpha1::{CoderWorkspace, CoderWorkspaceSpec};
use coder_k8s::apiserver::ApiserverArgs;
use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::etcd::client::{ClientConfig, EtcdClient};
use coder_k8s::apiserver::storage::etcd::wire::{CompactionRequest, RangeRequest};
use coder_k8s::apiserver::storage::options::{Backend, StorageArgs};
use futures::StreamExt;
use http::{Method, StatusCode};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};

use envtest::Etcd;
use support::*;

const WS_PATH: &str = "/apis/aggregation.coder.com/v1alpha1/namespaces";

fn etcd_args(etcd: &Etcd, prefix: &str) -> ApiserverArgs {
    ApiserverArgs {
        storage: StorageArgs {
            backend: Backend::Etcd,
            etcd_servers: vec![etcd.url().to_string()],
            etcd_prefix: prefix.to_string(),
            etcd_request_timeout: Duration::from_secs(2),
            etcd_dial_timeout: Duration::from_secs(2),
            ..StorageArgs::default()
        },
        ..args()
    }
}

async fn replica(etcd: &Etcd, prefix: &str) -> TestServer {
    let args = etcd_args(etcd, prefix);
    let objects = Objects::new(args.storage.open().await.expect("etcd storage"));
    TestServer::start_with(args, objects).await
}

fn ws(ns: &str, name: &str) -> CoderWorkspace {
    let mut w = CoderWorkspace::new(
        name,
        CoderWorkspaceSpec {
            running: Some(true),
            ..Default::default()
        },
    );
    w.metadata.namespace = Some(ns.into());
    w
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_objects_versions_and_watches() {
    let etcd = Etcd::start();
    let a = replica(&etcd, "/registry/replicas").await;
    let b = replica(&etcd, "/registry/replicas").await;
    let api_a: Api<CoderWorkspace> = Api::namespaced(a.client().await, "default");
    let api_b: Api<CoderWorkspace> = Api::namespaced(b.client().await, "default");

    // A kube-rs watcher on B sees what is written on A.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let watched = api_b.clone();
    let watcher_task = tokio::spawn(async move {
        let mut events = watcher::watcher(watched, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            if let Ok(Event::Apply(o) | Event::InitApply(o)) = event {
                let _ = seen_tx.send((o.metadata.name.unwrap_or_default(), o.spec.running));
            }
        }
    });

    let created = api_a
        .create(&PostParams::default(), &ws("default", "one"))
        .await
        .unwrap();
    let read_on_b = api_b.get("one").await.unwrap();
    assert_eq!(read_on_b.metadata.uid, created.metadata.uid);
    assert_eq!(
        read_on_b.metadata.resource_version,
        created.metadata.resource_version
    );
    let seen = tokio::time::timeout(Duration::from_secs(20), seen_rx.recv())
        .await
        .expect("B's watcher sees A's create")
        .unwrap();
    assert_eq!(seen, ("one".to_string(), Some(true)));

    // Conflicting updates from the same resourceVersion across both replicas: one wins.
    let mut updates = Vec::new();
    for i in 0..6 {
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let mut changed = created.clone();
        changed.spec.running = Some(i % 3 == 0);
        changed.metadata.labels = Some([("writer".to_string(), i.to_string())].into());
        updates.push(tokio::spawn(async move {
            api.replace("one", &PostParams::default(), &changed).await
        }));
    }
    let mut won = 0;
    for update in updates {
        match update.await.unwrap() {
            Ok(_) => won += 1,
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won, 1);

    // A list on either replica agrees, resourceVersion included.
    let on_a = api_a.list(&ListParams::default()).await.unwrap();
    let on_b = api_b.list(&ListParams::default()).await.unwrap();
    assert_eq!(on_a.items.len(), 1);
    assert_eq!(
        on_a.items[0].metadata.resource_version,
        on_b.items[0].metadata.resource_version
    );
    watcher_task.abort();
    a.stop().await;
    b.stop().await;
}

/// A create retried until it is acknowledged: 201, or 409 AlreadyExists after an earlier
/// attempt whose answer was lost. Returns how many attempts failed with 503.
async fn create_until_acknowledged(http: &Http, ns: &str, name: &str) -> u32 {
    let body = serde_json::to_vec(&workspace(ns, name, true)).unwrap();
    let path = format!("{WS_PATH}/{ns}/coderworkspaces");
    let mut unavailable = 0;
    for attempt in 0..300 {
        let r = raw(
            http,
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
        match r.status {
            StatusCode::CREATED => return unavailable,
            StatusCode::CONFLICT if attempt > 0 => return unavailable,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.json()["reason"], "ServiceUnavailable");
                assert_eq!(r.header("retry-after"), Some("1"));
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("create {name}: unexpected {other}: {}", r.text()),
        }
    }
    panic!("create {name} was never acknowledged");
}

#[tokio::test(flavor = "multi_thread")]
async fn etcd_outage_is_503_then_recovers_without_losing_acknowledged_writes() {
    let mut etcd = Etcd::start();
    let server = replica(&etcd, "/registry/outage").await;
    let http = server.http();
    assert_eq!(get(&http, "/readyz").await.status, StatusCode::OK);

    let writer_http = http.clone();
    let writer = tokio::spawn(async move {
        let mut unavailable = 0;
        for i in 0..60 {
            unavailable +=
                create_until_acknowledged(&writer_http, "default", &format!("ws-{i}")).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        unavailable
    });

    tokio::time::sleep(Duration::from_millis(400)).await;
    etcd.kill();
    // Reads fail fast with 503 and Retry-After; readiness fails.
    let started = Instant::now();
    let r = get(&http, &format!("{WS_PATH}/default/coderworkspaces")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.json()["code"], 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    let ready = get(&http, "/readyz?verbose").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        ready.text().contains("[-]storage failed"),
        "{}",
        ready.text()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    etcd.restart();
    eventually(
        Duration::from_secs(30),
        "readyz after etcd restart",
        || async { get(&http, "/readyz").await.status == StatusCode::OK },
    )
    .await;
    let unavailable = tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    assert!(unavailable > 0, "the writer never saw the outage");

    let list = get(&http, &format!("{WS_PATH}/default/coderworkspaces")).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.json()["items"].as_array().unwrap().clone();
    let names: Vec<String> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(names.len(), 60, "every acknowledged write exactly once");
    assert_eq!(unique.len(), 60);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_expires_old_watches_and_kube_watcher_relists_without_watch_cache() {
    compaction_expires_old_watches_and_kube_watcher_relists(false).await;
}

/// With the watch cache, a watch is served from the cache's own history while it covers the
/// version; here the history keeps 3 events, so the 5 later writes push x's version out and
/// the watch falls back to etcd, where it was compacted.
#[tokio::test(flavor = "multi_thread")]
async fn compaction_expires_old_watches_and_kube_watcher_relists_with_watch_cache() {
    compaction_expires_old_watches_and_kube_watcher_relists(true).await;
}

async fn compaction_expires_old_watches_and_kube_watcher_relists(watch_cache: bool) {
    let etcd = Etcd::start();
    let mut args = etcd_args(&etcd, "/registry/compaction");
    args.storage.watch_cache = watch_cache;
    args.storage.watch_history_events = 3;
    let objects = Objects::new(args.storage.open().await.expect("etcd storage"));
    let server = TestServer::start_with(args, objects).await;
    let http = server.http();
    let client = server.client().await;
    let watched: Api<CoderWorkspace> = Api::namespaced(client.clone(), "watched");
    let other: Api<CoderWorkspace> = Api::namespaced(client, "other");

    let first = watched
        .create(&PostParams::default(), &ws("watched", "x"))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.clone().unwrap();

    // Each watch of this watcher lasts 1 s, then resumes from the last version it saw.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher_api = watched.clone();
    let watcher_task = tokio::spawn(async move {
        let config = watcher::Config::default().timeout(1).disable_bookmarks();
        let mut events = watcher::watcher(watcher_api, config).boxed();
        while let Some(event) = events.next().await {
            let label = match event {
                Ok(Event::Init) => "init".to_string(),
                Ok(Event::InitApply(o)) => format!("init-apply {}", o.metadata.name.unwrap()),
                Ok(Event::InitDone) => "init-done".to_string(),
                Ok(Event::Apply(o)) => format!("apply {}", o.metadata.name.unwrap()),
                Ok(Event::Delete(o)) => format!("delete {}", o.metadata.name.unwrap()),
                Err(e) => format!("error {e}"),
            };
            let _ = tx.send(label);
        }
    });
    let expect = async |rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(label)) if label == want => return,
                Ok(Some(_)) => continue,
                _ => panic!("the watcher never reported {want:?}"),
            }
        }
    };
    expect(&mut rx, "init-done").await;

    // Writes elsewhere move etcd's revision on; then everything before now is compacted.
    for i in 0..5 {
        other
            .create(&PostParams::default(), &ws("other", &format!("o{i}")))
            .await
            .unwrap();
    }
    let etcd_client = EtcdClient::connect(&ClientConfig {
        endpoints: vec![etcd.url().to_string()],
        tls: None,
        dial_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    })
    .unwrap();
    let current = etcd_client
        .range(RangeRequest {
            key: b"/".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let revision = current.header.unwrap().revision;
    etcd_client
        .compact(CompactionRequest {
            revision,
            physical: false,
        })
        .await
        .unwrap();

    // A watch from the old version: 200 and one ERROR frame with 410 Expired.
    let r = get(
        &http,
        &format!(
            "{WS_PATH}/watched/coderworkspaces?watch=1&resourceVersion={old_rv}&timeoutSeconds=5"
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let frame: serde_json::Value =
        serde_json::from_str(r.text().lines().next().expect("one frame")).unwrap();
    assert_eq!(frame["type"], "ERROR", "{frame}");
    assert_eq!(frame["object"]["code"], 410);
    assert_eq!(frame["object"]["reason"], "Expired");

    // The watcher's next watch resumes from x's version, gets 410, relists, and continues.
    expect(&mut rx, "init").await;
    expect(&mut rx, "init-apply x").await;
    expect(&mut rx, "init-done").await;
    watched
        .create(&PostParams::default(), &ws("watched", "y"))
        .await
        .unwrap();
    expect(&mut rx, "apply y").await;
    watcher_task.abort();
    server.stop().await;
}
