//! Who is calling, for `--authentication=delegated`: as k8s.io/apiserver's delegating
//! authenticator, in order — front proxy (certificate from the requestheader CA + identity
//! headers), x509 user (certificate from the client CA: CN = user, O = groups), bearer token
//! (TokenReview). The first that recognizes the caller wins; credentials that fail make the
//! request 401 unless another credential succeeded; no credentials at all mean anonymous (only
//! with `--anonymous-auth`) or 401. For `none`: everyone is anonymous.

use std::sync::Arc;

use http::{HeaderMap, header};
use rustls_pki_types::UnixTime;

use super::client_cert::ClientCertificates;
use super::config::LiveConfig;
use super::requestheader::{self, HeaderNames};
use super::token::TokenAuthenticator;
use super::user::{UserInfo, anonymous_user, with_authenticated_group};
use super::x509::{Rejected, VerifiedCert};
use crate::apiserver::status::ApiError;

pub struct DelegatedAuthenticator {
    pub config: Arc<LiveConfig>,
    /// `None` when no kubeconfig was found (tokens then always fail).
    pub tokens: Option<TokenAuthenticator>,
    pub anonymous: bool,
}

/// Why nobody was recognized: logged by the caller, never sent (the client gets a plain 401).
/// The reasons name what failed, never a token, certificate or header value.
#[derive(Debug, thiserror::Error)]
#[error("unauthenticated: {}", reasons.join("; "))]
pub struct Unauthenticated {
    pub reasons: Vec<String>,
    /// Identity headers were present and were dropped unused.
    pub dropped_identity_headers: bool,
}

fn cert_user(cert: &VerifiedCert) -> UserInfo {
    UserInfo {
        name: cert.common_name.clone(),
        groups: cert.organizations.clone(),
        ..UserInfo::default()
    }
}

/// The token of an `Authorization: Bearer <token>` header. Other schemes (Basic, ...) are no
/// credential here, as in kube's bearer token authenticator.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

impl DelegatedAuthenticator {
    pub async fn authenticate(
        &self,
        headers: &mut HeaderMap,
        certificates: Option<&ClientCertificates>,
    ) -> Result<Arc<UserInfo>, Unauthenticated> {
        let config = self.config.current();
        let verdict = certificates.map(|c| c.verdict(&config));
        let now = UnixTime::now();
        let mut failures: Vec<String> = Vec::new();
        let mut user: Option<Arc<UserInfo>> = None;
        let usable = |result: &Result<VerifiedCert, Rejected>,
                      what: &str,
                      failures: &mut Vec<String>|
         -> Option<VerifiedCert> {
            match result {
                Ok(cert) if cert.expired_at(now) => {
                    failures.push(format!("{what}: {}", Rejected::Expired));
                    None
                }
                Ok(cert) => Some(cert.clone()),
                // A chain no CA of this kind was configured for is no claim at all.
                Err(Rejected::NoCa) => None,
                Err(rejected) => {
                    failures.push(format!("{what}: {rejected}"));
                    None
                }
            }
        };

        if let Some(verdict) = &verdict {
            if usable(
                &verdict.front_proxy,
                "front-proxy certificate",
                &mut failures,
            )
            .is_some()
            {
                user = requestheader::user(&config.requestheader.headers, headers)
                    .map(|u| Arc::new(with_authenticated_group(u)));
            }
            if user.is_none()
                && let Some(cert) = usable(&verdict.client, "client certificate", &mut failures)
            {
                user = Some(Arc::new(with_authenticated_group(cert_user(&cert))));
            }
        }
        // Identity headers are consumed above or were never trustworthy: gone either way.
        let had_identity_headers = strip_identity_headers(&config.requestheader.headers, headers);

        let token = bearer(headers);
        headers.remove(header::AUTHORIZATION);
        if user.is_none() {
            match token {
                None => {}
                Some(token) => match &self.tokens {
                    None => failures.push("bearer token given but no TokenReview client".into()),
                    Some(tokens) => match tokens.authenticate(&token).await {
                        Ok(Some(found)) => user = Some(found),
                        Ok(None) => failures.push("invalid bearer token".into()),
                        Err(error) => failures.push(error.to_string()),
                    },
                },
            }
        }

        match user {
            Some(user) => Ok(user),
            None if failures.is_empty() && self.anonymous => Ok(anonymous_user()),
            None => {
                if failures.is_empty() {
                    failures.push("no credentials".into());
                }
                Err(Unauthenticated {
                    reasons: failures,
                    dropped_identity_headers: had_identity_headers,
                })
            }
        }
    }
}

/// Removes the configured identity headers and the aggregator's default ones; says whether
/// there were any.
fn strip_identity_headers(configured: &HeaderNames, headers: &mut HeaderMap) -> bool {
    static DEFAULTS: std::sync::LazyLock<HeaderNames> =
        std::sync::LazyLock::new(HeaderNames::default);
    let before = headers.len();
    requestheader::strip(configured, headers);
    if *configured != *DEFAULTS {
        requestheader::strip(&DEFAULTS, headers);
    }
    headers.len() != before
}

/// `--authentication=none`: anonymous; a malformed Authorization header still gets a 401, as
/// kube-apiserver gives for credentials it cannot read.
pub fn anonymous(headers: &HeaderMap) -> Result<Arc<UserInfo>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && !value.to_str().is_ok_and(authorization_is_well_formed)
    {
        return Err(ApiError::unauthorized("Unauthorized"));
    }
    Ok(anonymous_user())
}

/// Whether an Authorization header is `Bearer <token>` or `Basic <credentials>`.
fn authorization_is_well_formed(value: &str) -> bool {
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let credentials = parts.next().map(str::trim).unwrap_or_default();
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
        && !credentials.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_forms() {
        assert!(authorization_is_well_formed("Bearer abc"));
        assert!(authorization_is_well_formed("basic dXNlcjpwYXNz"));
        assert!(!authorization_is_well_formed("Bearer "));
        assert!(!authorization_is_well_formed("Token abc"));
    }
}
