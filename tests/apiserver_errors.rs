//! Every error code the aggregated apiserver returns, provoked once through a real client, with
//! the Status body checked: kind/apiVersion, code, reason, message and details.

#[path = "apiserver_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::{
    Key, ListPage, ListRequest, MemoryStorage, Prefix, Revision, Storage, StorageError, Versioned,
    WatchStream,
};
use coder_k8s::apiserver::{self, Limits};
use futures::future::BoxFuture;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_status_bodies() {
    let server = TestServer::start().await;
    let client = server.http();
    let body = serde_json::to_vec(&workspace("default", "a", true)).unwrap();
    let created = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        body.clone(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());

    // 400: a body that is not JSON.
    let r = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        b"{not json".to_vec(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");

    // 401: credentials that cannot be read.
    let r = raw(
        &client,
        Method::GET,
        &ws_path("default", None),
        &[("authorization", "Token abc")],
        Vec::new(),
    )
    .await;
    assert_status(&r, 401, "Unauthorized");

    // 403: impersonation is refused without an authorizer.
    let r = raw(
        &client,
        Method::GET,
        &ws_path("default", None),
        &[("impersonate-user", "eve")],
        Vec::new(),
    )
    .await;
    let v = assert_status(&r, 403, "Forbidden");
    assert!(v["message"].as_str().unwrap().contains("impersonate"));

    // 404: a missing object, with kube's message and details.
    let r = get(&client, &ws_path("default", Some("missing"))).await;
    let v = assert_status(&r, 404, "NotFound");
    assert_eq!(
        v["message"],
        "coderworkspaces.aggregation.coder.com \"missing\" not found"
    );
    assert_eq!(v["details"]["name"], "missing");
    assert_eq!(v["details"]["group"], "aggregation.coder.com");
    assert_eq!(v["details"]["kind"], "coderworkspaces");
    // ...and an unknown resource.
    assert_status(
        &get(&client, &format!("{WS}/nothings")).await,
        404,
        "NotFound",
    );

    // 405: create on the all-namespaces path.
    let r = raw(
        &client,
        Method::POST,
        &format!("{WS}/coderworkspaces"),
        &[("content-type", "application/json")],
        body.clone(),
    )
    .await;
    assert_status(&r, 405, "MethodNotAllowed");

    // 406: a representation this server does not produce.
    let r = raw(
        &client,
        Method::GET,
        &ws_path("default", None),
        &[("accept", "application/json;as=Foo;v=v1;g=meta.k8s.io")],
        Vec::new(),
    )
    .await;
    assert_status(&r, 406, "NotAcceptable");

    // 409: creating the same name twice.
    let r = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        body.clone(),
    )
    .await;
    let v = assert_status(&r, 409, "AlreadyExists");
    assert_eq!(v["details"]["name"], "a");

    // 409: an update from a stale resourceVersion.
    let mut stale = created.json();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["spec"]["running"] = json!(false);
    let fresh = raw(
        &client,
        Method::PATCH,
        &ws_path("default", Some("a")),
        &[("content-type", "application/merge-patch+json")],
        br#"{"metadata":{"labels":{"bump":"1"}}}"#.to_vec(),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text());
    let r = raw(
        &client,
        Method::PUT,
        &ws_path("default", Some("a")),
        &[("content-type", "application/json")],
        serde_json::to_vec(&stale).unwrap(),
    )
    .await;
    assert_status(&r, 409, "Conflict");

    // 413: a body over 3 MiB.
    let huge = vec![b' '; 3 * 1024 * 1024 + 1];
    let r = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        huge,
    )
    .await;
    assert_status(&r, 413, "RequestEntityTooLarge");

    // 415: strategic merge patch (like custom resources) and CBOR apply bodies.
    let r = raw(
        &client,
        Method::PATCH,
        &ws_path("default", Some("a")),
        &[("content-type", "application/strategic-merge-patch+json")],
        b"{}".to_vec(),
    )
    .await;
    assert_status(&r, 415, "UnsupportedMediaType");
    let r = raw(
        &client,
        Method::PATCH,
        &ws_path("default", Some("a")),
        &[("content-type", "application/apply-patch+cbor")],
        b"{}".to_vec(),
    )
    .await;
    let v = assert_status(&r, 415, "UnsupportedMediaType");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("application/apply-patch+yaml")
    );

    // 422: an invalid name, with a field cause.
    let r = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        serde_json::to_vec(&workspace("default", "Not_A_Name", true)).unwrap(),
    )
    .await;
    let v = assert_status(&r, 422, "Invalid");
    assert_eq!(v["details"]["kind"], "CoderWorkspace");
    let causes = v["details"]["causes"].as_array().expect("causes");
    assert!(causes.iter().any(|c| c["field"] == "metadata.name"), "{v}");

    server.stop().await;
}

