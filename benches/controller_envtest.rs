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
//! - API requests per object by verb (the controller's `api_requests_total` metric), 429s seen
//!   and the time requests waited for the client-side rate limit (`BENCH_QPS`, `BENCH_BURST`
//!   set `--kube-api-qps`, `--kube-api-burst`; `BENCH_CONCURRENCY` sets
//!   `--max-concurrent-reconciles`),
//! - writes at steady state (10 s after convergence; target 0),
//! - with `GO_CONTROLLER` (binary) and `GO_CRDS` (its CRD directory): the Go controller of
//!   coder/coder-k8s on the same harness and workload, as a baseline (create time beside it,
//!   converge time, CPU and RSS).
//!
//! Run: `cargo bench --bench controller_envtest` (or hack/bench-controller.sh).

#[path = "../tests/common/our_binary.rs"]
mod our_binary;

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

/// How many objects of kind `K` with `selector` live in `namespaces`.
async fn count<K>(client: &kube::Client, selector: &str, namespaces: &[String]) -> usize
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    api.list_metadata(&ListParams::default().labels(selector))
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|o| {
                    o.metadata
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| namespaces.contains(ns))
                })
                .count()
        })
        .unwrap_or(0)
}

/// CoderControlPlanes in `namespaces` with a status.
async fn statuses(client: &kube::Client, namespaces: &[String]) -> usize {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ccp_resource());
    api.list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|o| {
                    o.metadata
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| namespaces.contains(ns))
                })
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

/// What the controller's /metrics says about its load on the API server.
#[derive(Default)]
struct Scraped {
    /// `api_requests_total` by (verb, resource).
    requests: BTreeMap<(String, String), f64>,
    reconciles: f64,
    too_many_requests: f64,
    rate_limiter_wait_seconds: f64,
}

fn parse_metrics(text: &str) -> Scraped {
    let mut requests = BTreeMap::new();
    let mut reconciles = 0.0;
    let mut too_many_requests = 0.0;
    let mut rate_limiter_wait_seconds = 0.0;
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
        } else if let Some(v) =
            line.strip_prefix("coder_k8s_controller_api_too_many_requests_total ")
        {
            too_many_requests = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) =
            line.strip_prefix("coder_k8s_controller_api_rate_limiter_wait_seconds_sum ")
        {
            rate_limiter_wait_seconds = v.trim().parse().unwrap_or(0.0);
        }
    }
    Scraped {
        requests,
        reconciles,
        too_many_requests,
        rate_limiter_wait_seconds,
    }
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

async fn apply_crds(cp: &ControlPlane, path: &Path, crd: &str) {
    let apply = cp
        .kubectl()
        .args(["apply", "-f", &path.display().to_string()])
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
            &format!("crd/{crd}"),
        ])
        .output()
        .await
        .expect("kubectl wait");
    assert!(wait.status.success());
}

/// One controller's run: the same creation and convergence, measured the same way.
struct Phase {
    create: Duration,
    converged: Duration,
    cpu: f64,
    rss_mib: f64,
}

