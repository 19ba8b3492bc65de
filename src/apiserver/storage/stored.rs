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
    pub fn new(mut value: Value) -> Self {
        compact(&mut value);
        Self {
            value,
            json: OnceLock::new(),
        }
    }

    /// A value that is not (or not yet) stored, shared like stored ones.
    pub fn shared(value: Value) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::new(value))
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

/// Shrinks a value's allocations to their contents. A parsed or edited map grows by doubling
/// (a 9-field `metadata` holds room for 14 entries and a 16-slot index), and revisions are
/// kept for as long as they are current or in the history: rebuilt at their exact size they
/// take about a third less memory (10,000 small objects: docs/storage.md).
fn compact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut exact = serde_json::Map::with_capacity(old.len());
            for (mut key, mut item) in old {
                key.shrink_to_fit();
                compact(&mut item);
                exact.insert(key, item);
            }
            *map = exact;
        }
        Value::Array(items) => {
            items.shrink_to_fit();
            items.iter_mut().for_each(compact);
        }
        Value::String(s) => s.shrink_to_fit(),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Memory one revision holds once encoded: its JSON text (`json_len` bytes) plus an estimate of
/// its parsed value's heap (strings, arrays, and map entries with their keys and index slots).
/// Allocator overhead is not counted, so this is a lower bound of the real footprint; it is
/// what the history's byte budget and the `/metrics` gauge use.
pub fn held_bytes(value: &Value, json_len: u64) -> u64 {
    json_len + value_heap_bytes(value)
}

/// Heap bytes of a `serde_json::Value` tree (insertion-ordered maps: an index slot per entry).
fn value_heap_bytes(value: &Value) -> u64 {
    const VALUE: u64 = std::mem::size_of::<Value>() as u64;
    const ENTRY: u64 = std::mem::size_of::<String>() as u64 + VALUE + 2 * 8;
    match value {
        Value::String(s) => s.capacity() as u64,
        Value::Array(items) => {
            items.capacity() as u64 * VALUE + items.iter().map(value_heap_bytes).sum::<u64>()
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| ENTRY + k.capacity() as u64 + value_heap_bytes(v))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn held_bytes_count_the_text_and_more_than_it_for_the_parsed_value() {
        let value = json!({"metadata": {"name": "a"}, "data": "x".repeat(10_000), "list": [1, 2]});
        let object = StoredObject::new(value.clone());
        let json_len = object.json().len() as u64;
        let held = held_bytes(&value, json_len);
        // The text once and the 10,000-byte string again in the parsed value, plus structure.
        assert!(
            held >= json_len + 10_000,
            "{held} for {json_len} bytes of JSON"
        );
        assert!(held < 3 * json_len, "{held} for {json_len} bytes of JSON");
    }
}
