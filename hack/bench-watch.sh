#!/usr/bin/env bash
# Watch fan-out benchmark alone (not a test; ~1 minute per run and server): WATCHERS TLS
# connections each watching namespace `watch`, WATCH_EVENTS merge patches 200 ms apart, latency
# per (watcher, event) from just before the PATCH to the frame's arrival, measured by one client
# (examples/apiserver_bench.rs) against, in turn:
#   ours      the aggregated apiserver (BIN_DIR, default: built here)
#   baseline  another build of it (BASE_DIR holding coder-k8s; optional), e.g. main's
#   ceiling   examples/watch_ceiling.rs: bare rustls+hyper sending one shared frame to every
#             open chunked response; the floor of this machine for the same traffic
# Runs alternate between the servers (RUNS rounds) so a noisy neighbour hits all of them alike.
# Per run: the per-event spread, then one line with p50/p99/max and the server's and the
# client's CPU milliseconds per event (from /proc/<pid>/task/*/schedstat while events flow).
# Server pinned to CPU 0, client to CPU 1, as in hack/bench.sh.
#
# Env: WATCHERS (1000), WATCH_EVENTS (20), RUNS (3), BIN_DIR (a directory holding coder-k8s,
# apiserver_bench and watch_ceiling: skip the build), SKIP_BUILD (use target/release as it is),
# BASE_DIR, PORT (18653),
# SERVERS (space-separated subset of "baseline ours ceiling").
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/bench.sh

WATCHERS=${WATCHERS:-1000}
WATCH_EVENTS=${WATCH_EVENTS:-20}
RUNS=${RUNS:-3}
PORT=${PORT:-18653}

if [ -z "${BIN_DIR:-}" ] && [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --quiet --bin coder-k8s --example apiserver_bench --example watch_ceiling
fi
BIN=${BIN_DIR:-target/release}/coder-k8s
HELPER=${BIN_DIR:-target/release/examples}/apiserver_bench
CEILING=${BIN_DIR:-target/release/examples}/watch_ceiling
SERVERS=${SERVERS:-"${BASE_DIR:+baseline }ours ceiling"}

URL="https://127.0.0.1:$PORT"
TARGET_PATH="/apis/aggregation.coder.com/v1alpha1/namespaces/watch/coderworkspaces/target"

start() { # which → SERVER_PID, $WORK/ca.pem
  case $1 in
    ours | baseline)
      local bin=$BIN
      if [ "$1" = baseline ]; then bin=$BASE_DIR/coder-k8s; fi
      "${PIN_SERVER[@]}" "$bin" --app aggregated-apiserver --authentication=none --bind-address 127.0.0.1 \
        --secure-port "$PORT" --write-kubeconfig "$WORK/kubeconfig" >"$WORK/server.log" 2>&1 &
      SERVER_PID=$!
      wait_for "$URL/readyz"
      grep 'certificate-authority-data' "$WORK/kubeconfig" | awk '{print $2}' | base64 -d >"$WORK/ca.pem"
      ;;
    ceiling)
      "${PIN_SERVER[@]}" "$CEILING" "$PORT" "$WORK/object.json" "$WORK/ca.pem" >"$WORK/server.log" 2>&1 &
      SERVER_PID=$!
      wait_for "$URL/"
      ;;
  esac
}

stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# The ceiling serves the object our server stores for the watch target, so its frames have
# the same size: make it once from a short run against ours.
start ours
"${PIN_LOAD[@]}" "$HELPER" watch "$URL" "$WORK/ca.pem" 1 1 >/dev/null
curl -ksf "$URL$TARGET_PATH" >"$WORK/object.json"
stop
echo "frame object: $(wc -c <"$WORK/object.json") bytes"

declare -A LINES
for run in $(seq 1 "$RUNS"); do
  for which in $SERVERS; do
    start "$which"
    echo "== $which, run $run"
    out=$(WATCH_SERVER_PID=$SERVER_PID "${PIN_LOAD[@]}" "$HELPER" watch "$URL" "$WORK/ca.pem" "$WATCHERS" "$WATCH_EVENTS")
    echo "$out"
    LINES[$which]+="$(tail -1 <<<"$out")"$'\n'
    stop
  done
done

echo
echo "## Watch fan-out ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $WATCHERS watchers x $WATCH_EVENTS events, $RUNS runs each)"
echo
echo "| server | run | p50 ms | p99 ms | max ms | server CPU ms/event | client CPU ms/event |"
echo "|---|---|---|---|---|---|---|"
for which in $SERVERS; do
  n=0
  while read -r line; do
    [ -n "$line" ] || continue
    n=$((n + 1))
    field() { tr ' ' '\n' <<<"$line" | awk -F= -v k="$1" '$1 == k {print $2}'; }
    echo "| $which | $n | $(field p50_ms) | $(field p99_ms) | $(field max_ms) | $(field server_cpu_ms_per_event) | $(field client_cpu_ms_per_event) |"
  done <<<"${LINES[$which]}"
done
