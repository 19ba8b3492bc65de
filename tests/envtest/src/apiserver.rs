//! kube-apiserver (which is also the kube-aggregator) on 127.0.0.1 with the real RBAC authorizer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;

use crate::binaries::{Binary, locate};
use crate::certs::ControlPlaneCerts;
use crate::process::{GuardedChild, free_port, spawn_guarded};

const START_TIMEOUT: Duration = Duration::from_secs(120);
const LOG_TAIL_LINES: usize = 40;
pub(crate) const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A running kube-apiserver.
pub(crate) struct ApiServer {
    pub process: GuardedChild,
    pub url: String,
}

/// Inputs of [`start`].
pub(crate) struct ApiServerConfig<'a> {
    pub dir: &'a Path,
    pub etcd_url: &'a str,
    pub certs: &'a ControlPlaneCerts,
    pub admin_kubeconfig: &'a Path,
}

/// Starts kube-apiserver and waits until `/readyz` is 200 and the `default` namespace exists.
/// `write_admin_kubeconfig` is called with the server URL before polling (the port is only known
/// then). Panics with the log tail on failure.
pub(crate) fn start(
    config: &ApiServerConfig<'_>,
    write_admin_kubeconfig: impl Fn(&str),
) -> ApiServer {
    let log = config.dir.join("kube-apiserver.log");
    let mut last_error = String::new();
    // A free port can be taken by a concurrent test binary between probe and bind: retry.
    for _ in 0..3 {
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}");
        write_admin_kubeconfig(&url);
        let process = spawn_guarded("kube-apiserver", command(config, port), Some(&log))
            .unwrap_or_else(|e| panic!("envtest: cannot start kube-apiserver: {e}"));
        match crate::blocking::run(wait_ready(process, config.admin_kubeconfig, &log)) {
            Ok(process) => return ApiServer { process, url },
            Err(e) if e.contains("address already in use") => last_error = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{last_error}");
}

fn command(config: &ApiServerConfig<'_>, port: u16) -> Command {
    let certs = config.certs;
    let path = |p: &PathBuf| p.display().to_string();
    let mut cmd = Command::new(locate(Binary::KubeApiserver));
    cmd.arg(format!("--etcd-servers={}", config.etcd_url))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!(
            "--cert-dir={}",
            config.dir.join("apiserver-certs").display()
        ))
        .arg(format!(
            "--tls-cert-file={}",
            path(&certs.serving_cert_file)
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            path(&certs.serving_key_file)
        ))
        .arg(format!("--client-ca-file={}", path(&certs.client_ca_file)))
        .arg(format!(
            "--service-account-key-file={}",
            path(&certs.service_account_public_key_file)
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            path(&certs.service_account_key_file)
        ))
        .arg(format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"))
        .arg("--service-cluster-ip-range=10.0.0.0/16")
        .arg("--authorization-mode=Node,RBAC")
        .arg("--endpoint-reconciler-type=none")
        .arg("--allow-privileged=true")
        .arg("--profiling=false")
        // Aggregation: kube-apiserver proxies to APIServices as front-proxy-client.
        .arg(format!(
            "--requestheader-client-ca-file={}",
            path(&certs.front_proxy_ca_file)
        ))
        .arg("--requestheader-allowed-names=front-proxy-client")
        .arg("--requestheader-username-headers=X-Remote-User")
        .arg("--requestheader-group-headers=X-Remote-Group")
        .arg("--requestheader-extra-headers-prefix=X-Remote-Extra-")
        .arg(format!(
            "--proxy-client-cert-file={}",
            path(&certs.proxy_client_cert_file)
        ))
        .arg(format!(
            "--proxy-client-key-file={}",
            path(&certs.proxy_client_key_file)
        ))
        .arg("--enable-aggregator-routing=false")
        .stdin(std::process::Stdio::null());
    cmd
}

async fn wait_ready(
    mut process: GuardedChild,
    admin_kubeconfig: &Path,
    log: &Path,
) -> Result<GuardedChild, String> {
    let client = crate::kubeconfig::client_for(admin_kubeconfig).await;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = process.try_wait() {
            return Err(format!(
                "envtest: kube-apiserver exited during start-up ({status}); last lines of {}:\n{}",
                log.display(),
                process.log_tail(LOG_TAIL_LINES)
            ));
        }
        let ready = client
            .request_text(
                http::Request::get("/readyz")
                    .body(Vec::new())
                    .expect("valid request"),
            )
            .await;
        let last_answer = match ready {
            Ok(body) if body.trim() == "ok" => break,
            Ok(body) => body,
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "envtest: kube-apiserver not ready after {START_TIMEOUT:?} (last /readyz: {last_answer}); \
                 last lines of {}:\n{}",
                log.display(),
                process.log_tail(LOG_TAIL_LINES)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The bootstrap controller creates `default` shortly after readiness; tests put objects there.
    let namespaces: kube::Api<Namespace> = kube::Api::all(client);
    loop {
        if let Ok(Some(_)) = namespaces.get_opt("default").await {
            return Ok(process);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "envtest: namespace `default` never appeared; last lines of {}:\n{}",
                log.display(),
                process.log_tail(LOG_TAIL_LINES)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
