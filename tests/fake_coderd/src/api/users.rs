//! Users, login and API keys: coderd/users.go (firstUser, postFirstUser, users, postUser,
//! userByName), coderd/userauth.go (postLogin, postLogout), coderd/apikey.go (postToken,
//! postAPIKey, tokens, apiKeyByName, apiKeyByID, deleteAPIKey).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, Authed, paginate, parse_pagination, read_json, require_owner, user_param};
use crate::auth::{self, NewKey};
use crate::error::{ApiError, ApiResult, Validator};
use crate::model::{KeyKind, Role, UserStatus};
use crate::names;
use crate::ops::{self, NewUser};
use crate::sdk;

/// codersdk DeploymentValues defaults: --session-duration 24h, --default-token-lifetime 7d,
/// --max-token-lifetime 100y+25d, --max-admin-token-lifetime 7d.
const SESSION_DURATION: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs((100 * 365 + 25) * 24 * 3600);
const MAX_ADMIN_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// GET /buildinfo (unauthenticated, like coderd's).
pub async fn buildinfo() -> Json<Value> {
    Json(json!({
        "external_url": "",
        "version": "v2.99.0-fake-coderd",
        "dashboard_url": "",
        "workspace_proxy": false,
        "agent_api_version": "",
        "provisioner_api_version": "",
        "upgrade_message": "",
        "deployment_id": "fake-coderd",
        "telemetry": false,
    }))
}

/// GET /users/first: 404 until the first user exists, then 200.
pub async fn first_user(State(shared): State<AppState>) -> Response {
    let state = shared.state();
    if state.users.is_empty() {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "The initial user has not been created!",
        )
        .into_response()
    } else {
        Json(json!({ "message": "The initial user has already been created!" })).into_response()
    }
}

#[derive(Deserialize)]
struct CreateFirstUserRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// POST /users/first: validation, then 409 once any user exists, then the password strength
/// check; the user becomes an owner and a member of the default organization.
pub async fn post_first_user(State(shared): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateFirstUserRequest = read_json(&body)?;
    let mut v = Validator::default();
    v.check(
        !req.email.is_empty() && names::email_valid(&req.email),
        "email",
        if req.email.is_empty() {
            "required"
        } else {
            "email"
        },
        &req.email,
    );
    v.check(
        !req.username.is_empty() && names::name_valid(&req.username),
        "username",
        if req.username.is_empty() {
            "required"
        } else {
            "username"
        },
        &req.username,
    );
    v.check(
        names::user_real_name_valid(&req.name),
        "name",
        "user_real_name",
        &req.name,
    );
    v.check(
        !req.password.is_empty(),
        "password",
        "required",
        &req.password,
    );
    v.finish()?;
    let mut state = shared.state();
    if !state.users.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "The initial user has already been created.",
        ));
    }
    if let Some(problem) = names::password_problem(&req.password) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "Password not strong enough!")
                .validation("password", problem),
        );
    }
    let now = Timestamp::now();
    ops::ensure_default_org(&mut state, now);
    let org = state
        .default_organization()
        .map(|o| o.id)
        .unwrap_or(Uuid::nil());
    let user_id = ops::insert_user(
        &mut state,
        now,
        NewUser {
            email: &req.email,
            username: &req.username,
            name: &req.name,
            password: Some(&req.password),
            role: Role::Owner,
            organization_ids: &[org],
        },
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user_id": user_id, "organization_id": org })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct LoginRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// POST /users/login (coderd/userauth.go postLogin, loginRequest): a password session of
/// --session-duration (24h), 201 with `session_token`.
pub async fn login(State(shared): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: LoginRequest = read_json(&body)?;
    let mut v = Validator::default();
    v.check(
        !req.email.is_empty() && names::email_valid(&req.email),
        "email",
        if req.email.is_empty() {
            "required"
        } else {
            "email"
        },
        &req.email,
    );
    v.check(
        !req.password.is_empty(),
        "password",
        "required",
        &req.password,
    );
    v.finish()?;
    let mut state = shared.state();
    let incorrect = || ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect email or password.");
    let user = state
        .users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(&req.email))
        .cloned()
        .ok_or_else(incorrect)?;
    let Some(password) = user.password.as_deref() else {
        // A user without a password (login type "none") cannot log in this way.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Incorrect login type, attempting to use \"password\" but user is of login type \"none\"",
        ));
    };
    if password != req.password {
        return Err(incorrect());
    }
    if user.status == UserStatus::Suspended {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Your account is suspended. Contact an admin to reactivate your account.",
        ));
    }
    let token = auth::mint(
        &mut state,
        Timestamp::now(),
        NewKey {
            user_id: user.id,
            kind: KeyKind::Password,
            token_name: String::new(),
            lifetime: SESSION_DURATION,
        },
    );
    Ok((StatusCode::CREATED, Json(json!({ "session_token": token }))).into_response())
}

