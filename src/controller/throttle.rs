//! The tower layer on the controller's kube client that makes it a good neighbour of everyone
//! else on the API server:
//! - every request (each retry too) first takes a token from the [`FairLimiter`];
//! - a `429 Too Many Requests` (API Priority and Fairness rejecting the request before it ran),
//!   and any 5xx that names a `Retry-After`, is retried after the time the server asks for, at
//!   most [`MAX_RETRIES`] times, as client-go does; a 503/504 without one is retried with
//!   backoff for reads only (a write may have happened behind a gateway timeout).
//!
//! kube's own retry layer is switched off for this client (`Config::default_retry`): it sits
//! below the added layers, so its retries would neither wait for a token nor be counted.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::{BoxError, Layer, Service, ServiceExt};
use tracing::debug;

use super::metrics::Metrics;
use super::rate_limit::{FairLimiter, flow_of};

/// client-go's `maxRetries` for a throttled request.
pub const MAX_RETRIES: u32 = 10;

/// A `Retry-After` longer than this is cut to it: a reconcile holds its object meanwhile.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Backoff of retries without a `Retry-After`: 200 ms doubling, at most 10 s.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// A 429 without `Retry-After` (API Priority and Fairness always sends one): wait this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ThrottleLayer {
    limiter: Option<Arc<FairLimiter>>,
    metrics: Arc<Metrics>,
}

impl ThrottleLayer {
    /// `limiter: None` sends requests unthrottled (`--kube-api-qps` negative) but still honours
    /// `429` and `Retry-After`.
    pub fn new(limiter: Option<Arc<FairLimiter>>, metrics: Arc<Metrics>) -> Self {
        Self { limiter, metrics }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            limiter: self.limiter.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// See the module docs. `S` must be cheap to clone (a `tower::buffer::Buffer`): each attempt
/// is sent on its own clone.
#[derive(Clone)]
pub struct Throttle<S> {
    inner: S,
    limiter: Option<Arc<FairLimiter>>,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<Body>> for Throttle<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness of the inner service is awaited per attempt (`oneshot`), after the token.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let limiter = self.limiter.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let flow = flow_of(request.uri().path()).to_string();
            let mut request = request;
            let mut retries = 0;
            loop {
                if let Some(limiter) = &limiter {
                    let waited = limiter.acquire(&flow).await;
                    metrics.rate_limiter_waited(waited);
                }
                // Bodies the controller sends are in memory, so a copy is cheap; a streamed
                // body cannot be replayed and is sent once.
                let replay = (retries < MAX_RETRIES)
                    .then(|| copy_request(&request))
                    .flatten();
                let method = request.method().clone();
                let response = inner.clone().oneshot(request).await.map_err(Into::into)?;
                let status = response.status();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    metrics.too_many_requests();
                }
                let delay = retry_delay(&method, status, response.headers(), retries);
                let (Some(delay), Some(replay)) = (delay, replay) else {
                    return Ok(response);
                };
                metrics.retried(status.as_u16());
                debug!(%method, %status, retry_in = ?delay, retries, "API server asked to retry");
                drop(response);
                tokio::time::sleep(delay).await;
                request = replay;
                retries += 1;
            }
        })
    }
}

/// How long to wait before retrying an answer with `status`, or `None` to return it as it is.
fn retry_delay(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
    retries: u32,
) -> Option<Duration> {
    let retry_after = retry_after(headers);
    let backoff = || {
        BACKOFF_BASE
            .saturating_mul(1 << retries.min(16))
            .min(BACKOFF_MAX)
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER));
    }
    if status.is_server_error() {
        if let Some(after) = retry_after {
            return Some(after);
        }
        let transient = matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        );
        if transient && method == Method::GET {
            return Some(backoff());
        }
    }
    None
}

/// `Retry-After` in whole seconds (the form the API server sends), capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

