//! The CoderWorkspaceProxy controller: registers the proxy in coderd (with `spec.bootstrap`),
//! keeps its token in a Secret, runs `coder wsproxy server` as a Deployment behind a Service,
//! and deregisters the proxy when the object is deleted. See docs/workspace-proxy.md.
//!
//! It is one loop of `run_kinds`, beside the other kinds' loops, with its own caches and state;
//! they share only the kube client, the Settings and the shared controller files.
//!
//! Owns its loop, reconciler, coderd access, builders, status, finalizer and context. May
//! import the shared controller files (`crate::controller::{loops, caches, remembered, pod,
//! labels, conditions, finalizer, ...}`) and `crate::coder`; never another kind's folder
//! (control planes are read from its own cache).

mod access;
mod builders;
mod error;
mod finalizer;
mod reconcile;
mod status;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::utils::Predicate;
use kube::runtime::{Controller, WatchStreamExt, predicates};
use tracing::debug;

pub use builders::{APP_NAME, DEFAULT_ICON, TOKEN_KEY};
pub use error::ProxyError;
pub use finalizer::FINALIZER;
pub use status::{
    CONTROL_PLANE_READY, CREDENTIALS_READY, DEPLOYMENT_READY, ENTITLED, READY, REGISTERED,
    TOKEN_SECRET_READY,
};

use super::KindLoop;
use super::backoff::Backoff;
use super::caches::{SyncTracker, after_children_synced};
use super::loops::{self, scoped};
use super::metrics::Metrics;
use super::remembered::{Warnings, WrittenStatus, object_key};
use super::shared_watch::SharedWatches;
use crate::api::coder::v1alpha1::{
    CoderControlPlane, CoderWorkspaceProxy, CoderWorkspaceProxyStatus,
};

const PROXIES: &str = "coderworkspaceproxies";
const DEPLOYMENTS: &str = "coderworkspaceproxies/deployments";
const SERVICES: &str = "coderworkspaceproxies/services";
const CONTROL_PLANES: &str = "coderworkspaceproxies/codercontrolplanes";

/// State shared by every proxy reconcile.
pub struct ProxyContext {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub backoff: Backoff,
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    /// Control planes a proxy may register through (`bootstrap.controlPlaneRef`).
    pub control_planes: Store<CoderControlPlane>,
    /// The status each proxy was last given by us.
    written_status: WrittenStatus<CoderWorkspaceProxyStatus>,
    /// The Warning Event published for each proxy's current failure; cleared by a reconcile
    /// that succeeds.
    warnings: Warnings,
    /// The coderd (URL and token) each registered proxy last reached. Deleting a control plane
    /// and its proxies together (`kubectl delete -f`) removes the control plane and its operator
    /// token Secret first; the token itself still works, and this copy lets the proxy's
    /// finalizer deregister it. In memory only: after a restart such a proxy is released with
    /// a Warning instead.
    last_coderd: Mutex<HashMap<String, access::Coderd>>,
}

impl ProxyContext {
    fn remember_coderd(&self, key: &str, coderd: &access::Coderd) {
        self.last_coderd
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), coderd.clone());
    }

    fn last_coderd(&self, key: &str) -> Option<access::Coderd> {
        self.last_coderd
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn forget(&self, key: &str) {
        self.last_coderd
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.written_status.forget(key);
        self.warnings.clear(key);
        self.backoff.reset(key);
    }
}

fn key(obj: &CoderWorkspaceProxy) -> String {
    object_key(obj)
}

/// The proxies in `ccp`'s namespace that register through it.
fn dependants(
    proxies: &Store<CoderWorkspaceProxy>,
    ccp: &CoderControlPlane,
) -> Vec<ObjectRef<CoderWorkspaceProxy>> {
    loops::referencing(proxies, ccp, |p| {
        let bootstrap = p.spec.bootstrap.as_ref()?;
        Some(bootstrap.control_plane_ref.as_ref()?.name.as_str())
    })
}

/// The CoderWorkspaceProxy loop, with `control_plane::run`'s contract (see `run_kinds`).
pub(super) fn run(
    kind: KindLoop<'_>,
    shared: &mut SharedWatches,
) -> impl Future<Output = super::Result<()>> + Send + 'static {
    let namespace = kind.settings.namespace.as_deref();
    let sync = SyncTracker::new(
        &[PROXIES, DEPLOYMENTS, SERVICES, CONTROL_PLANES],
        kind.health.clone(),
    );
    // The shared watches select every child of ours by the managed-by label: wider than this
    // kind's own children (which also carry `app.kubernetes.io/name=coder-workspace-proxy`),
    // so these caches also hold the other kinds' children; only an owner reference to a proxy
    // triggers it, and it reads its children by name.
    let (deployments, deployment_events) = shared.deployments.subscribe(&sync, DEPLOYMENTS);
    let (services, service_events) = shared.services.subscribe(&sync, SERVICES);
    // Token Secrets are not watched: RBAC cannot narrow list/watch to our own Secrets, and
    // the controller does not list the cluster's Secrets (docs/operator-access.md, RBAC). A
    // deleted token Secret is noticed by the next reconcile (resync or any change).
    // Status changes of a control plane (its URL, its operator token) matter here, so every
    // event counts, not only generation changes.
    let (control_planes, control_plane_events) =
        shared.control_planes.subscribe(&sync, CONTROL_PLANES);

    let ctx = Arc::new(ProxyContext {
        client: kind.client.clone(),
        recorder: loops::recorder(&kind.client, kind.settings.instance.clone()),
        metrics: kind.metrics,
        backoff: loops::reconcile_backoff(loops::max_backoff(kind.settings.max_backoff)),
        deployments,
        services,
        control_planes,
        written_status: WrittenStatus::default(),
        warnings: Warnings::default(),
        last_coderd: Mutex::default(),
    });

    let deleted = ctx.clone();
    let (reader, proxies) = loops::primary_watch(
        scoped::<CoderWorkspaceProxy>(&kind.client, namespace),
        sync.clone(),
        PROXIES,
        |error| debug!(%error, "watching coderworkspaceproxies"),
        move |obj| deleted.forget(&key(obj)),
    );
    // Our status writes change neither generation nor finalizers.
    let proxies = proxies.predicate_filter(
        predicates::generation.combine(predicates::finalizers),
        Default::default(),
    );
    let trigger = after_children_synced(sync.clone(), PROXIES, proxies);

    let store = reader.clone();
    let stopping = kind.stop.clone();
    let run = Controller::for_stream(trigger, reader)
        .with_config(loops::controller_config(kind.settings))
        .owns_stream(deployment_events)
        .owns_stream(service_events)
        .watches_stream(control_plane_events, move |ccp| dependants(&store, &ccp))
        .graceful_shutdown_on(async move { stopping.cancelled().await })
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(proxy = %object, "reconciled"),
                Err(error) => debug!(%error, "proxy reconcile error (handled by error_policy)"),
            }
        });
    let stop = kind.stop;
    async move {
        loops::drive(run, &stop, &sync, PROXIES, "workspace proxy controller").await;
        Ok(())
    }
}
