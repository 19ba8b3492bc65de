//! `EtcdStorage`: the `Storage` trait on an etcd v3 cluster, the way kube-apiserver's etcd3
//! store works: the resourceVersion is the etcd revision that last modified a key (stamped on
//! read, never stored), creates are transactions on "absent" (`create_revision == 0`),
//! conditional updates and deletes are transactions on `mod_revision`, lists read at one
//! revision so every page of a paginated list sees the same snapshot, and watches start from a
//! revision. Several apiserver replicas on one etcd therefore agree on every resourceVersion.
//!
//! Value encoding (format 1, documented in docs/storage.md): the object's JSON, UTF-8, with
//! `metadata.resourceVersion` removed. JSON objects always start with `{`; a later format
//! will start with a different byte, so readers can tell them apart and migrate.
//!
//! The gRPC client is ours (`client`, `wire`): a handful of calls and hand-written messages,
//! so that building the server needs no `protoc`.

pub mod client;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;

use self::client::{CallError, ClientConfig, ClientTls, EtcdClient};
use self::wire::{
    Compare, CompareResult, DeleteRangeRequest, EventType, KeyValue, PutRequest, RangeRequest,
    RequestOp, TxnRequest, WatchCreateRequest, WatchResponse, response_op,
};
use super::codec;
use super::decoded::{DEFAULT_DECODED_BYTES, DecodedCache};
use super::unstamped::Unstamped;
use super::{
    Change, ChangeKind, Key, ListPage, ListRequest, Prefix, Revision, Storage, StorageError,
    Versioned, WatchItem, WatchStream,
};

pub use self::client::ConnectError;

/// Where and how to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// `http://host:port` or `https://host:port` endpoints.
    pub endpoints: Vec<String>,
    /// Prepended to every key (no trailing `/`), like kube-apiserver's `--etcd-prefix`.
    pub prefix: String,
    pub tls: Option<EtcdTls>,
    /// Time to establish a connection.
    pub dial_timeout: Duration,
    /// Deadline of one etcd request (not of a watch stream).
    pub request_timeout: Duration,
    /// Largest value written, in bytes (see `memory::DEFAULT_MAX_OBJECT_BYTES` for how the
    /// default leaves room under etcd's own request limit).
    pub max_object_bytes: u64,
}

/// PEM material for TLS to etcd.
pub type EtcdTls = ClientTls;

pub struct EtcdStorage {
    client: EtcdClient,
    /// Revisions already decoded here, shared by reads, watch events and write results.
    decoded: Arc<DecodedCache>,
    prefix: String,
    request_timeout: Duration,
    max_object_bytes: u64,
    /// Whether the server answers progress requests only after delivering earlier changes;
    /// asked once, on the first watch.
    progress_reliable: tokio::sync::OnceCell<bool>,
}

impl EtcdStorage {
    /// Builds the client. Connections are made lazily, so an unreachable etcd is reported by
    /// requests (`StorageError::Unavailable`) and `/readyz`, not here; malformed endpoints and
    /// TLS material are reported here.
    pub async fn connect(config: EtcdConfig) -> Result<Self, ConnectError> {
        let client = EtcdClient::connect(&ClientConfig {
            endpoints: config.endpoints,
            tls: config.tls,
            dial_timeout: config.dial_timeout,
            request_timeout: config.request_timeout,
        })?;
        Ok(EtcdStorage {
            client,
            decoded: Arc::new(DecodedCache::new(DEFAULT_DECODED_BYTES)),
            prefix: config.prefix.trim_end_matches('/').to_string(),
            request_timeout: config.request_timeout,
            max_object_bytes: config.max_object_bytes,
            progress_reliable: tokio::sync::OnceCell::new(),
        })
    }

    /// The stored bytes of `value`, refused when larger than the object size limit.
    fn encode(&self, key: &Key, value: &Value) -> Result<Unstamped, StorageError> {
        let unstamped = Unstamped::encode(value);
        let size = unstamped.bytes().len() as u64;
        if size > self.max_object_bytes {
            return Err(StorageError::TooLarge {
                key: key.clone(),
                size,
                limit: self.max_object_bytes,
            });
        }
        Ok(unstamped)
    }

    /// The revision a create or update wrote: the bytes stamped with its resourceVersion, kept
    /// in the decoded-revision cache so the watch and the next read need not parse them again.
    fn written(&self, key: &Key, unstamped: Unstamped, revision: Revision) -> Versioned {
        let value = Arc::new(unstamped.stamp(revision));
        self.decoded.insert(key, revision, &value);
        Versioned {
            key: key.clone(),
            value,
            revision,
        }
    }

