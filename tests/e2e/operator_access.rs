//! Operator access end to end: the controller binary, running as the ServiceAccount and RBAC
//! that `deploy/controller/` ships, against a real kube-apiserver v1.36 + etcd +
//! kube-controller-manager (the envtest harness) and the fake coderd on loopback. The real
//! authorizer checks the Secret rules (a 403 in the controller's log fails), the real API
//! server stores the Secrets (stringData, ownerReferences) and kube-controller-manager
//! garbage-collects them with their CoderControlPlane.
//!
//! Tests run one at a time (each takes [`controller_cluster`]): each starts its own controller.

use crate::{controller_cluster, objects, our_binary};

use std::path::Path;
use std::time::Duration;

use coder_k8s::coder::{ClientOptions, CoderClient, SessionToken};
use envtest::ControlPlane;
use fake_coderd::FakeCoderd;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

/// Upper bound of waits (generous for a busy two-core machine; they usually take a second).
const WAIT: Duration = Duration::from_secs(60);

/// `coder-k8s --app=controller` as the controller's ServiceAccount, logging to a file.
struct Controller {
    process: our_binary::OurProcess,
}

impl Controller {
    fn start(cp: &ControlPlane, kubeconfig: &Path) -> Self {
        let cmd = our_binary::controller(kubeconfig, "info,coder_k8s=debug");
        let process = our_binary::spawn(
            cp,
            "coder-k8s controller",
            "controller-operator-access",
            cmd,
        );
        Self { process }
    }

    /// SIGTERM and a clean exit; the real authorizer refused nothing, and no secret reached
    /// the log.
    async fn stop(mut self, secrets: &[&str]) {
        let text = self
            .process
            .terminate_cleanly(Duration::from_secs(30))
            .await;
        let refused = our_binary::refusals(&text);
        assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "a secret value is in the controller's log"
            );
        }
    }
}

/// Waits until the `OperatorAccessReady` condition has `reason`; returns the object's JSON.
async fn wait_reason(client: &kube::Client, namespace: &str, name: &str, reason: &str) -> Value {
    let api = objects::control_planes(client, namespace);
    envtest::poll_until(&format!("{name}: reason {reason}"), WAIT, || {
        let api = api.clone();
        async move {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let obj = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
            let condition = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "OperatorAccessReady"))
                .cloned();
            match condition {
                Some(c) if c["reason"] == reason => Ok(obj),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

async fn secret_value(client: &kube::Client, namespace: &str, name: &str, key: &str) -> String {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get(name).await.expect("Secret exists");
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| panic!("key {key} in Secret {name}"));
    String::from_utf8(bytes.0.clone()).expect("utf-8")
}

fn assert_controlled_by(secret: &Secret, uid: &str) {
    let owners = secret
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|o| o.uid == uid && o.controller == Some(true) && o.kind == "CoderControlPlane"),
        "{:?}",
        secret.metadata
    );
}

fn coderd(url: &str) -> CoderClient {
    CoderClient::new(
        url,
        ClientOptions {
            timeout: Duration::from_secs(5),
            tls: None,
        },
    )
    .expect("client")
}

