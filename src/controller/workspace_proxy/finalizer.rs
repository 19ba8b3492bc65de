//! The deregistration finalizer: held by a proxy the controller registers in coderd, so that
//! deleting the object removes the proxy from coderd too (garbage collection cannot reach
//! coderd). Added before the first registration, removed once coderd no longer has the proxy.
//!
//! Both patches are JSON patches guarded by a `test` of the finalizer list, so a concurrent
//! change fails them (and is retried) instead of being overwritten.

use kube::ResourceExt;

use super::ProxyContext;
use super::error::{ProxyError, Result};
use crate::api::coder::v1alpha1::CoderWorkspaceProxy;
use crate::controller::finalizer::{adding, held, removing, send};

pub const FINALIZER: &str = "coder.com/workspace-proxy-deregistration";

pub fn holds(obj: &CoderWorkspaceProxy) -> bool {
    held(obj, FINALIZER)
}

pub fn deleting(obj: &CoderWorkspaceProxy) -> bool {
    crate::controller::finalizer::deleting(obj)
}

pub async fn add(ctx: &ProxyContext, obj: &CoderWorkspaceProxy) -> Result<()> {
    let operations = adding(obj, FINALIZER).map_err(ProxyError::Encode)?;
    patch(ctx, obj, "add the finalizer to", operations).await
}

pub async fn remove(ctx: &ProxyContext, obj: &CoderWorkspaceProxy) -> Result<()> {
    let Some(operations) = removing(obj, FINALIZER).map_err(ProxyError::Encode)? else {
        return Ok(());
    };
    patch(ctx, obj, "remove the finalizer from", operations).await
}

async fn patch(
    ctx: &ProxyContext,
    obj: &CoderWorkspaceProxy,
    action: &'static str,
    operations: json_patch::Patch,
) -> Result<()> {
    let namespace = obj
        .namespace()
        .ok_or(ProxyError::MissingObjectKey("metadata.namespace"))?;
    match send::<CoderWorkspaceProxy>(&ctx.client, &namespace, &obj.name_any(), operations).await {
        Ok(()) => Ok(()),
        // Gone already: nothing left to hold or release.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ProxyError::Object {
            action,
            object: format!("CoderWorkspaceProxy {namespace}/{}", obj.name_any()),
            source,
        }),
    }
}
