//! `--app=controller`: reconciles CoderControlPlane, CoderProvisioner and CoderWorkspaceProxy
//! objects into running Coder deployments.
//!
//! [`run`] builds a client from flags; [`run_with_client`] is the whole controller given a
//! client, which is what tests and benchmarks drive against an in-process fake API server.
//!
//! Layout: every folder is one kind (`control_plane/`, `provisioner/`, `workspace_proxy/`) and
//! owns its loop, reconciler, builders, status and context; every file at this level is shared
//! infrastructure. Imports go one way: a kind folder may import the shared files and
//! `crate::coder`; a shared file never imports a kind folder (so shared pieces stay shared:
//! one loop set-up in `loops`/`caches`, one memory of written status and Warnings in
//! `remembered`, one hardened pod in `pod`, one set of label conventions in `labels`); kinds
//! never import each other. This file is the process: flags, client, probe and metrics servers,
//! leadership, and one loop per kind (`run_kinds`).

mod api_metrics;
mod args;
mod backoff;
mod caches;
mod coderd_clients;
mod conditions;
pub mod control_plane;
mod drift;
mod error;
mod finalizer;
mod health;
mod identity;
mod labels;
mod leader;
mod loops;
mod metrics;
mod pod;
mod provisioner;
mod rate_limit;
mod rbac;
mod remembered;
mod shared_watch;
mod status_write;
mod throttle;
pub mod workspace_proxy;

use std::sync::Arc;

use kube::Client;
use tracing::info;

pub use args::{ControllerArgs, LeaderSettings, Settings};
pub use control_plane::Context;
pub use control_plane::FINALIZER;
pub use control_plane::{error_policy, reconcile};
pub use error::{Error, Result};
pub use health::Health;
pub use metrics::Metrics;
pub use rate_limit::Limits;

use crate::shutdown::Shutdown;
use shared_watch::SharedWatches;

/// Entry point of `--app=controller`.
pub async fn run(args: ControllerArgs, shutdown: Shutdown) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let client = build_client(&args, metrics.clone()).await?;
    run_instrumented(client, args.settings(), metrics, shutdown).await
}

/// The controller's kube client: every request (each retry too) waits for the client-side
/// rate limit and is counted by verb and resource (`api_requests_total` on /metrics); 429s
/// and `Retry-After` are honoured (see `throttle`).
async fn build_client(args: &ControllerArgs, metrics: Arc<Metrics>) -> Result<Client> {
    let mut config = client_config(args).await?;
    // kube's retry layer sits below ours: its retries would skip the rate limit and the count.
    config.default_retry = false;
    let limiter = args.rate_limit().map(rate_limit::FairLimiter::new);
    Ok(kube::client::ClientBuilder::try_from(config)
        .map_err(|e| Error::Config(e.to_string()))?
        .with_layer(&api_metrics::layer(metrics.clone()))
        // Each attempt of a retried request goes out on its own clone of the stack.
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&throttle::ThrottleLayer::new(limiter, metrics))
        .build())
}

async fn client_config(args: &ControllerArgs) -> Result<kube::Config> {
    crate::client_config::load(args.kubeconfig.as_deref())
        .await
        .map_err(|e| Error::Config(e.to_string()))
}

/// Runs the controller until `shutdown`: probe and metrics servers, leader election when
/// configured, then the reconcile loop.
pub async fn run_with_client(client: Client, settings: Settings, shutdown: Shutdown) -> Result<()> {
    run_instrumented(client, settings, Arc::new(Metrics::default()), shutdown).await
}

