//! Templates, template versions and their provisioner jobs (`/api/v2/templates`,
//! `/api/v2/templateversions`, `/api/v2/organizations/{organization}/templates...`).

use std::collections::BTreeMap;

use http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::{Body, CoderClient, decode, json, segment};
use super::error::{CoderError, Endpoint};

const VERSION_CREATE: Endpoint = Endpoint::new(
    "POST",
    "/api/v2/organizations/{organization}/templateversions",
);
const VERSION_GET: Endpoint = Endpoint::new("GET", "/api/v2/templateversions/{templateversion}");
const VERSION_CANCEL: Endpoint =
    Endpoint::new("PATCH", "/api/v2/templateversions/{templateversion}/cancel");
const TEMPLATE_CREATE: Endpoint =
    Endpoint::new("POST", "/api/v2/organizations/{organization}/templates");
const TEMPLATE_GET: Endpoint = Endpoint::new("GET", "/api/v2/templates/{template}");
const TEMPLATE_BY_NAME: Endpoint = Endpoint::new(
    "GET",
    "/api/v2/organizations/{organization}/templates/{templatename}",
);
const TEMPLATES: Endpoint = Endpoint::new("GET", "/api/v2/templates");
const TEMPLATE_PATCH: Endpoint = Endpoint::new("PATCH", "/api/v2/templates/{template}");
const TEMPLATE_PROMOTE: Endpoint = Endpoint::new("PATCH", "/api/v2/templates/{template}/versions");
const TEMPLATE_DELETE: Endpoint = Endpoint::new("DELETE", "/api/v2/templates/{template}");

/// A provisioner job's state (codersdk `ProvisionerJobStatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionerJobStatus {
    Pending,
    Running,
    Succeeded,
    Canceling,
    Canceled,
    Failed,
    /// coderd's own `unknown`, or a status newer than this client.
    #[default]
    #[serde(other)]
    Unknown,
}

impl ProvisionerJobStatus {
    /// The job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Canceled | Self::Failed)
    }
}

/// A template import or workspace build job (codersdk `ProvisionerJob`, the fields used here).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProvisionerJob {
    pub id: Uuid,
    #[serde(default)]
    pub status: ProvisionerJobStatus,
    /// The failure, when `status` is failed (empty otherwise).
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub canceled_at: Option<Timestamp>,
    #[serde(default)]
    pub file_id: Option<Uuid>,
    #[serde(default)]
    pub queue_position: i64,
    #[serde(default)]
    pub queue_size: i64,
    #[serde(default, rename = "type")]
    pub job_type: String,
}

/// A template version (codersdk `TemplateVersion`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TemplateVersion {
    pub id: Uuid,
    /// None until the version is attached to a template.
    #[serde(default)]
    pub template_id: Option<Uuid>,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    pub name: String,
    #[serde(default)]
    pub message: String,
    pub job: ProvisionerJob,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub archived: bool,
}

/// Which provisioner imports a version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionerType {
    #[default]
    Terraform,
    /// coderd's test provisioner.
    Echo,
}

/// A new template version built from an uploaded file (codersdk
/// `CreateTemplateVersionRequest`; storage method `file`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CreateTemplateVersion {
    pub file_id: Uuid,
    /// coderd generates a name when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Attach the version to an existing template (a new version of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub provisioner: ProvisionerType,
    /// Provisioner tags (which provisioner daemons may run the import).
    pub tags: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct CreateTemplateVersionWire<'a> {
    #[serde(flatten)]
    request: &'a CreateTemplateVersion,
    storage_method: &'static str,
}

/// A new template from a version (codersdk `CreateTemplateRequest`, the fields used here).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CreateTemplate {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    pub template_version_id: Uuid,
    #[serde(rename = "default_ttl_ms", skip_serializing_if = "Option::is_none")]
    pub default_ttl_millis: Option<i64>,
}

/// Days on which workspaces must restart (codersdk `TemplateAutostopRequirement`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutostopRequirement {
    #[serde(default)]
    pub days_of_week: Vec<String>,
    #[serde(default)]
    pub weeks: i64,
}

/// Days on which autostart may happen (codersdk `TemplateAutostartRequirement`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutostartRequirement {
    #[serde(default)]
    pub days_of_week: Vec<String>,
}

