//! The query and path parameters the aggregated apiserver honours, by operation. Names, places
//! and types are Kubernetes' (clients such as kubectl look for them by name, for example
//! `fieldValidation` on PATCH); each list holds only what the server reads, which
//! `tests/apiserver/openapi.rs` compares with what kube-apiserver publishes for a CRD.

use serde_json::{Value, json};

use crate::jsonschema::Dialect;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// JSON type of a parameter's value (every Kubernetes parameter is a scalar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Integer,
    Boolean,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Integer => "integer",
            Type::Boolean => "boolean",
        }
    }
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    pub name: &'static str,
    pub location: In,
    pub type_: Type,
    pub description: &'static str,
    /// The only values the server accepts (`enum`); empty when any value of the type may do.
    pub values: &'static [&'static str],
}

const fn query(name: &'static str, type_: Type, description: &'static str) -> Parameter {
    Parameter {
        name,
        location: In::Query,
        type_,
        description,
        values: &[],
    }
}

/// A string query parameter the server accepts only these values of (anything else is a 422).
const fn one_of(
    name: &'static str,
    values: &'static [&'static str],
    description: &'static str,
) -> Parameter {
    Parameter {
        name,
        location: In::Query,
        type_: Type::String,
        description,
        values,
    }
}

pub const NAMESPACE: Parameter = Parameter {
    name: "namespace",
    location: In::Path,
    type_: Type::String,
    description: "The namespace of the object: its name's scope and the unit of authorization.",
    values: &[],
};

/// `name` of an item path; its description names the kind, so it is built per resource.
pub fn name(kind: &str) -> (Parameter, String) {
    (
        Parameter {
            name: "name",
            location: In::Path,
            type_: Type::String,
            description: "",
            values: &[],
        },
        format!("The name of the {kind}."),
    )
}

const RESOURCE_VERSION: Parameter = query(
    "resourceVersion",
    Type::String,
    "Which revision the answer may come from: unset for the latest, \"0\" for any the server \
     holds, or a resourceVersion the answer must be at least as new as (list and watch: see \
     resourceVersionMatch). A revision older than the server's history answers 410 Gone.",
);

/// ListOptions: what a list, a watch and a delete of a collection read.
pub const LIST: &[Parameter] = &[
    query(
        "allowWatchBookmarks",
        Type::Boolean,
        "With watch: also send BOOKMARK events, which carry only a newer resourceVersion to \
         resume from. Ignored without watch.",
    ),
    query(
        "continue",
        Type::String,
        "The token a previous limited list returned in metadata.continue: the next page, from \
         the same snapshot. An expired token answers 410 Gone. Not allowed with watch.",
    ),
    query(
        "fieldSelector",
        Type::String,
        "Only objects whose fields match, for example metadata.name=x or \
         metadata.namespace!=y. Unset selects everything.",
    ),
    query(
        "labelSelector",
        Type::String,
        "Only objects whose labels match, for example app=x,tier!=y or env in (a,b). Unset \
         selects everything.",
    ),
    query(
        "limit",
        Type::Integer,
        "At most this many objects; when more remain, metadata.continue holds the token of the \
         next page. Zero or negative means no limit. Not allowed with watch.",
    ),
    RESOURCE_VERSION,
    one_of(
        "resourceVersionMatch",
        &["Exact", "NotOlderThan"],
        "How a list applies resourceVersion: Exact (the list at exactly that revision) or \
         NotOlderThan (at that revision or newer).",
    ),
    query(
        "sendInitialEvents",
        Type::Boolean,
        "With watch: start with an ADDED event for every matching object, then a BOOKMARK \
         annotated k8s.io/initial-events-end, then the changes.",
    ),
    query(
        "timeoutSeconds",
        Type::Integer,
        "How long a watch stays open at most, in seconds. Unset or zero lets the server choose.",
    ),
    query(
        "watch",
        Type::Boolean,
        "Answer with a stream of watch events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) instead \
         of a list: one JSON object per event, until timeoutSeconds.",
    ),
];

pub const GET: &[Parameter] = &[RESOURCE_VERSION];

const DRY_RUN: Parameter = one_of(
    "dryRun",
    &["All"],
    "All: check and answer as if the change were made, but store nothing. No other value is \
     accepted.",
);

const FIELD_VALIDATION: Parameter = one_of(
    "fieldValidation",
    &["Ignore", "Strict", "Warn"],
    "What to do with fields the schema does not declare and with duplicated fields: Ignore \
     (drop them silently), Warn (drop them with a Warning header; the default) or Strict \
     (answer 400 naming them).",
);

/// CreateOptions and UpdateOptions.
pub const WRITE: &[Parameter] = &[
    DRY_RUN,
    query(
        "fieldManager",
        Type::String,
        "The name this change is recorded under in metadata.managedFields: at most 128 \
         printable characters. Defaults to the client's User-Agent up to its first '/'.",
    ),
    FIELD_VALIDATION,
];

/// PatchOptions.
pub const PATCH: &[Parameter] = &[
    DRY_RUN,
    query(
        "fieldManager",
        Type::String,
        "The name this change is recorded under in metadata.managedFields: at most 128 \
         printable characters. Required for an apply patch; other patches default to the \
         client's User-Agent up to its first '/'.",
    ),
    FIELD_VALIDATION,
    query(
        "force",
        Type::Boolean,
        "Apply patches only: take over fields another manager owns instead of answering 409 \
         Conflict. Refused on other patch types.",
    ),
];

/// DeleteOptions given in the query (a request body may carry them too; the query wins).
pub const DELETE: &[Parameter] = &[
    DRY_RUN,
    query(
        "gracePeriodSeconds",
        Type::Integer,
        "Seconds to wait before deleting. Accepted for compatibility: these kinds have no \
         grace period, so an object no finalizer holds goes at once whatever the value.",
    ),
    query(
        "orphanDependents",
        Type::Boolean,
        "Deprecated form of propagationPolicy: true means Orphan, false means Background. Not \
         allowed together with propagationPolicy.",
    ),
    one_of(
        "propagationPolicy",
        &["Background", "Foreground", "Orphan"],
        "What the garbage collector does with objects this one owns: Orphan (leave them), \
         Background (delete them after this one) or Foreground (delete them first, holding this \
         one with a finalizer until they are gone).",
    ),
];

impl Parameter {
    /// The parameter in `dialect`; `description` overrides the catalogue's (see [`name`]).
    pub fn render(&self, dialect: Dialect<'_>, description: Option<&str>) -> Value {
        let location = match self.location {
            In::Path => "path",
            In::Query => "query",
        };
        let description = description.unwrap_or(self.description);
        // Kubernetes marks every parameter `uniqueItems: true`; kept so the documents read like
        // kube-apiserver's to tools that compare them.
        let mut value = match dialect {
            Dialect::OpenApiV2 => json!({
                "name": self.name,
                "in": location,
                "description": description,
                "type": self.type_.as_str(),
                "uniqueItems": true,
            }),
            _ => json!({
                "name": self.name,
                "in": location,
                "description": description,
                "schema": { "type": self.type_.as_str(), "uniqueItems": true },
            }),
        };
        if let Value::Object(map) = &mut value {
            if self.location == In::Path {
                map.insert("required".into(), Value::Bool(true));
            }
            if !self.values.is_empty() {
                // v2 puts `enum` on the parameter, v3 in its schema.
                let target = match map.get_mut("schema") {
                    Some(Value::Object(schema)) => schema,
                    _ => map,
                };
                target.insert("enum".into(), json!(self.values));
            }
        }
        value
    }
}
