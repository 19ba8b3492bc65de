//! The reconciler: apply every child with server-side apply, sweep what is no longer wanted,
//! report status, and clean up other namespaces through a finalizer on deletion.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use tracing::{debug, info, instrument, warn};

use super::builders::{self, MANAGER, Target, describe};
use super::caches::Cached;
use super::context::{Applied, Change, Context};
use super::finalizer;
use super::gateway;
use super::license;
use super::operator_access;
use super::status::{self, Outcome, Rollout};
use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::controller::drift;
use crate::controller::error::{Error, Result, is_namespace_terminating};
use crate::controller::remembered::object_key;
use crate::controller::status_write::{freshest, write_changed};

/// Resync period of a healthy control plane: catches drift in fields a watch cannot see.
const RESYNC: Duration = Duration::from_secs(300);

fn key(obj: &CoderControlPlane) -> String {
    object_key(obj)
}

#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile(obj: Arc<CoderControlPlane>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    let result = if finalizer::deleting(obj.as_ref()) {
        finalize(&obj, &ctx).await
    } else {
        apply(&obj, &ctx).await
    };
    match result {
        Ok(action) => {
            ctx.backoff.reset(&key(&obj));
            Ok(action)
        }
        Err(Error::NamespaceTerminating(namespace)) => {
            // Not a failure to retry: the namespace and this object are going away. Deletion of
            // the object (by the namespace controller) triggers the finalizer's cleanup.
            info!(%namespace, "namespace is terminating; no longer applying children");
            ctx.mark_terminating(obj.uid().as_deref().unwrap_or_default());
            Ok(Action::await_change())
        }
        Err(error) => {
            report_failure(&obj, &ctx, &error).await;
            Err(error)
        }
    }
}

/// Being deleted: clean up other namespaces if this object holds our finalizer (everything
/// else goes with the object through garbage collection), then let go.
async fn finalize(obj: &CoderControlPlane, ctx: &Context) -> Result<Action> {
    if finalizer::holds(obj) {
        cleanup(obj, ctx).await?;
        finalizer::remove(&ctx.client, obj).await?;
    }
    Ok(Action::await_change())
}

