//! The Coder backend across restarts, with our server in-process (no aggregator) on etcd
//! storage against the envtest control plane: what lives in our storage (labels, annotations,
//! uids) survives a restart of our server, what changed in coderd meanwhile shows up after it,
//! and a coderd that goes away and comes back refuses writes with 503 meanwhile, then serves
//! them again.

use crate::apiserver_support;
use crate::coder_backend_support;

use std::time::Duration;

use apiserver_support::TestServer;
use coder_backend_support::*;
use coder_k8s::apiserver::coder::BackendMode;
use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::options::Backend;
use envtest::ControlPlane;
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Our server on the control plane's etcd under `prefix`, reading CoderControlPlanes with the
/// admin kubeconfig.
async fn start(cp: &ControlPlane, prefix: &str) -> TestServer {
    let mut args = apiserver_support::args();
    args.auth.authentication_kubeconfig = Some(cp.admin_kubeconfig().to_path_buf());
    args.storage.backend = Backend::Etcd;
    args.storage.etcd_servers = vec![cp.etcd_url().to_string()];
    args.storage.etcd_prefix = prefix.to_string();
    args.coder.coder_backend = BackendMode::Enabled;
    args.coder.coder_sync_interval = Duration::from_millis(200);
    args.coder.coder_request_timeout = Duration::from_secs(2);
    let storage = args.storage.open().await.expect("etcd storage");
    TestServer::start_with(args, Objects::new(storage)).await
}

async fn get(server: &TestServer, ns: &str, name: &str) -> Option<Value> {
    let api: Api<DynamicObject> = Api::namespaced_with(server.client().await, ns, &workspaces());
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}

async fn wait_for(
    server: &TestServer,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    envtest::poll_until(what, WAIT, || async {
        match get(server, ns, name).await {
            Some(o) if check(&o) => Ok(o),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_of_our_server_and_of_coderd_lose_nothing() {
    let cp = envtest::shared();
    let mut coder = coder_namespace(cp, "coder-restart").await;
    let ns = coder.namespace.clone();
    let prefix = format!("/coder-backend-restart/{ns}");
    let admin = coder.fake.admin();
    let template = admin
        .create_template_with_files(ORG, "docker", &[("main.tf", "terraform {}\n")])
        .expect("template");

    let server = start(cp, &prefix).await;
    let api: Api<DynamicObject> = Api::namespaced_with(server.client().await, &ns, &workspaces());
    let mut workspace: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "CoderWorkspace",
        "metadata": {"name": "coder.admin.dev", "labels": {"team": "platform"},
                     "annotations": {"example.com/note": "kept in our storage"}},
        "spec": {"templateName": "docker", "running": true},
    }))
    .expect("object");
    workspace.metadata.namespace = Some(ns.clone());
    let created = api
        .create(&PostParams::default(), &workspace)
        .await
        .expect("create through kube-rs");
    let uid = created.metadata.uid.clone().expect("uid");
    let id = find_named(&admin.workspaces(), "dev").expect("in coderd")["id"].clone();
    assert_eq!(uid, id.as_str().unwrap(), "uid is coderd's id");
    wait_for(&server, &ns, "coder.admin.dev", "running", |o| {
        o["status"]["latestBuildStatus"] == "running"
    })
    .await;

    // Our server goes away; meanwhile someone stops the workspace and creates another in Coder.
    server.stop().await;
    let dev = uuid_of(&id);
    admin.stop_workspace(dev).expect("stop in coderd");
    let other = admin
        .create_workspace(OWNER, "other", template)
        .expect("workspace created in Coder");

    let server = start(cp, &prefix).await;
    let object = wait_for(
        &server,
        &ns,
        "coder.admin.dev",
        "stopped, as coderd says",
        |o| o["status"]["latestBuildStatus"] == "stopped",
    )
    .await;
    assert_eq!(
        object["metadata"]["uid"],
        uid.as_str(),
        "same uid after the restart"
    );
    assert_eq!(object["metadata"]["labels"]["team"], "platform", "{object}");
    assert_eq!(
        object["metadata"]["annotations"]["example.com/note"],
        "kept in our storage"
    );
    assert_eq!(
        object["spec"]["running"], false,
        "spec follows what was done in Coder"
    );
    let appeared = wait_for(
        &server,
        &ns,
        "coder.admin.other",
        "the workspace created in Coder",
        |_| true,
    )
    .await;
    assert_eq!(appeared["metadata"]["uid"], other.to_string());

    // coderd goes away: writes 503 with Retry-After, nothing stored; reads keep working.
    // (A plain HTTP client: kube-rs and client-go retry 503s by themselves.)
    coder.fake.stop().await;
    let start_patch = json!({"spec": {"running": true}});
    let refused = apiserver_support::raw(
        &server.http(),
        http::Method::PATCH,
        &apiserver_support::ws_path(&ns, Some("coder.admin.dev")),
        &[("content-type", "application/merge-patch+json")],
        start_patch.to_string(),
    )
    .await;
    let status = apiserver_support::assert_status(&refused, 503, "ServiceUnavailable");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("coderd is unavailable"),
        "{status}"
    );
    assert_eq!(refused.header("retry-after"), Some("1"), "{status}");
    let api: Api<DynamicObject> = Api::namespaced_with(server.client().await, &ns, &workspaces());
    let object = get(&server, &ns, "coder.admin.dev")
        .await
        .expect("reads keep working");
    assert_eq!(
        object["spec"]["running"], false,
        "the refused write changed nothing"
    );

    // coderd is back: the same write goes through and starts the workspace.
    coder.fake.restart().await;
    api.patch(
        "coder.admin.dev",
        &PatchParams::default(),
        &Patch::Merge(&start_patch),
    )
    .await
    .expect("the write succeeds once coderd is back");
    wait_for(&server, &ns, "coder.admin.dev", "running again", |o| {
        o["status"]["latestBuildStatus"] == "running"
    })
    .await;
    server.stop().await;
}

