//! The controller binary against a real kube-apiserver v1.36 + etcd + kube-controller-manager
//! (the envtest harness), running as the ServiceAccount that `deploy/controller/` creates, so
//! the real RBAC authorizer checks the ClusterRole: a 403 in the controller's log fails a test.
//!
//! Tests run one at a time (each takes [`controller_cluster`]): every test starts its own controller
//! process(es), and two controllers watching the same cluster would both reconcile.

use crate::{CONTROLLER_NAMESPACE, controller_cluster, objects, our_binary};

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Upper bound of waits on things the controller or kube-controller-manager do; generous for a
/// busy two-core machine (they usually take well under a second).
const WAIT: Duration = Duration::from_secs(60);

async fn kubectl(cp: &ControlPlane, args: &[&str]) -> (bool, String) {
    let output = tokio::time::timeout(
        WAIT + Duration::from_secs(30),
        cp.kubectl().args(args).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
    .expect("run kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn kubectl_ok(cp: &ControlPlane, args: &[&str]) -> String {
    let (ok, text) = kubectl(cp, args).await;
    assert!(ok, "kubectl {args:?}: {text}");
    text
}

/// One `coder-k8s --app=controller` process.
struct ControllerProcess {
    process: our_binary::OurProcess,
    probes: SocketAddr,
    metrics: SocketAddr,
    started: Instant,
}

impl ControllerProcess {
    async fn start(cp: &ControlPlane, kubeconfig: &Path, extra: &[&str]) -> Self {
        let mut cmd = our_binary::controller(kubeconfig, "info");
        cmd.args(extra);
        let started = Instant::now();
        let mut process = our_binary::spawn(cp, "coder-k8s controller", "controller", cmd);
        let probes = process
            .logged_address("serving /healthz and /readyz", WAIT)
            .await;
        let metrics = process.logged_address("serving /metrics", WAIT).await;
        Self {
            process,
            probes,
            metrics,
            started,
        }
    }

    /// Waits for /readyz 200 and returns how long after the start it came.
    async fn wait_ready(&self) -> Duration {
        let probes = self.probes;
        envtest::poll_until("/readyz 200", WAIT, || async move {
            match http_get(probes, "/readyz").await {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        let took = self.started.elapsed();
        eprintln!("controller start-to-ready: {took:.2?}");
        took
    }

    fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// The real RBAC authorizer refused nothing the controller asked for.
    fn assert_never_forbidden(&self) {
        let text = self.log_text();
        let refused = our_binary::refusals(&text);
        assert!(
            refused.is_empty(),
            "the controller was refused:\n{}",
            refused.join("\n")
        );
    }

    async fn metric(&self, name: &str) -> f64 {
        let (code, body) = http_get(self.metrics, "/metrics")
            .await
            .expect("metrics answer");
        assert_eq!(code, 200);
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// SIGTERM, then up to 30 s to exit cleanly; checks the log for 403s.
    async fn stop(mut self) {
        self.process
            .terminate_cleanly(Duration::from_secs(30))
            .await;
        self.assert_never_forbidden();
    }
}

#[test]
fn refusals_are_recognised_and_port_numbers_are_not() {
    use our_binary::is_refusal;
    assert!(is_refusal(
        r#"ERROR reconcile failed error=ApiError: roles.rbac.authorization.k8s.io is forbidden: User "x" cannot list"#
    ));
    assert!(is_refusal(
        r#"ErrorResponse { status: "Failure", reason: "Forbidden", code: 403 }"#
    ));
    assert!(!is_refusal(
        "INFO coder_k8s::controller: serving /healthz and /readyz address=127.0.0.1:40369"
    ));
}

async fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connect = tokio::net::TcpStream::connect(address);
    let mut stream = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .ok()?
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .ok()?
        .ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response.split_once("\r\n\r\n")?.1.to_string()))
}

/// Every child kind, TLS, an Ingress and workspace RBAC in two other namespaces.
fn rich_spec(workspaces: &[&str]) -> Value {
    json!({
        "replicas": 1,
        "tls": {"secretNames": ["coder-tls"]},
        "expose": {"ingress": {"host": "coder.example.com", "className": "nginx",
            "tls": {"secretName": "coder-ingress-tls"}}},
        "rbac": {"workspaceNamespaces": workspaces},
        "serviceAccount": {"annotations": {"iam.example.com/role": "coder"}},
        "extraEnv": [{"name": "CODER_PG_CONNECTION_URL", "value": "postgres://db"}],
    })
}

async fn wait_for<K>(client: &kube::Client, namespace: &str, name: &str) -> K
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let what = format!("{} {namespace}/{name}", K::kind(&()));
    envtest::poll_until(&what, WAIT, || {
        let api = api.clone();
        async move {
            api.get_opt(name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "absent".to_string())
        }
    })
    .await
}

async fn wait_gone<K>(client: &kube::Client, namespace: &str, name: &str)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let what = format!("{} {namespace}/{name} to be gone", K::kind(&()));
    envtest::poll_until(&what, WAIT, || {
        let api = api.clone();
        async move {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".to_string()),
            }
        }
    })
    .await
}

