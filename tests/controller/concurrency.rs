//! `--max-concurrent-reconciles` against the in-process fake API server: with a bound of one,
//! no two reconciles overlap, even when many objects are due at once.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::fake_kube::FakeKube;
use support::*;

const NS: &str = "coder";
const OBJECTS: usize = 6;

/// Creates `OBJECTS` control planes before the controller starts (so all are due at once),
/// runs the controller with `bound` until every one has a status, and returns the most
/// server-side applies that were in flight at the same time.
async fn most_applies_at_once(bound: u16) -> u64 {
    let fake = FakeKube::new();
    // Long enough that reconciles running side by side are certain to overlap in their writes.
    fake.set_patch_latency(Duration::from_millis(40));
    for i in 0..OBJECTS {
        create_ccp(&fake, &format!("coder-{i}"), NS, json!({})).await;
    }
    let settings = coder_k8s::controller::Settings {
        max_concurrent_reconciles: bound,
        ..test_settings()
    };
    let controller = start(&fake, "controller", settings);
    for i in 0..OBJECTS {
        eventually("every control plane gets a status", || {
            ccp(&fake, NS, &format!("coder-{i}")).filter(|o| condition(o, "Degraded").is_some())
        })
        .await;
    }
    controller.stop().await.unwrap();
    fake.most_patches_in_flight()
}

#[tokio::test]
async fn with_a_bound_of_one_no_two_reconciles_overlap() {
    // Each reconcile sends its applies one after another, so more than one apply in flight
    // means two reconciles ran at once.
    assert_eq!(most_applies_at_once(1).await, 1);
}

#[tokio::test]
async fn without_a_bound_due_reconciles_run_side_by_side() {
    // The check above can see overlap: without a bound it does.
    assert!(most_applies_at_once(0).await > 1);
}

#[tokio::test]
async fn a_bound_of_three_allows_three_reconciles_at_once() {
    let most = most_applies_at_once(3).await;
    assert!((2..=3).contains(&most), "{most} applies in flight at once");
}