#[tokio::test]
async fn bootstrap_rotation_and_garbage_collection_against_a_real_apiserver() {
    let (_guard, cp, kubeconfig) = controller_cluster().await;
    let client = cp.admin_client().await;
    let namespace = cp.create_namespace("opaccess").await;
    let coder = FakeCoderd::start().await;
    let controller = Controller::start(cp, &kubeconfig);

    let uid = objects::create_control_plane(
        &client,
        &namespace,
        "coder",
        json!({"operatorAccess": {"url": coder.url(), "tokenLifetime": "6s"}}),
    )
    .await;
    let obj = wait_reason(&client, &namespace, "coder", "Bootstrapped").await;
    assert_eq!(obj["status"]["operatorAccessReady"], true, "{obj}");
    assert_eq!(
        obj["status"]["operatorTokenSecretRef"],
        json!({"name": "coder-operator-token", "key": "token"})
    );
    assert_eq!(obj["status"]["url"], coder.url());

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for name in ["coder-operator-token", "coder-admin-credentials"] {
        let secret = secrets.get(name).await.expect("Secret");
        assert_controlled_by(&secret, &uid);
    }
    let first = secret_value(&client, &namespace, "coder-operator-token", "token").await;
    let password = secret_value(&client, &namespace, "coder-admin-credentials", "password").await;
    let me = coderd(&coder.url())
        .with_token(SessionToken::new(first.clone()))
        .me()
        .await
        .expect("GET /api/v2/users/me with the stored token");
    assert!(me.is_owner(), "{me:?}");

    // Rotation: a new token once a third of 6 s is left, the old one deleted in coderd.
    let second = envtest::poll_until("a rotated token", WAIT, || {
        let client = client.clone();
        let namespace = namespace.clone();
        let first = first.clone();
        async move {
            let token = secret_value(&client, &namespace, "coder-operator-token", "token").await;
            if token != first {
                Ok(token)
            } else {
                Err("still the first token".to_string())
            }
        }
    })
    .await;
    let first_id = first.split('-').next().expect("key id").to_string();
    envtest::poll_until("the old token deleted in coderd", WAIT, || {
        let requests = coder.requests();
        let path = format!("/api/v2/users/me/keys/{first_id}");
        async move {
            requests
                .iter()
                .any(|r| r.method == "DELETE" && r.path == path && r.status < 300)
                .then_some(())
                .ok_or_else(|| "no DELETE yet".to_string())
        }
    })
    .await;
    let old = coderd(&coder.url())
        .with_token(SessionToken::new(first.clone()))
        .me()
        .await
        .expect_err("the old token is gone");
    assert!(old.is_unauthorized(), "{old}");
    coderd(&coder.url())
        .with_token(SessionToken::new(second.clone()))
        .me()
        .await
        .expect("the new token works");

    // Deleting the control plane deletes its Secrets (garbage collection by owner reference).
    objects::control_planes(&client, &namespace)
        .delete("coder", &DeleteParams::default())
        .await
        .expect("delete");
    envtest::poll_until("Secrets garbage-collected", WAIT, || {
        let secrets = secrets.clone();
        async move {
            let left = secrets
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .into_iter()
                .filter_map(|s| s.metadata.name)
                .filter(|n| n.starts_with("coder-"))
                .collect::<Vec<_>>();
            left.is_empty().then_some(()).ok_or(format!("{left:?}"))
        }
    })
    .await;
    controller.stop(&[&first, &second, &password]).await;
}

#[tokio::test]
async fn provided_token_and_unreachable_coderd_against_a_real_apiserver() {
    let (_guard, cp, kubeconfig) = controller_cluster().await;
    let client = cp.admin_client().await;
    let namespace = cp.create_namespace("opaccess").await;
    let mut coder = FakeCoderd::start().await;
    let (_, _) = coder
        .admin()
        .create_first_user("owner@example.com", "owner", "Owner-password-1!")
        .expect("first user");
    let token = coder.admin().api_token("owner").expect("token");
    // As an admin creates it: stringData, which the API server stores as data.
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "my-owner-token", "namespace": namespace},
        "stringData": {"token": token},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
    // An Enterprise license, uploaded with that token: the JWT must not reach the log either.
    let license = fake_coderd::license::sign(&fake_coderd::license::claims(
        "enterprise",
        Duration::from_secs(86400),
    ))
    .expect("sign a license");
    let license_secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "coder-license", "namespace": namespace},
        "stringData": {"license": license},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &license_secret)
        .await
        .expect("create the license Secret");
    let controller = Controller::start(cp, &kubeconfig);

    objects::create_control_plane(
        &client,
        &namespace,
        "mine",
        json!({
            "operatorAccess": {"url": coder.url(), "tokenSecretRef": {"name": "my-owner-token"}},
            "licenseSecretRef": {"name": "coder-license"},
        }),
    )
    .await;
    let obj = wait_reason(&client, &namespace, "mine", "TokenProvided").await;
    let api = objects::control_planes(&client, &namespace);
    let licensed = envtest::poll_until("the license applied", WAIT, || {
        let api = api.clone();
        async move {
            let obj = serde_json::to_value(api.get("mine").await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            (obj["status"]["licenseTier"] == "enterprise")
                .then_some(obj.clone())
                .ok_or_else(|| format!("{}", obj["status"]))
        }
    })
    .await;
    assert_eq!(coder.admin().licenses().len(), 1, "{licensed}");
    assert_eq!(obj["status"]["operatorAccessReady"], true);
    assert_eq!(
        obj["status"]["operatorTokenSecretRef"],
        json!({"name": "my-owner-token", "key": "token"})
    );

    // coderd goes away: a condition, not a reconcile error; back: ready again.
    coder.stop().await;
    let unreachable_url = coder.url();
    objects::create_control_plane(
        &client,
        &namespace,
        "gone",
        json!({"operatorAccess": {"url": unreachable_url}}),
    )
    .await;
    let obj = wait_reason(&client, &namespace, "gone", "CoderdUnreachable").await;
    assert_eq!(obj["status"]["operatorAccessReady"], false);
    let degraded = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Degraded"))
        .cloned()
        .expect("Degraded");
    assert_eq!(degraded["status"], "False", "{obj}");
    // The existing user means no bootstrap: once coderd is back, this one asks for a token.
    coder.restart().await;
    let obj = wait_reason(&client, &namespace, "gone", "FirstUserExists").await;
    assert_eq!(obj["status"]["operatorAccessReady"], false);
    controller.stop(&[&token, &license]).await;
}
