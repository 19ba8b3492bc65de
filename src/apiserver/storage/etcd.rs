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

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};
use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::codec;
use super::decoded::{DEFAULT_DECODED_BYTES, DecodedCache};
use super::{
    Change, ChangeKind, Key, ListPage, ListRequest, Prefix, Revision, Storage, StorageError,
    StoredObject, Versioned, WatchItem, WatchStream,
};

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
    /// Largest value written, in bytes (etcd's own request limit is 1.5 MiB by default).
    pub max_object_bytes: u64,
}

/// PEM material for TLS to etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdTls {
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key, for etcd clusters that authenticate clients.
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no etcd endpoints given (--etcd-servers)")]
    NoEndpoints,
    #[error("connecting to etcd {endpoints:?}: {source}")]
    Client {
        endpoints: Vec<String>,
        #[source]
        source: etcd_client::Error,
    },
}

pub struct EtcdStorage {
    client: Client,
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
    /// requests (`StorageError::Unavailable`) and `/readyz`, not here.
    pub async fn connect(config: EtcdConfig) -> Result<Self, ConnectError> {
        if config.endpoints.is_empty() {
            return Err(ConnectError::NoEndpoints);
        }
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.dial_timeout)
            .with_timeout(config.request_timeout)
            .with_keep_alive(Duration::from_secs(10), config.request_timeout);
        if let Some(tls) = &config.tls {
            let mut tls_options = etcd_client::TlsOptions::new();
            if let Some(ca) = &tls.ca_pem {
                tls_options = tls_options.ca_certificate(etcd_client::Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.client_cert_pem {
                tls_options = tls_options.identity(etcd_client::Identity::from_pem(cert, key));
            }
            options = options.with_tls(tls_options);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|source| ConnectError::Client {
                endpoints: config.endpoints.clone(),
                source,
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
    fn encode(&self, key: &Key, value: &Value) -> Result<Vec<u8>, StorageError> {
        let bytes = codec::encode(value)?;
        if bytes.len() as u64 > self.max_object_bytes {
            return Err(StorageError::TooLarge {
                key: key.clone(),
                size: bytes.len() as u64,
                limit: self.max_object_bytes,
            });
        }
        Ok(bytes)
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
        let key = self.storage_key(kv.key())?;
        let revision = to_revision(kv.mod_revision());
        let value = self
            .decoded
            .get_or_decode(&key, revision, kv.value(), |bytes| {
                codec::decode(bytes, revision).map(StoredObject::new)
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

    /// Runs one etcd call under the request deadline.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.request_timeout, call).await {
            Ok(result) => result.map_err(|e| classify(what, e)),
            Err(_) => Err(StorageError::Unavailable(format!(
                "{what}: etcd did not answer within {:?}",
                self.request_timeout
            ))),
        }
    }

    /// Whether this etcd's answers to progress requests can be trusted (see
    /// `progress_requests_are_ordered`); false while the server cannot be asked.
    async fn progress_reliable(&self) -> bool {
        let asked = self
            .progress_reliable
            .get_or_try_init(|| async {
                let mut maintenance = self.client.maintenance_client();
                let status = self.call("status", maintenance.status()).await?;
                Ok::<bool, StorageError>(progress_requests_are_ordered(status.version()))
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

    /// A write guarded by `guard`; on failure, reads the key to tell NotFound from Conflict.
    async fn guarded_write(
        &self,
        key: &Key,
        guard: Compare,
        write: TxnOp,
        expected: Option<Revision>,
    ) -> Result<(Revision, Option<KeyValue>), StorageError> {
        let etcd_key = self.etcd_key(key);
        let txn = Txn::new()
            .when([guard])
            .and_then([write])
            .or_else([TxnOp::get(etcd_key, None)]);
        let mut kv = self.client.kv_client();
        let response = self.call("transaction", kv.txn(txn)).await?;
        let revision = header_revision(response.header());
        let mut responses = response.op_responses().into_iter();
        if response.succeeded() {
            let prev = match responses.next() {
                Some(TxnOpResponse::Delete(mut deleted)) => deleted.take_prev_kvs().pop(),
                Some(TxnOpResponse::Put(mut put)) => put.take_prev_key(),
                _ => None,
            };
            return Ok((revision, prev));
        }
        let current = match responses.next() {
            Some(TxnOpResponse::Get(mut got)) => got.take_kvs().pop(),
            _ => None,
        };
        Err(match (current, expected) {
            (None, _) => StorageError::NotFound(key.clone()),
            (Some(kv), Some(expected)) => StorageError::Conflict {
                key: key.clone(),
                expected,
                current: to_revision(kv.mod_revision()),
            },
            (Some(_), None) => StorageError::Internal(format!(
                "the unconditional write of {key} failed although the key exists"
            )),
        })
    }
}

fn to_revision(revision: i64) -> Revision {
    u64::try_from(revision).unwrap_or(0)
}

fn to_etcd_revision(revision: Revision) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map(|h| to_revision(h.revision())).unwrap_or(0)
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

/// Sorts a client error into what callers act on: Unavailable (retry later) or Internal.
fn classify(what: &str, e: etcd_client::Error) -> StorageError {
    use tonic::Code;
    match &e {
        etcd_client::Error::GRpcStatus(status) => match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Unknown => StorageError::Unavailable(format!("{what}: {}", status.message())),
            _ => StorageError::Internal(format!("{what}: {}", status.message())),
        },
        etcd_client::Error::TransportError(_)
        | etcd_client::Error::IoError(_)
        | etcd_client::Error::WatchError(_) => StorageError::Unavailable(format!("{what}: {e}")),
        _ => StorageError::Internal(format!("{what}: {e}")),
    }
}

fn is_out_of_range(e: &etcd_client::Error, words: &str) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s) if s.message().contains(words))
}

impl Storage for EtcdStorage {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Versioned>, StorageError>> {
        async move {
            let mut kv = self.client.kv_client();
            let mut response = self.call("get", kv.get(self.etcd_key(key), None)).await?;
            response
                .take_kvs()
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
                None => prefix.clone(),
            };
            let options = |revision: Option<Revision>| {
                let mut options = GetOptions::new().with_range(end.clone());
                if let Some(limit) = request.limit {
                    options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
                }
                if let Some(revision) = revision.filter(|r| *r > 0) {
                    options = options.with_revision(to_etcd_revision(revision));
                }
                options
            };
            let mut kv = self.client.kv_client();
            let first = tokio::time::timeout(
                self.request_timeout,
                kv.get(start.clone(), Some(options(request.revision))),
            )
            .await;
            let mut response = match first {
                Err(_) => {
                    return Err(StorageError::Unavailable(format!(
                        "list: etcd did not answer within {:?}",
                        self.request_timeout
                    )));
                }
                Ok(Ok(response)) => response,
                Ok(Err(e)) if is_out_of_range(&e, COMPACTED) => {
                    let requested = request.revision.unwrap_or(0);
                    return Err(StorageError::Expired {
                        requested,
                        // etcd does not say where compaction stopped; at least one later.
                        oldest: requested + 1,
                    });
                }
                // A revision from the future reads the present: it is "not older than" asked.
                Ok(Err(e)) if is_out_of_range(&e, FUTURE) => {
                    self.call("list", kv.get(start, Some(options(None))))
                        .await?
                }
                Ok(Err(e)) => return Err(classify("list", e)),
            };
            let revision = match request.revision {
                Some(r) if r > 0 && r <= header_revision(response.header()) => r,
                _ => header_revision(response.header()),
            };
            let count = to_revision(response.count());
            let kvs = response.take_kvs();
            let items = kvs
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
            let bytes = self.encode(key, &value)?;
            let txn = Txn::new()
                .when([Compare::create_revision(
                    etcd_key.clone(),
                    CompareOp::Equal,
                    0,
                )])
                .and_then([TxnOp::put(etcd_key, bytes, None)]);
            let mut kv = self.client.kv_client();
            let response = self.call("create", kv.txn(txn)).await?;
            if !response.succeeded() {
                return Err(StorageError::AlreadyExists(key.clone()));
            }
            let revision = header_revision(response.header());
            let value = Arc::new(StoredObject::new(codec::stamp(value, revision)));
            self.decoded.insert(key, revision, &value);
            Ok(Versioned {
                key: key.clone(),
                value,
                revision,
            })
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
            let etcd_key = self.etcd_key(key);
            let bytes = self.encode(key, &value)?;
            let guard = match expected {
                Some(rv) => {
                    Compare::mod_revision(etcd_key.clone(), CompareOp::Equal, to_etcd_revision(rv))
                }
                None => Compare::create_revision(etcd_key.clone(), CompareOp::Greater, 0),
            };
            let (revision, _) = self
                .guarded_write(key, guard, TxnOp::put(etcd_key, bytes, None), expected)
                .await?;
            let value = Arc::new(StoredObject::new(codec::stamp(value, revision)));
            self.decoded.insert(key, revision, &value);
            Ok(Versioned {
                key: key.clone(),
                value,
                revision,
            })
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
            let guard = match expected {
                Some(rv) => {
                    Compare::mod_revision(etcd_key.clone(), CompareOp::Equal, to_etcd_revision(rv))
                }
                None => Compare::create_revision(etcd_key.clone(), CompareOp::Greater, 0),
            };
            let delete = TxnOp::delete(
                etcd_key,
                Some(etcd_client::DeleteOptions::new().with_prev_key()),
            );
            let (revision, prev) = self.guarded_write(key, guard, delete, expected).await?;
            self.decoded.remove(key);
            let prev = prev.ok_or_else(|| StorageError::NotFound(key.clone()))?;
            let value = codec::decode(prev.value(), revision)
                .map_err(|e| StorageError::Internal(format!("decoding the deleted {key}: {e}")))?;
            Ok(Versioned {
                key: key.clone(),
                value: Arc::new(StoredObject::new(value)),
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
            let options = WatchOptions::new()
                .with_range(range_end(&etcd_prefix))
                .with_start_revision(to_etcd_revision(after + 1))
                .with_prev_key()
                .with_progress_notify();
            let mut watch_client = self.client.watch_client();
            let stream = self
                .call("watch", watch_client.watch(etcd_prefix, Some(options)))
                .await?;
            let (mut sender, responses) = stream.split();

            // Progress requests are fire-and-forget; a task forwards them while the watch lives.
            let mut idle_sender = None;
            let request_progress = if self.progress_reliable().await {
                let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<()>();
                tokio::spawn(async move {
                    while progress_rx.recv().await.is_some() {
                        if sender.request_progress().await.is_err() {
                            break;
                        }
                    }
                });
                let request: super::ProgressRequester = Arc::new(move || {
                    let _ = progress_tx.send(());
                });
                Some(request)
            } else {
                // The request half lives as long as the watch, as it does with progress.
                idle_sender = Some(sender);
                None
            };

            let decoder = EventDecoder {
                prefix: self.prefix.clone(),
                decoded: self.decoded.clone(),
                after,
            };
            let items = responses
                .flat_map(move |response| {
                    let _ = &idle_sender;
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
            // A read of one key (the prefix itself, never an object): the header carries the
            // store revision, without counting a range.
            let mut kv = self.client.kv_client();
            let options = GetOptions::new().with_count_only();
            let response = self
                .call("revision", kv.get(self.prefix.clone(), Some(options)))
                .await?;
            Ok(header_revision(response.header()))
        }
        .boxed()
    }

    fn count(&self) -> BoxFuture<'_, u64> {
        async move {
            let mut kv = self.client.kv_client();
            let prefix = self.prefix.clone().into_bytes();
            let options = GetOptions::new()
                .with_range(range_end(&prefix))
                .with_count_only();
            match self.call("count", kv.get(prefix, Some(options))).await {
                Ok(response) => to_revision(response.count()),
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
    fn items(
        &self,
        response: Result<etcd_client::WatchResponse, etcd_client::Error>,
    ) -> Vec<WatchItem> {
        let response = match response {
            Ok(r) => r,
            Err(e) => return vec![WatchItem::Error(classify("watch", e))],
        };
        if response.canceled() {
            let compacted = to_revision(response.compact_revision());
            let error = if compacted > 0 {
                StorageError::Expired {
                    requested: self.after,
                    oldest: compacted,
                }
            } else {
                StorageError::Unavailable(format!(
                    "etcd canceled the watch: {}",
                    response.cancel_reason()
                ))
            };
            return vec![WatchItem::Error(error)];
        }
        if response.created() {
            return Vec::new();
        }
        if response.events().is_empty() {
            return vec![WatchItem::Progress(header_revision(response.header()))];
        }
        response
            .events()
            .iter()
            .map(|event| match self.change(event) {
                Ok(change) => WatchItem::Change(Arc::new(change)),
                Err(e) => WatchItem::Error(e),
            })
            .collect()
    }

    fn change(&self, event: &etcd_client::Event) -> Result<Change, StorageError> {
        let kv = event
            .kv()
            .ok_or_else(|| StorageError::Internal("a watch event without a key".into()))?;
        let key = std::str::from_utf8(kv.key())
            .ok()
            .and_then(|k| k.strip_prefix(&self.prefix))
            .map(|k| Key::from_raw(k.to_string()))
            .ok_or_else(|| StorageError::Internal("a watch event outside the prefix".into()))?;
        let revision = to_revision(kv.mod_revision());
        let error = |at: Revision, e: codec::DecodeError| {
            StorageError::Internal(format!("decoding {key} at {at}: {e}"))
        };
        // Revisions written or read here are already decoded (and encoded): shared, not redone.
        let decode = |bytes: &[u8], at: Revision| {
            self.decoded
                .get_or_decode(&key, at, bytes, |b| {
                    codec::decode(b, at).map(StoredObject::new)
                })
                .map_err(|e| error(at, e))
        };
        let prev = event
            .prev_kv()
            .map(|p| decode(p.value(), to_revision(p.mod_revision())))
            .transpose()?;
        match event.event_type() {
            EventType::Put => Ok(Change {
                kind: if kv.create_revision() == kv.mod_revision() {
                    ChangeKind::Created
                } else {
                    ChangeKind::Updated
                },
                value: decode(kv.value(), revision)?,
                key,
                prev,
                revision,
            }),
            EventType::Delete => {
                let prev_kv = event.prev_kv().ok_or_else(|| {
                    StorageError::Internal(format!("the delete of {key} lacks its previous value"))
                })?;
                // The last value stamped with the deletion revision: not a stored revision.
                let value = codec::decode(prev_kv.value(), revision)
                    .map(|v| Arc::new(StoredObject::new(v)))
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

    #[test]
    fn range_end_increments_the_last_byte() {
        assert_eq!(range_end(b"/a/b/"), b"/a/b0");
        assert_eq!(range_end(&[b'a', 0xff]), b"b");
        assert_eq!(range_end(&[0xff]), vec![0]);
    }
}
