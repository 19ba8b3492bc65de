//! What one client connection is doing, so an idle one can be closed: the number of requests
//! in flight on it (HTTP/1.1: zero or one; HTTP/2: its open streams) and since when it has had
//! none. A request counts from the moment the service is called until its response body has
//! been sent or dropped, so a watch (a response that streams for minutes) keeps its connection
//! busy, and an idle keep-alive connection or an HTTP/2 connection without streams does not.
//!
//! kube-apiserver gets this from Go's `http.Server.IdleTimeout` (90 s, HTTP/1.1 and HTTP/2
//! alike); hyper has no equivalent for a connection that is between requests, so
//! [`Activity::idle`] is the timer and the accept loop shuts such a connection down gracefully.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

/// The activity of one connection, shared by its requests and its idle timer.
#[derive(Debug)]
pub struct Activity {
    /// When the connection started serving HTTP; `idle_since` counts from here.
    started: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds after `started` at which the last request ended (0: none yet).
    idle_since: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn idle_since(&self) -> Instant {
        self.started + Duration::from_nanos(self.idle_since.load(Ordering::Acquire))
    }

    /// Completes once the connection has had no request in flight for `timeout`. Checks at most
    /// once per `timeout` while requests are in flight and sleeps until the exact deadline
    /// otherwise, so a busy connection costs one timer per `timeout`, not one per request.
    pub async fn idle(&self, timeout: Duration) {
        loop {
            if self.in_flight() > 0 {
                tokio::time::sleep(timeout).await;
                continue;
            }
            let deadline = self.idle_since() + timeout;
            if Instant::now() >= deadline {
                // A request may have started and ended while this task slept: the deadline
                // is recomputed from the last end until it has really passed.
                if self.in_flight() == 0 && Instant::now() >= self.idle_since() + timeout {
                    return;
                }
                continue;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A request in flight on its connection; dropping it ends the request.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        // Stored before the count drops, so the idle timer never pairs a count of zero with an
        // older end time.
        let nanos = u64::try_from(activity.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        activity.idle_since.store(nanos, Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A service whose requests count on the connection's [`Activity`] until their responses end.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S, Request, ResBody> tower::Service<Request> for Tracked<S>
where
    S: tower::Service<Request, Response = http::Response<ResBody>>,
{
    type Response = http::Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let in_flight = self.activity.begin();
        TrackedFuture {
            inner: self.inner.call(request),
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// The response future of a [`Tracked`] service: hands the request's guard to the body.
    pub struct TrackedFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F, ResBody, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<TrackedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

pin_project! {
    /// A response body that keeps its request in flight until hyper has sent or dropped it.
    pub struct TrackedBody<B> {
        #[pin]
        inner: B,
        _in_flight: Option<InFlight>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_counts_from_the_end_of_the_last_request() {
        let activity = Activity::new();
        let timeout = Duration::from_millis(200);
        let started = Instant::now();
        let request = activity.begin();
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move {
                activity.idle(timeout).await;
                Instant::now()
            }
        });
        // A request in flight for 500 ms: not idle meanwhile.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!idle.is_finished());
        let ended = Instant::now();
        drop(request);
        let closed_at = tokio::time::timeout(Duration::from_secs(10), idle)
            .await
            .expect("idle in time")
            .unwrap();
        assert!(closed_at - ended >= timeout, "{:?}", closed_at - ended);
        assert!(closed_at - started >= Duration::from_millis(700));
    }

    #[tokio::test]
    async fn a_connection_without_requests_is_idle_after_the_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(10),
            activity.idle(Duration::from_millis(100)),
        )
        .await
        .expect("idle in time");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(activity.in_flight(), 0);
    }
}
