//! One watch per kind for the whole process. Every kind's loop needs some of the same kinds
//! (Deployments, ServiceAccounts, Roles, ... and the CoderControlPlanes the other kinds
//! reference); watched per loop, kube-apiserver served up to three LISTs at start-up and after
//! every re-list, and held up to three WATCHes of one kind for this one process. Here each kind
//! is listed and watched once, into one cache, and every loop that needs it subscribes: it gets
//! the same cache (a [`Store`]) and its own stream of the objects that changed, and it maps
//! them to its own objects itself (owner references or labels).
//!
//! kube-runtime's shared reflector (`reflector::store_shared`, `reflect_shared`,
//! `ReflectHandle`) is not used: it fans out applied objects only (a deleted child would no
//! longer reconcile its owner, which is how a deleted Deployment is put back) and it reads each
//! object back from the cache, so a change followed by a deletion yields nothing at all. Here
//! the fan-out carries every touched object, deleted ones included, as each loop's own watch
//! did before.
//!
//! Subscribing happens before the watches run ([`SharedWatches::run`] takes them by value), so
//! no loop misses the initial list or the sync of a cache it waits for.

use std::fmt::Debug;

use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::debug;

use super::caches::SyncTracker;
use super::labels::{MANAGED_BY_LABEL, MANAGER};
use super::loops::{report_watch_error, scoped};
use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::shutdown::Shutdown;

/// Changed objects waiting for one slow subscriber before the watch waits for it (as
/// kube-runtime's shared streams do): a loop that stops consuming holds back the others rather
/// than losing their events.
const SUBSCRIBER_BUFFER: usize = 256;

/// What a subscriber receives: an object as applied to the cache, or as it was when deleted.
#[derive(Debug, Clone)]
pub enum Touched<K> {
    Applied(K),
    Deleted(K),
}

impl<K> Touched<K> {
    pub fn into_object(self) -> K {
        match self {
            Touched::Applied(obj) | Touched::Deleted(obj) => obj,
        }
    }
}

/// A kind watched once: its cache, the loops subscribed to its changes, and the cache names
/// under which each loop's [`SyncTracker`] waits for it.
pub struct SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
{
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    subscribers: Vec<mpsc::Sender<Touched<K>>>,
    syncs: Vec<(SyncTracker, &'static str)>,
    on_error: fn(&watcher::Error),
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    pub fn new(api: Api<K>, config: watcher::Config, on_error: fn(&watcher::Error)) -> Self {
        Self {
            api,
            config,
            writer: reflector::store::Writer::default(),
            subscribers: Vec::new(),
            syncs: Vec::new(),
            on_error,
        }
    }

    /// The cache, and every object that changes (deleted ones too); the cache reports its sync
    /// to `sync` as `name`.
    pub fn subscribe(
        &mut self,
        sync: &SyncTracker,
        name: &'static str,
    ) -> (
        Store<K>,
        impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    ) {
        let (store, changes) = self.subscribe_changes(sync, name);
        (store, changes.map(|touched| Ok(touched.into_object())))
    }

    /// The cache, and each change as applied or deleted (for a loop's own kind, whose
    /// deletions are bookkeeping rather than triggers).
    pub fn subscribe_changes(
        &mut self,
        sync: &SyncTracker,
        name: &'static str,
    ) -> (Store<K>, mpsc::Receiver<Touched<K>>) {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_BUFFER);
        self.subscribers.push(sender);
        self.syncs.push((sync.clone(), name));
        (self.writer.as_reader(), receiver)
    }

