// @generated from schema/coderworkspaceproxy.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// CoderWorkspaceProxy declares a Coder workspace proxy (`coder wsproxy server`) to run in the cluster.
#[derive(::kube::CustomResource)]
#[kube(
    group = "coder.com",
    version = "v1alpha1",
    kind = "CoderWorkspaceProxy",
    plural = "coderworkspaceproxies",
    singular = "coderworkspaceproxy",
    namespaced,
    status = "CoderWorkspaceProxyStatus",
    shortname = "cwp",
    category = "coder",
    derive = "PartialEq",
    schema = "disabled",
)]
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxySpec {
    /// Container image of the proxy (coder's image; the proxy is `coder wsproxy server`).
    #[serde(rename = "image", default = "CoderWorkspaceProxySpec::default_image")]
    pub image: String,
    /// Number of proxy pods.
    #[serde(rename = "replicas", default = "CoderWorkspaceProxySpec::default_replicas")]
    pub replicas: i32,
    /// The Service in front of the proxy.
    #[serde(rename = "service", default = "CoderWorkspaceProxySpec::default_service")]
    pub service: CoderWorkspaceProxyService,
    /// URL of the primary coderd the proxy connects to (CODER_PRIMARY_ACCESS_URL). With bootstrap it defaults to bootstrap.coderURL, or the referenced control plane's status.url.
    #[serde(
        rename = "primaryAccessURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub primary_access_url: Option<String>,
    /// A Secret key holding a proxy token minted elsewhere (CODER_PROXY_SESSION_TOKEN). Used when bootstrap is unset; bootstrap writes and uses its own Secret.
    #[serde(
        rename = "proxySessionTokenSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub proxy_session_token_secret_ref: Option<
        CoderWorkspaceProxyProxySessionTokenSecretRef,
    >,
    /// Register the proxy in coderd and keep its token in a Secret. coderd is named either by controlPlaneRef (its URL and operator token) or by coderURL and credentialsSecretRef (a session token of a coderd Owner).
    #[serde(rename = "bootstrap", default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<CoderWorkspaceProxyBootstrap>,
    /// Serve only DERP traffic (no workspace apps).
    #[serde(rename = "derpOnly", default = "CoderWorkspaceProxySpec::default_derp_only")]
    pub derp_only: bool,
    /// Arguments appended to `coder wsproxy server`.
    #[serde(rename = "extraArgs", default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
    /// Environment variables added to the proxy container.
    #[serde(rename = "extraEnv", default, skip_serializing_if = "Option::is_none")]
    pub extra_env: Option<Vec<::k8s_openapi::api::core::v1::EnvVar>>,
    /// Secrets used to pull the proxy image.
    #[serde(
        rename = "imagePullSecrets",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_pull_secrets: Option<
        Vec<::k8s_openapi::api::core::v1::LocalObjectReference>,
    >,
}
impl CoderWorkspaceProxySpec {
    fn default_image() -> String {
        String::from("ghcr.io/coder/coder:latest")
    }
    fn default_replicas() -> i32 {
        1i32
    }
    fn default_service() -> CoderWorkspaceProxyService {
        Default::default()
    }
    fn default_derp_only() -> bool {
        false
    }
}
impl Default for CoderWorkspaceProxySpec {
    fn default() -> Self {
        Self {
            image: Self::default_image(),
            replicas: Self::default_replicas(),
            service: Self::default_service(),
            primary_access_url: None,
            proxy_session_token_secret_ref: None,
            bootstrap: None,
            derp_only: Self::default_derp_only(),
            extra_args: None,
            extra_env: None,
            image_pull_secrets: None,
        }
    }
}
/// The Service in front of the proxy.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyService {
    /// Kubernetes Service type.
    #[serde(rename = "type", default = "CoderWorkspaceProxyService::default_type")]
    pub r#type: CoderWorkspaceProxyServiceType,
    /// Port the Service exposes (the proxy listens on 3001).
    #[serde(rename = "port", default = "CoderWorkspaceProxyService::default_port")]
    pub port: i32,
    /// Annotations added to the Service.
    #[serde(rename = "annotations", default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<::std::collections::BTreeMap<String, String>>,
}
impl CoderWorkspaceProxyService {
    fn default_type() -> CoderWorkspaceProxyServiceType {
        CoderWorkspaceProxyServiceType::ClusterIp
    }
    fn default_port() -> i32 {
        80i32
    }
}
impl Default for CoderWorkspaceProxyService {
    fn default() -> Self {
        Self {
            r#type: Self::default_type(),
            port: Self::default_port(),
            annotations: None,
        }
    }
}
/// Kubernetes Service type.
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
pub enum CoderWorkspaceProxyServiceType {
    #[serde(rename = "ClusterIP")]
    ClusterIp,
    #[serde(rename = "NodePort")]
    NodePort,
    #[serde(rename = "LoadBalancer")]
    LoadBalancer,
}
impl CoderWorkspaceProxyServiceType {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClusterIp => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}
impl ::std::fmt::Display for CoderWorkspaceProxyServiceType {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// A Secret key holding a proxy token minted elsewhere (CODER_PROXY_SESSION_TOKEN). Used when bootstrap is unset; bootstrap writes and uses its own Secret.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyProxySessionTokenSecretRef {
    /// Secret name, in the proxy's namespace.
    #[serde(rename = "name")]
    pub name: String,
    /// Key in the Secret.
    #[serde(
        rename = "key",
        default = "CoderWorkspaceProxyProxySessionTokenSecretRef::default_key"
    )]
    pub key: String,
}
impl CoderWorkspaceProxyProxySessionTokenSecretRef {
    fn default_key() -> String {
        String::from("token")
    }
}
/// Register the proxy in coderd and keep its token in a Secret. coderd is named either by controlPlaneRef (its URL and operator token) or by coderURL and credentialsSecretRef (a session token of a coderd Owner).
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyBootstrap {
    /// A CoderControlPlane in the proxy's namespace whose coderd the proxy registers in.
    #[serde(
        rename = "controlPlaneRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub control_plane_ref: Option<CoderWorkspaceProxyBootstrapControlPlaneRef>,
    /// URL of the coderd API to register the proxy in.
    #[serde(rename = "coderURL", default, skip_serializing_if = "Option::is_none")]
    pub coder_url: Option<String>,
    /// A Secret key holding a coderd session token allowed to manage workspace proxies.
    #[serde(
        rename = "credentialsSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub credentials_secret_ref: Option<CoderWorkspaceProxyBootstrapCredentialsSecretRef>,
    /// Name of the proxy in coderd (default the object's name); changing it renames the proxy.
    #[serde(rename = "proxyName", default, skip_serializing_if = "Option::is_none")]
    pub proxy_name: Option<String>,
    /// Human-readable region name shown in Coder (default the proxy name).
    #[serde(rename = "displayName", default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Icon URL or emoji path of the region.
    #[serde(rename = "icon", default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Secret the proxy token is written to (default `<name>-proxy-token`).
    #[serde(
        rename = "generatedTokenSecretName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generated_token_secret_name: Option<String>,
}
impl Default for CoderWorkspaceProxyBootstrap {
    fn default() -> Self {
        Self {
            control_plane_ref: None,
            coder_url: None,
            credentials_secret_ref: None,
            proxy_name: None,
            display_name: None,
            icon: None,
            generated_token_secret_name: None,
        }
    }
}
/// A CoderControlPlane in the proxy's namespace whose coderd the proxy registers in.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyBootstrapControlPlaneRef {
    /// Name of the CoderControlPlane.
    #[serde(rename = "name")]
    pub name: String,
}
/// A Secret key holding a coderd session token allowed to manage workspace proxies.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyBootstrapCredentialsSecretRef {
    /// Secret name, in the proxy's namespace.
    #[serde(rename = "name")]
    pub name: String,
    /// Key in the Secret.
    #[serde(
        rename = "key",
        default = "CoderWorkspaceProxyBootstrapCredentialsSecretRef::default_key"
    )]
    pub key: String,
}
impl CoderWorkspaceProxyBootstrapCredentialsSecretRef {
    fn default_key() -> String {
        String::from("token")
    }
}
/// Observed state of the workspace proxy.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyStatus {
    /// The metadata.generation this status describes.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Ready proxy pods.
    #[serde(rename = "readyReplicas", default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Whether the controller registered the proxy in coderd (bootstrap).
    #[serde(rename = "registered", default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// The proxy's id in coderd.
    #[serde(rename = "proxyID", default, skip_serializing_if = "Option::is_none")]
    pub proxy_id: Option<String>,
    /// The proxy's name in coderd, as last registered.
    #[serde(rename = "proxyName", default, skip_serializing_if = "Option::is_none")]
    pub proxy_name: Option<String>,
    /// The Secret key the proxy pods read their token from.
    #[serde(
        rename = "proxyTokenSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub proxy_token_secret_ref: Option<CoderWorkspaceProxyStatusProxyTokenSecretRef>,
    /// Coarse state of the proxy.
    #[serde(rename = "phase", default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CoderWorkspaceProxyStatusPhase>,
    /// ControlPlaneReady, WorkspaceProxyEntitled, ProxyRegistered, ProxyTokenSecretReady and DeploymentReady.
    #[serde(rename = "conditions", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<
        Vec<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    >,
}
impl Default for CoderWorkspaceProxyStatus {
    fn default() -> Self {
        Self {
            observed_generation: None,
            ready_replicas: None,
            registered: None,
            proxy_id: None,
            proxy_name: None,
            proxy_token_secret_ref: None,
            phase: None,
            conditions: None,
        }
    }
}
/// The Secret key the proxy pods read their token from.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderWorkspaceProxyStatusProxyTokenSecretRef {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
impl Default for CoderWorkspaceProxyStatusProxyTokenSecretRef {
    fn default() -> Self {
        Self { name: None, key: None }
    }
}
/// Coarse state of the proxy.
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
pub enum CoderWorkspaceProxyStatusPhase {
    #[serde(rename = "Pending")]
    Pending,
    #[serde(rename = "Ready")]
    Ready,
    #[serde(rename = "Failed")]
    Failed,
}
impl CoderWorkspaceProxyStatusPhase {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Ready => "Ready",
            Self::Failed => "Failed",
        }
    }
}
impl ::std::fmt::Display for CoderWorkspaceProxyStatusPhase {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
