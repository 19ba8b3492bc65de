//! coderd's templates and workspaces as CoderTemplate and CoderWorkspace objects: their spec
//! (for objects created in Coder), their status, and the status conditions.

use serde_json::{Map, Value, json};

use crate::api::registry::ResourceDescriptor;
use crate::coder::{
    ProvisionerJobStatus, Template, TemplateVersion, Workspace, WorkspaceStatus,
    WorkspaceTransition,
};

use super::names::{TemplateName, WorkspaceName};

pub const GROUP: &str = "aggregation.coder.com";
pub const VERSION: &str = "v1alpha1";

/// Keeps a deleted CoderWorkspace until coderd's delete build has removed the workspace.
pub const WORKSPACE_FINALIZER: &str = "coder.com/workspace";
/// A template version uploaded for this CoderTemplate whose build has not finished: the sync
/// creates the template (or promotes the version) when it succeeds.
pub const PENDING_VERSION_ANNOTATION: &str = "coder.com/pending-template-version";

/// A CoderWorkspace created with `running: false`: coderd started it anyway (it starts every
/// new workspace), and the sync queues the stop build once that first build has finished.
pub const STOP_WHEN_STARTED_ANNOTATION: &str = "coder.com/stop-when-started";

pub const READY: &str = "Ready";
pub const CODER_REACHABLE: &str = "CoderReachable";
pub const VERSION_BUILDING: &str = "VersionBuilding";
pub const VERSION_FAILED: &str = "VersionFailed";

pub fn workspaces() -> &'static ResourceDescriptor {
    resource("coderworkspaces")
}

pub fn templates() -> &'static ResourceDescriptor {
    resource("codertemplates")
}

fn resource(plural: &str) -> &'static ResourceDescriptor {
    crate::api::registry::find(GROUP, VERSION, plural)
        .unwrap_or_else(|| panic!("the registry serves {plural}.{GROUP}/{VERSION}"))
}

/// RFC 3339 in whole seconds, as Kubernetes writes times.
pub fn time(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// One status condition (metav1.Condition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn new(kind: &'static str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            kind,
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// Sets `condition` in `status.conditions`, keeping its lastTransitionTime when its status
/// did not change (so a condition says since when it holds).
pub fn set_condition(
    status: &mut Map<String, Value>,
    condition: &Condition,
    generation: Option<i64>,
) {
    let list = status
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let Some(list) = list.as_array_mut() else {
        return;
    };
    let wanted = if condition.status { "True" } else { "False" };
    let position = list
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some(condition.kind));
    let since = position
        .and_then(|i| list.get(i))
        .filter(|c| c.get("status").and_then(Value::as_str) == Some(wanted))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| Value::String(time(jiff::Timestamp::now())));
    let mut entry = json!({
        "type": condition.kind,
        "status": wanted,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": since,
    });
    if let (Some(generation), Some(map)) = (generation, entry.as_object_mut()) {
        map.insert("observedGeneration".into(), Value::from(generation));
    }
    match position {
        Some(i) => list[i] = entry,
        None => list.push(entry),
    }
}

/// Removes the condition of type `kind`.
pub fn clear_condition(status: &mut Map<String, Value>, kind: &str) {
    if let Some(list) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        list.retain(|c| c.get("type").and_then(Value::as_str) != Some(kind));
    }
}

/// The condition of type `kind` in an object's status, if set.
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn generation(object: &Value) -> Option<i64> {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

/// An object's status as a map (empty when it has none).
pub fn status_of(object: &Value) -> Map<String, Value> {
    object
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn put(status: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => status.insert(key.to_string(), v),
        None => status.remove(key),
    };
}

/// Whether a workspace's desired state, as coderd knows it, is running.
pub fn wants_running(ws: &Workspace) -> bool {
    ws.latest_build.transition == WorkspaceTransition::Start
}

/// `Ready` of a workspace: true while its latest build has it running.
fn workspace_ready(ws: &Workspace) -> Condition {
    let build = &ws.latest_build;
    let status = build.status;
    let mut message = format!(
        "build #{} ({}) is {}",
        build.build_number,
        transition_name(build.transition),
        status.as_str()
    );
    if !build.job.error.is_empty() {
        message.push_str(": ");
        message.push_str(&build.job.error);
    }
    Condition::new(
        READY,
        status == WorkspaceStatus::Running,
        &camel(status.as_str()),
        message,
    )
}

fn transition_name(t: WorkspaceTransition) -> &'static str {
    match t {
        WorkspaceTransition::Start => "start",
        WorkspaceTransition::Stop => "stop",
        WorkspaceTransition::Delete => "delete",
        WorkspaceTransition::Unknown => "unknown",
    }
}

