//! Users, login and API keys, as coderd answers them (coderd/users.go, userauth.go, apikey.go,
//! httpmw/apikey.go).

use std::time::Duration;

use crate::common::{Api, OWNER_EMAIL, OWNER_PASSWORD, owner_session};
use fake_coderd::FakeCoderd;
use serde_json::json;

#[tokio::test]
async fn first_user_flow_then_login() {
    let fake = FakeCoderd::start().await;
    let api = Api::new(&fake);

    let pending = api.get("/users/first").await.expect(404);
    assert_eq!(pending["message"], "The initial user has not been created!");

    // Validation happens before anything else (httpapi.Read).
    let invalid = api
        .post(
            "/users/first",
            json!({ "email": "not-an-email", "username": "bad_name", "password": OWNER_PASSWORD }),
        )
        .await
        .expect(400);
    assert_eq!(invalid["message"], "Validation failed.");
    let fields: Vec<_> = invalid["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "username"]);

    let weak = api
        .post(
            "/users/first",
            json!({ "email": OWNER_EMAIL, "username": "admin", "password": "password" }),
        )
        .await
        .expect(400);
    assert_eq!(weak["message"], "Password not strong enough!");
    assert_eq!(weak["validations"][0]["field"], "password");

    let created = api
        .post(
            "/users/first",
            json!({ "email": OWNER_EMAIL, "username": "admin", "password": OWNER_PASSWORD }),
        )
        .await
        .expect(201);
    let orgs = fake.admin().organizations();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["name"], "coder");
    assert_eq!(created["organization_id"], orgs[0]["id"]);

    let again = api
        .post(
            "/users/first",
            json!({ "email": "b@example.com", "username": "other", "password": OWNER_PASSWORD }),
        )
        .await
        .expect(409);
    assert_eq!(
        again["message"],
        "The initial user has already been created."
    );
    assert_eq!(
        api.get("/users/first").await.expect(200)["message"],
        "The initial user has already been created!"
    );

    let wrong = api
        .post(
            "/users/login",
            json!({ "email": OWNER_EMAIL, "password": "nope-Nope-123!" }),
        )
        .await
        .expect(401);
    assert_eq!(wrong["message"], "Incorrect email or password.");
    let login = api
        .post(
            "/users/login",
            json!({ "email": OWNER_EMAIL, "password": OWNER_PASSWORD }),
        )
        .await
        .expect(201);
    let token = login["session_token"].as_str().unwrap();
    let (id, secret) = token.split_once('-').unwrap();
    assert_eq!((id.len(), secret.len()), (10, 22));

    let me = api.with_token(token).get("/users/me").await.expect(200);
    assert_eq!(me["id"], created["user_id"]);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["roles"][0]["name"], "owner");
    assert_eq!(me["organization_ids"][0], orgs[0]["id"]);
    assert_eq!(me["login_type"], "password");
    // By id and by name too.
    let by_id = api
        .with_token(token)
        .get(&format!("/users/{}", created["user_id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(by_id["username"], "admin");
    let nobody = api.with_token(token).get("/users/nobody").await.expect(400);
    assert_eq!(
        nobody["message"],
        "\"user\" must be an existing uuid or username."
    );
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_401_with_coderds_details() {
    let fake = FakeCoderd::start().await;
    let owner = owner_session(&fake).await;
    let anon = Api::new(&fake);

    let missing = anon.get("/users/me").await.expect(401);
    assert_eq!(
        missing["message"],
        "You are signed out or your session has expired. Please sign in again to continue."
    );
    assert_eq!(
        missing["detail"],
        "Cookie \"coder_session_token\" or query parameter must be provided."
    );

    let malformed = anon.with_token("abc").get("/users/me").await.expect(401);
    assert_eq!(
        malformed["detail"],
        "Invalid API key format: incorrect amount of API key parts, expected 2 got 1"
    );
    let short = anon
        .with_token("abc-def")
        .get("/users/me")
        .await
        .expect(401);
    assert_eq!(
        short["detail"],
        "Invalid API key format: invalid API key ID length, expected 10 got 3"
    );
    let unknown = anon
        .with_token("aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb")
        .get("/users/me")
        .await
        .expect(401);
    assert_eq!(unknown["detail"], "API key is invalid.");

    let token = owner.token.clone().unwrap();
    let wrong_secret = format!("{}-{}", token.split('-').next().unwrap(), "x".repeat(22));
    assert_eq!(
        anon.with_token(&wrong_secret)
            .get("/users/me")
            .await
            .expect(401)["detail"],
        "API key secret is invalid."
    );

    // The query parameter and a bearer header carry the token as well.
    let http = reqwest::Client::new();
    let via_query = http
        .get(format!(
            "{}/api/v2/users/me?coder_session_token={token}",
            fake.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(via_query.status(), 200);
    let via_bearer = http
        .get(format!("{}/api/v2/users/me", fake.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(via_bearer.status(), 200);
    let via_access_token = http
        .get(format!(
            "{}/api/v2/users/me?access_token={token}",
            fake.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(via_access_token.status(), 200);

    // 401s carry an RFC 6750 challenge.
    let bare = http
        .get(format!("{}/api/v2/users/me", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.headers()["www-authenticate"], "Bearer realm=\"coder\"");
    let refused = http
        .get(format!("{}/api/v2/users/me", fake.url()))
        .bearer_auth("aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb")
        .send()
        .await
        .unwrap();
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn tokens_are_minted_listed_expire_and_are_deleted() {
    let fake = FakeCoderd::start().await;
    let owner = owner_session(&fake).await;

    // Owners may not mint tokens beyond --max-admin-token-lifetime (7 days), and are told so.
    let config = owner
        .get("/users/me/keys/tokens/tokenconfig")
        .await
        .expect(200);
    assert_eq!(
        config["max_token_lifetime"],
        7u64 * 24 * 3600 * 1_000_000_000
    );
    let eight_days_ns = 8i64 * 24 * 3600 * 1_000_000_000;
    let too_long = owner
        .post(
            "/users/me/keys/tokens",
            json!({ "token_name": "op", "lifetime": eight_days_ns }),
        )
        .await
        .expect(400);
    assert_eq!(
        too_long["message"],
        "Failed to validate create API key request."
    );
    assert_eq!(too_long["detail"], "lifetime must be less than 168h0m0s");
    let negative = owner
        .post("/users/me/keys/tokens", json!({ "lifetime": -1 }))
        .await
        .expect(400);
    assert_eq!(
        negative["detail"],
        "lifetime must be positive number greater than 0"
    );

    let minted = owner
        .post(
            "/users/me/keys/tokens",
            json!({ "token_name": "operator", "lifetime": 3_600_000_000_000i64 }),
        )
        .await
        .expect(201);
    let token = minted["key"].as_str().unwrap().to_string();
    let dup = owner
        .post("/users/me/keys/tokens", json!({ "token_name": "operator" }))
        .await
        .expect(409);
    assert_eq!(
        dup["message"],
        "A token with name \"operator\" already exists."
    );
    assert_eq!(dup["validations"][0]["field"], "name");

    let by_name = owner
        .get("/users/me/keys/tokens/operator")
        .await
        .expect(200);
    assert_eq!(by_name["token_name"], "operator");
    assert_eq!(by_name["login_type"], "token");
    assert_eq!(by_name["lifetime_seconds"], 3600);
    assert_eq!(by_name["id"], token.split('-').next().unwrap());
    let listed = owner.get("/users/me/keys/tokens").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["username"], "admin");
    owner.get("/users/me/keys/tokens/nope").await.expect(404);

    let with_token = Api::new(&fake).with_token(&token);
    with_token.get("/users/me").await.expect(200);

    // A short-lived token stops working once it expires.
    let short = owner
        .post(
            "/users/me/keys/tokens",
            json!({ "token_name": "short", "lifetime": 150_000_000i64 }),
        )
        .await
        .expect(201);
    let short_api = Api::new(&fake).with_token(short["key"].as_str().unwrap());
    short_api.get("/users/me").await.expect(200);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let expired = short_api.get("/users/me").await.expect(401);
    assert!(
        expired["detail"]
            .as_str()
            .unwrap()
            .starts_with("API key expired at "),
        "{expired}"
    );

    // Deleting the key revokes it.
    let key_id = token.split('-').next().unwrap();
    owner
        .delete(&format!("/users/me/keys/{key_id}"))
        .await
        .expect(204);
    with_token.get("/users/me").await.expect(401);
    owner
        .delete(&format!("/users/me/keys/{key_id}"))
        .await
        .expect(404);

    // And an admin can expire a key out of band.
    let other = fake.admin().api_token("admin").unwrap();
    Api::new(&fake)
        .with_token(&other)
        .get("/users/me")
        .await
        .expect(200);
    fake.admin().expire_key(&other).unwrap();
    Api::new(&fake)
        .with_token(&other)
        .get("/users/me")
        .await
        .expect(401);
}

#[tokio::test]
async fn members_are_not_owners() {
    let fake = FakeCoderd::start().await;
    let owner = owner_session(&fake).await;
    let org = fake.admin().organizations()[0]["id"].clone();

    let created = owner
        .post(
            "/users",
            json!({ "email": "dev@example.com", "username": "dev", "password": "Another-Secure-Pass-9", "organization_ids": [org] }),
        )
        .await
        .expect(201);
    assert_eq!(created["roles"], json!([]));
    let no_org = owner
        .post("/users", json!({ "email": "x@example.com", "username": "x", "password": "Another-Secure-Pass-9" }))
        .await
        .expect(400);
    assert_eq!(no_org["validations"][0]["field"], "organization_ids");
    let dup = owner
        .post("/users", json!({ "email": "dev@example.com", "username": "dev2", "password": "Another-Secure-Pass-9", "organization_ids": [org] }))
        .await
        .expect(409);
    assert_eq!(dup["message"], "User already exists.");

    let login = Api::new(&fake)
        .post(
            "/users/login",
            json!({ "email": "dev@example.com", "password": "Another-Secure-Pass-9" }),
        )
        .await
        .expect(201);
    let member = Api::new(&fake).with_token(login["session_token"].as_str().unwrap());
    let refused = member
        .post("/users", json!({ "email": "y@example.com", "username": "y", "password": "Another-Secure-Pass-9", "organization_ids": [org] }))
        .await
        .expect(403);
    assert_eq!(
        refused["message"],
        "You are not authorized to create users."
    );
    // Members may hold tokens up to --max-token-lifetime, far beyond an owner's 7 days.
    member
        .post(
            "/users/me/keys/tokens",
            json!({ "token_name": "long", "lifetime": 30i64 * 24 * 3600 * 1_000_000_000 }),
        )
        .await
        .expect(201);

    fake.admin().suspend_user("dev").unwrap();
    let suspended = member.get("/users/me").await.expect(401);
    assert!(
        suspended["message"]
            .as_str()
            .unwrap()
            .starts_with("User is not active")
    );
}
