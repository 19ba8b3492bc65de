//! `--demo-data`: three CoderWorkspaces and three CoderTemplates that look the way the Coder
//! backend shows a real coderd's, so `kubectl get coderworkspaces,codertemplates -A` on a fresh
//! in-memory server shows what the kinds are for.
//!
//! Each object starts as the record coderd's REST API would return (the `crate::coder` types,
//! codersdk's shape) and becomes spec and status through the Coder backend's own mapping
//! (`crate::apiserver::coder::mapping`): owners, template names, build statuses, organizations,
//! active versions and conditions are filled in exactly as with a real coderd, and a change to
//! the mapping changes the demo with it. Times are relative to the moment of seeding (a
//! workspace used a few minutes ago, a template updated days ago), so printed ages read as a
//! live deployment's do. Ids are derived from the names, so they are the same on every start.
//!
//! The names are the original project's six (`dev-workspace`, ..., `docs-template`); docs and
//! tests refer to them.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::coder::mapping;
use crate::apiserver::objects::{Error, Objects, Patch, Subresource, WriteOptions};
use crate::coder::{Template, Workspace};

/// Label on every demo object: `kubectl delete cws,ctpl -A -l coder.com/demo-data=true`
/// removes them all.
pub const DEMO_LABEL: &str = "coder.com/demo-data";

/// The field manager the demo objects' managedFields name.
const FIELD_MANAGER: &str = "coder-k8s-demo-data";

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A template as one namespace's coderd reports it. Each namespace stands for its own coderd
/// (its CoderControlPlane), hence an organization per namespace.
struct DemoTemplate {
    namespace: &'static str,
    name: &'static str,
    organization: &'static str,
    display_name: &'static str,
    description: &'static str,
    icon: &'static str,
    /// `Some(message)`: deprecated in coderd (new workspaces are refused).
    deprecated: Option<&'static str>,
    created_ago: i64,
    updated_ago: i64,
}

const TEMPLATES: &[DemoTemplate] = &[
    DemoTemplate {
        namespace: "default",
        name: "starter-template",
        organization: "coder",
        display_name: "Starter",
        description: "A Docker container with code-server, for trying Coder out.",
        icon: "/icon/docker.png",
        deprecated: None,
        created_ago: 45 * DAY,
        updated_ago: 3 * DAY,
    },
    DemoTemplate {
        namespace: "default",
        name: "platform-template",
        organization: "coder",
        display_name: "Platform (Kubernetes pod)",
        description: "A Kubernetes pod with the platform team's tools.",
        icon: "/icon/k8s.png",
        deprecated: Some("Use starter-template: platform tools are in its image now."),
        created_ago: 120 * DAY,
        updated_ago: 21 * DAY,
    },
    DemoTemplate {
        namespace: "sandbox",
        name: "docs-template",
        organization: "docs-team",
        display_name: "Docs preview",
        description: "Builds and serves the documentation site.",
        icon: "/icon/book.svg",
        deprecated: None,
        created_ago: 30 * DAY,
        updated_ago: 6 * HOUR,
    },
];

