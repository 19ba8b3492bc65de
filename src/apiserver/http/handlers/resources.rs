//! Resource requests: turn a parsed request into an object-layer call and its result into a
//! response. Verbs are not hand-routed per kind; the registry decides what exists.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::apiserver::http::handlers::state::SharedState;
use crate::apiserver::http::handlers::watch;
use crate::apiserver::http::request::delete_options;
use crate::apiserver::http::request::info::{Query, RequestInfo, Target, Verb, parse_target};
use crate::apiserver::http::request::list_validation;
use crate::apiserver::http::request::negotiation::{self, Output, PatchKind};
use crate::apiserver::http::response::render;
use crate::apiserver::http::response::table::IncludeObject;
use crate::apiserver::objects::apply::{ApplyOptions, managed::manager_from_user_agent};
use crate::apiserver::objects::{FieldValidation, ListOptions, Patch, WriteOptions};
use crate::apiserver::status::ApiError;

/// The verb and resource metrics count a resource request under.
#[derive(Debug, Clone, Copy)]
pub struct RequestLabels {
    pub verb: &'static str,
    pub resource: &'static str,
}

/// Everything under `/apis`, with the labels of a resource request. Takes the request whole:
/// extracting method, URI and headers separately would clone them on the hottest path.
pub async fn apis(state: &SharedState, request: Request) -> (Response, Option<RequestLabels>) {
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let rest = uri
        .path()
        .strip_prefix("/apis")
        .unwrap_or_default()
        .trim_start_matches('/');
    let target = Query::parse(uri.query()).and_then(|q| Ok((parse_target(method, rest, &q)?, q)));
    let (target, query) = match target {
        Ok(t) => t,
        Err(e) => return (e.into_response(), None),
    };
    let discovery_only = |response: Response| {
        let response = if method == Method::GET {
            response
        } else {
            ApiError::method_not_allowed_with(method, uri.path(), "GET").into_response()
        };
        (response, None)
    };
    match target {
        Target::Groups => discovery_only(state.discovery.apis(headers)),
        Target::Group(g) => discovery_only(state.discovery.group(&g)),
        Target::GroupVersion(g, v) => discovery_only(state.discovery.group_version(&g, &v)),
        Target::Resource(info) => {
            let labels = RequestLabels {
                verb: info.verb.as_str(),
                resource: info.resource.plural,
            };
            let response = match resource(state, info, query, headers, body).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            (response, Some(labels))
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A request body read whole, with its share of `--max-request-body-bytes-inflight`: the
/// reservation is held until the request's handling ends (the value decoded from the body lives
/// as long), then returned by drop.
struct ReadBody {
    bytes: Vec<u8>,
    _reserved: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl ReadBody {
    /// What a verb without a body reads.
    fn empty() -> Self {
        ReadBody {
            bytes: Vec::new(),
            _reserved: None,
        }
    }
}

impl std::ops::Deref for ReadBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads a request body, refusing more than `state.limits.max_body_bytes` with 413, and more
/// than the body bytes left to all requests with 429. Each chunk is reserved as it arrives, so a
/// client that announces a large body but sends little holds only what it sent. The body is read
/// up to the limit rather than refused on its Content-Length alone, so a client that is still
/// sending gets the Status instead of a reset connection.
async fn read_body(state: &SharedState, body: Body) -> Result<ReadBody, ApiError> {
    let limit = state.limits.max_body_bytes;
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    let mut reserved: Option<tokio::sync::OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if bytes.len() + data.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        let permits = u32::try_from(data.len()).map_err(|_| ApiError::too_large(limit))?;
        let Ok(permit) = state.body_bytes.clone().try_acquire_many_owned(permits) else {
            return Err(ApiError::too_many_requests(1));
        };
        match reserved.as_mut() {
            Some(held) => held.merge(permit),
            None => reserved = Some(permit),
        }
        bytes.extend_from_slice(&data);
    }
    Ok(ReadBody {
        bytes,
        _reserved: reserved,
    })
}

/// kube's limit on `fieldManager`.
const FIELD_MANAGER_MAX_BYTES: usize = 128;

/// Create/Update/PatchOptions from the query, refused like kube (422 naming the options kind).
/// The field manager is `fieldManager`, else (like kube) the User-Agent up to its first `/`.
fn write_options(
    query: &Query,
    options_kind: &str,
    headers: &HeaderMap,
) -> Result<WriteOptions, ApiError> {
    let invalid = |field: &str, reason: &str, message: String| {
        delete_options::invalid_options(options_kind, field, reason, message)
    };
    let dry_run: Vec<&str> = query.all("dryRun").collect();
    let dry_run = match dry_run.as_slice() {
        [] => false,
        values if values.iter().all(|v| *v == "All") => true,
        values => return Err(delete_options::unsupported_dry_run(options_kind, values)),
    };
    let field_validation = match query.get("fieldValidation") {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(invalid(
                "fieldValidation",
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                    crate::apiserver::objects::quote_go(other)
                ),
            ));
        }
    };
    if query
        .get("fieldManager")
        .is_some_and(|m| m.len() > FIELD_MANAGER_MAX_BYTES)
    {
        return Err(invalid(
            "fieldManager",
            "FieldValueTooLong",
            format!("Too long: may not be more than {FIELD_MANAGER_MAX_BYTES} bytes"),
        ));
    }
    Ok(WriteOptions {
        dry_run,
        field_validation,
        duplicate_fields: Vec::new(),
        field_manager: Some(query.string("fieldManager").unwrap_or_else(|| {
            manager_from_user_agent(header_str(headers, header::USER_AGENT).unwrap_or(""))
        })),
    })
}

/// kube's 422 for invalid PatchOptions (`PatchOptions.meta.k8s.io "" is invalid: ...`).
fn invalid_patch_options(field: &str, reason: &str, detail: &str) -> ApiError {
    delete_options::invalid_options("PatchOptions", field, reason, detail.to_string())
}

/// `fieldManager` and `force` of an apply; `force` on other patches is refused like kube does.
fn apply_options(kind: PatchKind, query: &Query) -> Result<Option<ApplyOptions>, ApiError> {
    let force = query.flag("force")?;
    if kind != PatchKind::Apply {
        if query.get("force").is_some() {
            return Err(invalid_patch_options(
                "force",
                "FieldValueForbidden",
                "Forbidden: may not be specified for non-apply patch",
            ));
        }
        return Ok(None);
    }
    let Some(field_manager) = query.string("fieldManager") else {
        return Err(invalid_patch_options(
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        ));
    };
    Ok(Some(ApplyOptions {
        field_manager,
        force,
    }))
}

fn list_options(query: &Query) -> Result<ListOptions, ApiError> {
    list_validation::validate_list(query)?;
    // kube treats a negative limit as no limit.
    let limit = query.number("limit")?;
    // Parsed (and refused when malformed) on lists too, as kube decodes ListOptions whole.
    query.number("timeoutSeconds")?;
    Ok(ListOptions {
        label_selector: query.string("labelSelector"),
        field_selector: query.string("fieldSelector"),
        limit: limit.filter(|n| *n > 0),
        continue_token: query.string("continue"),
        resource_version: query.string("resourceVersion"),
        resource_version_match: query.string("resourceVersionMatch"),
    })
}

fn write_response(
    output: Output,
    info: &RequestInfo,
    include: IncludeObject,
    outcome: crate::apiserver::objects::WriteOutcome,
) -> Response {
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // JSON answers with the stored revision's encoding, the bytes readers and watchers share.
    let mut response =
        render::stored_object_response(status, info.resource, output, &outcome.object, include);
    render::add_warnings(&mut response, &outcome.warnings);
    response
}

/// Whether a deleted object is still there (finalizers hold it, with a deletionTimestamp).
fn still_stored(object: &Value) -> bool {
    let meta = &object["metadata"];
    meta["deletionTimestamp"].is_string()
        && meta["finalizers"].as_array().is_some_and(|f| !f.is_empty())
}

/// What kube-apiserver answers when a custom resource is gone at once: a `Success` Status
/// naming it, not the object.
fn deleted_status(
    r: &crate::api::registry::ResourceDescriptor,
    output: Output,
    object: &Value,
) -> Response {
    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": object["metadata"]["name"],
            "group": r.group,
            "kind": r.plural,
            "uid": object["metadata"]["uid"],
        },
    });
    let output = match output {
        Output::Yaml => Output::Yaml,
        _ => Output::Json,
    };
    render::respond(StatusCode::OK, output, &status)
}

