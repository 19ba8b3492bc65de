#!/usr/bin/env bash
# Benchmark of the aggregated apiserver over TLS on loopback (not a test; takes ~4 minutes).
#
#   GET one object      wrk at c=1/16/64, against our server and a bare rustls+hyper ceiling
#                       serving the same bytes; ratio ours/ceiling, p50/p99
#   LIST 10,000 objects JSON (plain and gzip), Table and a 500-object page, one client: latency p50/p99
#   watch fan-out       event delivery to 1,000 concurrent watchers, p50/p99/max and server CPU
#                       per event, against ours and a bare rustls+hyper floor sending the same
#                       frame (examples/watch_ceiling.rs); hack/bench-watch.sh runs this part alone
#   server-side apply   apply of an unchanged object, apply of a one-field change, and the
#                       same change as a merge patch, one client: req/s and ratio to merge patch
#   RSS                 of our server holding 10,000 objects: peak, then after a LIST storm (STORM
#                       LISTs, 8 at a time) 1 s and 11 s later (freed pages go back to the OS)
#
# Method (shared/reference/perf-anchors.md): server pinned to CPU 0, load to CPU 1, HTTP/1.1
# keep-alive over TLS, 3 runs per point, median quoted. Figures drift between machines: compare
# ratios from one run, not absolute numbers across runs.
#
# The ceiling (examples/apiserver_ceiling.rs) is the apiserver minus the apiserver: the same TLS
# config (coder_k8s::tls::server_config), hyper-util auto builder (HTTP/1.1 and HTTP/2),
# allocator (jemalloc, same options), body bytes and Content-Type, one fixed response.
#
# Env: DURATION (s per wrk run, default 5), RUNS (default 3), OBJECTS (10000), WATCHERS (1000), STORM (200),
# BIN_DIR (a directory holding coder-k8s, apiserver_ceiling, apiserver_bench and watch_ceiling:
# skip the build), ONLY=get (the GET comparison alone).
# The cost of delegated authentication/authorization is measured by hack/bench-auth.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/bench.sh

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
OBJECTS=${OBJECTS:-10000}
WATCHERS=${WATCHERS:-1000}
WATCH_EVENTS=${WATCH_EVENTS:-20}
PORT=${PORT:-18443}
CEILING_PORT=${CEILING_PORT:-18444}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

# BIN_DIR: benchmark binaries built elsewhere (e.g. a saved baseline) instead of building here.
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --quiet --bin coder-k8s --example apiserver_ceiling --example apiserver_bench \
    --example watch_ceiling
fi
BIN=${BIN_DIR:-target/release}/coder-k8s
CEILING=${BIN_DIR:-target/release/examples}/apiserver_ceiling
HELPER=${BIN_DIR:-target/release/examples}/apiserver_bench
WATCH_CEILING=${BIN_DIR:-target/release/examples}/watch_ceiling

# wrk run against the server with pid TARGET → "req/s p50_ms p99_ms req_per_cpu_s". Requests per
# server CPU-second stay comparable when other work shares the machine; req/s do not.
wrk_once() { # connections url [header] [lua script]
  local c=$1 url=$2 hdr=${3:-} script=${4:-}
  local out before after
  before=$(cpu_ticks "$TARGET")
  if [ -n "$script" ]; then
    out=$("${PIN_LOAD[@]}" wrk -t1 -c"$c" -d"${DURATION}"s --latency -s "$script" "$url")
  elif [ -n "$hdr" ]; then
    out=$("${PIN_LOAD[@]}" wrk -t1 -c"$c" -d"${DURATION}"s --latency -H "$hdr" "$url")
  else
    out=$("${PIN_LOAD[@]}" wrk -t1 -c"$c" -d"${DURATION}"s --latency "$url")
  fi
  after=$(cpu_ticks "$TARGET")
  local rps p50 p99 total rpcs
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  rpcs=$(awk -v n="$total" -v t="$((after - before))" -v hz="$CLK_TCK" 'BEGIN { if (t > 0) printf "%.0f", n / (t / hz); else print "nan" }')
  if grep -q "Non-2xx" <<<"$out"; then echo "wrk saw errors: $out" >&2; fi
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $rpcs"
}
to_ms() { # wrk latency like 1.23ms / 850.00us / 1.02s → ms
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else print v }'
}
# median of RUNS wrk runs, by req/s
wrk_median() {
  local lines=()
  for _ in $(seq 1 "$RUNS"); do lines+=("$(wrk_once "$@")"); done
  printf '%s\n' "${lines[@]}" | sort -n -k1 | awk -v n="$RUNS" 'NR==int((n+1)/2)'
}

echo "== starting the aggregated apiserver (CPU 0)"
"${PIN_SERVER[@]}" "$BIN" --app aggregated-apiserver --authentication=none --bind-address 127.0.0.1 --secure-port "$PORT" \
  --write-kubeconfig "$WORK/kubeconfig" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
wait_for "https://127.0.0.1:$PORT/readyz"
grep 'certificate-authority-data' "$WORK/kubeconfig" | awk '{print $2}' | base64 -d >"$WORK/ca.pem"
URL="https://127.0.0.1:$PORT"
IDLE_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")

