//! CRD kinds beside CoderControlPlane and their controllers, against a real kube-apiserver and
//! kube-controller-manager (the envtest harness) and the fake coderd. One module per kind;
//! helpers every module needs live here: the modules share one control plane, so what they
//! install there is installed once, here (concurrent `kubectl apply` of one new object races
//! into AlreadyExists).

#[path = "../common/objects.rs"]
mod objects;
#[path = "../common/our_binary.rs"]
mod our_binary;
#[path = "../common/recording_client.rs"]
mod recording_client;

mod control_plane_helm;
mod provisioner;
mod workspace_proxy;

use std::sync::OnceLock;

use envtest::ControlPlane;

/// Applies every CRD in generated/crds/ once per test binary (tests run in parallel, and
/// concurrent `kubectl apply` of a new object races into AlreadyExists), then waits until
/// `names` are established.
pub async fn install_crds(cp: &ControlPlane, names: &[&str]) {
    static APPLIED: OnceLock<Result<(), String>> = OnceLock::new();
    let applied = APPLIED.get_or_init(|| {
        let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/generated/crds");
        // Discovery is cached per run: ports (and so cache keys) are reused across runs.
        let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new(cp.kubectl_path())
            .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
            .arg(format!("--cache-dir={}", cache.path().display()))
            .args(["apply", "-f", crds])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(error) = applied {
        panic!("kubectl apply -f generated/crds: {error}");
    }
    for name in names {
        cp.wait_crd_established(name).await;
    }
}

/// deploy/controller's namespace, ServiceAccount and RBAC, applied once per test binary; returns
/// a kubeconfig of that ServiceAccount, so a 403 anywhere shows as a controller that never
/// converges.
pub async fn deployed_service_account(cp: &ControlPlane) -> std::path::PathBuf {
    static APPLIED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let applied = APPLIED.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/controller");
        let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
        for file in [
            "00-namespace.yaml",
            "10-serviceaccount.yaml",
            "20-rbac.yaml",
        ] {
            let out = std::process::Command::new(cp.kubectl_path())
                .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
                .arg(format!("--cache-dir={}", cache.path().display()))
                .args(["apply", "-f"])
                .arg(root.join(file))
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        Ok(())
    });
    if let Err(error) = applied {
        panic!("applying deploy/controller RBAC: {error}");
    }
    cp.service_account_kubeconfig("coder-system", "coder-k8s-controller")
        .await
}