/// A template (codersdk `Template`, the fields used here).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Template {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[serde(default)]
    pub organization_name: String,
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub icon: String,
    pub active_version_id: Uuid,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub deprecation_message: String,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub created_by_name: String,
    #[serde(default)]
    pub active_user_count: i64,
    #[serde(default, rename = "default_ttl_ms")]
    pub default_ttl_millis: i64,
    #[serde(default, rename = "activity_bump_ms")]
    pub activity_bump_millis: i64,
    #[serde(default)]
    pub autostop_requirement: AutostopRequirement,
    #[serde(default)]
    pub autostart_requirement: AutostartRequirement,
    #[serde(default)]
    pub allow_user_autostart: bool,
    #[serde(default)]
    pub allow_user_autostop: bool,
    #[serde(default)]
    pub allow_user_cancel_workspace_jobs: bool,
    #[serde(default, rename = "failure_ttl_ms")]
    pub failure_ttl_millis: i64,
    #[serde(default, rename = "time_til_dormant_ms")]
    pub time_til_dormant_millis: i64,
    #[serde(default, rename = "time_til_dormant_autodelete_ms")]
    pub time_til_dormant_autodelete_millis: i64,
    #[serde(default)]
    pub require_active_version: bool,
}

/// A template's settings for `PATCH /api/v2/templates/{template}` (codersdk
/// `UpdateTemplateMeta`).
///
/// coderd treats the PATCH as a replacement of these settings (an omitted TTL becomes 0), so
/// start from [`UpdateTemplateMeta::from_template`] and change what should change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpdateTemplateMeta {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    #[serde(rename = "default_ttl_ms")]
    pub default_ttl_millis: i64,
    #[serde(rename = "activity_bump_ms")]
    pub activity_bump_millis: i64,
    pub autostop_requirement: AutostopRequirement,
    pub autostart_requirement: AutostartRequirement,
    pub allow_user_autostart: bool,
    pub allow_user_autostop: bool,
    pub allow_user_cancel_workspace_jobs: bool,
    #[serde(rename = "failure_ttl_ms")]
    pub failure_ttl_millis: i64,
    #[serde(rename = "time_til_dormant_ms")]
    pub time_til_dormant_millis: i64,
    #[serde(rename = "time_til_dormant_autodelete_ms")]
    pub time_til_dormant_autodelete_millis: i64,
    pub require_active_version: bool,
    /// Non-empty deprecates the template; empty un-deprecates it.
    pub deprecation_message: String,
}

impl UpdateTemplateMeta {
    /// The template's current settings, ready to be changed.
    pub fn from_template(template: &Template) -> Self {
        Self {
            name: template.name.clone(),
            display_name: template.display_name.clone(),
            description: template.description.clone(),
            icon: template.icon.clone(),
            default_ttl_millis: template.default_ttl_millis,
            activity_bump_millis: template.activity_bump_millis,
            autostop_requirement: template.autostop_requirement.clone(),
            autostart_requirement: template.autostart_requirement.clone(),
            allow_user_autostart: template.allow_user_autostart,
            allow_user_autostop: template.allow_user_autostop,
            allow_user_cancel_workspace_jobs: template.allow_user_cancel_workspace_jobs,
            failure_ttl_millis: template.failure_ttl_millis,
            time_til_dormant_millis: template.time_til_dormant_millis,
            time_til_dormant_autodelete_millis: template.time_til_dormant_autodelete_millis,
            require_active_version: template.require_active_version,
            deprecation_message: template.deprecation_message.clone(),
        }
    }
}

#[derive(Serialize)]
struct PromoteRequest {
    id: Uuid,
}

impl CoderClient {
    /// Creates a template version in `organization` (name or id) from an uploaded file; coderd
    /// queues its import job (watch it with [`CoderClient::template_version`]).
    pub async fn create_template_version(
        &self,
        organization: &str,
        request: &CreateTemplateVersion,
    ) -> Result<TemplateVersion, CoderError> {
        let body = json(
            "the template version",
            &CreateTemplateVersionWire {
                request,
                storage_method: "file",
            },
        )?;
        let path = format!(
            "/api/v2/organizations/{}/templateversions",
            segment(organization)
        );
        self.call_json(VERSION_CREATE, &path, body).await
    }

