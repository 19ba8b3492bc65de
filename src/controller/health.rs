//! The controller's two small HTTP servers: probes (/healthz, /readyz) and Prometheus /metrics.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::error::{Error, Result};
use super::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Readiness as the probes report it. Liveness is the process answering at all.
///
/// Like controller-runtime, the leader is ready once the cache of every kind it watches has
/// finished its initial list; a standby is ready while it waits for the Lease.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<Readiness>,
}

#[derive(Debug, Default)]
enum Readiness {
    #[default]
    Starting,
    Standby,
    /// Kinds whose cache has not finished its initial list yet.
    Syncing(BTreeSet<&'static str>),
    Stopped,
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, Readiness> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waiting for the leader-election Lease: ready, since that is this instance's job now.
    pub fn standby(&self) {
        *self.state() = Readiness::Standby;
    }

    /// A controller loop starts watching `kinds`; ready once each was marked
    /// [`Self::synced`]. Several loops (one per reconciled kind) add to the same pending set,
    /// so cache names must be unique across loops.
    pub fn syncing(&self, kinds: impl IntoIterator<Item = &'static str>) {
        let mut state = self.state();
        match &mut *state {
            Readiness::Syncing(pending) => pending.extend(kinds),
            other => *other = Readiness::Syncing(kinds.into_iter().collect()),
        }
    }

    /// The cache of `kind` holds a complete initial list.
    pub fn synced(&self, kind: &'static str) {
        if let Readiness::Syncing(pending) = &mut *self.state()
            && pending.remove(kind)
            && pending.is_empty()
        {
            tracing::info!("watch caches synced");
        }
    }

    pub fn stopped(&self) {
        *self.state() = Readiness::Stopped;
    }

    pub fn is_ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why the instance is not ready, for the /readyz body.
    pub fn not_ready_reason(&self) -> Option<String> {
        match &*self.state() {
            Readiness::Standby => None,
            Readiness::Syncing(pending) if pending.is_empty() => None,
            Readiness::Syncing(pending) => Some(format!(
                "watch caches not synced: {}",
                pending.iter().copied().collect::<Vec<_>>().join(", ")
            )),
            Readiness::Starting => Some("starting".to_string()),
            Readiness::Stopped => Some("controller stopped".to_string()),
        }
    }
}

pub fn probe_router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    match health.not_ready_reason() {
        None => (StatusCode::OK, "ok".to_string()),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(metrics): State<Arc<Metrics>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }),
        )
        .with_state(metrics)
}

pub async fn bind(what: &'static str, address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Bind {
            what,
            address,
            source,
        })
}

/// Serves `router` on `listener` until `shutdown`. Connections are short-lived probe and scrape
/// requests, so in-flight ones are simply dropped at shutdown.
pub fn spawn(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, _) = match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Usually EMFILE; back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let service = TowerToHyperService::new(router.clone());
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = conn => {}
                    _ = shutdown.cancelled() => {}
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get_status(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_waits_for_the_caches_of_every_controller_loop() {
        let health = Arc::new(Health::default());
        let router = probe_router(health.clone());
        // Two kinds' loops register their caches one after the other.
        health.syncing(["controlplanes/deployments"]);
        health.syncing(["provisioners/deployments"]);
        health.synced("controlplanes/deployments");
        let (code, body) = get_status(router.clone(), "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "watch caches not synced: provisioners/deployments");
        health.synced("provisioners/deployments");
        assert_eq!(get_status(router, "/readyz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn readyz_waits_for_every_kind_and_healthz_is_always_ok() {
        let health = Arc::new(Health::default());
        let router = probe_router(health.clone());
        assert_eq!(
            get_status(router.clone(), "/healthz").await.0,
            StatusCode::OK
        );
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.syncing(["roles", "services"]);
        health.synced("services");
        let (code, body) = get_status(router.clone(), "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "watch caches not synced: roles");
        health.synced("roles");
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::OK
        );
        health.stopped();
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.standby();
        assert_eq!(get_status(router, "/readyz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_openmetrics() {
        let metrics = Arc::new(Metrics::default());
        metrics.set_leader(true);
        let (status, body) = get_status(metrics_router(metrics), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("coder_k8s_controller_leader 1"), "{body}");
    }

    #[tokio::test]
    async fn serves_over_tcp_until_shutdown() {
        let listener = bind("probes", "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let handle = spawn(
            listener,
            probe_router(Arc::new(Health::default())),
            shutdown.clone(),
        );
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        shutdown.cancel();
        handle.await.unwrap();
    }
}
