//! Benchmark (not a test): the controller binary against the envtest harness's real
//! kube-apiserver v1.36 + etcd (no kube-controller-manager), as in issue 12's side-by-side:
//! N CoderControlPlanes (default 1,000; `BENCH_OBJECTS`) with the default spec, created by 8
//! client threads, until every one has its Deployment and Service and a status.
//!
//! Reports, with a baseline measured in the same run (creating the same objects with no
//! controller running):
//! - time to converge, and creation time beside the controller vs. the baseline (how much the
//!   controller's request load slows the API server for everyone),
//! - reconciles/s, controller peak RSS and CPU seconds,
//! - API requests per object by verb (the controller's `api_requests_total` metric),
//! - writes at steady state (10 s after convergence; target 0).
//!
//! Run: `cargo bench --bench controller_envtest` (or hack/bench-controller.sh).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::json;

const CLIENT_THREADS: usize = 8;
const NAMESPACES: usize = 10;
const LIMIT: Duration = Duration::from_secs(900);

fn main() {
    let n: usize = std::env::var("BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_THREADS)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench(n));
}

fn ccp_resource() -> ApiResource {
    ApiResource {
        group: "coder.com".into(),
        version: "v1alpha1".into(),
        api_version: "coder.com/v1alpha1".into(),
        kind: "CoderControlPlane".into(),
        plural: "codercontrolplanes".into(),
    }
}

/// Creates `n` default CoderControlPlanes spread over `namespaces` with 8 concurrent clients.
async fn create_all(
    client: &kube::Client,
    namespaces: &[String],
    prefix: &str,
    n: usize,
) -> Duration {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CLIENT_THREADS {
        let client = client.clone();
        let namespaces = namespaces.to_vec();
        let next = next.clone();
        let prefix = prefix.to_string();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let ns = &namespaces[i % namespaces.len()];
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), ns, &ccp_resource());
                let obj: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "coder.com/v1alpha1",
                    "kind": "CoderControlPlane",
                    "metadata": {"name": format!("{prefix}-{i}"), "namespace": ns},
                    "spec": {},
                }))
                .expect("object");
                api.create(&PostParams::default(), &obj)
                    .await
                    .expect("create");
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    started.elapsed()
}

async fn count<K>(client: &kube::Client, selector: &str) -> usize
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    api.list_metadata(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

async fn statuses(client: &kube::Client) -> usize {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ccp_resource());
    api.list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|o| o.data.pointer("/status/observedGeneration").is_some())
                .count()
        })
        .unwrap_or(0)
}

async fn metrics_text(address: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    text
}

/// `api_requests_total` by (verb, resource), and the reconcile count.
fn parse_metrics(text: &str) -> (BTreeMap<(String, String), f64>, f64) {
    let mut requests = BTreeMap::new();
    let mut reconciles = 0.0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("coder_k8s_controller_api_requests_total{") {
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            let value: f64 = value.trim().parse().unwrap_or(0.0);
            requests.insert((label("verb"), label("resource")), value);
        } else if let Some(v) = line.strip_prefix("coder_k8s_controller_reconciles_total ") {
            reconciles = v.trim().parse().unwrap_or(0.0);
        }
    }
    (requests, reconciles)
}

fn proc_status(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn logged_address(log: &Path, message: &str) -> SocketAddr {
    envtest::poll_until(message, Duration::from_secs(60), || async move {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains(message))
            .find_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("address="))
                    .and_then(|a| a.parse().ok())
            })
            .ok_or_else(|| "not yet".to_string())
    })
    .await
}

