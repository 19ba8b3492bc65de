// @generated from schema/codertemplate.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderTemplate is a Coder template exposed through the Kubernetes API. Where the aggregated apiserver runs with the Coder backend, the name is `<organization>.<template>` and the object is the template in coderd.
#[derive(::kube::CustomResource)]
#[kube(
    group = "aggregation.coder.com",
    version = "v1alpha1",
    kind = "CoderTemplate",
    plural = "codertemplates",
    singular = "codertemplate",
    namespaced,
    status = "CoderTemplateStatus",
    shortname = "ctpl",
    category = "coder",
    derive = "PartialEq",
    schema = "disabled",
)]
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderTemplateSpec {
    /// Coder organization of the template (defaults to the name's first part).
    #[serde(rename = "organization", default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Template version to make active (a UUID). Empty: the version built from `files` becomes active once its build succeeds.
    #[serde(rename = "versionID", default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Name shown in Coder's UI.
    #[serde(rename = "displayName", default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description shown in Coder's UI.
    #[serde(rename = "description", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Icon URL or path shown in Coder's UI.
    #[serde(rename = "icon", default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The template's source files (path relative to the template root → content), e.g. main.tf. A change uploads and builds a new template version.
    #[serde(rename = "files", default, skip_serializing_if = "Option::is_none")]
    pub files: Option<::std::collections::BTreeMap<String, String>>,
    /// Kept for compatibility with coder/coder-k8s manifests; coderd does not use it.
    #[serde(rename = "running", default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}
impl Default for CoderTemplateSpec {
    fn default() -> Self {
        Self {
            organization: None,
            version_id: None,
            display_name: None,
            description: None,
            icon: None,
            files: None,
            running: None,
        }
    }
}
/// Observed state of the template, as coderd reports it.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderTemplateStatus {
    /// The template's id in coderd.
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name of the template's organization.
    #[serde(
        rename = "organizationName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub organization_name: Option<String>,
    /// Id of the template version new workspaces are built from.
    #[serde(
        rename = "activeVersionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub active_version_id: Option<String>,
    /// Whether the template is deprecated in coderd.
    #[serde(rename = "deprecated", default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    /// When coderd last changed the template.
    #[serde(rename = "updatedAt", default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When workspaces built from the template are stopped automatically.
    #[serde(rename = "autoShutdown", default, skip_serializing_if = "Option::is_none")]
    pub auto_shutdown: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The metadata.generation this status describes.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Ready, CoderReachable, VersionBuilding and VersionFailed.
    #[serde(rename = "conditions", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<
        Vec<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    >,
}
impl Default for CoderTemplateStatus {
    fn default() -> Self {
        Self {
            id: None,
            organization_name: None,
            active_version_id: None,
            deprecated: None,
            updated_at: None,
            auto_shutdown: None,
            observed_generation: None,
            conditions: None,
        }
    }
}
