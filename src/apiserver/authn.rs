//! Authentication: who is calling. Only `--authentication=none` exists for now (everyone is
//! `system:anonymous`, everything is allowed). The request pipeline (`router::pipeline`) calls it
//! before any handler, so delegated authentication (front-proxy headers, TokenReview) and
//! authorization (SubjectAccessReview) replace it without touching handlers; handlers read the
//! `Arc<UserInfo>` extension.

use std::sync::Arc;

use http::{HeaderMap, header};

use super::status::ApiError;

/// `--authentication` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum AuthenticationMode {
    /// No authentication or authorization: every request is anonymous and allowed.
    #[default]
    None,
}

/// The caller, as later layers (authorization, audit) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}

/// The one anonymous identity, shared: building it per request would allocate on every call.
fn anonymous_user() -> Arc<UserInfo> {
    static ANONYMOUS: std::sync::OnceLock<Arc<UserInfo>> = std::sync::OnceLock::new();
    ANONYMOUS
        .get_or_init(|| Arc::new(UserInfo::anonymous()))
        .clone()
}

/// Whether an Authorization header is well-formed: `Bearer <token>` or `Basic <credentials>`.
/// Tokens are not checked in this mode, but a malformed header is a client bug worth a 401,
/// as kube-apiserver gives for credentials it cannot read.
fn authorization_is_well_formed(value: &str) -> bool {
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let credentials = parts.next().map(str::trim).unwrap_or_default();
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
        && !credentials.is_empty()
}

/// The `none` authenticator: who the caller is, or why the request is refused. A delegated
/// authenticator (front-proxy headers, TokenReview) takes the same place, async.
pub fn authenticate(headers: &HeaderMap) -> Result<Arc<UserInfo>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && !value.to_str().is_ok_and(authorization_is_well_formed)
    {
        return Err(ApiError::unauthorized("Unauthorized"));
    }
    // Impersonation needs an authorizer to decide who may impersonate whom; with none, refuse
    // it like kube-apiserver refuses a user without the impersonate verb.
    if let Some((_, target)) = headers
        .iter()
        .find(|(name, _)| name.as_str().starts_with("impersonate-"))
    {
        let target = target.to_str().unwrap_or_default();
        return Err(ApiError::forbidden(format!(
            "users \"{target}\" is forbidden: User \"system:anonymous\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope: impersonation is not supported with --authentication=none"
        )));
    }
    Ok(anonymous_user())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_forms() {
        assert!(authorization_is_well_formed("Bearer abc"));
        assert!(authorization_is_well_formed("basic dXNlcjpwYXNz"));
        assert!(!authorization_is_well_formed("Bearer "));
        assert!(!authorization_is_well_formed("Token abc"));
    }
}
