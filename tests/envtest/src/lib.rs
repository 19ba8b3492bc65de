//! A real Kubernetes control plane for tests, envtest-style: etcd + kube-apiserver (RBAC and Node
//! authorizers, aggregation flags) and, on request, kube-controller-manager, all on 127.0.0.1 with
//! free ports, certificates minted here, in a temp dir that disappears with the test process.
//!
//! Binaries: `$KUBEBUILDER_ASSETS` first (what `setup-envtest use 1.36` provides: kube-apiserver,
//! etcd, kubectl), else `shared/envtest/` beside the repository (or beside an ancestor of it) for
//! kube-apiserver and kube-controller-manager, and `PATH` for etcd and kubectl. A missing binary
//! panics naming it, where it was looked for and how to get it; nothing is skipped silently.
//!
//! What a test uses:
//! - [`shared`] / [`shared_with_controller_manager`]: the control plane of this test binary;
//!   [`ControlPlane`] has kubeconfigs (admin, ServiceAccount token, x509 user), clients,
//!   `kubectl()`, `create_namespace()`, the CAs, and [`ControlPlane::register_apiservice`]
//!   (ExternalName Service `localhost` + APIService; the aggregated server's certificate must
//!   cover [`ApiServiceRegistration::service_dns_name`]).
//! - [`spawn_guarded`]: start any long-running process (our binaries too) so that it dies with
//!   the test process, even on SIGKILL; [`GuardedChild`] sends signals and waits with timeouts.
//! - [`Etcd::start`]: a standalone etcd with `kill()`/`restart()` for storage tests.
//! - [`poll_until`]: the bounded wait for conditions the real server reaches eventually.
//!
//! ```no_run
//! // In a test: #[tokio::test] async fn lists_namespaces() { ... }
//! # async fn lists_namespaces() {
//! let cp = envtest::shared();
//! let ns = cp.create_namespace("my-test").await;
//! let client = cp.admin_client().await;
//! // ...
//! # let _ = (ns, client);
//! # }
//! ```

mod aggregation;
mod apiserver;
pub mod binaries;
mod blocking;
pub mod certs;
mod controller_manager;
mod etcd;
mod kubeconfig;
pub mod process;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::PostParams;

pub use aggregation::{
    AggregatedServingCert, ApiServiceRegistration,
    SERVICE_NAMESPACE as APISERVICE_SERVICE_NAMESPACE,
};
pub use binaries::{Binary, locate};
pub use certs::CertificateAuthority;
pub use etcd::Etcd;
pub use process::{GuardedChild, GuardedDir, spawn_guarded};

use certs::ControlPlaneCerts;
use kubeconfig::Credentials;

/// Lifetime of the tokens [`ControlPlane::service_account_kubeconfig`] requests.
const TOKEN_SECONDS: i64 = 24 * 3600;

static SHARED: OnceLock<ControlPlane> = OnceLock::new();

/// The control plane of this test binary (etcd + kube-apiserver), started on first use (~10 s)
/// and shared by all its tests. Sync, so any test (`#[test]` or `#[tokio::test]`, any flavor) may
/// call it; nothing in it is tied to a tokio runtime.
pub fn shared() -> &'static ControlPlane {
    SHARED.get_or_init(ControlPlane::start)
}

/// [`shared`] plus kube-controller-manager (garbage collector, namespace deletion, service-account
/// tokens, Deployment/ReplicaSet controllers), started once; returns when its controllers work.
/// Tests of the same binary that call only [`shared`] see it running too.
pub fn shared_with_controller_manager() -> &'static ControlPlane {
    let control_plane = shared();
    control_plane.start_controller_manager();
    control_plane
}

/// etcd, kube-apiserver and, after [`ControlPlane::start_controller_manager`],
/// kube-controller-manager. All of it ends when this drops or the test process exits.
pub struct ControlPlane {
    // Field order is drop order: processes before the directory they live in.
    controller_manager: OnceLock<GuardedChild>,
    apiserver: apiserver::ApiServer,
    etcd: Etcd,
    certs: ControlPlaneCerts,
    admin_kubeconfig: PathBuf,
    kubectl: PathBuf,
    names: AtomicU64,
    dir: GuardedDir,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver in a fresh temp dir and waits until `/readyz` is ok.
    /// Prefer [`shared`]; this is for a test that needs a control plane of its own.
    pub fn start() -> ControlPlane {
        let started = Instant::now();
        let kubectl = locate(Binary::Kubectl);
        let dir = GuardedDir::create("coder-k8s-envtest-")
            .expect("envtest: creating the control plane's temp dir");
        let certs = ControlPlaneCerts::mint(dir.path())
            .expect("envtest: writing certificates into the temp dir");
        let etcd = Etcd::start_in(dir.path());
        let admin_kubeconfig = dir.path().join("admin.kubeconfig");
        let (admin_cert, admin_key) = certs.client_ca.issue_client("admin", &["system:masters"]);
        let apiserver = apiserver::start(
            &apiserver::ApiServerConfig {
                dir: dir.path(),
                etcd_url: etcd.url(),
                certs: &certs,
                admin_kubeconfig: &admin_kubeconfig,
            },
            |url| {
                let credentials = Credentials::ClientCert {
                    cert_pem: &admin_cert,
                    key_pem: &admin_key,
                };
                let ca = certs.serving_ca.cert_pem();
                kubeconfig::write(&admin_kubeconfig, url, &ca, "admin", credentials)
                    .expect("envtest: writing the admin kubeconfig");
            },
        );
        eprintln!(
            "envtest: etcd + kube-apiserver ready at {} in {:.1?} (dir {})",
            apiserver.url,
            started.elapsed(),
            dir.path().display()
        );
        ControlPlane {
            controller_manager: OnceLock::new(),
            apiserver,
            etcd,
            certs,
            admin_kubeconfig,
            kubectl,
            names: AtomicU64::new(0),
            dir,
        }
    }

