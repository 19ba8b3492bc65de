//! Operations shared by the HTTP handlers and the `Admin` handle (what coderd's handlers do after
//! they have parsed and authorized a request). Each follows the coderd function named in its
//! comment; errors carry coderd's status and message.

use axum::http::StatusCode;
use jiff::Timestamp;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::markers;
use crate::model::{
    Job, JobKind, JobStatus, Membership, Organization, Outcome, Role, State, Template,
    TemplateVersion, Transition, User, UserStatus, Workspace, WorkspaceBuild,
};

/// The default organization coderd's migrations create (named "coder").
pub fn ensure_default_org(state: &mut State, now: Timestamp) {
    if state.default_organization().is_none() {
        state.organizations.push(Organization {
            id: Uuid::new_v4(),
            name: "coder".to_string(),
            display_name: "Coder".to_string(),
            description: "Builtin default organization.".to_string(),
            icon: String::new(),
            is_default: true,
            created_at: now,
            updated_at: now,
        });
    }
}

/// The provisioner keys coderd's migrations insert for the default organization (`built-in`,
/// `user-auth`, `psk`, with fixed ids): never listed by GET …/provisionerkeys, never deletable.
pub fn insert_reserved_provisioner_keys(state: &mut State, now: Timestamp) {
    let Some(org) = state.default_organization().map(|o| o.id) else {
        return;
    };
    for (id, name) in crate::sdk_enterprise::RESERVED_KEYS {
        let Ok(id) = Uuid::parse_str(id) else {
            continue;
        };
        if state.provisioner_keys.iter().any(|k| k.id == id) {
            continue;
        }
        state.provisioner_keys.push(crate::model::ProvisionerKey {
            id,
            organization_id: org,
            name: (*name).to_string(),
            tags: std::collections::BTreeMap::new(),
            hashed_secret: [0; 32],
            created_at: now,
        });
    }
}

/// postLicense after the JWT checks: refuses a license locked to other deployments and one
/// already uploaded, stores the rest. The answer's status and message are coderd's.
pub fn insert_license(
    state: &mut State,
    now: Timestamp,
    jwt: &str,
    parsed: &crate::license::Parsed,
) -> Result<crate::model::License, ApiError> {
    let deployment = state.deployment_id.to_string();
    let locked_to = &parsed.claims.deployment_ids;
    if !locked_to.is_empty() && !locked_to.contains(&deployment) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "License cannot be used on this deployment!",
        )
        .detail(format!(
            "The provided license is locked to the following deployments: {locked_to:?}. \
             Your deployment identifier is {deployment:?}. Please contact sales."
        )));
    }
    // The licenses table keeps each JWT once (licenses_jwt_key); postLicense has no answer
    // of its own for that: the insert error surfaces as a 500.
    if state.licenses.iter().any(|l| l.jwt == jwt) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to add license to database",
        )
        .detail("pq: duplicate key value violates unique constraint \"licenses_jwt_key\""));
    }
    // Older licenses carry no uuid in `jti`: coderd makes one up.
    let uuid = parsed
        .claims
        .id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(Uuid::new_v4);
    state.license_counter += 1;
    let stored = crate::model::License {
        id: state.license_counter,
        uuid,
        jwt: jwt.to_string(),
        uploaded_at: now,
        exp: parsed.claims.expires_at_time().unwrap_or(now),
    };
    state.licenses.push(stored.clone());
    state.entitlements_refreshed_at = Some(now);
    Ok(stored)
}

fn key_name_error(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message.clone()).validation("name", message)
}

/// postProvisionerKey's name checks, before anything touches the database.
pub fn check_provisioner_key_name(name: &str) -> ApiResult<()> {
    if name.is_empty() {
        return Err(key_name_error("Name is required".to_string()));
    }
    if name.len() > 64 {
        return Err(key_name_error(
            "Name must be at most 64 characters".to_string(),
        ));
    }
    if crate::sdk_enterprise::RESERVED_KEYS
        .iter()
        .any(|(_, reserved)| name.eq_ignore_ascii_case(reserved))
    {
        return Err(key_name_error(format!(
            "Name cannot be reserved name '{name}'"
        )));
    }
    Ok(())
}

