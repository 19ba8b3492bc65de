//! CoderWorkspaceProxy (docs/workspace-proxy.md): the controller registers the proxy in the
//! fake coderd, keeps its token in a Secret, runs the proxy Deployment and Service, follows
//! display name, icon and name changes, regenerates a lost token, deregisters on deletion,
//! gates on the `workspace_proxy` entitlement, backs off from an unreachable coderd, and writes
//! nothing after a restart. Each test has its own namespace and its own controller.

use crate::recording_client::{RequestLog, admin_client};

use std::sync::Arc;
use std::time::Duration;

use coder_k8s::controller::{Settings, run_with_client};
use coder_k8s::shutdown::Shutdown;
use envtest::ControlPlane;
use fake_coderd::{Entitlement, FakeCoderd};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use coder_k8s::api::coder::v1alpha1::CoderWorkspaceProxy;

const WAIT: Duration = Duration::from_secs(60);

async fn install_crds(cp: &ControlPlane) {
    crate::install_crds(
        cp,
        &[
            "codercontrolplanes.coder.com",
            "coderworkspaceproxies.coder.com",
        ],
    )
    .await;
}

struct Running {
    shutdown: Shutdown,
    task: JoinHandle<coder_k8s::controller::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("controller stops")
            .expect("no panic")
            .expect("controller ends cleanly");
    }
}

fn start_controller(client: kube::Client, namespace: &str) -> Running {
    let shutdown = Shutdown::new();
    let settings = Settings {
        namespace: Some(namespace.to_string()),
        instance: Some("test".into()),
        // Keeps the backoff of the unreachable-coderd test short enough to see several retries.
        max_backoff: Some(Duration::from_secs(2)),
        ..Settings::default()
    };
    let task = tokio::spawn(run_with_client(client, settings, shutdown.clone()));
    Running { shutdown, task }
}

/// A fake coderd with an owner, the `workspace_proxy` feature entitled, and the owner's API
/// token in Secret `coder-owner` of `namespace`.
async fn coderd_with_owner(kube: &kube::Client, namespace: &str) -> FakeCoderd {
    let fake = FakeCoderd::start().await;
    let admin = fake.admin();
    admin
        .create_first_user("admin@example.com", "admin", "SomeSecurePassword!1")
        .unwrap();
    admin
        .set_entitlement("workspace_proxy", Entitlement::Entitled)
        .unwrap();
    let token = admin.api_token("admin").unwrap();
    owner_secret(kube, namespace, &token).await;
    fake
}

async fn owner_secret(kube: &kube::Client, namespace: &str, token: &str) {
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "coder-owner"},
        "stringData": {"token": token},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

