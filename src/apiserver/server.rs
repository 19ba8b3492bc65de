//! The HTTPS listener: accept TCP, finish the TLS handshake, serve HTTP/1.1 or HTTP/2 (by
//! ALPN/preface) with the router. Shutdown stops accepting, lets in-flight requests finish
//! (watches are ended by the same token) and waits for connections to close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::auth::client_cert::ClientCertificates;

/// A slow or silent client must not hold a task forever before it speaks TLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client must finish its request headers within this time, or the connection is closed
/// (kube-apiserver's `ReadHeaderTimeout`, against slowloris clients).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// Serves until `stop` is cancelled, then drains connections for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    stop: CancellationToken,
    drain: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // Many watches share one HTTP/2 connection (informers of one client); kube allows 100+.
    builder.http2().max_concurrent_streams(1000);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    allow_large_headers(&mut builder);
    let builder = Arc::new(builder);
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
        let builder = builder.clone();
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
/// Header fields per request (hyper's default is 100). hyper's HTTP/1 parser sets aside room for
/// this many fields (64 bytes each) on every request, so it is a per-request cost: 8,192 made
/// a GET write 512 KiB and took a fifth of the server's CPU. 1,024 still carries a user in
/// several hundred groups (one `X-Remote-Group` each); HTTP/2 has no count limit.
pub const MAX_HEADERS: usize = 1024;

fn allow_large_headers(builder: &mut Builder<TokioExecutor>) {
    builder
        .http1()
        .max_headers(MAX_HEADERS)
        // The read buffer must hold the whole header block plus the request line.
        .max_buf_size(MAX_HEADER_BYTES + 64 * 1024);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
}

/// Binds the listener; port 0 picks a free port (tests), reported by `local_addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
