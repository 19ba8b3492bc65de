//! How objects are stored as bytes (format 1): the object's JSON with `metadata.resourceVersion`
//! removed, because the revision that wrote a value is known only after the write and is
//! stamped back on read. Writes serialize with `Unstamped::encode` (`unstamped.rs`), whose bytes
//! are this format. See docs/storage.md.

use serde_json::Value;

use super::unstamped::{Unstamped, stamp};
use super::{Revision, StoredObject};

/// Parses stored bytes and stamps the revision that wrote them.
pub fn decode(bytes: &[u8], revision: Revision) -> Result<Value, DecodeError> {
    match bytes.first() {
        Some(b'{') => Ok(stamp(serde_json::from_slice(bytes)?, revision)),
        Some(other) => Err(DecodeError::UnknownFormat(*other)),
        None => Err(DecodeError::Empty),
    }
}

/// Stored bytes as the revision `revision`: spliced when they are laid out as this server
/// writes them (`Unstamped::from_stored`), else parsed, stamped and serialized.
pub fn decode_stored(bytes: &[u8], revision: Revision) -> Result<StoredObject, DecodeError> {
    match Unstamped::from_stored(bytes) {
        Some(unstamped) => Ok(unstamped.stamp(revision)),
        None => decode(bytes, revision).map(StoredObject::new),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("an empty value")]
    Empty,
    #[error("an unknown storage format (first byte {0:#04x}); written by a newer server?")]
    UnknownFormat(u8),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_drops_and_restamps_the_resource_version() {
        let v = json!({"metadata": {"name": "a", "resourceVersion": "3"}, "spec": {"x": 1}});
        let unstamped = super::super::unstamped::Unstamped::encode(&v);
        let bytes = unstamped.bytes();
        assert!(!String::from_utf8_lossy(bytes).contains("resourceVersion"));
        let back = decode(bytes, 9).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "9");
        assert_eq!(back["spec"]["x"], 1);
        assert!(matches!(
            decode(b"k8s\0", 1),
            Err(DecodeError::UnknownFormat(b'k'))
        ));
        assert!(matches!(decode(b"", 1), Err(DecodeError::Empty)));
    }
}
