//! The harness's process hygiene: guarded children and directories go away with the test process
//! even when it is SIGKILLed, and a standalone etcd survives kill/restart with its data.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn alive(pid: u32) -> bool {
    // A zombie still answers kill -0; /proc/<pid>/stat state `Z` means it is gone for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkilled_owner_takes_its_guarded_child_and_dir_along() {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_envtest-hold"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn envtest-hold");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read pid and dir");
    let (pid, dir) = line.trim().split_once(' ').expect("`<pid> <dir>`");
    let pid: u32 = pid.parse().expect("pid");
    let dir = Path::new(dir).to_path_buf();
    assert!(
        alive(pid),
        "guarded sleep {pid} should run while its owner lives"
    );
    assert!(
        dir.is_dir(),
        "{} should exist while its owner lives",
        dir.display()
    );

    holder.kill().expect("SIGKILL the owner");
    holder.wait().expect("reap the owner");

    wait_for(
        "guarded child to die after its owner's SIGKILL",
        Duration::from_secs(10),
        || !alive(pid),
    );
    wait_for(
        "guarded dir to be removed after its owner's SIGKILL",
        Duration::from_secs(15),
        || !dir.exists(),
    );
}

#[test]
fn dropping_a_guarded_child_kills_it_and_signals_reach_it() {
    let mut sleep = Command::new("sleep");
    sleep.arg("600");
    let mut child = envtest::spawn_guarded("sleep", sleep, None).expect("spawn");
    let pid = child.id();
    assert!(alive(pid));
    child.signal("STOP").expect("SIGSTOP");
    child.signal("CONT").expect("SIGCONT");
    drop(child);
    assert!(!alive(pid), "drop must kill and reap the child");

    let mut sh = Command::new("sh");
    sh.args(["-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done"]);
    let mut child = envtest::spawn_guarded("sh", sh, None).expect("spawn");
    std::thread::sleep(Duration::from_millis(200));
    let status = child.stop(Duration::from_secs(5)).expect("stop");
    assert_eq!(
        status.code(),
        Some(7),
        "SIGTERM first, so the child can shut down"
    );
    assert!(child.signal("TERM").is_err(), "no signals to a reaped pid");
}

/// One HTTP/1.0 request to etcd's JSON gateway.
fn etcd_post(url: &str, path: &str, body: &str) -> std::io::Result<String> {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn standalone_etcd_keeps_its_data_across_kill_and_restart() {
    // key "envtest" = ZW52dGVzdA==, value "kept" = a2VwdA==
    let mut etcd = envtest::Etcd::start();
    let url = etcd.url().to_string();
    let put = etcd_post(
        &url,
        "/v3/kv/put",
        r#"{"key":"ZW52dGVzdA==","value":"a2VwdA=="}"#,
    )
    .expect("put");
    assert!(put.starts_with("HTTP/1.0 200"), "put failed: {put}");

    etcd.kill();
    assert!(!etcd.is_running());
    assert!(
        etcd_post(&url, "/v3/kv/range", r#"{"key":"ZW52dGVzdA=="}"#).is_err(),
        "a killed etcd must not answer"
    );

    etcd.restart();
    assert_eq!(etcd.url(), url, "restart keeps the client URL");
    let got = etcd_post(&url, "/v3/kv/range", r#"{"key":"ZW52dGVzdA=="}"#).expect("range");
    assert!(got.contains("a2VwdA=="), "value lost across restart: {got}");

    let data_dir = etcd.data_dir().to_path_buf();
    drop(etcd);
    assert!(!data_dir.exists(), "drop removes the temp dir");
}

/// `envtest-hold locate <name>` with a controlled environment: (success, stdout, stderr).
fn locate(name: &str, assets: Option<&Path>, path: &str) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_envtest-hold"));
    cmd.args(["locate", name]).env("PATH", path);
    match assets {
        Some(dir) => cmd.env("KUBEBUILDER_ASSETS", dir),
        None => cmd.env_remove("KUBEBUILDER_ASSETS"),
    };
    let output = cmd.output().expect("run envtest-hold");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn binaries_come_from_kubebuilder_assets_first_and_missing_ones_are_named() {
    let assets = tempfile::tempdir().unwrap();
    let fake_etcd = assets.path().join("etcd");
    std::fs::write(&fake_etcd, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_etcd, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (ok, found, stderr) = locate("etcd", Some(assets.path()), "/usr/bin:/bin");
    assert!(ok, "{stderr}");
    assert_eq!(
        found,
        fake_etcd.display().to_string(),
        "KUBEBUILDER_ASSETS wins over PATH"
    );

    let empty = tempfile::tempdir().unwrap();
    let nowhere = empty.path().display().to_string();
    let (ok, _, stderr) = locate("etcd", None, &nowhere);
    assert!(!ok, "etcd cannot be found with an empty PATH");
    for expected in [
        "`etcd` not found",
        "$KUBEBUILDER_ASSETS (unset)",
        &nowhere,
        "apt-get install -y etcd-server",
        "setup-envtest use 1.36",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    // kube-apiserver falls back to shared/envtest beside (an ancestor of) the repository.
    let (ok, found, stderr) = locate("kube-apiserver", Some(empty.path()), &nowhere);
    assert!(ok, "{stderr}");
    assert!(found.ends_with("shared/envtest/kube-apiserver"), "{found}");

    let (ok, _, stderr) = locate("kubectl", Some(empty.path()), &nowhere);
    assert!(!ok);
    assert!(stderr.contains("`kubectl` not found"), "{stderr}");
    assert!(stderr.contains(&format!("{nowhere}/kubectl")), "{stderr}");
}
