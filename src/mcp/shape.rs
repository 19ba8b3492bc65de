//! Tool inputs and outputs, and how API objects become outputs.
//!
//! Names and JSON fields follow coder/coder-k8s's MCP server so agent configurations and prompts
//! move over unchanged; additions (pagination tokens, `truncated`, a few more workspace fields)
//! are optional fields. Inputs reject unknown fields, so a misspelt argument is an error rather
//! than silently ignored. Every output is an object with a JSON Schema (the tool's
//! `outputSchema`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ObjectList;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::aggregation::v1alpha1::{CoderTemplate, CoderWorkspace};
use crate::api::coder::v1alpha1::CoderControlPlane;

/// Items a list tool returns when the caller gives no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 500;
/// The most items one list call returns; more come through `continue`.
pub const MAX_LIST_LIMIT: u32 = 1000;
pub const DEFAULT_EVENT_LIMIT: u32 = 200;
pub const MAX_EVENT_LIMIT: u32 = 1000;
pub const DEFAULT_POD_LIMIT: u32 = 100;
pub const MAX_POD_LIMIT: u32 = 500;
pub const DEFAULT_LOG_TAIL_LINES: i64 = 2000;
/// Log bytes one call returns at most (1 MiB), whatever `limitBytes` asks.
pub const MAX_LOG_BYTES: i64 = 1 << 20;
pub const LOG_TRUNCATED_SUFFIX: &str = "\n(truncated)";

/// `limit` as asked, else `default`, never above `max`.
pub fn clamp_limit(asked: Option<u32>, default: u32, max: u32) -> u32 {
    match asked {
        None | Some(0) => default,
        Some(n) => n.min(max),
    }
}

// ---- inputs ----

/// A list of objects, optionally in one namespace, one page at a time.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListInput {
    /// Namespace to list in; all namespaces when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Most items to return (default 500, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `continue` token of the previous page.
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

/// One namespaced object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectInput {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

/// The pods of one CoderControlPlane.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListControlPlanePodsInput {
    /// Namespace of the CoderControlPlane.
    pub namespace: String,
    /// Name of the CoderControlPlane.
    pub name: String,
    /// Most pods to return (default 100, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Start (`running: true`) or stop a workspace or template.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetRunningInput {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// The desired spec.running.
    pub running: bool,
}

/// Events of a namespace, optionally of one object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetEventsInput {
    /// Namespace of the events.
    pub namespace: String,
    /// Only events about the object of this name.
    #[serde(default)]
    pub name: Option<String>,
    /// Only events about objects of this kind (e.g. Pod, CoderControlPlane).
    #[serde(default)]
    pub kind: Option<String>,
    /// Most events to return (default 200, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `continue` token of the previous page.
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

/// The end of a pod's log.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetPodLogsInput {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// Lines from the end of the log (default 2000).
    #[serde(default)]
    pub tail_lines: Option<i64>,
    /// Most bytes to return (at most, and by default, 1 MiB).
    #[serde(default)]
    pub limit_bytes: Option<i64>,
    /// Container of the pod (required when it has several).
    #[serde(default)]
    pub container: Option<String>,
}

/// No arguments.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

impl ObjectInput {
    /// Both fields set, else the error an agent can act on.
    pub fn validate(&self) -> Result<(), String> {
        require(&self.namespace, &self.name)
    }
}

/// Empty strings pass JSON Schema's `type: string`; the API would answer with a confusing
/// list or 404, so they are refused up front.
pub fn require(namespace: &str, name: &str) -> Result<(), String> {
    if namespace.is_empty() {
        return Err("namespace is required".into());
    }
    if name.is_empty() {
        return Err("name is required".into());
    }
    Ok(())
}

// ---- outputs ----

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneSummary {
    pub name: String,
    pub namespace: String,
    /// Pending, Progressing, Ready or Degraded; empty before the first reconcile.
    pub phase: String,
    pub ready_replicas: i32,
    /// URL the operator reaches coderd at.
    pub url: String,
}

