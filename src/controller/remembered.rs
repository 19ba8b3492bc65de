//! What every kind's reconcile context remembers between reconciles of an object, keyed by
//! `namespace/name` ([`object_key`]): the status it last wrote, and the last Warning it
//! published. In memory only; a restart starts from the watch caches.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::{Resource, ResourceExt};

/// `namespace/name` of an object: the key of everything remembered about it.
pub fn object_key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The status each object (`namespace/name` → uid, status) was last given by us: a reconcile
/// started before the cache shows our write must not write the same status again.
pub struct WrittenStatus<S> {
    written: Mutex<HashMap<String, (String, S)>>,
}

impl<S> Default for WrittenStatus<S> {
    fn default() -> Self {
        Self {
            written: Mutex::default(),
        }
    }
}

impl<S: Clone> WrittenStatus<S> {
    /// Remembers the status a write of ours gave `key` (incarnation `uid`).
    pub fn remember(&self, key: &str, uid: &str, status: &S) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), (uid.to_string(), status.clone()));
    }

    /// The status our last write gave `key`, if that was this incarnation (`uid`) of it.
    pub fn get(&self, key: &str, uid: &str) -> Option<S> {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .filter(|(written_uid, _)| written_uid == uid)
            .map(|(_, status)| status.clone())
    }

    /// Our last write for `key` (incarnation `uid`) when the cached `current` status does not
    /// show it yet: the status a reconcile must start from.
    pub fn newer_than(&self, key: &str, uid: &str, current: Option<&S>) -> Option<S>
    where
        S: PartialEq,
    {
        self.get(key, uid)
            .filter(|written| current != Some(written))
    }

    pub fn forget(&self, key: &str) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The reason of the last Warning Event per object: a failure that repeats (coderd down) is
/// one Event, not one per retry. Cleared when the object recovers.
#[derive(Default)]
pub struct Warnings {
    last: Mutex<HashMap<String, String>>,
}

impl Warnings {
    /// Whether a Warning with `reason` is new for `key`'s current failure (and records it).
    pub fn first(&self, key: &str, reason: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let previous = last.insert(key.to_string(), reason.to_string());
        previous.as_deref() != Some(reason)
    }

    /// The failure is over: the next one gets its Warning again.
    pub fn clear(&self, key: &str) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_status_is_returned_only_for_the_same_incarnation_until_forgotten() {
        let written = WrittenStatus::<String>::default();
        assert_eq!(written.get("ns/a", "u1"), None);
        written.remember("ns/a", "u1", &"ready".to_string());
        assert_eq!(written.get("ns/a", "u1").as_deref(), Some("ready"));
        // Deleted and created again under the same name: not our write.
        assert_eq!(written.get("ns/a", "u2"), None);
        // A reconcile starts from our write only while the cache does not show it yet.
        let cached = "progressing".to_string();
        assert_eq!(
            written.newer_than("ns/a", "u1", Some(&cached)).as_deref(),
            Some("ready")
        );
        assert_eq!(
            written.newer_than("ns/a", "u1", None).as_deref(),
            Some("ready")
        );
        let caught_up = "ready".to_string();
        assert_eq!(written.newer_than("ns/a", "u1", Some(&caught_up)), None);
        written.forget("ns/a");
        assert_eq!(written.get("ns/a", "u1"), None);
    }

    #[test]
    fn one_warning_per_kind_of_failure_until_cleared() {
        let warnings = Warnings::default();
        assert!(warnings.first("ns/a", "CoderdUnreachable"));
        assert!(!warnings.first("ns/a", "CoderdUnreachable"));
        // Another object fails on its own account.
        assert!(warnings.first("ns/b", "CoderdUnreachable"));
        // A different failure of the same object is news.
        assert!(warnings.first("ns/a", "NotEntitled"));
        warnings.clear("ns/a");
        assert!(warnings.first("ns/a", "NotEntitled"));
    }
}
