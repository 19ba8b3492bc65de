//! What a request body may make the server allocate, measured with the allocator's own
//! per-thread counter (jemalloc's `thread.allocatedp`, bytes ever allocated by this thread): the
//! in-process API is driven on this test's single-threaded runtime, so every allocation the
//! request causes is counted. Bound: `ALLOWED_PER_BODY_BYTE` × body size + `ALLOWED_BASE`
//! (the decoder's allowance of 24 per byte + 2 MiB, with room for the body's own buffers, the
//! stored object and the response; see docs/apiserver.md "Request bodies").

use coder_k8s::apiserver::{self, Limits};
use http::StatusCode;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ALLOWED_PER_BODY_BYTE: u64 = 32;
const ALLOWED_BASE: u64 = 8 * 1024 * 1024;

const COLLECTION: &str = "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces";

fn allocated_by_this_thread() -> u64 {
    tikv_jemalloc_ctl::thread::allocatedp::read()
        .expect("jemalloc thread.allocatedp")
        .get()
}

fn post(content_type: &str, body: Vec<u8>) -> http::Request<axum::body::Body> {
    http::Request::post(COLLECTION)
        .header("content-type", content_type)
        .body(axum::body::Body::from(body))
        .unwrap()
}

/// Status, Status reason (if any) and the bytes allocated while serving the request.
async fn serve_measured(
    app: &apiserver::http::router::routes::Api,
    request: http::Request<axum::body::Body>,
) -> (StatusCode, String, u64) {
    let before = allocated_by_this_thread();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let allocated = allocated_by_this_thread() - before;
    let reason = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, reason, allocated)
}

/// A "billion laughs" YAML body: nine levels of nine aliases, 9^9 strings once expanded.
fn yaml_alias_bomb() -> Vec<u8> {
    let mut text = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let aliases = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
    }
    text.into_bytes()
}

/// `{"a":[0,0,...]}` of about 3 MB: 2 bytes of JSON, 80 of `Value` per element.
fn json_array_of_zeros() -> Vec<u8> {
    let mut body = b"{\"a\":[".to_vec();
    body.extend(std::iter::repeat_n(*b"0,", 1_500_000).flatten());
    body.extend_from_slice(b"0]}");
    body
}

/// A legitimate large object: a workspace with 240 KiB of annotations (kube allows 256 KiB)
/// and a thousand labels.
fn large_workspace() -> Vec<u8> {
    let annotations: serde_json::Map<String, serde_json::Value> = (0..60)
        .map(|i| (format!("example.com/a{i}"), "v".repeat(4 * 1024).into()))
        .collect();
    let labels: serde_json::Map<String, serde_json::Value> = (0..1000)
        .map(|i| (format!("example.com/l{i}"), format!("value-{i}").into()))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "aggregation.coder.com/v1alpha1",
        "kind": "CoderWorkspace",
        "metadata": {"name": "large", "annotations": annotations, "labels": labels},
        "spec": {"running": true},
    }))
    .unwrap()
}

#[tokio::test]
async fn small_bodies_cannot_make_the_server_allocate_without_bound() {
    let app = apiserver::app(apiserver::memory_objects(), Limits::default());
    // A first create builds what is built once (schemas, caches) outside the measurements.
    let warm = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "aggregation.coder.com/v1alpha1",
        "kind": "CoderWorkspace",
        "metadata": {"name": "warm"},
        "spec": {"running": true},
    }))
    .unwrap();
    let (status, _, _) = serve_measured(&app, post("application/json", warm)).await;
    assert_eq!(status, StatusCode::CREATED);

    let cases = [
        (
            "YAML alias bomb",
            "application/yaml",
            yaml_alias_bomb(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "3 MB JSON array",
            "application/json",
            json_array_of_zeros(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "large workspace",
            "application/json",
            large_workspace(),
            StatusCode::CREATED,
        ),
    ];
    for (case, content_type, body, expected) in cases {
        let size = body.len() as u64;
        let bound = ALLOWED_PER_BODY_BYTE * size + ALLOWED_BASE;
        let (status, reason, allocated) = serve_measured(&app, post(content_type, body)).await;
        println!(
            "{case}: {size} bytes -> {status}, allocated {allocated} bytes ({:.1} x body, bound {bound})",
            allocated as f64 / size as f64
        );
        assert_eq!(status, expected, "{case}: {reason}");
        if expected == StatusCode::PAYLOAD_TOO_LARGE {
            assert_eq!(reason, "RequestEntityTooLarge", "{case}");
        }
        assert!(
            allocated <= bound,
            "{case}: {allocated} bytes allocated for a {size}-byte body (bound {bound})"
        );
    }
}
