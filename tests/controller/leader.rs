//! Leader election: two controllers against one fake API server. Only the Lease holder
//! reconciles; stopping it hands the Lease over at once, and a crashed holder's Lease expires.

use crate::support;

use std::time::Duration;

use coder_k8s::controller::{LeaderSettings, Settings};
use serde_json::json;
use support::fake_kube::FakeKube;
use support::*;

const LEASE_NS: &str = "coder-system";

fn settings(identity: &str, lease: Duration) -> Settings {
    let mut leader = LeaderSettings::new("coder-k8s-controller", LEASE_NS, identity, lease);
    // Look often, so a released Lease is picked up quickly; renewal stays at lease/3.
    leader.retry_interval = Duration::from_millis(50);
    Settings {
        leader: Some(leader),
        ..test_settings()
    }
}

fn lease_holder(fake: &FakeKube) -> Option<String> {
    fake.get(
        "coordination.k8s.io",
        "leases",
        LEASE_NS,
        "coder-k8s-controller",
    )?
    .pointer("/spec/holderIdentity")?
    .as_str()
    .map(str::to_string)
}

/// Tags of clients that wrote anything other than the Lease.
fn reconcilers(fake: &FakeKube, object: &str) -> Vec<String> {
    let mut tags: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.client != "test" && r.resource == "deployments" && r.verb == "patch")
        .filter(|r| r.name.as_deref() == Some(object))
        .map(|r| r.client)
        .collect();
    tags.dedup();
    tags
}

async fn wait_reconciled(fake: &FakeKube, name: &str) {
    eventually(&format!("{name} reconciled"), || {
        ccp(fake, "coder", name)
            .filter(|o| condition(o, "Degraded").is_some())
            .map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn one_instance_reconciles_and_stopping_it_hands_over_within_the_lease() {
    // The Lease lasts longer than every wait below (20 s): a takeover that had to wait for
    // expiry would fail the test, so passing shows the release on shutdown works.
    let lease = Duration::from_secs(60);
    let fake = FakeKube::new();
    let a = start(&fake, "a", settings("a", lease));
    let holder = eventually("a holds the lease", || lease_holder(&fake)).await;
    assert_eq!(holder, "a");
    let b = start(&fake, "b", settings("b", lease));

    create_ccp(&fake, "one", "coder", json!({})).await;
    wait_reconciled(&fake, "one").await;
    assert_eq!(reconcilers(&fake, "one"), vec!["a".to_string()]);
    // The standby touches nothing but the Lease.
    eventually("b polled the lease", || {
        fake.requests()
            .iter()
            .any(|r| r.client == "b")
            .then_some(())
    })
    .await;
    let standby_resources: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.client == "b")
        .map(|r| r.resource)
        .filter(|r| r != "leases")
        .collect();
    assert!(standby_resources.is_empty(), "{standby_resources:?}");

    a.stop().await.expect("leader stops cleanly");
    let holder = eventually("b takes the lease", || {
        lease_holder(&fake).filter(|h| h == "b")
    })
    .await;
    assert_eq!(holder, "b");
    let lease_obj = fake
        .get(
            "coordination.k8s.io",
            "leases",
            LEASE_NS,
            "coder-k8s-controller",
        )
        .unwrap();
    assert_eq!(lease_obj["spec"]["leaseTransitions"], 1);

    create_ccp(&fake, "two", "coder", json!({})).await;
    wait_reconciled(&fake, "two").await;
    assert_eq!(reconcilers(&fake, "two"), vec!["b".to_string()]);
    b.stop().await.unwrap();
    // Released on shutdown: nobody holds it now.
    assert_eq!(lease_holder(&fake), None);
}

#[tokio::test]
async fn a_crashed_leader_is_replaced_after_the_lease_expires() {
    let lease = Duration::from_secs(1);
    let fake = FakeKube::new();
    let a = start(&fake, "a", settings("a", lease));
    eventually("a holds the lease", || {
        lease_holder(&fake).filter(|h| h == "a")
    })
    .await;
    let b = start(&fake, "b", settings("b", lease));
    // Simulate a crash: no shutdown, no release.
    a.task.abort();
    eventually("b takes the expired lease", || {
        lease_holder(&fake).filter(|h| h == "b")
    })
    .await;
    create_ccp(&fake, "one", "coder", json!({})).await;
    wait_reconciled(&fake, "one").await;
    assert_eq!(reconcilers(&fake, "one"), vec!["b".to_string()]);
    b.stop().await.unwrap();
}
