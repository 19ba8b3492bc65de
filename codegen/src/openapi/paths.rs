//! Renders [`operations`](super::operations) as the `paths` of an OpenAPI v2 or v3 document.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::jsonschema::Dialect;
use crate::model::Resource;

use super::operations::{Body, Operation, RequestBody, Response, operations, path_parameters};
use super::{DELETE_OPTIONS, PATCH, STATUS};

/// Path items for every operation of `resources`, keyed and sorted by path.
pub fn paths(resources: &[&Resource], dialect: Dialect<'_>) -> Map<String, Value> {
    let mut items: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for resource in resources {
        for op in operations(resource) {
            let item = items.entry(op.path(resource)).or_default();
            if !item.contains_key("parameters") {
                // Path parameters are the path's, shared by its operations.
                let params: Vec<Value> = path_parameters(resource, op.scope)
                    .iter()
                    .map(|(p, description)| p.render(dialect, description.as_deref()))
                    .collect();
                if !params.is_empty() {
                    item.insert("parameters".into(), Value::Array(params));
                }
            }
            item.insert(
                op.action.method().to_string(),
                operation(resource, &op, dialect),
            );
        }
    }
    items
        .into_iter()
        .map(|(path, item)| (path, Value::Object(item)))
        .collect()
}

/// kube-apiserver's tag of a group-version: the group in lowerCamelCase, `_`, the version.
fn tag(resource: &Resource) -> String {
    let mut tag = String::new();
    for (i, label) in resource.group.split('.').enumerate() {
        let pascal = crate::naming::pascal_case(label);
        if i == 0 {
            let mut chars = pascal.chars();
            if let Some(first) = chars.next() {
                tag.extend(first.to_lowercase());
                tag.push_str(chars.as_str());
            }
        } else {
            tag.push_str(&pascal);
        }
    }
    format!("{tag}_{}", resource.version)
}

fn operation(resource: &Resource, op: &Operation, dialect: Dialect<'_>) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), json!(op.description(resource)));
    out.insert("operationId".into(), json!(op.operation_id(resource)));
    out.insert("tags".into(), json!([tag(resource)]));
    let mut parameters: Vec<Value> = Vec::new();
    match dialect {
        Dialect::OpenApiV2 => {
            if let Some(request) = &op.request {
                // Swagger 2.0 has one schema per body and the content types per operation.
                let schema = body_schema(resource, request.body, None, dialect);
                parameters.push(json!({
                    "name": "body", "in": "body", "required": request.required, "schema": schema,
                }));
                out.insert("consumes".into(), json!(request.content_types));
            }
            out.insert(
                "produces".into(),
                json!(super::operations::OBJECT_CONTENT_TYPES),
            );
        }
        _ => {
            if let Some(request) = &op.request {
                out.insert(
                    "requestBody".into(),
                    request_body_v3(resource, request, dialect),
                );
            }
        }
    }
    parameters.extend(op.query.iter().map(|p| p.render(dialect, None)));
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    let responses: Map<String, Value> = op
        .responses
        .iter()
        .map(|r| (r.code.to_string(), response(resource, r, dialect)))
        .collect();
    out.insert("responses".into(), Value::Object(responses));
    out.insert(
        "x-kubernetes-action".into(),
        json!(op.action.x_kubernetes_action()),
    );
    out.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({ "group": resource.group, "kind": resource.kind, "version": resource.version }),
    );
    Value::Object(out)
}

fn request_body_v3(resource: &Resource, request: &RequestBody, dialect: Dialect<'_>) -> Value {
    let content: Map<String, Value> = request
        .content_types
        .iter()
        .map(|ct| {
            let schema = body_schema(resource, request.body, Some(ct), dialect);
            (ct.to_string(), json!({ "schema": schema }))
        })
        .collect();
    json!({ "content": content, "required": request.required })
}

fn response(resource: &Resource, r: &Response, dialect: Dialect<'_>) -> Value {
    let schema = body_schema(resource, r.body, None, dialect);
    match dialect {
        Dialect::OpenApiV2 => json!({ "description": r.description, "schema": schema }),
        _ => {
            let content: Map<String, Value> = r
                .content_types
                .iter()
                .map(|ct| (ct.to_string(), json!({ "schema": schema })))
                .collect();
            json!({ "description": r.description, "content": content })
        }
    }
}

/// The schema of a body; `content_type` picks the shape of a patch in v3.
fn body_schema(
    resource: &Resource,
    body: Body,
    content_type: Option<&str>,
    dialect: Dialect<'_>,
) -> Value {
    let kind = || dialect.reference(&resource.definition_name(&resource.kind));
    match body {
        Body::Object => kind(),
        Body::List => dialect.reference(&resource.definition_name(&resource.list_kind)),
        Body::Status => dialect.reference(STATUS),
        Body::DeleteOptions => dialect.reference(DELETE_OPTIONS),
        Body::ObjectOrStatus => match dialect {
            // Swagger 2.0 cannot say "one of two schemas"; any object, described.
            Dialect::OpenApiV2 => json!({
                "description": format!(
                    "A Status (status Success) when the {} is gone, or the {} itself while finalizers hold it.",
                    resource.kind, resource.kind
                ),
                "type": "object",
            }),
            // anyOf, not oneOf: an object without a status field is also a valid Status.
            _ => json!({ "anyOf": [kind(), dialect.reference(STATUS)] }),
        },
        Body::NewObject => with_requirements(
            resource,
            kind(),
            match dialect {
                // Swagger 2.0 has no anyOf (kube-aggregator refuses a v2 document that uses it);
                // only the v3 document can state the rule.
                Dialect::OpenApiV2 => json!({ "type": "object", "properties": name_property() }),
                // kube-apiserver's rule: a new object needs a name or a prefix to generate one
                // from.
                _ => json!({
                    "type": "object",
                    "properties": name_property(),
                    "anyOf": [{ "required": ["name"] }, { "required": ["generateName"] }],
                }),
            },
        ),
        Body::Replacement => with_requirements(
            resource,
            kind(),
            // A replacement names the object and the revision it replaces.
            json!({
                "type": "object",
                "properties": name_property(),
                "required": ["name", "resourceVersion"],
            }),
        ),
        Body::Patch => match content_type {
            // RFC 6902: a list of operations.
            Some("application/json-patch+json") => json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["op", "path"],
                    "properties": {
                        "op": {
                            "type": "string",
                            "enum": ["add", "remove", "replace", "move", "copy", "test"],
                        },
                        "path": { "type": "string" },
                        "from": { "type": "string" },
                        "value": {},
                    },
                },
            }),
            _ => dialect.reference(PATCH),
        },
    }
}

/// Object names are RFC 1123 subdomains, as for every custom resource (objects/metadata.rs).
fn name_property() -> Value {
    json!({
        "name": {
            "type": "string",
            "maxLength": 253,
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        },
    })
}

/// `kind` plus what the server requires of a request body beyond the kind's schema: its
/// apiVersion and kind, and `metadata`.
fn with_requirements(resource: &Resource, kind: Value, metadata: Value) -> Value {
    json!({
        "allOf": [
            kind,
            {
                "type": "object",
                "required": ["apiVersion", "kind", "metadata"],
                "properties": {
                    "apiVersion": { "type": "string", "enum": [resource.api_version()] },
                    "kind": { "type": "string", "enum": [resource.kind] },
                    "metadata": metadata,
                },
            },
        ],
    })
}
