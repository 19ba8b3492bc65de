//! kube-controller-manager: garbage collection, namespace deletion, service-account tokens,
//! Deployments → ReplicaSets → Pods. Handed out only once its controllers demonstrably run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};

use crate::binaries::{Binary, locate};
use crate::certs::ControlPlaneCerts;
use crate::process::{GuardedChild, free_port, spawn_guarded};

/// Its controllers start about 10 s after /healthz on two idle cores; leave room for a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const LOG_TAIL_LINES: usize = 40;

/// Inputs of [`start`].
pub(crate) struct ControllerManagerConfig<'a> {
    pub dir: &'a Path,
    pub certs: &'a ControlPlaneCerts,
    /// Client-cert kubeconfig for CN=system:kube-controller-manager.
    pub kubeconfig: &'a Path,
    /// Admin kubeconfig, used to probe that the controllers work.
    pub admin_kubeconfig: &'a Path,
}

/// Starts kube-controller-manager and waits until the service-account controller fills a fresh
/// namespace and the namespace controller finalizes its deletion. Panics with the log tail on
/// failure.
pub(crate) fn start(config: &ControllerManagerConfig<'_>) -> GuardedChild {
    let log = config.dir.join("kube-controller-manager.log");
    let certs = config.certs;
    let kubeconfig = config.kubeconfig.display().to_string();
    let mut cmd = Command::new(locate(Binary::KubeControllerManager));
    cmd.arg(format!("--kubeconfig={kubeconfig}"))
        .arg(format!("--authentication-kubeconfig={kubeconfig}"))
        .arg(format!("--authorization-kubeconfig={kubeconfig}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={}", free_port()))
        .arg(format!(
            "--cert-dir={}",
            config.dir.join("kcm-certs").display()
        ))
        // This fork's extra controller needs OpenShift's service CA; everything else runs.
        .arg("--controllers=*,-service-ca-certificate-publisher-controller")
        .arg(format!(
            "--service-account-private-key-file={}",
            certs.service_account_key_file.display()
        ))
        .arg(format!(
            "--root-ca-file={}",
            certs.serving_ca_file.display()
        ))
        .arg(format!(
            "--cluster-signing-cert-file={}",
            certs.client_ca_file.display()
        ))
        .arg(format!(
            "--cluster-signing-key-file={}",
            certs.client_ca_key_file.display()
        ))
        .arg("--use-service-account-credentials")
        .arg("--leader-elect=false")
        .arg("--profiling=false")
        .stdin(std::process::Stdio::null());
    let process = spawn_guarded("kube-controller-manager", cmd, Some(&log))
        .unwrap_or_else(|e| panic!("envtest: cannot start kube-controller-manager: {e}"));
    match crate::blocking::run(wait_working(process, config.admin_kubeconfig, &log)) {
        Ok(process) => process,
        Err(e) => panic!("{e}"),
    }
}

async fn wait_working(
    mut process: GuardedChild,
    admin_kubeconfig: &Path,
    log: &Path,
) -> Result<GuardedChild, String> {
    let client = crate::kubeconfig::client_for(admin_kubeconfig).await;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let probe: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "generateName": "envtest-kcm-probe-" }
    }))
    .expect("valid namespace");
    let name = namespaces
        .create(&PostParams::default(), &probe)
        .await
        .map_err(|e| format!("envtest: creating the kube-controller-manager probe namespace: {e}"))?
        .metadata
        .name
        .unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    let fail = |process: &mut GuardedChild, what: &str| -> String {
        let exited = match process.try_wait() {
            Ok(Some(status)) => format!(" (it exited: {status})"),
            _ => String::new(),
        };
        format!(
            "envtest: kube-controller-manager{exited}: {what}; last lines of {}:\n{}",
            log.display(),
            process.log_tail(LOG_TAIL_LINES)
        )
    };

    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(client, &name);
    loop {
        if let Ok(Some(_)) = process.try_wait() {
            return Err(fail(&mut process, "exited during start-up"));
        }
        if let Ok(Some(_)) = accounts.get_opt("default").await {
            break;
        }
        if Instant::now() >= deadline {
            let what = format!("no `default` ServiceAccount in {name} after {START_TIMEOUT:?}");
            return Err(fail(&mut process, &what));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .map_err(|e| format!("envtest: deleting probe namespace {name}: {e}"))?;
    loop {
        if let Ok(None) = namespaces.get_opt(&name).await {
            return Ok(process);
        }
        if Instant::now() >= deadline {
            let what = format!("namespace {name} not finalized after {START_TIMEOUT:?}");
            return Err(fail(&mut process, &what));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
