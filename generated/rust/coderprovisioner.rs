// @generated from schema/coderprovisioner.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderProvisioner runs external Coder provisioner daemons for an organization of a CoderControlPlane.
#[derive(::kube::CustomResource)]
#[kube(
    group = "coder.com",
    version = "v1alpha1",
    kind = "CoderProvisioner",
    plural = "coderprovisioners",
    singular = "coderprovisioner",
    namespaced,
    status = "CoderProvisionerStatus",
    shortname = "cprov",
    category = "coder",
    derive = "PartialEq",
    schema = "disabled",
)]
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderProvisionerSpec {
    /// The CoderControlPlane (same namespace) the daemons join. Its operator access (status.operatorTokenSecretRef) manages the provisioner key.
    #[serde(rename = "controlPlaneRef")]
    pub control_plane_ref: CoderProvisionerControlPlaneRef,
    /// The Coder organization the provisioner key belongs to.
    #[serde(
        rename = "organizationName",
        default = "CoderProvisionerSpec::default_organization_name"
    )]
    pub organization_name: String,
    /// Name of the provisioner key in coderd and the Secret that stores it.
    #[serde(rename = "key", default = "CoderProvisionerSpec::default_key")]
    pub key: CoderProvisionerKey,
    /// Number of provisioner daemon pods.
    #[serde(rename = "replicas", default = "CoderProvisionerSpec::default_replicas")]
    pub replicas: i32,
    /// Tags of the provisioner key; coderd routes template jobs with matching tags to these daemons. Changing them replaces the key.
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<::std::collections::BTreeMap<String, String>>,
    /// Container image (default the control plane's image).
    #[serde(rename = "image", default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Arguments appended after `provisioner start`.
    #[serde(rename = "extraArgs", default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
    /// Environment variables added to the provisioner container.
    #[serde(rename = "extraEnv", default, skip_serializing_if = "Option::is_none")]
    pub extra_env: Option<Vec<::k8s_openapi::api::core::v1::EnvVar>>,
    /// Compute resources of the provisioner container.
    #[serde(rename = "resources", default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<::k8s_openapi::api::core::v1::ResourceRequirements>,
    /// Secrets used to pull the image.
    #[serde(
        rename = "imagePullSecrets",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_pull_secrets: Option<
        Vec<::k8s_openapi::api::core::v1::LocalObjectReference>,
    >,
    /// Seconds a stopping daemon gets to finish its running job.
    #[serde(
        rename = "terminationGracePeriodSeconds",
        default = "CoderProvisionerSpec::default_termination_grace_period_seconds"
    )]
    pub termination_grace_period_seconds: i64,
}
impl CoderProvisionerSpec {
    fn default_organization_name() -> String {
        String::from("default")
    }
    fn default_key() -> CoderProvisionerKey {
        Default::default()
    }
    fn default_replicas() -> i32 {
        1i32
    }
    fn default_termination_grace_period_seconds() -> i64 {
        600i64
    }
}
/// The CoderControlPlane (same namespace) the daemons join. Its operator access (status.operatorTokenSecretRef) manages the provisioner key.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderProvisionerControlPlaneRef {
    /// Name of the CoderControlPlane.
    #[serde(rename = "name")]
    pub name: String,
}
/// Name of the provisioner key in coderd and the Secret that stores it.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderProvisionerKey {
    /// Provisioner key name in coderd (default the object's name).
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Secret the key is stored in (default `<name>-provisioner-key`).
    #[serde(rename = "secretName", default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Data key in the Secret.
    #[serde(rename = "secretKey", default = "CoderProvisionerKey::default_secret_key")]
    pub secret_key: String,
}
impl CoderProvisionerKey {
    fn default_secret_key() -> String {
        String::from("key")
    }
}
impl Default for CoderProvisionerKey {
    fn default() -> Self {
        Self {
            name: None,
            secret_name: None,
            secret_key: Self::default_secret_key(),
        }
    }
}
/// Observed state of the provisioner daemons.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderProvisionerStatus {
    /// The metadata.generation this status describes.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Ready provisioner pods.
    #[serde(rename = "readyReplicas", default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Ready once at least one daemon pod is ready, Pending before.
    #[serde(rename = "phase", default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CoderProvisionerStatusPhase>,
    /// ControlPlaneReady, OperatorAccessReady, ExternalProvisionersEntitled, ProvisionerKeyReady, ProvisionerKeySecretReady and DeploymentReady.
    #[serde(rename = "conditions", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<
        Vec<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    >,
    /// Id of the organization the key was created in.
    #[serde(rename = "organizationID", default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Name of the organization the key was created in.
    #[serde(
        rename = "organizationName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub organization_name: Option<String>,
    /// Id of the provisioner key in coderd.
    #[serde(
        rename = "provisionerKeyID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provisioner_key_id: Option<String>,
    /// Name of the provisioner key in coderd.
    #[serde(
        rename = "provisionerKeyName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provisioner_key_name: Option<String>,
    /// Hash of the tags the key was created with; a different hash of spec.tags replaces the key.
    #[serde(rename = "tagsHash", default, skip_serializing_if = "Option::is_none")]
    pub tags_hash: Option<String>,
    /// The control plane the key was created in.
    #[serde(
        rename = "controlPlaneRefName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub control_plane_ref_name: Option<String>,
    /// URL of the coderd the key was created in (the daemons' CODER_URL).
    #[serde(
        rename = "controlPlaneURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub control_plane_url: Option<String>,
    /// The Secret key holding the provisioner key.
    #[serde(rename = "secretRef", default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<CoderProvisionerStatusSecretRef>,
}
impl Default for CoderProvisionerStatus {
    fn default() -> Self {
        Self {
            observed_generation: None,
            ready_replicas: None,
            phase: None,
            conditions: None,
            organization_id: None,
            organization_name: None,
            provisioner_key_id: None,
            provisioner_key_name: None,
            tags_hash: None,
            control_plane_ref_name: None,
            control_plane_url: None,
            secret_ref: None,
        }
    }
}
/// Ready once at least one daemon pod is ready, Pending before.
#[derive(
    ::serde::Serialize,
    ::serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash
)]
pub enum CoderProvisionerStatusPhase {
    #[serde(rename = "Pending")]
    Pending,
    #[serde(rename = "Ready")]
    Ready,
}
impl CoderProvisionerStatusPhase {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Ready => "Ready",
        }
    }
}
impl ::std::fmt::Display for CoderProvisionerStatusPhase {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// The Secret key holding the provisioner key.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderProvisionerStatusSecretRef {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
impl Default for CoderProvisionerStatusSecretRef {
    fn default() -> Self {
        Self { name: None, key: None }
    }
}