/// POST /users/logout: deletes the key the request used.
pub async fn logout(State(shared): State<AppState>, Authed(caller): Authed) -> Json<Value> {
    let mut state = shared.state();
    state.api_keys.retain(|k| k.id != caller.key_id);
    Json(json!({ "message": "Logged out!" }))
}

/// GET /users: every user, paginated, with the total count.
pub async fn list_users(
    State(shared): State<AppState>,
    Authed(_caller): Authed,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let page = parse_pagination(&query)?;
    let state = shared.state();
    let mut users = state.users.clone();
    users.sort_by_key(|a| a.username.to_lowercase());
    let count = users.len();
    let users = paginate(users, &page, |u| u.id);
    Ok(Json(json!({
        "users": users.iter().map(|u| sdk::user(&state, u)).collect::<Vec<_>>(),
        "count": count,
    })))
}

#[derive(Deserialize)]
struct CreateUserRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    login_type: String,
    #[serde(default)]
    organization_ids: Option<Vec<Uuid>>,
    /// The older single-organization field, still accepted by coderd.
    #[serde(default)]
    organization_id: Option<Uuid>,
}

/// POST /users (owners only).
pub async fn post_user(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateUserRequest = read_json(&body)?;
    let mut v = Validator::default();
    v.check(
        !req.email.is_empty() && names::email_valid(&req.email),
        "email",
        if req.email.is_empty() {
            "required"
        } else {
            "email"
        },
        &req.email,
    );
    v.check(
        !req.username.is_empty() && names::name_valid(&req.username),
        "username",
        if req.username.is_empty() {
            "required"
        } else {
            "username"
        },
        &req.username,
    );
    v.check(
        names::user_real_name_valid(&req.name),
        "name",
        "user_real_name",
        &req.name,
    );
    v.finish()?;
    let login_type = if req.login_type.is_empty() {
        "password"
    } else {
        req.login_type.as_str()
    };
    if login_type != "password" && !req.password.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Password cannot be set for non-password ({login_type:?}) authentication."),
        ));
    }
    let mut org_ids = req.organization_ids.clone().unwrap_or_default();
    if let Some(id) = req.organization_id
        && !org_ids.contains(&id)
    {
        org_ids.push(id);
    }
    if org_ids.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "No organization specified to place the user as a member of. It is required to specify at least one organization id to place the user in.",
        )
        .detail("required at least 1 value for the array 'organization_ids'")
        .validation("organization_ids", "Missing values, this cannot be empty"));
    }
    let mut state = shared.state();
    if state.users.iter().any(|u| {
        u.username.eq_ignore_ascii_case(&req.username) || u.email.eq_ignore_ascii_case(&req.email)
    }) {
        return Err(ApiError::new(StatusCode::CONFLICT, "User already exists."));
    }
    for id in org_ids.iter_mut() {
        if id.is_nil() {
            // uuid.Nil means the default organization.
            *id = state
                .default_organization()
                .map(|o| o.id)
                .unwrap_or(Uuid::nil());
        } else if state.organization(*id).is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "Organization does not exist with the provided id {:?}.",
                    id.to_string()
                ),
            ));
        }
    }
    let password = match login_type {
        "password" => {
            if let Some(problem) = names::password_problem(&req.password) {
                return Err(
                    ApiError::new(StatusCode::BAD_REQUEST, "Password not strong enough!")
                        .validation("password", problem),
                );
            }
            Some(req.password.as_str())
        }
        "none" => None,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Unsupported login type {other:?} for manually creating new users."),
            ));
        }
    };
    if require_owner(&state, caller.user_id).is_err() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "You are not authorized to create users.",
        ));
    }
    let id = ops::insert_user(
        &mut state,
        Timestamp::now(),
        NewUser {
            email: &req.email,
            username: &req.username,
            name: &req.name,
            password,
            role: Role::Member,
            organization_ids: &org_ids,
        },
    );
    let user = state.user(id).cloned().ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(sdk::user(&state, &user))).into_response())
}

/// GET /users/{user}.
pub async fn get_user(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    Ok(Json(sdk::user(&state, &user)))
}

#[derive(Deserialize)]
struct CreateTokenRequest {
    /// Go time.Duration: nanoseconds.
    #[serde(default)]
    lifetime: i64,
    #[serde(default)]
    token_name: String,
}

