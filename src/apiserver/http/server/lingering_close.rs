//! The close of an HTTP/1.1 connection whose last answer left request-body bytes unread.
//!
//! Closing a socket with unread bytes in its receive buffer makes the kernel send RST instead
//! of FIN, and a client that is still writing its body (or has not read yet) then gets a reset
//! or a TLS EOF instead of the answer already on its way. So when `unread_body` marks the
//! connection, its close is done by hand once hyper is finished with it: the write side is shut
//! (FIN, after TLS's close_notify that hyper sent), then whatever the client still sends is
//! read and thrown away until it closes its side or [`LINGER_TIMEOUT`] passes, and only then is
//! the socket closed. Go's net/http half-closes and waits for the same reason (its
//! `closeWriteAndWait`); reading on, as Apache's lingering close does, also lets a client that
//! is blocked writing a large body finish writing and read the answer. Memory is one scratch
//! buffer; time is bounded.
//!
//! The TCP stream sits under TLS in a [`Socket`] that hands it over when the TLS stream is
//! dropped, so nothing is done (no syscall, no timer) for a connection that was never marked.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// How long a marked connection reads (and discards) what its client still sends after the
/// last answer, waiting for the client to close first.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// Size of the buffer a lingering close reads into (and discards).
const SCRATCH_BYTES: usize = 16 * 1024;

/// What one connection's requests tell its close: whether an answer left with part of its
/// request body unread, and (once the connection is dropped) the socket to close by hand.
#[derive(Debug, Default)]
pub struct LingeringClose {
    unread: AtomicBool,
    handed_over: Mutex<Option<TcpStream>>,
}

impl LingeringClose {
    pub fn new() -> Arc<Self> {
        Arc::new(LingeringClose::default())
    }

    /// Marks the connection: an answer went out before its request body was read to the end.
    pub fn mark_unread(&self) {
        self.unread.store(true, Ordering::Release);
    }

    fn is_marked(&self) -> bool {
        self.unread.load(Ordering::Acquire)
    }

    /// Closes the socket of a marked connection gracefully (see the module documentation);
    /// returns at once for a connection that was never marked.
    pub async fn finish(&self) {
        let socket = self
            .handed_over
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(socket) = socket {
            linger(socket, LINGER_TIMEOUT).await;
        }
    }
}

/// Half-closes `socket` and discards what the peer sends until it closes or `timeout` passes.
async fn linger(mut socket: TcpStream, timeout: Duration) {
    // Already shut when hyper closed the connection normally; a second shutdown is harmless.
    let _ = socket.shutdown().await;
    let mut scratch = vec![0u8; SCRATCH_BYTES];
    let drained = tokio::time::timeout(timeout, async {
        loop {
            match socket.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::debug!("the client was still sending after the lingering close's timeout");
    }
}

/// The TCP stream of a connection: passes reads and writes through, and when dropped (the
/// connection is over) hands the stream to its [`LingeringClose`] if that was marked, instead
/// of closing it.
#[derive(Debug)]
pub struct Socket {
    stream: Option<TcpStream>,
    close: Arc<LingeringClose>,
}

impl Socket {
    pub fn new(stream: TcpStream, close: Arc<LingeringClose>) -> Self {
        Socket {
            stream: Some(stream),
            close,
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        // `None` only once dropped; never seen by a read or write.
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.close.is_marked()
            && let Some(stream) = self.stream.take()
        {
            *self
                .close
                .handed_over
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(stream);
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pair of connected loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn an_unmarked_socket_is_closed_when_dropped() {
        let (mut client, server) = pair().await;
        let close = LingeringClose::new();
        drop(Socket::new(server, close.clone()));
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(close.handed_over.lock().unwrap().is_none());
        // Nothing to do, and done at once.
        tokio::time::timeout(Duration::from_millis(100), close.finish())
            .await
            .expect("finish returns at once");
    }

    /// A client still writing when the server is done gets FIN, not RST, and may finish
    /// writing and then read what the server sent.
    #[tokio::test]
    async fn a_marked_socket_reads_on_until_the_client_is_done() {
        let (mut client, server) = pair().await;
        let close = LingeringClose::new();
        let mut socket = Socket::new(server, close.clone());
        socket.write_all(b"answer").await.unwrap();
        close.mark_unread();
        drop(socket);
        let finishing = tokio::spawn({
            let close = close.clone();
            async move { close.finish().await }
        });
        // 4 MiB: more than the socket buffers hold, so the writes need the server to read.
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..64 {
            client.write_all(&chunk).await.expect("the server reads on");
        }
        client.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("a clean end");
        assert_eq!(answer, b"answer");
        tokio::time::timeout(Duration::from_secs(10), finishing)
            .await
            .expect("the close ends once the client closed")
            .unwrap();
    }

    #[tokio::test]
    async fn a_client_that_never_closes_is_given_up_on() {
        let (_client, server) = pair().await;
        let started = tokio::time::Instant::now();
        linger(server, Duration::from_millis(200)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}
