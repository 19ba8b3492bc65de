//! The periodic sync of each Coder-backed namespace with its coderd: statuses follow coderd,
//! templates and workspaces created in Coder's UI or CLI appear (uid = coderd's id), the ones
//! deleted there disappear, pending template versions are activated when their build ends,
//! and deleted CoderWorkspaces go once coderd's delete build has removed the workspace.
//! When coderd cannot be reached, the stored objects stay readable and say so in their
//! `CoderReachable` condition.
//!
//! Nothing is removed because coderd's list lacks it: each missing object is read by id, and
//! only coderd's answer that it is gone counts; a round that would still remove more than half
//! of a namespace's objects of a kind is refused (see [`super::removal`]).
//!
//! Writes go through the object layer without the write hooks (what coderd already did must
//! not be sent back to it), as field manager [`FIELD_MANAGER`], with the resourceVersion they
//! were computed from: a concurrent user write wins and the next round looks again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::objects::{Error, ListOptions, Objects, Subresource, WriteOptions};
use crate::coder::{
    CoderError, CreateWorkspaceBuild, ProvisionerJobStatus, Template, Workspace, WorkspaceFilter,
    WorkspaceTransition,
};

use super::backoff::Backoff;
use super::directory::{Deployment, Directory, DirectoryError};
use super::events::ControlPlaneEvents;
use super::health::{Change, Failure, StateLog};
use super::hooks::{activate, annotation};
use super::mapping::{self, PENDING_VERSION_ANNOTATION, VersionOutcome, status_of};
use super::metrics::SyncMetrics;
use super::names::{TemplateName, WorkspaceName};
use super::removal;

/// The field manager of the sync's writes.
pub const FIELD_MANAGER: &str = "coder-k8s-coder-sync";

/// Namespaces one round syncs at once.
const CONCURRENT_NAMESPACES: usize = 4;

/// The least pause after a round, as a fraction of the interval (see [`next_round`]).
const MIN_REST: f64 = 0.25;

/// Objects created in coderd this recently are left to the request that created them (it
/// stores them with its own metadata a moment later).
const CREATE_GRACE: Duration = Duration::from_secs(3);

pub struct Sync {
    /// The object layer without write hooks.
    pub objects: Objects,
    pub directory: Arc<Directory>,
    pub interval: Duration,
    pub events: ControlPlaneEvents,
    pub metrics: SyncMetrics,
    /// Per namespace: why syncing fails (logged once per change).
    pub health: StateLog,
    /// Per namespace and kind: the removal refused (logged and reported once per change).
    pub refusals: StateLog,
    /// Per coderd: how long to leave it alone after failed rounds.
    pub backoff: Backoff,
}

/// What became of an object coderd's list did not have, once asked by id.
enum Absent<T> {
    /// coderd still has it (the list was short): refresh from this.
    Present(T),
    /// coderd says it is gone, and why.
    Gone(String),
    /// No answer that proves anything (unreachable, 5xx, 401): keep it as it is.
    Unknown,
}

