//! OpenAPI v2 and v3 documents for the kinds the aggregated apiserver serves: definitions for
//! each kind and its list (with `x-kubernetes-group-version-kind`, which kubectl explain and
//! server-side apply key on), the Kubernetes types they reference, and the REST paths.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::error::{CodegenError, Result};
use crate::jsonschema::{Dialect, ExternalDefinitions, render, rewrite_refs, unknown_type_message};
use crate::model::Resource;

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// Kubernetes definitions every document needs besides what the kinds reference.
pub const BASE_DEFINITIONS: &[&str] = &[OBJECT_META, LIST_META, STATUS, DELETE_OPTIONS];

/// The definitions of `resources` (kinds and lists) in `dialect`.
fn kind_definitions(resources: &[&Resource], dialect: Dialect<'_>) -> Result<Map<String, Value>> {
    let mut definitions = Map::new();
    for resource in resources {
        let Value::Object(mut kind) = render(&resource.schema, dialect, &resource.file)? else {
            return Err(CodegenError::new(
                &resource.file,
                "",
                "root schema is not an object",
            ));
        };
        let properties = kind
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| {
                CodegenError::new(&resource.file, "", "root properties are not a mapping")
            })?;
        let mut with_meta = Map::new();
        with_meta.insert("apiVersion".into(), api_version_property());
        with_meta.insert("kind".into(), kind_property());
        with_meta.insert(
            "metadata".into(),
            described_ref(dialect, OBJECT_META, "Standard object's metadata."),
        );
        for (name, value) in std::mem::take(properties) {
            if !with_meta.contains_key(&name) {
                with_meta.insert(name, value);
            }
        }
        *properties = with_meta;
        kind.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk(resource, &resource.kind),
        );
        definitions.insert(
            resource.definition_name(&resource.kind),
            Value::Object(kind),
        );

        let list = json!({
            "description": format!("{} is a list of {}.", resource.list_kind, resource.kind),
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": api_version_property(),
                "items": {
                    "description": format!("List of {}.", resource.plural),
                    "type": "array",
                    "items": dialect_ref(dialect, &resource.definition_name(&resource.kind)),
                },
                "kind": kind_property(),
                "metadata": described_ref(dialect, LIST_META, "Standard list metadata."),
            },
            "x-kubernetes-group-version-kind": gvk(resource, &resource.list_kind),
        });
        definitions.insert(resource.definition_name(&resource.list_kind), list);
    }
    Ok(definitions)
}

fn api_version_property() -> Value {
    json!({
        "description": "APIVersion defines the versioned schema of this representation of an object.",
        "type": "string",
    })
}

fn kind_property() -> Value {
    json!({
        "description": "Kind is a string value representing the REST resource this object represents.",
        "type": "string",
    })
}

fn gvk(resource: &Resource, kind: &str) -> Value {
    json!([{ "group": resource.group, "kind": kind, "version": resource.version }])
}

fn dialect_ref(dialect: Dialect<'_>, name: &str) -> Value {
    dialect.reference(name)
}

fn described_ref(dialect: Dialect<'_>, name: &str, description: &str) -> Value {
    match dialect {
        Dialect::OpenApiV2 => {
            let mut value = dialect.reference(name);
            if let Value::Object(map) = &mut value {
                map.insert("description".into(), json!(description));
            }
            value
        }
        _ => json!({ "description": description, "allOf": [dialect.reference(name)] }),
    }
}

/// The Kubernetes definitions needed by `resources`, rendered for `dialect`.
fn external_definitions(
    resources: &[&Resource],
    externals: &ExternalDefinitions,
    dialect: Dialect<'_>,
) -> Result<Map<String, Value>> {
    let mut roots: BTreeSet<String> = BASE_DEFINITIONS.iter().map(|s| s.to_string()).collect();
    for resource in resources {
        let mut missing = None;
        resource.schema.external_refs(&mut |name| {
            if !externals.definitions.contains_key(name) && missing.is_none() {
                missing = Some(name.to_string());
            }
            roots.insert(name.to_string());
        });
        if let Some(name) = missing {
            return Err(CodegenError::new(
                &resource.file,
                "",
                unknown_type_message(&name),
            ));
        }
    }
    let names = externals
        .closure(&roots)
        .map_err(|name| CodegenError::new("build.rs", "", unknown_type_message(&name)))?;
    Ok(names
        .into_iter()
        .filter_map(|name| {
            let definition = externals.definitions.get(&name)?;
            Some((name, rewrite_refs(definition, dialect)))
        })
        .collect())
}

