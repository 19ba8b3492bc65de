//! The wire format: records rendered as codersdk's JSON (field names are codersdk's json tags;
//! codersdk/{users,organizations,templates,templateversions,provisionerdaemons,workspaces,
//! workspacebuilds,apikey}.go). Optional fields follow the tags: `omitempty` fields are left out
//! when empty, pointer fields without `omitempty` are `null`.

use jiff::Timestamp;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::{
    ApiKey, Job, JobKind, JobStatus, KeyKind, Organization, Role, State, Template, TemplateVersion,
    User, UserStatus, Workspace, WorkspaceBuild, workspace_status,
};

/// RFC 3339 in UTC with at most microseconds, as coderd's times come out of Postgres.
pub fn ts(t: Timestamp) -> Value {
    let micros = t.round(jiff::Unit::Microsecond).unwrap_or(t);
    json!(micros.to_string())
}

fn opt_ts(t: Option<Timestamp>) -> Value {
    t.map(ts).unwrap_or(Value::Null)
}

pub fn role_json(role: Role) -> Value {
    match role {
        Role::Owner => json!([{ "name": "owner", "display_name": "Owner" }]),
        Role::Member => json!([]),
    }
}

/// codersdk.User.
pub fn user(state: &State, u: &User) -> Value {
    let mut v = json!({
        "id": u.id,
        "username": u.username,
        "name": u.name,
        "email": u.email,
        "created_at": ts(u.created_at),
        "updated_at": ts(u.updated_at),
        "last_seen_at": ts(u.last_seen_at),
        "status": match u.status { UserStatus::Active => "active", UserStatus::Suspended => "suspended" },
        "login_type": if u.password.is_some() { "password" } else { "none" },
        "organization_ids": state.user_org_ids(u.id),
        "roles": role_json(u.role),
    });
    // `name` is omitempty in codersdk.MinimalUser.
    if let Some(map) = v.as_object_mut().filter(|_| u.name.is_empty()) {
        map.remove("name");
    }
    v
}

/// codersdk.Organization.
pub fn organization(o: &Organization) -> Value {
    json!({
        "id": o.id,
        "name": o.name,
        "display_name": o.display_name,
        "description": o.description,
        "icon": o.icon,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.updated_at),
        "is_default": o.is_default,
    })
}

/// codersdk.OrganizationMemberWithUserData.
pub fn member(org: Uuid, u: &User, since: Timestamp) -> Value {
    json!({
        "user_id": u.id,
        "organization_id": org,
        "created_at": ts(since),
        "updated_at": ts(since),
        "roles": [],
        "username": u.username,
        "name": u.name,
        "email": u.email,
        "global_roles": role_json(u.role),
    })
}

/// codersdk.APIKey.
pub fn api_key(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "user_id": k.user_id,
        "last_used": ts(k.last_used),
        "expires_at": ts(k.expires_at),
        "created_at": ts(k.created_at),
        "updated_at": ts(k.updated_at),
        "login_type": match k.kind { KeyKind::Password => "password", KeyKind::Token => "token" },
        "scope": "all",
        "scopes": ["coder:all"],
        "token_name": k.token_name,
        "lifetime_seconds": k.lifetime_seconds,
        "allow_list": [{ "type": "*", "id": "*" }],
    })
}

/// codersdk.ProvisionerJob.
pub fn job(state: &State, j: &Job) -> Value {
    let status: JobStatus = j.status();
    let (input, job_type, metadata) = match j.kind {
        JobKind::TemplateVersionImport { version_id } => {
            let version = state.version(version_id);
            let template = version
                .and_then(|v| v.template_id)
                .and_then(|t| state.template(t));
            (
                json!({ "template_version_id": version_id }),
                "template_version_import",
                json!({
                    "template_version_name": version.map(|v| v.name.as_str()).unwrap_or(""),
                    "template_id": template.map(|t| t.id).unwrap_or(Uuid::nil()),
                    "template_name": template.map(|t| t.name.as_str()).unwrap_or(""),
                    "template_display_name": template.map(|t| t.display_name.as_str()).unwrap_or(""),
                    "template_icon": template.map(|t| t.icon.as_str()).unwrap_or(""),
                }),
            )
        }
        JobKind::WorkspaceBuild { build_id } => {
            let build = state.build(build_id);
            let workspace = build.and_then(|b| state.workspace(b.workspace_id));
            let version = build.and_then(|b| state.version(b.template_version_id));
            let template =
                workspace.and_then(|w| state.templates.iter().find(|t| t.id == w.template_id));
            let mut metadata = json!({
                "template_version_name": version.map(|v| v.name.as_str()).unwrap_or(""),
                "template_id": template.map(|t| t.id).unwrap_or(Uuid::nil()),
                "template_name": template.map(|t| t.name.as_str()).unwrap_or(""),
                "template_display_name": template.map(|t| t.display_name.as_str()).unwrap_or(""),
                "template_icon": template.map(|t| t.icon.as_str()).unwrap_or(""),
            });
            if let Some(w) = workspace {
                metadata["workspace_id"] = json!(w.id);
                metadata["workspace_name"] = json!(w.name);
            }
            (
                json!({ "workspace_build_id": build_id }),
                "workspace_build",
                metadata,
            )
        }
    };
    let mut v = json!({
        "id": j.id,
        "created_at": ts(j.created_at),
        "status": status.as_str(),
        "file_id": j.file_id,
        "tags": { "scope": "organization", "owner": "" },
        "queue_position": 0,
        "queue_size": 0,
        "organization_id": j.organization_id,
        "initiator_id": j.initiator_id,
        "input": input,
        "type": job_type,
        "metadata": metadata,
        "logs_overflowed": false,
    });
    if let Some(t) = j.started_at {
        v["started_at"] = ts(t);
    }
    if let Some(t) = j.completed_at {
        v["completed_at"] = ts(t);
    }
    if let Some(t) = j.canceled_at {
        v["canceled_at"] = ts(t);
    }
    if let Some(e) = &j.error {
        v["error"] = json!(e);
    }
    v
}

