//! Authorization: may this user do this? `system:masters` and the always-allow paths are
//! decided here; everything else by an [`Authorizer`] — in production
//! [`SubjectAccessReviewAuthorizer`], which asks kube-apiserver and caches both answers
//! (`authorizerfactory/delegating.go` + the webhook authorizer's cache).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes as SarResourceAttributes, SubjectAccessReview,
    SubjectAccessReviewSpec,
};

use super::attributes::{Attributes, Target};
use super::cache::TtlCache;

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Explicitly denied or nobody said yes; `reason` (possibly empty) goes into the message.
    Deny {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("SubjectAccessReview failed: {0}")]
    Review(#[source] kube::Error),
}

/// Decides on typed attributes. Implemented by the SubjectAccessReview client; tests record.
pub trait Authorizer: Send + Sync {
    /// A decision known without waiting (a cache hit), so the common case needs no boxed future.
    fn cached(&self, _attributes: &Attributes) -> Option<Decision> {
        None
    }

    fn authorize<'a>(
        &'a self,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthorizeError>>;
}

/// `/healthz`-style exact paths and `/prefix/*` prefixes (`--authorization-always-allow-paths`).
#[derive(Debug, Clone, Default)]
pub struct AlwaysAllowPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl AlwaysAllowPaths {
    pub fn new(paths: &[String]) -> Self {
        let mut out = AlwaysAllowPaths::default();
        for path in paths.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            match path.strip_suffix('*') {
                Some(prefix) => out.prefixes.push(prefix.to_string()),
                None => out.exact.push(path.to_string()),
            }
        }
        out
    }

    pub fn matches(&self, path: &str) -> bool {
        self.exact.iter().any(|p| p == path) || self.prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// What decides: the shortcuts, then the authorizer (none = always allow).
pub struct Policy {
    pub always_allow_paths: AlwaysAllowPaths,
    pub authorizer: Option<Arc<dyn Authorizer>>,
}

impl Policy {
    pub async fn decide(&self, attributes: &Attributes) -> Result<Decision, AuthorizeError> {
        let Some(authorizer) = &self.authorizer else {
            return Ok(Decision::Allow);
        };
        // kube's delegated authorizer allows system:masters without asking (so the aggregator
        // and cluster admins keep working while kube-apiserver's authorizer is unreachable).
        if attributes.user.groups.iter().any(|g| g == "system:masters") {
            return Ok(Decision::Allow);
        }
        if attributes
            .path()
            .is_some_and(|p| self.always_allow_paths.matches(p))
        {
            return Ok(Decision::Allow);
        }
        if let Some(decision) = authorizer.cached(attributes) {
            return Ok(decision);
        }
        authorizer.authorize(attributes).await
    }
}

/// The SubjectAccessReview spec of some attributes.
pub fn review_spec(attributes: &Attributes) -> SubjectAccessReviewSpec {
    let user = &attributes.user;
    let (resource_attributes, non_resource_attributes) = match &attributes.target {
        Target::Resource(r) => (
            Some(SarResourceAttributes {
                namespace: Some(r.namespace.clone()),
                verb: Some(attributes.verb.clone()),
                group: Some(r.group.clone()),
                version: Some(r.version.clone()),
                resource: Some(r.resource.clone()),
                subresource: Some(r.subresource.clone()),
                name: Some(r.name.clone()),
                ..Default::default()
            }),
            None,
        ),
        Target::NonResource(path) => (
            None,
            Some(NonResourceAttributes {
                path: Some(path.clone()),
                verb: Some(attributes.verb.clone()),
            }),
        ),
    };
    SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
        resource_attributes,
        non_resource_attributes,
    }
}

/// Cache TTLs of the SubjectAccessReview authorizer.
#[derive(Debug, Clone, Copy)]
pub struct ReviewCacheTtl {
    pub allowed: Duration,
    pub denied: Duration,
}

/// Asks kube-apiserver with SubjectAccessReview; answers cached per attribute record.
pub struct SubjectAccessReviewAuthorizer {
    api: kube::Api<SubjectAccessReview>,
    cache: TtlCache<Attributes, Decision>,
    ttl: ReviewCacheTtl,
}