/// One REST operation on a resource.
struct Operation {
    method: &'static str,
    action: &'static str,
    verb: &'static str,
    scope: Scope,
    subresource: Option<&'static str>,
}

#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Collection,
    AllNamespaces,
    Item,
}

fn operations(resource: &Resource) -> Vec<Operation> {
    use Scope::*;
    let mut ops = vec![
        Operation {
            method: "get",
            action: "list",
            verb: "list",
            scope: Collection,
            subresource: None,
        },
        Operation {
            method: "post",
            action: "post",
            verb: "create",
            scope: Collection,
            subresource: None,
        },
        Operation {
            method: "delete",
            action: "deletecollection",
            verb: "deletecollection",
            scope: Collection,
            subresource: None,
        },
        Operation {
            method: "get",
            action: "get",
            verb: "read",
            scope: Item,
            subresource: None,
        },
        Operation {
            method: "put",
            action: "put",
            verb: "replace",
            scope: Item,
            subresource: None,
        },
        Operation {
            method: "patch",
            action: "patch",
            verb: "patch",
            scope: Item,
            subresource: None,
        },
        Operation {
            method: "delete",
            action: "delete",
            verb: "delete",
            scope: Item,
            subresource: None,
        },
    ];
    if resource.namespaced {
        ops.push(Operation {
            method: "get",
            action: "list",
            verb: "list",
            scope: AllNamespaces,
            subresource: None,
        });
    }
    if resource.status_subresource {
        for (method, action, verb) in [
            ("get", "get", "read"),
            ("put", "put", "replace"),
            ("patch", "patch", "patch"),
        ] {
            ops.push(Operation {
                method,
                action,
                verb,
                scope: Item,
                subresource: Some("status"),
            });
        }
    }
    ops
}

fn operation_path(resource: &Resource, op: &Operation) -> String {
    let base = format!("/apis/{}/{}", resource.group, resource.version);
    let namespace = if resource.namespaced && op.scope != Scope::AllNamespaces {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let name = if op.scope == Scope::Item {
        "/{name}"
    } else {
        ""
    };
    let sub = op.subresource.map(|s| format!("/{s}")).unwrap_or_default();
    format!("{base}{namespace}/{}{name}{sub}", resource.plural)
}

fn operation_id(resource: &Resource, op: &Operation) -> String {
    let group: String = resource
        .group
        .split('.')
        .map(crate::naming::pascal_case)
        .collect();
    let version = crate::naming::pascal_case(&resource.version);
    let scope = match (resource.namespaced, op.scope) {
        (true, Scope::AllNamespaces) => "ForAllNamespaces",
        (true, _) => "Namespaced",
        (false, _) => "",
    };
    let sub = op
        .subresource
        .map(crate::naming::pascal_case)
        .unwrap_or_default();
    let (prefix, suffix) = match op.scope {
        Scope::AllNamespaces => ("", scope),
        _ => (scope, ""),
    };
    format!(
        "{}{group}{version}{prefix}{}{sub}{suffix}",
        op.verb, resource.kind
    )
}

/// Path items for every resource, with request and response schemas in `dialect`.
fn paths(resources: &[&Resource], dialect: Dialect<'_>) -> Map<String, Value> {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for resource in resources {
        for op in operations(resource) {
            let path = operation_path(resource, &op);
            let returns_list = op.action == "list" || op.action == "deletecollection";
            let body_kind = if op.action == "deletecollection" {
                STATUS.to_string()
            } else if returns_list {
                resource.definition_name(&resource.list_kind)
            } else {
                resource.definition_name(&resource.kind)
            };
            let mut parameters = Vec::new();
            if resource.namespaced && op.scope != Scope::AllNamespaces {
                parameters.push(path_parameter(
                    "namespace",
                    "object name and auth scope, such as for teams and projects",
                    dialect,
                ));
            }
            if op.scope == Scope::Item {
                parameters.push(path_parameter(
                    "name",
                    &format!("name of the {}", resource.kind),
                    dialect,
                ));
            }
            let mut operation = json!({
                "operationId": operation_id(resource, &op),
                "tags": [format!("{}_{}", resource.group, resource.version)],
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": {
                    "group": resource.group, "kind": resource.kind, "version": resource.version,
                },
            });
            let (ok, body) = match dialect {
                Dialect::OpenApiV2 => (
                    json!({ "description": "OK", "schema": dialect.reference(&body_kind) }),
                    json!({ "name": "body", "in": "body", "required": true, "schema": request_schema(resource, &op, dialect) }),
                ),
                _ => (
                    json!({ "description": "OK", "content": { "application/json": { "schema": dialect.reference(&body_kind) } } }),
                    json!({ "required": true, "content": { request_content_type(&op): { "schema": request_schema(resource, &op, dialect) } } }),
                ),
            };
            if let Value::Object(map) = &mut operation {
                map.insert("responses".into(), json!({ "200": ok }));
                let has_body = matches!(op.method, "post" | "put" | "patch");
                match dialect {
                    Dialect::OpenApiV2 => {
                        if has_body {
                            parameters.push(body);
                        }
                        map.insert(
                            "consumes".into(),
                            json!(if op.method == "patch" {
                                json!([
                                    "application/json-patch+json",
                                    "application/merge-patch+json",
                                    "application/apply-patch+yaml"
                                ])
                            } else {
                                json!(["application/json", "application/yaml"])
                            }),
                        );
                        map.insert(
                            "produces".into(),
                            json!(["application/json", "application/yaml"]),
                        );
                    }
                    _ => {
                        if has_body {
                            map.insert("requestBody".into(), body);
                        }
                    }
                }
                if !parameters.is_empty() {
                    map.insert("parameters".into(), Value::Array(parameters));
                }
            }
            paths
                .entry(path)
                .or_default()
                .insert(op.method.to_string(), operation);
        }
    }
    paths
        .into_iter()
        .map(|(k, v)| (k, Value::Object(v)))
        .collect()
}

