//! The HTTP routes, each handler in the module of the coderd file it follows.

mod builds;
mod entitlements;
mod files;
mod licenses;
mod orgs;
mod provisionerkeys;
mod templates;
mod users;
mod versions;
mod workspaceproxies;
mod workspaces;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, patch, post, put};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::model::{Role, State, Template, User, Workspace};
use crate::shared::Shared;

pub type AppState = Arc<Shared>;

pub fn router(shared: AppState) -> Router {
    let api = Router::new()
        .route("/buildinfo", get(users::buildinfo))
        .route(
            "/users/first",
            get(users::first_user).post(users::post_first_user),
        )
        .route("/users/login", post(users::login))
        .route("/users/logout", post(users::logout))
        .route("/users", get(users::list_users).post(users::post_user))
        .route("/users/{user}", get(users::get_user))
        .route("/users/{user}/organizations", get(orgs::user_organizations))
        .route("/users/{user}/keys", post(users::post_session_key))
        .route(
            "/users/{user}/keys/tokens",
            get(users::list_tokens).post(users::post_token),
        )
        .route(
            "/users/{user}/keys/tokens/tokenconfig",
            get(users::token_config),
        )
        .route(
            "/users/{user}/keys/tokens/{keyname}",
            get(users::token_by_name),
        )
        .route(
            "/users/{user}/keys/{keyid}",
            get(users::key_by_id).delete(users::delete_key),
        )
        .route(
            "/users/{user}/workspaces",
            post(workspaces::post_user_workspace),
        )
        .route(
            "/users/{user}/workspace/{workspacename}",
            get(workspaces::workspace_by_owner_and_name),
        )
        .route("/organizations", get(orgs::list).post(orgs::post))
        .route("/organizations/{organization}", get(orgs::get))
        .route("/organizations/{organization}/members", get(orgs::members))
        .route(
            "/organizations/{organization}/members/{user}/workspaces",
            post(workspaces::post_org_member_workspace),
        )
        .route(
            "/organizations/{organization}/templateversions",
            post(versions::post),
        )
        .route(
            "/organizations/{organization}/templates",
            get(templates::list_by_org).post(templates::post),
        )
        .route(
            "/organizations/{organization}/templates/{templatename}",
            get(templates::by_org_and_name),
        )
        .route("/files", post(files::post))
        .route("/files/{file}", get(files::get))
        .route("/templateversions/{version}", get(versions::get))
        .route("/templateversions/{version}/logs", get(versions::logs))
        .route(
            "/templateversions/{version}/cancel",
            patch(versions::cancel),
        )
        .route("/templates", get(templates::list_all))
        .route(
            "/templates/{template}",
            get(templates::get)
                .patch(templates::patch)
                .delete(templates::delete),
        )
        .route(
            "/templates/{template}/versions",
            get(versions::list).patch(versions::promote),
        )
        .route(
            "/templates/{template}/versions/{versionname}",
            get(versions::by_template_and_name),
        )
        .route("/workspaces", get(workspaces::list))
        .route("/workspaces/{workspace}", get(workspaces::get))
        .route("/workspaces/{workspace}/ttl", put(workspaces::put_ttl))
        .route(
            "/workspaces/{workspace}/autostart",
            put(workspaces::put_autostart),
        )
        .route(
            "/workspaces/{workspace}/builds",
            get(builds::list).post(builds::post),
        )
        .route("/workspacebuilds/{build}", get(builds::get))
        .route("/workspacebuilds/{build}/logs", get(builds::logs))
        .route("/workspacebuilds/{build}/cancel", patch(builds::cancel))
        .route("/entitlements", get(entitlements::get))
        .route("/licenses", get(licenses::list).post(licenses::post))
        .route("/licenses/{id}", axum::routing::delete(licenses::delete))
        .route(
            "/organizations/{organization}/provisionerkeys",
            get(provisionerkeys::list).post(provisionerkeys::post),
        )
        .route(
            "/organizations/{organization}/provisionerkeys/daemons",
            get(provisionerkeys::daemons),
        )
        .route(
            "/organizations/{organization}/provisionerkeys/{provisionerkey}",
            axum::routing::delete(provisionerkeys::delete),
        )
        .route(
            "/workspaceproxies",
            get(workspaceproxies::list).post(workspaceproxies::post),
        )
        .route(
            "/workspaceproxies/{workspaceproxy}",
            get(workspaceproxies::get)
                .patch(workspaceproxies::patch)
                .delete(workspaceproxies::delete),
        )
        .fallback(route_not_found);
    Router::new()
        .route("/healthz", get(|| async { "OK" }))
        .nest("/api/v2", api)
        .fallback(route_not_found)
        // coderd reads uploads up to its own limit and answers its own error; axum's 2 MB default
        // would answer 413 first.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::server::knobs,
        ))
        .with_state(shared)
}

