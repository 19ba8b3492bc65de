//! resourceVersion query semantics over HTTP, as kube-apiserver answers them: Exact and
//! NotOlderThan lists, invalid resourceVersion / resourceVersionMatch (400 / 422), a too-large
//! resourceVersion on list and get (waited for 3 s, then 504 Timeout with cause
//! ResourceVersionTooLarge and Retry-After), a watch from a future resourceVersion (only later
//! changes), and an Exact list of a compacted version (410).

use crate::apiserver_support as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::MemoryStorage;
use http::{Method, StatusCode};
use serde_json::Value;
use support::*;

const LIST: &str = "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces";

async fn create(http: &Http, name: &str) -> Value {
    let body = serde_json::to_vec(&workspace("default", name, true)).unwrap();
    let r = raw(
        http,
        Method::POST,
        LIST,
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

async fn patch_running(http: &Http, name: &str, running: bool) -> Value {
    let body = serde_json::to_vec(&serde_json::json!({"spec": {"running": running}})).unwrap();
    let r = raw(
        http,
        Method::PATCH,
        &format!("{LIST}/{name}"),
        &[("content-type", "application/merge-patch+json")],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_resource_version_parameters_are_refused() {
    let server = TestServer::start().await;
    let http = server.http();
    create(&http, "a").await;

    let r = get(&http, &format!("{LIST}/a?resourceVersion=abc")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json()["reason"], "BadRequest");

    let r = get(&http, &format!("{LIST}?resourceVersionMatch=Exact")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let status = r.json();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    );
    assert_eq!(status["details"]["group"], "meta.k8s.io");
    assert_eq!(status["details"]["kind"], "ListOptions");
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "resourceVersionMatch"
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldValueForbidden"
    );

    let r = get(
        &http,
        &format!("{LIST}?resourceVersion=1&resourceVersionMatch=Bogus"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"Bogus\": supported values: \"Exact\", \"NotOlderThan\", \"\""
    );
    assert_eq!(
        r.json()["details"]["causes"][0]["reason"],
        "FieldValueNotSupported"
    );

    let r = get(
        &http,
        &format!("{LIST}?resourceVersion=0&resourceVersionMatch=Exact"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_and_not_older_than_lists() {
    let server = TestServer::start().await;
    let http = server.http();
    create(&http, "a").await;
    let b = create(&http, "b").await;
    let then = rv(&b);
    patch_running(&http, "a", false).await;
    let c = create(&http, "c").await;

    // Exact: the state at that version, stamped with it.
    for query in [
        format!("resourceVersion={then}&resourceVersionMatch=Exact"),
        // The legacy form: a limit with a non-zero resourceVersion.
        format!("resourceVersion={then}&limit=10"),
    ] {
        let r = get(&http, &format!("{LIST}?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        let list = r.json();
        assert_eq!(list["metadata"]["resourceVersion"], then.to_string());
        assert_eq!(names(&list), ["a", "b"], "{query}");
        assert_eq!(list["items"][0]["spec"]["running"], true, "{query}");
    }

    // NotOlderThan an old version: the current state.
    let r = get(
        &http,
        &format!("{LIST}?resourceVersion={then}&resourceVersionMatch=NotOlderThan"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list["metadata"]["resourceVersion"], rv(&c).to_string());
    assert_eq!(names(&list), ["a", "b", "c"]);
    assert_eq!(list["items"][0]["spec"]["running"], false);

    // A get not older than an old version: the current object.
    let r = get(&http, &format!("{LIST}/a?resourceVersion={then}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["spec"]["running"], false);
    server.stop().await;
}

fn assert_too_large(r: &Raw, requested: u64, current: u64, waited: Duration) {
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    let status = r.json();
    assert_eq!(status["reason"], "Timeout");
    assert_eq!(
        status["message"],
        format!("Timeout: Too large resource version: {requested}, current: {current}")
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
    assert_eq!(
        status["details"]["causes"][0]["message"],
        "Too large resource version"
    );
    assert_eq!(status["details"]["retryAfterSeconds"], 1);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(10),
        "waited {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn too_large_versions_wait_then_time_out() {
    let server = TestServer::start().await;
    let http = server.http();
    let a = create(&http, "a").await;
    let current = rv(&a);

    for path in [
        format!("{LIST}?resourceVersion=99999999"),
        format!("{LIST}?resourceVersion=99999999&resourceVersionMatch=Exact"),
        format!("{LIST}/a?resourceVersion=99999999"),
    ] {
        let started = Instant::now();
        let r = get(&http, &path).await;
        assert_too_large(&r, 99999999, current, started.elapsed());
    }

    // A watch list (sendInitialEvents) not older than a future version: 200 and one ERROR
    // event with the same Timeout, after the wait (kube's watch cache: waitUntilFreshAndBlock
    // then an error watcher). The harness's etcd 3.4 lacks progress requests, so its
    // kube-apiserver refuses watch lists and cannot be compared here.
    let started = Instant::now();
    let r = get(
        &http,
        &format!("{LIST}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=99999999&timeoutSeconds=10"),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(r.status, StatusCode::OK);
    let frames: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["type"], "ERROR");
    let body = serde_json::to_vec(&frames[0]["object"]).unwrap();
    let mut as_response = Raw {
        status: StatusCode::GATEWAY_TIMEOUT,
        headers: Default::default(),
        body,
    };
    as_response
        .headers
        .insert("retry-after", http::HeaderValue::from_static("1"));
    assert_too_large(&as_response, 99999999, current, waited);

    // A version reached during the wait is served.
    let writer_http = http.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        create(&writer_http, "b").await
    });
    let started = Instant::now();
    let r = get(&http, &format!("{LIST}?resourceVersion={}", current + 1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(3));
    let b = writer.await.unwrap();
    assert_eq!(r.json()["metadata"]["resourceVersion"], rv(&b).to_string());
    assert_eq!(names(&r.json()), ["a", "b"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_from_a_future_version_sees_only_later_changes() {
    let server = TestServer::start().await;
    let http = server.http();
    let a = create(&http, "a").await;
    let from = rv(&a) + 2;

    let watcher_http = http.clone();
    let watch = tokio::spawn(async move {
        get(
            &watcher_http,
            &format!("{LIST}?watch=1&resourceVersion={from}&timeoutSeconds=2"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    create(&http, "b").await; // from - 1
    create(&http, "c").await; // from
    let d = create(&http, "d").await; // from + 1
    assert_eq!(rv(&d), from + 1);
    let r = watch.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let frames: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["type"], "ADDED");
    assert_eq!(frames[0]["object"]["metadata"]["name"], "d");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exact_list_of_a_compacted_version_is_expired() {
    let objects = Objects::new(Arc::new(MemoryStorage::with_limits(2, 100)));
    let server = TestServer::start_with(args(), objects).await;
    let http = server.http();
    let a = create(&http, "a").await;
    for running in [false, true, false] {
        patch_running(&http, "a", running).await;
    }
    let r = get(
        &http,
        &format!(
            "{LIST}?resourceVersion={}&resourceVersionMatch=Exact",
            rv(&a)
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text());
    assert_eq!(r.json()["reason"], "Expired");
    assert_eq!(
        r.json()["message"],
        "The resourceVersion for the provided list is too old."
    );
    server.stop().await;
}

/// Status code, reason, cause reasons and the message up to ", current:" of a response body.
fn status_shape(code: u16, body: &[u8]) -> (u16, String, Vec<String>, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let causes = v["details"]["causes"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["reason"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let message = v["message"].as_str().unwrap_or_default();
    let message = message.split(", current:").next().unwrap_or_default();
    (
        code,
        v["reason"].as_str().unwrap_or_default().to_string(),
        causes,
        message.to_string(),
    )
}

async fn kube_get(client: &kube::Client, path: &str) -> (u16, Vec<u8>, Duration) {
    let started = Instant::now();
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        client.send(request.map(Into::into)),
    )
    .await
    .unwrap_or_else(|_| panic!("kube-apiserver answers {path} within 20 s"))
    .expect("request sent");
    let code = response.status().as_u16();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (code, body, started.elapsed())
}

/// The same requests against the real kube-apiserver (a namespaced built-in kind, served by
/// the same watch cache as a custom resource) and against ours: too-large resourceVersions on
/// list and get, and a watch from a future resourceVersion.
#[tokio::test(flavor = "multi_thread")]
async fn resource_version_answers_match_kube_apiserver() {
    let plane = envtest::shared();
    // kube-rs retries 504 by default; these requests must see the first answer.
    let kubeconfig = kube::config::Kubeconfig::read_from(plane.admin_kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let ns = plane.create_namespace("rv").await;
    let cm =
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &ns);
    cms.create(&Default::default(), &serde_json::from_value(cm).unwrap())
        .await
        .unwrap();

    let server = TestServer::start().await;
    let http = server.http();
    create(&http, "a").await;

    let theirs_list = format!("/api/v1/namespaces/{ns}/configmaps");
    let mut compared_waits = 0;
    for (kube_path, our_path) in [
        (
            format!("{theirs_list}?resourceVersion=99999999999"),
            format!("{LIST}?resourceVersion=99999999999"),
        ),
        (
            format!("{theirs_list}?resourceVersion=99999999999&resourceVersionMatch=NotOlderThan"),
            format!("{LIST}?resourceVersion=99999999999&resourceVersionMatch=NotOlderThan"),
        ),
        (
            format!("{theirs_list}/a?resourceVersion=99999999999"),
            format!("{LIST}/a?resourceVersion=99999999999"),
        ),
        (
            format!("{theirs_list}?resourceVersionMatch=Exact"),
            format!("{LIST}?resourceVersionMatch=Exact"),
        ),
    ] {
        let (code, body, kube_took) = kube_get(&client, &kube_path).await;
        let theirs = status_shape(code, &body);
        let started = Instant::now();
        let r = get(&http, &our_path).await;
        let ours_took = started.elapsed();
        let ours = status_shape(r.status.as_u16(), &r.body);
        // Ours names our kind where kube names configmaps; compare everything else.
        assert_eq!(ours, theirs, "{our_path} vs kube-apiserver {kube_path}");
        // kube-apiserver holds a too-large resourceVersion for a few seconds (its watch cache
        // may catch up) before the 504; ours must wait too, not answer at once. Answers kube
        // gives at once (the 400 for Exact without a version) carry no wait to compare: a
        // ratio of two fast round trips is only the machine's noise.
        if kube_took >= Duration::from_secs(1) {
            compared_waits += 1;
            assert!(
                ours_took.as_secs_f64() >= kube_took.as_secs_f64() * 0.5,
                "{our_path}: kube-apiserver waited {kube_took:?} before answering, ours {ours_took:?}"
            );
        }
    }
    assert_eq!(
        compared_waits, 3,
        "kube-apiserver waits before its 504 on each too-large resourceVersion (list, \
         NotOlderThan, get)"
    );

    // A watch from a future resourceVersion: 200, open until timeoutSeconds, no events for
    // writes below that version.
    let (code, body, _) = kube_get(
        &client,
        &format!("{theirs_list}?watch=1&resourceVersion=99999999999&timeoutSeconds=2"),
    )
    .await;
    let r = get(
        &http,
        &format!("{LIST}?watch=1&resourceVersion=99999999999&timeoutSeconds=2"),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (code, String::from_utf8_lossy(&body).to_string())
    );
    server.stop().await;
}
