//! Licenses (enterprise/coderd/licenses.go postLicense/licenses/deleteLicense;
//! enterprise/coderd/license/license.go for the JWT checks) and how an uploaded license
//! changes /entitlements and the enterprise feature gates.

use std::time::Duration;

use crate::common::{Api, owner_session};
use fake_coderd::{FakeCoderd, license};
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn invalid(detail: &str) -> Value {
    json!({ "message": "Invalid license", "detail": detail })
}

async fn upload(api: &Api, claims: &Value) -> Value {
    api.post(
        "/licenses",
        json!({ "license": license::sign(claims).unwrap() }),
    )
    .await
    .expect(201)
}

#[tokio::test]
async fn a_premium_license_entitles_every_feature_until_deleted() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    // The gate is closed before the license.
    api.get("/workspaceproxies").await.expect(403);

    let claims = license::claims("premium", 90 * DAY);
    let added = upload(&api, &claims).await;
    assert_eq!(added["id"], 1);
    assert_eq!(added["uuid"], claims["jti"]);
    assert!(added["uploaded_at"].as_str().is_some());
    assert_eq!(added["claims"]["account_id"], "fake-coderd");
    assert_eq!(added["claims"]["feature_set"], "premium");
    assert!(
        added.get("license").is_none(),
        "the JWT is never served back"
    );

    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(e["has_license"], true);
    for name in [
        "workspace_proxy",
        "external_provisioner_daemons",
        "custom_roles",
    ] {
        assert_eq!(e["features"][name]["entitlement"], "entitled", "{name}");
        assert_eq!(e["features"][name]["enabled"], true, "{name}");
    }
    // Entitled but switched off by the server's options: audit logging needs a flag.
    assert_eq!(e["features"]["audit_log"]["entitlement"], "entitled");
    assert_eq!(e["features"]["audit_log"]["enabled"], false);
    assert_eq!(e["warnings"], json!([]));
    api.get("/workspaceproxies").await.expect(200);
    api.get("/organizations/coder/provisionerkeys")
        .await
        .expect(200);

    let listed = api.get("/licenses").await.expect(200);
    assert_eq!(listed, json!([added]));

    // The same JWT again: the unique index on the JWT column answers, as a 500.
    let again = api
        .post(
            "/licenses",
            json!({ "license": license::sign(&claims).unwrap() }),
        )
        .await
        .expect(500);
    assert_eq!(
        again,
        json!({
            "message": "Unable to add license to database",
            "detail": "pq: duplicate key value violates unique constraint \"licenses_jwt_key\"",
        })
    );
    assert_eq!(
        api.get("/licenses")
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    assert_eq!(api.delete("/licenses/1").await.expect(200), Value::Null);
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(e["has_license"], false);
    assert_eq!(
        e["features"]["workspace_proxy"]["entitlement"],
        "not_entitled"
    );
    api.get("/workspaceproxies").await.expect(403);
    // An empty list is JSON null (a nil slice in coderd).
    assert_eq!(api.get("/licenses").await.expect(200), Value::Null);
    assert_eq!(
        api.delete("/licenses/1").await.expect(404),
        json!({ "message": "Unknown license ID" })
    );
    assert_eq!(
        api.delete("/licenses/not-a-number").await.expect(404),
        json!({ "message": "License ID must be an integer" })
    );
}

#[tokio::test]
async fn what_a_license_grants_follows_its_claims() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;

    // The enterprise set lacks the premium-only features.
    upload(&api, &license::claims("enterprise", 90 * DAY)).await;
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(e["features"]["workspace_proxy"]["entitlement"], "entitled");
    assert_eq!(
        e["features"]["multiple_organizations"]["entitlement"],
        "not_entitled"
    );
    api.delete("/licenses/1").await.expect(200);

    // A la carte: one feature and a user limit.
    let mut claims = license::claims("", 90 * DAY);
    claims["features"] = json!({ "workspace_proxy": 1, "user_limit": 10, "not_a_feature": 1 });
    upload(&api, &claims).await;
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(e["features"]["workspace_proxy"]["entitlement"], "entitled");
    assert_eq!(e["features"]["workspace_proxy"]["enabled"], true);
    assert_eq!(
        e["features"]["external_provisioner_daemons"]["entitlement"],
        "not_entitled"
    );
    assert_eq!(e["features"]["user_limit"]["limit"], 10);
    assert_eq!(e["features"]["user_limit"]["actual"], 1);
    assert_eq!(e["features"]["user_limit"]["enabled"], true);
    assert!(e["features"].get("not_a_feature").is_none());
    assert!(
        e["warnings"].as_array().unwrap().iter().any(|w| w
            == "External Provisioner Daemons is enabled but your license is not entitled to this feature."),
        "{e}"
    );
    api.get("/organizations/coder/provisionerkeys")
        .await
        .expect(403);
    api.get("/workspaceproxies").await.expect(200);
}