async fn run_instrumented(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<()> {
    let health = Arc::new(Health::default());
    // Servers get their own token so they keep answering while the controller drains.
    let servers_stop = Shutdown::new();
    let mut servers = Vec::new();
    if let Some(address) = settings.health_probe_bind_address {
        let listener = health::bind("health probes", address).await?;
        info!(address = %listener.local_addr().unwrap_or(address), "serving /healthz and /readyz");
        servers.push(health::spawn(
            listener,
            health::probe_router(health.clone()),
            servers_stop.clone(),
        ));
    }
    if let Some(address) = settings.metrics_bind_address {
        let listener = health::bind("metrics", address).await?;
        info!(address = %listener.local_addr().unwrap_or(address), "serving /metrics");
        servers.push(health::spawn(
            listener,
            health::metrics_router(metrics.clone()),
            servers_stop.clone(),
        ));
    }

    let result = lead_and_reconcile(client, &settings, metrics, health, &shutdown).await;

    servers_stop.cancel();
    for server in servers {
        let _ = server.await;
    }
    result
}

async fn lead_and_reconcile(
    client: Client,
    settings: &Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: &Shutdown,
) -> Result<()> {
    let Some(leader) = settings.leader.clone() else {
        metrics.set_leader(true);
        return run_kinds(client, settings, metrics, health, shutdown.clone()).await;
    };

    // A standby is ready: it is doing its job (waiting). Otherwise a rolling update of a
    // two-replica controller would stall on a pod that can never become ready.
    health.standby();
    let mut elector = leader::LeaderElector::new(client.clone(), leader);
    if !elector.acquire(shutdown).await {
        return Ok(());
    }
    metrics.set_leader(true);

    let stop = shutdown.child_token();
    let controller = run_kinds(client, settings, metrics.clone(), health, stop.clone());
    tokio::pin!(controller);
    let result = tokio::select! {
        result = &mut controller => result,
        renewed = elector.renew_until(shutdown) => match renewed {
            Ok(()) => controller.await,
            Err(lost) => {
                // Another instance may already reconcile: stop at once, then exit non-zero so
                // the pod restarts as a standby.
                stop.cancel();
                let _ = controller.await;
                metrics.set_leader(false);
                return Err(lost);
            }
        },
    };
    // Hand over only after the last reconcile finished, so two leaders never overlap.
    elector.release().await;
    metrics.set_leader(false);
    result
}

/// Every kind's controller, run side by side under one leadership. Each kind is a loop with the
/// same contract as `control_plane::run`: it registers its caches with `health`, reconciles until
/// `stop`, drains, and returns. A loop that fails stops the others, so the process exits and
/// restarts whole rather than serving some kinds and silently not others.
///
/// The kinds the loops have in common (children, control planes) are each watched once
/// (`shared_watch`): every loop subscribes before the watches start.
/// What `run_kinds` hands each kind's loop, beside the shared watches: a loop subscribes to
/// those at once (before the watches run, so it misses nothing), registers its caches with
/// `health` and runs until `stop`.
#[derive(Clone)]
struct KindLoop<'a> {
    client: Client,
    settings: &'a Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: Shutdown,
}

