//! Issue 18's "done when", with every part real except coderd: a real kube-apiserver and
//! kube-aggregator (envtest), our controller binary provisioning operator access to a fresh
//! coderd (the fake), our aggregated apiserver binary with `--coder-backend=enabled` reading that
//! access from the CoderControlPlane's status, and kubectl as the user. Nothing here writes the
//! CoderControlPlane's status or mints a token by hand: the controller does, as in a cluster.

#[path = "common/aggregated_e2e.rs"]
mod aggregated_e2e;
#[path = "common/coder_backend_support.rs"]
mod coder_backend_support;
#[path = "common/objects.rs"]
mod objects;
#[path = "common/our_binary.rs"]
mod our_binary;

use aggregated_e2e::{AggregatedServer, kubectl_ok};
use coder_backend_support::*;
use envtest::ControlPlane;
use fake_coderd::FakeCoderd;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DynamicObject, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

/// The user the controller creates as coderd's first user (docs/operator-access.md).
const BOOTSTRAP_ADMIN: &str = "coder-k8s-admin";

const MAIN_TF: &str = "terraform {}\nresource \"null_resource\" \"dev\" {}\n";

/// The controller binary, as deployed but with the admin kubeconfig and loopback probes.
fn start_controller(cp: &ControlPlane) -> our_binary::OurProcess {
    let cmd = our_binary::controller(cp.admin_kubeconfig(), "info");
    our_binary::spawn(cp, "coder-k8s controller", "e2e-coder-controller", cmd)
}

async fn get(cp: &ControlPlane, ns: &str, api: &kube::api::ApiResource, name: &str) -> Value {
    let objects: Api<DynamicObject> = Api::namespaced_with(cp.admin_client().await, ns, api);
    objects
        .get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
        .unwrap_or(Value::Null)
}

