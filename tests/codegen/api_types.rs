//! The generated API as users and the servers consume it: objects round-trip through the
//! types, the kinds are kube `Resource`s, the CRD manifest is a valid CustomResourceDefinition,
//! and the OpenAPI documents are complete.

use std::path::Path;

use coder_k8s::api::aggregation::v1alpha1::{CoderTemplate, CoderWorkspace};
use coder_k8s::api::coder::v1alpha1::CoderControlPlane;
use coder_k8s::api::registry::{self, ServedBy};
use coder_k8s::api::{CRDS, OPENAPI_V2, OPENAPI_V3};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/objects")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every field of `expected` is present with the same value in `actual` (which may carry more,
/// such as schema defaults).
fn assert_contains(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (key, value) in e {
                let child = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} was dropped"));
                assert_contains(child, value, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path} changed length");
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                assert_contains(x, y, &format!("{path}[{i}]"));
            }
        }
        // k8s-openapi holds minimum/maximum as f64: 0 comes back as 0.0.
        (Value::Number(a), Value::Number(e)) => assert_eq!(a.as_f64(), e.as_f64(), "{path}"),
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

/// Structural schema rules kube-apiserver enforces on CRDs: every node says its type (unless it
/// is int-or-string or preserves unknown fields), and logic junctors carry no type,
/// properties or description of their own.
fn structural_violations(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    let exempt = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !exempt && !map.contains_key("type") {
        out.push(format!("{path}: no type"));
    }
    for junctor in ["allOf", "anyOf", "oneOf", "not"] {
        let members: Vec<&Value> = match map.get(junctor) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(other) => vec![other],
            None => continue,
        };
        for member in members {
            for key in [
                "properties",
                "items",
                "additionalProperties",
                "description",
                "default",
                "nullable",
            ] {
                if member.get(key).is_some() {
                    out.push(format!("{path}.{junctor}: has {key}"));
                }
            }
            if member.get("type").is_some() && !exempt {
                out.push(format!("{path}.{junctor}: has type"));
            }
        }
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, child) in props {
            structural_violations(child, &format!("{path}.{name}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = map.get(key) {
            structural_violations(child, &format!("{path}[{key}]"), out);
        }
    }
}

fn round_trip<K: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str) -> K {
    let original = fixture(name);
    let typed: K =
        serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let serialized = serde_json::to_value(&typed).expect("serialize");
    assert_contains(&serialized, &original, name);
    let again: K = serde_json::from_value(serialized).expect("deserialize again");
    assert_eq!(again, typed, "{name} changes on a second round trip");
    typed
}

#[test]
fn demo_workspaces_round_trip_through_the_generated_types() {
    let cases = [
        (
            "coderworkspace-default-dev-workspace.yaml",
            "default",
            "dev-workspace",
            true,
            "2030-01-01T18:00:00Z",
        ),
        (
            "coderworkspace-default-staging-workspace.yaml",
            "default",
            "staging-workspace",
            false,
            "2030-01-02T18:00:00Z",
        ),
        (
            "coderworkspace-sandbox-sandbox-workspace.yaml",
            "sandbox",
            "sandbox-workspace",
            true,
            "2030-01-03T18:00:00Z",
        ),
    ];
    for (file, namespace, name, running, shutdown) in cases {
        let ws: CoderWorkspace = round_trip(file);
        assert_eq!(ws.metadata.namespace.as_deref(), Some(namespace));
        assert_eq!(ws.metadata.name.as_deref(), Some(name));
        assert_eq!(ws.spec.running, Some(running));
        let at = ws
            .status
            .as_ref()
            .and_then(|s| s.auto_shutdown.as_ref())
            .expect("autoShutdown");
        assert_eq!(at.0.to_string(), shutdown, "date-time parses into Time");
        // Exact equality with the file, not just containment: these kinds have no defaults.
        assert_eq!(serde_json::to_value(&ws).expect("json"), fixture(file));
    }
}

#[test]
fn demo_templates_round_trip_exactly() {
    let cases = [
        (
            "codertemplate-default-starter-template.yaml",
            true,
            "2030-01-04T18:00:00Z",
        ),
        (
            "codertemplate-default-platform-template.yaml",
            false,
            "2030-01-05T18:00:00Z",
        ),
        (
            "codertemplate-sandbox-docs-template.yaml",
            true,
            "2030-01-06T18:00:00Z",
        ),
    ];
    for (file, running, shutdown) in cases {
        let template: CoderTemplate = round_trip(file);
        assert_eq!(template.spec.running, Some(running));
        let at = template
            .status
            .as_ref()
            .and_then(|s| s.auto_shutdown.as_ref())
            .expect("autoShutdown");
        assert_eq!(at.0.to_string(), shutdown);
        assert_eq!(
            serde_json::to_value(&template).expect("json"),
            fixture(file)
        );
    }
}

#[test]
fn control_plane_round_trips_and_keeps_every_field() {
    let cp: CoderControlPlane = round_trip("codercontrolplane-default-coder.yaml");
    assert_eq!(
        cp.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("team"))
            .map(String::as_str),
        Some("platform")
    );
}

#[test]
fn a_wrongly_typed_field_is_rejected_with_its_name() {
    let mut object = fixture("coderworkspace-default-dev-workspace.yaml");
    object["spec"]["running"] = Value::String("yes".into());
    let error =
        serde_json::from_value::<CoderWorkspace>(object).expect_err("string is not a boolean");
    assert!(
        error
            .to_string()
            .contains("invalid type: string \"yes\", expected a boolean"),
        "{error}"
    );
}

