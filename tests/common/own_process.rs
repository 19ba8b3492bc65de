//! Runs one test of a grouped test binary in a child process of its own, for the few tests
//! that measure or install something process-wide (a global counter, the global tracing
//! subscriber): the other modules' tests run in the same process and would disturb them.
//!
//! The test calls [`run_alone`] first. In the test binary's own process that re-runs the same
//! binary filtered to exactly this test, with [`CHILD_ENV`] naming it, waits (bounded) and
//! asserts the child passed exactly one test; it returns `false` and the test returns. In the
//! child it returns `true` and the test body runs.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

/// Set in the child process to the test it runs.
pub const CHILD_ENV: &str = "CODER_K8S_TEST_OWN_PROCESS";

/// Upper bound of the child's run, generous for a busy two-core machine.
const CHILD_LIMIT: Duration = Duration::from_secs(180);

/// `test` is the test's path inside the binary as libtest names it (`module::function`).
/// Returns `true` when the caller is the child and must run the test body.
pub async fn run_alone(test: &str) -> bool {
    if std::env::var(CHILD_ENV).is_ok_and(|running| running == test) {
        return true;
    }
    let binary = std::env::current_exe().expect("the test binary's path");
    let child = tokio::process::Command::new(binary)
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the test binary again");
    let output = tokio::time::timeout(CHILD_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{test} in its own process ran over {CHILD_LIMIT:?}"))
        .expect("the child test process's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{test} failed in its own process ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // A filter that matched nothing would pass too: insist the test really ran.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run in its own process:\n{stdout}\n{stderr}"
    );
    false
}