/// postProvisionerKey's insert: coderd's 409 for a name the organization already has, then
/// the key, its name lowercased (InsertProvisionerKey stores `lower(@name)`: a key created as
/// "K8s" is listed, and deleted, as "k8s"). Returns the secret, which only this answer ever
/// shows.
pub fn insert_provisioner_key(
    state: &mut State,
    now: Timestamp,
    organization_id: Uuid,
    name: &str,
    tags: std::collections::BTreeMap<String, String>,
) -> ApiResult<String> {
    if state
        .provisioner_keys
        .iter()
        .any(|k| k.organization_id == organization_id && k.name.eq_ignore_ascii_case(name))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Provisioner key with name '{name}' already exists in organization"),
        ));
    }
    let secret = crate::auth::random_alphanumeric(PROVISIONER_KEY_SECRET_LENGTH);
    state.provisioner_keys.push(crate::model::ProvisionerKey {
        id: Uuid::new_v4(),
        organization_id,
        name: name.to_lowercase(),
        tags,
        hashed_secret: crate::auth::hash_secret(&secret),
        created_at: now,
    });
    Ok(secret)
}

/// coderd/provisionerkey: the secret handed out once is 43 random characters.
pub const PROVISIONER_KEY_SECRET_LENGTH: usize = 43;

pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub name: &'a str,
    pub password: Option<&'a str>,
    pub role: Role,
    pub organization_ids: &'a [Uuid],
}

/// coderd CreateUser: the user and its organization memberships.
pub fn insert_user(state: &mut State, now: Timestamp, new: NewUser<'_>) -> Uuid {
    let id = Uuid::new_v4();
    state.users.push(User {
        id,
        username: new.username.to_string(),
        email: new.email.to_string(),
        name: new.name.to_string(),
        password: new.password.map(str::to_string),
        role: new.role,
        status: UserStatus::Active,
        created_at: now,
        updated_at: now,
        last_seen_at: now,
    });
    for org in new.organization_ids {
        state.memberships.push(Membership {
            organization_id: *org,
            user_id: id,
            created_at: now,
        });
    }
    id
}

pub fn insert_organization(
    state: &mut State,
    now: Timestamp,
    name: &str,
    display_name: &str,
) -> Uuid {
    let id = Uuid::new_v4();
    state.organizations.push(Organization {
        id,
        name: name.to_string(),
        display_name: display_name.to_string(),
        description: String::new(),
        icon: String::new(),
        is_default: false,
        created_at: now,
        updated_at: now,
    });
    id
}

pub struct NewVersion {
    pub organization_id: Uuid,
    pub template_id: Option<Uuid>,
    pub file_id: Uuid,
    pub name: Option<String>,
    pub message: String,
    pub created_by: Uuid,
}

/// coderd/templateversions.go postTemplateVersionsByOrganization, from the file lookup on:
/// the archive is unpacked (a broken one is a 500, as coderd's tfparse step makes it), an import
/// job is queued and the version inserted; a duplicate name within the template is a 409.
pub fn create_version(state: &mut State, now: Timestamp, new: NewVersion) -> ApiResult<Uuid> {
    let Some(file) = state.file(new.file_id) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "File not found."));
    };
    let found = markers::scan_tar(&file.data).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error checking workspace tags",
        )
        .detail(format!("extract archive to tempdir: {e}"))
    })?;
    let name = match new.name.filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => state.next_version_name(),
    };
    if let Some(template_id) = new.template_id
        && state
            .template_versions
            .iter()
            .any(|v| v.template_id == Some(template_id) && v.name == name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("A template version with name {name:?} already exists for this template."),
        )
        .validation("name", "This value is already in use and should be unique."));
    }
    let version_id = Uuid::new_v4();
    let job_id = Uuid::new_v4();
    state.jobs.push(Job {
        id: job_id,
        kind: JobKind::TemplateVersionImport { version_id },
        organization_id: new.organization_id,
        initiator_id: new.created_by,
        file_id: new.file_id,
        outcome: found.import_outcome(),
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        canceled_at: None,
        error: None,
    });
    state.template_versions.push(TemplateVersion {
        id: version_id,
        template_id: new.template_id,
        organization_id: new.organization_id,
        name,
        message: new.message,
        job_id,
        created_by: new.created_by,
        archived: false,
        created_at: now,
        updated_at: now,
    });
    Ok(version_id)
}

