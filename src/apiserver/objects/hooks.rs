//! Write hooks: an external system of record (coderd, for the Coder backend) that must agree
//! before a create, update or delete of the main resource is stored, and may fill in what it
//! decided (ids, status, finalizers). The object layer only asks; it knows nothing of who answers
//! or of HTTP: a refusal is a typed [`HookError`] that becomes an [`Error`] here and a Status in
//! the HTTP layer.
//!
//! The backend also writes on its own behalf (its periodic sync): [`Objects::without_hooks`]
//! for ordinary writes that must not call back into it, [`Objects::mirror_create`] for objects
//! that came into being in the backend (their uid is the backend's id), and
//! [`Objects::mirror_forget`] for objects the backend no longer has (removed whatever their
//! finalizers).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::metadata::{self, meta_mut, meta_str};
use super::read::key;
use super::{Error, Objects, WriteOptions, storage_error};
use crate::api::registry::ResourceDescriptor;
use crate::apiserver::storage::{Revision, StorageError};

/// What a hook is asked about.
#[derive(Debug, Clone, Copy)]
pub struct HookContext<'a> {
    pub resource: &'static ResourceDescriptor,
    pub namespace: &'a str,
    pub name: &'a str,
    /// A dry run: check, but change nothing outside.
    pub dry_run: bool,
}

/// The kind of refusal, which decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request cannot work (a name the backend cannot take, an unknown organization).
    BadRequest,
    /// 404: what the request needs does not exist (no backend for the namespace).
    NotFound,
    /// 403: the backend does not allow it.
    Forbidden,
    /// 409: the backend's state forbids it now (a template still in use).
    Conflict,
    /// 503 with Retry-After: the backend cannot be reached or is not ready; try later.
    Unavailable,
    /// 500: the backend answered something unexpected.
    Internal,
}

/// A hook's refusal; `message` is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HookError {
    pub refusal: Refusal,
    pub message: String,
    /// For `Unavailable`: when to retry (seconds).
    pub retry_after_seconds: Option<u32>,
}

impl HookError {
    pub fn new(refusal: Refusal, message: impl Into<String>) -> Self {
        HookError {
            refusal,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn unavailable(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        HookError {
            refusal: Refusal::Unavailable,
            message: message.into(),
            retry_after_seconds: Some(retry_after_seconds),
        }
    }
}

impl From<HookError> for Error {
    fn from(e: HookError) -> Self {
        Error::Refused(e)
    }
}

/// The backend's say on writes of the main resource (never status-subresource writes).
pub trait WriteHooks: Send + Sync + 'static {
    /// Before a new object is stored; may change `object` (uid, status, finalizers).
    fn before_create<'a>(
        &'a self,
        ctx: HookContext<'a>,
        object: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), HookError>>;

    /// Before a changed object is stored over `current`; may change `new` (status). Called
    /// again when the store reports a concurrent write and the update is retried, so it must
    /// act on the backend's state, not repeat itself blindly.
    fn before_update<'a>(
        &'a self,
        ctx: HookContext<'a>,
        current: &'a Value,
        new: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), HookError>>;

    /// Before `current` is deleted, or marked for deletion when it has finalizers (once: not
    /// again for an object already being deleted).
    fn before_delete<'a>(
        &'a self,
        ctx: HookContext<'a>,
        current: &'a Value,
    ) -> BoxFuture<'a, Result<(), HookError>>;
}

impl Objects {
    /// Every main-resource write of a namespaced object asks `hooks` first.
    pub fn with_write_hooks(mut self, hooks: Arc<dyn WriteHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// The same objects without the write hooks: how the backend writes what it already knows.
    pub fn without_hooks(&self) -> Self {
        Objects {
            hooks: None,
            ..self.clone()
        }
    }

    pub(super) fn hooks_for<'a>(
        &'a self,
        r: &'static ResourceDescriptor,
        namespace: Option<&'a str>,
    ) -> Option<(&'a dyn WriteHooks, &'a str)> {
        match (&self.hooks, namespace) {
            (Some(hooks), Some(ns)) if r.namespaced && !ns.is_empty() => Some((hooks.as_ref(), ns)),
            _ => None,
        }
    }

    /// Stores an object the backend created on its own: `object`'s uid, spec and status are
    /// kept (the uid is the backend's id, so it is stable however often the object is
    /// mirrored); creationTimestamp and generation are set; managedFields credit `manager`.
    pub async fn mirror_create(
        &self,
        r: &'static ResourceDescriptor,
        namespace: &str,
        mut object: Value,
        manager: &str,
    ) -> Result<Value, Error> {
        let name = meta_str(&object, "name").unwrap_or("").to_string();
        let uid = meta_str(&object, "uid")
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::Internal(format!("mirrored object {name} has no uid")))?;
        let status = object.get("status").cloned();
        let opts = WriteOptions {
            field_manager: Some(manager.to_string()),
            ..Default::default()
        };
        let decoded = super::write::decode(r, Some(namespace), object, Default::default(), &[])?;
        object = decoded.body;
        let meta = meta_mut(&mut object)?;
        meta.remove("resourceVersion");
        meta.insert("uid".into(), Value::String(uid));
        meta.insert("creationTimestamp".into(), Value::String(metadata::now()));
        meta.insert("generation".into(), Value::from(1));
        super::apply::track_write(r, None, None, &mut object, &opts)?;
        if let (Some(status), Some(obj)) = (status, object.as_object_mut()) {
            obj.insert("status".into(), status);
        }
        let key = key(r, Some(namespace), &name)?;
        self.storage
            .create(&key, object)
            .await
            .map(|stored| (*stored.value).clone())
            .map_err(|e| storage_error(r, &name, e))
    }

    /// Removes an object the backend no longer has, finalizers or not, if it is still at
    /// `resource_version` (else it changed meanwhile and the next sync decides again).
    /// Returns whether it was removed.
    pub async fn mirror_forget(
        &self,
        r: &'static ResourceDescriptor,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<bool, Error> {
        let key = key(r, Some(namespace), name)?;
        let expected: Revision = resource_version.parse().map_err(|_| {
            Error::BadRequest(format!("invalid resource version: {resource_version:?}"))
        })?;
        match self.storage.delete(&key, Some(expected)).await {
            Ok(_) => Ok(true),
            Err(StorageError::Conflict { .. } | StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(storage_error(r, name, e)),
        }
    }
}
