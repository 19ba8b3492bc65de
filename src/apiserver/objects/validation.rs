//! Body validation against the generated OpenAPI v3 schema of a kind, the way kube-apiserver
//! treats a CRD's structural schema: nulls of non-nullable fields are dropped, unknown fields
//! are pruned (and reported, for `fieldValidation`), defaults are filled in (structural
//! defaulting), then types, required fields, enums, formats, patterns and bounds are checked,
//! one `Cause` per failing field, worded like kube-openapi's validator.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value};

use super::{Cause, Error};
use crate::api::registry::ResourceDescriptor;

/// What validating one body found.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub causes: Vec<Cause>,
    /// Paths of pruned unknown fields, e.g. `spec.foo`.
    pub unknown_fields: Vec<String>,
}

type Documents = HashMap<String, Value>;

/// The OpenAPI v3 documents, parsed once, keyed like `apis/<group>/<version>`.
fn documents() -> &'static Result<Documents, String> {
    static DOCS: OnceLock<Result<Documents, String>> = OnceLock::new();
    DOCS.get_or_init(|| {
        crate::api::OPENAPI_V3
            .iter()
            .map(|(key, text)| {
                serde_json::from_str(text)
                    .map(|doc| (key.to_string(), doc))
                    .map_err(|e| format!("generated OpenAPI document {key} is not JSON: {e}"))
            })
            .collect()
    })
}

/// The schema of a kind and the `components.schemas` its `$ref`s point into.
pub struct KindSchema {
    root: &'static Value,
    components: &'static Map<String, Value>,
}

impl KindSchema {
    pub fn of(r: &ResourceDescriptor) -> Result<Self, Error> {
        let docs = documents()
            .as_ref()
            .map_err(|e| Error::Internal(e.clone()))?;
        let key = format!("apis/{}/{}", r.group, r.version);
        let components = docs
            .get(&key)
            .and_then(|doc| doc.pointer("/components/schemas"))
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Internal(format!("no OpenAPI v3 document for {key}")))?;
        let root = components.get(r.openapi_definition).ok_or_else(|| {
            Error::Internal(format!(
                "no OpenAPI schema {} for {}",
                r.openapi_definition, r.kind
            ))
        })?;
        Ok(KindSchema { root, components })
    }

    /// The schema `definition` of an OpenAPI v3 document other than the generated ones (the
    /// parity tests validate a fixture schema both here and in kube-apiserver).
    pub fn from_document(document: &'static Value, definition: &str) -> Result<Self, Error> {
        let components = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Internal("the document has no components.schemas".into()))?;
        let root = components
            .get(definition)
            .ok_or_else(|| Error::Internal(format!("no OpenAPI schema {definition}")))?;
        Ok(KindSchema { root, components })
    }

    /// Prunes `body` in place and reports what is wrong with it.
    pub fn validate(&self, body: &mut Value) -> Report {
        self.validate_scoped(body, "")
    }

    /// Like `validate`, for a write to the status subresource: kube validates the status
    /// schema on its own there, so messages say `autoShutdown in body`, while cause fields
    /// keep the full path (`status.autoShutdown`).
    pub fn validate_status(&self, body: &mut Value) -> Report {
        self.validate_scoped(body, "status.")
    }

    fn validate_scoped(&self, body: &mut Value, body_root: &'static str) -> Report {
        let mut walker = Walker {
            components: self.components,
            report: Report::default(),
            body_root,
        };
        walker.walk("", body, self.root, false);
        // Bodies keep their key order; sort so messages do not depend on how clients order keys.
        walker.report.causes.sort_by(|a, b| a.field.cmp(&b.field));
        walker.report.unknown_fields.sort();
        walker.report
    }
}

struct Walker {
    components: &'static Map<String, Value>,
    report: Report,
    /// Prefix left out of the `<path> in body` part of messages.
    body_root: &'static str,
}

/// The Go-ish rendering kube uses for values in field errors: strings quoted, scalars bare,
/// anything else as JSON.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Go's `%q` for the strings that occur here (JSON escaping matches it for printable text).
pub(crate) fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn bool_flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

