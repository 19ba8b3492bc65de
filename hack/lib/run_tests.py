#!/usr/bin/env python3
"""Runs the workspace's test binaries a few at a time, each as soon as cargo has built it.

`cargo test` builds every test binary and then runs them one after another; most of ours spend
their time waiting on a real kube-apiserver, etcd or a fake coderd, so on two cores that leaves
the machine idle for minutes. Here a binary starts as soon as cargo reports it, while the rest
still compile, and several run side by side. Each binary owns its fixtures (its own control
plane on loopback ports it picked), so binaries can run together. Tests inside one binary still
run as libtest runs them.

Usage: cargo test --no-run --message-format=json-render-diagnostics \
         | run_tests.py JOBS [--after-build 'SHELL COMMAND']...
The input is cargo's JSON messages (one object per line), read as they come. The --after-build
commands run once the build is over, one after another (each needs cargo's build lock, which the
build holds until then), beside the remaining binaries and outside the JOBS count. Each run's
output is kept whole and printed when it ends, with its wall time; the exit status is 1 when any
run failed (every run happens, as with --no-fail-fast).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

# The longest binaries are split into runs of their own, so the slowest binary does not set the
# suite's wall time alone. Each entry lists the libtest name filters of one run (a test runs
# there when its name contains any of them and none of an earlier run's); one more run takes the
# rest, skipping every filter listed, so no test is lost when a module is added. A run that matches no test fails: a renamed
# module must not shrink the suite silently.
SPLITS = {
    "tests/apiserver/main.rs": [
        ["storage_", "body_bounds::", "encode_once::", "concurrency::"],
        ["openapi::", "kubectl::", "parity"],
    ],
    # One test applies every overlay to a real cluster (about 35 s); the rest need much less.
    "tests/deploy/main.rs": [["cluster::base_and_every_overlay"]],
}

# While cargo still compiles, it keeps both cores busy: fewer runs go at once until it is done.
RUNS_WHILE_BUILDING = 2


class Run:
    """One process to run: a test binary (whole, or the part a filter picks) or CMD."""

    def __init__(self, name, argv, cwd, env, weight, counted=True, package=None):
        self.name = name
        # An integration test may run its package's binaries (CARGO_BIN_EXE_*), which cargo can
        # report after the test itself: such a run waits until they are built.
        self.package = package
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.weight = weight  # larger runs start first; -1 marks an --after-build command
        self.counted = counted  # a part of a split binary: `running 0 tests` is a failure


def runs_of_binary(name, executable, package_dir, package):
    env = dict(os.environ, CARGO_MANIFEST_DIR=package_dir)
    weight = os.path.getsize(executable)
    splits = SPLITS.get(name)
    if not splits:
        return [Run(name, [executable], package_dir, env, weight, False, package)]
    # Run k takes its filters minus every earlier run's: no test runs twice, none is left out.
    runs, skips = [], []
    for filters in splits:
        label = f"{name} [{', '.join(filters)}]"
        runs.append(Run(label, [executable, *filters, *skips], package_dir, env, weight, True, package))
        skips += [arg for f in filters for arg in ("--skip", f)]
    runs.append(Run(f"{name} [the rest]", [executable, *skips], package_dir, env, weight, True, package))
    return runs


def binaries_of_packages():
    """The names of every workspace package's binary targets, by manifest path."""
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1"],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    return {
        package["manifest_path"]: {t["name"] for t in package["targets"] if "bin" in t["kind"]}
        for package in metadata["packages"]
    }


def read_cargo_messages(stream, found, binaries_built, build_over):
    """Adds the runs of every test binary cargo reports to `found`, and each binary target
    built to `binaries_built` (by manifest path); sets `build_over` at EOF."""
    seen = set()
    for line in stream:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact":
            continue
        executable = message.get("executable")
        target = message["target"]
        if executable and target["kind"] == ["bin"] and not message.get("profile", {}).get("test"):
            binaries_built.setdefault(message["manifest_path"], set()).add(target["name"])
            continue
        if not executable or not message.get("profile", {}).get("test"):
            continue
        if executable in seen:
            continue
        seen.add(executable)
        package_dir = os.path.dirname(message["manifest_path"])
        # Named by its source from the repository root: tests/fake_coderd/tests/api/main.rs, or
        # src/lib.rs (unit tests) for a library's own tests.
        name = os.path.relpath(target["src_path"], os.getcwd())
        if target["kind"][0] != "test":
            name += " (unit tests)"
        package = message["manifest_path"] if target["kind"] == ["test"] else None
        found.extend(runs_of_binary(name, executable, package_dir, package))
    build_over.set()


RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.M)
RUNNING = re.compile(r"^running (\d+) tests?$", re.M)


def main():
    args = sys.argv[1:]
    after_build = []
    while "--after-build" in args:
        at = args.index("--after-build")
        after_build.append(args[at + 1])
        del args[at : at + 2]
    jobs = int(args[0]) if args else 2

    binaries_needed = binaries_of_packages()
    # Both filled by the reader thread; list.append and set.add are atomic under the GIL.
    found = []
    binaries_built = {}
    build_over = threading.Event()
    reader = threading.Thread(
        target=read_cargo_messages,
        args=(sys.stdin, found, binaries_built, build_over),
        daemon=True,
    )
    reader.start()

    pending, running, failed = [], [], []
    taken = 0
    totals = [0, 0, 0]
    count = 0
    start = time.monotonic()
    target_dir = os.environ.get("CARGO_TARGET_DIR", "target")

    def launch(run):
        nonlocal count
        log = open(os.path.join(target_dir, f"test-run-{count}.log"), "w+")
        count += 1
        process = subprocess.Popen(
            run.argv, cwd=run.cwd, env=run.env, stdout=log, stderr=subprocess.STDOUT
        )
        running.append((run, process, log, time.monotonic()))

    while True:
        while taken < len(found):
            pending.append(found[taken])
            taken += 1
        over = build_over.is_set()
        # The commands after the build, one at a time, not counted against JOBS.
        if over and after_build and not any(entry[0].weight < 0 for entry in running):
            command = after_build.pop(0)
            launch(Run(command, ["bash", "-c", command], os.getcwd(), dict(os.environ), -1, False))
        if over and not pending and not running and not after_build and taken == len(found):
            break
        def ready(run):
            needed = binaries_needed.get(run.package, set()) if run.package else set()
            return over or needed <= binaries_built.get(run.package, set())

        # Largest first among those ready, so the last to end does not run alone.
        pending.sort(key=lambda run: run.weight, reverse=True)
        limit = jobs if over else min(jobs, RUNS_WHILE_BUILDING)
        binaries_running = sum(1 for entry in running if entry[0].weight >= 0)
        for run in [run for run in pending if ready(run)]:
            if binaries_running >= limit:
                break
            pending.remove(run)
            launch(run)
            binaries_running += 1
        time.sleep(0.2)
        for entry in list(running):
            run, process, log, began = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            log.seek(0)
            output = log.read()
            log.close()
            ok = process.returncode == 0
            status = "ok" if ok else f"FAILED (exit {process.returncode})"
            if ok and run.counted:
                counts = [int(n) for n in RUNNING.findall(output)]
                if counts and sum(counts) == 0:
                    ok = False
                    status = "FAILED (it ran no test: a filter in hack/lib/run_tests.py SPLITS is stale)"
            for result in RESULT.findall(output):
                for i in range(3):
                    totals[i] += int(result[i])
            elapsed = time.monotonic() - began
            print(f"\n==> {run.name}: {status} in {elapsed:.1f} s (at {time.monotonic() - start:.0f} s)",
                  flush=True)
            sys.stdout.write(output)
            sys.stdout.flush()
            if not ok:
                failed.append(run.name)
    print(
        f"\n==> {count} runs in {time.monotonic() - start:.1f} s, {jobs} test binaries at a time: "
        f"{totals[0]} passed, {totals[1]} failed, {totals[2]} ignored"
    )
    if not taken:
        print("run_tests.py: cargo reported no test binary", file=sys.stderr)
        return 1
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0

if __name__ == "__main__":
    sys.exit(main())
