//! The CoderControlPlane's cleanup finalizer, held only while it has work to do.
//!
//! Every child in the object's own namespace carries a controller owner reference, so the
//! garbage collector removes it with the object; only workspace RBAC in *other* namespaces
//! (`spec.rbac.workspaceNamespaces`) needs the controller at deletion. So the finalizer is
//! added before the first such object is created and removed once none is wanted or left. An
//! object without workspace namespaces (the default) never carries it: no extra write per
//! object, and deleting it (or its namespace) does not depend on the controller running.
//! The guarded patches are the shared ones of `controller::finalizer`.

use super::context::Context;
use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::controller::error::{Error, Result};
pub use crate::controller::finalizer::deleting;
use crate::controller::finalizer::{Change, change, held};

/// Holds deletion until RBAC objects in other namespaces (which garbage collection cannot
/// reach) are gone.
pub const FINALIZER: &str = "coder.com/workspace-rbac-cleanup";

pub fn holds(obj: &CoderControlPlane) -> bool {
    held(obj, FINALIZER)
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add(ctx: &Context, obj: &CoderControlPlane) -> Result<()> {
    change(&ctx.client, obj, FINALIZER, Change::Add, refused("add")).await
}

/// Removes the finalizer (the caller checked it is present).
pub async fn remove(ctx: &Context, obj: &CoderControlPlane) -> Result<()> {
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
            object,
            source,
        })
    }
}
