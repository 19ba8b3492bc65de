//! The label conventions every kind's children share: the managed-by label the controller's
//! watches select on, and the field manager of every server-side apply.

/// `app.kubernetes.io/managed-by` of every child; also the server-side apply field manager.
pub const MANAGER: &str = "coder-k8s";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
