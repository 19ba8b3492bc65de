//! The reconciler: apply every child with server-side apply, sweep what is no longer wanted,
//! report status, and clean up other namespaces through a finalizer on deletion.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{debug, info, instrument, warn};

use super::builders::{self, MANAGER, Target, describe};
use super::context::{Change, Context, Layout};
use super::error::{Error, Result};
use super::status::{self, Outcome, Rollout};
use crate::api::coder::v1alpha1::CoderControlPlane;

/// Holds deletion until RBAC objects in other namespaces (which garbage collection cannot reach)
/// are gone.
pub const FINALIZER: &str = "coder.com/workspace-rbac-cleanup";

/// Resync period of a healthy control plane: catches drift in fields a watch cannot see.
const RESYNC: Duration = Duration::from_secs(300);

fn key(obj: &CoderControlPlane) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile(obj: Arc<CoderControlPlane>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<CoderControlPlane> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, obj.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(obj) => apply(&obj, &ctx).await,
            FinalizerEvent::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|error| match error {
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => Error::Finalizer(Box::new(other)),
    });
    match &result {
        Ok(_) => ctx.backoff.reset(&key(&obj)),
        Err(error) => report_failure(&obj, &ctx, error).await,
    }
    result
}

/// Requeue after an error, later each time the same object fails again.
pub fn error_policy(obj: Arc<CoderControlPlane>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(error);
    let delay = ctx.backoff.next_delay(&key(&obj));
    warn!(%error, name = %obj.name_any(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn apply(obj: &CoderControlPlane, ctx: &Context) -> Result<Action> {
    let desired = builders::desired(obj)?;
    let target = Target::new(obj)?;
    let owner = key(obj);
    // Forget the layout until this attempt succeeds: a failure halfway must not let the next
    // attempt skip a sweep.
    let previous = ctx.layout(&owner);
    ctx.set_layout(&owner, None);

    if let Some(sa) = &desired.service_account {
        apply_child(ctx, obj, sa).await?;
    }
    let mut rbac_namespaces = BTreeSet::new();
    for (role, binding) in &desired.rbac {
        apply_child(ctx, obj, role).await?;
        apply_child(ctx, obj, binding).await?;
        rbac_namespaces.insert(role.namespace().unwrap_or_default());
    }
    if previous
        .as_ref()
        .is_none_or(|p| p.rbac_namespaces != rbac_namespaces)
    {
        sweep_rbac(ctx, obj, &target, &rbac_namespaces).await?;
    }

    let deployment = apply_child(ctx, obj, &desired.deployment).await?;
    apply_child(ctx, obj, &desired.service).await?;
    match &desired.ingress {
        Some(ingress) => {
            apply_child(ctx, obj, ingress).await?;
        }
        None if previous.as_ref().is_none_or(|p| p.ingress) => {
            delete_if_controlled::<Ingress>(ctx, obj, target.namespace, target.name).await?;
        }
        None => {}
    }

    let outcome = Outcome::Applied {
        rollout: Rollout::of(&deployment),
        url: desired.access_url,
    };
    let status = write_status(ctx, obj, &outcome).await?;
    ctx.set_layout(
        &owner,
        Some(Layout {
            rbac_namespaces,
            ingress: desired.ingress.is_some(),
        }),
    );
    debug!(phase = ?status.phase, "reconciled");
    Ok(Action::requeue(RESYNC))
}

/// On deletion: remove RBAC objects in other namespaces. The ones in the object's own namespace
/// and every other child are left to garbage collection through their owner references.
async fn cleanup(obj: &CoderControlPlane, ctx: &Context) -> Result<Action> {
    let target = Target::new(obj)?;
    let own = BTreeSet::from([target.namespace.to_string()]);
    let removed = sweep_rbac(ctx, obj, &target, &own).await?;
    ctx.forget(&key(obj));
    info!(removed, "cleaned up workspace RBAC in other namespaces");
    Ok(Action::await_change())
}

/// Deletes Roles and RoleBindings this control plane created in namespaces outside `keep`.
/// Returns how many were deleted.
async fn sweep_rbac(
    ctx: &Context,
    obj: &CoderControlPlane,
    target: &Target<'_>,
    keep: &BTreeSet<String>,
) -> Result<usize> {
    let selector = target.foreign_selector();
    let removed_roles = sweep::<Role>(ctx, obj, &selector, keep).await?;
    let removed_bindings = sweep::<RoleBinding>(ctx, obj, &selector, keep).await?;
    Ok(removed_roles + removed_bindings)
}

async fn sweep<K>(
    ctx: &Context,
    obj: &CoderControlPlane,
    selector: &str,
    keep: &BTreeSet<String>,
) -> Result<usize>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let all: Api<K> = Api::all(ctx.client.clone());
    let found = all.list(&ListParams::default().labels(selector)).await?;
    let mut removed = 0;
    for stale in found
        .items
        .iter()
        .filter(|o| !keep.contains(&o.namespace().unwrap_or_default()))
    {
        let namespace = stale.namespace().unwrap_or_default();
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
        match api
            .delete(&stale.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
        removed += 1;
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
    Ok(removed)
}

/// Server-side applies `child` with force (this controller owns these fields) and returns what
/// the API server stored. Publishes an Event when the child was created or changed.
async fn apply_child<K>(ctx: &Context, owner: &CoderControlPlane, child: &K) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    let namespace = child
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams::apply(MANAGER).force();
    let stored = api
        .patch(&child.name_any(), &params, &Patch::Apply(child))
        .await?;
    let fresh = stored
        .meta()
        .creation_timestamp
        .as_ref()
        .is_some_and(|t| Timestamp::now().duration_since(t.0).as_secs() < 60);
    let change = ctx.record_apply(
        &key(owner),
        format!("{}/{namespace}/{}", K::kind(&()), stored.name_any()),
        stored.meta().uid.as_deref().unwrap_or_default(),
        stored
            .meta()
            .resource_version
            .as_deref()
            .unwrap_or_default(),
        fresh,
    );
    let verb = match change {
        Change::Created => "Created",
        Change::Updated => "Updated",
        Change::Unchanged => return Ok(stored),
    };
    publish(
        ctx,
        owner,
        EventType::Normal,
        verb,
        format!("{verb} {} in namespace {namespace}", describe(&stored)),
        Some(stored.object_ref(&())),
    )
    .await;
    Ok(stored)
}

/// Deletes `name` if it exists and this control plane is its controller; a same-named object
/// someone else created is left alone.
async fn delete_if_controlled<K>(
    ctx: &Context,
    owner: &CoderControlPlane,
    namespace: &str,
    name: &str,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(existing) = api.get_opt(name).await? else {
        return Ok(());
    };
    let controlled = existing
        .owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && Some(&r.uid) == owner.meta().uid.as_ref());
    if !controlled {
        return Ok(());
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    publish(
        ctx,
        owner,
        EventType::Normal,
        "Deleted",
        format!("Deleted {} (no longer in the spec)", describe(&existing)),
        Some(existing.object_ref(&())),
    )
    .await;
    Ok(())
}

/// Writes status with server-side apply on /status, unless nothing changed.
async fn write_status(
    ctx: &Context,
    obj: &CoderControlPlane,
    outcome: &Outcome<'_>,
) -> Result<crate::api::coder::v1alpha1::CoderControlPlaneStatus> {
    let status = status::compute(obj, outcome, Timestamp::now());
    if obj.status.as_ref() == Some(&status) {
        return Ok(status);
    }
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<CoderControlPlane> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": CoderControlPlane::api_version(&()),
        "kind": CoderControlPlane::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
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
    if let Err(status_error) = write_status(ctx, obj, &outcome).await {
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
