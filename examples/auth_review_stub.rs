//! A stand-in for kube-apiserver's review APIs, for `hack/bench-auth.sh`: plain HTTP on
//! loopback, answering every TokenReview "authenticated as `bench`" and every
//! SubjectAccessReview "allowed", and counting both (`GET /count`). Benchmarks the apiserver's
//! delegated path (with its caches) without starting a control plane; the review latency of
//! a real kube-apiserver only matters on cache misses, once per TTL.
//!
//! Usage: auth_review_stub <port> <dir> — writes <dir>/review.kubeconfig and <dir>/ca.pem (a
//! throwaway CA for --client-ca-file/--requestheader-client-ca-file, so no ConfigMap is read).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

const TOKEN_REVIEW: &str = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{},"status":{"authenticated":true,"user":{"username":"bench","uid":"1","groups":["bench-group"]}}}"#;
const ACCESS_REVIEW: &str = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{},"status":{"allowed":true}}"#;

#[derive(Default)]
struct Counts {
    token_reviews: AtomicU64,
    access_reviews: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().as_deref().unwrap_or("0").parse()?;
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: auth_review_stub <port> <dir>")?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    std::fs::write(
        dir.join("review.kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: stub, cluster: {{server: 'http://{addr}'}}}}]\n\
             users: [{{name: stub, user: {{token: unused}}}}]\n\
             contexts: [{{name: stub, context: {{cluster: stub, user: stub}}}}]\ncurrent-context: stub\n"
        ),
    )?;
    std::fs::write(
        dir.join("ca.pem"),
        coder_k8s::tls::self_signed(&[])?.trust_pem,
    )?;
    println!("listening on http://{addr}");
    let counts = Arc::new(Counts::default());
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let (tcp, _) = listener.accept().await?;
        let (builder, counts) = (builder.clone(), counts.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let counts = counts.clone();
                async move {
                    let path = request.uri().path();
                    let body = if path.ends_with("/tokenreviews") {
                        counts.token_reviews.fetch_add(1, Ordering::Relaxed);
                        Bytes::from_static(TOKEN_REVIEW.as_bytes())
                    } else if path.ends_with("/subjectaccessreviews") {
                        counts.access_reviews.fetch_add(1, Ordering::Relaxed);
                        Bytes::from_static(ACCESS_REVIEW.as_bytes())
                    } else {
                        Bytes::from(format!(
                            "{} {}\n",
                            counts.token_reviews.load(Ordering::Relaxed),
                            counts.access_reviews.load(Ordering::Relaxed)
                        ))
                    };
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}
