//! The fake's database: plain records, kept in memory for the life of the `FakeCoderd` handle
//! (so they survive `stop`/`restart`, as coderd's Postgres does). Nothing here knows HTTP.

use std::time::Duration;

use jiff::Timestamp;
use uuid::Uuid;

/// A global role. coderd grants `owner` to the first user (coderd/users.go postFirstUser);
/// users created afterwards are plain members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub name: String,
    /// None for users that cannot log in with a password (login_type "none").
    pub password: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_seen_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub is_default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Membership {
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub created_at: Timestamp,
}

/// How a key was minted: `password` for login sessions, `token` for long-lived API tokens
/// (codersdk.LoginType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Password,
    Token,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The 10-character id before the dash (coderd/httpmw/apikey.go SplitAPIToken).
    pub id: String,
    /// sha256 of the 22-character secret; the secret itself is never stored (like coderd).
    pub hashed_secret: [u8; 32],
    pub user_id: Uuid,
    pub kind: KeyKind,
    pub token_name: String,
    pub lifetime_seconds: i64,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used: Timestamp,
}

#[derive(Debug, Clone)]
pub struct StoredFile {
    pub id: Uuid,
    pub hash: String,
    pub created_by: Uuid,
    pub mimetype: String,
    pub data: Vec<u8>,
}

/// What the fake provisioner will do with a job, decided from the uploaded files when the job
/// is created (see `markers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    Fail(String),
    /// Stays `running` until canceled.
    Hang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    TemplateVersionImport { version_id: Uuid },
    WorkspaceBuild { build_id: Uuid },
}

/// codersdk.ProvisionerJobStatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Canceling,
    Canceled,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Canceling => "canceling",
            JobStatus::Canceled => "canceled",
            JobStatus::Failed => "failed",
        }
    }

    /// codersdk ProvisionerJobStatus.Active(): a job that still occupies its workspace.
    pub fn active(self) -> bool {
        matches!(
            self,
            JobStatus::Pending | JobStatus::Running | JobStatus::Canceling
        )
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    pub organization_id: Uuid,
    pub initiator_id: Uuid,
    pub file_id: Uuid,
    pub outcome: Outcome,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub canceled_at: Option<Timestamp>,
    pub error: Option<String>,
}

impl Job {
    /// The status as coderd derives it from the job's timestamps and error
    /// (database ProvisionerJob.JobStatus, a generated column in coderd's schema).
    pub fn status(&self) -> JobStatus {
        if self.canceled_at.is_some() {
            return if self.completed_at.is_some() {
                JobStatus::Canceled
            } else {
                JobStatus::Canceling
            };
        }
        if self.completed_at.is_some() {
            return if self.error.is_some() {
                JobStatus::Failed
            } else {
                JobStatus::Succeeded
            };
        }
        if self.started_at.is_some() {
            JobStatus::Running
        } else {
            JobStatus::Pending
        }
    }
}

