//! Cross-checks our schema → Rust mapping against kopium, the established CRD → Rust generator,
//! on the same schemas: the CRD manifest we generate (for CRD kinds) or the CRD the codegen crate
//! renders from the schema file (for aggregated kinds). Every struct and field must match; the
//! only differences allowed are the deliberate ones documented in docs/codegen.md:
//! - `date-time`: we use k8s-openapi `Time`, kopium `String`;
//! - `k8s-ref`: we use the k8s-openapi type for a `$ref`, kopium its own copy of the struct;
//! - `default`: a field with a schema default is not an `Option` for us (the default fills it);
//! - `free-form`: an object without properties is `serde_json::Value` for us.
//!
//! Needs the `kopium` binary (hack/test.sh installs it). Without it the test fails under CI and
//! is skipped with a message elsewhere.

use crate::schema_crds;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use coder_k8s::api::registry::{self, ServedBy};
use quote::ToTokens;

/// JSON field name → (normalized type, full type text, has a serde default function).
type Fields = BTreeMap<String, (String, String, bool)>;

fn structs(source: &str) -> BTreeMap<String, Fields> {
    let file: syn::File = syn::parse_str(source).expect("Rust parses");
    let mut out = BTreeMap::new();
    for item in file.items {
        let syn::Item::Struct(item) = item else {
            continue;
        };
        let syn::Fields::Named(named) = &item.fields else {
            continue;
        };
        let mut fields = Fields::new();
        for field in &named.named {
            let ident = field
                .ident
                .as_ref()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let mut json_name = ident.trim_start_matches("r#").to_string();
            let mut has_default_fn = false;
            for attr in &field.attrs {
                if !attr.path().is_ident("serde") {
                    continue;
                }
                let text = attr.to_token_stream().to_string();
                if let Some(rest) = text.split("rename = \"").nth(1) {
                    json_name = rest.split('"').next().unwrap_or_default().to_string();
                }
                has_default_fn |= text.contains("default = \"");
            }
            let full = field.ty.to_token_stream().to_string().replace(' ', "");
            fields.insert(json_name, (normalize(&full), full, has_default_fn));
        }
        out.insert(item.ident.to_string(), fields);
    }
    out
}

/// Drops module paths: `Option<::k8s_openapi::api::core::v1::EnvVar>` → `Option<EnvVar>`.
fn normalize(ty: &str) -> String {
    let mut out = String::new();
    let mut segment = String::new();
    for c in ty.chars() {
        match c {
            '<' | '>' | ',' => {
                out.push_str(segment.rsplit("::").next().unwrap_or_default());
                segment.clear();
                out.push(c);
            }
            _ => segment.push(c),
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or_default());
    // rustfmt breaks a long generic over lines with a trailing comma (`Option<\n Long,\n>`).
    out.replace(",>", ">")
}

fn strip_option(ty: &str) -> &str {
    ty.strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(ty)
}

/// Why our type may differ from kopium's, or None when the difference is not a known one.
fn allowed_difference(ours: &(String, String, bool), theirs: &str) -> Option<&'static str> {
    let (ours_norm, ours_full, has_default) = ours;
    let ours_inner = if *has_default {
        ours_norm.as_str()
    } else {
        strip_option(ours_norm)
    };
    let theirs_inner = strip_option(theirs);
    let optional_matches =
        *has_default || ours_norm.starts_with("Option<") == theirs.starts_with("Option<");
    if !optional_matches {
        return None;
    }
    if ours_inner == theirs_inner {
        return Some("default");
    }
    if ours_inner.replace("Time", "String") == theirs_inner {
        return Some("date-time");
    }
    if ours_inner.replace("Value", "BTreeMap<String,Value>") == theirs_inner {
        return Some("free-form");
    }
    let external = ours_full.contains("k8s_openapi::api::")
        || ours_full.contains("k8s_openapi::apimachinery::pkg::apis::");
    let same_container =
        |prefix: &str| ours_inner.starts_with(prefix) == theirs_inner.starts_with(prefix);
    if external && same_container("Vec<") && same_container("BTreeMap<") {
        return Some("k8s-ref");
    }
    None
}

