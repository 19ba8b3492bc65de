//! State shared by every reconcile: the client, the Event recorder, metrics, backoff and what the
//! controller last applied (to tell created/updated children apart for Events).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::events::Recorder;
use kube::{Client, ResourceExt};

use super::caches::Caches;
use crate::api::coder::v1alpha1::{CoderControlPlane, CoderControlPlaneStatus};
use crate::controller::backoff::Backoff;
use crate::controller::loops;
use crate::controller::metrics::Metrics;
use crate::controller::remembered::{WrittenStatus, object_key};

/// What changed when a child was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub backoff: Backoff,
    pub caches: Caches,
    /// Backoff and coderd clients of operator access.
    pub operator_access: super::operator_access::state::State,
    /// Licenses coderd refused (see `license`).
    pub license: super::license::state::State,
    /// `Kind/namespace/name` of each applied child → (uid, resourceVersion) the API server
    /// returned to our last apply, keyed by the owning control plane so cleanup can drop them.
    applied: Mutex<HashMap<String, HashMap<String, Seen>>>,
    /// uids of control planes whose namespace is being deleted: nothing more is applied there.
    terminating: Mutex<HashSet<String>>,
    /// The status each control plane was last given by us.
    pub written_status: WrittenStatus<CoderControlPlaneStatus>,
}

/// (uid, resourceVersion) of a child as last returned by the API server.
type Seen = (String, String);

/// One apply of a child, as [`Context::record_apply`] judges it.
pub struct Applied<'a> {
    pub owner: &'a str,
    /// `Kind/namespace/name`.
    pub child: String,
    /// uid and resourceVersion of the cached copy before the apply, if the cache had one.
    pub cached: Option<(&'a str, &'a str)>,
    /// uid and resourceVersion the apply returned.
    pub uid: &'a str,
    pub rv: &'a str,
    /// The API server created the object moments ago.
    pub fresh: bool,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        max_backoff: Option<Duration>,
        caches: Caches,
    ) -> Self {
        let recorder = loops::recorder(&client, instance);
        let max = loops::max_backoff(max_backoff);
        Self {
            client,
            recorder,
            metrics,
            backoff: loops::reconcile_backoff(max),
            caches,
            operator_access: super::operator_access::state::State::new(max),
            license: super::license::state::State::default(),
            applied: Mutex::default(),
            terminating: Mutex::default(),
            written_status: WrittenStatus::default(),
        }
    }

    /// Judges an apply that was made because the cached child differed from what we apply
    /// (or was missing). It changed something only if the API server's answer is neither our
    /// own previous write (the cache had not caught up with it) nor the cached version (the
    /// difference was in how the server normalises values, not in the object).
    pub fn record_apply(&self, apply: Applied<'_>) -> Change {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let children = applied.entry(apply.owner.to_string()).or_default();
        let previous = children.insert(apply.child, (apply.uid.to_string(), apply.rv.to_string()));
        let known_uid = previous
            .as_ref()
            .map(|(uid, _)| uid.as_str())
            .or(apply.cached.map(|(uid, _)| uid));
        match known_uid {
            None if apply.fresh => Change::Created,
            None => Change::Unchanged,
            Some(uid) if uid != apply.uid => Change::Created,
            Some(_) => {
                let ours = previous.as_ref().is_some_and(|(_, rv)| rv == apply.rv);
                let cached = apply.cached.is_some_and(|(_, rv)| rv == apply.rv);
                if ours || cached || apply.cached.is_none() {
                    Change::Unchanged
                } else {
                    Change::Updated
                }
            }
        }
    }

    /// Drops everything kept about a deleted control plane.
    pub fn forget_object(&self, obj: &CoderControlPlane) {
        let owner = object_key(obj);
        self.forget(&owner, obj.uid().as_deref().unwrap_or_default());
        self.backoff.reset(&owner);
        self.operator_access.forget(&owner);
        self.license.forget(&owner);
    }

    pub fn forget(&self, owner: &str, uid: &str) {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner);
        self.written_status.forget(owner);
        self.terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    pub fn mark_terminating(&self, uid: &str) {
        self.terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string());
    }

    pub fn is_terminating(&self, uid: &str) -> bool {
        self.terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;

    fn context() -> Context {
        // A client that is never called: the service fails every request.
        let service = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
            Err::<http::Response<kube::client::Body>, std::io::Error>(std::io::Error::other(
                "offline",
            ))
        });
        let caches = Caches {
            deployments: reflector::store().0,
            services: reflector::store().0,
            service_accounts: reflector::store().0,
            ingresses: reflector::store().0,
            roles: reflector::store().0,
            role_bindings: reflector::store().0,
        };
        Context::new(
            Client::new(service, "default"),
            Arc::default(),
            None,
            None,
            caches,
        )
    }

    fn apply<'a>(
        cached: Option<(&'a str, &'a str)>,
        uid: &'a str,
        rv: &'a str,
        fresh: bool,
    ) -> Applied<'a> {
        Applied {
            owner: "ns/a",
            child: "Service/ns/a".into(),
            cached,
            uid,
            rv,
            fresh,
        }
    }

    #[tokio::test]
    async fn tells_created_updated_and_unchanged_apart() {
        let ctx = context();
        // Not cached, created by this apply.
        assert_eq!(
            ctx.record_apply(apply(None, "u1", "1", true)),
            Change::Created
        );
        // The cache lags behind our own write: nothing new.
        assert_eq!(
            ctx.record_apply(apply(None, "u1", "1", true)),
            Change::Unchanged
        );
        // A hand edit (cached rv 2) put back by our apply (rv 3).
        assert_eq!(
            ctx.record_apply(apply(Some(("u1", "2")), "u1", "3", false)),
            Change::Updated
        );
        // Only status moved since our last apply, and the cache has it: the apply changed
        // nothing (the server normalised a value we apply differently).
        assert_eq!(
            ctx.record_apply(apply(Some(("u1", "4")), "u1", "4", false)),
            Change::Unchanged
        );
        // Deleted and created again.
        assert_eq!(
            ctx.record_apply(apply(None, "u2", "5", true)),
            Change::Created
        );
        // After a restart an existing child is remembered, not reported.
        ctx.forget("ns/a", "uid");
        assert_eq!(
            ctx.record_apply(apply(Some(("u2", "5")), "u2", "5", false)),
            Change::Unchanged
        );
    }

    #[tokio::test]
    async fn terminating_namespaces_are_remembered_until_forgotten() {
        let ctx = context();
        assert!(!ctx.is_terminating("u"));
        ctx.mark_terminating("u");
        assert!(ctx.is_terminating("u"));
        ctx.forget("ns/a", "u");
        assert!(!ctx.is_terminating("u"));
    }
}
