//! The etcd backend's decoded revisions. A key's value at a revision never changes, so a get,
//! list page or watch event that reads a revision this process already holds reuses that
//! `StoredObject`, and with it its one JSON encoding, instead of parsing the stored bytes and
//! serializing the object again. Writes enter what they stored, so the watch event and the
//! reads that follow a write decode nothing. Bounded in bytes (`StoredObject::held_bytes`: the
//! revision's JSON text and attributes; no parsed value is kept).

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::{Key, Revision, StoredObject};

/// Bytes of decoded revisions kept for reuse.
pub const DEFAULT_DECODED_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Clone)]
struct Entry {
    revision: Revision,
    object: Arc<StoredObject>,
    weight: u64,
}

#[derive(Clone)]
struct ByHeldBytes;

impl Weighter<Key, Entry> for ByHeldBytes {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        entry.weight
    }
}

pub struct DecodedCache {
    entries: Cache<Key, Entry, ByHeldBytes>,
}

impl DecodedCache {
    pub fn new(bytes: u64) -> Self {
        // quick_cache sizes its shards from an item estimate; objects are a few KiB.
        let estimated_items = usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(64);
        DecodedCache {
            entries: Cache::with_weighter(estimated_items, bytes.max(1), ByHeldBytes),
        }
    }

    /// `key` as written at `revision`, if held.
    pub fn get(&self, key: &Key, revision: Revision) -> Option<Arc<StoredObject>> {
        self.entries
            .get(key)
            .filter(|e| e.revision == revision)
            .map(|e| e.object)
    }

    /// Keeps `object`, the value of `key` at `revision`.
    pub fn insert(&self, key: &Key, revision: Revision, object: &Arc<StoredObject>) {
        let weight = object.held_bytes().max(1);
        self.entries.insert(
            key.clone(),
            Entry {
                revision,
                object: object.clone(),
                weight,
            },
        );
    }

    pub fn remove(&self, key: &Key) {
        self.entries.remove(key);
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }

    /// `key` at `revision`: the held object, or `decode()`'s, which is then kept.
    pub fn get_or_decode<E>(
        &self,
        key: &Key,
        revision: Revision,
        stored: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<StoredObject, E>,
    ) -> Result<Arc<StoredObject>, E> {
        if let Some(object) = self.get(key, revision) {
            return Ok(object);
        }
        let object = Arc::new(decode(stored)?);
        self.insert(key, revision, &object);
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_revision_is_decoded_once_and_a_new_one_replaces_it() {
        let cache = DecodedCache::new(1024 * 1024);
        let key = Key::object("g", "things", Some("ns"), "a");
        let mut decodes = 0;
        let mut read = |revision: Revision| {
            cache
                .get_or_decode(&key, revision, b"{}", |_| {
                    decodes += 1;
                    Ok::<_, ()>(StoredObject::new(json!({"rv": revision})))
                })
                .unwrap()
        };
        let first = read(3);
        let again = read(3);
        assert!(Arc::ptr_eq(&first, &again));
        let newer = read(4);
        assert_eq!(newer.to_value().unwrap()["rv"], 4);
        assert_eq!(decodes, 2);
        assert!(cache.get(&key, 3).is_none());
        cache.remove(&key);
        assert_eq!(cache.bytes(), 0);
    }
}
