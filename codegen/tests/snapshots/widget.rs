// @generated from schema/widget.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

/// Widget exercises every schema construct.
///
/// Second paragraph of the description.
#[derive(::kube::CustomResource)]
#[kube(
    group = "example.coder.com",
    version = "v1beta1",
    kind = "Widget",
    plural = "widgets",
    singular = "widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd",
    derive = "PartialEq",
    schema = "disabled",
)]
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct WidgetSpec {
    /// Required string.
    #[serde(rename = "name")]
    pub name: String,
    /// int32 with a default.
    #[serde(rename = "size", default = "WidgetSpec::default_size")]
    pub size: i32,
    /// int64 (the default integer width).
    #[serde(rename = "count", default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(rename = "ratio", default = "WidgetSpec::default_ratio")]
    pub ratio: f64,
    #[serde(rename = "enabled", default = "WidgetSpec::default_enabled")]
    pub enabled: bool,
    /// A string enum with a default.
    #[serde(rename = "mode", default = "WidgetSpec::default_mode")]
    pub mode: WidgetMode,
    #[serde(rename = "port", default = "WidgetSpec::default_port")]
    pub port: ::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    #[serde(rename = "expires", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(rename = "labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<::std::collections::BTreeMap<String, String>>,
    #[serde(rename = "args", default = "WidgetSpec::default_args")]
    pub args: Vec<String>,
    #[serde(rename = "raw", default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<::serde_json::Value>,
    #[serde(rename = "object", default, skip_serializing_if = "Option::is_none")]
    pub object: Option<::serde_json::Value>,
    #[serde(rename = "env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<::k8s_openapi::api::core::v1::EnvVar>>,
    /// A field named like a Rust keyword.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Defaults to {} so its own defaults apply.
    #[serde(rename = "nested", default = "WidgetSpec::default_nested")]
    pub nested: WidgetNested,
    #[serde(rename = "rules", default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<WidgetRules>>,
}
impl WidgetSpec {
    fn default_size() -> i32 {
        3i32
    }
    fn default_ratio() -> f64 {
        0.5f64
    }
    fn default_enabled() -> bool {
        true
    }
    fn default_mode() -> WidgetMode {
        WidgetMode::ClusterIp
    }
    fn default_port() -> ::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString {
        ::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080i32)
    }
    fn default_args() -> Vec<String> {
        vec![String::from("--verbose")]
    }
    fn default_nested() -> WidgetNested {
        Default::default()
    }
}
/// A string enum with a default.
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
pub enum WidgetMode {
    #[serde(rename = "ClusterIP")]
    ClusterIp,
    #[serde(rename = "NodePort")]
    NodePort,
    #[serde(rename = "load-balancer")]
    LoadBalancer,
}
impl WidgetMode {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClusterIp => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "load-balancer",
        }
    }
}
impl ::std::fmt::Display for WidgetMode {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// Defaults to {} so its own defaults apply.
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct WidgetNested {
    #[serde(rename = "deep", default = "WidgetNested::default_deep")]
    pub deep: i32,
    #[serde(rename = "note", default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
impl WidgetNested {
    fn default_deep() -> i32 {
        7i32
    }
}
impl Default for WidgetNested {
    fn default() -> Self {
        Self {
            deep: Self::default_deep(),
            note: None,
        }
    }
}
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct WidgetRules {
    #[serde(rename = "key")]
    pub key: String,
    #[serde(rename = "value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
#[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
pub struct WidgetStatus {
    #[serde(rename = "phase", default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<WidgetStatusPhase>,
    #[serde(rename = "since", default, skip_serializing_if = "Option::is_none")]
    pub since: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}
impl Default for WidgetStatus {
    fn default() -> Self {
        Self { phase: None, since: None }
    }
}
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
pub enum WidgetStatusPhase {
    #[serde(rename = "Pending")]
    Pending,
    #[serde(rename = "Ready")]
    Ready,
}
impl WidgetStatusPhase {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Ready => "Ready",
        }
    }
}
impl ::std::fmt::Display for WidgetStatusPhase {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str(self.as_str())
    }
}