impl SubjectAccessReviewAuthorizer {
    pub fn new(client: kube::Client, ttl: ReviewCacheTtl) -> Self {
        SubjectAccessReviewAuthorizer {
            api: kube::Api::all(client),
            // kube's webhook authorizer keeps 10,000 decisions.
            cache: TtlCache::new(10_000),
            ttl,
        }
    }

    async fn review(&self, attributes: &Attributes) -> Result<Decision, AuthorizeError> {
        let review = SubjectAccessReview {
            spec: review_spec(attributes),
            ..Default::default()
        };
        let answer = self
            .api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .map_err(AuthorizeError::Review)?;
        let status = answer.status.unwrap_or_default();
        if status.allowed {
            return Ok(Decision::Allow);
        }
        // Not allowed (denied, or no opinion — evaluation errors included, as kube's webhook
        // authorizer treats them): a cached denial.
        Ok(Decision::Deny {
            reason: status.reason.unwrap_or_default(),
        })
    }
}

impl Authorizer for SubjectAccessReviewAuthorizer {
    fn cached(&self, attributes: &Attributes) -> Option<Decision> {
        self.cache.get(attributes)
    }

    fn authorize<'a>(
        &'a self,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthorizeError>> {
        Box::pin(async move {
            let ttl_of = |decision: &Decision| match decision {
                Decision::Allow => self.ttl.allowed,
                Decision::Deny { .. } => self.ttl.denied,
            };
            self.cache
                .get_or_fetch(attributes, ttl_of, || self.review(attributes))
                .await
        })
    }
}

/// The 403 message kube-apiserver gives (`responsewriters.forbiddenMessage` + `NewForbidden`).
pub fn forbidden_message(attributes: &Attributes, reason: &str) -> String {
    let user = &attributes.user.name;
    let verb = &attributes.verb;
    let mut message = match &attributes.target {
        Target::NonResource(path) => {
            format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\"")
        }
        Target::Resource(r) => {
            let mut resource = r.resource.clone();
            if !r.subresource.is_empty() {
                resource = format!("{resource}/{}", r.subresource);
            }
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace \"{}\"", r.namespace)
            };
            let what = format!(
                "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
                r.group
            );
            let qualified = if r.group.is_empty() {
                r.resource.clone()
            } else {
                format!("{}.{}", r.resource, r.group)
            };
            if r.name.is_empty() {
                format!("{qualified} is forbidden: {what}")
            } else {
                format!("{qualified} \"{}\" is forbidden: {what}", r.name)
            }
        }
    };
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::super::UserInfo;
    use super::super::attributes::from_request;
    use super::*;

    fn user(name: &str) -> Arc<UserInfo> {
        Arc::new(UserInfo {
            name: name.into(),
            ..UserInfo::anonymous()
        })
    }

    #[test]
    fn messages_match_kube_apiserver() {
        let a = from_request(
            &http::Method::GET,
            "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces",
            None,
            user("eve"),
        );
        assert_eq!(
            forbidden_message(&a, ""),
            "coderworkspaces.aggregation.coder.com is forbidden: User \"eve\" cannot list resource \"coderworkspaces\" in API group \"aggregation.coder.com\" in the namespace \"default\""
        );
        let a = from_request(
            &http::Method::DELETE,
            "/apis/aggregation.coder.com/v1alpha1/namespaces/default/coderworkspaces/w/status",
            None,
            user("eve"),
        );
        assert_eq!(
            forbidden_message(&a, "no RBAC"),
            "coderworkspaces.aggregation.coder.com \"w\" is forbidden: User \"eve\" cannot delete resource \"coderworkspaces/status\" in API group \"aggregation.coder.com\" in the namespace \"default\": no RBAC"
        );
        let a = from_request(&http::Method::GET, "/openapi/v2", None, user("eve"));
        assert_eq!(
            forbidden_message(&a, ""),
            "forbidden: User \"eve\" cannot get path \"/openapi/v2\""
        );
    }

    #[test]
    fn always_allow_paths_exact_and_prefix() {
        let p = AlwaysAllowPaths::new(&["/healthz".into(), "/debug/*".into()]);
        assert!(p.matches("/healthz"));
        assert!(!p.matches("/healthz/x"));
        assert!(p.matches("/debug/pprof"));
        assert!(!p.matches("/apis"));
    }
}
