//! A small etcd v3 client: the KV, Watch and Maintenance calls this server makes, over tonic's
//! HTTP/2 channel (rustls) with the hand-written messages of `wire`. No code generation and
//! no `protoc`: a call is a method path and a prost codec.
//!
//! Endpoints are balanced by tonic (power of two choices over the reachable ones) and
//! connected lazily: an unreachable etcd fails requests with `Unavailable`, not `connect`.

use std::time::Duration;

use http::Uri;
use http::uri::PathAndQuery;
use tokio::sync::mpsc;
use tonic::transport::channel::Change;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_prost::ProstCodec;

use super::wire::{
    CompactionRequest, CompactionResponse, RangeRequest, RangeResponse, StatusRequest,
    StatusResponse, TxnRequest, TxnResponse, WatchCancelRequest, WatchCreateRequest,
    WatchProgressRequest, WatchRequest, WatchResponse, watch_request,
};

/// Largest response decoded, as kube-apiserver's etcd client allows (`MaxCallRecvMsgSize`
/// 2 GiB - 1): an unpaginated list of many objects is one response, and etcd is trusted.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// HTTP/2 pings on an idle connection notice a dead etcd (or a path through a dropped NAT
/// entry) before a request waits for it.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http://host:port`, `https://host:port`, or `host:port` (https when `tls` is set).
    pub endpoints: Vec<String>,
    pub tls: Option<ClientTls>,
    /// Time to establish a connection.
    pub dial_timeout: Duration,
    /// Deadline of a unary call, and of a watch until the server accepts the stream.
    pub request_timeout: Duration,
}

/// PEM material for TLS to etcd.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA bundle that signed etcd's serving certificates; the system's roots when None.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key, for etcd clusters that authenticate clients.
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no etcd endpoints given (--etcd-servers)")]
    NoEndpoints,
    #[error("etcd endpoint {endpoint:?} is not a URL: {source}")]
    InvalidEndpoint {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error(
        "etcd endpoint {endpoint:?} is plain http but TLS material was given (--etcd-cafile, \
         --etcd-certfile): use an https:// endpoint"
    )]
    TlsNeedsHttps { endpoint: String },
    #[error("etcd endpoint {endpoint:?}: invalid TLS configuration: {source}")]
    Tls {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("etcd endpoints could not be registered with the connection balancer")]
    Balancer,
    #[error("the etcd CA bundle (--etcd-cafile) holds no PEM certificate")]
    NoCaCertificate,
}

/// A failed call. The gRPC status carries etcd's own error text (e.g. `etcdserver: request is
/// too large`, `mvcc: required revision has been compacted`); transport failures arrive as
/// `Unavailable` statuses too.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{rpc}: {} ({:?})", status.message(), status.code())]
    Status {
        rpc: &'static str,
        status: tonic::Status,
    },
}

impl CallError {
    pub fn status(&self) -> &tonic::Status {
        match self {
            CallError::Status { status, .. } => status,
        }
    }
}

/// The etcd client. Cheap to clone (one shared, balanced channel).
#[derive(Clone)]
pub struct EtcdClient {
    channel: Channel,
    /// The balancer's endpoint list stays open while the client lives.
    _endpoints: mpsc::Sender<Change<Uri, Endpoint>>,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient").finish_non_exhaustive()
    }
}

const RANGE: &str = "/etcdserverpb.KV/Range";
const TXN: &str = "/etcdserverpb.KV/Txn";
const COMPACT: &str = "/etcdserverpb.KV/Compact";
const WATCH: &str = "/etcdserverpb.Watch/Watch";
const STATUS: &str = "/etcdserverpb.Maintenance/Status";