async fn create_proxy(kube: &kube::Client, namespace: &str, name: &str, spec: Value) {
    let api: Api<CoderWorkspaceProxy> = Api::namespaced(kube.clone(), namespace);
    let obj: CoderWorkspaceProxy = serde_json::from_value(json!({
        "apiVersion": "coder.com/v1alpha1",
        "kind": "CoderWorkspaceProxy",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

fn bootstrap_spec(coder_url: &str, extra: Value) -> Value {
    let mut bootstrap = json!({
        "coderURL": coder_url,
        "credentialsSecretRef": {"name": "coder-owner"},
    });
    if let (Some(b), Some(extra)) = (bootstrap.as_object_mut(), extra.as_object()) {
        b.extend(extra.clone());
    }
    json!({"bootstrap": bootstrap})
}

fn condition(obj: &CoderWorkspaceProxy, type_: &str) -> Option<(String, String)> {
    obj.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Polls the proxy until `done` holds; the panic names the last status seen.
async fn wait_proxy(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
    what: &str,
    done: impl Fn(&CoderWorkspaceProxy) -> bool,
) -> CoderWorkspaceProxy {
    let api: Api<CoderWorkspaceProxy> = Api::namespaced(kube.clone(), namespace);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let obj = api.get_opt(name).await.unwrap();
        if let Some(obj) = &obj
            && done(obj)
        {
            return obj.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {what}; last status: {:#?}",
            obj.and_then(|o| o.status)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live (not deleted) proxies of the fake coderd, as codersdk JSON.
fn live_proxies(fake: &FakeCoderd) -> Vec<Value> {
    fake.admin()
        .workspace_proxies()
        .into_iter()
        .filter(|p| p["deleted"] != json!(true))
        .collect()
}

async fn token_in_secret(kube: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let secret = secrets.get_opt(name).await.unwrap()?;
    let bytes = secret.data?.get("token")?.0.clone();
    Some(String::from_utf8(bytes).unwrap())
}

/// No kubelet runs in envtest: the test marks the proxy's pods Ready, as a kubelet would once
/// `/healthz` answers, and kube-controller-manager carries that into the Deployment's status.
async fn mark_pods_ready(kube: &kube::Client, namespace: &str, instance: &str) {
    let selector = format!(
        "app.kubernetes.io/name=coder-workspace-proxy,app.kubernetes.io/instance={instance}"
    );
    mark_selected_pods_ready(kube, namespace, &selector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_updates_regenerates_and_deregisters_the_proxy() {
    let cp = envtest::shared_with_controller_manager();
    install_crds(cp).await;
    let namespace = cp.create_namespace("wsproxy").await;
    let kube = admin_client(cp, None).await;
    let fake = coderd_with_owner(&kube, &namespace).await;
    let controller = start_controller(admin_client(cp, None).await, &namespace);

    create_proxy(
        &kube,
        &namespace,
        "eu",
        bootstrap_spec(&fake.url(), json!({"displayName": "Europe"})),
    )
    .await;

    // Registration: coderd has the proxy, the Secret holds a token coderd accepts for it.
    let obj = wait_proxy(&kube, &namespace, "eu", "registered", |o| {
        condition(o, "ProxyRegistered").is_some_and(|(s, _)| s == "True")
    })
    .await;
    let status = obj.status.clone().unwrap();
    assert_eq!(status.registered, Some(true));
    let proxies = live_proxies(&fake);
    assert_eq!(proxies.len(), 1, "{proxies:#?}");
    assert_eq!(proxies[0]["name"], "eu");
    assert_eq!(proxies[0]["display_name"], "Europe");
    let id = proxies[0]["id"].as_str().unwrap().to_string();
    assert_eq!(status.proxy_id.as_deref(), Some(id.as_str()));
    let token = token_in_secret(&kube, &namespace, "eu-proxy-token")
        .await
        .expect("token Secret");
    assert!(fake.admin().workspace_proxy_token_valid(&token));
    let token_ref = status.proxy_token_secret_ref.unwrap();
    assert_eq!(token_ref.name.as_deref(), Some("eu-proxy-token"));
    assert!(
        obj.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "coder.com/workspace-proxy-deregistration")
    );

    // The Deployment runs `coder wsproxy server` against coderd with the token from the Secret.
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &namespace);
    let deployment = deployments.get("wsproxy-eu").await.unwrap();
    let container = &deployment.spec.unwrap().template.spec.unwrap().containers[0];
    let env = container.env.clone().unwrap();
    let url = env
        .iter()
        .find(|e| e.name == "CODER_PRIMARY_ACCESS_URL")
        .unwrap();
    assert_eq!(url.value.as_deref(), Some(fake.url().as_str()));
    let from = env
        .iter()
        .find(|e| e.name == "CODER_PROXY_SESSION_TOKEN")
        .and_then(|e| e.value_from.as_ref()?.secret_key_ref.clone())
        .unwrap();
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("eu-proxy-token", "token")
    );
    let services: Api<Service> = Api::namespaced(kube.clone(), &namespace);
    services.get("wsproxy-eu").await.unwrap();

    // Ready once the pods are.
    mark_pods_ready(&kube, &namespace, "eu").await;
    let obj = wait_proxy(&kube, &namespace, "eu", "Ready", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.phase.as_ref())
            .map(|p| p.as_str())
            == Some("Ready")
    })
    .await;
    assert_eq!(obj.status.unwrap().ready_replicas, Some(1));

    // Display name and icon follow the spec.
    let api: Api<CoderWorkspaceProxy> = Api::namespaced(kube.clone(), &namespace);
    api.patch(
        "eu",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"bootstrap": {"displayName": "Frankfurt", "icon": "/emojis/1f1e9-1f1ea.png"}}})),
    )
    .await
    .unwrap();
    envtest::poll_until("display name and icon in coderd", WAIT, || async {
        let proxies = live_proxies(&fake);
        match proxies.first() {
            Some(p)
                if p["display_name"] == "Frankfurt"
                    && p["icon_url"] == "/emojis/1f1e9-1f1ea.png" =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Rename: the same proxy (same id, token still valid) under the new name.
    api.patch(
        "eu",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"bootstrap": {"proxyName": "eu-central"}}})),
    )
    .await
    .unwrap();
    wait_proxy(&kube, &namespace, "eu", "renamed", |o| {
        o.status.as_ref().and_then(|s| s.proxy_name.as_deref()) == Some("eu-central")
    })
    .await;
    let proxies = live_proxies(&fake);
    assert_eq!(proxies.len(), 1, "{proxies:#?}");
    assert_eq!(
        (proxies[0]["id"].as_str(), proxies[0]["name"].as_str()),
        (Some(id.as_str()), Some("eu-central"))
    );
    assert!(fake.admin().workspace_proxy_token_valid(&token));

    // A lost token Secret: the token is regenerated (the old one stops working).
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), &namespace);
    secrets
        .delete("eu-proxy-token", &DeleteParams::default())
        .await
        .unwrap();
    // Secrets are not watched (RBAC): the next reconcile notices, here started by a spec change.
    api.patch(
        "eu",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    let regenerated = envtest::poll_until("a regenerated token", WAIT, || async {
        match token_in_secret(&kube, &namespace, "eu-proxy-token").await {
            Some(new) if new != token => Ok(new),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(fake.admin().workspace_proxy_token_valid(&regenerated));
    assert!(!fake.admin().workspace_proxy_token_valid(&token));
    assert_eq!(live_proxies(&fake).len(), 1, "no second registration");

    // Deletion deregisters in coderd, then the object and its children go.
    api.delete("eu", &DeleteParams::default()).await.unwrap();
    envtest::poll_until("the object gone", WAIT, || async {
        match api.get_opt("eu").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(o) => Err(format!("still there: {:?}", o.metadata.finalizers)),
        }
    })
    .await;
    assert!(
        live_proxies(&fake).is_empty(),
        "{:#?}",
        fake.admin().workspace_proxies()
    );
    envtest::poll_until("children garbage-collected", WAIT, || async {
        let d = deployments
            .get_opt("wsproxy-eu")
            .await
            .map_err(|e| e.to_string())?;
        let s = services
            .get_opt("wsproxy-eu")
            .await
            .map_err(|e| e.to_string())?;
        let t = secrets
            .get_opt("eu-proxy-token")
            .await
            .map_err(|e| e.to_string())?;
        if d.is_none() && s.is_none() && t.is_none() {
            Ok(())
        } else {
            Err(format!(
                "left: deployment {} service {} secret {}",
                d.is_some(),
                s.is_some(),
                t.is_some()
            ))
        }
    })
    .await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_entitlement_the_condition_says_so_and_no_deployment_runs() {
    let cp = envtest::shared();
    install_crds(cp).await;
    let namespace = cp.create_namespace("wsproxy-unlicensed").await;
    let kube = admin_client(cp, None).await;
    let fake = coderd_with_owner(&kube, &namespace).await;
    fake.admin()
        .set_entitlement("workspace_proxy", Entitlement::NotEntitled)
        .unwrap();
    let controller = start_controller(admin_client(cp, None).await, &namespace);
    create_proxy(
        &kube,
        &namespace,
        "eu",
        bootstrap_spec(&fake.url(), json!({})),
    )
    .await;

    let obj = wait_proxy(&kube, &namespace, "eu", "not entitled", |o| {
        condition(o, "WorkspaceProxyEntitled").is_some()
    })
    .await;
    assert_eq!(
        condition(&obj, "WorkspaceProxyEntitled"),
        Some(("False".into(), "NotEntitled".into()))
    );
    assert_eq!(
        obj.status
            .as_ref()
            .unwrap()
            .phase
            .as_ref()
            .map(|p| p.as_str()),
        Some("Failed")
    );
    assert!(live_proxies(&fake).is_empty(), "nothing registered");
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &namespace);
    assert!(deployments.get_opt("wsproxy-eu").await.unwrap().is_none());
    controller.stop().await;
}

/// A TCP listener that accepts and at once closes every connection (coderd's port answering
/// nothing), counting them: the controller's attempts.
async fn dead_coderd() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_coderd_is_retried_with_backoff_and_warned_about_once() {
    let cp = envtest::shared();
    install_crds(cp).await;
    let namespace = cp.create_namespace("wsproxy-down").await;
    let kube = admin_client(cp, None).await;
    owner_secret(&kube, &namespace, "abcdefghij-0123456789abcdef01").await;
    let (url, attempts) = dead_coderd().await;
    let controller = start_controller(admin_client(cp, None).await, &namespace);
    create_proxy(&kube, &namespace, "eu", bootstrap_spec(&url, json!({}))).await;

    let obj = wait_proxy(&kube, &namespace, "eu", "coderd unreachable", |o| {
        condition(o, "WorkspaceProxyEntitled").is_some_and(|(_, r)| r == "CoderdUnreachable")
    })
    .await;
    assert_eq!(
        obj.status
            .as_ref()
            .unwrap()
            .phase
            .as_ref()
            .map(|p| p.as_str()),
        Some("Failed")
    );
    // Several retries at a growing interval (capped at 2 s here): over 6 s, more than one
    // attempt and far fewer than a hot loop would make.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let made = attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=20).contains(&made), "{made} attempts in 6 s");
    let events: Api<Event> = Api::namespaced(kube.clone(), &namespace);
    let warnings: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("eu"))
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].reason.as_deref(), Some("CoderdUnreachable"));
    assert!(
        warnings[0].series.is_none(),
        "published once, not as a series: {warnings:#?}"
    );
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &namespace);
    assert!(deployments.get_opt("wsproxy-eu").await.unwrap().is_none());
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_writes_nothing_to_a_converged_proxy() {
    let cp = envtest::shared();
    install_crds(cp).await;
    let namespace = cp.create_namespace("wsproxy-restart").await;
    let kube = admin_client(cp, None).await;
    let fake = coderd_with_owner(&kube, &namespace).await;
    let first = start_controller(admin_client(cp, None).await, &namespace);
    create_proxy(
        &kube,
        &namespace,
        "eu",
        bootstrap_spec(&fake.url(), json!({"icon": "/emojis/1f30d.png"})),
    )
    .await;
    wait_proxy(&kube, &namespace, "eu", "registered", |o| {
        condition(o, "DeploymentReady").is_some()
    })
    .await;
    // Let the reconciles the children's watch events start settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.stop().await;

    fake.clear_requests();
    let log: RequestLog = Arc::default();
    let second = start_controller(admin_client(cp, Some(log.clone())).await, &namespace);
    // The restarted controller lists, watches and reconciles; give it time to do all of it.
    envtest::poll_until(
        "the restarted controller's first reconcile",
        WAIT,
        || async {
            let seen = fake.requests();
            if seen
                .iter()
                .any(|r| r.path.starts_with("/api/v2/workspaceproxies"))
            {
                Ok(())
            } else {
                Err(format!("{} coderd requests", seen.len()))
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    second.stop().await;

    let writes: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| !line.starts_with("GET "))
        .filter(|line| line.contains(&format!("/namespaces/{namespace}/")))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "writes after restart: {writes:#?}");
    let coderd_writes: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        coderd_writes.is_empty(),
        "coderd writes after restart: {coderd_writes:#?}"
    );
}

