//! Status bodies for the answers hyper gives by itself. When an HTTP/1 request cannot be parsed
//! (a garbage request line, `Content-Length: -1`, more header fields than allowed, a header
//! block or a URI over the limit) hyper never calls the service: it writes `400`, `431` or `414`
//! with an empty body and closes the connection, and it has no hook to change that answer.
//! Clients of a Kubernetes API expect a `metav1.Status` in every error, so the connection's
//! write side is wrapped: a response head of exactly that shape (one of those codes,
//! `content-length: 0`, no `content-type`, nothing after the head) is replaced by the same
//! answer with a Status body. Our own error responses always carry a JSON body with a
//! `content-type`, so they never match.
//!
//! hyper stops reading at the error, so the rest of what the client sends is left unread: the
//! connection is marked for a lingering close (`lingering_close`) so the answer is not lost to
//! a reset.
//!
//! hyper writes that head only when no other response is being written (`Writing::Init`), so
//! it starts a write of its own unless an earlier response is still unflushed in the same
//! buffer (a pipelining client under backpressure); that case keeps hyper's empty answer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::apiserver::http::server::lingering_close::LingeringClose;
use crate::apiserver::status::ApiError;

/// An IO whose HTTP/1 parse-error answers carry a Status body.
#[derive(Debug)]
pub struct StatusOnParseError<IO> {
    inner: IO,
    /// Marked when an answer is replaced: hyper closes after it with input unread.
    close: Arc<LingeringClose>,
    /// A replacement being written: its bytes, how many are out, and how many bytes of the
    /// caller's buffer it stands for (reported once all of it is written).
    pending: Option<Replacement>,
}

#[derive(Debug)]
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    stands_for: usize,
}

impl<IO> StatusOnParseError<IO> {
    pub fn new(inner: IO, close: Arc<LingeringClose>) -> Self {
        StatusOnParseError {
            inner,
            close,
            pending: None,
        }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

/// The error hyper answered with, if `head` is one of its automatic answers.
fn automatic_answer(head: &[u8]) -> Option<(StatusCode, &[u8])> {
    let rest = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let code = match rest.get(..4)? {
        b"400 " => StatusCode::BAD_REQUEST,
        b"414 " => StatusCode::URI_TOO_LONG,
        b"431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    // The whole head and nothing else: hyper's automatic answers have no body.
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let status_line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let fields = &head[status_line_end + 2..end + 2];
    let mut empty_body = false;
    for line in fields.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"content-type:") {
            return None;
        }
        if lower == b"content-length: 0" {
            empty_body = true;
        }
    }
    empty_body.then_some((code, fields))
}

/// The Status a client gets for hyper's automatic answer `code`.
pub fn parse_error(code: StatusCode) -> ApiError {
    match code {
        StatusCode::URI_TOO_LONG => ApiError::new(
            code,
            "RequestURITooLong",
            "the request URI is longer than the server accepts (64 KiB)",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            code,
            "RequestHeaderFieldsTooLarge",
            "the request has more header fields, or a larger header block, than the server accepts",
        ),
        _ => ApiError::bad_request("the request is not valid HTTP/1.1 and could not be parsed"),
    }
}

/// hyper's head with a Status body: its other fields (`date`) are kept, the length is the
/// body's, and the connection is announced as closing (hyper closes it after this answer).
fn with_status_body(code: StatusCode, fields: &[u8]) -> Vec<u8> {
    let body = serde_json::to_vec(&parse_error(code).to_status()).unwrap_or_default();
    let mut out = Vec::with_capacity(160 + fields.len() + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(code.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(code.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\nconnection: close\r\n");
    for line in fields.split_inclusive(|b| *b == b'\n') {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"content-length:") || lower.starts_with(b"connection:") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

impl<IO: AsyncWrite + Unpin> StatusOnParseError<IO> {
    /// Writes out the pending replacement; then reports what it stands for as written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(replacement) = self.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while replacement.written < replacement.bytes.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &replacement.bytes[replacement.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacement.written += n;
        }
        let stands_for = replacement.stands_for;
        self.pending = None;
        Poll::Ready(Ok(stands_for))
    }

    /// Starts replacing `buf` if it is one of hyper's automatic answers.
    fn replaces(&mut self, buf: &[u8]) -> bool {
        if self.pending.is_none()
            && let Some((code, fields)) = automatic_answer(buf)
        {
            self.close.mark_unread();
            self.pending = Some(Replacement {
                bytes: with_status_body(code, fields),
                written: 0,
                stands_for: buf.len(),
            });
        }
        self.pending.is_some()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for StatusOnParseError<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for StatusOnParseError<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replaces(buf) {
            return this.poll_replacement(cx);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper queues a response head as its own slice, ahead of any body slices.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && this.replaces(first)
        {
            return this.poll_replacement(cx);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_automatic_answers_are_recognised() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 16:00:00 GMT\r\n\r\n";
        let (code, _) = automatic_answer(hyper_431).expect("recognised");
        assert_eq!(code, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // Our own 400s carry a JSON Status.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(automatic_answer(ours).is_none());
        // Anything after the head is a body, which hyper's answers never have.
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nx";
        assert!(automatic_answer(with_body).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(automatic_answer(ok).is_none());
    }

    #[test]
    fn the_replacement_keeps_hyper_fields_and_carries_a_status() {
        let hyper_414 =
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 16:00:00 GMT\r\n\r\n";
        let (code, fields) = automatic_answer(hyper_414).unwrap();
        let out = String::from_utf8(with_status_body(code, fields)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains("\r\ndate: Mon, 07 Dec 2026 16:00:00 GMT"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
        assert!(!head.contains("content-length: 0"), "{head}");
        let status: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], 414);
        assert_eq!(status["reason"], "RequestURITooLong");
    }
}
