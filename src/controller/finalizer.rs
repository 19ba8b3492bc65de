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
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;

use super::builders::MANAGER;
use super::context::Context;
use super::error::{Error, Result};
use crate::api::coder::v1alpha1::CoderControlPlane;

/// Holds deletion until RBAC objects in other namespaces (which garbage collection cannot
/// reach) are gone.
pub const FINALIZER: &str = "coder.com/workspace-rbac-cleanup";

pub fn holds(obj: &CoderControlPlane) -> bool {
    held(obj, FINALIZER)
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add(ctx: &Context, obj: &CoderControlPlane) -> Result<()> {
    let operations = adding(obj, FINALIZER).map_err(Error::Encode)?;
    patch(ctx, obj, "add", operations).await
}

/// Removes the finalizer (the caller checked it is present).
pub async fn remove(ctx: &Context, obj: &CoderControlPlane) -> Result<()> {
    let Some(operations) = removing(obj, FINALIZER).map_err(Error::Encode)? else {
        return Ok(());
    };
    patch(ctx, obj, "remove", operations).await
}

async fn patch(
    ctx: &Context,
    obj: &CoderControlPlane,
    action: &'static str,
    operations: json_patch::Patch,
) -> Result<()> {
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    send::<CoderControlPlane>(&ctx.client, &namespace, &obj.name_any(), operations)
        .await
        .map_err(|source| Error::Finalizer {
            action,
            object: format!("{namespace}/{}", obj.name_any()),
            source,
        })
}

/// Whether `obj` is being deleted.
pub fn deleting<K: Resource + ?Sized>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

// What every kind's finalizer shares: the guarded patches and sending them. Each kind keeps its
// own finalizer name, error type and treatment of an object that is already gone.

/// Whether `obj` holds `finalizer`.
pub(crate) fn held<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.finalizers().iter().any(|f| f == finalizer)
}

/// The patch adding `finalizer` (the caller checked it is missing), failing if the list moved.
pub(crate) fn adding<K: Resource>(
    obj: &K,
    finalizer: &str,
) -> std::result::Result<json_patch::Patch, String> {
    let present = obj.finalizers();
    let operations = if present.is_empty() {
        vec![
            test("/metadata/finalizers", Value::Null)?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers")?,
                value: serde_json::json!([finalizer]),
            }),
        ]
    } else {
        // The API server does not de-duplicate finalizers: fail if the list moved meanwhile.
        vec![
            test("/metadata/finalizers", serde_json::json!(present))?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers/-")?,
                value: finalizer.into(),
            }),
        ]
    };
    Ok(json_patch::Patch(operations))
}

/// The patch removing `finalizer`; `None` when `obj` does not hold it.
pub(crate) fn removing<K: Resource>(
    obj: &K,
    finalizer: &str,
) -> std::result::Result<Option<json_patch::Patch>, String> {
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(None);
    };
    let path = format!("/metadata/finalizers/{index}");
    // Finalizers are removed by index: the test makes sure it is still ours at that index.
    Ok(Some(json_patch::Patch(vec![
        test(&path, finalizer.into())?,
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&path)?,
        }),
    ])))
}

/// Sends a finalizer patch as a JSON patch (it never recreates a deleted object).
pub(crate) async fn send<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: json_patch::Patch,
) -> kube::Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Json::<()>(patch)).await?;
    Ok(())
}

fn pointer(path: &str) -> std::result::Result<PointerBuf, String> {
    PointerBuf::parse(path).map_err(|e| e.to_string())
}

fn test(path: &str, value: Value) -> std::result::Result<PatchOperation, String> {
    Ok(PatchOperation::Test(TestOperation {
        path: pointer(path)?,
        value,
    }))
}
