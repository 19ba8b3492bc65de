//! An object serialized once, before its revision is known: its compact JSON without
//! `metadata.resourceVersion`, plus where that member goes. Stamping a revision splices
//! `"resourceVersion":"N"` into the bytes (one copy, no parse, no second serialization), so
//! the memory backend serializes outside its lock and etcd sends the unstamped bytes (its
//! storage format, `codec.rs`) and keeps the stamped ones from the same encoding.
//!
//! The stamped bytes are byte-identical to serializing the value after [`stamp`]: members
//! are written in `serde_json::Map`'s iteration order, and the slot is where `Map::insert`
//! puts `resourceVersion` — its sorted place when serde_json keeps keys sorted (the default),
//! the member's own place or the end of `metadata` when it keeps insertion order (the
//! `preserve_order` feature, which dev-dependencies turn on in test builds). A missing
//! `metadata` is inserted the same way as `{"resourceVersion":"N"}`.

use std::io::Write as _;
use std::sync::OnceLock;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Revision;
use super::stored::{ObjectAttrs, StoredObject};

const RESOURCE_VERSION: &str = "resourceVersion";
const METADATA: &str = "metadata";

/// How `serde_json::Map` orders its keys in this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyOrder {
    Sorted,
    Insertion,
}

impl KeyOrder {
    /// Asked of serde_json once: whether a map iterates "a" before a key inserted first.
    pub(super) fn of_this_build() -> Self {
        static ORDER: OnceLock<KeyOrder> = OnceLock::new();
        *ORDER.get_or_init(|| {
            let mut map = Map::new();
            map.insert("b".into(), Value::Null);
            map.insert("a".into(), Value::Null);
            match map.keys().next().map(String::as_str) {
                Some("a") => KeyOrder::Sorted,
                _ => KeyOrder::Insertion,
            }
        })
    }
}

/// Where the stamp goes in the unstamped bytes and what it inserts.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: usize,
    /// The slot follows a member (the stamp starts with `,`).
    after_member: bool,
    /// A member follows the slot with no comma before it (the stamp ends with `,`).
    before_member: bool,
    /// `metadata` is missing: the stamp is the whole `"metadata":{...}` member.
    whole_metadata: bool,
}

#[derive(Debug)]
pub struct Unstamped {
    bytes: Vec<u8>,
    /// None when the value is not an object or its metadata is not one (stamping changes nothing).
    slot: Option<Slot>,
    /// Length of the value as given (with any resourceVersion it carried), as compact JSON.
    given_len: u64,
    attrs: ObjectAttrs,
}

impl Unstamped {
    /// Serializes `value` without `metadata.resourceVersion`, in this build's key order.
    pub fn encode(value: &Value) -> Self {
        Self::encode_ordered(value, KeyOrder::of_this_build())
    }

    pub(super) fn encode_ordered(value: &Value, order: KeyOrder) -> Self {
        super::stored::count_encoding();
        let attrs = ObjectAttrs::of(value);
        let mut writer = Writer {
            bytes: Vec::with_capacity(512),
            dropped: 0,
        };
        let slot = match value.as_object() {
            Some(top) => writer.top(top, order),
            None => {
                writer.value(value);
                None
            }
        };
        let given_len = (writer.bytes.len() + writer.dropped) as u64;
        Unstamped {
            bytes: writer.bytes,
            slot,
            given_len,
            attrs,
        }
    }

    /// The object without its resourceVersion (etcd's stored bytes).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The length of the value as given, as compact JSON (what size limits compare).
    pub fn given_len(&self) -> u64 {
        self.given_len
    }

    /// The revision `revision` of the object: the bytes with `resourceVersion` spliced in.
    pub fn stamp(&self, revision: Revision) -> StoredObject {
        let Some(slot) = self.slot else {
            let attrs = self.attrs.clone();
            return StoredObject::from_parts(self.bytes.clone(), attrs);
        };
        let mut out = Vec::with_capacity(self.bytes.len() + 64);
        out.extend_from_slice(&self.bytes[..slot.at]);
        if slot.after_member {
            out.push(b',');
        }
        if slot.whole_metadata {
            out.extend_from_slice(b"\"metadata\":{");
        }
        out.extend_from_slice(b"\"resourceVersion\":\"");
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{revision}");
        out.push(b'"');
        if slot.whole_metadata {
            out.push(b'}');
        }
        if slot.before_member {
            out.push(b',');
        }
        out.extend_from_slice(&self.bytes[slot.at..]);
        StoredObject::from_parts(out, self.attrs.clone().with_resource_version(revision))
    }
}

