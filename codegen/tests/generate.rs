//! The generator end to end on inline and fixture schemas: the mapping of every construct,
//! determinism, OpenAPI and CRD shape, and the exact error for each kind of bad schema.

use std::collections::BTreeSet;

use coder_k8s_codegen::verify::{Drift, compare, report, write};
use coder_k8s_codegen::{
    ExternalDefinitions, GeneratedFiles, REGENERATE_COMMAND, SchemaSource, generate,
};
use serde_json::{Value, json};

const EVERYTHING: &str = include_str!("fixtures/everything.yaml");

/// A small stand-in for the k8s-openapi definitions build.rs supplies: enough to check
/// references, closure and inlining without depending on k8s-openapi here.
fn externals() -> ExternalDefinitions {
    let mut defs = ExternalDefinitions::default();
    let mut add = |name: &str, schema: Value| {
        defs.definitions.insert(name.to_string(), schema);
    };
    add(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        json!({"type": "object", "properties": {"name": {"type": "string"}, "creationTimestamp": {"$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.Time"}}}),
    );
    add(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        json!({"type": "string", "format": "date-time"}),
    );
    add(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Condition",
        json!({"type": "object", "required": ["type", "status"],
               "properties": {"type": {"type": "string"}, "status": {"type": "string"},
                              "lastTransitionTime": {"$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.Time"}}}),
    );
    add(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
        json!({"type": "object", "properties": {"resourceVersion": {"type": "string"}}}),
    );
    add(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        json!({"type": "object", "properties": {"message": {"type": "string"}}}),
    );
    add(
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        json!({"type": "object", "properties": {"dryRun": {"type": "array", "items": {"type": "string"}}}}),
    );
    add(
        "io.k8s.api.core.v1.EnvVar",
        json!({"description": "EnvVar represents an environment variable.", "type": "object", "required": ["name"],
               "properties": {"name": {"type": "string"}, "valueFrom": {"$ref": "io.k8s.api.core.v1.EnvVarSource"}}}),
    );
    add(
        "io.k8s.api.core.v1.EnvVarSource",
        json!({"type": "object", "properties": {"fieldRef": {"type": "object", "properties": {"fieldPath": {"type": "string"}}}}}),
    );
    defs
}

fn source(file: &str, text: &str) -> SchemaSource {
    SchemaSource {
        file: file.to_string(),
        text: text.to_string(),
    }
}

fn generate_one(text: &str) -> Result<GeneratedFiles, String> {
    generate(&[source("schema/widget.yaml", text)], &externals()).map_err(|e| e.to_string())
}

fn everything() -> GeneratedFiles {
    generate_one(EVERYTHING).expect("the fixture is valid")
}

