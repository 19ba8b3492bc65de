//! The JSON the fake answers carries every field codersdk always sends (its json tags without
//! `omitempty`, as in coder/coder's codersdk/{workspaces,workspacebuilds,templates,
//! templateversions,provisionerdaemons,users,organizations,apikey}.go), so a client decoding
//! into codersdk-shaped types sees what coderd would send.

use crate::common::{fast, owner_session, template, wait_build};
use fake_coderd::FakeCoderd;
use serde_json::{Value, json};

fn assert_fields(what: &str, v: &Value, fields: &[&str]) {
    let missing: Vec<_> = fields.iter().filter(|f| v.get(**f).is_none()).collect();
    assert!(missing.is_empty(), "{what} lacks {missing:?}: {v}");
}

const WORKSPACE: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "owner_id",
    "owner_name",
    "owner_avatar_url",
    "organization_id",
    "organization_name",
    "template_id",
    "template_name",
    "template_display_name",
    "template_icon",
    "template_allow_user_cancel_workspace_jobs",
    "template_active_version_id",
    "template_require_active_version",
    "template_use_classic_parameter_flow",
    "latest_build",
    "latest_app_status",
    "outdated",
    "name",
    "last_used_at",
    "deleting_at",
    "dormant_at",
    "health",
    "automatic_updates",
    "allow_renames",
    "favorite",
    "next_start_at",
    "is_prebuild",
];
const BUILD: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "workspace_id",
    "workspace_name",
    "workspace_owner_id",
    "workspace_owner_name",
    "template_version_id",
    "template_version_name",
    "build_number",
    "transition",
    "initiator_id",
    "initiator_name",
    "job",
    "reason",
    "resources",
    "status",
    "daily_cost",
    "template_version_preset_id",
];
const TEMPLATE: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "organization_id",
    "organization_name",
    "organization_display_name",
    "organization_icon",
    "name",
    "display_name",
    "provisioner",
    "active_version_id",
    "active_user_count",
    "build_time_stats",
    "description",
    "deprecated",
    "deprecation_message",
    "icon",
    "default_ttl_ms",
    "activity_bump_ms",
    "autostop_requirement",
    "autostart_requirement",
    "created_by_id",
    "created_by_name",
    "allow_user_autostart",
    "allow_user_autostop",
    "allow_user_cancel_workspace_jobs",
    "failure_ttl_ms",
    "time_til_dormant_ms",
    "time_til_dormant_autodelete_ms",
    "require_active_version",
    "max_port_share_level",
    "cors_behavior",
    "use_classic_parameter_flow",
];
const VERSION: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "name",
    "message",
    "job",
    "readme",
    "created_by",
    "archived",
    "has_external_agent",
];
const JOB: &[&str] = &[
    "id",
    "created_at",
    "status",
    "file_id",
    "tags",
    "queue_position",
    "queue_size",
    "organization_id",
    "initiator_id",
    "input",
    "type",
    "metadata",
    "logs_overflowed",
];
const USER: &[&str] = &[
    "id",
    "username",
    "email",
    "created_at",
    "updated_at",
    "status",
    "login_type",
    "organization_ids",
    "roles",
];
const ORGANIZATION: &[&str] = &[
    "id",
    "name",
    "display_name",
    "icon",
    "description",
    "created_at",
    "updated_at",
    "is_default",
];
const API_KEY: &[&str] = &[
    "id",
    "user_id",
    "last_used",
    "expires_at",
    "created_at",
    "updated_at",
    "login_type",
    "scope",
    "scopes",
    "token_name",
    "lifetime_seconds",
    "allow_list",
];

#[tokio::test]
async fn answers_carry_every_field_codersdk_always_sends() {
    let fake = FakeCoderd::start_with(fast()).await;
    let api = owner_session(&fake).await;
    let tpl = template(&api, "docker").await;
    assert_fields("Template", &tpl, TEMPLATE);
    let version = api
        .get(&format!(
            "/templateversions/{}",
            tpl["active_version_id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_fields("TemplateVersion", &version, VERSION);
    assert_fields("ProvisionerJob (import)", &version["job"], JOB);

    let ws = api
        .post(
            "/users/me/workspaces",
            json!({ "name": "dev", "template_id": tpl["id"] }),
        )
        .await
        .expect(201);
    assert_fields("Workspace", &ws, WORKSPACE);
    assert_fields("WorkspaceBuild", &ws["latest_build"], BUILD);
    assert_fields("ProvisionerJob (build)", &ws["latest_build"]["job"], JOB);
    let done = wait_build(&api, ws["latest_build"]["id"].as_str().unwrap()).await;
    assert_fields("WorkspaceBuild (done)", &done, BUILD);
    assert!(done["job"]["completed_at"].is_string());

    assert_fields("User", &api.get("/users/me").await.expect(200), USER);
    assert_fields(
        "Organization",
        &api.get("/organizations/coder").await.expect(200),
        ORGANIZATION,
    );
    api.post("/users/me/keys/tokens", json!({ "token_name": "t" }))
        .await
        .expect(201);
    assert_fields(
        "APIKey",
        &api.get("/users/me/keys/tokens/t").await.expect(200),
        API_KEY,
    );

    // Timestamps are RFC 3339 UTC with at most microseconds.
    let created = ws["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z'), "{created}");
    let fraction = created
        .split('.')
        .nth(1)
        .map(|f| f.trim_end_matches('Z').len())
        .unwrap_or(0);
    assert!(fraction <= 6, "{created}");
}
