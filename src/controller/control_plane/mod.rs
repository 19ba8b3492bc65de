//! The CoderControlPlane kind: reconciles a CoderControlPlane into a running Coder control plane
//! (Deployment, Service, ServiceAccount, Ingress or HTTPRoute, workspace RBAC), with its license,
//! entitlements and the operator access other kinds use to reach its coderd.
//!
//! Owns its loop ([`run`]), reconciler, builders, status, caches and reconcile context. May
//! import the shared controller infrastructure (`crate::controller::{caches, loops, labels,
//! conditions, finalizer, ...}`) and `crate::coder`; never another kind's folder.

pub mod builders;
mod caches;
mod context;
mod finalizer;
mod gateway;
mod license;
pub mod operator_access;
mod reconcile;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::utils::Predicate;
use kube::runtime::watcher;
use kube::runtime::{Controller, WatchStreamExt, predicates};
use kube::{Resource, ResourceExt};
use tracing::debug;

pub use context::Context;
pub use finalizer::FINALIZER;
pub use reconcile::{error_policy, reconcile};

use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::controller::KindLoop;
use crate::controller::caches::{SyncTracker, after_children_synced};
use crate::controller::error::Result;
use crate::controller::loops::{self, scoped};
use crate::controller::shared_watch::{SharedWatches, own_objects};
use caches::{Cached, Caches};

const CONTROL_PLANES: &str = "codercontrolplanes";

/// Which control plane a workspace Role or RoleBinding serves, from the labels every one of
/// them carries (owner references cannot cross namespaces).
fn rbac_owner<K: Resource>(obj: K) -> Option<ObjectRef<CoderControlPlane>> {
    let labels = obj.labels();
    let name = labels.get(builders::INSTANCE_LABEL)?;
    let namespace = labels.get(builders::OWNER_NAMESPACE_LABEL)?;
    Some(ObjectRef::new(name).within(namespace))
}

/// The CoderControlPlane controller: one loop of `controller::run_kinds`. It registers its
/// caches with `health`, reconciles until `stop`, drains, and returns.
///
/// It subscribes to `shared` at once (before the watches run, so it misses nothing); the
/// returned future is the loop.
pub(super) fn run(
    kind: KindLoop<'_>,
    shared: &mut SharedWatches,
) -> impl Future<Output = Result<()>> + Send + 'static {
    let namespace = kind.settings.namespace.as_deref();
    let sync = SyncTracker::new(
        &[
            CONTROL_PLANES,
            Deployment::PLURAL,
            Service::PLURAL,
            ServiceAccount::PLURAL,
            Ingress::PLURAL,
            Role::PLURAL,
            RoleBinding::PLURAL,
        ],
        kind.health.clone(),
    );
    // Children carry the managed-by label: the shared watches select only those, which keeps
    // every other Deployment, Service, ... of the cluster out of this process.
    let (deployments, deployment_events) = shared.deployments.subscribe(&sync, Deployment::PLURAL);
    let (services, service_events) = shared.services.subscribe(&sync, Service::PLURAL);
    let (service_accounts, service_account_events) = shared
        .service_accounts
        .subscribe(&sync, ServiceAccount::PLURAL);
    let (ingresses, ingress_events) = shared.ingresses.subscribe(&sync, Ingress::PLURAL);
    let (roles, role_events) = shared.roles.subscribe(&sync, Role::PLURAL);
    let (role_bindings, role_binding_events) =
        shared.role_bindings.subscribe(&sync, RoleBinding::PLURAL);
    let caches = Caches {
        deployments,
        services,
        service_accounts,
        ingresses,
        roles,
        role_bindings,
    };
    let ctx = Arc::new(Context::new(
        kind.client.clone(),
        kind.metrics,
        kind.settings.instance.clone(),
        kind.settings.max_backoff,
        caches,
    ));

    let deleted = ctx.clone();
    // The control planes are the other kinds' references too: one watch serves all three.
    let (reader, changes) = shared
        .control_planes
        .subscribe_changes(&sync, CONTROL_PLANES);
    let control_planes = own_objects(changes, move |obj| deleted.forget_object(obj));
    // Status writes (ours) bump resourceVersion but not generation: ignore them. Finalizer
    // changes do not bump generation either; a reconcile adding ours continues on its own,
    // one removed by someone else is put back.
    let control_planes = control_planes.predicate_filter(
        predicates::generation
            .combine(predicates::finalizers)
            // The apiserver reports a rejected operator token in an annotation.
            .combine(operator_access::rejection_reported),
        Default::default(),
    );
    let trigger = after_children_synced(sync.clone(), CONTROL_PLANES, control_planes);

    // License Secrets are the user's, unlabelled: watched by metadata only (a changed value
    // bumps resourceVersion) and mapped to the control planes naming them.
    let license_secrets = watcher(
        scoped::<PartialObjectMeta<Secret>>(&kind.client, namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    let control_plane_index = reader.clone();
    let license_owners = move |secret: PartialObjectMeta<Secret>| {
        license::referencing(
            &control_plane_index,
            &secret.namespace().unwrap_or_default(),
            &secret.name_any(),
        )
    };

    let stopping = kind.stop.clone();
    let run = Controller::for_stream(trigger, reader)
        .with_config(loops::controller_config(kind.settings))
        .owns_stream(deployment_events)
        .owns_stream(service_events)
        .owns_stream(service_account_events)
        .owns_stream(ingress_events)
        // Workspace RBAC in other namespaces has no owner reference; its labels name the owner.
        .watches_stream(role_events, rbac_owner)
        .watches_stream(role_binding_events, rbac_owner)
        .watches_stream(license_secrets, license_owners)
        .graceful_shutdown_on(async move { stopping.cancelled().await })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(object = %describe_ref(&object), "reconciled"),
                Err(error) => debug!(%error, "reconcile error (handled by error_policy)"),
            }
        });
    let stop = kind.stop;
    let health = kind.health;
    async move {
        loops::drive(run, &stop, &sync, CONTROL_PLANES, "controller").await;
        health.stopped();
        Ok(())
    }
}

fn describe_ref(object: &ObjectRef<CoderControlPlane>) -> String {
    format!(
        "{}/{}",
        object.namespace.as_deref().unwrap_or_default(),
        object.name
    )
}
