//! Workspaces and workspace builds (`/api/v2/workspaces`, `/api/v2/workspacebuilds`,
//! `/api/v2/users/{user}/workspace...`).

use futures::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::{CoderClient, json, segment};
use super::error::{CoderError, Endpoint};
use super::templates::ProvisionerJob;

const LIST: Endpoint = Endpoint::new("GET", "/api/v2/workspaces");
const GET: Endpoint = Endpoint::new("GET", "/api/v2/workspaces/{workspace}");
const BY_OWNER_AND_NAME: Endpoint =
    Endpoint::new("GET", "/api/v2/users/{user}/workspace/{workspacename}");
const CREATE: Endpoint = Endpoint::new("POST", "/api/v2/users/{user}/workspaces");
const BUILD_CREATE: Endpoint = Endpoint::new("POST", "/api/v2/workspaces/{workspace}/builds");
const BUILD_GET: Endpoint = Endpoint::new("GET", "/api/v2/workspacebuilds/{workspacebuild}");
const TTL: Endpoint = Endpoint::new("PUT", "/api/v2/workspaces/{workspace}/ttl");
const AUTOSTART: Endpoint = Endpoint::new("PUT", "/api/v2/workspaces/{workspace}/autostart");

/// How many workspaces one page of `GET /api/v2/workspaces` asks for.
const PAGE_SIZE: usize = 100;

/// How many pages after the first one walk asks coderd for at once. The first page tells how
/// many there are; asking for the rest together makes a walk over N workspaces take about
/// ceil(N / 100 / 4) page times instead of N / 100, and narrows the window in which coderd's
/// order can shift under the walk. Four keeps one walk from occupying more than a few of
/// coderd's database connections.
const CONCURRENT_PAGES: usize = 4;

/// How many paged walks [`CoderClient::workspaces`] makes at most when coderd's order shifts
/// under it.
const LIST_PASSES: usize = 3;

/// Workspaces collected over several passes, first-seen order, the latest copy of each.
#[derive(Default)]
struct MergedById {
    order: Vec<Workspace>,
    index: std::collections::HashMap<Uuid, usize>,
}

impl MergedById {
    /// Adds one pass; returns how many distinct workspaces that pass itself held.
    fn extend(&mut self, pass: Vec<Workspace>) -> usize {
        let mut in_pass = std::collections::HashSet::with_capacity(pass.len());
        for workspace in pass {
            in_pass.insert(workspace.id);
            match self.index.get(&workspace.id) {
                Some(&at) => self.order[at] = workspace,
                None => {
                    self.index.insert(workspace.id, self.order.len());
                    self.order.push(workspace);
                }
            }
        }
        in_pass.len()
    }

    fn into_vec(self) -> Vec<Workspace> {
        self.order
    }
}

/// A workspace's state, which is its latest build's (codersdk `WorkspaceStatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceStatus {
    Pending,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
    Canceling,
    Canceled,
    Deleting,
    Deleted,
    /// A status newer than this client.
    #[default]
    #[serde(other)]
    Unknown,
}

impl WorkspaceStatus {
    /// coderd's spelling (`running`, ...); `unknown` for statuses newer than this client.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Canceling => "canceling",
            Self::Canceled => "canceled",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Unknown => "unknown",
        }
    }
}

/// What a build does (codersdk `WorkspaceTransition`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceTransition {
    Start,
    Stop,
    Delete,
    #[default]
    #[serde(other)]
    Unknown,
}

/// One build of a workspace (codersdk `WorkspaceBuild`, the fields used here).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WorkspaceBuild {
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[serde(default)]
    pub workspace_name: String,
    #[serde(default)]
    pub workspace_owner_id: Option<Uuid>,
    #[serde(default)]
    pub workspace_owner_name: String,
    pub template_version_id: Uuid,
    #[serde(default)]
    pub template_version_name: String,
    #[serde(default)]
    pub build_number: i64,
    #[serde(default)]
    pub transition: WorkspaceTransition,
    #[serde(default)]
    pub status: WorkspaceStatus,
    pub job: ProvisionerJob,
    #[serde(default)]
    pub reason: String,
    #[serde(default, rename = "initiator_name")]
    pub initiator_name: String,
    /// When the running workspace stops by itself (null when it does not).
    #[serde(default)]
    pub deadline: Option<Timestamp>,
    #[serde(default)]
    pub max_deadline: Option<Timestamp>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// A workspace (codersdk `Workspace`, the fields used here).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub owner_id: Uuid,
    #[serde(default)]
    pub owner_name: String,
    pub organization_id: Uuid,
    #[serde(default)]
    pub organization_name: String,
    pub template_id: Uuid,
    #[serde(default)]
    pub template_name: String,
    #[serde(default)]
    pub template_display_name: String,
    #[serde(default)]
    pub template_active_version_id: Option<Uuid>,
    pub latest_build: WorkspaceBuild,
    #[serde(default)]
    pub outdated: bool,
    #[serde(default)]
    pub autostart_schedule: Option<String>,
    #[serde(default, rename = "ttl_ms")]
    pub ttl_millis: Option<i64>,
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    #[serde(default)]
    pub deleting_at: Option<Timestamp>,
    #[serde(default)]
    pub dormant_at: Option<Timestamp>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// Which workspaces `GET /api/v2/workspaces` returns: coderd's search query (`q`), built the
