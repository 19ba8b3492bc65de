//! `meta.k8s.io` Table rendering (what `kubectl get` asks for): a Name column, then the schema's
//! printer columns evaluated like a CRD's (`date` columns as a human age such as `5m30s`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use serde_json_path::JsonPath;

use super::status::ApiError;
use crate::api::registry::ResourceDescriptor;

/// `includeObject`: what each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(ApiError::bad_request(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"Metadata\", \"None\", \"Object\""
            ))),
        }
    }
}

/// Column definitions: Name, then the printer columns in schema order.
pub fn column_definitions(r: &ResourceDescriptor) -> Vec<Value> {
    let mut columns = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.",
        "priority": 0,
    })];
    for c in r.printer_columns {
        columns.push(json!({
            "name": c.name,
            "type": c.type_,
            "format": c.format.unwrap_or(""),
            "description": c.description.unwrap_or(""),
            "priority": c.priority,
        }));
    }
    columns
}

/// A PartialObjectMetadata of an object, as metadata clients and Table rows carry it.
pub fn partial_metadata(object: &Value, meta_version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{meta_version}"),
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// One Table row.
pub fn row(
    r: &ResourceDescriptor,
    object: &Value,
    include: IncludeObject,
    meta_version: &str,
    now: jiff::Timestamp,
) -> Value {
    let mut cells = Vec::with_capacity(r.printer_columns.len() + 1);
    cells.push(
        object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null),
    );
    for c in r.printer_columns {
        let value = lookup(object, c.json_path);
        let cell = match (c.type_, value) {
            (_, None | Some(Value::Null)) => Value::Null,
            ("date", Some(Value::String(s))) => match s.parse::<jiff::Timestamp>() {
                Ok(t) => Value::String(human_age(now, t)),
                Err(_) => Value::String(s.clone()),
            },
            (_, Some(v)) => v.clone(),
        };
        cells.push(cell);
    }
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(object, meta_version),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

/// A whole Table. `list_metadata` (resourceVersion, continue, remainingItemCount) is copied.
pub fn table(
    r: &ResourceDescriptor,
    meta_version: &str,
    objects: &[Value],
    list_metadata: Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{meta_version}"),
        "metadata": list_metadata,
        "columnDefinitions": if with_columns { column_definitions(r) } else { Vec::new() },
        "rows": objects.iter().map(|o| row(r, o, include, meta_version, now)).collect::<Vec<_>>(),
    })
}

/// Evaluates a printer column's JSONPath (kubectl style, `.status.conditions[?(@.type=="Ready")].status`)
/// as RFC 9535 JSONPath rooted at the object. Like kube's table convertor, the first match is
/// the cell. The generator refuses paths that do not parse, so `None` here means "no match".
pub fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let compiled = compiled_path(path)?;
    compiled.query(object).first()
}

/// Column paths are few and fixed; each is parsed once.
fn compiled_path(path: &str) -> Option<Arc<JsonPath>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<JsonPath>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(path.to_string())
        .or_insert_with(|| JsonPath::parse(&format!("${path}")).ok().map(Arc::new))
        .clone()
}

/// Human age of `then` seen at `now`, following the rounding rules of
/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration` so columns match kube's.
pub fn human_age(now: jiff::Timestamp, then: jiff::Timestamp) -> String {
    let seconds = now.as_second() - then.as_second();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ages_round_like_kube() {
        let now = at("2026-01-10T00:00:00Z");
        assert_eq!(human_age(now, at("2026-01-09T23:59:30Z")), "30s");
        assert_eq!(human_age(now, at("2026-01-09T23:55:30Z")), "4m30s");
        assert_eq!(human_age(now, at("2026-01-09T23:00:00Z")), "60m");
        assert_eq!(human_age(now, at("2026-01-09T19:30:00Z")), "4h30m");
        assert_eq!(human_age(now, at("2026-01-07T00:00:00Z")), "3d");
        assert_eq!(human_age(now, at("2026-01-11T00:00:00Z")), "<invalid>");
    }

    #[test]
    fn rows_have_name_then_printer_columns() {
        let r = crate::api::registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces")
            .unwrap();
        let obj = json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-09T23:59:00Z"},
                         "spec": {"running": true}});
        let t = table(
            r,
            "v1",
            &[obj],
            json!({"resourceVersion": "7"}),
            IncludeObject::None,
            true,
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        let cols = t["columnDefinitions"].as_array().unwrap();
        assert_eq!(cols[0]["name"], "Name");
        assert_eq!(cols.len(), r.printer_columns.len() + 1);
        let cells = t["rows"][0]["cells"].as_array().unwrap();
        assert_eq!(cells[0], "a");
        assert!(t["rows"][0].get("object").is_none());
    }

    #[test]
    fn lookup_handles_indices() {
        let v = json!({"a": {"b": [{"c": 1}]}});
        assert_eq!(lookup(&v, ".a.b[0].c"), Some(&json!(1)));
        assert_eq!(lookup(&v, ".a.x"), None);
    }

    #[test]
    fn lookup_evaluates_kubectl_style_filters() {
        let v = json!({"status": {"conditions": [
            {"type": "Scheduled", "status": "True"},
            {"type": "Ready", "status": "False"}
        ]}});
        assert_eq!(
            lookup(&v, r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(&json!("False"))
        );
        assert_eq!(
            lookup(&v, r#".status.conditions[?(@.type=="Gone")].status"#),
            None
        );
        assert_eq!(
            lookup(&v, ".status.conditions[-1].type"),
            Some(&json!("Ready"))
        );
    }
}
