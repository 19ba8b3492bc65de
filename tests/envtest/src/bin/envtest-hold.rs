//! Test helper for the harness's own tests: starts a guarded `sleep` and a guarded directory,
//! prints `<sleep pid> <dir>` and waits to be killed. The test SIGKILLs it and checks that the
//! watchdogs cleaned up anyway.

use std::io::Write;
use std::process::Command;

fn main() {
    let dir = envtest::GuardedDir::create("coder-k8s-envtest-hold-").expect("temp dir");
    let mut sleep = Command::new("sleep");
    sleep.arg("600");
    let child = envtest::spawn_guarded("sleep", sleep, None).expect("spawn sleep");
    let mut out = std::io::stdout();
    writeln!(out, "{} {}", child.id(), dir.path().display()).expect("stdout");
    out.flush().expect("stdout");
    std::thread::sleep(std::time::Duration::from_secs(600));
}
