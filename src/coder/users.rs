//! Users, the first-user bootstrap, password login and API tokens (`/api/v2/users/...`).

use std::time::Duration;

use http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::{Body, CoderClient, json, segment};
use super::error::{CoderError, Endpoint};
use super::secret::{Password, SessionToken};

const FIRST_USER_GET: Endpoint = Endpoint::new("GET", "/api/v2/users/first");
const FIRST_USER_POST: Endpoint = Endpoint::new("POST", "/api/v2/users/first");
const LOGIN: Endpoint = Endpoint::new("POST", "/api/v2/users/login");
const USER: Endpoint = Endpoint::new("GET", "/api/v2/users/{user}");
const TOKEN_CREATE: Endpoint = Endpoint::new("POST", "/api/v2/users/{user}/keys/tokens");
const TOKEN_BY_NAME: Endpoint = Endpoint::new("GET", "/api/v2/users/{user}/keys/tokens/{keyname}");
const TOKEN_CONFIG: Endpoint = Endpoint::new("GET", "/api/v2/users/{user}/keys/tokens/tokenconfig");
const KEY_BY_ID: Endpoint = Endpoint::new("GET", "/api/v2/users/{user}/keys/{keyid}");
const KEY_DELETE: Endpoint = Endpoint::new("DELETE", "/api/v2/users/{user}/keys/{keyid}");

/// A role as coderd lists it on a user (`SlimRole`); site-wide roles have no organization.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SlimRole {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub organization_id: String,
}

/// A coderd user (codersdk `User`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub login_type: String,
    #[serde(default)]
    pub organization_ids: Vec<Uuid>,
    #[serde(default)]
    pub roles: Vec<SlimRole>,
}

impl User {
    /// Whether the user holds the site-wide `owner` role (what the operator's token needs).
    pub fn is_owner(&self) -> bool {
        self.roles
            .iter()
            .any(|role| role.name == "owner" && role.organization_id.is_empty())
    }
}

/// The first user of a fresh deployment (codersdk `CreateFirstUserRequest`); it becomes the
/// site owner and a member of the default organization.
#[derive(Clone, Debug, Serialize)]
pub struct CreateFirstUser {
    pub email: String,
    pub username: String,
    pub name: String,
    pub password: Password,
    /// coderd's trial-license request; always false here.
    pub trial: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CreateFirstUserResponse {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

/// An API key's metadata (codersdk `APIKey`); the secret part is never returned again.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ApiKey {
    /// The key id: the part of the token before the `-`.
    pub id: String,
    pub user_id: Uuid,
    #[serde(default)]
    pub token_name: String,
    pub expires_at: Timestamp,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub last_used: Option<Timestamp>,
    #[serde(default)]
    pub login_type: String,
    #[serde(default)]
    pub lifetime_seconds: i64,
}

/// A freshly minted token (codersdk `GenerateAPIKeyResponse`).
#[derive(Clone, Debug, Deserialize)]
pub struct GenerateApiKeyResponse {
    pub key: SessionToken,
}

/// codersdk `TokenConfig`: the longest lifetime this user may give a token (Go duration,
/// nanoseconds). Owners are capped by coderd's `--max-admin-token-lifetime` (default 168h).
#[derive(Deserialize)]
struct TokenConfig {
    max_token_lifetime: i64,
}

#[derive(Serialize)]
struct LoginRequest<'a> {
    email: &'a str,
    password: &'a Password,
}

#[derive(Deserialize)]
struct LoginResponse {
    session_token: SessionToken,
}

#[derive(Serialize)]
struct CreateTokenRequest<'a> {
    /// Go's `time.Duration`: nanoseconds.
    lifetime: i64,
    token_name: &'a str,
}

impl CoderClient {
    /// Whether the deployment has its first user (`GET /api/v2/users/first`: 200 yes, 404 no).
    /// Needs no token.
    pub async fn has_first_user(&self) -> Result<bool, CoderError> {
        let (status, body) = self
            .exchange(FIRST_USER_GET, FIRST_USER_GET.path, Body::Empty)
            .await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(CoderError::from_response(FIRST_USER_GET, status, &body)),
        }
    }

    /// Creates the first user (site owner). coderd refuses (409) once any user exists.
    pub async fn create_first_user(
        &self,
        request: &CreateFirstUser,
    ) -> Result<CreateFirstUserResponse, CoderError> {
        let body = json("the first user", request)?;
        self.call_json(FIRST_USER_POST, FIRST_USER_POST.path, body)
            .await
    }

    /// Password login: a session token for `email`. Needs no token.
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
    ) -> Result<SessionToken, CoderError> {
        let body = json("the login request", &LoginRequest { email, password })?;
        let response: LoginResponse = self.call_json(LOGIN, LOGIN.path, body).await?;
        Ok(response.session_token)
    }

    /// The user the token belongs to.
    pub async fn me(&self) -> Result<User, CoderError> {
        self.user(super::ME).await
    }

    /// A user by username, id or `me`.
    pub async fn user(&self, name_or_id: &str) -> Result<User, CoderError> {
        self.get(USER, &format!("/api/v2/users/{}", segment(name_or_id)))
            .await
    }

    /// Mints an API token named `name` for `user` (username, id or `me`), valid for `lifetime`
    /// (coderd caps it at its `--max-token-lifetime`). Names are unique per user.
    pub async fn create_api_token(
        &self,
        user: &str,
        name: &str,
        lifetime: Duration,
    ) -> Result<GenerateApiKeyResponse, CoderError> {
        let lifetime = i64::try_from(lifetime.as_nanos()).unwrap_or(i64::MAX);
        let body = json(
            "the token request",
            &CreateTokenRequest {
                lifetime,
                token_name: name,
            },
        )?;
        let path = format!("/api/v2/users/{}/keys/tokens", segment(user));
        self.call_json(TOKEN_CREATE, &path, body).await
    }

    /// The longest lifetime `user` may give a new token.
    pub async fn max_token_lifetime(&self, user: &str) -> Result<Duration, CoderError> {
        let path = format!("/api/v2/users/{}/keys/tokens/tokenconfig", segment(user));
        let config: TokenConfig = self.get(TOKEN_CONFIG, &path).await?;
        Ok(Duration::from_nanos(
            u64::try_from(config.max_token_lifetime).unwrap_or(0),
        ))
    }

    /// A token's metadata by its name (includes `expires_at`).
    pub async fn api_token(&self, user: &str, name: &str) -> Result<ApiKey, CoderError> {
        let path = format!(
            "/api/v2/users/{}/keys/tokens/{}",
            segment(user),
            segment(name)
        );
        self.get(TOKEN_BY_NAME, &path).await
    }

    /// A key's metadata by its id (the token's prefix, see [`SessionToken::key_id`]).
    pub async fn api_key(&self, user: &str, id: &str) -> Result<ApiKey, CoderError> {
        let path = format!("/api/v2/users/{}/keys/{}", segment(user), segment(id));
        self.get(KEY_BY_ID, &path).await
    }

    /// Deletes (revokes) a key by id.
    pub async fn delete_api_token(&self, user: &str, id: &str) -> Result<(), CoderError> {
        let path = format!("/api/v2/users/{}/keys/{}", segment(user), segment(id));
        self.call(KEY_DELETE, &path, Body::Empty).await.map(|_| ())
    }
}
