#!/usr/bin/env bash
# Controller benchmarks (BENCH_OBJECTS, default 1000, CoderControlPlanes each):
# 1. against the in-process fake API server: timings, reconciles/s, peak RSS;
# 2. against the envtest harness's real kube-apiserver v1.36 + etcd (no controller-manager):
#    time to converge, creation time vs. a no-controller baseline, reconciles/s, controller RSS
#    and CPU, API requests per object by verb, 429s seen, time spent waiting for the client-side
#    rate limit, writes at steady state, and the load average.
# `hack/bench-controller.sh real` runs only the second.
# BENCH_QPS / BENCH_BURST pass --kube-api-qps / --kube-api-burst and BENCH_CONCURRENCY passes
# --max-concurrent-reconciles (default: the flags' defaults).
# GO_CONTROLLER=path/to/coder-k8s-go GO_CRDS=path/to/its/config/crd/bases adds the Go controller
# (coder/coder-k8s, controller-runtime) as a baseline on the same harness and workload.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" != real ]]; then
  cargo bench --bench controller
fi
exec cargo bench --bench controller_envtest
