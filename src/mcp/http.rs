//! The MCP listener: `/mcp` (rmcp's Streamable HTTP transport behind the token middleware),
//! `/healthz`, `/readyz` and `/metrics`, over HTTPS (a given or self-signed certificate, as the
//! aggregated apiserver) or, with `--mcp-plain-http`, plain HTTP.
//!
//! The transport runs stateless with JSON responses: every POST is answered on its own, so no
//! session state is kept per client, a client that disconnects leaves nothing behind, and the
//! identity is decided per request. Shutdown stops accepting, ends open requests' streams,
//! and gives connections `--mcp-shutdown-grace-period` to close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::Error;
use super::args::McpArgs;
use super::identity::{Authenticator, Caller, bearer_token};
use super::metrics::Metrics;
use super::tools::Tools;
use crate::shutdown::Shutdown;

/// A TLS handshake that takes longer is dropped (slow or stuck clients hold no task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Between attempts to reach the Kubernetes API before /readyz turns ready.
const READINESS_RETRY: Duration = Duration::from_secs(2);

/// Shared by the middleware and the probes.
struct AppState {
    /// `None` with `--mcp-insecure-server-identity`.
    authenticator: Option<Arc<Authenticator>>,
    metrics: Arc<Metrics>,
    /// Set once the Kubernetes API answered; cleared at shutdown.
    ready: AtomicBool,
}

/// A bound, not yet serving MCP server.
pub struct McpServer {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    state: Arc<AppState>,
    own_client: kube::Client,
    grace: Duration,
    shutdown: Shutdown,
    trust_pem: Option<String>,
}

impl McpServer {
    /// Builds the clients and the router, and binds the listener.
    pub async fn start(
        args: McpArgs,
        config: kube::Config,
        shutdown: Shutdown,
    ) -> Result<Self, Error> {
        let own_client = kube::Client::try_from(config.clone()).map_err(Error::Client)?;
        let metrics = Arc::new(Metrics::default());
        let (tools, authenticator) = if args.mcp_insecure_server_identity {
            tracing::warn!(
                "--mcp-insecure-server-identity: MCP callers are NOT authenticated and every tool \
                 runs with this server's own Kubernetes identity. Anyone who can reach {} can do \
                 whatever this server's ServiceAccount may, such as stopping any workspace. Use \
                 this only for a trusted local setup.",
                args.mcp_bind_address
            );
            let own = Caller {
                client: own_client.clone(),
                user: "(the MCP server's own identity; --mcp-insecure-server-identity)".into(),
            };
            (Tools::with_own_identity(own, metrics.clone()), None)
        } else {
            let authenticator =
                Authenticator::new(own_client.clone(), config, args.mcp_token_cache_ttl);
            (Tools::per_caller(metrics.clone()), Some(authenticator))
        };

        let mut transport = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_cancellation_token(shutdown.child_token())
            .with_max_request_body_bytes(args.mcp_max_request_bytes);
        transport = match (&authenticator, args.mcp_allowed_host.is_empty()) {
            (_, false) => transport.with_allowed_hosts(args.mcp_allowed_host.clone()),
            // Browsers never attach a bearer token on their own, so DNS rebinding gains an
            // attacker nothing: any Host (the Service's DNS name, an Ingress host) is fine.
            (Some(_), true) => transport.disable_allowed_hosts(),
            // Without authentication, rmcp's loopback-only default stays.
            (None, true) => transport,
        };
        let mcp = StreamableHttpService::new(
            move || Ok(tools.clone()),
            Arc::new(NeverSessionManager::default()),
            transport,
        );

        let state = Arc::new(AppState {
            authenticator,
            metrics,
            ready: AtomicBool::new(false),
        });
        let protected = tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                authenticate,
            ))
            .service(mcp);
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_text))
            .route_service("/mcp", protected)
            .with_state(state.clone());

        let (tls, trust_pem) = if args.mcp_plain_http {
            (None, None)
        } else {
            let cert = match (&args.mcp_tls_cert_file, &args.mcp_tls_private_key_file) {
                (Some(cert), Some(key)) => crate::tls::load(cert, key)?,
                _ => {
                    tracing::info!(
                        "no --mcp-tls-cert-file; serving MCP with a self-signed certificate"
                    );
                    crate::tls::self_signed(&[])?
                }
            };
            let config = crate::tls::server_config(&cert, None)?;
            (Some(TlsAcceptor::from(config)), Some(cert.trust_pem))
        };
        let listener = TcpListener::bind(args.mcp_bind_address)
            .await
            .map_err(|source| Error::Bind {
                address: args.mcp_bind_address,
                source,
            })?;
        Ok(McpServer {
            listener,
            tls,
            router,
            state,
            own_client,
            grace: args.mcp_shutdown_grace_period,
            shutdown,
            trust_pem,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// PEM of the certificate clients should trust (HTTPS only).
    pub fn trust_pem(&self) -> Option<&str> {
        self.trust_pem.as_deref()
    }

    /// Serves until shutdown, then drains.
    pub async fn serve(self) -> Result<(), Error> {
        let McpServer {
            listener,
            tls,
            router,
            state,
            own_client,
            grace,
            shutdown,
            ..
        } = self;
        let connections = TaskTracker::new();
        connections.spawn(wait_for_kubernetes(
            own_client,
            state.clone(),
            shutdown.clone(),
        ));
        loop {
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "MCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let router = router.clone();
            let tls = tls.clone();
            let stop = shutdown.clone();
            connections.spawn(async move {
                match tls {
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => serve_connection(stream, router, stop).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "MCP TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "MCP TLS handshake timed out"),
                        }
                    }
                    None => serve_connection(tcp, router, stop).await,
                }
            });
        }
        state.ready.store(false, Ordering::Release);
        drop(listener);
        connections.close();
        tokio::select! {
            _ = connections.wait() => tracing::info!("MCP server stopped"),
            _ = tokio::time::sleep(grace) => tracing::warn!("MCP connections still open after the grace period; closing"),
        }
        Ok(())
    }
}

