//! Our etcd v3 client (`storage::etcd::client`, hand-written messages) against a real etcd:
//! one test per call, so etcd's own decoder and encoder check every message; and the size
//! limit on etcd (#23): at `--max-object-bytes` a create and a merge patch succeed, over it
//! they get 413 RequestEntityTooLarge, and so does a write etcd itself refuses as too large
//! (a small `--max-request-bytes`), never a 500.

use crate::apiserver_support as support;

use std::time::Duration;

use coder_k8s::apiserver::ApiserverArgs;
use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::StorageError;
use coder_k8s::apiserver::storage::etcd::client::{ClientConfig, EtcdClient};
use coder_k8s::apiserver::storage::etcd::wire::{
    CompactionRequest, Compare, CompareResult, DeleteRangeRequest, EventType, PutRequest,
    RangeRequest, RequestOp, TxnRequest, WatchCreateRequest, WatchResponse, response_op,
};
use coder_k8s::apiserver::storage::memory::DEFAULT_MAX_OBJECT_BYTES;
use coder_k8s::apiserver::storage::options::{Backend, StorageArgs};
use futures::StreamExt;
use http::{Method, StatusCode};
use serde_json::json;

use envtest::{CertificateAuthority, Etcd};
use support::*;

fn client(etcd: &Etcd) -> EtcdClient {
    EtcdClient::connect(&ClientConfig {
        endpoints: vec![etcd.url().to_string()],
        tls: None,
        dial_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    })
    .expect("etcd client")
}

fn put(key: &str, value: &str) -> RequestOp {
    RequestOp::put(PutRequest {
        key: key.into(),
        value: value.into(),
        prev_kv: true,
    })
}

fn range(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        ..Default::default()
    }
}

