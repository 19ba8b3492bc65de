// @generated from schema/coderworkspace.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderWorkspace is a Coder workspace exposed through the Kubernetes API. Where the aggregated apiserver runs with the Coder backend, the name is `<organization>.<owner>.<workspace>` and the object is the workspace in coderd.
#[derive(::kube::CustomResource)]
#[kube(
    group = "aggregation.coder.com",
    version = "v1alpha1",
    kind = "CoderWorkspace",
    plural = "coderworkspaces",
    singular = "coderworkspace",
    namespaced,
    status = "CoderWorkspaceStatus",
    shortname = "cws",
    category = "coder",
    derive = "PartialEq",
    schema = "disabled",
)]
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceSpec {
    /// Coder organization of the workspace (defaults to the name's first part).
    #[serde(rename = "organization", default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Template the workspace is built from, in the same organization.
    #[serde(rename = "templateName", default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    /// Template version to build (a UUID); empty builds the template's active version.
    #[serde(
        rename = "templateVersionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub template_version_id: Option<String>,
    /// Whether the workspace should be running; false stops it.
    #[serde(rename = "running", default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    /// Time after the last activity when a running workspace stops, in milliseconds.
    #[serde(rename = "ttlMillis", default, skip_serializing_if = "Option::is_none")]
    pub ttl_millis: Option<i64>,
    /// Autostart schedule in Coder's CRON_TZ cron form, e.g. "CRON_TZ=UTC 30 9 * * 1-5".
    #[serde(
        rename = "autostartSchedule",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub autostart_schedule: Option<String>,
}
impl Default for CoderWorkspaceSpec {
    fn default() -> Self {
        Self {
            organization: None,
            template_name: None,
            template_version_id: None,
            running: None,
            ttl_millis: None,
            autostart_schedule: None,
        }
    }
}
/// Observed state of the workspace, as coderd reports it.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceStatus {
    /// The workspace's id in coderd.
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Username of the workspace owner.
    #[serde(rename = "ownerName", default, skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    /// Name of the workspace's organization.
    #[serde(
        rename = "organizationName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub organization_name: Option<String>,
    /// Name of the template the workspace is built from.
    #[serde(rename = "templateName", default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    /// Id of the latest workspace build.
    #[serde(rename = "latestBuildID", default, skip_serializing_if = "Option::is_none")]
    pub latest_build_id: Option<String>,
    /// Status of the latest build: pending, starting, running, stopping, stopped, failed, canceling, canceled, deleting or deleted.
    #[serde(
        rename = "latestBuildStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub latest_build_status: Option<String>,
    /// When the workspace will be stopped automatically.
    #[serde(rename = "autoShutdown", default, skip_serializing_if = "Option::is_none")]
    pub auto_shutdown: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When the workspace was last used.
    #[serde(rename = "lastUsedAt", default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The metadata.generation this status describes.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Ready, CoderReachable and build conditions.
    #[serde(rename = "conditions", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<
        Vec<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    >,
}
impl Default for CoderWorkspaceStatus {
    fn default() -> Self {
        Self {
            id: None,
            owner_name: None,
            organization_name: None,
            template_name: None,
            latest_build_id: None,
            latest_build_status: None,
            auto_shutdown: None,
            last_used_at: None,
            observed_generation: None,
            conditions: None,
        }
    }
}
