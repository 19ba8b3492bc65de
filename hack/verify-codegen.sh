#!/usr/bin/env bash
# Fails (printing the diff and the command to run) when generated/ is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo test --quiet --test codegen -- --exact generated::generated_mirror_is_fresh; then
  echo "generated/ is stale. Run: hack/update-codegen.sh" >&2
  exit 1
fi
