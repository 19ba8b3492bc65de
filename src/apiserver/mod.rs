//! `--app=aggregated-apiserver`: serves the aggregated kinds of `schema/` behind the
//! kube-aggregator, over HTTPS, to kubectl, client-go and kube-rs.
//!
//! This file is the wiring: the flags and `run` (build the layers, bind, serve until shutdown).
//! A request travels top-down through the folders:
//! `http::server` (TCP, TLS, per-connection bounds) → `http::router` (probes and metrics, then
//! `auth` (who, may they), limits, gzip) → `http::handlers` (one module per endpoint) reading it
//! with `http::request` and answering with `http::response` → `objects` (registry semantics, no
//! HTTP) → `storage` (memory or etcd, watch cache). `coder` mirrors a coderd through write hooks
//! and a sync; `cluster` watches the hosting cluster. Two leaves import no layer: `status`
//! (errors as `metav1.Status`, for `auth` and `http`) and `duration` (flag values, for every
//! layer's flags). `demo` and `kubeconfig` are start-up extras.

pub mod auth;
pub mod cluster;
pub mod coder;
pub mod demo;
pub mod duration;
pub mod http;
pub mod kubeconfig;
pub mod objects;
pub mod status;
pub mod storage;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use auth::{AuthArgs, AuthenticationMode, AuthorizationMode};
pub use http::handlers::state::Limits;

use crate::flags::BoolishFlag;
use crate::shutdown::Shutdown;
use cluster::namespace_informer;
use duration::parse_duration;
use http::handlers::state::{self, AppState};
use http::router::routes as router;
use http::server::listener as server;
use objects::Objects;

/// Flags of the aggregated apiserver.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Aggregated apiserver (--app=aggregated-apiserver)")]
pub struct ApiserverArgs {
    /// Port of the HTTPS listener (0 picks a free port; the address is logged).
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,

    /// Address of the HTTPS listener.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// PEM serving certificate (chain). Without it a self-signed CA and certificate are minted.
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,

    /// Extra DNS names or IPs for the self-signed certificate (localhost, 127.0.0.1 and ::1 are
    /// always included). Repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub tls_san: Vec<String>,

    /// Authentication and authorization (--authentication, --authorization-mode, ...).
    #[command(flatten)]
    pub auth: AuthArgs,

    /// Preload the six demo objects (`--demo-data`, `--demo-data=true|false`): workspaces and
    /// templates as a coderd would show them. Against a cluster, ones whose namespace does not
    /// exist are skipped (logged).
    #[arg(long, boolish = false)]
    pub demo_data: bool,

    /// Write a kubeconfig for this server (address, CA, and a dummy bearer token so kubectl
    /// does not prompt for a username) to this path.
    #[arg(long)]
    pub write_kubeconfig: Option<PathBuf>,

    /// Deadline of non-watch requests, e.g. 60s, 2m, 500ms.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Watches without timeoutSeconds last a random time between this and twice this (seconds).
    #[arg(long, default_value_t = 1800)]
    pub min_request_timeout: u64,

    /// Non-watch requests served at once; further ones get 429 and Retry-After.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,

    /// Bytes of request bodies held at once across all requests (read so far, until the
    /// request ends); a body that would go over gets 429 and Retry-After. At least the largest
    /// body one request may send (3 MiB).
    #[arg(long, default_value_t = state::DEFAULT_MAX_BODY_BYTES_INFLIGHT)]
    pub max_request_body_bytes_inflight: usize,

    /// A connection with no request in flight (an idle HTTP/1.1 keep-alive connection, an
    /// HTTP/2 connection without open streams) is closed after this long; 0s never closes one.
    /// Watches are requests in flight.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub idle_connection_timeout: Duration,

    /// Streams one HTTP/2 connection may have open at once (each watch is one).
    #[arg(long, default_value_t = server::DEFAULT_HTTP2_MAX_STREAMS, value_parser = clap::value_parser!(u32).range(1..))]
    pub http2_max_streams_per_connection: u32,

    /// On shutdown, keep serving this long with /readyz failing so load balancers drain first.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub shutdown_delay_duration: Duration,

    #[command(flatten)]
    pub storage: storage::options::StorageArgs,

    #[command(flatten)]
    pub coder: coder::CoderBackendArgs,
}

