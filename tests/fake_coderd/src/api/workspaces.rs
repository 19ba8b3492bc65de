//! Workspaces: coderd/workspaces.go (postUserWorkspaces, postWorkspacesByOrganization,
//! createWorkspace, requestTemplate, workspaces, workspace, workspaceByOwnerAndName,
//! putWorkspaceTTL, putWorkspaceAutostart, validWorkspaceTTLMillis, validWorkspaceSchedule).

use std::cmp::Reverse;

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
    AppState, Authed, can_see_workspace, is_owner, org_param, paginate, parse_pagination,
    read_json, user_param, workspace_param,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Validator};
use crate::model::{
    JobStatus, State as Db, Template, Transition, User, Workspace, workspace_status,
};
use crate::names;
use crate::ops::{self, NewWorkspace};
use crate::sdk;
use crate::search;

const MINUTE_MS: i64 = 60_000;
/// ttlMax: 30 days.
const TTL_MAX_MS: i64 = 30 * 24 * 60 * MINUTE_MS;

#[derive(Deserialize)]
struct CreateWorkspaceRequest {
    #[serde(default)]
    template_id: Option<Uuid>,
    #[serde(default)]
    template_version_id: Option<Uuid>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    autostart_schedule: Option<String>,
    #[serde(default)]
    ttl_ms: Option<i64>,
    #[serde(default)]
    automatic_updates: String,
}

/// POST /users/{user}/workspaces.
pub async fn post_user_workspace(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req = read_create(&body)?;
    let mut state = shared.state();
    let owner = user_param(&state, &caller, &user)?;
    create(&mut state, &caller, &owner, req)
}

/// POST /organizations/{organization}/members/{user}/workspaces (deprecated in coderd, still
/// served): the user must be a member of the organization. As in coderd's createWorkspace, the
/// workspace's organization is the template's.
pub async fn post_org_member_workspace(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((org, user)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let req = read_create(&body)?;
    let mut state = shared.state();
    let org = org_param(&state, &caller, &org)?;
    let owner = user_param(&state, &caller, &user)?;
    if !state.is_member(org.id, owner.id) {
        return Err(ApiError::not_found());
    }
    create(&mut state, &caller, &owner, req)
}

/// httpapi.Read with CreateWorkspaceRequest's validate tags.
fn read_create(body: &Bytes) -> ApiResult<CreateWorkspaceRequest> {
    let req: CreateWorkspaceRequest = read_json(body)?;
    let tid = req.template_id.filter(|id| !id.is_nil());
    let vid = req.template_version_id.filter(|id| !id.is_nil());
    let mut v = Validator::default();
    let nil = Uuid::nil();
    v.check(
        tid.is_some() || vid.is_some(),
        "template_id",
        "required_without",
        nil,
    );
    v.check(
        !(tid.is_some() && vid.is_some()),
        "template_id",
        "excluded_with",
        tid.unwrap_or(nil),
    );
    v.check(
        tid.is_some() || vid.is_some(),
        "template_version_id",
        "required_without",
        nil,
    );
    v.check(
        !(tid.is_some() && vid.is_some()),
        "template_version_id",
        "excluded_with",
        vid.unwrap_or(nil),
    );
    v.check(
        names::name_valid(&req.name),
        "name",
        "workspace_name",
        &req.name,
    );
    v.finish()?;
    Ok(req)
}

/// requestTemplate: the template named directly or through a version. Templates the caller
/// may not read look missing, as dbauthz makes them look.
fn request_template(
    state: &Db,
    caller: &Caller,
    req: &CreateWorkspaceRequest,
) -> ApiResult<Template> {
    let mut template_id = req.template_id.filter(|id| !id.is_nil());
    if template_id.is_none() {
        let vid = req.template_version_id.unwrap_or(Uuid::nil());
        let version = state.version(vid).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Template version {:?} doesn't exist.", vid.to_string()),
            )
            .validation("template_version_id", "template not found")
        })?;
        if version.archived {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Archived template versions cannot be used to make a workspace.",
            )
            .validation("template_version_id", "template version archived"));
        }
        template_id = Some(version.template_id.unwrap_or(Uuid::nil()));
    }
    let tid = template_id.unwrap_or(Uuid::nil());
    let missing = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Template {:?} doesn't exist.", tid.to_string()),
        )
        .validation("template_id", "template not found")
    };
    let template = state
        .templates
        .iter()
        .find(|t| t.id == tid)
        .ok_or_else(missing)?;
    if !is_owner(state, caller.user_id)
        && !state.is_member(template.organization_id, caller.user_id)
    {
        return Err(missing());
    }
    if template.deleted {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Template {:?} has been deleted!", template.name),
        ));
    }
    Ok(template.clone())
}

