//! What one client connection is doing, so an idle one can be closed: the number of requests
//! in flight on it (HTTP/1.1: zero or one; HTTP/2: its open streams) and since when it has had
//! none. A request counts from the moment the service is called until its response body has
//! been sent or dropped, so a watch (a response that streams for minutes) keeps its connection
//! busy, and an idle keep-alive connection or an HTTP/2 connection without streams does not.
//!
//! kube-apiserver gets this from Go's `http.Server.IdleTimeout` (90 s, HTTP/1.1 and HTTP/2
//! alike); hyper has no equivalent for a connection that is between requests, so
//! [`Activity::idle`] is the timer and the accept loop shuts such a connection down gracefully.
//!
//! Go's `ReadHeaderTimeout` (32 s) counts from the first byte of a request's head. hyper's own
//! header timer starts as soon as the connection waits for the next request, so it closed every
//! HTTP/1.1 keep-alive connection after 32 s between requests (without a TLS close_notify: a
//! client that reused it at that moment read "EOF occurred in violation of protocol"), long
//! before the idle timeout. It is off; [`Activity::head_timed_out`] is the timer instead, fed by
//! [`HeadWatch`], which notes when bytes arrive on an HTTP/1 connection with no request in flight.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The activity of one connection, shared by its requests and its idle timer.
#[derive(Debug)]
pub struct Activity {
    /// When the connection started serving HTTP; `idle_since` counts from here.
    started: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds after `started` at which the last request ended (0: none yet).
    idle_since: AtomicU64,
    /// Nanoseconds after `started` (at least 1) at which the head of a request began to arrive
    /// while none was in flight; 0 while no head is being read.
    head_since: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
        })
    }

    /// Counts a request as in flight until the returned guard is dropped. Its head is complete.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    fn nanos_since_start(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Bytes arrived: with no request in flight, they start the head of the next one (the clock
    /// keeps its first start until that request begins).
    fn bytes_arrived(&self) {
        if self.in_flight() == 0 && self.head_since.load(Ordering::Acquire) == 0 {
            let now = self.nanos_since_start().max(1);
            let _ = self
                .head_since
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Not a head after all (an HTTP/2 preface): the clock is off.
    fn stop_head_clock(&self) {
        self.head_since.store(0, Ordering::Release);
    }

    /// Completes once the head of a request has been arriving for `timeout` without being
    /// complete (kube-apiserver's `ReadHeaderTimeout`). Checks at most once per `timeout`
    /// while no head is arriving and sleeps until the exact deadline otherwise.
    pub async fn head_timed_out(&self, timeout: Duration) {
        loop {
            let since = self.head_since.load(Ordering::Acquire);
            if since == 0 {
                tokio::time::sleep(timeout).await;
                continue;
            }
            let deadline = self.started + Duration::from_nanos(since) + timeout;
            if Instant::now() >= deadline {
                // The same head, still incomplete.
                if self.head_since.load(Ordering::Acquire) == since && self.in_flight() == 0 {
                    return;
                }
                continue;
            }
            tokio::time::sleep_until(deadline).await;
        }
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
        activity
            .idle_since
            .store(activity.nanos_since_start(), Ordering::Release);
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

/// The first bytes of an HTTP/2 connection (RFC 9113's client preface starts with them).
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// An IO (plaintext, above TLS) whose reads tell its connection's [`Activity`] when the head of
/// a request starts arriving. HTTP/2 connections (by ALPN, or by their preface when a client
/// speaks it without ALPN) are not watched: their requests are streams, and a connection that
/// sends frames between streams is not reading a head.
#[derive(Debug)]
pub struct HeadWatch<IO> {
    inner: IO,
    activity: Option<Arc<Activity>>,
    /// Whether the first bytes were looked at for the HTTP/2 preface.
    looked: bool,
}

impl<IO> HeadWatch<IO> {
    /// Watches `inner` for `activity` unless ALPN chose HTTP/2. The first request's head is
    /// timed from now, as Go times it from the end of the TLS handshake: a client that connects
    /// and says nothing is closed like one that trickles.
    pub fn new(inner: IO, activity: Arc<Activity>, alpn_http2: bool) -> Self {
        if !alpn_http2 {
            activity.bytes_arrived();
        }
        HeadWatch {
            inner,
            activity: (!alpn_http2).then_some(activity),
            looked: false,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for HeadWatch<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        let arrived = &buf.filled()[before..];
        if arrived.is_empty() {
            return read;
        }
        if !this.looked {
            this.looked = true;
            let n = arrived.len().min(HTTP2_PREFACE_START.len());
            if arrived[..n] == HTTP2_PREFACE_START[..n]
                && let Some(activity) = this.activity.take()
            {
                activity.stop_head_clock();
            }
        }
        if let Some(activity) = &this.activity {
            activity.bytes_arrived();
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HeadWatch<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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

    #[tokio::test]
    async fn the_head_clock_starts_at_the_first_byte_and_stops_when_the_request_begins() {
        let activity = Activity::new();
        let timeout = Duration::from_millis(200);
        // No bytes: never timed out, however long the connection waits.
        assert!(
            tokio::time::timeout(Duration::from_millis(500), activity.head_timed_out(timeout))
                .await
                .is_err()
        );
        // Bytes of a head that never completes: timed out, counted from those bytes.
        let first_byte = Instant::now();
        activity.bytes_arrived();
        tokio::time::timeout(Duration::from_secs(10), activity.head_timed_out(timeout))
            .await
            .expect("the head timed out");
        assert!(first_byte.elapsed() >= timeout);
        // The head completed (the request began): the clock is off again.
        let request = activity.begin();
        drop(request);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), activity.head_timed_out(timeout))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn http2_connections_are_not_timed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for (alpn_http2, first_bytes, watched) in [
            (false, &b"GET / HTTP/1.1\r\n"[..], true),
            (true, &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], false),
            (false, &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], false),
        ] {
            let activity = Activity::new();
            let (mut client, server) = tokio::io::duplex(64);
            let mut watched_io = HeadWatch::new(server, activity.clone(), alpn_http2);
            // The first head is timed from the connection's start unless ALPN said HTTP/2.
            assert_eq!(
                activity.head_since.load(Ordering::Acquire) != 0,
                !alpn_http2
            );
            client.write_all(first_bytes).await.unwrap();
            let mut buf = [0u8; 64];
            let n = watched_io.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], first_bytes);
            let started = activity.head_since.load(Ordering::Acquire) != 0;
            assert_eq!(
                started,
                watched,
                "{:?}",
                String::from_utf8_lossy(first_bytes)
            );
        }
    }
}