impl Walker {
    /// The path as the `… in body …` part of a message names it.
    /// `path` relative to the body root (borrowed: most fields are valid and it is then
    /// never printed).
    fn in_body<'p>(&self, path: &'p str) -> &'p str {
        path.strip_prefix(self.body_root).unwrap_or(path)
    }

    fn cause(&mut self, field: &str, reason: &str, message: String) {
        self.report.causes.push(Cause {
            field: field.to_string(),
            reason: reason.to_string(),
            message,
        });
    }

    /// Follows `$ref` and single-element `allOf` wrappers (how the generator references
    /// Kubernetes types). Returns the schema and whether it came from a Kubernetes type.
    fn resolve<'s>(&self, schema: &'s Value, mut kube_type: bool) -> (&'s Value, bool)
    where
        'static: 's,
    {
        let mut current = schema;
        // Bounded: reference chains in generated documents are short; a cycle must not hang.
        for _ in 0..16 {
            if let Some(target) = current.get("$ref").and_then(Value::as_str) {
                let name = target.rsplit('/').next().unwrap_or(target);
                kube_type |= name.starts_with("io.k8s.");
                match self.components.get(name) {
                    Some(next) => current = next,
                    None => return (current, kube_type),
                }
            } else if let Some([only]) = current
                .get("allOf")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                && current.get("type").is_none()
                && current.get("properties").is_none()
            {
                current = only;
            } else {
                break;
            }
        }
        (current, kube_type)
    }

    fn walk(&mut self, path: &str, value: &mut Value, schema: &'static Value, kube_type: bool) {
        let (schema, kube_type) = self.resolve(schema, kube_type);

        if value.is_null() {
            // Non-nullable nulls are removed by the parent object before we get here; a null
            // left here is an array item or a nullable field.
            if !bool_flag(schema, "nullable") && schema.get("type").is_some() {
                let expected = schema.get("type").and_then(Value::as_str).unwrap_or("");
                self.type_invalid(path, value, expected);
            }
            return;
        }

        if bool_flag(schema, "x-kubernetes-int-or-string") {
            if !matches!(json_type(value), "integer" | "string") {
                self.type_invalid(path, value, "integer,string");
                // The `anyOf: [{type: integer}, {type: string}]` beside it (structural schemas
                // carry it) fails too; kube-openapi reports the first branch's error as well.
                if let Some(first) = schema.pointer("/anyOf/0/type").and_then(Value::as_str) {
                    self.type_invalid(path, value, first);
                }
            }
            return;
        }

        if let Some(expected) = schema.get("type").and_then(Value::as_str) {
            let actual = json_type(value);
            let ok = actual == expected || (expected == "number" && actual == "integer");
            if !ok {
                self.type_invalid(path, value, expected);
                return;
            }
        }

        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let supported = allowed.iter().map(render).collect::<Vec<_>>().join(", ");
            self.cause(
                path,
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {}: supported values: {supported}",
                    render(value)
                ),
            );
        }

        match value {
            Value::String(s) => self.check_string(path, s, schema),
            Value::Number(n) => self.check_number(path, n, schema),
            Value::Array(items) => self.walk_array(path, items, schema, kube_type),
            Value::Object(map) => self.walk_object(path, map, schema, kube_type),
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn type_invalid(&mut self, path: &str, value: &Value, expected: &str) {
        let in_body = self.in_body(path);
        // kube-openapi reports the type it found as the value, not the value itself.
        let found = quote(json_type(value));
        let message = format!(
            "Invalid value: {found}: {in_body} in body must be of type {expected}: {found}"
        );
        self.cause(path, "FieldValueTypeInvalid", message);
    }

    fn check_string(&mut self, path: &str, s: &str, schema: &Value) {
        let in_body = self.in_body(path);
        // Quoted only for a cause: most strings are valid.
        let rendered = || quote(s);
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            let valid = match format {
                "date-time" => s.parse::<jiff::Timestamp>().is_ok(),
                "date" => s.parse::<jiff::civil::Date>().is_ok() && s.len() == 10,
                "byte" => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                }
                // Other formats (hostname, uuid, ...) are advisory here.
                _ => true,
            };
            if !valid {
                self.cause(
                    path,
                    "FieldValueTypeInvalid",
                    format!("Invalid value: {rendered}: {in_body} in body must be of type {format}: {rendered}", rendered = rendered()),
                );
            }
        }
        let chars = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            self.cause(
                path,
                "FieldValueTooLong",
                format!("Too long: may not be more than {max} bytes"),
            );
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            self.cause(
                path,
                "FieldValueInvalid",
                format!(
                    "Invalid value: {rendered}: {in_body} in body should be at least {min} chars long",
                    rendered = rendered()
                ),
            );
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            match pattern_matches(pattern, s) {
                Ok(true) => {}
                Ok(false) => self.cause(
                    path,
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: {rendered}: {in_body} in body should match '{pattern}'",
                        rendered = rendered()
                    ),
                ),
                // The generator compiles every pattern, so this is a schema bug, not bad input.
                Err(e) => self.cause(
                    path,
                    "InternalError",
                    format!(
                        "Internal error: the schema's pattern '{pattern}' does not compile: {e}"
                    ),
                ),
            }
        }
    }

    fn check_number(&mut self, path: &str, n: &serde_json::Number, schema: &Value) {
        let in_body = self.in_body(path);
        let Some(x) = n.as_f64() else { return };
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let exclusive = bool_flag(schema, "exclusiveMinimum");
            if x < min || (exclusive && x == min) {
                let relation = if exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                self.cause(
                    path,
                    "FieldValueInvalid",
                    format!("Invalid value: {n}: {in_body} in body should be {relation} {min}"),
                );
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let exclusive = bool_flag(schema, "exclusiveMaximum");
            if x > max || (exclusive && x == max) {
                let relation = if exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                self.cause(
                    path,
                    "FieldValueInvalid",
                    format!("Invalid value: {n}: {in_body} in body should be {relation} {max}"),
                );
            }
        }
        if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64)
            && factor > 0.0
        {
            let quotient = x / factor;
            if quotient.fract() != 0.0 || !quotient.is_finite() {
                let factor = schema.get("multipleOf").cloned().unwrap_or(Value::Null);
                self.cause(
                    path,
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: {n}: {in_body} in body should be a multiple of {factor}"
                    ),
                );
            }
        }
    }

    fn walk_array(
        &mut self,
        path: &str,
        items: &mut [Value],
        schema: &'static Value,
        kube_type: bool,
    ) {
        let in_body = self.in_body(path);
        let len = items.len() as u64;
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            self.cause(
                path,
                "FieldValueTooMany",
                format!("Too many: {len}: must have at most {max} items"),
            );
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            self.cause(
                path,
                "FieldValueInvalid",
                format!("Invalid value: {len}: {in_body} in body should have at least {min} items"),
            );
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter_mut().enumerate() {
                self.walk(&format!("{path}[{i}]"), item, item_schema, kube_type);
            }
        }
    }

    fn walk_object(
        &mut self,
        path: &str,
        map: &mut Map<String, Value>,
        schema: &'static Value,
        kube_type: bool,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let preserve = bool_flag(schema, "x-kubernetes-preserve-unknown-fields")
            || matches!(additional, Some(Value::Bool(true)))
            // Kubernetes types declared as a bare `type: object` (FieldsV1) hold arbitrary JSON.
            || (kube_type && properties.is_none() && additional.is_none());

        if !kube_type && let Some(properties) = properties {
            apply_defaults(map, properties, |s| self.resolve(s, false).0);
        }
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let field_schema = properties
                .and_then(|p| p.get(&key))
                .or_else(|| additional.filter(|a| a.is_object()));
            let Some(field_schema) = field_schema else {
                if !preserve {
                    map.remove(&key);
                    self.report.unknown_fields.push(join(path, &key));
                }
                continue;
            };
            let is_property = properties.is_some_and(|p| p.contains_key(&key));
            let child_path = if is_property {
                join(path, &key)
            } else {
                format!("{path}[{key}]")
            };
            if map.get(&key).is_some_and(Value::is_null) {
                let (resolved, _) = self.resolve(field_schema, kube_type);
                if !bool_flag(resolved, "nullable") {
                    map.remove(&key);
                    continue;
                }
            }
            if let Some(child) = map.get_mut(&key) {
                self.walk(&child_path, child, field_schema, kube_type);
            }
        }

        self.check_property_count(path, map.len() as u64, schema);
        // Kubernetes types (ObjectMeta, OwnerReference) are checked by their own rules
        // (`metadata.rs`), as kube does for custom resources, not by their OpenAPI `required`.
        if !kube_type && let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    self.cause(
                        &join(path, name),
                        "FieldValueRequired",
                        "Required value".into(),
                    );
                }
            }
        }
    }
}

