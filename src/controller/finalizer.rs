//! What every kind's finalizer shares: guarded JSON patches adding or removing a finalizer,
//! and sending them. Each kind keeps its own finalizer name, error type and treatment of an
//! object that is already gone (`control_plane/finalizer.rs`, `provisioner/finalizer.rs`,
//! `workspace_proxy/finalizer.rs`).
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

use super::labels::MANAGER;

/// Whether `obj` is being deleted.
pub fn deleting<K: Resource + ?Sized>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

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
