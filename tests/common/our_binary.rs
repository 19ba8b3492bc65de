//! Our binary (`coder-k8s`, as cargo built it for these tests) started as a process the way the
//! end-to-end tests run it: the flags every controller run needs are written once here, so a new
//! required flag or a changed default is changed in one place.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use envtest::{ControlPlane, GuardedChild};

/// `coder-k8s --app=<app>` with stdin closed.
pub fn command(app: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coder-k8s"));
    cmd.arg(format!("--app={app}")).stdin(Stdio::null());
    cmd
}

/// `--app=controller` against `kubeconfig` only (a `KUBECONFIG` of the environment is dropped),
/// probes and metrics on loopback port 0 (the controller logs the addresses it bound), logging
/// at `rust_log`. The caller adds its own flags.
pub fn controller(kubeconfig: &Path, rust_log: &str) -> Command {
    let mut cmd = command("controller");
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--health-probe-bind-address=127.0.0.1:0")
        .arg("--metrics-bind-address=127.0.0.1:0")
        .env("RUST_LOG", rust_log)
        .env_remove("KUBECONFIG");
    cmd
}

/// Spawns `cmd` with its stdout and stderr in a new file of the control plane's directory
/// (named after `log_name`); the process is killed when the returned guard drops.
pub fn spawn(
    cp: &ControlPlane,
    what: &str,
    log_name: &str,
    cmd: Command,
) -> (GuardedChild, PathBuf) {
    let log = cp.unique_file(log_name, "log");
    let process = envtest::spawn_guarded(what, cmd, Some(&log))
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    (process, log)
}
