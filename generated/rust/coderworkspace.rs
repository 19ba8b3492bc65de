// @generated from schema/coderworkspace.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderWorkspace is a Coder workspace exposed through the Kubernetes API.
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
    /// Whether the workspace should be running; false stops it.
    #[serde(rename = "running", default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}
/// Observed state of the workspace.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceStatus {
    /// When the workspace will be stopped automatically.
    #[serde(rename = "autoShutdown", default, skip_serializing_if = "Option::is_none")]
    pub auto_shutdown: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}
impl Default for CoderWorkspaceStatus {
    fn default() -> Self {
        Self { auto_shutdown: None }
    }
}
