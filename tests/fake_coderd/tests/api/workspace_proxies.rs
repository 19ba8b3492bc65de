//! Workspace proxies (enterprise/coderd/workspaceproxy.go; codersdk WorkspaceProxy,
//! CreateWorkspaceProxyRequest, PatchWorkspaceProxy, UpdateWorkspaceProxyResponse,
//! RegionsResponse): registration with a token shown once, rename, token regeneration, soft
//! deletion, the primary proxy's rules and the `workspace_proxy` entitlement gate.

use crate::common::{Api, owner_session};
use fake_coderd::{Entitlement, FakeCoderd};
use serde_json::{Value, json};

const PREMIUM: &str = "Workspace Proxy is a Premium feature. Contact sales!";

const PROXY: &[&str] = &[
    "id",
    "name",
    "display_name",
    "icon_url",
    "healthy",
    "path_app_url",
    "wildcard_hostname",
    "derp_enabled",
    "derp_only",
    "status",
    "created_at",
    "updated_at",
    "deleted",
    "version",
];

async fn entitled(fake: &FakeCoderd) -> Api {
    let api = owner_session(fake).await;
    fake.admin()
        .set_entitlement("workspace_proxy", Entitlement::Entitled)
        .unwrap();
    api
}

fn patch_body(id: &Value, name: &str, display: &str, icon: &str) -> Value {
    json!({ "id": id, "name": name, "display_name": display, "icon": icon })
}

#[tokio::test]
async fn without_the_entitlement_even_anonymous_requests_get_the_premium_403() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    // RequireFeatureMW sits before the API key middleware on /workspaceproxies.
    assert_eq!(
        Api::new(&fake).get("/workspaceproxies").await.expect(403),
        json!({ "message": PREMIUM })
    );
    api.post("/workspaceproxies", json!({ "name": "eu" }))
        .await
        .expect(403);
    api.get("/workspaceproxies/primary").await.expect(403);
    fake.admin()
        .set_entitlement("workspace_proxy", Entitlement::Entitled)
        .unwrap();
    Api::new(&fake).get("/workspaceproxies").await.expect(401);
    api.get("/workspaceproxies").await.expect(200);
}

