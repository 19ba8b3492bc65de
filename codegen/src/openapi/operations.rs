//! The REST operations of one resource as the aggregated apiserver serves them: for each, its
//! path and method, the parameters it reads, the request body it takes and every status code
//! it can answer with the body that comes with it.
//!
//! The set, the names (operationId, `x-kubernetes-action`, tags) and the parameters follow what
//! kube-apiserver publishes for a CRD of the same schema, so clients and tools written against
//! Kubernetes find what they look for; where this server answers differently (see
//! `tests/apiserver/openapi.rs` for the list and the reasons) the operation says what this
//! server does.

use crate::model::Resource;

use super::parameters::{self, Parameter};

/// What an operation does, as kube-apiserver's `x-kubernetes-action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Create,
    DeleteCollection,
    Get,
    Replace,
    Patch,
    Delete,
}

impl Action {
    pub fn x_kubernetes_action(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Create => "post",
            Action::DeleteCollection => "deletecollection",
            Action::Get => "get",
            Action::Replace => "put",
            Action::Patch => "patch",
            Action::Delete => "delete",
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            Action::List | Action::Get => "get",
            Action::Create => "post",
            Action::DeleteCollection | Action::Delete => "delete",
            Action::Replace => "put",
            Action::Patch => "patch",
        }
    }

    /// The verb an operationId starts with.
    fn operation_verb(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Create => "create",
            Action::DeleteCollection | Action::Delete => "delete",
            Action::Get => "read",
            Action::Replace => "replace",
            Action::Patch => "patch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/namespaces/{namespace}/<plural>` (or `/<plural>` for a cluster-scoped kind).
    Collection,
    /// `/<plural>` of a namespaced kind: every namespace at once.
    AllNamespaces,
    /// `.../<plural>/{name}`
    Item,
}

/// The schema a request or response body has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The kind.
    Object,
    /// The kind's list.
    List,
    /// A `metav1.Status`: what every failure answers.
    Status,
    /// What a DELETE answers: a `Success` Status when the object is gone, or the object itself
    /// (with its deletionTimestamp) while finalizers still hold it.
    ObjectOrStatus,
    /// A create body: the kind, with what the server requires of a new object.
    NewObject,
    /// A replace body: the kind, with what the server requires of a replacement.
    Replacement,
    /// A patch document (`metav1.Patch`: any JSON value the patch type allows).
    Patch,
    /// `metav1.DeleteOptions`.
    DeleteOptions,
}

/// Content types of object and list answers: the server renders either (Accept).
pub const OBJECT_CONTENT_TYPES: &[&str] = &["application/json", "application/yaml"];
/// Failures are always JSON, whatever the Accept header asked for.
pub const STATUS_CONTENT_TYPES: &[&str] = &["application/json"];
/// Bodies of create and replace.
pub const WRITE_CONTENT_TYPES: &[&str] = &["application/json", "application/yaml"];
/// The patch types the server implements (no strategic merge patch: these kinds are not
/// built-in Go types, the same as for CRDs).
pub const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
];
/// DeleteOptions bodies are decoded as JSON only.
pub const DELETE_CONTENT_TYPES: &[&str] = &["application/json"];

#[derive(Debug, Clone, Copy)]
pub struct RequestBody {
    pub body: Body,
    pub content_types: &'static [&'static str],
    pub required: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Response {
    pub code: u16,
    pub description: &'static str,
    pub body: Body,
    pub content_types: &'static [&'static str],
}

const fn ok(code: u16, description: &'static str, body: Body) -> Response {
    Response {
        code,
        description,
        body,
        content_types: OBJECT_CONTENT_TYPES,
    }
}

const fn failure(code: u16, description: &'static str) -> Response {
    Response {
        code,
        description,
        body: Body::Status,
        content_types: STATUS_CONTENT_TYPES,
    }
}

/// Failures any resource request can meet before or around the operation itself.
const ANY_REQUEST: &[Response] = &[
    failure(
        400,
        "Bad Request: a malformed query parameter, resourceVersion or body",
    ),
    failure(401, "Unauthorized: the credentials were not accepted"),
    failure(403, "Forbidden: the caller may not do this here"),
    failure(404, "Not Found: no such object, or no such namespace"),
    failure(
        406,
        "Not Acceptable: the server renders none of the types in Accept",
    ),
    failure(
        429,
        "Too Many Requests: the server is at its limit of requests in flight; retry after Retry-After",
    ),
    failure(500, "Internal Server Error"),
    failure(
        503,
        "Service Unavailable: the store or the Coder backend cannot be reached",
    ),
    failure(504, "Gateway Timeout: the request did not finish in time"),
];

