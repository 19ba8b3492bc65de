//! etcd on loopback: free ports, data in a (guarded) temp dir, healthy before it is handed out.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::binaries::{Binary, locate};
use crate::process::{GuardedChild, GuardedDir, free_port, spawn_guarded};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const LOG_TAIL_LINES: usize = 30;

/// One etcd member. Standalone ([`Etcd::start`]) it owns its temp dir; killed and its dir removed
/// on drop (and when the test process exits, however).
pub struct Etcd {
    _own_dir: Option<GuardedDir>,
    data_dir: PathBuf,
    log: PathBuf,
    client_port: u16,
    peer_port: u16,
    url: String,
    /// Flags added to every start (e.g. `--max-request-bytes`).
    extra_args: Vec<String>,
    /// Serving TLS on the client URL (and requiring client certificates): health is then
    /// probed on a plain-HTTP metrics port.
    tls: bool,
    health_port: u16,
    process: Option<GuardedChild>,
}

impl Etcd {
    /// A standalone etcd for storage tests. Panics (with etcd's log tail) when it does not
    /// become healthy within a minute.
    pub fn start() -> Etcd {
        Etcd::start_with_args(&[])
    }

    /// A standalone etcd with extra flags, e.g. `--max-request-bytes=65536`.
    pub fn start_with_args(args: &[&str]) -> Etcd {
        let dir =
            GuardedDir::create("coder-k8s-etcd-").expect("envtest: creating a temp dir for etcd");
        let mut etcd = Etcd::start_in_with_args(dir.path(), args);
        etcd._own_dir = Some(dir);
        etcd
    }

    /// A standalone etcd serving `https://` with a certificate of `ca` for 127.0.0.1, and
    /// requiring client certificates signed by `ca` (`--client-cert-auth`).
    pub fn start_tls(ca: &crate::CertificateAuthority) -> Etcd {
        let dir =
            GuardedDir::create("coder-k8s-etcd-").expect("envtest: creating a temp dir for etcd");
        let (cert, key) = ca.issue_serving(&["127.0.0.1", "localhost"]);
        let files = [
            ("ca.pem", ca.cert_pem()),
            ("server.pem", cert),
            ("server-key.pem", key),
        ];
        for (name, pem) in &files {
            std::fs::write(dir.path().join(name), pem).expect("envtest: writing etcd's TLS files");
        }
        let path = |name: &str| dir.path().join(name).display().to_string();
        let args = [
            format!("--trusted-ca-file={}", path("ca.pem")),
            format!("--cert-file={}", path("server.pem")),
            format!("--key-file={}", path("server-key.pem")),
            "--client-cert-auth".to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut etcd = Etcd::start_in_with(dir.path(), &args, true);
        etcd._own_dir = Some(dir);
        etcd
    }

    /// etcd with its data dir and log inside `dir` (the control plane's directory).
    pub(crate) fn start_in(dir: &Path) -> Etcd {
        Etcd::start_in_with_args(dir, &[])
    }

    fn start_in_with_args(dir: &Path, args: &[&str]) -> Etcd {
        Etcd::start_in_with(dir, args, false)
    }

    fn start_in_with(dir: &Path, args: &[&str], tls: bool) -> Etcd {
        let mut etcd = Etcd {
            _own_dir: None,
            data_dir: dir.join("etcd-data"),
            log: dir.join("etcd.log"),
            client_port: 0,
            peer_port: 0,
            url: String::new(),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            tls,
            health_port: 0,
            process: None,
        };
        // Free ports can be taken by a concurrent test binary between probe and bind: retry.
        let mut last_error = String::new();
        for _ in 0..3 {
            etcd.client_port = free_port();
            etcd.peer_port = free_port();
            let scheme = if etcd.tls { "https" } else { "http" };
            etcd.url = format!("{scheme}://127.0.0.1:{}", etcd.client_port);
            etcd.health_port = if etcd.tls {
                free_port()
            } else {
                etcd.client_port
            };
            match etcd.spawn_and_wait() {
                Ok(()) => return etcd,
                Err(e) if e.contains("address already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{last_error}");
    }

    /// `http://127.0.0.1:PORT` (`https://` from [`Etcd::start_tls`]), the client URL (same
    /// across restarts).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The data directory (kept across [`Etcd::kill`] / [`Etcd::restart`]).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// etcd's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(p) => matches!(p.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL, as a crash would; the data dir stays. No-op when not running.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
        }
    }

    /// Starts etcd again on the same ports and data dir (killing it first if it runs), and waits
    /// until it is healthy. Panics with the log tail when it does not come back.
    pub fn restart(&mut self) {
        self.kill();
        let mut last_error = String::new();
        for _ in 0..5 {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) if e.contains("address already in use") => {
                    last_error = e;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{last_error}");
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new(locate(Binary::Etcd));
        cmd.arg("--name=envtest")
            .arg(format!("--data-dir={}", self.data_dir.display()))
            .arg(format!("--listen-client-urls={}", self.url))
            .arg(format!("--advertise-client-urls={}", self.url))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=envtest={peer}"))
            .arg("--initial-cluster-state=new")
            // Tests write little; small snapshots and no quota noise keep restarts quick.
            .arg("--snapshot-count=10000")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .args(&self.extra_args)
            .stdin(std::process::Stdio::null());
        if self.tls {
            cmd.arg(format!(
                "--listen-metrics-urls=http://127.0.0.1:{}",
                self.health_port
            ));
        }
        let mut process = spawn_guarded("etcd", cmd, Some(&self.log))
            .map_err(|e| format!("envtest: cannot start etcd: {e}"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = process.try_wait() {
                return Err(format!(
                    "envtest: etcd exited during start-up ({status}); last lines of {}:\n{}",
                    self.log.display(),
                    process.log_tail(LOG_TAIL_LINES)
                ));
            }
            if healthy(self.health_port) {
                self.process = Some(process);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let tail = process.log_tail(LOG_TAIL_LINES);
                drop(process);
                return Err(format!(
                    "envtest: etcd not healthy at {} after {START_TIMEOUT:?}; last lines of {}:\n{tail}",
                    self.url,
                    self.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Etcd {
    /// The process goes before its directory does.
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /health` answers `"health":"true"`.
fn healthy(port: u16) -> bool {
    let probe = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut body = String::new();
        stream.read_to_string(&mut body)?;
        Ok(body.contains("\"health\":\"true\""))
    };
    probe().unwrap_or(false)
}
