//! What a resource request asks for, read from its method, path and query like kube's
//! `requestinfo.go`: verb, kind, namespace, name, subresource. Authorization (a later layer) and
//! metrics key on the same `RequestInfo`.

use http::Method;

use crate::api::registry::{ResourceDescriptor, ServedBy};
use crate::apiserver::objects::Subresource;
use crate::apiserver::status::ApiError;

/// The Kubernetes verb of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A request for a served resource.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub verb: Verb,
    pub resource: &'static ResourceDescriptor,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
}

/// Where a `/apis/...` path points.
#[derive(Debug, Clone)]
pub enum Target {
    /// `/apis`
    Groups,
    /// `/apis/<g>`
    Group(String),
    /// `/apis/<g>/<v>`
    GroupVersion(String, String),
    Resource(RequestInfo),
}

/// Parsed query string: the parameters kube defines, looked up by name.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("") => Ok(Query::default()),
            Some(raw) => serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
                .map(Query)
                .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}"))),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `watch=true|1` (kube accepts both, as Go's strconv.ParseBool does, plus `t`/`T`/`TRUE`).
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name}: invalid boolean value {other:?}"
            ))),
        }
    }

    pub fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => crate::apiserver::http::request::query_values::parse_int(v).map(Some),
        }
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// `dryRun`: only `All` is defined.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        let mut dry = false;
        for v in self.all("dryRun") {
            match v {
                "All" => dry = true,
                "" => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
                    )));
                }
            }
        }
        Ok(dry)
    }
}

/// Path segments after `/apis/` of the deepest resource path.
const MAX_SEGMENTS: usize = 7;

/// The non-empty `/`-separated segments of `rest` (`rest.split('/').filter(|s| !s.is_empty())`
/// without an iterator or a Vec: this runs on every request); None past [`MAX_SEGMENTS`].
fn split_path(rest: &str) -> Option<([&str; MAX_SEGMENTS], usize)> {
    let mut segments = [""; MAX_SEGMENTS];
    let mut count = 0;
    let mut start = 0;
    let bytes = rest.as_bytes();
    for end in 0..=bytes.len() {
        if end < bytes.len() && bytes[end] != b'/' {
            continue;
        }
        if end > start {
            *segments.get_mut(count)? = &rest[start..end];
            count += 1;
        }
        start = end + 1;
    }
    Some((segments, count))
}

/// Reads the target of a `/apis/...` path (`rest` is what follows `/apis/`).
pub fn parse_target(method: &Method, rest: &str, query: &Query) -> Result<Target, ApiError> {
    // The longest served path has 7 segments (`<g>/<v>/namespaces/<ns>/<plural>/<name>/<sub>`);
    // anything longer is not found, like any other unknown shape.
    let (buffer, count) = split_path(rest).ok_or_else(ApiError::path_not_found)?;
    let segments = &buffer[..count];
    let (group, version, tail) = match segments {
        [] => return Ok(Target::Groups),
        [g] => return Ok(Target::Group(g.to_string())),
        [g, v] => return Ok(Target::GroupVersion(g.to_string(), v.to_string())),
        [g, v, tail @ ..] => (*g, *v, tail),
    };
    let (namespace, tail) = match tail {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, tail),
    };
    let (plural, name, sub) = match tail {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(*sub)),
        _ => return Err(ApiError::path_not_found()),
    };
    let resource = crate::api::registry::find(group, version, plural)
        .filter(|r| r.served_by == ServedBy::AggregatedApiserver)
        .ok_or_else(ApiError::path_not_found)?;
    // A namespaced kind's objects live under namespaces/<ns>/; a cluster-scoped kind has none.
    if (resource.namespaced && namespace.is_none() && name.is_some())
        || (!resource.namespaced && namespace.is_some())
    {
        return Err(ApiError::path_not_found());
    }
    let subresource = match sub {
        None => None,
        Some("status") if resource.status_subresource => Some(Subresource::Status),
        Some(_) => return Err(ApiError::path_not_found()),
    };
    let path_desc = || format!("/apis/{rest}");
    let verb = match (name.is_some(), method) {
        (false, &Method::GET) => {
            if query.flag("watch")? {
                Verb::Watch
            } else {
                Verb::List
            }
        }
        // kube registers create and deletecollection only on the namespaced collection path of
        // a namespaced kind; the all-namespaces path is read-only.
        (false, &Method::POST) if namespace.is_some() || !resource.namespaced => Verb::Create,
        (false, &Method::DELETE) if namespace.is_some() || !resource.namespaced => {
            Verb::DeleteCollection
        }
        (true, &Method::GET) if subresource.is_none() && query.flag("watch")? => Verb::Watch,
        (true, &Method::GET) => Verb::Get,
        (true, &Method::PUT) => Verb::Update,
        (true, &Method::PATCH) => Verb::Patch,
        (true, &Method::DELETE) if subresource.is_none() => Verb::Delete,
        _ => {
            let writable_collection = namespace.is_some() || !resource.namespaced;
            let allow = allowed_methods(name.is_some(), writable_collection, subresource);
            return Err(ApiError::method_not_allowed_with(
                method,
                &path_desc(),
                allow,
            ));
        }
    };
    Ok(Target::Resource(RequestInfo {
        verb,
        resource,
        namespace,
        name,
        subresource,
    }))
}

