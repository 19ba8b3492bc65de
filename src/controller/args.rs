//! Command-line flags of `--app=controller` and the settings they resolve to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::rate_limit::Limits;
use crate::flags::BoolishFlag;

/// Flags of the controller.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Controller (--app=controller)")]
pub struct ControllerArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,

    /// Path to a kubeconfig file (default: $KUBECONFIG or ~/.kube/config if present, else in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Run only while holding the leader-election Lease, so replicas can stand by.
    /// `--leader-elect`, `--leader-elect=true|false`, like every Kubernetes component.
    #[arg(long, env = "CODER_K8S_LEADER_ELECT", boolish = false)]
    pub leader_elect: bool,

    /// Name of the coordination.k8s.io/v1 Lease used for leader election.
    #[arg(long, default_value = "coder-k8s-controller")]
    pub leader_election_id: String,

    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE, then "default").
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// How long a Lease stays valid without renewal; a standby takes over after this.
    #[arg(long, value_parser = parse_seconds, default_value = "15")]
    pub leader_election_lease_duration: Duration,

    /// Address of the /healthz and /readyz endpoints.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub health_probe_bind_address: SocketAddr,

    /// Address of the Prometheus /metrics endpoint.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_bind_address: SocketAddr,

    /// Sustained requests per second to the Kubernetes API (client-side rate limit, as in
    /// kube-controller-manager); a negative value turns the limit off.
    #[arg(long, default_value_t = DEFAULT_QPS, value_parser = parse_qps, allow_negative_numbers = true)]
    pub kube_api_qps: f32,

    /// Requests to the Kubernetes API that may go out at once after a quiet period.
    #[arg(long, default_value_t = DEFAULT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_burst: u32,

    /// Reconciles that may run at once (controller-runtime's MaxConcurrentReconciles); 0 means
    /// no bound. Bounding them keeps the number of requests in flight at the API server small.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_RECONCILES)]
    pub max_concurrent_reconciles: u16,
}

/// See docs/controller.md ("Load on the API server") for how these were chosen.
pub const DEFAULT_QPS: f32 = 200.0;
pub const DEFAULT_BURST: u32 = 300;
pub const DEFAULT_MAX_CONCURRENT_RECONCILES: u16 = 4;

