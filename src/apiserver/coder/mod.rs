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
//! (`metrics`). A failing coderd is asked less often (`backoff`). With shared storage one replica syncs, the holder of a Lease (`syncer`).

pub mod backoff;
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
pub mod syncer;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::apiserver::objects::Objects;
use crate::coder::ClientOptions;
use crate::flags::BoolishFlag;
use crate::lease::LeaseSettings;

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
    #[arg(long, default_value = "10s", value_parser = crate::apiserver::duration::parse_duration)]
    pub coder_sync_interval: Duration,

    /// Deadline of one call to coderd, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = crate::apiserver::duration::parse_duration)]
    pub coder_request_timeout: Duration,

    /// With --storage=etcd, only the replica holding a Lease syncs with coderd (one poller per
    /// cluster); the others serve reads from the shared storage and take over when it stops or
    /// dies. `false`: every replica syncs. With memory storage every replica is alone and
    /// always syncs.
    #[arg(long, boolish = true)]
    pub coder_sync_leader_elect: bool,

    /// Name of the coordination.k8s.io/v1 Lease of the Coder sync (default:
    /// `coder-k8s-coder-sync-` and a hash of --etcd-prefix, so that servers sharing a storage
    /// share a Lease and other installations do not).
    #[arg(long)]
    pub coder_sync_leader_election_id: Option<String>,

    /// Namespace of the Coder sync's Lease (default: $POD_NAMESPACE, then "default").
    #[arg(long, env = "POD_NAMESPACE")]
    pub coder_sync_leader_election_namespace: Option<String>,

    /// How long the Coder sync's Lease stays valid without renewal (at least 1s); a standby
    /// takes over after this when the syncer dies.
    #[arg(long, default_value = "15s", value_parser = parse_lease_duration)]
    pub coder_sync_leader_election_lease_duration: Duration,
}

fn parse_lease_duration(text: &str) -> Result<Duration, String> {
    let duration = crate::apiserver::duration::parse_duration(text)?;
    if duration < Duration::from_secs(1) {
        return Err("must be at least 1s (a Lease counts whole seconds)".into());
    }
    Ok(duration)
}

/// The Lease name of the sync of servers storing under `etcd_prefix`.
pub fn default_lease_name(etcd_prefix: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, etcd_prefix.as_bytes());
    let hex: String = digest.as_ref()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("coder-k8s-coder-sync-{hex}")
}

impl CoderBackendArgs {
    /// Who syncs: the Lease holder when the storage is shared (`shared_storage_prefix`, the
    /// etcd prefix) and leader election is on; otherwise this replica.
    pub fn role(
        &self,
        cluster: &kube::Client,
        shared_storage_prefix: Option<&str>,
    ) -> syncer::Role {
        match shared_storage_prefix {
            Some(prefix) if self.coder_sync_leader_elect => {
                let name = self
                    .coder_sync_leader_election_id
                    .clone()
                    .unwrap_or_else(|| default_lease_name(prefix));
                let namespace = self
                    .coder_sync_leader_election_namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string());
                syncer::Role::Lease(Box::new(syncer::LeaseRole {
                    client: cluster.clone(),
                    settings: LeaseSettings::new(
                        name,
                        namespace,
                        crate::lease::process_identity(),
                        self.coder_sync_leader_election_lease_duration,
                    ),
                }))
            }
            _ => syncer::Role::Always,
        }
    }
}

impl Default for CoderBackendArgs {
    fn default() -> Self {
        CoderBackendArgs {
            coder_backend: BackendMode::Disabled,
            coder_sync_interval: Duration::from_secs(10),
            coder_request_timeout: Duration::from_secs(30),
            coder_sync_leader_elect: true,
            coder_sync_leader_election_id: None,
            coder_sync_leader_election_namespace: None,
            coder_sync_leader_election_lease_duration: Duration::from_secs(15),
        }
    }
}

/// The object layer in front of coderd, the sync's metrics for the `/metrics` registry, and
/// the sync's task (it ends after `stop`, once its Lease is handed back).
pub struct Enabled {
    pub objects: Objects,
    pub metrics: metrics::SyncMetrics,
    pub sync: tokio::task::JoinHandle<()>,
}

