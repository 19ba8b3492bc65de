//! The merge structure of a kind for server-side apply: which objects are structs, which are
//! maps (granular or atomic), which lists are sets, maps keyed by fields, or atomic. Read from
//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`, with
//! Kubernetes' defaults where a schema says nothing (lists atomic, maps and structs granular).
//! The registry embeds the result as a `crate::api::registry::MergeType` tree.

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::{Map, Value};

use crate::error::{CodegenError, Result};
use crate::jsonschema::ExternalDefinitions;
use crate::model::{Resource, Schema, Shape};
use crate::openapi::OBJECT_META;

/// Markers of Kubernetes types that k8s-openapi's schemas leave out but kube-apiserver's own
/// OpenAPI carries (from `+listType` / `+listMapKey` comments in the Go types): definition,
/// property, list type, map keys.
const KUBERNETES_LIST_MARKERS: &[(&str, &str, &str, &[&str])] = &[
    (OBJECT_META, "finalizers", "set", &[]),
    (OBJECT_META, "ownerReferences", "map", &["uid"]),
];

/// Kubernetes types whose Go definition says `+structType=atomic` (k8s-openapi's schemas leave
/// the marker out): replaced and owned whole, like kube-apiserver does.
const KUBERNETES_ATOMIC_TYPES: &[&str] = &["io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"];

/// References nest this deep at most; deeper means a cycle in the definitions.
const MAX_DEPTH: usize = 32;

/// A merge node, independent of how it is written out.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar,
    /// An atomic value: replaced whole (atomic lists, `x-kubernetes-map-type: atomic`).
    Atomic,
    /// Anything goes (`x-kubernetes-preserve-unknown-fields`): maps granular, lists atomic.
    Untyped,
    Struct(Vec<(String, Node)>),
    Map(Box<Node>),
    Set(Box<Node>),
    ListMap(Box<Node>, Vec<String>),
}

/// The merge tree of a whole object: apiVersion, kind, metadata (Kubernetes' ObjectMeta) and
/// the schema's own properties.
pub fn resource_node(resource: &Resource, externals: &ExternalDefinitions) -> Result<Node> {
    let meta = externals.definitions.get(OBJECT_META).ok_or_else(|| {
        CodegenError::new("build.rs", "", format!("{OBJECT_META} is not registered"))
    })?;
    let mut fields = vec![
        ("apiVersion".to_string(), Node::Scalar),
        ("kind".to_string(), Node::Scalar),
        (
            "metadata".to_string(),
            external_node(meta, Some(OBJECT_META), externals, &resource.file, 0)?,
        ),
    ];
    match schema_node(&resource.schema, externals, &resource.file)? {
        Node::Struct(own) => fields.extend(own),
        _ => {
            return Err(CodegenError::new(
                &resource.file,
                &resource.schema.path,
                "the root schema must be an object with properties",
            ));
        }
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Node::Struct(fields))
}

fn list_node(
    items: Node,
    list_type: Option<&str>,
    keys: Vec<String>,
    file: &str,
    path: &str,
) -> Result<Node> {
    match list_type.unwrap_or("atomic") {
        "atomic" => Ok(Node::Atomic),
        "set" => Ok(Node::Set(Box::new(items))),
        "map" if !keys.is_empty() => Ok(Node::ListMap(Box::new(items), keys)),
        "map" => Err(CodegenError::new(
            file,
            path,
            "x-kubernetes-list-type: map needs x-kubernetes-list-map-keys",
        )),
        other => Err(CodegenError::new(
            file,
            path,
            format!("x-kubernetes-list-type must be atomic, set or map, found {other:?}"),
        )),
    }
}