fn create(
    state: &mut Db,
    caller: &Caller,
    owner: &User,
    req: CreateWorkspaceRequest,
) -> ApiResult<Response> {
    let template = request_template(state, caller, &req)?;
    // Owners may create workspaces for anyone (postUserWorkspaces notes this includes users who
    // are in no organization); members only for themselves, in their organizations.
    let may_create = is_owner(state, caller.user_id)
        || (owner.id == caller.user_id && state.is_member(template.organization_id, owner.id));
    if !may_create {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "Unauthorized to create workspace.").detail(
            "You are unable to create a workspace in this organization. It is possible to have access to \
             the template, but not be able to create a workspace. Please contact an administrator about \
             your permissions if you feel this is an error.",
        ));
    }
    if !template.deprecation_message.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Template {:?} has been deprecated, and cannot be used to create a new workspace.",
                template.name
            ),
        )
        .detail(template.deprecation_message.clone()));
    }
    let schedule = valid_schedule(req.autostart_schedule.as_deref()).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "Invalid Autostart Schedule.")
            .validation("schedule", e)
    })?;
    let ttl = valid_ttl(req.ttl_ms, template.default_ttl_ms).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Invalid Workspace Time to Shutdown.",
        )
        .validation("ttl_ms", e)
    })?;
    if !req.automatic_updates.is_empty()
        && req.automatic_updates != "always"
        && req.automatic_updates != "never"
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Invalid Workspace Automatic Updates setting.",
        )
        .validation(
            "automatic_updates",
            format!(
                "invalid automatic update option {:?}",
                req.automatic_updates
            ),
        ));
    }
    let id = ops::create_workspace(
        state,
        Timestamp::now(),
        NewWorkspace {
            owner_id: owner.id,
            template_id: template.id,
            template_version_id: req.template_version_id.filter(|id| !id.is_nil()),
            name: req.name,
            autostart_schedule: schedule,
            ttl_ms: ttl,
            initiator_id: caller.user_id,
        },
    )?;
    let workspace = state
        .workspace(id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(sdk::workspace(state, &workspace))).into_response())
}

/// validWorkspaceTTLMillis: absent or 0 means the template's default (0: no auto-stop);
/// otherwise truncated to the minute and between one minute and 30 days.
pub fn valid_ttl(ttl_ms: Option<i64>, template_default_ms: i64) -> Result<Option<i64>, String> {
    match ttl_ms {
        None | Some(0) => Ok((template_default_ms > 0).then_some(template_default_ms)),
        Some(ms) => {
            let truncated = ms - ms.rem_euclid(MINUTE_MS);
            if truncated < MINUTE_MS {
                Err("time until shutdown must be at least one minute".to_string())
            } else if truncated > TTL_MAX_MS {
                Err("time until shutdown must be less than 30 days".to_string())
            } else {
                Ok(Some(truncated))
            }
        }
    }
}

/// validWorkspaceSchedule (coderd/schedule/cron Weekly): empty means none; otherwise an
/// optional `CRON_TZ=<zone>` prefix and five fields whose day-of-month and month are `*`.
/// Error texts are paraphrased.
pub fn valid_schedule(s: Option<&str>) -> Result<Option<String>, String> {
    let Some(raw) = s.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut rest = raw.trim();
    if let Some(tz) = rest.strip_prefix("CRON_TZ=") {
        let (zone, tail) = tz
            .split_once(' ')
            .ok_or_else(|| format!("parse schedule: missing fields after CRON_TZ in {raw:?}"))?;
        if zone.is_empty() {
            return Err("parse schedule: empty CRON_TZ".to_string());
        }
        rest = tail;
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected schedule to consist of 5 fields with an optional CRON_TZ=<timezone> prefix, got {raw:?}"
        ));
    }
    let numeric = |f: &str, max: u32| {
        f == "*"
            || f.split([',', '-', '/'])
                .all(|p| p.parse::<u32>().is_ok_and(|n| n <= max))
    };
    if !numeric(fields[0], 59) || !numeric(fields[1], 23) {
        return Err(format!("parse schedule: invalid minute or hour in {raw:?}"));
    }
    if fields[2] != "*" || fields[3] != "*" {
        return Err("expected day-of-month and month values to be *".to_string());
    }
    let dow_ok = fields[4] == "*"
        || fields[4].split([',', '-']).all(|p| {
            p.parse::<u32>().is_ok_and(|n| n <= 7)
                || ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
                    .contains(&p.to_lowercase().as_str())
        });
    if !dow_ok {
        return Err(format!("parse schedule: invalid day-of-week in {raw:?}"));
    }
    Ok(Some(raw.to_string()))
}

