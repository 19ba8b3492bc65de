//! Shared by the e2e tests that put our aggregated apiserver behind the real kube-aggregator of
//! the envtest harness: start the binary once per test binary, register it with an APIService,
//! and run the real kubectl with a deadline. A test binary that includes this file includes
//! `our_binary.rs` as the module `our_binary` too.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use envtest::{ApiServiceRegistration, ControlPlane};
use tokio::io::AsyncWriteExt;

pub const GROUP: &str = "aggregation.coder.com";
pub const VERSION: &str = "v1alpha1";
/// kubectl calls through the aggregator; generous for a busy two-core machine.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// Our server process, registered as `v1alpha1.aggregation.coder.com`.
pub struct AggregatedServer {
    _process: crate::our_binary::OurProcess,
    pub port: u16,
    /// The server's stdout and stderr (its logs).
    pub log: PathBuf,
}

impl AggregatedServer {
    /// Starts our binary with the harness's serving certificate and delegated authentication
    /// and authorization against the control plane (the production default), then registers
    /// it and waits until the APIService is Available.
    pub async fn start_and_register(cp: &ControlPlane) -> AggregatedServer {
        Self::start_and_register_with(cp, &[]).await
    }

    /// As [`Self::start_and_register`], with extra flags (e.g. `--coder-backend=enabled`).
    pub async fn start_and_register_with(cp: &ControlPlane, extra: &[&str]) -> AggregatedServer {
        let serving = cp.aggregated_serving_cert(GROUP, VERSION);
        let admin = cp.admin_kubeconfig().display().to_string();

        // Port 0: the server binds a free port itself (no race with other test binaries) and
        // logs its URL.
        let mut cmd = crate::our_binary::command("aggregated-apiserver");
        cmd.arg("--bind-address=127.0.0.1")
            .arg("--secure-port=0")
            .arg(format!("--tls-cert-file={}", serving.cert_file.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                serving.key_file.display()
            ))
            .arg(format!("--authentication-kubeconfig={admin}"))
            .arg(format!("--authorization-kubeconfig={admin}"))
            .args(extra);
        let mut process = crate::our_binary::spawn(
            cp,
            "coder-k8s aggregated-apiserver",
            "aggregated-apiserver",
            cmd,
        );

        const LISTENING: &str = "listening on https://127.0.0.1:";
        let port: u16 = process
            .wait_for_line("our server to listen", Duration::from_secs(30), |line| {
                line.split_once(LISTENING)
                    .and_then(|(_, port)| port.trim().parse().ok())
            })
            .await;
        let log = process.log.clone();
        cp.register_apiservice(ApiServiceRegistration::new(
            GROUP,
            VERSION,
            port,
            &serving.ca_pem,
        ))
        .await;
        AggregatedServer {
            _process: process,
            port,
            log,
        }
    }
}

/// Runs kubectl (admin) with a deadline; returns (success, stdout, stderr).
pub async fn kubectl(
    cp: &ControlPlane,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut cmd = cp.kubectl();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kubectl");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    let output = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} hung for {KUBECTL_TIMEOUT:?}"))
        .expect("kubectl output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// kubectl that must succeed; returns stdout.
pub async fn kubectl_ok(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, stdout, stderr) = kubectl(cp, args, stdin).await;
    assert!(ok, "kubectl {args:?} failed:\n{stderr}\n{stdout}");
    stdout
}
