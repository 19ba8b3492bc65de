//! Counts the controller's own API requests by verb and resource (a tower layer on the kube
//! client), so its load on the API server is visible in /metrics and in the benchmark.

use std::sync::Arc;

use http::{Method, Request};
use tower::util::MapRequestLayer;

use super::metrics::Metrics;

/// The Kubernetes verb and resource (with subresource, `deployments/status`) of a request.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> (&'static str, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match parts.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    let (resource, named) = match rest {
        [] => (String::new(), false),
        [resource] => ((*resource).to_string(), false),
        [resource, _name] => ((*resource).to_string(), true),
        [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match *method {
        Method::GET if named => "get",
        Method::GET if watch => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

/// A layer for `kube::client::ClientBuilder` that counts every request in `metrics`.
pub fn layer<B>(
    metrics: Arc<Metrics>,
) -> MapRequestLayer<impl Fn(Request<B>) -> Request<B> + Clone> {
    MapRequestLayer::new(move |request: Request<B>| {
        let (verb, resource) = classify(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        metrics.api_request(verb, resource);
        request
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_kubernetes_requests() {
        let cases = [
            (
                Method::GET,
                "/apis/apps/v1/deployments",
                Some("watch=true&labelSelector=x"),
                "watch",
                "deployments",
            ),
            (
                Method::GET,
                "/apis/apps/v1/deployments",
                Some("limit=500"),
                "list",
                "deployments",
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/coder",
                Some("fieldManager=coder-k8s&force=true"),
                "patch",
                "deployments",
            ),
            (
                Method::PATCH,
                "/apis/coder.com/v1alpha1/namespaces/a/codercontrolplanes/c/status",
                None,
                "patch",
                "codercontrolplanes/status",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a/services/s",
                None,
                "get",
                "services",
            ),
            (
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/a/events",
                None,
                "create",
                "events",
            ),
            (
                Method::DELETE,
                "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles/r",
                None,
                "delete",
                "roles",
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                None,
                "update",
                "leases",
            ),
        ];
        for (method, path, query, verb, resource) in cases {
            assert_eq!(
                classify(&method, path, query),
                (verb, resource.to_string()),
                "{path}"
            );
        }
    }
}
