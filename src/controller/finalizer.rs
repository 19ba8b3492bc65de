//! What every kind's finalizer shares: whether an object holds it, and guarded JSON patches
//! adding or removing it ([`add`], [`remove`]). Each kind says, by implementing [`Finalized`],
//! its finalizer's name, its error type and how it treats a refused patch, such as one for an
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

use super::error::KindError;
use super::labels::MANAGER;

/// What a finalizer patch does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
}

impl Change {
    /// `add` or `remove`.
    pub fn verb(self) -> &'static str {
        match self {
            Change::Add => "add",
            Change::Remove => "remove",
        }
    }
}

/// A kind whose objects carry a finalizer of the controller.
pub trait Finalized:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
    const FINALIZER: &'static str;
    type Error: KindError;

    /// The API server refused `change` of the finalizer of `object` (`namespace/name`): the
    /// kind's error for it, or `Ok` where the kind considers the change done anyway.
    fn refused(change: Change, object: String, source: kube::Error) -> Result<(), Self::Error>;
}

/// Whether `obj` is being deleted.
pub fn deleting<K: Resource + ?Sized>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Whether `obj` holds its kind's finalizer.
pub fn holds<K: Finalized>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == K::FINALIZER)
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add<K: Finalized>(client: &Client, obj: &K) -> Result<(), K::Error> {
    change(client, obj, Change::Add).await
}

/// Removes the finalizer, if `obj` holds it.
pub async fn remove<K: Finalized>(client: &Client, obj: &K) -> Result<(), K::Error> {
    change(client, obj, Change::Remove).await
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

async fn change<K: Finalized>(client: &Client, obj: &K, change: Change) -> Result<(), K::Error> {
    let operations = match change {
        Change::Add => adding(obj, K::FINALIZER).map_err(K::Error::encode)?,
        Change::Remove => match removing(obj, K::FINALIZER).map_err(K::Error::encode)? {
            Some(operations) => operations,
            None => return Ok(()),
        },
    };
    let namespace = obj
        .namespace()
        .ok_or(K::Error::missing_object_key("metadata.namespace"))?;
    let name = obj.name_any();
    match send::<K>(client, &namespace, &name, operations).await {
        Ok(()) => Ok(()),
        Err(source) => K::refused(change, format!("{namespace}/{name}"), source),
    }
}

/// Sends a finalizer patch as a JSON patch (it never recreates a deleted object).
async fn send<K: Finalized>(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: json_patch::Patch,
) -> kube::Result<()> {
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
