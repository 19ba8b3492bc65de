//! The controller's requests per converged object against a real kube-apiserver v1.36 + etcd
//! (the envtest harness): what the API server returns differs from what was applied (defaults,
//! values it leaves out), and only a real server shows whether the controller's "nothing
//! changed" check still holds. A child that never compares equal is applied again on every
//! reconcile, so each kind must be applied exactly once.

use crate::objects;
use crate::recording_client::{self, RequestLog};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coder_k8s::controller::{Settings, run_with_client};
use coder_k8s::shutdown::Shutdown;
use envtest::ControlPlane;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// Installs the CRDs once per test process: two tests applying them at once both try to create
/// them, and the second fails with AlreadyExists.
async fn install_crd(cp: &ControlPlane) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED.get_or_init(|| apply_crds(cp)).await;
}

async fn apply_crds(cp: &ControlPlane) {
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/generated/crds");
    let apply = cp
        .kubectl()
        .args(["apply", "-f", crds])
        .output()
        .await
        .unwrap();
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    cp.wait_crd_established("codercontrolplanes.coder.com")
        .await;
}

/// Stops the controller started with `shutdown` and checks that it ended cleanly.
async fn stop(
    shutdown: Shutdown,
    controller: tokio::task::JoinHandle<coder_k8s::controller::Result<()>>,
) {
    shutdown.cancel();
    tokio::time::timeout(WAIT, controller)
        .await
        .expect("controller stops")
        .expect("no panic")
        .expect("controller ends cleanly");
}

