//! Leader election on a coordination.k8s.io/v1 Lease. kube-rs has none built in; this follows
//! client-go's protocol: take the Lease when it is free, expired or already ours, renew it well
//! inside its duration, and hand it back on shutdown so a standby takes over at once.
//!
//! Expiry is judged by when *this* process last saw the Lease change (its resourceVersion), not
//! by the holder's timestamps, so clock skew between nodes cannot cause two leaders.

use std::time::Instant;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tracing::{debug, info, warn};

use super::args::LeaderSettings;
use super::error::{Error, Result};
use crate::shutdown::Shutdown;

pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaderSettings,
    /// The Lease's resourceVersion when this process last saw it change, and when.
    observed: Option<(String, Instant)>,
}

/// What one look at the Lease found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Acquired,
    HeldByOther(String),
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaderSettings) -> Self {
        let api = Api::namespaced(client, &settings.lease_namespace);
        Self {
            api,
            settings,
            observed: None,
        }
    }

    /// Waits until this process holds the Lease. Returns `false` if shutdown came first.
    pub async fn acquire(&mut self, shutdown: &Shutdown) -> bool {
        let mut last_holder = None;
        loop {
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => {
                    info!(lease = %self.settings.lease_name, identity = %self.settings.identity, "acquired leadership");
                    return true;
                }
                Ok(Attempt::HeldByOther(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        info!(%holder, "waiting for the leader-election lease");
                        last_holder = Some(holder);
                    }
                }
                // The API may be briefly unavailable; a standby just keeps trying.
                Err(error) => warn!(%error, "cannot read or take the leader-election lease"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(self.settings.retry_interval) => {}
            }
        }
    }

    /// Renews the Lease until `stop` (returns `Ok`) or until it cannot be renewed within the
    /// lease duration or someone else holds it (returns [`Error::LeadershipLost`]).
    pub async fn renew_until(&mut self, stop: &Shutdown) -> Result<()> {
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.settings.renew_interval) => {}
            }
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => last_renewed = Instant::now(),
                Ok(Attempt::HeldByOther(holder)) => {
                    warn!(%holder, "leader-election lease taken over");
                    return Err(Error::LeadershipLost);
                }
                Err(error) => {
                    warn!(%error, "cannot renew the leader-election lease");
                    // Stop before a standby could consider the lease expired.
                    if last_renewed.elapsed() + self.settings.retry_interval
                        >= self.settings.lease_duration
                    {
                        return Err(Error::LeadershipLost);
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
            Ok(()) => info!("released the leader-election lease"),
            Err(error) => {
                warn!(%error, "cannot release the leader-election lease; a standby waits for it to expire")
            }
        }
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    async fn try_acquire(&mut self) -> Result<Attempt> {
        let now = MicroTime(Timestamp::now());
        let me = self.settings.identity.clone();
        let Some(mut lease) = self.api.get_opt(&self.settings.lease_name).await? else {
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
                Err(error) => Err(error.into()),
            };
        };

        let version = lease.resource_version().unwrap_or_default();
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
        spec.lease_duration_seconds = Some(self.lease_seconds());
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
            Err(error) => Err(error.into()),
        }
    }
}
