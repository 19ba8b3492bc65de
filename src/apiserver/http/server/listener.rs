//! The HTTPS listener: accept TCP, finish the TLS handshake, serve HTTP/1.1 or HTTP/2 (by
//! ALPN/preface) with the router. A connection with no request in flight for the idle timeout
//! is shut down gracefully (kube-apiserver's `IdleTimeout`). Shutdown stops accepting, lets
//! in-flight requests finish (watches are ended by the same token) and waits for connections
//! to close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::apiserver::auth::client_cert::ClientCertificates;
use crate::apiserver::http::router::routes::Api;
use crate::apiserver::http::server::connection::{Activity, HeadWatch, Tracked};
use crate::apiserver::http::server::lingering_close::{LingeringClose, Socket};
use crate::apiserver::http::server::parse_error_status::StatusOnParseError;
use crate::apiserver::http::server::unread_body::{DiscardUnread, RequestBody};

/// A slow or silent client must not hold a task forever before it speaks TLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client must finish its request headers within this time, counted from their first byte,
/// or the connection is closed (kube-apiserver's `ReadHeaderTimeout`, against slowloris
/// clients). Timed by the connection's `Activity`, not hyper (see `connection`).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// kube-apiserver's `IdleTimeout` (Go's `http.DefaultTransport` keeps idle connections as long).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Streams one HTTP/2 connection may have open: kube's recommended options for aggregated
/// apiservers (the aggregator multiplexes many clients' watches over few connections).
pub const DEFAULT_HTTP2_MAX_STREAMS: u32 = 1000;

/// HTTP/2 frame size and per-stream receive window (kube-apiserver: 256 KiB, which holds 99% of
/// serialized objects in one frame while bounding what one stream may make the server buffer).
pub const HTTP2_FRAME_AND_STREAM_WINDOW_BYTES: u32 = 256 * 1024;

/// How connections are served: limits that are flags.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A connection with no request in flight for this long is closed; zero never closes one.
    pub idle_timeout: Duration,
    pub http2_max_streams: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            http2_max_streams: DEFAULT_HTTP2_MAX_STREAMS,
        }
    }
}

/// Serves until `stop` is cancelled, then drains connections for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Api,
    limits: ConnectionLimits,
    stop: CancellationToken,
    drain: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connections = TaskTracker::new();
    let builders = Arc::new(Builders::new(&limits));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let stop = stop.clone();
        let builders = builders.clone();
        connections.spawn(async move {
            let close = LingeringClose::new();
            let tcp = Socket::new(tcp, close.clone());
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // The client's chain (if it sent one) travels with each request of the connection;
            // authentication decides per CA what it proves.
            let certificates = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| ClientCertificates::new(chain.to_vec()));
            let builder = builders.for_connection(certificates.is_some());
            let alpn_http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let activity = Activity::new();
            let app = app.map_request(move |mut request: http::Request<RequestBody>| {
                if let Some(certificates) = &certificates {
                    request.extensions_mut().insert(certificates.clone());
                }
                request
            });
            let service = TowerToHyperService::new(Tracked::new(
                DiscardUnread::new(app, close.clone()),
                activity.clone(),
            ));
            // Served in a block of its own so the connection (and with it the socket, handed to
            // `close` if an answer left body bytes unread) is dropped before the close below.
            let ended = async {
                // No upgrades (nothing here switches protocols): an upgradeable HTTP/1
                // connection sets up an upgrade channel in every request's extensions.
                let connection = builder
                    .serve_connection(
                        TokioIo::new(StatusOnParseError::new(
                            HeadWatch::new(tls, activity.clone(), alpn_http2),
                            close.clone(),
                        )),
                        service,
                    )
                    .into_owned();
                let mut connection = std::pin::pin!(connection);
                let idle = async {
                    if limits.idle_timeout.is_zero() {
                        std::future::pending::<()>().await;
                    }
                    activity.idle(limits.idle_timeout).await;
                };
                enum Why {
                    Ended(Result<(), ConnectionError>),
                    Stopping,
                    Idle,
                    HeadTimedOut,
                }
                let why = tokio::select! {
                    ended = connection.as_mut() => Why::Ended(ended),
                    _ = stop.cancelled() => Why::Stopping,
                    _ = idle => Why::Idle,
                    _ = activity.head_timed_out(HEADER_READ_TIMEOUT) => Why::HeadTimedOut,
                };
                // Idle or shutting down: HTTP/1 closes between requests, HTTP/2 sends GOAWAY and
                // closes once its open streams (watches end on `stop`) are done.
                match why {
                    Why::Ended(ended) => ended,
                    Why::Stopping => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                    Why::Idle => {
                        tracing::debug!(%peer, "closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        close_idle(connection, &activity).await
                    }
                    // As Go does: no answer, the connection is dropped.
                    Why::HeadTimedOut => {
                        tracing::debug!(%peer, "request headers not complete in time; closing");
                        Ok(())
                    }
                }
            }
            .await;
            if let Err(error) = ended {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            close.finish().await;
        });
    }
    drop(listener);
    connections.close();
    tokio::select! {
        _ = connections.wait() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(drain) => tracing::warn!("connections still open after the drain period; closing"),
    }
}

