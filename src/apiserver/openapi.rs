//! OpenAPI documents: `/openapi/v2` (Swagger JSON), `/openapi/v3` (index) and
//! `/openapi/v3/apis/<g>/<v>`, served as fixed bytes with ETags.
//!
//! The generated v3 documents are completed here with the query parameters and patch types this
//! server implements: kubectl decides between server-side field validation and downloading the
//! protobuf v2 schema by looking for `fieldValidation` on the kind's PATCH operation, and
//! between patch formats by the PATCH request body types.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::discovery::{etag_of, not_modified};
use super::negotiation::parse_accept;
use super::status::ApiError;

struct Doc {
    body: Bytes,
    etag: String,
}

impl Doc {
    fn new(body: Vec<u8>) -> Self {
        let etag = etag_of(&body);
        Doc {
            body: Bytes::from(body),
            etag,
        }
    }

    /// The `hash=` of the document's URL.
    fn hash(&self) -> String {
        self.etag.trim_matches('"').to_ascii_uppercase()
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        if not_modified(headers, &self.etag) {
            return (
                StatusCode::NOT_MODIFIED,
                [(header::ETAG, self.etag.clone())],
            )
                .into_response();
        }
        (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (header::ETAG, self.etag.clone()),
            ],
            self.body.clone(),
        )
            .into_response()
    }
}

pub struct OpenApi {
    v2: Doc,
    v3_index: Doc,
    /// Keyed by `apis/<g>/<v>`.
    v3: BTreeMap<String, Doc>,
}

fn query_param(name: &str, description: &str, type_: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": type_, "uniqueItems": true},
    })
}

/// Adds the query parameters and patch content types the handlers honour.
fn complete_v3(mut doc: Value) -> Value {
    let write_params = [
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid value: All",
            "string",
        ),
        query_param(
            "fieldManager",
            "Name of the actor making the change.",
            "string",
        ),
        query_param(
            "fieldValidation",
            "How to handle unknown or duplicate fields in the body: Ignore, Warn (default) or Strict.",
            "string",
        ),
    ];
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for item in paths.values_mut() {
        for method in ["post", "put", "patch"] {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let params = op
                .entry("parameters")
                .or_insert_with(|| json!([]))
                .as_array_mut();
            if let Some(params) = params {
                for p in &write_params {
                    if !params.iter().any(|q| q["name"] == p["name"]) {
                        params.push(p.clone());
                    }
                }
            }
            if method == "patch"
                && let Some(content) = op
                    .get_mut("requestBody")
                    .and_then(|b| b.get_mut("content"))
                    .and_then(Value::as_object_mut)
            {
                let schema = json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
                content
                    .entry("application/json-patch+json")
                    .or_insert_with(|| schema.clone());
                content
                    .entry("application/merge-patch+json")
                    .or_insert(schema);
            }
        }
    }
    doc
}

impl OpenApi {
    pub fn build(v2: &str, v3: &[(&str, &str)]) -> Self {
        let mut docs = BTreeMap::new();
        let mut index = serde_json::Map::new();
        for (key, text) in v3 {
            let body = match serde_json::from_str::<Value>(text) {
                Ok(doc) => serde_json::to_vec(&complete_v3(doc)).unwrap_or_default(),
                // Generated text is checked by tests; serve it untouched rather than not at all.
                Err(_) => text.as_bytes().to_vec(),
            };
            let doc = Doc::new(body);
            // The hash lets clients cache each document forever under its URL.
            let hash = doc.hash();
            index.insert(
                key.to_string(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
            docs.insert(key.to_string(), doc);
        }
        let index_body = serde_json::to_vec(&json!({"paths": index})).unwrap_or_default();
        OpenApi {
            v2: Doc::new(v2.as_bytes().to_vec()),
            v3_index: Doc::new(index_body),
            v3: docs,
        }
    }

    /// `/openapi/v2`. Only JSON is served: a protobuf-only Accept gets 406, which makes client-go
    /// treat the v2 schema as unavailable instead of failing to decode JSON as protobuf.
    pub fn v2(&self, headers: &HeaderMap) -> Response {
        if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
            let accepts_json = parse_accept(accept).iter().any(|m| {
                matches!(
                    m.essence.as_str(),
                    "application/json" | "application/*" | "*/*"
                )
            });
            if !accept.trim().is_empty() && !accepts_json {
                return ApiError::not_acceptable(accept).into_response();
            }
        }
        self.v2.respond(headers)
    }

    pub fn v3_index(&self, headers: &HeaderMap) -> Response {
        self.v3_index.respond(headers)
    }

    /// `/openapi/v3/<key>[?hash=H]`. With the current hash the document is immutable; with a
    /// stale one the client is redirected (301) to the current URL, as kube does, so a cached
    /// index never pins an old document; without a hash it must be revalidated.
    pub fn v3_doc(&self, key: &str, query: Option<&str>, headers: &HeaderMap) -> Response {
        let Some(doc) = self.v3.get(key) else {
            return ApiError::path_not_found().into_response();
        };
        let current = doc.hash();
        let asked = query.and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "hash")
                .map(|(_, v)| v)
        });
        let (mut response, cache_control) = match asked {
            Some(hash) if hash != current => {
                let location = format!("/openapi/v3/{key}?hash={current}");
                (
                    (
                        StatusCode::MOVED_PERMANENTLY,
                        [(header::LOCATION, location)],
                    )
                        .into_response(),
                    "no-cache, private",
                )
            }
            Some(_) => (doc.respond(headers), "public, immutable"),
            None => (doc.respond(headers), "no-cache, private"),
        };
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static(cache_control),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_patch_operations_advertise_field_validation() {
        let api = OpenApi::build(crate::api::OPENAPI_V2, crate::api::OPENAPI_V3);
        let doc: Value =
            serde_json::from_slice(&api.v3["apis/aggregation.coder.com/v1alpha1"].body).unwrap();
        let op = &doc["paths"]["/apis/aggregation.coder.com/v1alpha1/namespaces/{namespace}/coderworkspaces/{name}"]
            ["patch"];
        assert!(
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        assert!(op["requestBody"]["content"]["application/json-patch+json"].is_object());
        let index: Value = serde_json::from_slice(&api.v3_index.body).unwrap();
        let url = index["paths"]["apis/aggregation.coder.com/v1alpha1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/aggregation.coder.com/v1alpha1?hash="));

        let key = "apis/aggregation.coder.com/v1alpha1";
        let query = url.split_once('?').map(|(_, q)| q);
        let fresh = api.v3_doc(key, query, &HeaderMap::new());
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()[header::CACHE_CONTROL], "public, immutable");
        let stale = api.v3_doc(key, Some("hash=0123ABCD"), &HeaderMap::new());
        assert_eq!(stale.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(stale.headers()[header::LOCATION], url);
        let unpinned = api.v3_doc(key, None, &HeaderMap::new());
        assert_eq!(
            unpinned.headers()[header::CACHE_CONTROL],
            "no-cache, private"
        );
    }
}