/// httpapi.RouteNotFound.
async fn route_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Route not found.")
}

/// The authenticated caller of a request (coderd's ExtractAPIKey middleware); rejects with
/// coderd's 401 bodies.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> ApiResult<Authed> {
        let token = auth::token_from_request(&parts.headers, parts.uri.query());
        let mut state = shared.state();
        auth::authenticate(&mut state, Timestamp::now(), token).map(Authed)
    }
}

pub use workspaceproxies::token_valid as workspace_proxy_token_valid;

/// Authenticates a request whose handler must run other middleware first (coderd mounts
/// RequireFeatureMW before the API key middleware on some routes).
pub fn authenticate(
    shared: &Shared,
    headers: &axum::http::HeaderMap,
    query: Option<&str>,
) -> ApiResult<Caller> {
    let token = auth::token_from_request(headers, query);
    let mut state = shared.state();
    auth::authenticate(&mut state, Timestamp::now(), token)
}

/// enterprise/coderd RequireFeatureMW: a feature that is not enabled (not entitled, or
/// switched off) answers 403 before the handler runs.
pub fn require_feature(state: &State, feature: &str) -> ApiResult<()> {
    if crate::entitlements::compute(state, Timestamp::now()).enabled(feature) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a Premium feature. Contact sales!",
                crate::entitlements::humanize(feature)
            ),
        ))
    }
}

/// What a handler answers when coderd's database authorization layer (dbauthz) refuses a
/// write the handler does not map to a status of its own: httpapi.InternalServerError with
/// dbauthz's error text.
pub fn dbauthz_denied() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "An internal server error occurred.",
    )
    .detail("unauthorized: forbidden")
}

/// httpapi.Read: JSON decode errors are 400 "Request body must be valid JSON.".
pub fn read_json<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::invalid_json("EOF"));
    }
    serde_json::from_slice(body).map_err(ApiError::invalid_json)
}

pub fn is_owner(state: &State, user: Uuid) -> bool {
    state.user(user).is_some_and(|u| u.role == Role::Owner)
}

/// Owner-only actions answer httpapi.Forbidden to members (coderd's RBAC).
pub fn require_owner(state: &State, user: Uuid) -> ApiResult<()> {
    if is_owner(state, user) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// httpmw.ParseUUIDParam: a malformed id is a 400.
pub fn parse_uuid(param: &str, raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("Invalid UUID {raw:?}."))
            .detail(format!("invalid {param}: {e}"))
    })
}

/// httpmw.ExtractUserParam (extractUserContext): `me`, a UUID or a username. An unknown user is a
/// 400 with the same message whatever was asked, so nothing leaks about which users exist.
pub fn user_param(state: &State, caller: &Caller, raw: &str) -> ApiResult<User> {
    let found = if raw == "me" {
        return state
            .user(caller.user_id)
            .cloned()
            .ok_or_else(ApiError::not_found);
    } else if let Ok(id) = Uuid::parse_str(raw) {
        state.user(id)
    } else {
        state
            .users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(raw))
    };
    found.cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "\"user\" must be an existing uuid or username.",
        )
        .detail(format!("queried user={raw:?}"))
    })
}

/// httpmw.ExtractOrganizationParam: `default`, a UUID or a name; unknown ones are 404, and so
/// are organizations the caller is not a member of (unless the caller is an owner).
pub fn org_param(
    state: &State,
    caller: &Caller,
    raw: &str,
) -> ApiResult<crate::model::Organization> {
    // "default" (and, for legacy provisioners, the nil UUID) name the default organization.
    let found = if raw == "default" || raw == "00000000-0000-0000-0000-000000000000" {
        state.default_organization()
    } else if let Ok(id) = Uuid::parse_str(raw) {
        state.organization(id)
    } else {
        state
            .organizations
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(raw))
    };
    let org = found.cloned().ok_or_else(ApiError::not_found)?;
    if !is_owner(state, caller.user_id) && !state.is_member(org.id, caller.user_id) {
        return Err(ApiError::not_found());
    }
    Ok(org)
}

