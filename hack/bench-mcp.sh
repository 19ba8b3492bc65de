#!/usr/bin/env bash
# What the MCP layer costs (not a test; a few minutes): tools/call list_workspaces over 1,000
# CoderWorkspaces and get_workspace through `coder-k8s --app=mcp-http`, against the same
# queries made directly with kube-rs in the same run; calls/s, p50, p99 and the ratios.
# Both go through envtest's kube-apiserver, the kube-aggregator and our aggregated apiserver
# (benches/mcp.rs says what exactly is measured).
# Env: BENCH_OBJECTS (1000), BENCH_CALLS_LIST (30), BENCH_CALLS_GET (300).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --quiet --bench mcp