    fn etcd_key(&self, key: &Key) -> Vec<u8> {
        format!("{}{}", self.prefix, key.as_str()).into_bytes()
    }

    fn etcd_prefix(&self, prefix: &Prefix) -> Vec<u8> {
        format!("{}{}", self.prefix, prefix.as_str()).into_bytes()
    }

    /// The storage key of an etcd key (the configured prefix stripped).
    fn storage_key(&self, etcd_key: &[u8]) -> Result<Key, StorageError> {
        std::str::from_utf8(etcd_key)
            .ok()
            .and_then(|k| k.strip_prefix(&self.prefix))
            .map(|k| Key::from_raw(k.to_string()))
            .ok_or_else(|| {
                StorageError::Internal(format!(
                    "etcd key {:?} lies outside the prefix {}",
                    String::from_utf8_lossy(etcd_key),
                    self.prefix
                ))
            })
    }

    fn versioned(&self, kv: &KeyValue) -> Result<Versioned, StorageError> {
        let key = self.storage_key(&kv.key)?;
        let revision = to_revision(kv.mod_revision);
        let value = self
            .decoded
            .get_or_decode(&key, revision, &kv.value, |bytes| {
                codec::decode_stored(bytes, revision)
            })
            .map_err(|e| {
                StorageError::Internal(format!("decoding {key} at revision {revision}: {e}"))
            })?;
        Ok(Versioned {
            key,
            value,
            revision,
        })
    }

    /// Runs one etcd call under the request deadline; the outer error is the deadline, the
    /// inner one etcd's answer, for callers that act on particular answers.
    async fn call_raw<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<Result<T, CallError>, StorageError> {
        tokio::time::timeout(self.request_timeout, call)
            .await
            .map_err(|_| {
                StorageError::Unavailable(format!(
                    "{what}: etcd did not answer within {:?}",
                    self.request_timeout
                ))
            })
    }

    /// Runs one etcd call under the request deadline.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, StorageError> {
        self.call_raw(what, call)
            .await?
            .map_err(|e| classify(what, e.status()))
    }

    /// Runs a write of `size` value bytes to `key`: like `call`, and etcd refusing the request
    /// as too large becomes `RefusedTooLarge` (413), not a server error.
    async fn write<T>(
        &self,
        what: &str,
        key: &Key,
        size: u64,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, StorageError> {
        self.call_raw(what, call).await?.map_err(|e| {
            if is_request_too_large(e.status()) {
                StorageError::RefusedTooLarge {
                    key: key.clone(),
                    size,
                    reason: e.status().message().to_string(),
                }
            } else {
                classify(what, e.status())
            }
        })
    }

    /// Whether this etcd's answers to progress requests can be trusted (see
    /// `progress_requests_are_ordered`); false while the server cannot be asked.
    async fn progress_reliable(&self) -> bool {
        let asked = self
            .progress_reliable
            .get_or_try_init(|| async {
                let status = self.call("status", self.client.status()).await?;
                Ok::<bool, StorageError>(progress_requests_are_ordered(&status.version))
            })
            .await;
        match asked {
            Ok(reliable) => *reliable,
            Err(e) => {
                tracing::debug!(error = %e, "asking etcd for its version failed");
                false
            }
        }
    }

    /// Runs a `guarded_txn`; on failure, tells NotFound from Conflict by the key's current
    /// state (read in the same transaction). `size`: the value bytes written (0 for a delete),
    /// for a refusal's message.
    async fn guarded_write(
        &self,
        key: &Key,
        txn: TxnRequest,
        size: u64,
        expected: Option<Revision>,
    ) -> Result<(Revision, Option<KeyValue>), StorageError> {
        let response = self
            .write("transaction", key, size, self.client.txn(txn))
            .await?;
        let revision = header_revision(response.header.as_ref());
        let mut responses = response.responses.into_iter().map(|op| op.response);
        if response.succeeded {
            let prev = match responses.next() {
                Some(Some(response_op::Response::ResponseDeleteRange(mut deleted))) => {
                    deleted.prev_kvs.pop()
                }
                Some(Some(response_op::Response::ResponsePut(put))) => put.prev_kv,
                _ => None,
            };
            return Ok((revision, prev));
        }
        let current = match responses.next() {
            Some(Some(response_op::Response::ResponseRange(mut got))) => got.kvs.pop(),
            _ => None,
        };
        Err(match (current, expected) {
            (None, _) => StorageError::NotFound(key.clone()),
            (Some(kv), Some(expected)) => StorageError::Conflict {
                key: key.clone(),
                expected,
                current: to_revision(kv.mod_revision),
            },
            (Some(_), None) => StorageError::Internal(format!(
                "the unconditional write of {key} failed although the key exists"
            )),
        })
    }
}

