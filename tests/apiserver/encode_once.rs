//! Encode once: a stored revision is serialized to JSON a single time, and the write's response,
//! GET, LIST and every watcher send those same bytes. The encoding counter is process-wide, so
//! the test runs in a child process of its own (`common/own_process.rs`).

use crate::apiserver_support as support;

use coder_k8s::apiserver::storage::stored::encodings_total;
use http::{Method, StatusCode};
use support::*;

fn watch_path(rv: &str) -> String {
    format!(
        "{}?watch=1&resourceVersion={rv}&timeoutSeconds=1",
        ws_path("default", None)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn one_revision_is_encoded_once_for_get_list_and_every_watcher() {
    if !crate::own_process::run_alone(
        "encode_once::one_revision_is_encoded_once_for_get_list_and_every_watcher",
    )
    .await
    {
        return;
    }
    let server = TestServer::start().await;
    let client = server.http();
    let empty = get(&client, &ws_path("default", None)).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text());
    let before_create = empty.json()["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string();
    let encoded_before = encodings_total();
    let created = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        serde_json::to_vec(&workspace("default", "once", true)).unwrap(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());

    let (object_path, list_path) = (ws_path("default", Some("once")), ws_path("default", None));
    let watch = watch_path(&before_create);
    let (one, list, first_watch, second_watch) = tokio::join!(
        get(&client, &object_path),
        get(&client, &list_path),
        get(&client, &watch),
        get(&client, &watch),
    );
    let encoded = encodings_total() - encoded_before;
    assert_eq!(
        encoded, 1,
        "the create's response, GET, LIST and two watchers of one revision serialize it once"
    );

    // Every reader got the same bytes, and they are the object the write stored.
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    let object = one.text();
    assert_eq!(
        object,
        created.text(),
        "the write answered with the stored revision's bytes"
    );
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(
        list.text().contains(&format!(r#""items":[{object}]"#)),
        "the list embeds the object's bytes: {}",
        list.text()
    );
    let frame = format!(r#"{{"type":"ADDED","object":{object}}}"#);
    for watch in [&first_watch, &second_watch] {
        assert_eq!(watch.status, StatusCode::OK, "{}", watch.text());
        assert_eq!(watch.text().lines().next(), Some(frame.as_str()));
    }
    server.stop().await;
}
