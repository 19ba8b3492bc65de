//! Reading a CRD-shaped schema file into the [`Resource`] model, rejecting anything the
//! generators cannot map faithfully. Each rejection names the file, the JSON path and the reason.

use serde_json::{Map, Value};

use crate::error::{CodegenError, Result};
use crate::model::{PrinterColumn, Resource, Schema, ServedBy, Shape};

/// Keywords of a schema node that are copied to the outputs as written.
const VALIDATION_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "example",
    "title",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-preserve-unknown-fields",
];

/// Keywords this generator understands itself.
const STRUCTURAL_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "default",
    "nullable",
    "x-kubernetes-int-or-string",
    "$ref",
];

/// Keywords that are valid OpenAPI but have no faithful Rust mapping here.
const UNSUPPORTED_KEYWORDS: &[&str] = &["oneOf", "anyOf", "allOf", "not", "patternProperties"];

const KNOWN_TYPES: &str = "object, array, string, integer, number, boolean";

/// Parses one schema file's text. `file` is the path used in messages.
pub fn parse_resource(file: &str, text: &str) -> Result<Resource> {
    let doc: Value = serde_saphyr::from_str(text)
        .map_err(|e| CodegenError::new(file, "", format!("not valid YAML: {e}")))?;
    let cx = Cx { file };
    let root = cx.object(&doc, "")?;
    cx.only_keys(root, "", &["apiVersion", "kind", "metadata", "spec"])?;
    let api_version = cx.required_str(root, "", "apiVersion")?;
    if api_version != "apiextensions.k8s.io/v1" {
        return Err(cx.err(
            "apiVersion",
            format!("must be apiextensions.k8s.io/v1, found {api_version:?}"),
        ));
    }
    let kind = cx.required_str(root, "", "kind")?;
    if kind != "CustomResourceDefinition" {
        return Err(cx.err(
            "kind",
            format!("must be CustomResourceDefinition, found {kind:?}"),
        ));
    }

    let metadata = cx.object(cx.required(root, "", "metadata")?, "metadata")?;
    cx.only_keys(metadata, "metadata", &["name", "annotations"])?;
    let served_by = cx.served_by(metadata)?;

    let spec = cx.object(cx.required(root, "", "spec")?, "spec")?;
    cx.only_keys(spec, "spec", &["group", "names", "scope", "versions"])?;
    let group = cx.required_str(spec, "spec", "group")?.to_string();
    if !is_dns_subdomain(&group) || !group.contains('.') {
        return Err(cx.err(
            "spec.group",
            format!("{group:?} is not a DNS subdomain with at least one dot"),
        ));
    }

    let names = cx.object(cx.required(spec, "spec", "names")?, "spec.names")?;
    cx.only_keys(
        names,
        "spec.names",
        &[
            "kind",
            "listKind",
            "plural",
            "singular",
            "shortNames",
            "categories",
        ],
    )?;
    let kind = cx.required_str(names, "spec.names", "kind")?.to_string();
    if !kind.starts_with(|c: char| c.is_ascii_uppercase())
        || !kind.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(cx.err(
            "spec.names.kind",
            format!("{kind:?} must be PascalCase ASCII letters and digits"),
        ));
    }
    let plural = match names.get("plural") {
        None => return Err(cx.err("spec.names", "missing plural (spec.names.plural)")),
        Some(_) => cx.required_str(names, "spec.names", "plural")?.to_string(),
    };
    cx.lowercase_name(&plural, "spec.names.plural")?;
    let singular = match names.get("singular") {
        Some(_) => cx
            .required_str(names, "spec.names", "singular")?
            .to_string(),
        None => kind.to_ascii_lowercase(),
    };
    cx.lowercase_name(&singular, "spec.names.singular")?;
    let list_kind = match names.get("listKind") {
        Some(_) => cx
            .required_str(names, "spec.names", "listKind")?
            .to_string(),
        None => format!("{kind}List"),
    };
    let short_names = cx.string_list(names, "spec.names", "shortNames")?;
    for (i, short) in short_names.iter().enumerate() {
        cx.lowercase_name(short, &format!("spec.names.shortNames[{i}]"))?;
    }
    let categories = cx.string_list(names, "spec.names", "categories")?;

    let expected_name = format!("{plural}.{group}");
    let name = cx.required_str(metadata, "metadata", "name")?;
    if name != expected_name {
        return Err(cx.err(
            "metadata.name",
            format!("must be <plural>.<group> = {expected_name:?}, found {name:?}"),
        ));
    }

    let namespaced = match cx.required_str(spec, "spec", "scope")? {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(cx.err(
                "spec.scope",
                format!("must be Namespaced or Cluster, found {other:?}"),
            ));
        }
    };

    let versions = cx.required(spec, "spec", "versions")?;
    let versions = versions
        .as_array()
        .ok_or_else(|| cx.err("spec.versions", "must be a list"))?;
    let version = match versions.as_slice() {
        [one] => one,
        [] => return Err(cx.err("spec.versions", "must declare one version")),
        _ => {
            return Err(cx.err(
                "spec.versions",
                "unsupported construct: more than one version (conversion between versions is not generated)",
            ));
        }
    };
    let vpath = "spec.versions[0]";
    let version = cx.object(version, vpath)?;
    cx.only_keys(
        version,
        vpath,
        &[
            "name",
            "served",
            "storage",
            "schema",
            "subresources",
            "additionalPrinterColumns",
        ],
    )?;
    let version_name = cx.required_str(version, vpath, "name")?.to_string();
    if !is_version_name(&version_name) {
        return Err(cx.err(
            &format!("{vpath}.name"),
            format!("{version_name:?} is not a Kubernetes version name such as v1 or v1alpha1"),
        ));
    }
    let status_subresource = match version.get("subresources") {
        None => false,
        Some(sub) => {
            let path = format!("{vpath}.subresources");
            let sub = cx.object(sub, &path)?;
            if sub.contains_key("scale") {
                return Err(cx.err(
                    &format!("{path}.scale"),
                    "unsupported construct: the scale subresource",
                ));
            }
            cx.only_keys(sub, &path, &["status"])?;
            sub.contains_key("status")
        }
    };
    let printer_columns = cx.printer_columns(version, vpath)?;

    let schema_path = format!("{vpath}.schema");
    let schema_obj = cx.object(cx.required(version, vpath, "schema")?, &schema_path)?;
    cx.only_keys(schema_obj, &schema_path, &["openAPIV3Schema"])?;
    let root_path = format!("{schema_path}.openAPIV3Schema");
    let root_schema = cx.schema(
        cx.required(schema_obj, &schema_path, "openAPIV3Schema")?,
        &root_path,
    )?;
    cx.check_root(&root_schema, &root_path)?;
    if served_by == ServedBy::AggregatedApiserver
        && let Some(path) = find_keyword(&root_schema, "x-kubernetes-validations")
    {
        return Err(cx.err(
            &format!("{path}.x-kubernetes-validations"),
            "unsupported construct: CEL validation rules are not enforced by the aggregated apiserver \
             (see docs/apiserver.md, \"Schema validation\"); express the rule with pattern, enum or bounds, \
             or serve the kind as a CRD",
        ));
    }

    Ok(Resource {
        file: file.to_string(),
        group,
        version: version_name,
        kind,
        list_kind,
        plural,
        singular,
        short_names,
        categories,
        namespaced,
        served_by,
        status_subresource,
        printer_columns,
        schema: root_schema,
    })
}

