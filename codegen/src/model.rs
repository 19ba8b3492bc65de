//! The parsed, validated form of a schema file: what every output generator consumes.

use serde_json::{Map, Value};

/// Who serves a kind to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    /// Installed in the cluster as a CustomResourceDefinition; kube-apiserver serves it.
    Crd,
    /// Served by coder-k8s's aggregated apiserver; never installed as a CRD.
    AggregatedApiserver,
}

impl ServedBy {
    pub const ANNOTATION: &'static str = "codegen.coder.com/served-by";

    pub fn as_str(self) -> &'static str {
        match self {
            ServedBy::Crd => "crd",
            ServedBy::AggregatedApiserver => "aggregated-apiserver",
        }
    }
}

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: Option<String>,
    pub description: Option<String>,
    pub json_path: String,
    pub priority: i32,
}

/// One kind, as declared by one schema file.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Schema file path as given to the generator (used in headers and errors).
    pub file: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub served_by: ServedBy,
    pub status_subresource: bool,
    pub printer_columns: Vec<PrinterColumn>,
    /// The `openAPIV3Schema` of the version, validated.
    pub schema: Schema,
}

impl Resource {
    /// Rust module that holds the group's types: the first DNS label of the group.
    pub fn group_module(&self) -> String {
        crate::naming::snake_ident_text(self.group.split('.').next().unwrap_or(&self.group))
    }

    /// OpenAPI definition name: reversed group, version, kind (`com.coder.aggregation.v1alpha1.X`).
    pub fn definition_name(&self, kind: &str) -> String {
        let mut labels: Vec<&str> = self.group.split('.').collect();
        labels.reverse();
        format!("{}.{}.{}", labels.join("."), self.version, kind)
    }

    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    pub fn spec_schema(&self) -> Option<&Schema> {
        self.schema.property("spec")
    }

    pub fn status_schema(&self) -> Option<&Schema> {
        self.schema.property("status")
    }
}

/// A node of an OpenAPI v3 (structural) schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// JSON path in the schema file, for error messages.
    pub path: String,
    pub description: Option<String>,
    pub default: Option<Value>,
    pub nullable: bool,
    pub shape: Shape,
    /// The node as written, less nested schemas: validations (`minimum`, `pattern`, ...) and
    /// extensions are copied from here into OpenAPI and CRD output unchanged.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub enum Shape {
    /// An object with declared properties (a Rust struct).
    Struct {
        properties: Vec<(String, Schema)>,
        required: Vec<String>,
    },
    /// An object whose values share one schema (`additionalProperties`): a `BTreeMap`.
    Map(Box<Schema>),
    /// Anything goes (`x-kubernetes-preserve-unknown-fields` or an object without properties).
    /// `object` says whether the schema still requires a JSON object (`type: object`).
    FreeForm {
        object: bool,
    },
    Array(Box<Schema>),
    String {
        format: Option<String>,
        enum_values: Option<Vec<String>>,
    },
    Integer {
        format: Option<String>,
    },
    Number {
        format: Option<String>,
    },
    Boolean,
    /// `x-kubernetes-int-or-string: true`.
    IntOrString,
    /// `$ref` to a Kubernetes type, for example `io.k8s.api.core.v1.EnvVar`.
    External(String),
}

impl Schema {
    pub fn property(&self, name: &str) -> Option<&Schema> {
        match &self.shape {
            Shape::Struct { properties, .. } => properties
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, schema)| schema),
            _ => None,
        }
    }

    /// Calls `visit` for every `$ref` name in this subtree.
    pub fn external_refs(&self, visit: &mut dyn FnMut(&str)) {
        match &self.shape {
            Shape::Struct { properties, .. } => {
                for (_, schema) in properties {
                    schema.external_refs(visit);
                }
            }
            Shape::Map(inner) | Shape::Array(inner) => inner.external_refs(visit),
            Shape::External(name) => visit(name),
            _ => {}
        }
    }
}
