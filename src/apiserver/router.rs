//! The request pipeline: probes and metrics (never limited or authenticated, so kubelet and
//! Prometheus always get through), then the API behind authentication and limits.
//!
//! Layer order, outermost first: metrics → authentication → in-flight/timeout limits →
//! handlers. Delegated authorization slots in right after authentication.

use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::HeaderMap;

use super::handlers::{self, RequestLabels};
use super::state::SharedState;
use super::status::ApiError;
use super::{authn, health, limits};

pub fn router(state: SharedState) -> Router {
    let api = Router::new()
        .route("/apis", any(handlers::apis))
        .route("/apis/", any(handlers::apis))
        .route("/apis/{*rest}", any(handlers::apis))
        .route("/api", get(legacy))
        .route("/api/", get(legacy))
        .route("/version", get(version))
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_v3_index))
        .route("/openapi/v3/{*key}", get(openapi_v3_doc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), limits::limit))
        .layer(middleware::from_fn(authn::anonymous));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> Response {
    ApiError::path_not_found().into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::method_not_allowed(request.method(), request.uri().path()).into_response()
}

async fn legacy(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    state.discovery.legacy(&headers)
}

async fn version(State(state): State<SharedState>) -> Response {
    state.discovery.version()
}

async fn openapi_v2(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    state.openapi.v2(&headers)
}

async fn openapi_v3_index(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    state.openapi.v3_index(&headers)
}

async fn openapi_v3_doc(
    State(state): State<SharedState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.openapi.v3_doc(&key, &headers)
}

/// Counts and times every request. Resource handlers label their responses with verb and
/// resource; anything else is labelled by method and path.
async fn observe(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let code = response.status().as_u16();
    match response.extensions().get::<RequestLabels>() {
        Some(labels) => state
            .metrics
            .observe(labels.verb, labels.resource, code, elapsed),
        None => {
            let verb = method.as_str().to_ascii_lowercase();
            // Bounded label values: the first path segment only.
            let root = path.split('/').nth(1).unwrap_or_default();
            let root = match root {
                "apis" | "api" | "openapi" | "version" | "healthz" | "livez" | "readyz"
                | "metrics" => root,
                _ => "other",
            };
            state.metrics.observe(&verb, root, code, elapsed)
        }
    }
    tracing::debug!(%method, %path, code, elapsed_ms = elapsed.as_secs_f64() * 1e3, "request");
    response
}
