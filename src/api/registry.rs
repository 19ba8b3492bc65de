//! Descriptions of the kinds declared in `schema/`, as the generated `RESOURCES` table holds
//! them. Discovery, Table output and the CRD installer read these; nothing here is written by
//! hand per kind.

/// Who serves a kind: kube-apiserver (as a CRD) or coder-k8s's aggregated apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    Crd,
    AggregatedApiserver,
}

/// One `additionalPrinterColumns` entry of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: &'static str,
    /// integer, number, string, boolean or date.
    pub type_: &'static str,
    pub format: Option<&'static str>,
    pub description: Option<&'static str>,
    /// Simple JSONPath such as `.spec.running`.
    pub json_path: &'static str,
    pub priority: i32,
}

/// Everything the servers need to know about one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDescriptor {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    pub served_by: ServedBy,
    pub status_subresource: bool,
    pub printer_columns: &'static [PrinterColumn],
    /// OpenAPI definition name of the kind, e.g. `com.coder.aggregation.v1alpha1.CoderWorkspace`.
    pub openapi_definition: &'static str,
    pub list_openapi_definition: &'static str,
    /// The schema file that declares the kind, e.g. `schema/coderworkspace.yaml`.
    pub schema_file: &'static str,
    /// How server-side apply merges the kind (None for kinds kube-apiserver serves as CRDs).
    pub merge: Option<&'static MergeType>,
}

/// The merge structure of a kind, generated from the schema's `x-kubernetes-list-type`,
/// `x-kubernetes-list-map-keys` and `x-kubernetes-map-type` (Kubernetes' defaults where absent:
/// lists atomic, maps and structs granular).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeType {
    Scalar,
    /// Replaced and owned as a whole (atomic lists, `x-kubernetes-map-type: atomic`).
    Atomic,
    /// Anything goes (`x-kubernetes-preserve-unknown-fields`): objects granular, lists atomic.
    Untyped,
    /// Declared properties, sorted by name.
    Struct(&'static [(&'static str, MergeType)]),
    /// A granular map: every key is its own field.
    Map(&'static MergeType),
    /// `x-kubernetes-list-type: set` of scalars.
    Set(&'static MergeType),
    /// `x-kubernetes-list-type: map`, items identified by the key fields.
    ListMap(&'static MergeType, &'static [&'static str]),
}

/// The verbs every served kind supports on its main resource, in discovery order.
pub const RESOURCE_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of a `/status` subresource.
pub const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

impl ResourceDescriptor {
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// `coderworkspaces.aggregation.coder.com`, as kube-apiserver names a group resource.
    pub fn group_resource(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

/// All kinds, from the generated table.
pub fn all() -> &'static [ResourceDescriptor] {
    super::RESOURCES
}

/// Kinds served by one party.
pub fn served_by(who: ServedBy) -> impl Iterator<Item = &'static ResourceDescriptor> {
    all().iter().filter(move |r| r.served_by == who)
}

/// Looks a kind up by group, version and plural resource name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDescriptor> {
    all()
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}
