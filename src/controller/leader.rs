//! The controller's leader election: one reconciler per cluster. The Lease protocol itself lives
//! in [`crate::lease`] (shared with the apiserver's Coder sync); this maps its outcome onto the
//! controller's errors.

use super::args::LeaderSettings;
use super::error::{Error, Result};
use crate::lease::{LeaseError, LeaseLock};
use crate::shutdown::Shutdown;

pub struct LeaderElector {
    lock: LeaseLock,
}

impl LeaderElector {
    pub fn new(client: kube::Client, settings: LeaderSettings) -> Self {
        Self {
            lock: LeaseLock::new(client, settings),
        }
    }

    /// Waits until this process holds the Lease. Returns `false` if shutdown came first.
    pub async fn acquire(&mut self, shutdown: &Shutdown) -> bool {
        self.lock.acquire(shutdown).await
    }

    /// Renews the Lease until `stop` (returns `Ok`) or until it is lost (returns
    /// [`Error::LeadershipLost`]).
    pub async fn renew_until(&mut self, stop: &Shutdown) -> Result<()> {
        self.lock
            .renew_until(stop)
            .await
            .map_err(|error| match error {
                LeaseError::Lost { .. } | LeaseError::Api { .. } => Error::LeadershipLost,
            })
    }

    /// Hands the Lease back if this process still holds it.
    pub async fn release(&self) {
        self.lock.release().await;
    }
}