/// coder/coder-k8s' config/samples/coder_v1alpha1_coderworkspaceproxy.yaml, unchanged.
const UPSTREAM_SAMPLE: &str = r#"apiVersion: coder.com/v1alpha1
kind: CoderWorkspaceProxy
metadata:
  name: coderworkspaceproxy-sample
  namespace: coder
spec:
  image: "ghcr.io/coder/coder:latest"
  primaryAccessURL: "https://coder.example.com"
  proxySessionTokenSecretRef:
    name: coderworkspaceproxy-token
    key: token
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sample_applies_unchanged_and_bad_specs_are_refused() {
    let cp = envtest::shared();
    install_crds(cp).await;
    let namespace = cp.create_namespace("wsproxy-sample").await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let sample = write("sample.yaml", UPSTREAM_SAMPLE);
    let apply = |file: String| {
        let namespace = namespace.clone();
        async move {
            cp.kubectl()
                .args(["apply", "--dry-run=server", "-n", &namespace, "-f", &file])
                .output()
                .await
                .unwrap()
        }
    };
    // The sample names namespace `coder`; kubectl refuses a -n that differs, so it gets its own.
    let _ = cp
        .kubectl()
        .args(["create", "namespace", "coder"])
        .output()
        .await
        .unwrap();
    let out = cp
        .kubectl()
        .args(["apply", "--dry-run=server", "-f", &sample])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // This repository's examples apply too.
    let examples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/workspace-proxy/coderworkspaceproxy.yaml"
    );
    let out = cp
        .kubectl()
        .args(["apply", "--dry-run=server", "-f", examples])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let neither = write(
        "neither.yaml",
        "apiVersion: coder.com/v1alpha1\nkind: CoderWorkspaceProxy\nmetadata:\n  name: bad\nspec:\n  image: x\n",
    );
    let out = apply(neither).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("primaryAccessURL and proxySessionTokenSecretRef are required"),
        "{stderr}"
    );

    let both = write(
        "both.yaml",
        "apiVersion: coder.com/v1alpha1\nkind: CoderWorkspaceProxy\nmetadata:\n  name: bad\nspec:\n  bootstrap:\n    controlPlaneRef: {name: coder}\n    coderURL: https://coder.example.com\n    credentialsSecretRef: {name: t}\n",
    );
    let out = apply(both).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("set exactly one of controlPlaneRef and coderURL"),
        "{stderr}"
    );

    let bad_name = write(
        "name.yaml",
        "apiVersion: coder.com/v1alpha1\nkind: CoderWorkspaceProxy\nmetadata:\n  name: bad\nspec:\n  bootstrap:\n    controlPlaneRef: {name: coder}\n    proxyName: Not_A_Name\n",
    );
    let out = apply(bad_name).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxyName"));
}

