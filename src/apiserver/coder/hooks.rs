//! The Coder backend's say on writes: a CoderWorkspace or CoderTemplate in a Coder-backed
//! namespace is created, changed and deleted in coderd first, synchronously; only what coderd
//! accepted is stored. Metadata-only changes (labels, annotations, finalizers) never reach
//! coderd: it has no place for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::apiserver::objects::hooks::{HookContext, HookError, Refusal, WriteHooks};
use crate::coder::{
    CoderError, CreateTemplate, CreateTemplateVersion, CreateWorkspace, CreateWorkspaceBuild,
    Template, TemplateVersion, UpdateTemplateMeta, WorkspaceTransition, pack_template_files,
};

use super::directory::{Deployment, Directory, DirectoryError};
use super::errors::coderd_refusal;
use super::mapping::{
    self, PENDING_VERSION_ANNOTATION, STOP_WHEN_STARTED_ANNOTATION, VersionOutcome,
    WORKSPACE_FINALIZER, status_of,
};
use super::names::{TemplateName, WorkspaceName};

pub struct CoderHooks {
    directory: Arc<Directory>,
}

impl CoderHooks {
    pub fn new(directory: Arc<Directory>) -> Self {
        CoderHooks { directory }
    }

    async fn deployment(&self, namespace: &str) -> Result<Deployment, HookError> {
        Ok(self.directory.resolve(namespace).await?)
    }

