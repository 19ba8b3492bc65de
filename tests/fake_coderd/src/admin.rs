//! `Admin`: direct access to the fake's data, as an administrator using Coder's UI or CLI.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use uuid::Uuid;

use crate::model::{self, KeyKind, Role, State, Transition, UserStatus};
use crate::shared::Shared;
use crate::tarball::{TemplateFile, tar_of};
use crate::{auth, error, ops, sdk};

/// Errors of the `Admin` handle (the HTTP API answers coderd's error bodies instead).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0} not found")]
    NotFound(String),
    /// What coderd would have answered over HTTP.
    #[error("coderd would answer {status}: {message}")]
    Refused { status: u16, message: String },
}

impl From<error::ApiError> for AdminError {
    fn from(e: error::ApiError) -> AdminError {
        AdminError::Refused {
            status: e.status.as_u16(),
            message: e.message,
        }
    }
}

/// Direct, synchronous access to the fake's data. Operations follow the same rules as the HTTP
/// API (a refused operation returns what coderd would have answered) but skip authorization.
#[derive(Clone)]
pub struct Admin {
    pub(crate) shared: Arc<Shared>,
}

impl Admin {
    pub(crate) fn org_id(state: &State, org: &str) -> Result<Uuid, AdminError> {
        state
            .organizations
            .iter()
            .find(|o| {
                o.name == org || o.id.to_string() == org || (org == "default" && o.is_default)
            })
            .map(|o| o.id)
            .ok_or_else(|| AdminError::NotFound(format!("organization {org:?}")))
    }

    fn user_id(state: &State, user: &str) -> Result<Uuid, AdminError> {
        state
            .users
            .iter()
            .find(|u| u.username == user || u.id.to_string() == user)
            .map(|u| u.id)
            .ok_or_else(|| AdminError::NotFound(format!("user {user:?}")))
    }

    /// The first user (an owner, member of the default organization), as the setup page would
    /// create it, plus a 24h session token for it.
    pub fn create_first_user(
        &self,
        email: &str,
        username: &str,
        password: &str,
    ) -> Result<(Uuid, String), AdminError> {
        let mut state = self.shared.state();
        if !state.users.is_empty() {
            return Err(AdminError::Refused {
                status: 409,
                message: "The initial user has already been created.".into(),
            });
        }
        let now = Timestamp::now();
        ops::ensure_default_org(&mut state, now);
        let org = state
            .default_organization()
            .map(|o| o.id)
            .unwrap_or(Uuid::nil());
        let id = ops::insert_user(
            &mut state,
            now,
            ops::NewUser {
                email,
                username,
                name: "",
                password: Some(password),
                role: Role::Owner,
                organization_ids: &[org],
            },
        );
        let token = auth::mint_with_lifetime(
            &mut state,
            now,
            id,
            KeyKind::Password,
            String::new(),
            Duration::from_secs(24 * 3600),
        );
        Ok((id, token))
    }

    /// A member of `org` (login type password, password `FakeCoderd-member-1!`).
    pub fn create_user(&self, org: &str, username: &str) -> Result<Uuid, AdminError> {
        let mut state = self.shared.state();
        let org = Admin::org_id(&state, org)?;
        if state.users.iter().any(|u| u.username == username) {
            return Err(AdminError::Refused {
                status: 409,
                message: "User already exists.".into(),
            });
        }
        let email = format!("{username}@fake-coderd.test");
        Ok(ops::insert_user(
            &mut state,
            Timestamp::now(),
            ops::NewUser {
                email: &email,
                username,
                name: "",
                password: Some("FakeCoderd-member-1!"),
                role: Role::Member,
                organization_ids: &[org],
            },
        ))
    }

    /// Adds an existing user to another organization.
    pub fn add_member(&self, org: &str, user: &str) -> Result<(), AdminError> {
        let mut state = self.shared.state();
        let org = Admin::org_id(&state, org)?;
        let user = Admin::user_id(&state, user)?;
        if !state.is_member(org, user) {
            state.memberships.push(model::Membership {
                organization_id: org,
                user_id: user,
                created_at: Timestamp::now(),
            });
        }
        Ok(())
    }

    pub fn create_organization(&self, name: &str) -> Result<Uuid, AdminError> {
        let mut state = self.shared.state();
        if state.organizations.iter().any(|o| o.name == name) {
            return Err(AdminError::Refused {
                status: 409,
                message: "Organization already exists with that name.".into(),
            });
        }
        Ok(ops::insert_organization(
            &mut state,
            Timestamp::now(),
            name,
            name,
        ))
    }

