//! The CoderControlPlane kind: reconciles a CoderControlPlane into a running Coder control plane.
pub mod builders;
pub(super) mod context;
mod gateway;
pub(super) mod license;
pub mod operator_access;
mod reconcile;
pub mod status;

pub use context::Context;
pub use reconcile::{error_policy, reconcile};