fn request_content_type(op: &Operation) -> &'static str {
    if op.method == "patch" {
        "application/merge-patch+json"
    } else {
        "application/json"
    }
}

fn request_schema(resource: &Resource, op: &Operation, dialect: Dialect<'_>) -> Value {
    if op.method == "patch" {
        dialect.reference(PATCH)
    } else {
        dialect.reference(&resource.definition_name(&resource.kind))
    }
}

fn path_parameter(name: &str, description: &str, dialect: Dialect<'_>) -> Value {
    match dialect {
        Dialect::OpenApiV2 => json!({
            "name": name, "in": "path", "required": true, "type": "string", "uniqueItems": true,
            "description": description,
        }),
        _ => json!({
            "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string", "uniqueItems": true },
        }),
    }
}

fn info(title_suffix: &str, sources: &[&Resource]) -> Value {
    let files: Vec<&str> = sources.iter().map(|r| r.file.as_str()).collect();
    json!({
        "title": format!("coder-k8s aggregated API{title_suffix}"),
        "version": env_version(),
        "description": format!("@generated from {} by build.rs; do not edit.", files.join(", ")),
    })
}

/// Documents carry a fixed version so output never depends on the build environment.
fn env_version() -> &'static str {
    "v0"
}

/// Patch bodies are documents in one of the patch formats; Kubernetes names the type but gives
/// it no structure.
fn patch_definition() -> Value {
    json!({
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    })
}

/// The Swagger 2.0 document covering every aggregated kind.
pub fn openapi_v2(resources: &[&Resource], externals: &ExternalDefinitions) -> Result<Value> {
    let dialect = Dialect::OpenApiV2;
    let mut definitions = external_definitions(resources, externals, dialect)?;
    definitions.extend(kind_definitions(resources, dialect)?);
    definitions.insert(PATCH.to_string(), patch_definition());
    let definitions: BTreeMap<String, Value> = definitions.into_iter().collect();
    Ok(json!({
        "swagger": "2.0",
        "info": info("", resources),
        "paths": paths(resources, dialect),
        "definitions": definitions,
    }))
}

/// The OpenAPI 3.0 document of one group-version.
pub fn openapi_v3(resources: &[&Resource], externals: &ExternalDefinitions) -> Result<Value> {
    let dialect = Dialect::OpenApiV3;
    let mut schemas = external_definitions(resources, externals, dialect)?;
    schemas.extend(kind_definitions(resources, dialect)?);
    schemas.insert(PATCH.to_string(), patch_definition());
    let schemas: BTreeMap<String, Value> = schemas.into_iter().collect();
    let suffix = resources
        .first()
        .map(|r| format!(" {}", r.api_version()))
        .unwrap_or_default();
    Ok(json!({
        "openapi": "3.0.0",
        "info": info(&suffix, resources),
        "paths": paths(resources, dialect),
        "components": { "schemas": schemas },
    }))
}