    /// Starts kube-controller-manager once (later calls return at once); returns when its
    /// service-account and namespace controllers have been seen working.
    pub fn start_controller_manager(&self) {
        self.controller_manager.get_or_init(|| {
            let started = Instant::now();
            let kubeconfig = self.dir.path().join("kube-controller-manager.kubeconfig");
            let (cert, key) = self
                .certs
                .client_ca
                .issue_client("system:kube-controller-manager", &[]);
            kubeconfig::write(
                &kubeconfig,
                self.server_url(),
                &self.certs.serving_ca.cert_pem(),
                "system:kube-controller-manager",
                Credentials::ClientCert {
                    cert_pem: &cert,
                    key_pem: &key,
                },
            )
            .expect("envtest: writing kube-controller-manager's kubeconfig");
            let process = controller_manager::start(&controller_manager::ControllerManagerConfig {
                dir: self.dir.path(),
                certs: &self.certs,
                kubeconfig: &kubeconfig,
                admin_kubeconfig: &self.admin_kubeconfig,
            });
            eprintln!(
                "envtest: kube-controller-manager working in {:.1?}",
                started.elapsed()
            );
            process
        });
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.apiserver.url
    }

    /// Kubeconfig of `admin` (group `system:masters`, x509 client cert).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// An admin client bound to the calling tokio runtime.
    pub async fn admin_client(&self) -> kube::Client {
        kubeconfig::client_for(&self.admin_kubeconfig).await
    }

    /// A client for any kubeconfig (e.g. from [`ControlPlane::service_account_kubeconfig`]).
    pub async fn client_for(&self, kubeconfig: &Path) -> kube::Client {
        kubeconfig::client_for(kubeconfig).await
    }

    /// The real kubectl with `--kubeconfig=<admin>` and a discovery cache private to this control
    /// plane (ports are reused across runs; a shared cache would serve stale discovery).
    /// `kill_on_drop` is set.
    pub fn kubectl(&self) -> tokio::process::Command {
        self.kubectl_as(&self.admin_kubeconfig)
    }

