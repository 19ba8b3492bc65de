//! The HTTP contract clients rely on, checked over TLS: discovery (v1 and aggregated v2 with
//! ETag/304), OpenAPI, Table output, watch framing, field validation warnings, YAML bodies,
//! health, metrics, and TLS/ALPN.

use crate::apiserver_support as support;

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

const V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn create(client: &Http, name: &str) -> Value {
    let r = raw(
        client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/json")],
        serde_json::to_vec(&workspace("default", name, true)).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

fn frames(raw: &Raw) -> Vec<Value> {
    raw.text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("each line is one JSON frame"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_documents() {
    let server = TestServer::start().await;
    let client = server.http();

    let r = raw(
        &client,
        Method::GET,
        "/apis",
        &[("accept", &format!("{V2},application/json"))],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(V2));
    let etag = r.header("etag").expect("etag").to_string();
    let v = r.json();
    assert_eq!(v["kind"], "APIGroupDiscoveryList");
    assert_eq!(v["apiVersion"], "apidiscovery.k8s.io/v2");
    let resources = &v["items"][0]["versions"][0]["resources"];
    let ws = resources
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "coderworkspaces")
        .expect("coderworkspaces");
    assert_eq!(ws["scope"], "Namespaced");
    assert_eq!(ws["responseKind"]["kind"], "CoderWorkspace");
    assert_eq!(ws["subresources"][0]["subresource"], "status");

    let r = raw(
        &client,
        Method::GET,
        "/apis",
        &[("accept", V2), ("if-none-match", &etag)],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    let v = get(&client, "/apis").await.json();
    assert_eq!(v["kind"], "APIGroupList");
    assert_eq!(v["groups"][0]["name"], "aggregation.coder.com");
    assert_eq!(v["groups"][0]["preferredVersion"]["version"], "v1alpha1");

    let v = get(&client, "/apis/aggregation.coder.com").await.json();
    assert_eq!(v["kind"], "APIGroup");

    let v = get(&client, WS).await.json();
    assert_eq!(v["kind"], "APIResourceList");
    assert_eq!(v["groupVersion"], "aggregation.coder.com/v1alpha1");
    let names: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "coderworkspaces",
        "coderworkspaces/status",
        "codertemplates",
        "codertemplates/status",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let ws = &v["resources"][names.iter().position(|n| *n == "coderworkspaces").unwrap()];
    assert_eq!(ws["singularName"], "coderworkspace");
    assert_eq!(ws["shortNames"], json!(["cws"]));
    assert_eq!(ws["categories"], json!(["coder"]));
    assert_eq!(ws["namespaced"], true);
    assert!(ws["verbs"].as_array().unwrap().contains(&json!("watch")));

    let v = get(&client, "/api").await.json();
    assert_eq!(v["kind"], "APIVersions");
    let v = get(&client, "/version").await.json();
    assert_eq!(v["major"], "1");
    assert!(v["gitVersion"].as_str().unwrap().starts_with('v'));

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_documents() {
    let server = TestServer::start().await;
    let client = server.http();

    let r = get(&client, "/openapi/v2").await;
    assert_eq!(r.status, StatusCode::OK);
    let etag = r.header("etag").expect("etag").to_string();
    let v = r.json();
    let def = &v["definitions"]["com.coder.aggregation.v1alpha1.CoderWorkspace"];
    assert_eq!(
        def["x-kubernetes-group-version-kind"][0]["kind"],
        "CoderWorkspace"
    );
    let r = raw(
        &client,
        Method::GET,
        "/openapi/v2",
        &[("if-none-match", &etag)],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // Protobuf only: 406, so client-go treats v2 as unavailable instead of misparsing JSON.
    let r = raw(
        &client,
        Method::GET,
        "/openapi/v2",
        &[(
            "accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )],
        Vec::new(),
    )
    .await;
    assert_status(&r, 406, "NotAcceptable");

    let index = get(&client, "/openapi/v3").await.json();
    let url = index["paths"]["apis/aggregation.coder.com/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .expect("serverRelativeURL")
        .to_string();
    assert!(url.contains("?hash="), "{url}");
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("etag").is_some());
    let doc = r.json();
    assert!(
        doc["components"]["schemas"]["com.coder.aggregation.v1alpha1.CoderWorkspace"].is_object()
    );
    assert_eq!(
        get(&client, "/openapi/v3/apis/nope/v1").await.status,
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn table_output() {
    let server = TestServer::start().await;
    let client = server.http();
    create(&client, "t1").await;

    let r = raw(
        &client,
        Method::GET,
        &ws_path("default", None),
        &[("accept", TABLE)],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.json();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert!(t["metadata"]["resourceVersion"].is_string());
    let columns: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Name",
            "Owner",
            "Template",
            "Running",
            "Status",
            "LastUsed",
            "AutoShutdown",
            "Age"
        ]
    );
    let priorities: Vec<i64> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(
        priorities,
        [0, 0, 0, 0, 0, 0, 1, 0],
        "AutoShutdown only with -o wide"
    );
    let row = &t["rows"][0];
    assert_eq!(row["cells"][0], "t1");
    assert_eq!(row["cells"][3], true);
    assert_eq!(row["cells"][4], Value::Null, "no status yet");
    assert!(
        row["cells"][7].as_str().unwrap().ends_with('s'),
        "age like 0s: {}",
        row["cells"][7]
    );
    // Default includeObject=Metadata: a PartialObjectMetadata.
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["metadata"]["name"], "t1");

    let t = raw(
        &client,
        Method::GET,
        &format!("{}?includeObject=None", ws_path("default", None)),
        &[("accept", TABLE)],
        Vec::new(),
    )
    .await
    .json();
    assert!(t["rows"][0].get("object").is_none());
    let t = raw(
        &client,
        Method::GET,
        &format!("{}?includeObject=Object", ws_path("default", None)),
        &[("accept", TABLE)],
        Vec::new(),
    )
    .await
    .json();
    assert_eq!(t["rows"][0]["object"]["kind"], "CoderWorkspace");
    assert_eq!(t["rows"][0]["object"]["spec"]["running"], true);

    // v1beta1 on request, and a single object as a one-row Table.
    let t = raw(
        &client,
        Method::GET,
        &ws_path("default", Some("t1")),
        &[(
            "accept",
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        )],
        Vec::new(),
    )
    .await
    .json();
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);

    // Metadata-only clients (garbage collector) get PartialObjectMetadataList.
    let v = raw(
        &client,
        Method::GET,
        &format!("{WS}/coderworkspaces"),
        &[(
            "accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        )],
        Vec::new(),
    )
    .await
    .json();
    assert_eq!(v["kind"], "PartialObjectMetadataList");
    assert_eq!(v["items"][0]["kind"], "PartialObjectMetadata");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_frames() {
    let server = TestServer::start().await;
    let client = server.http();
    // A first write, so the list's resourceVersion is a real revision (0 means "any").
    create(&client, "w0").await;
    let list = get(&client, &ws_path("default", None)).await.json();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("list rv")
        .to_string();
    create(&client, "w1").await;
    create(&client, "w2").await;
    let patched = raw(
        &client,
        Method::PATCH,
        &ws_path("default", Some("w1")),
        &[("content-type", "application/merge-patch+json")],
        br#"{"spec":{"running":false}}"#.to_vec(),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    let deleted = raw(
        &client,
        Method::DELETE,
        &ws_path("default", Some("w2")),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());

    // Replay from the list's resourceVersion, `watch=1` form, ended by timeoutSeconds.
    let r = get(
        &client,
        &format!(
            "{}?watch=1&resourceVersion={rv}&timeoutSeconds=1",
            ws_path("default", None)
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let f = frames(&r);
    let kinds: Vec<(&str, &str)> = f
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("ADDED", "w1"),
            ("ADDED", "w2"),
            ("MODIFIED", "w1"),
            ("DELETED", "w2")
        ]
    );
    assert!(f.iter().all(|e| e["object"]["kind"] == "CoderWorkspace"));
    assert!(
        !f.iter().any(|e| e["type"] == "BOOKMARK"),
        "no bookmarks unless asked"
    );

    // A Table watch: one-row Tables, column definitions only on the first.
    let r = raw(
        &client,
        Method::GET,
        &format!(
            "{}?watch=true&resourceVersion={rv}&timeoutSeconds=1",
            ws_path("default", None)
        ),
        &[("accept", TABLE)],
        Vec::new(),
    )
    .await;
    let f = frames(&r);
    assert_eq!(f.len(), 4);
    assert_eq!(f[0]["object"]["kind"], "Table");
    assert!(
        !f[0]["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        f[1]["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(f[1]["object"]["rows"].as_array().unwrap().len(), 1);

    // Streaming list: current state, then the initial-events-end bookmark.
    let r = get(&client, &format!("{}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1", ws_path("default", None))).await;
    let f = frames(&r);
    assert_eq!(f[0]["type"], "ADDED");
    assert_eq!(f[0]["object"]["metadata"]["name"], "w0");
    let bookmark = f
        .iter()
        .find(|e| e["type"] == "BOOKMARK")
        .expect("bookmark");
    assert_eq!(bookmark["object"]["kind"], "CoderWorkspace");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn field_validation_dry_run_and_yaml() {
    let server = TestServer::start().await;
    let client = server.http();
    let mut body = workspace("default", "fv", true);
    body["spec"]["colour"] = json!("blue");
    let bytes = serde_json::to_vec(&body).unwrap();

    let r = raw(
        &client,
        Method::POST,
        &format!("{}?fieldValidation=Strict", ws_path("default", None)),
        &[("content-type", "application/json")],
        bytes.clone(),
    )
    .await;
    let v = assert_status(&r, 400, "BadRequest");
    assert!(v["message"].as_str().unwrap().contains("colour"), "{v}");

    let r = raw(
        &client,
        Method::POST,
        &format!(
            "{}?fieldValidation=Warn&dryRun=All",
            ws_path("default", None)
        ),
        &[("content-type", "application/json")],
        bytes.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let warning = r.header("warning").expect("Warning header");
    assert!(warning.starts_with("299 - \""), "{warning}");
    assert!(warning.contains("colour"), "{warning}");
    assert_eq!(
        get(&client, &ws_path("default", Some("fv"))).await.status,
        StatusCode::NOT_FOUND,
        "dry run stored nothing"
    );

    let r = raw(
        &client,
        Method::POST,
        &format!("{}?fieldValidation=Ignore", ws_path("default", None)),
        &[("content-type", "application/json")],
        bytes,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.header("warning").is_none());
    assert!(r.json()["spec"].get("colour").is_none());

    let yaml = "apiVersion: aggregation.coder.com/v1alpha1\nkind: CoderWorkspace\nmetadata:\n  name: from-yaml\nspec:\n  running: false\n";
    let r = raw(
        &client,
        Method::POST,
        &ws_path("default", None),
        &[("content-type", "application/yaml")],
        yaml.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["spec"]["running"], false);
    let r = raw(
        &client,
        Method::GET,
        &ws_path("default", Some("from-yaml")),
        &[("accept", "application/yaml")],
        Vec::new(),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("application/yaml"));
    assert!(r.text().contains("name: from-yaml"), "{}", r.text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics() {
    let server = TestServer::start().await;
    let client = server.http();
    for path in ["/healthz", "/livez", "/readyz"] {
        let r = get(&client, path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "ok");
    }
    let r = get(&client, "/readyz?verbose").await;
    assert!(r.text().contains("[+]ping ok"), "{}", r.text());
    assert!(r.text().contains("readyz check passed"), "{}", r.text());

    create(&client, "m1").await;
    get(&client, &ws_path("default", Some("m1"))).await;
    get(&client, &ws_path("default", Some("absent"))).await;
    let text = get(&client, "/metrics").await.text();
    assert!(text.contains(r#"coder_k8s_apiserver_requests_total{verb="create",resource="coderworkspaces",code="201"} 1"#), "{text}");
    assert!(text.contains(r#"coder_k8s_apiserver_requests_total{verb="get",resource="coderworkspaces",code="404"} 1"#), "{text}");
    assert!(
        text.contains("coder_k8s_apiserver_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("coder_k8s_apiserver_objects_stored 1"),
        "{text}"
    );
    assert!(text.contains("# EOF"));
    server.stop().await;
}

/// TLS 1.2+ with ALPN h2 and http/1.1; no client certificate needed (probes).
#[tokio::test(flavor = "multi_thread")]
async fn tls_offers_h2_and_http11_without_client_certs() {
    use rustls_pki_types::pem::PemObject;
    let server = TestServer::start().await;
    let kubeconfig: Value = serde_saphyr::from_str(&server.kubeconfig_text).unwrap();
    let ca_b64 = kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    let ca_pem = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(ca_b64)
            .unwrap()
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    coder_k8s::tls::install_crypto_provider();
    let addr = server.url.trim_start_matches("https://").to_string();
    for (alpn, versions) in [
        (&b"h2"[..], &[&rustls::version::TLS13][..]),
        (&b"http/1.1"[..], &[&rustls::version::TLS12][..]),
    ] {
        let mut config = rustls::ClientConfig::builder_with_protocol_versions(versions)
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
    }
    server.stop().await;
}

/// Shutdown ends open watches cleanly (the response completes) and the server stops; the open
/// watch is visible in the metrics meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_open_watches() {
    let server = TestServer::start().await;
    let client = server.http();
    create(&client, "s1").await;
    let watcher = {
        let client = client.clone();
        tokio::spawn(async move {
            // No timeoutSeconds: only the shutdown can end this watch.
            get(&client, &format!("{}?watch=1", ws_path("default", None))).await
        })
    };
    let mut open = false;
    for _ in 0..200 {
        let metrics = get(&client, "/metrics").await.text();
        if metrics.contains(r#"coder_k8s_apiserver_watches_open{resource="coderworkspaces"} 1"#) {
            open = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(open, "the watch is counted as open");
    server.stop().await;
    let r = tokio::time::timeout(CALL_TIMEOUT, watcher)
        .await
        .expect("watch ended by shutdown")
        .expect("task");
    assert_eq!(r.status, StatusCode::OK);
    let f = frames(&r);
    assert_eq!(
        f[0]["type"], "ADDED",
        "initial state of a watch without resourceVersion"
    );
}

/// A connection without a request in flight is closed after --idle-connection-timeout: an
/// HTTP/1.1 connection that never sends a request, one idle after its first request, and an
/// HTTP/2 connection that sent only its preface and SETTINGS. Watches on other connections
/// (HTTP/1.1 and HTTP/2) are requests in flight and keep streaming past that time.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_and_watches_are_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let idle_timeout = std::time::Duration::from_secs(1);
    let mut args = support::args();
    args.idle_connection_timeout = idle_timeout;
    let server = TestServer::start_with(args, coder_k8s::apiserver::memory_objects()).await;
    let client = server.http();
    let addr = server.url.trim_start_matches("https://").to_string();
    create(&client, "before").await;

    // Two watches, each on its own connection (HTTP/1.1 and HTTP/2), streaming frames into
    // channels.
    let mut http1_watch = open_watch(&client, &addr, false).await;
    let mut http2_watch = open_watch(&client, &addr, true).await;
    assert_eq!(next_name(&mut http1_watch).await, "before");
    assert_eq!(next_name(&mut http2_watch).await, "before");

    /// Reads until the server closes the connection (bounded); returns what it sent and when.
    async fn until_closed<S: tokio::io::AsyncRead + Unpin>(
        stream: &mut S,
        started: std::time::Instant,
    ) -> (Vec<u8>, std::time::Duration) {
        let mut received = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(15),
            stream.read_to_end(&mut received),
        )
        .await;
        assert!(read.is_ok(), "the idle connection is still open after 15 s");
        (received, started.elapsed())
    }

    let silent_http1 = async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut tls = client.connect_tls(tcp).await;
        until_closed(&mut tls, std::time::Instant::now()).await
    };
    let idle_after_a_request = async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut tls = client.connect_tls(tcp).await;
        tls.write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        until_closed(&mut tls, std::time::Instant::now()).await
    };
    let http2_preface_only = async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut tls = client.connect_tls(tcp).await;
        // The client preface and an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
        let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        tls.write_all(&preface).await.unwrap();
        until_closed(&mut tls, std::time::Instant::now()).await
    };
    let (silent, after_request, http2) =
        tokio::join!(silent_http1, idle_after_a_request, http2_preface_only);

    let early = idle_timeout - std::time::Duration::from_millis(100);
    assert!(
        silent.0.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&silent.0)
    );
    assert!(silent.1 >= early, "closed after {:?}", silent.1);
    let answered = String::from_utf8_lossy(&after_request.0);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        after_request.1 >= early,
        "closed after {:?}",
        after_request.1
    );
    assert!(http2.1 >= early, "closed after {:?}", http2.1);
    // The server's frames: its SETTINGS, then a GOAWAY (type 7) before it closes.
    let mut frame_types = Vec::new();
    let mut settings = std::collections::BTreeMap::new();
    let mut rest = &http2.0[..];
    while rest.len() >= 9 {
        let length = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let (kind, flags) = (rest[3], rest[4]);
        let payload = &rest[9..(9 + length).min(rest.len())];
        frame_types.push(kind);
        // SETTINGS (type 4) without ACK: 6-byte entries of a 16-bit id and a 32-bit value.
        if kind == 4 && flags & 1 == 0 {
            for entry in payload.chunks_exact(6) {
                let id = u16::from_be_bytes([entry[0], entry[1]]);
                let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                settings.insert(id, value);
            }
        }
        rest = &rest[(9 + length).min(rest.len())..];
    }
    assert!(frame_types.contains(&7), "no GOAWAY in {frame_types:?}");
    // kube-apiserver's HTTP/2 sizing: MAX_CONCURRENT_STREAMS (3) as for aggregated apiservers,
    // INITIAL_WINDOW_SIZE (4) and MAX_FRAME_SIZE (5) of 256 KiB.
    assert_eq!(settings.get(&3), Some(&1000), "{settings:?}");
    assert_eq!(settings.get(&4), Some(&(256 * 1024)), "{settings:?}");
    assert_eq!(settings.get(&5), Some(&(256 * 1024)), "{settings:?}");

    // Past the idle timeout, the watch still delivers.
    tokio::time::sleep(idle_timeout).await;
    create(&client, "after").await;
    assert_eq!(next_name(&mut http1_watch).await, "after");
    assert_eq!(next_name(&mut http2_watch).await, "after");
    server.stop().await;
}

/// A watch of the default namespace's workspaces over its own TLS connection (HTTP/2 or
/// HTTP/1.1); its frames arrive on the returned channel.
async fn open_watch(
    client: &Http,
    addr: &str,
    http2: bool,
) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(client.connect_tls(tcp).await);
    let request = http::Request::get(format!("{}?watch=1", ws_path("default", None)))
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = if http2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    assert_eq!(response.status(), StatusCode::OK);
    let (frames_tx, frames_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut body = response.into_body();
        let mut pending = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if frames_tx
                    .send(serde_json::from_slice(&line).unwrap())
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    frames_rx
}

/// The name of the object in the next watch frame (bounded wait).
async fn next_name(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> String {
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a watch event in time")
        .expect("watch open");
    frame["object"]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}
