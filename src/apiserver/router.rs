//! The request pipeline: probes and metrics (never limited or authenticated, so kubelet and
//! Prometheus always get through), then the API behind authentication and limits.
//!
//! Steps, in order: metrics → authentication + authorization → in-flight/timeout limits → handlers, run by one
//! middleware (`pipeline`) rather than one layer each: every axum layer boxes the inner service
//! and its future per request, so one layer boxes once. Authentication and authorization
//! (`auth`) run together, before limits, so refused requests never take an in-flight slot.

use std::time::Instant;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::HeaderMap;

use super::handlers::{self, RequestLabels};
use super::state::SharedState;
use super::status::ApiError;
use super::{health, limits};

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
        .layer(middleware::from_fn_with_state(state.clone(), pipeline))
        .layer(super::compression::layer());
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .merge(api)
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
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    state.openapi.v3_doc(&key, query.as_deref(), &headers)
}

/// The API pipeline: metrics around authentication/authorization around limits around the handler.
async fn pipeline(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    measured(&state, request, |mut request| async {
        match state.auth.admit(&mut request).await {
            Ok(()) => limits::limit(&state, request, next).await,
            Err(refused) => refused.into_response(),
        }
    })
    .await
}

/// Probes and `/metrics`: counted, nothing else.
async fn observe(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    measured(&state, request, |request| next.run(request)).await
}

/// Counts and times a request. Resource handlers label their responses with verb and
/// resource; anything else is labelled by method and the first path segment.
async fn measured<F, Fut>(state: &SharedState, request: Request, serve: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let started = Instant::now();
    let verb = method_label(request.method());
    let root = root_label(request.uri().path());
    let response = serve(request).await;
    let elapsed = started.elapsed();
    let code = response.status().as_u16();
    let (verb, resource) = match response.extensions().get::<RequestLabels>() {
        Some(labels) => (labels.verb, labels.resource),
        None => (verb, root),
    };
    state.metrics.observe(verb, resource, code, elapsed);
    tracing::debug!(
        verb,
        resource,
        code,
        elapsed_ms = elapsed.as_secs_f64() * 1e3,
        "request"
    );
    response
}

fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "get",
        http::Method::POST => "post",
        http::Method::PUT => "put",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        http::Method::HEAD => "head",
        http::Method::OPTIONS => "options",
        _ => "other",
    }
}

fn root_label(path: &str) -> &'static str {
    match path.split('/').nth(1).unwrap_or_default() {
        "apis" => "apis",
        "api" => "api",
        "openapi" => "openapi",
        "version" => "version",
        "healthz" => "healthz",
        "livez" => "livez",
        "readyz" => "readyz",
        "metrics" => "metrics",
        _ => "other",
    }
}
