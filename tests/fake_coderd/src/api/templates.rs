//! Templates: coderd/templates.go (postTemplateByOrganization, templatesByOrganization,
//! fetchTemplates, templateByOrganizationAndName, template, patchTemplateMeta, deleteTemplate).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, Authed, is_owner, org_param, read_json, require_owner, template_param};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Validator};
use crate::model::{State as Db, Template};
use crate::names;
use crate::ops::{self, NewTemplate};
use crate::sdk;
use crate::search;

#[derive(Deserialize)]
struct CreateTemplateRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    icon: String,
    #[serde(default)]
    template_version_id: Option<Uuid>,
    #[serde(default)]
    default_ttl_ms: Option<i64>,
    #[serde(default)]
    allow_user_cancel_workspace_jobs: Option<bool>,
    #[serde(default)]
    allow_user_autostart: Option<bool>,
    #[serde(default)]
    allow_user_autostop: Option<bool>,
}

/// POST /organizations/{organization}/templates: 201 with the template.
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateTemplateRequest = read_json(&body)?;
    let version_id = req.template_version_id.filter(|id| !id.is_nil());
    let mut v = Validator::default();
    v.check(
        names::name_valid(&req.name),
        "name",
        "template_name",
        &req.name,
    );
    v.check(
        names::display_name_valid(&req.display_name),
        "display_name",
        "template_display_name",
        &req.display_name,
    );
    v.check(
        req.description.chars().count() < 128,
        "description",
        "lt",
        &req.description,
    );
    v.check(
        version_id.is_some(),
        "template_version_id",
        "required",
        Uuid::nil(),
    );
    v.finish()?;
    let mut state = shared.state();
    let org = org_param(&state, &caller, &org)?;
    require_owner(&state, caller.user_id)?;
    if req.default_ttl_ms.is_some_and(|ttl| ttl < 0) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "Invalid create template request.")
                .validation("default_ttl_ms", "Must be a positive integer."),
        );
    }
    let id = ops::create_template(
        &mut state,
        Timestamp::now(),
        NewTemplate {
            organization_id: org.id,
            name: req.name,
            display_name: req.display_name,
            description: req.description,
            icon: req.icon,
            version_id: version_id.unwrap_or(Uuid::nil()),
            created_by: caller.user_id,
            default_ttl_ms: req.default_ttl_ms.unwrap_or(0),
            allow_user_cancel_workspace_jobs: req.allow_user_cancel_workspace_jobs.unwrap_or(false),
            allow_user_autostart: req.allow_user_autostart.unwrap_or(true),
            allow_user_autostop: req.allow_user_autostop.unwrap_or(true),
        },
    )?;
    let template = state
        .template(id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(sdk::template(&state, &template))).into_response())
}

/// Live templates the caller can see, in coderd's order (name, then id).
fn visible_templates(state: &Db, caller: &Caller) -> Vec<Template> {
    let owner = is_owner(state, caller.user_id);
    let mut out: Vec<Template> = state
        .templates
        .iter()
        .filter(|t| !t.deleted && (owner || state.is_member(t.organization_id, caller.user_id)))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    out
}

/// GET /organizations/{organization}/templates.
pub async fn list_by_org(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let org = org_param(&state, &caller, &org)?;
    Ok(Json(Value::Array(
        visible_templates(&state, &caller)
            .iter()
            .filter(|t| t.organization_id == org.id && shared.listed(t.id))
            .map(|t| sdk::template(&state, t))
            .collect(),
    )))
}

/// GET /templates?q=...: every template the caller can see. The query (coderd/searchquery
/// Templates) is lowercased; bare words are `name`; keys: `exact_name`, `name` (substring),
/// `organization` (name or id), `deprecated`, `deleted`, `ids` (comma-separated). Other keys
/// are a 400.
pub async fn list_all(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let q = query
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let state = shared.state();
    let invalid_query = |validations: Vec<(String, String)>| {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, "Invalid template search query.");
        for (f, d) in validations {
            err = err.validation(f, d);
        }
        err
    };
    let terms = search::parse(&q, |term, terms| {
        terms.push(("name".into(), term.to_string()));
        Ok(())
    })
    .map_err(invalid_query)?;
    let mut templates = visible_templates(&state, &caller);
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (key, value) in terms {
        if !seen.insert(key.clone()) || value.is_empty() {
            continue;
        }
        match key.as_str() {
            "organization" => {
                let org = Uuid::parse_str(&value).ok().or_else(|| {
                    state
                        .organizations
                        .iter()
                        .find(|o| o.name.to_lowercase() == value)
                        .map(|o| o.id)
                });
                match org {
                    Some(org) => templates.retain(|t| t.organization_id == org),
                    None => errors.push(search::invalid(
                        "organization",
                        &format!("organization {value:?} either does not exist, or you are unauthorized to view it"),
                    )),
                }
            }
            "exact_name" => templates.retain(|t| t.name.to_lowercase() == value),
            "name" => templates.retain(|t| t.name.to_lowercase().contains(&value)),
            "deprecated" => match value.parse::<bool>() {
                Ok(want) => templates.retain(|t| t.deprecation_message.is_empty() != want),
                Err(_) => errors.push((
                    "deprecated".into(),
                    format!("Query param \"deprecated\" must be a valid boolean ({value:?})"),
                )),
            },
            // Deleted templates are never listed by the fake (coderd lists them only to owners
            // asking for `deleted:true`); `deleted:true` therefore matches nothing.
            "deleted" => {
                if value == "true" {
                    templates.clear();
                }
            }
            "ids" => {
                let ids: Result<Vec<Uuid>, _> = value
                    .split(',')
                    .map(|v| Uuid::parse_str(v.trim()))
                    .collect();
                match ids {
                    Ok(ids) => templates.retain(|t| ids.contains(&t.id)),
                    Err(_) => errors.push((
                        "ids".into(),
                        format!("Query param \"ids\" has invalid values: {value}"),
                    )),
                }
            }
            other => errors.push(search::excess(other)),
        }
    }
    if !errors.is_empty() {
        return Err(invalid_query(errors));
    }
    templates.retain(|t| shared.listed(t.id));
    Ok(Json(Value::Array(
        templates.iter().map(|t| sdk::template(&state, t)).collect(),
    )))
}

