//! Generates the API types, resource registry, OpenAPI documents and CRD manifests from the
//! schema files in `schema/` into `OUT_DIR`. `src/api` includes the result; `generated/` is a
//! checked-in mirror of the same files that `tests/codegen/generated.rs` keeps honest.
//!
//! All the logic lives in the `coder-k8s-codegen` crate (plain, unit-tested Rust); this file only
//! reads the inputs, supplies the Kubernetes type schemas and writes the outputs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use coder_k8s_codegen::{ExternalDefinitions, SchemaSource, generate};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

const SCHEMA_DIR: &str = "schema";

/// Kubernetes types that schema files may reference with `$ref: io.k8s.…`, and the ones the
/// OpenAPI documents always need. Their schemas come from k8s-openapi, so they match the
/// Rust types the generated code uses. Add a type here to make it referenceable.
fn kubernetes_types(generator: &mut schemars::SchemaGenerator) {
    macro_rules! register {
        ($($ty:ty),* $(,)?) => { $( generator.subschema_for::<$ty>(); )* };
    }
    register!(
        meta::ObjectMeta,
        meta::ListMeta,
        meta::Status,
        meta::DeleteOptions,
        meta::Condition,
        core::Affinity,
        core::EnvFromSource,
        core::EnvVar,
        core::Lifecycle,
        core::LocalObjectReference,
        core::PodSecurityContext,
        core::ResourceRequirements,
        core::SecurityContext,
        core::Toleration,
        core::TopologySpreadConstraint,
        core::Volume,
        core::VolumeMount,
        rbac::PolicyRule,
    );
}

fn external_definitions() -> ExternalDefinitions {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    kubernetes_types(&mut generator);
    let prefix = "#/components/schemas/";
    let definitions = generator
        .take_definitions(true)
        .into_iter()
        .map(|(name, schema)| (name, bare_refs(schema, prefix)))
        .collect();
    ExternalDefinitions { definitions }
}

/// Schema files write `$ref: io.k8s.…`; schemars writes `#/components/schemas/io.k8s.…`.
fn bare_refs(value: serde_json::Value, prefix: &str) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, child)| match (key.as_str(), child) {
                    ("$ref", Value::String(r)) => {
                        let bare = r.strip_prefix(prefix).unwrap_or(&r).to_string();
                        (key, Value::String(bare))
                    }
                    (_, child) => (key, bare_refs(child, prefix)),
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| bare_refs(v, prefix)).collect())
        }
        other => other,
    }
}

fn schema_sources() -> Result<Vec<SchemaSource>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(SCHEMA_DIR)
        .map_err(|e| format!("{SCHEMA_DIR}/: cannot list: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let file = format!(
                "{SCHEMA_DIR}/{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{file}: cannot read: {e}"))?;
            Ok(SchemaSource { file, text })
        })
        .collect()
}

fn run() -> Result<(), String> {
    println!("cargo::rerun-if-changed={SCHEMA_DIR}");
    println!("cargo::rerun-if-changed=build.rs");
    let out_dir = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set (run through cargo)")?;
    let sources = schema_sources()?;
    let files = generate(&sources, &external_definitions()).map_err(|e| e.to_string())?;
    coder_k8s_codegen::verify::write(&files, Path::new(&out_dir))
        .map_err(|e| format!("cannot write generated files to OUT_DIR: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Cargo shows a failing build script's stderr; keep the one line that matters first.
            eprintln!("error: invalid schema: {message}");
            ExitCode::FAILURE
        }
    }
}
