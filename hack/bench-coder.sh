#!/usr/bin/env bash
# Coder backend sync benchmark (not a test; about 6 minutes with the defaults): the envtest
# harness's kube-apiserver + etcd, NAMESPACES namespaces each backed by its own fake coderd
# (WORKSPACES workspaces, TEMPLATES templates), two replicas of our aggregated apiserver (the
# coder-k8s binary, as processes) on one etcd prefix, in two modes measured in the same run:
#   baseline  --coder-sync-leader-elect=false: every replica polls coderd (the old behaviour)
#   ours      only the Coder sync's Lease holder polls
# Per mode: coderd requests per minute at idle (total; per replica from each one's round
# counter), each replica's CPU ms per minute at idle, and the time from a stop made in coderd to
# its event in `kubectl get -w` against the second replica (p50/p99); then ours/baseline ratios.
# See examples/coder_sync_bench.rs.
#
# Env: NAMESPACES (10), WORKSPACES (100), TEMPLATES (2), INTERVAL (10s), IDLE_SECS (60),
# CHANGES (10), MODES ("baseline ours"), REPLICA_LOG (the replicas' RUST_LOG, e.g.
# warn,coder_k8s::apiserver::coder::sync=debug for each round's timings), KEEP_LOGS (set: keep
# the replicas' logs and print where), PROFILE (dev; release builds take long on a shared
# machine, and the figures are ratios between two modes of one build anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dev}
cargo build --quiet --profile "$PROFILE" --bin coder-k8s --example coder_sync_bench
dir=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
BIN=$PWD/$dir/coder-k8s exec "$dir/examples/coder_sync_bench"