/// way codersdk builds it (each value quoted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceFilter {
    /// Username, or `me`.
    pub owner: Option<String>,
    /// Template name.
    pub template: Option<String>,
    /// Workspace name (coderd matches partially).
    pub name: Option<String>,
    /// A [`WorkspaceStatus`] spelling.
    pub status: Option<String>,
    /// Anything else, appended verbatim (coderd's search syntax).
    pub query: Option<String>,
}

impl WorkspaceFilter {
    fn search_query(&self) -> String {
        let mut terms = Vec::new();
        for (key, value) in [
            ("owner", &self.owner),
            ("name", &self.name),
            ("template", &self.template),
            ("status", &self.status),
        ] {
            if let Some(value) = value {
                // Go's %q: a double-quoted string with `"` and `\` escaped.
                let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
                terms.push(format!("{key}:\"{quoted}\""));
            }
        }
        if let Some(query) = &self.query {
            terms.push(query.clone());
        }
        terms.join(" ")
    }
}

#[derive(Deserialize)]
struct WorkspacesPage {
    #[serde(default)]
    workspaces: Vec<Workspace>,
    #[serde(default)]
    count: usize,
}

/// A new workspace (codersdk `CreateWorkspaceRequest`, the fields used here). Exactly one of
/// `template_id` (its active version) and `template_version_id`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CreateWorkspace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_version_id: Option<Uuid>,
    pub name: String,
    #[serde(rename = "ttl_ms", skip_serializing_if = "Option::is_none")]
    pub ttl_millis: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autostart_schedule: Option<String>,
}

/// A new build (codersdk `CreateWorkspaceBuildRequest`, the fields used here).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CreateWorkspaceBuild {
    pub transition: WorkspaceTransition,
    /// None = the workspace's current version (start/stop/delete as is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_version_id: Option<Uuid>,
}

#[derive(Serialize)]
struct TtlRequest {
    ttl_ms: Option<i64>,
}

#[derive(Serialize)]
struct AutostartRequest<'a> {
    schedule: Option<&'a str>,
}

impl CoderClient {
    /// Every workspace matching `filter`, following coderd's offset/limit pagination until
    /// its `count` is reached (or a page comes back empty).
    ///
    /// coderd sorts running workspaces first, so a build that finishes (or a stop) while we
    /// page moves workspaces across page boundaries: one pass can repeat some and skip others.
    /// A pass that saw a workspace twice and fewer than `count` distinct ones is followed by
    /// another, merged by id, up to [`LIST_PASSES`]; a workspace that existed throughout cannot keep escaping
    /// every pass unless coderd's order churns constantly, and then the caller gets the union
    /// it saw (callers never delete on absence from a list alone).
    pub async fn workspaces(&self, filter: &WorkspaceFilter) -> Result<Vec<Workspace>, CoderError> {
        let q = filter.search_query();
        let mut merged = MergedById::default();
        for _ in 0..LIST_PASSES {
            let (pass, count) = self.workspaces_pass(&q).await?;
            let received = pass.len();
            let distinct = merged.extend(pass);
            // A workspace seen twice is the evidence that the order moved under us (whatever
            // moves across a page boundary repeats one workspace there). Short of `count`
            // without a repeat is coderd counting more than it pages (an empty page ended the
            // walk): another pass would see the same.
            if distinct >= count || distinct == received {
                break;
            }
            tracing::debug!(
                seen = distinct,
                count,
                "coderd's workspace order changed while paging; listing again"
            );
        }
        Ok(merged.into_vec())
    }

    /// One offset-paged walk of `GET /workspaces?q=`: the workspaces and coderd's last `count`.
    /// After the first page, the pages its `count` calls for are asked for together
    /// ([`CONCURRENT_PAGES`] at a time, in offset order); should coderd count more by then
    /// (workspaces created meanwhile), the walk goes on a page at a time.
    async fn workspaces_pass(&self, q: &str) -> Result<(Vec<Workspace>, usize), CoderError> {
        let first = self.workspaces_page(q, 0).await?;
        let mut count = first.count;
        let mut all = first.workspaces;
        // Only a full first page says where the others start; a short one (a coderd that pages
        // smaller than asked, or counts more than it lists) is followed a page at a time.
        let mut exhausted = all.is_empty();
        let pages: Vec<WorkspacesPage> = if all.len() < PAGE_SIZE || all.len() >= count {
            Vec::new()
        } else {
            stream::iter((PAGE_SIZE..count).step_by(PAGE_SIZE))
                .map(|offset| self.workspaces_page(q, offset))
                .buffered(CONCURRENT_PAGES)
                .try_collect()
                .await?
        };
        for page in pages {
            exhausted |= page.workspaces.is_empty();
            count = page.count;
            all.extend(page.workspaces);
        }
        while !exhausted && all.len() < count {
            let page = self.workspaces_page(q, all.len()).await?;
            exhausted = page.workspaces.is_empty();
            count = page.count;
            all.extend(page.workspaces);
        }
        Ok((all, count))
    }

