//! The generated `rust/mod.rs`: the group/version module tree that includes each kind's types,
//! and the static resource registry (names, scope, printer columns, OpenAPI and CRD documents)
//! that discovery, Table output and the CRD installer read.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::jsonschema::ExternalDefinitions;
use crate::model::{Resource, ServedBy};
use crate::{GeneratedFiles, MODULE_FILE, OPENAPI_V2_FILE, REGENERATE_COMMAND, Result};

pub fn module_file(
    resources: &[Resource],
    files: &GeneratedFiles,
    externals: &ExternalDefinitions,
) -> Result<String> {
    let mut tree: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for resource in resources {
        let file = crate::rust_file_name(resource);
        let file = file.trim_start_matches("rust/").to_string();
        tree.entry(resource.group_module())
            .or_default()
            .entry(resource.version.clone())
            .or_default()
            .push(file);
    }
    let modules = tree.iter().map(|(group, versions)| {
        let group = format_ident!("{}", group);
        let versions = versions.iter().map(|(version, files)| {
            let version = format_ident!("{}", version);
            quote! {
                pub mod #version {
                    #(include!(#files);)*
                }
            }
        });
        quote! {
            pub mod #group {
                #(#versions)*
            }
        }
    });

    let descriptors = resources
        .iter()
        .map(|r| descriptor(r, externals))
        .collect::<Result<Vec<_>>>()?;
    let v2 = if files.contains_key(OPENAPI_V2_FILE) {
        let path = format!("../{OPENAPI_V2_FILE}");
        quote!(include_str!(#path))
    } else {
        quote!("{\"swagger\":\"2.0\",\"paths\":{},\"definitions\":{}}")
    };
    let v3 = files
        .keys()
        .filter_map(|f| {
            let rest = f.strip_prefix("openapi/v3/")?.strip_suffix(".json")?;
            let (group, version) = rest.rsplit_once('_')?;
            let key = format!("apis/{group}/{version}");
            let path = format!("../{f}");
            Some(quote!((#key, include_str!(#path))))
        })
        .collect::<Vec<_>>();
    let crds = resources
        .iter()
        .filter(|r| r.served_by == ServedBy::Crd)
        .map(|r| {
            let name = format!("{}.{}", r.plural, r.group);
            let path = format!("../{}", crate::crd_file_name(r));
            quote!((#name, include_str!(#path)))
        });

    let tokens = quote! {
        #(#modules)*

        /// Every kind declared in schema/, sorted by group, version and kind.
        pub static RESOURCES: &[crate::api::registry::ResourceDescriptor] = &[#(#descriptors),*];

        /// Swagger 2.0 document of the aggregated kinds (served at /openapi/v2).
        pub const OPENAPI_V2: &str = #v2;

        /// OpenAPI v3 documents of the aggregated group-versions, keyed like /openapi/v3 paths.
        pub static OPENAPI_V3: &[(&str, &str)] = &[#(#v3),*];

        /// CRD manifests (YAML) of the kinds installed as CRDs, keyed by CRD name.
        pub static CRDS: &[(&str, &str)] = &[#(#crds),*];
    };
    let sources: Vec<&str> = resources.iter().map(|r| r.file.as_str()).collect();
    let header = format!(
        "// @generated from {} by build.rs; do not edit.\n// Regenerate with {REGENERATE_COMMAND}.\n",
        if sources.is_empty() {
            "schema/".to_string()
        } else {
            sources.join(", ")
        }
    );
    crate::rust::format_file(&header, tokens, MODULE_FILE)
}

fn descriptor(r: &Resource, externals: &ExternalDefinitions) -> Result<TokenStream> {
    let (group, version, kind, list_kind) = (&r.group, &r.version, &r.kind, &r.list_kind);
    let (plural, singular, namespaced) = (&r.plural, &r.singular, r.namespaced);
    let short_names = &r.short_names;
    let categories = &r.categories;
    let served_by = match r.served_by {
        ServedBy::Crd => quote!(crate::api::registry::ServedBy::Crd),
        ServedBy::AggregatedApiserver => {
            quote!(crate::api::registry::ServedBy::AggregatedApiserver)
        }
    };
    let status = r.status_subresource;
    let columns = r.printer_columns.iter().map(|c| {
        let (name, type_, json_path, priority) = (&c.name, &c.type_, &c.json_path, c.priority);
        let format = option_str(c.format.as_deref());
        let description = option_str(c.description.as_deref());
        quote! {
            crate::api::registry::PrinterColumn {
                name: #name,
                type_: #type_,
                format: #format,
                description: #description,
                json_path: #json_path,
                priority: #priority,
            }
        }
    });
    let definition = r.definition_name(&r.kind);
    let list_definition = r.definition_name(&r.list_kind);
    let file = &r.file;
    // Only the aggregated apiserver merges applies itself; kube-apiserver does it for CRDs.
    let merge = match r.served_by {
        ServedBy::AggregatedApiserver => {
            let node = crate::merge::tokens(&crate::merge::resource_node(r, externals)?);
            quote!(Some(&#node))
        }
        ServedBy::Crd => quote!(None),
    };
    Ok(quote! {
        crate::api::registry::ResourceDescriptor {
            group: #group,
            version: #version,
            kind: #kind,
            list_kind: #list_kind,
            plural: #plural,
            singular: #singular,
            short_names: &[#(#short_names),*],
            categories: &[#(#categories),*],
            namespaced: #namespaced,
            served_by: #served_by,
            status_subresource: #status,
            printer_columns: &[#(#columns),*],
            openapi_definition: #definition,
            list_openapi_definition: #list_definition,
            schema_file: #file,
            merge: #merge,
        }
    })
}

fn option_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(v) => quote!(Some(#v)),
        None => quote!(None),
    }
}