impl Default for ApiserverArgs {
    fn default() -> Self {
        ApiserverArgs {
            secure_port: 6443,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            tls_cert_file: None,
            tls_private_key_file: None,
            tls_san: Vec::new(),
            auth: AuthArgs::default(),
            demo_data: false,
            write_kubeconfig: None,
            request_timeout: Duration::from_secs(60),
            min_request_timeout: 1800,
            max_requests_inflight: 400,
            max_request_body_bytes_inflight: state::DEFAULT_MAX_BODY_BYTES_INFLIGHT,
            idle_connection_timeout: server::DEFAULT_IDLE_TIMEOUT,
            http2_max_streams_per_connection: server::DEFAULT_HTTP2_MAX_STREAMS,
            shutdown_delay_duration: Duration::ZERO,
            storage: Default::default(),
            coder: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::Error),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Auth(#[from] auth::Error),
    #[error("loading demo data: {0}")]
    DemoData(#[source] objects::Error),
    #[error("opening storage: {0}")]
    Storage(#[from] storage::options::OpenError),
    #[error("the server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("--coder-backend=enabled: {0}")]
    CoderBackend(String),
}

impl Limits {
    pub fn from_args(args: &ApiserverArgs) -> Self {
        Limits {
            request_timeout: args.request_timeout,
            min_watch_timeout: Duration::from_secs(args.min_request_timeout.max(1)),
            max_requests_inflight: args.max_requests_inflight,
            max_body_bytes_inflight: args.max_request_body_bytes_inflight,
            ..Limits::default()
        }
    }
}

/// A server started by [`start`].
pub struct Running {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// `https://127.0.0.1:<port>` (or the bind address when it is not a wildcard).
    pub url: String,
    /// PEM of the CA clients should trust.
    pub ca_pem: String,
    /// A kubeconfig for this server (also written to `--write-kubeconfig` if given).
    pub kubeconfig: String,
    task: tokio::task::JoinHandle<()>,
    /// The Coder backend's sync, when enabled: it hands its Lease back as it ends.
    coder_sync: Option<tokio::task::JoinHandle<()>>,
}

/// How long shutdown waits for the Coder sync to end its round and hand its Lease back (one
/// request to read the Lease and one to write it).
const CODER_SYNC_STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Running {
    /// Waits until the server has shut down (after the shutdown token fires), and the Coder
    /// sync with it.
    pub async fn wait(self) -> Result<(), Error> {
        self.task.await?;
        if let Some(sync) = self.coder_sync {
            match tokio::time::timeout(CODER_SYNC_STOP_TIMEOUT, sync).await {
                Ok(ended) => ended?,
                Err(_) => tracing::warn!(
                    timeout = ?CODER_SYNC_STOP_TIMEOUT,
                    "the Coder sync did not stop in time; a standby takes over when its Lease expires"
                ),
            }
        }
        Ok(())
    }
}

/// The router over `objects`, without TLS or a listener: for in-process clients
/// (`kube::Client::new(router, "default")`) and tests of the HTTP pipeline.
pub fn app(objects: Objects, limits: Limits) -> router::Api {
    let state = Arc::new(AppState::new(objects, limits, CancellationToken::new()));
    router::router(state)
}

/// The embedded default object layer: in-memory storage.
pub fn memory_objects() -> Objects {
    Objects::new(Arc::new(storage::MemoryStorage::new()))
}

/// Starts serving with the storage chosen by `args.storage`; returns once the listener is bound.
pub async fn start(args: ApiserverArgs, shutdown: Shutdown) -> Result<Running, Error> {
    let objects = Objects::new(args.storage.open().await?);
    start_with_objects(args, objects, shutdown).await
}

/// Starts serving `objects`; returns once the listener is bound.
pub async fn start_with_objects(
    args: ApiserverArgs,
    objects: Objects,
    shutdown: Shutdown,
) -> Result<Running, Error> {
    start_with_authorizer(args, objects, None, shutdown).await
}

/// As [`start_with_objects`], with `authorizer` deciding instead of SubjectAccessReview when
/// authorization is delegated (tests record what reaches authorization with it).
pub async fn start_with_authorizer(
    args: ApiserverArgs,
    objects: Objects,
    authorizer: Option<Arc<dyn auth::Authorizer>>,
    shutdown: Shutdown,
) -> Result<Running, Error> {
    crate::tls::install_crypto_provider();
    let cert = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert), Some(key)) => crate::tls::load(cert, key)?,
        _ => crate::tls::self_signed(&args.tls_san)?,
    };
    let fingerprint = crate::tls::fingerprint_sha256(&cert.trust_der);
    if cert.self_signed {
        tracing::info!(sha256 = %fingerprint, "generated a self-signed serving CA");
    } else {
        tracing::info!(sha256 = %fingerprint, "loaded the serving certificate");
    }
    let stop = CancellationToken::new();
    let client_certs = match args.auth.authentication {
        AuthenticationMode::Delegated => Some(auth::client_cert::RequestClientCert::new() as _),
        AuthenticationMode::None => None,
    };
    let tls = crate::tls::server_config(&cert, client_certs)?;
    let auth = auth::Auth::build(&args.auth, authorizer, stop.clone()).await?;
    // Against a cluster, creates in missing or terminating namespaces are refused as
    // kube-apiserver's NamespaceLifecycle admission refuses them; standalone, any name goes.
    let objects = match auth.cluster_client() {
        Some(client) => objects.with_namespace_lifecycle(
            namespace_informer::NamespaceInformer::start(client, stop.clone()),
        ),
        None => objects,
    };
    let (objects, coder_metrics, coder_sync) = match args.coder.coder_backend {
        coder::BackendMode::Disabled => (objects, None, None),
        coder::BackendMode::Enabled => {
            let cluster = coder_cluster_client(&args, &auth).await?;
            // Replicas share etcd (and so the mirror); each memory storage is its own.
            let shared = (args.storage.backend == storage::options::Backend::Etcd)
                .then_some(args.storage.etcd_prefix.as_str());
            let enabled = coder::enable(objects, cluster, &args.coder, shared, stop.clone());
            (enabled.objects, Some(enabled.metrics), Some(enabled.sync))
        }
    };

    if args.demo_data {
        let report = demo::seed(&objects).await.map_err(Error::DemoData)?;
        log_demo_data(&report);
    }

    let bind = SocketAddr::new(args.bind_address, args.secure_port);
    let listener = server::bind(bind)
        .await
        .map_err(|source| Error::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr: bind, source })?;
    let url = kubeconfig::server_url(addr);
    let kubeconfig_text = kubeconfig::render(&url, &cert.trust_pem);
    if let Some(path) = &args.write_kubeconfig {
        kubeconfig::write(path, &url, &cert.trust_pem).map_err(|source| Error::Kubeconfig {
            path: path.clone(),
            source,
        })?;
        tracing::info!(path = %path.display(), "wrote a kubeconfig for this server");
    }