#[tokio::test]
async fn grace_periods_trials_and_terms_that_have_not_started() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;

    // The term is over, the grace period (until exp) is not: still usable, with warnings.
    let mut claims = license::claims("premium", 90 * DAY);
    claims["license_expires"] = json!(now() - 3600);
    claims["exp"] = json!(now() + 3 * 24 * 3600);
    upload(&api, &claims).await;
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(
        e["features"]["workspace_proxy"]["entitlement"],
        "grace_period"
    );
    assert_eq!(e["features"]["workspace_proxy"]["enabled"], true);
    let warnings = e["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(
            |w| w == "Workspace Proxy is enabled but your license for this feature is expired."
        ),
        "{e}"
    );
    api.get("/workspaceproxies").await.expect(200);
    api.delete("/licenses/1").await.expect(200);

    // A term ending in three days warns; a trial says so.
    let mut claims = license::claims("premium", 3 * DAY - Duration::from_secs(60));
    claims["trial"] = json!(true);
    upload(&api, &claims).await;
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(e["trial"], true);
    assert!(
        e["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "Your license expires in 3 days."),
        "{e}"
    );
    api.delete("/licenses/2").await.expect(200);

    // A license for a future term is accepted but grants nothing yet.
    let mut claims = license::claims("premium", 90 * DAY);
    claims["nbf"] = json!(now() + 3600);
    upload(&api, &claims).await;
    let e = api.get("/entitlements").await.expect(200);
    assert_eq!(e["has_license"], false);
    assert_eq!(
        e["features"]["workspace_proxy"]["entitlement"],
        "not_entitled"
    );
    assert_eq!(
        api.get("/licenses")
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn bad_licenses_get_coderds_answers() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let good = license::claims("premium", 90 * DAY);

    // golang-jwt's findings all read the same.
    let multiple = invalid("license has multiple issues; contact support");
    assert_eq!(
        api.post("/licenses", json!({ "license": "garbage" }))
            .await
            .expect(400),
        multiple
    );
    assert_eq!(
        api.post(
            "/licenses",
            json!({ "license": license::sign_untrusted(&good).unwrap() })
        )
        .await
        .expect(400),
        multiple
    );
    let mut expired = good.clone();
    expired["license_expires"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    assert_eq!(
        api.post(
            "/licenses",
            json!({ "license": license::sign(&expired).unwrap() })
        )
        .await
        .expect(400),
        multiple
    );
    // coderd's own claim checks have their own words.
    for (field, value, detail) in [
        ("version", json!(2), "license must be version 3"),
        (
            "account_type",
            json!(""),
            "license must contain valid account type",
        ),
        (
            "nbf",
            Value::Null,
            "license has invalid or missing nbf (not before) claim",
        ),
    ] {
        let mut claims = good.clone();
        claims[field] = value;
        assert_eq!(
            api.post(
                "/licenses",
                json!({ "license": license::sign(&claims).unwrap() })
            )
            .await
            .expect(400),
            invalid(detail),
            "{field}"
        );
    }
    // Locked to another deployment.
    let mut locked = good.clone();
    locked["deployment_ids"] = json!(["another-deployment"]);
    let refused = api
        .post(
            "/licenses",
            json!({ "license": license::sign(&locked).unwrap() }),
        )
        .await
        .expect(400);
    assert_eq!(
        refused["message"],
        "License cannot be used on this deployment!"
    );
    let mut ours = good.clone();
    ours["deployment_ids"] = json!([fake.admin().deployment_id().to_string()]);
    api.post(
        "/licenses",
        json!({ "license": license::sign(&ours).unwrap() }),
    )
    .await
    .expect(201);
    // The body must carry a license.
    let empty = api.post("/licenses", json!({})).await.expect(400);
    assert_eq!(empty["message"], "Validation failed.");
    assert_eq!(empty["validations"][0]["field"], "license");
    assert_eq!(fake.admin().licenses().len(), 1);
}

#[tokio::test]
async fn only_owners_manage_licenses() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let admin = fake.admin();
    let jwt = license::sign(&license::claims("premium", 90 * DAY)).unwrap();
    Api::new(&fake)
        .post("/licenses", json!({ "license": jwt }))
        .await
        .expect(401);
    admin.create_user("coder", "alice").unwrap();
    let alice = Api::new(&fake).with_token(&admin.api_token("alice").unwrap());
    alice
        .post("/licenses", json!({ "license": jwt }))
        .await
        .expect(403);
    let id = admin.add_license(&jwt).unwrap();
    // Members see no licenses (filtered, and an empty result is null).
    assert_eq!(alice.get("/licenses").await.expect(200), Value::Null);
    alice.delete(&format!("/licenses/{id}")).await.expect(403);
    assert_eq!(
        api.get("/licenses")
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Everyone reads the entitlements the license grants.
    assert_eq!(
        alice.get("/entitlements").await.expect(200)["has_license"],
        true
    );
    assert!(admin.add_license("garbage").is_err());
}
