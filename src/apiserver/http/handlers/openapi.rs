//! OpenAPI documents: `/openapi/v2` (Swagger JSON), `/openapi/v3` (index) and
//! `/openapi/v3/apis/<g>/<v>`, served as fixed bytes with ETags.
//!
//! The documents are the generator's (codegen/src/openapi), served unchanged but for their
//! indentation: they already carry every operation, parameter, request type and answer this
//! server has. kubectl, for one,
//! decides between server-side field validation and downloading the protobuf v2 schema by
//! looking for `fieldValidation` on the kind's PATCH operation.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde_json::json;

use crate::apiserver::http::handlers::discovery::{etag_of, not_modified};
use crate::apiserver::http::request::negotiation::parse_accept;
use crate::apiserver::status::ApiError;

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

/// The generated (pretty-printed, reviewable) document without its indentation: the same JSON,
/// about half the bytes on the wire. Key order is kept (serde_json's `preserve_order`).
fn compact(text: &str) -> Vec<u8> {
    serde_json::from_str::<serde_json::Value>(text)
        .and_then(|doc| serde_json::to_vec(&doc))
        // Generated text is checked by tests; serve it as written rather than not at all.
        .unwrap_or_else(|_| text.as_bytes().to_vec())
}

impl OpenApi {
    pub fn build(v2: &str, v3: &[(&str, &str)]) -> Self {
        let mut docs = BTreeMap::new();
        let mut index = serde_json::Map::new();
        for (key, text) in v3 {
            let doc = Doc::new(compact(text));
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
            v2: Doc::new(compact(v2)),
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
    use serde_json::Value;

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
        // Served compact, and the same document as generated, key order included.
        let generated: Value = serde_json::from_str(crate::api::OPENAPI_V3[0].1).unwrap();
        assert_eq!(doc, generated);
        assert_eq!(
            serde_json::to_string(&doc).unwrap().as_bytes(),
            &api.v3["apis/aggregation.coder.com/v1alpha1"].body[..]
        );
        assert!(
            api.v3["apis/aggregation.coder.com/v1alpha1"].body.len()
                < crate::api::OPENAPI_V3[0].1.len()
        );
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
