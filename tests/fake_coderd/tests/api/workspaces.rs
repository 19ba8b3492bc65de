//! Workspaces and their builds (coderd/workspaces.go, coderd/workspacebuilds.go,
//! coderd/wsbuilder).

use std::time::Duration;

use crate::common::{Api, fast, imported_version, owner_session, template, wait_build, wait_for};
use fake_coderd::{FakeCoderd, FakeConfig};
use serde_json::json;

#[tokio::test]
async fn create_refuses_unknown_templates_and_bad_requests() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let ghost = "7b8e6f0e-3c9a-4d44-9d55-0b7a1c2d3e4f";

    let unknown = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": ghost }),
        )
        .await
        .expect(400);
    assert_eq!(
        unknown["message"],
        format!("Template {ghost:?} doesn't exist.")
    );
    assert_eq!(
        unknown["validations"][0],
        json!({ "field": "template_id", "detail": "template not found" })
    );
    let unknown_version = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_version_id": ghost }),
        )
        .await
        .expect(400);
    assert_eq!(
        unknown_version["validations"][0]["field"],
        "template_version_id"
    );

    let neither = api
        .post("/users/me/workspaces", json!({ "name": "dev" }))
        .await
        .expect(400);
    assert_eq!(neither["message"], "Validation failed.");
    let tpl = template(&api, "docker").await;
    let bad_name = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "my_ws", "template_id": tpl["id"] }),
        )
        .await
        .expect(400);
    assert_eq!(bad_name["validations"][0]["field"], "name");
    let bad_ttl = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": tpl["id"], "ttl_ms": 1000 }),
        )
        .await
        .expect(400);
    assert_eq!(bad_ttl["message"], "Invalid Workspace Time to Shutdown.");
    assert_eq!(
        bad_ttl["validations"][0]["detail"],
        "time until shutdown must be at least one minute"
    );
    let bad_cron = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": tpl["id"], "autostart_schedule": "nope" }),
        )
        .await
        .expect(400);
    assert_eq!(bad_cron["message"], "Invalid Autostart Schedule.");
    api.post(
        "/organizations/coder/members/nobody/workspaces",
        json!({ "name": "dev", "template_id": tpl["id"] }),
    )
    .await
    .expect(400);

    // Nothing was left behind by the refusals.
    assert!(fake.admin().workspaces().is_empty());
}

#[tokio::test]
async fn versions_must_have_imported_before_workspaces_build() {
    let config = FakeConfig {
        job_running: Duration::from_millis(500),
        ..fast()
    };
    let fake = FakeCoderd::start_with(config).await;
    let api = owner_session(&fake).await;
    let tpl = template(&api, "docker").await;
    let tid = tpl["id"].as_str().unwrap();

    // A version still importing: 406.
    let file = api
        .upload(
            "application/x-tar",
            fake_coderd::tar_of(&[("main.tf", "# slow\n")]),
        )
        .await
        .expect(201);
    let importing = api
        .post("/organizations/coder/templateversions", json!({ "file_id": file["hash"], "storage_method": "file", "provisioner": "terraform", "template_id": tid }))
        .await
        .expect(201);
    let refused = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "early", "template_version_id": importing["id"] }),
        )
        .await
        .expect(406);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .ends_with("Wait for it to complete importing!"),
        "{refused}"
    );

    // A version that failed to import: 400.
    let failed = imported_version(
        &api,
        "coder",
        &[("main.tf", "# fake-coderd: fail broken provider\n")],
        Some(tid),
    )
    .await;
    let refused = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "bad", "template_version_id": failed["id"] }),
        )
        .await
        .expect(400);
    assert_eq!(
        refused["message"],
        format!(
            "The provided template version {:?} has failed to import: \"broken provider\". You cannot build workspaces with it!",
            failed["name"].as_str().unwrap()
        )
    );
    assert!(fake.admin().workspaces().is_empty());
}

