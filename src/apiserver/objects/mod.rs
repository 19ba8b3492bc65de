//! Object semantics of the aggregated apiserver (uid, resourceVersion, generation, finalizers,
//! validation, patches, selectors), on top of a `Storage`. Knows nothing of HTTP: the HTTP layer
//! maps requests to these calls and `Error` variants to `Status` bodies.
//!
//! May import: `storage`, the generated registry. Must not import `http`, `auth` or `status`
//! (an `Error` becomes a Status in `http::response::object_status`). Inside, `decode` and
//! `metadata` are leaves that `write`, `apply` and `hooks` share, so those three import one
//! another in one direction only (`write` → `apply`, `hooks`; `hooks` → `apply`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::storage::{Storage, StoredObject};

pub mod apply;
mod decode;
pub mod duplicates;
pub mod hooks;
mod metadata;
pub mod namespaces;
mod pagination;
mod patch;
mod read;
mod selectors;
mod validation;
pub(crate) mod versions;
mod watch;
mod write;

pub use validation::{KindSchema, Report};

/// Go's `%q` quoting, as kube's messages quote values.
pub(crate) use validation::quote as quote_go;

/// The object layer: every verb of every served kind. Cheap to clone (shared storage).
#[derive(Clone)]
pub struct Objects {
    storage: Arc<dyn Storage>,
    config: Config,
    /// Namespace states of the cluster served; None (standalone) accepts every namespace.
    namespaces: Option<Arc<dyn namespaces::NamespaceLookup>>,
    /// A backend that must agree to writes (the Coder backend); None: the store alone decides.
    hooks: Option<Arc<dyn hooks::WriteHooks>>,
}

#[derive(Debug, Clone)]
struct Config {
    bookmark_interval: Duration,
    /// Attempts of a read-modify-write (unconditional update, patch, delete) before it
    /// reports a conflict.
    write_attempts: u32,
}

/// A subresource with its own write semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Status,
}

/// A patch body, by content type.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// RFC 6902 (`application/json-patch+json`).
    Json(Value),
    /// RFC 7386 (`application/merge-patch+json`).
    Merge(Value),
}

/// `fieldValidation`: what to do with fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Reject the request (400, `strict decoding error: unknown field "spec.foo"`).
    Strict,
    /// Drop the fields and warn (kube-apiserver's default when the parameter is absent).
    #[default]
    Warn,
    /// Drop the fields silently.
    Ignore,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// Who makes the change, for `managedFields` (`fieldManager`, else from the User-Agent).
    pub field_manager: Option<String>,
    /// Paths of keys the request body repeated (`spec.running`), found by the decoder:
    /// refused under `Strict`, warned about under `Warn`, like unknown fields.
    pub duplicate_fields: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    /// What the garbage collector does with dependents (`propagationPolicy`, or
    /// `orphanDependents`); None keeps what the object's finalizers already ask for.
    pub propagation: Option<Propagation>,
}

/// `propagationPolicy`. Orphan and Foreground hold the object with kube's GC finalizers
/// (`orphan`, `foregroundDeletion`) until the garbage collector has handled its dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub allow_bookmarks: bool,
    pub send_initial_events: bool,
}

/// A list result; the HTTP layer wraps it in `<Kind>List` (or a Table).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectList {
    /// The stored revisions themselves, so a JSON list reuses each one's encoding.
    pub items: Vec<Arc<StoredObject>>,
    pub resource_version: String,
    pub continue_token: Option<String>,
    pub remaining_item_count: Option<i64>,
}

/// The result of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    /// The stored revision (shared with readers and watchers, and with them its one JSON
    /// encoding), or what would have been stored (dry run, no-op).
    pub object: Arc<StoredObject>,
    /// For `Warning` headers (e.g. `unknown field "spec.foo"` under `FieldValidation::Warn`).
    pub warnings: Vec<String>,
    /// True only for creates (201); updates never create.
    pub created: bool,
}

/// One watch event. `Bookmark` and `Error` are turned into frames by the HTTP layer; an
/// `Error` is always the last event of its stream.
#[derive(Debug)]
pub enum WatchEvent {
    Added(Arc<StoredObject>),
    Modified(Arc<StoredObject>),
    Deleted(Arc<StoredObject>),
    Bookmark {
        resource_version: String,
        initial_events_end: bool,
    },
    Error(Error),
}

