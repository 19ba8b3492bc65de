//! The key-cleanup finalizer (coder/coder-k8s' name): a CoderProvisioner is not gone until its
//! provisioner key is deleted in coderd, which garbage collection cannot do.
//! The guarded patches are the shared ones of `controller::finalizer`.

use super::context::Context;
use crate::api::coder::v1alpha1::CoderProvisioner;
use crate::controller::error::{Error, Result};
pub use crate::controller::finalizer::deleting;
use crate::controller::finalizer::{Change, change, held};

pub const FINALIZER: &str = "coder.com/provisioner-key-cleanup";

pub fn holds(obj: &CoderProvisioner) -> bool {
    held(obj, FINALIZER)
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add(ctx: &Context, obj: &CoderProvisioner) -> Result<()> {
    change(&ctx.client, obj, FINALIZER, Change::Add, refused("add")).await
}

/// Removes the finalizer, if present.
pub async fn remove(ctx: &Context, obj: &CoderProvisioner) -> Result<()> {
    change(
        &ctx.client,
        obj,
        FINALIZER,
        Change::Remove,
        refused("remove"),
    )
    .await
}

fn refused(action: &'static str) -> impl FnOnce(String, kube::Error) -> Result<()> {
    move |object, source| {
        Err(Error::Finalizer {
            action,
            object: format!("CoderProvisioner {object}"),
            source,
        })
    }
}
