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
    #[serde(rename = "image", default = "CoderControlPlaneSpec::default_image")]
    pub image: String,
    /// Pull policy of the coderd image (the chart's coder.image.pullPolicy); unset leaves the Kubernetes default.
    #[serde(
        rename = "imagePullPolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_pull_policy: Option<CoderControlPlaneImagePullPolicy>,
    /// Number of coderd pods.
    #[serde(rename = "replicas", default = "CoderControlPlaneSpec::default_replicas")]
    pub replicas: i32,
    /// The Service in front of coderd.
    #[serde(rename = "service", default = "CoderControlPlaneSpec::default_service")]
    pub service: CoderControlPlaneService,
    /// A Secret key holding a Coder Enterprise license (a JWT). Once coderd is up and the operator holds a token, the controller uploads it (POST /api/v2/licenses) and uploads it again whenever the value changes. See docs/from-helm.md.
    #[serde(
        rename = "licenseSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub license_secret_ref: Option<CoderControlPlaneLicenseSecretRef>,
    /// Set CODER_ACCESS_URL to the Service's in-cluster URL when extraEnv does not set it (the chart's coder.envUseClusterAccessURL). Turn it off when envFrom provides CODER_ACCESS_URL: an explicit env entry would win over it.
    #[serde(
        rename = "envUseClusterAccessURL",
        default = "CoderControlPlaneSpec::default_env_use_cluster_access_url"
    )]
    pub env_use_cluster_access_url: bool,
    /// Arguments appended to the coderd command line.
    #[serde(rename = "extraArgs", default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
    /// Environment variables of the coderd container; a CODER_ACCESS_URL here replaces the computed one.
    #[serde(rename = "extraEnv", default, skip_serializing_if = "Option::is_none")]
    pub extra_env: Option<Vec<::k8s_openapi::api::core::v1::EnvVar>>,
    /// Sources of environment variables for the coderd container.
    #[serde(rename = "envFrom", default, skip_serializing_if = "Option::is_none")]
    pub env_from: Option<Vec<::k8s_openapi::api::core::v1::EnvFromSource>>,
    /// Secrets used to pull the coderd image.
    #[serde(
        rename = "imagePullSecrets",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_pull_secrets: Option<
        Vec<::k8s_openapi::api::core::v1::LocalObjectReference>,
    >,
    /// Compute resources of the coderd container.
    #[serde(rename = "resources", default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<::k8s_openapi::api::core::v1::ResourceRequirements>,
    /// Security context of the coderd container.
    #[serde(
        rename = "securityContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub security_context: Option<::k8s_openapi::api::core::v1::SecurityContext>,
    /// Security context of the coderd pods.
    #[serde(
        rename = "podSecurityContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_security_context: Option<::k8s_openapi::api::core::v1::PodSecurityContext>,
    /// PriorityClass of the coderd pods (the chart's coder.priorityClassName).
    #[serde(
        rename = "priorityClassName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub priority_class_name: Option<String>,
    /// Annotations of the coderd pods (the chart's coder.podAnnotations).
    #[serde(rename = "podAnnotations", default, skip_serializing_if = "Option::is_none")]
    pub pod_annotations: Option<::std::collections::BTreeMap<String, String>>,
    /// Labels of the coderd pods (the chart's coder.podLabels). The selector labels app.kubernetes.io/name and app.kubernetes.io/instance cannot be overridden.
    #[serde(rename = "podLabels", default, skip_serializing_if = "Option::is_none")]
    pub pod_labels: Option<::std::collections::BTreeMap<String, String>>,
    /// Lifecycle hooks (postStart, preStop) of the coderd container.
    #[serde(rename = "lifecycle", default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<::k8s_openapi::api::core::v1::Lifecycle>,
    /// Further volumes of the coderd pods.
    #[serde(rename = "volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<::k8s_openapi::api::core::v1::Volume>>,
    /// Further volume mounts of the coderd container.
    #[serde(rename = "volumeMounts", default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<::k8s_openapi::api::core::v1::VolumeMount>>,
    /// Extra CA certificates coderd trusts (for example a private OIDC provider's or Git server's).
    #[serde(rename = "certs", default = "CoderControlPlaneSpec::default_certs")]
    pub certs: CoderControlPlaneCerts,
    /// How the coderd pods spread across zones or nodes.
    #[serde(
        rename = "topologySpreadConstraints",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub topology_spread_constraints: Option<
        Vec<::k8s_openapi::api::core::v1::TopologySpreadConstraint>,
    >,
    /// Node labels the coderd pods must match.
    #[serde(rename = "nodeSelector", default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<::std::collections::BTreeMap<String, String>>,
    /// Tolerations of the coderd pods.
    #[serde(rename = "tolerations", default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<::k8s_openapi::api::core::v1::Toleration>>,
    /// Affinity of the coderd pods.
    #[serde(rename = "affinity", default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<::k8s_openapi::api::core::v1::Affinity>,
    /// The ServiceAccount coderd runs as.
    #[serde(
        rename = "serviceAccount",
        default = "CoderControlPlaneSpec::default_service_account"
    )]
    pub service_account: CoderControlPlaneServiceAccount,
    /// TLS served by coderd itself.
    #[serde(rename = "tls", default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<CoderControlPlaneTls>,
    /// How coderd is exposed outside the cluster; at most one of ingress and gateway.
    #[serde(rename = "expose", default, skip_serializing_if = "Option::is_none")]
    pub expose: Option<CoderControlPlaneExpose>,
    /// Permissions coderd gets to manage workspaces.
    #[serde(rename = "rbac", default = "CoderControlPlaneSpec::default_rbac")]
    pub rbac: CoderControlPlaneRbac,
    /// How the operator (the controller and the aggregated apiserver's Coder backend) gets an Owner API token for this coderd. See docs/operator-access.md.
    #[serde(
        rename = "operatorAccess",
        default = "CoderControlPlaneSpec::default_operator_access"
    )]
    pub operator_access: CoderControlPlaneOperatorAccess,
    /// Readiness probe of coderd (GET /healthz).
    #[serde(
        rename = "readinessProbe",
        default = "CoderControlPlaneSpec::default_readiness_probe"
    )]
    pub readiness_probe: CoderControlPlaneReadinessProbe,
    /// Liveness probe of coderd (GET /healthz); off unless enabled.
    #[serde(
        rename = "livenessProbe",
        default = "CoderControlPlaneSpec::default_liveness_probe"
    )]
    pub liveness_probe: CoderControlPlaneLivenessProbe,
}
impl CoderControlPlaneSpec {
    fn default_image() -> String {
        String::from("ghcr.io/coder/coder:latest")
    }
    fn default_replicas() -> i32 {
        1i32
    }
    fn default_service() -> CoderControlPlaneService {
        Default::default()
    }
    fn default_env_use_cluster_access_url() -> bool {
        true
    }
    fn default_certs() -> CoderControlPlaneCerts {
        Default::default()
    }
    fn default_service_account() -> CoderControlPlaneServiceAccount {
        Default::default()
    }
    fn default_rbac() -> CoderControlPlaneRbac {
        Default::default()
    }
    fn default_operator_access() -> CoderControlPlaneOperatorAccess {
        Default::default()
    }
    fn default_readiness_probe() -> CoderControlPlaneReadinessProbe {
        Default::default()
    }
    fn default_liveness_probe() -> CoderControlPlaneLivenessProbe {
        Default::default()
    }
}
impl Default for CoderControlPlaneSpec {
    fn default() -> Self {
        Self {
            image: Self::default_image(),
            image_pull_policy: None,
            replicas: Self::default_replicas(),
            service: Self::default_service(),
            license_secret_ref: None,
            env_use_cluster_access_url: Self::default_env_use_cluster_access_url(),
            extra_args: None,
            extra_env: None,
            env_from: None,
            image_pull_secrets: None,
            resources: None,
            security_context: None,
            pod_security_context: None,
            priority_class_name: None,
            pod_annotations: None,
            pod_labels: None,
            lifecycle: None,
            volumes: None,
            volume_mounts: None,
            certs: Self::default_certs(),
            topology_spread_constraints: None,
            node_selector: None,
            tolerations: None,
            affinity: None,
            service_account: Self::default_service_account(),
            tls: None,
            expose: None,
            rbac: Self::default_rbac(),
            operator_access: Self::default_operator_access(),
            readiness_probe: Self::default_readiness_probe(),
            liveness_probe: Self::default_liveness_probe(),
        }
    }
}
/// Pull policy of the coderd image (the chart's coder.image.pullPolicy); unset leaves the Kubernetes default.
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
pub enum CoderControlPlaneImagePullPolicy {
    #[serde(rename = "Always")]
    Always,
    #[serde(rename = "IfNotPresent")]
    IfNotPresent,
    #[serde(rename = "Never")]
    Never,
}
impl CoderControlPlaneImagePullPolicy {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}
impl ::std::fmt::Display for CoderControlPlaneImagePullPolicy {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// The Service in front of coderd.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneService {
    /// Kubernetes Service type.
    #[serde(rename = "type", default = "CoderControlPlaneService::default_type")]
    pub r#type: CoderControlPlaneServiceType,
    /// Port the Service exposes for HTTP (HTTPS is always 443 when TLS is on).
    #[serde(rename = "port", default = "CoderControlPlaneService::default_port")]
    pub port: i32,
    /// Annotations added to the Service.
    #[serde(rename = "annotations", default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<::std::collections::BTreeMap<String, String>>,
    /// Cluster or Local (Local keeps the client's source address); NodePort and LoadBalancer only.
    #[serde(
        rename = "externalTrafficPolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub external_traffic_policy: Option<CoderControlPlaneServiceExternalTrafficPolicy>,
    /// None or ClientIP (some cloud load balancers refuse ClientIP).
    #[serde(
        rename = "sessionAffinity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub session_affinity: Option<CoderControlPlaneServiceSessionAffinity>,
    /// The load balancer's address, where the cloud supports choosing it; LoadBalancer only.
    #[serde(rename = "loadBalancerIP", default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
    /// The load balancer implementation; LoadBalancer only.
    #[serde(
        rename = "loadBalancerClass",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balancer_class: Option<String>,
    /// Node port of the HTTP port (allocated when unset); NodePort and LoadBalancer only.
    #[serde(rename = "httpNodePort", default, skip_serializing_if = "Option::is_none")]
    pub http_node_port: Option<i32>,
    /// Node port of the HTTPS port (with TLS; allocated when unset); NodePort and LoadBalancer only.
    #[serde(rename = "httpsNodePort", default, skip_serializing_if = "Option::is_none")]
    pub https_node_port: Option<i32>,
}
impl CoderControlPlaneService {
    fn default_type() -> CoderControlPlaneServiceType {
        CoderControlPlaneServiceType::ClusterIp
    }
    fn default_port() -> i32 {
        80i32
    }
}
impl Default for CoderControlPlaneService {
    fn default() -> Self {
        Self {
            r#type: Self::default_type(),
            port: Self::default_port(),
            annotations: None,
            external_traffic_policy: None,
            session_affinity: None,
            load_balancer_ip: None,
            load_balancer_class: None,
            http_node_port: None,
            https_node_port: None,
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
pub enum CoderControlPlaneServiceType {
    #[serde(rename = "ClusterIP")]
    ClusterIp,
    #[serde(rename = "NodePort")]
    NodePort,
    #[serde(rename = "LoadBalancer")]
    LoadBalancer,
}
impl CoderControlPlaneServiceType {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClusterIp => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}
impl ::std::fmt::Display for CoderControlPlaneServiceType {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// Cluster or Local (Local keeps the client's source address); NodePort and LoadBalancer only.
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
pub enum CoderControlPlaneServiceExternalTrafficPolicy {
    #[serde(rename = "Cluster")]
    Cluster,
    #[serde(rename = "Local")]
    Local,
}
impl CoderControlPlaneServiceExternalTrafficPolicy {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Cluster => "Cluster",
            Self::Local => "Local",
        }
    }
}
impl ::std::fmt::Display for CoderControlPlaneServiceExternalTrafficPolicy {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// None or ClientIP (some cloud load balancers refuse ClientIP).
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
pub enum CoderControlPlaneServiceSessionAffinity {
    #[serde(rename = "None")]
    None,
    #[serde(rename = "ClientIP")]
    ClientIp,
}
impl CoderControlPlaneServiceSessionAffinity {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::ClientIp => "ClientIP",
        }
    }
}
impl ::std::fmt::Display for CoderControlPlaneServiceSessionAffinity {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// A Secret key holding a Coder Enterprise license (a JWT). Once coderd is up and the operator holds a token, the controller uploads it (POST /api/v2/licenses) and uploads it again whenever the value changes. See docs/from-helm.md.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneLicenseSecretRef {
    /// Secret name, in the control plane's namespace.
    #[serde(rename = "name")]
    pub name: String,
    /// Key in the Secret.
    #[serde(rename = "key", default = "CoderControlPlaneLicenseSecretRef::default_key")]
    pub key: String,
}
impl CoderControlPlaneLicenseSecretRef {
    fn default_key() -> String {
        String::from("license")
    }
}
/// Extra CA certificates coderd trusts (for example a private OIDC provider's or Git server's).
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneCerts {
    /// Secret keys holding PEM CA certificates. Each is mounted at /etc/ssl/certs/<name>.crt, where coderd (Go's TLS) reads every file beside the system bundle. Two keys of one Secret are mounted as /etc/ssl/certs/<name>-<key>.crt.
    #[serde(rename = "secrets", default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<CoderControlPlaneCertsSecrets>>,
}
impl Default for CoderControlPlaneCerts {
    fn default() -> Self {
        Self { secrets: None }
    }
}
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneCertsSecrets {
    /// Secret name, in the control plane's namespace.
    #[serde(rename = "name")]
    pub name: String,
    /// Key in the Secret.
    #[serde(rename = "key")]
    pub key: String,
}
/// The ServiceAccount coderd runs as.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneServiceAccount {
    /// Name of the ServiceAccount (default the object's name).
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Annotations added to the ServiceAccount (for example a cloud IAM role).
    #[serde(rename = "annotations", default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<::std::collections::BTreeMap<String, String>>,
    /// Labels added to the ServiceAccount.
    #[serde(rename = "labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<::std::collections::BTreeMap<String, String>>,
    /// Use an existing ServiceAccount instead of creating one.
    #[serde(
        rename = "disableCreate",
        default = "CoderControlPlaneServiceAccount::default_disable_create"
    )]
    pub disable_create: bool,
}
impl CoderControlPlaneServiceAccount {
    fn default_disable_create() -> bool {
        false
    }
}
impl Default for CoderControlPlaneServiceAccount {
    fn default() -> Self {
        Self {
            name: None,
            annotations: None,
            labels: None,
            disable_create: Self::default_disable_create(),
        }
    }
}
/// TLS served by coderd itself.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneTls {
    /// kubernetes.io/tls Secrets mounted into coderd; any entry turns TLS on (port 8443, Service port 443).
    #[serde(rename = "secretNames", default, skip_serializing_if = "Option::is_none")]
    pub secret_names: Option<Vec<String>>,
}
impl Default for CoderControlPlaneTls {
    fn default() -> Self {
        Self { secret_names: None }
    }
}
/// How coderd is exposed outside the cluster; at most one of ingress and gateway.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneExpose {
    /// A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) in front of the Service; removed when unset. Needs the Gateway API CRDs in the cluster.
    #[serde(rename = "gateway", default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<CoderControlPlaneExposeGateway>,
    /// An Ingress in front of the Service; removed when unset.
    #[serde(rename = "ingress", default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<CoderControlPlaneExposeIngress>,
}
impl Default for CoderControlPlaneExpose {
    fn default() -> Self {
        Self {
            gateway: None,
            ingress: None,
        }
    }
}
/// A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) in front of the Service; removed when unset. Needs the Gateway API CRDs in the cluster.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneExposeGateway {
    /// Host name of the Coder access URL.
    #[serde(rename = "host")]
    pub host: String,
    /// Wildcard host for workspace apps, for example *.coder.example.com.
    #[serde(rename = "wildcardHost", default, skip_serializing_if = "Option::is_none")]
    pub wildcard_host: Option<String>,
    /// Annotations added to the HTTPRoute.
    #[serde(rename = "annotations", default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<::std::collections::BTreeMap<String, String>>,
    /// Gateways (and listeners) the HTTPRoute attaches to.
    #[serde(rename = "parentRefs")]
    pub parent_refs: Vec<CoderControlPlaneExposeGatewayParentRefs>,
}
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneExposeGatewayParentRefs {
    /// Name of the Gateway.
    #[serde(rename = "name")]
    pub name: String,
    /// Namespace of the Gateway (default the control plane's).
    #[serde(rename = "namespace", default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Listener of the Gateway to attach to (default all that allow the route).
    #[serde(rename = "sectionName", default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}
/// An Ingress in front of the Service; removed when unset.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneExposeIngress {
    /// IngressClass of the Ingress.
    #[serde(rename = "className", default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Host name of the Coder access URL.
    #[serde(rename = "host")]
    pub host: String,
    /// Wildcard host for workspace apps, for example *.coder.example.com.
    #[serde(rename = "wildcardHost", default, skip_serializing_if = "Option::is_none")]
    pub wildcard_host: Option<String>,
    /// Annotations added to the Ingress.
    #[serde(rename = "annotations", default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<::std::collections::BTreeMap<String, String>>,
    /// TLS of the Ingress.
    #[serde(rename = "tls", default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<CoderControlPlaneExposeIngressTls>,
}
/// TLS of the Ingress.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneExposeIngressTls {
    /// Secret with the certificate of host.
    #[serde(rename = "secretName", default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Secret with the certificate of wildcardHost.
    #[serde(
        rename = "wildcardSecretName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub wildcard_secret_name: Option<String>,
}
impl Default for CoderControlPlaneExposeIngressTls {
    fn default() -> Self {
        Self {
            secret_name: None,
            wildcard_secret_name: None,
        }
    }
}
/// Permissions coderd gets to manage workspaces.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneRbac {
    /// Grant coderd access to pods and persistent volume claims for workspaces.
    #[serde(
        rename = "workspacePerms",
        default = "CoderControlPlaneRbac::default_workspace_perms"
    )]
    pub workspace_perms: bool,
    /// Also grant access to deployments.
    #[serde(
        rename = "enableDeployments",
        default = "CoderControlPlaneRbac::default_enable_deployments"
    )]
    pub enable_deployments: bool,
    /// Further rules added to the workspace Role.
    #[serde(rename = "extraRules", default, skip_serializing_if = "Option::is_none")]
    pub extra_rules: Option<Vec<::k8s_openapi::api::rbac::v1::PolicyRule>>,
    /// Other namespaces coderd creates workspaces in; each gets the same Role and RoleBinding.
    #[serde(
        rename = "workspaceNamespaces",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub workspace_namespaces: Option<Vec<String>>,
}
impl CoderControlPlaneRbac {
    fn default_workspace_perms() -> bool {
        true
    }
    fn default_enable_deployments() -> bool {
        true
    }
}
impl Default for CoderControlPlaneRbac {
    fn default() -> Self {
        Self {
            workspace_perms: Self::default_workspace_perms(),
            enable_deployments: Self::default_enable_deployments(),
            extra_rules: None,
            workspace_namespaces: None,
        }
    }
}
/// How the operator (the controller and the aggregated apiserver's Coder backend) gets an Owner API token for this coderd. See docs/operator-access.md.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneOperatorAccess {
    /// Turn operator access off; the Coder backend then refuses this namespace.
    #[serde(
        rename = "disabled",
        default = "CoderControlPlaneOperatorAccess::default_disabled"
    )]
    pub disabled: bool,
    /// A Secret key holding an API token of a coderd Owner, provided by the admin. When set the controller uses it as is and creates no user.
    #[serde(rename = "tokenSecretRef", default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<CoderControlPlaneOperatorAccessTokenSecretRef>,
    /// Secret the controller writes the token it mints to; defaults to `<name>-operator-token`.
    #[serde(
        rename = "generatedTokenSecretName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generated_token_secret_name: Option<String>,
    /// URL the operator reaches coderd at; defaults to the Service's in-cluster URL. Set it when the operator runs outside the cluster network.
    #[serde(rename = "url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Lifetime of minted tokens, e.g. 168h; a token is replaced when a third of its lifetime is left. coderd refuses owner tokens longer than its --max-admin-token-lifetime (168h unless changed).
    #[serde(
        rename = "tokenLifetime",
        default = "CoderControlPlaneOperatorAccess::default_token_lifetime"
    )]
    pub token_lifetime: String,
}
impl CoderControlPlaneOperatorAccess {
    fn default_disabled() -> bool {
        false
    }
    fn default_token_lifetime() -> String {
        String::from("168h")
    }
}
impl Default for CoderControlPlaneOperatorAccess {
    fn default() -> Self {
        Self {
            disabled: Self::default_disabled(),
            token_secret_ref: None,
            generated_token_secret_name: None,
            url: None,
            token_lifetime: Self::default_token_lifetime(),
        }
    }
}
/// A Secret key holding an API token of a coderd Owner, provided by the admin. When set the controller uses it as is and creates no user.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneOperatorAccessTokenSecretRef {
    /// Secret name, in the control plane's namespace.
    #[serde(rename = "name")]
    pub name: String,
    /// Key in the Secret.
    #[serde(
        rename = "key",
        default = "CoderControlPlaneOperatorAccessTokenSecretRef::default_key"
    )]
    pub key: String,
}
impl CoderControlPlaneOperatorAccessTokenSecretRef {
    fn default_key() -> String {
        String::from("token")
    }
}
/// Readiness probe of coderd (GET /healthz).
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneReadinessProbe {
    #[serde(
        rename = "enabled",
        default = "CoderControlPlaneReadinessProbe::default_enabled"
    )]
    pub enabled: bool,
    #[serde(
        rename = "initialDelaySeconds",
        default = "CoderControlPlaneReadinessProbe::default_initial_delay_seconds"
    )]
    pub initial_delay_seconds: i32,
    #[serde(
        rename = "periodSeconds",
        default = "CoderControlPlaneReadinessProbe::default_period_seconds"
    )]
    pub period_seconds: i32,
    #[serde(
        rename = "timeoutSeconds",
        default = "CoderControlPlaneReadinessProbe::default_timeout_seconds"
    )]
    pub timeout_seconds: i32,
    #[serde(
        rename = "successThreshold",
        default = "CoderControlPlaneReadinessProbe::default_success_threshold"
    )]
    pub success_threshold: i32,
    #[serde(
        rename = "failureThreshold",
        default = "CoderControlPlaneReadinessProbe::default_failure_threshold"
    )]
    pub failure_threshold: i32,
}
impl CoderControlPlaneReadinessProbe {
    fn default_enabled() -> bool {
        true
    }
    fn default_initial_delay_seconds() -> i32 {
        0i32
    }
    fn default_period_seconds() -> i32 {
        10i32
    }
    fn default_timeout_seconds() -> i32 {
        1i32
    }
    fn default_success_threshold() -> i32 {
        1i32
    }
    fn default_failure_threshold() -> i32 {
        3i32
    }
}
impl Default for CoderControlPlaneReadinessProbe {
    fn default() -> Self {
        Self {
            enabled: Self::default_enabled(),
            initial_delay_seconds: Self::default_initial_delay_seconds(),
            period_seconds: Self::default_period_seconds(),
            timeout_seconds: Self::default_timeout_seconds(),
            success_threshold: Self::default_success_threshold(),
            failure_threshold: Self::default_failure_threshold(),
        }
    }
}
/// Liveness probe of coderd (GET /healthz); off unless enabled.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneLivenessProbe {
    #[serde(
        rename = "enabled",
        default = "CoderControlPlaneLivenessProbe::default_enabled"
    )]
    pub enabled: bool,
    #[serde(
        rename = "initialDelaySeconds",
        default = "CoderControlPlaneLivenessProbe::default_initial_delay_seconds"
    )]
    pub initial_delay_seconds: i32,
    #[serde(
        rename = "periodSeconds",
        default = "CoderControlPlaneLivenessProbe::default_period_seconds"
    )]
    pub period_seconds: i32,
    #[serde(
        rename = "timeoutSeconds",
        default = "CoderControlPlaneLivenessProbe::default_timeout_seconds"
    )]
    pub timeout_seconds: i32,
    #[serde(
        rename = "successThreshold",
        default = "CoderControlPlaneLivenessProbe::default_success_threshold"
    )]
    pub success_threshold: i32,
    #[serde(
        rename = "failureThreshold",
        default = "CoderControlPlaneLivenessProbe::default_failure_threshold"
    )]
    pub failure_threshold: i32,
}
impl CoderControlPlaneLivenessProbe {
    fn default_enabled() -> bool {
        false
    }
    fn default_initial_delay_seconds() -> i32 {
        0i32
    }
    fn default_period_seconds() -> i32 {
        10i32
    }
    fn default_timeout_seconds() -> i32 {
        1i32
    }
    fn default_success_threshold() -> i32 {
        1i32
    }
    fn default_failure_threshold() -> i32 {
        3i32
    }
}
impl Default for CoderControlPlaneLivenessProbe {
    fn default() -> Self {
        Self {
            enabled: Self::default_enabled(),
            initial_delay_seconds: Self::default_initial_delay_seconds(),
            period_seconds: Self::default_period_seconds(),
            timeout_seconds: Self::default_timeout_seconds(),
            success_threshold: Self::default_success_threshold(),
            failure_threshold: Self::default_failure_threshold(),
        }
    }
}
/// Observed state of the control plane.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneStatus {
    /// The metadata.generation this status describes.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Ready coderd pods.
    #[serde(rename = "readyReplicas", default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// URL the operator reaches coderd at (spec.operatorAccess.url, else the Service's).
    #[serde(rename = "url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The Secret key holding the operator's API token, once it works.
    #[serde(
        rename = "operatorTokenSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub operator_token_secret_ref: Option<CoderControlPlaneStatusOperatorTokenSecretRef>,
    /// Whether the operator holds a working Owner API token for this coderd.
    #[serde(
        rename = "operatorAccessReady",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub operator_access_ready: Option<bool>,
    /// When the controller last uploaded the license of spec.licenseSecretRef.
    #[serde(
        rename = "licenseLastApplied",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub license_last_applied: Option<
        ::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    >,
    /// SHA-256 (hex) of the trimmed license JWT last uploaded.
    #[serde(
        rename = "licenseLastAppliedHash",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub license_last_applied_hash: Option<String>,
    /// The license coderd runs with: none, trial, enterprise, premium or unknown.
    #[serde(rename = "licenseTier", default, skip_serializing_if = "Option::is_none")]
    pub license_tier: Option<String>,
    /// When the controller last read coderd's entitlements.
    #[serde(
        rename = "entitlementsLastChecked",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entitlements_last_checked: Option<
        ::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    >,
    /// Entitlement of external_provisioner_daemons: entitled, grace_period, not_entitled or unknown.
    #[serde(
        rename = "externalProvisionerDaemonsEntitlement",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub external_provisioner_daemons_entitlement: Option<String>,
    /// Coarse state of the control plane.
    #[serde(rename = "phase", default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CoderControlPlaneStatusPhase>,
    /// Available, Progressing, Degraded, OperatorAccessReady, LicenseApplied, Entitlements and GatewayRoute.
    #[serde(rename = "conditions", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<
        Vec<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    >,
}
impl Default for CoderControlPlaneStatus {
    fn default() -> Self {
        Self {
            observed_generation: None,
            ready_replicas: None,
            url: None,
            operator_token_secret_ref: None,
            operator_access_ready: None,
            license_last_applied: None,
            license_last_applied_hash: None,
            license_tier: None,
            entitlements_last_checked: None,
            external_provisioner_daemons_entitlement: None,
            phase: None,
            conditions: None,
        }
    }
}
/// The Secret key holding the operator's API token, once it works.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct CoderControlPlaneStatusOperatorTokenSecretRef {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
impl Default for CoderControlPlaneStatusOperatorTokenSecretRef {
    fn default() -> Self {
        Self { name: None, key: None }
    }
}
/// Coarse state of the control plane.
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
pub enum CoderControlPlaneStatusPhase {
    #[serde(rename = "Pending")]
    Pending,
    #[serde(rename = "Progressing")]
    Progressing,
    #[serde(rename = "Ready")]
    Ready,
    #[serde(rename = "Failed")]
    Failed,
}
impl CoderControlPlaneStatusPhase {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Progressing => "Progressing",
            Self::Ready => "Ready",
            Self::Failed => "Failed",
        }
    }
}
impl ::std::fmt::Display for CoderControlPlaneStatusPhase {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
