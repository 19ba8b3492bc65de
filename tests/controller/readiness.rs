//! `/readyz` against the fake API server: ready once the cache of every watched kind has synced,
//! not before, and regardless of how long the initial LISTs take.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use coder_k8s::controller::Settings;
use support::fake_kube::{FakeKube, Fault};
use support::*;

pub(crate) fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local address")
}

async fn readyz(address: SocketAddr) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// Polls /readyz until it answers `code`, for at most [`WAIT_LIMIT`].
pub(crate) async fn wait_for_readyz(address: SocketAddr, code: u16) -> String {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        last = readyz(address).await;
        if let Some((got, body)) = &last
            && *got == code
        {
            return body.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("/readyz never answered {code}; last answer {last:?}");
}

fn settings(health: SocketAddr) -> Settings {
    Settings {
        health_probe_bind_address: Some(health),
        ..test_settings()
    }
}

/// On a real API server the initial LISTs take a network round trip, so every waiter on the
/// caches is already parked when they complete; readiness must still be seen.
#[tokio::test]
async fn turns_ready_when_the_initial_lists_are_slow() {
    let fake = FakeKube::new();
    fake.set_list_latency(Duration::from_millis(300));
    let health = free_address();
    let controller = start(&fake, "controller", settings(health));
    let body = wait_for_readyz(health, 200).await;
    assert_eq!(body, "ok");
    controller.stop().await.unwrap();
}

/// Readiness follows every watched kind, not only CoderControlPlanes: while Roles cannot be
/// listed, /readyz says so; once they can, it turns ready.
#[tokio::test]
async fn waits_for_the_cache_of_every_watched_kind() {
    let fake = FakeKube::new();
    fake.inject(Fault::new(403, usize::MAX).verb("list").resource("roles"));
    let health = free_address();
    let controller = start(&fake, "controller", settings(health));
    // Every other kind lists fine; give their caches time to sync.
    eventually("deployments listed", || {
        fake.requests()
            .iter()
            .any(|r| r.resource == "rolebindings" && r.verb == "watch")
            .then_some(())
    })
    .await;
    let body = wait_for_readyz(health, 503).await;
    assert!(body.contains("roles"), "{body}");
    assert!(!body.contains("deployments"), "{body}");
    fake.clear_faults();
    wait_for_readyz(health, 200).await;
    controller.stop().await.unwrap();
}
