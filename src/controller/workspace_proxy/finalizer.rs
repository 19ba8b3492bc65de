//! The deregistration finalizer: held by a proxy the controller registers in coderd, so that
//! deleting the object removes the proxy from coderd too (garbage collection cannot reach
//! coderd). Added before the first registration, removed once coderd no longer has the proxy.
//! The guarded patches are the shared ones of `controller::finalizer`.

use super::ProxyContext;
use super::error::{ProxyError, Result};
use crate::api::coder::v1alpha1::CoderWorkspaceProxy;
pub use crate::controller::finalizer::deleting;
use crate::controller::finalizer::{Change, change, held};

pub const FINALIZER: &str = "coder.com/workspace-proxy-deregistration";

pub fn holds(obj: &CoderWorkspaceProxy) -> bool {
    held(obj, FINALIZER)
}

pub async fn add(ctx: &ProxyContext, obj: &CoderWorkspaceProxy) -> Result<()> {
    let refused = refused("add the finalizer to");
    change(&ctx.client, obj, FINALIZER, Change::Add, refused).await
}

pub async fn remove(ctx: &ProxyContext, obj: &CoderWorkspaceProxy) -> Result<()> {
    let refused = refused("remove the finalizer from");
    change(&ctx.client, obj, FINALIZER, Change::Remove, refused).await
}

fn refused(action: &'static str) -> impl FnOnce(String, kube::Error) -> Result<()> {
    move |object, source| match source {
        // Gone already: nothing left to hold or release.
        kube::Error::Api(status) if status.code == 404 => Ok(()),
        source => Err(ProxyError::Object {
            action,
            object: format!("CoderWorkspaceProxy {object}"),
            source,
        }),
    }
}
