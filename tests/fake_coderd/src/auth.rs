//! API keys the way coderd mints and checks them (coderd/apikey/apikey.go Generate,
//! coderd/httpmw/apikey.go ExtractAPIKey / APITokenFromRequest / SplitAPIToken).

use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::{ApiKey, KeyKind, State, UserStatus};

/// coderd/httpmw/apikey.go SignedOutErrorMessage.
pub const SIGNED_OUT: &str =
    "You are signed out or your session has expired. Please sign in again to continue.";

/// The header codersdk sends (codersdk.SessionTokenHeader).
pub const SESSION_TOKEN_HEADER: &str = "Coder-Session-Token";
/// The cookie / query parameter name (codersdk.SessionTokenCookie).
pub const SESSION_TOKEN_COOKIE: &str = "coder_session_token";

pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    // getrandom only fails when the OS has no entropy source; a test double may then fall back
    // to uuid's generator, which has its own.
    if getrandom::fill(&mut bytes).is_err() {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = Uuid::new_v4().as_bytes()[i % 16];
        }
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub struct NewKey {
    pub user_id: Uuid,
    pub kind: KeyKind,
    pub token_name: String,
    pub lifetime: std::time::Duration,
}

/// Mints a key, stores it, and returns the full secret token `<id>-<secret>` (10 + 22 chars).
pub fn mint(state: &mut State, now: Timestamp, new: NewKey) -> String {
    let id = random_alphanumeric(10);
    let secret = random_alphanumeric(22);
    let expires_at = jiff::SignedDuration::try_from(new.lifetime)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX);
    state.api_keys.push(ApiKey {
        id: id.clone(),
        hashed_secret: hash_secret(&secret),
        user_id: new.user_id,
        kind: new.kind,
        token_name: new.token_name,
        lifetime_seconds: i64::try_from(new.lifetime.as_secs()).unwrap_or(i64::MAX),
        expires_at,
        created_at: now,
        updated_at: now,
        last_used: now,
    });
    format!("{id}-{secret}")
}

pub fn mint_with_lifetime(
    state: &mut State,
    now: Timestamp,
    user_id: Uuid,
    kind: KeyKind,
    token_name: String,
    lifetime: std::time::Duration,
) -> String {
    mint(
        state,
        now,
        NewKey {
            user_id,
            kind,
            token_name,
            lifetime,
        },
    )
}

/// Where coderd looks for the token, in its order: cookie, query parameter, header.
/// `Authorization: Bearer` is accepted last (newer coderd accepts RFC 6750 bearer tokens).
pub fn token_from_request(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(cookies) = headers
        .get(http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
    {
        for pair in cookies.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=')
                && name == SESSION_TOKEN_COOKIE
                && !value.is_empty()
            {
                return Some(value.to_string());
            }
        }
    }
    if let Some(query) = query {
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=')
                && name == SESSION_TOKEN_COOKIE
                && !value.is_empty()
            {
                return Some(value.to_string());
            }
        }
    }
    if let Some(v) = headers
        .get(SESSION_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        && !v.is_empty()
    {
        return Some(v.to_string());
    }
    // RFC 6750, after coderd's own ways (httpmw APITokenFromRequest): the bearer header, then
    // the access_token query parameter.
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    bearer.or_else(|| {
        query?.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == "access_token" && !value.is_empty()).then(|| value.to_string())
        })
    })
}

fn split_token(token: &str) -> Result<(&str, &str), String> {
    let parts: Vec<&str> = token.split('-').collect();
    if parts.len() != 2 {
        return Err(format!(
            "incorrect amount of API key parts, expected 2 got {}",
            parts.len()
        ));
    }
    if parts[0].len() != 10 {
        return Err(format!(
            "invalid API key ID length, expected 10 got {}",
            parts[0].len()
        ));
    }
    if parts[1].len() != 22 {
        return Err(format!(
            "invalid API key secret length, expected 22 got {}",
            parts[1].len()
        ));
    }
    Ok((parts[0], parts[1]))
}

/// coderd's 401s carry an RFC 6750 challenge: just the realm when no token came, `invalid_token`
/// otherwise (the error_description wording is the fake's).
fn unauthorized(detail: impl Into<String>) -> ApiError {
    challenge(
        ApiError::new(StatusCode::UNAUTHORIZED, SIGNED_OUT).detail(detail),
        Some("The access token is invalid"),
    )
}

fn challenge(mut err: ApiError, invalid: Option<&str>) -> ApiError {
    err.www_authenticate = Some(match invalid {
        None => "Bearer realm=\"coder\"".to_string(),
        Some(why) => {
            format!("Bearer realm=\"coder\", error=\"invalid_token\", error_description=\"{why}\"")
        }
    });
    err
}

/// Who is calling: the user id and the key id used.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub key_id: String,
}

/// ExtractAPIKey: the checks and the 401 bodies, in coderd's order.
pub fn authenticate(
    state: &mut State,
    now: Timestamp,
    token: Option<String>,
) -> Result<Caller, ApiError> {
    let Some(token) = token else {
        return Err(challenge(
            ApiError::new(StatusCode::UNAUTHORIZED, SIGNED_OUT).detail(format!(
                "Cookie {SESSION_TOKEN_COOKIE:?} or query parameter must be provided."
            )),
            None,
        ));
    };
    let (id, secret) =
        split_token(&token).map_err(|e| unauthorized(format!("Invalid API key format: {e}")))?;
    let Some(key) = state.api_keys.iter_mut().find(|k| k.id == id) else {
        return Err(unauthorized("API key is invalid."));
    };
    if key.hashed_secret != hash_secret(secret) {
        return Err(unauthorized("API key secret is invalid."));
    }
    if key.expires_at < now {
        return Err(challenge(
            ApiError::new(StatusCode::UNAUTHORIZED, SIGNED_OUT).detail(format!(
                "API key expired at {:?}.",
                go_time_string(key.expires_at)
            )),
            Some("The access token has expired"),
        ));
    }
    key.last_used = now;
    // ExtractAPIKey refreshes a key that has lost more than an hour of its lifetime
    // (unless --disable-session-expiry-refresh), tokens included.
    let lifetime = jiff::SignedDuration::from_secs(key.lifetime_seconds);
    let hour = jiff::SignedDuration::from_hours(1);
    if key.expires_at.duration_since(now) <= lifetime - hour
        && let Ok(refreshed) = now.checked_add(lifetime)
    {
        key.expires_at = refreshed;
        key.updated_at = now;
    }
    let (user_id, key_id) = (key.user_id, key.id.clone());
    let Some(user) = state.users.iter_mut().find(|u| u.id == user_id) else {
        return Err(unauthorized("API key is invalid."));
    };
    if user.status != UserStatus::Active {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "User is not active (status = \"suspended\"). Contact an admin to reactivate your account.",
        ));
    }
    user.last_seen_at = now;
    Ok(Caller { user_id, key_id })
}

/// Go's time.Time.String() layout for UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time_string(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string()
}

/// The user behind a token, without side effects (for the request log).
pub fn identify(state: &State, now: Timestamp, token: &str) -> Option<Uuid> {
    let (id, secret) = split_token(token).ok()?;
    let key = state.api_keys.iter().find(|k| k.id == id)?;
    (key.hashed_secret == hash_secret(secret) && key.expires_at >= now).then_some(key.user_id)
}