/// GET /organizations/{organization}/templates/{templatename}.
pub async fn by_org_and_name(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let org = org_param(&state, &caller, &org)?;
    let template = state
        .templates
        .iter()
        .find(|t| !t.deleted && t.organization_id == org.id && t.name == name)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(sdk::template(&state, template)))
}

/// GET /templates/{template}.
pub async fn get(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(template): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let template = template_param(&state, &caller, &template)?;
    Ok(Json(sdk::template(&state, &template)))
}

#[derive(Deserialize)]
struct UpdateTemplateMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    default_ttl_ms: i64,
    #[serde(default)]
    deprecation_message: Option<String>,
    #[serde(default)]
    allow_user_cancel_workspace_jobs: bool,
    #[serde(default)]
    allow_user_autostart: bool,
    #[serde(default)]
    allow_user_autostop: bool,
}

/// PATCH /templates/{template}: 200 with the template, or 304 with no body when nothing
/// changes (the name included: a request without a name is a change). Like coderd's UpdateTemplateMeta, an empty name keeps the name, absent pointer
/// fields (display_name, description, icon, deprecation_message) keep their value, and the plain
/// booleans and default_ttl_ms are always taken from the request.
pub async fn patch(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(template): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: UpdateTemplateMeta = read_json(&body)?;
    let mut v = Validator::default();
    v.check(
        req.name.is_empty() || names::name_valid(&req.name),
        "name",
        "template_name",
        &req.name,
    );
    if let Some(d) = &req.display_name {
        v.check(
            names::display_name_valid(d),
            "display_name",
            "template_display_name",
            d,
        );
    }
    v.finish()?;
    let mut state = shared.state();
    let current = template_param(&state, &caller, &template)?;
    require_owner(&state, caller.user_id)?;
    if req.default_ttl_ms < 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Invalid request to update template metadata!",
        )
        .validation("default_ttl_ms", "Must be a positive integer."));
    }
    let mut next = current.clone();
    if !req.name.is_empty() {
        next.name = req.name.clone();
    }
    if let Some(d) = req.display_name {
        next.display_name = d;
    }
    if let Some(d) = req.description {
        next.description = d;
    }
    if let Some(i) = req.icon {
        next.icon = i;
    }
    if let Some(m) = req.deprecation_message {
        next.deprecation_message = m;
    }
    next.default_ttl_ms = req.default_ttl_ms;
    next.allow_user_cancel_workspace_jobs = req.allow_user_cancel_workspace_jobs;
    next.allow_user_autostart = req.allow_user_autostart;
    next.allow_user_autostop = req.allow_user_autostop;
    // coderd's "nothing changed" test compares the request's name with the template's, so a
    // request without a name always counts as a change.
    let unchanged = req.name == current.name
        && next.display_name == current.display_name
        && next.description == current.description
        && next.icon == current.icon
        && next.deprecation_message == current.deprecation_message
        && next.default_ttl_ms == current.default_ttl_ms
        && next.allow_user_cancel_workspace_jobs == current.allow_user_cancel_workspace_jobs
        && next.allow_user_autostart == current.allow_user_autostart
        && next.allow_user_autostop == current.allow_user_autostop;
    if unchanged {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    if next.name != current.name
        && state.templates.iter().any(|t| {
            !t.deleted
                && t.id != current.id
                && t.organization_id == current.organization_id
                && t.name == next.name
        })
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Template with name {:?} already exists.", next.name),
        )
        .validation("name", "This value is already in use and should be unique."));
    }
    next.updated_at = Timestamp::now();
    if let Some(slot) = state.templates.iter_mut().find(|t| t.id == current.id) {
        *slot = next.clone();
    }
    Ok(Json(sdk::template(&state, &next)).into_response())
}

/// DELETE /templates/{template}: refused with 400 while any (not deleted) workspace uses it.
pub async fn delete(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(template): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut state = shared.state();
    let template = template_param(&state, &caller, &template)?;
    require_owner(&state, caller.user_id)?;
    if state.live_workspaces_of_template(template.id) > 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "All workspaces must be deleted before a template can be removed.",
        ));
    }
    let now = Timestamp::now();
    if let Some(t) = state.templates.iter_mut().find(|t| t.id == template.id) {
        t.deleted = true;
        t.updated_at = now;
    }
    Ok(Json(json!({ "message": "Template has been deleted!" })))
}
