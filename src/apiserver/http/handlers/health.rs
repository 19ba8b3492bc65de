//! `/healthz`, `/livez`, `/readyz` in kube-apiserver's format (`ok`, or one `[+]`/`[-]` line per
//! check with `?verbose`). Readiness fails once shutdown starts so load balancers drain first.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

use crate::apiserver::http::handlers::state::SharedState;

#[derive(Debug, serde::Deserialize)]
pub struct Params {
    verbose: Option<String>,
}

fn report(name: &str, checks: &[(&str, bool)], verbose: bool) -> Response {
    let healthy = checks.iter().all(|(_, ok)| *ok);
    let body = if healthy && !verbose {
        "ok".to_string()
    } else {
        let mut body: String = checks
            .iter()
            .map(|(check, ok)| {
                if *ok {
                    format!("[+]{check} ok\n")
                } else {
                    format!("[-]{check} failed: reason withheld\n")
                }
            })
            .collect();
        let verdict = if healthy { "passed" } else { "failed" };
        body.push_str(&format!("{name} check {verdict}\n"));
        body
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

pub async fn livez(Query(p): Query<Params>) -> Response {
    report("livez", &[("ping", true)], p.verbose.is_some())
}

pub async fn healthz(Query(p): Query<Params>) -> Response {
    report("healthz", &[("ping", true)], p.verbose.is_some())
}

/// How long `/readyz` waits for the storage backend before calling it down.
const STORAGE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn readyz(State(state): State<SharedState>, Query(p): Query<Params>) -> Response {
    let storage_ok = matches!(
        tokio::time::timeout(STORAGE_CHECK_TIMEOUT, state.objects.storage_ready()).await,
        Ok(Ok(()))
    );
    report(
        "readyz",
        &[
            ("ping", true),
            ("storage", storage_ok),
            ("shutdown", !state.is_draining()),
        ],
        p.verbose.is_some(),
    )
}

pub async fn metrics(State(state): State<SharedState>) -> Response {
    let count = state.objects.count().await;
    match state.metrics.encode(count, state.objects.history_bytes()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response(),
    }
}
