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

use super::limits;
use crate::apiserver::http::handlers::health;
use crate::apiserver::http::handlers::resources::{self as handlers, RequestLabels};
use crate::apiserver::http::handlers::state::SharedState;
use crate::apiserver::http::router::compression::{self, AcceptEncoding};
use crate::apiserver::status::ApiError;

/// The apiserver's HTTP service: `/apis` through [`serve_apis`], the rest through the Router.
#[derive(Clone)]
pub struct Api {
    state: SharedState,
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
    Api { state, router }
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
        let state = self.state.clone();
        // One boxed future for the whole request: each nested one would copy the request again.
        Either::Left(Box::pin(async move {
            Ok(serve_apis(&state, request.map(Body::new)).await)
        }))
    }
}

/// The future of a request under `/apis`.
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

/// A request under `/apis`: the pipeline's steps to [`handlers::apis`], then compression and
/// what the Router would add at the top.
async fn serve_apis(state: &SharedState, request: Request) -> Response {
    let method = request.method().clone();
    let accept = AcceptEncoding::of(request.headers());
    let response = measured(state, request, |mut request| async {
        match state.auth.admit(&mut request).await {
            Ok(()) => limits::limit(state, request, |request| handlers::apis(state, request))
                .await
                .unwrap_or_else(|refused| (refused, None)),
            Err(refused) => (refused.into_response(), None),
        }
    })
    .await;
    top_level(&method, compression::compress(accept, response).await)
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
    measured(&state, request, |request| async {
        (next.run(request).await, None)
    })
    .await
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::routing::any;
    use http_body_util::BodyExt;
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    use super::*;
    use crate::apiserver::http::handlers::state::{AppState, Limits};
    use crate::apiserver::objects::Objects;

    /// How `/apis` requests were served before [`Api`] dispatched them: axum routes matching
    /// `/apis` and below, the pipeline as one axum middleware, the compression layer, and the
    /// metrics labels carried in the response's extensions. The oracle the direct path must match.
    fn general_path(state: SharedState) -> Router {
        async fn labelled(State(state): State<SharedState>, request: Request) -> Response {
            let (mut response, labels) = handlers::apis(&state, request).await;
            if let Some(labels) = labels {
                response.extensions_mut().insert(labels);
            }
            response
        }
        async fn steps(State(state): State<SharedState>, request: Request, next: Next) -> Response {
            measured(&state, request, |mut request| async {
                let response = match state.auth.admit(&mut request).await {
                    Ok(()) => limits::limit(&state, request, |request| next.run(request))
                        .await
                        .unwrap_or_else(|refused| refused),
                    Err(refused) => refused.into_response(),
                };
                let labels = response.extensions().get::<RequestLabels>().copied();
                (response, labels)
            })
            .await
        }
        Router::new()
            .route("/apis", any(labelled))
            .route("/apis/", any(labelled))
            .route("/apis/{*rest}", any(labelled))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), steps))
            .layer(compression::layer())
            .with_state(state)
    }

    fn state(objects: &Objects) -> SharedState {
        Arc::new(AppState::new(
            objects.clone(),
            Limits::default(),
            CancellationToken::new(),
        ))
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::from(body.to_string())).unwrap()
    }

    /// Method, URI, headers and body of a request.
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);

    /// Status, headers in order, and body bytes.
    type Answer = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

    async fn answer(response: Response) -> Answer {
        let (parts, body) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status.as_u16(), headers, body)
    }

    /// `requests_total` and the latency histograms' counts, the lines that do not depend on time.
    fn counted(state: &SharedState) -> Vec<String> {
        let text = state.metrics.encode(0, 0).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| {
                l.starts_with("coder_k8s_apiserver_requests_total{")
                    || l.starts_with("coder_k8s_apiserver_request_duration_seconds_count{")
            })
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    const ITEMS: &str = "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces";

    #[tokio::test]
    async fn apis_requests_answer_as_through_the_router() {
        let objects = Objects::new(Arc::new(crate::apiserver::storage::MemoryStorage::new()));
        // Enough objects that a list crosses the compression threshold.
        let seeding = router(state(&objects));
        for i in 0..300 {
            let body = format!(
                r#"{{"apiVersion":"aggregation.coder.com/v1alpha1","kind":"CoderWorkspace","metadata":{{"name":"w-{i:03}","labels":{{"padding":"{}"}}}},"spec":{{"running":true}}}}"#,
                "p".repeat(60)
            );
            let response = seeding
                .clone()
                .oneshot(request(
                    "POST",
                    ITEMS,
                    &[("content-type", "application/json")],
                    &body,
                ))
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
        let direct_state = state(&objects);
        let general_state = state(&objects);
        let direct = router(direct_state.clone());
        let general = general_path(general_state.clone());
        let object = format!("{ITEMS}/w-001");
        let gzip = [("accept-encoding", "gzip")];
        let cases: Vec<Case> = vec![
            ("GET", object.clone(), vec![], ""),
            (
                "GET",
                object.clone(),
                vec![("accept", "*/*"), ("accept-encoding", "gzip")],
                "",
            ),
            ("HEAD", object.clone(), vec![], ""),
            ("GET", format!("{ITEMS}/missing"), vec![], ""),
            (
                "GET",
                object.clone(),
                vec![("accept", "application/yaml")],
                "",
            ),
            (
                "GET",
                object.clone(),
                vec![("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
                "",
            ),
            (
                "GET",
                object.clone(),
                vec![("accept", "application/vnd.kubernetes.protobuf")],
                "",
            ),
            (
                "GET",
                object.clone(),
                vec![("accept-encoding", "identity;q=0")],
                "",
            ),
            (
                "GET",
                object.clone(),
                vec![("accept-encoding", "gzip;q=0.5, *;q=0")],
                "",
            ),
            ("GET", format!("{object}?resourceVersion=0"), vec![], ""),
            ("GET", format!("{ITEMS}?limit=abc"), vec![], ""),
            ("GET", ITEMS.to_string(), gzip.to_vec(), ""),
            ("GET", ITEMS.to_string(), vec![], ""),
            ("GET", format!("{ITEMS}?limit=2"), vec![], ""),
            ("HEAD", ITEMS.to_string(), gzip.to_vec(), ""),
            (
                "GET",
                "/apis/aggregation.coder.com/v1alpha1/coderworkspaces".to_string(),
                vec![],
                "",
            ),
            (
                "PATCH",
                format!("{ITEMS}/missing"),
                vec![("content-type", "application/merge-patch+json")],
                "{}",
            ),
            (
                "POST",
                ITEMS.to_string(),
                vec![("content-type", "application/json")],
                "{",
            ),
            ("OPTIONS", object.clone(), vec![], ""),
            ("GET", "/apis".to_string(), vec![], ""),
            (
                "GET",
                "/apis".to_string(),
                vec![(
                    "accept",
                    crate::apiserver::http::request::negotiation::DISCOVERY_V2,
                )],
                "",
            ),
            ("GET", "/apis/".to_string(), vec![], ""),
            ("POST", "/apis".to_string(), vec![], ""),
            ("GET", "/apis/aggregation.coder.com".to_string(), vec![], ""),
            (
                "GET",
                "/apis/aggregation.coder.com/v1alpha1".to_string(),
                vec![],
                "",
            ),
            (
                "GET",
                "/apis/nothing.example.com/v1/things".to_string(),
                vec![],
                "",
            ),
            (
                "GET",
                "/apis/%61ggregation.coder.com/v1alpha1".to_string(),
                vec![],
                "",
            ),
            (
                "GET",
                format!("{ITEMS}/w-001/status/more/segments"),
                vec![],
                "",
            ),
            ("GET", "/apisx".to_string(), vec![], ""),
        ];
        for (method, uri, headers, body) in &cases {
            let direct_answer = answer(
                direct
                    .clone()
                    .oneshot(request(method, uri, headers, body))
                    .await
                    .unwrap(),
            )
            .await;
            let general_answer = answer(
                general
                    .clone()
                    .oneshot(request(method, uri, headers, body))
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(direct_answer, general_answer, "{method} {uri} {headers:?}");
            if *method == "GET" && uri == ITEMS && headers[..] == gzip[..] {
                let encoding = ("content-encoding".to_string(), b"gzip".to_vec());
                assert!(
                    direct_answer.1.contains(&encoding),
                    "the list is compressed"
                );
            }
        }
        let counted_direct = counted(&direct_state);
        assert!(!counted_direct.is_empty());
        assert_eq!(counted_direct, counted(&general_state));
    }
}
