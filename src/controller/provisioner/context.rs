//! State shared by every CoderProvisioner reconcile: clients, caches, backoff, and what this
//! controller last wrote (so a reconcile that runs before the watch caught up does not act on a
//! stale copy).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::coder::v1alpha1::{CoderControlPlane, CoderProvisionerStatus};
use crate::coder::{CoderClient, CoderError, Entitlements};
use crate::controller::backoff::Backoff;
use crate::controller::coderd_clients::CoderdClients;
use crate::controller::loops;
use crate::controller::metrics::Metrics;
use crate::controller::remembered::{Warnings, WrittenStatus};

/// Upper bound for one call to coderd.
const CODERD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an entitlements answer is reused: child events and control plane updates start
/// reconciles at any rate, and a licence changes rarely.
const ENTITLEMENTS_TTL: Duration = Duration::from_secs(60);

/// The watch caches this loop reads instead of the API server.
#[derive(Clone)]
pub struct Stores {
    pub deployments: Store<Deployment>,
    pub secrets: Store<Secret>,
    pub service_accounts: Store<ServiceAccount>,
    pub roles: Store<Role>,
    pub role_bindings: Store<RoleBinding>,
    pub control_planes: Store<CoderControlPlane>,
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Failed reconciles (the Kubernetes API refused or failed).
    pub backoff: Backoff,
    /// coderd unreachable or refusing: retried later each time, never as a storm.
    pub coderd_backoff: Backoff,
    pub stores: Stores,
    clients: CoderdClients,
    entitlements: Mutex<HashMap<String, (Instant, Entitlements)>>,
    /// Our last status write per provisioner.
    pub written_status: WrittenStatus<CoderProvisionerStatus>,
    /// `namespace/name` of a key Secret → the Secret as our last apply returned it.
    written_secrets: Mutex<HashMap<String, Secret>>,
    /// The Warning Event published for each provisioner's current failure.
    warnings: Warnings,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        max_backoff: Option<Duration>,
        stores: Stores,
    ) -> Self {
        let recorder = loops::recorder(&client, instance);
        let max = loops::max_backoff(max_backoff);
        Self {
            client,
            recorder,
            metrics,
            backoff: loops::reconcile_backoff(max),
            coderd_backoff: Backoff::new(
                Duration::from_secs(1).min(max),
                max.min(Duration::from_secs(120)),
            ),
            stores,
            clients: CoderdClients::new(CODERD_TIMEOUT),
            entitlements: Mutex::default(),
            written_status: WrittenStatus::default(),
            written_secrets: Mutex::default(),
            warnings: Warnings::default(),
        }
    }

    /// A coderd client for `url` (one connection pool per URL).
    pub fn coderd(&self, url: &str) -> Result<CoderClient, CoderError> {
        self.clients.get(url)
    }

    /// coderd's entitlements, reused for a minute per URL.
    pub async fn entitlements(
        &self,
        url: &str,
        coderd: &CoderClient,
    ) -> Result<Entitlements, CoderError> {
        {
            let cached = self.entitlements.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, entitlements)) = cached.get(url)
                && at.elapsed() < ENTITLEMENTS_TTL
            {
                return Ok(entitlements.clone());
            }
        }
        let fresh = coderd.entitlements().await?;
        self.entitlements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url.to_string(), (Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// The key Secret `namespace/name`: the cached copy, or our own last write when the cache
    /// has not caught up with it yet. Acting on the older copy would rotate a key twice.
    pub fn key_secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        let cached = self
            .stores
            .secrets
            .get(&ObjectRef::new(name).within(namespace));
        let written = self
            .written_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("{namespace}/{name}"))
            .cloned();
        match (cached, written) {
            (Some(cached), Some(written)) => {
                // resourceVersions are etcd revisions in kube-apiserver: a larger one is newer.
                // Only when both parse is the cache trusted over our write.
                let revision = |s: &Secret| {
                    s.metadata
                        .resource_version
                        .as_deref()
                        .and_then(|rv| rv.parse::<u64>().ok())
                };
                match (revision(&cached), revision(&written)) {
                    (Some(c), Some(w)) if c >= w => Some((*cached).clone()),
                    _ if cached.metadata.uid != written.metadata.uid => Some((*cached).clone()),
                    _ => Some(written),
                }
            }
            (Some(cached), None) => Some((*cached).clone()),
            // Deleted since our write (the cache saw it go): it is gone.
            (None, Some(_)) => None,
            (None, None) => None,
        }
    }

    pub fn remember_secret(&self, secret: &Secret) {
        let key = format!(
            "{}/{}",
            secret.metadata.namespace.as_deref().unwrap_or_default(),
            secret.metadata.name.as_deref().unwrap_or_default()
        );
        self.written_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, secret.clone());
    }

    /// Whether a Warning with `reason` is new for `owner`'s current failure (and records it).
    pub fn first_warning(&self, owner: &str, reason: &str) -> bool {
        self.warnings.first(owner, reason)
    }

    /// The failure is over: the next one gets its Warning again.
    pub fn recovered(&self, owner: &str) {
        self.warnings.clear(owner);
        self.coderd_backoff.reset(owner);
    }

    /// Drops everything kept about a deleted provisioner.
    pub fn forget(&self, owner: &str, secret: Option<&str>) {
        self.recovered(owner);
        self.backoff.reset(owner);
        self.written_status.forget(owner);
        if let Some(secret) = secret {
            self.written_secrets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(secret);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher};

    fn secret(rv: &str, uid: &str, key: &str) -> Secret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "k", "namespace": "ns", "resourceVersion": rv, "uid": uid},
            "stringData": {"key": key},
        }))
        .unwrap()
    }

    fn context(cached: Option<Secret>) -> Context {
        let service = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
            Err::<http::Response<kube::client::Body>, std::io::Error>(std::io::Error::other(
                "offline",
            ))
        });
        let (secrets, mut writer) = reflector::store();
        if let Some(cached) = cached {
            writer.apply_watcher_event(&watcher::Event::Apply(cached));
        }
        Context::new(
            Client::new(service, "default"),
            Arc::default(),
            None,
            None,
            Stores {
                deployments: reflector::store().0,
                secrets,
                service_accounts: reflector::store().0,
                roles: reflector::store().0,
                role_bindings: reflector::store().0,
                control_planes: reflector::store().0,
            },
        )
    }

    fn key_of(secret: Option<Secret>) -> Option<String> {
        Some(secret?.string_data?.get("key")?.clone())
    }

    #[tokio::test]
    async fn our_newer_write_wins_over_a_lagging_cache() {
        // The cache still shows the Secret before our rotation: acting on it would rotate again.
        let ctx = context(Some(secret("10", "u1", "old")));
        ctx.remember_secret(&secret("12", "u1", "new"));
        assert_eq!(key_of(ctx.key_secret("ns", "k")).as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn a_cache_that_caught_up_or_moved_on_wins() {
        let ctx = context(Some(secret("14", "u1", "edited")));
        ctx.remember_secret(&secret("12", "u1", "ours"));
        assert_eq!(key_of(ctx.key_secret("ns", "k")).as_deref(), Some("edited"));
        // Deleted and created again by someone else: another uid.
        let ctx = context(Some(secret("3", "u2", "recreated")));
        ctx.remember_secret(&secret("12", "u1", "ours"));
        assert_eq!(
            key_of(ctx.key_secret("ns", "k")).as_deref(),
            Some("recreated")
        );
        // Gone from the cache after our write: gone.
        let ctx = context(None);
        ctx.remember_secret(&secret("12", "u1", "ours"));
        assert!(ctx.key_secret("ns", "k").is_none());
    }

    #[tokio::test]
    async fn one_warning_per_failure() {
        let ctx = context(None);
        assert!(ctx.first_warning("ns/p", "CoderdUnreachable"));
        assert!(!ctx.first_warning("ns/p", "CoderdUnreachable"));
        // Another failure is worth its own Warning.
        assert!(ctx.first_warning("ns/p", "NotEntitled"));
        ctx.recovered("ns/p");
        assert!(ctx.first_warning("ns/p", "NotEntitled"));
    }
}
