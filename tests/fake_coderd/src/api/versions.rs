//! Template versions: coderd/templateversions.go (postTemplateVersionsByOrganization,
//! templateVersion, patchCancelTemplateVersion, templateVersionsByTemplate,
//! templateVersionByName, patchActiveTemplateVersion).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    AppState, Authed, is_owner, org_param, paginate, parse_pagination, parse_uuid, read_json,
    require_owner, template_param,
};
use crate::error::{ApiError, ApiResult, Validator};
use crate::model::{JobStatus, State as Db};
use crate::names;
use crate::ops::{self, NewVersion};
use crate::sdk;

#[derive(Deserialize)]
struct CreateTemplateVersionRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    template_id: Option<Uuid>,
    #[serde(default)]
    storage_method: String,
    #[serde(default)]
    file_id: Option<Uuid>,
    #[serde(default)]
    example_id: String,
    #[serde(default)]
    provisioner: String,
}

/// POST /organizations/{organization}/templateversions: 201 with the version and its queued
/// import job (status `pending`).
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateTemplateVersionRequest = read_json(&body)?;
    let file_id = req.file_id.filter(|id| !id.is_nil());
    let template_id = req.template_id.filter(|id| !id.is_nil());
    let mut v = Validator::default();
    v.check(
        req.name.is_empty() || names::template_version_name_valid(&req.name),
        "name",
        "template_version_name",
        &req.name,
    );
    v.check(req.message.len() < 1_048_577, "message", "lt", &req.message);
    v.check(
        req.storage_method == "file",
        "storage_method",
        if req.storage_method.is_empty() {
            "required"
        } else {
            "oneof"
        },
        &req.storage_method,
    );
    v.check(
        file_id.is_some() || !req.example_id.is_empty(),
        "file_id",
        "required_without",
        Uuid::nil(),
    );
    v.check(
        file_id.is_some() || !req.example_id.is_empty(),
        "example_id",
        "required_without",
        "",
    );
    v.check(
        req.provisioner == "terraform" || req.provisioner == "echo",
        "provisioner",
        if req.provisioner.is_empty() {
            "required"
        } else {
            "oneof"
        },
        &req.provisioner,
    );
    v.finish()?;
    let mut state = shared.state();
    let org = org_param(&state, &caller, &org)?;
    require_owner(&state, caller.user_id)?;
    if let Some(t) = template_id
        && state.template(t).is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Template does not exist.",
        ));
    }
    if !req.example_id.is_empty() {
        if file_id.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "You cannot specify both an example_id and a file_id.",
            ));
        }
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "Example not found.").detail(format!(
                "example {:?}: fake-coderd ships no examples",
                req.example_id
            )),
        );
    }
    let now = Timestamp::now();
    let id = ops::create_version(
        &mut state,
        now,
        NewVersion {
            organization_id: org.id,
            template_id,
            file_id: file_id.unwrap_or(Uuid::nil()),
            name: Some(req.name),
            message: req.message,
            created_by: caller.user_id,
        },
    )?;
    let version = state.version(id).cloned().ok_or_else(ApiError::not_found)?;
    Ok((
        StatusCode::CREATED,
        Json(sdk::template_version(&state, &version)),
    )
        .into_response())
}

fn visible_version(
    state: &Db,
    caller: &crate::auth::Caller,
    raw: &str,
) -> ApiResult<crate::model::TemplateVersion> {
    let id = parse_uuid("templateversion", raw)?;
    let version = state.version(id).cloned().ok_or_else(ApiError::not_found)?;
    if !is_owner(state, caller.user_id) && !state.is_member(version.organization_id, caller.user_id)
    {
        return Err(ApiError::not_found());
    }
    Ok(version)
}

/// GET /templateversions/{templateversion}.
pub async fn get(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(version): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let version = visible_version(&state, &caller, &version)?;
    Ok(Json(sdk::template_version(&state, &version)))
}

/// GET /templateversions/{templateversion}/logs.
pub async fn logs(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(version): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let version = visible_version(&state, &caller, &version)?;
    let job = state.job(version.job_id).ok_or_else(ApiError::not_found)?;
    super::job_logs(job, &query)
}

/// PATCH /templateversions/{templateversion}/cancel.
pub async fn cancel(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(version): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut state = shared.state();
    let version = visible_version(&state, &caller, &version)?;
    require_owner(&state, caller.user_id)?;
    ops::cancel_job(
        &mut state,
        Timestamp::now(),
        version.job_id,
        StatusCode::PRECONDITION_FAILED,
    )?;
    Ok(Json(
        json!({ "message": "Job has been marked as canceled..." }),
    ))
}

/// GET /templates/{template}/versions: oldest first, paginated; archived versions only with
/// `include_archived=true`.
pub async fn list(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(template): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let page = parse_pagination(&query)?;
    let include_archived = query
        .iter()
        .any(|(k, v)| k == "include_archived" && v == "true");
    let state = shared.state();
    let template = template_param(&state, &caller, &template)?;
    let mut versions: Vec<_> = state
        .template_versions
        .iter()
        .filter(|v| v.template_id == Some(template.id) && (include_archived || !v.archived))
        .cloned()
        .collect();
    versions.sort_by_key(|v| v.created_at);
    let versions = paginate(versions, &page, |v| v.id);
    Ok(Json(Value::Array(
        versions
            .iter()
            .map(|v| sdk::template_version(&state, v))
            .collect(),
    )))
}

/// GET /templates/{template}/versions/{templateversionname}.
pub async fn by_template_and_name(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((template, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let template = template_param(&state, &caller, &template)?;
    let version = state
        .template_versions
        .iter()
        .find(|v| v.template_id == Some(template.id) && v.name == name)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("No template version found by name {name:?}."),
            )
        })?;
    Ok(Json(sdk::template_version(&state, version)))
}

#[derive(Deserialize)]
struct UpdateActiveTemplateVersion {
    #[serde(default)]
    id: Option<Uuid>,
}

/// PATCH /templates/{template}/versions: promote a version. 404 unknown version, 400 a version
/// of another template, 403 a version whose import did not succeed, 400 an archived one.
pub async fn promote(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(template): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: UpdateActiveTemplateVersion = read_json(&body)?;
    let id = req.id.filter(|id| !id.is_nil());
    let mut v = Validator::default();
    v.check(id.is_some(), "id", "required", Uuid::nil());
    v.finish()?;
    let mut state = shared.state();
    let template = template_param(&state, &caller, &template)?;
    require_owner(&state, caller.user_id)?;
    let version = state
        .version(id.unwrap_or(Uuid::nil()))
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Template version not found."))?;
    if version.template_id != Some(template.id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The provided template version doesn't belong to the specified template.",
        ));
    }
    let status = state
        .job(version.job_id)
        .map(|j| j.status())
        .unwrap_or(JobStatus::Pending);
    if status != JobStatus::Succeeded {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Only versions that have been built successfully can be promoted.",
        )
        .detail(format!(
            "Attempted to promote a version with a {} build",
            status.as_str()
        )));
    }
    if version.archived {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The provided template version is archived.",
        ));
    }
    let now = Timestamp::now();
    if let Some(t) = state.templates.iter_mut().find(|t| t.id == template.id) {
        t.active_version_id = version.id;
        t.updated_at = now;
    }
    Ok(Json(
        json!({ "message": "Updated the active template version!" }),
    ))
}
