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