#[tokio::test]
async fn build_lifecycle_start_stop_delete() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let tpl = template(&api, "docker").await;

    let ws = api
        .post(
            "/organizations/coder/members/me/workspaces",
            json!({ "name": "dev", "template_id": tpl["id"], "ttl_ms": 3_600_000, "autostart_schedule": "CRON_TZ=UTC 30 9 * * 1-5" }),
        )
        .await
        .expect(201);
    assert_eq!(ws["owner_name"], "admin");
    assert_eq!(ws["template_name"], "docker");
    assert_eq!(ws["organization_name"], "coder");
    assert_eq!(ws["ttl_ms"], 3_600_000);
    assert_eq!(ws["autostart_schedule"], "CRON_TZ=UTC 30 9 * * 1-5");
    assert_eq!(ws["latest_build"]["build_number"], 1);
    assert_eq!(ws["latest_build"]["transition"], "start");
    assert_eq!(ws["latest_build"]["status"], "pending");
    assert_eq!(ws["latest_build"]["job"]["status"], "pending");
    assert_eq!(
        ws["latest_build"]["template_version_id"],
        tpl["active_version_id"]
    );
    let id = ws["id"].as_str().unwrap().to_string();
    let path = format!("/workspaces/{id}");

    // A second build while the first is active: 409.
    let busy = api
        .post(&format!("{path}/builds"), json!({ "transition": "stop" }))
        .await
        .expect(409);
    assert_eq!(busy["message"], "A workspace build is already active.");

    let running = wait_for(&api, &path, Duration::from_secs(5), |w| {
        w["latest_build"]["status"] == "running"
    })
    .await;
    assert_eq!(running["latest_build"]["job"]["status"], "succeeded");
    assert!(
        running["latest_build"]["deadline"].is_string(),
        "a TTL gives the running build a deadline"
    );
    assert_eq!(running["outdated"], false);

    let bad = api
        .post(&format!("{path}/builds"), json!({ "transition": "pause" }))
        .await
        .expect(400);
    assert_eq!(bad["validations"][0]["field"], "transition");

    let stop = api
        .post(&format!("{path}/builds"), json!({ "transition": "stop" }))
        .await
        .expect(201);
    assert_eq!(stop["build_number"], 2);
    assert_eq!(stop["status"], "pending");
    let stopped = wait_build(&api, stop["id"].as_str().unwrap()).await;
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(
        api.get(&path).await.expect(200)["latest_build"]["status"],
        "stopped"
    );

    let builds = api.get(&format!("{path}/builds")).await.expect(200);
    let numbers: Vec<_> = builds
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["build_number"].clone())
        .collect();
    assert_eq!(numbers, [2, 1]);

    let by_name = api.get("/users/admin/workspace/dev").await.expect(200);
    assert_eq!(by_name["id"], ws["id"]);

    let delete = api
        .post(&format!("{path}/builds"), json!({ "transition": "delete" }))
        .await
        .expect(201);
    let deleted = wait_build(&api, delete["id"].as_str().unwrap()).await;
    assert_eq!(deleted["status"], "deleted");
    let gone = api.get(&path).await.expect(410);
    assert!(gone["message"].as_str().unwrap().contains("was deleted"));
    assert_eq!(
        api.get(&format!("{path}?include_deleted=true"))
            .await
            .expect(200)["id"],
        ws["id"]
    );
    api.get("/users/admin/workspace/dev").await.expect(404);
    assert_eq!(api.get("/workspaces").await.expect(200)["count"], 0);
    // The name is free again.
    api.post(
        "/users/me/workspaces",
        json!({ "name": "dev", "template_id": tpl["id"] }),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn failing_and_hanging_builds() {
    let config = FakeConfig {
        job_cancel: Duration::from_millis(300),
        ..fast()
    };
    let fake = FakeCoderd::start_with(config).await;
    let api = owner_session(&fake).await;
    let tpl_id = fake
        .admin()
        .create_template_with_files(
            "coder",
            "flaky",
            &[("main.tf", "# fake-coderd: fail-stop stop failed: timeout\n")],
        )
        .unwrap();
    let ws = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": tpl_id }),
        )
        .await
        .expect(201);
    let path = format!("/workspaces/{}", ws["id"].as_str().unwrap());
    wait_build(&api, ws["latest_build"]["id"].as_str().unwrap()).await;
    let stop = api
        .post(&format!("{path}/builds"), json!({ "transition": "stop" }))
        .await
        .expect(201);
    let failed = wait_build(&api, stop["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["job"]["error"], "stop failed: timeout");

    let hang_id = fake
        .admin()
        .create_template_with_files(
            "coder",
            "stuck",
            &[("main.tf", "# fake-coderd: hang-build\n")],
        )
        .unwrap();
    let ws = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "stuck", "template_id": hang_id }),
        )
        .await
        .expect(201);
    let build = ws["latest_build"]["id"].as_str().unwrap().to_string();
    wait_for(
        &api,
        &format!("/workspacebuilds/{build}"),
        Duration::from_secs(5),
        |b| b["status"] == "starting",
    )
    .await;
    api.patch(&format!("/workspacebuilds/{build}/cancel"), json!({}))
        .await
        .expect(200);
    assert_eq!(
        api.get(&format!("/workspacebuilds/{build}"))
            .await
            .expect(200)["status"],
        "canceling"
    );
    let canceled = wait_build(&api, &build).await;
    assert_eq!(canceled["status"], "canceled");
    let late = api
        .patch(&format!("/workspacebuilds/{build}/cancel"), json!({}))
        .await
        .expect(400);
    assert_eq!(late["message"], "Job has already completed!");
}