impl Unstamped {
    /// Stored bytes (format 1, as `encode` wrote them) with their slot found by walking the
    /// top level and `metadata` only: spec and status are skipped unparsed and nothing is
    /// re-serialized. None when the bytes are not laid out exactly as `encode` writes them in
    /// this build (whitespace, key order, duplicate keys, a stored resourceVersion, metadata
    /// that is not an object): the caller then parses and re-serializes them.
    pub fn from_stored(bytes: &[u8]) -> Option<Self> {
        Self::from_stored_ordered(bytes, KeyOrder::of_this_build())
    }

    pub(super) fn from_stored_ordered(bytes: &[u8], order: KeyOrder) -> Option<Self> {
        let top: Members<'_> = serde_json::from_slice(bytes).ok()?;
        let top_slot = compact_slot(bytes, 0, &top.0, METADATA, order)?;
        let meta = top.0.iter().find(|(key, _)| key == METADATA);
        let (slot, attrs) = match meta {
            None => (
                Slot {
                    whole_metadata: true,
                    ..top_slot
                },
                ObjectAttrs::default(),
            ),
            Some((_, raw)) => {
                let text = raw.get();
                let members: Members<'_> = serde_json::from_str(text).ok()?;
                if members.0.iter().any(|(key, _)| key == RESOURCE_VERSION) {
                    return None;
                }
                let start = offset_in(bytes, text)?;
                let slot = compact_slot(bytes, start, &members.0, RESOURCE_VERSION, order)?;
                (slot, metadata_attrs(&members.0)?)
            }
        };
        Some(Unstamped {
            bytes: bytes.to_vec(),
            slot: Some(slot),
            given_len: bytes.len() as u64,
            attrs,
        })
    }
}

/// An object's members in document order, values unparsed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Where `inner` (a slice borrowed from `outer`) starts in `outer`.
fn offset_in(outer: &[u8], inner: &str) -> Option<usize> {
    let offset = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (offset + inner.len() <= outer.len()).then_some(offset)
}

/// The slot for `slot_key` in the object at `bytes[start..]` whose members are `members`,
/// provided the object is laid out exactly as serde_json writes it compactly in `order`
/// (so splicing there gives what re-serializing would).
fn compact_slot(
    bytes: &[u8],
    start: usize,
    members: &[(String, &RawValue)],
    slot_key: &str,
    order: KeyOrder,
) -> Option<Slot> {
    let mut pos = start;
    let expect = |text: &[u8], pos: &mut usize| -> Option<()> {
        let end = pos.checked_add(text.len())?;
        (bytes.get(*pos..end)? == text).then(|| *pos = end)
    };
    expect(b"{", &mut pos)?;
    let mut slot = None;
    let mut key_text = Vec::new();
    for (i, (key, raw)) in members.iter().enumerate() {
        let in_order = match order {
            KeyOrder::Sorted => i == 0 || members[i - 1].0 < *key,
            KeyOrder::Insertion => members[..i].iter().all(|(k, _)| k != key),
        };
        if !in_order {
            return None;
        }
        if slot.is_none() && order == KeyOrder::Sorted && key.as_str() > slot_key {
            slot = Some((pos, i));
        }
        if i > 0 {
            expect(b",", &mut pos)?;
        }
        key_text.clear();
        serde_json::to_writer(&mut key_text, key).ok()?;
        key_text.push(b':');
        expect(&key_text, &mut pos)?;
        if offset_in(bytes, raw.get())? != pos {
            return None;
        }
        pos += raw.get().len();
    }
    let end = pos;
    expect(b"}", &mut pos)?;
    if start == 0 && pos != bytes.len() {
        return None;
    }
    let (at, before) = slot.unwrap_or((end, members.len()));
    Some(Slot {
        at,
        after_member: before > 0,
        before_member: before == 0 && !members.is_empty(),
        whole_metadata: false,
    })
}

/// The attributes from `metadata`'s members, parsing only name, namespace and labels.
fn metadata_attrs(members: &[(String, &RawValue)]) -> Option<ObjectAttrs> {
    let mut meta = Map::new();
    for (key, raw) in members {
        if matches!(key.as_str(), "name" | "namespace" | "labels") {
            meta.insert(key.clone(), serde_json::from_str(raw.get()).ok()?);
        }
    }
    let mut top = Map::new();
    top.insert(METADATA.into(), Value::Object(meta));
    Some(ObjectAttrs::of(&Value::Object(top)))
}

struct Writer {
    bytes: Vec<u8>,
    /// Bytes of the given resourceVersion member (and its comma) left out.
    dropped: usize,
}