fn copy_request(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::rate_limit::Limits;
    use std::sync::Mutex;
    use tokio::time::Instant;

    /// A status code and the `Retry-After` to answer with.
    type Answer = (u16, Option<&'static str>);

    /// A fake API server: answers GETs on a ConfigMap with `answers` in turn (then 200), and
    /// records when each request arrived.
    #[derive(Clone)]
    struct Fake {
        answers: Arc<Mutex<Vec<Answer>>>,
        arrivals: Arc<Mutex<Vec<(Instant, String)>>>,
    }

    impl Fake {
        fn new(answers: &[Answer]) -> Self {
            let mut answers = answers.to_vec();
            answers.reverse();
            Self {
                answers: Arc::new(Mutex::new(answers)),
                arrivals: Arc::default(),
            }
        }

        fn client(&self, limiter: Option<Arc<FairLimiter>>, metrics: Arc<Metrics>) -> kube::Client {
            let fake = self.clone();
            let service = tower::service_fn(move |request: Request<Body>| {
                let fake = fake.clone();
                async move {
                    fake.arrivals
                        .lock()
                        .unwrap()
                        .push((Instant::now(), request.uri().path().to_string()));
                    let (code, retry_after) =
                        fake.answers.lock().unwrap().pop().unwrap_or((200, None));
                    let mut response = Response::builder()
                        .status(code)
                        .header("content-type", "application/json");
                    if let Some(seconds) = retry_after {
                        response = response.header("retry-after", seconds);
                    }
                    let body = if code == 200 {
                        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#
                    } else {
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests, please try again later","reason":"TooManyRequests","code":429}"#
                    };
                    Ok::<_, std::convert::Infallible>(
                        response.body(Body::from(body.as_bytes().to_vec())).unwrap(),
                    )
                }
            });
            kube::client::ClientBuilder::new(service, "default")
                .with_layer(&ThrottleLayer::new(limiter, metrics))
                .build()
        }

        fn arrivals(&self) -> Vec<(Instant, String)> {
            self.arrivals.lock().unwrap().clone()
        }
    }

    async fn get(client: &kube::Client, namespace: &str) -> Result<(), kube::Error> {
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), namespace);
        api.get("c").await.map(|_| ())
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_is_waited_out_for_retry_after_then_retried() {
        let fake = Fake::new(&[(429, Some("3"))]);
        let metrics = Arc::new(Metrics::default());
        let client = fake.client(None, metrics.clone());
        get(&client, "a").await.expect("retried into a 200");
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 2, "one retry");
        let gap = arrivals[1].0 - arrivals[0].0;
        assert!(gap >= Duration::from_secs(3), "retried after {gap:?}");
        let text = metrics.encode();
        assert!(
            text.contains("coder_k8s_controller_api_too_many_requests_total 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"coder_k8s_controller_api_retries_total{code="429"} 1"#),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_and_the_last_429_is_returned() {
        let fake = Fake::new(&[(429, Some("1")); 20]);
        let client = fake.client(None, Arc::new(Metrics::default()));
        let error = get(&client, "a").await.unwrap_err();
        assert!(
            matches!(&error, kube::Error::Api(status) if status.code == 429),
            "{error:?}"
        );
        assert_eq!(fake.arrivals().len(), 1 + MAX_RETRIES as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_for_a_token_too() {
        // One token a second, none saved: the first request goes at once, its retry (asked
        // for at once, Retry-After 0) has to wait for the next token.
        let fake = Fake::new(&[(429, Some("0"))]);
        let limiter = FairLimiter::new(Limits { qps: 1.0, burst: 1 });
        let client = fake.client(Some(limiter), Arc::new(Metrics::default()));
        get(&client, "a").await.unwrap();
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 2);
        assert!(arrivals[1].0 - arrivals[0].0 >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_only_when_safe() {
        let get_ = Method::GET;
        let patch = Method::PATCH;
        let none = HeaderMap::new();
        let mut after = HeaderMap::new();
        after.insert(http::header::RETRY_AFTER, "2".parse().unwrap());
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        // A read may be repeated; a write behind a 503/504 may already have happened ...
        assert_eq!(
            retry_delay(&get_, unavailable, &none, 0),
            Some(BACKOFF_BASE)
        );
        assert_eq!(retry_delay(&patch, unavailable, &none, 0), None);
        // ... unless the server itself asks for the retry.
        assert_eq!(
            retry_delay(&patch, unavailable, &after, 0),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_delay(&patch, StatusCode::INTERNAL_SERVER_ERROR, &none, 0),
            None
        );
        assert_eq!(retry_delay(&patch, StatusCode::CONFLICT, &after, 0), None);
        // Backoff doubles and is capped.
        assert_eq!(
            retry_delay(&get_, unavailable, &none, 3),
            Some(BACKOFF_BASE * 8)
        );
        assert_eq!(retry_delay(&get_, unavailable, &none, 9), Some(BACKOFF_MAX));
        // An absurd Retry-After is cut.
        let mut long = HeaderMap::new();
        long.insert(http::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(
            retry_delay(&patch, StatusCode::TOO_MANY_REQUESTS, &long, 0),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_limits_and_the_wait_is_measured() {
        let fake = Fake::new(&[]);
        let metrics = Arc::new(Metrics::default());
        let limiter = FairLimiter::new(Limits { qps: 2.0, burst: 1 });
        let client = fake.client(Some(limiter), metrics.clone());
        let requests = (0..5).map(|_| get(&client, "a"));
        for result in futures::future::join_all(requests).await {
            result.unwrap();
        }
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 5);
        // qps 2, burst 1: N requests span at least (N-1)/2 s.
        let span = arrivals[4].0 - arrivals[0].0;
        assert!(span >= Duration::from_secs(2), "{span:?}");
        let text = metrics.encode();
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("coder_k8s_controller_api_rate_limiter_wait_seconds_sum "))
            .and_then(|v| v.trim().parse().ok())
            .expect("wait histogram");
        // 0.5 + 1.0 + 1.5 + 2.0 s of waiting.
        assert!(sum >= 4.9, "{text}");
    }
}