/// One `key:value` term of a workspace search, as a predicate.
type Filter<'a> = Box<dyn Fn(&Workspace) -> bool + 'a>;

/// The latest build's status, for `status:` filters.
fn status_of(state: &Db, w: &Workspace) -> &'static str {
    match state.latest_build(w.id) {
        Some(b) => state
            .job(b.job_id)
            .map(|j| workspace_status(j.status(), b.transition))
            .unwrap_or("pending"),
        None => "pending",
    }
}

/// coderd orders the list running-first, then by owner and name (case-insensitive).
fn running(state: &Db, w: &Workspace) -> bool {
    state.latest_build(w.id).is_some_and(|b| {
        b.transition == Transition::Start
            && state
                .job(b.job_id)
                .is_some_and(|j| j.status() == JobStatus::Succeeded)
    })
}

/// GET /workspaces?q=...&limit=&offset=: `{workspaces, count}` where count is the number of
/// matches before pagination. The query (coderd/searchquery Workspaces) is lowercased; bare
/// words are `name` or `owner/name`; keys: `owner` (username or `me`), `template` (exact name),
/// `name` (substring), `status`, `id` (comma-separated), `organization` (name or id),
/// `outdated`, `last_used_after`/`last_used_before`, and `has-agent`, `dormant`, `param` (the
/// fake has no agents, dormancy or parameters, so these match nothing when set). Other keys are
/// a 400. Members see their own workspaces, owners everyone's.
pub async fn list(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let page = parse_pagination(&query)?;
    let q = query
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let state = shared.state();
    let invalid_query = |validations: Vec<(String, String)>| {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, "Invalid workspace search query.");
        for (f, d) in validations {
            err = err.validation(f, d);
        }
        err
    };
    let terms = search::parse(&q, |term, terms| {
        let parts: Vec<&str> = term.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [name] => terms.push(("name".into(), name.to_string())),
            [owner, name] => {
                terms.push(("owner".into(), owner.to_string()));
                terms.push(("name".into(), name.to_string()));
            }
            _ => return Err(format!("Query element {term:?} can only contain 1 '/'")),
        }
        Ok(())
    })
    .map_err(invalid_query)?;
    let mut filters: Vec<Filter<'_>> = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (key, value) in terms {
        // url.Values.Get: the first value of a key wins.
        if !seen.insert(key.clone()) || value.is_empty() {
            continue;
        }
        let st = &state;
        match key.as_str() {
            "owner" => {
                let me = caller.user_id;
                filters.push(Box::new(move |w: &Workspace| {
                    if value == "me" {
                        w.owner_id == me
                    } else {
                        st.user(w.owner_id).is_some_and(|u| u.username.to_lowercase() == value)
                    }
                }));
            }
            "template" => filters.push(Box::new(move |w: &Workspace| {
                st.templates.iter().any(|t| t.id == w.template_id && t.name.to_lowercase() == value)
            })),
            "name" => filters.push(Box::new(move |w: &Workspace| w.name.to_lowercase().contains(&value))),
            "status" => {
                const STATUSES: [&str; 10] = [
                    "pending", "starting", "running", "stopping", "stopped", "failed", "canceling",
                    "canceled", "deleting", "deleted",
                ];
                if STATUSES.contains(&value.as_str()) {
                    filters.push(Box::new(move |w: &Workspace| status_of(st, w) == value));
                } else {
                    errors.push(search::invalid("status", &format!("{value:?} is not a valid value")));
                }
            }
            "id" => {
                let ids: Result<Vec<Uuid>, _> = value.split(',').map(|v| Uuid::parse_str(v.trim())).collect();
                match ids {
                    Ok(ids) => filters.push(Box::new(move |w: &Workspace| ids.contains(&w.id))),
                    Err(_) => errors.push(("id".into(), format!("Query param \"id\" has invalid values: {value}"))),
                }
            }
            "organization" => {
                let org = Uuid::parse_str(&value).ok().or_else(|| {
                    st.organizations.iter().find(|o| o.name.to_lowercase() == value).map(|o| o.id)
                });
                match org {
                    Some(org) => filters.push(Box::new(move |w: &Workspace| w.organization_id == org)),
                    None => errors.push(search::invalid(
                        "organization",
                        &format!("organization {value:?} either does not exist, or you are unauthorized to view it"),
                    )),
                }
            }
            "outdated" => match value.parse::<bool>() {
                Ok(want) => filters.push(Box::new(move |w: &Workspace| outdated(st, w) == want)),
                Err(_) => errors.push(("outdated".into(), format!("Query param \"outdated\" must be a valid boolean ({value:?})"))),
            },
            "last_used_after" | "last_used_before" => match value.to_uppercase().parse::<Timestamp>() {
                Ok(t) => {
                    let after = key == "last_used_after";
                    filters.push(Box::new(move |w: &Workspace| if after { w.last_used_at > t } else { w.last_used_at < t }));
                }
                Err(e) => errors.push((key.clone(), format!("Query param {key:?} must be a valid date format (2006-01-02T15:04:05.999999999Z07:00): {e}"))),
            },
            "has-agent" | "param" => filters.push(Box::new(|_: &Workspace| false)),
            "dormant" => {
                if value == "true" {
                    filters.push(Box::new(|_: &Workspace| false));
                }
            }
            other => errors.push(search::excess(other)),
        }
    }
    if !errors.is_empty() {
        return Err(invalid_query(errors));
    }
    let mut matches: Vec<Workspace> = state
        .workspaces
        .iter()
        .filter(|w| !w.deleted && can_see_workspace(&state, &caller, w))
        .filter(|w| filters.iter().all(|f| f(w)))
        .filter(|w| shared.listed(w.id))
        .cloned()
        .collect();
    matches.sort_by_key(|w| {
        (
            Reverse(running(&state, w)),
            state
                .user(w.owner_id)
                .map(|u| u.username.to_lowercase())
                .unwrap_or_default(),
            w.name.to_lowercase(),
        )
    });
    let count = matches.len();
    let page_items = paginate(matches, &page, |w| w.id);
    Ok(Json(json!({
        "workspaces": page_items.iter().map(|w| sdk::workspace(&state, w)).collect::<Vec<_>>(),
        "count": count,
    })))
}

