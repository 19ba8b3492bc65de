//! Workspace proxies: enterprise/coderd/workspaceproxy.go (postWorkspaceProxy,
//! workspaceProxies, workspaceProxy, patchWorkspaceProxy, deleteWorkspaceProxy) and
//! httpmw.ExtractWorkspaceProxyParam. coderd mounts RequireFeatureMW(workspace_proxy) on the
//! whole route, before the API key middleware: without the entitlement even an anonymous
//! request gets the 403.
//!
//! Members may read proxies (their role reads ResourceWorkspaceProxy); creating, updating and
//! deleting need the owner role, and a refusal surfaces as each handler maps dbauthz's error.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, authenticate, dbauthz_denied, is_owner, read_json, require_feature};
use crate::auth::Caller;
use crate::entitlements::WORKSPACE_PROXY;
use crate::error::{ApiError, ApiResult, Validator};
use crate::model::{State as Db, WorkspaceProxy};
use crate::sdk_enterprise::{primary_proxy, proxy_response, workspace_proxy};
use crate::shared::Shared;

/// The secret part of a proxy token: 64 hex characters (cryptorand.HexString(64)).
pub const TOKEN_SECRET_LENGTH: usize = 64;

fn gate_then_auth(shared: &Shared, headers: &HeaderMap, uri: &Uri) -> ApiResult<Caller> {
    require_feature(&shared.state(), WORKSPACE_PROXY)?;
    authenticate(shared, headers, uri.query())
}

/// generateWorkspaceProxyToken: `<proxy id>:<64 hex>`, and the sha256 of the secret part.
pub fn new_token(id: Uuid) -> (String, [u8; 32]) {
    let mut bytes = [0u8; TOKEN_SECRET_LENGTH / 2];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS entropy: uuid's generator has its own source.
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = Uuid::new_v4().as_bytes()[i % 16];
        }
    }
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hashed = crate::auth::hash_secret(&secret);
    (format!("{id}:{secret}"), hashed)
}

/// The proxy a `{workspaceproxy}` parameter names: `primary` or the deployment id (the
/// primary), a UUID (deleted proxies too), or a name (live proxies only, exact match).
enum Found {
    Primary(WorkspaceProxy),
    Proxy(WorkspaceProxy),
}

fn proxy_param(state: &Db, raw: &str, now: Timestamp) -> ApiResult<Found> {
    if raw == "primary" || raw == state.deployment_id.to_string() {
        return Ok(Found::Primary(primary_proxy(state, now)));
    }
    let found = if let Ok(id) = Uuid::parse_str(raw) {
        state.workspace_proxies.iter().find(|p| p.id == id)
    } else {
        state
            .workspace_proxies
            .iter()
            .find(|p| !p.deleted && p.name == raw)
    };
    found
        .cloned()
        .map(Found::Proxy)
        .ok_or_else(ApiError::not_found)
}

#[derive(Deserialize)]
struct CreateWorkspaceProxyRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    icon: String,
}

fn name_taken(state: &Db, name: &str, except: Option<Uuid>) -> bool {
    state
        .workspace_proxies
        .iter()
        .any(|p| !p.deleted && Some(p.id) != except && p.name.eq_ignore_ascii_case(name))
}

/// POST /workspaceproxies: 201 codersdk.UpdateWorkspaceProxyResponse (the proxy and its
/// token, shown this once). Names are not validated beyond being present and not `primary`.
pub async fn post(
    State(shared): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Response> {
    let caller = gate_then_auth(&shared, &headers, &uri)?;
    let req: CreateWorkspaceProxyRequest = read_json(&body)?;
    let mut v = Validator::default();
    v.check(!req.name.is_empty(), "name", "required", "");
    v.finish()?;
    if req.name.eq_ignore_ascii_case("primary") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The name \"primary\" is reserved for the primary region.",
        )
        .detail("Cannot name a workspace proxy 'primary'.")
        .validation("name", "Reserved name"));
    }
    let mut state = shared.state();
    if !is_owner(&state, caller.user_id) {
        return Err(dbauthz_denied());
    }
    if name_taken(&state, &req.name, None) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Workspace proxy with name {:?} already exists.", req.name),
        ));
    }
    let now = Timestamp::now();
    let id = Uuid::new_v4();
    let (token, hashed) = new_token(id);
    let proxy = WorkspaceProxy {
        id,
        name: req.name,
        display_name: req.display_name,
        icon: req.icon,
        url: String::new(),
        reachable: false,
        wildcard_hostname: String::new(),
        derp_enabled: true,
        derp_only: false,
        token_hashed_secret: hashed,
        version: String::new(),
        deleted: false,
        created_at: now,
        updated_at: now,
    };
    let body = proxy_response(&proxy, false, &token, now);
    state.workspace_proxies.push(proxy);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// GET /workspaceproxies: codersdk.RegionsResponse `{"regions": [...]}`, the primary first,
/// deleted proxies left out.
pub async fn list(
    State(shared): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    gate_then_auth(&shared, &headers, &uri)?;
    let state = shared.state();
    let now = Timestamp::now();
    let mut regions = vec![workspace_proxy(&primary_proxy(&state, now), true, now)];
    regions.extend(
        state
            .workspace_proxies
            .iter()
            .filter(|p| !p.deleted)
            .map(|p| workspace_proxy(p, false, now)),
    );
    Ok(Json(json!({ "regions": regions })))
}