/// Puts `objects` in front of coderd: follows CoderControlPlanes with `cluster`, adds the write
/// hooks and starts the sync (on the Lease holder only when `shared_storage_prefix`, the etcd
/// prefix, says other replicas may share the storage); all stop with `stop`.
pub fn enable(
    objects: Objects,
    cluster: kube::Client,
    args: &CoderBackendArgs,
    shared_storage_prefix: Option<&str>,
    stop: CancellationToken,
) -> Enabled {
    let role = args.role(&cluster, shared_storage_prefix);
    let options = ClientOptions {
        timeout: args.coder_request_timeout,
        ..Default::default()
    };
    let directory = directory::Directory::start(cluster.clone(), options, stop.clone());
    let sync_metrics = metrics::SyncMetrics::default();
    let sync_task = syncer::spawn(
        sync::Sync {
            objects: objects.without_hooks(),
            directory: directory.clone(),
            interval: args.coder_sync_interval,
            // The pod's name tells replicas apart in Events (deploy/ sets POD_NAME).
            events: events::ControlPlaneEvents::new(cluster, std::env::var("POD_NAME").ok()),
            metrics: sync_metrics.clone(),
            health: health::StateLog::default(),
            refusals: health::StateLog::default(),
            backoff: backoff::Backoff::new(args.coder_sync_interval),
        },
        role,
        sync_metrics.clone(),
        stop,
    );
    tracing::info!(
        interval = ?args.coder_sync_interval,
        lease = shared_storage_prefix
            .filter(|_| args.coder_sync_leader_elect)
            .map(|_| "the Lease holder syncs")
            .unwrap_or("every replica syncs"),
        "Coder backend enabled: CoderWorkspaces and CoderTemplates follow each namespace's coderd"
    );
    Enabled {
        objects: objects.with_write_hooks(Arc::new(hooks::CoderHooks::new(directory))),
        metrics: sync_metrics,
        sync: sync_task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CoderBackendArgs,
    }

    fn parse(flags: &[&str]) -> Result<CoderBackendArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("x").chain(flags.iter().copied())).map(|w| w.args)
    }

    fn client() -> kube::Client {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    fn lease(role: syncer::Role) -> Option<LeaseSettings> {
        match role {
            syncer::Role::Always => None,
            syncer::Role::Lease(lease) => Some(lease.settings),
        }
    }

    #[test]
    fn lease_flags_default_and_parse() {
        let args = parse(&[]).unwrap();
        assert!(args.coder_sync_leader_elect);
        assert_eq!(
            args.coder_sync_leader_election_lease_duration,
            Duration::from_secs(15)
        );
        let args = parse(&[
            "--coder-sync-leader-elect=false",
            "--coder-sync-leader-election-lease-duration=4s",
        ])
        .unwrap();
        assert!(!args.coder_sync_leader_elect);
        assert_eq!(
            args.coder_sync_leader_election_lease_duration,
            Duration::from_secs(4)
        );
        let short = parse(&["--coder-sync-leader-election-lease-duration=500ms"]);
        let error = short.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("at least 1s"), "{error}");
    }

    #[tokio::test]
    async fn only_shared_storage_with_election_on_needs_the_lease() {
        let args = parse(&["--coder-sync-leader-election-namespace=coder-system"]).unwrap();
        assert!(
            lease(args.role(&client(), None)).is_none(),
            "memory storage: always sync"
        );
        let settings = lease(args.role(&client(), Some("/registry/a"))).expect("etcd: a Lease");
        assert_eq!(settings.lease_namespace, "coder-system");
        assert_eq!(settings.lease_name, default_lease_name("/registry/a"));
        assert!(settings.lease_name.starts_with("coder-k8s-coder-sync-"));
        // Servers on another prefix (another installation, another test) use another Lease.
        assert_ne!(
            default_lease_name("/registry/a"),
            default_lease_name("/registry/b")
        );

        let named = parse(&["--coder-sync-leader-election-id=mine"]).unwrap();
        let settings = lease(named.role(&client(), Some("/registry/a"))).expect("a Lease");
        assert_eq!(settings.lease_name, "mine");

        let off = parse(&["--coder-sync-leader-elect=false"]).unwrap();
        assert!(lease(off.role(&client(), Some("/registry/a"))).is_none());
    }
}
