//! Writing a parsed schema back out as JSON, in the three dialects the outputs need: OpenAPI v2
//! (`#/definitions/` references), OpenAPI v3 (`#/components/schemas/`) and CRD structural
//! schemas (no references at all: Kubernetes types are inlined).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::error::{CodegenError, Result};
use crate::model::{Schema, Shape};

/// Schemas of Kubernetes types (`io.k8s.…` names) that schema files may reference. Inside them,
/// `$ref` values are bare definition names, like in schema files.
#[derive(Debug, Clone, Default)]
pub struct ExternalDefinitions {
    pub definitions: BTreeMap<String, Value>,
}

impl ExternalDefinitions {
    /// The named definitions plus everything they reference, transitively.
    pub fn closure(
        &self,
        roots: &BTreeSet<String>,
    ) -> std::result::Result<BTreeSet<String>, String> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<String> = roots.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let definition = self.definitions.get(&name).ok_or_else(|| name.clone())?;
            collect_refs(definition, &mut |r| queue.push(r.to_string()));
        }
        Ok(seen)
    }
}

fn collect_refs(value: &Value, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                visit(r);
            }
            map.values().for_each(|v| collect_refs(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, visit)),
        _ => {}
    }
}

/// How references to Kubernetes types are written.
#[derive(Clone, Copy)]
pub enum Dialect<'a> {
    OpenApiV2,
    OpenApiV3,
    /// Inline every reference (CRDs forbid `$ref`).
    Structural(&'a ExternalDefinitions),
}

impl Dialect<'_> {
    pub fn reference(&self, name: &str) -> Value {
        match self {
            Dialect::OpenApiV2 => json!({ "$ref": format!("#/definitions/{name}") }),
            Dialect::OpenApiV3 | Dialect::Structural(_) => {
                json!({ "$ref": format!("#/components/schemas/{name}") })
            }
        }
    }
}

/// Renders `schema` in `dialect`. `file` names the schema file in errors.
pub fn render(schema: &Schema, dialect: Dialect<'_>, file: &str) -> Result<Value> {
    let mut out = Map::new();
    if let Some(description) = &schema.description {
        out.insert("description".into(), Value::String(description.clone()));
    }
    match &schema.shape {
        Shape::External(name) => {
            return match dialect {
                Dialect::Structural(externals) => {
                    let mut inlined = inline_definition(name, externals, 0)
                        .map_err(|reason| CodegenError::new(file, &schema.path, reason))?;
                    if let (Some(description), Value::Object(map)) =
                        (&schema.description, &mut inlined)
                    {
                        map.insert("description".into(), Value::String(description.clone()));
                    }
                    Ok(inlined)
                }
                Dialect::OpenApiV2 => {
                    if let Value::Object(reference) = dialect.reference(name) {
                        out.extend(reference);
                    }
                    Ok(Value::Object(out))
                }
                Dialect::OpenApiV3 => {
                    if out.is_empty() {
                        Ok(dialect.reference(name))
                    } else {
                        // OpenAPI 3.0 ignores siblings of $ref; allOf keeps the description.
                        out.insert("allOf".into(), json!([dialect.reference(name)]));
                        Ok(Value::Object(out))
                    }
                }
            };
        }
        Shape::Struct {
            properties,
            required,
        } => {
            out.insert("type".into(), json!("object"));
            let mut props = Map::new();
            for (name, child) in properties {
                props.insert(name.clone(), render(child, dialect, file)?);
            }
            out.insert("properties".into(), Value::Object(props));
            if !required.is_empty() {
                out.insert("required".into(), json!(required));
            }
        }
        Shape::Map(inner) => {
            out.insert("type".into(), json!("object"));
            out.insert("additionalProperties".into(), render(inner, dialect, file)?);
        }
        Shape::FreeForm { object } => {
            if *object {
                out.insert("type".into(), json!("object"));
            }
        }
        Shape::Array(inner) => {
            out.insert("type".into(), json!("array"));
            out.insert("items".into(), render(inner, dialect, file)?);
        }
        Shape::String {
            format,
            enum_values,
        } => {
            out.insert("type".into(), json!("string"));
            if let Some(format) = format {
                out.insert("format".into(), json!(format));
            }
            if let Some(values) = enum_values {
                out.insert("enum".into(), json!(values));
            }
        }
        Shape::Integer { format } | Shape::Number { format } => {
            let type_ = if matches!(schema.shape, Shape::Integer { .. }) {
                "integer"
            } else {
                "number"
            };
            out.insert("type".into(), json!(type_));
            if let Some(format) = format {
                out.insert("format".into(), json!(format));
            }
        }
        Shape::Boolean => {
            out.insert("type".into(), json!("boolean"));
        }
        Shape::IntOrString => {
            out.insert("x-kubernetes-int-or-string".into(), json!(true));
            if !matches!(dialect, Dialect::OpenApiV2) {
                out.insert(
                    "anyOf".into(),
                    json!([{ "type": "integer" }, { "type": "string" }]),
                );
            }
        }
    }
    if let Some(default) = &schema.default {
        out.insert("default".into(), default.clone());
    }
    if schema.nullable && !matches!(dialect, Dialect::OpenApiV2) {
        out.insert("nullable".into(), json!(true));
    }
    for (key, value) in &schema.extra {
        out.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(out))
}