async fn resource(
    state: &SharedState,
    info: RequestInfo,
    query: Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The body of every verb that carries one is read before any check that can refuse the
    // request: an answer sent while the client is still writing ends with the connection closed
    // on unread bytes, which makes the kernel reset it, and the client can lose the answer (Go's
    // server reads up to 256 KiB of an unread body for the same reason). read_body is bounded.
    let bytes = match info.verb {
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection => {
            read_body(state, body).await?
        }
        Verb::Get | Verb::List | Verb::Watch => ReadBody::empty(),
    };
    let output = negotiation::negotiate(header_str(headers, header::ACCEPT))?;
    let include = IncludeObject::parse(query.get("includeObject"))?;
    let r = info.resource;
    let ns = info.namespace.as_deref();
    let name = info.name.as_deref().unwrap_or_default();
    let objects = &state.objects;
    match info.verb {
        Verb::Watch => {
            list_validation::validate_watch(&query)?;
            watch::serve(state, &info, &query, output, include).await
        }
        Verb::Get => {
            let rv = query.string("resourceVersion");
            let object = objects.get_at(r, ns, name, rv.as_deref()).await?;
            Ok(render::object_response(r, output, &object, include))
        }
        Verb::List => {
            let list = objects.list(r, ns, &list_options(&query)?).await?;
            Ok(render::list_response(r, output, &list, include))
        }
        Verb::Create | Verb::Update => {
            let format = negotiation::body_format(header_str(headers, header::CONTENT_TYPE))?;
            let object = negotiation::decode_body(format, &bytes)?;
            let options_kind = if info.verb == Verb::Create {
                "CreateOptions"
            } else {
                "UpdateOptions"
            };
            let mut opts = write_options(&query, options_kind, headers)?;
            if format == negotiation::BodyFormat::Json {
                opts.duplicate_fields = crate::apiserver::objects::duplicates::find(&bytes);
            }
            let outcome = if info.verb == Verb::Create {
                objects.create(r, ns, object, &opts).await?
            } else {
                objects
                    .update(r, ns, name, info.subresource, object, &opts)
                    .await?
            };
            Ok(write_response(output, &info, include, outcome))
        }
        Verb::Patch => {
            let kind = negotiation::patch_kind(header_str(headers, header::CONTENT_TYPE))?;
            let apply = apply_options(kind, &query)?;
            let mut opts = write_options(&query, "PatchOptions", headers)?;
            let outcome = if let Some(apply) = apply {
                // JSON is YAML; one decoder reads both.
                let config = negotiation::decode_body(negotiation::BodyFormat::Yaml, &bytes)?;
                objects
                    .apply(r, ns, name, info.subresource, config, &apply, &opts)
                    .await?
            } else {
                let patch_body =
                    crate::apiserver::http::request::bounded_decode::json(&bytes, "patch body")?;
                if kind == PatchKind::Merge {
                    // A merge patch's keys are the object's: repeated ones are reported like a body's.
                    opts.duplicate_fields = crate::apiserver::objects::duplicates::find(&bytes);
                }
                let patch = match kind {
                    PatchKind::Merge => Patch::Merge(patch_body),
                    _ => Patch::Json(patch_body),
                };
                objects
                    .patch(r, ns, name, info.subresource, patch, &opts)
                    .await?
            };
            Ok(write_response(output, &info, include, outcome))
        }
        Verb::Delete => {
            let opts = delete_options::parse(&query, &bytes)?;
            let outcome = objects.delete(r, ns, name, &opts).await?;
            let deleted = outcome
                .object
                .to_value()
                .map_err(crate::apiserver::objects::Error::from)?;
            if still_stored(&deleted) {
                Ok(write_response(output, &info, include, outcome))
            } else {
                Ok(deleted_status(r, output, &deleted))
            }
        }
        Verb::DeleteCollection => {
            let opts = delete_options::parse(&query, &bytes)?;
            let list = objects
                .delete_collection(r, ns, &list_options(&query)?, &opts)
                .await?;
            Ok(render::list_response(r, output, &list, include))
        }
    }
}