    /// kubectl with another kubeconfig (same private discovery cache).
    pub fn kubectl_as(&self, kubeconfig: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.kubectl);
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("kubectl-cache").display()
            ))
            .kill_on_drop(true);
        cmd
    }

    /// Waits (up to 60 s) until the CRD `name` (e.g. `codercontrolplanes.coder.com`) is
    /// Established, panicking with kubectl's output otherwise. kubectl 1.32's `wait` fails at
    /// once instead of waiting when it reads a just-created CRD whose status has no conditions
    /// yet (`.status.conditions accessor error: <nil>`), which happens on a loaded machine; that
    /// answer is retried.
    pub async fn wait_crd_established(&self, name: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let out = self
                .kubectl()
                .args(["wait", "--for=condition=Established", "--timeout=60s"])
                .arg(format!("crd/{name}"))
                .output()
                .await
                .expect("run kubectl wait");
            if out.status.success() {
                return;
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let not_yet = stderr.contains("accessor error") || stderr.contains("NotFound");
            assert!(
                not_yet && std::time::Instant::now() < deadline,
                "crd/{name} not Established: {stderr}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Path of the kubectl binary in use.
    pub fn kubectl_path(&self) -> &Path {
        &self.kubectl
    }

    /// Creates a namespace named `<prefix>-<random>` (prefix lowercased, invalid characters
    /// replaced) and returns its name. One per test keeps tests of a binary apart.
    pub async fn create_namespace(&self, prefix: &str) -> String {
        let mut base: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        base.truncate(40);
        let base = base.trim_matches('-');
        let base = if base.is_empty() { "test" } else { base };
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "generateName": format!("{base}-") }
        }))
        .expect("valid namespace");
        let namespaces: kube::Api<Namespace> = kube::Api::all(self.admin_client().await);
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("envtest: creating namespace {base}-*: {e}"))
            .metadata
            .name
            .expect("created namespace has a name")
    }

    /// A kubeconfig authenticating as ServiceAccount `namespace/name` with a bound token from the
    /// TokenRequest API (24 h). Creates the ServiceAccount when absent; the namespace must exist.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let client = self.admin_client().await;
        let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(client, namespace);
        let account: ServiceAccount = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "namespace": namespace }
        }))
        .expect("valid service account");
        match accounts.create(&PostParams::default(), &account).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => panic!("envtest: creating ServiceAccount {namespace}/{name}: {e}"),
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: Vec::new(),
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            ..TokenRequest::default()
        };
        let token = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .unwrap_or_else(|e| panic!("envtest: TokenRequest for {namespace}/{name}: {e}"))
            .status
            .map(|s| s.token)
            .unwrap_or_else(|| panic!("envtest: TokenRequest for {namespace}/{name}: no token"));
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let path = self.unique_file(&format!("sa-{namespace}-{name}"), "kubeconfig");
        kubeconfig::write(
            &path,
            self.server_url(),
            &self.certs.serving_ca.cert_pem(),
            &user,
            Credentials::Token(&token),
        )
        .unwrap_or_else(|e| panic!("envtest: writing {}: {e}", path.display()));
        path
    }

    /// A kubeconfig authenticating as `user` in `groups` (at most two) with an x509 client
    /// certificate signed by the client CA.
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> PathBuf {
        let (cert, key) = self.certs.client_ca.issue_client(user, groups);
        let path = self.unique_file(&format!("user-{user}"), "kubeconfig");
        kubeconfig::write(
            &path,
            self.server_url(),
            &self.certs.serving_ca.cert_pem(),
            user,
            Credentials::ClientCert {
                cert_pem: &cert,
                key_pem: &key,
            },
        )
        .unwrap_or_else(|e| panic!("envtest: writing {}: {e}", path.display()));
        path
    }

    /// Registers an aggregated API server on 127.0.0.1 (ExternalName Service `localhost` +
    /// APIService with the caBundle), replacing an earlier registration of the same
    /// group/version; returns when the APIService is Available and its discovery answers
    /// through kube-apiserver (panics after a minute, with the APIService's conditions).
    pub async fn register_apiservice(&self, registration: ApiServiceRegistration<'_>) {
        aggregation::register(self.admin_client().await, &registration).await;
    }

    /// Mints a CA and a serving certificate for an aggregated server of `group`/`version`
    /// (covering localhost, 127.0.0.1 and the Service name the aggregator verifies), written
    /// to files in the temp dir: pass them to the server, and `ca_pem` to
    /// [`ApiServiceRegistration::new`].
    pub fn aggregated_serving_cert(&self, group: &str, version: &str) -> AggregatedServingCert {
        let ca = CertificateAuthority::new(&format!("envtest {version}.{group} serving CA"));
        let ca_pem = ca.cert_pem();
        let service_dns_name =
            ApiServiceRegistration::new(group, version, 0, &ca_pem).service_dns_name();
        let (cert, key) = ca.issue_serving(&["localhost", "127.0.0.1", &service_dns_name]);
        let stem = format!("serving-{version}.{group}");
        let cert_file = self.unique_file(&stem, "crt");
        let key_file = self.unique_file(&stem, "key");
        for (path, text) in [(&cert_file, &cert), (&key_file, &key)] {
            std::fs::write(path, text)
                .unwrap_or_else(|e| panic!("envtest: writing {}: {e}", path.display()));
        }
        AggregatedServingCert {
            ca_pem,
            cert_file,
            key_file,
        }
    }

    /// The CA kube-apiserver trusts for x509 client certificates (`--client-ca-file`).
    pub fn client_ca(&self) -> &CertificateAuthority {
        &self.certs.client_ca
    }

    /// The requestheader CA (`--requestheader-client-ca-file`); the aggregator's proxy client
    /// certificate (CN `front-proxy-client`) is signed by it.
    pub fn front_proxy_ca(&self) -> &CertificateAuthority {
        &self.certs.front_proxy_ca
    }

    /// The CA that signed kube-apiserver's serving certificate (for localhost, 127.0.0.1, ::1).
    pub fn serving_ca(&self) -> &CertificateAuthority {
        &self.certs.serving_ca
    }

    /// Path of the service-account signing key (ECDSA P-256, PKCS#8 PEM).
    pub fn service_account_key_file(&self) -> &Path {
        &self.certs.service_account_key_file
    }

    /// The service-account token issuer (`--service-account-issuer`).
    pub fn service_account_issuer(&self) -> &str {
        apiserver::SERVICE_ACCOUNT_ISSUER
    }

    /// `http://127.0.0.1:PORT` of this control plane's etcd.
    pub fn etcd_url(&self) -> &str {
        self.etcd.url()
    }

    /// The control plane's temp dir (logs: etcd.log, kube-apiserver.log,
    /// kube-controller-manager.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of kube-apiserver's log (for failure messages).
    pub fn apiserver_log_tail(&self, lines: usize) -> String {
        self.apiserver.process.log_tail(lines)
    }

    /// A new file path in the temp dir that no other call returns.
    pub fn unique_file(&self, stem: &str, extension: &str) -> PathBuf {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        self.dir
            .path()
            .join(format!("{}-{n}.{extension}", kubeconfig::file_safe(stem)))
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what` and
/// the last description `check` returned as its `Err`. For waits in tests against the real API server.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