/// 410: a watch from a resourceVersion the store no longer retains gets an ERROR frame with an
/// Expired Status (what makes informers relist).
#[tokio::test(flavor = "multi_thread")]
async fn watch_from_compacted_revision_is_gone() {
    let objects = Objects::new(Arc::new(MemoryStorage::with_limits(4, 64)));
    let server = TestServer::start_with(args(), objects).await;
    let client = server.http();
    for i in 0..12 {
        let r = raw(
            &client,
            Method::POST,
            &ws_path("default", None),
            &[("content-type", "application/json")],
            serde_json::to_vec(&workspace("default", &format!("w{i}"), true)).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let r = get(
        &client,
        &format!(
            "{}?watch=true&resourceVersion=1&timeoutSeconds=5",
            ws_path("default", None)
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let frames: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["type"], "ERROR");
    let status = &frames[0]["object"];
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["code"], 410);
    assert_eq!(status["reason"], "Expired");
    server.stop().await;
}

/// A storage backend that is down: every call fails.
struct BrokenStorage;

fn broken<T>() -> BoxFuture<'static, Result<T, StorageError>>
where
    T: Send + 'static,
{
    Box::pin(async { Err(StorageError::Internal("disk on fire".into())) })
}

impl Storage for BrokenStorage {
    fn get<'a>(&'a self, _: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        broken()
    }
    fn list(&self, _: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>> {
        broken()
    }
    fn create<'a>(
        &'a self,
        _: &'a Key,
        _: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        broken()
    }
    fn update<'a>(
        &'a self,
        _: &'a Key,
        _: Value,
        _: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        broken()
    }
    fn delete<'a>(
        &'a self,
        _: &'a Key,
        _: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        broken()
    }
    fn watch(&self, _: Prefix, _: Revision) -> BoxFuture<'_, Result<WatchStream, StorageError>> {
        broken()
    }
    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>> {
        broken()
    }
    fn count(&self) -> BoxFuture<'_, u64> {
        Box::pin(async { 0 })
    }
}

/// 500: a storage failure is an InternalError Status.
#[tokio::test(flavor = "multi_thread")]
async fn storage_failure_is_internal_error() {
    let server = TestServer::start_with(args(), Objects::new(Arc::new(BrokenStorage))).await;
    let client = server.http();
    let r = get(&client, &ws_path("default", Some("a"))).await;
    let v = assert_status(&r, 500, "InternalError");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Internal error occurred")
    );
    server.stop().await;
}

/// 503: once shutdown starts, readiness fails (while requests are still served) so load
/// balancers stop sending traffic before the listener closes.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_fails_while_draining() {
    let mut a = args();
    a.shutdown_delay_duration = Duration::from_secs(20);
    let server = TestServer::start_with(a, apiserver::memory_objects()).await;
    let client = server.http();
    assert_eq!(get(&client, "/readyz").await.status, StatusCode::OK);
    server.shutdown.cancel();
    let r = get(&client, "/readyz?verbose").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().contains("[-]shutdown failed"), "{}", r.text());
    // The API itself keeps answering during the delay.
    assert_eq!(get(&client, "/apis").await.status, StatusCode::OK);
    assert_eq!(get(&client, "/livez").await.status, StatusCode::OK);
}

/// A request body that sends nothing until released, holding its request open.
fn stalled_body() -> (axum::body::Body, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stream = futures::stream::once(async move {
        let _ = rx.await;
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{}"))
    });
    (axum::body::Body::from_stream(stream), tx)
}

fn post_request(body: axum::body::Body) -> http::Request<axum::body::Body> {
    http::Request::builder()
        .method(Method::POST)
        .uri(ws_path("default", None))
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

async fn read_status(response: axum::response::Response) -> (StatusCode, Option<String>, Value) {
    use http_body_util::BodyExt;
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry, serde_json::from_slice(&bytes).unwrap())
}

/// 429: beyond --max-requests-inflight, requests are turned away with Retry-After.
#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_in_flight() {
    let limits = Limits {
        max_requests_inflight: 1,
        ..Limits::default()
    };
    let app = apiserver::app(apiserver::memory_objects(), limits);
    let mut releases = Vec::new();
    let mut hold = || {
        let (body, release) = stalled_body();
        releases.push(release);
        tokio::spawn(app.clone().oneshot(post_request(body)))
    };
    let mut held = hold();
    // Bounded wait until a held request occupies the only slot (one that lost the race to a
    // probe was itself turned away; hold again).
    let mut rejected = None;
    for _ in 0..200 {
        if held.is_finished() {
            held = hold();
        }
        let response = app
            .clone()
            .oneshot(
                http::Request::get(ws_path("default", None))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            rejected = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, retry, v) = read_status(rejected.expect("a request is rejected")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["reason"], "TooManyRequests");
    assert_eq!(v["details"]["retryAfterSeconds"], 1);
    drop(releases);
    let _ = tokio::time::timeout(CALL_TIMEOUT, held).await;
}

/// 504: a request that outlives --request-timeout gets a Timeout Status.
#[tokio::test(flavor = "multi_thread")]
async fn slow_request_times_out() {
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let app = apiserver::app(apiserver::memory_objects(), limits);
    let (body, _release) = stalled_body();
    let response = tokio::time::timeout(CALL_TIMEOUT, app.oneshot(post_request(body)))
        .await
        .expect("answered")
        .unwrap();
    let (status, _, v) = read_status(response).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["code"], 504);
    assert_eq!(v["reason"], "Timeout");
}