/// Creates `n` objects in fresh namespaces beside the running controller `pid` and waits
/// until every one has its Deployment, Service and status.
async fn converge(
    cp: &ControlPlane,
    client: &kube::Client,
    controller: &envtest::GuardedChild,
    prefix: &str,
    n: usize,
) -> Phase {
    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(cp.create_namespace(prefix).await);
    }
    let started = Instant::now();
    let create = create_all(client, &namespaces, "ccp", n).await;
    let selector = "app.kubernetes.io/managed-by=coder-k8s";
    loop {
        let deployments = count::<Deployment>(client, selector, &namespaces).await;
        let services = count::<Service>(client, selector, &namespaces).await;
        let done = statuses(client, &namespaces).await;
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
    let pid = controller.id();
    Phase {
        create,
        converged: started.elapsed(),
        cpu: cpu_seconds(pid).unwrap_or(0.0),
        rss_mib: proc_status(pid, "VmHWM:").unwrap_or(0.0) / 1024.0,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn bench(n: usize) {
    let cp: &ControlPlane = envtest::shared();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    apply_crds(
        cp,
        &root.join("generated/crds"),
        "codercontrolplanes.coder.com",
    )
    .await;
    let client = cp.admin_client().await;
    let load_before = load_average();

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

    // The controller (release build) with the admin kubeconfig; BENCH_QPS / BENCH_BURST
    // override its client-side rate limit (default: the flags' defaults).
    let mut cmd = our_binary::controller(cp.admin_kubeconfig(), "warn,coder_k8s=info");
    let mut limits = String::from("default limits");
    if let Ok(qps) = std::env::var("BENCH_QPS") {
        cmd.arg(format!("--kube-api-qps={qps}"));
        limits = format!("--kube-api-qps={qps}");
    }
    if let Ok(burst) = std::env::var("BENCH_BURST") {
        cmd.arg(format!("--kube-api-burst={burst}"));
        limits.push_str(&format!(" --kube-api-burst={burst}"));
    }
    if let Ok(concurrency) = std::env::var("BENCH_CONCURRENCY") {
        cmd.arg(format!("--max-concurrent-reconciles={concurrency}"));
        limits.push_str(&format!(" --max-concurrent-reconciles={concurrency}"));
    }
    let mut controller = our_binary::spawn(cp, "bench controller", "bench-controller", cmd);
    let metrics: SocketAddr = controller
        .logged_address("serving /metrics", Duration::from_secs(60))
        .await;
    let ours = converge(cp, &client, &controller, "bench", n).await;
    let at_converge = parse_metrics(&metrics_text(metrics).await);

    tokio::time::sleep(Duration::from_secs(10)).await;
    let steady = parse_metrics(&metrics_text(metrics).await);
    let _ = controller.stop(Duration::from_secs(30));
    let writes = |m: &BTreeMap<(String, String), f64>| -> f64 {
        m.iter()
            .filter(|((verb, _), _)| {
                matches!(verb.as_str(), "create" | "update" | "patch" | "delete")
            })
            .map(|(_, v)| v)
            .sum()
    };
    let steady_writes = writes(&steady.requests) - writes(&at_converge.requests);

    // The Go controller (coder/coder-k8s, controller-runtime) on the same harness and
    // workload, when GO_CONTROLLER names its binary and GO_CRDS the directory of the CRDs it
    // serves (it replaces ours for codercontrolplanes.coder.com: same group and kind).
    let go = match (std::env::var("GO_CONTROLLER"), std::env::var("GO_CRDS")) {
        (Ok(binary), Ok(crds)) => {
            apply_crds(cp, Path::new(&crds), "codercontrolplanes.coder.com").await;
            let log = cp.unique_file("bench-go-controller", "log");
            let mut cmd = Command::new(binary);
            // controller-runtime reads KUBECONFIG; leader election wants POD_NAMESPACE.
            cmd.arg("--app=controller")
                .env("KUBECONFIG", cp.admin_kubeconfig())
                .env("POD_NAMESPACE", "default")
                .stdin(Stdio::null());
            let mut go = envtest::spawn_guarded("go controller", cmd, Some(&log))
                .expect("start Go controller");
            let phase = converge(cp, &client, &go, "bench-go", n).await;
            let _ = go.stop(Duration::from_secs(30));
            Some(phase)
        }
        (Ok(_), Err(_)) => {
            eprintln!("GO_CONTROLLER is set but GO_CRDS is not: skipping the Go controller");
            None
        }
        _ => None,
    };

    let mut by_verb: BTreeMap<String, f64> = BTreeMap::new();
    for ((verb, _), value) in &at_converge.requests {
        *by_verb.entry(verb.clone()).or_default() += value;
    }
    let total: f64 = by_verb.values().sum();
    let base = baseline_create.as_secs_f64();
    println!(
        "controller against a real kube-apiserver v1.36 + etcd, {n} CoderControlPlanes, {CLIENT_THREADS} client threads, {limits}"
    );
    println!(
        "  load average before: {load_before}, after: {}",
        load_average()
    );
    println!("  create, no controller (baseline):  {base:.2} s");
    println!(
        "  create beside the controller:      {:.2} s ({:.2}x baseline)",
        ours.create.as_secs_f64(),
        ours.create.as_secs_f64() / base
    );
    println!(
        "  all Deployments + Services + status: {:.2} s after the first create",
        ours.converged.as_secs_f64()
    );
    let reconciles = at_converge.reconciles;
    println!(
        "  reconciles: {reconciles} ({:.2} per object, {:.0}/s)",
        reconciles / n as f64,
        reconciles / ours.converged.as_secs_f64()
    );
    println!(
        "  controller CPU: {:.1} s, peak RSS {:.0} MiB",
        ours.cpu, ours.rss_mib
    );
    println!(
        "  429s seen: {}, time waiting for the rate limit: {:.1} s (summed over requests)",
        at_converge.too_many_requests, at_converge.rate_limiter_wait_seconds
    );
    println!("  API requests per object: {:.2} total", total / n as f64);
    for (verb, value) in &by_verb {
        println!("    {verb:<8} {:.2}", value / n as f64);
    }
    for ((verb, resource), value) in &at_converge.requests {
        println!("      {verb:<8} {resource:<28} {value}");
    }
    println!("  writes in 10 s at steady state: {steady_writes}");
    if let Some(go) = go {
        println!("  Go controller (GO_CONTROLLER), same workload:");
        println!(
            "    create beside it: {:.2} s ({:.2}x baseline)",
            go.create.as_secs_f64(),
            go.create.as_secs_f64() / base
        );
        println!(
            "    converged: {:.2} s; ours / Go: {:.2}x",
            go.converged.as_secs_f64(),
            ours.converged.as_secs_f64() / go.converged.as_secs_f64()
        );
        println!("    CPU: {:.1} s, peak RSS {:.0} MiB", go.cpu, go.rss_mib);
    }
}
