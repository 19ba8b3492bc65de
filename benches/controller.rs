//! Benchmark (not a test): reconcile N CoderControlPlanes (default 1,000; `BENCH_OBJECTS`)
//! against the in-process fake API server and report
//! - time until every object has its children and a first status,
//! - time until every object is Ready after all Deployments report ready,
//! - status writes per second over the whole run (unchanged reconciles send no request),
//! - peak RSS of the process (controller and fake API server together).
//!
//! Run: `cargo bench --bench controller` (or hack/bench-controller.sh).

#[path = "../tests/controller/support/fake_kube.rs"]
mod fake_kube;

use std::time::{Duration, Instant};

use coder_k8s::api::coder::v1alpha1::CoderControlPlane;
use coder_k8s::controller::{Settings, run_with_client};
use coder_k8s::shutdown::Shutdown;
use fake_kube::FakeKube;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const NAMESPACES: usize = 10;
const LIMIT: Duration = Duration::from_secs(600);

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn wait_all(
    fake: &FakeKube,
    n: usize,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let count = fake.count_where("coder.com", "codercontrolplanes", &done);
        if count >= n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < LIMIT,
            "gave up waiting for {what}: {count}/{n}"
        );
        // Polling holds the fake's store lock; keep it rare so it does not slow the controller.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn status_writes(fake: &FakeKube) -> usize {
    // A reconcile that finds nothing changed sends no request at all (children are compared in
    // the watch caches), so requests cannot count reconciles; status writes are what changed.
    fake.requests()
        .iter()
        .filter(|r| r.client == "controller" && r.subresource.as_deref() == Some("status"))
        .count()
}

fn main() {
    let n: usize = std::env::var("BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let fake = FakeKube::new();
        let shutdown = Shutdown::new();
        let controller = tokio::spawn(run_with_client(
            fake.client("controller"),
            Settings {
                instance: Some("bench".into()),
                ..Settings::default()
            },
            shutdown.clone(),
        ));
        let client = fake.client("bench");
        let start = Instant::now();
        futures::stream::iter(0..n)
            .map(|i| {
                let client = client.clone();
                async move {
                    let ns = format!("team-{}", i % NAMESPACES);
                    let api: Api<CoderControlPlane> = Api::namespaced(client, &ns);
                    let obj: CoderControlPlane = serde_json::from_value(json!({
                        "apiVersion": "coder.com/v1alpha1",
                        "kind": "CoderControlPlane",
                        "metadata": {"name": format!("coder-{i}"), "namespace": ns},
                        "spec": {"rbac": {"workspaceNamespaces": [format!("ws-{i}")]}},
                    }))
                    .expect("valid object");
                    api.create(&PostParams::default(), &obj)
                        .await
                        .expect("create");
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        let created = start.elapsed();
        let first_status = wait_all(&fake, n, "first status", |o| {
            o.pointer("/status/phase").is_some()
        })
        .await
            + created;

        let ready_start = Instant::now();
        futures::stream::iter(fake.list("apps", "deployments"))
            .map(|d| {
                let client = client.clone();
                async move {
                    let ns = d["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let name = d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
                    let api: Api<Deployment> = Api::namespaced(client, &ns);
                    api.patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": {
                            "observedGeneration": generation, "replicas": 1, "readyReplicas": 1,
                            "updatedReplicas": 1, "availableReplicas": 1,
                        }})),
                    )
                    .await
                    .expect("deployment status");
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        let marked = ready_start.elapsed();
        wait_all(&fake, n, "Ready", |o| {
            o.pointer("/status/phase") == Some(&json!("Ready"))
        })
        .await;
        let all_ready = ready_start.elapsed();
        let total = start.elapsed();
        let count = status_writes(&fake);
        shutdown.cancel();
        let _ = controller.await;

        println!("controller benchmark: {n} CoderControlPlanes in {NAMESPACES} namespaces");
        println!(
            "  all children + first status: {:.2} s",
            first_status.as_secs_f64()
        );
        println!(
            "  all Ready after Deployments reported ready: {:.2} s",
            all_ready.as_secs_f64()
        );
        println!(
            "    (of which marking {n} Deployments ready through the API took {:.2} s)",
            marked.as_secs_f64()
        );
        println!(
            "  status writes: {count} in {:.2} s = {:.0}/s",
            total.as_secs_f64(),
            count as f64 / total.as_secs_f64()
        );
        println!(
            "  API requests by the controller: {}",
            fake.requests()
                .iter()
                .filter(|r| r.client == "controller")
                .count()
        );
        let mut by_verb = std::collections::BTreeMap::<String, usize>::new();
        for r in fake.requests().iter().filter(|r| r.client == "controller") {
            *by_verb
                .entry(format!("{} {}", r.verb, r.resource))
                .or_default() += 1;
        }
        println!("  by verb and resource: {by_verb:?}");
        match peak_rss_mib() {
            Some(mib) => println!("  peak RSS (controller + fake API, one process): {mib:.0} MiB"),
            None => println!("  peak RSS: unavailable (no /proc)"),
        }
    });
}