/// Requeue after an error, later each time the same object fails again.
pub fn error_policy(obj: Arc<CoderControlPlane>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(error);
    let delay = ctx.backoff.next_delay(&key(&obj));
    warn!(%error, name = %obj.name_any(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn apply(obj: &CoderControlPlane, ctx: &Context) -> Result<Action> {
    if ctx.is_terminating(obj.uid().as_deref().unwrap_or_default()) {
        return Ok(Action::await_change());
    }
    let desired = builders::desired(obj)?;
    let target = Target::new(obj)?;
    let reaches_other_namespaces = desired
        .rbac
        .iter()
        .any(|(role, _)| role.namespace().as_deref() != Some(target.namespace));
    // Before the first object the garbage collector cannot remove exists.
    if reaches_other_namespaces && !finalizer::holds(obj) {
        finalizer::add(&ctx.client, obj).await?;
    }
    // One Event per reconcile lists every child it created or updated (not one per child:
    // seven Event writes for each new control plane were most of the controller's API load).
    let changes = Changes::default();
    let result = apply_children(obj, ctx, &desired, &target, &changes).await;
    changes.publish(ctx, obj).await;
    let action = result?;
    // Nothing wanted in other namespaces and nothing left there (the cache shows the sweep's
    // deletions once their events arrive, which start another reconcile): let go.
    if !reaches_other_namespaces && finalizer::holds(obj) {
        let own = BTreeSet::from([target.namespace.to_string()]);
        let left = cached_stale::<Role>(ctx, &target, &own).len()
            + cached_stale::<RoleBinding>(ctx, &target, &own).len();
        if left == 0 {
            finalizer::remove(&ctx.client, obj).await?;
        }
    }
    Ok(action)
}

async fn apply_children(
    obj: &CoderControlPlane,
    ctx: &Context,
    desired: &builders::Desired,
    target: &Target<'_>,
    changes: &Changes,
) -> Result<Action> {
    if let Some(sa) = &desired.service_account {
        apply_child(ctx, obj, sa, changes).await?;
    }
    let mut rbac_namespaces = BTreeSet::new();
    for (role, binding) in &desired.rbac {
        apply_child(ctx, obj, role, changes).await?;
        apply_child(ctx, obj, binding, changes).await?;
        rbac_namespaces.insert(role.namespace().unwrap_or_default());
    }
    // The caches hold every workspace Role and RoleBinding, so finding stale ones is free.
    let stale_roles = cached_stale::<Role>(ctx, target, &rbac_namespaces);
    let stale_bindings = cached_stale::<RoleBinding>(ctx, target, &rbac_namespaces);
    delete_all(ctx, obj, &stale_roles).await?;
    delete_all(ctx, obj, &stale_bindings).await?;

    let deployment = apply_child(ctx, obj, &desired.deployment, changes).await?;
    apply_child(ctx, obj, &desired.service, changes).await?;
    match &desired.ingress {
        Some(ingress) => {
            apply_child(ctx, obj, ingress, changes).await?;
        }
        None => {
            delete_if_controlled::<Ingress>(ctx, obj, target.namespace, target.name).await?;
        }
    }

    let routing = gateway::reconcile(ctx, obj, target, desired.http_route.as_ref()).await?;

    let rollout = Rollout::of(&deployment);
    // Independent of the rollout when the spec names coderd's URL (the Service's URL answers
    // only once a replica is available).
    let access = operator_access::reconcile(ctx, obj, target, rollout.available()).await?;
    // status.url is where the operator (this controller, the apiserver's Coder backend) reaches
    // coderd: the in-cluster Service, unless spec.operatorAccess.url names another URL (then
    // `operator_access::report` writes that one). The public CODER_ACCESS_URL is not it.
    let outcome = Outcome::Applied {
        rollout,
        url: target.service_url(),
    };
    // A token coderd rejected is reported as such before its replacement (or the failure to
    // replace it), so that watchers see the condition go False and why.
    let mut reported = std::borrow::Cow::Borrowed(obj);
    if let Some(rejection) = access.rejection() {
        let interim = write_status(
            ctx,
            obj,
            &outcome,
            &Reports {
                access: Some(&rejection),
                ..Reports::default()
            },
        )
        .await?;
        publish(
            ctx,
            obj,
            EventType::Warning,
            rejection.reason,
            rejection.message,
            None,
        )
        .await;
        reported.to_mut().status = Some(interim);
    }
    // After operator access: the license is uploaded with the token it provides.
    // Decided on the status this controller last wrote: the cache may not show it yet, and a
    // stale licenseLastAppliedHash would upload the same license again.
    let freshest = freshest(&ctx.written_status, reported.as_ref());
    let licensing = license::reconcile(ctx, &freshest, target, &access, &key(obj)).await?;
    let reports = Reports {
        access: Some(&access),
        license: Some(&licensing),
        gateway: Some(&routing),
    };
    let status = write_status(ctx, &reported, &outcome, &reports).await?;
    for (reason, note) in &access.events {
        publish(ctx, obj, EventType::Normal, reason, note.clone(), None).await;
    }
    if let Some((reason, note)) = operator_access::warning(obj, &access) {
        publish(ctx, obj, EventType::Warning, reason, note, None).await;
    }
    for (warning, reason, note) in &licensing.events {
        let type_ = if *warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(ctx, obj, type_, reason, note.clone(), None).await;
    }
    if let Some((reason, note)) = &routing.change {
        changes.record_note(reason, note.clone());
    }
    if let Some((reason, note)) = &routing.warning {
        publish(ctx, obj, EventType::Warning, reason, note.clone(), None).await;
    }
    let mut requeue = ctx
        .operator_access
        .requeue_after(&key(obj), &access, RESYNC);
    for sooner in [licensing.requeue, routing.requeue].into_iter().flatten() {
        requeue = requeue.min(sooner);
    }
    debug!(phase = ?status.phase, operator_access = access.reason, ?requeue, "reconciled");
    Ok(Action::requeue(requeue))
}

/// Children one reconcile created or updated, as `Kind namespace/name`.
#[derive(Default)]
struct Changes {
    created: std::sync::Mutex<Vec<String>>,
    updated: std::sync::Mutex<Vec<String>>,
    /// (reason, note) of other Events about children.
    others: std::sync::Mutex<Vec<(String, String)>>,
}

impl Changes {
    fn record(&self, change: Change, child: String) {
        let list = match change {
            Change::Created => &self.created,
            Change::Updated => &self.updated,
            Change::Unchanged => return,
        };
        list.lock().unwrap_or_else(|p| p.into_inner()).push(child);
    }

    /// A child handled outside `apply_child` (the HTTPRoute): `reason` is Created or Updated;
    /// anything else (Deleted) is published on its own.
    fn record_note(&self, reason: &str, note: String) {
        let child = note
            .split_once(' ')
            .map_or(note.clone(), |(_, rest)| rest.to_string());
        match reason {
            "Created" => self.record(Change::Created, child),
            "Updated" => self.record(Change::Updated, child),
            _ => self
                .others
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((reason.to_string(), note)),
        }
    }

    async fn publish(&self, ctx: &Context, obj: &CoderControlPlane) {
        let others = std::mem::take(&mut *self.others.lock().unwrap_or_else(|p| p.into_inner()));
        for (reason, note) in others {
            publish(ctx, obj, EventType::Normal, &reason, note, None).await;
        }
        for (reason, list) in [("Created", &self.created), ("Updated", &self.updated)] {
            let children = std::mem::take(&mut *list.lock().unwrap_or_else(|p| p.into_inner()));
            if children.is_empty() {
                continue;
            }
            // events.k8s.io limits the note to 1 KiB.
            let mut note = format!("{reason} {}", children.join(", "));
            if note.len() > 1000 {
                let mut end = 1000;
                while !note.is_char_boundary(end) {
                    end -= 1;
                }
                note.truncate(end);
                note.push('…');
            }
            publish(ctx, obj, EventType::Normal, reason, note, None).await;
        }
    }
}

/// On deletion: remove RBAC objects in other namespaces. The ones in the object's own namespace
/// and every other child are left to garbage collection through their owner references.
/// This LISTs rather than trusting the cache: the last objects created may not be cached yet.
async fn cleanup(obj: &CoderControlPlane, ctx: &Context) -> Result<()> {
    let target = Target::new(obj)?;
    let own = BTreeSet::from([target.namespace.to_string()]);
    let selector = target.foreign_selector();
    let roles = listed_stale::<Role>(ctx, &selector, &own).await?;
    let bindings = listed_stale::<RoleBinding>(ctx, &selector, &own).await?;
    delete_all(ctx, obj, &roles).await?;
    delete_all(ctx, obj, &bindings).await?;
    info!(
        removed = roles.len() + bindings.len(),
        "cleaned up workspace RBAC in other namespaces"
    );
    Ok(())
}

fn owned_by(labels: &std::collections::BTreeMap<String, String>, target: &Target<'_>) -> bool {
    labels.get(builders::MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGER)
        && labels.get(builders::INSTANCE_LABEL).map(String::as_str) == Some(target.name)
        && labels
            .get(builders::OWNER_NAMESPACE_LABEL)
            .map(String::as_str)
            == Some(target.namespace)
}

/// Cached RBAC objects of this control plane in namespaces outside `keep`.
fn cached_stale<K: Cached>(ctx: &Context, target: &Target<'_>, keep: &BTreeSet<String>) -> Vec<K> {
    K::store(&ctx.caches)
        .state()
        .into_iter()
        .filter(|o| owned_by(o.labels(), target))
        .filter(|o| !keep.contains(&o.namespace().unwrap_or_default()))
        .map(|o| (*o).clone())
        .collect()
}

async fn listed_stale<K: Cached>(
    ctx: &Context,
    selector: &str,
    keep: &BTreeSet<String>,
) -> Result<Vec<K>> {
    let all: Api<K> = Api::all(ctx.client.clone());
    let found = all.list(&ListParams::default().labels(selector)).await?;
    Ok(found
        .items
        .into_iter()
        .filter(|o| !keep.contains(&o.namespace().unwrap_or_default()))
        .collect())
}

async fn delete_all<K: Cached>(ctx: &Context, obj: &CoderControlPlane, stale: &[K]) -> Result<()> {
    for stale in stale {
        let namespace = stale.namespace().unwrap_or_default();
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
        match api
            .delete(&stale.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(source) => {
                return Err(Error::Child {
                    action: "delete",
                    child: format!("{} {namespace}/{}", K::kind(&()), stale.name_any()),
                    source,
                });
            }
        }
        publish(
            ctx,
            obj,
            EventType::Normal,
            "Deleted",
            format!("Deleted {} in namespace {namespace}", describe(stale)),
            Some(stale.object_ref(&())),
        )
        .await;
    }
    Ok(())
}

/// Removes what other managers added to the exclusive part of a child (`Cached::EXCLUSIVE`: a
/// hand-added env var, container, Service port): server-side apply alone keeps fields it does
/// not own, and those parts are defined by the CoderControlPlane. Returns the child as stored.
async fn revert_foreign_fields<K: Cached + Serialize>(
    ctx: &Context,
    owner: &CoderControlPlane,
    desired: &K,
    applied: K,
) -> Result<K> {
    let Some(foreign) = take_over(ctx, &applied).await? else {
        return Ok(applied);
    };
    let stored = server_side_apply(ctx, desired).await?;
    publish_removed(ctx, owner, &foreign, &stored).await;
    Ok(stored)
}

async fn publish_removed<K: Cached>(
    ctx: &Context,
    owner: &CoderControlPlane,
    foreign: &[String],
    stored: &K,
) {
    publish(
        ctx,
        owner,
        EventType::Normal,
        "Updated",
        format!(
            "Removed fields {} added to {}",
            foreign.join(", "),
            describe(stored)
        ),
        Some(stored.object_ref(&())),
    )
    .await;
}

/// Moves the fields other managers own in the exclusive part of `live` into our own
/// managedFields entry (a JSON patch guarded by the resourceVersion), so that our next apply,
/// which does not carry them, makes the API server remove them. Values do not change, so no
/// extra rollout. Returns the managers whose fields were taken, `None` if there were none.
async fn take_over<K: Cached + Serialize>(ctx: &Context, live: &K) -> Result<Option<Vec<String>>> {
    let Some(path) = K::EXCLUSIVE else {
        return Ok(None);
    };
    let foreign = drift::foreign_managers(live.managed_fields(), path);
    let Some(managed_fields) = drift::take_ownership(live.managed_fields(), path) else {
        return Ok(None);
    };
    info!(
        child = %describe(live),
        managers = ?foreign,
        "removing fields other managers added"
    );
    let pointer = |path: &str| {
        json_patch::jsonptr::PointerBuf::parse(path).map_err(|e| Error::Encode(e.to_string()))
    };
    let patch = json_patch::Patch(vec![
        json_patch::PatchOperation::Test(json_patch::TestOperation {
            path: pointer("/metadata/resourceVersion")?,
            value: serde_json::json!(live.resource_version()),
        }),
        json_patch::PatchOperation::Replace(json_patch::ReplaceOperation {
            path: pointer("/metadata/managedFields")?,
            value: serde_json::to_value(&managed_fields)
                .map_err(|e| Error::Encode(e.to_string()))?,
        }),
    ]);
    let namespace = live.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    api.patch(
        &live.name_any(),
        &PatchParams {
            field_manager: Some(MANAGER.to_string()),
            ..PatchParams::default()
        },
        &Patch::Json::<()>(patch),
    )
    .await
    .map_err(|source| Error::Child {
        action: "take over fields of",
        child: format!("{} {namespace}/{}", K::kind(&()), live.name_any()),
        source,
    })?;
    Ok(Some(foreign))
}

/// An apply the API server rejected as invalid may clash with fields another manager added
/// (a Service port renumbered by hand keeps its name, so ours would be a duplicate): take
/// those over, then apply again. Any other failure is returned as it is.
async fn apply_past_foreign_fields<K: Cached + Serialize>(
    ctx: &Context,
    owner: &CoderControlPlane,
    child: &K,
    error: Error,
) -> Result<K> {
    let invalid = matches!(&error, Error::Child { source: kube::Error::Api(status), .. } if status.code == 422);
    if !invalid || K::EXCLUSIVE.is_none() {
        return Err(error);
    }
    let namespace = child.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(live) = api.get_opt(&child.name_any()).await? else {
        return Err(error);
    };
    let Some(foreign) = take_over(ctx, &live).await? else {
        return Err(error);
    };
    let stored = server_side_apply(ctx, child).await?;
    publish_removed(ctx, owner, &foreign, &stored).await;
    Ok(stored)
}

async fn server_side_apply<K: Cached + Serialize>(ctx: &Context, child: &K) -> Result<K> {
    let namespace = child
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams::apply(MANAGER).force();
    api.patch(&child.name_any(), &params, &Patch::Apply(child))
        .await
        .map_err(|source| Error::Child {
            action: "apply",
            child: format!("{} {namespace}/{}", K::kind(&()), child.name_any()),
            source,
        })
}

/// Server-side applies `child` with force (this controller owns these fields) unless the cached
/// copy already holds every value we apply, and returns the child as stored. Records in
/// `changes` whether the child was created or changed.
async fn apply_child<K>(
    ctx: &Context,
    owner: &CoderControlPlane,
    child: &K,
    changes: &Changes,
) -> Result<Arc<K>>
where
    K: Cached + Serialize,
{
    let namespace = child
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let cached = ctx.caches.get::<K>(&namespace, &child.name_any());
    if let Some(cached) = &cached
        && in_sync(cached.as_ref(), child)
    {
        return Ok(cached.clone());
    }
    let stored = match server_side_apply(ctx, child).await {
        Ok(stored) => stored,
        Err(Error::Child { source, .. })
            if namespace == owner.namespace().unwrap_or_default()
                && is_namespace_terminating(&source) =>
        {
            return Err(Error::NamespaceTerminating(namespace));
        }
        Err(error) => apply_past_foreign_fields(ctx, owner, child, error).await?,
    };
    let stored = revert_foreign_fields(ctx, owner, child, stored).await?;
    let fresh = stored
        .meta()
        .creation_timestamp
        .as_ref()
        .is_some_and(|t| Timestamp::now().duration_since(t.0).as_secs() < 60);
    let cached_meta = cached.as_ref().map(|c| {
        (
            c.meta().uid.as_deref().unwrap_or_default(),
            c.meta().resource_version.as_deref().unwrap_or_default(),
        )
    });
    let change = ctx.record_apply(Applied {
        owner: &key(owner),
        child: format!("{}/{namespace}/{}", K::kind(&()), stored.name_any()),
        cached: cached_meta,
        uid: stored.meta().uid.as_deref().unwrap_or_default(),
        rv: stored
            .meta()
            .resource_version
            .as_deref()
            .unwrap_or_default(),
        fresh,
    });
    changes.record(
        change,
        format!("{} {namespace}/{}", K::kind(&()), stored.name_any()),
    );
    Ok(Arc::new(stored))
}

/// The cached child already has every value we would apply.
fn in_sync<K: Serialize>(cached: &K, wanted: &K) -> bool {
    match (serde_json::to_value(cached), serde_json::to_value(wanted)) {
        (Ok(cached), Ok(wanted)) => drift::contains(&cached, &wanted),
        _ => false,
    }
}

/// Deletes `name` if the cache has it and this control plane is its controller; a same-named
/// object someone else created is left alone.
async fn delete_if_controlled<K: Cached>(
    ctx: &Context,
    owner: &CoderControlPlane,
    namespace: &str,
    name: &str,
) -> Result<()> {
    let Some(existing) = ctx.caches.get::<K>(namespace, name) else {
        return Ok(());
    };
    let controlled = existing
        .owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && Some(&r.uid) == owner.meta().uid.as_ref());
    if !controlled {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(Error::Child {
                action: "delete",
                child: format!("{} {namespace}/{name}", K::kind(&())),
                source,
            });
        }
    }
    publish(
        ctx,
        owner,
        EventType::Normal,
        "Deleted",
        format!(
            "Deleted {} (no longer in the spec)",
            describe(existing.as_ref())
        ),
        Some(existing.object_ref(&())),
    )
    .await;
    Ok(())
}

/// What the parts of a reconcile beyond the children found, each written into status by its
/// own `report` (None: that part did not run, its status fields stay as they are).
#[derive(Default)]
struct Reports<'a> {
    access: Option<&'a operator_access::Access>,
    license: Option<&'a license::Outcome>,
    gateway: Option<&'a gateway::Outcome>,
}