/// The create transaction: put `value` at `etcd_key` if the key is absent.
fn create_txn(etcd_key: Vec<u8>, value: Vec<u8>) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare::create_revision(
            etcd_key.clone(),
            CompareResult::Equal,
            0,
        )],
        success: vec![RequestOp::put(PutRequest {
            key: etcd_key,
            value,
            prev_kv: false,
        })],
        failure: Vec::new(),
    }
}

/// An update or delete transaction: `write` if the key is at `expected` (or, None, exists at
/// all); otherwise read the key, to tell "gone" from "changed".
fn guarded_txn(etcd_key: Vec<u8>, expected: Option<Revision>, write: RequestOp) -> TxnRequest {
    let guard = match expected {
        Some(rv) => {
            Compare::mod_revision(etcd_key.clone(), CompareResult::Equal, to_etcd_revision(rv))
        }
        None => Compare::create_revision(etcd_key.clone(), CompareResult::Greater, 0),
    };
    TxnRequest {
        compare: vec![guard],
        success: vec![write],
        failure: vec![RequestOp::range(RangeRequest {
            key: etcd_key,
            ..RangeRequest::default()
        })],
    }
}

fn to_revision(revision: i64) -> Revision {
    u64::try_from(revision).unwrap_or(0)
}

fn to_etcd_revision(revision: Revision) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

fn header_revision(header: Option<&wire::ResponseHeader>) -> Revision {
    header.map(|h| to_revision(h.revision)).unwrap_or(0)
}

/// The first key after every key starting with `prefix` (etcd's range end for a prefix).
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // An all-0xff prefix has no end: "\0" means "to the end of the keyspace" to etcd.
    vec![0]
}

/// etcd's words for a compacted or a future revision (gRPC OutOfRange).
const COMPACTED: &str = "required revision has been compacted";
const FUTURE: &str = "required revision is a future revision";

/// Sorts a failed call into what callers act on: Unavailable (retry later) or Internal.
/// Connection failures reach us as Unavailable (or Unknown) statuses.
fn classify(what: &str, status: &tonic::Status) -> StorageError {
    use tonic::Code;
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Unknown => StorageError::Unavailable(format!("{what}: {}", status.message())),
        _ => StorageError::Internal(format!("{what}: {}", status.message())),
    }
}

/// Whether etcd refused a request for its size: its own check against `--max-request-bytes`
/// (InvalidArgument `etcdserver: request is too large`), or gRPC's receive limit in front of
/// it, which etcd sets 512 KiB above that (ResourceExhausted `grpc: received message larger
/// than max`), for requests far over.
fn is_request_too_large(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::InvalidArgument => status.message().contains("request is too large"),
        tonic::Code::ResourceExhausted => status.message().contains("larger than max"),
        _ => false,
    }
}

fn is_out_of_range(e: &CallError, words: &str) -> bool {
    e.status().message().contains(words)
}

