//! End to end against the envtest control plane (kube-apiserver + kube-controller-manager):
//! our aggregated apiserver behind the real kube-aggregator, and the controller binary as the
//! ServiceAccount deploy/ ships. One test binary (one link of the crate) for all of them.
//!
//! Sharing a control plane: the aggregator modules share one plain aggregated server
//! ([`plain_aggregated_server`]: one APIService can point at one server), and the modules that
//! run a controller process take one lock ([`controller_cluster`]): two controllers watching
//! the same cluster would both reconcile.

#[path = "../common/aggregated_e2e.rs"]
mod aggregated_e2e;
#[path = "../common/objects.rs"]
mod objects;
#[path = "../common/our_binary.rs"]
mod our_binary;

mod aggregator;
mod apply_aggregator;
mod controller;
mod operator_access;

use std::path::{Path, PathBuf};

use aggregated_e2e::{AggregatedServer, kubectl_ok};
use envtest::ControlPlane;
use tokio::sync::{Mutex, MutexGuard, OnceCell};

/// Held for a whole test by every test that runs a controller process.
pub static CLUSTER_CONTROLLER: Mutex<()> = Mutex::const_new(());

/// The namespace deploy/controller/ puts the controller in, and its ServiceAccount.
pub const CONTROLLER_NAMESPACE: &str = "coder-system";
const CONTROLLER_SA: &str = "coder-k8s-controller";

/// For a test that runs a controller process: takes [`CLUSTER_CONTROLLER`] (hold the guard for
/// the whole test) and returns the control plane, with the CRDs and the controller's namespace,
/// ServiceAccount and RBAC installed exactly as shipped (once for this binary), and the
/// ServiceAccount kubeconfig the controller runs with.
pub async fn controller_cluster() -> (MutexGuard<'static, ()>, &'static ControlPlane, PathBuf) {
    static INSTALLED: OnceCell<PathBuf> = OnceCell::const_new();
    let guard = CLUSTER_CONTROLLER.lock().await;
    let cp = envtest::shared_with_controller_manager();
    let kubeconfig = INSTALLED
        .get_or_init(|| install_controller_access(cp))
        .await
        .clone();
    (guard, cp, kubeconfig)
}

async fn install_controller_access(cp: &'static ControlPlane) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crds = root.join("generated/crds").display().to_string();
    kubectl_ok(cp, &["apply", "-f", &crds], None).await;
    cp.wait_crd_established("codercontrolplanes.coder.com")
        .await;
    // Namespace, ServiceAccount and RBAC exactly as shipped (not the Deployment: no kubelet).
    for file in [
        "00-namespace.yaml",
        "10-serviceaccount.yaml",
        "20-rbac.yaml",
    ] {
        let path = root.join("deploy/controller").join(file);
        kubectl_ok(cp, &["apply", "-f", &path.display().to_string()], None).await;
    }
    cp.service_account_kubeconfig(CONTROLLER_NAMESPACE, CONTROLLER_SA)
        .await
}

/// The control plane (with kube-controller-manager, which namespace deletion needs) and our
/// server registered as `v1alpha1.aggregation.coder.com`, started once for this binary.
pub async fn plain_aggregated_server() -> &'static ControlPlane {
    static SERVER: OnceCell<AggregatedServer> = OnceCell::const_new();
    let cp = envtest::shared_with_controller_manager();
    SERVER
        .get_or_init(|| AggregatedServer::start_and_register(cp))
        .await;
    cp
}
