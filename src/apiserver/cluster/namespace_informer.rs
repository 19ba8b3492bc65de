//! Namespace states for `NamespaceLifecycle`-style admission, when the server runs against a
//! cluster: a reflector over the cluster's namespaces, with a live read when a namespace is not
//! (yet) in the cache, as kube-apiserver's admission plugin does so that a namespace created
//! a moment ago is not refused.

use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;

use crate::apiserver::objects::namespaces::{NamespaceLookup, NamespacePhase};

pub struct NamespaceInformer {
    api: Api<Namespace>,
    store: Store<Namespace>,
}

impl NamespaceInformer {
    /// Starts watching namespaces with `client` until `stop` fires.
    pub fn start(client: kube::Client, stop: CancellationToken) -> Arc<Self> {
        let api: Api<Namespace> = Api::all(client);
        let (store, writer) = reflector::store();
        let events = watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        crate::apiserver::cluster::reflect::spawn(events, "namespace", stop);
        Arc::new(NamespaceInformer { api, store })
    }
}

fn phase_of(namespace: &Namespace) -> NamespacePhase {
    let terminating = namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if terminating {
        NamespacePhase::Terminating
    } else {
        NamespacePhase::Active
    }
}

impl NamespaceLookup for NamespaceInformer {
    fn phase<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<NamespacePhase>, String>> {
        Box::pin(async move {
            if let Some(cached) = self.store.get(&ObjectRef::new(name)) {
                return Ok(Some(phase_of(&cached)));
            }
            // Not cached: maybe created a moment ago. Ask the cluster.
            self.api
                .get_opt(name)
                .await
                .map(|found| found.as_ref().map(phase_of))
                .map_err(|e| format!("looking up namespace {name}: {e}"))
        })
    }
}