/// The latest build of a demo workspace: what it does and how far it got.
#[derive(Clone, Copy)]
enum Build {
    /// A start build that finished: the workspace runs and stops by itself in `shutdown_in`.
    Running { shutdown_in: i64 },
    /// A stop build that finished.
    Stopped,
    /// A start build whose provisioner job failed with this error.
    Failed(&'static str),
}

struct DemoWorkspace {
    namespace: &'static str,
    name: &'static str,
    organization: &'static str,
    owner: &'static str,
    /// A template of [`TEMPLATES`] in the same namespace.
    template: &'static str,
    build: Build,
    build_number: i64,
    last_used_ago: i64,
    ttl_millis: Option<i64>,
    autostart: Option<&'static str>,
}

const WORKSPACES: &[DemoWorkspace] = &[
    DemoWorkspace {
        namespace: "default",
        name: "dev-workspace",
        organization: "coder",
        owner: "alice",
        template: "starter-template",
        build: Build::Running {
            shutdown_in: 7 * HOUR + 40 * MINUTE,
        },
        build_number: 12,
        last_used_ago: 4 * MINUTE,
        ttl_millis: Some(8 * HOUR * 1000),
        autostart: Some("CRON_TZ=UTC 30 8 * * 1-5"),
    },
    DemoWorkspace {
        namespace: "default",
        name: "staging-workspace",
        organization: "coder",
        owner: "bob",
        template: "starter-template",
        build: Build::Stopped,
        build_number: 7,
        last_used_ago: 2 * DAY + 5 * HOUR,
        ttl_millis: Some(8 * HOUR * 1000),
        autostart: None,
    },
    DemoWorkspace {
        namespace: "sandbox",
        name: "sandbox-workspace",
        organization: "docs-team",
        owner: "carol",
        template: "docs-template",
        build: Build::Failed(
            "terraform apply: docker_container.workspace: image \"docs-preview:latest\" not found",
        ),
        build_number: 3,
        last_used_ago: 6 * HOUR + 20 * MINUTE,
        ttl_millis: None,
        autostart: None,
    },
];

/// One demo object, for the report of [`seed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoObject {
    /// `coderworkspaces` or `codertemplates`.
    pub resource: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
}

impl std::fmt::Display for DemoObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.resource, self.namespace, self.name)
    }
}

/// A demo object that was not created, and why (the refusal, as a client would see it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub object: DemoObject,
    pub reason: String,
}

/// What [`seed`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub created: Vec<DemoObject>,
    /// Already there (a restart on persistent storage): left as they are.
    pub existing: Vec<DemoObject>,
    /// Refused because their namespace does not exist or is being deleted.
    pub skipped: Vec<Skipped>,
}

/// Creates the demo objects. Ones that already exist are left alone; ones whose namespace is
/// missing or terminating (when the server checks namespaces against a cluster) are skipped and
/// reported, since a cluster without a `sandbox` namespace is no reason not to serve. Any other
/// failure is returned.
pub async fn seed(objects: &Objects) -> Result<SeedReport, Error> {
    let now = Timestamp::now();
    let mut report = SeedReport::default();
    for template in TEMPLATES {
        let object = DemoObject {
            resource: "codertemplates",
            namespace: template.namespace,
            name: template.name,
        };
        let record = template_record(template, now)?;
        let spec = mapping::template_spec(&record);
        let outcome = create(objects, mapping::templates(), &object, spec).await?;
        if let Some(created) = record_outcome(&mut report, object, outcome) {
            let status = no_coderd_behind(mapping::template_status(&record, &created.body));
            set_status(objects, mapping::templates(), &created.object, status).await?;
        }
    }
    for workspace in WORKSPACES {
        let object = DemoObject {
            resource: "coderworkspaces",
            namespace: workspace.namespace,
            name: workspace.name,
        };
        let record = workspace_record(workspace, now)?;
        let spec = workspace_spec(&record);
        let outcome = create(objects, mapping::workspaces(), &object, spec).await?;
        if let Some(created) = record_outcome(&mut report, object, outcome) {
            let status = no_coderd_behind(mapping::workspace_status(&record, &created.body));
            set_status(objects, mapping::workspaces(), &created.object, status).await?;
        }
    }
    Ok(report)
}

/// How one create ended.
enum CreateOutcome {
    Created(Value),
    Existing,
    Skipped(String),
}

struct Created {
    object: DemoObject,
    body: Value,
}

/// Files the outcome in `report`; returns the created object for its status.
fn record_outcome(
    report: &mut SeedReport,
    object: DemoObject,
    outcome: CreateOutcome,
) -> Option<Created> {
    match outcome {
        CreateOutcome::Created(body) => {
            report.created.push(object.clone());
            Some(Created { object, body })
        }
        CreateOutcome::Existing => {
            report.existing.push(object);
            None
        }
        CreateOutcome::Skipped(reason) => {
            report.skipped.push(Skipped { object, reason });
            None
        }
    }
}

fn write_options() -> WriteOptions {
    WriteOptions {
        field_manager: Some(FIELD_MANAGER.into()),
        ..WriteOptions::default()
    }
}