/// `running` → `Running`: coderd's status words as condition reasons (CamelCase).
fn camel(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Unknown".into(),
    }
}

/// The status of a CoderWorkspace from coderd's workspace, over the object's current status
/// (its conditions keep their transition times). Marks coderd reachable.
pub fn workspace_status(ws: &Workspace, object: &Value) -> Value {
    let mut status = status_of(object);
    status.insert("id".into(), Value::String(ws.id.to_string()));
    status.insert("ownerName".into(), Value::String(ws.owner_name.clone()));
    status.insert(
        "organizationName".into(),
        Value::String(ws.organization_name.clone()),
    );
    status.insert(
        "templateName".into(),
        Value::String(ws.template_name.clone()),
    );
    status.insert(
        "latestBuildID".into(),
        Value::String(ws.latest_build.id.to_string()),
    );
    status.insert(
        "latestBuildStatus".into(),
        Value::String(ws.latest_build.status.as_str().to_string()),
    );
    put(
        &mut status,
        "autoShutdown",
        ws.latest_build.deadline.map(|t| Value::String(time(t))),
    );
    put(
        &mut status,
        "lastUsedAt",
        ws.last_used_at.map(|t| Value::String(time(t))),
    );
    let generation = generation(object);
    if let Some(g) = generation {
        status.insert("observedGeneration".into(), Value::from(g));
    }
    set_condition(&mut status, &workspace_ready(ws), generation);
    set_condition(&mut status, &reachable(), generation);
    Value::Object(status)
}

/// `CoderReachable=True`.
pub fn reachable() -> Condition {
    Condition::new(
        CODER_REACHABLE,
        true,
        "Reachable",
        "coderd answered the last sync",
    )
}

/// `CoderReachable=False` with why: coderd could not be reached, rejected the operator token,
/// or refused the sync's call. The reason and message follow the latest failure.
pub fn unreachable(error: &crate::coder::CoderError) -> Condition {
    Condition::new(
        CODER_REACHABLE,
        false,
        super::health::Failure::of(error).reason(),
        format!("status is as last seen: {error}"),
    )
}

/// The spec coderd decides for a workspace: what it runs from and whether it should run.
pub fn workspace_spec(ws: &Workspace, spec: &mut Map<String, Value>) {
    spec.insert("running".into(), Value::Bool(wants_running(ws)));
    put(spec, "ttlMillis", ws.ttl_millis.map(Value::from));
    put(
        spec,
        "autostartSchedule",
        ws.autostart_schedule
            .clone()
            .filter(|s| !s.is_empty())
            .map(Value::String),
    );
}

/// A CoderWorkspace for a workspace created in Coder (uid = coderd's id); None when its names
/// do not make a Kubernetes name.
pub fn workspace_object(ws: &Workspace, namespace: &str) -> Option<Value> {
    let name = WorkspaceName::object_name(&ws.organization_name, &ws.owner_name, &ws.name)?;
    let mut spec = Map::new();
    spec.insert(
        "organization".into(),
        Value::String(ws.organization_name.clone()),
    );
    spec.insert(
        "templateName".into(),
        Value::String(ws.template_name.clone()),
    );
    workspace_spec(ws, &mut spec);
    let mut object = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "CoderWorkspace",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": ws.id.to_string(),
            "finalizers": [WORKSPACE_FINALIZER],
        },
        "spec": spec,
    });
    let status = workspace_status(ws, &object);
    object["status"] = status;
    Some(object)
}

/// The status of a CoderTemplate from coderd's template.
pub fn template_status(t: &Template, object: &Value) -> Value {
    let mut status = status_of(object);
    status.insert("id".into(), Value::String(t.id.to_string()));
    status.insert(
        "organizationName".into(),
        Value::String(t.organization_name.clone()),
    );
    status.insert(
        "activeVersionID".into(),
        Value::String(t.active_version_id.to_string()),
    );
    status.insert("deprecated".into(), Value::Bool(t.deprecated));
    put(
        &mut status,
        "updatedAt",
        t.updated_at.map(|u| Value::String(time(u))),
    );
    let generation = generation(object);
    if let Some(g) = generation {
        status.insert("observedGeneration".into(), Value::from(g));
    }
    set_condition(
        &mut status,
        &Condition::new(
            READY,
            true,
            "TemplateExists",
            format!("active version {}", t.active_version_id),
        ),
        generation,
    );
    set_condition(&mut status, &reachable(), generation);
    Value::Object(status)
}

