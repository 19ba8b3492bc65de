//! The deregistration finalizer: held by a proxy the controller registers in coderd, so that
//! deleting the object removes the proxy from coderd too (garbage collection cannot reach
//! coderd). Added before the first registration, removed once coderd no longer has the proxy.
//!
//! Both patches are JSON patches guarded by a `test` of the finalizer list, so a concurrent
//! change fails them (and is retried) instead of being overwritten.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, TestOperation};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::ProxyContext;
use super::error::{ProxyError, Result};
use crate::api::coder::v1alpha1::CoderWorkspaceProxy;
use crate::controller::builders::MANAGER;

pub const FINALIZER: &str = "coder.com/workspace-proxy-deregistration";

pub fn holds(obj: &CoderWorkspaceProxy) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

pub fn deleting(obj: &CoderWorkspaceProxy) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

pub async fn add(ctx: &ProxyContext, obj: &CoderWorkspaceProxy) -> Result<()> {
    let present = obj.finalizers();
    let operations = if present.is_empty() {
        vec![
            test("/metadata/finalizers", Value::Null)?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers")?,
                value: serde_json::json!([FINALIZER]),
            }),
        ]
    } else {
        vec![
            test("/metadata/finalizers", serde_json::json!(present))?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers/-")?,
                value: FINALIZER.into(),
            }),
        ]
    };
    patch(ctx, obj, "add the finalizer to", operations).await
}

pub async fn remove(ctx: &ProxyContext, obj: &CoderWorkspaceProxy) -> Result<()> {
    let Some(index) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    let operations = vec![
        test(&path, FINALIZER.into())?,
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&path)?,
        }),
    ];
    patch(ctx, obj, "remove the finalizer from", operations).await
}

async fn patch(
    ctx: &ProxyContext,
    obj: &CoderWorkspaceProxy,
    action: &'static str,
    operations: Vec<PatchOperation>,
) -> Result<()> {
    let namespace = obj
        .namespace()
        .ok_or(ProxyError::MissingObjectKey("metadata.namespace"))?;
    let api: Api<CoderWorkspaceProxy> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api
        .patch(
            &obj.name_any(),
            &params,
            &Patch::Json::<()>(json_patch::Patch(operations)),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Gone already: nothing left to hold or release.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ProxyError::Object {
            action,
            object: format!("CoderWorkspaceProxy {namespace}/{}", obj.name_any()),
            source,
        }),
    }
}

fn pointer(path: &str) -> Result<PointerBuf> {
    PointerBuf::parse(path).map_err(|e| ProxyError::Encode(e.to_string()))
}

fn test(path: &str, value: Value) -> Result<PatchOperation> {
    Ok(PatchOperation::Test(TestOperation {
        path: pointer(path)?,
        value,
    }))
}
