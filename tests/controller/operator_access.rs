//! Operator access (docs/operator-access.md) with the controller running against the
//! in-process fake Kubernetes API and the fake coderd: first-user bootstrap, the minted token
//! and its Secrets, a provided Owner token, refusals, coderd down and back, rotation, and a
//! token coderd stopped accepting.

use crate::support;

use std::time::Duration;

use base64::Engine as _;
use coder_k8s::coder::{ClientOptions, CoderClient, Password, SessionToken};
use fake_coderd::FakeCoderd;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::fake_kube::FakeKube;
use support::*;

const NS: &str = "coder";

fn coderd(url: &str) -> CoderClient {
    CoderClient::new(
        url,
        ClientOptions {
            timeout: Duration::from_secs(5),
            tls: None,
        },
    )
    .expect("client")
}

fn secret(fake: &FakeKube, name: &str) -> Option<Value> {
    fake.get("", "secrets", NS, name)
}

/// A value of a Secret stored in the fake API (base64 in `data`).
fn secret_value(secret: &Value, key: &str) -> String {
    let encoded = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("key {key} in {secret}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("utf-8")
}

fn access(fake: &FakeKube, name: &str) -> Option<(Value, Value)> {
    let obj = ccp(fake, NS, name)?;
    let condition = condition(&obj, "OperatorAccessReady")?;
    Some((obj, condition))
}

/// Waits until the condition has `reason` and returns the object and the condition; the
/// failure names the last condition seen.
async fn wait_reason(fake: &FakeKube, name: &str, reason: &str) -> (Value, Value) {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        let seen = access(fake, name);
        if let Some((obj, condition)) = &seen
            && condition["reason"] == reason
        {
            return (obj.clone(), condition.clone());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: no OperatorAccessReady reason {reason}; last: {:?}",
            seen.map(|(_, c)| c)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn owner_uid(fake: &FakeKube, name: &str) -> String {
    ccp(fake, NS, name).expect("ccp")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string()
}

fn assert_controlled_by(secret: &Value, uid: &str) {
    let refs = secret["metadata"]["ownerReferences"]
        .as_array()
        .unwrap_or_else(|| panic!("owner references on {secret}"));
    assert!(
        refs.iter().any(|r| r["uid"] == uid
            && r["controller"] == true
            && r["kind"] == "CoderControlPlane"),
        "{secret}"
    );
}

#[tokio::test]
async fn a_fresh_coderd_is_bootstrapped_and_the_token_works() {
    let coder = FakeCoderd::start().await;
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(
        &fake,
        "boot",
        NS,
        json!({"operatorAccess": {"url": coder.url(), "tokenLifetime": "720h"}}),
    )
    .await;

    // Without waiting for the Deployment: the URL is explicit.
    let (obj, condition) = wait_reason(&fake, "boot", "Bootstrapped").await;
    assert_eq!(condition["status"], "True", "{condition}");
    assert_eq!(obj["status"]["operatorAccessReady"], true);
    assert_eq!(
        obj["status"]["operatorTokenSecretRef"],
        json!({"name": "boot-operator-token", "key": "token"})
    );
    assert_eq!(obj["status"]["url"], coder.url());

    let uid = owner_uid(&fake, "boot");
    let token_secret = secret(&fake, "boot-operator-token").expect("token Secret");
    assert_controlled_by(&token_secret, &uid);
    let credentials = secret(&fake, "boot-admin-credentials").expect("credentials Secret");
    assert_controlled_by(&credentials, &uid);

    // The token is an Owner's, the admin's.
    let token = SessionToken::new(secret_value(&token_secret, "token"));
    let me = coderd(&coder.url())
        .with_token(token.clone())
        .me()
        .await
        .expect("the token works");
    assert!(me.is_owner());
    // 720h is more than coderd lets an Owner's token live (168h): the
    // controller minted the longest allowed instead of failing.
    let key = coderd(&coder.url())
        .with_token(token.clone())
        .api_key("me", token.key_id().expect("key id"))
        .await
        .expect("key metadata");
    let lifetime = key
        .expires_at
        .duration_since(key.created_at.expect("created_at"));
    assert_eq!(lifetime.as_hours(), 168, "{lifetime:?}");
    assert_eq!(me.username, secret_value(&credentials, "username"));

    // The stored password logs in (what an admin does to use Coder's UI).
    coderd(&coder.url())
        .login(
            &secret_value(&credentials, "email"),
            &Password::new(secret_value(&credentials, "password")),
        )
        .await
        .expect("the stored credentials log in");

    // The login session used to mint the token was ended; only the minted token remains.
    let requests = coder.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.path == "/api/v2/users/first" && r.status == 201),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "DELETE" && r.path.starts_with("/api/v2/users/me/keys/")),
        "the login session is deleted: {requests:?}"
    );
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn a_provided_owner_token_is_validated_and_referenced_not_copied() {
    let coder = FakeCoderd::start().await;
    let admin = coder.admin();
    admin
        .create_first_user("owner@example.com", "owner", "Owner-password-1!")
        .expect("first user");
    let owner_token = admin.api_token("owner").expect("owner token");
    admin.create_user("coder", "member").expect("member");
    let member_token = admin.api_token("member").expect("member token");

    let fake = FakeKube::new();
    let secrets: Api<Secret> = Api::namespaced(fake.client("test"), NS);
    for (name, token) in [
        ("owner-token", &owner_token),
        ("member-token", &member_token),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": NS},
            // A trailing newline, as `kubectl create secret --from-file` often stores it.
            "data": {"coder": base64::engine::general_purpose::STANDARD.encode(format!("{token}\n"))},
        }))
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create Secret");
    }
    let controller = start(&fake, "controller", test_settings());
    for (name, secret_name) in [
        ("owned", "owner-token"),
        ("member", "member-token"),
        ("missing", "no-such-secret"),
    ] {
        create_ccp(
            &fake,
            name,
            NS,
            json!({"operatorAccess": {
                "url": coder.url(),
                "tokenSecretRef": {"name": secret_name, "key": "coder"},
            }}),
        )
        .await;
    }

    let (obj, condition) = wait_reason(&fake, "owned", "TokenProvided").await;
    assert_eq!(condition["status"], "True");
    assert_eq!(
        obj["status"]["operatorTokenSecretRef"],
        json!({"name": "owner-token", "key": "coder"})
    );
    assert!(
        condition["message"].as_str().unwrap().contains("owner"),
        "{condition}"
    );

    let (obj, condition) = wait_reason(&fake, "member", "TokenInvalid").await;
    assert_eq!(condition["status"], "False");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("not an Owner"),
        "{condition}"
    );
    assert_eq!(obj["status"]["operatorAccessReady"], false);
    assert!(
        obj["status"].get("operatorTokenSecretRef").is_none(),
        "{obj}"
    );

    let (_, condition) = wait_reason(&fake, "missing", "TokenInvalid").await;
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("no-such-secret"),
        "{condition}"
    );

    // Nothing was bootstrapped, minted or copied.
    assert!(secret(&fake, "owned-operator-token").is_none());
    assert!(secret(&fake, "owned-admin-credentials").is_none());
    assert!(
        !coder.requests().iter().any(|r| r.method == "POST"),
        "{:?}",
        coder.requests()
    );
    let texts = serde_json::to_string(&fake.list("coder.com", "codercontrolplanes")).unwrap();
    assert!(!texts.contains(&owner_token), "a token leaked into status");
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn a_coderd_with_users_but_no_credentials_of_ours_asks_for_a_token() {
    let coder = FakeCoderd::start().await;
    coder
        .admin()
        .create_first_user("someone@example.com", "someone", "Someone-password-1!")
        .expect("first user");
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(
        &fake,
        "taken",
        NS,
        json!({"operatorAccess": {"url": coder.url()}}),
    )
    .await;
    let (obj, condition) = wait_reason(&fake, "taken", "FirstUserExists").await;
    eventually("a Warning Event naming the reason", || {
        fake.list("events.k8s.io", "events")
            .iter()
            .any(|e| e["type"] == "Warning" && e["reason"] == "FirstUserExists")
            .then_some(())
    })
    .await;
    assert_eq!(condition["status"], "False");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("tokenSecretRef"),
        "{condition}"
    );
    assert_eq!(obj["status"]["operatorAccessReady"], false);
    assert!(secret(&fake, "taken-operator-token").is_none());
    assert!(secret(&fake, "taken-admin-credentials").is_none());
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn coderd_down_is_a_condition_and_access_follows_when_it_returns() {
    let mut coder = FakeCoderd::start().await;
    coder.stop().await;
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(
        &fake,
        "down",
        NS,
        json!({"operatorAccess": {"url": coder.url()}}),
    )
    .await;
    let (obj, condition) = wait_reason(&fake, "down", "CoderdUnreachable").await;
    assert_eq!(condition["status"], "False");
    assert_eq!(obj["status"]["operatorAccessReady"], false);
    // Not a reconcile failure: the children were applied.
    let degraded = support::condition(&obj, "Degraded").expect("Degraded");
    assert_eq!(degraded["status"], "False", "{obj}");

    // A proxy answering 503 is "unreachable" too.
    coder.restart().await;
    coder.set_unavailable(true);
    eventually("503 seen by the controller", || {
        coder
            .requests()
            .iter()
            .any(|r| r.status == 503)
            .then_some(())
    })
    .await;
    eventually("CoderdUnreachable naming the 503", || {
        access(&fake, "down").filter(|(_, c)| {
            c["reason"] == "CoderdUnreachable"
                && c["message"].as_str().unwrap_or("").contains("503")
        })
    })
    .await;

    coder.set_unavailable(false);
    let (obj, _) = wait_reason(&fake, "down", "Bootstrapped").await;
    assert_eq!(obj["status"]["operatorAccessReady"], true);
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn short_lived_tokens_are_rotated_and_the_old_one_deleted() {
    let coder = FakeCoderd::start().await;
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(
        &fake,
        "rot",
        NS,
        json!({"operatorAccess": {"url": coder.url(), "tokenLifetime": "3s"}}),
    )
    .await;
    wait_reason(&fake, "rot", "Bootstrapped").await;
    let first = secret_value(&secret(&fake, "rot-operator-token").unwrap(), "token");

    // A third of 3 s before expiry (after ~2 s) a new token replaces it.
    let second = eventually("a rotated token", || {
        let token = secret_value(&secret(&fake, "rot-operator-token")?, "token");
        (token != first).then_some(token)
    })
    .await;
    let first_id = first.split('-').next().unwrap().to_string();
    eventually("the old token deleted in coderd", || {
        coder
            .requests()
            .iter()
            .any(|r| {
                r.method == "DELETE"
                    && r.path == format!("/api/v2/users/me/keys/{first_id}")
                    && (200..300).contains(&r.status)
            })
            .then_some(())
    })
    .await;
    let client = coderd(&coder.url());
    let old = client
        .with_token(SessionToken::new(first))
        .me()
        .await
        .unwrap_err();
    assert!(old.is_unauthorized(), "{old}");
    let me = client
        .with_token(SessionToken::new(second))
        .me()
        .await
        .expect("the new token works");
    assert!(me.is_owner());
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn a_token_coderd_stopped_accepting_is_replaced() {
    let coder = FakeCoderd::start().await;
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(
        &fake,
        "exp",
        NS,
        json!({"operatorAccess": {"url": coder.url()}}),
    )
    .await;
    wait_reason(&fake, "exp", "Bootstrapped").await;
    let first = secret_value(&secret(&fake, "exp-operator-token").unwrap(), "token");
    coder.admin().expire_key(&first).expect("expire");

    // Any reconcile notices (here: a spec change).
    let api: Api<coder_k8s::api::coder::v1alpha1::CoderControlPlane> =
        Api::namespaced(fake.client("test"), NS);
    api.patch(
        "exp",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .expect("patch");
    let second = eventually("a new token", || {
        let token = secret_value(&secret(&fake, "exp-operator-token")?, "token");
        (token != first).then_some(token)
    })
    .await;
    let me = coderd(&coder.url())
        .with_token(SessionToken::new(second))
        .me()
        .await
        .expect("the new token works");
    assert!(me.is_owner());
    let (obj, condition) = wait_reason(&fake, "exp", "Bootstrapped").await;
    assert_eq!(condition["status"], "True");
    assert_eq!(obj["status"]["operatorAccessReady"], true);
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn disabled_access_calls_nothing() {
    let coder = FakeCoderd::start().await;
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(
        &fake,
        "off",
        NS,
        json!({"operatorAccess": {"url": coder.url(), "disabled": true}}),
    )
    .await;
    let (obj, condition) = wait_reason(&fake, "off", "Disabled").await;
    assert_eq!(condition["status"], "False");
    assert_eq!(obj["status"]["operatorAccessReady"], false);
    assert!(coder.requests().is_empty(), "{:?}", coder.requests());
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn the_default_url_waits_for_an_available_coderd() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "svc", NS, json!({})).await;
    let (_, condition) = wait_reason(&fake, "svc", "CoderdUnreachable").await;
    assert!(
        condition["message"].as_str().unwrap().contains(
            "waiting for a coderd replica to become available at http://svc.coder.svc.cluster.local"
        ),
        "{condition}"
    );
    let bad = fake.list("", "secrets");
    assert!(bad.is_empty(), "no Secret read or written: {bad:?}");
    // The license Secret watch (list/watch, metadata only) runs from the start; no Secret is
    // read or written for operator access.
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.resource == "secrets" && !matches!(r.verb.as_str(), "list" | "watch")),
        "no Secret requests before coderd can answer"
    );
    controller.stop().await.expect("controller stops");
}
