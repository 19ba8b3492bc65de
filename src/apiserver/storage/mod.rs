//! The `Storage` trait (versioned get/list/create/update/delete/watch) and its backends. Knows
//! nothing of HTTP and nothing of Kubernetes object semantics beyond one rule: every value a
//! backend hands out carries `metadata.resourceVersion` set to the revision that wrote it, the
//! way kube-apiserver's etcd3 store stamps objects on read.
//!
//! The model is etcd's: one monotonic revision counter per store, keys ordered lexically, lists
//! at a past revision for consistent pagination, watches replaying changes after a revision from
//! a bounded history (older revisions are "compacted": `StorageError::Expired`). Methods return
//! boxed futures so the trait stays object-safe (`Arc<dyn Storage>`): `MemoryStorage` (the
//! embedded default) and `EtcdStorage` implement it.

pub mod cache;
pub mod codec;
pub mod decoded;
pub mod etcd;
pub mod memory;
pub mod options;
pub mod stored;
pub mod unstamped;

use std::fmt;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::BoxStream;
use serde_json::Value;

pub use cache::CachedStorage;
pub use etcd::{EtcdConfig, EtcdStorage, EtcdTls};
pub use memory::{MemoryConfig, MemoryStorage};
pub use stored::StoredObject;

/// A store revision; `resourceVersion` is its decimal form.
pub type Revision = u64;

/// Where an object lives: `/<group>/<plural>/<namespace>/<name>` (no namespace segment for
/// cluster-scoped kinds). Names and namespaces are DNS-1123 names, which never contain `/`, so
/// lexical key order is (namespace, name) order and a collection is a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    pub fn object(group: &str, plural: &str, namespace: Option<&str>, name: &str) -> Self {
        match namespace {
            Some(ns) => Key(format!("/{group}/{plural}/{ns}/{name}")),
            None => Key(format!("/{group}/{plural}/{name}")),
        }
    }

    /// Rebuilds a key from its string form (e.g. out of a continue token). The caller checks
    /// it lies under the prefix it expects.
    pub fn from_raw(raw: String) -> Self {
        Key(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A collection: all keys starting with this string (always ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Prefix(String);

impl Prefix {
    /// Objects of one resource, in one namespace or (None) in all namespaces.
    pub fn collection(group: &str, plural: &str, namespace: Option<&str>) -> Self {
        match namespace {
            Some(ns) => Prefix(format!("/{group}/{plural}/{ns}/")),
            None => Prefix(format!("/{group}/{plural}/")),
        }
    }

    /// Rebuilds a prefix from its string form (ending in `/`).
    pub fn from_raw(raw: String) -> Self {
        Prefix(raw)
    }

    pub fn contains(&self, key: &Key) -> bool {
        key.0.starts_with(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored value and the revision that last wrote it. The value is shared: watchers and
/// snapshots hold the same allocation, and with it the value's one JSON encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub key: Key,
    pub value: Arc<StoredObject>,
    pub revision: Revision,
}

/// A range read. `revision: None` reads the current state.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub prefix: Prefix,
    pub revision: Option<Revision>,
    /// Only keys strictly after this one (pagination).
    pub start_after: Option<Key>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Versioned>,
    /// The revision the page was read at; later pages must ask for it.
    pub revision: Revision,
    /// How many keys of the range follow the last returned item at that revision.
    pub remaining: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// One write, as watchers see it. For `Deleted`, `value` is the last stored value re-stamped
/// with the deletion revision (what kube sends in DELETED events) and `prev` the stored one.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    pub key: Key,
    pub value: Arc<StoredObject>,
    pub prev: Option<Arc<StoredObject>>,
    pub revision: Revision,
}

/// What a storage watch yields.
#[derive(Debug, Clone)]
pub enum WatchItem {
    Change(Arc<Change>),
    /// Every change of the watched prefix up to this revision has been delivered (the answer to
    /// `WatchStream::request_progress`, like etcd's progress notify).
    Progress(Revision),
    /// The watch is over (too slow, compacted); nothing follows.
    Error(StorageError),
}

/// Asks the backend to send a `WatchItem::Progress` on one watch.
pub type ProgressRequester = Arc<dyn Fn() + Send + Sync>;

pub struct WatchStream {
    pub items: BoxStream<'static, WatchItem>,
    /// None when the backend cannot answer progress requests reliably: etcd before 3.4.31 and
    /// 3.5.13 may answer with its current revision before the changes up to it are delivered,
    /// and a cache trusting that answer would drop those changes.
    pub request_progress: Option<ProgressRequester>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("key {0} not found")]
    NotFound(Key),
    #[error("key {0} already exists")]
    AlreadyExists(Key),
    #[error("key {key} is at revision {current}, expected {expected}")]
    Conflict {
        key: Key,
        expected: Revision,
        current: Revision,
    },
    /// The requested revision was compacted away. `oldest` is the oldest revision still
    /// servable.
    #[error("revision {requested} is compacted, the oldest available is {oldest}")]
    Expired {
        requested: Revision,
        oldest: Revision,
    },
    /// A watcher fell so far behind that the backend dropped it rather than block writers.
    #[error("the watcher could not keep up with the event rate")]
    TooSlow,
    /// The object is larger than the configured limit (413).
    #[error("{key} is {size} bytes, more than the limit of {limit}")]
    TooLarge { key: Key, size: u64, limit: u64 },
    /// The backend refused the write for its size although it is within our limit: etcd's
    /// request limit (`--max-request-bytes`) is below `--max-object-bytes` plus the key and
    /// the transaction (413, like our own limit).
    #[error("{key} ({size} bytes) is more than the storage backend accepts: {reason}")]
    RefusedTooLarge { key: Key, size: u64, reason: String },
    /// The backend cannot be reached or did not answer in time; retrying later may succeed
    /// (503 with Retry-After).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

/// A versioned key-value store.
pub trait Storage: Send + Sync + 'static {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>>;

    /// Keys of `request.prefix` in key order, as of `request.revision`.
    fn list(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>>;

    /// Stores a new key; `AlreadyExists` if it is present.
    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>>;

    /// Replaces a key's value if its revision is `expected` (any revision when None).
    fn update<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>>;

    /// Removes a key if its revision is `expected` (any when None); returns the removed value
    /// stamped with the deletion revision.
    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>>;

    /// Changes under `prefix` with a revision greater than `after`, in revision order, then
    /// live ones. `Expired` if changes after `after` were compacted.
    fn watch(
        &self,
        prefix: Prefix,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StorageError>>;

    /// The revision of the last write.
    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>>;

    /// Number of stored keys.
    fn count(&self) -> BoxFuture<'_, u64>;

    /// Bytes of objects this process holds besides serving the current state, as JSON text and
    /// attributes (`StoredObject::held_bytes`): the change history kept for watches and lists at
    /// past revisions (memory, watch cache) and etcd's decoded revisions kept for reuse; for
    /// `/metrics`.
    fn history_bytes(&self) -> u64 {
        0
    }

    /// Whether the backend answers requests now (for `/readyz`).
    fn ready(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        futures::future::ready(Ok(())).boxed()
    }
}
