//! `meta.k8s.io` Table rendering (what `kubectl get` asks for): a Name column, then the schema's
//! printer columns evaluated like a CRD's (`date` columns as a human age such as `5m30s`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use serde_json_path::JsonPath;

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::status::ApiError;

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
/// pass over it. `O` is a parsed `Value` (single objects, watch frames) or a stored revision's
/// JSON text (`[u8]`, lists), whose cells and metadata are projected out of the text.
pub struct TableInput<'a, O: TableObject + ?Sized = Value> {
    pub meta_version: &'a str,
    pub objects: &'a [&'a O],
    /// The list's metadata (resourceVersion, continue, remainingItemCount), copied as given.
    pub list_metadata: &'a Value,
    pub include: IncludeObject,
    /// Column definitions are sent once per Table (watch frames after the first omit them).
    pub with_columns: bool,
}

/// A whole Table as a `Value` (single objects, watch frames).
pub fn table<O: TableObject + ?Sized>(r: &ResourceDescriptor, input: &TableInput<'_, O>) -> Value {
    // Serializing borrowed values into a `Value` cannot fail (string keys only); stored text
    // is JSON this process serialized.
    serde_json::to_value(TableOut::new(r, input)).unwrap_or(Value::Null)
}

/// A whole Table as JSON bytes (lists). `size_hint`: the expected length, so the buffer is
/// allocated once instead of doubling (and copying) its way up to a multi-megabyte Table.
pub fn table_json<O: TableObject + ?Sized>(
    r: &ResourceDescriptor,
    input: &TableInput<'_, O>,
    size_hint: usize,
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint);
    serde_json::to_writer(&mut out, &TableOut::new(r, input))?;
    Ok(out)
}

struct TableOut<'a, O: TableObject + ?Sized> {
    r: &'a ResourceDescriptor,
    input: &'a TableInput<'a, O>,
    compiled: Arc<Compiled>,
    now: jiff::Timestamp,
}

impl<'a, O: TableObject + ?Sized> TableOut<'a, O> {
    fn new(r: &'a ResourceDescriptor, input: &'a TableInput<'a, O>) -> Self {
        TableOut {
            r,
            input,
            compiled: compiled(r),
            now: jiff::Timestamp::now(),
        }
    }
}

impl<O: TableObject + ?Sized> Serialize for TableOut<'_, O> {
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

struct Rows<'t, 'a, O: TableObject + ?Sized>(&'t TableOut<'a, O>);

impl<O: TableObject + ?Sized> Serialize for Rows<'_, '_, O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = self.0;
        let mut seq = serializer.serialize_seq(Some(table.input.objects.len()))?;
        for object in table.input.objects {
            let row = object
                .project(&table.compiled, table.input.include)
                .map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&Row { table, row: &row })?;
        }
        seq.end()
    }
}

/// What a row shows of its object: the Name cell, one cell per printer column, and the
/// metadata or the whole object (`includeObject`).
pub struct Projected<'a> {
    name: Cell<'a>,
    cells: Vec<Cell<'a>>,
    object: Cell<'a>,
}

/// A piece of an object: borrowed from a parsed value, parsed for the row, or a span of the
/// stored JSON text (sent as is).
enum Cell<'a> {
    Missing,
    Value(&'a Value),
    Owned(Value),
    Raw(&'a RawValue),
}

impl Cell<'_> {
    /// The string this cell holds, if it is one (date columns).
    fn string(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Cell::Value(Value::String(s)) | Cell::Owned(Value::String(s)) => Some(s.into()),
            Cell::Raw(raw) if raw.get().starts_with('"') => {
                serde_json::from_str::<String>(raw.get())
                    .ok()
                    .map(Into::into)
            }
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Cell::Missing => true,
            Cell::Value(v) => v.is_null(),
            Cell::Owned(v) => v.is_null(),
            Cell::Raw(raw) => raw.get() == "null",
        }
    }
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Missing => serializer.serialize_unit(),
            Cell::Value(v) => v.serialize(serializer),
            Cell::Owned(v) => v.serialize(serializer),
            Cell::Raw(raw) => raw.serialize(serializer),
        }
    }
}

/// An object a Table row can be made of.
pub trait TableObject {
    fn project<'s>(
        &'s self,
        compiled: &Compiled,
        include: IncludeObject,
    ) -> Result<Projected<'s>, serde_json::Error>;
}