fn outdated(state: &Db, w: &Workspace) -> bool {
    match (
        state.latest_build(w.id),
        state.templates.iter().find(|t| t.id == w.template_id),
    ) {
        (Some(b), Some(t)) => b.template_version_id != t.active_version_id,
        _ => false,
    }
}

fn include_deleted(query: &[(String, String)], field: &str) -> ApiResult<bool> {
    match query.iter().find(|(k, _)| k == "include_deleted") {
        None => Ok(false),
        Some((_, v)) => v.parse::<bool>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Invalid boolean value {v:?} for \"include_deleted\" query param."),
            )
            .validation(field, "Must be a valid boolean")
        }),
    }
}

/// GET /workspaces/{workspace}: a deleted workspace is 410 Gone unless include_deleted=true.
pub async fn get(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(workspace): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let show_deleted = include_deleted(&query, "deleted")?;
    let state = shared.state();
    let workspace = workspace_param(&state, &caller, &workspace)?;
    if workspace.deleted && !show_deleted {
        return Err(ApiError::new(
            StatusCode::GONE,
            format!(
                "Workspace {:?} was deleted, you can view this workspace by specifying '?deleted=true' and trying again.",
                workspace.id.to_string()
            ),
        ));
    }
    Ok(Json(sdk::workspace(&state, &workspace)))
}

/// GET /users/{user}/workspace/{workspacename}: the live workspace of that name, or with
/// include_deleted=true the latest deleted one.
pub async fn workspace_by_owner_and_name(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((user, name)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let show_deleted = include_deleted(&query, "include_deleted")?;
    let state = shared.state();
    let owner = user_param(&state, &caller, &user)?;
    let live = state
        .workspaces
        .iter()
        .find(|w| w.owner_id == owner.id && w.name == name && !w.deleted);
    let found = match live {
        Some(w) => Some(w),
        None if show_deleted => state
            .workspaces
            .iter()
            .filter(|w| w.owner_id == owner.id && w.name == name && w.deleted)
            .max_by_key(|w| w.created_at),
        None => None,
    };
    let workspace = found
        .filter(|w| can_see_workspace(&state, &caller, w))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(sdk::workspace(&state, workspace)))
}

