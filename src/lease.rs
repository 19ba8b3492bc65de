//! Leader election on a coordination.k8s.io/v1 Lease, shared by the controller (one reconciler
//! per cluster) and the aggregated apiserver's Coder backend (one coderd poller per cluster).
//! It imports neither app. kube-rs has no leader election built in; this follows client-go's
//! protocol: take the Lease when it is free, expired or already ours, renew it well inside its
//! duration, and hand it back on shutdown so a standby takes over at once.
//!
//! Expiry is judged by when *this* process last saw the Lease change (its resourceVersion), not
//! by the holder's timestamps, so clock skew between nodes cannot cause two holders.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Which Lease, who takes it, and its timings. Renewal happens well inside the lease so one
/// slow request does not cost the Lease; retry is how often a standby looks at it.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub lease_name: String,
    pub lease_namespace: String,
    /// Unique per process: a restarted pod must not mistake its predecessor's lease for its own.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_interval: Duration,
    pub retry_interval: Duration,
}

impl LeaseSettings {
    pub fn new(
        lease_name: impl Into<String>,
        lease_namespace: impl Into<String>,
        identity: impl Into<String>,
        lease_duration: Duration,
    ) -> Self {
        Self {
            lease_name: lease_name.into(),
            lease_namespace: lease_namespace.into(),
            identity: identity.into(),
            lease_duration,
            renew_interval: lease_duration / 3,
            retry_interval: (lease_duration / 5).max(Duration::from_millis(50)),
        }
    }
}

/// Why holding the Lease ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Someone else holds it now, or it could not be renewed within its duration.
    #[error("lease {namespace}/{name} lost")]
    Lost { namespace: String, name: String },
    #[error("reading or writing lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Pod name (or host name) plus the process id and start time, unique across restarts; a
/// second call in the same process (the controller and the Coder sync of `--app=all`, or
/// servers of one test) adds a sequence number, so two claims in one process never look alike.
pub fn process_identity() -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "coder-k8s".to_string());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let identity = format!("{host}_{}_{started:x}", std::process::id());
    match call {
        0 => identity,
        n => format!("{identity}_{n}"),
    }
}

/// One process's claim on one Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The Lease's resourceVersion when this process last saw it change, and when.
    observed: Option<(String, Instant)>,
}

/// What one look at the Lease found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Acquired,
    HeldByOther(String),
}

impl LeaseLock {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        let api = Api::namespaced(client, &settings.lease_namespace);
        Self {
            api,
            settings,
            observed: None,
        }
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    fn lost(&self) -> LeaseError {
        LeaseError::Lost {
            namespace: self.settings.lease_namespace.clone(),
            name: self.settings.lease_name.clone(),
        }
    }

    fn api_error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Api {
            namespace: self.settings.lease_namespace.clone(),
            name: self.settings.lease_name.clone(),
            source,
        }
    }

    /// Waits until this process holds the Lease. Returns `false` if `stop` came first.
    pub async fn acquire(&mut self, stop: &CancellationToken) -> bool {
        let mut last_holder = None;
        let mut last_error = None;
        loop {
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => {
                    info!(lease = %self.settings.lease_name, identity = %self.settings.identity, "acquired the lease");
                    return true;
                }
                Ok(Attempt::HeldByOther(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        info!(lease = %self.settings.lease_name, %holder, "waiting for the lease");
                        last_holder = Some(holder);
                    }
                }
                // The API may be briefly unavailable; a standby just keeps trying. A lasting
                // problem (say, RBAC) is logged once, not at every retry.
                Err(error) => {
                    let text = error.to_string();
                    if last_error.as_ref() != Some(&text) {
                        warn!(%error, "cannot read or take the lease; retrying (logged again when the error changes)");
                        last_error = Some(text);
                    } else {
                        debug!(%error, "cannot read or take the lease");
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(self.settings.retry_interval) => {}
            }
        }
    }

    /// Renews the Lease until `stop` (returns `Ok`) or until it cannot be renewed within the
    /// lease duration or someone else holds it (returns [`LeaseError::Lost`]).
    pub async fn renew_until(&mut self, stop: &CancellationToken) -> Result<(), LeaseError> {
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.settings.renew_interval) => {}
            }
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => last_renewed = Instant::now(),
                Ok(Attempt::HeldByOther(holder)) => {
                    warn!(lease = %self.settings.lease_name, %holder, "lease taken over");
                    return Err(self.lost());
                }
                Err(error) => {
                    warn!(%error, "cannot renew the lease");
                    // Stop before a standby could consider the lease expired.
                    if last_renewed.elapsed() + self.settings.retry_interval
                        >= self.settings.lease_duration
                    {
                        return Err(self.lost());
                    }
                }
            }
        }
    }

    /// Hands the Lease back (empty holder) if this process still holds it.
    pub async fn release(&self) {
        let result = async {
            let Some(mut lease) = self.api.get_opt(&self.settings.lease_name).await? else {
                return Ok::<_, kube::Error>(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            self.api
                .replace(&self.settings.lease_name, &PostParams::default(), &lease)
                .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => info!(lease = %self.settings.lease_name, "released the lease"),
            Err(error) => {
                warn!(%error, "cannot release the lease; a standby waits for it to expire")
            }
        }
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    async fn try_acquire(&mut self) -> Result<Attempt, LeaseError> {
        let now = MicroTime(Timestamp::now());
        let me = self.settings.identity.clone();
        let current = self
            .api
            .get_opt(&self.settings.lease_name)
            .await
            .map_err(|e| self.api_error(e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.lease_name.clone()),
                    namespace: Some(self.settings.lease_namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.lease_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Acquired),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::HeldByOther(
                    "(just created by another instance)".into(),
                )),
                Err(error) => Err(self.api_error(error)),
            };
        };

        let version = lease.resource_version().unwrap_or_default();
        let lease_seconds = self.lease_seconds();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(me.as_str());
        if let Some(other) = holder.as_ref().filter(|_| !ours) {
            let changed = self.observed.as_ref().is_none_or(|(v, _)| *v != version);
            if changed {
                self.observed = Some((version, Instant::now()));
                return Ok(Attempt::HeldByOther(other.clone()));
            }
            let unchanged_for = self
                .observed
                .as_ref()
                .map(|(_, seen)| seen.elapsed())
                .unwrap_or_default();
            if unchanged_for < self.settings.lease_duration {
                return Ok(Attempt::HeldByOther(other.clone()));
            }
            debug!(holder = %other, "lease expired");
        }
        if !ours {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.acquire_time = Some(now.clone());
        }
        spec.holder_identity = Some(me);
        spec.lease_duration_seconds = Some(lease_seconds);
        spec.renew_time = Some(now);
        // replace carries the resourceVersion we read, so of two racing instances one gets 409.
        match self
            .api
            .replace(&self.settings.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Attempt::Acquired),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Ok(Attempt::HeldByOther("(updated concurrently)".into()))
            }
            Err(error) => Err(self.api_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_of_one_process_differ() {
        let first = process_identity();
        let second = process_identity();
        assert_ne!(first, second);
        assert!(
            second.starts_with(first.split('_').next().unwrap()),
            "{first} {second}"
        );
    }

    #[test]
    fn renewal_and_retry_fit_inside_the_lease() {
        let settings = LeaseSettings::new("l", "ns", "me", Duration::from_secs(15));
        assert_eq!(settings.renew_interval, Duration::from_secs(5));
        assert_eq!(settings.retry_interval, Duration::from_secs(3));
        let short = LeaseSettings::new("l", "ns", "me", Duration::from_millis(100));
        assert_eq!(short.retry_interval, Duration::from_millis(50));
    }
}
