//! What is left of a request body when its answer is ready. Many answers come before the body
//! is read (401/403 from authentication, 429 over the in-flight limit, 404 for a path that
//! names nothing, 413 once the body passes the limit), and hyper, left alone, closes such an
//! HTTP/1.1 connection on the unread bytes: the kernel resets it and a client still writing
//! its body, or not yet reading, loses the answer ("connection reset", "EOF occurred in
//! violation of protocol").
//!
//! kube-apiserver's clients get what Go's net/http does, and so do ours: after the handler,
//! an unread remainder of at most [`DISCARD_LIMIT_BYTES`] is read and thrown away (here also
//! within [`DISCARD_TIMEOUT`]) before the answer is sent, so the connection carries the next
//! request; a larger or slower one is not waited for: the answer says `Connection: close` and
//! the connection is marked for a lingering close (`lingering_close`), which lets the client
//! finish writing and read the answer. A request with `Expect: 100-continue` whose body was
//! never asked for is not asked for now: the client has sent nothing, or will stop.
//!
//! HTTP/2 needs none of this: an unread request stream is reset on its own and the connection
//! goes on. Requests without a body (every GET) pass straight through.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{BoxFuture, Either};
use http::{HeaderValue, Version, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::apiserver::http::server::lingering_close::LingeringClose;

/// The most of an unread request body that is read and discarded so the connection can be
/// kept (Go's `maxPostHandlerReadBytes`).
pub const DISCARD_LIMIT_BYTES: u64 = 256 * 1024;

/// How long the server waits for that remainder before it answers and closes instead.
pub const DISCARD_TIMEOUT: Duration = Duration::from_secs(2);

/// A service whose HTTP/1 requests' unread bodies are discarded or make the connection close
/// gracefully (see the module documentation).
#[derive(Clone)]
pub struct DiscardUnread<S> {
    inner: S,
    close: Arc<LingeringClose>,
}

impl<S> DiscardUnread<S> {
    pub fn new(inner: S, close: Arc<LingeringClose>) -> Self {
        DiscardUnread { inner, close }
    }
}

impl<S, ResBody> tower::Service<http::Request<Incoming>> for DiscardUnread<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Self::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Incoming>) -> Self::Future {
        if request.version() >= Version::HTTP_2 || request.body().is_end_stream() {
            return Either::Left(self.inner.call(request.map(RequestBody::whole)));
        }
        let expects_continue = request
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let left = Arc::new(Left::default());
        let answer = self
            .inner
            .call(request.map(|body| RequestBody::kept(body, left.clone())));
        let close = self.close.clone();
        Either::Right(Box::pin(async move {
            let mut response = answer.await?;
            if !left.discard(expects_continue).await {
                close.mark_unread();
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }))
    }
}

/// A request body as the handler sees it. Dropped before its end, it leaves the rest of the
/// body to [`DiscardUnread`] instead of dropping it (which would make hyper close).
#[derive(Debug)]
pub struct RequestBody {
    inner: Option<Incoming>,
    /// Where the rest goes; `None` for a body [`DiscardUnread`] does not look after.
    left: Option<Arc<Left>>,
    polled: bool,
    failed: bool,
}

impl RequestBody {
    fn whole(body: Incoming) -> Self {
        RequestBody::new(body, None)
    }

    fn kept(body: Incoming, left: Arc<Left>) -> Self {
        RequestBody::new(body, Some(left))
    }

    fn new(body: Incoming, left: Option<Arc<Left>>) -> Self {
        RequestBody {
            inner: Some(body),
            left,
            polled: false,
            failed: false,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        this.polled = true;
        let frame = Pin::new(inner).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => this.inner = None,
            Poll::Ready(Some(Err(_))) => this.failed = true,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let (Some(left), Some(body)) = (&self.left, self.inner.take()) else {
            return;
        };
        if !self.failed && body.is_end_stream() {
            return;
        }
        *left.rest.lock().unwrap_or_else(PoisonError::into_inner) = Some(Rest {
            body,
            polled: self.polled,
            failed: self.failed,
        });
    }
}

/// The unread rest of one request's body, once the handler has dropped it.
#[derive(Debug, Default)]
struct Left {
    rest: Mutex<Option<Rest>>,
}

#[derive(Debug)]
struct Rest {
    body: Incoming,
    polled: bool,
    failed: bool,
}

impl Left {
    /// Reads and discards the rest of the body within the bounds; `false` if the connection
    /// cannot carry another request (the rest is too large, too slow, broken, or was never
    /// asked for).
    async fn discard(&self, expects_continue: bool) -> bool {
        let rest = self
            .rest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Read to its end, or still held somewhere (then hyper decides as it would anyway).
        let Some(Rest {
            body,
            polled,
            failed,
        }) = rest
        else {
            return true;
        };
        if failed || (expects_continue && !polled) || body.size_hint().lower() > DISCARD_LIMIT_BYTES
        {
            return false;
        }
        tokio::time::timeout(DISCARD_TIMEOUT, discard_at_most(body, DISCARD_LIMIT_BYTES))
            .await
            .unwrap_or(false)
    }
}

/// Reads `body` to its end if it has at most `limit` bytes left; `false` otherwise.
async fn discard_at_most(mut body: Incoming, limit: u64) -> bool {
    let mut left = limit;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return false;
        };
        let len = frame.data_ref().map_or(0, |data| data.len() as u64);
        match left.checked_sub(len) {
            Some(rest) => left = rest,
            None => return false,
        }
    }
    true
}