/// A CoderTemplate for a template created in Coder (uid = coderd's id).
pub fn template_object(t: &Template, namespace: &str) -> Option<Value> {
    let name = TemplateName::object_name(&t.organization_name, &t.name)?;
    let spec = template_spec(t);
    let mut object = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "CoderTemplate",
        "metadata": {"name": name, "namespace": namespace, "uid": t.id.to_string()},
        "spec": spec,
    });
    let status = template_status(t, &object);
    object["status"] = status;
    Some(object)
}

/// The spec of a CoderTemplate for a template created in Coder: its organization, and the
/// display fields coderd has values for.
pub fn template_spec(t: &Template) -> Value {
    let mut spec = Map::new();
    spec.insert(
        "organization".into(),
        Value::String(t.organization_name.clone()),
    );
    for (key, value) in [
        ("displayName", &t.display_name),
        ("description", &t.description),
        ("icon", &t.icon),
    ] {
        if !value.is_empty() {
            spec.insert(key.into(), Value::String(value.clone()));
        }
    }
    Value::Object(spec)
}

/// What a finished or running template version build means for the object's conditions.
pub enum VersionOutcome {
    Building,
    Succeeded,
    Failed(String),
}

pub fn version_outcome(version: &TemplateVersion) -> VersionOutcome {
    match version.job.status {
        ProvisionerJobStatus::Succeeded => VersionOutcome::Succeeded,
        ProvisionerJobStatus::Failed => VersionOutcome::Failed(if version.job.error.is_empty() {
            "the build failed".into()
        } else {
            version.job.error.clone()
        }),
        ProvisionerJobStatus::Canceled => VersionOutcome::Failed("the build was canceled".into()),
        _ => VersionOutcome::Building,
    }
}

/// Conditions of a template whose version `version_id` is building.
pub fn mark_building(status: &mut Map<String, Value>, version_id: &str, generation: Option<i64>) {
    set_condition(
        status,
        &Condition::new(
            VERSION_BUILDING,
            true,
            "Building",
            format!("template version {version_id} is building"),
        ),
        generation,
    );
}

/// Conditions once the pending version's build ended.
pub fn mark_built(
    status: &mut Map<String, Value>,
    version_id: &str,
    failure: Option<&str>,
    generation: Option<i64>,
) {
    set_condition(
        status,
        &Condition::new(
            VERSION_BUILDING,
            false,
            "BuildFinished",
            format!("template version {version_id} finished building"),
        ),
        generation,
    );
    match failure {
        Some(error) => set_condition(
            status,
            &Condition::new(
                VERSION_FAILED,
                true,
                "BuildFailed",
                format!(
                    "template version {version_id} failed; the active version is unchanged: {error}"
                ),
            ),
            generation,
        ),
        None => clear_condition(status, VERSION_FAILED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let mut status = Map::new();
        let cond = Condition::new(READY, true, "Running", "up");
        set_condition(&mut status, &cond, Some(1));
        status["conditions"][0]["lastTransitionTime"] =
            Value::String("2020-01-01T00:00:00Z".into());
        set_condition(
            &mut status,
            &Condition::new(READY, true, "Running", "still up"),
            Some(2),
        );
        let list = status["conditions"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(list[0]["message"], "still up");
        assert_eq!(list[0]["observedGeneration"], 2);
        set_condition(
            &mut status,
            &Condition::new(READY, false, "Stopped", "down"),
            Some(2),
        );
        assert_ne!(
            status["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(status["conditions"][0]["status"], "False");
    }

    #[test]
    fn reasons_are_camel_case() {
        assert_eq!(camel("running"), "Running");
        assert_eq!(camel(""), "Unknown");
    }

    #[test]
    fn failed_builds_keep_the_active_version_and_say_why() {
        let mut status = Map::new();
        mark_building(&mut status, "v2", Some(3));
        mark_built(&mut status, "v2", Some("terraform: syntax error"), Some(3));
        let failed = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == VERSION_FAILED)
            .unwrap();
        assert_eq!(failed["status"], "True");
        assert!(failed["message"].as_str().unwrap().contains("syntax error"));
        mark_built(&mut status, "v3", None, Some(4));
        assert!(
            !status["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == VERSION_FAILED)
        );
    }
}