    /// LISTs and WATCHes the kind (re-listing with backoff on errors) until the stream ends or
    /// every subscriber is gone. A kind nobody subscribed to is not watched at all.
    async fn run(self) {
        let Self {
            api,
            config,
            writer,
            mut subscribers,
            syncs,
            on_error,
        } = self;
        if subscribers.is_empty() {
            return;
        }
        let events = watcher(api, config)
            .default_backoff()
            // Ownership bookkeeping is read from apply responses, never from the cache:
            // dropping it roughly halves the memory each cached object takes.
            .modify(|obj: &mut K| obj.managed_fields_mut().clear())
            .reflect(writer);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let touched = match event {
                Err(error) => {
                    on_error(&error);
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    // The store has swapped the complete list in: every loop waiting for this
                    // cache may start.
                    for (sync, name) in &syncs {
                        sync.synced(name);
                    }
                    continue;
                }
                Ok(watcher::Event::Init) => continue,
                Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                    Touched::Applied(obj)
                }
                Ok(watcher::Event::Delete(obj)) => Touched::Deleted(obj),
            };
            let mut index = 0;
            while index < subscribers.len() {
                if subscribers[index].send(touched.clone()).await.is_err() {
                    // That loop has stopped; the others go on.
                    subscribers.swap_remove(index);
                } else {
                    index += 1;
                }
            }
            if subscribers.is_empty() {
                return;
            }
        }
    }
}

fn debug_watch_error(error: &watcher::Error) {
    debug!(%error, "shared watch failed; retrying with backoff");
}

fn control_plane_watch_error(error: &watcher::Error) {
    report_watch_error(error, "CoderControlPlane", "codercontrolplanes");
}

/// Every kind more than one loop watches, once each. Children are selected by the managed-by
/// label alone: the union of the loops' selectors (the workspace proxy's children also carry
/// `app.kubernetes.io/name=coder-workspace-proxy`, a narrower selector that is not shared).
/// Control planes are watched whole: they are the control-plane loop's own kind and a
/// reference for the other two.
pub struct SharedWatches {
    pub deployments: SharedWatch<Deployment>,
    pub services: SharedWatch<Service>,
    pub service_accounts: SharedWatch<ServiceAccount>,
    pub ingresses: SharedWatch<Ingress>,
    pub roles: SharedWatch<Role>,
    pub role_bindings: SharedWatch<RoleBinding>,
    pub secrets: SharedWatch<Secret>,
    pub control_planes: SharedWatch<CoderControlPlane>,
}

/// The one selector every child of every kind carries.
pub fn children_config() -> watcher::Config {
    watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}"))
}

fn child_watch<K>(client: &Client, namespace: Option<&str>) -> SharedWatch<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    SharedWatch::new(
        scoped(client, namespace),
        children_config(),
        debug_watch_error,
    )
}

impl SharedWatches {
    /// The watches of `namespace` (every namespace when `None`); nothing is sent until
    /// [`run`](Self::run).
    pub fn new(client: &Client, namespace: Option<&str>) -> Self {
        Self {
            deployments: child_watch(client, namespace),
            services: child_watch(client, namespace),
            service_accounts: child_watch(client, namespace),
            ingresses: child_watch(client, namespace),
            roles: child_watch(client, namespace),
            role_bindings: child_watch(client, namespace),
            secrets: child_watch(client, namespace),
            control_planes: SharedWatch::new(
                scoped(client, namespace),
                watcher::Config::default(),
                control_plane_watch_error,
            ),
        }
    }

    /// Runs every subscribed watch until `stop`.
    pub async fn run(self, stop: Shutdown) {
        let watches = futures::future::join_all([
            FutureExt::boxed(self.deployments.run()),
            FutureExt::boxed(self.services.run()),
            FutureExt::boxed(self.service_accounts.run()),
            FutureExt::boxed(self.ingresses.run()),
            FutureExt::boxed(self.roles.run()),
            FutureExt::boxed(self.role_bindings.run()),
            FutureExt::boxed(self.secrets.run()),
            FutureExt::boxed(self.control_planes.run()),
        ]);
        tokio::select! {
            _ = watches => {}
            () = stop.cancelled() => {}
        }
    }
}

/// The subscription of a loop to its own kind: applied objects for its predicates, deleted
/// ones to `on_delete` (most objects hold no finalizer, so no reconcile sees them go).
pub fn own_objects<K>(
    changes: mpsc::Receiver<Touched<K>>,
    on_delete: impl Fn(&K) + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Send + 'static,
{
    changes.filter_map(move |touched| {
        let applied = match touched {
            Touched::Applied(obj) => Some(Ok(obj)),
            Touched::Deleted(obj) => {
                on_delete(&obj);
                None
            }
        };
        futures::future::ready(applied)
    })
}
