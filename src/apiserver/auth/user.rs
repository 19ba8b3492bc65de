//! Who the caller is once authenticated: [`UserInfo`], the anonymous identity and the
//! `system:authenticated` group every authenticated user gets. A leaf of `auth`: every
//! authenticator (`authenticator`, `token`, `requestheader`) builds users with it, and
//! authorization reads them.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The group every authenticated user is in.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";

/// The caller, as authorization and handlers see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..UserInfo::default()
        }
    }
}

/// The one anonymous identity, shared: building it per request would allocate on every call.
pub(super) fn anonymous_user() -> Arc<UserInfo> {
    static ANONYMOUS: std::sync::OnceLock<Arc<UserInfo>> = std::sync::OnceLock::new();
    ANONYMOUS
        .get_or_init(|| Arc::new(UserInfo::anonymous()))
        .clone()
}

/// Every authenticated user is in `system:authenticated` (kube's `AuthenticatedGroupAdder`),
/// unless it already is, or is explicitly unauthenticated.
pub fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user
        .groups
        .iter()
        .any(|g| g == ALL_AUTHENTICATED || g == "system:unauthenticated")
    {
        user.groups.push(ALL_AUTHENTICATED.into());
    }
    user
}
