//! The CoderProvisioner controller: external provisioner daemons (`coder provisioner start`)
//! joined to a CoderControlPlane through an organization provisioner key. See
//! docs/provisioner.md.
//!
//! One loop of [`super::run_kinds`], with its own caches: the provisioners, their Deployments
//! and Secrets (by the managed-by label), and the control planes they reference (a change of
//! a control plane's URL, image or operator access reconciles its provisioners).

mod builders;
mod context;
mod finalizer;
mod key;
mod reconcile;
mod status;

use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::Predicate;
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, info, warn};

use super::caches::{self, SyncTracker};
use super::error::Result;
use super::health::Health;
use super::loops::{self, scoped};
use super::metrics::Metrics;
use super::{Settings, labels};
use crate::api::coder::v1alpha1::{CoderControlPlane, CoderProvisioner};
use crate::shutdown::Shutdown;
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
/// `super::reconcile_loop`).
pub(super) async fn run(
    client: Client,
    settings: &Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: Shutdown,
) -> Result<()> {
    let namespace = settings.namespace.as_deref();
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
        health.clone(),
    );
    // Only our children: the label keeps every other Deployment and Secret out of memory.
    let children = watcher::Config::default().labels(&format!(
        "{}={}",
        labels::MANAGED_BY_LABEL,
        labels::MANAGER
    ));
    let (deployments, deployment_events) = cached_watch::<Deployment>(
        scoped(&client, namespace),
        children.clone(),
        sync.clone(),
        DEPLOYMENTS,
    );
    let (secrets, secret_events) = cached_watch::<Secret>(
        scoped(&client, namespace),
        children.clone(),
        sync.clone(),
        SECRETS,
    );
    let (service_accounts, service_account_events) = cached_watch::<ServiceAccount>(
        scoped(&client, namespace),
        children.clone(),
        sync.clone(),
        SERVICE_ACCOUNTS,
    );
    let (roles, role_events) = cached_watch::<Role>(
        scoped(&client, namespace),
        children.clone(),
        sync.clone(),
        ROLES,
    );
    let (role_bindings, role_binding_events) = cached_watch::<RoleBinding>(
        scoped(&client, namespace),
        children,
        sync.clone(),
        ROLE_BINDINGS,
    );
    let (control_planes, control_plane_events) = cached_watch::<CoderControlPlane>(
        scoped(&client, namespace),
        watcher::Config::default(),
        sync.clone(),
        CONTROL_PLANES,
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        settings.instance.clone(),
        settings.max_backoff,
        Stores {
            deployments,
            secrets,
            service_accounts,
            roles,
            role_bindings,
            control_planes,
        },
    ));

    let (reader, writer) = reflector::store();
    let synced = sync.clone();
    let provisioners = watcher(
        scoped::<CoderProvisioner>(&client, namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .inspect_err(report_watch_error)
    .modify(|obj: &mut CoderProvisioner| obj.managed_fields_mut().clear())
    .inspect_ok(move |event| {
        if matches!(event, watcher::Event::InitDone) {
            synced.synced(PROVISIONERS);
        }
    })
    .reflect(writer)
    .applied_objects()
    // Our status writes change neither generation nor finalizers.
    .predicate_filter(
        predicates::generation.combine(predicates::finalizers),
        Default::default(),
    );
    let trigger = caches::after_children_synced(sync.clone(), PROVISIONERS, provisioners);

    let dependants = reader.clone();
    let stopping = stop.clone();
    let run = Controller::for_stream(trigger, reader)
        .with_config(loops::controller_config(settings))
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
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => {}
        () = stop.cancelled() => {
            // As the CoderControlPlane loop: nothing can be in flight before the cache synced.
            if sync.is_synced(PROVISIONERS) {
                run.await;
            }
        }
    }
    if !stop.is_cancelled() {
        warn!("CoderProvisioner controller stream ended without shutdown");
    }
    info!("CoderProvisioner controller stopped");
    Ok(())
}

/// The provisioners in `ccp`'s namespace that reference it.
fn referencing(
    provisioners: &Store<CoderProvisioner>,
    ccp: &CoderControlPlane,
) -> Vec<ObjectRef<CoderProvisioner>> {
    let namespace = ccp.namespace();
    let name = ccp.name_any();
    provisioners
        .state()
        .iter()
        .filter(|p| p.namespace() == namespace && p.spec.control_plane_ref.name == name)
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

/// A watch filling a new cache; reports its sync as `name` and yields every touched object.
fn cached_watch<K>(
    api: kube::Api<K>,
    config: watcher::Config,
    sync: SyncTracker,
    name: &'static str,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|obj: &mut K| obj.managed_fields_mut().clear())
        .reflect(writer)
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                sync.synced(name);
            }
        })
        .touched_objects();
    (reader, stream)
}

/// A missing CRD or permission would otherwise only show at debug level.
fn report_watch_error(error: &watcher::Error) {
    let status = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status,
        _ => return,
    };
    if status.code == 404 {
        warn!(
            crd = "coderprovisioners.coder.com",
            "the CoderProvisioner CRD is not installed (404 listing coderprovisioners); \
             install it with `kubectl apply -f generated/crds/`; retrying"
        );
    } else if status.code == 403 {
        warn!(
            message = %status.message,
            "not allowed to list/watch coderprovisioners; check the controller's ClusterRole; retrying"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
