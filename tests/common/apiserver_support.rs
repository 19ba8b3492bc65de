//! Helpers of the aggregated apiserver tests: a real server started in-process on 127.0.0.1
//! with TLS, plus the clients that drive it: kubectl (with the kubeconfig the server writes),
//! kube-rs, and a plain HTTPS client for protocol-level checks.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use coder_k8s::apiserver::{self, ApiserverArgs, Running};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;

/// Upper bound for any single client call in the tests; none should get near it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestServer {
    pub url: String,
    pub kubeconfig: PathBuf,
    pub kubeconfig_text: String,
    pub ca_pem: String,
    pub shutdown: CancellationToken,
    running: Option<Running>,
    dir: tempfile::TempDir,
}

/// Flags of a test server: loopback, a free port, and no authentication (these tests are about
/// the API; tests/apiserver/auth.rs test authentication and authorization).
pub fn args() -> ApiserverArgs {
    ApiserverArgs {
        secure_port: 0,
        bind_address: [127, 0, 0, 1].into(),
        auth: apiserver::AuthArgs {
            authentication: apiserver::AuthenticationMode::None,
            ..Default::default()
        },
        ..ApiserverArgs::default()
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(args(), apiserver::memory_objects()).await
    }

    pub async fn start_with(
        args: ApiserverArgs,
        objects: coder_k8s::apiserver::objects::Objects,
    ) -> Self {
        Self::start_with_authorizer(args, objects, None).await
    }

    /// A server whose delegated authorization is decided by `authorizer`.
    pub async fn start_with_authorizer(
        mut args: ApiserverArgs,
        objects: coder_k8s::apiserver::objects::Objects,
        authorizer: Option<Arc<dyn apiserver::auth::Authorizer>>,
    ) -> Self {
        coder_k8s::telemetry::init(coder_k8s::telemetry::LogFormat::Text);
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        args.write_kubeconfig = Some(kubeconfig.clone());
        let shutdown = CancellationToken::new();
        let running = apiserver::start_with_authorizer(args, objects, authorizer, shutdown.clone())
            .await
            .expect("server starts");
        TestServer {
            url: running.url.clone(),
            kubeconfig_text: running.kubeconfig.clone(),
            ca_pem: running.ca_pem.clone(),
            kubeconfig,
            shutdown,
            running: Some(running),
            dir,
        }
    }

    /// A kube-rs client over TLS, configured from the server's kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&self.kubeconfig_text).expect("kubeconfig parses");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kubeconfig loads");
        kube::Client::try_from(config).expect("client builds")
    }

    /// A plain HTTPS client trusting the server's CA.
    pub fn http(&self) -> Http {
        use rustls_pki_types::pem::PemObject;
        coder_k8s::tls::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA cert");
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Http {
            addr: self.url.trim_start_matches("https://").to_string(),
            tls: Arc::new(config),
        }
    }

    /// A plain HTTPS client trusting the server's CA that presents this client certificate.
    pub fn http_with_client_cert(&self, cert_pem: &str, key_pem: &str) -> Http {
        use rustls_pki_types::pem::PemObject;
        coder_k8s::tls::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA cert");
        }
        let chain = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("client cert PEM");
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .expect("client key PEM");
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client cert config");
        Http {
            addr: self.url.trim_start_matches("https://").to_string(),
            tls: Arc::new(config),
        }
    }

    /// kubectl against this server (its kubeconfig, a private cache dir), killed if it
    /// outlives `CALL_TIMEOUT`.
    pub fn kubectl_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            // Discovery and OpenAPI must come from this server, not a cache of another.
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    pub async fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None).await
    }

    pub async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut child = self.kubectl_command(args).spawn().expect("kubectl runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.expect("write stdin");
        }
        drop(input);
        tokio::time::timeout(CALL_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .expect("kubectl output")
    }

    /// kubectl that must succeed; returns its stdout.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        self.kubectl_stdin_ok(args, None).await
    }

    pub async fn kubectl_stdin_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_stdin(args, stdin).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\nstdout: {stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            tokio::time::timeout(CALL_TIMEOUT, running.wait())
                .await
                .expect("server stops in time")
                .expect("server task");
        }
    }
}

/// A plain HTTPS client: sends exactly the headers given (kube's client would add credentials
/// and retry 429/503 by itself).
#[derive(Clone)]
pub struct Http {
    addr: String,
    tls: Arc<rustls::ClientConfig>,
}

impl Http {
    /// A TLS session over `tcp` to this server, for tests that write raw bytes.
    pub async fn connect_tls(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }
}

/// A raw response: status, headers, body.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request over a fresh TLS connection (HTTP/1.1) and reads the whole response.
pub async fn raw(
    http: &Http,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Raw {
    let body = body.into();
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(&http.addr)
            .await
            .expect("connect");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(http.tls.clone())
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .expect("HTTP handshake");
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", http.addr.as_str());
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        Raw {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .expect("response in time")
}

pub async fn get(http: &Http, path: &str) -> Raw {
    raw(http, Method::GET, path, &[], Vec::new()).await
}

/// A CoderWorkspace manifest.
pub fn workspace(namespace: &str, name: &str, running: bool) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "aggregation.coder.com/v1alpha1",
        "kind": "CoderWorkspace",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"running": running},
    })
}

pub const WS: &str = "/apis/aggregation.coder.com/v1alpha1";

pub fn ws_path(namespace: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{WS}/namespaces/{namespace}/coderworkspaces/{n}"),
        None => format!("{WS}/namespaces/{namespace}/coderworkspaces"),
    }
}

/// Asserts a Status body with this code and reason; returns it for further checks.
pub fn assert_status(raw: &Raw, code: u16, reason: &str) -> serde_json::Value {
    assert_eq!(
        raw.status.as_u16(),
        code,
        "unexpected status; body: {}",
        raw.text()
    );
    let v = raw.json();
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["apiVersion"], "v1", "{v}");
    assert_eq!(v["status"], "Failure", "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["reason"], reason, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}
