//! Response bodies for objects and lists in the negotiated representation (JSON, YAML, Table,
//! PartialObjectMetadata), plus `Warning` headers.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::http::request::negotiation::Output;
use crate::apiserver::http::response::table::{self, IncludeObject, TableInput};
use crate::apiserver::objects::ObjectList;
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::StoredObject;

/// Encodes `value` for `output`'s wire format.
pub fn encode(output: Output, value: &Value) -> Result<(Bytes, &'static str), ApiError> {
    match output {
        Output::Yaml => serde_saphyr::to_string(value)
            .map(|s| (Bytes::from(s), "application/yaml"))
            .map_err(|e| ApiError::internal(format!("encoding YAML: {e}"))),
        _ => serde_json::to_vec(value)
            .map(|v| (Bytes::from(v), "application/json"))
            .map_err(|e| ApiError::internal(format!("encoding JSON: {e}"))),
    }
}

pub fn respond(status: StatusCode, output: Output, value: &Value) -> Response {
    match encode(output, value) {
        Ok((body, content_type)) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A stored object's response: JSON is the revision's shared encoding, sent as is.
pub fn object_response(
    r: &ResourceDescriptor,
    output: Output,
    object: &StoredObject,
    include: IncludeObject,
) -> Response {
    stored_object_response(StatusCode::OK, r, output, object, include)
}

/// `object_response` with another status (201 for creates).
pub fn stored_object_response(
    status: StatusCode,
    r: &ResourceDescriptor,
    output: Output,
    object: &StoredObject,
    include: IncludeObject,
) -> Response {
    match output {
        Output::Json => json_response(status, object.json().clone()),
        _ => match object.to_value() {
            Ok(value) => respond(status, output, &object_value(r, output, value, include)),
            Err(e) => ApiError::internal(e.to_string()).into_response(),
        },
    }
}

/// A list's response. JSON lists are assembled from each item's shared encoding; the envelope
/// is the one `list_value` builds (apiVersion, kind, metadata, then items, in insertion order).
/// Tables are serialized straight from the stored objects.
pub fn list_response(
    r: &ResourceDescriptor,
    output: Output,
    list: &ObjectList,
    include: IncludeObject,
) -> Response {
    let encoded = match output {
        Output::Json => json_list(r, list),
        Output::Table(v) => {
            // Rows are projected out of each revision's JSON text (table.rs).
            let objects: Vec<&[u8]> = list.items.iter().map(|o| o.json().as_ref()).collect();
            // A row is about its object's metadata (most of a small object) plus its cells.
            let size_hint = match include {
                IncludeObject::None => list.items.len() * 128,
                _ => list.items.iter().map(|o| o.json().len() + 128).sum(),
            };
            table::table_json(
                r,
                &TableInput {
                    meta_version: v,
                    objects: &objects,
                    list_metadata: &list_metadata(list),
                    include,
                    with_columns: true,
                },
                size_hint,
            )
        }
        _ => {
            return match list_value(r, output, list, include) {
                Ok(value) => respond(StatusCode::OK, output, &value),
                Err(e) => e.into_response(),
            };
        }
    };
    match encoded {
        Ok(body) => json_response(StatusCode::OK, Bytes::from(body)),
        Err(e) => ApiError::internal(format!("encoding JSON: {e}")).into_response(),
    }
}

/// `<Kind>List` JSON: the envelope, then every item's shared encoding copied in once.
fn json_list(r: &ResourceDescriptor, list: &ObjectList) -> serde_json::Result<Vec<u8>> {
    let head = json!({
        "apiVersion": r.api_version(),
        "kind": r.list_kind,
        "metadata": list_metadata(list),
    });
    let mut out = serde_json::to_vec(&head)?;
    let items_len: usize = list.items.iter().map(|o| o.json().len() + 1).sum();
    out.reserve(items_len + 16);
    // Reopen the envelope object to append the items array as its last member.
    out.pop();
    out.extend_from_slice(br#","items":["#);
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.json());
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// One object as `output` shows it.
pub fn object_value(
    r: &ResourceDescriptor,
    output: Output,
    object: Value,
    include: IncludeObject,
) -> Value {
    match output {
        Output::Json | Output::Yaml => object,
        Output::Table(v) => table::table(
            r,
            &TableInput {
                meta_version: v,
                objects: &[&object],
                list_metadata: &json!({ "resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null) }),
                include,
                with_columns: true,
            },
        ),
        Output::Metadata(v) => table::partial_metadata(&object, v),
    }
}

fn list_metadata(list: &ObjectList) -> Value {
    let mut meta = json!({ "resourceVersion": list.resource_version });
    if let Some(token) = &list.continue_token {
        meta["continue"] = json!(token);
    }
    if let Some(n) = list.remaining_item_count {
        meta["remainingItemCount"] = json!(n);
    }
    meta
}

/// A list as `output` shows it: `<Kind>List`, a Table, or a PartialObjectMetadataList.
/// Items are parsed from their stored text (YAML and metadata lists; JSON lists and Tables
/// are built from the text directly in `list_response`).
pub fn list_value(
    r: &ResourceDescriptor,
    output: Output,
    list: &ObjectList,
    include: IncludeObject,
) -> Result<Value, ApiError> {
    let metadata = list_metadata(list);
    let parsed = || -> Result<Vec<Value>, ApiError> {
        list.items
            .iter()
            .map(|o| o.to_value().map_err(|e| ApiError::internal(e.to_string())))
            .collect()
    };
    Ok(match output {
        Output::Json | Output::Yaml => json!({
            "apiVersion": r.api_version(),
            "kind": r.list_kind,
            "metadata": metadata,
            "items": parsed()?,
        }),
        Output::Table(v) => {
            let objects: Vec<&[u8]> = list.items.iter().map(|o| o.json().as_ref()).collect();
            table::table(
                r,
                &TableInput {
                    meta_version: v,
                    objects: &objects,
                    list_metadata: &metadata,
                    include,
                    with_columns: true,
                },
            )
        }
        Output::Metadata(v) => json!({
            "apiVersion": format!("meta.k8s.io/{v}"),
            "kind": "PartialObjectMetadataList",
            "metadata": metadata,
            "items": parsed()?.iter().map(|o| table::partial_metadata(o, v)).collect::<Vec<_>>(),
        }),
    })
}

/// Adds one `Warning: 299 - "..."` header per warning, as kube-apiserver does.
pub fn add_warnings(response: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = w.replace('\\', "\\\\").replace('"', "\\\"");
        // Header values must be visible ASCII; drop what is not rather than fail the write.
        let text: String = text
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
}