pub struct NewTemplate {
    pub organization_id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub version_id: Uuid,
    pub created_by: Uuid,
    pub default_ttl_ms: i64,
    pub allow_user_cancel_workspace_jobs: bool,
    pub allow_user_autostart: bool,
    pub allow_user_autostop: bool,
}

/// coderd/templates.go postTemplateByOrganization: 409 for a taken name in the organization,
/// 404 for an unknown version, 400 for a version that already belongs to a template; the
/// version is attached to the new template. Like coderd, the version's import job state is not
/// checked here (a template whose version failed to import refuses workspace builds later).
pub fn create_template(state: &mut State, now: Timestamp, new: NewTemplate) -> ApiResult<Uuid> {
    if state
        .templates
        .iter()
        .any(|t| !t.deleted && t.organization_id == new.organization_id && t.name == new.name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Template with name {:?} already exists.", new.name),
        )
        .validation("name", "This value is already in use and should be unique."));
    }
    let Some(version) = state.version(new.version_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "Template version {:?} does not exist.",
                new.version_id.to_string()
            ),
        )
        .validation("template_version_id", "Template version does not exist"));
    };
    if version.template_id.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Template version {} is already part of a template",
                new.version_id
            ),
        )
        .validation(
            "template_version_id",
            "Template version is already part of a template",
        ));
    }
    let id = Uuid::new_v4();
    state.templates.push(Template {
        id,
        organization_id: new.organization_id,
        name: new.name,
        display_name: new.display_name,
        description: new.description,
        icon: new.icon,
        active_version_id: new.version_id,
        created_by: new.created_by,
        default_ttl_ms: new.default_ttl_ms,
        allow_user_cancel_workspace_jobs: new.allow_user_cancel_workspace_jobs,
        allow_user_autostart: new.allow_user_autostart,
        allow_user_autostop: new.allow_user_autostop,
        deprecation_message: String::new(),
        deleted: false,
        created_at: now,
        updated_at: now,
    });
    if let Some(v) = state
        .template_versions
        .iter_mut()
        .find(|v| v.id == new.version_id)
    {
        v.template_id = Some(id);
        v.updated_at = now;
    }
    Ok(id)
}

/// A wsbuilder.BuildError rendered as coderd's handlers render it (message plus detail).
fn build_error(status: StatusCode, message: String) -> ApiError {
    ApiError::new(status, message.clone()).detail(message)
}

pub struct NewBuild {
    pub workspace_id: Uuid,
    pub transition: Transition,
    /// None: the previous build's version, or the template's active version for a first build.
    pub template_version_id: Option<Uuid>,
    pub initiator_id: Uuid,
}

/// coderd/wsbuilder/wsbuilder.go Builder.Build: the version must belong to the workspace's
/// template (400), its import job must have succeeded (406 while pending/running, 400 when
/// failed or canceled), and no build of the workspace may be active (409).
pub fn create_build(state: &mut State, now: Timestamp, new: NewBuild) -> ApiResult<Uuid> {
    let Some(workspace) = state.workspace(new.workspace_id).cloned() else {
        return Err(ApiError::not_found());
    };
    let last = state.latest_build(workspace.id).cloned();
    let version_id = match (new.template_version_id, &last) {
        (Some(v), _) => v,
        (None, Some(b)) => b.template_version_id,
        (None, None) => match state
            .templates
            .iter()
            .find(|t| t.id == workspace.template_id)
        {
            Some(t) => t.active_version_id,
            None => {
                return Err(build_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "failed to fetch template".into(),
                ));
            }
        },
    };
    let Some(version) = state.version(version_id).cloned() else {
        return Err(build_error(
            StatusCode::BAD_REQUEST,
            "template version does not exist".into(),
        ));
    };
    if version.template_id != Some(workspace.template_id) {
        return Err(build_error(
            StatusCode::BAD_REQUEST,
            "template version doesn't match template".into(),
        ));
    }
    let Some(import) = state.job(version.job_id).cloned() else {
        return Err(build_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to fetch template version job".into(),
        ));
    };
    match import.status() {
        JobStatus::Pending | JobStatus::Running => {
            return Err(build_error(
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "The provided template version is {}. Wait for it to complete importing!",
                    import.status().as_str()
                ),
            ));
        }
        JobStatus::Failed | JobStatus::Canceled | JobStatus::Canceling => {
            return Err(build_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "The provided template version {:?} has failed to import: {:?}. You cannot build workspaces with it!",
                    version.name,
                    import.error.clone().unwrap_or_default()
                ),
            ));
        }
        JobStatus::Succeeded => {}
    }
    if let Some(last) = &last
        && state.job(last.job_id).is_some_and(|j| j.status().active())
    {
        return Err(build_error(
            StatusCode::CONFLICT,
            "A workspace build is already active.".into(),
        ));
    }
    let outcome = match state
        .file(import.file_id)
        .map(|f| markers::scan_tar(&f.data))
    {
        Some(Ok(found)) => found.build_outcome(new.transition),
        _ => Outcome::Succeed,
    };
    let build_id = Uuid::new_v4();
    let job_id = Uuid::new_v4();
    state.jobs.push(Job {
        id: job_id,
        kind: JobKind::WorkspaceBuild { build_id },
        organization_id: workspace.organization_id,
        initiator_id: new.initiator_id,
        file_id: import.file_id,
        outcome,
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        canceled_at: None,
        error: None,
    });
    state.builds.push(WorkspaceBuild {
        id: build_id,
        workspace_id: workspace.id,
        template_version_id: version_id,
        build_number: last.map(|b| b.build_number + 1).unwrap_or(1),
        transition: new.transition,
        initiator_id: new.initiator_id,
        job_id,
        deadline: None,
        created_at: now,
        updated_at: now,
    });
    Ok(build_id)
}

