//! Licenses: enterprise/coderd/licenses.go (postLicense, licenses, deleteLicense). Only owners
//! may add or delete licenses (rbac ResourceLicense); the list is filtered for everyone else.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{AppState, Authed, is_owner, read_json, require_owner};
use crate::error::{ApiError, ApiResult};
use crate::license;
use crate::sdk_enterprise;

#[derive(Deserialize)]
struct AddLicenseRequest {
    // codersdk.AddLicenseRequest: `validate:"required"`.
    #[serde(default)]
    license: String,
}

/// POST /licenses: 201 codersdk.License; a license coderd cannot verify is a 400
/// "Invalid license" whose detail says why.
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    body: Bytes,
) -> ApiResult<Response> {
    {
        let state = shared.state();
        require_owner(&state, caller.user_id)?;
    }
    let req: AddLicenseRequest = read_json(&body)?;
    let mut v = crate::error::Validator::default();
    v.check(!req.license.is_empty(), "license", "required", "");
    v.finish()?;
    let now = Timestamp::now();
    let parsed = license::parse_ignore_nbf(&req.license, now).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "Invalid license").detail(e.to_string())
    })?;
    let mut state = shared.state();
    let stored = crate::ops::insert_license(&mut state, now, &req.license, &parsed)?;
    let body = sdk_enterprise::license(&stored);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// GET /licenses: every stored license, expired ones included, oldest first. coderd encodes an
/// empty result as `null` (a nil slice), also for callers who may not read licenses.
pub async fn list(State(shared): State<AppState>, Authed(caller): Authed) -> Json<Value> {
    let state = shared.state();
    let visible: Vec<Value> = if is_owner(&state, caller.user_id) {
        state.licenses.iter().map(sdk_enterprise::license).collect()
    } else {
        Vec::new()
    };
    Json(if visible.is_empty() {
        Value::Null
    } else {
        Value::Array(visible)
    })
}

/// DELETE /licenses/{id}: 200 with an empty body. The id is the integer `id`, not the uuid:
/// anything else is a 404, checked before authorization.
pub async fn delete(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: i32 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "License ID must be an integer"))?;
    let mut state = shared.state();
    require_owner(&state, caller.user_id)?;
    let before = state.licenses.len();
    state.licenses.retain(|l| l.id != id);
    if state.licenses.len() == before {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Unknown license ID"));
    }
    state.entitlements_refreshed_at = Some(Timestamp::now());
    Ok(StatusCode::OK)
}
