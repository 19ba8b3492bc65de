#!/usr/bin/env bash
# Controller benchmark: reconcile BENCH_OBJECTS (default 1000) CoderControlPlanes against the
# in-process fake API server; prints timings, reconciles/s and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench controller "$@"
