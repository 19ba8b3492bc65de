//! The request pipeline: probes and metrics (never limited or authenticated, so kubelet and
//! Prometheus always get through), then the API behind authentication and limits.
//!
//! Steps, in order: metrics → authentication + authorization → in-flight/timeout limits → handlers, run by one
//! middleware (`pipeline`) rather than one layer each: every axum layer boxes the inner service
//! and its future per request, so one layer boxes once. Authentication and authorization
//! (`auth`) run together, before limits, so refused requests never take an in-flight slot.
//!
//! Everything under `/apis` (discovery and every resource the generated registry serves) skips
//! the axum [`Router`]: `handlers::apis` reads the path itself, so a router match, its path
//! parameters and the boxed middleware would be work done twice on the hottest path. [`Api`]
//! sends those requests straight through the same steps (plus what axum adds at the top of a
//! response: `Content-Length`, no body for HEAD) and everything else through the Router.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::get;
use bytes::Bytes;
use futures::future::Either;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body::Body as HttpBody;
use tower::Service;

use super::compression::{self, AcceptEncoding};
use super::handlers::{self, RequestLabels};
use super::state::SharedState;
use super::status::ApiError;
use super::{health, limits};

/// The apiserver's HTTP service: `/apis` through [`ApisService`], the rest through the Router.
#[derive(Clone)]
pub struct Api {
    apis: ApisService,
    router: Router,
}

pub fn router(state: SharedState) -> Api {
    let api = Router::new()
        .route("/api", get(legacy))
        .route("/api/", get(legacy))
        .route("/version", get(version))
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_v3_index))
        .route("/openapi/v3/{*key}", get(openapi_v3_doc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), pipeline))
        .layer(compression::layer());
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .merge(api)
        .with_state(state.clone());
    Api {
        apis: ApisService { state },
        router,
    }
}

/// `/apis`, `/apis/` and everything below: what the Router's `/apis/{*rest}` matched.
fn is_apis(path: &str) -> bool {
    path.strip_prefix("/apis")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<B> Service<http::Request<B>> for Api
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<ApisFuture, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Neither side ever applies backpressure (the Router is always ready).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if !is_apis(request.uri().path()) {
            return Either::Right(self.router.call(request));
        }
        let method = request.method().clone();
        let accept = AcceptEncoding::of(request.headers());
        let served = self.apis.call(request.map(Body::new));
        Either::Left(Box::pin(async move {
            let Ok(response) = served.await;
            let response = compression::compress(accept, response).await;
            Ok(top_level(&method, response))
        }))
    }
}

pub type ApisFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What axum's Router does to every response it returns: `Content-Length` from an exact body
/// size, and no body for HEAD (after the length is set, so HEAD says what GET would send).
fn top_level(method: &Method, mut response: Response) -> Response {
    if !response.headers().contains_key(header::CONTENT_LENGTH)
        && let Some(size) = response.body().size_hint().exact()
    {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    if method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
}

/// Requests under `/apis`, through the pipeline's steps to [`handlers::apis`].
#[derive(Clone)]
pub struct ApisService {
    state: SharedState,
}

impl Service<Request> for ApisService {
    type Response = Response;
    type Error = Infallible;
    type Future = ApisFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let response = measured(&state, request, |mut request| async {
                match state.auth.admit(&mut request).await {
                    Ok(()) => limits::limit(&state, request, |request| {
                        handlers::apis(&state, request)
                    })
                    .await
                    .unwrap_or_else(|refused| (refused, None)),
                    Err(refused) => (refused.into_response(), None),
                }
            })
            .await;
            Ok(response)
        })
    }
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
        let response = match state.auth.admit(&mut request).await {
            Ok(()) => limits::limit(&state, request, |request| next.run(request))
                .await
                .unwrap_or_else(|refused| refused),
            Err(refused) => refused.into_response(),
        };
        (response, None)
    })
    .await
}

/// Probes and `/metrics`: counted, nothing else.
async fn observe(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    measured(&state, request, |request| async { (next.run(request).await, None) }).await
}

/// Counts and times a request. Resource requests are labelled with the verb and resource their
/// handler found; anything else by method and the first path segment.
async fn measured<F, Fut>(state: &SharedState, request: Request, serve: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = (Response, Option<RequestLabels>)>,
{
    let started = Instant::now();
    let verb = method_label(request.method());
    let root = root_label(request.uri().path());
    let (response, labels) = serve(request).await;
    let elapsed = started.elapsed();
    let code = response.status().as_u16();
    let (verb, resource) = match labels {
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
    // `path.split('/').nth(1)`, without the iterator: the text between the first two slashes.
    let slash = |text: &str| text.bytes().position(|b| b == b'/');
    let rest = slash(path).map_or("", |at| &path[at + 1..]);
    let first = slash(rest).map_or(rest, |at| &rest[..at]);
    match first {
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
