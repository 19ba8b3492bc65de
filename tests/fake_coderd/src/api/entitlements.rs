//! GET /entitlements: enterprise/coderd/coderd.go serveEntitlements. coderd mounts it without
//! the API key middleware: anyone may read the deployment's entitlements (the login page does).

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde_json::Value;

use super::AppState;

/// The entitlements computed from the uploaded licenses and the fake's overrides.
pub async fn get(State(shared): State<AppState>) -> Json<Value> {
    let state = shared.state();
    Json(crate::entitlements::compute(&state, Timestamp::now()).json())
}
