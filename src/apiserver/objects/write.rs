//! create, update, patch, delete and deletecollection with kube-apiserver's custom-resource
//! strategy: server-set metadata, status/main-resource separation, generation bumps,
//! finalizers, schema validation and optimistic concurrency.

use serde_json::{Map, Value};

use super::decode::{Decoded, decode_for_write, decode_patched};
use super::metadata::{self, meta, meta_mut, meta_str};
use super::read::key;
use super::validation::KindSchema;
use super::{
    Cause, DeleteOptions, Error, ListOptions, MODIFIED, ObjectList, Objects, Patch, Subresource,
    WriteOptions, WriteOutcome, conflict, invalid, not_found, patch, storage_error,
};
use crate::api::registry::ResourceDescriptor;

use crate::apiserver::storage::{Key, Revision, StorageError, StoredObject, Versioned};

/// Fresh names tried for one generateName create before giving up.
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// Metadata fields only the server sets; copied from the stored object on update.
const SYSTEM_FIELDS: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
];

/// Schema and metadata validation of the object about to be stored.
fn validate(
    r: &'static ResourceDescriptor,
    object: &mut Value,
    mut causes: Vec<Cause>,
    subresource: Option<Subresource>,
) -> Result<(), Error> {
    let mut all = match meta(object) {
        Some(m) => metadata::validate(m, r.namespaced),
        None => Vec::new(),
    };
    let schema = KindSchema::of(r)?;
    let mut report = match subresource {
        Some(Subresource::Status) => schema.validate_status(object),
        None => schema.validate(object),
    };
    all.append(&mut report.causes);
    all.append(&mut causes);
    if all.is_empty() {
        Ok(())
    } else {
        let name = meta_str(object, "name").unwrap_or("").to_string();
        Err(invalid(r, &name, all))
    }
}

/// Everything but metadata (and status, which the main resource cannot change).
fn spec_part(object: &Value) -> Map<String, Value> {
    let mut map = object.as_object().cloned().unwrap_or_default();
    for field in ["metadata", "status", "apiVersion", "kind"] {
        map.remove(field);
    }
    map
}

fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            map.insert(key.to_string(), v);
        }
        None => {
            map.remove(key);
        }
    }
}

fn revision_of(value: &Value) -> Option<Revision> {
    meta_str(value, "resourceVersion").and_then(|rv| rv.parse().ok())
}

/// The object an update stores, from the stored one and the decoded request body, following
/// kube's custom-resource strategies (`PrepareForUpdate`, `BeforeUpdate`, finalizer rules).
fn prepare_update(
    r: &'static ResourceDescriptor,
    subresource: Option<Subresource>,
    current: &Value,
    mut new: Value,
) -> Result<Value, Error> {
    let name = meta_str(current, "name").unwrap_or("").to_string();
    let mut causes = Vec::new();
    match subresource {
        Some(Subresource::Status) => {
            // Only status (and managedFields, which belong to the request) comes from the body.
            let status = new.get("status").cloned();
            let managed = meta(&new).and_then(|m| m.get("managedFields")).cloned();
            let mut result = current.clone();
            if let Some(obj) = result.as_object_mut() {
                set_or_remove(obj, "status", status);
            }
            if let Some(managed) = managed {
                meta_mut(&mut result)?.insert("managedFields".into(), managed);
            }
            new = result;
        }
        None => {
            if r.status_subresource
                && let Some(obj) = new.as_object_mut()
            {
                set_or_remove(obj, "status", current.get("status").cloned());
            }
            if let Some(sent) = meta_str(&new, "uid").filter(|u| !u.is_empty())
                && Some(sent) != meta_str(current, "uid")
            {
                causes.push(Cause {
                    field: "metadata.uid".into(),
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {}: field is immutable",
                        super::validation::quote(sent)
                    ),
                });
            }
            let current_meta = meta(current).cloned().unwrap_or_default();
            let new_meta = meta_mut(&mut new)?;
            new_meta.remove("selfLink");
            for field in SYSTEM_FIELDS {
                set_or_remove(new_meta, field, current_meta.get(*field).cloned());
            }
            if spec_part(&new) != spec_part(current) {
                let generation = meta(current)
                    .and_then(|m| m.get("generation"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta_mut(&mut new)?.insert("generation".into(), Value::from(generation + 1));
            }
        }
    }
    if metadata::is_deleting(current) {
        let old = metadata::finalizers(current);
        // A sorted set, as kube prints it.
        let added: Vec<String> = metadata::finalizers(&new)
            .into_iter()
            .filter(|f| !old.contains(f))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !added.is_empty() {
            let list = added
                .iter()
                .map(|f| super::validation::quote(f))
                .collect::<Vec<_>>()
                .join(", ");
            causes.push(Cause {
                field: "metadata.finalizers".into(),
                reason: "FieldValueForbidden".into(),
                message: format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
                ),
            });
        }
    }
    validate(r, &mut new, causes, subresource).map_err(|e| match e {
        Error::Invalid { causes, .. } => invalid(r, &name, causes),
        other => other,
    })?;
    Ok(new)
}

