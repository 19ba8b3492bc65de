//! `--app` selection: the binary's exit codes and messages for bad usage, and dispatch reaching
//! the right runner with its flags.

use crate::our_binary;

use std::sync::{Arc, Mutex};

use clap::Parser;
use coder_k8s::apiserver::ApiserverArgs;
use coder_k8s::cli::{App, Cli, dispatch};
use coder_k8s::controller::ControllerArgs;
use coder_k8s::runners::{BoxFuture, Error, Runners};
use coder_k8s::shutdown::Shutdown;

#[test]
fn missing_app_exits_2_listing_the_valid_values() {
    let out = our_binary::bare().output().expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--app"), "{stderr}");
    assert!(
        stderr.contains("controller, aggregated-apiserver"),
        "{stderr}"
    );
}

#[test]
fn unknown_app_exits_2_listing_the_valid_values() {
    let out = our_binary::bare()
        .args(["--app", "scheduler"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'scheduler' for '--app <APP>'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[possible values: controller, aggregated-apiserver, mcp-http, all]"),
        "{stderr}"
    );
}

#[test]
fn unknown_flag_exits_2() {
    let out = our_binary::bare()
        .args(["--app", "controller", "--no-such-flag"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

#[test]
fn help_and_version_exit_0() {
    let help = our_binary::bare()
        .arg("--help")
        .output()
        .expect("run binary");
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--app <APP>") && text.contains("aggregated-apiserver"),
        "{text}"
    );
    let version = our_binary::bare()
        .arg("--version")
        .output()
        .expect("run binary");
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("coder-k8s {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn app_can_come_from_the_environment() {
    let ok = our_binary::bare()
        .env("CODER_K8S_APP", "controller")
        .arg("--help")
        .output()
        .expect("run binary");
    assert_eq!(ok.status.code(), Some(0));
    let out = our_binary::bare()
        .env("CODER_K8S_APP", "bogus")
        .output()
        .expect("run binary");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an invalid env value is a usage error too"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'bogus'"));
}

/// Records which runner ran, with the flags it got.
#[derive(Default, Clone)]
struct Recorder {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Runners for Recorder {
    fn controller(
        &self,
        args: ControllerArgs,
        _shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let calls = self.calls.clone();
        Box::pin(async move {
            calls
                .lock()
                .expect("lock")
                .push(format!("controller namespace={:?}", args.namespace));
            Ok(())
        })
    }

    fn apiserver(
        &self,
        args: ApiserverArgs,
        _shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let calls = self.calls.clone();
        Box::pin(async move {
            calls
                .lock()
                .expect("lock")
                .push(format!("apiserver port={}", args.secure_port));
            Ok(())
        })
    }

    fn mcp(
        &self,
        args: coder_k8s::mcp::McpArgs,
        kubeconfig: Option<std::path::PathBuf>,
        _shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let calls = self.calls.clone();
        Box::pin(async move {
            calls.lock().expect("lock").push(format!(
                "mcp address={} kubeconfig={kubeconfig:?}",
                args.mcp_bind_address
            ));
            Ok(())
        })
    }
}

#[tokio::test]
async fn each_app_reaches_its_own_runner_with_its_flags() {
    let runners = Recorder::default();
    let cli = Cli::try_parse_from(["coder-k8s", "--app", "controller", "--namespace", "coder"])
        .expect("parses");
    assert_eq!(cli.app, Some(App::Controller));
    dispatch(cli, &runners, Shutdown::new())
        .await
        .expect("runs");
    let cli = Cli::try_parse_from([
        "coder-k8s",
        "--app=aggregated-apiserver",
        "--secure-port",
        "8443",
    ])
    .expect("parses");
    dispatch(cli, &runners, Shutdown::new())
        .await
        .expect("runs");
    let cli = Cli::try_parse_from([
        "coder-k8s",
        "--app=mcp-http",
        "--mcp-bind-address=127.0.0.1:9090",
        "--kubeconfig=/tmp/kc",
    ])
    .expect("parses");
    dispatch(cli, &runners, Shutdown::new())
        .await
        .expect("runs");
    assert_eq!(
        *runners.calls.lock().expect("lock"),
        vec![
            "controller namespace=Some(\"coder\")".to_string(),
            "apiserver port=8443".to_string(),
            "mcp address=127.0.0.1:9090 kubeconfig=Some(\"/tmp/kc\")".to_string(),
        ]
    );
}

#[tokio::test]
async fn app_all_runs_the_controller_the_apiserver_and_the_mcp_server() {
    let runners = Recorder::default();
    let cli =
        Cli::try_parse_from(["coder-k8s", "--app=all", "--kubeconfig=/tmp/kc"]).expect("parses");
    dispatch(cli, &runners, Shutdown::new())
        .await
        .expect("runs");
    let mut calls = runners.calls.lock().expect("lock").clone();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            "apiserver port=6443".to_string(),
            "controller namespace=None".to_string(),
            "mcp address=0.0.0.0:8090 kubeconfig=Some(\"/tmp/kc\")".to_string(),
        ]
    );
}

#[tokio::test]
async fn dispatch_without_an_app_is_a_usage_error_and_runs_nothing() {
    let runners = Recorder::default();
    let cli = Cli::try_parse_from(["coder-k8s"]).expect("parses");
    let error = dispatch(cli, &runners, Shutdown::new())
        .await
        .expect_err("usage error");
    assert_eq!(error.exit_code(), 2);
    assert!(runners.calls.lock().expect("lock").is_empty());
}

/// Every boolean flag takes `--flag`, `--flag=true` and `--flag=false`, as Kubernetes components
/// do (manifests and Helm values pass the explicit form).
#[test]
fn boolean_flags_of_both_apps_take_explicit_values() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("coder-k8s").chain(args.iter().copied()))
            .map(|cli| (cli.controller.leader_elect, cli.apiserver.demo_data))
            .map_err(|e| e.to_string())
    };
    assert_eq!(parse(&["--app=controller"]), Ok((false, false)));
    assert_eq!(
        parse(&["--app=controller", "--leader-elect"]),
        Ok((true, false))
    );
    assert_eq!(
        parse(&["--app=controller", "--leader-elect=true"]),
        Ok((true, false))
    );
    assert_eq!(
        parse(&["--app=controller", "--leader-elect=false"]),
        Ok((false, false))
    );
    assert_eq!(
        parse(&["--app=aggregated-apiserver", "--demo-data"]),
        Ok((false, true))
    );
    assert_eq!(
        parse(&["--app=aggregated-apiserver", "--demo-data=true"]),
        Ok((false, true))
    );
    assert_eq!(
        parse(&["--app=aggregated-apiserver", "--demo-data=false"]),
        Ok((false, false))
    );
    let bad = parse(&["--app=controller", "--leader-elect=sometimes"]).unwrap_err();
    assert!(bad.contains("sometimes"), "{bad}");
}

