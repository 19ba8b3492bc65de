//! Who is calling: a bearer token becomes a Kubernetes client that impersonates its owner.
//!
//! The token is checked with a TokenReview (authentication.k8s.io/v1), made with the server's own
//! identity, which therefore needs `create` on `tokenreviews`. The client made for the reviewed
//! user sends `Impersonate-User` and `Impersonate-Group` on every call, so kube-apiserver (and,
//! behind the aggregator, our apiserver) authorizes each tool call as that user; the server
//! needs `impersonate` on users, groups and serviceaccounts for that, nothing else.
//!
//! Reviews are cached by the SHA-256 of the token for a short TTL, bounded in count, so an
//! agent's burst of calls costs one review. Clients are cached apart, by the identity they
//! impersonate: a token reviewed again after the TTL (or a second token of the same user) reuses
//! the client and its open connections instead of paying a new TLS handshake. The token itself
//! is kept nowhere and never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;

/// Clients kept at once (distinct tokens seen within one TTL); the least recently used go first.
const CACHE_CAPACITY: usize = 1024;

/// The identity tool calls run as, put into each `/mcp` request's extensions.
#[derive(Clone)]
pub struct Caller {
    /// Kubernetes calls made with this client are authorized as [`Self::user`].
    pub client: kube::Client,
    /// The username the calls run as (for logs and `check_health`).
    pub user: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("user", &self.user).finish()
    }
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: send an Authorization: Bearer <token> header")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    #[error("the bearer token was not accepted by the cluster{}", reason_suffix(.0))]
    Rejected(String),
    #[error("reviewing the token with the Kubernetes API failed: {0}")]
    Review(#[source] kube::Error),
    #[error("building the impersonating Kubernetes client failed: {0}")]
    Client(#[source] kube::Error),
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

impl AuthError {
    /// Whether the caller is at fault (401) rather than the server or the cluster (503).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            AuthError::Missing | AuthError::NotBearer | AuthError::Rejected(_)
        )
    }

    /// A short, bounded label for the failures metric.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::NotBearer => "not_bearer",
            AuthError::Rejected(_) => "rejected",
            AuthError::Review(_) => "review_failed",
            AuthError::Client(_) => "client_failed",
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <token>`, scheme case-insensitive.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    let value = std::str::from_utf8(value).map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token)
}

#[derive(Clone)]
struct Cached {
    caller: Caller,
    expires: Instant,
}

/// Reviews tokens and hands out impersonating clients.
pub struct Authenticator {
    /// The server's own client: only for TokenReviews.
    reviewer: kube::Client,
    /// The server's own configuration, copied into each impersonating client.
    base: kube::Config,
    cache: quick_cache::sync::Cache<[u8; 32], Cached>,
    /// Impersonating clients by (username, groups). A client holds no secret of the caller
    /// (only the identity it names), so keeping it past a token's TTL grants nothing: every
    /// use follows a fresh review of the presented token.
    clients: quick_cache::sync::Cache<(String, Vec<String>), kube::Client>,
    ttl: Duration,
}

impl Authenticator {
    pub fn new(reviewer: kube::Client, base: kube::Config, ttl: Duration) -> Arc<Self> {
        Arc::new(Authenticator {
            reviewer,
            base,
            cache: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            clients: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            ttl,
        })
    }

    /// The caller a token stands for.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let key = token_key(token);
        if let Some(cached) = self.cache.get(&key)
            && cached.expires > Instant::now()
        {
            return Ok(cached.caller);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let reviewed = kube::Api::<TokenReview>::all(self.reviewer.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(AuthError::Review)?;
        let status = reviewed.status.unwrap_or_default();
        let user = status.user.unwrap_or_default();
        let username = match user.username {
            Some(name) if status.authenticated == Some(true) && !name.is_empty() => name,
            _ => return Err(AuthError::Rejected(status.error.unwrap_or_default())),
        };
        let identity = (username.clone(), user.groups.unwrap_or_default());
        let client = match self.clients.get(&identity) {
            Some(client) => client,
            None => {
                let client = self.impersonating_client(&identity.0, identity.1.clone())?;
                self.clients.insert(identity, client.clone());
                client
            }
        };
        let caller = Caller {
            client,
            user: username,
        };
        self.cache.insert(
            key,
            Cached {
                caller: caller.clone(),
                expires: Instant::now() + self.ttl,
            },
        );
        Ok(caller)
    }

    /// A client whose every request impersonates `username` in `groups`. Extra fields and the
    /// UID of the reviewed user are not forwarded: impersonating them needs further RBAC
    /// (`userextras/*`, `uids`) and RBAC decisions depend on user and groups only.
    fn impersonating_client(
        &self,
        username: &str,
        groups: Vec<String>,
    ) -> Result<kube::Client, AuthError> {
        let mut config = self.base.clone();
        config.auth_info.impersonate = Some(username.to_string());
        config.auth_info.impersonate_groups = Some(groups);
        kube::Client::try_from(config).map_err(AuthError::Client)
    }
}

/// Cache key of a token: its SHA-256, so the token itself is not kept in memory.
fn token_key(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        assert_eq!(bearer_token(Some(b"Bearer abc.def")).unwrap(), "abc.def");
        assert_eq!(bearer_token(Some(b"bearer  abc ")).unwrap(), "abc");
        assert!(matches!(bearer_token(None), Err(AuthError::Missing)));
        assert!(matches!(
            bearer_token(Some(b"Basic dXNlcjpwYXNz")),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            bearer_token(Some(b"Bearer ")),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            bearer_token(Some(b"Bearer")),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            bearer_token(Some(&[0xff, 0xfe])),
            Err(AuthError::NotBearer)
        ));
    }

    #[test]
    fn failures_split_into_caller_faults_and_server_faults() {
        assert!(AuthError::Missing.is_unauthenticated());
        assert!(AuthError::Rejected("expired".into()).is_unauthenticated());
        let rejected = AuthError::Rejected("token expired".into()).to_string();
        assert!(rejected.ends_with(": token expired"), "{rejected}");
        assert_eq!(
            AuthError::Rejected(String::new()).to_string(),
            "the bearer token was not accepted by the cluster"
        );
    }

    #[test]
    fn cache_keys_are_digests_not_tokens() {
        let key = token_key("secret-token");
        assert_ne!(&key[..12], b"secret-token");
        assert_eq!(key, token_key("secret-token"));
        assert_ne!(key, token_key("secret-token2"));
    }
}