    /// What a delete of `current` must remove in coderd (its id) and the coderd to ask; None
    /// when there is nothing to do there: the object never reached coderd (no status id), the
    /// namespace has no CoderControlPlane at all (it was deleted, e.g. with its namespace:
    /// there is no coderd to ask, and refusing would keep the namespace from ever being
    /// deleted; the sync releases such objects' finalizers), or the request is a dry run. The
    /// same for every kind, so each kind's delete hook only makes its own coderd call.
    async fn delete_target(
        &self,
        ctx: HookContext<'_>,
        current: &Value,
    ) -> Result<Option<(Uuid, Deployment)>, HookError> {
        let Some(id) = status_id(current) else {
            return Ok(None);
        };
        let d = match self.directory.resolve(ctx.namespace).await {
            Ok(d) => d,
            Err(DirectoryError::NoControlPlane { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok((!ctx.dry_run).then_some((id, d)))
    }

    /// A coderd failure while doing `what`; a rejected token is dropped so the next request
    /// reads the (rotated) Secret again, and reported on the control plane for the controller
    /// to replace it.
    fn refused(&self, deployment: &Deployment, what: &str, e: &CoderError) -> HookError {
        if e.is_unauthorized() {
            self.directory
                .token_rejected(&deployment.namespace, &deployment.control_plane);
        }
        coderd_refusal(what, e)
    }
}

fn bad_request(message: impl Into<String>) -> HookError {
    HookError::new(Refusal::BadRequest, message)
}

fn spec(object: &Value) -> Map<String, Value> {
    object
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn spec_str<'a>(spec: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    spec.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn status_id(object: &Value) -> Option<Uuid> {
    object
        .pointer("/status/id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
}

fn deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

fn generation(object: &Value) -> Option<i64> {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, HookError> {
    object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| HookError::new(Refusal::Internal, "object without metadata"))
}

fn set_annotation(object: &mut Value, key: &str, value: Option<String>) -> Result<(), HookError> {
    let meta = metadata_mut(object)?;
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(map) = annotations.as_object_mut() {
        match value {
            Some(v) => {
                map.insert(key.to_string(), Value::String(v));
            }
            None => {
                map.remove(key);
            }
        }
        if map.is_empty() {
            meta.remove("annotations");
        }
    }
    Ok(())
}

pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// `spec.organization`, when set, must be the name's organization.
fn check_organization(spec: &Map<String, Value>, organization: &str) -> Result<(), HookError> {
    match spec_str(spec, "organization") {
        Some(given) if !given.eq_ignore_ascii_case(organization) => Err(bad_request(format!(
            "spec.organization {given:?} does not match the organization in the name ({organization:?})"
        ))),
        _ => Ok(()),
    }
}

fn files(spec: &Map<String, Value>) -> Result<BTreeMap<String, String>, HookError> {
    let Some(files) = spec.get("files").and_then(Value::as_object) else {
        return Ok(BTreeMap::new());
    };
    files
        .iter()
        .map(|(path, content)| match content.as_str() {
            Some(text) => Ok((path.clone(), text.to_string())),
            None => Err(bad_request(format!(
                "spec.files[{path:?}] must be a string"
            ))),
        })
        .collect()
}

fn pack(files: &BTreeMap<String, String>) -> Result<Vec<u8>, HookError> {
    pack_template_files(files).map_err(|e| bad_request(format!("spec.files: {e}")))
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, HookError> {
    Uuid::parse_str(value).map_err(|_| bad_request(format!("{field} {value:?} is not a UUID")))
}

fn set_status(object: &mut Value, status: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert("status".into(), status);
    }
}

// ---------------------------------------------------------------------------------------------
// CoderWorkspace

impl CoderHooks {
    async fn create_workspace(
        &self,
        ctx: HookContext<'_>,
        object: &mut Value,
    ) -> Result<(), HookError> {
        let name = WorkspaceName::parse(ctx.name).map_err(|e| bad_request(e.to_string()))?;
        let spec = spec(object);
        check_organization(&spec, &name.organization)?;
        let version = spec_str(&spec, "templateVersionID")
            .map(|v| parse_uuid("spec.templateVersionID", v))
            .transpose()?;
        let template = spec_str(&spec, "templateName");
        if version.is_none() && template.is_none() {
            return Err(bad_request(
                "spec.templateName (or spec.templateVersionID) is required to create a workspace in coderd",
            ));
        }
        let d = self.deployment(ctx.namespace).await?;
        if ctx.dry_run {
            return Ok(());
        }
        let template_id = match (version, template) {
            (Some(_), _) => None,
            (None, Some(template)) => {
                let what = format!(
                    "looking up template {template:?} in organization {:?}",
                    name.organization
                );
                let found = d
                    .client
                    .template_by_name(&name.organization, template)
                    .await
                    .map_err(|e| self.refused(&d, &what, &e))?;
                Some(found.id)
            }
            (None, None) => None,
        };
        let request = CreateWorkspace {
            template_id,
            template_version_id: version,
            name: name.workspace.clone(),
            ttl_millis: spec.get("ttlMillis").and_then(Value::as_i64),
            autostart_schedule: spec_str(&spec, "autostartSchedule").map(str::to_string),
        };
        let what = format!(
            "creating workspace {:?} for user {:?}",
            name.workspace, name.user
        );
        let ws = d
            .client
            .create_workspace(&name.user, &request)
            .await
            .map_err(|e| self.refused(&d, &what, &e))?;
        let meta = metadata_mut(object)?;
        meta.insert("uid".into(), Value::String(ws.id.to_string()));
        let finalizers = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f == WORKSPACE_FINALIZER)
        {
            list.push(Value::String(WORKSPACE_FINALIZER.into()));
        }
        // coderd starts every new workspace. Asked for a stopped one, the stop build is
        // queued by the sync once the first build has finished (coderd takes one build at a
        // time); the annotation says it is due.
        let stopped = spec.get("running").and_then(Value::as_bool) == Some(false);
        if stopped {
            set_annotation(object, STOP_WHEN_STARTED_ANNOTATION, Some("true".into()))?;
        } else if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("running".into(), Value::Bool(mapping::wants_running(&ws)));
        }
        let status = mapping::workspace_status(&ws, object);
        set_status(object, status);
        Ok(())
    }

    async fn update_workspace(
        &self,
        ctx: HookContext<'_>,
        current: &Value,
        new: &mut Value,
    ) -> Result<(), HookError> {
        let (old_spec, new_spec) = (spec(current), spec(new));
        if old_spec == new_spec || deleting(current) {
            return Ok(());
        }
        let changed = |key: &str| old_spec.get(key) != new_spec.get(key);
        for key in ["organization", "templateName"] {
            if changed(key) {
                return Err(bad_request(format!(
                    "spec.{key} cannot change: a coderd workspace keeps its template (use spec.templateVersionID to move to another version)"
                )));
            }
        }
        let Some(id) = status_id(current) else {
            return Err(HookError::new(
                Refusal::Conflict,
                format!("CoderWorkspace {} has no coderd workspace id yet", ctx.name),
            ));
        };
        let version = spec_str(&new_spec, "templateVersionID")
            .map(|v| parse_uuid("spec.templateVersionID", v))
            .transpose()?;
        let d = self.deployment(ctx.namespace).await?;
        if ctx.dry_run {
            return Ok(());
        }
        let what = format!("reading workspace {}", ctx.name);
        let ws = d
            .client
            .workspace(id)
            .await
            .map_err(|e| self.refused(&d, &what, &e))?;
        let running = new_spec
            .get("running")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        // Act only on what this write changes, and only where coderd differs: a retried
        // update (or a change coderd already made) queues nothing twice.
        let new_version = version
            .filter(|v| changed("templateVersionID") && *v != ws.latest_build.template_version_id);
        // A stop still due from a create with running: false is the sync's to queue; any
        // new word on `running` replaces it.
        let stop_due = annotation(current, STOP_WHEN_STARTED_ANNOTATION).is_some();
        if changed("running") && running {
            set_annotation(new, STOP_WHEN_STARTED_ANNOTATION, None)?;
        }
        let stop_left_to_sync = stop_due && !running;
        let toggle =
            changed("running") && running != mapping::wants_running(&ws) && !stop_left_to_sync;
        if new_version.is_some() || toggle {
            let request = CreateWorkspaceBuild {
                transition: if running {
                    WorkspaceTransition::Start
                } else {
                    WorkspaceTransition::Stop
                },
                template_version_id: new_version,
            };
            let what = format!(
                "a {} build of workspace {}",
                if running { "start" } else { "stop" },
                ctx.name
            );
            d.client
                .create_workspace_build(id, &request)
                .await
                .map_err(|e| self.refused(&d, &what, &e))?;
        }
        let ttl = new_spec.get("ttlMillis").and_then(Value::as_i64);
        if changed("ttlMillis") && ttl != ws.ttl_millis {
            let what = format!("setting the TTL of workspace {}", ctx.name);
            d.client
                .update_workspace_ttl(id, ttl)
                .await
                .map_err(|e| self.refused(&d, &what, &e))?;
        }
        let schedule = spec_str(&new_spec, "autostartSchedule");
        if changed("autostartSchedule")
            && schedule != ws.autostart_schedule.as_deref().filter(|s| !s.is_empty())
        {
            let what = format!("setting the autostart schedule of workspace {}", ctx.name);
            d.client
                .update_workspace_autostart(id, schedule)
                .await
                .map_err(|e| self.refused(&d, &what, &e))?;
        }
        let what = format!("reading workspace {}", ctx.name);
        let ws = d
            .client
            .workspace(id)
            .await
            .map_err(|e| self.refused(&d, &what, &e))?;
        let status = mapping::workspace_status(&ws, new);
        set_status(new, status);
        Ok(())
    }

    async fn delete_workspace(
        &self,
        ctx: HookContext<'_>,
        current: &Value,
    ) -> Result<(), HookError> {
        let Some((id, d)) = self.delete_target(ctx, current).await? else {
            return Ok(());
        };
        let request = CreateWorkspaceBuild {
            transition: WorkspaceTransition::Delete,
            template_version_id: None,
        };
        match d.client.create_workspace_build(id, &request).await {
            Ok(_) => Ok(()),
            // Already gone (404 unknown, 410 deleted): the sync removes the object.
            Err(e) if e.is_not_found() || e.status().is_some_and(|s| s.as_u16() == 410) => Ok(()),
            // Another build is running: the object is marked deleted now and the sync queues
            // the delete build once coderd takes it.
            Err(e) if e.is_conflict() => {
                tracing::info!(workspace = ctx.name, error = %e, "delete build deferred to the sync");
                Ok(())
            }
            Err(e) => Err(self.refused(&d, &format!("deleting workspace {}", ctx.name), &e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CoderTemplate

/// What became of a new template version right after it was created.
enum NewVersion {
    /// Built: the template exists (created or promoted).
    Active(Template),
    /// Built, but there is no template to promote it in (only when not created here).
    Building(TemplateVersion),
    Failed(TemplateVersion, String),
}

impl CoderHooks {
    /// Uploads `files`, creates a version (of `template_id` when it exists), and when the build
    /// already finished, creates the template or promotes the version.
    async fn new_version(
        &self,
        d: &Deployment,
        name: &TemplateName,
        spec: &Map<String, Value>,
        files: &BTreeMap<String, String>,
        template_id: Option<Uuid>,
    ) -> Result<NewVersion, HookError> {
        let tar = pack(files)?;
        let what = format!("uploading the files of template {}", name.template);
        let file_id = d
            .client
            .upload_tar(tar)
            .await
            .map_err(|e| self.refused(d, &what, &e))?;
        let request = CreateTemplateVersion {
            file_id,
            template_id,
            ..Default::default()
        };
        let what = format!(
            "creating a version of template {:?} in organization {:?}",
            name.template, name.organization
        );
        let version = d
            .client
            .create_template_version(&name.organization, &request)
            .await
            .map_err(|e| self.refused(d, &what, &e))?;
        match mapping::version_outcome(&version) {
            VersionOutcome::Building => Ok(NewVersion::Building(version)),
            VersionOutcome::Failed(error) => Ok(NewVersion::Failed(version, error)),
            VersionOutcome::Succeeded => {
                let template = activate(d, name, spec, template_id, version.id)
                    .await
                    .map_err(|e| {
                        self.refused(d, &format!("activating template {}", name.template), &e)
                    })?;
                Ok(NewVersion::Active(template))
            }
        }
    }

    /// Records a new version's fate on the object being stored.
    fn record_version(object: &mut Value, outcome: NewVersion) -> Result<(), HookError> {
        let generation = generation(object);
        match outcome {
            NewVersion::Active(template) => {
                set_annotation(object, PENDING_VERSION_ANNOTATION, None)?;
                let mut status = mapping::template_status(&template, object);
                if let Some(map) = status.as_object_mut() {
                    let id = template.active_version_id.to_string();
                    mapping::mark_built(map, &id, None, generation);
                }
                set_status(object, status);
            }
            NewVersion::Building(version) => {
                set_annotation(
                    object,
                    PENDING_VERSION_ANNOTATION,
                    Some(version.id.to_string()),
                )?;
                let mut status = status_of(object);
                mapping::mark_building(&mut status, &version.id.to_string(), generation);
                set_status(object, Value::Object(status));
            }
            NewVersion::Failed(version, error) => {
                set_annotation(object, PENDING_VERSION_ANNOTATION, None)?;
                let mut status = status_of(object);
                mapping::mark_built(
                    &mut status,
                    &version.id.to_string(),
                    Some(&error),
                    generation,
                );
                set_status(object, Value::Object(status));
            }
        }
        Ok(())
    }

    async fn create_template(
        &self,
        ctx: HookContext<'_>,
        object: &mut Value,
    ) -> Result<(), HookError> {
        let name = TemplateName::parse(ctx.name).map_err(|e| bad_request(e.to_string()))?;
        let spec = spec(object);
        check_organization(&spec, &name.organization)?;
        let files = files(&spec)?;
        if !files.is_empty() {
            pack(&files)?;
        }
        let d = self.deployment(ctx.namespace).await?;
        if ctx.dry_run {
            return Ok(());
        }
        // The organization first: coderd answers 404 for a template in an unknown organization
        // as for an unknown template, and the files must not be uploaded for a create that
        // cannot succeed.
        let what = format!("looking up organization {:?}", name.organization);
        d.client
            .organization(&name.organization)
            .await
            .map_err(|e| self.refused(&d, &what, &e))?;
        let existing = match d
            .client
            .template_by_name(&name.organization, &name.template)
            .await
        {
            Ok(template) => Some(template),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                return Err(self.refused(
                    &d,
                    &format!(
                        "looking up template {:?} in organization {:?}",
                        name.template, name.organization
                    ),
                    &e,
                ));
            }
        };
        if let Some(template) = &existing {
            // Adopt coderd's template: same uid as the sync would give it.
            metadata_mut(object)?.insert("uid".into(), Value::String(template.id.to_string()));
            let status = mapping::template_status(template, object);
            set_status(object, status);
        }
        if files.is_empty() {
            // No files: an existing template is adopted as is, or one is created from an
            // already built version (spec.versionID).
            return match (existing, spec_str(&spec, "versionID")) {
                (Some(_), _) => Ok(()),
                (None, Some(version)) => {
                    let version = parse_uuid("spec.versionID", version)?;
                    let template =
                        activate(&d, &name, &spec, None, version)
                            .await
                            .map_err(|e| {
                                self.refused(
                                    &d,
                                    &format!("creating template {}", name.template),
                                    &e,
                                )
                            })?;
                    metadata_mut(object)?
                        .insert("uid".into(), Value::String(template.id.to_string()));
                    let status = mapping::template_status(&template, object);
                    set_status(object, status);
                    Ok(())
                }
                (None, None) => Err(bad_request(format!(
                    "spec.files (or spec.versionID) is required: template {:?} does not exist in organization {:?} of coderd yet",
                    name.template, name.organization
                ))),
            };
        }
        let outcome = self
            .new_version(&d, &name, &spec, &files, existing.as_ref().map(|t| t.id))
            .await?;
        if let NewVersion::Active(template) = &outcome {
            metadata_mut(object)?.insert("uid".into(), Value::String(template.id.to_string()));
        }
        Self::record_version(object, outcome)
    }

    async fn update_template(
        &self,
        ctx: HookContext<'_>,
        current: &Value,
        new: &mut Value,
    ) -> Result<(), HookError> {
        // A write that does not carry the pending-version annotation keeps it.
        if let Some(pending) = annotation(current, PENDING_VERSION_ANNOTATION)
            && annotation(new, PENDING_VERSION_ANNOTATION).is_none()
        {
            set_annotation(new, PENDING_VERSION_ANNOTATION, Some(pending.to_string()))?;
        }
        let (old_spec, new_spec) = (spec(current), spec(new));
        if old_spec == new_spec || deleting(current) {
            return Ok(());
        }
        let changed = |key: &str| old_spec.get(key) != new_spec.get(key);
        if changed("organization") {
            return Err(bad_request("spec.organization cannot change"));
        }
        let name = TemplateName::parse(ctx.name).map_err(|e| bad_request(e.to_string()))?;
        let files = files(&new_spec)?;
        if changed("files") && !files.is_empty() {
            pack(&files)?;
        }
        let d = self.deployment(ctx.namespace).await?;
        if ctx.dry_run {
            return Ok(());
        }
        let id = status_id(current);
        if changed("files") && !files.is_empty() {
            let outcome = self.new_version(&d, &name, &new_spec, &files, id).await?;
            Self::record_version(new, outcome)?;
        }
        let meta_changed = ["displayName", "description", "icon"]
            .iter()
            .any(|k| changed(k));
        if let (Some(id), true, Some(version)) =
            (id, changed("versionID"), spec_str(&new_spec, "versionID"))
        {
            // spec.versionID names the version to make active.
            let version = parse_uuid("spec.versionID", version)?;
            let what = format!("promoting version {version} of template {}", ctx.name);
            d.client
                .promote_template_version(id, version)
                .await
                .map_err(|e| self.refused(&d, &what, &e))?;
        }
        if let Some(id) = id {
            let what = format!("reading template {}", ctx.name);
            let mut template = d
                .client
                .template(id)
                .await
                .map_err(|e| self.refused(&d, &what, &e))?;
            if meta_changed {
                let mut meta = UpdateTemplateMeta::from_template(&template);
                meta.display_name = spec_str(&new_spec, "displayName").unwrap_or("").to_string();
                meta.description = spec_str(&new_spec, "description").unwrap_or("").to_string();
                meta.icon = spec_str(&new_spec, "icon").unwrap_or("").to_string();
                let what = format!("updating template {}", ctx.name);
                template = d
                    .client
                    .update_template_meta(id, &meta)
                    .await
                    .map_err(|e| self.refused(&d, &what, &e))?;
            }
            let status = mapping::template_status(&template, new);
            set_status(new, status);
        }
        Ok(())
    }

    async fn delete_template(
        &self,
        ctx: HookContext<'_>,
        current: &Value,
    ) -> Result<(), HookError> {
        let Some((id, d)) = self.delete_target(ctx, current).await? else {
            return Ok(());
        };
        match d.client.delete_template(id).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // coderd refuses while workspaces use the template (400 in coderd's handler).
            Err(e) if matches!(e.status().map(|s| s.as_u16()), Some(400 | 409)) => {
                Err(HookError::new(
                    Refusal::Conflict,
                    format!("coderd refused deleting template {}: {e}", ctx.name),
                ))
            }
            Err(e) => Err(self.refused(&d, &format!("deleting template {}", ctx.name), &e)),
        }
    }
}

/// Makes a built version active: creates the template when it does not exist yet, else
/// promotes the version. Returns the template as coderd has it then.
pub async fn activate(
    d: &Deployment,
    name: &TemplateName,
    spec: &Map<String, Value>,
    template_id: Option<Uuid>,
    version_id: Uuid,
) -> Result<Template, CoderError> {
    match template_id {
        Some(id) => {
            d.client.promote_template_version(id, version_id).await?;
            d.client.template(id).await
        }
        None => {
            let text = |key: &str| spec_str(spec, key).unwrap_or("").to_string();
            let request = CreateTemplate {
                name: name.template.clone(),
                display_name: text("displayName"),
                description: text("description"),
                icon: text("icon"),
                template_version_id: version_id,
                default_ttl_millis: None,
            };
            d.client.create_template(&name.organization, &request).await
        }
    }
}

const WORKSPACES: &str = "coderworkspaces";
const TEMPLATES: &str = "codertemplates";

impl WriteHooks for CoderHooks {
    fn before_create<'a>(
        &'a self,
        ctx: HookContext<'a>,
        object: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            match (ctx.resource.group, ctx.resource.plural) {
                (mapping::GROUP, WORKSPACES) => self.create_workspace(ctx, object).await,
                (mapping::GROUP, TEMPLATES) => self.create_template(ctx, object).await,
                _ => Ok(()),
            }
        })
    }

    fn before_update<'a>(
        &'a self,
        ctx: HookContext<'a>,
        current: &'a Value,
        new: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            match (ctx.resource.group, ctx.resource.plural) {
                (mapping::GROUP, WORKSPACES) => self.update_workspace(ctx, current, new).await,
                (mapping::GROUP, TEMPLATES) => self.update_template(ctx, current, new).await,
                _ => Ok(()),
            }
        })
    }

    fn before_delete<'a>(
        &'a self,
        ctx: HookContext<'a>,
        current: &'a Value,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            match (ctx.resource.group, ctx.resource.plural) {
                (mapping::GROUP, WORKSPACES) => self.delete_workspace(ctx, current).await,
                (mapping::GROUP, TEMPLATES) => self.delete_template(ctx, current).await,
                _ => Ok(()),
            }
        })
    }
}