async fn run_kinds(
    client: Client,
    settings: &Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: Shutdown,
) -> Result<()> {
    let all = stop.child_token();
    let stop_all_on_error = |result: Result<()>| {
        if result.is_err() {
            all.cancel();
        }
        result
    };
    let mut shared = SharedWatches::new(&client, settings.namespace.as_deref());
    let kind_loop = KindLoop {
        client,
        settings,
        metrics,
        health,
        stop: all.clone(),
    };
    let control_planes = control_plane::run(kind_loop.clone(), &mut shared);
    let provisioners = provisioner::run(kind_loop.clone(), &mut shared);
    let workspace_proxies = workspace_proxy::run(kind_loop, &mut shared);
    // The watches outlive no loop: they stop with `all`, after which the loops drain.
    let watches = shared.run(all.clone());
    let (control_planes, provisioners, workspace_proxies, ()) = tokio::join!(
        async { stop_all_on_error(control_planes.await) },
        async { stop_all_on_error(provisioners.await) },
        async { stop_all_on_error(workspace_proxies.await) },
        watches,
    );
    control_planes.and(provisioners).and(workspace_proxies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use kube::Api;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[tokio::test]
    async fn unreadable_kubeconfig_is_a_config_error_not_a_panic() {
        let args = Wrapper::try_parse_from(["x", "--kubeconfig=/nonexistent/kubeconfig"])
            .unwrap()
            .args;
        let error = run(args, Shutdown::new()).await.unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error}");
        assert!(
            error.to_string().contains("/nonexistent/kubeconfig"),
            "{error}"
        );
    }

    /// A loopback API server that answers the first request with 429 and `Retry-After: 1`,
    /// every other with a ConfigMap, and records when each (path) arrived.
    async fn throttling_api_server() -> (
        std::net::SocketAddr,
        Arc<std::sync::Mutex<Vec<(std::time::Instant, String)>>>,
    ) {
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = arrivals.clone();
        let app = axum::Router::new().fallback(move |uri: http::Uri| {
            let seen = seen.clone();
            async move {
                let first = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((std::time::Instant::now(), uri.path().to_string()));
                    seen.len() == 1
                };
                let name = uri.path().rsplit('/').next().unwrap_or_default().to_string();
                if first {
                    return http::Response::builder()
                        .status(429)
                        .header("retry-after", "1")
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(
                            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}"#,
                        ))
                        .unwrap();
                }
                http::Response::builder()
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(format!(
                        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#
                    )))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // Never stopped: the test's runtime ends it.
        health::spawn(listener, app, Shutdown::new());
        (address, arrivals)
    }

    #[tokio::test]
    async fn rate_limit_flags_apply_to_the_client_and_429s_are_retried() {
        let (address, arrivals) = throttling_api_server().await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{address}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n"
            ),
        )
        .unwrap();
        let args = Wrapper::try_parse_from([
            "x",
            &format!("--kubeconfig={}", kubeconfig.display()),
            "--kube-api-qps=2",
            "--kube-api-burst=1",
        ])
        .unwrap()
        .args;
        let metrics = Arc::new(Metrics::default());
        let client = build_client(&args, metrics.clone()).await.unwrap();
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "ns");
        let names = ["a", "b", "c"];
        let gets = names.iter().map(|name| api.get(name));
        for result in futures::future::join_all(gets).await {
            result.expect("every GET succeeds, the throttled one after its retry");
        }

        let arrivals = arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 4, "three GETs and one retry: {arrivals:?}");
        // qps 2 and burst 1: the 4th request is sent (4 - 1) / 2 s after the 1st, however fast
        // the machine. Arrival times carry the 1st request's own transit on top, so allow a
        // little under 1.5 s; without the limit the span is the Retry-After alone, about 1 s.
        let span = arrivals[3].0 - arrivals[0].0;
        assert!(span >= std::time::Duration::from_millis(1400), "{span:?}");
        // The retry of the throttled request came no earlier than Retry-After.
        let throttled = &arrivals[0].1;
        let retry = arrivals[1..]
            .iter()
            .find(|(_, path)| path == throttled)
            .expect("the throttled request was sent again");
        assert!(retry.0 - arrivals[0].0 >= std::time::Duration::from_secs(1));
        let text = metrics.encode();
        assert!(
            text.contains(r#"coder_k8s_controller_api_retries_total{code="429"} 1"#),
            "{text}"
        );
        // Every attempt is counted, the retry included.
        assert!(
            text.contains(
                r#"coder_k8s_controller_api_requests_total{verb="get",resource="configmaps"} 4"#
            ),
            "{text}"
        );
    }

    #[tokio::test]
    async fn port_in_use_is_a_bind_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let service = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
            Err::<http::Response<kube::client::Body>, std::io::Error>(std::io::Error::other(
                "offline",
            ))
        });
        let settings = Settings {
            metrics_bind_address: Some(address),
            ..Settings::default()
        };
        let error = run_with_client(Client::new(service, "default"), settings, Shutdown::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Bind {
                    what: "metrics",
                    ..
                }
            ),
            "{error}"
        );
    }
}
