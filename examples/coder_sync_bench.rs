//! The Coder sync's cost at idle and its latency, for `hack/bench-coder.sh` (not a test).
//!
//! Against the envtest control plane (kube-apiserver + etcd on loopback): NAMESPACES namespaces,
//! each with a CoderControlPlane pointing at its own fake coderd holding WORKSPACES workspaces
//! and TEMPLATES templates. For each mode two replicas of our server (the `coder-k8s` binary at
//! $BIN, as processes) share one etcd prefix:
//!   baseline  --coder-sync-leader-elect=false: every replica polls (the behaviour before the Lease)
//!   ours      the default: only the Lease holder polls
//! and once both serve every workspace and a few rounds have settled, it measures over IDLE_SECS:
//! coderd requests per minute (total, and per replica from each replica's round counter), and
//! each replica's CPU per minute (all its threads' schedstat); then CHANGES times: a workspace is
//! stopped in a fake coderd and the time until `kubectl get -w` on the *second* replica prints an
//! event for it. Figures are printed per mode and as ratios ours/baseline.
//!
//! Env: BIN (required), NAMESPACES (10), WORKSPACES (100), TEMPLATES (2), INTERVAL (10s),
//! IDLE_SECS (60), CHANGES (10), MODES ("baseline ours"), REPLICA_LOG (the replicas' RUST_LOG,
//! warn), KEEP_LOGS (set: keep the replicas' logs and print where).

#[path = "../tests/common/coder_backend_support.rs"]
mod coder_backend_support;
#[path = "../tests/common/objects.rs"]
mod objects;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use coder_backend_support::{CoderNamespace, ORG, OWNER, coder_namespace};
use envtest::ControlPlane;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Replica {
    child: Child,
    kubeconfig: PathBuf,
}

