//! Provisioner keys: enterprise/coderd/provisionerkeys.go (postProvisionerKey, provisionerKeys,
//! provisionerKeyDaemons, deleteProvisionerKey) behind, in coderd's order, the API key, the
//! organization parameter and RequireFeatureMW(external_provisioner_daemons).
//!
//! Writes need the owner role (coderd: owner or organization admin; the fake has no
//! organization roles); anyone else gets what dbauthz's refusal turns into in these handlers.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, Authed, dbauthz_denied, is_owner, org_param, read_json, require_feature};
use crate::auth::Caller;
use crate::entitlements::EXTERNAL_PROVISIONER_DAEMONS;
use crate::error::{ApiError, ApiResult};
use crate::model::{Organization, ProvisionerKey, State as Db};
use crate::ops;
use crate::sdk_enterprise::{self, RESERVED_KEYS, is_reserved_key};

fn gated(state: &Db, caller: &Caller, org: &str) -> ApiResult<Organization> {
    let org = org_param(state, caller, org)?;
    require_feature(state, EXTERNAL_PROVISIONER_DAEMONS)?;
    Ok(org)
}

#[derive(Deserialize)]
struct CreateProvisionerKeyRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

/// POST /organizations/{org}/provisionerkeys: 201 `{"key": "<secret>"}`, the only time the
/// secret is shown.
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let org = gated(&shared.state(), &caller, &org)?;
    let req: CreateProvisionerKeyRequest = read_json(&body)?;
    ops::check_provisioner_key_name(&req.name)?;
    let mut state = shared.state();
    if !is_owner(&state, caller.user_id) {
        return Err(dbauthz_denied());
    }
    let secret = ops::insert_provisioner_key(
        &mut state,
        Timestamp::now(),
        org.id,
        &req.name,
        req.tags.unwrap_or_default(),
    )?;
    Ok((StatusCode::CREATED, Json(json!({ "key": secret }))).into_response())
}

fn keys_of(state: &Db, org: Uuid) -> Vec<&ProvisionerKey> {
    let mut keys: Vec<&ProvisionerKey> = state
        .provisioner_keys
        .iter()
        .filter(|k| k.organization_id == org)
        .collect();
    keys.sort_by_key(|k| k.created_at);
    keys
}

/// GET /organizations/{org}/provisionerkeys: the organization's keys, oldest first, without
/// the reserved ones.
pub async fn list(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let org = gated(&state, &caller, &org)?;
    Ok(Json(Value::Array(
        keys_of(&state, org.id)
            .into_iter()
            .filter(|k| !is_reserved_key(k.id))
            .map(sdk_enterprise::provisioner_key)
            .collect(),
    )))
}

/// GET /organizations/{org}/provisionerkeys/daemons: codersdk.ProvisionerKeyDaemons per key,
/// the reserved ones included and `user-auth` always (for this organization). The fake runs no
/// daemons: every `daemons` list is empty.
pub async fn daemons(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let org = gated(&state, &caller, &org)?;
    let mut keys: Vec<Value> = keys_of(&state, org.id)
        .into_iter()
        .map(sdk_enterprise::provisioner_key)
        .collect();
    let user_auth = RESERVED_KEYS[1];
    if !keys.iter().any(|k| k["id"] == user_auth.0) {
        keys.push(json!({
            "id": user_auth.0,
            "created_at": "0001-01-01T00:00:00Z",
            "organization": org.id,
            "name": user_auth.1,
            "tags": {},
        }));
    }
    for key in &mut keys {
        if key["id"] == user_auth.0 {
            key["organization"] = json!(org.id);
        }
    }
    Ok(Json(Value::Array(
        keys.into_iter()
            .map(|key| json!({ "key": key, "daemons": [] }))
            .collect(),
    )))
}

/// DELETE /organizations/{org}/provisionerkeys/{name}: 204. The key is found by name, case
/// insensitively; the reserved keys cannot be deleted.
pub async fn delete(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let mut state = shared.state();
    let org = gated(&state, &caller, &org)?;
    let key = state
        .provisioner_keys
        .iter()
        .find(|k| k.organization_id == org.id && k.name.eq_ignore_ascii_case(&name))
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    if is_reserved_key(key.id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Cannot delete reserved '{}' provisioner key", key.name),
        ));
    }
    if !is_owner(&state, caller.user_id) {
        return Err(dbauthz_denied());
    }
    state.provisioner_keys.retain(|k| k.id != key.id);
    Ok(StatusCode::NO_CONTENT)
}