    /// A 7-day API token for `user` (username or id).
    pub fn api_token(&self, user: &str) -> Result<String, AdminError> {
        self.api_token_with_lifetime(user, Duration::from_secs(7 * 24 * 3600))
    }

    pub fn api_token_with_lifetime(
        &self,
        user: &str,
        lifetime: Duration,
    ) -> Result<String, AdminError> {
        let mut state = self.shared.state();
        let user = Admin::user_id(&state, user)?;
        let name = format!("admin-{}", &Uuid::new_v4().simple().to_string()[..8]);
        Ok(auth::mint_with_lifetime(
            &mut state,
            Timestamp::now(),
            user,
            KeyKind::Token,
            name,
            lifetime,
        ))
    }

    /// Makes the key behind `token` (or with that key id) expired now.
    pub fn expire_key(&self, token_or_id: &str) -> Result<(), AdminError> {
        let id = token_or_id
            .split('-')
            .next()
            .unwrap_or(token_or_id)
            .to_string();
        let mut state = self.shared.state();
        let key = state
            .api_keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| AdminError::NotFound("api key".into()))?;
        let past = Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        key.expires_at = past;
        key.lifetime_seconds = 0;
        Ok(())
    }

    pub fn suspend_user(&self, user: &str) -> Result<(), AdminError> {
        let mut state = self.shared.state();
        let id = Admin::user_id(&state, user)?;
        if let Some(u) = state.users.iter_mut().find(|u| u.id == id) {
            u.status = UserStatus::Suspended;
        }
        Ok(())
    }

    /// Uploads `files` as a tar (by the first owner), imports it as a version and creates the
    /// template, as `coder templates push` does: the import has already completed when this
    /// returns (succeeded, or failed per the markers).
    pub fn create_template_with_files(
        &self,
        org: &str,
        name: &str,
        files: &[TemplateFile<'_>],
    ) -> Result<Uuid, AdminError> {
        let mut state = self.shared.state();
        let org = Admin::org_id(&state, org)?;
        let creator = state
            .users
            .iter()
            .find(|u| u.role == Role::Owner)
            .map(|u| u.id)
            .ok_or_else(|| AdminError::NotFound("owner (create the first user first)".into()))?;
        let now = Timestamp::now();
        let file_id = Admin::store_file(&mut state, creator, tar_of(files));
        let version = ops::create_version(
            &mut state,
            now,
            ops::NewVersion {
                organization_id: org,
                template_id: None,
                file_id,
                name: None,
                message: String::new(),
                created_by: creator,
            },
        )?;
        Admin::finish_import(&mut state, version, now);
        Ok(ops::create_template(
            &mut state,
            now,
            ops::NewTemplate {
                organization_id: org,
                name: name.to_string(),
                display_name: String::new(),
                description: String::new(),
                icon: String::new(),
                version_id: version,
                created_by: creator,
                default_ttl_ms: 0,
                allow_user_cancel_workspace_jobs: false,
                allow_user_autostart: true,
                allow_user_autostop: true,
            },
        )?)
    }

    /// Pushes a new version of `template` with `files` (import completed), optionally
    /// promoting it (only when its import succeeded, like coderd). Returns the version id.
    pub fn push_template_version(
        &self,
        template: Uuid,
        files: &[TemplateFile<'_>],
        promote: bool,
    ) -> Result<Uuid, AdminError> {
        let mut state = self.shared.state();
        let t = state
            .template(template)
            .cloned()
            .ok_or_else(|| AdminError::NotFound("template".into()))?;
        let now = Timestamp::now();
        let file_id = Admin::store_file(&mut state, t.created_by, tar_of(files));
        let version = ops::create_version(
            &mut state,
            now,
            ops::NewVersion {
                organization_id: t.organization_id,
                template_id: Some(template),
                file_id,
                name: None,
                message: String::new(),
                created_by: t.created_by,
            },
        )?;
        Admin::finish_import(&mut state, version, now);
        let succeeded = state
            .version(version)
            .and_then(|v| state.job(v.job_id))
            .is_some_and(|j| j.status() == model::JobStatus::Succeeded);
        if promote
            && succeeded
            && let Some(t) = state.templates.iter_mut().find(|t| t.id == template)
        {
            t.active_version_id = version;
            t.updated_at = now;
        }
        Ok(version)
    }

    fn store_file(state: &mut State, creator: Uuid, data: Vec<u8>) -> Uuid {
        use sha2::Digest;
        let id = Uuid::new_v4();
        let hash = sha2::Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        state.files.push(model::StoredFile {
            id,
            hash,
            created_by: creator,
            mimetype: "application/x-tar".into(),
            data,
        });
        id
    }

    /// Completes an import job now (the CLI waits for it), unless it is marked to hang.
    fn finish_import(state: &mut State, version: Uuid, now: Timestamp) {
        let Some(job_id) = state.version(version).map(|v| v.job_id) else {
            return;
        };
        if let Some(job) = state.jobs.iter_mut().find(|j| j.id == job_id) {
            job.started_at = Some(now);
            match job.outcome.clone() {
                model::Outcome::Succeed => job.completed_at = Some(now),
                model::Outcome::Fail(message) => {
                    job.completed_at = Some(now);
                    job.error = Some(message);
                }
                model::Outcome::Hang => {}
            }
        }
    }

    /// A workspace of `owner` from `template`'s active version; its first (start) build is
    /// queued and runs with the configured timings, as when created in Coder's UI.
    pub fn create_workspace(
        &self,
        owner: &str,
        name: &str,
        template: Uuid,
    ) -> Result<Uuid, AdminError> {
        let mut state = self.shared.state();
        let owner = Admin::user_id(&state, owner)?;
        let t = state
            .template(template)
            .cloned()
            .ok_or_else(|| AdminError::NotFound("template".into()))?;
        Ok(ops::create_workspace(
            &mut state,
            Timestamp::now(),
            ops::NewWorkspace {
                owner_id: owner,
                template_id: t.id,
                template_version_id: None,
                name: name.to_string(),
                autostart_schedule: None,
                ttl_ms: (t.default_ttl_ms > 0).then_some(t.default_ttl_ms),
                initiator_id: owner,
            },
        )?)
    }

    fn transition(&self, workspace: Uuid, transition: Transition) -> Result<Uuid, AdminError> {
        let mut state = self.shared.state();
        let initiator = state
            .workspace(workspace)
            .map(|w| w.owner_id)
            .ok_or_else(|| AdminError::NotFound("workspace".into()))?;
        Ok(ops::create_build(
            &mut state,
            Timestamp::now(),
            ops::NewBuild {
                workspace_id: workspace,
                transition,
                template_version_id: None,
                initiator_id: initiator,
            },
        )?)
    }

    /// Queues a start build; returns the build id.
    pub fn start_workspace(&self, workspace: Uuid) -> Result<Uuid, AdminError> {
        self.transition(workspace, Transition::Start)
    }

    /// Queues a stop build; returns the build id.
    pub fn stop_workspace(&self, workspace: Uuid) -> Result<Uuid, AdminError> {
        self.transition(workspace, Transition::Stop)
    }

    /// Queues a delete build; the workspace disappears when it succeeds.
    pub fn delete_workspace(&self, workspace: Uuid) -> Result<Uuid, AdminError> {
        self.transition(workspace, Transition::Delete)
    }

    pub fn users(&self) -> Vec<Value> {
        let state = self.shared.state();
        state.users.iter().map(|u| sdk::user(&state, u)).collect()
    }

    pub fn organizations(&self) -> Vec<Value> {
        self.shared
            .state()
            .organizations
            .iter()
            .map(sdk::organization)
            .collect()
    }

    /// Live templates, codersdk.Template JSON.
    pub fn templates(&self) -> Vec<Value> {
        let state = self.shared.state();
        state
            .templates
            .iter()
            .filter(|t| !t.deleted)
            .map(|t| sdk::template(&state, t))
            .collect()
    }

    /// Every template version, codersdk.TemplateVersion JSON (with its job).
    pub fn template_versions(&self) -> Vec<Value> {
        let state = self.shared.state();
        state
            .template_versions
            .iter()
            .map(|v| sdk::template_version(&state, v))
            .collect()
    }

    /// Workspaces that are not deleted, codersdk.Workspace JSON (with latest_build).
    pub fn workspaces(&self) -> Vec<Value> {
        let state = self.shared.state();
        state
            .workspaces
            .iter()
            .filter(|w| !w.deleted)
            .map(|w| sdk::workspace(&state, w))
            .collect()
    }

    /// Every workspace build, codersdk.WorkspaceBuild JSON.
    pub fn builds(&self) -> Vec<Value> {
        let state = self.shared.state();
        state.builds.iter().map(|b| sdk::build(&state, b)).collect()
    }

    /// Uploaded files: id, content type, bytes.
    pub fn files(&self) -> Vec<(Uuid, String, Vec<u8>)> {
        self.shared
            .state()
            .files
            .iter()
            .map(|f| (f.id, f.mimetype.clone(), f.data.clone()))
            .collect()
    }
}
