//! State shared by every reconcile: the client, the Event recorder, metrics, backoff and what the
//! controller last applied (to tell created/updated children apart for Events).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use super::backoff::Backoff;
use super::builders::MANAGER;
use super::metrics::Metrics;

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
    /// `Kind/namespace/name` of each applied child → (uid, resourceVersion) the API server
    /// returned last time, keyed by the owning control plane so cleanup can drop them.
    applied: Mutex<HashMap<String, HashMap<String, Seen>>>,
    layouts: Mutex<HashMap<String, Layout>>,
}

/// (uid, resourceVersion) of a child as last returned by the API server.
type Seen = (String, String);

/// What the last successful reconcile of a control plane left behind, so the next one can skip
/// cluster-wide lookups (a label-selected LIST across namespaces costs the API server time in
/// proportion to every object of that kind) when nothing about them changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub rbac_namespaces: std::collections::BTreeSet<String>,
    pub ingress: bool,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        max_backoff: Option<Duration>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.to_string(),
                instance,
            },
        );
        let max = max_backoff.unwrap_or(Duration::from_secs(300));
        Self {
            client,
            recorder,
            metrics,
            backoff: Backoff::new(Duration::from_millis(500).min(max), max),
            applied: Mutex::default(),
            layouts: Mutex::default(),
        }
    }

    /// Compares an apply response with the previous one. A child never seen before counts as
    /// created only if the API server created it moments ago; after a controller restart, the
    /// existing children are just remembered.
    pub fn record_apply(
        &self,
        owner: &str,
        child: String,
        uid: &str,
        rv: &str,
        fresh: bool,
    ) -> Change {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let children = applied.entry(owner.to_string()).or_default();
        let previous = children.insert(child, (uid.to_string(), rv.to_string()));
        match previous {
            None if fresh => Change::Created,
            None => Change::Unchanged,
            Some((old_uid, _)) if old_uid != uid => Change::Created,
            Some((_, old_rv)) if old_rv != rv => Change::Updated,
            Some(_) => Change::Unchanged,
        }
    }

    pub fn forget(&self, owner: &str) {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner);
        self.layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner);
    }

    /// The layout the last successful reconcile of `owner` produced; `None` after a restart or
    /// a failed reconcile, which makes the next reconcile check everything.
    pub fn layout(&self, owner: &str) -> Option<Layout> {
        self.layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(owner)
            .cloned()
    }

    pub fn set_layout(&self, owner: &str, layout: Option<Layout>) {
        let mut layouts = self.layouts.lock().unwrap_or_else(|p| p.into_inner());
        match layout {
            Some(layout) => layouts.insert(owner.to_string(), layout),
            None => layouts.remove(owner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        // A client that is never called: the service fails every request.
        let service = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
            Err::<http::Response<kube::client::Body>, std::io::Error>(std::io::Error::other(
                "offline",
            ))
        });
        Context::new(Client::new(service, "default"), Arc::default(), None, None)
    }

    #[tokio::test]
    async fn tells_created_updated_and_unchanged_apart() {
        let ctx = context();
        assert_eq!(
            ctx.record_apply("ns/a", "Service/ns/a".into(), "u1", "1", true),
            Change::Created
        );
        assert_eq!(
            ctx.record_apply("ns/a", "Service/ns/a".into(), "u1", "1", false),
            Change::Unchanged
        );
        assert_eq!(
            ctx.record_apply("ns/a", "Service/ns/a".into(), "u1", "2", false),
            Change::Updated
        );
        assert_eq!(
            ctx.record_apply("ns/a", "Service/ns/a".into(), "u2", "3", false),
            Change::Created
        );
        assert_eq!(
            ctx.record_apply("ns/a", "Deployment/ns/a".into(), "u3", "9", false),
            Change::Unchanged
        );
        ctx.forget("ns/a");
        assert_eq!(
            ctx.record_apply("ns/a", "Service/ns/a".into(), "u2", "3", true),
            Change::Created
        );
    }
}