/// Polls `check` on the current `K` until it holds.
async fn wait_until<K>(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let check = &check;
    envtest::poll_until(what, WAIT, || {
        let api = api.clone();
        async move {
            let obj = api
                .get_opt(name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "absent".to_string())?;
            if check(&obj) {
                Ok(obj)
            } else {
                Err(format!("{obj:?}"))
            }
        }
    })
    .await
}

fn assert_owned_by<K: Resource>(obj: &K, uid: &str) {
    let refs = obj.meta().owner_references.clone().unwrap_or_default();
    assert_eq!(refs.len(), 1, "{:?}", obj.meta().name);
    assert_eq!(refs[0].uid, uid);
    assert_eq!(refs[0].kind, "CoderControlPlane");
    assert_eq!(refs[0].controller, Some(true));
}

fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Makes the Deployment's pods ready through their status, as a kubelet would; the Deployment
/// and ReplicaSet controllers of kube-controller-manager then report the Deployment available.
async fn make_pods_ready(client: &kube::Client, namespace: &str, instance: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("app.kubernetes.io/instance={instance}");
    let listed = envtest::poll_until("the Deployment's pods", WAIT, || {
        let pods = pods.clone();
        let selector = selector.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| e.to_string())?;
            if list.items.is_empty() {
                Err("no pods yet".to_string())
            } else {
                Ok(list.items)
            }
        }
    })
    .await;
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for pod in listed {
        let ready = json!({"status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
            ],
        }});
        pods.patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&ready),
        )
        .await
        .expect("mark pod ready");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_spec_gets_every_child_and_turns_available() {
    let (_serial, cp, kubeconfig) = controller_cluster().await;
    let admin = cp.admin_client().await;
    let ns = cp.create_namespace("ccp-rich").await;
    let ws1 = cp.create_namespace("ws-a").await;
    let ws2 = cp.create_namespace("ws-b").await;

    let controller = ControllerProcess::start(cp, &kubeconfig, &[]).await;
    controller.wait_ready().await;
    assert_eq!(
        http_get(controller.probes, "/healthz").await.map(|r| r.0),
        Some(200)
    );

    let uid = objects::create_control_plane(&admin, &ns, "coder", rich_spec(&[&ws1, &ws2])).await;
    assert_owned_by(
        &wait_for::<ServiceAccount>(&admin, &ns, "coder").await,
        &uid,
    );
    let deployment = wait_for::<Deployment>(&admin, &ns, "coder").await;
    assert_owned_by(&deployment, &uid);
    let pod = deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert!(
        pod.volumes.as_deref().unwrap_or_default().iter().any(|v| v
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
            == Some("coder-tls")),
        "TLS secret mounted: {pod:?}"
    );
    let service = wait_for::<Service>(&admin, &ns, "coder").await;
    assert_owned_by(&service, &uid);
    let ports: Vec<i32> = service
        .spec
        .unwrap()
        .ports
        .unwrap()
        .iter()
        .map(|p| p.port)
        .collect();
    assert!(ports.contains(&443), "{ports:?}");
    assert_owned_by(&wait_for::<Ingress>(&admin, &ns, "coder").await, &uid);
    assert_owned_by(
        &wait_for::<Role>(&admin, &ns, "coder-workspace-perms").await,
        &uid,
    );
    assert_owned_by(
        &wait_for::<RoleBinding>(&admin, &ns, "coder-workspace-perms").await,
        &uid,
    );
    for ws in [&ws1, &ws2] {
        let role = wait_for::<Role>(&admin, ws, "coder-workspace-perms").await;
        assert!(role.owner_references().is_empty());
        assert_eq!(role.labels()["coder.com/owner-namespace"], ns);
        wait_for::<RoleBinding>(&admin, ws, "coder-workspace-perms").await;
    }

    make_pods_ready(&admin, &ns, "coder").await;
    let (ok, text) = kubectl(
        cp,
        &[
            "-n",
            &ns,
            "wait",
            "--for=condition=Available",
            "--timeout=60s",
            "ccp/coder",
        ],
    )
    .await;
    assert!(ok, "kubectl wait: {text}");
    let obj = serde_json::to_value(
        objects::control_planes(&admin, &ns)
            .get("coder")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        obj.pointer("/status/phase"),
        Some(&json!("Ready")),
        "{obj:#}"
    );
    let progressing = condition(&obj, "Progressing").unwrap();
    assert_eq!(progressing["status"], "True");
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(condition(&obj, "Degraded").unwrap()["status"], "False");
    assert_eq!(
        http_get(controller.probes, "/healthz").await.map(|r| r.0),
        Some(200)
    );
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_to_every_child_are_put_back() {
    let (_serial, cp, kubeconfig) = controller_cluster().await;
    let admin = cp.admin_client().await;
    let ns = cp.create_namespace("ccp-edits").await;
    let ws1 = cp.create_namespace("ws-c").await;
    let ws2 = cp.create_namespace("ws-d").await;
    let controller = ControllerProcess::start(cp, &kubeconfig, &[]).await;
    controller.wait_ready().await;
    objects::create_control_plane(&admin, &ns, "coder", rich_spec(&[&ws1, &ws2])).await;
    let original_role = wait_for::<Role>(&admin, &ws2, "coder-workspace-perms").await;
    let original_binding = wait_for::<RoleBinding>(&admin, &ws1, "coder-workspace-perms").await;
    wait_for::<Ingress>(&admin, &ns, "coder").await;
    let hand = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };

    // `kubectl rollout restart` annotates the pod template; that must stay.
    kubectl_ok(cp, &["-n", &ns, "rollout", "restart", "deployment/coder"]).await;

    // Deployment: replicas and image (fields we own), plus an env var we never set.
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    deployments
        .patch(
            "coder",
            &hand,
            &Patch::Strategic(
                json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
                    {"name": "coder", "image": "evil:latest",
                     "env": [{"name": "HAND_ADDED", "value": "1"}]}
                ]}}}}),
            ),
        )
        .await
        .expect("edit deployment");
    let restored = wait_until::<Deployment>(&admin, &ns, "coder", "Deployment put back", |d| {
        let spec = d.spec.as_ref().unwrap();
        let container = &spec.template.spec.as_ref().unwrap().containers[0];
        spec.replicas == Some(1)
            && container.image.as_deref() == Some("ghcr.io/coder/coder:latest")
            && !container
                .env
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|e| e.name == "HAND_ADDED")
    })
    .await;
    let annotations = restored
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap_or_default();
    assert!(
        annotations.contains_key("kubectl.kubernetes.io/restartedAt"),
        "rollout restart annotation kept: {annotations:?}"
    );

    // Service port, ServiceAccount annotation, Ingress host.
    let services: Api<Service> = Api::namespaced(admin.clone(), &ns);
    services
        .patch(
            "coder",
            &hand,
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/ports/0/port", "value": 9999}
                ]))
                .unwrap(),
            ),
        )
        .await
        .expect("edit service");
    wait_until::<Service>(&admin, &ns, "coder", "Service ports put back", |s| {
        let ports: Vec<i32> = s
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| p.port)
            .collect();
        !ports.contains(&9999)
    })
    .await;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &ns);
    accounts
        .patch(
            "coder",
            &hand,
            &Patch::Merge(json!({"metadata": {"annotations": {"iam.example.com/role": "admin"}}})),
        )
        .await
        .expect("edit service account");
    wait_until::<ServiceAccount>(
        &admin,
        &ns,
        "coder",
        "ServiceAccount annotation put back",
        |sa| {
            sa.annotations()
                .get("iam.example.com/role")
                .map(String::as_str)
                == Some("coder")
        },
    )
    .await;
    let ingresses: Api<Ingress> = Api::namespaced(admin.clone(), &ns);
    ingresses
        .patch(
            "coder",
            &hand,
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/rules/0/host", "value": "evil.example.com"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .expect("edit ingress");
    wait_until::<Ingress>(&admin, &ns, "coder", "Ingress host put back", |i| {
        i.spec.as_ref().unwrap().rules.as_ref().unwrap()[0]
            .host
            .as_deref()
            == Some("coder.example.com")
    })
    .await;

    // RBAC: narrowed rules in the own namespace, a deleted Role in one workspace namespace, an
    // extra subject in the other.
    let own_roles: Api<Role> = Api::namespaced(admin.clone(), &ns);
    own_roles
        .patch(
            "coder-workspace-perms",
            &hand,
            &Patch::Merge(
                json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            ),
        )
        .await
        .expect("narrow role");
    wait_until::<Role>(
        &admin,
        &ns,
        "coder-workspace-perms",
        "own Role rules put back",
        |r| r.rules == original_role.rules,
    )
    .await;
    let ws2_roles: Api<Role> = Api::namespaced(admin.clone(), &ws2);
    let deleted_uid = original_role.uid();
    ws2_roles
        .delete("coder-workspace-perms", &DeleteParams::default())
        .await
        .expect("delete role");
    wait_until::<Role>(
        &admin,
        &ws2,
        "coder-workspace-perms",
        "workspace Role recreated",
        |r| r.uid() != deleted_uid && r.rules == original_role.rules,
    )
    .await;
    let ws1_bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), &ws1);
    let mut subjects = original_binding.subjects.clone().unwrap();
    subjects.push(k8s_openapi::api::rbac::v1::Subject {
        kind: "User".into(),
        name: "mallory".into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        namespace: None,
    });
    ws1_bindings
        .patch(
            "coder-workspace-perms",
            &hand,
            &Patch::Merge(json!({"subjects": subjects})),
        )
        .await
        .expect("add subject");
    wait_until::<RoleBinding>(
        &admin,
        &ws1,
        "coder-workspace-perms",
        "RoleBinding subjects put back",
        |b| b.subjects == original_binding.subjects,
    )
    .await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_rbac_follows_the_spec_and_deletion_cleans_up() {
    let (_serial, cp, kubeconfig) = controller_cluster().await;
    let admin = cp.admin_client().await;
    let ns = cp.create_namespace("ccp-delete").await;
    let ws1 = cp.create_namespace("ws-e").await;
    let ws2 = cp.create_namespace("ws-f").await;
    let controller = ControllerProcess::start(cp, &kubeconfig, &[]).await;
    controller.wait_ready().await;
    objects::create_control_plane(&admin, &ns, "coder", rich_spec(&[&ws1, &ws2])).await;
    for ws in [&ws1, &ws2] {
        wait_for::<Role>(&admin, ws, "coder-workspace-perms").await;
        wait_for::<RoleBinding>(&admin, ws, "coder-workspace-perms").await;
    }
    wait_for::<Ingress>(&admin, &ns, "coder").await;

    // Drop ws2 from the spec: its RBAC goes, ws1's stays.
    objects::control_planes(&admin, &ns)
        .patch(
            "coder",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"rbac": {"workspaceNamespaces": [ws1]}}})),
        )
        .await
        .expect("edit spec");
    wait_gone::<Role>(&admin, &ws2, "coder-workspace-perms").await;
    wait_gone::<RoleBinding>(&admin, &ws2, "coder-workspace-perms").await;
    wait_for::<Role>(&admin, &ws1, "coder-workspace-perms").await;

    // Delete: the finalizer removes ws1's RBAC, then lets go; kube-controller-manager's garbage
    // collector removes the owned children.
    objects::control_planes(&admin, &ns)
        .delete("coder", &DeleteParams::default())
        .await
        .expect("delete");
    let api = objects::control_planes(&admin, &ns);
    envtest::poll_until("CoderControlPlane gone", WAIT, || {
        let api = api.clone();
        async move {
            match api.get_opt("coder").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(obj) => Err(format!("finalizers {:?}", obj.finalizers())),
            }
        }
    })
    .await;
    wait_gone::<Role>(&admin, &ws1, "coder-workspace-perms").await;
    wait_gone::<RoleBinding>(&admin, &ws1, "coder-workspace-perms").await;
    wait_gone::<Deployment>(&admin, &ns, "coder").await;
    wait_gone::<Service>(&admin, &ns, "coder").await;
    wait_gone::<ServiceAccount>(&admin, &ns, "coder").await;
    wait_gone::<Ingress>(&admin, &ns, "coder").await;
    wait_gone::<Role>(&admin, &ns, "coder-workspace-perms").await;
    wait_gone::<RoleBinding>(&admin, &ns, "coder-workspace-perms").await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_one_lease_sigterm_hands_over() {
    let (_serial, cp, kubeconfig) = controller_cluster().await;
    let admin = cp.admin_client().await;
    let ns = cp.create_namespace("ccp-lease").await;
    let lease_name = format!("coder-k8s-e2e-{ns}");
    const LEASE_SECONDS: u64 = 6;
    let flags = [
        "--leader-elect=true".to_string(),
        format!("--leader-election-id={lease_name}"),
        format!("--leader-election-namespace={CONTROLLER_NAMESPACE}"),
        format!("--leader-election-lease-duration={LEASE_SECONDS}"),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let first = ControllerProcess::start(cp, &kubeconfig, &flags).await;
    let second = ControllerProcess::start(cp, &kubeconfig, &flags).await;
    // Both ready: the leader once synced, the standby at once.
    first.wait_ready().await;
    second.wait_ready().await;

    let leases: Api<Lease> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
    let holder = |lease: &Lease| {
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default()
    };
    let first_pid = format!("_{}_", first.process.id());
    let second_pid = format!("_{}_", second.process.id());
    let leader_identity = envtest::poll_until("a leader", WAIT, || {
        let leases = leases.clone();
        let lease_name = lease_name.clone();
        async move {
            let lease = leases
                .get_opt(&lease_name)
                .await
                .map_err(|e| e.to_string())?;
            lease
                .as_ref()
                .map(holder)
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "no holder".to_string())
        }
    })
    .await;
    let (leader, standby, standby_pid) = if leader_identity.contains(&first_pid) {
        (first, second, second_pid)
    } else {
        assert!(leader_identity.contains(&second_pid), "{leader_identity}");
        (second, first, first_pid)
    };

    objects::create_control_plane(&admin, &ns, "one", json!({})).await;
    wait_for::<Deployment>(&admin, &ns, "one").await;
    assert!(leader.metric("coder_k8s_controller_reconciles_total").await >= 1.0);
    assert_eq!(
        standby
            .metric("coder_k8s_controller_reconciles_total")
            .await,
        0.0
    );
    assert_eq!(leader.metric("coder_k8s_controller_leader").await, 1.0);
    assert_eq!(standby.metric("coder_k8s_controller_leader").await, 0.0);

    let stopped = Instant::now();
    leader.stop().await;
    let new_holder = envtest::poll_until("the standby to take the Lease", WAIT, || {
        let leases = leases.clone();
        let lease_name = lease_name.clone();
        let standby_pid = standby_pid.clone();
        async move {
            let lease = leases.get(&lease_name).await.map_err(|e| e.to_string())?;
            let h = holder(&lease);
            if h.contains(&standby_pid) {
                Ok(h)
            } else {
                Err(h)
            }
        }
    })
    .await;
    let handover = stopped.elapsed();
    eprintln!("leader handover after SIGTERM: {handover:.2?} (lease {LEASE_SECONDS} s)");
    assert!(
        handover < Duration::from_secs(LEASE_SECONDS),
        "{handover:?} for {new_holder}"
    );

    objects::create_control_plane(&admin, &ns, "two", json!({})).await;
    wait_for::<Deployment>(&admin, &ns, "two").await;
    assert!(
        standby
            .metric("coder_k8s_controller_reconciles_total")
            .await
            >= 1.0
    );
    standby.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_writes_nothing_to_unchanged_children() {
    let (_serial, cp, kubeconfig) = controller_cluster().await;
    let admin = cp.admin_client().await;
    let ns = cp.create_namespace("ccp-restart").await;
    let ws = cp.create_namespace("ws-g").await;
    let controller = ControllerProcess::start(cp, &kubeconfig, &[]).await;
    controller.wait_ready().await;
    objects::create_control_plane(&admin, &ns, "coder", rich_spec(&[&ws])).await;
    let api = objects::control_planes(&admin, &ns);
    envtest::poll_until("status written", WAIT, || {
        let api = api.clone();
        async move {
            let obj =
                serde_json::to_value(api.get("coder").await.map_err(|e| e.to_string())?).unwrap();
            condition(&obj, "Degraded")
                .map(|_| ())
                .ok_or_else(|| "no status".to_string())
        }
    })
    .await;
    wait_for::<RoleBinding>(&admin, &ws, "coder-workspace-perms").await;
    // Let the reconciles that the children's creation triggered run out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    controller.stop().await;

    let versions = || async {
        let mut v = vec![
            rv::<Deployment>(&admin, &ns, "coder").await,
            rv::<Service>(&admin, &ns, "coder").await,
            rv::<ServiceAccount>(&admin, &ns, "coder").await,
            rv::<Ingress>(&admin, &ns, "coder").await,
            rv::<Role>(&admin, &ns, "coder-workspace-perms").await,
            rv::<RoleBinding>(&admin, &ns, "coder-workspace-perms").await,
            rv::<Role>(&admin, &ws, "coder-workspace-perms").await,
            rv::<RoleBinding>(&admin, &ws, "coder-workspace-perms").await,
        ];
        v.push(
            objects::control_planes(&admin, &ns)
                .get("coder")
                .await
                .unwrap()
                .resource_version()
                .unwrap(),
        );
        v
    };
    let before = versions().await;
    let restarted = ControllerProcess::start(cp, &kubeconfig, &[]).await;
    restarted.wait_ready().await;
    envtest::poll_until("the restarted controller reconciled", WAIT, || {
        let restarted = &restarted;
        async move {
            let n = restarted
                .metric("coder_k8s_controller_reconciles_total")
                .await;
            if n >= 1.0 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        versions().await,
        before,
        "resourceVersions after the restart"
    );
    restarted.stop().await;
}

async fn rv<K>(client: &kube::Client, namespace: &str, name: &str) -> String
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.get(name)
        .await
        .expect("child exists")
        .resource_version()
        .unwrap_or_default()
}