/// Polls the object until `check` accepts it; returns it.
async fn wait_for(
    cp: &ControlPlane,
    ns: &str,
    api: kube::api::ApiResource,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let check = &check;
    envtest::poll_until(what, WAIT, || {
        let api = api.clone();
        async move {
            let object = get(cp, ns, &api, name).await;
            if check(&object) {
                Ok(object)
            } else {
                Err(format!("{object}"))
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controlled_coderd_gets_templates_and_workspaces_from_manifests() {
    let cp = envtest::shared();
    install_control_plane_crd(cp).await;
    // A fresh coderd: no users yet, as right after `helm install coder` or a CoderControlPlane.
    let fake = FakeCoderd::start_with(fast_jobs()).await;
    let controller = start_controller(cp);
    let ns = cp.create_namespace("coder-e2e").await;

    // The platform engineer's CoderControlPlane; operatorAccess.url because the operator runs
    // outside the cluster network here (no Service DNS in envtest).
    let planes: Api<DynamicObject> =
        Api::namespaced_with(cp.admin_client().await, &ns, &control_plane_resource());
    let mut plane = DynamicObject::new("coder", &control_plane_resource());
    plane.data = json!({"spec": {"operatorAccess": {"url": fake.url()}}});
    planes
        .create(&PostParams::default(), &plane)
        .await
        .expect("create the CoderControlPlane");
    let plane = wait_for(
        cp,
        &ns,
        control_plane_resource(),
        "coder",
        "operator access provisioned by the controller",
        |o| o.pointer("/status/operatorAccessReady") == Some(&Value::Bool(true)),
    )
    .await;
    assert_eq!(plane["status"]["url"], fake.url(), "{plane}");
    let users = fake.admin().users();
    assert!(
        users.iter().any(|u| u["username"] == BOOTSTRAP_ADMIN),
        "the controller created coderd's first user: {users:?}"
    );

    // The aggregated apiserver as deployed: the Coder backend on, behind the aggregator.
    let interval = format!("--coder-sync-interval={SYNC_INTERVAL}");
    let _server =
        AggregatedServer::start_and_register_with(cp, &["--coder-backend=enabled", &interval])
            .await;

    // A template kept in Git, applied with kubectl: a real template with an active version.
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&template_manifest(
            &ns,
            &format!("{ORG}.docker"),
            MAIN_TF,
            "",
        )),
    )
    .await;
    let template = wait_for(
        cp,
        &ns,
        templates(),
        "coder.docker",
        "the template active in coderd",
        |o| o.pointer("/status/activeVersionID").is_some(),
    )
    .await;
    let in_coder = find_named(&fake.admin().templates(), "docker")
        .cloned()
        .expect("the template exists in coderd");
    assert_eq!(template["status"]["id"], in_coder["id"], "{template}");
    assert_eq!(
        template["status"]["activeVersionID"], in_coder["active_version_id"],
        "{template}"
    );

    // A workspace for the bootstrap admin: created in coderd and built until running.
    let workspace_name = format!("{ORG}.{BOOTSTRAP_ADMIN}.dev");
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(&ns, &workspace_name, "docker")),
    )
    .await;
    let workspace = wait_for(
        cp,
        &ns,
        workspaces(),
        &workspace_name,
        "the workspace running",
        |o| o.pointer("/status/latestBuildStatus") == Some(&json!("running")),
    )
    .await;
    let in_coder = find_named(&fake.admin().workspaces(), "dev")
        .cloned()
        .expect("the workspace exists in coderd");
    assert_eq!(workspace["metadata"]["uid"], in_coder["id"], "{workspace}");
    assert_eq!(workspace["status"]["ownerName"], BOOTSTRAP_ADMIN);
    assert_eq!(in_coder["latest_build"]["status"], "running", "{in_coder}");

    // Stopped with kubectl patch: a stop build in coderd, and the status follows.
    kubectl_ok(
        cp,
        &[
            "patch",
            "coderworkspace",
            &workspace_name,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ],
        None,
    )
    .await;
    wait_for(
        cp,
        &ns,
        workspaces(),
        &workspace_name,
        "the workspace stopped",
        |o| o.pointer("/status/latestBuildStatus") == Some(&json!("stopped")),
    )
    .await;
    let in_coder = find_named(&fake.admin().workspaces(), "dev")
        .cloned()
        .expect("the workspace still exists in coderd");
    assert_eq!(in_coder["latest_build"]["transition"], "stop", "{in_coder}");
    assert_eq!(in_coder["latest_build"]["status"], "stopped", "{in_coder}");

    // The apiserver's calls (templates, files, versions, workspaces, builds) were all made as
    // the operator the controller provisioned, and none was refused for its credentials.
    let backend_calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            [
                "/api/v2/templates",
                "/api/v2/files",
                "/api/v2/workspaces",
                "/api/v2/organizations/",
            ]
            .iter()
            .any(|prefix| r.path.starts_with(prefix))
        })
        .collect();
    assert!(!backend_calls.is_empty());
    for call in &backend_calls {
        assert_eq!(
            call.user.as_deref(),
            Some(BOOTSTRAP_ADMIN),
            "{} {} as {:?} → {}",
            call.method,
            call.path,
            call.user,
            call.status
        );
        assert_ne!(call.status, 401, "{} {}", call.method, call.path);
    }
    // coderd stops accepting the operator token (revoked in Coder): the apiserver's next call
    // gets 401 and records it on the CoderControlPlane; within seconds the controller reports
    // OperatorAccessReady=False (TokenRejected), mints a new token, and is ready again. Without
    // the report the controller would look only at its periodic check, minutes later.
    let client = cp.admin_client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let token_of = |secret: Secret| {
        secret
            .data
            .and_then(|d| d.get("token").cloned())
            .map(|b| String::from_utf8(b.0).expect("utf-8 token"))
            .expect("the token Secret has a token")
    };
    let old_token = token_of(
        secrets
            .get("coder-operator-token")
            .await
            .expect("token Secret"),
    );
    let plane_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &control_plane_resource());
    let mut changes = watcher(
        plane_api.clone(),
        watcher::Config::default().fields("metadata.name=coder"),
    )
    .default_backoff()
    .applied_objects()
    .boxed();
    fake.admin()
        .expire_key(&old_token)
        .expect("revoke the operator token");
    let access = |plane: &DynamicObject| -> Option<(String, String, String)> {
        let conditions = plane.data.pointer("/status/conditions")?.as_array()?;
        let c = conditions
            .iter()
            .find(|c| c["type"] == "OperatorAccessReady")?;
        let field = |name: &str| c[name].as_str().unwrap_or("").to_string();
        Some((field("status"), field("reason"), field("message")))
    };
    let (rejected, ready_again) = tokio::time::timeout(WAIT, async {
        let mut rejected = None;
        while let Some(change) = changes.next().await {
            let Ok(plane) = change else { continue };
            match (access(&plane), &rejected) {
                (Some((status, reason, message)), None)
                    if status == "False" && reason == "TokenRejected" =>
                {
                    rejected = Some(message);
                }
                (Some((status, _, _)), Some(message)) if status == "True" => {
                    return (message.clone(), plane);
                }
                _ => {}
            }
        }
        panic!("the CoderControlPlane watch ended");
    })
    .await
    .expect("OperatorAccessReady went False (TokenRejected), then True again");
    assert!(rejected.contains("coder-operator-token"), "{rejected}");
    assert!(
        !rejected.contains(&old_token),
        "no token in messages: {rejected}"
    );
    assert!(
        ready_again
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("coder.com/operator-token-rejected-at"),
        "the apiserver recorded the rejection"
    );
    let new_token = token_of(
        secrets
            .get("coder-operator-token")
            .await
            .expect("token Secret"),
    );
    assert_ne!(new_token, old_token, "a new token was minted");
    // Writes work again with the new token.
    kubectl_ok(
        cp,
        &[
            "patch",
            "coderworkspace",
            &workspace_name,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":true}}"#,
        ],
        None,
    )
    .await;
    wait_for(
        cp,
        &ns,
        workspaces(),
        &workspace_name,
        "the workspace running again",
        |o| o.pointer("/status/latestBuildStatus") == Some(&json!("running")),
    )
    .await;
    drop(controller);
}