#[test]
fn every_kind_is_a_kube_resource_with_the_schema_names() {
    assert_eq!(
        CoderWorkspace::api_version(&()),
        "aggregation.coder.com/v1alpha1"
    );
    assert_eq!(CoderWorkspace::plural(&()), "coderworkspaces");
    assert_eq!(CoderTemplate::kind(&()), "CoderTemplate");
    assert_eq!(CoderControlPlane::group(&()), "coder.com");
    assert_eq!(
        CoderWorkspace::url_path(&(), Some("sandbox")),
        "/apis/aggregation.coder.com/v1alpha1/namespaces/sandbox/coderworkspaces"
    );
    assert_eq!(
        CoderControlPlane::url_path(&(), Some("default")),
        "/apis/coder.com/v1alpha1/namespaces/default/codercontrolplanes"
    );
}

#[test]
fn registry_describes_every_schema_file() {
    let schema_files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema"))
            .expect("schema/")
            .filter_map(|e| e.ok())
            .map(|e| format!("schema/{}", e.file_name().to_string_lossy()))
            .filter(|f| f.ends_with(".yaml"))
            .collect();
    assert_eq!(registry::all().len(), schema_files.len());
    for file in &schema_files {
        assert!(
            registry::all().iter().any(|r| r.schema_file == file),
            "{file} missing from RESOURCES"
        );
    }
    let ws =
        registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces").expect("workspaces");
    assert_eq!(ws.kind, "CoderWorkspace");
    assert_eq!(ws.list_kind, "CoderWorkspaceList");
    assert_eq!(ws.served_by, ServedBy::AggregatedApiserver);
    assert!(ws.namespaced && ws.status_subresource);
    assert_eq!(ws.short_names, &["cws"]);
    let columns: Vec<(&str, &str)> = ws
        .printer_columns
        .iter()
        .map(|c| (c.name, c.json_path))
        .collect();
    assert_eq!(
        columns,
        [
            ("Owner", ".status.ownerName"),
            ("Template", ".status.templateName"),
            ("Running", ".spec.running"),
            ("Status", ".status.latestBuildStatus"),
            ("LastUsed", ".status.lastUsedAt"),
            ("AutoShutdown", ".status.autoShutdown"),
            ("Age", ".metadata.creationTimestamp")
        ]
    );
    assert_eq!(
        ws.openapi_definition,
        "com.coder.aggregation.v1alpha1.CoderWorkspace"
    );
    let cp = registry::find("coder.com", "v1alpha1", "codercontrolplanes").expect("control planes");
    assert_eq!(cp.served_by, ServedBy::Crd);
    assert_eq!(
        registry::served_by(ServedBy::AggregatedApiserver).count(),
        2
    );
}

#[test]
fn generated_crds_parse_as_custom_resource_definitions_without_losing_fields() {
    assert_eq!(CRDS.len(), registry::served_by(ServedBy::Crd).count());
    for (name, yaml) in CRDS {
        let raw: Value = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let crd: CustomResourceDefinition =
            serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Strict: re-serializing the typed CRD gives back every field, so none was unknown.
        let again = serde_json::to_value(&crd).expect("serialize");
        assert_contains(&again, &raw, name);
        assert_eq!(crd.metadata.name.as_deref(), Some(*name));
        let version = &crd.spec.versions[0];
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        assert!(
            schema
                .properties
                .as_ref()
                .is_some_and(|p| p.contains_key("spec"))
        );
        let mut refs = Vec::new();
        collect_refs(&raw, &mut refs);
        assert!(
            refs.is_empty(),
            "{name} has $refs, which kube-apiserver rejects: {refs:?}"
        );
        let mut violations = Vec::new();
        let root = &raw["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        structural_violations(root, "openAPIV3Schema", &mut violations);
        assert!(
            violations.is_empty(),
            "{name} is not structural:\n{}",
            violations.join("\n")
        );
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_documents_resolve_every_ref() {
    let v2: Value = serde_json::from_str(OPENAPI_V2).expect("v2 is JSON");
    let mut refs = Vec::new();
    collect_refs(&v2, &mut refs);
    for r in &refs {
        let name = r.strip_prefix("#/definitions/").expect("v2 ref prefix");
        assert!(
            v2["definitions"].get(name).is_some(),
            "v2: {r} does not resolve"
        );
    }
    assert!(
        v2["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["name"]
            .is_object()
    );
    assert_eq!(OPENAPI_V3.len(), 1);
    for (key, doc) in OPENAPI_V3 {
        assert_eq!(*key, "apis/aggregation.coder.com/v1alpha1");
        let v3: Value = serde_json::from_str(doc).expect("v3 is JSON");
        let mut refs = Vec::new();
        collect_refs(&v3, &mut refs);
        assert!(!refs.is_empty());
        for r in &refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("v3 ref prefix");
            assert!(
                v3["components"]["schemas"].get(name).is_some(),
                "v3: {r} does not resolve"
            );
        }
        let ws = &v3["components"]["schemas"]["com.coder.aggregation.v1alpha1.CoderWorkspace"];
        assert_eq!(
            ws["properties"]["spec"]["properties"]["running"]["type"],
            "boolean"
        );
        assert_eq!(
            ws["x-kubernetes-group-version-kind"][0]["kind"],
            "CoderWorkspace"
        );
    }
}