fn kopium_available() -> bool {
    Command::new("kopium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn our_types_match_kopium_on_the_same_schemas() {
    if !kopium_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "kopium is not installed; hack/test.sh installs it (cargo install --debug --locked kopium --version 0.24.1)"
        );
        eprintln!("skipping: kopium not installed (run hack/test.sh, which installs it)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut problems = Vec::new();
    let mut checked_fields = 0;
    for resource in registry::all() {
        let input = match resource.served_by {
            ServedBy::Crd => root.join(format!(
                "generated/crds/{}_{}.yaml",
                resource.group, resource.plural
            )),
            // kopium cannot resolve a schema file's `$ref`s to Kubernetes types; give it the
            // CRD the codegen crate renders from the file, with them inlined.
            ServedBy::AggregatedApiserver => {
                let file = resource.schema_file;
                let text = std::fs::read_to_string(root.join(file)).expect("schema file");
                let crd = schema_crds::crd_of(file, &text, resource.group);
                let path = scratch.path().join(format!("{}.json", resource.plural));
                std::fs::write(&path, serde_json::to_vec(&crd).expect("CRD JSON"))
                    .expect("write the rendered CRD");
                path
            }
        };
        let output = Command::new("kopium")
            .arg("-f")
            .arg(&input)
            .output()
            .expect("run kopium");
        assert!(
            output.status.success(),
            "kopium failed on {}: {}",
            input.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs = structs(&String::from_utf8_lossy(&output.stdout));
        let ours_path = root.join(format!(
            "generated/rust/{}.rs",
            resource.singular.replace('-', "_")
        ));
        let ours = structs(&std::fs::read_to_string(&ours_path).expect("generated Rust"));
        assert!(!ours.is_empty());
        for (name, fields) in &ours {
            let Some(their_fields) = theirs.get(name) else {
                problems.push(format!("{name}: kopium generates no such struct"));
                continue;
            };
            for (json, ours_field) in fields {
                checked_fields += 1;
                match their_fields.get(json) {
                    None => problems.push(format!("{name}.{json}: kopium has no such field")),
                    Some((theirs_norm, _, _)) if *theirs_norm == ours_field.0 => {}
                    Some((theirs_norm, _, _)) => {
                        if allowed_difference(ours_field, theirs_norm).is_none() {
                            problems.push(format!(
                                "{name}.{json}: ours {} vs kopium {theirs_norm}",
                                ours_field.0
                            ));
                        }
                    }
                }
            }
            for json in their_fields.keys() {
                if !fields.contains_key(json) {
                    problems.push(format!("{name}.{json}: only kopium has this field"));
                }
            }
        }
    }
    eprintln!("compared {checked_fields} fields with kopium");
    assert!(checked_fields > 10, "checked only {checked_fields} fields");
    assert!(
        problems.is_empty(),
        "mapping differs from kopium:\n{}",
        problems.join("\n")
    );
}

#[test]
fn normalization_ignores_the_trailing_comma_of_a_wrapped_generic() {
    assert_eq!(
        normalize("Option<CoderWorkspaceProxyProxySessionTokenSecretRef,>"),
        "Option<CoderWorkspaceProxyProxySessionTokenSecretRef>"
    );
}

#[test]
fn normalization_keeps_containers_and_drops_paths() {
    assert_eq!(
        normalize("Option<Vec<::k8s_openapi::api::core::v1::EnvVar>>"),
        "Option<Vec<EnvVar>>"
    );
    assert_eq!(
        normalize("::std::collections::BTreeMap<String,String>"),
        "BTreeMap<String,String>"
    );
    let time = (
        "Option<Time>".to_string(),
        "Option<::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>".to_string(),
        false,
    );
    assert_eq!(
        allowed_difference(&time, "Option<String>"),
        Some("date-time")
    );
    let required_bool = ("bool".to_string(), "bool".to_string(), false);
    assert_eq!(
        allowed_difference(&required_bool, "Option<bool>"),
        None,
        "optionality must match without a default"
    );
}
