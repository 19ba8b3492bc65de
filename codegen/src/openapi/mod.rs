//! OpenAPI v2 and v3 documents for the kinds the aggregated apiserver serves: definitions for
//! each kind and its list (with `x-kubernetes-group-version-kind`, which kubectl explain and
//! server-side apply key on), the Kubernetes types they reference, and the REST paths.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::error::{CodegenError, Result};
use crate::jsonschema::{Dialect, ExternalDefinitions, render, rewrite_refs, unknown_type_message};
use crate::model::Resource;

pub mod operations;
pub mod parameters;
mod paths;

use paths::paths;

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

/// Patch bodies are documents in one of the patch formats: an object for merge and apply
/// patches, a list of operations for a JSON patch. Kubernetes names the type but gives it no
/// structure; no `type` here, so a JSON patch's list is valid too (v3 documents also give the
/// JSON patch content type its own schema).
fn patch_definition() -> Value {
    json!({
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
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