/// The methods a resource path serves, for the `Allow` header of a 405 (what the match in
/// [`parse_target`] accepts for the same path).
fn allowed_methods(
    object: bool,
    writable_collection: bool,
    subresource: Option<Subresource>,
) -> &'static str {
    match (object, subresource) {
        (true, Some(_)) => "GET, PUT, PATCH",
        (true, None) => "GET, PUT, PATCH, DELETE",
        (false, _) if writable_collection => "GET, POST, DELETE",
        (false, _) => "GET",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, path: &str, query: &str) -> Result<RequestInfo, ApiError> {
        let q = Query::parse(Some(query)).unwrap();
        match parse_target(&method, path, &q)? {
            Target::Resource(i) => Ok(i),
            other => panic!("not a resource: {other:?}"),
        }
    }

    #[test]
    fn verbs_from_method_and_path() {
        let g = "aggregation.coder.com/v1alpha1";
        let i = info(Method::GET, &format!("{g}/coderworkspaces"), "").unwrap();
        assert_eq!(i.verb, Verb::List);
        assert!(i.namespace.is_none());
        let i = info(Method::GET, &format!("{g}/coderworkspaces"), "watch=1").unwrap();
        assert_eq!(i.verb, Verb::Watch);
        let i = info(
            Method::POST,
            &format!("{g}/namespaces/a/coderworkspaces"),
            "",
        )
        .unwrap();
        assert_eq!(i.verb, Verb::Create);
        assert_eq!(i.namespace.as_deref(), Some("a"));
        let i = info(
            Method::PATCH,
            &format!("{g}/namespaces/a/coderworkspaces/x/status"),
            "",
        )
        .unwrap();
        assert_eq!(i.verb, Verb::Patch);
        assert_eq!(i.subresource, Some(Subresource::Status));
        let e = info(Method::POST, &format!("{g}/coderworkspaces"), "").unwrap_err();
        assert_eq!(e.code.as_u16(), 405);
        let e = info(Method::GET, &format!("{g}/nothings"), "").unwrap_err();
        assert_eq!(e.code.as_u16(), 404);
        let e = info(
            Method::GET,
            &format!("{g}/namespaces/a/coderworkspaces/x/logs"),
            "",
        )
        .unwrap_err();
        assert_eq!(e.code.as_u16(), 404);
    }

    #[test]
    fn path_segments_skip_empty_ones_and_stop_past_the_deepest_path() {
        fn split(rest: &str) -> Option<Vec<&str>> {
            split_path(rest).map(|(segments, count)| segments[..count].to_vec())
        }
        for rest in ["", "/", "a", "a/b", "/a//b/", "a/b/c/d/e/f/g", "ä/ö//ü"] {
            let expected: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            assert_eq!(split(rest), Some(expected), "{rest:?}");
        }
        assert_eq!(split("a/b/c/d/e/f/g/h"), None);
        let g = "aggregation.coder.com/v1alpha1";
        let i = info(
            Method::GET,
            &format!("{g}/namespaces/a/coderworkspaces/x/status"),
            "",
        )
        .unwrap();
        assert_eq!(
            (i.verb, i.subresource),
            (Verb::Get, Some(Subresource::Status))
        );
        let e = info(
            Method::GET,
            &format!("{g}/namespaces/a/coderworkspaces/x/status/more"),
            "",
        )
        .unwrap_err();
        assert_eq!(e.code.as_u16(), 404);
    }

    #[test]
    fn dry_run_values() {
        assert!(Query::parse(Some("dryRun=All")).unwrap().dry_run().unwrap());
        assert!(
            Query::parse(Some("dryRun=Nope"))
                .unwrap()
                .dry_run()
                .is_err()
        );
    }
}
