//! The Gateway API `HTTPRoute` (gateway.networking.k8s.io/v1) in front of the Service, when
//! `expose.gateway` is set.
//!
//! The types are the part of the upstream HTTPRoute schema the controller writes. The
//! `gateway-api` crate has the full set, but its releases are built on an older kube and
//! k8s-openapi than ours (two copies of each, and types that do not meet our traits), so the
//! few fields are declared here. Serde ignores fields we do not declare when reading one back,
//! and server-side apply leaves the ones other managers own alone.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Target;

pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// HTTPRoute `spec`: the Gateways it attaches to, the host names it serves, one rule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1",
    kind = "HTTPRoute",
    plural = "httproutes",
    namespaced,
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpRouteRule>,
}

/// A Gateway (and optionally one of its listeners) the route attaches to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpRouteMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<HttpBackendRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HttpPathMatch>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpPathMatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A Service backend. Gateway API has no named ports, so the port is a number.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpBackendRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// The route of `expose.gateway`, named like the control plane and owned by it: every path of
/// `host` and `wildcardHost` to the Service's HTTP port (the Gateway terminates TLS, as the
/// Ingress does).
pub fn http_route(target: &Target<'_>) -> Option<HTTPRoute> {
    let spec = target.spec.expose.as_ref()?.gateway.as_ref()?;
    let hostnames = std::iter::once(spec.host.clone())
        .chain(
            spec.wildcard_host
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(route_wildcard_host),
        )
        .collect();
    let parent_refs = spec
        .parent_refs
        .iter()
        .map(|p| ParentReference {
            name: p.name.clone(),
            namespace: p.namespace.clone().filter(|n| !n.is_empty()),
            section_name: p.section_name.clone().filter(|s| !s.is_empty()),
        })
        .collect();
    let mut route = HTTPRoute::new(
        target.name,
        HttpRouteSpec {
            parent_refs,
            hostnames,
            rules: vec![HttpRouteRule {
                matches: vec![HttpRouteMatch {
                    path: Some(HttpPathMatch {
                        type_: Some("PathPrefix".into()),
                        value: Some("/".into()),
                    }),
                }],
                backend_refs: vec![HttpBackendRef {
                    group: Some(String::new()),
                    kind: Some("Service".into()),
                    name: target.name.to_string(),
                    port: Some(target.spec.service.port),
                }],
            }],
        },
    );
    route.metadata = target.owned_meta(target.name);
    route.metadata.annotations = spec.annotations.clone().filter(|a| !a.is_empty());
    Some(route)
}

/// Coder's wildcard access URL may carry a suffix after the `*` (`*-apps.example.com`); a
/// Gateway API host name may not, so the suffix is dropped as the Helm chart does for its
/// Ingress (`*.example.com`). Coder still matches the suffix itself.
fn route_wildcard_host(host: &str) -> String {
    match host.strip_prefix('*') {
        Some(rest) => match rest.find('.') {
            Some(dot) => format!("*{}", &rest[dot..]),
            None => host.to_string(),
        },
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ccp;
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_without_expose_gateway() {
        for spec in [
            json!({}),
            json!({"expose": {}}),
            json!({"expose": {"ingress": {"host": "h"}}}),
        ] {
            let obj = ccp("coder", "ns", spec);
            assert!(http_route(&Target::new(&obj).unwrap()).is_none());
        }
    }

    #[test]
    fn the_route_attaches_hosts_to_the_service_http_port() {
        let obj = ccp(
            "coder",
            "ns",
            json!({
                "service": {"port": 8000},
                "tls": {"secretNames": ["t"]},
                "expose": {"gateway": {
                    "host": "coder.example.com",
                    "wildcardHost": "*-apps.example.com",
                    "annotations": {"team": "platform"},
                    "parentRefs": [
                        {"name": "public", "namespace": "gateways", "sectionName": "https"},
                        {"name": "internal"}
                    ]
                }}
            }),
        );
        let route = http_route(&Target::new(&obj).unwrap()).unwrap();
        assert_eq!(route.metadata.name.as_deref(), Some("coder"));
        assert_eq!(route.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(
            route.metadata.annotations.as_ref().unwrap()["team"],
            "platform"
        );
        assert_eq!(
            route.metadata.owner_references.as_ref().unwrap()[0].uid,
            "uid-1"
        );
        let wire = serde_json::to_value(&route).unwrap();
        assert_eq!(wire["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(wire["kind"], "HTTPRoute");
        assert_eq!(
            wire["spec"],
            json!({
                "parentRefs": [
                    {"name": "public", "namespace": "gateways", "sectionName": "https"},
                    {"name": "internal"}
                ],
                "hostnames": ["coder.example.com", "*.example.com"],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"group": "", "kind": "Service", "name": "coder", "port": 8000}]
                }]
            })
        );
    }

    #[test]
    fn wildcard_suffixes_are_dropped() {
        assert_eq!(route_wildcard_host("*.example.com"), "*.example.com");
        assert_eq!(route_wildcard_host("*-apps.example.com"), "*.example.com");
        assert_eq!(route_wildcard_host("apps.example.com"), "apps.example.com");
    }
}
