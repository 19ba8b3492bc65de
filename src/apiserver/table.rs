//! `meta.k8s.io` Table rendering (what `kubectl get` asks for): a Name column, then the schema's
//! printer columns evaluated like a CRD's (`date` columns as a human age such as `5m30s`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
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

/// What a Table is made of. Rendering serializes straight from the borrowed objects: no row is
/// built as a `Value` and no object or metadata is copied, so a Table of a large list costs one
/// pass over it.
pub struct TableInput<'a> {
    pub meta_version: &'a str,
    pub objects: &'a [&'a Value],
    /// The list's metadata (resourceVersion, continue, remainingItemCount), copied as given.
    pub list_metadata: &'a Value,
    pub include: IncludeObject,
    /// Column definitions are sent once per Table (watch frames after the first omit them).
    pub with_columns: bool,
}

/// A whole Table as a `Value` (single objects, watch frames).
pub fn table(r: &ResourceDescriptor, input: &TableInput<'_>) -> Value {
    // Serializing borrowed values into a `Value` cannot fail (string keys only).
    serde_json::to_value(TableOut::new(r, input)).unwrap_or(Value::Null)
}

/// A whole Table as JSON bytes (lists). `size_hint`: the expected length, so the buffer is
/// allocated once instead of doubling (and copying) its way up to a multi-megabyte Table.
pub fn table_json(
    r: &ResourceDescriptor,
    input: &TableInput<'_>,
    size_hint: usize,
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint);
    serde_json::to_writer(&mut out, &TableOut::new(r, input))?;
    Ok(out)
}

struct TableOut<'a> {
    r: &'a ResourceDescriptor,
    input: &'a TableInput<'a>,
    paths: Arc<[ColumnPath]>,
    now: jiff::Timestamp,
}

impl<'a> TableOut<'a> {
    fn new(r: &'a ResourceDescriptor, input: &'a TableInput<'a>) -> Self {
        TableOut {
            r,
            input,
            paths: column_paths(r),
            now: jiff::Timestamp::now(),
        }
    }
}

impl Serialize for TableOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let input = self.input;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("kind", "Table")?;
        map.serialize_entry("apiVersion", &MetaApiVersion(input.meta_version))?;
        map.serialize_entry("metadata", input.list_metadata)?;
        let columns = if input.with_columns {
            column_definitions(self.r)
        } else {
            Vec::new()
        };
        map.serialize_entry("columnDefinitions", &columns)?;
        map.serialize_entry("rows", &Rows(self))?;
        map.end()
    }
}

/// `meta.k8s.io/<version>`, written without building the string.
struct MetaApiVersion<'a>(&'a str);

impl Serialize for MetaApiVersion<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("meta.k8s.io/{}", self.0))
    }
}

struct Rows<'t, 'a>(&'t TableOut<'a>);

impl Serialize for Rows<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = self.0;
        serializer.collect_seq(
            table
                .input
                .objects
                .iter()
                .map(|object| Row { table, object }),
        )
    }
}

/// One Table row: the cells, then (unless `includeObject=None`) the object or its metadata.
struct Row<'t, 'a> {
    table: &'t TableOut<'a>,
    object: &'a Value,
}

impl Serialize for Row<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Row { table, object } = self;
        let include = table.input.include;
        let mut map =
            serializer.serialize_map(Some(if include == IncludeObject::None { 1 } else { 2 }))?;
        map.serialize_entry("cells", &Cells { table, object })?;
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => map.serialize_entry(
                "object",
                &PartialMetadata {
                    meta_version: table.input.meta_version,
                    object,
                },
            )?,
            IncludeObject::Object => map.serialize_entry("object", object)?,
        }
        map.end()
    }
}

/// The Name cell, then one cell per printer column.
struct Cells<'t, 'a> {
    table: &'t TableOut<'a>,
    object: &'a Value,
}

impl Serialize for Cells<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Cells { table, object } = self;
        let columns = table.r.printer_columns;
        let mut seq = serializer.serialize_seq(Some(columns.len() + 1))?;
        seq.serialize_element(object.pointer("/metadata/name").unwrap_or(&Value::Null))?;
        for (column, path) in columns.iter().zip(table.paths.iter()) {
            match (column.type_, path.first(object)) {
                (_, None | Some(Value::Null)) => seq.serialize_element(&Value::Null)?,
                ("date", Some(Value::String(s))) => match s.parse::<jiff::Timestamp>() {
                    Ok(t) => seq.serialize_element(&human_age(table.now, t))?,
                    Err(_) => seq.serialize_element(s)?,
                },
                (_, Some(v)) => seq.serialize_element(v)?,
            }
        }
        seq.end()
    }
}

/// `partial_metadata`, serialized from the borrowed object.
struct PartialMetadata<'a> {
    meta_version: &'a str,
    object: &'a Value,
}