/// Go's time.Duration.String() for whole seconds, e.g. `168h0m0s`.
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// POST /users/{user}/keys/tokens: lifetime 0 means the default (7 days); owners may not ask for
/// more than --max-admin-token-lifetime (7 days), members not more than --max-token-lifetime.
pub async fn post_token(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateTokenRequest = read_json(&body)?;
    let mut state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    if user.id != caller.user_id && require_owner(&state, caller.user_id).is_err() {
        return Err(ApiError::forbidden());
    }
    let token_name = if req.token_name.is_empty() {
        format!("fake_token_{}", &Uuid::new_v4().simple().to_string()[..8])
    } else {
        req.token_name.clone()
    };
    let lifetime = if req.lifetime == 0 {
        DEFAULT_TOKEN_LIFETIME
    } else {
        let invalid = |detail: String| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Failed to validate create API key request.",
            )
            .detail(detail)
        };
        if req.lifetime < 0 {
            return Err(invalid(
                "lifetime must be positive number greater than 0".into(),
            ));
        }
        let max = if user.role == Role::Owner {
            MAX_ADMIN_TOKEN_LIFETIME
        } else {
            MAX_TOKEN_LIFETIME
        };
        let asked = Duration::from_nanos(req.lifetime as u64);
        if asked > max {
            return Err(invalid(format!(
                "lifetime must be less than {}",
                go_duration(max)
            )));
        }
        asked
    };
    if state
        .api_keys
        .iter()
        .any(|k| k.user_id == user.id && k.kind == KeyKind::Token && k.token_name == token_name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("A token with name {token_name:?} already exists."),
        )
        .validation("name", "This value is already in use and should be unique."));
    }
    let now = Timestamp::now();
    let token = auth::mint_with_lifetime(
        &mut state,
        now,
        user.id,
        KeyKind::Token,
        token_name,
        lifetime,
    );
    Ok((StatusCode::CREATED, Json(json!({ "key": token }))).into_response())
}

/// POST /users/{user}/keys: a CLI session key of the default token lifetime.
pub async fn post_session_key(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    let mut state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    if user.id != caller.user_id && require_owner(&state, caller.user_id).is_err() {
        return Err(ApiError::forbidden());
    }
    let token = auth::mint_with_lifetime(
        &mut state,
        Timestamp::now(),
        user.id,
        KeyKind::Password,
        String::new(),
        DEFAULT_TOKEN_LIFETIME,
    );
    Ok((StatusCode::CREATED, Json(json!({ "key": token }))).into_response())
}

/// GET /users/{user}/keys/tokens: the user's tokens with their owner's username; like coderd,
/// `null` when there are none.
pub async fn list_tokens(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    let include_all = query.iter().any(|(k, v)| k == "include_all" && v == "true")
        && super::is_owner(&state, caller.user_id);
    let caller_is_owner = super::is_owner(&state, caller.user_id);
    let keys: Vec<Value> = state
        .api_keys
        .iter()
        .filter(|k| k.kind == KeyKind::Token)
        .filter(|k| {
            if include_all {
                true
            } else {
                k.user_id == user.id
            }
        })
        .filter(|k| caller_is_owner || k.user_id == caller.user_id)
        .map(|k| {
            let mut v = sdk::api_key(k);
            v["username"] = json!(
                state
                    .user(k.user_id)
                    .map(|u| u.username.as_str())
                    .unwrap_or("")
            );
            v
        })
        .collect();
    Ok(Json(if keys.is_empty() {
        Value::Null
    } else {
        Value::Array(keys)
    }))
}

/// GET /users/{user}/keys/tokens/tokenconfig: the longest lifetime this user may ask for
/// (nanoseconds): --max-admin-token-lifetime for owners, --max-token-lifetime for others.
pub async fn token_config(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    let max = if user.role == Role::Owner {
        MAX_ADMIN_TOKEN_LIFETIME
    } else {
        MAX_TOKEN_LIFETIME
    };
    Ok(Json(json!({ "max_token_lifetime": max.as_nanos() as u64 })))
}

/// GET /users/{user}/keys/tokens/{keyname}.
pub async fn token_by_name(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((user, keyname)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let user = user_param(&state, &caller, &user)?;
    if user.id != caller.user_id && !super::is_owner(&state, caller.user_id) {
        return Err(ApiError::not_found());
    }
    state
        .api_keys
        .iter()
        .find(|k| k.user_id == user.id && k.kind == KeyKind::Token && k.token_name == keyname)
        .map(|k| Json(sdk::api_key(k)))
        .ok_or_else(ApiError::not_found)
}

/// GET /users/{user}/keys/{keyid}.
pub async fn key_by_id(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((_user, keyid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let state = shared.state();
    let owner = super::is_owner(&state, caller.user_id);
    state
        .api_keys
        .iter()
        .find(|k| k.id == keyid && (owner || k.user_id == caller.user_id))
        .map(|k| Json(sdk::api_key(k)))
        .ok_or_else(ApiError::not_found)
}

/// DELETE /users/{user}/keys/{keyid}: 204, or 404 for an unknown key.
pub async fn delete_key(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    Path((_user, keyid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let mut state = shared.state();
    let owner = super::is_owner(&state, caller.user_id);
    let before = state.api_keys.len();
    state
        .api_keys
        .retain(|k| !(k.id == keyid && (owner || k.user_id == caller.user_id)));
    if state.api_keys.len() == before {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