/// GET /workspaceproxies/{proxy}: codersdk.WorkspaceProxy. By id, a deleted proxy is still
/// found (`"deleted": true`); by name it is gone.
pub async fn get(
    State(shared): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    gate_then_auth(&shared, &headers, &uri)?;
    let state = shared.state();
    let now = Timestamp::now();
    Ok(Json(match proxy_param(&state, &raw, now)? {
        Found::Primary(p) => workspace_proxy(&p, true, now),
        Found::Proxy(p) => workspace_proxy(&p, false, now),
    }))
}

#[derive(Deserialize)]
struct PatchWorkspaceProxy {
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    icon: String,
    #[serde(default)]
    regenerate_token: bool,
}

/// PATCH /workspaceproxies/{proxy}: 200 codersdk.UpdateWorkspaceProxyResponse. codersdk's
/// PatchWorkspaceProxy requires `id`, `name`, `display_name` and `icon` (all of them, every
/// time); the body's `id` is not compared with the path. `regenerate_token` returns a new token
/// and invalidates the old one. The primary proxy keeps its name and only takes a display name
/// and icon.
pub async fn patch(
    State(shared): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = gate_then_auth(&shared, &headers, &uri)?;
    let now = Timestamp::now();
    let found = proxy_param(&shared.state(), &raw, now)?;
    let req: PatchWorkspaceProxy = read_json(&body)?;
    let mut v = Validator::default();
    let id_text = req.id.map(|id| id.to_string()).unwrap_or_default();
    v.check(
        req.id.is_some_and(|id| !id.is_nil()),
        "id",
        "required",
        if id_text.is_empty() {
            Uuid::nil().to_string()
        } else {
            id_text
        },
    );
    v.check(!req.name.is_empty(), "name", "required", "");
    v.check(!req.display_name.is_empty(), "display_name", "required", "");
    v.check(!req.icon.is_empty(), "icon", "required", "");
    v.finish()?;
    let mut state = shared.state();
    let owner = is_owner(&state, caller.user_id);
    match found {
        Found::Primary(primary) => {
            if !req.name.is_empty() && req.name != primary.name {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Cannot update name of default primary proxy, did you mean to update the 'display name'?",
                )
                .validation("name", "Cannot update name of default primary proxy"));
            }
            if !owner {
                return Err(dbauthz_denied());
            }
            state.primary_proxy_display_name = Some(req.display_name);
            state.primary_proxy_icon = Some(req.icon);
            let token = if req.regenerate_token {
                // coderd mints one and never stores it for the primary.
                new_token(primary.id).0
            } else {
                String::new()
            };
            Ok(Json(proxy_response(
                &primary_proxy(&state, now),
                true,
                &token,
                now,
            )))
        }
        Found::Proxy(proxy) => {
            if !owner {
                return Err(ApiError::not_found());
            }
            if name_taken(&state, &req.name, Some(proxy.id)) {
                // No handling of its own in coderd: the unique index surfaces as a 500.
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An internal server error occurred.",
                )
                .detail(
                    "pq: duplicate key value violates unique constraint \
                     \"workspace_proxies_lower_name_idx\"",
                ));
            }
            let Some(stored) = state
                .workspace_proxies
                .iter_mut()
                .find(|p| p.id == proxy.id)
            else {
                return Err(ApiError::not_found());
            };
            stored.name = req.name;
            stored.display_name = req.display_name;
            stored.icon = req.icon;
            stored.updated_at = now;
            let mut token = String::new();
            if req.regenerate_token {
                let (full, hashed) = new_token(stored.id);
                stored.token_hashed_secret = hashed;
                token = full;
            }
            Ok(Json(proxy_response(stored, false, &token, now)))
        }
    }
}

/// DELETE /workspaceproxies/{proxy}: 200 `{"message": "Proxy has been deleted!"}`. The proxy is
/// marked deleted (its name is free again); deleting it again by id succeeds again.
pub async fn delete(
    State(shared): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = gate_then_auth(&shared, &headers, &uri)?;
    let now = Timestamp::now();
    let mut state = shared.state();
    let proxy = match proxy_param(&state, &raw, now)? {
        Found::Primary(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Cannot delete primary proxy",
            ));
        }
        Found::Proxy(p) => p,
    };
    if !is_owner(&state, caller.user_id) {
        return Err(ApiError::not_found());
    }
    if let Some(stored) = state
        .workspace_proxies
        .iter_mut()
        .find(|p| p.id == proxy.id)
    {
        stored.deleted = true;
        stored.updated_at = now;
    }
    Ok(Json(json!({ "message": "Proxy has been deleted!" })))
}

/// Whether `token` authenticates a live proxy (httpmw.ExtractWorkspaceProxy's checks).
pub fn token_valid(state: &Db, token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return false;
    };
    secret.len() == TOKEN_SECRET_LENGTH
        && !secret.contains(':')
        && state.workspace_proxies.iter().any(|p| {
            p.id == id && !p.deleted && p.token_hashed_secret == crate::auth::hash_secret(secret)
        })
}
