//! The cleanup finalizer, held only while it has work to do.
//!
//! Every child in the object's own namespace carries a controller owner reference, so the
//! garbage collector removes it with the object; only workspace RBAC in *other* namespaces
//! (`spec.rbac.workspaceNamespaces`) needs the controller at deletion. So the finalizer is
//! added before the first such object is created and removed once none is wanted or left. An
//! object without workspace namespaces (the default) never carries it: no extra write per
//! object, and deleting it (or its namespace) does not depend on the controller running.
//!
//! Both patches are JSON patches guarded by a `test` of the finalizer list, so a concurrent
//! change by someone else fails them (and is retried) instead of being overwritten, and a JSON
//! patch never recreates a deleted object.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, TestOperation};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::builders::MANAGER;
use super::context::Context;
use super::error::{Error, Result};
use crate::api::coder::v1alpha1::CoderControlPlane;

/// Holds deletion until RBAC objects in other namespaces (which garbage collection cannot
/// reach) are gone.
pub const FINALIZER: &str = "coder.com/workspace-rbac-cleanup";

pub fn holds(obj: &CoderControlPlane) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add(ctx: &Context, obj: &CoderControlPlane) -> Result<()> {
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
        // The API server does not de-duplicate finalizers: fail if the list moved meanwhile.
        vec![
            test("/metadata/finalizers", serde_json::json!(present))?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers/-")?,
                value: FINALIZER.into(),
            }),
        ]
    };
    patch(ctx, obj, "add", operations).await
}

/// Removes the finalizer (the caller checked it is present).
pub async fn remove(ctx: &Context, obj: &CoderControlPlane) -> Result<()> {
    let Some(index) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    // Finalizers are removed by index: the test makes sure it is still ours at that index.
    let operations = vec![
        test(&path, FINALIZER.into())?,
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&path)?,
        }),
    ];
    patch(ctx, obj, "remove", operations).await
}

async fn patch(
    ctx: &Context,
    obj: &CoderControlPlane,
    action: &'static str,
    operations: Vec<PatchOperation>,
) -> Result<()> {
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<CoderControlPlane> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch(
        &obj.name_any(),
        &params,
        &Patch::Json::<()>(json_patch::Patch(operations)),
    )
    .await
    .map_err(|source| Error::Finalizer {
        action,
        object: format!("{namespace}/{}", obj.name_any()),
        source,
    })?;
    Ok(())
}

fn pointer(path: &str) -> Result<PointerBuf> {
    PointerBuf::parse(path).map_err(|e| Error::Encode(e.to_string()))
}

fn test(path: &str, value: Value) -> Result<PatchOperation> {
    Ok(PatchOperation::Test(TestOperation {
        path: pointer(path)?,
        value,
    }))
}

/// Whether `obj` is being deleted.
pub fn deleting(obj: &CoderControlPlane) -> bool {
    obj.meta().deletion_timestamp.is_some()
}