impl Walker {
    fn check_property_count(&mut self, path: &str, count: u64, schema: &Value) {
        let in_body = self.in_body(path);
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
            && count > max
        {
            self.cause(
                path,
                "FieldValueTooMany",
                format!("Too many: {count}: must have at most {max} items"),
            );
        }
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
            && count < min
        {
            self.cause(
                path,
                "FieldValueInvalid",
                format!(
                    "Invalid value: {count}: {in_body} in body should have at least {min} properties"
                ),
            );
        }
    }
}

/// Structural defaulting, as kube applies it to a CRD's objects: a declared property that is
/// absent (or null without `nullable`) gets a copy of its `default`; the walk then descends
/// into it, so an object default of `{}` fills in its own fields' defaults.
fn apply_defaults<'s>(
    map: &mut Map<String, Value>,
    properties: &'s Map<String, Value>,
    resolve: impl Fn(&'s Value) -> &'s Value,
) {
    for (name, field_schema) in properties {
        let field_schema = resolve(field_schema);
        let Some(default) = field_schema.get("default") else {
            continue;
        };
        let missing = match map.get(name) {
            None => true,
            Some(Value::Null) => !bool_flag(field_schema, "nullable"),
            Some(_) => false,
        };
        if missing {
            map.insert(name.clone(), default.clone());
        }
    }
}