fn uuid_of(id: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(id.as_str().expect("id")).expect("uuid")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_token_is_picked_up_and_a_control_plane_without_access_is_a_503() {
    let cp = envtest::shared();
    let coder = coder_namespace(cp, "coder-rotate").await;
    let ns = coder.namespace.clone();
    let admin = coder.fake.admin();
    admin
        .create_template_with_files(ORG, "docker", &[("main.tf", "terraform {}\n")])
        .expect("template");
    let server = start(cp, &format!("/coder-backend-rotate/{ns}")).await;
    let http = server.http();
    let create = |name: &str| {
        json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": "CoderWorkspace",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"templateName": "docker"},
        })
        .to_string()
    };
    let post = |body: String| {
        let http = http.clone();
        let path = apiserver_support::ws_path(&ns, None);
        async move {
            apiserver_support::raw(
                &http,
                http::Method::POST,
                &path,
                &[("content-type", "application/json")],
                body,
            )
            .await
        }
    };
    assert_eq!(post(create("coder.admin.one")).await.status, 201);

    // The controller rotates the token: the old one stops working, the Secret gets the new one.
    admin
        .expire_key(&coder.token)
        .expect("expire the old token");
    let rotated = admin.api_token(OWNER).expect("a new token");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cp.admin_client().await, &ns);
    let patch = json!({"stringData": {"token": rotated}});
    secrets
        .patch(
            "coder-operator-token",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("rotate the Secret");
    envtest::poll_until("a create with the rotated token", WAIT, || async {
        let answer = post(create("coder.admin.two")).await;
        match answer.status.as_u16() {
            201 => Ok(()),
            // The first answer after the rotation may be the 503 that drops the old token.
            503 => Err(answer.text()),
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    })
    .await;
    assert!(find_named(&admin.workspaces(), "two").is_some());

    // A slow coderd: past --coder-request-timeout the write is a 503 and nothing is stored.
    coder.fake.set_latency(Duration::from_secs(4));
    let slow = post(create("coder.admin.slow")).await;
    let status = apiserver_support::assert_status(&slow, 503, "ServiceUnavailable");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{status}"
    );
    coder.fake.set_latency(Duration::ZERO);
    let path = format!("{}/coder.admin.slow", apiserver_support::ws_path(&ns, None));
    assert_eq!(
        apiserver_support::get(&http, &path).await.status,
        404,
        "nothing stored"
    );

    // A namespace whose CoderControlPlane has no operator access yet: 503 naming it.
    let pending = cp.create_namespace("coder-pending").await;
    let planes: Api<DynamicObject> =
        Api::namespaced_with(cp.admin_client().await, &pending, &control_plane_resource());
    let mut plane = DynamicObject::new("coder", &control_plane_resource());
    plane.data = json!({"spec": {}});
    planes
        .create(&PostParams::default(), &plane)
        .await
        .expect("a CoderControlPlane");
    let answer = envtest::poll_until("the directory to see the control plane", WAIT, || async {
        let answer = apiserver_support::raw(
            &http,
            http::Method::POST,
            &apiserver_support::ws_path(&pending, None),
            &[("content-type", "application/json")],
            json!({
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "kind": "CoderWorkspace",
                "metadata": {"name": "coder.admin.x", "namespace": pending},
                "spec": {"templateName": "docker"},
            })
            .to_string(),
        )
        .await;
        match answer.status.as_u16() {
            503 => Ok(answer),
            _ => Err(answer.text()),
        }
    })
    .await;
    let status = apiserver_support::assert_status(&answer, 503, "ServiceUnavailable");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("CoderControlPlane {pending}/coder")),
        "{message}"
    );
    assert!(message.contains("operator access"), "{message}");
    server.stop().await;
}
