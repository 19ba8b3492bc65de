// @generated from schema/codertemplate.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderTemplate is a Coder template exposed through the Kubernetes API.
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
    #[serde(rename = "running", default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}
/// Observed state of the template.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderTemplateStatus {
    /// When workspaces built from the template are stopped automatically.
    #[serde(rename = "autoShutdown", default, skip_serializing_if = "Option::is_none")]
    pub auto_shutdown: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}
impl Default for CoderTemplateStatus {
    fn default() -> Self {
        Self { auto_shutdown: None }
    }
}