// One page of a list tool: the items, shaped, and the token of the next page. Every list tool
// answers in this form, whatever the kind. (A plain comment: a doc comment would become the
// schema's description, which rmcp strips from outputSchema by moving its last key into the
// hole, so the listed schema's key order would change.)
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ListOutput<T> {
    pub items: Vec<T>,
    /// Pass as `continue` for the next page; absent on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
}

impl<T> ListOutput<T> {
    /// The page the API answered, each item shaped by `shape`.
    pub fn of<K>(list: ObjectList<K>, shape: impl Fn(&K) -> T) -> Self
    where
        K: Clone,
    {
        ListOutput {
            items: list.items.iter().map(shape).collect(),
            continue_token: continue_of(list.metadata.continue_),
        }
    }
}

pub type ListControlPlanesOutput = ListOutput<ControlPlaneSummary>;
pub type ListWorkspacesOutput = ListOutput<WorkspaceSummary>;
pub type ListTemplatesOutput = ListOutput<TemplateSummary>;
pub type GetEventsOutput = ListOutput<EventSummary>;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionSummary {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneStatusOutput {
    pub observed_generation: i64,
    pub ready_replicas: i32,
    pub url: String,
    pub phase: String,
    /// Whether the operator holds a working API token for this coderd.
    pub operator_access_ready: bool,
    pub conditions: Vec<ConditionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSummary {
    pub name: String,
    pub namespace: String,
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    pub ready_containers: i32,
    pub total_containers: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListControlPlanePodsOutput {
    pub items: Vec<PodSummary>,
    /// More pods matched than `limit` allowed.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConditionSummary {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatusOutput {
    pub name: String,
    pub namespace: String,
    /// Desired replicas (spec.replicas, 1 when unset).
    pub replicas: i32,
    pub ready_replicas: i32,
    pub updated_replicas: i32,
    pub available_replicas: i32,
    pub unavailable_replicas: i32,
    pub observed_generation: i64,
    pub conditions: Vec<DeploymentConditionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePortSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatusOutput {
    pub name: String,
    pub namespace: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    pub ports: Vec<ServicePortSummary>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSummary {
    pub name: String,
    pub namespace: String,
    /// spec.running: whether the workspace should run.
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_shutdown: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    /// Status of the latest build (pending, running, stopped, failed, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_build_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GetWorkspaceOutput {
    pub workspace: WorkspaceSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SetWorkspaceRunningOutput {
    pub workspace: WorkspaceSummary,
    /// False when spec.running already had the asked value (nothing was written).
    pub updated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    pub name: String,
    pub namespace: String,
    /// spec.running: whether the template's workspaces should run.
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_shutdown: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GetTemplateOutput {
    pub template: TemplateSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SetTemplateRunningOutput {
    pub template: TemplateSummary,
    /// False when spec.running already had the asked value (nothing was written).
    pub updated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    /// Kind/name of the object the event is about.
    pub involved_object: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GetPodLogsOutput {
    pub logs: String,
    /// The log was cut at the byte limit (and ends with "\n(truncated)").
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckHealthOutput {
    /// "ok" when the Kubernetes API answered.
    pub status: String,
    /// Version of this coder-k8s server.
    pub version: String,
    /// gitVersion of the Kubernetes API server.
    pub kubernetes_version: String,
    /// The Kubernetes user the tools run as for this caller.
    pub user: String,
}

// ---- shaping ----

fn time(t: Option<&Time>) -> Option<String> {
    t.map(|t| t.0.to_string())
}

pub(super) fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

pub(super) fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

pub(super) fn namespace_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    meta.namespace.clone().unwrap_or_default()
}

/// An API server's `continue` token, dropped when empty (the last page).
pub fn continue_of(token: Option<String>) -> Option<String> {
    token.filter(|t| !t.is_empty())
}

pub fn control_plane_summary(cp: &CoderControlPlane) -> ControlPlaneSummary {
    let status = cp.status.as_ref();
    ControlPlaneSummary {
        name: name_of(&cp.metadata),
        namespace: namespace_of(&cp.metadata),
        phase: status
            .and_then(|s| s.phase.as_ref())
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        url: status.and_then(|s| s.url.clone()).unwrap_or_default(),
    }
}

pub fn conditions(conditions: Option<&Vec<Condition>>) -> Vec<ConditionSummary> {
    let mut out: Vec<ConditionSummary> = conditions
        .into_iter()
        .flatten()
        .map(|c| ConditionSummary {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            observed_generation: c.observed_generation,
            last_transition_time: Some(c.last_transition_time.0.to_string()),
        })
        .collect();
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

pub fn control_plane_status(cp: &CoderControlPlane) -> ControlPlaneStatusOutput {
    let summary = control_plane_summary(cp);
    let status = cp.status.as_ref();
    ControlPlaneStatusOutput {
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        ready_replicas: summary.ready_replicas,
        url: summary.url,
        phase: summary.phase,
        operator_access_ready: status.and_then(|s| s.operator_access_ready) == Some(true),
        conditions: conditions(status.and_then(|s| s.conditions.as_ref())),
    }
}

/// The label selector of a control plane's coderd pods: the labels the operator puts on the
/// pod template of the Deployment it makes for the CoderControlPlane (same as upstream's, less
/// `managed-by`, which the selector does not need).
pub fn control_plane_pod_selector(name: &str) -> String {
    format!("app.kubernetes.io/name=coder,app.kubernetes.io/instance={name}")
}

pub fn pod_summary(pod: &Pod) -> PodSummary {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let statuses = status.and_then(|s| s.container_statuses.as_ref());
    let ready = statuses.map_or(0, |cs| cs.iter().filter(|c| c.ready).count());
    let total = spec
        .map(|s| s.containers.len())
        .filter(|n| *n > 0)
        .or_else(|| statuses.map(|cs| cs.len()))
        .unwrap_or(0);
    PodSummary {
        name: name_of(&pod.metadata),
        namespace: namespace_of(&pod.metadata),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        node_name: non_empty(spec.and_then(|s| s.node_name.as_ref())),
        ready_containers: i32::try_from(ready).unwrap_or(i32::MAX),
        total_containers: i32::try_from(total).unwrap_or(i32::MAX),
        start_time: time(status.and_then(|s| s.start_time.as_ref())),
    }
}

/// One page of pods (the API was asked for `limit`), sorted by name; `more` when the API
/// returned a `continue` token.
pub fn pods_output(mut pods: Vec<Pod>, more: bool) -> ListControlPlanePodsOutput {
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    ListControlPlanePodsOutput {
        items: pods.iter().map(pod_summary).collect(),
        truncated: more,
    }
}

pub fn deployment_status(deployment: &Deployment) -> DeploymentStatusOutput {
    let status = deployment.status.clone().unwrap_or_default();
    let mut conditions: Vec<DeploymentConditionSummary> = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| DeploymentConditionSummary {
            type_: c.type_,
            status: c.status,
            reason: c.reason.unwrap_or_default(),
            message: c.message.unwrap_or_default(),
            last_update_time: time(c.last_update_time.as_ref()),
            last_transition_time: time(c.last_transition_time.as_ref()),
        })
        .collect();
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    DeploymentStatusOutput {
        name: name_of(&deployment.metadata),
        namespace: namespace_of(&deployment.metadata),
        // Kubernetes defaults spec.replicas to 1.
        replicas: deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1),
        ready_replicas: status.ready_replicas.unwrap_or(0),
        updated_replicas: status.updated_replicas.unwrap_or(0),
        available_replicas: status.available_replicas.unwrap_or(0),
        unavailable_replicas: status.unavailable_replicas.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        conditions,
    }
}

pub fn service_status(service: &Service) -> ServiceStatusOutput {
    let spec = service.spec.clone().unwrap_or_default();
    ServiceStatusOutput {
        name: name_of(&service.metadata),
        namespace: namespace_of(&service.metadata),
        type_: spec.type_.unwrap_or_else(|| "ClusterIP".into()),
        cluster_ip: non_empty(spec.cluster_ip.as_ref()),
        ports: spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| ServicePortSummary {
                name: non_empty(p.name.as_ref()),
                port: p.port,
                target_port: p.target_port.map(|t| match t {
                    IntOrString::Int(n) => n.to_string(),
                    IntOrString::String(s) => s,
                }),
                node_port: p.node_port,
                protocol: p.protocol,
            })
            .collect(),
        annotations: service.metadata.annotations.clone().unwrap_or_default(),
    }
}

pub fn workspace_summary(ws: &CoderWorkspace) -> WorkspaceSummary {
    let status = ws.status.as_ref();
    WorkspaceSummary {
        name: name_of(&ws.metadata),
        namespace: namespace_of(&ws.metadata),
        running: ws.spec.running.unwrap_or(false),
        auto_shutdown: time(status.and_then(|s| s.auto_shutdown.as_ref())),
        template_name: non_empty(
            status
                .and_then(|s| s.template_name.as_ref())
                .or(ws.spec.template_name.as_ref()),
        ),
        owner_name: non_empty(status.and_then(|s| s.owner_name.as_ref())),
        latest_build_status: non_empty(status.and_then(|s| s.latest_build_status.as_ref())),
    }
}

pub fn template_summary(t: &CoderTemplate) -> TemplateSummary {
    let status = t.status.as_ref();
    TemplateSummary {
        name: name_of(&t.metadata),
        namespace: namespace_of(&t.metadata),
        running: t.spec.running.unwrap_or(false),
        auto_shutdown: time(status.and_then(|s| s.auto_shutdown.as_ref())),
        active_version_id: non_empty(status.and_then(|s| s.active_version_id.as_ref())),
        organization_name: non_empty(status.and_then(|s| s.organization_name.as_ref())),
    }
}

/// The field selector of `get_events`' filters, `None` without filters.
pub fn event_field_selector(name: Option<&str>, kind: Option<&str>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        parts.push(format!("involvedObject.name={name}"));
    }
    if let Some(kind) = kind.filter(|k| !k.is_empty()) {
        parts.push(format!("involvedObject.kind={kind}"));
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

pub fn event_summary(event: &Event) -> EventSummary {
    // Newer components set eventTime (and series) instead of lastTimestamp.
    let last = time(event.last_timestamp.as_ref())
        .or_else(|| event.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| time(event.first_timestamp.as_ref()));
    let object = &event.involved_object;
    EventSummary {
        type_: event.type_.clone().unwrap_or_default(),
        reason: event.reason.clone().unwrap_or_default(),
        message: event.message.clone().unwrap_or_default(),
        count: event.count.unwrap_or(1),
        involved_object: format!(
            "{}/{}",
            object.kind.clone().unwrap_or_default(),
            object.name.clone().unwrap_or_default()
        ),
        last_timestamp: last,
    }
}

/// The byte limit a `get_pod_logs` call reads: as asked when positive and below 1 MiB, else
/// 1 MiB.
pub fn log_byte_limit(asked: Option<i64>) -> i64 {
    match asked {
        Some(n) if n > 0 && n < MAX_LOG_BYTES => n,
        _ => MAX_LOG_BYTES,
    }
}

/// The log as returned: at most `limit` bytes (cut at a character boundary), marked when cut.
/// The API is asked for one byte more than `limit`, so a longer answer means there was more.
pub fn logs_output(raw: &str, limit: i64) -> GetPodLogsOutput {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if raw.len() <= limit {
        return GetPodLogsOutput {
            logs: raw.to_string(),
            truncated: false,
        };
    }
    let mut cut = limit;
    while !raw.is_char_boundary(cut) {
        cut -= 1;
    }
    GetPodLogsOutput {
        logs: format!("{}{LOG_TRUNCATED_SUFFIX}", &raw[..cut]),
        truncated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::aggregation::v1alpha1::{CoderWorkspaceSpec, CoderWorkspaceStatus};

    #[test]
    fn limits_default_and_clamp() {
        assert_eq!(clamp_limit(None, 500, 1000), 500);
        assert_eq!(clamp_limit(Some(0), 500, 1000), 500);
        assert_eq!(clamp_limit(Some(7), 500, 1000), 7);
        assert_eq!(clamp_limit(Some(5000), 500, 1000), 1000);
        assert_eq!(log_byte_limit(None), MAX_LOG_BYTES);
        assert_eq!(log_byte_limit(Some(-1)), MAX_LOG_BYTES);
        assert_eq!(log_byte_limit(Some(10)), 10);
        assert_eq!(log_byte_limit(Some(i64::MAX)), MAX_LOG_BYTES);
    }

    #[test]
    fn inputs_use_upstream_names_and_refuse_unknown_or_ill_typed_fields() {
        let input: ListInput =
            serde_json::from_value(serde_json::json!({"namespace": "a", "continue": "t"})).unwrap();
        assert_eq!(input.continue_token.as_deref(), Some("t"));
        let logs: GetPodLogsInput = serde_json::from_value(
            serde_json::json!({"namespace": "a", "name": "p", "tailLines": 5, "limitBytes": 9}),
        )
        .unwrap();
        assert_eq!((logs.tail_lines, logs.limit_bytes), (Some(5), Some(9)));
        let unknown = serde_json::from_value::<ObjectInput>(
            serde_json::json!({"namespace": "a", "name": "b", "namepsace": "c"}),
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("namepsace"), "{unknown}");
        let ill_typed = serde_json::from_value::<SetRunningInput>(
            serde_json::json!({"namespace": "a", "name": "b", "running": "yes"}),
        )
        .unwrap_err();
        assert!(ill_typed.to_string().contains("boolean"), "{ill_typed}");
        assert_eq!(
            ObjectInput {
                namespace: "".into(),
                name: "b".into()
            }
            .validate(),
            Err("namespace is required".into())
        );
    }

    #[test]
    fn input_schemas_mark_required_fields_and_forbid_others() {
        let schema = serde_json::to_value(schemars::schema_for!(SetRunningInput)).unwrap();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        assert_eq!(required, ["name", "namespace", "running"]);
        assert_eq!(schema["additionalProperties"], false);
        let list = serde_json::to_value(schemars::schema_for!(ListInput)).unwrap();
        assert!(list["properties"]["continue"].is_object(), "{list}");
        assert!(list.get("required").is_none(), "{list}");
    }

    #[test]
    fn workspaces_are_summarised_with_upstream_fields_plus_status() {
        let mut ws = CoderWorkspace::new(
            "acme.alice.dev",
            CoderWorkspaceSpec {
                organization: None,
                template_name: Some("docker".into()),
                template_version_id: None,
                running: Some(true),
                ttl_millis: None,
                autostart_schedule: None,
            },
        );
        ws.metadata.namespace = Some("team".into());
        ws.status = Some(CoderWorkspaceStatus {
            owner_name: Some("alice".into()),
            latest_build_status: Some("running".into()),
            ..Default::default()
        });
        let json = serde_json::to_value(workspace_summary(&ws)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "acme.alice.dev",
                "namespace": "team",
                "running": true,
                "templateName": "docker",
                "ownerName": "alice",
                "latestBuildStatus": "running"
            })
        );
    }

    #[test]
    fn logs_are_cut_at_the_limit_on_a_character_boundary() {
        let out = logs_output("short", 10);
        assert_eq!((out.logs.as_str(), out.truncated), ("short", false));
        let out = logs_output("0123456789abc", 10);
        assert_eq!(out.logs, format!("0123456789{LOG_TRUNCATED_SUFFIX}"));
        assert!(out.truncated);
        // "é" is two bytes: a cut inside it backs off to before it.
        let out = logs_output("abcé", 4);
        assert_eq!(out.logs, format!("abc{LOG_TRUNCATED_SUFFIX}"));
    }

    #[test]
    fn pods_are_sorted_and_marked_truncated_when_more_remain() {
        let pod = |name: &str| Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let out = pods_output(vec![pod("c"), pod("a"), pod("b")], true);
        let names: Vec<_> = out.items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(out.truncated);
        assert!(!pods_output(vec![pod("a")], false).truncated);
    }

    #[test]
    fn event_filters_become_a_field_selector() {
        assert_eq!(event_field_selector(None, Some("")), None);
        assert_eq!(
            event_field_selector(Some("coder"), Some("Deployment")).as_deref(),
            Some("involvedObject.name=coder,involvedObject.kind=Deployment")
        );
    }

    #[test]
    fn empty_continue_tokens_mean_the_last_page() {
        assert_eq!(continue_of(Some(String::new())), None);
        assert_eq!(continue_of(Some("x".into())).as_deref(), Some("x"));
    }
}