    /// One page of `GET /workspaces?q=` from `offset`.
    async fn workspaces_page(&self, q: &str, offset: usize) -> Result<WorkspacesPage, CoderError> {
        let query = serde_urlencoded::to_string([
            ("q", q),
            ("limit", &PAGE_SIZE.to_string()),
            ("offset", &offset.to_string()),
        ])
        .map_err(|e| CoderError::Encode {
            what: "the workspace query",
            reason: e.to_string(),
        })?;
        self.get(LIST, &format!("{}?{query}", LIST.path)).await
    }

    pub async fn workspace(&self, id: Uuid) -> Result<Workspace, CoderError> {
        self.get(GET, &format!("/api/v2/workspaces/{id}")).await
    }

    /// A workspace by its owner (username or id) and name.
    pub async fn workspace_by_owner_and_name(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Workspace, CoderError> {
        let path = format!(
            "/api/v2/users/{}/workspace/{}",
            segment(owner),
            segment(name)
        );
        self.get(BY_OWNER_AND_NAME, &path).await
    }

    /// Creates a workspace owned by `user` (username, id or `me`); its organization is the
    /// template's. coderd queues the first (start) build at once.
    pub async fn create_workspace(
        &self,
        user: &str,
        request: &CreateWorkspace,
    ) -> Result<Workspace, CoderError> {
        let body = json("the workspace", request)?;
        let path = format!("/api/v2/users/{}/workspaces", segment(user));
        self.call_json(CREATE, &path, body).await
    }

    /// Queues a start, stop or delete build.
    pub async fn create_workspace_build(
        &self,
        workspace_id: Uuid,
        request: &CreateWorkspaceBuild,
    ) -> Result<WorkspaceBuild, CoderError> {
        let body = json("the workspace build", request)?;
        let path = format!("/api/v2/workspaces/{workspace_id}/builds");
        self.call_json(BUILD_CREATE, &path, body).await
    }

    pub async fn workspace_build(&self, id: Uuid) -> Result<WorkspaceBuild, CoderError> {
        self.get(BUILD_GET, &format!("/api/v2/workspacebuilds/{id}"))
            .await
    }

    /// Sets (Some) or clears (None) the time a started workspace runs before it stops.
    pub async fn update_workspace_ttl(
        &self,
        id: Uuid,
        ttl_millis: Option<i64>,
    ) -> Result<(), CoderError> {
        let body = json("the workspace TTL", &TtlRequest { ttl_ms: ttl_millis })?;
        let path = format!("/api/v2/workspaces/{id}/ttl");
        self.call(TTL, &path, body).await.map(|_| ())
    }

    /// Sets (Some, a cron schedule like `CRON_TZ=UTC 30 9 * * 1-5`) or clears (None) autostart.
    pub async fn update_workspace_autostart(
        &self,
        id: Uuid,
        schedule: Option<&str>,
    ) -> Result<(), CoderError> {
        let body = json("the autostart schedule", &AutostartRequest { schedule })?;
        let path = format!("/api/v2/workspaces/{id}/autostart");
        self.call(AUTOSTART, &path, body).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_query_quotes_like_codersdk() {
        let filter = WorkspaceFilter {
            owner: Some("alice".into()),
            name: Some("my \"ws\"".into()),
            query: Some("deleted:true".into()),
            ..Default::default()
        };
        assert_eq!(
            filter.search_query(),
            r#"owner:"alice" name:"my \"ws\"" deleted:true"#
        );
        assert_eq!(WorkspaceFilter::default().search_query(), "");
    }

    #[test]
    fn statuses_tolerate_new_values() {
        let status: WorkspaceStatus = serde_json::from_str("\"hibernating\"").unwrap();
        assert_eq!(status, WorkspaceStatus::Unknown);
        let status: WorkspaceStatus = serde_json::from_str("\"stopped\"").unwrap();
        assert_eq!(status.as_str(), "stopped");
    }

    #[test]
    fn build_request_omits_unset_version() {
        let body = serde_json::to_value(CreateWorkspaceBuild {
            transition: WorkspaceTransition::Stop,
            template_version_id: None,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"transition": "stop"}));
    }
}