#[tokio::test]
async fn a_proxy_is_registered_renamed_given_a_new_token_and_deleted() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    let admin = fake.admin();

    let created = api
        .post(
            "/workspaceproxies",
            json!({ "name": "eu-west", "display_name": "Europe", "icon": "/emojis/1f1ea-1f1fa.png" }),
        )
        .await
        .expect(201);
    let proxy = &created["proxy"];
    for field in PROXY {
        assert!(proxy.get(*field).is_some(), "proxy lacks {field}: {proxy}");
    }
    let id = proxy["id"].clone();
    assert_eq!(proxy["name"], "eu-west");
    assert_eq!(proxy["display_name"], "Europe");
    assert_eq!(proxy["icon_url"], "/emojis/1f1ea-1f1fa.png");
    assert_eq!(proxy["healthy"], false);
    assert_eq!(proxy["derp_enabled"], true);
    assert_eq!(proxy["deleted"], false);
    assert_eq!(proxy["status"]["status"], "unregistered");
    assert_eq!(
        proxy["status"]["report"],
        json!({ "errors": [], "warnings": [] })
    );
    let token = created["proxy_token"].as_str().unwrap().to_string();
    let (token_id, secret) = token.split_once(':').expect("<id>:<secret>");
    assert_eq!(json!(token_id), id);
    assert!(secret.len() == 64 && secret.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(admin.workspace_proxy_token_valid(&token));

    // The list is a RegionsResponse with the primary first.
    let list = api.get("/workspaceproxies").await.expect(200);
    let regions = list["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2, "{list}");
    assert_eq!(regions[0]["name"], "primary");
    assert_eq!(regions[0]["healthy"], true);
    assert_eq!(regions[0]["status"]["status"], "ok");
    assert_eq!(regions[0]["path_app_url"], fake.url());
    assert_eq!(regions[0]["id"], json!(admin.deployment_id()));
    assert_eq!(regions[1]["id"], id);

    // By name or id; no token in reads.
    let by_name = api.get("/workspaceproxies/eu-west").await.expect(200);
    assert_eq!(by_name["id"], id);
    assert!(by_name.get("proxy_token").is_none());
    let by_id = api
        .get(&format!("/workspaceproxies/{}", id.as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(by_id["name"], "eu-west");

    // PATCH renames; without regenerate_token the token stays and none is returned.
    let patched = api
        .patch(
            "/workspaceproxies/eu-west",
            patch_body(&id, "eu-central", "Frankfurt", "/emojis/1f1e9-1f1ea.png"),
        )
        .await
        .expect(200);
    assert_eq!(patched["proxy"]["name"], "eu-central");
    assert_eq!(patched["proxy"]["display_name"], "Frankfurt");
    assert_eq!(patched["proxy_token"], "");
    assert!(admin.workspace_proxy_token_valid(&token));
    api.get("/workspaceproxies/eu-west").await.expect(404);

    // regenerate_token: a new token, the old one stops working.
    let mut body = patch_body(&id, "eu-central", "Frankfurt", "/emojis/1f1e9-1f1ea.png");
    body["regenerate_token"] = json!(true);
    let regenerated = api
        .patch("/workspaceproxies/eu-central", body)
        .await
        .expect(200);
    let new_token = regenerated["proxy_token"].as_str().unwrap().to_string();
    assert_ne!(new_token, token);
    assert!(admin.workspace_proxy_token_valid(&new_token));
    assert!(!admin.workspace_proxy_token_valid(&token));

    // Deletion is soft: gone by name and from the list, still readable by id.
    assert_eq!(
        api.delete("/workspaceproxies/eu-central").await.expect(200),
        json!({ "message": "Proxy has been deleted!" })
    );
    api.get("/workspaceproxies/eu-central").await.expect(404);
    let gone = api
        .get(&format!("/workspaceproxies/{}", id.as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(gone["deleted"], true);
    let list = api.get("/workspaceproxies").await.expect(200);
    assert_eq!(list["regions"].as_array().map(Vec::len), Some(1));
    assert!(!admin.workspace_proxy_token_valid(&new_token));
    assert_eq!(admin.workspace_proxies()[0]["deleted"], true);
    // Deleting it again by id succeeds again; the name is free.
    api.delete(&format!("/workspaceproxies/{}", id.as_str().unwrap()))
        .await
        .expect(200);
    api.post("/workspaceproxies", json!({ "name": "eu-central" }))
        .await
        .expect(201);
}

#[tokio::test]
async fn requests_are_checked_as_coderd_checks_them() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    let missing = api
        .post("/workspaceproxies", json!({ "display_name": "x" }))
        .await
        .expect(400);
    assert_eq!(missing["message"], "Validation failed.");
    assert_eq!(missing["validations"][0]["field"], "name");
    assert_eq!(
        api.post("/workspaceproxies", json!({ "name": "Primary" }))
            .await
            .expect(400),
        json!({
            "message": "The name \"primary\" is reserved for the primary region.",
            "detail": "Cannot name a workspace proxy 'primary'.",
            "validations": [{ "field": "name", "detail": "Reserved name" }],
        })
    );
    // Names are not held to coderd's name rules.
    let odd = api
        .post("/workspaceproxies", json!({ "name": "EU West!" }))
        .await
        .expect(201);
    assert_eq!(
        api.post("/workspaceproxies", json!({ "name": "eu west!" }))
            .await
            .expect(409),
        json!({ "message": "Workspace proxy with name \"eu west!\" already exists." })
    );

    // PATCH needs id, name, display_name and icon, every time.
    let id = odd["proxy"]["id"].clone();
    let partial = api
        .patch(
            &format!("/workspaceproxies/{}", id.as_str().unwrap()),
            json!({ "id": id, "name": "EU West!", "display_name": "Europe" }),
        )
        .await
        .expect(400);
    assert_eq!(partial["message"], "Validation failed.");
    let fields: Vec<&str> = partial["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["icon"]);
    let no_id = api
        .patch(
            "/workspaceproxies/primary",
            json!({ "name": "primary", "display_name": "Home", "icon": "/h.png" }),
        )
        .await
        .expect(400);
    assert_eq!(no_id["validations"][0]["field"], "id");

    // Renaming onto a live proxy's name: coderd has no answer of its own, the index says 500.
    api.post("/workspaceproxies", json!({ "name": "us" }))
        .await
        .expect(201);
    let clash = api
        .patch(
            &format!("/workspaceproxies/{}", id.as_str().unwrap()),
            patch_body(&id, "US", "x", "/x.png"),
        )
        .await
        .expect(500);
    assert_eq!(clash["message"], "An internal server error occurred.");
}

#[tokio::test]
async fn the_primary_keeps_its_name_and_cannot_be_deleted() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    let primary = api.get("/workspaceproxies/primary").await.expect(200);
    assert_eq!(primary["display_name"], "Default");
    let id = primary["id"].clone();
    assert_eq!(
        api.get(&format!("/workspaceproxies/{}", id.as_str().unwrap()))
            .await
            .expect(200)["name"],
        "primary"
    );
    let renamed = api
        .patch(
            "/workspaceproxies/primary",
            patch_body(&id, "home", "Home", "/h.png"),
        )
        .await
        .expect(400);
    assert_eq!(
        renamed["message"],
        "Cannot update name of default primary proxy, did you mean to update the 'display name'?"
    );
    let patched = api
        .patch(
            "/workspaceproxies/primary",
            patch_body(&id, "primary", "Home", "/h.png"),
        )
        .await
        .expect(200);
    assert_eq!(patched["proxy"]["display_name"], "Home");
    assert_eq!(patched["proxy"]["icon_url"], "/h.png");
    assert_eq!(
        api.get("/workspaceproxies").await.expect(200)["regions"][0]["display_name"],
        "Home"
    );
    assert_eq!(
        api.delete("/workspaceproxies/primary").await.expect(400),
        json!({ "message": "Cannot delete primary proxy" })
    );
}

#[tokio::test]
async fn members_read_proxies_but_cannot_change_them() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    api.post("/workspaceproxies", json!({ "name": "eu" }))
        .await
        .expect(201);
    let admin = fake.admin();
    admin.create_user("coder", "alice").unwrap();
    let alice = Api::new(&fake).with_token(&admin.api_token("alice").unwrap());
    let list = alice.get("/workspaceproxies").await.expect(200);
    assert_eq!(list["regions"].as_array().map(Vec::len), Some(2));
    let id = list["regions"][1]["id"].clone();
    alice
        .post("/workspaceproxies", json!({ "name": "mine" }))
        .await
        .expect(500);
    alice
        .patch(
            "/workspaceproxies/eu",
            patch_body(&id, "eu", "EU", "/eu.png"),
        )
        .await
        .expect(404);
    alice.delete("/workspaceproxies/eu").await.expect(404);
    assert_eq!(admin.workspace_proxies()[0]["deleted"], false);
}

#[tokio::test]
async fn a_registered_proxy_reports_its_url_and_health() {
    let fake = FakeCoderd::start().await;
    let api = entitled(&fake).await;
    api.post("/workspaceproxies", json!({ "name": "eu" }))
        .await
        .expect(201);
    let admin = fake.admin();
    assert!(
        admin
            .register_workspace_proxy("eu", "https://eu.example.com/some/path", true)
            .is_err()
    );
    admin
        .register_workspace_proxy("eu", "https://eu.example.com", false)
        .unwrap();
    let eu = api.get("/workspaceproxies/eu").await.expect(200);
    assert_eq!(eu["path_app_url"], "https://eu.example.com");
    assert_eq!(eu["status"]["status"], "unreachable");
    assert_eq!(eu["healthy"], false);
    admin
        .register_workspace_proxy("eu", "https://eu.example.com", true)
        .unwrap();
    let eu = api.get("/workspaceproxies/eu").await.expect(200);
    assert_eq!(eu["status"]["status"], "ok");
    assert_eq!(eu["healthy"], true);
}
