//! Provisioner keys (enterprise/coderd/provisionerkeys.go; codersdk ProvisionerKey,
//! CreateProvisionerKeyRequest/Response): behind the API key, the organization and the
//! `external_provisioner_daemons` entitlement, in that order.

use crate::common::{Api, owner_session};
use fake_coderd::{Entitlement, FakeCoderd};
use serde_json::{Value, json};

const PREMIUM: &str = "External Provisioner Daemons is a Premium feature. Contact sales!";

async fn entitled(fake: &FakeCoderd) -> Api {
    let api = owner_session(fake).await;
    fake.admin()
        .set_entitlement("external_provisioner_daemons", Entitlement::Entitled)
        .unwrap();
    api
}

#[tokio::test]
async fn without_the_entitlement_every_route_is_a_premium_403() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    for answer in [
        api.get("/organizations/coder/provisionerkeys").await,
        api.post(
            "/organizations/coder/provisionerkeys",
            json!({ "name": "k" }),
        )
        .await,
        api.get("/organizations/coder/provisionerkeys/daemons")
            .await,
        api.delete("/organizations/coder/provisionerkeys/k").await,
    ] {
        assert_eq!(answer.expect(403), json!({ "message": PREMIUM }));
    }
    // The API key and the organization are checked first.
    Api::new(&fake)
        .get("/organizations/coder/provisionerkeys")
        .await
        .expect(401);
    api.get("/organizations/nope/provisionerkeys")
        .await
        .expect(404);
    // Switched on, the same request goes through; off again, it does not.
    fake.admin()
        .set_entitlement("external_provisioner_daemons", Entitlement::Entitled)
        .unwrap();
    api.get("/organizations/coder/provisionerkeys")
        .await
        .expect(200);
    fake.admin()
        .set_entitlement("external_provisioner_daemons", Entitlement::NotEntitled)
        .unwrap();
    api.get("/organizations/coder/provisionerkeys")
        .await
        .expect(403);
}

#[tokio::test]
async fn a_key_is_shown_once_listed_with_its_tags_and_deleted_by_name() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    let org = api.get("/organizations/coder").await.expect(200)["id"].clone();

    let created = api
        .post(
            "/organizations/coder/provisionerkeys",
            json!({ "name": "K8s-East", "tags": { "cluster": "east", "scope": "organization" } }),
        )
        .await
        .expect(201);
    let secret = created["key"].as_str().expect("the key").to_string();
    assert_eq!(created.as_object().map(|o| o.len()), Some(1), "{created}");
    assert_eq!(secret.len(), 43);
    assert!(fake.admin().provisioner_key_valid(&secret));
    assert!(
        !fake
            .admin()
            .provisioner_key_valid(&format!("{}x", &secret[1..]))
    );

    let list = api
        .get(&format!(
            "/organizations/{}/provisionerkeys",
            org.as_str().unwrap()
        ))
        .await
        .expect(200);
    let keys = list.as_array().unwrap();
    // The default organization's reserved keys (built-in, user-auth, psk) are not listed.
    assert_eq!(keys.len(), 1, "{list}");
    let key = &keys[0];
    assert_eq!(key["name"], "k8s-east");
    assert_eq!(key["organization"], org);
    assert_eq!(
        key["tags"],
        json!({ "cluster": "east", "scope": "organization" })
    );
    assert!(key["id"].as_str().is_some() && key["created_at"].as_str().is_some());
    let mut fields: Vec<&String> = key.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["created_at", "id", "name", "organization", "tags"]);
    assert_eq!(fake.admin().provisioner_keys(), vec![key.clone()]);

    // No tags: stored as an empty map.
    api.post(
        "/organizations/coder/provisionerkeys",
        json!({ "name": "plain" }),
    )
    .await
    .expect(201);
    let list = api
        .get("/organizations/coder/provisionerkeys")
        .await
        .expect(200);
    assert_eq!(list[1]["name"], "plain");
    assert_eq!(list[1]["tags"], json!({}));

    // Found by name, case-insensitively; 204 without a body.
    let deleted = api
        .delete("/organizations/coder/provisionerkeys/K8S-EAST")
        .await;
    assert_eq!(deleted.expect(204), Value::Null);
    assert!(!fake.admin().provisioner_key_valid(&secret));
    api.delete("/organizations/coder/provisionerkeys/k8s-east")
        .await
        .expect(404);
    let list = api
        .get("/organizations/coder/provisionerkeys")
        .await
        .expect(200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn names_are_checked_as_coderd_checks_them() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    let path = "/organizations/coder/provisionerkeys";
    let refused = |message: &str| json!({ "message": message, "validations": [{ "field": "name", "detail": message }] });
    assert_eq!(
        api.post(path, json!({ "tags": {} })).await.expect(400),
        refused("Name is required")
    );
    assert_eq!(
        api.post(path, json!({ "name": "k".repeat(65) }))
            .await
            .expect(400),
        refused("Name must be at most 64 characters")
    );
    api.post(path, json!({ "name": "k".repeat(64) }))
        .await
        .expect(201);
    for reserved in ["built-in", "User-Auth", "PSK"] {
        assert_eq!(
            api.post(path, json!({ "name": reserved }))
                .await
                .expect(400),
            refused(&format!("Name cannot be reserved name '{reserved}'"))
        );
    }
    // coderd does not hold provisioner key names to its name rules: anything up to 64, stored
    // lowercased.
    api.post(path, json!({ "name": "My Key_1.0" }))
        .await
        .expect(201);
    let names: Vec<Value> = api
        .get(path)
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names, [json!("k".repeat(64)), json!("my key_1.0")]);
    assert_eq!(
        api.post(path, json!({ "name": "my key_1.0" }))
            .await
            .expect(409),
        json!({ "message": "Provisioner key with name 'my key_1.0' already exists in organization" })
    );
    // The same name in another organization is fine.
    fake.admin().create_organization("platform").unwrap();
    api.post(
        "/organizations/platform/provisionerkeys",
        json!({ "name": "my key_1.0" }),
    )
    .await
    .expect(201);
    let bad = api
        .send(reqwest::Method::POST, path, Some(json!("not an object")))
        .await
        .expect(400);
    assert_eq!(bad["message"], "Request body must be valid JSON.");
}

