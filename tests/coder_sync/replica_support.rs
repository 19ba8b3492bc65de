//! Shared by the replica tests of this binary: an in-process replica on an etcd prefix, what its
//! metrics say about the sync, its reads of the workspace, the Lease, and the fake's list log.
//!
//! Every server of this binary follows every namespace's CoderControlPlane, so two replica
//! tests side by side would poll each other's fake coderd: each holds [`TURN`] while its
//! servers run.

use std::time::Duration;

use coder_k8s::apiserver::coder::BackendMode;
use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::options::Backend;
use envtest::ControlPlane;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::DynamicObject;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::apiserver_support::{self, TestServer};
use crate::coder_backend_support::*;

/// One replica test at a time (see the module doc).
pub static TURN: Mutex<()> = Mutex::const_new(());

pub const LEASE: Duration = Duration::from_secs(4);
pub const INTERVAL: Duration = Duration::from_millis(200);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub const WORKSPACE: &str = "coder.admin.dev";

/// A fake coderd with one template and one workspace ([`WORKSPACE`] once mirrored), the etcd
/// prefix the replicas share, and the namespace of their Lease.
pub struct Setup {
    pub coder: CoderNamespace,
    pub ns: String,
    pub lease_namespace: String,
    pub prefix: String,
    /// The workspace's id in coderd.
    pub workspace: uuid::Uuid,
}

pub async fn setup(cp: &ControlPlane, name: &str) -> Setup {
    let coder = coder_namespace(cp, name).await;
    let ns = coder.namespace.clone();
    let lease_namespace = cp.create_namespace(&format!("{name}-lease")).await;
    let prefix = format!("/{name}/{ns}");
    let admin = coder.fake.admin();
    let template = admin
        .create_template_with_files(ORG, "docker", &[("main.tf", "terraform {}\n")])
        .expect("template");
    let workspace = admin
        .create_workspace(OWNER, "dev", template)
        .expect("workspace created in Coder");
    Setup {
        coder,
        ns,
        lease_namespace,
        prefix,
        workspace,
    }
}

pub async fn replica(cp: &ControlPlane, prefix: &str, lease_namespace: &str) -> TestServer {
    let mut args = apiserver_support::args();
    args.auth.authentication_kubeconfig = Some(cp.admin_kubeconfig().to_path_buf());
    args.storage.backend = Backend::Etcd;
    args.storage.etcd_servers = vec![cp.etcd_url().to_string()];
    args.storage.etcd_prefix = prefix.to_string();
    args.coder.coder_backend = BackendMode::Enabled;
    args.coder.coder_sync_interval = INTERVAL;
    args.coder.coder_request_timeout = REQUEST_TIMEOUT;
    // The Lease name is left to its default (derived from the etcd prefix): every replica must
    // arrive at the same one by itself.
    args.coder.coder_sync_leader_election_namespace = Some(lease_namespace.to_string());
    args.coder.coder_sync_leader_election_lease_duration = LEASE;
    let storage = args.storage.open().await.expect("etcd storage");
    TestServer::start_with(args, Objects::new(storage)).await
}

async fn metrics(server: &TestServer) -> String {
    apiserver_support::get(&server.http(), "/metrics")
        .await
        .text()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

pub async fn is_syncer(server: &TestServer) -> bool {
    sample(
        &metrics(server).await,
        "coder_k8s_apiserver_coder_sync_is_syncer ",
    ) == Some(1.0)
}

pub async fn rounds(server: &TestServer, namespace: &str) -> f64 {
    let series =
        format!("coder_k8s_apiserver_coder_sync_rounds_total{{namespace=\"{namespace}\"}} ");
    sample(&metrics(server).await, &series).unwrap_or(0.0)
}

pub async fn read(server: &TestServer, namespace: &str) -> Option<Value> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(server.client().await, namespace, &workspaces());
    api.get_opt(WORKSPACE)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}

pub async fn wait_read(
    server: &TestServer,
    namespace: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) {
    envtest::poll_until(what, WAIT, || async {
        match read(server, namespace).await {
            Some(o) if check(&o) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// GET /api/v2/workspaces (the list every round makes once) the fake answered.
pub fn workspace_lists(coder: &CoderNamespace) -> usize {
    coder
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v2/workspaces")
        .count()
}

/// The Coder sync's Lease of the servers on `prefix`, in `lease_namespace`.
pub async fn sync_lease(cp: &ControlPlane, lease_namespace: &str, prefix: &str) -> Option<Lease> {
    let leases: Api<Lease> = Api::namespaced(cp.admin_client().await, lease_namespace);
    let name = coder_k8s::apiserver::coder::default_lease_name(prefix);
    leases.get_opt(&name).await.expect("read the Lease")
}

/// Who holds `lease` (an empty holder is none).
pub fn holder_identity(lease: Option<&Lease>) -> Option<String> {
    lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.holder_identity.clone())
        .filter(|h| !h.is_empty())
}