impl Replica {
    async fn start(
        bin: &Path,
        cp: &ControlPlane,
        dir: &Path,
        name: &str,
        prefix: &str,
        interval: &str,
        leader_elect: bool,
    ) -> Replica {
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(bin)
            .args([
                "--app=aggregated-apiserver",
                "--authentication=none",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--storage=etcd",
                "--coder-backend=enabled",
                "--coder-sync-leader-election-namespace=default",
            ])
            .arg(format!(
                "--authentication-kubeconfig={}",
                cp.admin_kubeconfig().display()
            ))
            .arg(format!("--write-kubeconfig={}", kubeconfig.display()))
            .arg(format!("--etcd-servers={}", cp.etcd_url()))
            .arg(format!("--etcd-prefix={prefix}"))
            .arg(format!("--coder-sync-interval={interval}"))
            .arg(format!("--coder-sync-leader-elect={leader_elect}"))
            .env(
                "RUST_LOG",
                std::env::var("REPLICA_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start coder-k8s");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !kubeconfig.exists() {
            assert!(
                Instant::now() < deadline,
                "{name} wrote no kubeconfig in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Replica { child, kubeconfig }
    }

    async fn client(&self) -> kube::Client {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig parses");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kubeconfig loads");
        kube::Client::try_from(config).expect("client")
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// CPU time of all threads so far (schedstat's first field, nanoseconds).
    fn cpu(&self) -> Duration {
        let mut total = 0u64;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) {
            for task in tasks.flatten() {
                let stat =
                    std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
                total += stat
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        Duration::from_nanos(total)
    }

    async fn metrics(&self) -> String {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .expect("request");
        self.client()
            .await
            .request_text(request)
            .await
            .unwrap_or_default()
    }

    /// Rounds this replica made, over all namespaces.
    async fn rounds(&self) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with("coder_k8s_apiserver_coder_sync_rounds_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn workspaces(&self) -> usize {
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::all_with(self.client().await, &coder_backend_support::workspaces());
        api.list(&Default::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(0)
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(40), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

struct Figures {
    requests_per_minute: f64,
    per_replica_per_minute: [f64; 2],
    cpu_ms_per_minute: [f64; 2],
    p50: Duration,
    p99: Duration,
    missed: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    bin: &Path,
    cp: &ControlPlane,
    coders: &[(CoderNamespace, Vec<uuid::Uuid>)],
    mode: &str,
    interval: &str,
    idle: Duration,
    changes: usize,
    first_change: usize,
) -> Figures {
    let mut dir = tempfile::tempdir().expect("tempdir");
    // KEEP_LOGS: the replicas' logs (with REPLICA_LOG=debug, the sync's per-round timings) stay.
    if std::env::var_os("KEEP_LOGS").is_some() {
        dir.disable_cleanup(true);
        println!("{mode}: replica logs in {}", dir.path().display());
    }
    let prefix = format!("/bench-coder/{mode}-{}", std::process::id());
    let leader_elect = mode != "baseline";
    let replicas = [
        Replica::start(bin, cp, dir.path(), "a", &prefix, interval, leader_elect).await,
        Replica::start(bin, cp, dir.path(), "b", &prefix, interval, leader_elect).await,
    ];
    let expected: usize = coders.iter().map(|(_, ids)| ids.len()).sum();
    let interval_d = coder_k8s::apiserver::duration::parse_duration(interval).expect("INTERVAL");
    let deadline = Instant::now() + Duration::from_secs(600);
    for replica in &replicas {
        while replica.workspaces().await < expected {
            assert!(Instant::now() < deadline, "{mode}: the mirror never filled");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // A few rounds so that statuses written by the first ones have settled.
    tokio::time::sleep(interval_d * 2).await;

    // Idle.
    for (coder, _) in coders {
        coder.fake.clear_requests();
    }
    let cpu_before = [replicas[0].cpu(), replicas[1].cpu()];
    let rounds_before = [replicas[0].rounds().await, replicas[1].rounds().await];
    let started = Instant::now();
    tokio::time::sleep(idle).await;
    let elapsed = started.elapsed();
    let requests: usize = coders.iter().map(|(c, _)| c.fake.requests().len()).sum();
    let cpu_after = [replicas[0].cpu(), replicas[1].cpu()];
    let rounds_after = [replicas[0].rounds().await, replicas[1].rounds().await];
    let per_minute = |x: f64| x * 60.0 / elapsed.as_secs_f64();
    let rounds = [
        rounds_after[0] - rounds_before[0],
        rounds_after[1] - rounds_before[1],
    ];
    let all_rounds = (rounds[0] + rounds[1]).max(1.0);
    let per_round = requests as f64 / all_rounds;

    // Latency: changes in coderd against `kubectl get -w` on replica b.
    let mut watch = Command::new(cp.kubectl_path())
        .arg(format!("--kubeconfig={}", replicas[1].kubeconfig.display()))
        .args([
            "get",
            "coderworkspaces.aggregation.coder.com",
            "-A",
            "-w",
            "--output-watch-events",
            "-o",
            "name",
            "--watch-only",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if lines_tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    let mut missed = 0;
    for i in 0..changes {
        let (coder, ids) = &coders[i % coders.len()];
        let index = first_change + i / coders.len();
        let name = format!("{ORG}.{OWNER}.ws-{index}");
        while lines.try_recv().is_ok() {}
        let changed = Instant::now();
        coder
            .fake
            .admin()
            .stop_workspace(ids[index])
            .expect("stop in coderd");
        let wait = tokio::time::timeout(interval_d * 3, async {
            while let Some((at, line)) = lines.recv().await {
                if line.ends_with(&format!("/{name}")) {
                    return Some(at);
                }
            }
            None
        })
        .await;
        match wait {
            Ok(Some(at)) => latencies.push(at.duration_since(changed)),
            _ => missed += 1,
        }
        // The next change lands at a fresh phase of the sync cycle (golden-ratio steps over one
        // interval), so the latencies sample every phase rather than always the same one: a
        // fixed pause after each event put every change at the same point after a round.
        let phase = ((i + 1) as f64 * 0.618_034).fract();
        tokio::time::sleep(interval_d.mul_f64(phase)).await;
    }
    let _ = watch.kill().await;
    latencies.sort();
    let [a, b] = replicas;
    a.stop().await;
    b.stop().await;
    Figures {
        requests_per_minute: per_minute(requests as f64),
        per_replica_per_minute: [
            per_minute(rounds[0] * per_round),
            per_minute(rounds[1] * per_round),
        ],
        cpu_ms_per_minute: [
            per_minute((cpu_after[0] - cpu_before[0]).as_secs_f64() * 1000.0),
            per_minute((cpu_after[1] - cpu_before[1]).as_secs_f64() * 1000.0),
        ],
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        missed,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bin = PathBuf::from(std::env::var("BIN").expect("BIN: path of the coder-k8s binary"));
    let namespaces: usize = env_or("NAMESPACES", 10);
    let workspaces: usize = env_or("WORKSPACES", 100);
    let templates: usize = env_or("TEMPLATES", 2);
    let interval: String = env_or("INTERVAL", "10s".to_string());
    let idle = Duration::from_secs(env_or("IDLE_SECS", 60));
    let changes: usize = env_or("CHANGES", 10);
    let modes: String = env_or("MODES", "baseline ours".to_string());

    let cp = envtest::shared();
    let mut coders = Vec::new();
    for _ in 0..namespaces {
        let coder = coder_namespace(cp, "bench-coder").await;
        let admin = coder.fake.admin();
        let mut template_ids = Vec::new();
        for t in 0..templates {
            template_ids.push(
                admin
                    .create_template_with_files(
                        ORG,
                        &format!("t-{t}"),
                        &[("main.tf", "terraform {}\n")],
                    )
                    .expect("template"),
            );
        }
        let ids: Vec<uuid::Uuid> = (0..workspaces)
            .map(|w| {
                admin
                    .create_workspace(
                        OWNER,
                        &format!("ws-{w}"),
                        template_ids[w % template_ids.len()],
                    )
                    .expect("workspace")
            })
            .collect();
        coders.push((coder, ids));
    }
    // Past the sync's create grace (3 s), and the fake's first builds finished.
    tokio::time::sleep(Duration::from_secs(4)).await;
    println!(
        "coder sync: {namespaces} namespaces x {workspaces} workspaces, {} templates, 2 replicas on one etcd, interval {interval}, idle {} s, {changes} changes",
        namespaces * templates,
        idle.as_secs()
    );
    let mut results = Vec::new();
    for (m, mode) in modes.split_whitespace().enumerate() {
        // Each mode stops workspaces of its own.
        let first_change = m * changes.div_ceil(namespaces);
        let figures = measure(
            &bin,
            cp,
            &coders,
            mode,
            &interval,
            idle,
            changes,
            first_change,
        )
        .await;
        println!(
            "{mode:>9}: coderd requests/min {:.0} (replica a {:.0}, b {:.0}); CPU ms/min a {:.0}, b {:.0}; change -> kubectl get -w p50 {:.2}s p99 {:.2}s ({} of {changes} not seen within 3 intervals)",
            figures.requests_per_minute,
            figures.per_replica_per_minute[0],
            figures.per_replica_per_minute[1],
            figures.cpu_ms_per_minute[0],
            figures.cpu_ms_per_minute[1],
            figures.p50.as_secs_f64(),
            figures.p99.as_secs_f64(),
            figures.missed,
        );
        results.push((mode.to_string(), figures));
    }
    if let (Some((_, base)), Some((_, ours))) = (
        results.iter().find(|(m, _)| m == "baseline"),
        results.iter().find(|(m, _)| m == "ours"),
    ) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        println!(
            "    ratio ours/baseline: coderd requests/min {:.3}; CPU/min (both replicas) {:.3}; latency p50 {:.2}, p99 {:.2}",
            ratio(ours.requests_per_minute, base.requests_per_minute),
            ratio(
                ours.cpu_ms_per_minute[0] + ours.cpu_ms_per_minute[1],
                base.cpu_ms_per_minute[0] + base.cpu_ms_per_minute[1]
            ),
            ratio(ours.p50.as_secs_f64(), base.p50.as_secs_f64()),
            ratio(ours.p99.as_secs_f64(), base.p99.as_secs_f64()),
        );
    }
}
