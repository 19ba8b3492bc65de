//! The CoderProvisioner controller: external provisioner daemons (`coder provisioner start`)
//! joined to a CoderControlPlane through an organization provisioner key. See
//! docs/provisioner.md.
//!
//! One loop of `controller::run_kinds`, with its own caches: the provisioners, their
//! Deployments and Secrets (by the managed-by label), and the control planes they reference (a
//! change of a control plane's URL, image or operator access reconciles its provisioners).
//!
//! Owns its loop, reconciler, key handling, builders, status, finalizer and context. May import
//! the shared controller files (`crate::controller::{loops, caches, remembered, pod, labels,
//! conditions, finalizer, ...}`) and `crate::coder`; never another kind's folder (control
//! planes are read from its own cache).

mod builders;
mod context;
mod finalizer;
mod key;
mod reconcile;
mod status;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::utils::Predicate;
use kube::runtime::{Controller, WatchStreamExt, predicates};
use tracing::debug;

use super::KindLoop;
use super::caches::{self, SyncTracker};
use super::error::Result;
use super::loops::{self, scoped};
use super::shared_watch::SharedWatches;
use crate::api::coder::v1alpha1::{CoderControlPlane, CoderProvisioner};
use context::{Context, Stores};

/// Cache names reported by /readyz, unique to this loop.
const PROVISIONERS: &str = "coderprovisioners";
const DEPLOYMENTS: &str = "coderprovisioners/deployments";
const SECRETS: &str = "coderprovisioners/secrets";
const CONTROL_PLANES: &str = "coderprovisioners/codercontrolplanes";
const SERVICE_ACCOUNTS: &str = "coderprovisioners/serviceaccounts";
const ROLES: &str = "coderprovisioners/roles";
const ROLE_BINDINGS: &str = "coderprovisioners/rolebindings";

/// Runs the CoderProvisioner controller until `stop` (the contract of
/// `control_plane::run`: subscribes to `shared` at once, the returned future is the loop).
pub(super) fn run(
    kind: KindLoop<'_>,
    shared: &mut SharedWatches,
) -> impl Future<Output = Result<()>> + Send + 'static {
    let namespace = kind.settings.namespace.as_deref();
    let sync = SyncTracker::new(
        &[
            PROVISIONERS,
            DEPLOYMENTS,
            SECRETS,
            CONTROL_PLANES,
            SERVICE_ACCOUNTS,
            ROLES,
            ROLE_BINDINGS,
        ],
        kind.health.clone(),
    );
    // Only our children (the shared watches select the managed-by label), and every control
    // plane (shared with the other loops).
    let (deployments, deployment_events) = shared.deployments.subscribe(&sync, DEPLOYMENTS);
    let (secrets, secret_events) = shared.secrets.subscribe(&sync, SECRETS);
    let (service_accounts, service_account_events) =
        shared.service_accounts.subscribe(&sync, SERVICE_ACCOUNTS);
    let (roles, role_events) = shared.roles.subscribe(&sync, ROLES);
    let (role_bindings, role_binding_events) = shared.role_bindings.subscribe(&sync, ROLE_BINDINGS);
    let (control_planes, control_plane_events) =
        shared.control_planes.subscribe(&sync, CONTROL_PLANES);
    let ctx = Arc::new(Context::new(
        kind.client.clone(),
        kind.metrics,
        kind.settings.instance.clone(),
        kind.settings.max_backoff,
        Stores {
            deployments,
            secrets,
            service_accounts,
            roles,
            role_bindings,
            control_planes,
        },
    ));

    let (reader, provisioners) = loops::primary_watch(
        scoped::<CoderProvisioner>(&kind.client, namespace),
        sync.clone(),
        PROVISIONERS,
        |error| loops::report_watch_error(error, "CoderProvisioner", PROVISIONERS),
        |_| {},
    );
    // Our status writes change neither generation nor finalizers.
    let provisioners = provisioners.predicate_filter(
        predicates::generation.combine(predicates::finalizers),
        Default::default(),
    );
    let trigger = caches::after_children_synced(sync.clone(), PROVISIONERS, provisioners);

    let dependants = reader.clone();
    let stopping = kind.stop.clone();
    let run = Controller::for_stream(trigger, reader)
        .with_config(loops::controller_config(kind.settings))
        .owns_stream(deployment_events)
        .owns_stream(secret_events)
        .owns_stream(service_account_events)
        .owns_stream(role_events)
        .owns_stream(role_binding_events)
        .watches_stream(control_plane_events, move |ccp| {
            referencing(&dependants, &ccp)
        })
        .graceful_shutdown_on(async move { stopping.cancelled().await })
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(
                    object = %format!("{}/{}", object.namespace.as_deref().unwrap_or_default(), object.name),
                    "reconciled CoderProvisioner"
                ),
                Err(error) => debug!(%error, "reconcile error (handled by error_policy)"),
            }
        });
    let stop = kind.stop;
    async move {
        loops::drive(
            run,
            &stop,
            &sync,
            PROVISIONERS,
            "CoderProvisioner controller",
        )
        .await;
        Ok(())
    }
}

/// The provisioners in `ccp`'s namespace that reference it.
fn referencing(
    provisioners: &Store<CoderProvisioner>,
    ccp: &CoderControlPlane,
) -> Vec<ObjectRef<CoderProvisioner>> {
    loops::referencing(provisioners, ccp, |p| {
        Some(p.spec.control_plane_ref.name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    #[test]
    fn a_control_plane_maps_to_the_provisioners_referencing_it() {
        let (store, mut writer) = reflector::store::<CoderProvisioner>();
        for (name, namespace, reference) in [
            ("a", "ns", "coder"),
            ("b", "ns", "other"),
            ("c", "elsewhere", "coder"),
            ("d", "ns", "coder"),
        ] {
            let obj: CoderProvisioner = serde_json::from_value(serde_json::json!({
                "apiVersion": "coder.com/v1alpha1", "kind": "CoderProvisioner",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"controlPlaneRef": {"name": reference}},
            }))
            .unwrap();
            writer.apply_watcher_event(&Event::Apply(obj));
        }
        let ccp: CoderControlPlane = serde_json::from_value(serde_json::json!({
            "apiVersion": "coder.com/v1alpha1", "kind": "CoderControlPlane",
            "metadata": {"name": "coder", "namespace": "ns"}, "spec": {},
        }))
        .unwrap();
        let mut names: Vec<String> = referencing(&store, &ccp)
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
            .collect();
        names.sort();
        assert_eq!(names, ["ns/a", "ns/d"]);
    }
}
