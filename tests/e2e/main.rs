//! End to end against the envtest control plane (kube-apiserver + kube-controller-manager):
//! our aggregated apiserver behind the real kube-aggregator, and the controller binary as the
//! ServiceAccount deploy/ ships. One test binary (one link of the crate) for all of them.
//!
//! Sharing a control plane: the aggregator modules share one plain aggregated server
//! ([`plain_aggregated_server`]: one APIService can point at one server), and the modules that
//! run a controller process take one lock ([`CLUSTER_CONTROLLER`]): two controllers watching
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

use aggregated_e2e::AggregatedServer;
use envtest::ControlPlane;
use tokio::sync::{Mutex, OnceCell};

/// Held for a whole test by every test that runs a controller process.
pub static CLUSTER_CONTROLLER: Mutex<()> = Mutex::const_new(());

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
