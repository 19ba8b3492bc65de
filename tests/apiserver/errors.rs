//! Every error code the aggregated apiserver returns, provoked once through a real client, with
//! the Status body checked: kind/apiVersion, code, reason, message and details.

use crate::apiserver_support as support;

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

/// The answer to raw bytes written on a fresh TLS connection, read until the server closes it:
/// status code, header block and body.
async fn raw_exchange(server: &TestServer, request: &[u8]) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.url.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut tls = server.http().connect_tls(tcp).await;
    // The server may answer and close before it has read everything; that is fine.
    let _ = tls.write_all(request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut response)).await;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no response head in {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let head = String::from_utf8_lossy(&response[..end]).to_string();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    (code, head, response[end + 4..].to_vec())
}

/// 400, 414 and 431 that hyper answers before any handler runs (the request cannot be parsed)
/// still carry a Status body, with a Content-Length and Content-Type that say so.
#[tokio::test(flavor = "multi_thread")]
async fn unparseable_requests_get_status_bodies() {
    let server = TestServer::start().await;
    let many_headers: String = (0..150).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(2 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "150 header fields",
            format!("GET /version HTTP/1.1\r\nHost: localhost\r\n{many_headers}\r\n").into_bytes(),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "a header block of 2 MiB",
            format!("GET /version HTTP/1.1\r\nHost: localhost\r\n{huge_header}\r\n").into_bytes(),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "a 70 KiB URI",
            format!(
                "GET /apis?{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "a".repeat(70 * 1024)
            )
            .into_bytes(),
            414,
            "RequestURITooLong",
        ),
        (
            "Content-Length: -1",
            format!(
                "POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{{}}",
                ws_path("default", None)
            )
            .into_bytes(),
            400,
            "BadRequest",
        ),
        (
            "a garbage request line",
            b"\x01\x02 garbage\r\n\r\n".to_vec(),
            400,
            "BadRequest",
        ),
    ];
    for (case, request, code, reason) in cases {
        let (status, head, body) = raw_exchange(&server, &request).await;
        assert_eq!(status, code, "{case}: {head}");
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/json"),
            "{case}: {head}"
        );
        assert!(
            lower.contains(&format!("content-length: {}", body.len())),
            "{case}: {head}"
        );
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{case}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
        });
        assert_eq!(v["kind"], "Status", "{case}: {v}");
        assert_eq!(v["apiVersion"], "v1", "{case}: {v}");
        assert_eq!(v["status"], "Failure", "{case}: {v}");
        assert_eq!(v["code"], code, "{case}: {v}");
        assert_eq!(v["reason"], reason, "{case}: {v}");
    }
    // A well-formed request on the same server is answered as before.
    assert_eq!(get(&server.http(), "/version").await.status, StatusCode::OK);
    server.stop().await;
}

