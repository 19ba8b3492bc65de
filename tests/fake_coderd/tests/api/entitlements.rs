//! GET /api/v2/entitlements (enterprise/coderd serveEntitlements; codersdk.Entitlements) and
//! the per-feature switch `Admin::set_entitlement`.

use crate::common::{Api, owner_session};
use fake_coderd::{AdminError, Entitlement, FEATURE_NAMES, FakeCoderd};
use serde_json::Value;

fn feature<'a>(e: &'a Value, name: &str) -> &'a Value {
    &e["features"][name]
}

#[tokio::test]
async fn an_unlicensed_deployment_lists_every_feature_not_entitled() {
    let fake = FakeCoderd::start().await;
    owner_session(&fake).await;
    // coderd mounts /entitlements without the API key middleware.
    let e = Api::new(&fake).get("/entitlements").await.expect(200);
    let features = e["features"].as_object().expect("features is an object");
    for name in FEATURE_NAMES {
        let f = &features[*name];
        assert_eq!(f["entitlement"], "not_entitled", "{name}: {f}");
        assert_eq!(f["enabled"], false, "{name}: {f}");
    }
    assert_eq!(features.len(), FEATURE_NAMES.len());
    assert_eq!(e["has_license"], false);
    assert_eq!(e["trial"], false);
    assert_eq!(e["require_telemetry"], false);
    assert_eq!(e["warnings"], Value::Array(vec![]));
    assert_eq!(e["errors"], Value::Array(vec![]));
    assert!(
        e["refreshed_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{e}"
    );
    // The user limit shows the active users even without a license, and no limit.
    assert_eq!(feature(&e, "user_limit")["actual"], 1);
    assert!(feature(&e, "user_limit").get("limit").is_none());
    assert!(feature(&e, "workspace_proxy").get("actual").is_none());
}

#[tokio::test]
async fn the_switch_turns_one_feature_on_and_off() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let admin = fake.admin();

    admin
        .set_entitlement("workspace_proxy", Entitlement::Entitled)
        .unwrap();
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(feature(&e, "workspace_proxy")["entitlement"], "entitled");
    assert_eq!(feature(&e, "workspace_proxy")["enabled"], true);
    assert_eq!(e["has_license"], true);
    let other = feature(&e, "external_provisioner_daemons");
    assert_eq!(other["entitlement"], "not_entitled");
    assert_eq!(other["enabled"], false);
    // coderd warns about features the server enables but the license does not cover.
    assert!(
        e["warnings"].as_array().unwrap().iter().any(|w| w
            == "External Provisioner Daemons is enabled but your license is not entitled to this feature."),
        "{e}"
    );

    admin
        .set_entitlement("external_provisioner_daemons", Entitlement::GracePeriod)
        .unwrap();
    let e = admin.entitlements();
    let grace = feature(&e, "external_provisioner_daemons");
    assert_eq!(grace["entitlement"], "grace_period");
    assert_eq!(grace["enabled"], true);
    assert!(
        e["warnings"].as_array().unwrap().iter().any(|w| w
            == "External Provisioner Daemons is enabled but your license for this feature is expired."),
        "{e}"
    );

    admin
        .set_entitlement("workspace_proxy", Entitlement::NotEntitled)
        .unwrap();
    let e = admin.entitlements();
    assert_eq!(
        feature(&e, "workspace_proxy")["entitlement"],
        "not_entitled"
    );
    assert_eq!(feature(&e, "workspace_proxy")["enabled"], false);

    admin.clear_entitlement("external_provisioner_daemons");
    admin.clear_entitlement("workspace_proxy");
    let e = admin.entitlements();
    assert_eq!(e["has_license"], false);
    assert_eq!(
        feature(&e, "external_provisioner_daemons")["entitlement"],
        "not_entitled"
    );
}

#[tokio::test]
async fn the_switch_refuses_unknown_features() {
    let fake = FakeCoderd::start().await;
    let err = fake
        .admin()
        .set_entitlement("external_provisioners", Entitlement::Entitled)
        .unwrap_err();
    assert!(matches!(err, AdminError::NotFound(_)), "{err}");
}