#[derive(Debug, Clone)]
pub struct TemplateVersion {
    pub id: Uuid,
    pub template_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub name: String,
    pub message: String,
    pub job_id: Uuid,
    pub created_by: Uuid,
    pub archived: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub active_version_id: Uuid,
    pub created_by: Uuid,
    pub default_ttl_ms: i64,
    pub allow_user_cancel_workspace_jobs: bool,
    pub allow_user_autostart: bool,
    pub allow_user_autostop: bool,
    pub deprecation_message: String,
    pub deleted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Start,
    Stop,
    Delete,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Transition> {
        match s {
            "start" => Some(Transition::Start),
            "stop" => Some(Transition::Stop),
            "delete" => Some(Transition::Delete),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    pub template_id: Uuid,
    pub name: String,
    pub autostart_schedule: Option<String>,
    /// Nanoseconds in coderd's database; milliseconds on the wire.
    pub ttl_ms: Option<i64>,
    pub last_used_at: Timestamp,
    pub deleted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct WorkspaceBuild {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub template_version_id: Uuid,
    pub build_number: i32,
    pub transition: Transition,
    pub initiator_id: Uuid,
    pub job_id: Uuid,
    pub deadline: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// codersdk.WorkspaceStatus, derived from the latest build's transition and job status the way
/// coderd's convertWorkspaceBuild does (coderd/workspacebuilds.go convertWorkspaceStatus).
pub fn workspace_status(job: JobStatus, transition: Transition) -> &'static str {
    match (job, transition) {
        (JobStatus::Pending, _) => "pending",
        (JobStatus::Running, Transition::Start) => "starting",
        (JobStatus::Running, Transition::Stop) => "stopping",
        (JobStatus::Running, Transition::Delete) => "deleting",
        (JobStatus::Succeeded, Transition::Start) => "running",
        (JobStatus::Succeeded, Transition::Stop) => "stopped",
        (JobStatus::Succeeded, Transition::Delete) => "deleted",
        (JobStatus::Canceling, _) => "canceling",
        (JobStatus::Canceled, _) => "canceled",
        (JobStatus::Failed, _) => "failed",
    }
}

/// Timings of the fake provisioner.
#[derive(Debug, Clone, Copy)]
pub struct JobTimings {
    /// How long a new job waits before a (fake) provisioner picks it up.
    pub pending: Duration,
    /// How long a picked-up job runs before it completes.
    pub running: Duration,
    /// How long a running job takes to acknowledge a cancel (status `canceling` meanwhile).
    pub cancel: Duration,
}

/// Everything coderd would keep in its database.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub users: Vec<User>,
    pub organizations: Vec<Organization>,
    pub memberships: Vec<Membership>,
    pub api_keys: Vec<ApiKey>,
    pub files: Vec<StoredFile>,
    pub jobs: Vec<Job>,
    pub template_versions: Vec<TemplateVersion>,
    pub templates: Vec<Template>,
    pub workspaces: Vec<Workspace>,
    pub builds: Vec<WorkspaceBuild>,
    /// Counter for generated version names (coderd uses a random names generator).
    pub name_counter: u64,
    /// The deployment's id (coderd's site config `deployment_id`): the primary workspace
    /// proxy's id, and what a license's `deployment_ids` claim is checked against.
    pub deployment_id: Uuid,
    /// The URL the fake serves on (coderd's access URL; the primary proxy's URL).
    pub access_url: String,
    pub licenses: Vec<License>,
    /// Last license id handed out (coderd's licenses.id is a serial).
    pub license_counter: i32,
    pub provisioner_keys: Vec<ProvisionerKey>,
    pub workspace_proxies: Vec<WorkspaceProxy>,
    /// The primary proxy's display name and icon as set through PATCH (coderd's site configs
    /// `default_proxy_display_name` / `default_proxy_icon_url`); None: coderd's defaults.
    pub primary_proxy_display_name: Option<String>,
    pub primary_proxy_icon: Option<String>,
    /// Per-feature entitlements set with `Admin::set_entitlement`, applied over what the
    /// licenses grant.
    pub entitlement_overrides: std::collections::BTreeMap<String, Entitlement>,
    /// When the entitlements were last recomputed (coderd: startup, license changes).
    pub entitlements_refreshed_at: Option<Timestamp>,
}

/// How a feature is licensed (codersdk.Entitlement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entitlement {
    Entitled,
    /// The license term is over but its grace period (until the JWT's `exp`) is not.
    GracePeriod,
    NotEntitled,
}

impl Entitlement {
    pub fn as_str(self) -> &'static str {
        match self {
            Entitlement::Entitled => "entitled",
            Entitlement::GracePeriod => "grace_period",
            Entitlement::NotEntitled => "not_entitled",
        }
    }

    /// codersdk Entitlement.Weight: how entitlements compare when licenses are merged.
    pub fn weight(self) -> i32 {
        match self {
            Entitlement::Entitled => 2,
            Entitlement::GracePeriod => 1,
            Entitlement::NotEntitled => -1,
        }
    }
}

/// An uploaded license (coderd's `licenses` table): the JWT as uploaded, never re-served.
#[derive(Debug, Clone)]
pub struct License {
    pub id: i32,
    pub uuid: Uuid,
    pub jwt: String,
    pub uploaded_at: Timestamp,
    /// The JWT's `exp`: coderd stops considering the license after it.
    pub exp: Timestamp,
}

/// An organization's provisioner key (coderd's `provisioner_keys` table).
#[derive(Debug, Clone)]
pub struct ProvisionerKey {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub tags: std::collections::BTreeMap<String, String>,
    /// sha256 of the secret; the secret itself is shown once, at creation.
    pub hashed_secret: [u8; 32],
    pub created_at: Timestamp,
}

/// A workspace proxy (coderd's `workspace_proxies` table). Deletion is soft, as in coderd.
#[derive(Debug, Clone)]
pub struct WorkspaceProxy {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub icon: String,
    /// Set when the proxy registers itself (`Admin::register_workspace_proxy`; empty until
    /// then).
    pub url: String,
    /// Whether coderd's health check reaches the registered proxy.
    pub reachable: bool,
    pub wildcard_hostname: String,
    pub derp_enabled: bool,
    pub derp_only: bool,
    /// sha256 of the token's secret part.
    pub token_hashed_secret: [u8; 32],
    pub version: String,
    pub deleted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    t.checked_add(span).unwrap_or(t)
}