fn parse_qps(text: &str) -> Result<f32, String> {
    let qps: f32 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if !qps.is_finite() || qps == 0.0 {
        return Err(
            "must be a positive number of requests per second, or negative for no limit".into(),
        );
    }
    Ok(qps)
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: u64 = text
        .trim_end_matches('s')
        .parse()
        .map_err(|e| format!("{text:?} is not a whole number of seconds: {e}"))?;
    if seconds == 0 {
        return Err("must be at least 1 second".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Leader-election timings: the shared Lease settings (see [`crate::lease`]).
pub type LeaderSettings = crate::lease::LeaseSettings;

/// Everything [`super::run_with_client`] needs besides the client: what `run` derives from flags,
/// and what tests and benchmarks set directly.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub namespace: Option<String>,
    pub leader: Option<LeaderSettings>,
    pub health_probe_bind_address: Option<SocketAddr>,
    pub metrics_bind_address: Option<SocketAddr>,
    /// Name reported in Events (`reportingInstance`).
    pub instance: Option<String>,
    /// Upper bound of the error backoff.
    pub max_backoff: Option<Duration>,
    /// Reconciles that may run at once; 0 (the `Default`) means no bound.
    pub max_concurrent_reconciles: u16,
}

impl ControllerArgs {
    pub fn settings(&self) -> Settings {
        let identity = crate::lease::process_identity();
        let leader = self.leader_elect.then(|| {
            LeaderSettings::new(
                self.leader_election_id.clone(),
                self.leader_election_namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
                identity.clone(),
                self.leader_election_lease_duration,
            )
        });
        Settings {
            namespace: self.namespace.clone(),
            leader,
            health_probe_bind_address: Some(self.health_probe_bind_address),
            metrics_bind_address: Some(self.metrics_bind_address),
            instance: Some(identity),
            max_backoff: None,
            max_concurrent_reconciles: self.max_concurrent_reconciles,
        }
    }

    /// Client-side rate limit of the client [`super::run`] builds; `None`: unlimited.
    pub fn rate_limit(&self) -> Option<Limits> {
        (self.kube_api_qps > 0.0).then(|| Limits {
            qps: f64::from(self.kube_api_qps),
            burst: self.kube_api_burst,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn defaults_match_the_documented_ports_and_lease() {
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(w.args.health_probe_bind_address.port(), 8081);
        assert_eq!(w.args.metrics_bind_address.port(), 8080);
        assert!(!w.args.leader_elect);
        assert_eq!(w.args.leader_election_id, "coder-k8s-controller");
        assert_eq!(
            w.args.leader_election_lease_duration,
            Duration::from_secs(15)
        );
        let settings = w.args.settings();
        assert!(settings.leader.is_none());
        assert_eq!(settings.namespace, None);
    }

    #[test]
    fn max_concurrent_reconciles_defaults_and_reaches_the_settings() {
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(
            w.args.max_concurrent_reconciles,
            DEFAULT_MAX_CONCURRENT_RECONCILES
        );
        assert_eq!(
            w.args.settings().max_concurrent_reconciles,
            DEFAULT_MAX_CONCURRENT_RECONCILES
        );
        for (flag, bound) in [("1", 1), ("0", 0), ("16", 16)] {
            let w = Wrapper::try_parse_from(["x", &format!("--max-concurrent-reconciles={flag}")])
                .unwrap();
            assert_eq!(w.args.settings().max_concurrent_reconciles, bound);
        }
        for bad in ["-1", "two", "70000"] {
            assert!(
                Wrapper::try_parse_from(["x", &format!("--max-concurrent-reconciles={bad}")])
                    .is_err(),
                "{bad} is rejected"
            );
        }
    }

    #[test]
    fn leader_flags_resolve_to_lease_settings() {
        let w = Wrapper::try_parse_from([
            "x",
            "--leader-elect",
            "--leader-election-id=lock",
            "--leader-election-namespace=ops",
            "--leader-election-lease-duration=9s",
            "--namespace=team",
        ])
        .unwrap();
        let settings = w.args.settings();
        let leader = settings.leader.unwrap();
        assert_eq!(leader.lease_name, "lock");
        assert_eq!(leader.lease_namespace, "ops");
        assert_eq!(leader.lease_duration, Duration::from_secs(9));
        assert_eq!(leader.renew_interval, Duration::from_secs(3));
        assert_eq!(settings.namespace.as_deref(), Some("team"));
    }

    #[test]
    fn leader_elect_accepts_kubernetes_boolean_forms() {
        let parse = |args: &[&str]| {
            Wrapper::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .map(|w| w.args.leader_elect)
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse(&[]), Ok(false));
        assert_eq!(parse(&["--leader-elect"]), Ok(true));
        assert_eq!(parse(&["--leader-elect=true"]), Ok(true));
        assert_eq!(parse(&["--leader-elect=false"]), Ok(false));
        assert_eq!(parse(&["--leader-elect", "--namespace=a"]), Ok(true));
        assert!(parse(&["--leader-elect=maybe"]).is_err());
    }

    #[test]
    fn api_rate_limit_flags_resolve_to_limits() {
        let limits = |args: &[&str]| {
            Wrapper::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .map(|w| w.args.rate_limit())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            limits(&[]),
            Ok(Some(Limits {
                qps: f64::from(DEFAULT_QPS),
                burst: DEFAULT_BURST
            }))
        );
        assert_eq!(
            limits(&["--kube-api-qps=2.5", "--kube-api-burst=1"]),
            Ok(Some(Limits { qps: 2.5, burst: 1 }))
        );
        // Negative turns the limit off, as in client-go.
        assert_eq!(limits(&["--kube-api-qps=-1"]), Ok(None));
        for bad in [
            "--kube-api-qps=0",
            "--kube-api-qps=fast",
            "--kube-api-qps=NaN",
            "--kube-api-burst=0",
            "--kube-api-burst=-3",
        ] {
            let error = limits(&[bad]).unwrap_err();
            assert!(error.contains("kube-api"), "{bad}: {error}");
        }
    }

    #[test]
    fn zero_lease_duration_is_rejected() {
        assert!(Wrapper::try_parse_from(["x", "--leader-election-lease-duration=0"]).is_err());
    }
}
