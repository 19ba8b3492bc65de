//! Authentication and authorization of API requests, decided before any handler runs.
//!
//! Identity is established once per connection (the TLS client chain, classified per CA by
//! `client_cert` + `x509`) and per request (front-proxy headers via `requestheader`, bearer
//! tokens via `token`), then travels with the request as an `Arc<UserInfo>` extension.
//! Authorization (`authorizer`) sees a typed [`Attributes`] record (`attributes`), never raw
//! headers. `config` holds the flags and the watched ConfigMap; `cache` the bounded TTL cache
//! of review answers.

pub mod attributes;
pub mod authenticator;
pub mod authorizer;
pub mod cache;
pub mod client_cert;
pub mod config;
pub mod requestheader;
pub mod token;
pub mod user;
pub mod x509;

use std::path::Path;
use std::sync::Arc;

use axum::extract::Request;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusDetails;
use tokio_util::sync::CancellationToken;

pub use attributes::Attributes;
pub use authorizer::{Authorizer, Decision};
pub use config::{AuthArgs, AuthenticationMode, AuthorizationMode};
pub use user::{ALL_AUTHENTICATED, UserInfo};

use super::status::ApiError;
use authenticator::DelegatedAuthenticator;
use authorizer::{AlwaysAllowPaths, Policy, ReviewCacheTtl, SubjectAccessReviewAuthorizer};
use client_cert::ClientCertificates;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("kubeconfig for {purpose}: {source}")]
    Kubeconfig {
        purpose: &'static str,
        #[source]
        source: crate::client_config::LoadError,
    },
    #[error(
        "no kubeconfig for {purpose}: {source}; pass --{flag} (or --authentication=none for local development)"
    )]
    NoKubeconfig {
        purpose: &'static str,
        flag: &'static str,
        #[source]
        source: crate::client_config::LoadError,
    },
    #[error("building the client for {purpose}: {source}")]
    Client {
        purpose: &'static str,
        #[source]
        source: kube::Error,
    },
}

enum Authentication {
    None,
    Delegated(Box<DelegatedAuthenticator>),
}

/// Authentication + authorization of the API routes.
pub struct Auth {
    authentication: Authentication,
    policy: Policy,
    /// The cluster delegated authentication talks to, when there is one; other cluster-aware
    /// parts (namespace lifecycle) reuse it.
    cluster: Option<kube::Client>,
}

/// A kube client from an explicit kubeconfig, else in-cluster / $KUBECONFIG / ~/.kube/config.
async fn kube_client(
    path: Option<&Path>,
    purpose: &'static str,
    flag: &'static str,
) -> Result<kube::Client, Error> {
    let config = crate::client_config::load(path)
        .await
        .map_err(|source| match source {
            crate::client_config::LoadError::Infer(_) => Error::NoKubeconfig {
                purpose,
                flag,
                source,
            },
            crate::client_config::LoadError::File { .. } => Error::Kubeconfig { purpose, source },
        })?;
    kube::Client::try_from(config).map_err(|source| Error::Client { purpose, source })
}

impl Auth {
    /// Everyone anonymous and allowed: `--authentication=none` with always-allow, and the
    /// in-process router of tests.
    pub fn disabled() -> Self {
        Auth {
            authentication: Authentication::None,
            policy: Policy {
                always_allow_paths: AlwaysAllowPaths::default(),
                authorizer: None,
            },
            cluster: None,
        }
    }

    /// The cluster this server authenticates against, if any (`--authentication=delegated`
    /// with a kubeconfig or in-cluster config).
    pub fn cluster_client(&self) -> Option<kube::Client> {
        self.cluster.clone()
    }