/// Requests about `name` (its children share its name, RBAC has a suffix) other than reads.
fn writes_for(log: &RequestLog, namespace: &str, name: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|line| !line.starts_with("GET "))
        .filter(|line| line.contains(&format!("/namespaces/{namespace}/")))
        .filter(|line| {
            line.ends_with(&format!("/{name}"))
                || line.ends_with(&format!("/{name}/status"))
                || line.ends_with(&format!("/{name}-workspace-perms"))
                || line.ends_with("/events")
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_child_is_applied_once_against_a_real_api_server() {
    let cp = envtest::shared();
    install_crd(cp).await;
    let namespace = cp.create_namespace("requests").await;
    let log: RequestLog = Arc::default();
    let client = recording_client::admin_client(cp, Some(log.clone())).await;
    let shutdown = Shutdown::new();
    let settings = Settings {
        namespace: Some(namespace.clone()),
        instance: Some("test".into()),
        ..Settings::default()
    };
    let controller = tokio::spawn(run_with_client(client, settings, shutdown.clone()));

    // The default spec, and one that sets probe timings to 0 (values the API server does not
    // store), TLS, environment and resources.
    let specs = [
        ("plain", json!({})),
        (
            "rich",
            json!({
                "replicas": 2,
                "tls": {"secretNames": ["coder-tls"]},
                "extraEnv": [{"name": "CODER_PG_CONNECTION_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
                "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}},
                "readinessProbe": {"initialDelaySeconds": 0, "periodSeconds": 5},
                "livenessProbe": {"enabled": true, "initialDelaySeconds": 0, "failureThreshold": 6},
                "service": {"type": "NodePort", "annotations": {"a": "b"}},
                "serviceAccount": {"annotations": {"iam": "role"}},
            }),
        ),
    ];
    let admin = cp.admin_client().await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(admin, &namespace, &objects::control_plane_resource());
    for (name, spec) in &specs {
        let obj = objects::control_plane_object(name, spec.clone());
        api.create(&PostParams::default(), &obj).await.unwrap();
    }
    for (name, _) in &specs {
        let api = api.clone();
        envtest::poll_until(&format!("status of {name}"), WAIT, || {
            let api = api.clone();
            async move {
                let obj = api.get(name).await.map_err(|e| e.to_string())?;
                obj.data
                    .pointer("/status/observedGeneration")
                    .map(|_| ())
                    .ok_or_else(|| "no status yet".to_string())
            }
        })
        .await;
    }
    // Long enough for the reconciles the children's watch events start, and for the watch
    // events themselves on a busy machine.
    tokio::time::sleep(Duration::from_secs(5)).await;

    for (name, _) in &specs {
        let writes = writes_for(&log, &namespace, name);
        let count = |needle: &str| writes.iter().filter(|w| w.contains(needle)).count();
        for kind in [
            "/serviceaccounts/",
            "/roles/",
            "/rolebindings/",
            "/deployments/",
            "/services/",
        ] {
            assert_eq!(count(kind), 1, "{name}: {kind} applied once: {writes:#?}");
        }
        assert_eq!(count("/status"), 1, "{name}: one status write: {writes:#?}");
    }
    // The default spec: one apply per child, the status, one Event. No finalizer.
    let plain = writes_for(&log, &namespace, "plain");
    let plain_events = plain.iter().filter(|w| w.ends_with("/events")).count();
    // Events of both objects share the path; each object publishes one.
    assert_eq!(plain_events, 2, "{plain:#?}");
    assert_eq!(plain.len() - plain_events + 1, 7, "{plain:#?}");
    let obj = api.get("plain").await.unwrap();
    assert!(
        obj.metadata.finalizers.unwrap_or_default().is_empty(),
        "no finalizer without workspace namespaces"
    );

    stop(shutdown, controller).await;
}

/// `METHOD path?query` of every request the client sends: the query tells a LIST from a WATCH
/// (`watch=true`) and carries the label selector.
async fn client_logging_queries(cp: &ControlPlane, log: RequestLog) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(cp.admin_kubeconfig()).expect("admin kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client config from the admin kubeconfig");
    let layer = tower::util::MapRequestLayer::new(move |request: http::Request<_>| {
        log.lock()
            .expect("request log")
            .push(format!("{} {}", request.method(), request.uri()));
        request
    });
    kube::client::ClientBuilder::try_from(config)
        .expect("a client from the config")
        .with_layer(&layer)
        .build()
}

/// LISTs and WATCHes in `namespace` by resource, e.g. `"deployments" -> (1, 1)`.
fn lists_and_watches(log: &RequestLog, namespace: &str) -> BTreeMap<String, (usize, usize)> {
    let prefix = format!("/namespaces/{namespace}/");
    let mut counts = BTreeMap::new();
    for line in log.lock().unwrap().iter() {
        let Some(uri) = line.strip_prefix("GET ") else {
            continue;
        };
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let Some((_, rest)) = path.split_once(&prefix) else {
            continue;
        };
        // A collection is `<resource>`; `<resource>/<name>` is a GET of one object.
        if rest.contains('/') {
            continue;
        }
        let watch = query.split('&').any(|pair| pair == "watch=true");
        let entry = counts.entry(rest.to_string()).or_insert((0, 0));
        if watch {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }
    counts
}

/// The three loops (control planes, provisioners, workspace proxies) share one watch per kind:
/// at start-up kube-apiserver serves one LIST and holds one WATCH of each kind, where each loop
/// used to list and watch its own (three of Deployments and CoderControlPlanes, two of
/// Services, ServiceAccounts, Roles and RoleBindings). Secrets are listed twice on purpose:
/// the provisioners' labelled Secrets, and every Secret's metadata for license references.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_list_and_one_watch_per_kind_at_start_up() {
    let cp = envtest::shared();
    install_crd(cp).await;
    let namespace = cp.create_namespace("sharedwatch").await;
    let log: RequestLog = Arc::default();
    let client = client_logging_queries(cp, log.clone()).await;
    let health = crate::readiness::free_address();
    let shutdown = Shutdown::new();
    let settings = Settings {
        namespace: Some(namespace.clone()),
        instance: Some("test".into()),
        health_probe_bind_address: Some(health),
        ..Settings::default()
    };
    let controller = tokio::spawn(run_with_client(client, settings, shutdown.clone()));

    // Ready: every cache of every loop has its initial list. A watch starts right after its
    // list; give every watch (and any duplicate) time to be sent.
    crate::readiness::wait_for_readyz(health, 200).await;
    let expected: BTreeMap<String, (usize, usize)> = [
        ("codercontrolplanes", (1, 1)),
        ("coderprovisioners", (1, 1)),
        ("coderworkspaceproxies", (1, 1)),
        ("deployments", (1, 1)),
        ("services", (1, 1)),
        ("serviceaccounts", (1, 1)),
        ("ingresses", (1, 1)),
        ("roles", (1, 1)),
        ("rolebindings", (1, 1)),
        ("secrets", (2, 2)),
    ]
    .into_iter()
    .map(|(resource, counts)| (resource.to_string(), counts))
    .collect();
    envtest::poll_until("every watch started", WAIT, || {
        let counts = lists_and_watches(&log, &namespace);
        let started = expected
            .keys()
            .all(|r| counts.get(r).is_some_and(|c| c.1 > 0));
        async move {
            started
                .then_some(())
                .ok_or_else(|| "some watches not started yet".to_string())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = lists_and_watches(&log, &namespace);
    assert_eq!(counts, expected, "(LISTs, WATCHes) by resource");
    // The shared child watches select by the managed-by label (the union of the loops'
    // selectors); the license Secret watch alone selects nothing.
    let log_lines = log.lock().unwrap().clone();
    let deployment_list = log_lines
        .iter()
        .find(|line| line.contains("/deployments?") && !line.contains("watch=true"))
        .expect("a LIST of deployments");
    assert!(
        deployment_list.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcoder-k8s&")
            || deployment_list
                .ends_with("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcoder-k8s"),
        "{deployment_list}"
    );

    stop(shutdown, controller).await;
}
