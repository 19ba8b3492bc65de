//! Our binary (`coder-k8s`, as cargo built it for these tests) started as a process, the one way
//! every test and benchmark does it: the flags every run of an app needs are written once here,
//! readiness is awaited with a bound (and a process that exits meanwhile fails the wait with its
//! log), the output goes to a log file the failure messages quote, and the process is killed
//! when its guard drops.
#![allow(dead_code)] // each test binary uses its own subset

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::Duration;

use envtest::{ControlPlane, GuardedChild};

/// The binary's path, for a test that hands it to another program (a client that runs it).
pub const PATH: &str = env!("CARGO_BIN_EXE_coder-k8s");

/// The binary with no arguments. `CODER_K8S_APP` of the environment is dropped: the app comes
/// only from what the test passes. For the command line's own tests and the subcommands.
pub fn bare() -> Command {
    let mut cmd = Command::new(PATH);
    cmd.env_remove("CODER_K8S_APP");
    cmd
}

/// `coder-k8s --app=<app>` with stdin closed.
pub fn command(app: &str) -> Command {
    let mut cmd = bare();
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

/// A running process of our binary; killed when dropped. Derefs to the guard for signals and
/// waits.
pub struct OurProcess {
    process: GuardedChild,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

/// Spawns `cmd` with its stdout and stderr in a new file of the control plane's directory
/// (named after `log_name`); `what` names the process in messages.
pub fn spawn(cp: &ControlPlane, what: &str, log_name: &str, cmd: Command) -> OurProcess {
    spawn_logging_to(what, cp.unique_file(log_name, "log"), cmd)
}

/// As [`spawn`], with its stdout and stderr in the file `log`.
pub fn spawn_logging_to(what: &str, log: PathBuf, cmd: Command) -> OurProcess {
    let process = envtest::spawn_guarded(what, cmd, Some(&log))
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    OurProcess { process, log }
}

impl Deref for OurProcess {
    type Target = GuardedChild;

    fn deref(&self) -> &GuardedChild {
        &self.process
    }
}

impl DerefMut for OurProcess {
    fn deref_mut(&mut self) -> &mut GuardedChild {
        &mut self.process
    }
}

impl OurProcess {
    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the log until `find` accepts a line, up to `limit`; panics with the log when the
    /// time runs out or the process exits first.
    pub async fn wait_for_line<T>(
        &mut self,
        waiting_for: &str,
        limit: Duration,
        find: impl Fn(&str) -> Option<T>,
    ) -> T {
        let find = &find;
        let log = &self.log;
        let process = &mut self.process;
        envtest::poll_until(waiting_for, limit, || {
            // Read the log after the exit check, so a process that exited has its last words in.
            let exited = process.try_wait().ok().flatten();
            let name = process.name().to_owned();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            async move {
                if let Some(status) = exited {
                    panic!("{name} exited ({status}) while waiting for {waiting_for}:\n{text}");
                }
                text.lines()
                    .find_map(find)
                    .ok_or_else(|| format!("not logged yet; log:\n{text}"))
            }
        })
        .await
    }

    /// The `address=` field of the first log line containing `message` (how our apps log what
    /// they bound), waited for as [`Self::wait_for_line`].
    pub async fn logged_address<T: FromStr>(&mut self, message: &str, limit: Duration) -> T {
        self.wait_for_line(message, limit, |line| {
            if !line.contains(message) {
                return None;
            }
            line.split_whitespace()
                .find_map(|word| word.strip_prefix("address="))
                .and_then(|address| address.parse().ok())
        })
        .await
    }

    /// SIGTERM, then up to `limit` for a successful exit; panics with the log otherwise.
    /// Returns the log.
    pub async fn terminate_cleanly(&mut self, limit: Duration) -> String {
        let name = self.process.name().to_owned();
        self.process
            .signal("TERM")
            .unwrap_or_else(|e| panic!("SIGTERM {name}: {e}"));
        let status: Option<ExitStatus> = self
            .process
            .wait_timeout_async(limit)
            .await
            .unwrap_or_else(|e| panic!("wait for {name}: {e}"));
        let text = self.log_text();
        let status = status.unwrap_or_else(|| panic!("{name} ignored SIGTERM:\n{text}"));
        assert!(status.success(), "{name} exit {status}:\n{text}");
        text
    }
}

/// A log line reporting an authorization refusal. kube-rs renders API errors as
/// `ErrorResponse { .., reason: "Forbidden", code: 403 }` and the status message says "is
/// forbidden"; a bare "403" would also match ports and addresses such as `127.0.0.1:40369`.
pub fn is_refusal(line: &str) -> bool {
    line.to_ascii_lowercase().contains("forbidden") || line.contains("code: 403")
}

/// The lines of `log` that report an authorization refusal.
pub fn refusals(log: &str) -> Vec<&str> {
    log.lines().filter(|line| is_refusal(line)).collect()
}
