//! The Coder backend (`--coder-backend=enabled`): CoderWorkspaces and CoderTemplates in a
//! namespace with a CoderControlPlane are that coderd's workspaces and templates.
//!
//! Kubernetes metadata, spec and the watch/resourceVersion/apply machinery stay in the object
//! layer's storage; coderd is the truth for what exists and for status. Three parts:
//! `directory` (namespace → coderd, from the CoderControlPlanes' status), `hooks` (writes
//! go to coderd first) and `sync` (coderd's changes come back). `names` and `mapping` translate
//! between the two; `errors` turns coderd's refusals into the object layer's. The sync removes
//! nothing coderd did not confirm deleted (`removal`), logs once per change of state
//! (`health`), and reports on the namespace's CoderControlPlane (`events`) and in `/metrics`
//! (`metrics`).

pub mod directory;
pub mod errors;
pub mod events;
pub mod health;
pub mod hooks;
pub mod mapping;
pub mod metrics;
pub mod names;
pub mod removal;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::apiserver::objects::Objects;
use crate::coder::ClientOptions;

/// Where CoderWorkspaces and CoderTemplates live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendMode {
    /// Only in this server's storage (the embedded default; no cluster or coderd needed).
    #[default]
    Disabled,
    /// In the coderd of each namespace's CoderControlPlane (needs cluster access).
    Enabled,
}

/// Flags of the Coder backend.
#[derive(Debug, Clone, clap::Args)]
pub struct CoderBackendArgs {
    /// `enabled`: CoderWorkspaces and CoderTemplates are the real workspaces and templates of
    /// the coderd that the namespace's CoderControlPlane gives operator access to (needs
    /// cluster access: the --authentication-kubeconfig, in-cluster or $KUBECONFIG config).
    /// `disabled`: they live only in this server's storage.
    #[arg(long, value_enum, default_value_t = BackendMode::Disabled)]
    pub coder_backend: BackendMode,

    /// How often each Coder-backed namespace is synced with its coderd (statuses, objects
    /// created or deleted in Coder's UI or CLI), e.g. 10s, 500ms.
    #[arg(long, default_value = "10s", value_parser = crate::apiserver::parse_duration)]
    pub coder_sync_interval: Duration,

    /// Deadline of one call to coderd, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = crate::apiserver::parse_duration)]
    pub coder_request_timeout: Duration,
}

impl Default for CoderBackendArgs {
    fn default() -> Self {
        CoderBackendArgs {
            coder_backend: BackendMode::Disabled,
            coder_sync_interval: Duration::from_secs(10),
            coder_request_timeout: Duration::from_secs(30),
        }
    }
}

/// The object layer in front of coderd, and the sync's metrics for the `/metrics` registry.
pub struct Enabled {
    pub objects: Objects,
    pub metrics: metrics::SyncMetrics,
}

/// Puts `objects` in front of coderd: follows CoderControlPlanes with `cluster`, adds the write
/// hooks and starts the sync; all stop with `stop`.
pub fn enable(
    objects: Objects,
    cluster: kube::Client,
    args: &CoderBackendArgs,
    stop: CancellationToken,
) -> Enabled {
    let options = ClientOptions {
        timeout: args.coder_request_timeout,
        ..Default::default()
    };
    let directory = directory::Directory::start(cluster.clone(), options, stop.clone());
    let sync_metrics = metrics::SyncMetrics::default();
    sync::spawn(
        sync::Sync {
            objects: objects.without_hooks(),
            directory: directory.clone(),
            interval: args.coder_sync_interval,
            // The pod's name tells replicas apart in Events (deploy/ sets POD_NAME).
            events: events::ControlPlaneEvents::new(cluster, std::env::var("POD_NAME").ok()),
            metrics: sync_metrics.clone(),
            health: health::StateLog::default(),
            refusals: health::StateLog::default(),
        },
        stop,
    );
    tracing::info!(
        interval = ?args.coder_sync_interval,
        "Coder backend enabled: CoderWorkspaces and CoderTemplates follow each namespace's coderd"
    );
    Enabled {
        objects: objects.with_write_hooks(Arc::new(hooks::CoderHooks::new(directory))),
        metrics: sync_metrics,
    }
}