#[test]
fn every_construct_maps_to_the_specified_rust() {
    let files = everything();
    let rust = &files["rust/widget.rs"];
    let expect = [
        // Header names the source and the command.
        "// @generated from schema/widget.yaml by build.rs; do not edit.",
        "// Regenerate with hack/update-codegen.sh.",
        // kube::CustomResource with names, scope, status, short names.
        "#[derive(::kube::CustomResource)]",
        "group = \"example.coder.com\"",
        "version = \"v1beta1\"",
        "plural = \"widgets\"",
        "namespaced,",
        "status = \"WidgetStatus\"",
        "shortname = \"wd\"",
        // Descriptions become doc comments, paragraphs kept.
        "/// Widget exercises every schema construct.",
        "/// Second paragraph of the description.",
        // Required → plain type; optional → Option with skip.
        "#[serde(rename = \"name\")]\n    pub name: String,",
        "#[serde(rename = \"count\", default, skip_serializing_if = \"Option::is_none\")]\n    pub count: Option<i64>,",
        // Defaults → non-Option fields with default functions.
        "#[serde(rename = \"size\", default = \"WidgetSpec::default_size\")]\n    pub size: i32,",
        "fn default_size() -> i32 {\n        3i32\n    }",
        "fn default_ratio() -> f64 {\n        0.5f64\n    }",
        "fn default_enabled() -> bool {\n        true\n    }",
        "fn default_mode() -> WidgetMode {\n        WidgetMode::ClusterIp\n    }",
        "fn default_args() -> Vec<String> {\n        vec![String::from(\"--verbose\")]\n    }",
        "::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080i32)",
        // Enums keep their JSON spelling.
        "pub enum WidgetMode {\n    #[serde(rename = \"ClusterIP\")]\n    ClusterIp,",
        "#[serde(rename = \"load-balancer\")]\n    LoadBalancer,",
        // date-time → Time, maps → BTreeMap, arrays → Vec, free form → Value, $ref → k8s-openapi.
        "pub expires: Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,",
        "pub labels: Option<::std::collections::BTreeMap<String, String>>,",
        "pub raw: Option<::serde_json::Value>,",
        "pub object: Option<::serde_json::Value>,",
        "pub env: Option<Vec<::k8s_openapi::api::core::v1::EnvVar>>,",
        // Keywords become raw identifiers.
        "#[serde(rename = \"type\", default, skip_serializing_if = \"Option::is_none\")]\n    pub r#type: Option<String>,",
        // `default: {}` on an object uses the nested struct's Default, which applies its defaults.
        "#[serde(rename = \"nested\", default = \"WidgetSpec::default_nested\")]\n    pub nested: WidgetNested,",
        "impl Default for WidgetNested {\n    fn default() -> Self {\n        Self {\n            deep: Self::default_deep(),\n            note: None,\n        }\n    }\n}",
        // Array items that are objects get their own struct.
        "pub rules: Option<Vec<WidgetRules>>,",
        "pub struct WidgetRules {",
        // Status structs are prefixed with the status type's name.
        "pub phase: Option<WidgetStatusPhase>,",
    ];
    for needle in expect {
        assert!(
            rust.contains(needle),
            "generated Rust lacks:\n{needle}\n---\n{rust}"
        );
    }
}

#[test]
fn generated_rust_matches_the_compiled_snapshot() {
    // tests/codegen/constructs.rs in the main crate compiles this snapshot and round-trips
    // objects through it, so the snapshot must be exactly what the generator writes.
    let rust = everything()["rust/widget.rs"].clone();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/widget.rs");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &rust).expect("write snapshot");
        return;
    }
    let snapshot =
        std::fs::read_to_string(path).expect("snapshot exists (UPDATE_SNAPSHOTS=1 writes it)");
    assert!(
        snapshot == rust,
        "snapshot is stale; run UPDATE_SNAPSHOTS=1 cargo test -p coder-k8s-codegen\n{}",
        coder_k8s_codegen::verify::line_diff(&snapshot, &rust)
    );
}

#[test]
fn output_is_deterministic_and_independent_of_input_order() {
    let workspace = include_str!("../../schema/coderworkspace.yaml");
    let template = include_str!("../../schema/codertemplate.yaml");
    let a = generate(
        &[
            source("schema/coderworkspace.yaml", workspace),
            source("schema/codertemplate.yaml", template),
        ],
        &externals(),
    )
    .expect("valid");
    let b = generate(
        &[
            source("schema/codertemplate.yaml", template),
            source("schema/coderworkspace.yaml", workspace),
        ],
        &externals(),
    )
    .expect("valid");
    assert_eq!(a, b);
    for (name, text) in &a {
        assert!(
            !text.contains("/work/") && !text.contains("/home/"),
            "{name} has an absolute path"
        );
    }
}

fn all_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| all_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

fn aggregated_files() -> GeneratedFiles {
    let text = EVERYTHING.replace(
        "codegen.coder.com/served-by: crd",
        "codegen.coder.com/served-by: aggregated-apiserver",
    );
    generate_one(&text).expect("valid")
}

