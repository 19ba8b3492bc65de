//! Request limits, applied by the request pipeline: at most `--max-requests-inflight` non-watch requests at once
//! (429 with Retry-After beyond that) and a deadline per non-watch request (504). Watches are
//! long-running and exempt from both, as in kube-apiserver.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::request::Query;
use super::state::SharedState;
use super::status::ApiError;

fn is_watch(request: &Request) -> bool {
    // Most requests have no query at all; only parse one that could hold the parameter.
    if !request.uri().query().is_some_and(|q| q.contains("watch")) {
        return false;
    }
    Query::parse(request.uri().query())
        .and_then(|q| q.flag("watch"))
        .unwrap_or(false)
}

pub async fn limit(state: &SharedState, request: Request, next: Next) -> Response {
    if is_watch(&request) {
        return next.run(request).await;
    }
    let Ok(_permit) = state.inflight.clone().try_acquire_owned() else {
        return ApiError::too_many_requests(1).into_response();
    };
    match tokio::time::timeout(state.limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}