const EXPIRED: Response = failure(
    410,
    "Gone: the resourceVersion or continue token is older than the server's history",
);
const CONFLICT: Response = failure(
    409,
    "Conflict: the object already exists, changed since the given resourceVersion, or (apply) another manager owns a field",
);
const TOO_LARGE: Response = failure(
    413,
    "Request Entity Too Large: the body or the resulting object is over the server's limit",
);
const UNSUPPORTED: Response = failure(
    415,
    "Unsupported Media Type: the body's Content-Type is not one this operation takes",
);
const INVALID: Response = failure(
    422,
    "Unprocessable Entity: the object or the request options are not valid",
);

/// One operation on a resource.
#[derive(Debug, Clone)]
pub struct Operation {
    pub action: Action,
    pub scope: Scope,
    pub subresource: Option<&'static str>,
    /// Query parameters, in the order they are documented (path parameters belong to the
    /// path, see [`path_parameters`]).
    pub query: Vec<Parameter>,
    pub request: Option<RequestBody>,
    /// Ascending by code.
    pub responses: Vec<Response>,
}

impl Operation {
    fn new(action: Action, scope: Scope, subresource: Option<&'static str>) -> Self {
        let (query, request, success, failures): (
            Vec<Parameter>,
            Option<RequestBody>,
            Vec<Response>,
            &[Response],
        ) = match action {
            Action::List => (
                parameters::LIST.to_vec(),
                None,
                vec![ok(200, "OK", Body::List)],
                &[EXPIRED, INVALID],
            ),
            Action::Get => (
                parameters::GET.to_vec(),
                None,
                vec![ok(200, "OK", Body::Object)],
                &[EXPIRED],
            ),
            Action::Create => (
                parameters::WRITE.to_vec(),
                Some(RequestBody {
                    body: Body::NewObject,
                    content_types: WRITE_CONTENT_TYPES,
                    required: true,
                }),
                // A create answers 201 even with dryRun, as kube-apiserver does.
                vec![ok(201, "Created", Body::Object)],
                &[CONFLICT, TOO_LARGE, UNSUPPORTED, INVALID],
            ),
            Action::Replace => (
                parameters::WRITE.to_vec(),
                Some(RequestBody {
                    body: Body::Replacement,
                    content_types: WRITE_CONTENT_TYPES,
                    required: true,
                }),
                // No create-on-update: a PUT of a missing object is a 404.
                vec![ok(200, "OK", Body::Object)],
                &[CONFLICT, TOO_LARGE, UNSUPPORTED, INVALID],
            ),
            Action::Patch => (
                parameters::PATCH.to_vec(),
                Some(RequestBody {
                    body: Body::Patch,
                    content_types: PATCH_CONTENT_TYPES,
                    required: true,
                }),
                // An apply patch of a missing object creates it; a subresource has nothing to
                // create.
                if subresource.is_none() {
                    vec![
                        ok(200, "OK", Body::Object),
                        ok(
                            201,
                            "Created (an apply patch of a missing object)",
                            Body::Object,
                        ),
                    ]
                } else {
                    vec![ok(200, "OK", Body::Object)]
                },
                &[CONFLICT, TOO_LARGE, UNSUPPORTED, INVALID],
            ),
            Action::Delete => (
                parameters::DELETE.to_vec(),
                Some(RequestBody {
                    body: Body::DeleteOptions,
                    content_types: DELETE_CONTENT_TYPES,
                    required: false,
                }),
                vec![ok(200, "OK", Body::ObjectOrStatus)],
                &[CONFLICT, TOO_LARGE, INVALID],
            ),
            Action::DeleteCollection => (
                // The collection is chosen like a list and each object deleted like a DELETE.
                [parameters::LIST, parameters::DELETE].concat(),
                Some(RequestBody {
                    body: Body::DeleteOptions,
                    content_types: DELETE_CONTENT_TYPES,
                    required: false,
                }),
                // The objects deleted (or, with finalizers, marked for deletion), as kube does
                // for CRDs.
                vec![ok(200, "OK", Body::List)],
                &[CONFLICT, EXPIRED, TOO_LARGE, INVALID],
            ),
        };
        let mut responses = success;
        responses.extend_from_slice(ANY_REQUEST);
        responses.extend_from_slice(failures);
        responses.sort_by_key(|r| r.code);
        Operation {
            action,
            scope,
            subresource,
            query,
            request,
            responses,
        }
    }