async fn bench(n: usize) {
    let cp: &ControlPlane = envtest::shared();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let apply = cp
        .kubectl()
        .args([
            "apply",
            "-f",
            &root.join("generated/crds").display().to_string(),
        ])
        .output()
        .await
        .expect("kubectl apply");
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let wait = cp
        .kubectl()
        .args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/codercontrolplanes.coder.com",
        ])
        .output()
        .await
        .expect("kubectl wait");
    assert!(wait.status.success());
    let client = cp.admin_client().await;

    // Baseline: the same creation with no controller running.
    let mut base_ns = Vec::new();
    for _ in 0..NAMESPACES {
        base_ns.push(cp.create_namespace("bench-base").await);
    }
    let baseline_create = create_all(&client, &base_ns, "base", n).await;
    for ns in &base_ns {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ccp_resource());
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .expect("delete baseline objects");
    }

    // The controller (release build) with the admin kubeconfig.
    let log = cp.unique_file("bench-controller", "log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coder-k8s"));
    cmd.arg("--app=controller")
        .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
        .arg("--health-probe-bind-address=127.0.0.1:0")
        .arg("--metrics-bind-address=127.0.0.1:0")
        .env("RUST_LOG", "warn,coder_k8s=info")
        .stdin(Stdio::null());
    let mut controller =
        envtest::spawn_guarded("bench controller", cmd, Some(&log)).expect("start controller");
    let pid = controller.id();
    let metrics = logged_address(&log, "serving /metrics").await;
    let probes = logged_address(&log, "serving /healthz and /readyz").await;
    let _ = probes;

    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(cp.create_namespace("bench").await);
    }
    let started = Instant::now();
    let create = create_all(&client, &namespaces, "ccp", n).await;
    let selector = "app.kubernetes.io/managed-by=coder-k8s";
    loop {
        let deployments = count::<Deployment>(&client, selector).await;
        let services = count::<Service>(&client, selector).await;
        let done = statuses(&client).await;
        if deployments >= n && services >= n && done >= n {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "gave up: {deployments} Deployments, {services} Services, {done} statuses of {n}\n{}",
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converged = started.elapsed();
    let cpu_converged = cpu_seconds(pid).unwrap_or(0.0);
    let (at_converge, reconciles) = parse_metrics(&metrics_text(metrics).await);

    tokio::time::sleep(Duration::from_secs(10)).await;
    let (steady, _) = parse_metrics(&metrics_text(metrics).await);
    let writes = |m: &BTreeMap<(String, String), f64>| -> f64 {
        m.iter()
            .filter(|((verb, _), _)| {
                matches!(verb.as_str(), "create" | "update" | "patch" | "delete")
            })
            .map(|(_, v)| v)
            .sum()
    };
    let steady_writes = writes(&steady) - writes(&at_converge);
    let rss = proc_status(pid, "VmHWM:").unwrap_or(0.0) / 1024.0;

    let mut by_verb: BTreeMap<String, f64> = BTreeMap::new();
    for ((verb, _), value) in &at_converge {
        *by_verb.entry(verb.clone()).or_default() += value;
    }
    let total: f64 = by_verb.values().sum();
    println!(
        "controller against a real kube-apiserver v1.36 + etcd, {n} CoderControlPlanes, {CLIENT_THREADS} client threads"
    );
    println!(
        "  create, no controller (baseline):  {:.2} s",
        baseline_create.as_secs_f64()
    );
    println!(
        "  create beside the controller:      {:.2} s ({:.2}x baseline)",
        create.as_secs_f64(),
        create.as_secs_f64() / baseline_create.as_secs_f64()
    );
    println!(
        "  all Deployments + Services + status: {:.2} s after the first create",
        converged.as_secs_f64()
    );
    println!(
        "  reconciles: {reconciles} ({:.2} per object, {:.0}/s)",
        reconciles / n as f64,
        reconciles / converged.as_secs_f64()
    );
    println!("  controller CPU: {cpu_converged:.1} s, peak RSS {rss:.0} MiB");
    println!("  API requests per object: {:.2} total", total / n as f64);
    for (verb, value) in &by_verb {
        println!("    {verb:<8} {:.2}", value / n as f64);
    }
    for ((verb, resource), value) in &at_converge {
        println!("      {verb:<8} {resource:<28} {value}");
    }
    println!("  writes in 10 s at steady state: {steady_writes}");
    let _ = controller.stop(Duration::from_secs(30));
}
