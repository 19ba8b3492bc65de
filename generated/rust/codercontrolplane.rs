// @generated from schema/codercontrolplane.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderControlPlane declares a Coder control plane (coderd) to run in the cluster.
#[derive(::kube::CustomResource)]
#[kube(
    group = "coder.com",
    version = "v1alpha1",
    kind = "CoderControlPlane",
    plural = "codercontrolplanes",
    singular = "codercontrolplane",
    namespaced,
    status = "CoderControlPlaneStatus",
    shortname = "ccp",
    category = "coder",
    derive = "PartialEq",
    schema = "disabled",
)]
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneSpec {
    /// Container image of coderd.
    #[serde(rename = "image", default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}
/// Observed state of the control plane.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneStatus {
    /// Coarse state of the control plane.
    #[serde(rename = "phase", default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}
impl Default for CoderControlPlaneStatus {
    fn default() -> Self {
        Self { phase: None }
    }
}