#[tokio::test]
async fn list_filters_and_paginates_with_a_total_count() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let admin = fake.admin();
    let docker = admin
        .create_template_with_files("coder", "docker", &[("main.tf", "# d\n")])
        .unwrap();
    let k8s = admin
        .create_template_with_files("coder", "k8s", &[("main.tf", "# k\n")])
        .unwrap();
    admin.create_user("coder", "alice").unwrap();
    for name in ["a1", "a2", "a3"] {
        admin.create_workspace("alice", name, docker).unwrap();
    }
    admin.create_workspace("admin", "b1", k8s).unwrap();
    admin.create_workspace("admin", "b2", docker).unwrap();
    // Let every build finish so the running-first order is stable.
    wait_for(
        &api,
        "/workspaces?q=status:running",
        Duration::from_secs(5),
        |b| b["count"] == 5,
    )
    .await;

    let all = api.get("/workspaces").await.expect(200);
    assert_eq!(all["count"], 5);
    let names: Vec<_> = all["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["b1", "b2", "a1", "a2", "a3"],
        "owner name, then workspace name"
    );

    let page = api.get("/workspaces?limit=2&offset=2").await.expect(200);
    assert_eq!(page["count"], 5, "count is the total, not the page size");
    let names: Vec<_> = page["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].clone())
        .collect();
    assert_eq!(names, ["a1", "a2"]);

    assert_eq!(
        api.get("/workspaces?q=owner:alice").await.expect(200)["count"],
        3
    );
    assert_eq!(
        api.get("/workspaces?q=owner:me").await.expect(200)["count"],
        2
    );
    assert_eq!(
        api.get("/workspaces?q=template:k8s").await.expect(200)["count"],
        1
    );
    assert_eq!(
        api.get("/workspaces?q=owner:alice%20name:a2")
            .await
            .expect(200)["count"],
        1
    );
    assert_eq!(api.get("/workspaces?q=a").await.expect(200)["count"], 3);
    assert_eq!(
        api.get("/workspaces?q=Alice/A2").await.expect(200)["count"],
        1,
        "owner/name, lowercased"
    );
    let invalid = api.get("/workspaces?q=colour:blue").await.expect(400);
    assert_eq!(invalid["message"], "Invalid workspace search query.");
    assert_eq!(
        invalid["validations"][0],
        json!({ "field": "colour", "detail": "Query param \"colour\" is not a valid query param" })
    );
    let bad_status = api.get("/workspaces?q=status:sleeping").await.expect(400);
    assert_eq!(bad_status["validations"][0]["field"], "status");
    let bad_limit = api.get("/workspaces?limit=-1").await.expect(400);
    assert_eq!(
        bad_limit["message"],
        "Query parameters have invalid values."
    );
    assert!(
        bad_limit["validations"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("Query param \"limit\" must be a valid positive integer"),
        "{bad_limit}"
    );
    let after = api
        .get(&format!(
            "/workspaces?after_id={}",
            all["workspaces"][1]["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(after["workspaces"][0]["name"], "a1");

    // A member sees only their own workspaces.
    let alice = Api::new(&fake).with_token(&admin.api_token("alice").unwrap());
    assert_eq!(alice.get("/workspaces").await.expect(200)["count"], 3);
    let theirs = all["workspaces"][0]["id"].as_str().unwrap();
    alice
        .get(&format!("/workspaces/{theirs}"))
        .await
        .expect(404);
}

#[tokio::test]
async fn ttl_and_autostart_are_updated() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let tpl = template(&api, "docker").await;
    let ws = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": tpl["id"] }),
        )
        .await
        .expect(201);
    assert!(ws.get("ttl_ms").is_none(), "no TTL: the field is omitted");
    let path = format!("/workspaces/{}", ws["id"].as_str().unwrap());

    assert_eq!(
        api.put(&format!("{path}/ttl"), json!({ "ttl_ms": 7_230_000 }))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get(&path).await.expect(200)["ttl_ms"],
        7_200_000,
        "truncated to the minute"
    );
    let too_long = api
        .put(
            &format!("{path}/ttl"),
            json!({ "ttl_ms": 31i64 * 24 * 3_600_000 }),
        )
        .await
        .expect(400);
    assert_eq!(
        too_long["message"],
        "Error updating workspace time until shutdown."
    );
    assert_eq!(
        too_long["validations"][0]["detail"],
        "time until shutdown must be less than 30 days"
    );
    assert_eq!(
        api.put(&format!("{path}/ttl"), json!({ "ttl_ms": null }))
            .await
            .status,
        204
    );
    assert!(api.get(&path).await.expect(200).get("ttl_ms").is_none());

    assert_eq!(
        api.put(
            &format!("{path}/autostart"),
            json!({ "schedule": "CRON_TZ=Europe/Paris 0 8 * * *" })
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.get(&path).await.expect(200)["autostart_schedule"],
        "CRON_TZ=Europe/Paris 0 8 * * *"
    );
    let bad = api
        .put(
            &format!("{path}/autostart"),
            json!({ "schedule": "0 8 1 * *" }),
        )
        .await
        .expect(400);
    assert_eq!(bad["message"], "Invalid autostart schedule.");
    assert_eq!(bad["validations"][0]["field"], "schedule");
    assert_eq!(
        api.put(&format!("{path}/autostart"), json!({ "schedule": "" }))
            .await
            .status,
        204
    );
    assert!(
        api.get(&path)
            .await
            .expect(200)
            .get("autostart_schedule")
            .is_none()
    );

    // A running workspace with a TTL has a deadline; disabling the TTL clears it.
    assert_eq!(
        api.put(&format!("{path}/ttl"), json!({ "ttl_ms": 3_600_000 }))
            .await
            .status,
        204
    );
    let ws = api.get(&path).await.expect(200);
    let build = ws["latest_build"]["id"].as_str().unwrap().to_string();
    wait_build(&api, &build).await;
    let restarted = api
        .post(&format!("{path}/builds"), json!({ "transition": "start" }))
        .await
        .expect(201);
    let running = wait_build(&api, restarted["id"].as_str().unwrap()).await;
    assert!(running["deadline"].is_string(), "{running}");
    assert_eq!(
        api.put(&format!("{path}/ttl"), json!({ "ttl_ms": 0 }))
            .await
            .status,
        204
    );
    let cleared = api.get(&path).await.expect(200);
    assert!(
        cleared.get("ttl_ms").is_none(),
        "0 disables autostop: no template default on update"
    );
    assert!(cleared["latest_build"]["deadline"].is_null());

    // Templates can forbid both.
    let tid = tpl["id"].as_str().unwrap();
    api.patch(
        &format!("/templates/{tid}"),
        json!({ "name": "docker", "allow_user_autostart": false, "allow_user_autostop": false }),
    )
    .await
    .expect(200);
    let no_ttl = api
        .put(&format!("{path}/ttl"), json!({ "ttl_ms": 3_600_000 }))
        .await
        .expect(400);
    assert_eq!(
        no_ttl["validations"][0]["detail"],
        "Custom autostop TTL is not allowed for workspaces using this template."
    );
    let no_autostart = api
        .put(
            &format!("{path}/autostart"),
            json!({ "schedule": "0 8 * * *" }),
        )
        .await
        .expect(400);
    assert_eq!(
        no_autostart["message"],
        "Autostart is not allowed for workspaces using this template."
    );
}

#[tokio::test]
async fn members_create_only_their_own_workspaces_owners_anyones() {
    let fake = FakeCoderd::start_with(fast()).await;
    let owner = owner_session(&fake).await;
    let admin = fake.admin();
    let tpl = admin
        .create_template_with_files("coder", "docker", &[("main.tf", "# d\n")])
        .unwrap();
    admin.create_user("coder", "alice").unwrap();
    let alice = Api::new(&fake).with_token(&admin.api_token("alice").unwrap());

    let refused = alice
        .post(
            "/users/admin/workspaces",
            json!({ "name": "sneaky", "template_id": tpl }),
        )
        .await
        .expect(403);
    assert_eq!(refused["message"], "Unauthorized to create workspace.");
    let own = alice
        .post(
            "/users/me/workspaces",
            json!({ "name": "mine", "template_id": tpl }),
        )
        .await
        .expect(201);
    assert_eq!(own["owner_name"], "alice");
    let for_alice = owner
        .post(
            "/users/alice/workspaces",
            json!({ "name": "gift", "template_id": tpl }),
        )
        .await
        .expect(201);
    assert_eq!(for_alice["owner_name"], "alice");
    assert_eq!(for_alice["latest_build"]["initiator_name"], "admin");
}