/// One field problem of an `Invalid` error (a `StatusCause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Field path like `spec.running` or `metadata.name`.
    pub field: String,
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueTypeInvalid`, `FieldValueDuplicate`, `FieldValueForbidden`, ...
    pub reason: String,
    /// The error body without the field, e.g. `Required value`.
    pub message: String,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Errors, worded like kube-apiserver's. `Display` is the Status `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 404 NotFound.
    #[error("{group_resource} \"{name}\" not found")]
    NotFound {
        group_resource: String,
        name: String,
    },
    /// 409 AlreadyExists.
    #[error("{group_resource} \"{name}\" already exists")]
    AlreadyExists {
        group_resource: String,
        name: String,
    },
    /// 409 Conflict. `message` is the part after `"name": `.
    #[error("Operation cannot be fulfilled on {group_resource} \"{name}\": {message}")]
    Conflict {
        group_resource: String,
        name: String,
        message: String,
    },
    /// 422 Invalid; `group_resource` here is `Kind.group` (e.g. `CoderWorkspace.aggregation.coder.com`),
    /// as kube's Status `details.kind` is the kind.
    #[error("{group_resource} \"{name}\" is invalid: {}", format_causes(causes))]
    Invalid {
        group_resource: String,
        kind: String,
        name: String,
        causes: Vec<Cause>,
    },
    /// 403 Forbidden (e.g. a create in a terminating namespace), with causes.
    #[error("{group_resource} \"{name}\" is forbidden: {message}")]
    Forbidden {
        group_resource: String,
        name: String,
        message: String,
        causes: Vec<Cause>,
    },
    /// 422 with reason Invalid but no field causes (a JSON patch that cannot be applied).
    #[error("{0}")]
    UnprocessableEntity(String),
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 410 Expired (reason `Expired`).
    #[error("{0}")]
    Expired(String),
    /// 415 UnsupportedMediaType.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 409 Conflict of a server-side apply: fields other managers own (one cause each).
    #[error("{message}")]
    ApplyConflict { message: String, causes: Vec<Cause> },
    /// 500 InternalError.
    #[error("Internal error occurred: {0}")]
    Internal(String),
    /// 504 Timeout with cause ResourceVersionTooLarge: the store did not reach the requested
    /// resourceVersion within the wait.
    #[error("Timeout: Too large resource version: {requested}, current: {current}")]
    ResourceVersionTooLarge { requested: u64, current: u64 },
    /// 413 RequestEntityTooLarge: the object exceeds the storage's object size limit.
    #[error("{0}")]
    TooLarge(String),
    /// 503 ServiceUnavailable with Retry-After: the storage backend is unreachable for now.
    #[error("{0}")]
    Unavailable(String),
    /// A write hook's refusal (e.g. coderd's), with its own status code and message.
    #[error("{0}")]
    Refused(hooks::HookError),
}

/// A stored revision whose bytes do not parse back (a bug, never the request's fault).
impl From<crate::apiserver::storage::stored::DecodeError> for Error {
    fn from(e: crate::apiserver::storage::stored::DecodeError) -> Self {
        Error::Internal(e.to_string())
    }
}

fn format_causes(causes: &[Cause]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(Cause::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Objects {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Objects {
            storage,
            config: Config {
                bookmark_interval: Duration::from_secs(60),
                write_attempts: 16,
            },
            namespaces: None,
            hooks: None,
        }
    }

    /// Refuse creates in missing or terminating namespaces, as kube-apiserver does, using
    /// `lookup` (a namespace informer on the cluster this server runs against).
    pub fn with_namespace_lifecycle(
        mut self,
        lookup: Arc<dyn namespaces::NamespaceLookup>,
    ) -> Self {
        self.namespaces = Some(lookup);
        self
    }

    /// How often watches with `allow_bookmarks` get a progress bookmark (default 60 s).
    pub fn with_bookmark_interval(mut self, interval: Duration) -> Self {
        self.config.bookmark_interval = interval;
        self
    }

    /// Whether the storage backend answers now (`/readyz`).
    pub async fn storage_ready(&self) -> Result<(), String> {
        self.storage.ready().await.map_err(|e| e.to_string())
    }

    /// Bytes (JSON text and attributes) of the change history held in this process, for metrics.
    pub fn history_bytes(&self) -> u64 {
        self.storage.history_bytes()
    }

    /// Objects stored, for metrics.
    pub async fn count(&self) -> u64 {
        self.storage.count().await
    }
}

/// `Kind.group`, the name kube's Invalid errors use.
fn group_kind(r: &ResourceDescriptor) -> String {
    format!("{}.{}", r.kind, r.group)
}

const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

fn conflict(r: &ResourceDescriptor, name: &str, message: impl Into<String>) -> Error {
    Error::Conflict {
        group_resource: r.group_resource(),
        name: name.to_string(),
        message: message.into(),
    }
}

fn not_found(r: &ResourceDescriptor, name: &str) -> Error {
    Error::NotFound {
        group_resource: r.group_resource(),
        name: name.to_string(),
    }
}

fn invalid(r: &ResourceDescriptor, name: &str, causes: Vec<Cause>) -> Error {
    Error::Invalid {
        group_resource: group_kind(r),
        kind: r.kind.to_string(),
        name: name.to_string(),
        causes,
    }
}

/// Maps a storage failure on one object to the API error kube would return.
fn storage_error(
    r: &ResourceDescriptor,
    name: &str,
    e: crate::apiserver::storage::StorageError,
) -> Error {
    use crate::apiserver::storage::StorageError as S;
    match e {
        S::NotFound(_) => not_found(r, name),
        S::AlreadyExists(_) => Error::AlreadyExists {
            group_resource: r.group_resource(),
            name: name.to_string(),
        },
        S::Conflict { .. } => conflict(r, name, MODIFIED),
        S::Expired { requested, oldest } => {
            Error::Expired(watch::expired_message(requested, oldest))
        }
        S::Unavailable(_) => Error::Unavailable(e.to_string()),
        S::TooLarge { size, limit, .. } => Error::TooLarge(format!(
            "Request entity too large: the object is {size} bytes as JSON, the limit is {limit}"
        )),
        S::RefusedTooLarge { size, reason, .. } => Error::TooLarge(format!(
            "Request entity too large: the object is {size} bytes as JSON, more than etcd \
             accepts in one request ({reason})"
        )),
        S::TooSlow | S::Internal(_) => Error::Internal(e.to_string()),
    }
}

/// Parses a resourceVersion parameter; None for unset, "" and "0" (meaning "any/current").
fn parse_resource_version(rv: Option<&str>) -> Result<Option<u64>, Error> {
    match rv {
        None | Some("") | Some("0") => Ok(None),
        Some(rv) => rv
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::BadRequest(format!("invalid resource version: {rv:?}"))),
    }
}
