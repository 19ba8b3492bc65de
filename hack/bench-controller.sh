#!/usr/bin/env bash
# Controller benchmarks (BENCH_OBJECTS, default 1000, CoderControlPlanes each):
# 1. against the in-process fake API server: timings, reconciles/s, peak RSS;
# 2. against the envtest harness's real kube-apiserver v1.36 + etcd (no controller-manager):
#    time to converge, creation time vs. a no-controller baseline, reconciles/s, controller RSS
#    and CPU, API requests per object by verb, writes at steady state.
# `hack/bench-controller.sh real` runs only the second.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" != real ]]; then
  cargo bench --bench controller
fi
exec cargo bench --bench controller_envtest
