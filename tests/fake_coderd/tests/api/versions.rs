//! Files and template versions with their asynchronous import jobs (coderd/files.go,
//! coderd/templateversions.go).

use std::time::Duration;

use crate::common::{fast, imported_version, owner_session, wait_for};
use fake_coderd::{FakeCoderd, tar_of};
use serde_json::json;

#[tokio::test]
async fn files_need_a_tar_or_zip_content_type_and_dedupe_per_user() {
    let fake = FakeCoderd::start().await;
    let api = owner_session(&fake).await;
    let data = tar_of(&[("main.tf", "# hello\n")]);

    let refused = api
        .upload("application/octet-stream", data.clone())
        .await
        .expect(400);
    assert_eq!(
        refused["message"],
        "Unsupported content type header \"application/octet-stream\"."
    );

    let first = api
        .upload("application/x-tar", data.clone())
        .await
        .expect(201);
    let again = api
        .upload("application/x-tar", data.clone())
        .await
        .expect(200);
    assert_eq!(first["hash"], again["hash"]);

    let id = first["hash"].as_str().unwrap();
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/api/v2/files/{id}", fake.url()))
        .header("Coder-Session-Token", api.token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-tar");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), data);
    assert_eq!(
        api.get("/files/not-a-uuid").await.expect(400)["message"],
        "File id must be a valid UUID."
    );
    api.get(&format!("/files/{}", uuid_nil())).await.expect(404);
}

fn uuid_nil() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}

#[tokio::test]
async fn import_job_goes_pending_running_succeeded() {
    // Long enough a run that polling sees it even on a loaded machine.
    let config = fake_coderd::FakeConfig {
        job_running: Duration::from_millis(400),
        ..fast()
    };
    let fake = FakeCoderd::start_with(config).await;
    let api = owner_session(&fake).await;
    let file = api
        .upload(
            "application/x-tar",
            tar_of(&[("main.tf", "resource \"a\" \"b\" {}\n")]),
        )
        .await
        .expect(201);

    let invalid = api
        .post(
            "/organizations/coder/templateversions",
            json!({ "file_id": file["hash"], "provisioner": "pulumi", "storage_method": "file" }),
        )
        .await
        .expect(400);
    assert_eq!(invalid["validations"][0]["field"], "provisioner");

    let created = api
        .post(
            "/organizations/coder/templateversions",
            json!({ "file_id": file["hash"], "storage_method": "file", "provisioner": "terraform", "name": "v1", "message": "first" }),
        )
        .await
        .expect(201);
    assert_eq!(created["name"], "v1");
    assert_eq!(created["message"], "first");
    assert_eq!(created["job"]["status"], "pending");
    assert_eq!(created["job"]["type"], "template_version_import");
    assert_eq!(created["job"]["file_id"], file["hash"]);
    // No template yet: coderd renders the nil UUID.
    assert_eq!(created["template_id"], uuid_nil());
    let id = created["id"].as_str().unwrap();

    let running = wait_for(
        &api,
        &format!("/templateversions/{id}"),
        Duration::from_secs(5),
        |v| v["job"]["status"] != "pending",
    )
    .await;
    assert_eq!(
        running["job"]["status"], "running",
        "a job is seen running before it completes"
    );
    assert!(running["job"]["started_at"].is_string());
    let done = wait_for(
        &api,
        &format!("/templateversions/{id}"),
        Duration::from_secs(5),
        |v| v["job"]["status"] != "running",
    )
    .await;
    assert_eq!(done["job"]["status"], "succeeded");
    assert!(done["job"]["completed_at"].is_string());
    assert!(done["job"].get("error").is_none());

    let missing_file = api
        .post("/organizations/coder/templateversions", json!({ "file_id": uuid_nil_v4(), "storage_method": "file", "provisioner": "terraform" }))
        .await
        .expect(404);
    assert_eq!(missing_file["message"], "File not found.");
    // An upload that is not a tar fails when coderd unpacks it.
    let junk = api
        .upload("application/x-tar", vec![1u8; 1024])
        .await
        .expect(201);
    let broken = api
        .post("/organizations/coder/templateversions", json!({ "file_id": junk["hash"], "storage_method": "file", "provisioner": "terraform" }))
        .await
        .expect(500);
    assert_eq!(broken["message"], "Internal error checking workspace tags");
}

fn uuid_nil_v4() -> String {
    "7b8e6f0e-3c9a-4d44-9d55-0b7a1c2d3e4f".to_string()
}

#[tokio::test]
async fn fail_marker_fails_the_import_with_its_message() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let version = imported_version(
        &api,
        "coder",
        &[(
            "main.tf",
            "terraform {}\n# fake-coderd: fail Error: Invalid resource type \"nope\"\n",
        )],
        None,
    )
    .await;
    assert_eq!(version["job"]["status"], "failed");
    assert_eq!(
        version["job"]["error"],
        "Error: Invalid resource type \"nope\""
    );
    let id = version["id"].as_str().unwrap();
    let logs = api
        .get(&format!("/templateversions/{id}/logs"))
        .await
        .expect(200);
    let errors: Vec<_> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["log_level"] == "error")
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["output"], "Error: Invalid resource type \"nope\"");
    let last = logs.as_array().unwrap().last().unwrap()["id"]
        .as_u64()
        .unwrap();
    let after = api
        .get(&format!("/templateversions/{id}/logs?after={last}"))
        .await
        .expect(200);
    assert_eq!(after, serde_json::json!([]));
}

