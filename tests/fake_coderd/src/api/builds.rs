//! Workspace builds: coderd/workspacebuilds.go (postWorkspaceBuilds, workspaceBuild,
//! workspaceBuildsByWorkspaceID, patchCancelWorkspaceBuild), rules from coderd/wsbuilder.

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
    AppState, Authed, can_see_workspace, paginate, parse_pagination, parse_uuid, read_json,
    workspace_param,
};
use crate::error::{ApiError, ApiResult, Validator};
use crate::model::Transition;
use crate::ops::{self, NewBuild};
use crate::sdk;

#[derive(Deserialize)]
struct CreateWorkspaceBuildRequest {
    #[serde(default)]
    transition: String,
    #[serde(default)]
    template_version_id: Option<Uuid>,
}

/// POST /workspaces/{workspace}/builds: 201 with the queued build.
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(workspace): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateWorkspaceBuildRequest = read_json(&body)?;
    let transition = Transition::parse(&req.transition);
    let mut v = Validator::default();
    v.check(
        transition.is_some(),
        "transition",
        if req.transition.is_empty() {
            "required"
        } else {
            "oneof"
        },
        &req.transition,
    );
    v.finish()?;
    let mut state = shared.state();
    let workspace = workspace_param(&state, &caller, &workspace)?;
    let id = ops::create_build(
        &mut state,
        Timestamp::now(),
        NewBuild {
            workspace_id: workspace.id,
            transition: transition.unwrap_or(Transition::Start),
            template_version_id: req.template_version_id.filter(|id| !id.is_nil()),
            initiator_id: caller.user_id,
        },
    )?;
    let build = state.build(id).cloned().ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(sdk::build(&state, &build))).into_response())
}

fn visible_build(
    state: &crate::model::State,
    caller: &crate::auth::Caller,
    raw: &str,
) -> ApiResult<crate::model::WorkspaceBuild> {
    let id = parse_uuid("workspacebuild", raw)?;
    let build = state.build(id).cloned().ok_or_else(ApiError::not_found)?;
    let visible = state
        .workspace(build.workspace_id)
        .is_some_and(|w| can_see_workspace(state, caller, w));
    if visible {
        Ok(build)
    } else {
        Err(ApiError::not_found())
    }
}

/// GET /workspacebuilds/{workspacebuild}.
pub async fn get(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(build): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let build = visible_build(&state, &caller, &build)?;
    Ok(Json(sdk::build(&state, &build)))
}

/// GET /workspacebuilds/{workspacebuild}/logs.
pub async fn logs(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(build): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let build = visible_build(&state, &caller, &build)?;
    let job = state.job(build.job_id).ok_or_else(ApiError::not_found)?;
    super::job_logs(job, &query)
}

/// GET /workspaces/{workspace}/builds: newest first, paginated.
pub async fn list(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(workspace): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let page = parse_pagination(&query)?;
    let state = shared.state();
    let workspace = workspace_param(&state, &caller, &workspace)?;
    let mut builds: Vec<_> = state
        .builds
        .iter()
        .filter(|b| b.workspace_id == workspace.id)
        .cloned()
        .collect();
    builds.sort_by_key(|b| std::cmp::Reverse(b.build_number));
    let builds = paginate(builds, &page, |b| b.id);
    Ok(Json(Value::Array(
        builds.iter().map(|b| sdk::build(&state, b)).collect(),
    )))
}

/// PATCH /workspacebuilds/{workspacebuild}/cancel: 400 once the job is done or already
/// canceled (where the template-version cancel answers 412).
pub async fn cancel(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(build): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut state = shared.state();
    let build = visible_build(&state, &caller, &build)?;
    // verifyUserCanCancelWorkspaceBuilds: owners always, others only when the template allows.
    let allowed = super::is_owner(&state, caller.user_id)
        || state
            .workspace(build.workspace_id)
            .and_then(|w| state.templates.iter().find(|t| t.id == w.template_id))
            .is_some_and(|t| t.allow_user_cancel_workspace_jobs);
    if !allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "User is not allowed to cancel workspace builds. Owner role is required.",
        ));
    }
    ops::cancel_job(
        &mut state,
        Timestamp::now(),
        build.job_id,
        StatusCode::BAD_REQUEST,
    )?;
    Ok(Json(
        json!({ "message": "Job has been marked as canceled..." }),
    ))
}
