#!/usr/bin/env bash
# Regenerates generated/ from schema/ (through build.rs) so the diff can be reviewed and committed.
set -euo pipefail
cd "$(dirname "$0")/.."
check=generated::generated_mirror_is_fresh
output=$(UPDATE_GENERATED=1 cargo test --workspace --quiet --test codegen -- --exact "$check" 2>&1) \
  || { printf '%s\n' "$output" >&2; exit 1; }
# `cargo test` succeeds when its filter matches nothing: then nothing was regenerated.
if ! grep -q "test result: ok. 1 passed" <<<"$output"; then
  printf '%s\n' "$output" >&2
  echo "hack/update-codegen.sh: the generator check $check did not run (renamed or moved?)" >&2
  exit 1
fi
git status --short generated/ 2>/dev/null || true
echo "generated/ is up to date with schema/. Review: git diff generated/"
