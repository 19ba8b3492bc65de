//! The CoderControlPlane's cleanup finalizer, held only while it has work to do.
//!
//! Every child in the object's own namespace carries a controller owner reference, so the
//! garbage collector removes it with the object; only workspace RBAC in *other* namespaces
//! (`spec.rbac.workspaceNamespaces`) needs the controller at deletion. So the finalizer is
//! added before the first such object is created and removed once none is wanted or left. An
//! object without workspace namespaces (the default) never carries it: no extra write per
//! object, and deleting it (or its namespace) does not depend on the controller running.
//! The guarded patches are the shared ones of `controller::finalizer`.

use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::controller::error::Error;
use crate::controller::finalizer::{Change, Finalized};
pub use crate::controller::finalizer::{add, deleting, holds, remove};

/// Holds deletion until RBAC objects in other namespaces (which garbage collection cannot
/// reach) are gone.
pub const FINALIZER: &str = "coder.com/workspace-rbac-cleanup";

impl Finalized for CoderControlPlane {
    const FINALIZER: &'static str = FINALIZER;
    type Error = Error;

    fn refused(change: Change, object: String, source: kube::Error) -> Result<(), Error> {
        Err(Error::Finalizer {
            action: change.verb(),
            object,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_an_error_naming_the_control_plane() {
        let gone = kube::Error::Api(Box::new(
            kube::core::Status::failure("boom", "Reason").with_code(404),
        ));
        let error = CoderControlPlane::refused(Change::Add, "ns/coder".into(), gone).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot add the finalizer of ns/coder: boom (Reason)"
        );
    }
}