    /// Builds what the flags ask for. `authorizer` replaces the SubjectAccessReview client
    /// (tests record decisions with it). Starts following the ConfigMap until `stop`.
    pub async fn build(
        args: &AuthArgs,
        authorizer: Option<Arc<dyn Authorizer>>,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        let mut cluster = None;
        let authentication = match args.authentication {
            AuthenticationMode::None => {
                tracing::warn!(
                    "--authentication=none: EVERY CLIENT IS ANONYMOUS; for local development and \
                     tests only, never behind the kube-aggregator in production"
                );
                Authentication::None
            }
            AuthenticationMode::Delegated => {
                let live = config::LiveConfig::from_flags(args)?;
                let path = args.authentication_kubeconfig.as_deref();
                let client = match kube_client(path, "authentication", "authentication-kubeconfig")
                    .await
                {
                    Ok(client) => Some(client),
                    // Both CAs from flags: the cluster is only needed for tokens.
                    Err(error) if !args.needs_configmap() => {
                        tracing::warn!(%error, "no cluster for TokenReview: bearer tokens will be rejected");
                        None
                    }
                    Err(error) => return Err(error),
                };
                if let Some(client) = &client
                    && args.needs_configmap()
                {
                    live.follow_configmap(client.clone(), stop).await?;
                }
                cluster = client.clone();
                Authentication::Delegated(Box::new(DelegatedAuthenticator {
                    config: live,
                    tokens: client.map(|c| {
                        token::TokenAuthenticator::new(
                            c,
                            args.authentication_token_webhook_cache_ttl,
                        )
                    }),
                    anonymous: args.anonymous_auth,
                }))
            }
        };
        let authorizer = match (args.effective_authorization(), authorizer) {
            (AuthorizationMode::AlwaysAllow, _) => {
                tracing::warn!(
                    "--authorization-mode=always-allow: every authenticated request is allowed"
                );
                None
            }
            (AuthorizationMode::Delegated, Some(authorizer)) => Some(authorizer),
            (AuthorizationMode::Delegated, None) => {
                let client = kube_client(
                    args.authorization_kubeconfig.as_deref(),
                    "authorization",
                    "authorization-kubeconfig",
                )
                .await?;
                let ttl = ReviewCacheTtl {
                    allowed: args.authorization_webhook_cache_authorized_ttl,
                    denied: args.authorization_webhook_cache_unauthorized_ttl,
                };
                Some(Arc::new(SubjectAccessReviewAuthorizer::new(client, ttl))
                    as Arc<dyn Authorizer>)
            }
        };
        Ok(Auth {
            authentication,
            policy: Policy {
                always_allow_paths: AlwaysAllowPaths::new(&args.authorization_always_allow_paths),
                authorizer,
            },
            cluster,
        })
    }

    /// Authenticates and authorizes `request`; on success the user is attached to it.
    pub async fn admit(&self, request: &mut Request) -> Result<(), ApiError> {
        let user = match &self.authentication {
            Authentication::None => authenticator::anonymous(request.headers())?,
            Authentication::Delegated(delegated) => {
                let certificates = request
                    .extensions()
                    .get::<Arc<ClientCertificates>>()
                    .cloned();
                match delegated
                    .authenticate(request.headers_mut(), certificates.as_deref())
                    .await
                {
                    Ok(user) => user,
                    Err(failure) => {
                        tracing::info!(
                            verb = %request.method(),
                            path = %request.uri().path(),
                            reasons = ?failure.reasons,
                            identity_headers_dropped = failure.dropped_identity_headers,
                            "authentication failed"
                        );
                        return Err(ApiError::unauthorized("Unauthorized"));
                    }
                }
            }
        };
        refuse_impersonation(request.headers(), &user)?;
        if self.policy.authorizer.is_some() {
            let attributes = attributes::from_request(
                request.method(),
                request.uri().path(),
                request.uri().query(),
                user.clone(),
            );
            match self.policy.decide(&attributes).await {
                Ok(Decision::Allow) => {}
                Ok(Decision::Deny { reason }) => return Err(forbidden(&attributes, &reason)),
                Err(error) => {
                    tracing::warn!(user = %attributes.user.name, verb = %attributes.verb, %error, "authorization failed");
                    return Err(ApiError::internal(error.to_string()));
                }
            }
        }
        request.extensions_mut().insert(user);
        Ok(())
    }
}

/// Impersonation needs its own authorization checks (who may act as whom), not built here:
/// refuse it like kube-apiserver refuses a user without the `impersonate` verb.
fn refuse_impersonation(headers: &http::HeaderMap, user: &UserInfo) -> Result<(), ApiError> {
    if let Some((_, target)) = headers
        .iter()
        .find(|(name, _)| name.as_str().starts_with("impersonate-"))
    {
        let target = target.to_str().unwrap_or_default();
        return Err(ApiError::forbidden(format!(
            "users \"{target}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope: impersonation is not supported by this server",
            user.name
        )));
    }
    Ok(())
}

/// The 403 Status of a denial, logged once.
fn forbidden(attributes: &Attributes, reason: &str) -> ApiError {
    let (resource, namespace) = match &attributes.target {
        attributes::Target::Resource(r) => (r.resource.as_str(), r.namespace.as_str()),
        attributes::Target::NonResource(path) => (path.as_str(), ""),
    };
    tracing::info!(
        user = %attributes.user.name,
        verb = %attributes.verb,
        resource,
        namespace,
        reason,
        "request denied"
    );
    let error = ApiError::forbidden(authorizer::forbidden_message(attributes, reason));
    match &attributes.target {
        attributes::Target::Resource(r) => error.with_details(StatusDetails {
            name: (!r.name.is_empty()).then(|| r.name.clone()),
            group: Some(r.group.clone()),
            kind: Some(r.resource.clone()),
            ..Default::default()
        }),
        attributes::Target::NonResource(_) => error,
    }
}