#[test]
fn openapi_documents_resolve_every_ref_and_carry_group_version_kind() {
    let files = aggregated_files();
    let v2: Value = serde_json::from_str(&files["openapi/v2.json"]).expect("v2 is JSON");
    let v3: Value = serde_json::from_str(&files["openapi/v3/example.coder.com_v1beta1.json"])
        .expect("v3 is JSON");
    for (doc, prefix, defs) in [
        (&v2, "#/definitions/", &v2["definitions"]),
        (&v3, "#/components/schemas/", &v3["components"]["schemas"]),
    ] {
        let mut refs = Vec::new();
        all_refs(doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{r} lacks {prefix}"));
            assert!(defs.get(name).is_some(), "{r} does not resolve");
        }
        let kind = &defs["com.coder.example.v1beta1.Widget"];
        assert_eq!(
            kind["x-kubernetes-group-version-kind"],
            json!([{"group": "example.coder.com", "kind": "Widget", "version": "v1beta1"}])
        );
        let list = &defs["com.coder.example.v1beta1.WidgetList"];
        assert_eq!(
            list["x-kubernetes-group-version-kind"][0]["kind"],
            "WidgetList"
        );
        for property in ["apiVersion", "kind", "metadata", "spec", "status"] {
            assert!(
                kind["properties"].get(property).is_some(),
                "kind lacks {property}"
            );
        }
        // Transitive references of referenced Kubernetes types are included too.
        assert!(defs.get("io.k8s.api.core.v1.EnvVarSource").is_some());
        assert_eq!(
            kind["properties"]["spec"]["properties"]["size"]["default"],
            json!(3)
        );
    }
    assert!(
        v2["paths"]["/apis/example.coder.com/v1beta1/namespaces/{namespace}/widgets/{name}/status"]
            ["patch"]
            .is_object()
    );
    assert!(v3["paths"]["/apis/example.coder.com/v1beta1/widgets"]["get"].is_object());
    assert_eq!(v3["openapi"], "3.0.0");
    assert!(
        !files.contains_key("crds/example.coder.com_widgets.yaml"),
        "aggregated kinds get no CRD"
    );
}

#[test]
fn crd_inlines_kubernetes_types_and_has_no_refs() {
    let files = everything();
    let yaml = &files["crds/example.coder.com_widgets.yaml"];
    assert!(yaml.starts_with("# @generated from schema/widget.yaml"));
    let crd: Value = serde_saphyr::from_str(yaml).expect("CRD is YAML");
    let mut refs = Vec::new();
    all_refs(&crd, &mut refs);
    assert!(refs.is_empty(), "CRD keeps $refs: {refs:?}");
    let version = &crd["spec"]["versions"][0];
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["properties"]["env"]["items"]["properties"]["valueFrom"]["properties"]["fieldRef"]["type"],
        "object"
    );
    assert_eq!(
        spec["properties"]["port"]["x-kubernetes-int-or-string"],
        true
    );
    assert_eq!(
        spec["properties"]["rules"]["x-kubernetes-list-map-keys"],
        json!(["key"])
    );
    assert_eq!(version["additionalPrinterColumns"][0]["priority"], 1);
    assert_eq!(version["subresources"], json!({"status": {}}));
    assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
    assert_eq!(crd["spec"]["names"]["singular"], "widget");
    assert_eq!(crd["metadata"]["name"], "widgets.example.coder.com");
    assert!(
        !files.contains_key("openapi/v2.json"),
        "CRD kinds are not in the aggregated OpenAPI"
    );
}

#[test]
fn registry_module_lists_the_kind() {
    let files = everything();
    let module = &files["rust/mod.rs"];
    assert!(
        module
            .contains("pub mod example {\n    pub mod v1beta1 {\n        include!(\"widget.rs\");")
    );
    assert!(module.contains("plural: \"widgets\""));
    assert!(module.contains("json_path: \".spec.size\""));
    assert!(module.contains(
        "(\"widgets.example.coder.com\", include_str!(\"../crds/example.coder.com_widgets.yaml\"))"
    ));
}