/// What hyper's connection futures end with.
type ConnectionError = Box<dyn std::error::Error + Send + Sync>;

/// How long an idle connection told to close may take to do so. An HTTP/2 graceful close waits
/// for the client to acknowledge a PING after the first GOAWAY; a client that never answers
/// would keep the connection forever, so past this the connection is dropped (Go's HTTP/2
/// server gives the same second after its GOAWAY).
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Drives an idle connection that was told to shut down until it closes, dropping it once it
/// has taken [`IDLE_CLOSE_GRACE`] with no request in flight (a request that slipped in before
/// the GOAWAY is let finish).
async fn close_idle<F>(
    mut connection: std::pin::Pin<&mut F>,
    activity: &Activity,
) -> Result<(), ConnectionError>
where
    F: std::future::Future<Output = Result<(), ConnectionError>>,
{
    loop {
        match tokio::time::timeout(IDLE_CLOSE_GRACE, connection.as_mut()).await {
            Ok(ended) => return ended,
            Err(_) if activity.in_flight() == 0 => return Ok(()),
            Err(_) => continue,
        }
    }
}

/// Total size of a request's header block we accept (kube-apiserver: 1 MiB): the front proxy
/// sends one X-Remote-Group header per group, and users may be in hundreds of groups.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// Header fields per HTTP/1 request on a connection with a client certificate. Identity headers
/// (`X-Remote-Group`, one per group) count only from a front proxy, which authenticates with a
/// client certificate: 1,024 carries a user in several hundred groups. HTTP/2 has no count limit.
pub const MAX_HEADERS: usize = 1024;
/// Header fields per HTTP/1 request on a connection without a client certificate: hyper's
/// default. hyper's HTTP/1 parser sets aside room for the limit on every request (64 bytes a
/// field, allocated and initialised unless it is this default, which lives on the stack): 1,024
/// cost a sixth of a GET's instructions, 8,192 a fifth of the server's CPU.
pub const MAX_HEADERS_WITHOUT_CLIENT_CERTIFICATE: usize = 100;

/// The connection builders: one per header-count limit (see [`MAX_HEADERS`]), otherwise alike.
struct Builders {
    without_client_certificate: Builder<TokioExecutor>,
    with_client_certificate: Builder<TokioExecutor>,
}

impl Builders {
    fn new(limits: &ConnectionLimits) -> Self {
        let mut with_client_certificate = builder(limits);
        with_client_certificate.http1().max_headers(MAX_HEADERS);
        Builders {
            // No `max_headers` call: hyper's default limit (100) without its per-request cost.
            without_client_certificate: builder(limits),
            with_client_certificate,
        }
    }

    fn for_connection(&self, client_certificate: bool) -> &Builder<TokioExecutor> {
        if client_certificate {
            &self.with_client_certificate
        } else {
            &self.without_client_certificate
        }
    }
}

fn builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // Many watches share one HTTP/2 connection (informers of one client, or the aggregator).
    // Frame size and windows as kube-apiserver sizes them: a stream may make the server buffer
    // 256 KiB, a connection that much per allowed stream.
    let connection_window = HTTP2_FRAME_AND_STREAM_WINDOW_BYTES
        .saturating_mul(limits.http2_max_streams.max(1))
        .min(MAX_HTTP2_WINDOW);
    builder
        .http2()
        .max_concurrent_streams(limits.http2_max_streams)
        .max_frame_size(HTTP2_FRAME_AND_STREAM_WINDOW_BYTES)
        .initial_stream_window_size(HTTP2_FRAME_AND_STREAM_WINDOW_BYTES)
        .initial_connection_window_size(connection_window);
    builder
        .http1()
        .timer(TokioTimer::new())
        // Off: hyper's timer would also run between requests (see `connection`).
        .header_read_timeout(None)
        // The read buffer must hold the whole header block plus the request line.
        .max_buf_size(MAX_HEADER_BYTES + 64 * 1024);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    builder
}

/// The largest flow-control window HTTP/2 allows (RFC 9113: 2^31-1).
const MAX_HTTP2_WINDOW: u32 = (1 << 31) - 1;

/// Binds the listener; port 0 picks a free port (tests), reported by `local_addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
