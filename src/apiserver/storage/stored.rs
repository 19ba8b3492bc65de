//! One stored revision of an object: its value and, computed at most once, its compact JSON
//! encoding. Every reader of the revision (gets, list pages, each watcher) shares the same
//! `Arc<StoredObject>`, so the revision is serialized once however many clients receive it
//! (kube-apiserver's `cachingObject` does the same for watch fan-out). JSON is the storage
//! format, not an HTTP concern: serde_json's compact form with its sorted object keys, exactly
//! what serializing the value anywhere else produces.

use std::ops::Deref;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::Value;

/// How many revisions have been serialized by [`StoredObject::json`] in this process; lets a
/// test (and `/metrics` readers) check that fan-out does not re-encode.
static ENCODINGS: AtomicU64 = AtomicU64::new(0);

pub fn encodings_total() -> u64 {
    ENCODINGS.load(Ordering::Relaxed)
}

#[derive(Debug)]
pub struct StoredObject {
    value: Value,
    json: OnceLock<Bytes>,
}

impl StoredObject {
    pub fn new(value: Value) -> Self {
        Self {
            value,
            json: OnceLock::new(),
        }
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value's compact JSON, serialized on first use and shared afterwards.
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| {
            ENCODINGS.fetch_add(1, Ordering::Relaxed);
            // A `Value` always serializes (its map keys are strings); the empty fallback is
            // unreachable but keeps this path free of panics.
            Bytes::from(serde_json::to_vec(&self.value).unwrap_or_default())
        })
    }
}

impl Deref for StoredObject {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.value
    }
}

impl PartialEq for StoredObject {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl From<Value> for StoredObject {
    fn from(value: Value) -> Self {
        Self::new(value)
    }
}
