#!/usr/bin/env python3
"""Runs the workspace's test binaries a few at a time instead of one after another.

`cargo test` runs test binaries in sequence; most of ours spend their time waiting on a real
kube-apiserver, etcd or a fake coderd, so on two cores the suite's wall time is mostly idle.
Each binary owns its fixtures (its own control plane on loopback ports it picked), so binaries
can run side by side. Tests inside one binary still run as libtest runs them.

Usage: run_tests.py JOBS < cargo-test-no-run.json
The input is `cargo test --no-run --message-format=json` (one JSON object per line). Each
binary's output is kept whole and printed when it ends, with its wall time; the exit status is
1 when any binary failed (every binary runs, as with --no-fail-fast).
"""
import json
import os
import subprocess
import sys
import time


def test_binaries(lines):
    """(name, executable, package dir) of every test artifact in cargo's JSON messages."""
    seen = set()
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact":
            continue
        executable = message.get("executable")
        if not executable or not message.get("profile", {}).get("test"):
            continue
        if executable in seen:
            continue
        seen.add(executable)
        target = message["target"]
        package_dir = os.path.dirname(message["manifest_path"])
        # Named by its source from the repository root: tests/fake_coderd/tests/auth.rs, or
        # src/lib.rs (unit tests) for a library's own tests.
        name = os.path.relpath(target["src_path"], os.getcwd())
        if target["kind"][0] != "test":
            name += " (unit tests)"
        yield name, executable, package_dir


def main():
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    binaries = list(test_binaries(sys.stdin))
    if not binaries:
        print("run_tests.py: cargo reported no test binary", file=sys.stderr)
        return 1
    # Longest first keeps the last binary from running alone at the end; a binary's size is a
    # fair stand-in for how much it tests (the grouped e2e binaries are the largest).
    binaries.sort(key=lambda b: os.path.getsize(b[1]), reverse=True)
    pending = list(binaries)
    running = []
    failed = []
    start = time.monotonic()
    while pending or running:
        while pending and len(running) < jobs:
            name, executable, package_dir = pending.pop(0)
            log = open(f"{executable}.log", "w+")
            env = dict(os.environ, CARGO_MANIFEST_DIR=package_dir)
            process = subprocess.Popen(
                [executable], cwd=package_dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            running.append((name, process, log, time.monotonic()))
        time.sleep(0.2)
        for entry in list(running):
            name, process, log, began = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            log.seek(0)
            status = "ok" if process.returncode == 0 else f"FAILED (exit {process.returncode})"
            print(f"\n==> {name}: {status} in {time.monotonic() - began:.1f} s", flush=True)
            sys.stdout.write(log.read())
            sys.stdout.flush()
            log.close()
            if process.returncode != 0:
                failed.append(name)
    print(f"\n==> {len(binaries)} test binaries in {time.monotonic() - start:.1f} s, {jobs} at a time")
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
