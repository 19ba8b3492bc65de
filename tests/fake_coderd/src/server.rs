//! The listener: an accept loop on 127.0.0.1 whose connections all die with it, so that a
//! stopped fake behaves like a coderd process that went away (connections refused, open ones
//! reset), and the request-level knobs (latency, unavailability, recording).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::ApiError;
use crate::shared::{RecordedRequest, Shared};

/// Serves `app` on `listener` until the returned task is aborted; aborting it drops the listener
/// and every open connection.
pub fn spawn(listener: TcpListener, app: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        // Out of descriptors or the like: back off instead of spinning.
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    };
                    let service = TowerToHyperService::new(app.clone());
                    connections.spawn(async move {
                        // A client that goes away mid-request is not the fake's problem.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

/// Binds 127.0.0.1:`port` (0 = any free port), retrying briefly when the port of a just-stopped
/// server is still held by the OS.
pub async fn bind(port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let mut last_err = None;
    for _ in 0..50 {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => {
                let addr = listener.local_addr()?;
                return Ok((listener, addr));
            }
            Err(e) => {
                last_err = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            }
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("bind failed")))
}

/// Applies the latency and unavailability knobs and records every request with its answer.
pub async fn knobs(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let user = shared.identify(req.headers(), query.as_deref());
    let response = if shared.unavailable.load(Ordering::SeqCst) {
        // What a reverse proxy in front of a down coderd answers: not coderd's JSON.
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            Body::from(
                "503 Service Unavailable: coderd is not reachable (fake-coderd set_unavailable)\n",
            ),
        )
            .into_response()
    } else if let Some(status) = shared.take_fault(&method, &path) {
        injected(status)
    } else {
        next.run(req).await
    };
    shared.record(RecordedRequest {
        method,
        path,
        query,
        user,
        status: response.status().as_u16(),
    });
    response
}

/// The answer of an injected fault: for a 500, httpapi.InternalServerError's body; otherwise a
/// codersdk.Response naming the fault.
fn injected(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let err = if code == StatusCode::INTERNAL_SERVER_ERROR {
        ApiError::new(code, "An internal server error occurred.")
            .detail("fake-coderd: injected fault")
    } else {
        ApiError::new(code, format!("fake-coderd: injected {status}"))
    };
    err.into_response()
}