impl Storage for EtcdStorage {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        async move {
            let request = RangeRequest {
                key: self.etcd_key(key),
                ..RangeRequest::default()
            };
            let response = self.call("get", self.client.range(request)).await?;
            response
                .kvs
                .first()
                .map(|kv| self.versioned(kv))
                .transpose()
        }
        .boxed()
    }

    fn list(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage, StorageError>> {
        async move {
            let prefix = self.etcd_prefix(&request.prefix);
            let end = range_end(&prefix);
            let start = match &request.start_after {
                // The smallest key after `start_after`.
                Some(after) => {
                    let mut start = self.etcd_key(after);
                    start.push(0);
                    start
                }
                None => prefix,
            };
            let range = |revision: Option<Revision>| RangeRequest {
                key: start.clone(),
                range_end: end.clone(),
                // 0: no limit.
                limit: request
                    .limit
                    .map(|limit| i64::try_from(limit).unwrap_or(i64::MAX))
                    .unwrap_or(0),
                // 0: the current revision.
                revision: revision
                    .filter(|r| *r > 0)
                    .map(to_etcd_revision)
                    .unwrap_or(0),
                count_only: false,
            };
            let first = self
                .call_raw("list", self.client.range(range(request.revision)))
                .await?;
            let response = match first {
                Ok(response) => response,
                Err(e) if is_out_of_range(&e, COMPACTED) => {
                    let requested = request.revision.unwrap_or(0);
                    return Err(StorageError::Expired {
                        requested,
                        // etcd does not say where compaction stopped; at least one later.
                        oldest: requested + 1,
                    });
                }
                // A revision from the future reads the present: it is "not older than" asked.
                Err(e) if is_out_of_range(&e, FUTURE) => {
                    self.call("list", self.client.range(range(None))).await?
                }
                Err(e) => return Err(classify("list", e.status())),
            };
            let read_at = header_revision(response.header.as_ref());
            let revision = match request.revision {
                Some(r) if r > 0 && r <= read_at => r,
                _ => read_at,
            };
            let count = to_revision(response.count);
            let items = response
                .kvs
                .iter()
                .map(|kv| self.versioned(kv))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage {
                remaining: count.saturating_sub(items.len() as u64),
                items,
                revision,
            })
        }
        .boxed()
    }

    fn create<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        async move {
            let etcd_key = self.etcd_key(key);
            let unstamped = self.encode(key, &value)?;
            drop(value);
            let bytes = unstamped.bytes().to_vec();
            let size = bytes.len() as u64;
            let txn = create_txn(etcd_key, bytes);
            let response = self
                .write("create", key, size, self.client.txn(txn))
                .await?;
            if !response.succeeded {
                return Err(StorageError::AlreadyExists(key.clone()));
            }
            let revision = header_revision(response.header.as_ref());
            Ok(self.written(key, unstamped, revision))
        }
        .boxed()
    }

    fn update<'a>(
        &'a self,
        key: &'a Key,
        value: Value,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        async move {
            let unstamped = self.encode(key, &value)?;
            drop(value);
            let bytes = unstamped.bytes().to_vec();
            let size = bytes.len() as u64;
            let etcd_key = self.etcd_key(key);
            let put = RequestOp::put(PutRequest {
                key: etcd_key.clone(),
                value: bytes,
                prev_kv: false,
            });
            let txn = guarded_txn(etcd_key, expected, put);
            let (revision, _) = self.guarded_write(key, txn, size, expected).await?;
            Ok(self.written(key, unstamped, revision))
        }
        .boxed()
    }

    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Versioned, StorageError>> {
        async move {
            let etcd_key = self.etcd_key(key);
            let delete = RequestOp::delete_range(DeleteRangeRequest {
                key: etcd_key.clone(),
                range_end: Vec::new(),
                prev_kv: true,
            });
            let txn = guarded_txn(etcd_key, expected, delete);
            let (revision, prev) = self.guarded_write(key, txn, 0, expected).await?;
            self.decoded.remove(key);
            let prev = prev.ok_or_else(|| StorageError::NotFound(key.clone()))?;
            let value = codec::decode_stored(&prev.value, revision)
                .map_err(|e| StorageError::Internal(format!("decoding the deleted {key}: {e}")))?;
            Ok(Versioned {
                key: key.clone(),
                value: Arc::new(value),
                revision,
            })
        }
        .boxed()
    }

    fn watch(
        &self,
        prefix: Prefix,
        after: Revision,
    ) -> BoxFuture<'_, Result<WatchStream, StorageError>> {
        async move {
            let etcd_prefix = self.etcd_prefix(&prefix);
            let create = WatchCreateRequest {
                range_end: range_end(&etcd_prefix),
                key: etcd_prefix,
                start_revision: to_etcd_revision(after + 1),
                progress_notify: true,
                prev_kv: true,
            };
            let watch = self.call("watch", self.client.watch(create)).await?;
            // The request half lives as long as the watch: progress requests go out on it.
            let requests = watch.requests;
            let request_progress = if self.progress_reliable().await {
                let requests = requests.clone();
                let request: super::ProgressRequester = Arc::new(move || {
                    // False only once the stream is gone, which the watch reports itself.
                    let _ = requests.request_progress();
                });
                Some(request)
            } else {
                None
            };

            let decoder = EventDecoder {
                prefix: self.prefix.clone(),
                decoded: self.decoded.clone(),
                after,
            };
            let items = watch
                .responses
                .flat_map(move |response| {
                    let _ = &requests;
                    futures::stream::iter(decoder.items(response))
                })
                // Nothing follows an error.
                .scan(false, |ended, item| {
                    if *ended {
                        return futures::future::ready(None);
                    }
                    *ended = matches!(item, WatchItem::Error(_));
                    futures::future::ready(Some(item))
                })
                .boxed();
            Ok(WatchStream {
                items,
                request_progress,
            })
        }
        .boxed()
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision, StorageError>> {
        async move {
            // A count of one key (the prefix itself, never an object): the header carries the
            // store revision, without reading a value.
            let request = RangeRequest {
                key: self.prefix.clone().into_bytes(),
                count_only: true,
                ..RangeRequest::default()
            };
            let response = self.call("revision", self.client.range(request)).await?;
            Ok(header_revision(response.header.as_ref()))
        }
        .boxed()
    }

    fn count(&self) -> BoxFuture<'_, u64> {
        async move {
            let prefix = self.prefix.clone().into_bytes();
            let request = RangeRequest {
                range_end: range_end(&prefix),
                key: prefix,
                count_only: true,
                ..RangeRequest::default()
            };
            match self.call("count", self.client.range(request)).await {
                Ok(response) => to_revision(response.count),
                Err(e) => {
                    tracing::debug!(error = %e, "counting objects in etcd failed");
                    0
                }
            }
        }
        .boxed()
    }

    fn history_bytes(&self) -> u64 {
        self.decoded.bytes()
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async move { self.current_revision().await.map(|_| ()) }.boxed()
    }
}