impl TableObject for Value {
    fn project<'s>(
        &'s self,
        compiled: &Compiled,
        include: IncludeObject,
    ) -> Result<Projected<'s>, serde_json::Error> {
        let found = |v: Option<&'s Value>| v.map_or(Cell::Missing, Cell::Value);
        Ok(Projected {
            name: found(self.pointer("/metadata/name")),
            cells: compiled
                .paths
                .iter()
                .map(|p| found(p.first(self)))
                .collect(),
            object: match include {
                IncludeObject::None => Cell::Missing,
                IncludeObject::Metadata => found(self.get("metadata")),
                IncludeObject::Object => Cell::Value(self),
            },
        })
    }
}

/// A stored revision's JSON text. One pass over the text picks out the spans the row needs
/// (`metadata`, `metadata.name`, every `.a.b` column path) without parsing the rest
/// (`IgnoredAny`), so a 10,000-object Table parses no whole object. Measured with the
/// `hack/bench.sh` objects against main, which kept parsed values in memory: 40-46 Table LISTs
/// per server CPU-second instead of 13-16 (copying the `metadata` span beats serializing a
/// `Value` tree with managedFields; docs/storage.md). Parsing each object per Table instead
/// would add a full parse of every object to every request. Only columns with filters or
/// indices (`[?(@.type=="Ready")]`, none in our schemas) parse the object, once per row.
impl TableObject for [u8] {
    fn project<'s>(
        &'s self,
        compiled: &Compiled,
        include: IncludeObject,
    ) -> Result<Projected<'s>, serde_json::Error> {
        let text = std::str::from_utf8(self).map_err(serde::de::Error::custom)?;
        let mut spans: Vec<Option<&'s RawValue>> = vec![None; compiled.slots];
        gather(text, &compiled.trie, &mut spans)?;
        let whole: Option<Value> = if compiled.needs_value {
            Some(serde_json::from_str(text)?)
        } else {
            None
        };
        let span = |slot: usize| spans[slot].map_or(Cell::Missing, Cell::Raw);
        let cells = compiled
            .paths
            .iter()
            .enumerate()
            .map(|(column, path)| match (path, &whole) {
                (ColumnPath::Fields(_), _) => span(FIRST_COLUMN_SLOT + column),
                (_, Some(whole)) => path
                    .first(whole)
                    .cloned()
                    .map_or(Cell::Missing, Cell::Owned),
                (_, None) => Cell::Missing,
            })
            .collect();
        Ok(Projected {
            name: span(NAME_SLOT),
            cells,
            object: match include {
                IncludeObject::None => Cell::Missing,
                IncludeObject::Metadata => span(METADATA_SLOT),
                IncludeObject::Object => Cell::Raw(serde_json::from_str(text)?),
            },
        })
    }
}

/// One Table row: the cells, then (unless `includeObject=None`) the object or its metadata.
struct Row<'t, 'a, 'r, O: TableObject + ?Sized> {
    table: &'t TableOut<'a, O>,
    row: &'t Projected<'r>,
}

impl<O: TableObject + ?Sized> Serialize for Row<'_, '_, '_, O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Row { table, row } = self;
        let include = table.input.include;
        let mut map =
            serializer.serialize_map(Some(if include == IncludeObject::None { 1 } else { 2 }))?;
        map.serialize_entry("cells", &Cells { table, row })?;
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => map.serialize_entry(
                "object",
                &PartialMetadata {
                    meta_version: table.input.meta_version,
                    metadata: &row.object,
                },
            )?,
            IncludeObject::Object => map.serialize_entry("object", &row.object)?,
        }
        map.end()
    }
}

/// The Name cell, then one cell per printer column.
struct Cells<'t, 'a, 'r, O: TableObject + ?Sized> {
    table: &'t TableOut<'a, O>,
    row: &'t Projected<'r>,
}

impl<O: TableObject + ?Sized> Serialize for Cells<'_, '_, '_, O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Cells { table, row } = self;
        let columns = table.r.printer_columns;
        let mut seq = serializer.serialize_seq(Some(columns.len() + 1))?;
        seq.serialize_element(&row.name)?;
        for (column, cell) in columns.iter().zip(row.cells.iter()) {
            if cell.is_null() {
                seq.serialize_element(&Value::Null)?;
                continue;
            }
            match (column.type_, cell.string()) {
                ("date", Some(s)) => match s.parse::<jiff::Timestamp>() {
                    Ok(t) => seq.serialize_element(&human_age(table.now, t))?,
                    Err(_) => seq.serialize_element(&s)?,
                },
                _ => seq.serialize_element(cell)?,
            }
        }
        seq.end()
    }
}