fn minimal_user(state: &State, id: Uuid) -> Value {
    match state.user(id) {
        Some(u) => json!({ "id": u.id, "username": u.username, "name": u.name }),
        None => json!({ "id": id, "username": "" }),
    }
}

/// codersdk.TemplateVersion. Like coderd's convertTemplateVersion, `template_id` is always
/// present: the nil UUID while the version belongs to no template.
pub fn template_version(state: &State, v: &TemplateVersion) -> Value {
    let job_json = state
        .job(v.job_id)
        .map(|j| job(state, j))
        .unwrap_or(Value::Null);
    json!({
        "id": v.id,
        "template_id": v.template_id.unwrap_or(Uuid::nil()),
        "organization_id": v.organization_id,
        "created_at": ts(v.created_at),
        "updated_at": ts(v.updated_at),
        "name": v.name,
        "message": v.message,
        "job": job_json,
        "readme": "",
        "created_by": minimal_user(state, v.created_by),
        "archived": v.archived,
        "has_external_agent": false,
    })
}

/// codersdk.Template.
pub fn template(state: &State, t: &Template) -> Value {
    let org = state.organization(t.organization_id);
    let creator = state
        .user(t.created_by)
        .map(|u| u.username.as_str())
        .unwrap_or("");
    json!({
        "id": t.id,
        "created_at": ts(t.created_at),
        "updated_at": ts(t.updated_at),
        "organization_id": t.organization_id,
        "organization_name": org.map(|o| o.name.as_str()).unwrap_or(""),
        "organization_display_name": org.map(|o| o.display_name.as_str()).unwrap_or(""),
        "organization_icon": org.map(|o| o.icon.as_str()).unwrap_or(""),
        "name": t.name,
        "display_name": t.display_name,
        "provisioner": "terraform",
        "active_version_id": t.active_version_id,
        "active_user_count": 0,
        "build_time_stats": {
            "start": { "P50": null, "P95": null },
            "stop": { "P50": null, "P95": null },
            "delete": { "P50": null, "P95": null },
        },
        "description": t.description,
        "deprecated": !t.deprecation_message.is_empty(),
        "deprecation_message": t.deprecation_message,
        "icon": t.icon,
        "default_ttl_ms": t.default_ttl_ms,
        "activity_bump_ms": 3_600_000,
        "autostop_requirement": { "days_of_week": [], "weeks": 1 },
        "autostart_requirement": { "days_of_week": ["monday","tuesday","wednesday","thursday","friday","saturday","sunday"] },
        "created_by_id": t.created_by,
        "created_by_name": creator,
        "allow_user_autostart": t.allow_user_autostart,
        "allow_user_autostop": t.allow_user_autostop,
        "allow_user_cancel_workspace_jobs": t.allow_user_cancel_workspace_jobs,
        "failure_ttl_ms": 0,
        "time_til_dormant_ms": 0,
        "time_til_dormant_autodelete_ms": 0,
        "require_active_version": false,
        "max_port_share_level": "owner",
        "cors_behavior": "simple",
        "use_classic_parameter_flow": false,
    })
}