/// The path of the first node in `schema` that carries the extension keyword `key`.
fn find_keyword(schema: &Schema, key: &str) -> Option<String> {
    if schema.extra.contains_key(key) {
        return Some(schema.path.clone());
    }
    match &schema.shape {
        Shape::Struct { properties, .. } => properties
            .iter()
            .find_map(|(_, child)| find_keyword(child, key)),
        Shape::Map(inner) | Shape::Array(inner) => find_keyword(inner, key),
        _ => None,
    }
}

/// Parsing context: the file name for messages, and the small checks shared by every level.
struct Cx<'a> {
    file: &'a str,
}

impl Cx<'_> {
    fn err(&self, path: &str, reason: impl Into<String>) -> CodegenError {
        CodegenError::new(self.file, path, reason)
    }

    fn object<'v>(&self, value: &'v Value, path: &str) -> Result<&'v Map<String, Value>> {
        value.as_object().ok_or_else(|| {
            self.err(
                path,
                format!("must be a mapping, found {}", json_type_name(value)),
            )
        })
    }

    fn required<'v>(
        &self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<&'v Value> {
        obj.get(key)
            .ok_or_else(|| self.err(path, format!("missing required field `{key}`")))
    }

    fn required_str<'v>(
        &self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<&'v str> {
        let value = self.required(obj, path, key)?;
        value.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
            self.err(
                &join(path, key),
                format!(
                    "must be a non-empty string, found {}",
                    json_type_name(value)
                ),
            )
        })
    }

    fn string_list(&self, obj: &Map<String, Value>, path: &str, key: &str) -> Result<Vec<String>> {
        let Some(value) = obj.get(key) else {
            return Ok(Vec::new());
        };
        let path = join(path, key);
        let items = value
            .as_array()
            .ok_or_else(|| self.err(&path, "must be a list of strings"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err(&format!("{path}[{i}]"), "must be a string"))
            })
            .collect()
    }

    fn only_keys(&self, obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<()> {
        match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(self.err(
                &join(path, unknown),
                format!(
                    "unknown field `{unknown}` (expected one of: {})",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    fn lowercase_name(&self, name: &str, path: &str) -> Result<()> {
        if is_dns_label(name) {
            Ok(())
        } else {
            Err(self.err(
                path,
                format!("{name:?} must be a lowercase DNS label (a-z, 0-9, '-')"),
            ))
        }
    }

    fn served_by(&self, metadata: &Map<String, Value>) -> Result<ServedBy> {
        let path = "metadata.annotations";
        let missing = || {
            self.err(
                path,
                format!(
                    "missing annotation {:?}: say whether the kind is a CRD (\"crd\") or served by the aggregated apiserver (\"aggregated-apiserver\")",
                    ServedBy::ANNOTATION
                ),
            )
        };
        let annotations = match metadata.get("annotations") {
            Some(value) => self.object(value, path)?,
            None => return Err(missing()),
        };
        match annotations.get(ServedBy::ANNOTATION).map(Value::as_str) {
            None => Err(missing()),
            Some(Some("crd")) => Ok(ServedBy::Crd),
            Some(Some("aggregated-apiserver")) => Ok(ServedBy::AggregatedApiserver),
            Some(other) => Err(self.err(
                &format!("{path}[{}]", ServedBy::ANNOTATION),
                format!("must be \"crd\" or \"aggregated-apiserver\", found {other:?}"),
            )),
        }
    }

    fn printer_columns(
        &self,
        version: &Map<String, Value>,
        vpath: &str,
    ) -> Result<Vec<PrinterColumn>> {
        let Some(columns) = version.get("additionalPrinterColumns") else {
            return Ok(Vec::new());
        };
        let path = format!("{vpath}.additionalPrinterColumns");
        let columns = columns
            .as_array()
            .ok_or_else(|| self.err(&path, "must be a list"))?;
        let mut out = Vec::new();
        for (i, column) in columns.iter().enumerate() {
            let cpath = format!("{path}[{i}]");
            let column = self.object(column, &cpath)?;
            self.only_keys(
                column,
                &cpath,
                &[
                    "name",
                    "type",
                    "format",
                    "description",
                    "jsonPath",
                    "priority",
                ],
            )?;
            let type_ = self.required_str(column, &cpath, "type")?;
            if !["integer", "number", "string", "boolean", "date"].contains(&type_) {
                return Err(self.err(
                    &format!("{cpath}.type"),
                    format!(
                        "unknown column type {type_:?} (expected one of: integer, number, string, boolean, date)"
                    ),
                ));
            }
            let json_path = self.required_str(column, &cpath, "jsonPath")?;
            if !json_path.starts_with('.') {
                return Err(self.err(
                    &format!("{cpath}.jsonPath"),
                    format!("{json_path:?} must start with '.' (for example .spec.running)"),
                ));
            }
            // The server evaluates columns as RFC 9535 JSONPath (`$` + the path); kubectl's
            // dialect agrees for fields, indices and filters such as [?(@.type=="Ready")].
            if let Err(e) = serde_json_path::JsonPath::parse(&format!("${json_path}")) {
                return Err(self.err(
                    &format!("{cpath}.jsonPath"),
                    format!("{json_path:?} is not a JSONPath the server can evaluate: {e}"),
                ));
            }
            let optional_str = |key: &str| -> Result<Option<String>> {
                match column.get(key) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(self.err(&format!("{cpath}.{key}"), "must be a string")),
                }
            };
            let priority = match column.get("priority") {
                None => 0,
                Some(value) => value
                    .as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .ok_or_else(|| {
                        self.err(&format!("{cpath}.priority"), "must be a 32-bit integer")
                    })?,
            };
            out.push(PrinterColumn {
                name: self.required_str(column, &cpath, "name")?.to_string(),
                type_: type_.to_string(),
                format: optional_str("format")?,
                description: optional_str("description")?,
                json_path: json_path.to_string(),
                priority,
            });
        }
        Ok(out)
    }

    /// Parses one schema node and, recursively, its children.
    fn schema(&self, value: &Value, path: &str) -> Result<Schema> {
        let obj = self.object(value, path)?;
        for key in obj.keys() {
            let key = key.as_str();
            if UNSUPPORTED_KEYWORDS.contains(&key) {
                return Err(self.err(
                    &join(path, key),
                    format!("unsupported construct `{key}`: the Rust types cannot express it"),
                ));
            }
            if !STRUCTURAL_KEYWORDS.contains(&key) && !VALIDATION_KEYWORDS.contains(&key) {
                return Err(self.err(&join(path, key), format!("unknown schema keyword `{key}`")));
            }
        }
        let description = match obj.get("description") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(self.err(&join(path, "description"), "must be a string")),
        };
        let flag = |key: &str| -> Result<bool> {
            match obj.get(key) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(self.err(&join(path, key), "must be true or false")),
            }
        };
        let nullable = flag("nullable")?;
        let preserve_unknown = flag("x-kubernetes-preserve-unknown-fields")?;
        let int_or_string = flag("x-kubernetes-int-or-string")?;
        let format = match obj.get("format") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(self.err(&join(path, "format"), "must be a string")),
        };
        let extra: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| VALIDATION_KEYWORDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
            // kube-apiserver refuses it in CRDs; both servers must accept the same schemas.
            return Err(self.err(
                &join(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ));
        }
        if let Some(pattern) = obj.get("pattern") {
            let pattern = pattern
                .as_str()
                .ok_or_else(|| self.err(&join(path, "pattern"), "must be a string"))?;
            // The server matches with the `regex` crate, whose syntax is RE2's (what kube uses):
            // no look-around or back-references.
            if let Err(e) = regex::Regex::new(pattern) {
                return Err(self.err(
                    &join(path, "pattern"),
                    format!("{pattern:?} is not a valid RE2 regular expression: {e}"),
                ));
            }
        }

        if let Some(reference) = obj.get("$ref") {
            let name = reference
                .as_str()
                .ok_or_else(|| self.err(&join(path, "$ref"), "must be a string"))?;
            if !name.starts_with("io.k8s.") {
                return Err(self.err(
                    &join(path, "$ref"),
                    format!(
                        "{name:?} is not a Kubernetes type name (expected a name such as io.k8s.api.core.v1.EnvVar)"
                    ),
                ));
            }
            if let Some(other) = obj
                .keys()
                .find(|k| !["$ref", "description", "default"].contains(&k.as_str()))
            {
                return Err(self.err(
                    &join(path, other),
                    format!(
                        "`{other}` cannot stand beside `$ref` (only description and default can)"
                    ),
                ));
            }
            return Ok(Schema {
                path: path.to_string(),
                description,
                default: obj.get("default").cloned(),
                nullable,
                shape: Shape::External(name.to_string()),
                extra,
            });
        }

        let type_ = match obj.get("type") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => {
                return Err(self.err(
                    &join(path, "type"),
                    format!("must be a string, found {}", json_type_name(other)),
                ));
            }
        };

        let shape = if int_or_string {
            if let Some(t) = type_ {
                return Err(self.err(
                    &join(path, "type"),
                    format!("must be absent with x-kubernetes-int-or-string, found {t:?}"),
                ));
            }
            Shape::IntOrString
        } else {
            match type_ {
                None if preserve_unknown => Shape::FreeForm { object: false },
                None => {
                    return Err(self.err(
                        path,
                        format!("missing `type` (expected one of: {KNOWN_TYPES})"),
                    ));
                }
                Some("object") => self.object_shape(obj, path, preserve_unknown)?,
                Some("array") => {
                    let items = obj
                        .get("items")
                        .ok_or_else(|| self.err(path, "an array needs `items`"))?;
                    Shape::Array(Box::new(self.schema(items, &join(path, "items"))?))
                }
                Some("string") => {
                    let enum_values = match obj.get("enum") {
                        None => None,
                        Some(values) => Some(self.string_enum(values, &join(path, "enum"))?),
                    };
                    Shape::String {
                        format: format.clone(),
                        enum_values,
                    }
                }
                Some("integer") => {
                    if let Some(f) = format.as_deref()
                        && f != "int32"
                        && f != "int64"
                    {
                        return Err(self.err(
                            &join(path, "format"),
                            format!("unknown integer format {f:?} (expected int32 or int64)"),
                        ));
                    }
                    Shape::Integer {
                        format: format.clone(),
                    }
                }
                Some("number") => Shape::Number {
                    format: format.clone(),
                },
                Some("boolean") => Shape::Boolean,
                Some(other) => {
                    return Err(self.err(
                        &join(path, "type"),
                        format!("unknown type {other:?} (expected one of: {KNOWN_TYPES})"),
                    ));
                }
            }
        };
        if obj.contains_key("enum") && !matches!(shape, Shape::String { .. }) {
            return Err(self.err(
                &join(path, "enum"),
                "unsupported construct: enum is only mapped for strings",
            ));
        }
        for key in ["properties", "required", "additionalProperties"] {
            if obj.contains_key(key) && !matches!(type_, Some("object")) {
                return Err(self.err(&join(path, key), "is only valid on type object"));
            }
        }
        if obj.contains_key("items") && !matches!(type_, Some("array")) {
            return Err(self.err(&join(path, "items"), "is only valid on type array"));
        }
        let schema = Schema {
            path: path.to_string(),
            description,
            default: obj.get("default").cloned(),
            nullable,
            shape,
            extra,
        };
        if let Some(default) = &schema.default {
            self.check_default(&schema, default, &join(path, "default"))?;
        }
        Ok(schema)
    }

    fn object_shape(
        &self,
        obj: &Map<String, Value>,
        path: &str,
        preserve_unknown: bool,
    ) -> Result<Shape> {
        let properties = obj.get("properties");
        let additional = obj.get("additionalProperties");
        if properties.is_some() && matches!(additional, Some(Value::Object(_))) {
            return Err(self.err(
                &join(path, "additionalProperties"),
                "unsupported construct: properties and additionalProperties together",
            ));
        }
        if let Some(properties) = properties {
            let ppath = join(path, "properties");
            let properties = self.object(properties, &ppath)?;
            let mut parsed = Vec::new();
            let mut idents: Vec<(String, String)> = Vec::new();
            for (name, value) in properties {
                let ident = crate::naming::field_ident(name).to_string();
                if let Some((other, _)) = idents.iter().find(|(_, i)| *i == ident) {
                    return Err(self.err(
                        &join(&ppath, name),
                        format!("maps to the same Rust field `{ident}` as `{other}`"),
                    ));
                }
                idents.push((name.clone(), ident));
                parsed.push((name.clone(), self.schema(value, &join(&ppath, name))?));
            }
            let required = self.string_list(obj, path, "required")?;
            for (i, name) in required.iter().enumerate() {
                if !parsed.iter().any(|(key, _)| key == name) {
                    return Err(self.err(
                        &format!("{path}.required[{i}]"),
                        format!("required property `{name}` is not declared in properties"),
                    ));
                }
            }
            return Ok(Shape::Struct {
                properties: parsed,
                required,
            });
        }
        if obj.contains_key("required") {
            return Err(self.err(&join(path, "required"), "is only valid beside properties"));
        }
        match additional {
            Some(Value::Object(_)) => {
                let apath = join(path, "additionalProperties");
                let inner = self.schema(additional.unwrap_or(&Value::Null), &apath)?;
                Ok(Shape::Map(Box::new(inner)))
            }
            Some(Value::Bool(_)) | None => {
                if !preserve_unknown && additional.is_none() {
                    return Err(self.err(
                        path,
                        "an object needs properties, additionalProperties, or x-kubernetes-preserve-unknown-fields: true",
                    ));
                }
                Ok(Shape::FreeForm { object: true })
            }
            Some(_) => Err(self.err(
                &join(path, "additionalProperties"),
                "must be a schema or a boolean",
            )),
        }
    }

    fn string_enum(&self, values: &Value, path: &str) -> Result<Vec<String>> {
        let items = values
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| self.err(path, "must be a non-empty list"))?;
        let mut out: Vec<String> = Vec::new();
        let mut variants: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let value = item
                .as_str()
                .ok_or_else(|| self.err(&format!("{path}[{i}]"), "must be a string"))?;
            let variant = crate::naming::pascal_case(value);
            if variants.contains(&variant) {
                return Err(self.err(
                    &format!("{path}[{i}]"),
                    format!(
                        "{value:?} maps to the same Rust variant `{variant}` as an earlier value"
                    ),
                ));
            }
            variants.push(variant);
            out.push(value.to_string());
        }
        Ok(out)
    }

    /// A default must have the node's type; object defaults are limited to `{}` (which turns on
    /// the defaults of the object's own fields), array defaults to lists of scalars.
    fn check_default(&self, schema: &Schema, default: &Value, path: &str) -> Result<()> {
        let ok = match &schema.shape {
            Shape::Boolean => default.is_boolean(),
            Shape::Integer { .. } => default.is_i64(),
            Shape::Number { .. } => default.is_number(),
            Shape::String { enum_values, .. } => match (default.as_str(), enum_values) {
                (Some(value), Some(values)) if !values.iter().any(|v| v == value) => {
                    return Err(self.err(
                        path,
                        format!("{value:?} is not one of the enum values {values:?}"),
                    ));
                }
                (Some(_), _) => true,
                (None, _) => false,
            },
            Shape::IntOrString => default.is_i64() || default.is_string(),
            Shape::Struct { .. } | Shape::Map(_) => {
                if default.as_object().is_some_and(Map::is_empty) {
                    true
                } else {
                    return Err(self.err(
                        path,
                        "unsupported construct: an object default must be {} (set defaults on the fields instead)",
                    ));
                }
            }
            Shape::Array(items) => match default.as_array() {
                Some(values) => {
                    for (i, value) in values.iter().enumerate() {
                        if value.is_object() || value.is_array() {
                            return Err(self.err(
                                &format!("{path}[{i}]"),
                                "unsupported construct: array defaults may hold only scalars",
                            ));
                        }
                        self.check_default(items, value, &format!("{path}[{i}]"))?;
                    }
                    true
                }
                None => false,
            },
            Shape::FreeForm { .. } | Shape::External(_) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(self.err(
                path,
                format!(
                    "default {default} does not match the type of the field ({})",
                    shape_name(&schema.shape)
                ),
            ))
        }
    }

    /// The root must be an object with a `spec` object and at most a `status` object besides
    /// the fields every Kubernetes object has.
    fn check_root(&self, root: &Schema, path: &str) -> Result<()> {
        let Shape::Struct { properties, .. } = &root.shape else {
            return Err(self.err(path, "the root schema must be an object with properties"));
        };
        for (name, schema) in properties {
            let ppath = format!("{path}.properties.{name}");
            match name.as_str() {
                "apiVersion" | "kind" | "metadata" => {}
                "spec" | "status" => {
                    if !matches!(schema.shape, Shape::Struct { .. }) {
                        return Err(
                            self.err(&ppath, "must be an object with properties (a struct)")
                        );
                    }
                }
                other => {
                    return Err(self.err(
                        &ppath,
                        format!(
                            "unsupported construct: top-level property `{other}` (only spec and status are generated)"
                        ),
                    ));
                }
            }
        }
        if root.property("spec").is_none() {
            return Err(self.err(&format!("{path}.properties"), "missing the `spec` property"));
        }
        Ok(())
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn shape_name(shape: &Shape) -> &'static str {
    match shape {
        Shape::Struct { .. } | Shape::Map(_) | Shape::FreeForm { .. } => "object",
        Shape::Array(_) => "array",
        Shape::String { .. } => "string",
        Shape::Integer { .. } => "integer",
        Shape::Number { .. } => "number",
        Shape::Boolean => "boolean",
        Shape::IntOrString => "int-or-string",
        Shape::External(_) => "Kubernetes type",
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

fn is_version_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let rest = &rest[digits..];
    if rest.is_empty() {
        return true;
    }
    ["alpha", "beta"].iter().any(|stage| {
        rest.strip_prefix(stage)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}