/// `partial_metadata`, serialized from the borrowed metadata.
struct PartialMetadata<'a, 'r> {
    meta_version: &'a str,
    metadata: &'a Cell<'r>,
}

impl Serialize for PartialMetadata<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("kind", "PartialObjectMetadata")?;
        map.serialize_entry("apiVersion", &MetaApiVersion(self.meta_version))?;
        match self.metadata {
            Cell::Missing => map.serialize_entry("metadata", &serde_json::Map::new())?,
            metadata => map.serialize_entry("metadata", metadata)?,
        }
        map.end()
    }
}

/// Where `gather` puts what it finds: the metadata, its name, then column `i` at
/// `FIRST_COLUMN_SLOT + i`.
const METADATA_SLOT: usize = 0;
const NAME_SLOT: usize = 1;
const FIRST_COLUMN_SLOT: usize = 2;

/// A resource's printer columns, compiled once: each path, and the tree of member names a
/// row's text is searched for.
pub struct Compiled {
    paths: Vec<ColumnPath>,
    trie: Trie,
    slots: usize,
    /// A column needs the parsed object (its path has filters or indices).
    needs_value: bool,
}

/// Member names to look for: a found member fills `slots` and is searched for `children`.
#[derive(Default)]
struct Trie {
    slots: Vec<usize>,
    children: Vec<(String, Trie)>,
}

impl Trie {
    fn insert(&mut self, fields: &[String], slot: usize) {
        match fields.split_first() {
            None => self.slots.push(slot),
            Some((first, rest)) => {
                let at = match self.children.iter().position(|(name, _)| name == first) {
                    Some(at) => at,
                    None => {
                        self.children.push((first.clone(), Trie::default()));
                        self.children.len() - 1
                    }
                };
                self.children[at].1.insert(rest, slot);
            }
        }
    }

    fn child(&self, name: &str) -> Option<&Trie> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, child)| child)
    }
}

/// Fills `spans` with the members of the JSON object `text` that `trie` names (the last of
/// duplicates, as parsing into a `Value` keeps), skipping everything else unparsed.
fn gather<'a>(
    text: &'a str,
    trie: &Trie,
    spans: &mut [Option<&'a RawValue>],
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(Gather { trie, spans }, &mut de)?;
    de.end()
}

struct Gather<'t, 's, 'a> {
    trie: &'t Trie,
    spans: &'s mut [Option<&'a RawValue>],
}

impl<'de> serde::de::DeserializeSeed<'de> for Gather<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Gather<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(MemberName(name)) = map.next_key()? {
            let Some(child) = self.trie.child(&name) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let span: &'de RawValue = map.next_value()?;
            for slot in &child.slots {
                self.spans[*slot] = Some(span);
            }
            // Only an object has members to look for; anything else matches nothing below.
            if !child.children.is_empty() && span.get().starts_with('{') {
                gather(span.get(), child, self.spans).map_err(serde::de::Error::custom)?;
            }
        }
        Ok(())
    }

    // Not an object (a member path through a scalar or an array): nothing below matches.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A member name, borrowed from the text unless it has escapes.
