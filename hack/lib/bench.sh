# Shared set-up of the hack/bench*.sh scripts (sourced after they cd to the repository root):
# CPU pinning, the open-file limit, a work dir whose servers die with the script, and helpers.

# Server on CPU 0, load on CPU 1 (shared/reference/perf-anchors.md), when the machine allows.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0); PIN_LOAD=(taskset -c 1)
else
  PIN_SERVER=(); PIN_LOAD=()
  echo "note: fewer than 2 CPUs or no taskset; running unpinned" >&2
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Processes in PIDS (and SERVER_PID, when a script runs one server at a time) are resumed if
# stopped, then killed at exit; WORK is removed.
WORK=$(mktemp -d)
PIDS=()
SERVER_PID=
cleanup() {
  for pid in "${PIDS[@]}" $SERVER_PID; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() { # url
  for _ in $(seq 1 100); do
    curl -ksf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2; return 1
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of a process