fn map_type_atomic(extra: &Map<String, Value>, file: &str, path: &str) -> Result<bool> {
    match extra.get("x-kubernetes-map-type").and_then(Value::as_str) {
        None | Some("granular") => Ok(false),
        Some("atomic") => Ok(true),
        Some(other) => Err(CodegenError::new(
            file,
            path,
            format!("x-kubernetes-map-type must be atomic or granular, found {other:?}"),
        )),
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn schema_node(schema: &Schema, externals: &ExternalDefinitions, file: &str) -> Result<Node> {
    let atomic = map_type_atomic(&schema.extra, file, &schema.path)?;
    let node = match &schema.shape {
        Shape::Struct { properties, .. } => {
            let mut fields = Vec::new();
            for (name, property) in properties {
                fields.push((name.clone(), schema_node(property, externals, file)?));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Node::Struct(fields)
        }
        Shape::Map(values) => Node::Map(Box::new(schema_node(values, externals, file)?)),
        Shape::FreeForm { .. } => Node::Untyped,
        Shape::Array(items) => list_node(
            schema_node(items, externals, file)?,
            schema
                .extra
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str),
            string_list(schema.extra.get("x-kubernetes-list-map-keys")),
            file,
            &schema.path,
        )?,
        Shape::External(name) => {
            let definition = externals.definitions.get(name).ok_or_else(|| {
                CodegenError::new(file, &schema.path, format!("unknown type {name}"))
            })?;
            external_node(definition, Some(name), externals, file, 0)?
        }
        Shape::String { .. }
        | Shape::Integer { .. }
        | Shape::Number { .. }
        | Shape::Boolean
        | Shape::IntOrString => Node::Scalar,
    };
    Ok(if atomic { Node::Atomic } else { node })
}

/// A Kubernetes type's JSON schema (as k8s-openapi's schemars writes it) as a merge node.
fn external_node(
    schema: &Value,
    definition: Option<&str>,
    externals: &ExternalDefinitions,
    file: &str,
    depth: usize,
) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(CodegenError::new(
            file,
            definition.unwrap_or(""),
            "Kubernetes type definitions nest too deeply (a reference cycle?)",
        ));
    }
    if definition.is_some_and(|d| KUBERNETES_ATOMIC_TYPES.contains(&d)) {
        return Ok(Node::Atomic);
    }
    let follow = |name: &str| -> Result<Node> {
        let target = externals.definitions.get(name).ok_or_else(|| {
            CodegenError::new(file, "", format!("unknown Kubernetes type {name}"))
        })?;
        external_node(target, Some(name), externals, file, depth + 1)
    };
    if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
        return follow(name);
    }
    if let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return external_node(only, None, externals, file, depth + 1);
    }
    let empty = Map::new();
    let object = schema.as_object().unwrap_or(&empty);
    if map_type_atomic(object, file, definition.unwrap_or(""))? {
        return Ok(Node::Atomic);
    }
    if object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return Ok(Node::Untyped);
    }
    if object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return Ok(Node::Scalar);
    }
    let types: Vec<&str> = match object.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        let mut fields = Vec::new();
        for (name, property) in properties {
            let node = match marker(definition, name) {
                Some((list_type, keys)) => {
                    let items = property.get("items").unwrap_or(&Value::Null);
                    let items = external_node(items, None, externals, file, depth + 1)?;
                    list_node(items, Some(list_type), keys, file, name)?
                }
                None => external_node(property, None, externals, file, depth + 1)?,
            };
            fields.push((name.clone(), node));
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        return Ok(Node::Struct(fields));
    }
    if let Some(values) = object.get("additionalProperties").filter(|v| v.is_object()) {
        return Ok(Node::Map(Box::new(external_node(
            values,
            None,
            externals,
            file,
            depth + 1,
        )?)));
    }
    if types.contains(&"array") {
        let items = object.get("items").unwrap_or(&Value::Null);
        return list_node(
            external_node(items, None, externals, file, depth + 1)?,
            object.get("x-kubernetes-list-type").and_then(Value::as_str),
            string_list(object.get("x-kubernetes-list-map-keys")),
            file,
            definition.unwrap_or(""),
        );
    }
    if types.contains(&"object") || types.is_empty() && !object.contains_key("format") {
        // An object without properties (e.g. FieldsV1): kube treats it as untyped.
        return Ok(Node::Untyped);
    }
    Ok(Node::Scalar)
}

fn marker(definition: Option<&str>, property: &str) -> Option<(&'static str, Vec<String>)> {
    let definition = definition?;
    KUBERNETES_LIST_MARKERS
        .iter()
        .find(|(d, p, _, _)| *d == definition && *p == property)
        .map(|(_, _, list_type, keys)| (*list_type, keys.iter().map(|k| k.to_string()).collect()))
}

