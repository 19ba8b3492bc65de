//! The periodic sync of each Coder-backed namespace with its coderd: statuses follow coderd,
//! templates and workspaces created in Coder's UI or CLI appear (uid = coderd's id), the ones
//! deleted there disappear, pending template versions are activated when their build ends,
//! and deleted CoderWorkspaces go once coderd's delete build has removed the workspace.
//! When coderd cannot be reached, the stored objects stay readable and say so in their
//! `CoderReachable` condition.
//!
//! Writes go through the object layer without the write hooks (what coderd already did must
//! not be sent back to it), as field manager [`FIELD_MANAGER`], with the resourceVersion they
//! were computed from: a concurrent user write wins and the next round looks again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::objects::{Error, ListOptions, Objects, Subresource, WriteOptions};
use crate::coder::{
    CoderError, CreateWorkspaceBuild, Template, Workspace, WorkspaceFilter, WorkspaceTransition,
};

use super::directory::{Deployment, Directory};
use super::hooks::{activate, annotation};
use super::mapping::{self, PENDING_VERSION_ANNOTATION, VersionOutcome, status_of};
use super::names::{TemplateName, WorkspaceName};

/// The field manager of the sync's writes.
pub const FIELD_MANAGER: &str = "coder-k8s-coder-sync";

/// Objects created in coderd this recently are left to the request that created them (it
/// stores them with its own metadata a moment later).
const CREATE_GRACE: Duration = Duration::from_secs(3);

pub struct Sync {
    /// The object layer without write hooks.
    pub objects: Objects,
    pub directory: Arc<Directory>,
    pub interval: Duration,
}

