#!/usr/bin/env bash
# Cost of delegated authentication + authorization (not a test; ~2 minutes).
#
# Two aggregated apiservers in the same run, both pinned to CPU 0, load from CPU 1 (wrk, HTTP/1.1
# keep-alive over TLS), each measured while the other is stopped (SIGSTOP):
#   none       --authentication=none (anonymous, always-allow)
#   delegated  bearer token → TokenReview, every request → SubjectAccessReview, both cached (10 s)
# The reviews are answered by examples/auth_review_stub.rs on loopback (plain HTTP), not by a
# kube-apiserver: with cached decisions the review is paid once per TTL, and the stub counts the
# reviews so the report shows how many requests missed the caches.
#
# Workloads: GET one object (c=1, c=16), LIST of OBJECTS objects (c=4). Ratios delegated/none
# of req/s and of requests per server CPU-second (robust to other load on the machine).
# Env: DURATION (s per wrk run, default 5), RUNS (3), OBJECTS (500).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/bench.sh

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
OBJECTS=${OBJECTS:-500}
NONE_PORT=${NONE_PORT:-18453}
AUTH_PORT=${AUTH_PORT:-18454}
STUB_PORT=${STUB_PORT:-18455}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin coder-k8s --example apiserver_bench --example auth_review_stub
BIN=target/release/coder-k8s
HELPER=target/release/examples/apiserver_bench
STUB=target/release/examples/auth_review_stub

to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else print v }'
}
wrk_once() { # pid connections url → "req/s p50 p99 req_per_cpu_s"
  local pid=$1 c=$2 url=$3 out before after
  before=$(cpu_ticks "$pid")
  out=$("${PIN_LOAD[@]}" wrk -t1 -c"$c" -d"${DURATION}"s --latency -H "Authorization: Bearer bench-token" "$url")
  after=$(cpu_ticks "$pid")
  if grep -q "Non-2xx" <<<"$out"; then echo "wrk saw errors: $out" >&2; exit 1; fi
  local rps p50 p99 total
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v n="$total" -v t="$((after - before))" -v hz="$CLK_TCK" 'BEGIN { if (t > 0) printf "%.0f", n / (t / hz); else print "nan" }')"
}
wrk_median() {
  local lines=()
  for _ in $(seq 1 "$RUNS"); do lines+=("$(wrk_once "$@")"); done
  printf '%s\n' "${lines[@]}" | sort -n -k1 | awk -v n="$RUNS" 'NR==int((n+1)/2)'
}

echo "== review stub, none and delegated servers (CPU 0)"
"$STUB" "$STUB_PORT" "$WORK" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/review.kubeconfig" ] && [ -s "$WORK/ca.pem" ] && break; sleep 0.1; done
"${PIN_SERVER[@]}" "$BIN" --app aggregated-apiserver --bind-address 127.0.0.1 --secure-port "$NONE_PORT" \
  --authentication=none --write-kubeconfig "$WORK/none.kubeconfig" >"$WORK/none.log" 2>&1 &
NONE_PID=$!; PIDS+=("$NONE_PID")
# --anonymous-auth only so the seeding helper (no credentials) can write; wrk sends a token.
"${PIN_SERVER[@]}" "$BIN" --app aggregated-apiserver --bind-address 127.0.0.1 --secure-port "$AUTH_PORT" \
  --authentication=delegated --authorization-mode=delegated --anonymous-auth \
  --authentication-kubeconfig "$WORK/review.kubeconfig" --authorization-kubeconfig "$WORK/review.kubeconfig" \
  --client-ca-file "$WORK/ca.pem" --requestheader-client-ca-file "$WORK/ca.pem" \
  --write-kubeconfig "$WORK/auth.kubeconfig" >"$WORK/auth.log" 2>&1 &
AUTH_PID=$!; PIDS+=("$AUTH_PID")
wait_for "https://127.0.0.1:$NONE_PORT/readyz"
wait_for "https://127.0.0.1:$AUTH_PORT/readyz"

for side in none auth; do
  grep 'certificate-authority-data' "$WORK/$side.kubeconfig" | awk '{print $2}' | base64 -d >"$WORK/$side-ca.pem"
done
echo "== seeding $OBJECTS objects into each"
"${PIN_LOAD[@]}" "$HELPER" seed "https://127.0.0.1:$NONE_PORT" "$WORK/none-ca.pem" "$OBJECTS"
"${PIN_LOAD[@]}" "$HELPER" seed "https://127.0.0.1:$AUTH_PORT" "$WORK/auth-ca.pem" "$OBJECTS"

OBJ="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces/bench-00000"
LIST="/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces"
STUB_BEFORE=$(curl -s "http://127.0.0.1:$STUB_PORT/count")

declare -A R
measure() { # side pid port other_pid
  local side=$1 pid=$2 port=$3 other=$4
  kill -STOP "$other"
  R[$side,get1]=$(wrk_median "$pid" 1 "https://127.0.0.1:$port$OBJ");   echo "$side GET c=1:  ${R[$side,get1]}"
  R[$side,get16]=$(wrk_median "$pid" 16 "https://127.0.0.1:$port$OBJ"); echo "$side GET c=16: ${R[$side,get16]}"
  R[$side,list]=$(wrk_median "$pid" 4 "https://127.0.0.1:$port$LIST"); echo "$side LIST c=4: ${R[$side,list]}"
  kill -CONT "$other"
}
measure none "$NONE_PID" "$NONE_PORT" "$AUTH_PID"
measure delegated "$AUTH_PID" "$AUTH_PORT" "$NONE_PID"
STUB_AFTER=$(curl -s "http://127.0.0.1:$STUB_PORT/count")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "## Delegated auth vs none ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t1 ${DURATION}s x$RUNS, median)"
echo
echo "| workload | none req/s | delegated req/s | ratio | none req/CPU-s | delegated req/CPU-s | ratio | none p50/p99 ms | delegated p50/p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|"
for w in get1 get16 list; do
  read -r nr n50 n99 nc <<<"${R[none,$w]}"
  read -r dr d50 d99 dc <<<"${R[delegated,$w]}"
  case $w in get1) name="GET one object, c=1";; get16) name="GET one object, c=16";; list) name="LIST $OBJECTS objects, c=4";; esac
  echo "| $name | $nr | $dr | $(ratio "$dr" "$nr") | $nc | $dc | $(ratio "$dc" "$nc") | $n50 / $n99 | $d50 / $d99 |"
done
read -r tb sb <<<"$STUB_BEFORE"; read -r ta sa <<<"$STUB_AFTER"
echo
echo "Reviews during the measurement (cache misses): TokenReview $((ta - tb)), SubjectAccessReview $((sa - sb))."
