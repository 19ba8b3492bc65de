//! coder-k8s's code generator: CRD-shaped schema files in, Rust types, a resource registry,
//! OpenAPI documents and CRD manifests out.
//!
//! It is plain Rust with no I/O of its own beyond [`verify`], so `build.rs` can run it and tests
//! can feed it inline schemas. Output is deterministic: the same inputs give the same bytes
//! (sorted maps, no timestamps, no absolute paths).

pub mod crd;
pub mod error;
pub mod jsonschema;
pub mod merge;
pub mod model;
pub mod naming;
pub mod openapi;
mod parse;
pub mod registry;
pub mod rust;
pub mod verify;

use std::collections::BTreeMap;

pub use error::{CodegenError, Result};
pub use jsonschema::ExternalDefinitions;
pub use model::{Resource, ServedBy};
pub use parse::parse_resource;

/// One schema file: its path (as shown in messages and headers) and its text.
#[derive(Debug, Clone)]
pub struct SchemaSource {
    pub file: String,
    pub text: String,
}

/// Generated files, keyed by their path relative to the output root (`OUT_DIR` or
/// `generated/`), in a fixed order.
pub type GeneratedFiles = BTreeMap<String, String>;

/// The command that refreshes `generated/`, quoted in headers and staleness errors.
pub const REGENERATE_COMMAND: &str = "hack/update-codegen.sh";

/// Runs every generator over `sources`.
pub fn generate(
    sources: &[SchemaSource],
    externals: &ExternalDefinitions,
) -> Result<GeneratedFiles> {
    let mut resources = Vec::new();
    for source in sources {
        resources.push(parse_resource(&source.file, &source.text)?);
    }
    check_unique(&resources)?;
    resources.sort_by(|a, b| (&a.group, &a.version, &a.kind).cmp(&(&b.group, &b.version, &b.kind)));

    let mut files = GeneratedFiles::new();
    for resource in &resources {
        let header = format!(
            "// @generated from {} by build.rs; do not edit.\n// Regenerate with {REGENERATE_COMMAND}.\n",
            resource.file
        );
        let tokens = rust::resource_items(resource)?;
        files.insert(
            rust_file_name(resource),
            rust::format_file(&header, tokens, &resource.file)?,
        );
        if resource.served_by == ServedBy::Crd {
            let crd = crd::crd(resource, externals)?;
            files.insert(crd_file_name(resource), yaml_file(&resource.file, &crd)?);
        }
    }

    let aggregated: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.served_by == ServedBy::AggregatedApiserver)
        .collect();
    if !aggregated.is_empty() {
        let v2 = openapi::openapi_v2(&aggregated, externals)?;
        files.insert(OPENAPI_V2_FILE.to_string(), json_file(&v2));
        let mut group_versions: BTreeMap<(String, String), Vec<&Resource>> = BTreeMap::new();
        for resource in &aggregated {
            group_versions
                .entry((resource.group.clone(), resource.version.clone()))
                .or_default()
                .push(resource);
        }
        for ((group, version), members) in &group_versions {
            let v3 = openapi::openapi_v3(members, externals)?;
            files.insert(openapi_v3_file_name(group, version), json_file(&v3));
        }
    }

    let module = registry::module_file(&resources, &files, externals)?;
    files.insert(MODULE_FILE.to_string(), module);
    Ok(files)
}

pub const MODULE_FILE: &str = "rust/mod.rs";
pub const OPENAPI_V2_FILE: &str = "openapi/v2.json";

pub fn rust_file_name(resource: &Resource) -> String {
    format!("rust/{}.rs", resource.singular.replace('-', "_"))
}

pub fn crd_file_name(resource: &Resource) -> String {
    format!("crds/{}_{}.yaml", resource.group, resource.plural)
}

pub fn openapi_v3_file_name(group: &str, version: &str) -> String {
    format!("openapi/v3/{group}_{version}.json")
}

fn json_file(value: &serde_json::Value) -> String {
    // serde_json's pretty printer cannot fail on a Value.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn yaml_file(source: &str, value: &serde_json::Value) -> Result<String> {
    let body = serde_saphyr::to_string(value)
        .map_err(|e| CodegenError::new(source, "", format!("cannot render YAML: {e}")))?;
    Ok(format!(
        "# @generated from {source} by build.rs; do not edit.\n# Regenerate with {REGENERATE_COMMAND}.\n{body}"
    ))
}

/// Two files may not declare the same kind, plural or Rust module path.
fn check_unique(resources: &[Resource]) -> Result<()> {
    for (i, a) in resources.iter().enumerate() {
        for b in &resources[..i] {
            let same_gv = a.group == b.group && a.version == b.version;
            if same_gv && a.kind == b.kind {
                return Err(CodegenError::new(
                    &a.file,
                    "spec.names.kind",
                    format!(
                        "duplicate kind {} in {} (also declared in {})",
                        a.kind,
                        a.api_version(),
                        b.file
                    ),
                ));
            }
            if a.group == b.group && a.plural == b.plural {
                return Err(CodegenError::new(
                    &a.file,
                    "spec.names.plural",
                    format!(
                        "duplicate plural {} in group {} (also declared in {})",
                        a.plural, a.group, b.file
                    ),
                ));
            }
            if a.group != b.group && a.group_module() == b.group_module() {
                return Err(CodegenError::new(
                    &a.file,
                    "spec.group",
                    format!(
                        "groups {} and {} (in {}) both map to the Rust module `{}`",
                        a.group,
                        b.group,
                        b.file,
                        a.group_module()
                    ),
                ));
            }
            if rust_file_name(a) == rust_file_name(b) {
                return Err(CodegenError::new(
                    &a.file,
                    "spec.names.singular",
                    format!("singular name {} is also used by {}", a.singular, b.file),
                ));
            }
        }
    }
    Ok(())
}
