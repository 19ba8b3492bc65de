//! What the controller says at the default log level when the cluster is not ready for it.

use crate::support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::fake_kube::{FakeKube, Fault};
use support::*;

/// Collects every log line of this test's process (its own: see `run_alone` below).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

#[tokio::test]
async fn a_missing_crd_is_reported_at_warn_level() {
    // The global subscriber installed below would take every other test's logs, and a second
    // `init` in one process panics: this test runs in a process of its own.
    if !crate::own_process::run_alone("logs::a_missing_crd_is_reported_at_warn_level").await {
        return;
    }
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let fake = FakeKube::new();
    // What a real API server answers when the CRD is not installed.
    fake.inject(
        Fault::new(404, usize::MAX)
            .verb("list")
            .resource("codercontrolplanes"),
    );
    let controller = start(&fake, "controller", test_settings());
    let line = eventually("a warning about the missing CRD", || {
        logs.text()
            .lines()
            .find(|l| l.contains("CRD is not installed"))
            .map(str::to_string)
    })
    .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("generated/crds/"), "{line}");
    controller.stop().await.unwrap();
}
