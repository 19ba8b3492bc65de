//! The API reference (Markdown): one section per kind, one table row per field, from the same
//! model the types and OpenAPI come from, so it can never drift from what is served.

use std::fmt::Write;

use serde_json::Value;

use crate::model::{Resource, Schema, ServedBy, Shape};

/// Validation keywords worth showing a user, in this order.
const CONSTRAINTS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
];

pub fn reference(resources: &[Resource], regenerate: &str) -> String {
    let mut out = format!(
        "<!-- @generated from schema/ by build.rs; do not edit. Regenerate with {regenerate}. -->\n\
         # API reference\n\n\
         Every kind coder-k8s defines, generated from `schema/`. `kubectl explain <kind>.<field>` \
         shows the same descriptions.\n\n"
    );
    for resource in resources {
        let _ = writeln!(
            out,
            "- [{} ({})](#{})",
            resource.kind,
            resource.api_version(),
            anchor(resource)
        );
    }
    for resource in resources {
        section(&mut out, resource);
    }
    out
}

fn anchor(resource: &Resource) -> String {
    resource.kind.to_lowercase()
}

fn section(out: &mut String, r: &Resource) {
    let served = match r.served_by {
        ServedBy::Crd => {
            "CustomResourceDefinition (kube-apiserver), reconciled by `--app=controller`"
        }
        ServedBy::AggregatedApiserver => "the aggregated apiserver (`--app=aggregated-apiserver`)",
    };
    let _ = write!(
        out,
        "\n## {kind}\n\n{description}\n\n\
         | | |\n|---|---|\n\
         | apiVersion | `{api_version}` |\n\
         | kind / list kind | `{kind}` / `{list_kind}` |\n\
         | resource | `{plural}` ({scope}) |\n\
         | short names | {short} |\n\
         | categories | {categories} |\n\
         | served by | {served} |\n\
         | status subresource | {status} |\n\
         | source | `{file}` |\n",
        kind = r.kind,
        description = r.schema.description.as_deref().unwrap_or("").trim(),
        api_version = r.api_version(),
        list_kind = r.list_kind,
        plural = r.plural,
        scope = if r.namespaced {
            "namespaced"
        } else {
            "cluster-scoped"
        },
        short = code_list(&r.short_names),
        categories = code_list(&r.categories),
        status = if r.status_subresource { "yes" } else { "no" },
        file = r.file,
    );
    if !r.printer_columns.is_empty() {
        out.push_str("\n`kubectl get` columns: ");
        let columns: Vec<String> = r
            .printer_columns
            .iter()
            .map(|c| format!("{} (`{}`)", c.name, c.json_path))
            .collect();
        out.push_str(&columns.join(", "));
        out.push('\n');
    }
    for part in ["spec", "status"] {
        let Some(schema) = r.schema.property(part) else {
            continue;
        };
        let _ = write!(
            out,
            "\n### {part}\n\n| field | type | required | default | description |\n|---|---|---|---|---|\n"
        );
        fields(out, part, schema, false);
    }
}

fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        "–".into()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Rows for `schema` at `path` and everything below it.
fn fields(out: &mut String, path: &str, schema: &Schema, required: bool) {
    row(out, path, schema, required);
    match &schema.shape {
        Shape::Struct {
            properties,
            required,
        } => {
            for (name, child) in properties {
                fields(
                    out,
                    &format!("{path}.{name}"),
                    child,
                    required.contains(name),
                );
            }
        }
        Shape::Array(item) if matches!(item.shape, Shape::Struct { .. }) => {
            if let Shape::Struct {
                properties,
                required,
            } = &item.shape
            {
                for (name, child) in properties {
                    fields(
                        out,
                        &format!("{path}[].{name}"),
                        child,
                        required.contains(name),
                    );
                }
            }
        }
        Shape::Map(value) if matches!(value.shape, Shape::Struct { .. }) => {
            fields(out, &format!("{path}{{}}"), value, false);
        }
        _ => {}
    }
}

fn row(out: &mut String, path: &str, schema: &Schema, required: bool) {
    let mut description = schema
        .description
        .clone()
        .unwrap_or_default()
        .replace('\n', " ");
    let constraints: Vec<String> = CONSTRAINTS
        .iter()
        .filter_map(|key| {
            schema
                .extra
                .get(*key)
                .map(|v| format!("{key}: {}", compact(v)))
        })
        .collect();
    if !constraints.is_empty() {
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(&format!("({})", constraints.join(", ")));
    }
    let default = schema
        .default
        .as_ref()
        .map(|d| format!("`{}`", compact(d)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| `{path}` | {} | {} | {default} | {} |",
        type_name(schema),
        if required { "yes" } else { "" },
        escape(description.trim()),
    );
}

fn type_name(schema: &Schema) -> String {
    match &schema.shape {
        Shape::Struct { .. } => "object".into(),
        Shape::Map(value) => format!("map[string]{}", type_name(value)),
        Shape::FreeForm { .. } => "any".into(),
        Shape::Array(item) => format!("[]{}", type_name(item)),
        Shape::String {
            format,
            enum_values,
        } => match (format, enum_values) {
            (_, Some(values)) => format!("string: {}", values.join(" \\| ")),
            (Some(format), None) => format!("string ({format})"),
            (None, None) => "string".into(),
        },
        Shape::Integer { format } => format.clone().unwrap_or_else(|| "integer".into()),
        Shape::Number { format } => format.clone().unwrap_or_else(|| "number".into()),
        Shape::Boolean => "boolean".into(),
        Shape::IntOrString => "int or string".into(),
        Shape::External(name) => {
            let short = name.rsplit('.').next().unwrap_or(name);
            format!(
                "[{short}](https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.34/#{})",
                short.to_lowercase()
            )
        }
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDGET: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.coder.com
  annotations:
    codegen.coder.com/served-by: aggregated-apiserver
spec:
  group: example.coder.com
  scope: Namespaced
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          description: A widget.
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, format: int32, minimum: 1, default: 3, description: "How | big."}
                parts:
                  type: array
                  items:
                    type: object
                    properties:
                      name: {type: string, enum: [a, b]}
"#;

    #[test]
    fn documents_every_field_with_type_requirement_default_and_constraints() {
        let resource = crate::parse_resource("schema/widget.yaml", WIDGET).unwrap();
        let text = reference(&[resource], "hack/update-codegen.sh");
        assert!(text.contains("## Widget\n\nA widget."), "{text}");
        assert!(
            text.contains("| apiVersion | `example.coder.com/v1` |"),
            "{text}"
        );
        assert!(text.contains("| short names | `wd` |"), "{text}");
        assert!(
            text.contains("| `spec.size` | int32 | yes | `3` | How \\| big. (minimum: 1) |"),
            "{text}"
        );
        assert!(
            text.contains("| `spec.parts[].name` | string: a \\| b |"),
            "{text}"
        );
    }
}