    pub fn path(&self, resource: &Resource) -> String {
        let base = format!("/apis/{}/{}", resource.group, resource.version);
        let namespace = if resource.namespaced && self.scope != Scope::AllNamespaces {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let name = if self.scope == Scope::Item {
            "/{name}"
        } else {
            ""
        };
        let sub = self
            .subresource
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        format!("{base}{namespace}/{}{name}{sub}", resource.plural)
    }

    /// kube-apiserver's operationId: verb, group and version in PascalCase, `Namespaced` or
    /// `ForAllNamespaces`, `Collection` for deletecollection, the kind, the subresource.
    pub fn operation_id(&self, resource: &Resource) -> String {
        let group: String = resource
            .group
            .split('.')
            .map(crate::naming::pascal_case)
            .collect();
        let version = crate::naming::pascal_case(&resource.version);
        let collection = if self.action == Action::DeleteCollection {
            "Collection"
        } else {
            ""
        };
        let (namespaced, all_namespaces) = match (resource.namespaced, self.scope) {
            (true, Scope::AllNamespaces) => ("", "ForAllNamespaces"),
            (true, _) => ("Namespaced", ""),
            (false, _) => ("", ""),
        };
        let sub = self
            .subresource
            .map(crate::naming::pascal_case)
            .unwrap_or_default();
        format!(
            "{}{group}{version}{collection}{namespaced}{}{sub}{all_namespaces}",
            self.action.operation_verb(),
            resource.kind
        )
    }

    pub fn description(&self, resource: &Resource) -> String {
        let kind = &resource.kind;
        match (self.action, self.subresource) {
            (Action::List, _) => {
                format!("List the objects of kind {kind}, or watch them (watch=true).")
            }
            (Action::Create, _) => format!("Create a {kind}."),
            (Action::DeleteCollection, _) => {
                format!("Delete every {kind} the selectors match; answers the objects deleted.")
            }
            (Action::Get, None) => format!("Read a {kind}."),
            // With a status subresource, the main resource's writes leave status alone.
            (Action::Replace, None) if resource.status_subresource => {
                format!("Replace a {kind} (its status is kept).")
            }
            (Action::Replace, None) => format!("Replace a {kind}."),
            (Action::Patch, None) if resource.status_subresource => {
                format!("Patch a {kind} (its status is kept).")
            }
            (Action::Patch, None) => format!("Patch a {kind}."),
            (Action::Delete, _) => format!("Delete a {kind}."),
            (Action::Get, Some(sub)) => format!("Read the {sub} of a {kind}."),
            (Action::Replace, Some(sub)) => {
                format!("Replace the {sub} of a {kind} (the rest is kept).")
            }
            (Action::Patch, Some(sub)) => {
                format!("Patch the {sub} of a {kind} (the rest is kept).")
            }
        }
    }
}

/// Every operation the server serves for `resource`, in a fixed order.
pub fn operations(resource: &Resource) -> Vec<Operation> {
    use Action::*;
    use Scope::*;
    let mut ops = vec![
        Operation::new(List, Collection, None),
        Operation::new(Create, Collection, None),
        Operation::new(DeleteCollection, Collection, None),
        Operation::new(Get, Item, None),
        Operation::new(Replace, Item, None),
        Operation::new(Patch, Item, None),
        Operation::new(Delete, Item, None),
    ];
    if resource.namespaced {
        ops.push(Operation::new(List, AllNamespaces, None));
    }
    if resource.status_subresource {
        for action in [Get, Replace, Patch] {
            ops.push(Operation::new(action, Item, Some("status")));
        }
    }
    ops
}

/// The path parameters of an operation's path, which the path item declares once for all its
/// operations.
pub fn path_parameters(resource: &Resource, scope: Scope) -> Vec<(Parameter, Option<String>)> {
    let mut params = Vec::new();
    if resource.namespaced && scope != Scope::AllNamespaces {
        params.push((parameters::NAMESPACE, None));
    }
    if scope == Scope::Item {
        let (name, description) = parameters::name(&resource.kind);
        params.push((name, Some(description)));
    }
    params
}