pub struct NewWorkspace {
    pub owner_id: Uuid,
    pub template_id: Uuid,
    pub template_version_id: Option<Uuid>,
    pub name: String,
    pub autostart_schedule: Option<String>,
    pub ttl_ms: Option<i64>,
    pub initiator_id: Uuid,
}

/// coderd/workspaces.go createWorkspace after the template is resolved: 409 for a name the
/// owner already uses (deleted workspaces free their name), then the workspace and its first
/// `start` build, in one transaction (a refused build leaves no workspace behind).
pub fn create_workspace(state: &mut State, now: Timestamp, new: NewWorkspace) -> ApiResult<Uuid> {
    if state
        .workspaces
        .iter()
        .any(|w| !w.deleted && w.owner_id == new.owner_id && w.name == new.name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Workspace {:?} already exists.", new.name),
        )
        .validation("name", "This value is already in use and should be unique."));
    }
    let Some(template) = state.template(new.template_id).cloned() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Template {:?} doesn't exist.", new.template_id.to_string()),
        )
        .validation("template_id", "template not found"));
    };
    let id = Uuid::new_v4();
    let snapshot = state.clone();
    state.workspaces.push(Workspace {
        id,
        owner_id: new.owner_id,
        organization_id: template.organization_id,
        template_id: template.id,
        name: new.name,
        autostart_schedule: new.autostart_schedule,
        ttl_ms: new.ttl_ms,
        last_used_at: now,
        deleted: false,
        created_at: now,
        updated_at: now,
    });
    let built = create_build(
        state,
        now,
        NewBuild {
            workspace_id: id,
            transition: Transition::Start,
            template_version_id: new.template_version_id,
            initiator_id: new.initiator_id,
        },
    );
    if let Err(e) = built {
        *state = snapshot;
        return Err(e);
    }
    Ok(id)
}

/// coderd's cancel handlers: a pending job is canceled at once, a running one goes through
/// `canceling`. A job that is done or already canceled is refused with `refusal` (412 in
/// patchCancelTemplateVersion, 400 in patchCancelWorkspaceBuild).
pub fn cancel_job(
    state: &mut State,
    now: Timestamp,
    job_id: Uuid,
    refusal: StatusCode,
) -> ApiResult<()> {
    let Some(job) = state.jobs.iter_mut().find(|j| j.id == job_id) else {
        return Err(ApiError::not_found());
    };
    if job.completed_at.is_some() {
        return Err(ApiError::new(refusal, "Job has already completed!"));
    }
    if job.canceled_at.is_some() {
        return Err(ApiError::new(
            refusal,
            "Job has already been marked as canceled!",
        ));
    }
    job.canceled_at = Some(now);
    job.updated_at = now;
    if job.started_at.is_none() {
        // No provisioner holds it: coderd marks it completed right away, without an error.
        job.completed_at = Some(now);
    }
    Ok(())
}