/// Writes status with server-side apply on /status, unless nothing changed.
///
/// "Changed" is judged against the status our last write gave this object when the cached
/// object does not show it yet: a reconcile started by a child's watch event right after the
/// one that wrote the status would otherwise see the old status and write the same status
/// again. (Only this controller writes this status; a change by anyone else starts no
/// reconcile either, see the watch predicates.)
async fn write_status(
    ctx: &Context,
    obj: &CoderControlPlane,
    outcome: &Outcome<'_>,
    reports: &Reports<'_>,
) -> Result<crate::api::coder::v1alpha1::CoderControlPlaneStatus> {
    let now = Timestamp::now();
    let base = freshest(&ctx.written_status, obj);
    let base = base.as_ref();
    let mut status = status::compute(base, outcome, now);
    if let Some(access) = reports.access {
        operator_access::report(base, &mut status, access, now);
    }
    if let Some(licensing) = reports.license {
        license::report(base, &mut status, licensing, now);
    }
    if let Some(routing) = reports.gateway {
        gateway::report(base, &mut status, routing, now);
    }
    write_changed(
        &ctx.client,
        &ctx.written_status,
        base,
        &status,
        |_, source| Error::Kube(source),
    )
    .await?;
    Ok(status)
}

/// Best effort: a failure is already being returned; the status and Event only make it visible.
async fn report_failure(obj: &CoderControlPlane, ctx: &Context, error: &Error) {
    let reason = error.reason();
    let message = error.to_string();
    let outcome = Outcome::Failed {
        reason: &reason,
        message: &message,
    };
    if let Err(status_error) = write_status(ctx, obj, &outcome, &Reports::default()).await {
        debug!(%status_error, "cannot record the failure in status");
    }
    publish(ctx, obj, EventType::Warning, &reason, message, None).await;
}

/// `related` names the child an Event is about. It is also part of the recorder's
/// de-duplication key, so "Created" for two different children are two Events, not a series.
async fn publish(
    ctx: &Context,
    obj: &CoderControlPlane,
    type_: EventType,
    reason: &str,
    note: String,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: related,
    };
    if let Err(error) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        // Events are advisory; failing a reconcile over one would hide the real outcome.
        debug!(%error, "cannot publish event");
    }
}