async fn create(
    objects: &Objects,
    r: &'static ResourceDescriptor,
    object: &DemoObject,
    spec: Value,
) -> Result<CreateOutcome, Error> {
    let body = json!({
        "apiVersion": r.api_version(),
        "kind": r.kind,
        "metadata": {
            "name": object.name,
            "namespace": object.namespace,
            "labels": {DEMO_LABEL: "true"},
        },
        "spec": spec,
    });
    match objects
        .create(r, Some(object.namespace), body, &write_options())
        .await
    {
        Ok(outcome) => {
            let body = outcome.object.to_value().map_err(|e| {
                Error::Internal(format!("reading back the demo object {object}: {e}"))
            })?;
            Ok(CreateOutcome::Created(body))
        }
        Err(Error::AlreadyExists { .. }) => Ok(CreateOutcome::Existing),
        Err(e) if refused_by_namespace_lifecycle(&e) => Ok(CreateOutcome::Skipped(e.to_string())),
        Err(e) => Err(e),
    }
}

/// The two refusals of namespace lifecycle admission: the namespace does not exist (404 on
/// `namespaces`) or is being deleted (403 with cause `NamespaceTerminating`).
fn refused_by_namespace_lifecycle(error: &Error) -> bool {
    match error {
        Error::NotFound { group_resource, .. } => group_resource == "namespaces",
        Error::Forbidden { causes, .. } => {
            causes.iter().any(|c| c.reason == "NamespaceTerminating")
        }
        _ => false,
    }
}

/// The mapping marks coderd reachable, as it is after a real sync; a demo object says instead
/// that no coderd stands behind it, so `kubectl describe` does not mislead.
fn no_coderd_behind(mut status: Value) -> Value {
    let conditions = status
        .get_mut("conditions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for condition in conditions {
        if condition["type"] == mapping::CODER_REACHABLE {
            condition["status"] = "Unknown".into();
            condition["reason"] = "DemoData".into();
            condition["message"] =
                "a --demo-data object: status as a coderd would report it, no coderd behind it"
                    .into();
        }
    }
    status
}

/// Create drops status (it belongs to the status subresource), so it is set there.
async fn set_status(
    objects: &Objects,
    r: &'static ResourceDescriptor,
    object: &DemoObject,
    status: Value,
) -> Result<(), Error> {
    objects
        .patch(
            r,
            Some(object.namespace),
            object.name,
            Some(Subresource::Status),
            Patch::Merge(json!({ "status": status })),
            &write_options(),
        )
        .await?;
    Ok(())
}

/// A stable id for a demo record: a version-8 (custom) UUID from a hash of what it names.
fn demo_id(parts: &[&str]) -> Uuid {
    // SHA-256 from ring, which rustls already builds.
    let digest = ring::digest::digest(&ring::digest::SHA256, parts.join("/").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// `now` moved by `seconds` (negative: in the past).
fn at(now: Timestamp, seconds: i64) -> Result<Value, Error> {
    now.checked_add(SignedDuration::from_secs(seconds))
        .map(|t| Value::String(mapping::time(t)))
        .map_err(|e| Error::Internal(format!("demo data time {seconds}s from now: {e}")))
}

/// Builds a coderd record from codersdk-shaped JSON, as the Coder client decodes coderd's
/// answers.
fn decode<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::Internal(format!("demo data: {what} is not a coderd record: {e}")))
}

fn template_record(t: &DemoTemplate, now: Timestamp) -> Result<Template, Error> {
    let org_id = demo_id(&["organization", t.namespace, t.organization]);
    decode(
        t.name,
        json!({
            "id": demo_id(&["template", t.namespace, t.name]),
            "organization_id": org_id,
            "organization_name": t.organization,
            "name": t.name,
            "display_name": t.display_name,
            "description": t.description,
            "icon": t.icon,
            "active_version_id": active_version_id(t.namespace, t.name),
            "deprecated": t.deprecated.is_some(),
            "deprecation_message": t.deprecated.unwrap_or_default(),
            "created_at": at(now, -t.created_ago)?,
            "updated_at": at(now, -t.updated_ago)?,
            "default_ttl_ms": 8 * HOUR * 1000,
        }),
    )
}

