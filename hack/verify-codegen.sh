#!/usr/bin/env bash
# Fails (printing the diff and the command to run) when generated/ is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
check=generated::generated_mirror_is_fresh
# --workspace resolves dependency features as hack/test.sh's test build does (every member's
# features unified), so the crates built here are the ones that build reuses rather than a
# second copy of tokio, hyper, axum and most of the rest built with other features.
if ! output=$(cargo test --workspace --quiet --test codegen -- --exact "$check" 2>&1); then
  printf '%s\n' "$output" >&2
  echo "generated/ is stale. Run: hack/update-codegen.sh" >&2
  exit 1
fi
printf '%s\n' "$output"
# `cargo test` succeeds when its filter matches nothing: a renamed check must not pass silently.
if ! grep -q "test result: ok. 1 passed" <<<"$output"; then
  echo "hack/verify-codegen.sh: the freshness check $check did not run (renamed or moved?)" >&2
  exit 1
fi