impl Serialize for PartialMetadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("kind", "PartialObjectMetadata")?;
        map.serialize_entry("apiVersion", &MetaApiVersion(self.meta_version))?;
        match self.object.get("metadata") {
            Some(metadata) => map.serialize_entry("metadata", metadata)?,
            None => map.serialize_entry("metadata", &serde_json::Map::new())?,
        }
        map.end()
    }
}

/// Evaluates a printer column's JSONPath (kubectl style, `.status.conditions[?(@.type=="Ready")].status`)
/// as RFC 9535 JSONPath rooted at the object. Like kube's table convertor, the first match is
/// the cell. The generator refuses paths that do not parse, so `None` here means "no match".
pub fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    ColumnPath::compile(path).first(object)
}

/// A printer column's path, compiled once per resource.
enum ColumnPath {
    /// `.a.b.c` (member-name shorthands only): walked field by field, without allocating.
    Fields(Vec<String>),
    /// Anything else (indices, filters): a compiled RFC 9535 query.
    Query(JsonPath),
    /// Does not parse (the generator refuses these): matches nothing.
    Invalid,
}

impl ColumnPath {
    fn compile(path: &str) -> Self {
        if let Some(fields) = shorthand_fields(path) {
            return ColumnPath::Fields(fields);
        }
        match JsonPath::parse(&format!("${path}")) {
            Ok(query) => ColumnPath::Query(query),
            Err(_) => ColumnPath::Invalid,
        }
    }

    fn first<'a>(&self, object: &'a Value) -> Option<&'a Value> {
        match self {
            ColumnPath::Fields(fields) => fields
                .iter()
                .try_fold(object, |value, field| value.as_object()?.get(field)),
            ColumnPath::Query(query) => query.query(object).first(),
            ColumnPath::Invalid => None,
        }
    }
}

/// The fields of a path made only of RFC 9535 member-name shorthands (`.name`: a letter or `_`,
/// then letters, digits or `_`; ASCII here), which select an object member or nothing.
fn shorthand_fields(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('.')?;
    rest.split('.')
        .map(|field| {
            let mut chars = field.chars();
            let first = chars.next()?;
            let valid = (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid.then(|| field.to_string())
        })
        .collect()
}

/// The compiled column paths of `r`, built on its first Table.
fn column_paths(r: &ResourceDescriptor) -> Arc<[ColumnPath]> {
    type Cache = Mutex<HashMap<(&'static str, &'static str, &'static str), Arc<[ColumnPath]>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry((r.group, r.version, r.plural))
        .or_insert_with(|| {
            r.printer_columns
                .iter()
                .map(|c| ColumnPath::compile(c.json_path))
                .collect()
        })
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
            &TableInput {
                meta_version: "v1",
                objects: &[&obj],
                list_metadata: &json!({"resourceVersion": "7"}),
                include: IncludeObject::None,
                with_columns: true,
            },
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
    fn shorthand_paths_select_what_the_jsonpath_query_selects() {
        let v = json!({"spec": {"running": true, "list": [1], "_x1": 2}, "x": 1});
        for path in [
            ".spec.running",
            ".spec.missing",
            ".x.y",
            ".spec.list",
            ".spec._x1",
        ] {
            assert!(
                matches!(ColumnPath::compile(path), ColumnPath::Fields(_)),
                "{path}"
            );
            let query = JsonPath::parse(&format!("${path}")).unwrap();
            assert_eq!(lookup(&v, path), query.query(&v).first(), "{path}");
        }
        for path in [".spec.list[0]", ".spec['running']", ".1x", ".a-b", "spec"] {
            assert!(
                !matches!(ColumnPath::compile(path), ColumnPath::Fields(_)),
                "{path}"
            );
        }
        assert_eq!(lookup(&v, ".spec.list[0]"), Some(&json!(1)));
    }

    #[test]
    fn rows_carry_the_partial_metadata_or_the_whole_object() {
        let r = crate::api::registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces")
            .unwrap();
        let obj =
            json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"running": false}});
        let render = |include| {
            table(
                r,
                &TableInput {
                    meta_version: "v1beta1",
                    objects: &[&obj, &obj],
                    list_metadata: &json!({"resourceVersion": "7"}),
                    include,
                    with_columns: false,
                },
            )
        };
        let t = render(IncludeObject::Metadata);
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["columnDefinitions"], json!([]));
        assert_eq!(t["rows"].as_array().unwrap().len(), 2);
        assert_eq!(
            t["rows"][1]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1beta1",
                   "metadata": {"name": "a", "labels": {"x": "y"}}})
        );
        let running = 1 + r
            .printer_columns
            .iter()
            .position(|c| c.json_path == ".spec.running")
            .unwrap();
        assert_eq!(t["rows"][0]["cells"][running], false);
        assert_eq!(render(IncludeObject::Object)["rows"][0]["object"], obj);
        // The bytes of a list are the same Table.
        let bytes = table_json(
            r,
            &TableInput {
                meta_version: "v1beta1",
                objects: &[&obj, &obj],
                list_metadata: &json!({"resourceVersion": "7"}),
                include: IncludeObject::Metadata,
                with_columns: false,
            },
            0,
        )
        .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), t);
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
