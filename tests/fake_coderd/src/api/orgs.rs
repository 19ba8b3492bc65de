//! Organizations: coderd/organizations.go (organizations, organization), coderd/members.go
//! (listMembers), coderd/users.go (organizationsByUser), enterprise/coderd/organizations.go
//! (postOrganizations; the premium license coderd requires for it is not modelled).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{AppState, Authed, is_owner, org_param, read_json, require_owner, user_param};
use crate::error::{ApiError, ApiResult, Validator};
use crate::names;
use crate::ops;
use crate::sdk;

/// GET /organizations: the organizations the caller can read (owners: all).
pub async fn list(State(shared): State<AppState>, Authed(caller): Authed) -> Json<Value> {
    let state = shared.state();
    let owner = is_owner(&state, caller.user_id);
    Json(Value::Array(
        state
            .organizations
            .iter()
            .filter(|o| owner || state.is_member(o.id, caller.user_id))
            .map(sdk::organization)
            .collect(),
    ))
}

/// GET /organizations/{organization}.
pub async fn get(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    Ok(Json(sdk::organization(&org_param(&state, &caller, &org)?)))
}

/// GET /organizations/{organization}/members.
pub async fn members(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let org = org_param(&state, &caller, &org)?;
    Ok(Json(Value::Array(
        state
            .memberships
            .iter()
            .filter(|m| m.organization_id == org.id)
            .filter_map(|m| {
                state
                    .user(m.user_id)
                    .map(|u| sdk::member(org.id, u, m.created_at))
            })
            .collect(),
    )))
}

/// GET /users/{user}/organizations.
pub async fn user_organizations(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    Ok(Json(Value::Array(
        state
            .organizations
            .iter()
            .filter(|o| state.is_member(o.id, user.id))
            .map(sdk::organization)
            .collect(),
    )))
}

#[derive(Deserialize)]
struct CreateOrganizationRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
}

/// POST /organizations (owners): 409 for a taken name; the creator becomes a member.
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateOrganizationRequest = read_json(&body)?;
    let mut v = Validator::default();
    v.check(
        !req.name.is_empty() && names::name_valid(&req.name),
        "name",
        if req.name.is_empty() {
            "required"
        } else {
            "organization_name"
        },
        &req.name,
    );
    v.check(
        names::display_name_valid(&req.display_name),
        "display_name",
        "organization_display_name",
        &req.display_name,
    );
    v.finish()?;
    let mut state = shared.state();
    require_owner(&state, caller.user_id)?;
    if req.name == "default"
        || state
            .organizations
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&req.name))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Organization already exists with that name.",
        ));
    }
    let now = Timestamp::now();
    let display = if req.display_name.is_empty() {
        req.name.clone()
    } else {
        req.display_name.clone()
    };
    let id = ops::insert_organization(&mut state, now, &req.name, &display);
    state.memberships.push(crate::model::Membership {
        organization_id: id,
        user_id: caller.user_id,
        created_at: now,
    });
    let org = state
        .organization(id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(sdk::organization(&org))).into_response())
}