#[tokio::test]
async fn reserved_keys_cannot_be_deleted_and_members_cannot_write() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    assert_eq!(
        api.delete("/organizations/coder/provisionerkeys/psk")
            .await
            .expect(400),
        json!({ "message": "Cannot delete reserved 'psk' provisioner key" })
    );
    // Outside the default organization there are no reserved rows: not found.
    fake.admin().create_organization("platform").unwrap();
    api.delete("/organizations/platform/provisionerkeys/psk")
        .await
        .expect(404);

    let admin = fake.admin();
    admin.create_user("coder", "alice").unwrap();
    let alice = Api::new(&fake).with_token(&admin.api_token("alice").unwrap());
    let secret = admin
        .create_provisioner_key("coder", "ci", &[("os", "linux")])
        .unwrap();
    assert!(admin.provisioner_key_valid(&secret));
    // dbauthz refuses the write; these handlers turn that into a 500.
    let refused = alice
        .post(
            "/organizations/coder/provisionerkeys",
            json!({ "name": "mine" }),
        )
        .await
        .expect(500);
    assert_eq!(refused["message"], "An internal server error occurred.");
    alice
        .delete("/organizations/coder/provisionerkeys/ci")
        .await
        .expect(500);
    assert!(admin.provisioner_key_valid(&secret));
    // An organization the member does not belong to does not exist for them.
    alice
        .get("/organizations/platform/provisionerkeys")
        .await
        .expect(404);
}

#[tokio::test]
async fn daemons_lists_every_key_with_no_daemons() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    api.post(
        "/organizations/coder/provisionerkeys",
        json!({ "name": "k8s", "tags": { "cluster": "east" } }),
    )
    .await
    .expect(201);
    let org = api.get("/organizations/coder").await.expect(200)["id"].clone();
    let list = api
        .get("/organizations/coder/provisionerkeys/daemons")
        .await
        .expect(200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"]["name"].as_str().unwrap())
        .collect();
    for expected in ["built-in", "user-auth", "psk", "k8s"] {
        assert!(names.contains(&expected), "{list}");
    }
    for entry in list.as_array().unwrap() {
        assert_eq!(entry["daemons"], json!([]));
        assert_eq!(entry["key"]["organization"], org);
    }
    // Another organization has only the user-auth key, reported for it.
    fake.admin().create_organization("platform").unwrap();
    let other = api
        .get("/organizations/platform/provisionerkeys/daemons")
        .await
        .expect(200);
    assert_eq!(other.as_array().map(Vec::len), Some(1), "{other}");
    assert_eq!(other[0]["key"]["name"], "user-auth");
    assert_eq!(
        other[0]["key"]["id"],
        "00000000-0000-0000-0000-000000000002"
    );
}
