#!/usr/bin/env bash
# Regenerates generated/ from schema/ (through build.rs) so the diff can be reviewed and committed.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE_GENERATED=1 cargo test --quiet --test codegen -- --exact generated::generated_mirror_is_fresh
git status --short generated/ 2>/dev/null || true
echo "generated/ is up to date with schema/. Review: git diff generated/"
