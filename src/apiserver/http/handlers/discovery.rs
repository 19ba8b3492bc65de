//! Discovery documents (`/apis`, `/apis/<g>`, `/apis/<g>/<v>`, `/api`, `/version`), computed once
//! from the generated registry at start: the set of kinds cannot change while the process runs.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
};
use serde_json::{Value, json};

use crate::api::registry::{RESOURCE_VERBS, ResourceDescriptor, STATUS_VERBS};
use crate::apiserver::http::request::negotiation::{DISCOVERY_V2, wants_discovery_v2};
use crate::apiserver::status::ApiError;

/// Serialized discovery documents.
pub struct Discovery {
    group_list: Bytes,
    groups: BTreeMap<String, Bytes>,
    resource_lists: BTreeMap<(String, String), Bytes>,
    aggregated: Bytes,
    aggregated_etag: String,
    legacy_aggregated: Bytes,
    legacy_versions: Bytes,
    version_info: Bytes,
}

fn to_bytes<T: serde::Serialize>(value: &T) -> Bytes {
    // Serializing these plain structs cannot fail; an empty body would surface in tests.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// Quoted strong ETag of a body.
pub fn etag_of(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names this ETag (or `*`).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == etag || v == "*")
}

impl Discovery {
    pub fn build(resources: &[&'static ResourceDescriptor]) -> Self {
        // group -> version -> kinds, sorted for stable output and ETags.
        let mut by_group: BTreeMap<&str, BTreeMap<&str, Vec<&ResourceDescriptor>>> =
            BTreeMap::new();
        for r in resources {
            by_group
                .entry(r.group)
                .or_default()
                .entry(r.version)
                .or_default()
                .push(r);
        }

        let mut api_groups = Vec::new();
        let mut groups = BTreeMap::new();
        let mut resource_lists = BTreeMap::new();
        let mut aggregated_items = Vec::new();
        for (group, versions) in &by_group {
            let gvs: Vec<GroupVersionForDiscovery> = versions
                .keys()
                .map(|v| GroupVersionForDiscovery {
                    group_version: format!("{group}/{v}"),
                    version: v.to_string(),
                })
                .collect();
            let api_group = APIGroup {
                name: group.to_string(),
                preferred_version: gvs.first().cloned(),
                server_address_by_client_cidrs: None,
                versions: gvs,
            };
            groups.insert(group.to_string(), to_bytes(&api_group));
            api_groups.push(api_group);

            let mut v2_versions = Vec::new();
            for (version, kinds) in versions {
                let mut list = Vec::new();
                let mut v2_resources = Vec::new();
                for r in kinds {
                    list.push(api_resource(r));
                    if r.status_subresource {
                        list.push(APIResource {
                            name: format!("{}/status", r.plural),
                            singular_name: String::new(),
                            namespaced: r.namespaced,
                            kind: r.kind.to_string(),
                            verbs: STATUS_VERBS.iter().map(|v| v.to_string()).collect(),
                            ..Default::default()
                        });
                    }
                    v2_resources.push(aggregated_resource(r));
                }
                let resource_list = APIResourceList {
                    group_version: format!("{group}/{version}"),
                    resources: list,
                };
                resource_lists.insert(
                    (group.to_string(), version.to_string()),
                    to_bytes(&resource_list),
                );
                v2_versions.push(json!({
                    "version": version,
                    "freshness": "Current",
                    "resources": v2_resources,
                }));
            }
            aggregated_items.push(json!({
                "metadata": {"name": group},
                "versions": v2_versions,
            }));
        }

        let group_list = to_bytes(&APIGroupList { groups: api_groups });
        let aggregated = to_bytes(&aggregated_list(aggregated_items));
        let aggregated_etag = etag_of(&aggregated);
        Discovery {
            group_list,
            groups,
            resource_lists,
            aggregated,
            aggregated_etag,
            legacy_aggregated: to_bytes(&aggregated_list(Vec::new())),
            legacy_versions: to_bytes(&APIVersions {
                server_address_by_client_cidrs: Vec::new(),
                versions: Vec::new(),
            }),
            version_info: to_bytes(&version_info()),
        }
    }

    /// `/apis`: aggregated v2 when asked for it (with ETag/304), else `APIGroupList`.
    pub fn apis(&self, headers: &HeaderMap) -> Response {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        if wants_discovery_v2(accept) {
            if not_modified(headers, &self.aggregated_etag) {
                return (
                    StatusCode::NOT_MODIFIED,
                    [(header::ETAG, self.aggregated_etag.clone())],
                )
                    .into_response();
            }
            return (
                [
                    (header::CONTENT_TYPE, DISCOVERY_V2.to_string()),
                    (header::ETAG, self.aggregated_etag.clone()),
                ],
                self.aggregated.clone(),
            )
                .into_response();
        }
        json_response(self.group_list.clone())
    }

    /// `/api`: this server has no legacy core group; an empty answer in the requested format
    /// lets client-go's discovery move on to `/apis`.
    pub fn legacy(&self, headers: &HeaderMap) -> Response {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        if wants_discovery_v2(accept) {
            return (
                [(header::CONTENT_TYPE, DISCOVERY_V2)],
                self.legacy_aggregated.clone(),
            )
                .into_response();
        }
        json_response(self.legacy_versions.clone())
    }

    pub fn group(&self, group: &str) -> Response {
        match self.groups.get(group) {
            Some(body) => json_response(body.clone()),
            None => ApiError::path_not_found().into_response(),
        }
    }

    pub fn group_version(&self, group: &str, version: &str) -> Response {
        match self
            .resource_lists
            .get(&(group.to_string(), version.to_string()))
        {
            Some(body) => json_response(body.clone()),
            None => ApiError::path_not_found().into_response(),
        }
    }

    pub fn version(&self) -> Response {
        json_response(self.version_info.clone())
    }
}

pub fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn api_resource(r: &ResourceDescriptor) -> APIResource {
    APIResource {
        name: r.plural.to_string(),
        singular_name: r.singular.to_string(),
        namespaced: r.namespaced,
        kind: r.kind.to_string(),
        verbs: strings(RESOURCE_VERBS),
        short_names: (!r.short_names.is_empty()).then(|| strings(r.short_names)),
        categories: (!r.categories.is_empty()).then(|| strings(r.categories)),
        ..Default::default()
    }
}

fn aggregated_resource(r: &ResourceDescriptor) -> Value {
    let response_kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let mut resource = json!({
        "resource": r.plural,
        "responseKind": response_kind,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": RESOURCE_VERBS,
    });
    if !r.short_names.is_empty() {
        resource["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        resource["categories"] = json!(r.categories);
    }
    if r.status_subresource {
        resource["subresources"] = json!([{
            "subresource": "status",
            "responseKind": response_kind,
            "verbs": STATUS_VERBS,
        }]);
    }
    resource
}

/// kube-core's discovery v2 types lack kind/apiVersion, which clients check; write them here.
fn aggregated_list(items: Vec<Value>) -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// `/version`: the Kubernetes API level implemented (from the k8s-openapi feature in use) and
/// this binary's own version in gitVersion, so `kubectl version` reports no skew for it.
fn version_info() -> k8s_openapi::apimachinery::pkg::version::Info {
    k8s_openapi::apimachinery::pkg::version::Info {
        major: "1".into(),
        minor: "34".into(),
        git_version: format!("v1.34.0+coder-k8s-{}", env!("CARGO_PKG_VERSION")),
        git_commit: String::new(),
        git_tree_state: "clean".into(),
        build_date: String::new(),
        go_version: String::new(),
        compiler: "rustc".into(),
        platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ETags are the quoted SHA-256 of the body (FIPS 180-2's vector for "abc"; moved from
    /// `tls.rs`, which checks its certificate fingerprints against the same vector).
    #[test]
    fn etags_are_quoted_sha256() {
        const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(etag_of(b"abc"), format!("\"{ABC_SHA256}\""));
    }

    fn served() -> Vec<&'static ResourceDescriptor> {
        crate::api::registry::served_by(crate::api::registry::ServedBy::AggregatedApiserver)
            .collect()
    }

    #[test]
    fn resource_list_includes_status_subresources() {
        let d = Discovery::build(&served());
        let body = &d.resource_lists[&("aggregation.coder.com".into(), "v1alpha1".into())];
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["kind"], "APIResourceList");
        let names: Vec<&str> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"coderworkspaces"));
        assert!(names.contains(&"coderworkspaces/status"));
    }

    #[test]
    fn aggregated_has_kind_and_etag() {
        let d = Discovery::build(&served());
        let v: Value = serde_json::from_slice(&d.aggregated).unwrap();
        assert_eq!(v["kind"], "APIGroupDiscoveryList");
        assert_eq!(v["items"][0]["metadata"]["name"], "aggregation.coder.com");
        assert!(d.aggregated_etag.starts_with('"'));
    }
}