echo "== seeding $OBJECTS objects"
"${PIN_LOAD[@]}" "$HELPER" seed "$URL" "$WORK/ca.pem" "$OBJECTS"
OBJ_PATH="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces/bench-00000"
curl -ks "$URL$OBJ_PATH" >"$WORK/object.json"

echo "== starting the ceiling: bare rustls+hyper serving the same $(wc -c <"$WORK/object.json") bytes (CPU 0)"
"${PIN_SERVER[@]}" "$CEILING" "$CEILING_PORT" "$WORK/object.json" >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!; PIDS+=("$CEILING_PID")
wait_for "https://127.0.0.1:$CEILING_PORT/"

declare -A OURS CEIL
kill -STOP "$CEILING_PID" # keep the idle ceiling off CPU 0 while ours is measured
TARGET=$SERVER_PID
for c in 1 16 64; do
  OURS[$c]=$(wrk_median "$c" "$URL$OBJ_PATH")
  echo "GET ours     c=$c: ${OURS[$c]}"
done
kill -CONT "$CEILING_PID"; kill -STOP "$SERVER_PID"
TARGET=$CEILING_PID
for c in 1 16 64; do
  CEIL[$c]=$(wrk_median "$c" "https://127.0.0.1:$CEILING_PORT$OBJ_PATH")
  echo "GET ceiling  c=$c: ${CEIL[$c]}"
done
kill -CONT "$SERVER_PID"; kill "$CEILING_PID"
TARGET=$SERVER_PID

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
get_table() {
  echo "| GET one object | ours req/s | ceiling req/s | ratio | ours req/CPU-s | ceiling req/CPU-s | ratio | ours p50/p99 ms | ceiling p50/p99 ms |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for c in 1 16 64; do
    read -r orps op50 op99 ocpu <<<"${OURS[$c]}"
    read -r crps cp50 cp99 ccpu <<<"${CEIL[$c]}"
    echo "| c=$c | $orps | $crps | $(ratio "$orps" "$crps") | $ocpu | $ccpu | $(ratio "$ocpu" "$ccpu") | $op50 / $op99 | $cp50 / $cp99 |"
  done
}
if [ "${ONLY:-}" = get ]; then
  echo
  echo "## GET results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t1 ${DURATION}s x$RUNS, median)"
  echo
  get_table
  exit 0
fi

LIST_PATH="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces"
LIST_BYTES=$(curl -ks "$URL$LIST_PATH" | wc -c)
LIST=$(wrk_median 1 "$URL$LIST_PATH")
echo "LIST $OBJECTS ($LIST_BYTES bytes) c=1: $LIST"
GZIP_BYTES=$(curl -ks -H "Accept-Encoding: gzip" "$URL$LIST_PATH" | wc -c)
GZIP=$(wrk_median 1 "$URL$LIST_PATH" "Accept-Encoding: gzip")
echo "LIST $OBJECTS gzip ($GZIP_BYTES bytes on the wire) c=1: $GZIP"
TABLE=$(wrk_median 1 "$URL$LIST_PATH" "Accept: application/json;as=Table;v=v1;g=meta.k8s.io")
echo "Table LIST $OBJECTS c=1: $TABLE"
PAGE=$(wrk_median 1 "$URL$LIST_PATH?limit=500")
echo "LIST page of 500 c=1: $PAGE"

echo "== server-side apply vs merge patch (one client)"
ITEMS="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces"
# wrk script: PATCH with a content type and a body that alternates running true/false when
# the template has %s (a one-field change per request), or stays the same.
write_patch_script() { # file content-type body-template
  cat >"$1" <<LUA
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "$2"
local n = 0
request = function()
  n = n + 1
  local v = (n % 2 == 0) and "true" or "false"
  return wrk.format(nil, nil, nil, string.format('$3', v))
end
LUA
}
apply_body() { # name
  echo "{\"apiVersion\":\"aggregation.coder.com/v1alpha1\",\"kind\":\"CoderWorkspace\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"running\":%s}}"
}
for name in ssa-same ssa-change ssa-merge; do # created by apply: one owner, no conflicts
  curl -ksf -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
    "$URL$ITEMS/$name?fieldManager=bench" --data-binary "$(printf "$(apply_body "$name")" true)" >/dev/null
done
write_patch_script "$WORK/apply-same.lua" application/apply-patch+yaml "$(printf "$(apply_body ssa-same)" true)"
write_patch_script "$WORK/apply-change.lua" application/apply-patch+yaml "$(apply_body ssa-change)"
write_patch_script "$WORK/merge-change.lua" application/merge-patch+json '{"spec":{"running":%s}}'
wrk_script_median() { # script url
  local lines=()
  for _ in $(seq 1 "$RUNS"); do lines+=("$(wrk_once 1 "$2" "" "$1")"); done
  printf '%s\n' "${lines[@]}" | sort -n -k1 | awk -v n="$RUNS" 'NR==int((n+1)/2)'
}
APPLY_SAME=$(wrk_script_median "$WORK/apply-same.lua" "$URL$ITEMS/ssa-same?fieldManager=bench")
echo "apply unchanged c=1: $APPLY_SAME"
APPLY_CHANGE=$(wrk_script_median "$WORK/apply-change.lua" "$URL$ITEMS/ssa-change?fieldManager=bench")
echo "apply one-field change c=1: $APPLY_CHANGE"
MERGE_CHANGE=$(wrk_script_median "$WORK/merge-change.lua" "$URL$ITEMS/ssa-merge")
echo "merge patch one-field change c=1: $MERGE_CHANGE"