/// Whether an etcd of `version` answers a progress request only once the watch has delivered
/// every change up to the revision it reports. Older servers answer at once with their current
/// revision, ahead of changes a catching-up watcher has not sent yet (etcd issue 15220; the
/// thresholds are kube-apiserver's for trusting progress requests).
fn progress_requests_are_ordered(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match (major, minor) {
        (3, 4) => patch >= 31,
        (3, 5) => patch >= 13,
        (3, m) => m > 5,
        (m, _) => m > 3,
    }
}

/// Turns etcd watch responses into storage watch items.
struct EventDecoder {
    prefix: String,
    decoded: Arc<DecodedCache>,
    after: Revision,
}

impl EventDecoder {
    fn items(&self, response: Result<WatchResponse, tonic::Status>) -> Vec<WatchItem> {
        let response = match response {
            Ok(r) => r,
            Err(status) => return vec![WatchItem::Error(classify("watch", &status))],
        };
        if response.canceled {
            let compacted = to_revision(response.compact_revision);
            let error = if compacted > 0 {
                StorageError::Expired {
                    requested: self.after,
                    oldest: compacted,
                }
            } else {
                StorageError::Unavailable(format!(
                    "etcd canceled the watch: {}",
                    response.cancel_reason
                ))
            };
            return vec![WatchItem::Error(error)];
        }
        if response.created {
            return Vec::new();
        }
        if response.events.is_empty() {
            return vec![WatchItem::Progress(header_revision(
                response.header.as_ref(),
            ))];
        }
        response
            .events
            .iter()
            .map(|event| match self.change(event) {
                Ok(change) => WatchItem::Change(Arc::new(change)),
                Err(e) => WatchItem::Error(e),
            })
            .collect()
    }