/// httpmw.ExtractTemplateParam: a live template the caller can see (members see the templates of
/// their organizations).
pub fn template_param(state: &State, caller: &Caller, raw: &str) -> ApiResult<Template> {
    let id = parse_uuid("template", raw)?;
    let template = state
        .template(id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    if !is_owner(state, caller.user_id)
        && !state.is_member(template.organization_id, caller.user_id)
    {
        return Err(ApiError::not_found());
    }
    Ok(template)
}

/// httpmw.ExtractWorkspaceParam: deleted workspaces are still found (handlers decide); members
/// only see their own.
pub fn workspace_param(state: &State, caller: &Caller, raw: &str) -> ApiResult<Workspace> {
    let id = parse_uuid("workspace", raw)?;
    let workspace = state
        .workspace(id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    if !can_see_workspace(state, caller, &workspace) {
        return Err(ApiError::not_found());
    }
    Ok(workspace)
}

pub fn can_see_workspace(state: &State, caller: &Caller, w: &Workspace) -> bool {
    w.owner_id == caller.user_id || is_owner(state, caller.user_id)
}

/// coderd/pagination.go parsePagination: `limit` and `offset` (non-negative integers) and
/// `after_id`; bad values are a 400 with one validation per parameter, worded as coderd's
/// QueryParamParser words them.
pub struct Page {
    pub after_id: Option<Uuid>,
    pub limit: Option<usize>,
    pub offset: usize,
}

pub fn parse_pagination(query: &[(String, String)]) -> ApiResult<Page> {
    let mut page = Page {
        after_id: None,
        limit: None,
        offset: 0,
    };
    let mut err = ApiError::new(
        StatusCode::BAD_REQUEST,
        "Query parameters have invalid values.",
    );
    let positive = |key: &str, v: &str| -> Result<usize, (String, String)> {
        v.parse::<u64>().map(|n| n as usize).map_err(|e| {
            (
                key.to_string(),
                format!("Query param {key:?} must be a valid positive integer ({e})"),
            )
        })
    };
    for (k, v) in query {
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "limit" => match positive("limit", v) {
                Ok(n) => page.limit = (n > 0).then_some(n),
                Err((f, d)) => err = err.validation(f, d),
            },
            "offset" => match positive("offset", v) {
                Ok(n) => page.offset = n,
                Err((f, d)) => err = err.validation(f, d),
            },
            "after_id" => match Uuid::parse_str(v) {
                Ok(id) => page.after_id = Some(id),
                Err(_) => {
                    err =
                        err.validation("after_id", "Query param \"after_id\" must be a valid uuid")
                }
            },
            _ => {}
        }
    }
    if err.validations.is_empty() {
        Ok(page)
    } else {
        Err(err)
    }
}

/// Applies a page to an ordered list of ids-with-items.
pub fn paginate<T>(items: Vec<T>, page: &Page, id_of: impl Fn(&T) -> Uuid) -> Vec<T> {
    let mut items = items;
    if let Some(after) = page.after_id
        && let Some(pos) = items.iter().position(|i| id_of(i) == after)
    {
        items.drain(..=pos);
    }
    let iter = items.into_iter().skip(page.offset);
    match page.limit {
        Some(limit) => iter.take(limit).collect(),
        None => iter.collect(),
    }
}

/// GET …/logs without `follow` (coderd's provisionerJobLogs): the job's log lines after the id
/// given in `after`. Following (a websocket in coderd) is not modelled: 400.
pub fn job_logs(
    job: &crate::model::Job,
    query: &[(String, String)],
) -> ApiResult<axum::Json<serde_json::Value>> {
    if query.iter().any(|(k, v)| k == "follow" && v != "false") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "fake-coderd does not stream logs (follow).",
        ));
    }
    let after = match query.iter().find(|(k, _)| k == "after") {
        Some((_, v)) => v.parse::<u64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Query param \"after\" must be an integer.",
            )
            .validation("after", "Must be an integer")
        })?,
        None => 0,
    };
    Ok(axum::Json(serde_json::Value::Array(
        crate::sdk::job_logs(job)
            .into_iter()
            .filter(|l| l["id"].as_u64().is_some_and(|id| id > after))
            .collect(),
    )))
}
