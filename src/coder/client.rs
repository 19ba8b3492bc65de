//! [`CoderClient`]: the HTTP exchange with coderd (URL building, the session-token header, the
//! timeout, mapping transport failures and error bodies to [`CoderError`]). The operations live
//! beside it, one module per area of coderd's API.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{CoderError, Endpoint, chain};
use super::secret::SessionToken;

/// The header coderd reads the session or API token from.
pub const SESSION_TOKEN_HEADER: &str = "Coder-Session-Token";

/// How the client talks to coderd.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Upper bound for one whole exchange (connect, send, read the body).
    pub timeout: Duration,
    /// TLS settings for `https://` URLs; None = the system's root certificates.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

type Transport = HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for one coderd deployment, optionally authenticated. Cheap to clone (the
/// connection pool is shared).
#[derive(Clone)]
pub struct CoderClient {
    base: Arc<str>,
    transport: Transport,
    timeout: Duration,
    token: Option<SessionToken>,
}

impl std::fmt::Debug for CoderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoderClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("token", &self.token)
            .finish()
    }
}

/// A request body.
pub(crate) enum Body {
    Empty,
    Json(Vec<u8>),
    Tar(Vec<u8>),
}

/// Characters escaped in one path segment: everything outside RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'@')
    .add(b':')
    .add(b'&')
    .add(b'=')
    .add(b'+')
    .add(b'$')
    .add(b',')
    .add(b';');

/// One path segment (a name or id from the caller), escaped.
pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

impl CoderClient {
    /// A client for coderd at `base_url` (`http://` or `https://`, optionally with a path
    /// prefix), without a token.
    pub fn new(base_url: &str, options: ClientOptions) -> Result<Self, CoderError> {
        let base = normalize_base(base_url)?;
        let connector = https_connector(options.tls)?;
        let transport = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            base: base.into(),
            transport,
            timeout: options.timeout,
            token: None,
        })
    }

    /// The same client, sending `token` as `Coder-Session-Token` on every request.
    pub fn with_token(&self, token: SessionToken) -> Self {
        Self {
            token: Some(token),
            ..self.clone()
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One exchange: the status and the whole body, or a transport error or timeout.
    pub(crate) async fn exchange(
        &self,
        endpoint: Endpoint,
        path_and_query: &str,
        body: Body,
    ) -> Result<(StatusCode, Bytes), CoderError> {
        let url = format!("{}{}", self.base, path_and_query);
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| CoderError::InvalidUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let method =
            Method::from_bytes(endpoint.method.as_bytes()).map_err(|e| CoderError::Encode {
                what: "the request method",
                reason: e.to_string(),
            })?;
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            let mut value =
                HeaderValue::from_str(token.expose()).map_err(|_| CoderError::Encode {
                    what: "the session token header",
                    reason: "the token has characters a header cannot carry".into(),
                })?;
            value.set_sensitive(true);
            builder = builder.header(SESSION_TOKEN_HEADER, value);
        }
        let body = match body {
            Body::Empty => Full::new(Bytes::new()),
            Body::Json(bytes) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(bytes))
            }
            Body::Tar(bytes) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/x-tar");
                Full::new(Bytes::from(bytes))
            }
        };
        let request = builder.body(body).map_err(|e| CoderError::Encode {
            what: "the request",
            reason: e.to_string(),
        })?;

        let exchange = async {
            let response =
                self.transport
                    .request(request)
                    .await
                    .map_err(|e| CoderError::Unreachable {
                        endpoint,
                        reason: chain(&e),
                    })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CoderError::Unreachable {
                    endpoint,
                    reason: chain(&e),
                })?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CoderError::Timeout {
                endpoint,
                timeout: self.timeout,
            }),
        }
    }

    /// An exchange whose answer must be a 2xx; anything else becomes [`CoderError::Api`].
    pub(crate) async fn call(
        &self,
        endpoint: Endpoint,
        path_and_query: &str,
        body: Body,
    ) -> Result<(StatusCode, Bytes), CoderError> {
        let (status, bytes) = self.exchange(endpoint, path_and_query, body).await?;
        if status.is_success() {
            Ok((status, bytes))
        } else {
            Err(CoderError::from_response(endpoint, status, &bytes))
        }
    }

    /// A 2xx answer decoded as `T`.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        path_and_query: &str,
        body: Body,
    ) -> Result<T, CoderError> {
        let (_, bytes) = self.call(endpoint, path_and_query, body).await?;
        decode(endpoint, &bytes)
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        path_and_query: &str,
    ) -> Result<T, CoderError> {
        self.call_json(endpoint, path_and_query, Body::Empty).await
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    endpoint: Endpoint,
    bytes: &[u8],
) -> Result<T, CoderError> {
    serde_json::from_slice(bytes).map_err(|source| CoderError::Decode { endpoint, source })
}

/// A JSON request body.
pub(crate) fn json<B: Serialize>(what: &'static str, body: &B) -> Result<Body, CoderError> {
    serde_json::to_vec(body)
        .map(Body::Json)
        .map_err(|e| CoderError::Encode {
            what,
            reason: e.to_string(),
        })
}

fn normalize_base(base_url: &str) -> Result<String, CoderError> {
    let invalid = |reason: &str| CoderError::InvalidUrl {
        url: base_url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = base_url
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => return Err(invalid("an absolute URL (http:// or https://) is required")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(invalid("the URL has no host"));
    }
    if uri.query().is_some() {
        return Err(invalid("the URL must not have a query"));
    }
    Ok(base_url.trim_end_matches('/').to_string())
}

fn https_connector(
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HttpsConnector<HttpConnector>, CoderError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let config = match tls {
        Some(config) => (*config).clone(),
        None => (*system_roots_config()?).clone(),
    };
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// TLS with the system's root certificates, read from disk once per process. Without any (a
/// minimal image) `https://` calls fail with a certificate error that says so, and `http://`
/// (an in-cluster Service) keeps working.
fn system_roots_config() -> Result<Arc<rustls::ClientConfig>, CoderError> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                // A malformed system certificate is skipped, as every TLS client does.
                let _ = roots.add(cert);
            }
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|reason| CoderError::Encode {
            what: "the TLS configuration",
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_must_be_absolute_http() {
        for bad in ["", "127.0.0.1:3000", "ftp://x", "http://x/?q=1", "/api"] {
            let error = CoderClient::new(bad, ClientOptions::default()).unwrap_err();
            assert!(
                matches!(error, CoderError::InvalidUrl { .. }),
                "{bad}: {error}"
            );
        }
        let client = CoderClient::new(
            "https://coder.example.com/prefix/",
            ClientOptions::default(),
        )
        .unwrap();
        assert_eq!(client.base_url(), "https://coder.example.com/prefix");
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(segment("coder-k8s_admin.1~"), "coder-k8s_admin.1~");
    }

    #[test]
    fn debug_redacts_the_token() {
        let client = CoderClient::new("http://127.0.0.1:1", ClientOptions::default())
            .unwrap()
            .with_token(SessionToken::new("abcdefghij-verysecret"));
        let shown = format!("{client:?}");
        assert!(!shown.contains("verysecret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