struct MemberName<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> serde::de::Visitor<'de> for Name {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(MemberName(s.to_string().into()))
            }
        }
        d.deserialize_str(Name)
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
fn compiled(r: &ResourceDescriptor) -> Arc<Compiled> {
    type Cache = Mutex<HashMap<(&'static str, &'static str, &'static str), Arc<Compiled>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry((r.group, r.version, r.plural))
        .or_insert_with(|| {
            let paths: Vec<ColumnPath> = r
                .printer_columns
                .iter()
                .map(|c| ColumnPath::compile(c.json_path))
                .collect();
            let mut trie = Trie::default();
            trie.insert(&["metadata".to_string()], METADATA_SLOT);
            trie.insert(&["metadata".to_string(), "name".to_string()], NAME_SLOT);
            for (column, path) in paths.iter().enumerate() {
                if let ColumnPath::Fields(fields) = path {
                    trie.insert(fields, FIRST_COLUMN_SLOT + column);
                }
            }
            Arc::new(Compiled {
                slots: FIRST_COLUMN_SLOT + paths.len(),
                needs_value: paths.iter().any(|p| !matches!(p, ColumnPath::Fields(_))),
                paths,
                trie,
            })
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
    use crate::api::registry::PrinterColumn;

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

    /// A resource whose columns exercise every kind of path: nested members, a member through
    /// a scalar, a missing one, a null, a date, an escaped member name and a filter (which
    /// parses the object).
    fn projection_resource() -> &'static ResourceDescriptor {
        let base =
            crate::api::registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces")
                .unwrap();
        let column = |name, type_, json_path| PrinterColumn {
            name,
            type_,
            format: None,
            description: None,
            json_path,
            priority: 0,
        };
        let columns = vec![
            column("Running", "boolean", ".spec.running"),
            column("Deep", "string", ".status.a.b"),
            column("Through", "string", ".spec.running.x"),
            column("Missing", "string", ".status.gone"),
            column("Null", "string", ".status.nothing"),
            column("Age", "date", ".metadata.creationTimestamp"),
            column("Odd", "string", ".status.odd"),
            column("List", "string", ".status.list"),
            column(
                "Ready",
                "string",
                r#".status.conditions[?(@.type=="Ready")].status"#,
            ),
        ];
        Box::leak(Box::new(ResourceDescriptor {
            plural: "projectiontests",
            printer_columns: Box::leak(columns.into_boxed_slice()),
            ..*base
        }))
    }

    #[test]
    fn rows_projected_from_stored_text_are_the_rows_of_the_parsed_object() {
        let r = projection_resource();
        let objects = [
            json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-09T23:59:00Z",
                                "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}],
                                "labels": {"x": "y"}},
                   "spec": {"running": true},
                   "status": {"a": {"b": "deep", "c": 1}, "nothing": null, "odd": "q\"\\u00e9",
                              "list": [1, {"k": "v"}],
                              "conditions": [{"type": "Ready", "status": "True"}]},
                   "we\"ird": {"metadata": 1}}),
            json!({"metadata": {"name": "b", "creationTimestamp": "not a time"},
                   "spec": {"running": false}, "status": "a string"}),
            json!({"kind": "NoMetadata"}),
        ];
        let texts: Vec<Vec<u8>> = objects
            .iter()
            .map(|o| serde_json::to_vec(o).unwrap())
            .collect();
        let text_refs: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        let value_refs: Vec<&Value> = objects.iter().collect();
        for include in [
            IncludeObject::None,
            IncludeObject::Metadata,
            IncludeObject::Object,
        ] {
            let list_metadata = json!({"resourceVersion": "7"});
            let from_values = table(
                r,
                &TableInput {
                    meta_version: "v1",
                    objects: &value_refs,
                    list_metadata: &list_metadata,
                    include,
                    with_columns: true,
                },
            );
            let input = TableInput {
                meta_version: "v1",
                objects: &text_refs,
                list_metadata: &list_metadata,
                include,
                with_columns: true,
            };
            let from_text: Value =
                serde_json::from_slice(&table_json(r, &input, 0).unwrap()).unwrap();
            // The ages are computed at render time: equal unless a second ticked in between.
            let strip_age = |mut t: Value| {
                for row in t["rows"].as_array_mut().unwrap() {
                    row["cells"][6] = Value::Null;
                }
                t
            };
            assert_eq!(
                strip_age(from_text.clone()),
                strip_age(from_values),
                "{include:?}"
            );
            assert_eq!(strip_age(table(r, &input)), strip_age(from_text.clone()));
            let cells = &from_text["rows"][0]["cells"];
            assert_eq!(cells[0], "a");
            assert_eq!(cells[1], true);
            assert_eq!(cells[2], "deep");
            assert_eq!(cells[3], Value::Null);
            assert_eq!(cells[4], Value::Null);
            assert_eq!(cells[5], Value::Null);
            assert!(cells[6].as_str().unwrap().ends_with('d'), "{}", cells[6]);
            assert_eq!(cells[7], "q\"\\u00e9");
            assert_eq!(cells[8], json!([1, {"k": "v"}]));
            assert_eq!(cells[9], "True");
            assert_eq!(from_text["rows"][1]["cells"][6], "not a time");
            assert_eq!(from_text["rows"][2]["cells"][0], Value::Null);
        }
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