impl Sync {
    /// Syncs every `interval` until `stop`, rounds starting one interval apart (see
    /// [`next_round`]). The first round runs at once: a replica that just took over the sync
    /// catches up on what changed while no one synced.
    pub async fn run(&self, stop: &CancellationToken) {
        loop {
            let started = tokio::time::Instant::now();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.round() => {}
            }
            let next = next_round(started, tokio::time::Instant::now(), self.interval);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// One pass over every Coder-backed namespace, [`CONCURRENT_NAMESPACES`] at a time: each
    /// has its own coderd (or shares one with its own backoff), so one large or slow coderd
    /// does not hold up the others' rounds.
    async fn round(&self) {
        if !self.directory.ready().await {
            return;
        }
        let namespaces = self.directory.namespaces();
        stream::iter(&namespaces)
            .for_each_concurrent(CONCURRENT_NAMESPACES, |namespace| self.namespace(namespace))
            .await;
        self.release_orphans(&namespaces).await;
    }
}

/// When the round after one that started at `started` and ended at `ended` begins: one
/// interval after `started`, so that a change in coderd is seen within about one interval
/// however long a round takes (a pause of one interval *after* each round made the cycle
/// interval + round: 10 s + 10 s at 1,000 workspaces). A round longer than the interval is
/// still followed by [`MIN_REST`] of the interval without requests, so a coderd that is slow
/// to answer is not listed back to back.
fn next_round(
    started: tokio::time::Instant,
    ended: tokio::time::Instant,
    interval: Duration,
) -> tokio::time::Instant {
    (started + interval).max(ended + interval.mul_f64(MIN_REST))
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

fn id_of(object: &Value) -> Option<Uuid> {
    object
        .pointer("/status/id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// coderd's answer to a read by id that means the object is gone: 404 (unknown or deleted
/// template, unknown workspace) or 410 (deleted workspace), per coderd's handlers.
fn says_gone(error: &CoderError) -> bool {
    matches!(error.status().map(|s| s.as_u16()), Some(404 | 410))
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
            // The token Secret the control plane names cannot be read: a failure to say once.
            Err(error @ DirectoryError::Token { .. }) => {
                let change = self
                    .health
                    .observe(namespace, Some("OperatorTokenUnreadable".into()));
                if let Some(Change::Entered { .. }) = change {
                    tracing::warn!(namespace, %error, "cannot sync with coderd: the operator token cannot be read");
                }
                return;
            }
            // No operator access yet (or being replaced): the control plane's condition says
            // why; nothing to sync with.
            Err(error) => {
                tracing::debug!(namespace, %error, "not syncing: no usable coderd");
                return;
            }
        };
        let url = d.client.base_url().to_string();
        if !self.backoff.due(&url, Instant::now()) {
            tracing::debug!(
                namespace,
                url,
                "coderd failed recently; not asking it this round"
            );
            return;
        }
        self.metrics.round(namespace);
        let mut failure = None;
        match self.templates(&d).await {
            Ok(listed) => failure = listed.err(),
            Err(error) => tracing::warn!(namespace, %error, "syncing CoderTemplates failed"),
        }
        match self.workspaces(&d).await {
            Ok(listed) => failure = failure.or(listed.err()),
            Err(error) => tracing::warn!(namespace, %error, "syncing CoderWorkspaces failed"),
        }
        match &failure {
            Some(_) => {
                let wait = self.backoff.failed(&url, Instant::now());
                tracing::debug!(
                    namespace,
                    url,
                    ?wait,
                    "coderd failed; next round of it after"
                );
            }
            None => self.backoff.succeeded(&url),
        }
        self.log_health(&d, failure);
    }

    /// One log line per change of the namespace's sync state: WARN when coderd starts failing
    /// (or fails differently), INFO when it answers again.
    fn log_health(&self, d: &Deployment, failure: Option<CoderError>) {
        let state = failure
            .as_ref()
            .map(|e| Failure::of(e).reason().to_string());
        match self.health.observe(&d.namespace, state) {
            Some(Change::Entered { previous }) => {
                let error = failure.map(|e| e.to_string()).unwrap_or_default();
                tracing::warn!(
                    namespace = d.namespace,
                    control_plane = d.control_plane,
                    previous = previous.as_deref().unwrap_or("syncing"),
                    %error,
                    "cannot sync with coderd; objects keep their last seen status and say so in CoderReachable"
                );
            }
            Some(Change::Recovered { previous }) => tracing::info!(
                namespace = d.namespace,
                control_plane = d.control_plane,
                previous,
                "coderd answers the sync again"
            ),
            None => {}
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

    /// coderd could not be listed: the objects keep their status and say why, following the
    /// latest failure (unreachable, then a rejected token, say).
    async fn mark_unreachable(
        &self,
        d: &Deployment,
        r: &'static ResourceDescriptor,
        stored: &[Value],
        error: &CoderError,
    ) {
        if error.is_unauthorized() {
            self.directory
                .token_rejected(&d.namespace, &d.control_plane);
        }
        let condition = mapping::unreachable(error);
        for object in stored {
            let object: &Value = object;
            let current = mapping::condition(object, mapping::CODER_REACHABLE);
            let field = |name: &str| current.and_then(|c| c.get(name)).and_then(Value::as_str);
            if field("status") == Some("False")
                && field("reason") == Some(condition.reason.as_str())
                && field("message") == Some(condition.message.as_str())
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

    /// Ok(Err(_)): coderd's list failed (the objects say so in `CoderReachable`).
    async fn templates(&self, d: &Deployment) -> Result<Result<(), CoderError>, Error> {
        let r = mapping::templates();
        let stored = self.stored(r, &d.namespace).await?;
        let listed = match d.client.templates().await {
            Ok(listed) => listed,
            Err(error) => {
                self.mark_unreachable(d, r, &stored, &error).await;
                return Ok(Err(error));
            }
        };
        let mut by_name: HashMap<String, Template> = listed
            .into_iter()
            .filter_map(|t| Some((TemplateName::object_name(&t.organization_name, &t.name)?, t)))
            .collect();
        let mut absent = Vec::new();
        for object in &stored {
            let object: &Value = object;
            match by_name.remove(name_of(object)) {
                Some(template) => self.refresh_template(d, object, Some(template)).await,
                // Not in the list: ask coderd about it before believing it is gone.
                None if has_id(object) => absent.push(object),
                // Its first version is still building.
                None => self.refresh_template(d, object, None).await,
            }
        }
        self.settle_absent_templates(d, stored.len(), absent).await;
        for (_, template) in by_name {
            if recently_created(template.created_at) {
                continue;
            }
            if let Some(object) = mapping::template_object(&template, &d.namespace) {
                self.mirror(r, &d.namespace, object).await;
            }
        }
        Ok(Ok(()))
    }

    /// Reads each template the list lacked by id: refreshed when coderd still has it, removed
    /// when coderd says it is gone (within the removal guard).
    async fn settle_absent_templates(&self, d: &Deployment, total: usize, absent: Vec<&Value>) {
        let mut gone = Vec::new();
        for object in absent {
            let Some(id) = id_of(object) else {
                continue;
            };
            let verdict = match d.client.template(id).await {
                Ok(template) => {
                    match TemplateName::object_name(&template.organization_name, &template.name) {
                        Some(name) if name == name_of(object) => Absent::Present(template),
                        other => Absent::Gone(format!(
                            "coderd's template {id} is now {}",
                            other.unwrap_or_else(|| format!("{:?}", template.name))
                        )),
                    }
                }
                Err(error) if says_gone(&error) => {
                    Absent::Gone(format!("coderd answers {error} for template {id}"))
                }
                Err(error) => self.unknown(d, &error),
            };
            match verdict {
                Absent::Present(template) => self.refresh_template(d, object, Some(template)).await,
                Absent::Gone(why) => {
                    gone.push((object, why));
                    if self.over_limit(&gone, total) {
                        // The round is refused anyway: spare coderd the remaining reads.
                        break;
                    }
                }
                Absent::Unknown => {}
            }
        }
        self.remove_confirmed(d, mapping::templates(), total, gone)
            .await;
    }

    /// A failed read by id: proves nothing.
    fn unknown<T>(&self, d: &Deployment, error: &CoderError) -> Absent<T> {
        if error.is_unauthorized() {
            self.directory
                .token_rejected(&d.namespace, &d.control_plane);
        }
        tracing::debug!(namespace = d.namespace, %error, "cannot confirm an object missing from coderd's list; keeping it");
        Absent::Unknown
    }

    fn over_limit(&self, gone: &[(&Value, String)], total: usize) -> bool {
        let unrequested = gone.iter().filter(|(o, _)| !deleting(o)).count();
        !removal::permitted(unrequested, total)
    }

    /// Removes the objects coderd confirmed gone. Those a user deleted go in any case; the
    /// others only if they are not more than [`removal::allowed`] of the `total`: otherwise
    /// the round keeps them, says so once (WARN, an Event on the control plane) and counts it,
    /// and the next round asks again.
    async fn remove_confirmed(
        &self,
        d: &Deployment,
        r: &'static ResourceDescriptor,
        total: usize,
        gone: Vec<(&Value, String)>,
    ) {
        let (requested, unrequested): (Vec<_>, Vec<_>) =
            gone.into_iter().partition(|(o, _)| deleting(o));
        for (object, _) in &requested {
            self.forget(r, &d.namespace, object).await;
        }
        let key = format!("{}/{}", d.namespace, r.plural);
        if !removal::permitted(unrequested.len(), total) {
            self.metrics.refused(&d.namespace, r.plural);
            let names: Vec<&str> = unrequested.iter().map(|(o, _)| name_of(o)).collect();
            let problem = format!("at least {} of {total} {}", unrequested.len(), r.plural);
            if let Some(Change::Entered { .. }) = self.refusals.observe(&key, Some(problem)) {
                let note = format!(
                    "Kept {} that coderd no longer has: at least {} of {total} {} would have gone at once ({}), more than the {} one sync may remove; that looks like a coderd that lost its data, not deletions in Coder. If they were deleted on purpose, delete them with kubectl.",
                    r.plural,
                    unrequested.len(),
                    r.plural,
                    names.join(", "),
                    removal::allowed(total),
                );
                tracing::warn!(
                    namespace = d.namespace,
                    resource = r.plural,
                    first = unrequested
                        .first()
                        .map(|(_, why)| why.as_str())
                        .unwrap_or(""),
                    "{note}"
                );
                self.events
                    .warn(
                        &self.directory,
                        &d.namespace,
                        &d.control_plane,
                        "RemovalRefused",
                        note,
                    )
                    .await;
            }
            return;
        }
        if let Some(Change::Recovered { previous }) = self.refusals.observe(&key, None) {
            tracing::info!(
                namespace = d.namespace,
                resource = r.plural,
                previous,
                "the sync no longer refuses removals"
            );
        }
        for (object, why) in &unrequested {
            tracing::info!(
                namespace = d.namespace,
                name = name_of(object),
                why,
                "removing an object coderd deleted"
            );
            self.forget(r, &d.namespace, object).await;
        }
        if !unrequested.is_empty() {
            self.metrics
                .removed(&d.namespace, r.plural, unrequested.len());
        }
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

    /// Ok(Err(_)): coderd's list failed (the objects say so in `CoderReachable`).
    async fn workspaces(&self, d: &Deployment) -> Result<Result<(), CoderError>, Error> {
        let r = mapping::workspaces();
        let started = Instant::now();
        let stored = self.stored(r, &d.namespace).await?;
        let read_stored = started.elapsed();
        let listed = match d.client.workspaces(&WorkspaceFilter::default()).await {
            Ok(listed) => listed,
            Err(error) => {
                self.mark_unreachable(d, r, &stored, &error).await;
                return Ok(Err(error));
            }
        };
        let listed_coderd = started.elapsed() - read_stored;
        let mut by_name: HashMap<String, Workspace> = listed
            .into_iter()
            .filter_map(|ws| {
                Some((
                    WorkspaceName::object_name(&ws.organization_name, &ws.owner_name, &ws.name)?,
                    ws,
                ))
            })
            .collect();
        let mut absent = Vec::new();
        for object in &stored {
            let object: &Value = object;
            match by_name.remove(name_of(object)) {
                Some(ws) => self.refresh_workspace(d, object, &ws).await,
                // Not in the list (deleted there, our delete build finished, or a short list):
                // ask coderd before believing it is gone.
                None if has_id(object) => absent.push(object),
                // Deleted, and never had a workspace in coderd: nothing to wait for.
                None if deleting(object) => self.forget(r, &d.namespace, object).await,
                // No id to ask about: no evidence, it stays.
                None => {}
            }
        }
        self.settle_absent_workspaces(d, stored.len(), absent).await;
        for (_, ws) in by_name {
            let deleted = ws.latest_build.transition == WorkspaceTransition::Delete;
            if deleted || recently_created(ws.created_at) {
                continue;
            }
            if let Some(object) = mapping::workspace_object(&ws, &d.namespace) {
                self.mirror(r, &d.namespace, object).await;
            }
        }
        // Where a round's time goes, for whoever tunes the interval against coderd's size.
        tracing::debug!(
            namespace = d.namespace,
            stored = stored.len(),
            read_stored_ms = read_stored.as_millis() as u64,
            list_coderd_ms = listed_coderd.as_millis() as u64,
            compare_and_write_ms =
                (started.elapsed() - read_stored - listed_coderd).as_millis() as u64,
            "synced CoderWorkspaces"
        );
        Ok(Ok(()))
    }

    /// Reads each workspace the list lacked by id: refreshed when coderd still has it, removed
    /// when coderd says it is gone (within the removal guard).
    async fn settle_absent_workspaces(&self, d: &Deployment, total: usize, absent: Vec<&Value>) {
        let mut gone = Vec::new();
        for object in absent {
            let Some(id) = id_of(object) else {
                continue;
            };
            let verdict = match d.client.workspace(id).await {
                Ok(ws)
                    if ws.latest_build.transition == WorkspaceTransition::Delete
                        && ws.latest_build.job.status == ProvisionerJobStatus::Succeeded =>
                {
                    Absent::Gone(format!(
                        "the delete build of coderd's workspace {id} finished"
                    ))
                }
                Ok(ws) => match WorkspaceName::object_name(
                    &ws.organization_name,
                    &ws.owner_name,
                    &ws.name,
                ) {
                    Some(name) if name == name_of(object) => Absent::Present(ws),
                    other => Absent::Gone(format!(
                        "coderd's workspace {id} is now {}",
                        other.unwrap_or_else(|| format!("{:?}", ws.name))
                    )),
                },
                Err(error) if says_gone(&error) => {
                    Absent::Gone(format!("coderd answers {error} for workspace {id}"))
                }
                Err(error) => self.unknown(d, &error),
            };
            match verdict {
                Absent::Present(ws) => self.refresh_workspace(d, object, &ws).await,
                Absent::Gone(why) => {
                    gone.push((object, why));
                    if self.over_limit(&gone, total) {
                        break;
                    }
                }
                Absent::Unknown => {}
            }
        }
        self.remove_confirmed(d, mapping::workspaces(), total, gone)
            .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_start_one_interval_apart_and_a_long_round_still_leaves_a_rest() {
        let interval = Duration::from_secs(10);
        let t0 = tokio::time::Instant::now();
        // A 3 s round: the next starts 10 s after this one started, not 10 s after it ended.
        assert_eq!(
            next_round(t0, t0 + Duration::from_secs(3), interval),
            t0 + interval
        );
        // A 12 s round: a quarter interval of rest after it, not a round at once.
        assert_eq!(
            next_round(t0, t0 + Duration::from_secs(12), interval),
            t0 + Duration::from_millis(14_500)
        );
    }
}