/// Whether `text` matches `pattern` (unanchored, like Go's `regexp.MatchString` that kube
/// uses). Compiled patterns are cached: a schema has few, and every request checks them.
fn pattern_matches(pattern: &str, text: &str) -> Result<bool, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(re) = cache.get(pattern) {
        return Ok(re.is_match(text));
    }
    let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
    let matched = re.is_match(text);
    cache.insert(pattern.to_string(), re);
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workspace() -> &'static ResourceDescriptor {
        crate::api::registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces").unwrap()
    }

    fn check(body: Value) -> (Value, Report) {
        let mut body = body;
        let report = KindSchema::of(workspace()).unwrap().validate(&mut body);
        (body, report)
    }

    #[test]
    fn wrong_type_is_one_cause_worded_like_kube() {
        let (_, report) = check(json!({"spec": {"running": "yes"}}));
        assert_eq!(
            report.causes,
            vec![Cause {
                field: "spec.running".into(),
                reason: "FieldValueTypeInvalid".into(),
                message: r#"Invalid value: "string": spec.running in body must be of type boolean: "string""#.into(),
            }]
        );
    }

    #[test]
    fn unknown_fields_are_pruned_and_reported_but_metadata_fields_kept() {
        let (body, report) = check(json!({
            "metadata": {"name": "a", "labels": {"x": "y"}, "bogus": 1,
                          "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"running": true, "foo": 1},
            "extra": {}
        }));
        assert_eq!(report.causes, vec![]);
        assert_eq!(
            report.unknown_fields,
            vec!["extra", "metadata.bogus", "spec.foo"]
        );
        assert_eq!(
            body,
            json!({
                "metadata": {"name": "a", "labels": {"x": "y"},
                              "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
                "spec": {"running": true}
            })
        );
    }

    #[test]
    fn null_non_nullable_fields_are_dropped() {
        let (body, report) = check(json!({"spec": {"running": null}, "status": null}));
        assert!(report.causes.is_empty());
        assert_eq!(body, json!({"spec": {}}));
    }

    #[test]
    fn date_time_format_is_checked() {
        let (_, ok) = check(json!({"status": {"autoShutdown": "2030-01-01T18:00:00Z"}}));
        assert!(ok.causes.is_empty());
        let (_, bad) = check(json!({"status": {"autoShutdown": "tomorrow"}}));
        assert_eq!(bad.causes.len(), 1);
        assert_eq!(bad.causes[0].field, "status.autoShutdown");
        assert_eq!(
            bad.causes[0].message,
            r#"Invalid value: "tomorrow": status.autoShutdown in body must be of type date-time: "tomorrow""#
        );
    }

    /// Keywords our kinds do not use yet, on an inline schema.
    #[test]
    fn required_enum_int_or_string_and_maps() {
        let schema: &'static Value = Box::leak(Box::new(json!({
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {"type": "string", "enum": ["a", "b"]},
                "port": {"x-kubernetes-int-or-string": true},
                "count": {"type": "integer", "minimum": 1},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "list": {"type": "array", "items": {"type": "integer"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        })));
        let components: &'static Map<String, Value> = Box::leak(Box::new(Map::new()));
        let kind = KindSchema {
            root: schema,
            components,
        };
        let mut ok = json!({"mode": "a", "port": "http", "count": 2, "tags": {"k": "v"},
                            "list": [1, 2], "free": {"anything": [1]}});
        assert_eq!(kind.validate(&mut ok), Report::default());

        let mut bad =
            json!({"port": 1.5, "count": 0, "tags": {"k": 1}, "list": [1, "x"], "mode": "c"});
        let report = kind.validate(&mut bad);
        let fields: Vec<(&str, &str)> = report
            .causes
            .iter()
            .map(|c| (c.field.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("count", "FieldValueInvalid"),
                ("list[1]", "FieldValueTypeInvalid"),
                ("mode", "FieldValueNotSupported"),
                ("port", "FieldValueTypeInvalid"),
                ("tags[k]", "FieldValueTypeInvalid"),
            ]
        );
        assert_eq!(
            report.causes[2].message,
            r#"Unsupported value: "c": supported values: "a", "b""#
        );

        let mut missing = json!({});
        let report = kind.validate(&mut missing);
        assert_eq!(report.causes[0].field, "mode");
        assert_eq!(report.causes[0].message, "Required value");
    }

    /// Messages as kube-apiserver 1.36 words them for a CRD with the same schema (the parity
    /// suite compares them live; these pin them without a cluster).
    #[test]
    fn bounds_patterns_and_defaults_like_kube() {
        let schema: &'static Value = Box::leak(Box::new(json!({
            "type": "object",
            "properties": {
                "running": {"type": "boolean", "default": false},
                "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                "size": {"type": "integer", "minimum": 1, "maximum": 10, "multipleOf": 2},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true,
                          "maximum": 1, "exclusiveMaximum": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                           "minProperties": 1, "maxProperties": 2},
                "nested": {"type": "object", "default": {},
                           "properties": {"level": {"type": "string", "default": "info"}}}
            }
        })));
        let components: &'static Map<String, Value> = Box::leak(Box::new(Map::new()));
        let kind = KindSchema {
            root: schema,
            components,
        };
        let mut bad = json!({"name": "A1", "size": 11, "ratio": 1, "labels": {}});
        let report = kind.validate(&mut bad);
        let messages: Vec<String> = report.causes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "labels: Invalid value: 0: labels in body should have at least 1 properties",
                "name: Invalid value: \"A1\": name in body should match '^[a-z]+$'",
                "ratio: Invalid value: 1: ratio in body should be less than 1",
                "size: Invalid value: 11: size in body should be less than or equal to 10",
                "size: Invalid value: 11: size in body should be a multiple of 2",
            ]
        );
        let mut many = json!({"labels": {"a": "1", "b": "2", "c": "3"}, "ratio": 0});
        let report = kind.validate(&mut many);
        let messages: Vec<String> = report.causes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "labels: Too many: 3: must have at most 2 items",
                "ratio: Invalid value: 0: ratio in body should be greater than 0",
            ]
        );

        let mut empty = json!({"running": null});
        assert!(kind.validate(&mut empty).causes.is_empty());
        assert_eq!(
            empty,
            json!({"running": false, "nested": {"level": "info"}}),
            "absent and null fields get their defaults, object defaults get theirs"
        );
        let mut set = json!({"running": true, "nested": {"level": "debug"}});
        kind.validate(&mut set);
        assert_eq!(set, json!({"running": true, "nested": {"level": "debug"}}));
    }
}