fn active_version_id(namespace: &str, template: &str) -> Uuid {
    demo_id(&["template-version", namespace, template])
}

fn workspace_record(w: &DemoWorkspace, now: Timestamp) -> Result<Workspace, Error> {
    let id = demo_id(&["workspace", w.namespace, w.name]);
    let owner_id = demo_id(&["user", w.namespace, w.owner]);
    let build_id = demo_id(&["workspace-build", w.namespace, w.name]);
    let (transition, status, job_status, error, deadline) = match w.build {
        Build::Running { shutdown_in } => {
            ("start", "running", "succeeded", "", at(now, shutdown_in)?)
        }
        // coderd reports no deadline for a workspace that is not running.
        Build::Stopped => ("stop", "stopped", "succeeded", "", Value::Null),
        Build::Failed(error) => ("start", "failed", "failed", error, Value::Null),
    };
    let built_at = at(now, -(w.last_used_ago + 10 * MINUTE))?;
    decode(
        w.name,
        json!({
            "id": id,
            "name": w.name,
            "owner_id": owner_id,
            "owner_name": w.owner,
            "organization_id": demo_id(&["organization", w.namespace, w.organization]),
            "organization_name": w.organization,
            "template_id": demo_id(&["template", w.namespace, w.template]),
            "template_name": w.template,
            "template_active_version_id": active_version_id(w.namespace, w.template),
            "latest_build": {
                "id": build_id,
                "workspace_id": id,
                "workspace_name": w.name,
                "workspace_owner_id": owner_id,
                "workspace_owner_name": w.owner,
                "template_version_id": active_version_id(w.namespace, w.template),
                "build_number": w.build_number,
                "transition": transition,
                "status": status,
                "reason": "initiator",
                "initiator_name": w.owner,
                "deadline": deadline,
                "created_at": built_at,
                "updated_at": built_at,
                "job": {
                    "id": demo_id(&["provisioner-job", w.namespace, w.name]),
                    "status": job_status,
                    "error": error,
                    "type": "workspace_build",
                    "created_at": built_at,
                    "completed_at": built_at,
                },
            },
            "autostart_schedule": w.autostart,
            "ttl_ms": w.ttl_millis,
            "last_used_at": at(now, -w.last_used_ago)?,
            "created_at": at(now, -(w.last_used_ago + 9 * DAY))?,
            "updated_at": built_at,
        }),
    )
}

/// The spec the Coder backend gives a workspace created in Coder.
fn workspace_spec(w: &Workspace) -> Value {
    let mut spec = Map::new();
    spec.insert(
        "organization".into(),
        Value::String(w.organization_name.clone()),
    );
    spec.insert(
        "templateName".into(),
        Value::String(w.template_name.clone()),
    );
    mapping::workspace_spec(w, &mut spec);
    Value::Object(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workspace_uses_a_demo_template_of_its_namespace_and_organization() {
        for w in WORKSPACES {
            assert!(
                TEMPLATES.iter().any(|t| t.namespace == w.namespace
                    && t.name == w.template
                    && t.organization == w.organization),
                "{}/{} uses {}",
                w.namespace,
                w.name,
                w.template
            );
        }
    }

    #[test]
    fn records_decode_as_coderd_records_with_times_around_now() {
        let now = Timestamp::now();
        for w in WORKSPACES {
            let record = workspace_record(w, now).unwrap();
            assert_eq!(record.owner_name, w.owner);
            assert!(record.last_used_at.unwrap() < now, "{}", w.name);
            match w.build {
                Build::Running { .. } => assert!(record.latest_build.deadline.unwrap() > now),
                _ => assert!(record.latest_build.deadline.is_none()),
            }
        }
        for t in TEMPLATES {
            let record = template_record(t, now).unwrap();
            assert_eq!(record.deprecated, t.deprecated.is_some());
            assert!(record.updated_at.unwrap() < now);
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(demo_id(&["a", "b"]), demo_id(&["a", "b"]));
        assert_ne!(demo_id(&["a", "b"]), demo_id(&["a", "c"]));
        assert_eq!(demo_id(&["a"]).get_version_num(), 8);
    }
}