#[tokio::test]
async fn hanging_import_is_canceled_through_canceling() {
    let config = fake_coderd::FakeConfig {
        job_cancel: Duration::from_millis(400),
        ..fast()
    };
    let fake = FakeCoderd::start_with(config).await;
    let api = owner_session(&fake).await;
    let file = api
        .upload(
            "application/x-tar",
            tar_of(&[("main.tf", "# fake-coderd: hang\n")]),
        )
        .await
        .expect(201);
    let created = api
        .post("/organizations/coder/templateversions", json!({ "file_id": file["hash"], "storage_method": "file", "provisioner": "terraform" }))
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/templateversions/{id}");
    wait_for(&api, &path, Duration::from_secs(5), |v| {
        v["job"]["status"] == "running"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        api.get(&path).await.expect(200)["job"]["status"],
        "running",
        "hang keeps it running"
    );

    let canceled = api
        .patch(&format!("{path}/cancel"), json!({}))
        .await
        .expect(200);
    assert_eq!(canceled["message"], "Job has been marked as canceled...");
    assert_eq!(
        api.get(&path).await.expect(200)["job"]["status"],
        "canceling"
    );
    let again = api
        .patch(&format!("{path}/cancel"), json!({}))
        .await
        .expect(412);
    assert_eq!(again["message"], "Job has already been marked as canceled!");
    let done = wait_for(&api, &path, Duration::from_secs(5), |v| {
        v["job"]["status"] != "canceling"
    })
    .await;
    assert_eq!(done["job"]["status"], "canceled");
    let late = api
        .patch(&format!("{path}/cancel"), json!({}))
        .await
        .expect(412);
    assert_eq!(late["message"], "Job has already completed!");
}

#[tokio::test]
async fn only_succeeded_versions_of_the_template_are_promoted() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let tpl = crate::common::template(&api, "docker").await;
    let tid = tpl["id"].as_str().unwrap();

    let good = imported_version(&api, "coder", &[("main.tf", "# v2\n")], Some(tid)).await;
    assert_eq!(good["template_id"], tpl["id"]);
    let bad = imported_version(
        &api,
        "coder",
        &[("main.tf", "# fake-coderd: fail nope\n")],
        Some(tid),
    )
    .await;

    let refused = api
        .patch(
            &format!("/templates/{tid}/versions"),
            json!({ "id": bad["id"] }),
        )
        .await
        .expect(403);
    assert_eq!(
        refused["message"],
        "Only versions that have been built successfully can be promoted."
    );
    assert_eq!(
        refused["detail"],
        "Attempted to promote a version with a failed build"
    );

    let other = crate::common::template(&api, "other").await;
    let foreign = api
        .patch(
            &format!("/templates/{tid}/versions"),
            json!({ "id": other["active_version_id"] }),
        )
        .await
        .expect(400);
    assert_eq!(
        foreign["message"],
        "The provided template version doesn't belong to the specified template."
    );
    api.patch(
        &format!("/templates/{tid}/versions"),
        json!({ "id": uuid_nil_v4() }),
    )
    .await
    .expect(404);

    let ok = api
        .patch(
            &format!("/templates/{tid}/versions"),
            json!({ "id": good["id"] }),
        )
        .await
        .expect(200);
    assert_eq!(ok["message"], "Updated the active template version!");
    assert_eq!(
        api.get(&format!("/templates/{tid}")).await.expect(200)["active_version_id"],
        good["id"]
    );

    let versions = api
        .get(&format!("/templates/{tid}/versions"))
        .await
        .expect(200);
    let ids: Vec<_> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [
            tpl["active_version_id"].clone(),
            good["id"].clone(),
            bad["id"].clone()
        ]
    );
    let page = api
        .get(&format!("/templates/{tid}/versions?limit=1&offset=1"))
        .await
        .expect(200);
    assert_eq!(page[0]["id"], good["id"]);
    let name = good["name"].as_str().unwrap();
    assert_eq!(
        api.get(&format!("/templates/{tid}/versions/{name}"))
            .await
            .expect(200)["id"],
        good["id"]
    );

    // Version names are unique within a template.
    let file = api
        .upload("application/x-tar", tar_of(&[("main.tf", "# v3\n")]))
        .await
        .expect(201);
    let dup = api
        .post(
            "/organizations/coder/templateversions",
            json!({ "file_id": file["hash"], "storage_method": "file", "provisioner": "terraform", "template_id": tid, "name": name }),
        )
        .await
        .expect(409);
    assert_eq!(
        dup["message"],
        format!("A template version with name {name:?} already exists for this template.")
    );
}