echo "== watch fan-out: $WATCHERS watchers, $WATCH_EVENTS events"
WATCH=$(WATCH_SERVER_PID=$SERVER_PID "${PIN_LOAD[@]}" "$HELPER" watch "$URL" "$WORK/ca.pem" "$WATCHERS" "$WATCH_EVENTS" | tee /dev/stderr | tail -1)
PEAK_RSS=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
NOW_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
# The floor: a bare rustls+hyper server sending one shared frame of the same object to every
# open watch, measured by the same client while ours is stopped.
curl -ks "$URL/apis/aggregation.coder.com/v1alpha1/namespaces/watch/coderworkspaces/target" >"$WORK/watch-object.json"
kill -STOP "$SERVER_PID"
"${PIN_SERVER[@]}" "$WATCH_CEILING" "$CEILING_PORT" "$WORK/watch-object.json" "$WORK/watch-ceiling-ca.pem" >"$WORK/watch-ceiling.log" 2>&1 &
WATCH_CEILING_PID=$!; PIDS+=("$WATCH_CEILING_PID")
wait_for "https://127.0.0.1:$CEILING_PORT/"
WATCH_FLOOR=$(WATCH_SERVER_PID=$WATCH_CEILING_PID "${PIN_LOAD[@]}" "$HELPER" watch "https://127.0.0.1:$CEILING_PORT" "$WORK/watch-ceiling-ca.pem" "$WATCHERS" "$WATCH_EVENTS" | tee /dev/stderr | tail -1)
kill "$WATCH_CEILING_PID"; kill -CONT "$SERVER_PID"

echo "== LIST storm: ${STORM:-200} LISTs of $OBJECTS objects, 8 at a time"
seq 1 "${STORM:-200}" | xargs -P 8 -I{} curl -ks -o /dev/null "$URL$LIST_PATH"
sleep 1
STORM_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
sleep 10
SETTLED_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
# The change history (last 10,000 writes, 64 MiB by default) is part of what stays resident.
HISTORY_BYTES=$(curl -ks "$URL/metrics" | awk '/^coder_k8s_apiserver_storage_history_bytes / {print $2}')

echo
echo "## Results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t1 ${DURATION}s x$RUNS, median)"
echo
get_table
echo
read -r lrps lp50 lp99 _ <<<"$LIST"
read -r grps gp50 gp99 _ <<<"$GZIP"
read -r trps tp50 tp99 _ <<<"$TABLE"
read -r prps pp50 pp99 _ <<<"$PAGE"
echo "| LIST ($OBJECTS objects, $LIST_BYTES bytes), one client (c=1) | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|"
echo "| JSON | $lrps | $lp50 | $lp99 |"
echo "| JSON, Accept-Encoding: gzip ($GZIP_BYTES bytes sent) | $grps | $gp50 | $gp99 |"
echo "| Table | $trps | $tp50 | $tp99 |"
echo "| page of 500 (limit=500) | $prps | $pp50 | $pp99 |"
echo
read -r srps sp50 sp99 scpu <<<"$APPLY_SAME"
read -r arps ap50 ap99 acpu <<<"$APPLY_CHANGE"
read -r mrps mp50 mp99 mcpu <<<"$MERGE_CHANGE"
echo "| write, one client (c=1) | req/s | ratio to merge patch | req/CPU-s | ratio | p50/p99 ms |"
echo "|---|---|---|---|---|---|"
echo "| merge patch, one-field change | $mrps | 1.00 | $mcpu | 1.00 | $mp50 / $mp99 |"
echo "| apply, one-field change | $arps | $(ratio "$arps" "$mrps") | $acpu | $(ratio "$acpu" "$mcpu") | $ap50 / $ap99 |"
echo "| apply, unchanged (no write) | $srps | $(ratio "$srps" "$mrps") | $scpu | $(ratio "$scpu" "$mcpu") | $sp50 / $sp99 |"
echo
echo "Watch: $WATCH"
echo "Watch floor (bare rustls+hyper, same frame): $WATCH_FLOOR"
echo "RSS: idle $((IDLE_RSS / 1024)) MiB; peak $((PEAK_RSS / 1024)) MiB with $OBJECTS objects before the LIST storm (after the watchers $((NOW_RSS / 1024)) MiB)"
echo "RSS after ${STORM:-200} LISTs: $((STORM_RSS / 1024)) MiB 1 s later, $((SETTLED_RSS / 1024)) MiB 11 s later; change history $((${HISTORY_BYTES:-0} / 1048576)) MiB (its own accounting)"
