//! The pieces every kind's loop is built from: where it watches, how its own objects are
//! watched and cached, how the loop is bounded, and how it drains at shutdown. Each kind's
//! `run` (`control_plane/mod.rs`, `provisioner/mod.rs`, `workspace_proxy/mod.rs`) wires these
//! to its own children, triggers and reconciler.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::args::Settings;
use super::backoff::Backoff;
use super::caches::SyncTracker;
use super::labels::MANAGER;
use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::shutdown::Shutdown;

/// The API of `K` in the watched namespace, or in every namespace.
pub fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// kube-runtime starts every due reconcile at once unless bounded; a bound keeps the controller
/// from flooding kube-apiserver (and etcd) with hundreds of requests in flight after a burst of
/// creates. kube-runtime reads 0 as "no bound", which is also what the flag's 0 means.
pub fn controller_config(settings: &Settings) -> kube::runtime::controller::Config {
    kube::runtime::controller::Config::default().concurrency(settings.max_concurrent_reconciles)
}

/// The Event recorder of a kind's reconciles: every kind reports as the same controller.
pub fn recorder(client: &Client, instance: Option<String>) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: MANAGER.to_string(),
            instance,
        },
    )
}

/// The longest wait between retries: `--max-backoff`, 5 minutes when unset.
pub fn max_backoff(setting: Option<Duration>) -> Duration {
    setting.unwrap_or(Duration::from_secs(300))
}

/// The per-object backoff of failed reconciles, capped at `max` (see [`max_backoff`]).
pub fn reconcile_backoff(max: Duration) -> Backoff {
    Backoff::new(Duration::from_millis(500).min(max), max)
}

/// The watch of a kind's own objects into a new cache: `on_delete` sees each deleted object
/// (most objects hold no finalizer, so no reconcile sees them go), the cache reports its sync
/// as `name` before the store applies it (so "not synced" means no reconcile ran), and every
/// applied object is yielded for the kind's predicates.
pub fn primary_watch<K>(
    api: Api<K>,
    sync: SyncTracker,
    name: &'static str,
    on_error: impl Fn(&watcher::Error) + Send + 'static,
    on_delete: impl Fn(&K) + Send + 'static,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .inspect_err(on_error)
        .inspect_ok(move |event| {
            if let watcher::Event::Delete(obj) = event {
                on_delete(obj);
            }
        })
        .modify(|obj: &mut K| obj.managed_fields_mut().clear())
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                sync.synced(name);
            }
        })
        .reflect(writer)
        .applied_objects();
    (reader, stream)
}

/// The watcher retries with backoff and logs failures at debug level only; a missing CRD or
/// missing permission would go unnoticed at the default level. `kind` is the CRD's kind,
/// `plural` its resource.
pub fn report_watch_error(error: &watcher::Error, kind: &str, plural: &str) {
    let status = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status,
        _ => return,
    };
    if status.code == 404 {
        warn!(
            crd = %format!("{plural}.coder.com"),
            "the {kind} CRD is not installed (404 listing {plural}); \
             install it with `kubectl apply -f generated/crds/`; retrying"
        );
    } else if status.code == 403 {
        warn!(
            message = %status.message,
            "not allowed to list/watch {plural}; check the controller's ClusterRole; retrying"
        );
    }
}

/// Runs a kind's controller stream until it ends or `stop`, then lets the reconciles in flight
/// finish. kube's runner waits for the primary cache (`own`) before it starts, also during a
/// graceful shutdown: with the CRD missing it would wait forever. Before that cache synced no
/// reconcile can have started, so there is nothing to drain. `name` names the loop in the log
/// lines saying it stopped (and whether it was asked to).
pub async fn drive(
    run: impl Future<Output = ()>,
    stop: &Shutdown,
    sync: &SyncTracker,
    own: &'static str,
    name: &str,
) {
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => {}
        () = stop.cancelled() => {
            if sync.is_synced(own) {
                run.await;
            }
        }
    }
    if !stop.is_cancelled() {
        warn!("{name} stream ended without shutdown");
    }
    info!("{name} stopped");
}

/// The objects in `store` that `ccp`'s changes concern: those in its namespace whose control
/// plane reference (`control_plane_of`, the referenced name) names it.
pub fn referencing<K>(
    store: &Store<K>,
    ccp: &CoderControlPlane,
    control_plane_of: impl Fn(&K) -> Option<&str>,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let namespace = ccp.namespace();
    let name = ccp.name_any();
    store
        .state()
        .iter()
        .filter(|obj| obj.namespace() == namespace && control_plane_of(obj) == Some(name.as_str()))
        .map(|obj| ObjectRef::from_obj(obj.as_ref()))
        .collect()
}
