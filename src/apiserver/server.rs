//! The HTTPS listener: accept TCP, finish the TLS handshake, serve HTTP/1.1 or HTTP/2 (by
//! ALPN/preface) with the router. Shutdown stops accepting, lets in-flight requests finish
//! (watches are ended by the same token) and waits for connections to close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::auth::client_cert::ClientCertificates;
use super::router::Api;

/// A slow or silent client must not hold a task forever before it speaks TLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client must finish its request headers within this time, or the connection is closed
/// (kube-apiserver's `ReadHeaderTimeout`, against slowloris clients).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// Serves until `stop` is cancelled, then drains connections for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Api,
    stop: CancellationToken,
    drain: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let builders = Arc::new(Builders::new());
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
        let watcher = graceful.watcher();
        let builders = builders.clone();
        tokio::spawn(async move {
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
            let app = app.map_request(move |mut request: http::Request<hyper::body::Incoming>| {
                if let Some(certificates) = &certificates {
                    request.extensions_mut().insert(certificates.clone());
                }
                request
            });
            let service = TowerToHyperService::new(app);
            // No upgrades (nothing here switches protocols): an upgradeable HTTP/1 connection
            // sets up an upgrade channel in every request's extensions.
            let connection = builder
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(drain) => tracing::warn!("connections still open after the drain period; closing"),
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
    fn new() -> Self {
        let mut with_client_certificate = builder();
        with_client_certificate.http1().max_headers(MAX_HEADERS);
        Builders {
            // No `max_headers` call: hyper's default limit (100) without its per-request cost.
            without_client_certificate: builder(),
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

fn builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // Many watches share one HTTP/2 connection (informers of one client); kube allows 100+.
    builder.http2().max_concurrent_streams(1000);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // The read buffer must hold the whole header block plus the request line.
        .max_buf_size(MAX_HEADER_BYTES + 64 * 1024);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    builder
}

/// Binds the listener; port 0 picks a free port (tests), reported by `local_addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
