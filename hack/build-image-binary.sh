#!/usr/bin/env bash
# The Dockerfile's build stage without Docker: builds the static (musl) coder-k8s binary the
# image ships, then checks that it is static and runs. Use it where Docker is not available, to
# try the image's binary on the host, or to put it in an image built some other way (the
# runtime stage only copies this file to /coder-k8s).
#
# Usage: hack/build-image-binary.sh [--debug] [--out PATH]
#   --debug     build the dev profile instead of release (faster; same target and checks)
#   --out PATH  where to copy the binary (default: target/image/coder-k8s)
# CARGO_TARGET_DIR is honoured (a separate one keeps a long build from locking target/).
#
# Needs what the build stage installs: the Rust musl std (`rustup target add`, tried here when
# missing), musl-gcc (Debian's musl-tools: ring and jemalloc compile C) and protoc when a
# dependency compiles protos (Debian's protobuf-compiler). Keep the cargo command in step with
# the Dockerfile's; tests/deploy/image.rs compares the two.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
profile=(--release)
profile_dir=release
out=target/image/coder-k8s
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=(); profile_dir=debug ;;
    --out) out="${2:?--out needs a path}"; shift ;;
    --out=*) out="${1#--out=}" ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

fail() { echo "build-image-binary: $*" >&2; exit 1; }

if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add x86_64-unknown-linux-musl \
    || fail "no Rust std for $target: rustup could not download it (the image build does the same step)"
fi
command -v musl-gcc >/dev/null 2>&1 \
  || fail "musl-gcc is missing: apt-get install musl-tools"
if grep -q '^name = "prost-build"$' Cargo.lock && ! command -v protoc >/dev/null 2>&1; then
  fail "protoc is missing (a dependency compiles .proto files): apt-get install protobuf-compiler"
fi

# cc-rs picks musl-gcc for the C parts when the target is musl; rustc links with its own
# self-contained musl objects, as in the image.
cargo build "${profile[@]}" --locked --target x86_64-unknown-linux-musl --bin coder-k8s
binary="${CARGO_TARGET_DIR:-target}/$target/$profile_dir/coder-k8s"
mkdir -p "$(dirname "$out")"
cp "$binary" "$out"

# Static: no interpreter and no shared libraries, so it runs on distroless/static.
if command -v file >/dev/null 2>&1; then
  description="$(file -L "$out")"
  echo "$description"
  case "$description" in
    *"dynamically linked"*) fail "$out is dynamically linked" ;;
  esac
fi
ldd_output="$(ldd "$out" 2>&1 || true)"
echo "ldd: $ldd_output"
case "$ldd_output" in
  *"not a dynamic executable"*|*"statically linked"*) ;;
  *) fail "ldd lists shared libraries for $out" ;;
esac
# It runs: --help lists the flags (no cluster or network needed).
help="$("$out" --help)" || fail "$out --help failed"
grep -q -- "--app" <<<"$help" || fail "$out --help does not list --app"
echo "build-image-binary: $out is static and runs ($(du -h "$out" | cut -f1))"