/// Runs the sync every `interval` until `stop`.
pub fn spawn(sync: Sync, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(sync.interval) => {}
            }
            if !sync.directory.ready().await {
                continue;
            }
            let namespaces = sync.directory.namespaces();
            for namespace in &namespaces {
                sync.namespace(namespace).await;
            }
            sync.release_orphans(&namespaces).await;
        }
    });
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn resource_version(object: &Value) -> &str {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn has_id(object: &Value) -> bool {
    object
        .pointer("/status/id")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

fn recently_created(created: Option<jiff::Timestamp>) -> bool {
    created
        .is_some_and(|at| jiff::Timestamp::now().duration_since(at).unsigned_abs() < CREATE_GRACE)
}

/// A coderd refusal that retrying will not change.
fn definitive(error: &CoderError) -> bool {
    matches!(
        error.status().map(|s| s.as_u16()),
        Some(400 | 403 | 404 | 422)
    )
}

fn options() -> WriteOptions {
    WriteOptions {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

impl Sync {
    async fn namespace(&self, namespace: &str) {
        let d = match self.directory.resolve(namespace).await {
            Ok(d) => d,
            Err(error) => {
                tracing::debug!(namespace, %error, "not syncing: no usable coderd");
                return;
            }
        };
        if let Err(error) = self.templates(&d).await {
            tracing::warn!(namespace, %error, "syncing CoderTemplates failed");
        }
        if let Err(error) = self.workspaces(&d).await {
            tracing::warn!(namespace, %error, "syncing CoderWorkspaces failed");
        }
    }

    /// Deleted objects in namespaces without any CoderControlPlane (deleted with its
    /// namespace, say) have no coderd to wait for: they go, finalizers or not.
    async fn release_orphans(&self, backed: &std::collections::BTreeSet<String>) {
        for r in [mapping::workspaces(), mapping::templates()] {
            let all = match self.objects.list(r, None, &ListOptions::default()).await {
                Ok(list) => list.items,
                Err(error) => {
                    tracing::debug!(%error, "listing for orphans failed");
                    continue;
                }
            };
            for stored in all {
                let object = match stored.to_value() {
                    Ok(object) => object,
                    Err(error) => {
                        tracing::warn!(%error, "reading a stored object failed");
                        continue;
                    }
                };
                let object = &object;
                let namespace = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if deleting(object) && !backed.contains(namespace) {
                    self.forget(r, namespace, object).await;
                }
            }
        }
    }

    async fn stored(
        &self,
        r: &'static ResourceDescriptor,
        namespace: &str,
    ) -> Result<Vec<Value>, Error> {
        // Stored revisions are kept as bytes: a sync parses each object once.
        let items = self
            .objects
            .list(r, Some(namespace), &ListOptions::default())
            .await?
            .items;
        Ok(items
            .iter()
            .map(|object| object.to_value())
            .collect::<Result<_, _>>()?)
    }

    /// coderd could not be listed: the objects keep their status and say why.
    async fn mark_unreachable(
        &self,
        d: &Deployment,
        r: &'static ResourceDescriptor,
        stored: &[Value],
        error: &CoderError,
    ) {
        if error.is_unauthorized() {
            self.directory.forget_token(&d.namespace);
        }
        let condition = mapping::unreachable(&error.to_string());
        for object in stored {
            let object: &Value = object;
            if mapping::condition(object, mapping::CODER_REACHABLE)
                .and_then(|c| c.get("status"))
                .and_then(Value::as_str)
                == Some("False")
            {
                continue;
            }
            let mut status = status_of(object);
            mapping::set_condition(&mut status, &condition, None);
            self.write_status(r, &d.namespace, object, Value::Object(status))
                .await;
        }
    }

    /// Stores `status` on `object` (as read) when it differs.
    async fn write_status(
        &self,
        r: &'static ResourceDescriptor,
        namespace: &str,
        object: &Value,
        status: Value,
    ) {
        if object.get("status") == Some(&status) {
            return;
        }
        let mut body = object.clone();
        body["status"] = status;
        if let Err(error) = self
            .objects
            .update(
                r,
                Some(namespace),
                name_of(object),
                Some(Subresource::Status),
                body,
                &options(),
            )
            .await
        {
            tracing::debug!(name = name_of(object), %error, "status write skipped");
        }
    }

    /// Stores `body` (a changed spec or metadata) over `object`; returns what was stored.
    async fn write_main(
        &self,
        r: &'static ResourceDescriptor,
        namespace: &str,
        body: Value,
    ) -> Option<Value> {
        let name = name_of(&body).to_string();
        match self
            .objects
            .update(r, Some(namespace), &name, None, body, &options())
            .await
        {
            Ok(outcome) => match outcome.object.to_value() {
                Ok(stored) => Some(stored),
                Err(error) => {
                    tracing::warn!(name, %error, "reading the stored object failed");
                    None
                }
            },
            Err(error) => {
                tracing::debug!(name, %error, "write skipped");
                None
            }
        }
    }

    async fn forget(&self, r: &'static ResourceDescriptor, namespace: &str, object: &Value) {
        let name = name_of(object);
        if let Err(error) = self
            .objects
            .mirror_forget(r, namespace, name, resource_version(object))
            .await
        {
            tracing::warn!(name, %error, "removing an object coderd no longer has failed");
        }
    }

    async fn mirror(&self, r: &'static ResourceDescriptor, namespace: &str, object: Value) {
        match self
            .objects
            .mirror_create(r, namespace, object, FIELD_MANAGER)
            .await
        {
            Ok(_) | Err(Error::AlreadyExists { .. }) => {}
            Err(error) => tracing::warn!(%error, "storing an object created in Coder failed"),
        }
    }

    // -----------------------------------------------------------------------------------------
    // templates

    async fn templates(&self, d: &Deployment) -> Result<(), Error> {
        let r = mapping::templates();
        let stored = self.stored(r, &d.namespace).await?;
        let listed = match d.client.templates().await {
            Ok(listed) => listed,
            Err(error) => {
                self.mark_unreachable(d, r, &stored, &error).await;
                return Ok(());
            }
        };
        let mut by_name: HashMap<String, Template> = listed
            .into_iter()
            .filter_map(|t| Some((TemplateName::object_name(&t.organization_name, &t.name)?, t)))
            .collect();
        for object in &stored {
            let object: &Value = object;
            match by_name.remove(name_of(object)) {
                Some(template) => self.refresh_template(d, object, Some(template)).await,
                // Deleted in Coder.
                None if has_id(object) => self.forget(r, &d.namespace, object).await,
                // Its first version is still building.
                None => self.refresh_template(d, object, None).await,
            }
        }
        for (_, template) in by_name {
            if recently_created(template.created_at) {
                continue;
            }
            if let Some(object) = mapping::template_object(&template, &d.namespace) {
                self.mirror(r, &d.namespace, object).await;
            }
        }
        Ok(())
    }

    /// Activates a pending version whose build ended, then refreshes the status.
    async fn refresh_template(&self, d: &Deployment, object: &Value, template: Option<Template>) {
        let r = mapping::templates();
        let mut object = object.clone();
        let mut template = template;
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        let mut conditions = status_of(&object);
        if let Some(pending) =
            annotation(&object, PENDING_VERSION_ANNOTATION).and_then(|id| Uuid::parse_str(id).ok())
        {
            let outcome = match d.client.template_version(pending).await {
                Ok(version) => mapping::version_outcome(&version),
                Err(error) if error.is_not_found() => {
                    VersionOutcome::Failed("the version no longer exists in coderd".into())
                }
                Err(error) => {
                    tracing::debug!(%error, "reading a pending template version failed");
                    return;
                }
            };
            let failure = match outcome {
                VersionOutcome::Building => None,
                VersionOutcome::Failed(error) => Some(Some(error)),
                VersionOutcome::Succeeded => {
                    let Ok(name) = TemplateName::parse(name_of(&object)) else {
                        return;
                    };
                    let spec: Map<String, Value> = object
                        .get("spec")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    match activate(d, &name, &spec, template.as_ref().map(|t| t.id), pending).await
                    {
                        Ok(activated) => {
                            template = Some(activated);
                            Some(None)
                        }
                        // coderd refused for good (bad name, gone, not allowed): say so.
                        Err(error) if definitive(&error) => {
                            Some(Some(format!("activating the version failed: {error}")))
                        }
                        // Unreachable, or another replica's sync got there first (409):
                        // look again next round.
                        Err(error) => {
                            tracing::debug!(%error, "activating a template version; retrying");
                            return;
                        }
                    }
                }
            };
            if let Some(failure) = failure {
                mapping::mark_built(
                    &mut conditions,
                    &pending.to_string(),
                    failure.as_deref(),
                    generation,
                );
                let mut body = object.clone();
                if let Some(annotations) = body
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    annotations.remove(PENDING_VERSION_ANNOTATION);
                }
                match self.write_main(r, &d.namespace, body).await {
                    Some(stored) => object = stored,
                    None => return,
                }
            }
        }
        let mut status = match &template {
            Some(template) => mapping::template_status(template, &object),
            None => Value::Object(status_of(&object)),
        };
        if let Some(map) = status.as_object_mut() {
            for kind in [mapping::VERSION_BUILDING, mapping::VERSION_FAILED] {
                match conditions
                    .get("conditions")
                    .and_then(Value::as_array)
                    .and_then(|all| {
                        all.iter()
                            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
                    }) {
                    Some(c) => {
                        let list = map
                            .entry("conditions")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let Some(list) = list.as_array_mut() {
                            list.retain(|x| x.get("type").and_then(Value::as_str) != Some(kind));
                            list.push(c.clone());
                        }
                    }
                    None => mapping::clear_condition(map, kind),
                }
            }
        }
        if let Some(template) = &template
            && object.pointer("/status/id").and_then(Value::as_str)
                != Some(&template.id.to_string())
        {
            tracing::info!(name = name_of(&object), id = %template.id, "CoderTemplate is backed by coderd's template");
        }
        self.write_status(r, &d.namespace, &object, status).await;
    }

    // -----------------------------------------------------------------------------------------
    // workspaces

    async fn workspaces(&self, d: &Deployment) -> Result<(), Error> {
        let r = mapping::workspaces();
        let stored = self.stored(r, &d.namespace).await?;
        let listed = match d.client.workspaces(&WorkspaceFilter::default()).await {
            Ok(listed) => listed,
            Err(error) => {
                self.mark_unreachable(d, r, &stored, &error).await;
                return Ok(());
            }
        };
        let mut by_name: HashMap<String, Workspace> = listed
            .into_iter()
            .filter_map(|ws| {
                Some((
                    WorkspaceName::object_name(&ws.organization_name, &ws.owner_name, &ws.name)?,
                    ws,
                ))
            })
            .collect();
        for object in &stored {
            let object: &Value = object;
            match by_name.remove(name_of(object)) {
                Some(ws) => self.refresh_workspace(d, object, &ws).await,
                // Gone from coderd (deleted there, or our delete build finished): the object
                // goes too, finalizer or not.
                None => self.forget(r, &d.namespace, object).await,
            }
        }
        for (_, ws) in by_name {
            let deleted = ws.latest_build.transition == WorkspaceTransition::Delete;
            if deleted || recently_created(ws.created_at) {
                continue;
            }
            if let Some(object) = mapping::workspace_object(&ws, &d.namespace) {
                self.mirror(r, &d.namespace, object).await;
            }
        }
        Ok(())
    }

    async fn refresh_workspace(&self, d: &Deployment, object: &Value, ws: &Workspace) {
        let r = mapping::workspaces();
        let mut object = object.clone();
        if deleting(&object) {
            // The delete build could not be queued when the object was deleted (another
            // build was running): queue it once coderd takes one.
            if ws.latest_build.transition != WorkspaceTransition::Delete
                && ws.latest_build.job.status.is_finished()
            {
                let request = CreateWorkspaceBuild {
                    transition: WorkspaceTransition::Delete,
                    template_version_id: None,
                };
                if let Err(error) = d.client.create_workspace_build(ws.id, &request).await {
                    tracing::debug!(%error, "queueing a delete build failed; retrying next round");
                }
            }
        } else if annotation(&object, mapping::STOP_WHEN_STARTED_ANNOTATION).is_some() {
            // Created with running: false: stop it once coderd's first build is done.
            let build = &ws.latest_build;
            let due =
                build.transition == WorkspaceTransition::Start && build.job.status.is_finished();
            let done = build.transition != WorkspaceTransition::Start;
            let stopped = if due {
                let request = CreateWorkspaceBuild {
                    transition: WorkspaceTransition::Stop,
                    template_version_id: None,
                };
                match d.client.create_workspace_build(ws.id, &request).await {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::debug!(%error, "queueing the stop of a workspace created stopped; retrying");
                        false
                    }
                }
            } else {
                done
            };
            if stopped {
                let mut body = object.clone();
                if let Some(annotations) = body
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    annotations.remove(mapping::STOP_WHEN_STARTED_ANNOTATION);
                }
                match self.write_main(r, &d.namespace, body).await {
                    Some(stored) => object = stored,
                    None => return,
                }
            }
        } else {
            // What coderd decides (someone stopped it in Coder's UI, autostop) shows in spec.
            let mut spec: Map<String, Value> = object
                .get("spec")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let before = spec.clone();
            mapping::workspace_spec(ws, &mut spec);
            if spec != before {
                let mut body = object.clone();
                body["spec"] = Value::Object(spec);
                match self.write_main(r, &d.namespace, body).await {
                    Some(stored) => object = stored,
                    None => return,
                }
            }
        }
        let status = mapping::workspace_status(ws, &object);
        self.write_status(r, &d.namespace, &object, status).await;
    }
}