/// The revision a txn answered with.
fn revision_of(header: Option<&coder_k8s::apiserver::storage::etcd::wire::ResponseHeader>) -> i64 {
    header.expect("a response header").revision
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_the_server_version() {
    let etcd = Etcd::start();
    let status = client(&etcd).status().await.unwrap();
    let mut parts = status.version.split('.');
    assert_eq!(parts.next(), Some("3"), "{}", status.version);
    assert!(
        parts
            .next()
            .is_some_and(|minor| minor.parse::<u32>().is_ok())
    );
    assert!(status.header.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn txn_branches_and_range_reads_round_trip_through_etcd() {
    let etcd = Etcd::start();
    let c = client(&etcd);
    // Create-if-absent twice: the first succeeds, the second takes the failure branch.
    let create = || TxnRequest {
        compare: vec![Compare::create_revision(
            b"/t/a".to_vec(),
            CompareResult::Equal,
            0,
        )],
        success: vec![put("/t/a", "one")],
        failure: vec![RequestOp::range(range("/t/a"))],
    };
    let created = c.txn(create()).await.unwrap();
    assert!(created.succeeded);
    let created_at = revision_of(created.header.as_ref());
    match &created.responses[..] {
        [op] => assert!(matches!(
            op.response,
            Some(response_op::Response::ResponsePut(ref p)) if p.prev_kv.is_none()
        )),
        other => panic!("{other:?}"),
    }
    let again = c.txn(create()).await.unwrap();
    assert!(!again.succeeded);
    match &again.responses[..] {
        [op] => match &op.response {
            Some(response_op::Response::ResponseRange(r)) => {
                assert_eq!(r.kvs.len(), 1);
                assert_eq!(&r.kvs[0].value[..], b"one");
                assert_eq!(r.kvs[0].create_revision, created_at);
                assert_eq!(r.kvs[0].mod_revision, created_at);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }

    // A guarded update on mod_revision: the right revision wins and returns the previous value.
    let update = |at: i64, value: &str| TxnRequest {
        compare: vec![Compare::mod_revision(
            b"/t/a".to_vec(),
            CompareResult::Equal,
            at,
        )],
        success: vec![put("/t/a", value)],
        failure: vec![],
    };
    assert!(
        !c.txn(update(created_at + 100, "no"))
            .await
            .unwrap()
            .succeeded
    );
    let updated = c.txn(update(created_at, "two")).await.unwrap();
    assert!(updated.succeeded);
    let updated_at = revision_of(updated.header.as_ref());
    match &updated.responses[0].response {
        Some(response_op::Response::ResponsePut(p)) => {
            assert_eq!(&p.prev_kv.as_ref().unwrap().value[..], b"one")
        }
        other => panic!("{other:?}"),
    }

    // Ranges: a prefix with a limit and a count; a past revision; count only.
    c.txn(TxnRequest {
        success: vec![put("/t/b", "b"), put("/t/c", "c")],
        ..Default::default()
    })
    .await
    .unwrap();
    let page = c
        .range(RangeRequest {
            key: b"/t/".to_vec(),
            range_end: b"/t0".to_vec(),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<&[u8]> = page.kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [b"/t/a".as_slice(), b"/t/b".as_slice()]);
    assert!(page.more);
    assert_eq!(page.count, 3);
    let past = c
        .range(RangeRequest {
            revision: created_at,
            ..range("/t/a")
        })
        .await
        .unwrap();
    assert_eq!(&past.kvs[0].value[..], b"one");
    let counted = c
        .range(RangeRequest {
            key: b"/t/".to_vec(),
            range_end: b"/t0".to_vec(),
            count_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((counted.count, counted.kvs.len()), (3, 0));

    // A guarded delete returns what it removed.
    let deleted = c
        .txn(TxnRequest {
            compare: vec![Compare::create_revision(
                b"/t/a".to_vec(),
                CompareResult::Greater,
                0,
            )],
            success: vec![RequestOp::delete_range(DeleteRangeRequest {
                key: b"/t/a".to_vec(),
                range_end: Vec::new(),
                prev_kv: true,
            })],
            failure: vec![],
        })
        .await
        .unwrap();
    match &deleted.responses[0].response {
        Some(response_op::Response::ResponseDeleteRange(d)) => {
            assert_eq!(d.deleted, 1);
            assert_eq!(d.prev_kvs[0].mod_revision, updated_at);
            assert_eq!(&d.prev_kvs[0].value[..], b"two");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.range(range("/t/a")).await.unwrap().kvs.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn compact_makes_older_revisions_unreadable() {
    let etcd = Etcd::start();
    let c = client(&etcd);
    let first = c
        .txn(TxnRequest {
            success: vec![put("/c/a", "1")],
            ..Default::default()
        })
        .await
        .unwrap();
    let first_at = revision_of(first.header.as_ref());
    let second = c
        .txn(TxnRequest {
            success: vec![put("/c/a", "2")],
            ..Default::default()
        })
        .await
        .unwrap();
    let second_at = revision_of(second.header.as_ref());
    let compacted = c
        .compact(CompactionRequest {
            revision: second_at,
            physical: true,
        })
        .await
        .unwrap();
    assert!(revision_of(compacted.header.as_ref()) >= second_at);
    let error = c
        .range(RangeRequest {
            revision: first_at,
            ..range("/c/a")
        })
        .await
        .unwrap_err();
    assert_eq!(error.status().code(), tonic::Code::OutOfRange, "{error}");
    assert!(error.status().message().contains("compacted"), "{error}");
    // The compacted-to revision itself still reads.
    let at = c
        .range(RangeRequest {
            revision: second_at,
            ..range("/c/a")
        })
        .await
        .unwrap();
    assert_eq!(&at.kvs[0].value[..], b"2");
}

/// The next response of a watch, within 10 s.
async fn next(responses: &mut tonic::Streaming<WatchResponse>) -> WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), responses.next())
        .await
        .expect("a watch response in time")
        .expect("the stream is open")
        .expect("a response, not an error")
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_creates_delivers_events_answers_progress_and_cancels() {
    let etcd = Etcd::start();
    let c = client(&etcd);
    let before = c
        .txn(TxnRequest {
            success: vec![put("/w/a", "1")],
            ..Default::default()
        })
        .await
        .unwrap();
    let start = revision_of(before.header.as_ref());
    let mut watch = c
        .watch(WatchCreateRequest {
            key: b"/w/".to_vec(),
            range_end: b"/w0".to_vec(),
            start_revision: start,
            progress_notify: false,
            prev_kv: true,
        })
        .await
        .unwrap();
    let created = next(&mut watch.responses).await;
    assert!(created.created && !created.canceled);
    let id = created.watch_id;

    // Replayed from the start revision, then live: puts with prev_kv, and a delete.
    let replayed = next(&mut watch.responses).await;
    assert_eq!(replayed.events.len(), 1);
    assert_eq!(replayed.events[0].r#type(), EventType::Put);
    assert_eq!(&replayed.events[0].kv.as_ref().unwrap().value[..], b"1");
    c.txn(TxnRequest {
        success: vec![put("/w/a", "2")],
        ..Default::default()
    })
    .await
    .unwrap();
    let deleted = c
        .txn(TxnRequest {
            success: vec![RequestOp::delete_range(DeleteRangeRequest {
                key: b"/w/a".to_vec(),
                range_end: Vec::new(),
                prev_kv: false,
            })],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 2 {
        events.extend(next(&mut watch.responses).await.events);
    }
    assert_eq!(events[0].r#type(), EventType::Put);
    assert_eq!(&events[0].prev_kv.as_ref().unwrap().value[..], b"1");
    assert_eq!(events[1].r#type(), EventType::Delete);
    assert_eq!(
        events[1].kv.as_ref().unwrap().mod_revision,
        revision_of(deleted.header.as_ref())
    );
    assert_eq!(&events[1].prev_kv.as_ref().unwrap().value[..], b"2");

    // A progress request is answered by an empty response at the current revision.
    assert!(watch.requests.request_progress());
    let progress = next(&mut watch.responses).await;
    assert!(
        progress.events.is_empty() && !progress.canceled,
        "{progress:?}"
    );
    assert_eq!(
        revision_of(progress.header.as_ref()),
        revision_of(deleted.header.as_ref())
    );

    // Cancel: etcd confirms, and later writes are not delivered.
    assert!(watch.requests.cancel(id));
    let canceled = next(&mut watch.responses).await;
    assert!(canceled.canceled, "{canceled:?}");
    assert_eq!(canceled.watch_id, id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_from_a_compacted_revision_is_canceled_with_the_compact_revision() {
    let etcd = Etcd::start();
    let c = client(&etcd);
    for value in ["1", "2", "3"] {
        c.txn(TxnRequest {
            success: vec![put("/x/a", value)],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let now = revision_of(c.range(range("/x/a")).await.unwrap().header.as_ref());
    c.compact(CompactionRequest {
        revision: now,
        physical: true,
    })
    .await
    .unwrap();
    let mut watch = c
        .watch(WatchCreateRequest {
            key: b"/x/a".to_vec(),
            start_revision: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    // etcd answers created, then canceled with where compaction stopped (or both at once).
    let mut response = next(&mut watch.responses).await;
    if !response.canceled {
        assert!(response.created);
        response = next(&mut watch.responses).await;
    }
    assert!(response.canceled, "{response:?}");
    assert_eq!(response.compact_revision, now);
}

/// TLS to etcd through the flags: the CA bundle (--etcd-cafile) and a client certificate
/// (--etcd-certfile/--etcd-keyfile) reach an etcd that requires one; without the client
/// certificate, or trusting another CA, etcd is unreachable (503 material), never misread.
#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_client_certificate_reaches_etcd_and_wrong_material_does_not() {
    let ca = CertificateAuthority::new("etcd-ca");
    let etcd = Etcd::start_tls(&ca);
    assert!(etcd.url().starts_with("https://"), "{}", etcd.url());
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        Some(path)
    };
    let (cert, key) = ca.issue_client("coder-k8s-apiserver", &[]);
    let other_ca = CertificateAuthority::new("another-ca");
    let args = |cafile, certfile, keyfile| StorageArgs {
        backend: Backend::Etcd,
        etcd_servers: vec![etcd.url().to_string()],
        etcd_prefix: "/registry/tls".into(),
        etcd_cafile: cafile,
        etcd_certfile: certfile,
        etcd_keyfile: keyfile,
        etcd_dial_timeout: Duration::from_secs(2),
        etcd_request_timeout: Duration::from_secs(2),
        watch_cache: false,
        ..StorageArgs::default()
    };
    let key_name = coder_k8s::apiserver::storage::Key::object("g", "things", Some("ns"), "a");

    let storage = args(
        write("ca.pem", &ca.cert_pem()),
        write("client.pem", &cert),
        write("client-key.pem", &key),
    )
    .open()
    .await
    .unwrap();
    let created = storage
        .create(&key_name, json!({"metadata": {"name": "a"}}))
        .await
        .unwrap();
    let read = storage.get(&key_name).await.unwrap().unwrap();
    assert_eq!(read.revision, created.revision);

    let unavailable = |result: Result<_, StorageError>| {
        assert!(
            matches!(result, Err(StorageError::Unavailable(_))),
            "{result:?}"
        )
    };
    // No client certificate: etcd refuses the handshake.
    let anonymous = args(write("ca.pem", &ca.cert_pem()), None, None)
        .open()
        .await
        .unwrap();
    unavailable(anonymous.get(&key_name).await.map(|_| ()));
    // Another CA: we refuse etcd's certificate.
    let mistrusting = args(
        write("other-ca.pem", &other_ca.cert_pem()),
        write("client.pem", &cert),
        write("client-key.pem", &key),
    )
    .open()
    .await
    .unwrap();
    unavailable(mistrusting.get(&key_name).await.map(|_| ()));
}

// ---- the size limit (#23) ----

const NS: &str = "default";

fn etcd_args(etcd: &Etcd, prefix: &str) -> ApiserverArgs {
    ApiserverArgs {
        storage: StorageArgs {
            backend: Backend::Etcd,
            etcd_servers: vec![etcd.url().to_string()],
            etcd_prefix: prefix.to_string(),
            ..StorageArgs::default()
        },
        ..args()
    }
}

async fn server(etcd: &Etcd, prefix: &str) -> TestServer {
    let args = etcd_args(etcd, prefix);
    let objects = Objects::new(args.storage.open().await.expect("etcd storage"));
    TestServer::start_with(args, objects).await
}

fn workspace_with_template(name: &str, template_bytes: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "aggregation.coder.com/v1alpha1",
        "kind": "CoderWorkspace",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"templateName": "x".repeat(template_bytes)},
    }))
    .unwrap()
}

async fn create(http: &Http, name: &str, template_bytes: usize) -> Raw {
    raw(
        http,
        Method::POST,
        &ws_path(NS, None),
        &[("content-type", "application/json")],
        workspace_with_template(name, template_bytes),
    )
    .await
}

async fn merge_patch(http: &Http, name: &str, template_bytes: usize) -> Raw {
    let patch = json!({"spec": {"templateName": "x".repeat(template_bytes)}});
    raw(
        http,
        Method::PATCH,
        &ws_path(NS, Some(name)),
        &[("content-type", "application/merge-patch+json")],
        serde_json::to_vec(&patch).unwrap(),
    )
    .await
}

/// Bytes etcd holds for an object (its stored JSON: what `--max-object-bytes` limits).
async fn stored_bytes(etcd: &EtcdClient, prefix: &str, name: &str) -> Option<usize> {
    let key = format!("{prefix}/aggregation.coder.com/coderworkspaces/{NS}/{name}");
    let response = etcd.range(range(&key)).await.unwrap();
    response.kvs.first().map(|kv| kv.value.len())
}

/// The object limit reached exactly through the API, with etcd's default request limit: the
/// create and the merge patch at the limit succeed; one byte more, and the sizes in between
/// (where etcd used to refuse with a 500), are 413 and leave nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn create_and_merge_patch_at_the_object_limit_succeed_and_over_it_are_413() {
    let etcd = Etcd::start();
    let prefix = "/registry/limit";
    let server = server(&etcd, prefix).await;
    let http = server.http();
    let c = client(&etcd);
    let limit = DEFAULT_MAX_OBJECT_BYTES as usize;

    // What the server stores besides the template name, for names of one length.
    let probe = create(&http, "obj-0", 1000).await;
    assert_eq!(probe.status, StatusCode::CREATED, "{}", probe.text());
    let around = stored_bytes(&c, prefix, "obj-0").await.unwrap() - 1000;

    let at_limit = create(&http, "obj-1", limit - around).await;
    assert_eq!(at_limit.status, StatusCode::CREATED, "{}", at_limit.text());
    assert_eq!(stored_bytes(&c, prefix, "obj-1").await, Some(limit));
    for over in [limit + 1, 1_572_700, 1_572_864] {
        let r = create(&http, "obj-2", over - around).await;
        assert_status(&r, 413, "RequestEntityTooLarge");
        assert_eq!(stored_bytes(&c, prefix, "obj-2").await, None, "{over}");
    }

    // Merge patches: measured once after a patch (managed fields change), then to the limit.
    let small = merge_patch(&http, "obj-0", 2000).await;
    assert_eq!(small.status, StatusCode::OK, "{}", small.text());
    let around = stored_bytes(&c, prefix, "obj-0").await.unwrap() - 2000;
    let patched = merge_patch(&http, "obj-0", limit - around).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(stored_bytes(&c, prefix, "obj-0").await, Some(limit));
    let over = merge_patch(&http, "obj-0", limit - around + 1).await;
    assert_status(&over, 413, "RequestEntityTooLarge");
    // The object is unchanged.
    assert_eq!(stored_bytes(&c, prefix, "obj-0").await, Some(limit));
    server.stop().await;
}

/// An etcd whose request limit is below our object limit: the writes it refuses, by its own
/// check or by gRPC's receive limit 512 KiB above it, are 413, nothing is written, and smaller
/// writes keep working.
#[tokio::test(flavor = "multi_thread")]
async fn writes_etcd_refuses_as_too_large_are_413() {
    let etcd = Etcd::start_with_args(&["--max-request-bytes=65536"]);
    let prefix = "/registry/small-etcd";
    let server = server(&etcd, prefix).await;
    let http = server.http();
    let c = client(&etcd);

    // Over etcd's 64 KiB (its own check), and over 64 KiB + 512 KiB (gRPC's limit).
    for (name, bytes) in [("big", 100_000), ("huge", 700_000)] {
        let r = create(&http, name, bytes).await;
        let status = assert_status(&r, 413, "RequestEntityTooLarge");
        assert!(
            status["message"].as_str().unwrap().contains("etcd"),
            "{status}"
        );
        assert_eq!(stored_bytes(&c, prefix, name).await, None);
    }

    let small = create(&http, "small", 100).await;
    assert_eq!(small.status, StatusCode::CREATED, "{}", small.text());
    let before = stored_bytes(&c, prefix, "small").await;
    let r = merge_patch(&http, "small", 100_000).await;
    assert_status(&r, 413, "RequestEntityTooLarge");
    assert_eq!(stored_bytes(&c, prefix, "small").await, before);
    let r = merge_patch(&http, "small", 200).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    server.stop().await;
}