impl State {
    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
    pub fn organization(&self, id: Uuid) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id)
    }
    pub fn default_organization(&self) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.is_default)
    }
    pub fn job(&self, id: Uuid) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }
    pub fn file(&self, id: Uuid) -> Option<&StoredFile> {
        self.files.iter().find(|f| f.id == id)
    }
    pub fn version(&self, id: Uuid) -> Option<&TemplateVersion> {
        self.template_versions.iter().find(|v| v.id == id)
    }
    /// Deleted templates are invisible, as coderd's GetTemplateByID excludes them for lookups
    /// through the API (httpmw/templateparam.go answers 404 for a deleted template).
    pub fn template(&self, id: Uuid) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id && !t.deleted)
    }
    pub fn workspace(&self, id: Uuid) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }
    pub fn build(&self, id: Uuid) -> Option<&WorkspaceBuild> {
        self.builds.iter().find(|b| b.id == id)
    }
    pub fn is_member(&self, org: Uuid, user: Uuid) -> bool {
        self.memberships
            .iter()
            .any(|m| m.organization_id == org && m.user_id == user)
    }
    pub fn user_org_ids(&self, user: Uuid) -> Vec<Uuid> {
        self.memberships
            .iter()
            .filter(|m| m.user_id == user)
            .map(|m| m.organization_id)
            .collect()
    }
    /// The build with the highest build number.
    pub fn latest_build(&self, workspace: Uuid) -> Option<&WorkspaceBuild> {
        self.builds
            .iter()
            .filter(|b| b.workspace_id == workspace)
            .max_by_key(|b| b.build_number)
    }
    /// Workspaces that are not deleted and use the template (what coderd counts before it
    /// refuses to delete a template).
    pub fn live_workspaces_of_template(&self, template: Uuid) -> usize {
        self.workspaces
            .iter()
            .filter(|w| w.template_id == template && !w.deleted)
            .count()
    }

    pub fn next_version_name(&mut self) -> String {
        self.name_counter += 1;
        format!("fake_version{}", self.name_counter)
    }

    /// Moves every provisioner job along its lifecycle up to `now`, applying what coderd's
    /// provisionerdserver does when a job completes (a successful delete build marks the
    /// workspace deleted; a successful start build sets the deadline from the TTL).
    pub fn advance(&mut self, now: Timestamp, timings: JobTimings) {
        let mut completed_builds = Vec::new();
        for job in &mut self.jobs {
            if job.completed_at.is_some() {
                continue;
            }
            if let Some(canceled_at) = job.canceled_at {
                let done = after(canceled_at, timings.cancel);
                if done <= now {
                    job.completed_at = Some(done);
                    job.updated_at = done;
                    // The provisioner reports how the interrupted run ended; the wording is the
                    // fake's.
                    job.error = Some("canceled: the provisioner stopped the run".to_string());
                }
                continue;
            }
            if job.started_at.is_none() {
                let start = after(job.created_at, timings.pending);
                if start > now {
                    continue;
                }
                job.started_at = Some(start);
                job.updated_at = start;
            }
            let Some(started) = job.started_at else {
                continue;
            };
            let done = after(started, timings.running);
            match &job.outcome {
                Outcome::Hang => {}
                _ if done > now => {}
                Outcome::Succeed => {
                    job.completed_at = Some(done);
                    job.updated_at = done;
                    if let JobKind::WorkspaceBuild { build_id } = job.kind {
                        completed_builds.push((build_id, done));
                    }
                }
                Outcome::Fail(message) => {
                    job.completed_at = Some(done);
                    job.updated_at = done;
                    job.error = Some(message.clone());
                }
            }
        }
        for (build_id, done) in completed_builds {
            self.on_build_succeeded(build_id, done);
        }
    }

    fn on_build_succeeded(&mut self, build_id: Uuid, done: Timestamp) {
        let Some(build) = self.builds.iter_mut().find(|b| b.id == build_id) else {
            return;
        };
        build.updated_at = done;
        let (workspace_id, transition) = (build.workspace_id, build.transition);
        let Some(workspace) = self.workspaces.iter_mut().find(|w| w.id == workspace_id) else {
            return;
        };
        match transition {
            Transition::Delete => {
                workspace.deleted = true;
                workspace.updated_at = done;
            }
            Transition::Start => {
                let ttl = workspace.ttl_ms;
                if let (Some(ttl), Some(build)) =
                    (ttl, self.builds.iter_mut().find(|b| b.id == build_id))
                {
                    let ms = u64::try_from(ttl).unwrap_or(0);
                    build.deadline = Some(after(done, Duration::from_millis(ms)));
                }
            }
            Transition::Stop => {}
        }
    }
}