/// Serves one connection's requests until it closes, or closes it gracefully at shutdown
/// (HTTP/1 after the request in flight, HTTP/2 after its open streams).
async fn serve_connection<IO>(io: IO, router: Router, stop: Shutdown)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let service = TowerToHyperService::new(router);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "MCP connection ended with an error");
    }
}

/// /readyz turns ready once the Kubernetes API answers GET /version with our own identity.
async fn wait_for_kubernetes(client: kube::Client, state: Arc<AppState>, stop: Shutdown) {
    loop {
        let attempt = tokio::time::timeout(READINESS_RETRY * 5, client.apiserver_version());
        tokio::select! {
            _ = stop.cancelled() => return,
            answer = attempt => match answer {
                Ok(Ok(_)) => {
                    state.ready.store(true, Ordering::Release);
                    return;
                }
                Ok(Err(error)) => tracing::warn!(%error, "MCP server cannot reach the Kubernetes API yet"),
                Err(_) => tracing::warn!("MCP server: the Kubernetes API did not answer GET /version in time"),
            },
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(READINESS_RETRY) => {}
        }
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Kubernetes API has not answered yet, or the server is stopping",
        )
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Authenticates every request to /mcp: a reviewed bearer token puts its impersonating
/// [`Caller`] into the request; anything else ends here with 401 (or 503 when the cluster
/// could not review the token). Without an authenticator (insecure mode) requests pass as is.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(authenticator) = &state.authenticator else {
        return next.run(request).await;
    };
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let result = match bearer_token(header) {
        Ok(token) => authenticator.authenticate(token).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(caller) => {
            tracing::debug!(user = %caller.user, "MCP request authenticated");
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => {
            state.metrics.auth_failure(error.reason());
            let status = if error.is_unauthenticated() {
                StatusCode::UNAUTHORIZED
            } else {
                tracing::warn!(%error, "MCP request could not be authenticated");
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::json!({ "error": error.to_string() }).to_string();
            (
                status,
                [
                    (header::WWW_AUTHENTICATE, "Bearer"),
                    (header::CONTENT_TYPE, "application/json"),
                ],
                body,
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    /// A server whose Kubernetes API is a closed loopback port: every TokenReview fails.
    async fn server_without_a_cluster() -> McpServer {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let args = McpArgs {
            mcp_bind_address: "127.0.0.1:0".parse().unwrap(),
            mcp_plain_http: true,
            ..Default::default()
        };
        McpServer::start(args, config, Shutdown::new())
            .await
            .unwrap()
    }

    fn post_mcp(authorization: Option<&str>) -> axum::http::Request<Body> {
        let mut request = axum::http::Request::post("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request
            .body(Body::from(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            ))
            .unwrap()
    }

    #[tokio::test]
    async fn missing_tokens_get_401_and_unreviewable_ones_503_both_counted() {
        let server = server_without_a_cluster().await;
        let response = server.router.clone().oneshot(post_mcp(None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let response = server
            .router
            .clone()
            .oneshot(post_mcp(Some("Bearer some-token")))
            .await
            .unwrap();
        // The caller is not at fault when the cluster cannot be asked.
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let metrics = server.state.metrics.encode();
        assert!(
            metrics.contains("coder_k8s_mcp_authentication_failures_total{reason=\"missing\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "coder_k8s_mcp_authentication_failures_total{reason=\"review_failed\"} 1"
            ),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn readyz_fails_until_the_cluster_answers_and_healthz_answers_always() {
        let server = server_without_a_cluster().await;
        let get = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
        let response = server
            .router
            .clone()
            .oneshot(get("/healthz"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = server.router.clone().oneshot(get("/readyz")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