/// The node as a constant expression of type `crate::api::registry::MergeType`.
pub fn tokens(node: &Node) -> TokenStream {
    let ty = quote!(crate::api::registry::MergeType);
    match node {
        Node::Scalar => quote!(#ty::Scalar),
        Node::Atomic => quote!(#ty::Atomic),
        Node::Untyped => quote!(#ty::Untyped),
        Node::Struct(fields) => {
            let fields = fields.iter().map(|(name, node)| {
                let node = tokens(node);
                quote!((#name, #node))
            });
            quote!(#ty::Struct(&[#(#fields),*]))
        }
        Node::Map(values) => {
            let values = tokens(values);
            quote!(#ty::Map(&#values))
        }
        Node::Set(items) => {
            let items = tokens(items);
            quote!(#ty::Set(&#items))
        }
        Node::ListMap(items, keys) => {
            let items = tokens(items);
            quote!(#ty::ListMap(&#items, &[#(#keys),*]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn externals() -> ExternalDefinitions {
        let mut definitions = std::collections::BTreeMap::new();
        definitions.insert(
            OBJECT_META.to_string(),
            serde_json::json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "finalizers": {"type": "array", "items": {"type": "string"}},
                    "ownerReferences": {"type": "array", "items": {"$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"}},
                    "other": {"$ref": "Ref"}
                }
            }),
        );
        definitions.insert(
            "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference".to_string(),
            serde_json::json!({"type": "object", "properties": {"uid": {"type": "string"}}}),
        );
        definitions.insert(
            "Ref".to_string(),
            serde_json::json!({"type": "object", "properties": {"uid": {"type": "string"}}}),
        );
        ExternalDefinitions { definitions }
    }

    fn resource(properties: &str) -> Resource {
        let text = format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
  annotations:
    codegen.coder.com/served-by: aggregated-apiserver
spec:
  group: example.com
  names: {{kind: Thing, listKind: ThingList, plural: things, singular: thing}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
{properties}"
        );
        crate::parse_resource("schema/thing.yaml", &text).unwrap()
    }

    fn spec(node: &Node) -> &Node {
        let Node::Struct(fields) = node else {
            panic!("root is not a struct")
        };
        &fields.iter().find(|(n, _)| n == "spec").unwrap().1
    }

    #[test]
    fn list_and_map_markers_and_defaults() {
        let r = resource(
            "                plain: {type: array, items: {type: string}}
                tags: {type: array, x-kubernetes-list-type: set, items: {type: string}}
                ports:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [name]
                  items: {type: object, properties: {name: {type: string}}}
                env: {type: object, additionalProperties: {type: string}}
                sel: {type: object, x-kubernetes-map-type: atomic, additionalProperties: {type: string}}
",
        );
        let node = resource_node(&r, &externals()).unwrap();
        assert_eq!(
            spec(&node),
            &Node::Struct(vec![
                ("env".into(), Node::Map(Box::new(Node::Scalar))),
                ("plain".into(), Node::Atomic),
                (
                    "ports".into(),
                    Node::ListMap(
                        Box::new(Node::Struct(vec![("name".into(), Node::Scalar)])),
                        vec!["name".into()]
                    )
                ),
                ("sel".into(), Node::Atomic),
                ("tags".into(), Node::Set(Box::new(Node::Scalar))),
            ])
        );
        let Node::Struct(fields) = &node else {
            unreachable!()
        };
        let meta = &fields.iter().find(|(n, _)| n == "metadata").unwrap().1;
        assert_eq!(
            meta,
            &Node::Struct(vec![
                ("finalizers".into(), Node::Set(Box::new(Node::Scalar))),
                ("labels".into(), Node::Map(Box::new(Node::Scalar))),
                ("name".into(), Node::Scalar),
                (
                    "other".into(),
                    Node::Struct(vec![("uid".into(), Node::Scalar)])
                ),
                (
                    "ownerReferences".into(),
                    Node::ListMap(Box::new(Node::Atomic), vec!["uid".into()])
                ),
            ])
        );
    }

    #[test]
    fn a_map_list_without_keys_is_an_error() {
        let r = resource(
            "                ports: {type: array, x-kubernetes-list-type: map, items: {type: object, properties: {name: {type: string}}}}
",
        );
        let err = resource_node(&r, &externals()).unwrap_err();
        assert!(err.reason.contains("x-kubernetes-list-map-keys"), "{err}");
    }
}