#[derive(Deserialize)]
struct UpdateWorkspaceTtlRequest {
    #[serde(default)]
    ttl_ms: Option<i64>,
}

/// PUT /workspaces/{workspace}/ttl (putWorkspaceTTL): 204. Refused (400, `ttl_ms` validation)
/// when the template disallows user autostop or the value is out of range. Null or 0 disables
/// autostop (no template default here, unlike at creation) and clears the deadline of a latest
/// `start` build; a new TTL leaves the current deadline alone.
pub async fn put_ttl(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(workspace): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: UpdateWorkspaceTtlRequest = read_json(&body)?;
    let mut state = shared.state();
    let workspace = workspace_param(&state, &caller, &workspace)?;
    let refuse = |detail: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Error updating workspace time until shutdown.",
        )
        .validation("ttl_ms", detail)
    };
    let autostop_allowed = state
        .templates
        .iter()
        .find(|t| t.id == workspace.template_id)
        .is_none_or(|t| t.allow_user_autostop);
    if !autostop_allowed {
        return Err(refuse(
            "Custom autostop TTL is not allowed for workspaces using this template.".to_string(),
        ));
    }
    let ttl = valid_ttl(req.ttl_ms, 0).map_err(refuse)?;
    let now = Timestamp::now();
    if let Some(w) = state.workspaces.iter_mut().find(|w| w.id == workspace.id) {
        w.ttl_ms = ttl;
        w.updated_at = now;
    }
    if ttl.is_none() {
        let latest = state
            .latest_build(workspace.id)
            .map(|b| (b.id, b.transition));
        if let Some((id, Transition::Start)) = latest
            && let Some(b) = state.builds.iter_mut().find(|b| b.id == id)
        {
            b.deadline = None;
            b.updated_at = now;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct UpdateWorkspaceAutostartRequest {
    #[serde(default)]
    schedule: Option<String>,
}

/// PUT /workspaces/{workspace}/autostart (putWorkspaceAutostart): 204; an invalid schedule, or a
/// template that disallows user autostart, is a 400 with a `schedule` validation; empty or null
/// clears it.
pub async fn put_autostart(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(workspace): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: UpdateWorkspaceAutostartRequest = read_json(&body)?;
    let mut state = shared.state();
    let workspace = workspace_param(&state, &caller, &workspace)?;
    let schedule = valid_schedule(req.schedule.as_deref()).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "Invalid autostart schedule.")
            .validation("schedule", e)
    })?;
    let autostart_allowed = state
        .templates
        .iter()
        .find(|t| t.id == workspace.template_id)
        .is_none_or(|t| t.allow_user_autostart);
    if !autostart_allowed {
        const NOT_ALLOWED: &str = "Autostart is not allowed for workspaces using this template.";
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, NOT_ALLOWED).validation("schedule", NOT_ALLOWED)
        );
    }
    let now = Timestamp::now();
    if let Some(w) = state.workspaces.iter_mut().find(|w| w.id == workspace.id) {
        w.autostart_schedule = schedule;
        w.updated_at = now;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_follows_coderd() {
        assert_eq!(valid_ttl(None, 0), Ok(None));
        assert_eq!(valid_ttl(Some(0), 3_600_000), Ok(Some(3_600_000)));
        assert_eq!(valid_ttl(Some(90_500), 0), Ok(Some(60_000)));
        assert!(valid_ttl(Some(59_999), 0).is_err());
        assert!(valid_ttl(Some(TTL_MAX_MS + MINUTE_MS), 0).is_err());
    }

    #[test]
    fn schedules_are_weekly_crons() {
        assert_eq!(valid_schedule(Some("")), Ok(None));
        assert!(valid_schedule(Some("CRON_TZ=Europe/Paris 30 9 * * 1-5")).is_ok());
        assert!(valid_schedule(Some("30 9 1 * *")).is_err());
        assert!(valid_schedule(Some("not a cron")).is_err());
    }
}