/// No kubelet runs in envtest: marks the pods selected by `selector` Ready, as a kubelet would
/// once their probes pass; kube-controller-manager carries that into the Deployment's status.
async fn mark_selected_pods_ready(kube: &kube::Client, namespace: &str, selector: &str) {
    let pods: Api<Pod> = Api::namespaced(kube.clone(), namespace);
    let listed = envtest::poll_until(&format!("pods {selector}"), WAIT, || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(|e| e.to_string())?;
            if list.items.is_empty() {
                Err("no pod yet".to_string())
            } else {
                Ok(list.items)
            }
        }
    })
    .await;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    for pod in listed {
        let status = json!({"status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            ],
        }});
        pods.patch_status(
            pod.metadata.name.as_deref().unwrap(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_and_its_proxy_become_ready_and_leave_nothing_in_coderd() {
    let cp = envtest::shared_with_controller_manager();
    install_crds(cp).await;
    let kubeconfig = crate::deployed_service_account(cp).await;
    let namespace = cp.create_namespace("wsproxy-e2e").await;
    let kube = admin_client(cp, None).await;
    // A fresh coderd: the controller creates its first user (operator access).
    let fake = FakeCoderd::start().await;
    fake.admin()
        .set_entitlement("workspace_proxy", Entitlement::Entitled)
        .unwrap();

    let manifest = format!(
        r#"apiVersion: coder.com/v1alpha1
kind: CoderControlPlane
metadata:
  name: coder
  namespace: {namespace}
spec:
  operatorAccess:
    url: {url}
---
apiVersion: coder.com/v1alpha1
kind: CoderWorkspaceProxy
metadata:
  name: eu
  namespace: {namespace}
spec:
  bootstrap:
    controlPlaneRef:
      name: coder
    displayName: Europe
"#,
        url = fake.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifest.yaml");
    std::fs::write(&file, manifest).unwrap();
    let out = cp
        .kubectl()
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The controller runs as the ServiceAccount deploy/ ships, with its RBAC.
    let controller = start_controller(cp.client_for(&kubeconfig).await, &namespace);
    mark_selected_pods_ready(
        &kube,
        &namespace,
        "app.kubernetes.io/name=coder,app.kubernetes.io/instance=coder",
    )
    .await;
    mark_pods_ready(&kube, &namespace, "eu").await;

    let ccps: Api<coder_k8s::api::coder::v1alpha1::CoderControlPlane> =
        Api::namespaced(kube.clone(), &namespace);
    envtest::poll_until("the control plane Ready", WAIT, || async {
        let ccp = ccps.get("coder").await.map_err(|e| e.to_string())?;
        let status = ccp.status.unwrap_or_default();
        match (
            status.phase.as_ref().map(|p| p.as_str()),
            status.operator_access_ready,
        ) {
            (Some("Ready"), Some(true)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let obj = wait_proxy(&kube, &namespace, "eu", "Ready", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.phase.as_ref())
            .map(|p| p.as_str())
            == Some("Ready")
    })
    .await;
    assert_eq!(
        condition(&obj, "ControlPlaneReady"),
        Some(("True".into(), "OperatorAccessReady".into()))
    );
    let proxies = live_proxies(&fake);
    assert_eq!(proxies.len(), 1, "{proxies:#?}");
    assert_eq!(proxies[0]["display_name"], "Europe");
    let token = token_in_secret(&kube, &namespace, "eu-proxy-token")
        .await
        .expect("token Secret");
    assert!(fake.admin().workspace_proxy_token_valid(&token));
    // The proxy reaches coderd where the control plane's status says the operator does.
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &namespace);
    let deployment = deployments.get("wsproxy-eu").await.unwrap();
    let env = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    let primary = env
        .iter()
        .find(|e| e.name == "CODER_PRIMARY_ACCESS_URL")
        .and_then(|e| e.value.clone());
    assert_eq!(primary.as_deref(), Some(fake.url().as_str()));

    // Deleting both (as `kubectl delete -f` does) leaves nothing behind in coderd.
    let out = cp
        .kubectl()
        .args(["delete", "--wait=false", "-f"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let api: Api<CoderWorkspaceProxy> = Api::namespaced(kube.clone(), &namespace);
    envtest::poll_until("both objects gone", WAIT, || async {
        let proxy = api.get_opt("eu").await.map_err(|e| e.to_string())?;
        let ccp = ccps.get_opt("coder").await.map_err(|e| e.to_string())?;
        match (proxy, ccp) {
            (None, None) => Ok(()),
            (p, c) => Err(format!(
                "left: proxy {} control plane {}",
                p.is_some(),
                c.is_some()
            )),
        }
    })
    .await;
    assert!(
        live_proxies(&fake).is_empty(),
        "{:#?}",
        fake.admin().workspace_proxies()
    );
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bootstrap_the_proxy_runs_with_the_given_token_and_registers_nothing() {
    let cp = envtest::shared();
    install_crds(cp).await;
    let namespace = cp.create_namespace("wsproxy-direct").await;
    let kube = admin_client(cp, None).await;
    let controller = start_controller(admin_client(cp, None).await, &namespace);
    // The upstream sample's shape: a token minted elsewhere (`coder wsproxy create`).
    create_proxy(
        &kube,
        &namespace,
        "sample",
        json!({
            "primaryAccessURL": "https://coder.example.com",
            "proxySessionTokenSecretRef": {"name": "coderworkspaceproxy-token"},
        }),
    )
    .await;
    let obj = wait_proxy(&kube, &namespace, "sample", "deployed", |o| {
        condition(o, "DeploymentReady").is_some()
    })
    .await;
    let status = obj.status.unwrap();
    assert_eq!(status.registered, Some(false));
    let token_ref = status.proxy_token_secret_ref.unwrap();
    assert_eq!(
        (token_ref.name.as_deref(), token_ref.key.as_deref()),
        (Some("coderworkspaceproxy-token"), Some("token")),
        "the key defaults to token"
    );
    assert!(
        obj.metadata.finalizers.unwrap_or_default().is_empty(),
        "nothing to deregister"
    );
    let conditions: Vec<String> = status
        .conditions
        .unwrap()
        .iter()
        .map(|c| c.type_.clone())
        .collect();
    assert_eq!(
        conditions,
        ["ProxyTokenSecretReady", "DeploymentReady", "Ready"]
    );
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), &namespace);
    let deployment = deployments.get("wsproxy-sample").await.unwrap();
    let env = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    let url = env
        .iter()
        .find(|e| e.name == "CODER_PRIMARY_ACCESS_URL")
        .unwrap();
    assert_eq!(url.value.as_deref(), Some("https://coder.example.com"));
    let from = env
        .iter()
        .find(|e| e.name == "CODER_PROXY_SESSION_TOKEN")
        .and_then(|e| e.value_from.as_ref()?.secret_key_ref.clone())
        .unwrap();
    assert_eq!(from.name, "coderworkspaceproxy-token");
    controller.stop().await;
}