/// The finalizers an object keeps once deleted with `propagation`, like kube's
/// `deletionFinalizersForGarbageCollection`: Orphan asks the garbage collector to orphan the
/// dependents first (`orphan`), Foreground to delete them first (`foregroundDeletion`),
/// Background for neither; without a policy the object's own finalizers decide.
fn gc_finalizers(finalizers: &[String], propagation: Option<super::Propagation>) -> Vec<String> {
    use super::Propagation;
    const ORPHAN: &str = "orphan";
    const FOREGROUND: &str = "foregroundDeletion";
    let Some(propagation) = propagation else {
        return finalizers.to_vec();
    };
    let mut wanted: Vec<String> = finalizers
        .iter()
        .filter(|f| *f != ORPHAN && *f != FOREGROUND)
        .cloned()
        .collect();
    match propagation {
        Propagation::Orphan => wanted.push(ORPHAN.into()),
        Propagation::Foreground => wanted.push(FOREGROUND.into()),
        Propagation::Background => {}
    }
    wanted
}

/// A failed delete precondition: a Conflict that kube names by `Kind.group`.
fn precondition_failed(r: &ResourceDescriptor, name: &str, message: String) -> Error {
    Error::Conflict {
        group_resource: super::group_kind(r),
        name: name.to_string(),
        message,
    }
}

/// How a read-modify-write derives the new body from the stored object.
pub(super) type Mutation<'a> = dyn FnMut(&Value) -> Result<Decoded, Error> + Send + 'a;