    let mut state = AppState::new(objects, Limits::from_args(&args), stop.clone());
    state.auth = auth;
    if let Some(coder_metrics) = &coder_metrics {
        coder_metrics.register(state.metrics.registry_mut());
    }
    let state = Arc::new(state);
    let app = router::router(state.clone());
    tracing::info!(%addr, url = %url, "serving the aggregated API");

    // Shutdown: fail readiness, wait the configured delay, then stop accepting and end watches.
    let delay = args.shutdown_delay_duration;
    let draining_state = state.clone();
    let stop_trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        draining_state.start_draining();
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "shutdown requested; draining before closing the listener"
            );
            tokio::time::sleep(delay).await;
        }
        stop_trigger.cancel();
    });
    let connection_limits = server::ConnectionLimits {
        idle_timeout: args.idle_connection_timeout,
        http2_max_streams: args.http2_max_streams_per_connection,
    };
    let task = tokio::spawn(server::serve(
        listener,
        tls,
        app,
        connection_limits,
        stop,
        Duration::from_secs(30),
    ));
    Ok(Running {
        addr,
        url,
        ca_pem: cert.trust_pem,
        kubeconfig: kubeconfig_text,
        task,
        coder_sync,
    })
}

/// What `--demo-data` did. Objects refused by namespace lifecycle (no `sandbox` namespace in
/// the cluster) are named with the refusal: the server serves the rest.
fn log_demo_data(report: &demo::SeedReport) {
    let names = |list: &[demo::DemoObject]| {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for skipped in &report.skipped {
        tracing::warn!(
            object = %skipped.object,
            reason = %skipped.reason,
            "demo object skipped: its namespace cannot take it (create the namespace and restart to get it)"
        );
    }
    tracing::info!(
        created = %names(&report.created),
        existing = %names(&report.existing),
        skipped = report.skipped.len(),
        "loaded the demo objects"
    );
}

/// The cluster the Coder backend reads CoderControlPlanes and token Secrets from: delegated
/// authentication's, else --authentication-kubeconfig, in-cluster or $KUBECONFIG.
async fn coder_cluster_client(
    args: &ApiserverArgs,
    auth: &auth::Auth,
) -> Result<kube::Client, Error> {
    if args.demo_data {
        return Err(Error::CoderBackend(
            "--demo-data needs --coder-backend=disabled (the demo objects are not in any coderd)"
                .into(),
        ));
    }
    if let Some(client) = auth.cluster_client() {
        return Ok(client);
    }
    let config = crate::client_config::load(args.auth.authentication_kubeconfig.as_deref())
        .await
        .map_err(|e| {
            Error::CoderBackend(format!("no cluster to read CoderControlPlanes from: {e}"))
        })?;
    kube::Client::try_from(config).map_err(|e| Error::CoderBackend(e.to_string()))
}

/// Runs the aggregated apiserver until `shutdown` fires.
pub async fn run(args: ApiserverArgs, shutdown: Shutdown) -> Result<(), Error> {
    let kubeconfig_path = args.write_kubeconfig.clone();
    let running = start(args, shutdown).await?;
    // The one line a person starting the server by hand needs.
    println!(
        "coder-k8s aggregated apiserver listening on {}",
        running.url
    );
    if let Some(path) = kubeconfig_path {
        println!(
            "try: kubectl --kubeconfig {} get coderworkspaces -A",
            path.display()
        );
    }
    running.wait().await?;
    tracing::info!("aggregated apiserver stopped");
    Ok(())
}
