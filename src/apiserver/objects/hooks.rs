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

    /// The write hooks that apply to `r` in `namespace` (namespaced kinds only), with what they
    /// are told about a write of `name`.
    pub(super) fn hooks_for_write<'a>(
        &'a self,
        r: &'static ResourceDescriptor,
        namespace: Option<&'a str>,
        name: &'a str,
        dry_run: bool,
    ) -> Option<(&'a dyn WriteHooks, HookContext<'a>)> {
        match (&self.hooks, namespace) {
            (Some(hooks), Some(ns)) if r.namespaced && !ns.is_empty() => Some((
                hooks.as_ref(),
                HookContext {
                    resource: r,
                    namespace: ns,
                    name,
                    dry_run,
                },
            )),
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
        let decoded = super::decode::decode(r, Some(namespace), object, Default::default(), &[])?;
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
        let stored = self
            .storage
            .create(&key, object)
            .await
            .map_err(|e| storage_error(r, &name, e))?;
        Ok(stored.value.to_value()?)
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::apiserver::objects::{DeleteOptions, Subresource};
    use crate::apiserver::storage::MemoryStorage;

    /// Records what it is asked; refuses everything while `refuse` is set.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        refuse: Mutex<Option<HookError>>,
    }

    impl Recorder {
        fn answer(&self, call: String) -> Result<(), HookError> {
            self.calls.lock().unwrap().push(call);
            match self.refuse.lock().unwrap().clone() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl WriteHooks for Recorder {
        fn before_create<'a>(
            &'a self,
            ctx: HookContext<'a>,
            object: &'a mut Value,
        ) -> BoxFuture<'a, Result<(), HookError>> {
            let result = self.answer(format!("create {}/{}", ctx.namespace, ctx.name));
            if result.is_ok() {
                object["metadata"]["uid"] = json!("backend-id");
                object["status"] = json!({"id": "backend-id"});
            }
            Box::pin(async move { result })
        }
        fn before_update<'a>(
            &'a self,
            ctx: HookContext<'a>,
            _current: &'a Value,
            new: &'a mut Value,
        ) -> BoxFuture<'a, Result<(), HookError>> {
            let result = self.answer(format!("update {}", ctx.name));
            if result.is_ok() {
                new["status"] = json!({"id": "backend-id", "seen": "update"});
            }
            Box::pin(async move { result })
        }
        fn before_delete<'a>(
            &'a self,
            ctx: HookContext<'a>,
            _current: &'a Value,
        ) -> BoxFuture<'a, Result<(), HookError>> {
            let result = self.answer(format!("delete {}", ctx.name));
            Box::pin(async move { result })
        }
    }

    fn workspaces() -> &'static ResourceDescriptor {
        crate::api::registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces").unwrap()
    }

    fn setup() -> (Objects, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let objects =
            Objects::new(Arc::new(MemoryStorage::new())).with_write_hooks(recorder.clone());
        (objects, recorder)
    }

    fn workspace(name: &str) -> Value {
        json!({
            "apiVersion": "aggregation.coder.com/v1alpha1",
            "kind": "CoderWorkspace",
            "metadata": {"name": name, "namespace": "team", "labels": {"a": "b"}},
            "spec": {"running": true},
        })
    }

    #[tokio::test]
    async fn a_create_stores_what_the_hook_decided_and_a_refusal_stores_nothing() {
        let (objects, recorder) = setup();
        let r = workspaces();
        let created = objects
            .create(r, Some("team"), workspace("ok"), &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(
            created.object.to_value().unwrap()["metadata"]["uid"],
            "backend-id"
        );
        assert_eq!(
            created.object.to_value().unwrap()["status"]["id"],
            "backend-id"
        );
        assert_eq!(
            created.object.to_value().unwrap()["metadata"]["labels"]["a"],
            "b"
        );

        *recorder.refuse.lock().unwrap() = Some(HookError::unavailable("coderd is down", 1));
        let error = objects
            .create(
                r,
                Some("team"),
                workspace("refused"),
                &WriteOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            error,
            Error::Refused(HookError::unavailable("coderd is down", 1))
        );
        assert!(matches!(
            objects.get(r, Some("team"), "refused").await,
            Err(Error::NotFound { .. })
        ));
        // A taken name never reaches the backend.
        *recorder.refuse.lock().unwrap() = None;
        let before = recorder.calls().len();
        let taken = objects
            .create(r, Some("team"), workspace("ok"), &WriteOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(taken, Error::AlreadyExists { .. }), "{taken:?}");
        assert_eq!(recorder.calls().len(), before);
    }

    #[tokio::test]
    async fn status_writes_and_unchanged_updates_skip_the_hooks() {
        let (objects, recorder) = setup();
        let r = workspaces();
        let created = objects
            .create(r, Some("team"), workspace("ws"), &WriteOptions::default())
            .await
            .unwrap();
        let mut with_status = created.object.to_value().unwrap();
        with_status["status"] = json!({"id": "backend-id", "note": "from the sync"});
        objects
            .update(
                r,
                Some("team"),
                "ws",
                Some(Subresource::Status),
                with_status,
                &WriteOptions::default(),
            )
            .await
            .unwrap();
        let patch = crate::apiserver::objects::Patch::Merge(json!({"spec": {"running": true}}));
        objects
            .patch(r, Some("team"), "ws", None, patch, &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(
            recorder.calls(),
            ["create team/ws"],
            "no hook for status or no-op writes"
        );

        let patch = crate::apiserver::objects::Patch::Merge(json!({"spec": {"running": false}}));
        let updated = objects
            .patch(r, Some("team"), "ws", None, patch, &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(
            updated.object.to_value().unwrap()["status"]["seen"],
            "update"
        );
        assert_eq!(recorder.calls().last().unwrap(), "update ws");

        // The backend's own writes do not call back into it.
        let patch = crate::apiserver::objects::Patch::Merge(json!({"spec": {"running": true}}));
        objects
            .without_hooks()
            .patch(r, Some("team"), "ws", None, patch, &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(recorder.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_delete_asks_once_and_a_refusal_keeps_the_object() {
        let (objects, recorder) = setup();
        let r = workspaces();
        let mut body = workspace("ws");
        body["metadata"]["finalizers"] = json!(["coder.com/workspace"]);
        objects
            .create(r, Some("team"), body, &WriteOptions::default())
            .await
            .unwrap();
        *recorder.refuse.lock().unwrap() = Some(HookError::new(Refusal::Conflict, "in use"));
        let error = objects
            .delete(r, Some("team"), "ws", &DeleteOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(&error, Error::Refused(e) if e.refusal == Refusal::Conflict));
        let kept = objects.get(r, Some("team"), "ws").await.unwrap();
        assert!(
            kept.to_value()
                .unwrap()
                .pointer("/metadata/deletionTimestamp")
                .is_none()
        );

        *recorder.refuse.lock().unwrap() = None;
        let marked = objects
            .delete(r, Some("team"), "ws", &DeleteOptions::default())
            .await
            .unwrap();
        assert!(
            marked
                .object
                .to_value()
                .unwrap()
                .pointer("/metadata/deletionTimestamp")
                .is_some()
        );
        objects
            .delete(r, Some("team"), "ws", &DeleteOptions::default())
            .await
            .unwrap();
        let deletes = recorder
            .calls()
            .iter()
            .filter(|c| c.starts_with("delete"))
            .count();
        assert_eq!(
            deletes, 2,
            "not asked again for an object already being deleted"
        );
    }

    #[tokio::test]
    async fn mirrored_objects_keep_the_backend_uid_and_go_whatever_their_finalizers() {
        let (objects, recorder) = setup();
        let r = workspaces();
        let mut body = workspace("mirrored");
        body["metadata"]["uid"] = json!("coderd-id");
        body["metadata"]["finalizers"] = json!(["coder.com/workspace"]);
        body["status"] = json!({"id": "coderd-id"});
        let stored = objects
            .mirror_create(r, "team", body, "sync")
            .await
            .unwrap();
        assert_eq!(stored["metadata"]["uid"], "coderd-id");
        assert_eq!(stored["status"]["id"], "coderd-id");
        assert_eq!(stored["metadata"]["managedFields"][0]["manager"], "sync");
        assert!(recorder.calls().is_empty());

        let rv = stored["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let stale = (rv.parse::<u64>().unwrap() - 1).to_string();
        assert!(
            !objects
                .mirror_forget(r, "team", "mirrored", &stale)
                .await
                .unwrap()
        );
        assert!(
            objects
                .mirror_forget(r, "team", "mirrored", &rv)
                .await
                .unwrap()
        );
        assert!(objects.get(r, Some("team"), "mirrored").await.is_err());
    }
}
