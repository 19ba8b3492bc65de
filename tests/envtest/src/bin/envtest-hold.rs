//! Helper process for the harness's own tests (tests/process.rs), not a tool:
//! - no arguments: starts a guarded `sleep` and a guarded directory, prints `<sleep pid> <dir>`
//!   and waits to be killed; the test SIGKILLs it and checks that the watchdogs cleaned up.
//! - `locate <binary>`: prints where the harness finds `etcd`, `kube-apiserver`,
//!   `kube-controller-manager` or `kubectl` in this process's environment (or panics saying why).

use std::io::Write;
use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => hold(),
        [verb, name] if verb == "locate" => {
            let binary = match name.as_str() {
                "etcd" => envtest::Binary::Etcd,
                "kube-apiserver" => envtest::Binary::KubeApiserver,
                "kube-controller-manager" => envtest::Binary::KubeControllerManager,
                "kubectl" => envtest::Binary::Kubectl,
                other => panic!("unknown binary {other}"),
            };
            println!("{}", envtest::locate(binary).display());
        }
        other => panic!("usage: envtest-hold [locate <binary>], got {other:?}"),
    }
}

fn hold() {
    let dir = envtest::GuardedDir::create("coder-k8s-envtest-hold-").expect("temp dir");
    let mut sleep = Command::new("sleep");
    sleep.arg("600");
    let child = envtest::spawn_guarded("sleep", sleep, None).expect("spawn sleep");
    let mut out = std::io::stdout();
    writeln!(out, "{} {}", child.id(), dir.path().display()).expect("stdout");
    out.flush().expect("stdout");
    std::thread::sleep(std::time::Duration::from_secs(600));
}
