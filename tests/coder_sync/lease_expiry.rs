//! The Lease itself (src/lease.rs) against a real kube-apiserver: a holder that keeps renewing
//! keeps a standby out, and a holder that dies without handing the Lease back (a crashed pod)
//! loses it once the lease duration has passed unrenewed, not before.

use std::time::{Duration, Instant};

use coder_k8s::lease::{LeaseLock, LeaseSettings};
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_secs(2);

fn settings(namespace: &str, identity: &str) -> LeaseSettings {
    let mut settings = LeaseSettings::new("coder-sync-expiry", namespace, identity, LEASE);
    settings.retry_interval = Duration::from_millis(100);
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_holder_loses_the_lease_after_its_duration_and_not_before() {
    let cp = envtest::shared();
    let namespace = cp.create_namespace("lease-expiry").await;
    let client = cp.admin_client().await;
    let mut holder = LeaseLock::new(client.clone(), settings(&namespace, "holder"));
    let mut standby = LeaseLock::new(client, settings(&namespace, "standby"));
    let never = CancellationToken::new();
    assert!(holder.acquire(&never).await, "the free Lease is taken");

    // While the holder renews, the standby waits (three lease durations).
    let renewing = CancellationToken::new();
    let renewal = {
        let renewing = renewing.clone();
        tokio::spawn(async move {
            let kept = holder.renew_until(&renewing).await;
            (holder, kept)
        })
    };
    let waited = tokio::time::timeout(3 * LEASE, standby.acquire(&never)).await;
    assert!(
        waited.is_err(),
        "the standby took a Lease that was being renewed"
    );

    // The holder "crashes": it stops renewing and never releases.
    renewing.cancel();
    let (holder, kept) = renewal.await.expect("renewal task");
    assert!(kept.is_ok(), "renewing went fine until the stop: {kept:?}");
    drop(holder);
    let crashed = Instant::now();
    let took = tokio::time::timeout(4 * LEASE, standby.acquire(&never))
        .await
        .expect("the standby takes the expired Lease");
    assert!(took);
    let after = crashed.elapsed();
    // The standby judges expiry by its own clock from the last change it saw (the holder's last
    // renewal, at most renew_interval before the crash), so it waits at least the lease
    // duration minus that.
    assert!(
        after >= LEASE - LEASE / 3 - Duration::from_millis(100),
        "taken over after {after:?}: before the Lease could have expired"
    );
    assert!(
        after <= LEASE * 2,
        "taken over after {after:?}: much later than the lease duration"
    );
}