/// kube's ListOptions validation: `sendInitialEvents` is forbidden on a list, and a watch needs
/// it together with `resourceVersionMatch=NotOlderThan` (tests/apiserver/parity.rs compares
/// these answers with kube-apiserver's).
#[tokio::test(flavor = "multi_thread")]
async fn send_initial_events_outside_a_watch_list_is_invalid() {
    let server = TestServer::start().await;
    let client = server.http();
    let list = ws_path("default", None);
    let r = get(&client, &format!("{list}?sendInitialEvents=true")).await;
    let v = assert_status(&r, 422, "Invalid");
    assert_eq!(
        v["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
    );
    assert_eq!(v["details"]["group"], "meta.k8s.io");
    assert_eq!(v["details"]["kind"], "ListOptions");
    assert_eq!(
        v["details"]["causes"],
        json!([{
            "reason": "FieldValueForbidden",
            "message": "Forbidden: sendInitialEvents is forbidden for list",
            "field": "sendInitialEvents",
        }])
    );
    let r = get(&client, &format!("{list}?watch=1&sendInitialEvents=true")).await;
    let v = assert_status(&r, 422, "Invalid");
    assert_eq!(
        v["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
    );
    // The watch-list form is served.
    let r = get(
        &client,
        &format!("{list}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    server.stop().await;
}

/// 405 names the methods the path serves in `Allow`.
#[tokio::test(flavor = "multi_thread")]
async fn unsupported_methods_get_405_with_allow() {
    let server = TestServer::start().await;
    let client = server.http();
    let trace = Method::from_bytes(b"TRACE").unwrap();
    let cases = [
        (trace.clone(), ws_path("default", None), "GET, POST, DELETE"),
        (Method::POST, format!("{WS}/coderworkspaces"), "GET"),
        (
            trace.clone(),
            ws_path("default", Some("w")),
            "GET, PUT, PATCH, DELETE",
        ),
        (
            Method::DELETE,
            format!("{}/status", ws_path("default", Some("w"))),
            "GET, PUT, PATCH",
        ),
        (trace.clone(), WS.to_string(), "GET"),
        (Method::PUT, "/apis".to_string(), "GET"),
    ];
    for (method, path, allow) in cases {
        let r = raw(&client, method.clone(), &path, &[], Vec::new()).await;
        assert_status(&r, 405, "MethodNotAllowed");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    // Paths outside /apis (axum's method routers) say the same.
    let r = raw(&client, trace, "/version", &[], Vec::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{:?}",
        r.headers
    );
    server.stop().await;
}

/// --max-request-body-bytes-inflight: bodies held at once across requests are bounded; a body
/// that would go over is turned away with 429, and the bytes come back when a request ends.
#[tokio::test(flavor = "multi_thread")]
async fn request_body_bytes_in_flight_are_bounded() {
    const BUDGET: usize = 64 * 1024;
    let limits = Limits {
        max_body_bytes: BUDGET,
        max_body_bytes_inflight: BUDGET,
        ..Limits::default()
    };
    let app = apiserver::app(apiserver::memory_objects(), limits);
    // A request that has sent 48 KiB of its body (JSON may start with whitespace) and waits.
    let held = |release: tokio::sync::oneshot::Receiver<()>| {
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 48 * 1024]))
        });
        let rest = futures::stream::once(async move {
            let _ = release.await;
            Ok::<_, std::io::Error>(bytes::Bytes::from(
                serde_json::to_vec(&workspace("default", "held", true)).unwrap(),
            ))
        });
        use futures::StreamExt;
        axum::body::Body::from_stream(first.chain(rest))
    };
    // A 32 KiB body: a workspace with a large annotation.
    let sized = |name: &str| {
        let mut object = workspace("default", name, true);
        object["metadata"]["annotations"] = json!({"pad": "p".repeat(32 * 1024)});
        post_request(axum::body::Body::from(serde_json::to_vec(&object).unwrap()))
    };
    let mut holder: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<_>)> = None;
    // Bounded wait until the held body's bytes are reserved: until then the 32 KiB one fits.
    let mut refused = None;
    for attempt in 0..200 {
        if holder.as_ref().is_none_or(|(_, task)| task.is_finished()) {
            // (Re)start the held request: one whose first chunk arrived while a 32 KiB body was
            // reserved was itself refused (48 + 32 KiB is over the budget) and has ended.
            let (release, released) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(app.clone().oneshot(post_request(held(released))));
            holder = Some((release, task));
        }
        let response = app
            .clone()
            .oneshot(sized(&format!("fits-{attempt}")))
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, retry, v) = read_status(refused.expect("a body over the budget is refused")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(v["reason"], "TooManyRequests");
    // The held request completes, and its bytes are free again.
    let (release, holder) = holder.expect("a held request was started");
    release.send(()).unwrap();
    let held_response = tokio::time::timeout(CALL_TIMEOUT, holder)
        .await
        .expect("held request ends")
        .unwrap()
        .unwrap();
    assert_eq!(held_response.status(), StatusCode::CREATED);
    let after = app.clone().oneshot(sized("after")).await.unwrap();
    assert_eq!(after.status(), StatusCode::CREATED);
}

/// A request refused before its body matters (unsupported patch type, options a patch may not
/// carry) still gets its answer when the client is sending a large body: the server reads the
/// body first, so it never closes a connection on unread bytes, which the kernel turns into a
/// reset that can destroy the answer before the client reads it (about half of these were lost
/// when the refusal came first).
#[tokio::test(flavor = "multi_thread")]
async fn early_refusals_reach_a_client_still_sending_its_body() {
    let server = TestServer::start().await;
    let http = server.http();
    let path = ws_path("default", Some("big"));
    let body = format!(
        "{{\"metadata\":{{\"annotations\":{{\"a\":\"{}\"}}}}}}",
        "x".repeat(200 * 1024)
    );
    for _ in 0..30 {
        let unsupported = raw(
            &http,
            Method::PATCH,
            &path,
            &[("content-type", "application/x-unknown-patch")],
            body.clone(),
        )
        .await;
        assert_status(&unsupported, 415, "UnsupportedMediaType");
        let forced = raw(
            &http,
            Method::PATCH,
            &format!("{path}?force=true"),
            &[("content-type", "application/merge-patch+json")],
            body.clone(),
        )
        .await;
        assert_status(&forced, 422, "Invalid");
    }
    server.stop().await;
}