    /// A template version with its import job's current state.
    pub async fn template_version(&self, id: Uuid) -> Result<TemplateVersion, CoderError> {
        self.get(VERSION_GET, &format!("/api/v2/templateversions/{id}"))
            .await
    }

    /// Cancels a version's pending or running import job.
    pub async fn cancel_template_version(&self, id: Uuid) -> Result<(), CoderError> {
        let path = format!("/api/v2/templateversions/{id}/cancel");
        self.call(VERSION_CANCEL, &path, Body::Empty)
            .await
            .map(|_| ())
    }

    /// Creates a template in `organization` (name or id) whose active version is
    /// `request.template_version_id` (its import must have succeeded).
    pub async fn create_template(
        &self,
        organization: &str,
        request: &CreateTemplate,
    ) -> Result<Template, CoderError> {
        let body = json("the template", request)?;
        let path = format!("/api/v2/organizations/{}/templates", segment(organization));
        self.call_json(TEMPLATE_CREATE, &path, body).await
    }

    pub async fn template(&self, id: Uuid) -> Result<Template, CoderError> {
        self.get(TEMPLATE_GET, &format!("/api/v2/templates/{id}"))
            .await
    }

    /// A template by organization (name or id) and template name.
    pub async fn template_by_name(
        &self,
        organization: &str,
        name: &str,
    ) -> Result<Template, CoderError> {
        let path = format!(
            "/api/v2/organizations/{}/templates/{}",
            segment(organization),
            segment(name)
        );
        self.get(TEMPLATE_BY_NAME, &path).await
    }

    /// Every template of every organization the token can see (coderd answers with the whole
    /// list; it does not paginate templates).
    pub async fn templates(&self) -> Result<Vec<Template>, CoderError> {
        self.get(TEMPLATES, TEMPLATES.path).await
    }

    /// Replaces a template's settings (see [`UpdateTemplateMeta`]); returns the template as
    /// stored. coderd answers 304 when nothing changed; the template is then read back.
    pub async fn update_template_meta(
        &self,
        id: Uuid,
        meta: &UpdateTemplateMeta,
    ) -> Result<Template, CoderError> {
        let body = json("the template settings", meta)?;
        let path = format!("/api/v2/templates/{id}");
        let (status, bytes) = self.exchange(TEMPLATE_PATCH, &path, body).await?;
        match status {
            StatusCode::NOT_MODIFIED => self.template(id).await,
            status if status.is_success() => decode(TEMPLATE_PATCH, &bytes),
            status => Err(CoderError::from_response(TEMPLATE_PATCH, status, &bytes)),
        }
    }

    /// Makes `version_id` the template's active version (its import must have succeeded).
    pub async fn promote_template_version(
        &self,
        template_id: Uuid,
        version_id: Uuid,
    ) -> Result<(), CoderError> {
        let body = json("the active version", &PromoteRequest { id: version_id })?;
        let path = format!("/api/v2/templates/{template_id}/versions");
        self.call(TEMPLATE_PROMOTE, &path, body).await.map(|_| ())
    }

    /// Deletes a template; coderd refuses while workspaces use it.
    pub async fn delete_template(&self, id: Uuid) -> Result<(), CoderError> {
        let path = format!("/api/v2/templates/{id}");
        self.call(TEMPLATE_DELETE, &path, Body::Empty)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_job_statuses_decode() {
        let status: ProvisionerJobStatus = serde_json::from_str("\"paused_forever\"").unwrap();
        assert_eq!(status, ProvisionerJobStatus::Unknown);
        let status: ProvisionerJobStatus = serde_json::from_str("\"succeeded\"").unwrap();
        assert!(status.is_finished());
    }

    #[test]
    fn create_version_wire_has_storage_method_and_skips_unset_fields() {
        let request = CreateTemplateVersion {
            file_id: Uuid::nil(),
            ..Default::default()
        };
        let wire = serde_json::to_value(CreateTemplateVersionWire {
            request: &request,
            storage_method: "file",
        })
        .unwrap();
        assert_eq!(
            wire,
            serde_json::json!({
                "file_id": "00000000-0000-0000-0000-000000000000",
                "provisioner": "terraform",
                "tags": {},
                "storage_method": "file"
            })
        );
    }
}
