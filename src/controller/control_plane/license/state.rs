//! What license handling keeps between reconciles, held by the control plane's reconcile
//! context. It imports nothing of the reconciler, so the context can hold it while the
//! reconciler reads the context.

use std::collections::HashMap;
use std::sync::Mutex;

/// What license handling keeps between reconciles: the hash of a license coderd refused, per
/// control plane, so that the same bad license is not sent again on every resync.
#[derive(Default)]
pub struct State {
    rejected: Mutex<HashMap<String, String>>,
}

impl State {
    pub(super) fn rejected(&self, key: &str) -> Option<String> {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub(super) fn set_rejected(&self, key: &str, hash: Option<String>) {
        let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        match hash {
            Some(hash) => rejected.insert(key.to_string(), hash),
            None => rejected.remove(key),
        };
    }

    /// Forgets a deleted control plane.
    pub fn forget(&self, key: &str) {
        self.set_rejected(key, None);
    }
}
