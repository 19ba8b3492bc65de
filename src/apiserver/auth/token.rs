//! Bearer tokens through `TokenReview` (kube's delegated token authenticator), with answers —
//! authenticated or not — cached for `--authentication-token-webhook-cache-ttl`; failed calls are
//! not cached. The cache is keyed by the token's SHA-256, so no token is kept in memory.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};

use super::cache::TtlCache;
use super::user::{UserInfo, with_authenticated_group};

#[derive(Debug, thiserror::Error)]
#[error("TokenReview failed: {0}")]
pub struct TokenReviewError(#[source] pub kube::Error);

pub struct TokenAuthenticator {
    api: kube::Api<TokenReview>,
    cache: TtlCache<[u8; 32], Option<Arc<UserInfo>>>,
    ttl: Duration,
}

impl TokenAuthenticator {
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        TokenAuthenticator {
            api: kube::Api::all(client),
            cache: TtlCache::new(10_000),
            ttl,
        }
    }

    /// The token's user (already in `system:authenticated`, so a cached answer is used as is),
    /// `None` when kube-apiserver does not know it.
    pub async fn authenticate(
        &self,
        token: &str,
    ) -> Result<Option<Arc<UserInfo>>, TokenReviewError> {
        let key = sha256(token.as_bytes());
        if let Some(answer) = self.cache.get(&key) {
            return Ok(answer);
        }
        // Boxed: the review's future is large and needed once per TTL; keeping it out of the
        // per-request future keeps every cached request's future small.
        let ttl = self.ttl;
        Box::pin(
            self.cache
                .get_or_fetch(&key, |_| ttl, || self.review(token)),
        )
        .await
    }

    async fn review(&self, token: &str) -> Result<Option<Arc<UserInfo>>, TokenReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let answer = self
            .api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .map_err(TokenReviewError)?;
        let status = answer.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => Some(Arc::new(with_authenticated_group(UserInfo {
                name: user.username.unwrap_or_default(),
                uid: user.uid.unwrap_or_default(),
                groups: user.groups.unwrap_or_default(),
                extra: user.extra.unwrap_or_default(),
            }))),
            _ => None,
        };
        Ok(user)
    }
}

/// The cache key of a token: its SHA-256 (ring's, which rustls already builds).
fn sha256(token: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token).as_ref());
    key
}
