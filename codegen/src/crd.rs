//! The CustomResourceDefinition manifest of a kind installed as a CRD.

use serde_json::{Map, Value, json};

use crate::error::{CodegenError, Result};
use crate::jsonschema::{Dialect, ExternalDefinitions, render};
use crate::model::Resource;

/// The CRD as a JSON value (keys in the order kubectl users expect to read them).
pub fn crd(resource: &Resource, externals: &ExternalDefinitions) -> Result<Value> {
    let mut schema = render(
        &resource.schema,
        Dialect::Structural(externals),
        &resource.file,
    )?;
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        // Like controller-gen: apiVersion/kind/metadata are declared; kube-apiserver owns their
        // validation, so metadata stays a bare object.
        let mut with_meta = Map::new();
        with_meta.insert("apiVersion".into(), json!({ "type": "string" }));
        with_meta.insert("kind".into(), json!({ "type": "string" }));
        with_meta.insert("metadata".into(), json!({ "type": "object" }));
        for (name, value) in std::mem::take(properties) {
            if !with_meta.contains_key(&name) {
                with_meta.insert(name, value);
            }
        }
        *properties = with_meta;
    } else {
        return Err(CodegenError::new(
            &resource.file,
            "",
            "root schema has no properties",
        ));
    }

    let mut names = Map::new();
    names.insert("kind".into(), json!(resource.kind));
    names.insert("listKind".into(), json!(resource.list_kind));
    names.insert("plural".into(), json!(resource.plural));
    names.insert("singular".into(), json!(resource.singular));
    if !resource.short_names.is_empty() {
        names.insert("shortNames".into(), json!(resource.short_names));
    }
    if !resource.categories.is_empty() {
        names.insert("categories".into(), json!(resource.categories));
    }

    let mut version = Map::new();
    version.insert("name".into(), json!(resource.version));
    version.insert("served".into(), json!(true));
    version.insert("storage".into(), json!(true));
    if !resource.printer_columns.is_empty() {
        let columns: Vec<Value> = resource
            .printer_columns
            .iter()
            .map(|c| {
                let mut column = Map::new();
                column.insert("name".into(), json!(c.name));
                column.insert("type".into(), json!(c.type_));
                if let Some(format) = &c.format {
                    column.insert("format".into(), json!(format));
                }
                if let Some(description) = &c.description {
                    column.insert("description".into(), json!(description));
                }
                column.insert("jsonPath".into(), json!(c.json_path));
                if c.priority != 0 {
                    column.insert("priority".into(), json!(c.priority));
                }
                Value::Object(column)
            })
            .collect();
        version.insert("additionalPrinterColumns".into(), Value::Array(columns));
    }
    if resource.status_subresource {
        version.insert("subresources".into(), json!({ "status": {} }));
    }
    version.insert("schema".into(), json!({ "openAPIV3Schema": schema }));

    Ok(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{}", resource.plural, resource.group),
            "labels": { "app.kubernetes.io/part-of": "coder-k8s" },
        },
        "spec": {
            "group": resource.group,
            "names": names,
            "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [version],
        },
    }))
}
