//! The key-cleanup finalizer (coder/coder-k8s' name): a CoderProvisioner is not gone until its
//! provisioner key is deleted in coderd, which garbage collection cannot do.
//!
//! Both patches are JSON patches guarded by a `test` of the finalizer list, so a concurrent
//! change by someone else fails them (and is retried) instead of being overwritten.

use kube::ResourceExt;

use super::context::Context;
use crate::api::coder::v1alpha1::CoderProvisioner;
use crate::controller::error::{Error, Result};
use crate::controller::finalizer::{adding, held, removing, send};

pub const FINALIZER: &str = "coder.com/provisioner-key-cleanup";

pub fn holds(obj: &CoderProvisioner) -> bool {
    held(obj, FINALIZER)
}

pub fn deleting(obj: &CoderProvisioner) -> bool {
    crate::controller::finalizer::deleting(obj)
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add(ctx: &Context, obj: &CoderProvisioner) -> Result<()> {
    let operations = adding(obj, FINALIZER).map_err(Error::Encode)?;
    patch(ctx, obj, "add", operations).await
}

/// Removes the finalizer, if present.
pub async fn remove(ctx: &Context, obj: &CoderProvisioner) -> Result<()> {
    let Some(operations) = removing(obj, FINALIZER).map_err(Error::Encode)? else {
        return Ok(());
    };
    patch(ctx, obj, "remove", operations).await
}

async fn patch(
    ctx: &Context,
    obj: &CoderProvisioner,
    action: &'static str,
    operations: json_patch::Patch,
) -> Result<()> {
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    send::<CoderProvisioner>(&ctx.client, &namespace, &obj.name_any(), operations)
        .await
        .map_err(|source| Error::Finalizer {
            action,
            object: format!("CoderProvisioner {namespace}/{}", obj.name_any()),
            source,
        })
}