impl EtcdClient {
    /// Builds the channel; connections are made on first use. Must run inside a tokio runtime
    /// (the balancer is a task).
    pub fn connect(config: &ClientConfig) -> Result<Self, ConnectError> {
        if config.endpoints.is_empty() {
            return Err(ConnectError::NoEndpoints);
        }
        // rustls skips what it cannot parse in a CA bundle: a wrong file would otherwise show
        // up only as "unknown issuer" on every handshake.
        if let Some(ca) = config.tls.as_ref().and_then(|t| t.ca_pem.as_ref()) {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            if !CertificateDer::pem_slice_iter(ca).any(|c| c.is_ok()) {
                return Err(ConnectError::NoCaCertificate);
            }
        }
        let endpoints = config
            .endpoints
            .iter()
            .map(|url| endpoint(url, config))
            .collect::<Result<Vec<_>, _>>()?;
        let (channel, changes) = Channel::balance_channel(endpoints.len());
        for endpoint in endpoints {
            changes
                .try_send(Change::Insert(endpoint.uri().clone(), endpoint))
                .map_err(|_| ConnectError::Balancer)?;
        }
        Ok(EtcdClient {
            channel,
            _endpoints: changes,
        })
    }

    fn grpc(&self) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    async fn unary<Req, Resp>(&self, rpc: &'static str, request: Req) -> Result<Resp, CallError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc();
        let error = |status| CallError::Status { rpc, status };
        grpc.ready()
            .await
            .map_err(|e| error(tonic::Status::from_error(e.into())))?;
        let response = grpc
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(rpc),
                ProstCodec::<Req, Resp>::default(),
            )
            .await
            .map_err(error)?;
        Ok(response.into_inner())
    }

    /// `KV.Range`: reads a key or a range at a revision.
    pub async fn range(&self, request: RangeRequest) -> Result<RangeResponse, CallError> {
        self.unary(RANGE, request).await
    }

    /// `KV.Txn`: compares, then one branch of operations, atomically.
    pub async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, CallError> {
        self.unary(TXN, request).await
    }

    /// `KV.Compact`: drops history before a revision (tests and operators; the server itself
    /// leaves compaction to etcd's `--auto-compaction-*` or kube-apiserver's compactor).
    pub async fn compact(
        &self,
        request: CompactionRequest,
    ) -> Result<CompactionResponse, CallError> {
        self.unary(COMPACT, request).await
    }

    /// `Maintenance.Status` of whichever member answers.
    pub async fn status(&self) -> Result<StatusResponse, CallError> {
        self.unary(STATUS, StatusRequest {}).await
    }

    /// Opens a `Watch.Watch` stream with one watch on it. The stream answers `created` first
    /// (or `canceled`, e.g. for a compacted start revision), then events.
    pub async fn watch(&self, create: WatchCreateRequest) -> Result<Watch, CallError> {
        let (requests, outgoing) = mpsc::unbounded_channel();
        let requests = WatchRequests(requests);
        requests.send(watch_request::RequestUnion::CreateRequest(create));
        let outgoing = futures::stream::unfold(outgoing, |mut outgoing| async move {
            outgoing.recv().await.map(|request| (request, outgoing))
        });
        let mut grpc = self.grpc();
        let error = |status| CallError::Status { rpc: WATCH, status };
        grpc.ready()
            .await
            .map_err(|e| error(tonic::Status::from_error(e.into())))?;
        let responses = grpc
            .streaming(
                tonic::Request::new(outgoing),
                PathAndQuery::from_static(WATCH),
                ProstCodec::<WatchRequest, WatchResponse>::default(),
            )
            .await
            .map_err(error)?
            .into_inner();
        Ok(Watch {
            requests,
            responses,
        })
    }
}

/// An open watch stream: requests go out on `requests`, answers come on `responses`. Dropping
/// `responses` ends the stream (etcd cancels its watches); dropping every `requests` handle
/// only half-closes it.
pub struct Watch {
    pub requests: WatchRequests,
    pub responses: tonic::Streaming<WatchResponse>,
}

/// The sending half of a watch stream.
#[derive(Clone, Debug)]
pub struct WatchRequests(mpsc::UnboundedSender<WatchRequest>);

impl WatchRequests {
    /// False once the stream is gone.
    fn send(&self, request: watch_request::RequestUnion) -> bool {
        self.0
            .send(WatchRequest {
                request_union: Some(request),
            })
            .is_ok()
    }

    /// Asks for a progress response (etcd 3.4+): an empty response carrying a revision that
    /// every watch on the stream has delivered up to. False once the stream is gone.
    pub fn request_progress(&self) -> bool {
        self.send(watch_request::RequestUnion::ProgressRequest(
            WatchProgressRequest {},
        ))
    }

