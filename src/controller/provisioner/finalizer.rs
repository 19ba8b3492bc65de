//! The key-cleanup finalizer (coder/coder-k8s' name): a CoderProvisioner is not gone until its
//! provisioner key is deleted in coderd, which garbage collection cannot do.
//! The guarded patches are the shared ones of `controller::finalizer`.

use crate::api::coder::v1alpha1::CoderProvisioner;
use crate::controller::error::Error;
use crate::controller::finalizer::{Change, Finalized};
pub use crate::controller::finalizer::{add, deleting, holds, remove};

pub const FINALIZER: &str = "coder.com/provisioner-key-cleanup";

impl Finalized for CoderProvisioner {
    const FINALIZER: &'static str = FINALIZER;
    type Error = Error;

    fn refused(change: Change, object: String, source: kube::Error) -> Result<(), Error> {
        Err(Error::Finalizer {
            action: change.verb(),
            object: format!("CoderProvisioner {object}"),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_an_error_naming_the_provisioner() {
        let gone = kube::Error::Api(Box::new(
            kube::core::Status::failure("boom", "Reason").with_code(404),
        ));
        let error = CoderProvisioner::refused(Change::Remove, "ns/p".into(), gone).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot remove the finalizer of CoderProvisioner ns/p: boom (Reason)"
        );
    }
}
