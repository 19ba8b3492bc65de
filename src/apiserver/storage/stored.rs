//! One stored revision of an object: its compact JSON, serialized once when the revision is
//! made, plus the few attributes hot readers need without parsing it (`ObjectAttrs`, after
//! kube's cacher `GetAttrs`: name, namespace, resourceVersion, labels). Every reader of the
//! revision (gets, list pages, each watcher) shares the same `Arc<StoredObject>` and sends the
//! same bytes (kube-apiserver's `cachingObject` does the same for watch fan-out). JSON is the
//! storage format, not an HTTP concern: serde_json's compact form, exactly what serializing the
//! value anywhere else produces.
//!
//! The parsed `serde_json::Value` is not kept: a 549-byte object took ~4.4 KiB as a `Value`
//! (managedFields alone is six maps) and ~0.8 KiB as bytes and attributes. Readers that need
//! the whole object (writes, the Coder backend, non-JSON output) parse it with
//! [`StoredObject::to_value`]; selectors use the attributes, Tables project the printer-column
//! paths out of the bytes (`table.rs`). See docs/storage.md.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::Value;

use super::Revision;

/// How many revisions have been serialized by [`StoredObject::new`] in this process; lets a
/// test (and `/metrics` readers) check that fan-out does not re-encode.
static ENCODINGS: AtomicU64 = AtomicU64::new(0);

pub fn encodings_total() -> u64 {
    ENCODINGS.load(Ordering::Relaxed)
}

/// The stored bytes of a revision did not parse back into an object (they were produced by
/// serializing a `Value`, so this means memory corruption or a bug, never bad user input).
#[derive(Debug, thiserror::Error)]
#[error("decoding the stored object {name:?}: {source}")]
pub struct DecodeError {
    name: String,
    #[source]
    source: serde_json::Error,
}

/// What list filtering, watch filtering and pagination read from a revision without parsing
/// it: `metadata.name`, `metadata.namespace`, `metadata.resourceVersion` and the labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAttrs {
    name: Box<str>,
    namespace: Option<Box<str>>,
    resource_version: Option<Revision>,
    /// Sorted by key (a lookup is a binary search). Non-string values are left out: a label
    /// selector cannot match them.
    labels: Box<[(Box<str>, Box<str>)]>,
}

impl ObjectAttrs {
    pub fn of(value: &Value) -> Self {
        let meta = value.get("metadata");
        let text = |field: &str| meta.and_then(|m| m.get(field)).and_then(Value::as_str);
        let mut labels: Vec<(Box<str>, Box<str>)> = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().into(), v.as_str()?.into())))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort_unstable();
        ObjectAttrs {
            name: text("name").unwrap_or_default().into(),
            namespace: text("namespace").map(Into::into),
            resource_version: text("resourceVersion").and_then(|rv| rv.parse().ok()),
            labels: labels.into_boxed_slice(),
        }
    }

    /// `metadata.name` ("" when absent).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// `metadata.resourceVersion` as a revision (None when absent or not a number).
    pub fn resource_version(&self) -> Option<Revision> {
        self.resource_version
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.labels[i].1)
    }

    /// Heap bytes of the attributes (their strings and the label slice).
    fn heap_bytes(&self) -> u64 {
        const PAIR: u64 = std::mem::size_of::<(Box<str>, Box<str>)>() as u64;
        self.name.len() as u64
            + self.namespace.as_ref().map_or(0, |ns| ns.len() as u64)
            + self
                .labels
                .iter()
                .map(|(k, v)| PAIR + k.len() as u64 + v.len() as u64)
                .sum::<u64>()
    }
}

#[derive(Debug)]
pub struct StoredObject {
    json: Bytes,
    attrs: ObjectAttrs,
}

impl StoredObject {
    /// Serializes `value` once (the bytes every reader sends) and keeps its attributes; the
    /// value itself is dropped.
    pub fn new(value: Value) -> Self {
        let attrs = ObjectAttrs::of(&value);
        ENCODINGS.fetch_add(1, Ordering::Relaxed);
        // A `Value` always serializes (its map keys are strings); the empty fallback is
        // unreachable but keeps this path free of panics. The text is kept at its exact size
        // (the writer's buffer grows by doubling).
        let text = serde_json::to_vec(&value).unwrap_or_default();
        StoredObject {
            json: Bytes::from(text.into_boxed_slice()),
            attrs,
        }
    }

    /// A value that is not (or not yet) stored, shared like stored ones.
    pub fn shared(value: Value) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::new(value))
    }

    /// The revision's compact JSON, shared by every reader.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    pub fn attrs(&self) -> &ObjectAttrs {
        &self.attrs
    }

    /// The whole object, parsed from its bytes (not kept: the caller owns the copy).
    pub fn to_value(&self) -> Result<Value, DecodeError> {
        serde_json::from_slice(&self.json).map_err(|source| DecodeError {
            name: self.attrs.name().to_string(),
            source,
        })
    }

    /// Memory this revision holds: the object itself, its JSON text and its attributes'
    /// strings (allocator overhead aside, so a lower bound of the real footprint). What the
    /// history's byte budget, etcd's decoded-revision cache and the `/metrics` gauge count.
    pub fn held_bytes(&self) -> u64 {
        std::mem::size_of::<Self>() as u64 + self.json.len() as u64 + self.attrs.heap_bytes()
    }
}

impl PartialEq for StoredObject {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
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
    fn held_bytes_count_the_text_and_the_attributes_but_no_parsed_value() {
        let value = json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"k": "v"}},
                           "data": "x".repeat(10_000), "list": [1, 2]});
        let object = StoredObject::new(value);
        let json_len = object.json().len() as u64;
        let held = object.held_bytes();
        // The text once (the 10,000-byte string is not held a second time, parsed), plus the
        // object and its attribute strings.
        assert!(held >= json_len + 4, "{held} for {json_len} bytes of JSON");
        assert!(held < json_len + 256, "{held} for {json_len} bytes of JSON");
    }

    #[test]
    fn attributes_are_read_without_parsing_and_the_value_round_trips() {
        let value = json!({"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7",
                                        "labels": {"b": "2", "a": "1", "n": 3}},
                           "spec": {"x": 1}});
        let object = StoredObject::new(value.clone());
        let attrs = object.attrs();
        assert_eq!(attrs.name(), "a");
        assert_eq!(attrs.namespace(), Some("ns"));
        assert_eq!(attrs.resource_version(), Some(7));
        assert_eq!(attrs.label("a"), Some("1"));
        assert_eq!(attrs.label("b"), Some("2"));
        assert_eq!(
            attrs.label("n"),
            None,
            "a non-string label value never matches"
        );
        assert_eq!(attrs.label("c"), None);
        assert_eq!(object.to_value().unwrap(), value);
        assert_eq!(object.json(), &serde_json::to_vec(&value).unwrap());
    }
}
