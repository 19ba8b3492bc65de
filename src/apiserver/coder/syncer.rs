//! Which replica syncs: with shared storage (etcd) only the holder of a Lease polls coderd and
//! writes the mirror; the other replicas serve reads and watches from the same storage and
//! take the Lease over when the holder stops (at once: it hands the Lease back) or dies (once
//! the Lease expires). Without shared storage each replica is alone and always syncs.
//!
//! Losing the Lease (someone else took it, or it could not be renewed in time) stops the
//! rounds and makes this replica a standby again; it keeps serving, unlike the controller,
//! which exits: a standby apiserver is still a working apiserver.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::lease::{LeaseLock, LeaseSettings};

use super::metrics::SyncMetrics;
use super::sync::Sync;

/// Who syncs with coderd.
pub enum Role {
    /// This replica, always (memory storage, or leader election switched off).
    Always,
    /// Whoever holds this Lease.
    Lease(Box<LeaseRole>),
}

/// The Lease a replica must hold to sync, and the client to take it with.
pub struct LeaseRole {
    pub client: kube::Client,
    pub settings: LeaseSettings,
}

/// Runs the sync under `role` until `stop`. The task ends after the Lease is handed back:
/// shutdown awaits it, so a standby takes over at once instead of after the lease duration.
pub fn spawn(
    sync: Sync,
    role: Role,
    metrics: SyncMetrics,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(Arc::new(sync), role, metrics, stop))
}

async fn run(sync: Arc<Sync>, role: Role, metrics: SyncMetrics, stop: CancellationToken) {
    let (client, settings) = match role {
        Role::Always => {
            metrics.set_syncer(true);
            sync.run(&stop).await;
            metrics.set_syncer(false);
            return;
        }
        Role::Lease(lease) => (lease.client, lease.settings),
    };
    let mut lock = LeaseLock::new(client, settings);
    loop {
        if !lock.acquire(&stop).await {
            return;
        }
        metrics.set_syncer(true);
        tracing::info!(
            lease = lock.settings().lease_name,
            "this replica syncs with coderd now"
        );
        let term = stop.child_token();
        let mut rounds = tokio::spawn({
            let sync = sync.clone();
            let term = term.clone();
            async move { sync.run(&term).await }
        });
        // The rounds end only when told to; if they end by themselves (a panic), this replica
        // must not keep a Lease it does nothing with.
        let renewed = tokio::select! {
            renewed = lock.renew_until(&stop) => Some(renewed),
            ended = &mut rounds => {
                if let Err(error) = ended {
                    tracing::error!(%error, "the sync task failed; handing the Lease over");
                }
                None
            }
        };
        // The last round ends before the Lease is handed back, so two syncers never overlap.
        term.cancel();
        if renewed.is_some()
            && let Err(error) = rounds.await
        {
            tracing::error!(%error, "the sync task failed");
        }
        metrics.set_syncer(false);
        match renewed {
            Some(Ok(())) => {
                lock.release().await;
                return;
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "another replica syncs with coderd now; this one stands by");
            }
            None => {
                lock.release().await;
                // Give the other replicas a lease duration to take over before competing again,
                // so a sync that fails the same way every time does not spin here.
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(lock.settings().lease_duration) => {}
                }
            }
        }
    }
}
