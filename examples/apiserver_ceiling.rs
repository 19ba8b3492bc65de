//! Benchmark ceiling for `hack/bench.sh`: a bare rustls + hyper server answering every request
//! with one fixed JSON body (`Content-Type: application/json`), with what the aggregated apiserver
//! uses underneath: the same TLS config (`coder_k8s::tls::server_config`: TLS 1.3/1.2, ring, ALPN
//! h2 and http/1.1), the same hyper-util auto builder (HTTP/1.1 or HTTP/2 per connection), the
//! same allocator. It has none of the apiserver's own work (routing, authentication, limits,
//! timeouts, metrics, storage), so whatever it reaches on a machine is the most a Rust TLS JSON
//! server can do there; the apiserver's figures are reported as a ratio of it.
//!
//! Usage: apiserver_ceiling <port> [body-file]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

/// The apiserver's allocator (src/main.rs), with the same compiled-in options.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const DEFAULT_BODY: &str = r#"{"apiVersion":"aggregation.coder.com/v1alpha1","kind":"CoderWorkspace","metadata":{"name":"bench","namespace":"default","resourceVersion":"1"},"spec":{"running":true},"status":{"autoShutdown":"2030-01-01T00:00:00Z"}}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().as_deref().unwrap_or("0").parse()?;
    let body = match args.next() {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(DEFAULT_BODY.as_bytes()),
    };
    let cert = coder_k8s::tls::self_signed(&[])?;
    let tls = tokio_rustls::TlsAcceptor::from(coder_k8s::tls::server_config(&cert, None)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on https://{}", listener.local_addr()?);
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (tls, builder, body) = (tls.clone(), builder.clone(), body.clone());
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |_req| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
