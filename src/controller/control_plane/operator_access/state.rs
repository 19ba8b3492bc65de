//! What operator access keeps between reconciles and the outcome of one attempt: the part of
//! operator access the control plane's reconcile context holds. It imports nothing of the
//! reconciler, so the context can hold it while the reconciler reads the context.

use std::time::Duration;

use jiff::Timestamp;

use super::rotation;
use crate::controller::backoff::Backoff;
use crate::controller::coderd_clients::CoderdClients;

/// Bounds of the wait before operator access is attempted again.
const MIN_WAIT: Duration = Duration::from_secs(1);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Upper bound for one call to coderd from the reconciler.
const CODERD_TIMEOUT: Duration = Duration::from_secs(10);

/// When to look again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// At the controller's usual resync.
    Resync,
    /// At this moment (a token's rotation time).
    At(Timestamp),
    /// After this control plane's next backoff delay (coderd down, a Secret to be fixed).
    Backoff,
}

/// The outcome of one attempt, reported in status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
    /// Secret name and key of the token (status.operatorTokenSecretRef), when ready.
    pub token_secret_ref: Option<(String, String)>,
    pub retry: Retry,
    /// (reason, note) of Events to publish: what changed in coderd or in Secrets.
    pub events: Vec<(&'static str, String)>,
    /// Why coderd no longer accepted the published token, when this attempt found it so (and
    /// replaced it, or tried to): reported before the outcome, so that the status never says
    /// a rejected token is ready.
    pub rejected: Option<String>,
}

/// What operator access keeps between reconciles.
pub struct State {
    backoff: Backoff,
    /// One client (connection pool) per coderd URL.
    clients: CoderdClients,
}

impl State {
    pub fn new(max_backoff: Duration) -> Self {
        Self {
            backoff: Backoff::new(MIN_WAIT, max_backoff.clamp(MIN_WAIT, MAX_BACKOFF)),
            clients: CoderdClients::new(CODERD_TIMEOUT),
        }
    }

    pub(super) fn client(
        &self,
        url: &str,
    ) -> std::result::Result<crate::coder::CoderClient, crate::coder::CoderError> {
        self.clients.get(url)
    }

    /// How long to wait before the next attempt; resets the backoff after a success.
    pub fn requeue_after(&self, key: &str, access: &Access, resync: Duration) -> Duration {
        if access.ready {
            self.backoff.reset(key);
        }
        match access.retry {
            Retry::Resync => resync,
            Retry::At(at) => rotation::until(Timestamp::now(), at, MIN_WAIT, resync),
            Retry::Backoff => self.backoff.next_delay(key).min(resync),
        }
    }

    /// Forgets a deleted control plane.
    pub fn forget(&self, key: &str) {
        self.backoff.reset(key);
    }
}
