//! Rust types for one kind: the spec and status structs (with `kube::CustomResource`, so
//! `kube::Api<Kind>` works), nested structs, string enums and default functions.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use crate::error::{CodegenError, Result};
use crate::model::{Resource, Schema, Shape};
use crate::naming::{field_ident, pascal_case, type_ident};

/// Generates the items of one kind as a token stream (formatted by the caller).
pub fn resource_items(resource: &Resource) -> Result<TokenStream> {
    let mut out = Emitter {
        resource,
        items: Vec::new(),
        names: Vec::new(),
        defaultable: Vec::new(),
    };
    let spec = resource
        .spec_schema()
        .ok_or_else(|| CodegenError::new(&resource.file, "", "missing the `spec` property"))?;
    let spec_name = format!("{}Spec", resource.kind);
    let status_name = format!("{}Status", resource.kind);
    // The spec takes the root's description: it is what `kubectl explain <kind>` shows first.
    let spec_doc = resource
        .schema
        .description
        .clone()
        .or(spec.description.clone());
    let kube_attrs = kube_attributes(resource, resource.status_schema().map(|_| &status_name));
    out.structure(&spec_name, spec, spec_doc.as_deref(), Some(kube_attrs))?;
    if let Some(status) = resource.status_schema() {
        out.structure(&status_name, status, status.description.as_deref(), None)?;
    }
    let items = out.items;
    Ok(quote! { #(#items)* })
}

fn kube_attributes(resource: &Resource, status: Option<&String>) -> TokenStream {
    let group = &resource.group;
    let version = &resource.version;
    let kind = &resource.kind;
    let plural = &resource.plural;
    let singular = &resource.singular;
    let namespaced = resource.namespaced.then(|| quote!(namespaced,));
    let status = status.map(|s| quote!(status = #s,));
    let short_names = resource.short_names.iter().map(|s| quote!(shortname = #s,));
    let categories = resource.categories.iter().map(|c| quote!(category = #c,));
    quote! {
        #[derive(::kube::CustomResource)]
        #[kube(
            group = #group,
            version = #version,
            kind = #kind,
            plural = #plural,
            singular = #singular,
            #namespaced
            #status
            #(#short_names)*
            #(#categories)*
            derive = "PartialEq",
            // The schema lives in schema/ and the CRD is generated from it, not from these types.
            schema = "disabled",
        )]
    }
}

struct Emitter<'a> {
    resource: &'a Resource,
    items: Vec<TokenStream>,
    /// Type names taken so far, with the schema path that took them.
    names: Vec<(String, String)>,
    /// Structs that implement `Default` (so a `default: {}` on them is honoured).
    defaultable: Vec<String>,
}

impl Emitter<'_> {
    fn err(&self, path: &str, reason: impl Into<String>) -> CodegenError {
        CodegenError::new(&self.resource.file, path, reason)
    }

    fn claim_name(&mut self, name: &str, path: &str) -> Result<()> {
        if let Some((_, other)) = self.names.iter().find(|(n, _)| n == name) {
            return Err(self.err(
                path,
                format!("generates the Rust type `{name}`, which {other} generates too"),
            ));
        }
        self.names.push((name.to_string(), path.to_string()));
        Ok(())
    }

    /// Name for a type nested under `parent` at `field`. Children of the spec drop the `Spec`
    /// suffix (`CoderControlPlaneService`), as kopium does, so names stay short.
    fn child_name(&self, parent: &str, field: &str) -> String {
        let spec_name = format!("{}Spec", self.resource.kind);
        let base = if parent == spec_name {
            self.resource.kind.as_str()
        } else {
            parent
        };
        format!("{base}{}", pascal_case(field))
    }

    fn structure(
        &mut self,
        name: &str,
        schema: &Schema,
        doc: Option<&str>,
        kube: Option<TokenStream>,
    ) -> Result<()> {
        self.claim_name(name, &schema.path)?;
        let Shape::Struct {
            properties,
            required,
        } = &schema.shape
        else {
            return Err(self.err(&schema.path, "expected an object with properties"));
        };
        // Reserve the parent's place first so it reads before the types nested in it.
        let slot = self.items.len();
        self.items.push(TokenStream::new());
        let ident = type_ident(name);
        let mut fields = Vec::new();
        let mut default_fns = Vec::new();
        let mut default_inits = Vec::new();
        let mut defaultable = true;
        for (json_name, field) in properties {
            let field_ident = field_ident(json_name);
            let ty = self.type_of(name, json_name, field)?;
            let docs = doc_attrs(field.description.as_deref());
            let is_required = required.contains(json_name) && !field.nullable;
            let (attr, ty, init) = match (&field.default, is_required) {
                (Some(default), _) => {
                    let value = self.default_expr(name, json_name, field, default)?;
                    let fn_ident = format_ident!("default_{}", field_ident_text(&field_ident));
                    let fn_path = format!("{name}::{fn_ident}");
                    default_fns.push(quote! {
                        fn #fn_ident() -> #ty { #value }
                    });
                    (
                        quote!(#[serde(rename = #json_name, default = #fn_path)]),
                        ty,
                        quote!(#field_ident: Self::#fn_ident()),
                    )
                }
                (None, true) => {
                    defaultable = false;
                    (quote!(#[serde(rename = #json_name)]), ty, quote!())
                }
                (None, false) => (
                    quote!(#[serde(rename = #json_name, default, skip_serializing_if = "Option::is_none")]),
                    quote!(Option<#ty>),
                    quote!(#field_ident: None),
                ),
            };
            fields.push(quote! {
                #docs
                #attr
                pub #field_ident: #ty,
            });
            default_inits.push(init);
        }
        let docs = doc_attrs(doc);
        let default_impl = if defaultable {
            quote! {
                impl Default for #ident {
                    fn default() -> Self {
                        Self { #(#default_inits,)* }
                    }
                }
            }
        } else {
            quote!()
        };
        let default_fns = if default_fns.is_empty() {
            quote!()
        } else {
            quote! { impl #ident { #(#default_fns)* } }
        };
        let kube = kube.unwrap_or_default();
        self.items[slot] = quote! {
            #docs
            #kube
            #[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, PartialEq)]
            pub struct #ident {
                #(#fields)*
            }
            #default_fns
            #default_impl
        };
        if defaultable {
            self.defaultable.push(name.to_string());
        }
        Ok(())
    }

    fn type_of(&mut self, parent: &str, field: &str, schema: &Schema) -> Result<TokenStream> {
        Ok(match &schema.shape {
            Shape::Struct { .. } => {
                let name = self.child_name(parent, field);
                self.structure(&name, schema, schema.description.as_deref(), None)?;
                let ident = type_ident(&name);
                quote!(#ident)
            }
            Shape::Map(inner) => {
                let inner = self.type_of(parent, field, inner)?;
                quote!(::std::collections::BTreeMap<String, #inner>)
            }
            Shape::Array(inner) => {
                let inner = self.type_of(parent, field, inner)?;
                quote!(Vec<#inner>)
            }
            Shape::FreeForm { .. } => quote!(::serde_json::Value),
            Shape::String {
                enum_values: Some(values),
                ..
            } => {
                let name = self.child_name(parent, field);
                self.enumeration(&name, schema, values)?;
                let ident = type_ident(&name);
                quote!(#ident)
            }
            Shape::String { format, .. } => match format.as_deref() {
                Some("date-time") => {
                    quote!(::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time)
                }
                _ => quote!(String),
            },
            Shape::Integer { format } => match format.as_deref() {
                Some("int32") => quote!(i32),
                _ => quote!(i64),
            },
            Shape::Number { .. } => quote!(f64),
            Shape::Boolean => quote!(bool),
            Shape::IntOrString => {
                quote!(::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString)
            }
            Shape::External(name) => external_type_path(name).ok_or_else(|| {
                self.err(
                    &schema.path,
                    format!("cannot map {name:?} to a k8s-openapi type"),
                )
            })?,
        })
    }

    fn enumeration(&mut self, name: &str, schema: &Schema, values: &[String]) -> Result<()> {
        self.claim_name(name, &schema.path)?;
        let ident = type_ident(name);
        let variants = values.iter().map(|value| {
            let variant = type_ident(&pascal_case(value));
            quote! {
                #[serde(rename = #value)]
                #variant,
            }
        });
        let as_str_arms = values.iter().map(|value| {
            let variant = type_ident(&pascal_case(value));
            quote!(Self::#variant => #value,)
        });
        let docs = doc_attrs(schema.description.as_deref());
        self.items.push(quote! {
            #docs
            #[derive(::serde::Serialize, ::serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
            pub enum #ident {
                #(#variants)*
            }
            impl #ident {
                /// The value as it appears in JSON.
                pub fn as_str(&self) -> &'static str {
                    match self { #(#as_str_arms)* }
                }
            }
            impl ::std::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        });
        Ok(())
    }

    /// The Rust expression for a schema default.
    fn default_expr(
        &mut self,
        parent: &str,
        field: &str,
        schema: &Schema,
        default: &Value,
    ) -> Result<TokenStream> {
        let unsupported = |what: &str| {
            self.err(
                &format!("{}.default", schema.path),
                format!("unsupported construct: a default on {what}"),
            )
        };
        Ok(match (&schema.shape, default) {
            (Shape::Boolean, Value::Bool(b)) => quote!(#b),
            (Shape::Integer { format }, Value::Number(n)) => {
                let n = n
                    .as_i64()
                    .ok_or_else(|| unsupported("a non-integer number"))?;
                if format.as_deref() == Some("int32") {
                    let n = i32::try_from(n).map_err(|_| unsupported("an int32 out of range"))?;
                    quote!(#n)
                } else {
                    quote!(#n)
                }
            }
            (Shape::Number { .. }, Value::Number(n)) => {
                let n = n
                    .as_f64()
                    .ok_or_else(|| unsupported("a number out of range"))?;
                quote!(#n)
            }
            (
                Shape::String {
                    enum_values: Some(_),
                    ..
                },
                Value::String(s),
            ) => {
                let ty = type_ident(&self.child_name(parent, field));
                let variant = type_ident(&pascal_case(s));
                quote!(#ty::#variant)
            }
            (Shape::String { format, .. }, Value::String(s)) => {
                if format.as_deref() == Some("date-time") {
                    return Err(unsupported("a date-time field"));
                }
                quote!(String::from(#s))
            }
            (Shape::IntOrString, Value::Number(n)) => {
                let n = n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| unsupported("an int-or-string out of int32 range"))?;
                quote!(::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(#n))
            }
            (Shape::IntOrString, Value::String(s)) => {
                quote!(::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(String::from(#s)))
            }
            (Shape::Map(_), _) => quote!(::std::collections::BTreeMap::new()),
            (Shape::Struct { .. }, _) => {
                let name = self.child_name(parent, field);
                if !self.defaultable.contains(&name) {
                    return Err(self.err(
                        &format!("{}.default", schema.path),
                        format!(
                            "the default {{}} needs every required field of `{name}` to have a default"
                        ),
                    ));
                }
                quote!(Default::default())
            }
            (Shape::Array(items), Value::Array(values)) => {
                let values = values
                    .iter()
                    .map(|v| self.default_expr(parent, field, items, v))
                    .collect::<Result<Vec<_>>>()?;
                quote!(vec![#(#values),*])
            }
            (Shape::FreeForm { .. }, _) => return Err(unsupported("a free-form field")),
            (Shape::External(_), _) => return Err(unsupported("a Kubernetes type reference")),
            _ => return Err(unsupported("a value of another type")),
        })
    }
}

fn field_ident_text(ident: &proc_macro2::Ident) -> String {
    ident.to_string().trim_start_matches("r#").to_string()
}

fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else {
        return quote!();
    };
    let lines = doc.trim_end().lines().map(|line| {
        let line = if line.is_empty() {
            String::new()
        } else {
            format!(" {line}")
        };
        quote!(#[doc = #line])
    });
    quote!(#(#lines)*)
}

/// `io.k8s.api.core.v1.EnvVar` → `::k8s_openapi::api::core::v1::EnvVar`.
pub fn external_type_path(name: &str) -> Option<TokenStream> {
    let rest = name.strip_prefix("io.k8s.")?;
    let segments: Vec<&str> = rest.split('.').collect();
    let (last, modules) = segments.split_last()?;
    if modules.is_empty()
        || !modules.iter().all(|m| {
            !m.is_empty()
                && m.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        || !last.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return None;
    }
    let modules = modules.iter().map(|m| format_ident!("{}", m));
    let last = format_ident!("{}", last);
    Some(quote!(::k8s_openapi #(::#modules)* :: #last))
}

/// Formats a token stream as a Rust file with a header comment.
pub fn format_file(header: &str, tokens: TokenStream, file: &str) -> Result<String> {
    let parsed: syn::File = syn::parse2(tokens).map_err(|e| {
        CodegenError::new(file, "", format!("generator produced invalid Rust: {e}"))
    })?;
    Ok(format!("{header}\n{}", prettyplease::unparse(&parsed)))
}