/// A change to the fixture's text.
type Edit = Box<dyn Fn(&str) -> String>;

/// Applies `edit` to the fixture and returns the generator's error.
fn error_after(edit: impl Fn(&str) -> String) -> String {
    match generate_one(&edit(EVERYTHING)) {
        Ok(_) => "no error".to_string(),
        Err(e) => e,
    }
}

#[test]
fn bad_schemas_fail_with_file_path_and_reason() {
    const ROOT: &str = "spec.versions[0].schema.openAPIV3Schema";
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "unknown type",
            Box::new(|s| s.replace("enabled:\n                  type: boolean", "enabled:\n                  type: bool")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.enabled.type: unknown type \"bool\" (expected one of: object, array, string, integer, number, boolean)"),
        ),
        (
            "missing plural",
            Box::new(|s| s.replace("    plural: widgets\n", "")),
            "schema/widget.yaml: spec.names: missing plural (spec.names.plural)".to_string(),
        ),
        (
            "unsupported construct oneOf",
            Box::new(|s| s.replace("                count:\n", "                count:\n                  oneOf: []\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.count.oneOf: unsupported construct `oneOf`: the Rust types cannot express it"),
        ),
        (
            "unknown keyword",
            Box::new(|s| s.replace("                  minLength: 1\n", "                  minLenght: 1\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.name.minLenght: unknown schema keyword `minLenght`"),
        ),
        (
            "required names an undeclared property",
            Box::new(|s| s.replace("required: [name]", "required: [nmae]")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.required[0]: required property `nmae` is not declared in properties"),
        ),
        (
            "array without items",
            Box::new(|s| s.replace("                args:\n                  type: array\n                  items:\n                    type: string\n", "                args:\n                  type: array\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.args: an array needs `items`"),
        ),
        (
            "default of the wrong type",
            Box::new(|s| s.replace("default: true", "default: \"yes\"")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.enabled.default: default \"yes\" does not match the type of the field (boolean)"),
        ),
        (
            "default outside the enum",
            Box::new(|s| s.replace("default: ClusterIP", "default: Ingress")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.mode.default: \"Ingress\" is not one of the enum values [\"ClusterIP\", \"NodePort\", \"load-balancer\"]"),
        ),
        (
            "missing served-by annotation",
            Box::new(|s| s.replace("  annotations:\n    codegen.coder.com/served-by: crd\n", "")),
            "schema/widget.yaml: metadata.annotations: missing annotation \"codegen.coder.com/served-by\": say whether the kind is a CRD (\"crd\") or served by the aggregated apiserver (\"aggregated-apiserver\")".to_string(),
        ),
        (
            "name that does not match plural and group",
            Box::new(|s| s.replace("name: widgets.example.coder.com", "name: widget.example.coder.com")),
            "schema/widget.yaml: metadata.name: must be <plural>.<group> = \"widgets.example.coder.com\", found \"widget.example.coder.com\"".to_string(),
        ),
        (
            "bad scope",
            Box::new(|s| s.replace("scope: Namespaced", "scope: Global")),
            "schema/widget.yaml: spec.scope: must be Namespaced or Cluster, found \"Global\"".to_string(),
        ),
        (
            "reference to a type outside Kubernetes",
            Box::new(|s| s.replace("$ref: io.k8s.api.core.v1.EnvVar", "$ref: com.example.Thing")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.env.items.$ref: \"com.example.Thing\" is not a Kubernetes type name (expected a name such as io.k8s.api.core.v1.EnvVar)"),
        ),
        (
            "reference to a Kubernetes type the build does not know",
            Box::new(|s| s.replace("$ref: io.k8s.api.core.v1.EnvVar", "$ref: io.k8s.api.core.v1.Pod")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.env.items: $ref \"io.k8s.api.core.v1.Pod\" is not a Kubernetes type this build knows (add it to KUBERNETES_TYPES in build.rs)"),
        ),
        (
            "two fields mapping to one Rust name",
            Box::new(|s| s.replace("                count:\n", "                Count:\n                  type: string\n                count:\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.count: maps to the same Rust field `count` as `Count`"),
        ),
        (
            "more than one version",
            Box::new(|s| s.replace("  versions:\n    - name: v1beta1\n", "  versions:\n    - name: v1\n      served: true\n      storage: false\n      schema: {openAPIV3Schema: {type: object}}\n    - name: v1beta1\n")),
            "schema/widget.yaml: spec.versions: unsupported construct: more than one version (conversion between versions is not generated)".to_string(),
        ),
        (
            "object default that is not empty",
            Box::new(|s| s.replace("default: {}", "default: {deep: 1}")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.nested.default: unsupported construct: an object default must be {{}} (set defaults on the fields instead)"),
        ),
        (
            "top-level property besides spec and status",
            Box::new(|s| s.replace("          properties:\n            spec:\n", "          properties:\n            data:\n              type: string\n            spec:\n")),
            format!("schema/widget.yaml: {ROOT}.properties.data: unsupported construct: top-level property `data` (only spec and status are generated)"),
        ),
        (
            "not YAML",
            Box::new(|_| "kind: [unclosed".to_string()),
            "schema/widget.yaml: not valid YAML".to_string(),
        ),
        (
            "printer column path that is not JSONPath",
            Box::new(|s| s.replace("jsonPath: .spec.size", "jsonPath: .spec[size")),
            "schema/widget.yaml: spec.versions[0].additionalPrinterColumns[0].jsonPath: \".spec[size\" is not a JSONPath the server can evaluate".to_string(),
        ),
        (
            "pattern that does not compile",
            Box::new(|s| s.replace("                  minLength: 1\n", "                  minLength: 1\n                  pattern: '(?=x)'\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.name.pattern: \"(?=x)\" is not a valid RE2 regular expression"),
        ),
        (
            "uniqueItems, which CRDs refuse",
            Box::new(|s| s.replace("                  minLength: 1\n", "                  minLength: 1\n                  uniqueItems: true\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.name.uniqueItems: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"),
        ),
        (
            "CEL rules on a kind of the aggregated apiserver",
            Box::new(|s| s.replace("codegen.coder.com/served-by: crd", "codegen.coder.com/served-by: aggregated-apiserver")
                .replace("                  minLength: 1\n", "                  minLength: 1\n                  x-kubernetes-validations: [{rule: 'self != \"x\"'}]\n")),
            format!("schema/widget.yaml: {ROOT}.properties.spec.properties.name.x-kubernetes-validations: unsupported construct: CEL validation rules are not enforced by the aggregated apiserver"),
        ),
        (
            "printer column without a leading dot",
            Box::new(|s| s.replace("jsonPath: .spec.size", "jsonPath: spec.size")),
            "schema/widget.yaml: spec.versions[0].additionalPrinterColumns[0].jsonPath: \"spec.size\" must start with '.' (for example .spec.running)".to_string(),
        ),
    ];
    for (what, edit, expected) in cases {
        let actual = error_after(edit);
        if matches!(
            what,
            "not YAML"
                | "printer column path that is not JSONPath"
                | "pattern that does not compile"
                | "CEL rules on a kind of the aggregated apiserver"
        ) {
            assert!(actual.starts_with(&expected), "{what}: got {actual}");
        } else {
            assert_eq!(actual, expected, "{what}");
        }
    }
}

#[test]
fn duplicate_kinds_across_files_name_both_files() {
    let error = generate(
        &[
            source("schema/a.yaml", EVERYTHING),
            source("schema/b.yaml", EVERYTHING),
        ],
        &externals(),
    )
    .expect_err("duplicate");
    assert_eq!(
        error.to_string(),
        "schema/b.yaml: spec.names.kind: duplicate kind Widget in example.coder.com/v1beta1 (also declared in schema/a.yaml)"
    );
}

#[test]
fn editing_a_schema_without_regenerating_is_reported_with_the_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = everything();
    write(&before, dir.path()).expect("write");
    assert!(
        compare(&before, dir.path()).expect("compare").is_empty(),
        "fresh after write"
    );

    // The user documents spec.count but does not regenerate.
    let edited = EVERYTHING.replace(
        "description: int64 (the default integer width).",
        "description: How many widgets to make.",
    );
    let after = generate_one(&edited).expect("valid");
    let drift = compare(&after, dir.path()).expect("compare");
    let changed: BTreeSet<&str> = drift
        .iter()
        .filter_map(|d| match d {
            Drift::Changed { file, .. } => Some(file.as_str()),
            _ => None,
        })
        .collect();
    assert!(changed.contains("rust/widget.rs"), "{drift:?}");
    assert!(
        changed.contains("crds/example.coder.com_widgets.yaml"),
        "{drift:?}"
    );
    let message = report(&drift, "generated");
    assert!(
        message.contains(&format!("Run `{REGENERATE_COMMAND}`")),
        "{message}"
    );
    assert!(
        message.contains("+     /// How many widgets to make."),
        "{message}"
    );
    assert!(
        message.contains("-     /// int64 (the default integer width)."),
        "{message}"
    );

    // Regenerating makes it fresh again and removes files no longer generated.
    std::fs::write(dir.path().join("rust/old.rs"), "stale").expect("write");
    write(&after, dir.path()).expect("write");
    assert!(compare(&after, dir.path()).expect("compare").is_empty());
    assert!(!dir.path().join("rust/old.rs").exists());
}

/// The REST operations of the fixture kind, both dialects, against a reviewed snapshot: any
/// change to an operation, parameter, body or answer shows up as a diff to review.
#[test]
fn openapi_paths_match_the_snapshot() {
    let files = aggregated_files();
    let mut paths = serde_json::Map::new();
    for (dialect, file) in [
        ("v2", "openapi/v2.json"),
        ("v3", "openapi/v3/example.coder.com_v1beta1.json"),
    ] {
        let doc: Value = serde_json::from_str(&files[file]).expect("JSON");
        paths.insert(dialect.to_string(), doc["paths"].clone());
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(paths)).expect("JSON");
    text.push('\n');
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/widget.openapi-paths.json"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &text).expect("write snapshot");
        return;
    }
    let snapshot =
        std::fs::read_to_string(path).expect("snapshot exists (UPDATE_SNAPSHOTS=1 writes it)");
    assert!(
        snapshot == text,
        "snapshot is stale; run UPDATE_SNAPSHOTS=1 cargo test -p coder-k8s-codegen\n{}",
        coder_k8s_codegen::verify::line_diff(&snapshot, &text)
    );
}

/// What clients rely on, asserted directly (the snapshot says everything, this says why).
#[test]
fn openapi_operations_declare_parameters_bodies_and_answers() {
    let files = aggregated_files();
    let v3: Value =
        serde_json::from_str(&files["openapi/v3/example.coder.com_v1beta1.json"]).expect("JSON");
    let collection = &v3["paths"]["/apis/example.coder.com/v1beta1/namespaces/{namespace}/widgets"];
    let item =
        &v3["paths"]["/apis/example.coder.com/v1beta1/namespaces/{namespace}/widgets/{name}"];
    let names = |op: &Value| -> BTreeSet<String> {
        op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let codes = |op: &Value| -> BTreeSet<String> {
        op["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    };
    // Path parameters are declared once on the path item.
    assert_eq!(
        names(item),
        BTreeSet::from(["name".into(), "namespace".into()])
    );
    assert_eq!(names(collection), BTreeSet::from(["namespace".into()]));
    // Lists take every ListOptions field the server reads.
    for p in [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "resourceVersionMatch",
        "watch",
        "allowWatchBookmarks",
        "sendInitialEvents",
        "timeoutSeconds",
    ] {
        assert!(names(&collection["get"]).contains(p), "list lacks {p}");
    }
    assert_eq!(
        collection["get"]["operationId"],
        "listExampleCoderComV1beta1NamespacedWidget"
    );
    assert_eq!(
        collection["delete"]["operationId"],
        "deleteExampleCoderComV1beta1CollectionNamespacedWidget"
    );
    assert_eq!(
        collection["get"]["tags"],
        json!(["exampleCoderCom_v1beta1"])
    );
    // A create answers 201, never 200; every failure is a JSON Status.
    let create = codes(&collection["post"]);
    assert!(
        create.contains("201") && !create.contains("200"),
        "{create:?}"
    );
    for code in [
        "400", "401", "403", "404", "409", "413", "415", "422", "429", "500",
    ] {
        assert!(create.contains(code), "create lacks {code}");
        assert_eq!(
            collection["post"]["responses"][code]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"
        );
    }
    // A create body must name the object (or ask for a generated name).
    let new = &collection["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        new["allOf"][1]["properties"]["metadata"]["anyOf"],
        json!([{"required": ["name"]}, {"required": ["generateName"]}])
    );
    let replacement = &item["put"]["requestBody"]["content"]["application/yaml"]["schema"];
    assert_eq!(
        replacement["allOf"][1]["properties"]["metadata"]["required"],
        json!(["name", "resourceVersion"])
    );
    // DELETE answers the Status of a deleted object or the object its finalizers hold.
    assert_eq!(
        item["delete"]["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"],
        json!([
            {"$ref": "#/components/schemas/com.coder.example.v1beta1.Widget"},
            {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
        ])
    );
    // A collection DELETE answers the list of what it deleted.
    assert_eq!(
        collection["delete"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/com.coder.example.v1beta1.WidgetList"
    );
    // PATCH: every patch type, kubectl's fieldValidation, and a JSON patch is a list.
    let patch = &item["patch"];
    assert!(names(patch).contains("fieldValidation") && names(patch).contains("force"));
    assert_eq!(
        patch["requestBody"]["content"]["application/json-patch+json"]["schema"]["type"],
        "array"
    );
    assert!(patch["requestBody"]["content"]["application/apply-patch+yaml"].is_object());
    assert!(codes(patch).contains("201"), "an apply patch can create");
    // Options the server takes only a few values of say which.
    let dry_run = patch["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "dryRun")
        .expect("dryRun");
    assert_eq!(dry_run["schema"]["enum"], json!(["All"]));
    assert_eq!(
        new["allOf"][1]["properties"]["metadata"]["properties"]["name"]["maxLength"],
        253
    );
    assert!(!codes(&v3["paths"]["/apis/example.coder.com/v1beta1/namespaces/{namespace}/widgets/{name}/status"]["patch"]).contains("201"));
}

/// Swagger 2.0 schemas have no anyOf, oneOf, not or nullable: kube-aggregator refuses to merge a
/// v2 document that uses them (its OpenAPI handler then answers 503 and kubectl cannot validate).
#[test]
fn openapi_v2_uses_only_swagger_2_schema_keywords() {
    fn find(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if ["anyOf", "oneOf", "not", "nullable"].contains(&key.as_str()) {
                        found.push(format!("{path}/{key}"));
                    }
                    find(child, &format!("{path}/{key}"), found);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    find(child, &format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let files = aggregated_files();
    let v2: Value = serde_json::from_str(&files["openapi/v2.json"]).expect("JSON");
    let mut found = Vec::new();
    find(&v2, "", &mut found);
    assert!(found.is_empty(), "v2 uses OpenAPI 3 keywords at {found:?}");
}
