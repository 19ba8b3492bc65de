//! What authorization is asked about: the caller plus what the request does, read from the
//! method, path and query as k8s.io/apiserver's `endpoints/request/requestinfo.go` reads them
//! — generically, before routing, so that a path no resource serves is authorized (and then
//! 404s) exactly as kube-apiserver would.

use std::sync::Arc;

use http::Method;

use super::UserInfo;

/// A resource request's attributes (`authorization.k8s.io` `ResourceAttributes`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResourceAttributes {
    pub namespace: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// Resource or non-resource request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Resource(ResourceAttributes),
    /// The path of a non-resource request (`/apis`, `/openapi/v2`, `/version`, …).
    NonResource(String),
}

/// Who does what: the typed record an authorizer decides on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attributes {
    pub user: Arc<UserInfo>,
    pub verb: String,
    pub target: Target,
}

impl Attributes {
    pub fn path(&self) -> Option<&str> {
        match &self.target {
            Target::NonResource(path) => Some(path),
            Target::Resource(_) => None,
        }
    }
}

/// Subresources of a namespace itself (`/namespaces/<ns>/status`), not namespaced resources.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Go's `strconv.ParseBool` for `watch`.
fn parse_bool(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

fn query_values<'a>(query: Option<&'a str>, key: &'a str) -> impl Iterator<Item = String> + 'a {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(move |pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
}

fn percent_decode(text: &str) -> String {
    let text = text.replace('+', " ");
    percent_encoding::percent_decode_str(&text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `metadata.name=<x>` (or `==`) as the only requirement of a field selector.
fn exact_name(selector: &str) -> Option<String> {
    if selector.contains(',') {
        return None;
    }
    let (key, value) = selector
        .split_once("==")
        .or_else(|| selector.split_once('='))?;
    (key.trim() == "metadata.name" && !value.contains('!')).then(|| value.trim().to_string())
}

/// A name usable as a path segment (`path.IsValidPathSegmentName`).
fn valid_path_segment(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
}

/// Reads a request's attributes.
pub fn from_request(
    method: &Method,
    path: &str,
    query: Option<&str>,
    user: Arc<UserInfo>,
) -> Attributes {
    let non_resource = |user| Attributes {
        user,
        verb: method.as_str().to_ascii_lowercase(),
        target: Target::NonResource(path.to_string()),
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Only /api/<v>/... and /apis/<g>/<v>/... are resource requests.
    let (group, rest) = match parts.as_slice() {
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, (*version, rest)),
        ["api", version, rest @ ..] if !rest.is_empty() => ("", (*version, rest)),
        _ => return non_resource(user),
    };
    let (version, mut rest) = rest;
    let mut verb = match *method {
        Method::POST => "create",
        Method::GET | Method::HEAD => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
    .to_string();
    if matches!(rest.first(), Some(&("watch" | "proxy"))) {
        if rest.len() < 2 {
            return non_resource(user);
        }
        verb = rest[0].to_string();
        rest = &rest[1..];
    }
    let mut attributes = ResourceAttributes {
        group: group.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        attributes.namespace = rest[1].to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    if rest.len() >= 3 && verb != "proxy" {
        attributes.subresource = rest[2].to_string();
    }
    if rest.len() >= 2 {
        attributes.name = rest[1].to_string();
    }
    if let Some(resource) = rest.first() {
        attributes.resource = resource.to_string();
    }
    let watch = || {
        query_values(query, "watch")
            .last()
            .is_some_and(|v| parse_bool(&v))
    };
    if attributes.name.is_empty() && verb == "get" {
        verb = if watch() { "watch" } else { "list" }.to_string();
        if let Some(name) = query_values(query, "fieldSelector")
            .last()
            .as_deref()
            .and_then(exact_name)
            .filter(|n| valid_path_segment(n))
        {
            attributes.name = name;
        }
    } else if verb == "get" && attributes.subresource.is_empty() && watch() {
        // This server streams a watch for `GET <item>?watch=true`; authorize it as one.
        verb = "watch".into();
    }
    if attributes.name.is_empty() && verb == "delete" {
        verb = "deletecollection".into();
    }
    Attributes {
        user,
        verb,
        target: Target::Resource(attributes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str, query: Option<&str>) -> (String, Target) {
        let a = from_request(&method, path, query, Arc::new(UserInfo::anonymous()));
        (a.verb, a.target)
    }

    fn res(ns: &str, resource: &str, sub: &str, name: &str) -> Target {
        Target::Resource(ResourceAttributes {
            namespace: ns.into(),
            group: "aggregation.coder.com".into(),
            version: "v1alpha1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
        })
    }

    const G: &str = "/apis/aggregation.coder.com/v1alpha1";

    #[test]
    fn verbs_and_targets_like_requestinfo() {
        let ws = "coderworkspaces";
        let cases = [
            (
                Method::GET,
                format!("{G}/{ws}"),
                None,
                "list",
                res("", ws, "", ""),
            ),
            (
                Method::GET,
                format!("{G}/{ws}"),
                Some("watch=1"),
                "watch",
                res("", ws, "", ""),
            ),
            (
                Method::GET,
                format!("{G}/watch/namespaces/a/{ws}"),
                None,
                "watch",
                res("a", ws, "", ""),
            ),
            (
                Method::GET,
                format!("{G}/namespaces/a/{ws}"),
                Some("fieldSelector=metadata.name%3Dx"),
                "list",
                res("a", ws, "", "x"),
            ),
            (
                Method::POST,
                format!("{G}/namespaces/a/{ws}"),
                None,
                "create",
                res("a", ws, "", ""),
            ),
            (
                Method::GET,
                format!("{G}/namespaces/a/{ws}/x"),
                None,
                "get",
                res("a", ws, "", "x"),
            ),
            (
                Method::GET,
                format!("{G}/namespaces/a/{ws}/x"),
                Some("watch=true"),
                "watch",
                res("a", ws, "", "x"),
            ),
            (
                Method::PUT,
                format!("{G}/namespaces/a/{ws}/x/status"),
                None,
                "update",
                res("a", ws, "status", "x"),
            ),
            (
                Method::PATCH,
                format!("{G}/namespaces/a/{ws}/x"),
                None,
                "patch",
                res("a", ws, "", "x"),
            ),
            (
                Method::DELETE,
                format!("{G}/namespaces/a/{ws}/x"),
                None,
                "delete",
                res("a", ws, "", "x"),
            ),
            (
                Method::DELETE,
                format!("{G}/namespaces/a/{ws}"),
                None,
                "deletecollection",
                res("a", ws, "", ""),
            ),
            (
                Method::GET,
                format!("{G}/namespaces/a"),
                None,
                "get",
                res("a", "namespaces", "", "a"),
            ),
            (
                Method::GET,
                format!("{G}/nothings"),
                None,
                "list",
                res("", "nothings", "", ""),
            ),
        ];
        for (method, path, query, verb, target) in cases {
            let (v, t) = attrs(method.clone(), &path, query);
            assert_eq!(
                (v.as_str(), &t),
                (verb, &target),
                "{method} {path} {query:?}"
            );
        }
    }

    #[test]
    fn discovery_and_openapi_are_non_resource() {
        for path in [
            "/apis",
            "/apis/aggregation.coder.com",
            G,
            "/openapi/v2",
            "/version",
            "/api",
        ] {
            let (verb, target) = attrs(Method::GET, path, None);
            assert_eq!(verb, "get");
            assert_eq!(target, Target::NonResource(path.into()));
        }
        let (verb, _) = attrs(Method::POST, "/apis", None);
        assert_eq!(verb, "post");
    }
}