impl Objects {
    pub async fn create(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, Error> {
        self.create_tracked(r, namespace, body, opts, false).await
    }

    /// `create`; `tracked` when the body's managedFields are already computed (apply).
    pub(super) async fn create_tracked(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOptions,
        tracked: bool,
    ) -> Result<WriteOutcome, Error> {
        let Decoded {
            mut body, warnings, ..
        } = decode_for_write(r, namespace, body, opts)?;
        if let (Some(lookup), Some(ns)) = (&self.namespaces, namespace) {
            let name = meta_str(&body, "name").unwrap_or("");
            super::namespaces::admit_create(lookup.as_ref(), r, ns, name).await?;
        }
        let meta = meta_mut(&mut body)?;
        if meta
            .get("resourceVersion")
            .is_some_and(|rv| rv != "" && !rv.is_null())
        {
            return Err(Error::BadRequest(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        for field in SYSTEM_FIELDS {
            meta.remove(*field);
        }
        meta.remove("selfLink");
        meta.insert("uid".into(), Value::String(metadata::new_uid()?));
        meta.insert("creationTimestamp".into(), Value::String(metadata::now()));
        meta.insert("generation".into(), Value::from(1));
        let generate = match metadata::str_field(meta, "name") {
            Some(name) if !name.is_empty() => None,
            _ => metadata::str_field(meta, "generateName")
                .filter(|g| !g.is_empty())
                .map(str::to_string),
        };
        if r.status_subresource
            && let Some(obj) = body.as_object_mut()
        {
            // Create cannot set status when a status subresource exists.
            obj.remove("status");
        }
        if !tracked {
            super::apply::track_write(r, None, None, &mut body, opts)?;
        }

        let attempts = if generate.is_some() {
            GENERATE_NAME_ATTEMPTS
        } else {
            1
        };
        let mut last_error = None;
        for _ in 0..attempts {
            if let Some(prefix) = &generate {
                let name = metadata::generate_name(prefix)?;
                meta_mut(&mut body)?.insert("name".into(), Value::String(name));
            }
            validate(r, &mut body, Vec::new(), None)?;
            let name = meta_str(&body, "name").unwrap_or("").to_string();
            let key = key(r, namespace, &name)?;
            if let Some((hooks, ctx)) = self.hooks_for_write(r, namespace, &name, opts.dry_run) {
                // A name already taken here never reaches the backend.
                if let Ok(Some(_)) = self.storage.get(&key).await {
                    last_error = Some(storage_error(r, &name, StorageError::AlreadyExists(key)));
                    continue;
                }
                hooks.before_create(ctx, &mut body).await?;
            }
            let stored = if opts.dry_run {
                match self.storage.get(&key).await {
                    Ok(Some(_)) => Err(StorageError::AlreadyExists(key.clone())),
                    Ok(None) => Ok(StoredObject::shared(body.clone())),
                    Err(e) => Err(e),
                }
            } else {
                self.storage
                    .create(&key, body.clone())
                    .await
                    .map(|v| v.value)
            };
            match stored {
                Ok(object) => {
                    return Ok(WriteOutcome {
                        object,
                        warnings,
                        created: true,
                    });
                }
                Err(e @ StorageError::AlreadyExists(_)) => {
                    last_error = Some(storage_error(r, &name, e));
                }
                Err(e) => return Err(storage_error(r, &name, e)),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Internal("no create attempt was made".into())))
    }

    pub async fn update(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, Error> {
        let Decoded {
            mut body, warnings, ..
        } = decode_for_write(r, namespace, body, opts)?;
        let meta = meta_mut(&mut body)?;
        match metadata::str_field(meta, "name") {
            None | Some("") => {
                return Err(Error::BadRequest(format!(
                    "the name of the object ({name} based on URL) was undeterminable: name must be provided"
                )));
            }
            Some(found) if found != name => {
                return Err(metadata::name_mismatch(found, name));
            }
            Some(_) => {}
        }
        let precondition = match meta.get("resourceVersion").and_then(Value::as_str) {
            None | Some("") => None,
            Some(rv) => Some(
                rv.parse::<Revision>()
                    .map_err(|_| Error::BadRequest(format!("invalid resource version: {rv:?}")))?,
            ),
        };
        let unconditional = precondition.is_none();
        let url_name = name.to_string();
        let mut mutation = move |_: &Value| {
            if unconditional {
                // Custom resources refuse unconditional updates (checked once the object is
                // known to exist, as kube does).
                return Err(Error::Invalid {
                    group_resource: r.group_resource(),
                    kind: r.plural.to_string(),
                    name: url_name.clone(),
                    causes: vec![Cause {
                        field: "metadata.resourceVersion".into(),
                        reason: "FieldValueInvalid".into(),
                        message: "Invalid value: 0: must be specified for an update".into(),
                    }],
                });
            }
            Ok(Decoded {
                body: body.clone(),
                warnings: warnings.clone(),
                tracked: false,
            })
        };
        self.read_modify_write(
            r,
            namespace,
            name,
            subresource,
            precondition,
            false,
            &mut mutation,
            opts,
        )
        .await
    }

    pub async fn patch(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: Patch,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, Error> {
        patch::parse(&patch)?;
        let pinned = patch::sets_resource_version(&patch);
        let namespace_owned = namespace.map(str::to_string);
        let validation = opts.field_validation;
        let duplicates = opts.duplicate_fields.clone();
        let url_name = name.to_string();
        let mut mutation = move |current: &Value| {
            let patched = patch::apply(current, &patch)?;
            if pinned && revision_of(&patched) != revision_of(current) {
                // Reported by read_modify_write as a conflict, like kube.
                return Err(Error::Conflict {
                    group_resource: r.group_resource(),
                    name: url_name.clone(),
                    message: MODIFIED.into(),
                });
            }
            if meta_str(&patched, "name") != Some(url_name.as_str()) {
                return Err(metadata::name_mismatch(
                    meta_str(&patched, "name").unwrap_or(""),
                    &url_name,
                ));
            }
            decode_patched(
                r,
                namespace_owned.as_deref(),
                patched,
                validation,
                &duplicates,
            )
        };
        self.read_modify_write(
            r,
            namespace,
            name,
            subresource,
            None,
            pinned,
            &mut mutation,
            opts,
        )
        .await
    }

    /// Reads the object, derives the new one, and stores it if the stored revision is still
    /// the one read. Conflicts are retried (re-reading) unless the caller pinned a revision.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read_modify_write(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        precondition: Option<Revision>,
        pinned_by_patch: bool,
        mutation: &mut Mutation<'_>,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, Error> {
        if subresource == Some(Subresource::Status) && !r.status_subresource {
            return Err(Error::BadRequest(format!(
                "{} has no status subresource",
                r.group_resource()
            )));
        }
        let key = key(r, namespace, name)?;
        let retry = precondition.is_none() && !pinned_by_patch;
        for _ in 0..self.config.write_attempts {
            let current = self.read(r, &key, name).await?;
            if let Some(expected) = precondition
                && expected != current.revision
            {
                return Err(conflict(r, name, MODIFIED));
            }
            // The one parse of the stored revision this write makes (revisions are kept as
            // bytes; see storage/stored.rs).
            let old = current.value.to_value()?;
            let Decoded {
                body,
                warnings,
                tracked,
            } = mutation(&old)?;
            let mut new = prepare_update(r, subresource, &old, body)?;
            if !tracked {
                super::apply::track_write(r, subresource, Some(&old), &mut new, opts)?;
            }
            if new == old {
                // Nothing changed: kube answers with the stored object and writes nothing.
                return Ok(WriteOutcome {
                    object: current.value,
                    warnings,
                    created: false,
                });
            }
            if subresource.is_none()
                && let Some((hooks, ctx)) = self.hooks_for_write(r, namespace, name, opts.dry_run)
            {
                hooks.before_update(ctx, &old, &mut new).await?;
            }
            let finished = metadata::is_deleting(&new) && metadata::finalizers(&new).is_empty();
            if opts.dry_run {
                return Ok(WriteOutcome {
                    object: StoredObject::shared(new),
                    warnings,
                    created: false,
                });
            }
            let result = if finished {
                // The last finalizer is gone: the update completes the deletion.
                self.storage.delete(&key, Some(current.revision)).await
            } else {
                self.storage
                    .update(&key, new.clone(), Some(current.revision))
                    .await
            };
            match result {
                // kube answers a write that completes a deletion with the object as it would
                // have been stored (finalizers gone, the last stored resourceVersion); the
                // DELETED event carries the stored object.
                Ok(_) if finished => {
                    return Ok(WriteOutcome {
                        object: StoredObject::shared(new),
                        warnings,
                        created: false,
                    });
                }
                Ok(stored) => {
                    return Ok(WriteOutcome {
                        object: stored.value,
                        warnings,
                        created: false,
                    });
                }
                Err(StorageError::Conflict { .. }) if retry => continue,
                Err(e) => return Err(storage_error(r, name, e)),
            }
        }
        Err(conflict(r, name, MODIFIED))
    }

    async fn read(
        &self,
        r: &ResourceDescriptor,
        key: &Key,
        name: &str,
    ) -> Result<Versioned, Error> {
        match self.storage.get(key).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(not_found(r, name)),
            Err(e) => Err(storage_error(r, name, e)),
        }
    }

    /// Deletes an object, or (when it has finalizers) marks it with a deletionTimestamp. The
    /// outcome's object is then still stored: `metadata.deletionTimestamp` set and
    /// `metadata.finalizers` non-empty.
    pub async fn delete(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<WriteOutcome, Error> {
        let key = key(r, namespace, name)?;
        let pinned_rv = match opts.precondition_resource_version.as_deref() {
            None | Some("") => None,
            Some(rv) => Some(rv.to_string()),
        };
        let mut asked_hooks = false;
        for _ in 0..self.config.write_attempts {
            let current = self.read(r, &key, name).await?;
            let old = current.value.to_value()?;
            if let Some(uid) = opts.precondition_uid.as_deref().filter(|u| !u.is_empty()) {
                let actual = meta_str(&old, "uid").unwrap_or("");
                if uid != actual {
                    return Err(precondition_failed(
                        r,
                        name,
                        format!(
                            "the UID in the precondition ({uid}) does not match the UID in record ({actual}). The object might have been deleted and then recreated"
                        ),
                    ));
                }
            }
            if let Some(rv) = &pinned_rv {
                let actual = current.revision.to_string();
                if *rv != actual {
                    return Err(precondition_failed(
                        r,
                        name,
                        format!(
                            "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({actual}). The object might have been modified"
                        ),
                    ));
                }
            }
            if !asked_hooks
                && !metadata::is_deleting(&old)
                && let Some((hooks, ctx)) = self.hooks_for_write(r, namespace, name, opts.dry_run)
            {
                hooks.before_delete(ctx, &old).await?;
                asked_hooks = true;
            }
            let finalizers = metadata::finalizers(&old);
            let wanted = gc_finalizers(&finalizers, opts.propagation);
            let result = if !wanted.is_empty() {
                let deleting = metadata::is_deleting(&old);
                if deleting && wanted == finalizers {
                    return Ok(WriteOutcome {
                        object: current.value,
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                let mut marked = old;
                let meta = meta_mut(&mut marked)?;
                if wanted != finalizers {
                    meta.insert("finalizers".into(), Value::from(wanted));
                }
                if !deleting {
                    meta.insert("deletionTimestamp".into(), Value::String(metadata::now()));
                    meta.insert("deletionGracePeriodSeconds".into(), Value::from(0));
                    // Controllers filtering on generation must see the deletion start.
                    let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
                    meta.insert("generation".into(), Value::from(generation + 1));
                }
                if opts.dry_run {
                    return Ok(WriteOutcome {
                        object: StoredObject::shared(marked),
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                self.storage
                    .update(&key, marked, Some(current.revision))
                    .await
            } else {
                if opts.dry_run {
                    return Ok(WriteOutcome {
                        object: current.value,
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                self.storage.delete(&key, Some(current.revision)).await
            };
            match result {
                Ok(stored) => {
                    return Ok(WriteOutcome {
                        object: stored.value,
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                Err(StorageError::Conflict { .. }) if pinned_rv.is_none() => continue,
                Err(e) => return Err(storage_error(r, name, e)),
            }
        }
        Err(conflict(r, name, MODIFIED))
    }

    /// Deletes (or marks for deletion) every object the list options select; returns them.
    pub async fn delete_collection(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<ObjectList, Error> {
        let listed = self.list(r, namespace, list).await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for item in listed.items {
            let name = item.attrs().name().to_string();
            let item_namespace = item.attrs().namespace().map(str::to_string);
            match self.delete(r, item_namespace.as_deref(), &name, opts).await {
                Ok(outcome) => items.push(outcome.object),
                // Deleted concurrently: nothing left to do for it.
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ObjectList {
            items,
            resource_version: listed.resource_version,
            continue_token: listed.continue_token,
            remaining_item_count: listed.remaining_item_count,
        })
    }
}