/// codersdk.WorkspaceBuild.
pub fn build(state: &State, b: &WorkspaceBuild) -> Value {
    let workspace = state.workspace(b.workspace_id);
    let owner = workspace.and_then(|w| state.user(w.owner_id));
    let version = state.version(b.template_version_id);
    let job_ref = state.job(b.job_id);
    let status = job_ref
        .map(|j| workspace_status(j.status(), b.transition))
        .unwrap_or("pending");
    json!({
        "id": b.id,
        "created_at": ts(b.created_at),
        "updated_at": ts(b.updated_at),
        "workspace_id": b.workspace_id,
        "workspace_name": workspace.map(|w| w.name.as_str()).unwrap_or(""),
        "workspace_owner_id": workspace.map(|w| w.owner_id).unwrap_or(Uuid::nil()),
        "workspace_owner_name": owner.map(|u| u.username.as_str()).unwrap_or(""),
        "template_version_id": b.template_version_id,
        "template_version_name": version.map(|v| v.name.as_str()).unwrap_or(""),
        "build_number": b.build_number,
        "transition": b.transition.as_str(),
        "initiator_id": b.initiator_id,
        "initiator_name": state.user(b.initiator_id).map(|u| u.username.as_str()).unwrap_or(""),
        "job": job_ref.map(|j| job(state, j)).unwrap_or(Value::Null),
        "reason": "initiator",
        "resources": [],
        "deadline": opt_ts(b.deadline),
        "max_deadline": null,
        "status": status,
        "daily_cost": 0,
        "template_version_preset_id": null,
    })
}

/// codersdk.Workspace, with its latest build embedded.
pub fn workspace(state: &State, w: &Workspace) -> Value {
    let owner = state.user(w.owner_id);
    let org = state.organization(w.organization_id);
    // The workspace keeps pointing at its template even after the template is soft-deleted.
    let template = state.templates.iter().find(|t| t.id == w.template_id);
    let latest = state.latest_build(w.id);
    let outdated = match (latest, template) {
        (Some(b), Some(t)) => b.template_version_id != t.active_version_id,
        _ => false,
    };
    let mut v = json!({
        "id": w.id,
        "created_at": ts(w.created_at),
        "updated_at": ts(w.updated_at),
        "owner_id": w.owner_id,
        "owner_name": owner.map(|u| u.username.as_str()).unwrap_or(""),
        "owner_avatar_url": "",
        "organization_id": w.organization_id,
        "organization_name": org.map(|o| o.name.as_str()).unwrap_or(""),
        "template_id": w.template_id,
        "template_name": template.map(|t| t.name.as_str()).unwrap_or(""),
        "template_display_name": template.map(|t| t.display_name.as_str()).unwrap_or(""),
        "template_icon": template.map(|t| t.icon.as_str()).unwrap_or(""),
        "template_allow_user_cancel_workspace_jobs": template.map(|t| t.allow_user_cancel_workspace_jobs).unwrap_or(false),
        "template_active_version_id": template.map(|t| t.active_version_id).unwrap_or(Uuid::nil()),
        "template_require_active_version": false,
        "template_use_classic_parameter_flow": false,
        "latest_build": latest.map(|b| build(state, b)).unwrap_or(Value::Null),
        "latest_app_status": null,
        "outdated": outdated,
        "name": w.name,
        "last_used_at": ts(w.last_used_at),
        "deleting_at": null,
        "dormant_at": null,
        "health": { "healthy": true, "failing_agents": [] },
        "automatic_updates": "never",
        "allow_renames": false,
        "favorite": false,
        "next_start_at": null,
        "is_prebuild": false,
    });
    if let Some(s) = &w.autostart_schedule {
        v["autostart_schedule"] = json!(s);
    }
    if let Some(ttl) = w.ttl_ms {
        v["ttl_ms"] = json!(ttl);
    }
    v
}

/// codersdk.ProvisionerJobLog entries for a job, synthesized from its state: coderd stores the
/// provisioner's output; the fake writes one line per stage reached (provisioner_daemon source)
/// and the failure (provisioner source, level error). Ids start at 1 and only grow.
pub fn job_logs(j: &Job) -> Vec<Value> {
    let mut lines: Vec<(Timestamp, &str, &str, &str, String)> = vec![(
        j.created_at,
        "provisioner_daemon",
        "info",
        "Setting up",
        String::new(),
    )];
    if let Some(t) = j.started_at {
        let stage = match j.kind {
            JobKind::TemplateVersionImport { .. } => "Parsing template parameters",
            JobKind::WorkspaceBuild { .. } => "Planning infrastructure",
        };
        lines.push((t, "provisioner_daemon", "info", stage, String::new()));
    }
    if let Some(t) = j.canceled_at {
        lines.push((t, "provisioner_daemon", "warn", "Canceling", String::new()));
    }
    if let Some(t) = j.completed_at {
        if let Some(e) = &j.error {
            lines.push((t, "provisioner", "error", "Error", e.clone()));
        }
        lines.push((
            t,
            "provisioner_daemon",
            "info",
            "Cleaning Up",
            String::new(),
        ));
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (t, source, level, stage, output))| {
            json!({
                "id": i + 1,
                "created_at": ts(t),
                "log_source": source,
                "log_level": level,
                "stage": stage,
                "output": output,
            })
        })
        .collect()
}
