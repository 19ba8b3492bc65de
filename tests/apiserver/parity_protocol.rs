//! Protocol behaviour kube-apiserver clients rely on, checked over real TLS on 127.0.0.1:
//! slow clients are cut off, large responses are gzipped when asked for, list query
//! parameters are read as kube reads them, over-long URIs get 414.

use crate::apiserver_support;

use std::io::Read;
use std::time::{Duration, Instant};

use apiserver_support::{Raw, TestServer, assert_status, get, raw, workspace, ws_path};
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn create_workspaces(server: &TestServer, namespace: &str, count: usize) {
    let client = server.client().await;
    let api: kube::Api<coder_k8s::api::aggregation::v1alpha1::CoderWorkspace> =
        kube::Api::namespaced(client, namespace);
    for i in 0..count {
        let object: coder_k8s::api::aggregation::v1alpha1::CoderWorkspace =
            serde_json::from_value(workspace(namespace, &format!("ws-{i:05}"), i % 2 == 0))
                .expect("workspace");
        api.create(&Default::default(), &object)
            .await
            .expect("create");
    }
}

#[tokio::test]
async fn a_client_trickling_headers_is_disconnected_after_the_header_timeout() {
    let server = TestServer::start().await;
    let http = server.http();
    let addr = server.url.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut tls = http.connect_tls(tcp).await;
    tls.write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("request line");
    let started = Instant::now();
    let limit = coder_k8s::apiserver::http::server::listener::HEADER_READ_TIMEOUT;
    // One header line every 3 s, never finishing the request (slowloris).
    let closed_after = loop {
        assert!(
            started.elapsed() < limit + Duration::from_secs(15),
            "the connection is still open after {:?}",
            started.elapsed()
        );
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(3), tls.read(&mut buf)).await {
            // EOF or a reset: the server gave up on us.
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            // hyper may answer 408 before closing; the connection must still end.
            Ok(Ok(_)) => continue,
            Err(_) => {
                if tls.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    break started.elapsed();
                }
            }
        }
    };
    assert!(
        closed_after >= limit - Duration::from_secs(1),
        "closed too early: {closed_after:?}"
    );
    server.stop().await;
}

/// The header timeout counts from a request's first byte (Go's `ReadHeaderTimeout`), not from
/// the end of the previous request: a keep-alive connection idle for longer than it (and less
/// than the idle timeout) still carries the next request.
#[tokio::test]
async fn a_keep_alive_connection_idle_past_the_header_timeout_still_serves() {
    use crate::early_answers::{Sending, slow_writer};
    let server = TestServer::start().await;
    let http = server.http();
    let mut connection = slow_writer(&http, &server).await;
    let version = "GET /version HTTP/1.1\r\nHost: localhost";
    let first = connection
        .exchange(version, Sending::NONE)
        .await
        .expect("first");
    assert_eq!(first.status, 200);
    let limit = coder_k8s::apiserver::http::server::listener::HEADER_READ_TIMEOUT;
    tokio::time::sleep(limit + Duration::from_secs(3)).await;
    let second = connection
        .exchange(version, Sending::NONE)
        .await
        .unwrap_or_else(|e| panic!("the idle connection was cut: {e}"));
    assert_eq!(second.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn large_lists_are_gzipped_for_clients_that_accept_it() {
    let server = TestServer::start().await;
    // ~300 bytes per object in a list: 1,000 objects are well over the 128 KiB threshold.
    create_workspaces(&server, "big", 1000).await;
    create_workspaces(&server, "small", 2).await;
    let http = server.http();
    let gz = [("accept-encoding", "gzip")];

    let plain = get(&http, &ws_path("big", None)).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.header("content-encoding").is_none());
    assert!(
        plain.body.len() as u64 >= coder_k8s::apiserver::http::router::compression::THRESHOLD_BYTES
    );

    let zipped = raw(&http, Method::GET, &ws_path("big", None), &gz, Vec::new()).await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.body.as_slice())
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    let a: serde_json::Value = serde_json::from_slice(&unzipped).expect("JSON inside");
    assert_eq!(a["items"].as_array().map(Vec::len), Some(1000));
    assert!(zipped.body.len() * 4 < plain.body.len(), "gzip pays off");

    // Small responses stay uncompressed (not worth the CPU), as in kube.
    let small = raw(&http, Method::GET, &ws_path("small", None), &gz, Vec::new()).await;
    assert_eq!(small.status, StatusCode::OK);
    assert!(small.header("content-encoding").is_none());
    server.stop().await;
}

#[tokio::test]
async fn list_query_parameters_are_read_like_kube() {
    let server = TestServer::start().await;
    create_workspaces(&server, "q", 3).await;
    let http = server.http();
    let list = |query: &'static str| {
        let http = http.clone();
        async move { get(&http, &format!("{}?{query}", ws_path("q", None))).await }
    };
    // A negative limit means no limit.
    let unlimited = list("limit=-1").await;
    assert_eq!(unlimited.status, StatusCode::OK);
    assert_eq!(unlimited.json()["items"].as_array().map(Vec::len), Some(3));
    assert!(unlimited.json()["metadata"].get("continue").is_none());

    for query in ["timeoutSeconds=abc", "limit=abc"] {
        let refused: Raw = list(query).await;
        let status = assert_status(&refused, 400, "BadRequest");
        assert_eq!(
            status["message"], "strconv.ParseInt: parsing \"abc\": invalid syntax",
            "{query}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn over_long_uris_get_414() {
    let server = TestServer::start().await;
    let http = server.http();
    // hyper (through the http crate) caps request targets just under 64 KiB.
    let path = format!("/apis/x?{}", "a".repeat(70 * 1024));
    let addr = server.url.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut tls = http.connect_tls(tcp).await;
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response)).await;
    let head = String::from_utf8_lossy(&response);
    assert!(head.starts_with("HTTP/1.1 414"), "{head}");
    server.stop().await;
}
