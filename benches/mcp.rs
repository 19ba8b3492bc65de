//! Benchmark (not a test): what the MCP layer costs on top of a direct Kubernetes call.
//!
//! kube-apiserver (envtest) with our aggregated apiserver behind the kube-aggregator holds
//! `BENCH_OBJECTS` CoderWorkspaces (default 1,000) in one namespace. In the same run, one after
//! the other, each `BENCH_CALLS_LIST` (default 30) and `BENCH_CALLS_GET` (default 300) times,
//! one call at a time:
//! - direct: kube-rs `Api::<CoderWorkspace>::list(limit=1000)` / `get` as the envtest admin;
//! - MCP: `tools/call list_workspaces {namespace, limit: 1000}` / `get_workspace` over HTTP/1.1
//!   keep-alive to `coder-k8s --app=mcp-http` (release build), with a ServiceAccount bearer
//!   token (TokenReview cached for the default 10 s, calls impersonating the caller).
//!
//! Reports calls/s and p50/p99 latency of each, and the ratios MCP/direct. Both paths go
//! through the same kube-aggregator and aggregated apiserver; the MCP path adds the JSON-RPC
//! request, the token check, impersonation headers and the shaping of the answer.
//!
//! Run: `cargo bench --bench mcp` (or hack/bench-mcp.sh).

#[path = "../tests/common/aggregated_e2e.rs"]
mod aggregated_e2e;
#[path = "../tests/common/our_binary.rs"]
mod our_binary;
#[allow(dead_code)]
#[path = "../tests/mcp/support.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use coder_k8s::api::aggregation::v1alpha1::CoderWorkspace;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

/// Latencies of `calls` runs of `call`, after 3 unmeasured warm-up runs.
async fn measure<F, Fut, T>(calls: usize, mut call: F) -> (f64, Vec<Duration>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    for _ in 0..3 {
        call().await;
    }
    let mut latencies = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let one = Instant::now();
        call().await;
        latencies.push(one.elapsed());
    }
    let rate = calls as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (rate, latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn bench() {
    let objects = env_number("BENCH_OBJECTS", 1000);
    let list_calls = env_number("BENCH_CALLS_LIST", 30);
    let get_calls = env_number("BENCH_CALLS_GET", 300);
    let cp = envtest::ControlPlane::start();
    let _aggregated = aggregated_e2e::AggregatedServer::start_and_register(&cp).await;
    let admin = cp.admin_client().await;
    let ns = cp.create_namespace("mcp-bench").await;

    eprintln!("creating {objects} CoderWorkspaces in {ns}");
    let workspaces: kube::Api<CoderWorkspace> = kube::Api::namespaced(admin.clone(), &ns);
    let created = Instant::now();
    futures::stream::iter(0..objects)
        .map(|i| {
            let api = workspaces.clone();
            async move {
                let ws: CoderWorkspace = serde_json::from_value(json!({
                    "apiVersion": "aggregation.coder.com/v1alpha1", "kind": "CoderWorkspace",
                    "metadata": { "name": format!("ws-{i:04}") },
                    "spec": { "running": i % 2 == 0, "templateName": "docker" }
                }))
                .expect("workspace");
                api.create(&PostParams::default(), &ws)
                    .await
                    .expect("create workspace");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    eprintln!("created in {:.1}s", created.elapsed().as_secs_f64());

    let token = support::token(&cp, &ns, "bench").await;
    support::bind_cluster_role(&cp, &ns, "bench", "cluster-admin").await;
    let mcp = support::start_mcp(&cp, &[]).await;
    let url: hyper::Uri = mcp.url().parse().expect("MCP URL");
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let call_tool = |tool: &'static str, arguments: Value| {
        let http = http.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            let body = json!({
                "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": tool, "arguments": arguments }
            })
            .to_string();
            let request = hyper::Request::post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-06-18")
                .header("authorization", format!("Bearer {token}"))
                .body(Full::new(Bytes::from(body)))
                .expect("request");
            let response = http.request(request).await.expect("MCP call");
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("MCP body")
                .to_bytes();
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            let result = &answer["result"];
            assert!(
                status.is_success() && result["isError"] == false,
                "{status}: {answer}"
            );
            result["structuredContent"].clone()
        }
    };

    // Both paths return the same objects.
    let listed = call_tool("list_workspaces", json!({ "namespace": ns, "limit": 1000 })).await;
    let direct = workspaces
        .list(&ListParams::default().limit(1000))
        .await
        .expect("direct list");
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(direct.items.len().min(1000))
    );

    let list_params = ListParams::default().limit(1000);
    let (direct_list_rate, direct_list) = measure(list_calls, || {
        let api = workspaces.clone();
        let params = list_params.clone();
        async move {
            api.list(&params).await.expect("direct list");
        }
    })
    .await;
    let (mcp_list_rate, mcp_list) = measure(list_calls, || {
        call_tool("list_workspaces", json!({ "namespace": ns, "limit": 1000 }))
    })
    .await;
    let (direct_get_rate, direct_get) = measure(get_calls, || {
        let api = workspaces.clone();
        async move {
            api.get("ws-0500").await.expect("direct get");
        }
    })
    .await;
    let (mcp_get_rate, mcp_get) = measure(get_calls, || {
        call_tool(
            "get_workspace",
            json!({ "namespace": ns, "name": "ws-0500" }),
        )
    })
    .await;

    println!("MCP benchmark: {objects} CoderWorkspaces, one call at a time");
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "", "calls/s", "p50 ms", "p99 ms"
    );
    let row = |name: &str, rate: f64, lat: &[Duration]| {
        println!(
            "{name:<34} {rate:>10.1} {:>10.2} {:>10.2}",
            percentile(lat, 0.5),
            percentile(lat, 0.99)
        );
    };
    row("list 1000, kube-rs direct", direct_list_rate, &direct_list);
    row("list 1000, MCP list_workspaces", mcp_list_rate, &mcp_list);
    row("get, kube-rs direct", direct_get_rate, &direct_get);
    row("get, MCP get_workspace", mcp_get_rate, &mcp_get);
    println!(
        "ratio MCP/direct  list: calls/s {:.2}, p99 {:.2}   get: calls/s {:.2}, p99 {:.2}",
        mcp_list_rate / direct_list_rate,
        percentile(&mcp_list, 0.99) / percentile(&direct_list, 0.99),
        mcp_get_rate / direct_get_rate,
        percentile(&mcp_get, 0.99) / percentile(&direct_get, 0.99),
    );
}