/// The binary itself: `--leader-elect=false` and `CODER_K8S_LEADER_ELECT=false` get past flag
/// parsing (exit 1 on the unreadable kubeconfig, not 2 for bad usage).
#[test]
fn leader_elect_false_reaches_the_controller_from_flag_and_environment() {
    for (flag, env) in [
        (Some("--leader-elect=false"), None),
        (Some("--leader-elect=true"), None),
        (None, Some("false")),
        (None, Some("true")),
    ] {
        let mut cmd = our_binary::bare();
        cmd.env_remove("CODER_K8S_LEADER_ELECT").args([
            "--app=controller",
            "--kubeconfig=/nonexistent/kubeconfig",
            "--health-probe-bind-address=127.0.0.1:0",
            "--metrics-bind-address=127.0.0.1:0",
        ]);
        if let Some(flag) = flag {
            cmd.arg(flag);
        }
        if let Some(value) = env {
            cmd.env("CODER_K8S_LEADER_ELECT", value);
        }
        let out = cmd.output().expect("run binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag:?} {env:?}: {stderr}");
        assert!(
            stderr.contains("/nonexistent/kubeconfig"),
            "{flag:?} {env:?}: {stderr}"
        );
    }
}

/// In a pod stderr is a pipe: log lines must be plain text, without terminal colour codes.
#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    // A server nobody listens on: the controller starts, logs, and keeps retrying.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n\
         current-context: c\n",
    )
    .expect("write kubeconfig");
    let mut child = our_binary::bare()
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .args([
            "--app=controller",
            "--health-probe-bind-address=127.0.0.1:0",
            "--metrics-bind-address=127.0.0.1:0",
        ])
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn controller");
    std::thread::sleep(std::time::Duration::from_secs(2));
    child.kill().expect("kill controller");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let _ = child.wait();
    assert!(stderr.contains("serving /healthz"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI escape in: {stderr:?}");
}

/// The shared starter (tests/common/our_binary.rs): a process that exits while a test waits for
/// it to be ready fails the wait at once, naming the exit and quoting the process's log, rather
/// than running into the wait's limit with no clue.
#[tokio::test]
async fn a_process_of_ours_that_exits_fails_the_readiness_wait_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = our_binary::command("controller");
    cmd.arg("--kubeconfig=/nonexistent/kubeconfig");
    let mut process =
        our_binary::spawn_logging_to("coder-k8s controller", dir.path().join("log"), cmd);
    let limit = std::time::Duration::from_secs(60);
    let started = std::time::Instant::now();
    let waited = tokio::spawn(async move {
        process
            .wait_for_line("a line that never comes", limit, |_| None::<()>)
            .await
    })
    .await;
    let panic = waited.expect_err("the wait must fail").into_panic();
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("coder-k8s controller exited (exit status: 1)")
            && message.contains("while waiting for a line that never comes"),
        "{message}"
    );
    assert!(
        message.contains("loading the kubeconfig /nonexistent/kubeconfig"),
        "the log is quoted: {message}"
    );
    assert!(
        started.elapsed() < limit,
        "failed at the exit, not at the limit"
    );
}

/// The shared starter finds the `address=` field our apps log for what they bound, and stops a
/// process with SIGTERM, asserting a clean exit.
#[tokio::test]
async fn a_process_of_ours_reports_its_logged_address_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // The MCP server reads the kubeconfig lazily, so any well-formed one lets it start.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n\
         current-context: x\n",
    )
    .unwrap();
    let mut cmd = our_binary::command("mcp-http");
    cmd.env("RUST_LOG", "info")
        .arg("--mcp-bind-address=127.0.0.1:0")
        .arg("--mcp-plain-http")
        .arg(format!("--kubeconfig={}", kubeconfig.display()));
    let mut process =
        our_binary::spawn_logging_to("coder-k8s mcp-http", dir.path().join("log"), cmd);
    let limit = std::time::Duration::from_secs(60);
    let address: std::net::SocketAddr = process.logged_address("MCP server listening", limit).await;
    assert!(
        address.ip().is_loopback() && address.port() != 0,
        "{address}"
    );
    tokio::net::TcpStream::connect(address)
        .await
        .expect("the logged address accepts connections");
    let log = process.terminate_cleanly(limit).await;
    assert!(log.contains("MCP server listening"), "{log}");
}
