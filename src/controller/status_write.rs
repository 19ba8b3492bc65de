//! Writing a kind's status, the same way for every kind: server-side apply on the /status
//! subresource as the controller's field manager, forced, since the controller alone owns status.
//! A status is written only when it changed, judged against the controller's own last write
//! when the cached object does not show it yet ([`freshest`], [`write_changed`]).

use std::borrow::Cow;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::KindError;
use super::labels::MANAGER;
use super::remembered::{WrittenStatus, object_key};

/// `obj` with the status our last write gave it when the cached copy does not show that yet: a
/// reconcile started by a child's event right after the one that wrote the status would
/// otherwise see the old status and write the same status again.
pub fn freshest<'a, K>(written: &WrittenStatus<K::Status>, obj: &'a K) -> Cow<'a, K>
where
    K: HasStatus + Resource + Clone,
    K::Status: Clone + PartialEq,
{
    let uid = obj.uid().unwrap_or_default();
    match written.newer_than(&object_key(obj), &uid, obj.status()) {
        Some(status) => {
            let mut copy = obj.clone();
            *copy.status_mut() = Some(status);
            Cow::Owned(copy)
        }
        None => Cow::Borrowed(obj),
    }
}

/// Applies `status` unless `base` (from [`freshest`]) shows it already, and remembers what it
/// wrote. A refused write goes to `refused` with `namespace/name` of `base`, for the kind to
/// name in its own error.
pub async fn write_changed<K, E>(
    client: &Client,
    written: &WrittenStatus<K::Status>,
    base: &K,
    status: &K::Status,
    refused: impl FnOnce(String, kube::Error) -> E,
) -> Result<(), E>
where
    K: HasStatus
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
    K::Status: Serialize + Clone + PartialEq,
    E: KindError,
{
    if base.status() == Some(status) {
        return Ok(());
    }
    let namespace = base
        .namespace()
        .ok_or(E::missing_object_key("metadata.namespace"))?;
    let key = object_key(base);
    apply_status::<K, _>(client, &namespace, &base.name_any(), status)
        .await
        .map_err(|source| refused(key.clone(), source))?;
    written.remember(&key, &base.uid().unwrap_or_default(), status);
    Ok(())
}

/// Applies `status` to object `namespace/name` of kind `K`.
async fn apply_status<K, S>(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &S,
) -> kube::Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