    /// Cancels one watch of the stream; etcd answers with a `canceled` response for it.
    pub fn cancel(&self, watch_id: i64) -> bool {
        self.send(watch_request::RequestUnion::CancelRequest(
            WatchCancelRequest { watch_id },
        ))
    }
}

/// The tonic endpoint of one `--etcd-servers` entry.
fn endpoint(url: &str, config: &ClientConfig) -> Result<Endpoint, ConnectError> {
    let (url, https) = if url.starts_with("https://") {
        (url.to_string(), true)
    } else if url.starts_with("http://") {
        if config.tls.is_some() {
            return Err(ConnectError::TlsNeedsHttps {
                endpoint: url.to_string(),
            });
        }
        (url.to_string(), false)
    } else if config.tls.is_some() {
        (format!("https://{url}"), true)
    } else {
        (format!("http://{url}"), false)
    };
    let mut endpoint =
        Endpoint::from_shared(url.clone()).map_err(|source| ConnectError::InvalidEndpoint {
            endpoint: url.clone(),
            source,
        })?;
    if https {
        endpoint = endpoint
            .tls_config(tls_config(config.tls.as_ref()))
            .map_err(|source| ConnectError::Tls {
                endpoint: url.clone(),
                source,
            })?;
    }
    Ok(endpoint
        .connect_timeout(config.dial_timeout)
        .timeout(config.request_timeout)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(config.request_timeout))
}

fn tls_config(tls: Option<&ClientTls>) -> ClientTlsConfig {
    let mut config = ClientTlsConfig::new();
    match tls.and_then(|t| t.ca_pem.as_ref()) {
        Some(ca) => config = config.ca_certificate(Certificate::from_pem(ca)),
        // An https endpoint without --etcd-cafile: a publicly trusted certificate, as Go's
        // default (kube-apiserver's) would accept.
        None => config = config.with_native_roots(),
    }
    if let Some((cert, key)) = tls.and_then(|t| t.client_cert_pem.as_ref()) {
        config = config.identity(Identity::from_pem(cert, key));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoints: &[&str], tls: Option<ClientTls>) -> ClientConfig {
        ClientConfig {
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            tls,
            dial_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn endpoints_are_checked_before_any_connection() {
        assert!(matches!(
            EtcdClient::connect(&config(&[], None)),
            Err(ConnectError::NoEndpoints)
        ));
        assert!(matches!(
            EtcdClient::connect(&config(&["http://bad host:2379"], None)),
            Err(ConnectError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            EtcdClient::connect(&config(
                &["http://127.0.0.1:2379"],
                Some(ClientTls::default())
            )),
            Err(ConnectError::TlsNeedsHttps { .. })
        ));
        // Valid endpoints, nothing listening: the client is built, calls fail later.
        EtcdClient::connect(&config(&["127.0.0.1:1", "https://127.0.0.1:2"], None)).unwrap();
    }

    #[tokio::test]
    async fn tls_material_is_checked_at_connect() {
        let minted = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = minted.cert.pem().into_bytes();
        let key = minted.signing_key.serialize_pem().into_bytes();
        let https = ["https://127.0.0.1:2379"];
        let tls = |ca: &[u8], key: &[u8]| {
            Some(ClientTls {
                ca_pem: Some(ca.to_vec()),
                client_cert_pem: Some((cert.clone(), key.to_vec())),
            })
        };
        EtcdClient::connect(&config(&https, tls(&cert, &key))).unwrap();
        assert!(matches!(
            EtcdClient::connect(&config(&https, tls(b"not a certificate", &key))),
            Err(ConnectError::NoCaCertificate)
        ));
        assert!(matches!(
            EtcdClient::connect(&config(&https, tls(&cert, b"not a key"))),
            Err(ConnectError::Tls { .. })
        ));
    }

    #[test]
    fn bare_endpoints_take_the_scheme_of_the_tls_setting() {
        let plain = endpoint("127.0.0.1:2379", &config(&[], None)).unwrap();
        assert_eq!(plain.uri().scheme_str(), Some("http"));
        let tls = endpoint("127.0.0.1:2379", &config(&[], Some(ClientTls::default()))).unwrap();
        assert_eq!(tls.uri().scheme_str(), Some("https"));
    }
}