    fn change(&self, event: &wire::Event) -> Result<Change, StorageError> {
        let kv = event
            .kv
            .as_ref()
            .ok_or_else(|| StorageError::Internal("a watch event without a key".into()))?;
        let key = std::str::from_utf8(&kv.key)
            .ok()
            .and_then(|k| k.strip_prefix(&self.prefix))
            .map(|k| Key::from_raw(k.to_string()))
            .ok_or_else(|| StorageError::Internal("a watch event outside the prefix".into()))?;
        let revision = to_revision(kv.mod_revision);
        let error = |at: Revision, e: codec::DecodeError| {
            StorageError::Internal(format!("decoding {key} at {at}: {e}"))
        };
        // Revisions written or read here are already decoded (and encoded): shared, not redone.
        let decode = |bytes: &[u8], at: Revision| {
            self.decoded
                .get_or_decode(&key, at, bytes, |b| codec::decode_stored(b, at))
                .map_err(|e| error(at, e))
        };
        let prev = event
            .prev_kv
            .as_ref()
            .map(|p| decode(&p.value, to_revision(p.mod_revision)))
            .transpose()?;
        let kind = EventType::try_from(event.r#type).map_err(|_| {
            StorageError::Internal(format!(
                "a watch event of {key} with the unknown type {}",
                event.r#type
            ))
        })?;
        match kind {
            EventType::Put => Ok(Change {
                kind: if kv.create_revision == kv.mod_revision {
                    ChangeKind::Created
                } else {
                    ChangeKind::Updated
                },
                value: decode(&kv.value, revision)?,
                key,
                prev,
                revision,
            }),
            EventType::Delete => {
                let prev_kv = event.prev_kv.as_ref().ok_or_else(|| {
                    StorageError::Internal(format!("the delete of {key} lacks its previous value"))
                })?;
                // The last value stamped with the deletion revision: not a stored revision.
                let value = codec::decode_stored(&prev_kv.value, revision)
                    .map(Arc::new)
                    .map_err(|e| error(revision, e))?;
                self.decoded.remove(&key);
                Ok(Change {
                    kind: ChangeKind::Deleted,
                    value,
                    key,
                    prev,
                    revision,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_trusted_from_fixed_etcd_versions_only() {
        for old in [
            "3.4.23", "3.4.30", "3.5.0", "3.5.12", "3.3.27", "2.3.8", "", "v3.6",
        ] {
            assert!(!progress_requests_are_ordered(old), "{old}");
        }
        for fixed in ["3.4.31", "3.5.13", "3.5.21", "3.6.0", "4.0.0"] {
            assert!(progress_requests_are_ordered(fixed), "{fixed}");
        }
    }

    /// What etcd wraps around a transaction before comparing it with `--max-request-bytes`
    /// (its `InternalRaftRequest`): the header (field 100, so a 2-byte field key, a length,
    /// and a request ID of up to 10 varint bytes after its own key) and the txn field's key
    /// and 3-byte length. Without etcd authentication, which this server does not use.
    const RAFT_ENVELOPE_BYTES: usize = (2 + 1 + 1 + 10) + (1 + 3);

    #[test]
    fn the_default_object_limit_leaves_room_for_the_key_and_the_transaction() {
        use crate::apiserver::storage::memory::{
            DEFAULT_MAX_OBJECT_BYTES, ETCD_DEFAULT_MAX_REQUEST_BYTES,
        };
        use prost::Message;
        // The longest key under the default --etcd-prefix: our longest plural, a 63-character
        // namespace and a 253-character name.
        let key = format!(
            "/registry/aggregation.coder.com/aggregation.coder.com/coderworkspaces/{}/{}",
            "n".repeat(63),
            "x".repeat(253)
        )
        .into_bytes();
        let value = vec![b'x'; DEFAULT_MAX_OBJECT_BYTES as usize];
        let put = || {
            RequestOp::put(PutRequest {
                key: key.clone(),
                value: value.clone(),
                prev_kv: false,
            })
        };
        let create = create_txn(key.clone(), value.clone());
        // The largest guard: a revision of 9 varint bytes.
        let update = guarded_txn(key.clone(), Some(i64::MAX as u64), put());
        let overhead = |txn: &TxnRequest| txn.encoded_len() + RAFT_ENVELOPE_BYTES - value.len();
        assert_eq!(overhead(&create), 817);
        assert_eq!(
            overhead(&update),
            1_221,
            "the figure documented in docs/storage.md"
        );
        assert!(
            DEFAULT_MAX_OBJECT_BYTES as usize + overhead(&update)
                <= ETCD_DEFAULT_MAX_REQUEST_BYTES as usize
        );
    }

    #[test]
    fn request_too_large_is_told_from_other_refusals() {
        use tonic::{Code, Status};
        assert!(is_request_too_large(&Status::new(
            Code::InvalidArgument,
            "etcdserver: request is too large"
        )));
        assert!(is_request_too_large(&Status::new(
            Code::ResourceExhausted,
            "grpc: received message larger than max (3145728 vs. 2097152)"
        )));
        assert!(!is_request_too_large(&Status::new(
            Code::ResourceExhausted,
            "etcdserver: too many requests"
        )));
        assert!(!is_request_too_large(&Status::new(
            Code::InvalidArgument,
            "etcdserver: key is not provided"
        )));
        // Too many requests stays retryable.
        assert!(matches!(
            classify(
                "x",
                &Status::new(Code::ResourceExhausted, "etcdserver: too many requests")
            ),
            StorageError::Unavailable(_)
        ));
    }

    #[test]
    fn range_end_increments_the_last_byte() {
        assert_eq!(range_end(b"/a/b/"), b"/a/b0");
        assert_eq!(range_end(&[b'a', 0xff]), b"b");
        assert_eq!(range_end(&[0xff]), vec![0]);
    }
}
