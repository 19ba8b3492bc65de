//! The RBAC objects every kind grants the ServiceAccount its pods run as: each kind writes its
//! own Role rules, and binds them the same way.

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A RoleBinding (with `metadata`) of Role `role` to ServiceAccount `namespace/service_account`.
pub fn bind_role_to_service_account(
    metadata: ObjectMeta,
    role: String,
    service_account: String,
    namespace: &str,
) -> RoleBinding {
    RoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: role,
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: service_account,
            namespace: Some(namespace.to_string()),
            api_group: None,
        }]),
    }
}
