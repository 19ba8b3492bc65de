//! Bounded memory: a scripted abuse (a large object patched over and over, many objects) keeps
//! the in-memory change history within its byte budget, asserted on the store's own byte
//! accounting, which `/metrics` reports as `coder_k8s_apiserver_storage_history_bytes`.

#[path = "apiserver_support/mod.rs"]
mod support;

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
    // A revision is held twice, as JSON text and as the parsed value: both are counted.
    let one = s.history_bytes();
    assert!(
        one >= 2 * 1_400_000,
        "one 1.4 MB revision counted as {one} bytes"
    );
    assert!(
        one < 3 * 1_400_000,
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
    assert_eq!(recent.items[0].value["v"], 198);

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
