//! What every kind's finalizer shares: guarded JSON patches adding or removing a finalizer,
//! and sending them ([`change`]). Each kind keeps its own finalizer name, error type and
//! treatment of a refused patch, such as an object that is already gone
//! (`control_plane/finalizer.rs`, `provisioner/finalizer.rs`, `workspace_proxy/finalizer.rs`).
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

use super::error::KindError;
use super::labels::MANAGER;

/// What [`change`] does to a finalizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Add,
    Remove,
}

/// Whether `obj` is being deleted.
pub fn deleting<K: Resource + ?Sized>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Whether `obj` holds `finalizer`.
pub(crate) fn held<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.finalizers().iter().any(|f| f == finalizer)
}

/// The patch adding `finalizer` (the caller checked it is missing), failing if the list moved.
fn adding<K: Resource>(obj: &K, finalizer: &str) -> std::result::Result<json_patch::Patch, String> {
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
fn removing<K: Resource>(
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

/// Adds `finalizer` to `obj` (the caller checked it is missing) or removes it (nothing to do
/// when `obj` does not hold it). A patch the API server refuses goes to `refused` with
/// `namespace/name` of `obj`: each kind names the failure in its own error, or forgives it.
pub(crate) async fn change<K, E>(
    client: &Client,
    obj: &K,
    finalizer: &str,
    change: Change,
    refused: impl FnOnce(String, kube::Error) -> Result<(), E>,
) -> Result<(), E>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    E: KindError,
{
    let operations = match change {
        Change::Add => adding(obj, finalizer).map_err(E::encode)?,
        Change::Remove => match removing(obj, finalizer).map_err(E::encode)? {
            Some(operations) => operations,
            None => return Ok(()),
        },
    };
    let namespace = obj
        .namespace()
        .ok_or(E::missing_object_key("metadata.namespace"))?;
    let name = obj.name_any();
    match send::<K>(client, &namespace, &name, operations).await {
        Ok(()) => Ok(()),
        Err(source) => refused(format!("{namespace}/{name}"), source),
    }
}

/// Sends a finalizer patch as a JSON patch (it never recreates a deleted object).
async fn send<K>(
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