impl Writer {
    fn value(&mut self, value: &Value) {
        // Writing to a Vec cannot fail and a Value always serializes (its keys are strings).
        let _ = serde_json::to_writer(&mut self.bytes, value);
    }

    fn key(&mut self, key: &str) {
        let _ = serde_json::to_writer(&mut self.bytes, key);
        self.bytes.push(b':');
    }

    /// Writes an object's members, leaving out `skip` and returning the slot where a member
    /// named `slot_key` goes (`Map::insert`'s place for it).
    fn members(
        &mut self,
        map: &Map<String, Value>,
        slot_key: &str,
        order: KeyOrder,
        mut write: impl FnMut(&mut Self, &str, &Value) -> bool,
    ) -> Slot {
        self.bytes.push(b'{');
        let mut written = 0usize;
        let mut slot: Option<(usize, usize)> = None;
        for (key, value) in map {
            if slot.is_none() && order == KeyOrder::Sorted && key.as_str() > slot_key {
                slot = Some((self.bytes.len(), written));
            }
            let at = self.bytes.len();
            if written > 0 {
                self.bytes.push(b',');
            }
            if write(self, key, value) {
                written += 1;
            } else {
                // Left out: this member's place is the slot (its own key sorts here too). It
                // had a comma before or after it unless it was the only member.
                self.bytes.truncate(at);
                self.dropped += usize::from(map.len() > 1);
                if slot.is_none() {
                    slot = Some((at, written));
                }
            }
        }
        let (at, before) = slot.unwrap_or((self.bytes.len(), written));
        self.bytes.push(b'}');
        Slot {
            at,
            after_member: before > 0,
            before_member: before == 0 && written > 0,
            whole_metadata: false,
        }
    }

    fn top(&mut self, top: &Map<String, Value>, order: KeyOrder) -> Option<Slot> {
        let mut meta_slot = None;
        let mut meta_not_object = false;
        let slot = self.members(top, METADATA, order, |w, key, value| {
            w.key(key);
            match (key == METADATA, value.as_object()) {
                (true, Some(meta)) => meta_slot = Some(w.metadata(meta, order)),
                (true, None) => {
                    meta_not_object = true;
                    w.value(value);
                }
                (false, _) => w.value(value),
            }
            true
        });
        if meta_not_object {
            return None;
        }
        Some(meta_slot.unwrap_or(Slot {
            whole_metadata: true,
            ..slot
        }))
    }

    fn metadata(&mut self, meta: &Map<String, Value>, order: KeyOrder) -> Slot {
        self.members(meta, RESOURCE_VERSION, order, |w, key, value| {
            if key == RESOURCE_VERSION {
                let at = w.bytes.len();
                w.key(key);
                w.value(value);
                w.dropped += w.bytes.len() - at;
                w.bytes.truncate(at);
                return false;
            }
            w.key(key);
            w.value(value);
            true
        })
    }
}

