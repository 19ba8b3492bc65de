//! Provided mode (`tokenSecretRef`): check the user's token (an Owner's), reference their
//! Secret. The token is never copied.

use super::secrets;
use super::{Access, Retry, reason};
use crate::coder::CoderClient;
use crate::controller::control_plane::builders::Target;
use crate::controller::error::Result;

/// `tokenSecretRef`: check the user's token (it must belong to an Owner) and point status at
/// their Secret. The token is never copied.
pub async fn check(
    kube: &kube::Client,
    target: &Target<'_>,
    coderd: &CoderClient,
    secret: &str,
    key: &str,
) -> Result<Access> {
    let namespace = target.namespace;
    let where_ = format!("Secret {namespace}/{secret} (spec.operatorAccess.tokenSecretRef)");
    let Some(stored) = secrets::read(kube, namespace, secret).await? else {
        return Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!("{where_} does not exist"),
            Retry::Backoff,
        ));
    };
    let Some(token) = secrets::token(&stored, key) else {
        return Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!("{where_} has no value under key {key:?}"),
            Retry::Backoff,
        ));
    };
    match coderd.with_token(token).me().await {
        Ok(user) if user.is_owner() => Ok(Access::ready(
            reason::TOKEN_PROVIDED,
            format!(
                "the token in {where_} belongs to {}, an Owner of coderd at {}",
                user.username,
                coderd.base_url()
            ),
            (secret, key),
            Retry::Resync,
        )),
        Ok(user) => Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!(
                "the token in {where_} belongs to {}, who is not an Owner; the operator needs \
                 an Owner's token (coder tokens create, as an Owner)",
                user.username
            ),
            Retry::Backoff,
        )),
        Err(error) if error.is_unauthorized() => Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!("coderd rejected the token in {where_}: {error}"),
            Retry::Backoff,
        )),
        Err(error) => Ok(Access::coderd_failed(&error)),
    }
}
