//! Optimistic concurrency over HTTP: concurrent updates carrying resourceVersions. Exactly one
//! writer wins per version, losers get 409 Conflict, and no acknowledged update is lost.

use crate::apiserver_support as support;

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use support::*;

const N: usize = 16;

async fn put(client: &Http, object: &serde_json::Value) -> Raw {
    raw(
        client,
        Method::PUT,
        &ws_path("default", Some("shared")),
        &[("content-type", "application/json")],
        serde_json::to_vec(object).unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_winner_per_resource_version() {
    let server = TestServer::start().await;
    let client = server.http();
    let created = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        serde_json::to_vec(&workspace("default", "shared", true)).unwrap(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let base = created.json();

    // All writers start from the same resourceVersion.
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let client = client.clone();
        let barrier = barrier.clone();
        let mut object = base.clone();
        object["metadata"]["labels"] = json!({ "writer": format!("w{i}") });
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (i, put(&client, &object).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r.status {
            StatusCode::OK => winners.push(i),
            _ => {
                assert_status(&r, 409, "Conflict");
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let stored = get(&client, &ws_path("default", Some("shared")))
        .await
        .json();
    assert_eq!(
        stored["metadata"]["labels"]["writer"],
        format!("w{}", winners[0])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retrying_writers_lose_nothing() {
    let server = TestServer::start().await;
    let client = server.http();
    let created = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        serde_json::to_vec(&workspace("default", "shared", true)).unwrap(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);

    // Each writer adds its own label with read-modify-write, retrying on 409.
    let mut tasks = Vec::new();
    for i in 0..N {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..200 {
                let mut object = get(&client, &ws_path("default", Some("shared")))
                    .await
                    .json();
                object["metadata"]["labels"][format!("w{i}")] = json!("done");
                let r = put(&client, &object).await;
                match r.status {
                    StatusCode::OK => return (true, conflicts),
                    _ => {
                        assert_status(&r, 409, "Conflict");
                        conflicts += 1;
                    }
                }
            }
            (false, conflicts)
        }));
    }
    let mut acknowledged = 0;
    for t in tasks {
        let (ok, _conflicts) = t.await.unwrap();
        acknowledged += usize::from(ok);
    }
    assert_eq!(acknowledged, N, "every writer eventually succeeds");
    let stored = get(&client, &ws_path("default", Some("shared")))
        .await
        .json();
    let labels = stored["metadata"]["labels"].as_object().expect("labels");
    for i in 0..N {
        assert_eq!(labels[&format!("w{i}")], "done", "update of w{i} kept");
    }
    server.stop().await;
}
