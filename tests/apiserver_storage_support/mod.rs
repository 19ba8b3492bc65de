//! A standalone etcd for storage tests (loopback, free ports, temporary data dir, killed on
//! drop), until the envtest harness's `Etcd` is on main; same surface: start, url, kill, restart.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    url: String,
    peer_url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Etcd {
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("a temp dir for etcd");
        let mut etcd = Etcd {
            child: None,
            dir,
            url: format!("http://127.0.0.1:{}", free_port()),
            peer_url: format!("http://127.0.0.1:{}", free_port()),
        };
        etcd.spawn();
        etcd
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn spawn(&mut self) {
        let binary = std::env::var("KUBEBUILDER_ASSETS")
            .map(|d| format!("{d}/etcd"))
            .ok()
            .filter(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| "etcd".into());
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).expect("etcd log");
        let child = Command::new(&binary)
            .arg("--name=default")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={}", self.url))
            .arg(format!("--advertise-client-urls={}", self.url))
            .arg(format!("--listen-peer-urls={}", self.peer_url))
            .arg(format!("--initial-advertise-peer-urls={}", self.peer_url))
            .arg(format!("--initial-cluster=default={}", self.peer_url))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {binary} failed ({e}); install Debian's etcd-server")
            });
        self.child = Some(child);
        let addr = self.url.trim_start_matches("http://").to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "etcd did not listen on {addr} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
