//! The fake's own knobs: stop/restart, unavailability, latency, the request log.

use std::time::{Duration, Instant};

use crate::common::{Api, owner_session};
use fake_coderd::FakeCoderd;

#[tokio::test]
async fn restart_keeps_state_and_port_and_stopped_refuses_connections() {
    let mut fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let url = fake.url();
    let tpl = fake
        .admin()
        .create_template_with_files("coder", "docker", &[("main.tf", "# x\n")])
        .unwrap();

    fake.stop().await;
    assert!(!fake.is_running());
    let err = reqwest::Client::new()
        .get(format!("{url}/api/v2/buildinfo"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect_err("a stopped coderd refuses connections");
    assert!(err.is_connect(), "{err:?}");

    fake.restart().await;
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "OK");
    assert_eq!(fake.url(), url);
    // The session, the template and the first user survived.
    assert_eq!(api.get("/users/me").await.expect(200)["username"], "admin");
    assert_eq!(
        api.get(&format!("/templates/{tpl}")).await.expect(200)["name"],
        "docker"
    );
    Api::new(&fake).get("/users/first").await.expect(200);
}

#[tokio::test]
async fn unavailable_answers_503_text_until_switched_off() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    fake.set_unavailable(true);
    let down = api.get("/users/me").await;
    assert_eq!(down.status, 503);
    assert!(
        down.content_type.starts_with("text/plain"),
        "{}",
        down.content_type
    );
    fake.set_unavailable(false);
    api.get("/users/me").await.expect(200);
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let baseline = Instant::now();
    api.get("/users/me").await.expect(200);
    let fast = baseline.elapsed();
    fake.set_latency(Duration::from_millis(300));
    let slow_start = Instant::now();
    api.get("/users/me").await.expect(200);
    let slow = slow_start.elapsed();
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    assert!(slow > fast, "{slow:?} vs {fast:?}");
}

#[tokio::test]
async fn requests_are_recorded_with_caller_and_status() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    fake.clear_requests();
    api.get("/users/me").await.expect(200);
    Api::new(&fake).get("/workspaces?limit=5").await.expect(401);
    api.get("/nowhere").await.expect(404);
    let log = fake.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str(), log[0].status),
        ("GET", "/api/v2/users/me", 200)
    );
    assert_eq!(log[0].user.as_deref(), Some("admin"));
    assert_eq!(
        (
            log[1].path.as_str(),
            log[1].query.as_deref(),
            log[1].user.as_deref(),
            log[1].status
        ),
        ("/api/v2/workspaces", Some("limit=5"), None, 401)
    );
    assert_eq!(log[2].status, 404);
}

#[tokio::test]
async fn injected_faults_answer_before_the_handler_and_run_out() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    fake.inject_fault(
        Some("POST"),
        "/api/v2/organizations/coder/templates",
        500,
        1,
    );
    fake.inject_fault(None, "/api/v2/users/me", 409, 2);

    let err = api.get("/users/me").await.expect(409);
    assert_eq!(err["message"], "fake-coderd: injected 409");
    api.get("/users/me").await.expect(409);
    api.get("/users/me").await.expect(200);

    let tpl_version =
        crate::common::imported_version(&api, "coder", &[("main.tf", "# x\n")], None).await;
    let body = serde_json::json!({ "name": "docker", "template_version_id": tpl_version["id"] });
    let failed = api
        .post("/organizations/coder/templates", body.clone())
        .await
        .expect(500);
    assert_eq!(failed["message"], "An internal server error occurred.");
    assert!(
        fake.admin().templates().is_empty(),
        "a fault changes nothing"
    );
    api.post("/organizations/coder/templates", body)
        .await
        .expect(201);
}

#[tokio::test]
async fn hidden_ids_are_left_out_of_lists_but_read_by_id() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let admin = fake.admin();
    let template = admin
        .create_template_with_files("coder", "docker", &[("main.tf", "# x\n")])
        .unwrap();
    let workspace = admin.create_workspace("admin", "dev", template).unwrap();

    fake.hide_from_lists(&[template, workspace]);
    let templates = api.get("/templates").await.expect(200);
    assert_eq!(templates.as_array().map(Vec::len), Some(0), "{templates}");
    let by_org = api.get("/organizations/coder/templates").await.expect(200);
    assert_eq!(by_org.as_array().map(Vec::len), Some(0), "{by_org}");
    let workspaces = api.get("/workspaces").await.expect(200);
    assert_eq!(workspaces["workspaces"].as_array().map(Vec::len), Some(0));
    assert_eq!(workspaces["count"], 0);
    // Still there when asked by id.
    api.get(&format!("/templates/{template}")).await.expect(200);
    api.get(&format!("/workspaces/{workspace}"))
        .await
        .expect(200);

    fake.hide_from_lists(&[]);
    let templates = api.get("/templates").await.expect(200);
    assert_eq!(templates.as_array().map(Vec::len), Some(1), "{templates}");
}
