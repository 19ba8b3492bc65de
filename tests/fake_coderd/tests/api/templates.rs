//! Templates (coderd/templates.go).

use crate::common::{fast, owner_session, template};
use fake_coderd::FakeCoderd;
use serde_json::json;

#[tokio::test]
async fn create_get_list_and_duplicate_names() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let created = template(&api, "docker").await;
    assert_eq!(created["name"], "docker");
    assert_eq!(created["organization_name"], "coder");
    assert_eq!(created["provisioner"], "terraform");
    assert_eq!(created["deprecated"], false);
    assert_eq!(created["created_by_name"], "admin");
    let id = created["id"].as_str().unwrap();

    // The version now belongs to the template.
    let version = api
        .get(&format!(
            "/templateversions/{}",
            created["active_version_id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(version["template_id"], created["id"]);
    let reuse = api
        .post(
            "/organizations/coder/templates",
            json!({ "name": "again", "template_version_id": created["active_version_id"] }),
        )
        .await
        .expect(400);
    assert!(
        reuse["message"]
            .as_str()
            .unwrap()
            .ends_with("is already part of a template")
    );

    let dup = api
        .post(
            "/organizations/coder/templates",
            json!({ "name": "docker", "template_version_id": created["active_version_id"] }),
        )
        .await
        .expect(409);
    assert_eq!(
        dup["message"],
        "Template with name \"docker\" already exists."
    );
    assert_eq!(
        dup["validations"][0],
        json!({ "field": "name", "detail": "This value is already in use and should be unique." })
    );

    let unknown = api
        .post("/organizations/coder/templates", json!({ "name": "ghost", "template_version_id": "7b8e6f0e-3c9a-4d44-9d55-0b7a1c2d3e4f" }))
        .await
        .expect(404);
    assert_eq!(unknown["validations"][0]["field"], "template_version_id");
    let bad_name = api
        .post(
            "/organizations/coder/templates",
            json!({ "name": "Bad Name", "template_version_id": created["active_version_id"] }),
        )
        .await
        .expect(400);
    assert_eq!(
        bad_name["validations"][0]["detail"],
        "Validation failed for tag \"template_name\" with value: \"Bad Name\""
    );

    assert_eq!(
        api.get(&format!("/templates/{id}")).await.expect(200)["id"],
        created["id"]
    );
    assert_eq!(
        api.get("/organizations/coder/templates/docker")
            .await
            .expect(200)["id"],
        created["id"]
    );
    assert_eq!(
        api.get("/organizations/default/templates/docker")
            .await
            .expect(200)["id"],
        created["id"]
    );
    api.get("/organizations/coder/templates/nope")
        .await
        .expect(404);
    api.get("/organizations/nope/templates").await.expect(404);
    assert_eq!(
        api.get("/templates/not-a-uuid").await.expect(400)["message"],
        "Invalid UUID \"not-a-uuid\"."
    );

    template(&api, "alpha").await;
    let names: Vec<_> = api
        .get("/organizations/coder/templates")
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, ["alpha", "docker"]);
    let all = api.get("/templates?q=exact_name:docker").await.expect(200);
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/templates?q=organization:coder")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        api.get("/templates?q=bogus:1").await.expect(400)["message"],
        "Invalid template search query."
    );
}

#[tokio::test]
async fn patch_updates_metadata_and_answers_304_when_nothing_changes() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let created = template(&api, "docker").await;
    let path = format!("/templates/{}", created["id"].as_str().unwrap());

    let updated = api
        .patch(&path, json!({ "display_name": "Docker", "description": "Containers", "icon": "/icon/docker.png", "allow_user_autostart": true, "allow_user_autostop": true }))
        .await
        .expect(200);
    assert_eq!(updated["display_name"], "Docker");
    assert_eq!(updated["description"], "Containers");
    assert_eq!(updated["name"], "docker", "an empty name keeps the name");
    let unchanged = api
        .patch(&path, json!({ "name": "docker", "display_name": "Docker", "allow_user_autostart": true, "allow_user_autostop": true }))
        .await;
    assert_eq!(unchanged.status, 304);

    let deprecated = api
        .patch(&path, json!({ "deprecation_message": "use v2", "allow_user_autostart": true, "allow_user_autostop": true }))
        .await
        .expect(200);
    assert_eq!(deprecated["deprecated"], true);
    let ws = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": created["id"] }),
        )
        .await
        .expect(400);
    assert_eq!(
        ws["message"],
        "Template \"docker\" has been deprecated, and cannot be used to create a new workspace."
    );

    template(&api, "taken").await;
    let clash = api
        .patch(&path, json!({ "name": "taken" }))
        .await
        .expect(409);
    assert_eq!(
        clash["message"],
        "Template with name \"taken\" already exists."
    );
}

#[tokio::test]
async fn delete_is_refused_while_workspaces_use_the_template() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let created = template(&api, "docker").await;
    let path = format!("/templates/{}", created["id"].as_str().unwrap());
    let ws = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": created["id"] }),
        )
        .await
        .expect(201);

    let refused = api.delete(&path).await.expect(400);
    assert_eq!(
        refused["message"],
        "All workspaces must be deleted before a template can be removed."
    );

    // Delete the workspace (after its start build), then the template goes.
    let ws_id = ws["id"].as_str().unwrap();
    crate::common::wait_build(&api, ws["latest_build"]["id"].as_str().unwrap()).await;
    let del = api
        .post(
            &format!("/workspaces/{ws_id}/builds"),
            json!({ "transition": "delete" }),
        )
        .await
        .expect(201);
    crate::common::wait_build(&api, del["id"].as_str().unwrap()).await;
    let gone = api.delete(&path).await.expect(200);
    assert_eq!(gone["message"], "Template has been deleted!");
    api.get(&path).await.expect(404);
    api.get("/organizations/coder/templates/docker")
        .await
        .expect(404);
    assert!(fake.admin().templates().is_empty());
    // The name is free again.
    template(&api, "docker").await;
}
