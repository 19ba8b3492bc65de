//! The generated CoderControlPlane CRD must be a structural schema kube-apiserver accepts:
//! Kubernetes types inlined (no `$ref`), every node typed (or int-or-string), no types inside
//! `allOf`/`anyOf`/`oneOf`, map lists keyed by required fields, and the defaults users rely on.

use serde_json::Value;

const CRD: &str = include_str!("../../generated/crds/coder.com_codercontrolplanes.yaml");

fn schema() -> Value {
    let crd: Value = serde_saphyr::from_str(CRD).expect("CRD is YAML");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Walks every schema node, calling `check(path, node)`.
fn walk(path: &str, node: &Value, check: &mut dyn FnMut(&str, &Value)) {
    check(path, node);
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            walk(&format!("{path}.{name}"), child, check);
        }
    }
    if let Some(items) = node.get("items") {
        walk(&format!("{path}[]"), items, check);
    }
    if let Some(additional) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(&format!("{path}{{}}"), additional, check);
    }
}

#[test]
fn schema_is_structural() {
    let mut problems = Vec::new();
    walk("", &schema(), &mut |path, node| {
        let int_or_string = node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
        let preserve = node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if node.get("$ref").is_some() {
            problems.push(format!("{path}: $ref"));
        }
        if node.get("type").is_none() && !int_or_string && !preserve {
            problems.push(format!("{path}: no type"));
        }
        if int_or_string && node.get("type").is_some() {
            problems.push(format!("{path}: type beside int-or-string"));
        }
        for combinator in ["allOf", "anyOf", "oneOf"] {
            for (i, sub) in node
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let allowed_int_or_string = int_or_string
                    && combinator == "anyOf"
                    && sub.as_object().is_some_and(|o| o.len() == 1)
                    && (sub["type"] == "integer" || sub["type"] == "string");
                let forbidden = [
                    "type",
                    "properties",
                    "items",
                    "additionalProperties",
                    "description",
                    "default",
                    "nullable",
                ];
                if !allowed_int_or_string && forbidden.iter().any(|k| sub.get(k).is_some()) {
                    problems.push(format!(
                        "{path}.{combinator}[{i}]: structural keyword inside"
                    ));
                }
            }
        }
        if node.get("properties").is_some() && node.get("additionalProperties").is_some() {
            problems.push(format!("{path}: properties with additionalProperties"));
        }
        if node.get("uniqueItems") == Some(&Value::Bool(true)) {
            problems.push(format!("{path}: uniqueItems"));
        }
        if node.get("x-kubernetes-list-type") == Some(&Value::String("map".into())) {
            let required: Vec<&str> = node["items"]["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for key in node["x-kubernetes-list-map-keys"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if !required.contains(&key.as_str().unwrap_or_default()) {
                    problems.push(format!("{path}: list map key {key} is not required"));
                }
            }
        }
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn kubernetes_types_are_inlined_with_quantities_as_int_or_string() {
    let s = schema();
    let spec = &s["properties"]["spec"]["properties"];
    let limits = &spec["resources"]["properties"]["limits"]["additionalProperties"];
    assert_eq!(limits["x-kubernetes-int-or-string"], true, "{limits}");
    assert_eq!(
        spec["extraEnv"]["items"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        spec["extraEnv"]["items"]["properties"]["valueFrom"]["type"],
        "object"
    );
    assert_eq!(
        spec["tolerations"]["items"]["properties"]["key"]["type"],
        "string"
    );
    assert!(spec["affinity"]["properties"]["nodeAffinity"]["properties"].is_object());
    assert_eq!(
        spec["rbac"]["properties"]["extraRules"]["items"]["required"][0],
        "verbs"
    );
    let conditions = &s["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["items"]["properties"]["lastTransitionTime"]["format"],
        "date-time"
    );
}

#[test]
fn defaults_users_rely_on() {
    let s = schema();
    let spec = &s["properties"]["spec"];
    assert_eq!(spec["default"], serde_json::json!({}));
    let p = &spec["properties"];
    assert_eq!(p["image"]["default"], "ghcr.io/coder/coder:latest");
    assert_eq!(p["replicas"]["default"], 1);
    assert_eq!(p["replicas"]["minimum"], 0);
    assert_eq!(p["service"]["default"], serde_json::json!({}));
    assert_eq!(p["service"]["properties"]["type"]["default"], "ClusterIP");
    assert_eq!(
        p["service"]["properties"]["type"]["enum"],
        serde_json::json!(["ClusterIP", "NodePort", "LoadBalancer"])
    );
    assert_eq!(p["service"]["properties"]["port"]["default"], 80);
    assert_eq!(p["rbac"]["properties"]["workspacePerms"]["default"], true);
    assert_eq!(
        p["rbac"]["properties"]["enableDeployments"]["default"],
        true
    );
    assert_eq!(
        p["readinessProbe"]["properties"]["enabled"]["default"],
        true
    );
    assert_eq!(
        p["livenessProbe"]["properties"]["enabled"]["default"],
        false
    );
    assert_eq!(
        p["expose"]["properties"]["ingress"]["required"],
        serde_json::json!(["host"])
    );
    let crd: Value = serde_saphyr::from_str(CRD).unwrap();
    let columns: Vec<&str> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Phase", "Ready", "URL", "Age"]);
    assert_eq!(
        crd["spec"]["names"]["shortNames"],
        serde_json::json!(["ccp"])
    );
}
