//! Request limits, applied by the request pipeline: at most `--max-requests-inflight` non-watch requests at once
//! (429 with Retry-After beyond that) and a deadline per non-watch request (504). Watches are
//! long-running and exempt from both, as in kube-apiserver.

use std::future::Future;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use crate::apiserver::http::handlers::state::SharedState;
use crate::apiserver::http::request::info::Query;
use crate::apiserver::status::ApiError;

fn is_watch(request: &Request) -> bool {
    // Most requests have no query at all; only parse one that could hold the parameter.
    if !request.uri().query().is_some_and(|q| q.contains("watch")) {
        return false;
    }
    Query::parse(request.uri().query())
        .and_then(|q| q.flag("watch"))
        .unwrap_or(false)
}

/// Serves `request` with `serve` within the limits; `Err` is the refusal (429) or timeout (504).
pub async fn limit<F, Fut, T>(
    state: &SharedState,
    request: Request,
    serve: F,
) -> Result<T, Response>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = T>,
{
    if is_watch(&request) {
        return Ok(serve(request).await);
    }
    let Ok(_permit) = state.inflight.try_acquire() else {
        return Err(ApiError::too_many_requests(1).into_response());
    };
    tokio::time::timeout(state.limits.request_timeout, serve(request))
        .await
        .map_err(|_| ApiError::timeout().into_response())
}
