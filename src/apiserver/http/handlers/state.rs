//! What every request handler shares: the object layer, the precomputed documents, metrics,
//! limits and the shutdown/readiness state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::registry::{ResourceDescriptor, ServedBy};
use crate::apiserver::auth::Auth;
use crate::apiserver::http::handlers::discovery::Discovery;
use crate::apiserver::http::handlers::metrics::Metrics;
use crate::apiserver::http::handlers::openapi::OpenApi;
use crate::apiserver::objects::Objects;

/// Default of `--max-request-body-bytes-inflight`: ten bodies of the largest size at once, or
/// thousands of typical (few KiB) ones.
pub const DEFAULT_MAX_BODY_BYTES_INFLIGHT: usize = 32 * 1024 * 1024;

/// Request limits, from flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body (kube-apiserver: 3 MiB).
    pub max_body_bytes: usize,
    /// Deadline of a non-watch request.
    pub request_timeout: Duration,
    /// Watches without `timeoutSeconds` end after a random time in [min, 2*min).
    pub min_watch_timeout: Duration,
    /// Non-watch requests served at once; more get 429.
    pub max_requests_inflight: usize,
    /// Bytes of request bodies held at once across requests; a body that would go over gets 429.
    /// Never below `max_body_bytes`, or the largest allowed body could never be read.
    pub max_body_bytes_inflight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            min_watch_timeout: Duration::from_secs(1800),
            max_requests_inflight: 400,
            max_body_bytes_inflight: DEFAULT_MAX_BODY_BYTES_INFLIGHT,
        }
    }
}

pub struct AppState {
    pub objects: Objects,
    pub discovery: Discovery,
    pub openapi: OpenApi,
    pub metrics: Metrics,
    pub limits: Limits,
    /// Authentication and authorization of the API routes (disabled unless built from flags).
    pub auth: Auth,
    pub inflight: Arc<tokio::sync::Semaphore>,
    /// One permit per request-body byte held (`Limits::max_body_bytes_inflight`).
    pub body_bytes: Arc<tokio::sync::Semaphore>,
    /// Set once shutdown starts: `/readyz` fails while in-flight work finishes.
    pub draining: AtomicBool,
    /// Cancelled when the listener stops; open watches end on it.
    pub stop: CancellationToken,
}

impl AppState {
    pub fn new(objects: Objects, limits: Limits, stop: CancellationToken) -> Self {
        let served: Vec<&'static ResourceDescriptor> =
            crate::api::registry::served_by(ServedBy::AggregatedApiserver).collect();
        AppState {
            objects,
            discovery: Discovery::build(&served),
            openapi: OpenApi::build(crate::api::OPENAPI_V2, crate::api::OPENAPI_V3),
            metrics: Metrics::new(),
            inflight: Arc::new(tokio::sync::Semaphore::new(
                limits.max_requests_inflight.max(1),
            )),
            body_bytes: Arc::new(tokio::sync::Semaphore::new(
                limits
                    .max_body_bytes_inflight
                    .max(limits.max_body_bytes)
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            limits,
            auth: Auth::disabled(),
            draining: AtomicBool::new(false),
            stop,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

pub type SharedState = Arc<AppState>;