/// Guards against self-referencing definitions (which a CRD cannot express).
const MAX_INLINE_DEPTH: usize = 32;

/// A Kubernetes type's schema with every reference inside replaced by its definition.
fn inline_definition(
    name: &str,
    externals: &ExternalDefinitions,
    depth: usize,
) -> std::result::Result<Value, String> {
    if depth > MAX_INLINE_DEPTH {
        return Err(format!(
            "{name} refers to itself too deeply to be inlined into a CRD"
        ));
    }
    let definition = externals
        .definitions
        .get(name)
        .ok_or_else(|| unknown_type_message(name))?;
    inline_value(definition, externals, depth + 1)
}

fn inline_value(
    value: &Value,
    externals: &ExternalDefinitions,
    depth: usize,
) -> std::result::Result<Value, String> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let mut inlined = inline_definition(reference, externals, depth)?;
                if let (Some(description), Value::Object(target)) =
                    (map.get("description"), &mut inlined)
                {
                    target.insert("description".into(), description.clone());
                }
                return Ok(inlined);
            }
            // OpenAPI 3.0 ignores siblings of `$ref`, so schemars writes a described reference as
            // `{description, allOf: [{$ref}]}`. A structural schema forbids `type`/`properties`
            // inside `allOf`, so a one-element `allOf` is folded into its parent instead.
            if let Some(Value::Array(all_of)) = map.get("allOf")
                && let [single] = all_of.as_slice()
            {
                let mut folded = inline_value(single, externals, depth)?;
                if let Value::Object(target) = &mut folded {
                    for (key, child) in map.iter().filter(|(key, _)| *key != "allOf") {
                        target.insert(key.clone(), inline_value(child, externals, depth)?);
                    }
                }
                return Ok(folded);
            }
            let mut out = Map::new();
            for (key, child) in map {
                out.insert(key.clone(), inline_value(child, externals, depth)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|v| inline_value(v, externals, depth))
                .collect::<std::result::Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

pub fn unknown_type_message(name: &str) -> String {
    format!(
        "$ref {name:?} is not a Kubernetes type this build knows (add it to KUBERNETES_TYPES in build.rs)"
    )
}

/// Rewrites the bare `$ref` names of an external definition for `dialect` (not Structural).
pub fn rewrite_refs(value: &Value, dialect: Dialect<'_>) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(name)) => {
                        if let Value::Object(reference) = dialect.reference(name) {
                            out.extend(reference);
                        }
                    }
                    _ => {
                        out.insert(key.clone(), rewrite_refs(child, dialect));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| rewrite_refs(v, dialect)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn externals() -> ExternalDefinitions {
        let mut definitions = BTreeMap::new();
        definitions.insert(
            "io.k8s.Inner".to_string(),
            json!({ "description": "inner type", "type": "object",
                    "properties": { "q": { "x-kubernetes-int-or-string": true } } }),
        );
        definitions.insert(
            "io.k8s.Outer".to_string(),
            json!({ "type": "object", "properties": {
                "described": { "description": "field doc", "allOf": [{ "$ref": "io.k8s.Inner" }] },
                "plain": { "$ref": "io.k8s.Inner" },
            } }),
        );
        ExternalDefinitions { definitions }
    }

    #[test]
    fn one_element_all_of_is_folded_into_its_parent() {
        let inlined = inline_definition("io.k8s.Outer", &externals(), 0).unwrap();
        let described = &inlined["properties"]["described"];
        assert!(described.get("allOf").is_none(), "{described}");
        assert_eq!(described["description"], "field doc");
        assert_eq!(described["type"], "object");
        assert_eq!(
            described["properties"]["q"]["x-kubernetes-int-or-string"],
            true
        );
        let plain = &inlined["properties"]["plain"];
        assert_eq!(plain["description"], "inner type");
        assert_eq!(plain["type"], "object");
    }

    #[test]
    fn multi_element_all_of_is_kept() {
        let mut ext = externals();
        ext.definitions.insert(
            "io.k8s.Both".to_string(),
            json!({ "allOf": [{ "$ref": "io.k8s.Inner" }, { "minProperties": 1 }] }),
        );
        let inlined = inline_definition("io.k8s.Both", &ext, 0).unwrap();
        let all_of = inlined["allOf"].as_array().unwrap();
        assert_eq!(all_of.len(), 2);
        assert_eq!(all_of[0]["type"], "object");
    }
}
