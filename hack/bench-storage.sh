#!/usr/bin/env bash
# Storage benchmark of the aggregated apiserver (not a test; a few minutes): the same workload
# against --storage=memory and --storage=etcd (watch cache on) in one run, reported as ratios.
#
#   creates/s          OBJECTS creates from 16 connections (apiserver_bench seed)
#   GET one object     wrk c=16: req/s and requests per server CPU-second
#   LIST all objects   wrk c=1: p50/p99 (etcd: served by the watch cache)
#   watch fan-out      WATCHERS watchers, WATCH_EVENTS events: delivery p99
#   RSS                after a LIST storm (STORM LISTs of all objects, 8 at a time): 1 s after,
#                      and 11 s after (the allocator's unused pages go back to the OS then)
#
# Method as hack/bench.sh: server pinned to CPU 0 (etcd shares it), load on CPU 1, loopback TLS.
# Env: DURATION (5), OBJECTS (10000), WATCHERS (1000), WATCH_EVENTS (20), STORM (200),
# BIN_DIR (a directory holding coder-k8s and apiserver_bench: skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/bench.sh

DURATION=${DURATION:-5}
OBJECTS=${OBJECTS:-10000}
WATCHERS=${WATCHERS:-1000}
WATCH_EVENTS=${WATCH_EVENTS:-20}
STORM=${STORM:-200}
PORT=${PORT:-18453}

for tool in wrk etcd; do
  if ! command -v "$tool" >/dev/null; then
    pkg=$tool; [ "$tool" = etcd ] && pkg=etcd-server
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  fi
done

if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --quiet --bin coder-k8s --example apiserver_bench
fi
BIN=${BIN_DIR:-target/release}/coder-k8s
HELPER=${BIN_DIR:-target/release/examples}/apiserver_bench

to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else print v }'
}
wrk_run() { # pid connections url -> "req/s p50 p99 req_per_cpu_s"
  local pid=$1 c=$2 url=$3 out before after
  before=$(cpu_ticks "$pid")
  out=$("${PIN_LOAD[@]}" wrk -t1 -c"$c" -d"${DURATION}"s --latency "$url")
  after=$(cpu_ticks "$pid")
  if grep -q "Non-2xx" <<<"$out"; then echo "wrk saw errors: $out" >&2; fi
  local rps p50 p99 total
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v n="$total" -v t="$((after - before))" -v hz="$CLK_TCK" 'BEGIN { if (t > 0) printf "%.0f", n / (t / hz); else print "nan" }')"
}

ETCD_PORT=$((PORT + 100))
"${PIN_SERVER[@]}" etcd --name bench --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "bench=http://127.0.0.1:$((ETCD_PORT + 1))" >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!; PIDS+=("$ETCD_PID")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null && break; sleep 0.1; done

declare -A CREATES GET LIST WATCH RSS SETTLED
OBJ_PATH="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces/bench-00000"
LIST_PATH="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces"
for backend in memory etcd; do
  echo "== $backend"
  extra=()
  [ "$backend" = etcd ] && extra=(--storage etcd --etcd-servers "http://127.0.0.1:$ETCD_PORT")
  "${PIN_SERVER[@]}" "$BIN" --app aggregated-apiserver --authentication=none --bind-address 127.0.0.1 --secure-port "$PORT" \
    --write-kubeconfig "$WORK/kubeconfig-$backend" "${extra[@]}" >"$WORK/server-$backend.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  URL="https://127.0.0.1:$PORT"
  wait_for "$URL/readyz"
  grep 'certificate-authority-data' "$WORK/kubeconfig-$backend" | awk '{print $2}' | base64 -d >"$WORK/ca.pem"
  CREATES[$backend]=$("${PIN_LOAD[@]}" "$HELPER" seed "$URL" "$WORK/ca.pem" "$OBJECTS" | sed -E 's/.*\(([0-9]+) creates\/s\)/\1/')
  echo "creates/s: ${CREATES[$backend]}"
  curl -ks "$URL$LIST_PATH" >/dev/null # warm the watch cache
  GET[$backend]=$(wrk_run "$pid" 16 "$URL$OBJ_PATH"); echo "GET c=16: ${GET[$backend]}"
  LIST[$backend]=$(wrk_run "$pid" 1 "$URL$LIST_PATH"); echo "LIST c=1: ${LIST[$backend]}"
  WATCH[$backend]=$("${PIN_LOAD[@]}" "$HELPER" watch "$URL" "$WORK/ca.pem" "$WATCHERS" "$WATCH_EVENTS" | tail -1 | sed -E 's/.*p99_ms=([0-9.]+).*/\1/')
  echo "watch p99 ms: ${WATCH[$backend]}"
  seq 1 "$STORM" | xargs -P 8 -I{} curl -ks -o /dev/null "$URL$LIST_PATH"
  sleep 1
  RSS[$backend]=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  sleep 10
  SETTLED[$backend]=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  echo "RSS after $STORM LISTs: ${RSS[$backend]} MiB, 10 s later ${SETTLED[$backend]} MiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
read -r gm_rps _ _ gm_cpu <<<"${GET[memory]}"; read -r ge_rps _ _ ge_cpu <<<"${GET[etcd]}"
read -r _ lm_p50 lm_p99 _ <<<"${LIST[memory]}"; read -r _ le_p50 le_p99 _ <<<"${LIST[etcd]}"
echo
echo "## Storage results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $OBJECTS objects, wrk ${DURATION}s)"
echo
echo "| | memory | etcd (+watch cache) | etcd / memory |"
echo "|---|---|---|---|"
echo "| creates/s (16 connections) | ${CREATES[memory]} | ${CREATES[etcd]} | $(ratio "${CREATES[etcd]}" "${CREATES[memory]}") |"
echo "| GET req/s c=16 | $gm_rps | $ge_rps | $(ratio "$ge_rps" "$gm_rps") |"
echo "| GET req per server CPU-s | $gm_cpu | $ge_cpu | $(ratio "$ge_cpu" "$gm_cpu") |"
echo "| LIST $OBJECTS p50 / p99 ms | $lm_p50 / $lm_p99 | $le_p50 / $le_p99 | $(ratio "$le_p50" "$lm_p50") |"
echo "| $WATCHERS watchers, delivery p99 ms | ${WATCH[memory]} | ${WATCH[etcd]} | $(ratio "${WATCH[etcd]}" "${WATCH[memory]}") |"
echo "| RSS after $STORM LISTs, MiB | ${RSS[memory]} | ${RSS[etcd]} | $(ratio "${RSS[etcd]}" "${RSS[memory]}") |"
echo "| RSS 11 s after the LISTs, MiB | ${SETTLED[memory]} | ${SETTLED[etcd]} | $(ratio "${SETTLED[etcd]}" "${SETTLED[memory]}") |"