/// Sets `metadata.resourceVersion` in a parsed value, the slow path the spliced bytes above
/// must equal; values that are not objects are returned as given.
pub fn stamp(mut value: Value, revision: Revision) -> Value {
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "resourceVersion".to_string(),
                Value::String(revision.to_string()),
            );
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cases() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "a", "namespace": "ns",
                   "labels": {"b": "2"}, "uid": "u"}, "spec": {"x": [1, 2.5, "é\n\""]}}),
            json!({"metadata": {"resourceVersion": "3", "name": "a"}, "spec": {}}),
            json!({"metadata": {"name": "a", "resourceVersion": "3"}}),
            json!({"metadata": {"annotations": {}, "resourceVersion": "3", "uid": "x"}}),
            json!({"metadata": {"resourceVersion": 12}}),
            json!({"metadata": {"resourceVersion": "1"}, "zz": 1}),
            json!({"metadata": {}}),
            json!({"metadata": {"zeta": 1}, "a": 1}),
            json!({"metadata": {"aaa": 1, "zzz": 2}}),
            json!({"kind": "K", "spec": 1}),
            json!({"a": 1}),
            json!({"z": 1}),
            json!({}),
            json!({"metadata": 5, "kind": "K"}),
            json!([1, 2]),
            json!("text"),
        ]
    }

    #[test]
    fn stamped_bytes_equal_serializing_the_stamped_value() {
        for value in cases() {
            for revision in [1, 42, u64::MAX] {
                let expected = StoredObject::new(stamp(value.clone(), revision));
                let stamped = Unstamped::encode(&value).stamp(revision);
                assert_eq!(
                    String::from_utf8_lossy(stamped.json()),
                    String::from_utf8_lossy(expected.json()),
                    "{value}"
                );
                assert_eq!(stamped.attrs(), expected.attrs(), "{value}");
            }
        }
    }

    #[test]
    fn unstamped_bytes_leave_out_the_resource_version_and_count_the_given_size() {
        for value in cases() {
            let unstamped = Unstamped::encode(&value);
            let mut without = value.clone();
            if let Some(meta) = without.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.shift_remove(RESOURCE_VERSION);
            }
            assert_eq!(
                serde_json::from_slice::<Value>(unstamped.bytes()).unwrap(),
                without,
                "{value}"
            );
            assert_eq!(
                unstamped.given_len(),
                serde_json::to_vec(&value).unwrap().len() as u64,
                "{value}"
            );
        }
    }

    #[test]
    fn stored_bytes_are_stamped_without_parsing_like_parse_and_stamp() {
        for value in cases() {
            let stored = Unstamped::encode(&value);
            let parsed = serde_json::from_slice::<Value>(stored.bytes()).unwrap();
            let expected = StoredObject::new(stamp(parsed, 9));
            match Unstamped::from_stored(stored.bytes()) {
                Some(fast) => {
                    let stamped = fast.stamp(9);
                    assert_eq!(
                        String::from_utf8_lossy(stamped.json()),
                        String::from_utf8_lossy(expected.json()),
                        "{value}"
                    );
                    assert_eq!(stamped.attrs(), expected.attrs(), "{value}");
                }
                // Only values stamping leaves alone take the parsing path.
                None => assert!(
                    !value.is_object() || value["metadata"].is_number(),
                    "{value}"
                ),
            }
        }
    }

    #[test]
    fn stored_bytes_not_laid_out_as_written_here_are_left_to_the_parser() {
        for text in [
            r#"{ "metadata":{"name":"a"}}"#,
            r#"{"metadata":{"name": "a"}}"#,
            r#"{"metadata":{"name":"a"}} "#,
            r#"{"metadata":{"name":"a","resourceVersion":"3"}}"#,
            r#"{"metadata":{"name":"a","name":"b"}}"#,
            r#"{"metadata":"x"}"#,
            r#"{"metadata":{"n\u0061me":"a"}}"#,
            r#"[1]"#,
        ] {
            assert!(Unstamped::from_stored(text.as_bytes()).is_none(), "{text}");
        }
        // Sorted builds also refuse members out of order (a release build re-sorts them).
        let unsorted = br#"{"metadata":{"uid":"u","name":"a"}}"#;
        assert!(Unstamped::from_stored_ordered(unsorted, KeyOrder::Sorted).is_none());
        let sorted = br#"{"kind":"K","metadata":{"name":"a","uid":"u"}}"#;
        let stamped = Unstamped::from_stored_ordered(sorted, KeyOrder::Sorted)
            .unwrap()
            .stamp(4);
        assert_eq!(
            stamped.json().as_ref(),
            br#"{"kind":"K","metadata":{"name":"a","resourceVersion":"4","uid":"u"}}"#
        );
        assert_eq!(stamped.attrs().name(), "a");
        assert_eq!(stamped.attrs().resource_version(), Some(4));
    }

    /// Test builds keep insertion order (dev-dependencies enable `preserve_order`); the sorted
    /// layout of release builds is checked against the members sorted by hand.
    #[test]
    fn sorted_builds_put_the_resource_version_in_its_sorted_place() {
        let stamped = |value: Value| {
            let s = Unstamped::encode_ordered(&value, KeyOrder::Sorted).stamp(7);
            String::from_utf8(s.json().to_vec()).unwrap()
        };
        assert_eq!(
            stamped(json!({"metadata": {"labels": {}, "name": "a", "uid": "u"}})),
            r#"{"metadata":{"labels":{},"name":"a","resourceVersion":"7","uid":"u"}}"#
        );
        assert_eq!(
            stamped(json!({"metadata": {"uid": "u"}})),
            r#"{"metadata":{"resourceVersion":"7","uid":"u"}}"#
        );
        assert_eq!(
            stamped(json!({"metadata": {"name": "a", "resourceVersion": "1"}})),
            r#"{"metadata":{"name":"a","resourceVersion":"7"}}"#
        );
        assert_eq!(
            stamped(json!({"apiVersion": "v1", "spec": {}})),
            r#"{"apiVersion":"v1","metadata":{"resourceVersion":"7"},"spec":{}}"#
        );
        assert_eq!(
            stamped(json!({"spec": {}})),
            r#"{"metadata":{"resourceVersion":"7"},"spec":{}}"#
        );
        assert_eq!(
            stamped(json!({"apiVersion": "v1"})),
            r#"{"apiVersion":"v1","metadata":{"resourceVersion":"7"}}"#
        );
    }
}
