//! Bounded memory: a scripted abuse (a large object patched over and over, many objects) keeps
//! the in-memory change history within its byte budget, asserted on the store's own byte
//! accounting, which `/metrics` reports as `coder_k8s_apiserver_storage_history_bytes`.

use crate::apiserver_support as support;

use std::sync::Arc;

use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::{
    Key, ListRequest, MemoryConfig, MemoryStorage, Prefix, Storage, StorageError,
};
use http::{Method, StatusCode};
use serde_json::json;
use support::*;

const BUDGET: u64 = 8 * 1024 * 1024;

fn key(name: &str) -> Key {
    Key::object("g", "things", Some("ns"), name)
}

#[tokio::test]
async fn large_objects_patched_repeatedly_stay_within_the_history_budget() {
    let s = MemoryStorage::with_config(MemoryConfig {
        history_bytes: BUDGET,
        ..MemoryConfig::default()
    });
    let big =
        |v: usize| json!({"metadata": {"name": "big"}, "v": v, "data": "x".repeat(1_400_000)});
    let first = s.create(&key("big"), big(0)).await.unwrap();
    // A revision is held once, as its JSON text (no parsed value is kept), plus its small
    // attributes: counted as that.
    let one = s.history_bytes();
    assert!(
        one >= 1_400_000,
        "one 1.4 MB revision counted as {one} bytes"
    );
    assert!(
        one < 1_400_000 + 4_096,
        "one 1.4 MB revision counted as {one} bytes"
    );
    let mut peak = 0;
    for v in 1..200 {
        s.update(&key("big"), big(v), None).await.unwrap();
        let held = s.history_bytes();
        assert!(held <= BUDGET, "history holds {held} bytes after patch {v}");
        peak = peak.max(held);
    }
    // The budget is used, not just respected by keeping nothing.
    assert!(peak > BUDGET / 2, "peak {peak}");
    // What fell out of the budget is compacted: a list there is Expired, a recent one works.
    let old = s
        .list(ListRequest {
            prefix: Prefix::collection("g", "things", None),
            revision: Some(first.revision),
            start_after: None,
            limit: None,
        })
        .await;
    assert!(matches!(old, Err(StorageError::Expired { .. })), "{old:?}");
    let current = s.current_revision().await.unwrap();
    let recent = s
        .list(ListRequest {
            prefix: Prefix::collection("g", "things", None),
            revision: Some(current - 1),
            start_after: None,
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(recent.items[0].value.to_value().unwrap()["v"], 198);

    // Many small objects: the event bound applies too, and deletes are accounted.
    for i in 0..2_000 {
        s.create(
            &key(&format!("s{i}")),
            json!({"metadata": {"name": format!("s{i}")}}),
        )
        .await
        .unwrap();
    }
    for i in 0..2_000 {
        s.delete(&key(&format!("s{i}")), None).await.unwrap();
    }
    assert!(s.history_bytes() <= BUDGET);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_report_the_history_bytes_and_large_objects_get_413() {
    // A small object limit (--max-object-bytes=4096): our kinds' validation caps annotations
    // at 256 KiB, so the default 1.5 MiB cannot be reached through this API.
    let storage = Arc::new(MemoryStorage::with_config(MemoryConfig {
        history_bytes: BUDGET,
        max_object_bytes: 4096,
        ..MemoryConfig::default()
    }));
    let server = TestServer::start_with(args(), Objects::new(storage.clone())).await;
    let http = server.http();
    let path = "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces";
    let body = serde_json::to_vec(&workspace("default", "a", true)).unwrap();
    let r = raw(
        &http,
        Method::POST,
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let mut huge = workspace("default", "huge", true);
    huge["metadata"]["annotations"] = json!({"blob": "x".repeat(8192)});
    let r = raw(
        &http,
        Method::POST,
        path,
        &[("content-type", "application/json")],
        serde_json::to_vec(&huge).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.json()["reason"], "RequestEntityTooLarge");
    assert_eq!(
        get(&http, &format!("{path}/huge")).await.status,
        StatusCode::NOT_FOUND
    );

    let metrics = get(&http, "/metrics").await.text();
    let line = format!(
        "coder_k8s_apiserver_storage_history_bytes {}",
        storage.history_bytes()
    );
    assert!(storage.history_bytes() > 0);
    assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    server.stop().await;
}

/// The per-object footprint the store accounts for (what `hack/bench.sh` seeds 10,000 of): a
/// revision holds its JSON text and a few attribute strings, not a parsed `Value` beside it
/// (which took ~4.4 KiB more for this ~550-byte object, managedFields being six maps).
#[tokio::test(flavor = "multi_thread")]
async fn a_stored_workspace_holds_its_json_and_little_more() {
    const OBJECTS: usize = 20;
    let storage = Arc::new(MemoryStorage::new());
    let server = TestServer::start_with(args(), Objects::new(storage.clone())).await;
    let http = server.http();
    let path = "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces";
    for i in 0..OBJECTS {
        let mut ws = workspace("default", &format!("ws-{i:05}"), true);
        ws["metadata"]["labels"] = json!({"bench": "yes"});
        let r = raw(
            &http,
            Method::POST,
            path,
            &[("content-type", "application/json")],
            serde_json::to_vec(&ws).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let page = storage
        .list(ListRequest {
            prefix: Prefix::collection("aggregation.coder.com", "coderworkspaces", None),
            revision: None,
            start_after: None,
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), OBJECTS);
    let json_total: u64 = page.items.iter().map(|i| i.value.json().len() as u64).sum();
    for item in &page.items {
        let text = item.value.json().len() as u64;
        // Stored as served, managedFields included: the bench object's size.
        assert!(text > 400, "{text} bytes of JSON");
        // The text, the object (its `Bytes` handle and attribute handles, ~100 bytes) and the
        // name, namespace and label strings (~40 bytes here).
        let held = item.value.held_bytes();
        assert!(held <= text + 256, "{held} held for {text} bytes of JSON");
    }
    // The history counts the same: one create per object, each at its text plus < 256 bytes.
    let history = storage.history_bytes();
    assert!(
        history <= json_total + 256 * OBJECTS as u64,
        "history {history} for {json_total} bytes of JSON"
    );
    server.stop().await;
}
