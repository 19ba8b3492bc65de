//! Operator access: the coderd token the operator (this controller and the aggregated
//! apiserver's Coder backend) acts with, provisioned per CoderControlPlane and published in its
//! status (`operatorTokenSecretRef`, `operatorAccessReady`, condition `OperatorAccessReady`).
//!
//! Either the user names an Owner's token (`spec.operatorAccess.tokenSecretRef`), or on a
//! fresh coderd the controller creates the first user, keeps its login in
//! `<ccp>-admin-credentials` and mints an API token into `<ccp>-operator-token`, rotating it
//! when a third of its lifetime is left. coderd being down is a condition and a retry with
//! backoff, never a reconcile error. See docs/operator-access.md.
//!
//! The aggregated apiserver records a token coderd rejected (401) in the annotation
//! [`OPERATOR_TOKEN_REJECTED_AT`]; a new value triggers a reconcile ([`rejection_reported`]), so
//! the token is checked and replaced within seconds. A token found rejected is reported as
//! `OperatorAccessReady=False` (reason `TokenRejected`) before it is replaced.

mod generated;
mod provided;
mod rotation;
mod secrets;
mod settings;
pub(in crate::controller::control_plane) mod state;

use std::ops::ControlFlow::{self, Break, Continue};

use jiff::Timestamp;

use super::builders::Target;
use super::context::Context;
use crate::api::annotations::OPERATOR_TOKEN_REJECTED_AT;
use crate::api::coder::v1alpha1::{
    CoderControlPlane, CoderControlPlaneStatus, CoderControlPlaneStatusOperatorTokenSecretRef,
};
use crate::coder::{CoderClient, CoderError};
use crate::controller::error::Result;
pub use settings::{AccessSettings, Mode, OperatorAccessSpec};
pub use state::{Access, Retry, State};

/// The condition type.
pub const CONDITION: &str = "OperatorAccessReady";

/// The condition's reasons.
pub mod reason {
    pub const TOKEN_PROVIDED: &str = "TokenProvided";
    pub const BOOTSTRAPPED: &str = "Bootstrapped";
    pub const TOKEN_ROTATED: &str = "TokenRotated";
    pub const CODERD_UNREACHABLE: &str = "CoderdUnreachable";
    pub const CODERD_ERROR: &str = "CoderdError";
    pub const FIRST_USER_EXISTS: &str = "FirstUserExists";
    pub const TOKEN_INVALID: &str = "TokenInvalid";
    /// coderd no longer accepts the token the status publishes; a new one is being minted.
    pub const TOKEN_REJECTED: &str = "TokenRejected";
    pub const DISABLED: &str = "Disabled";
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

impl Access {
    /// coderd could not be asked, or answered something unexpected.
    fn coderd_failed(error: &CoderError) -> Self {
        if error.is_unavailable() {
            Access::not_ready(
                reason::CODERD_UNREACHABLE,
                format!("cannot reach coderd: {error}"),
                Retry::Backoff,
            )
        } else {
            Access::not_ready(
                reason::CODERD_ERROR,
                format!("coderd refused: {error}"),
                Retry::Backoff,
            )
        }
    }

    fn ready(reason: &'static str, message: String, secret: (&str, &str), retry: Retry) -> Self {
        Self {
            ready: true,
            reason,
            message,
            token_secret_ref: Some((secret.0.to_string(), secret.1.to_string())),
            retry,
            events: Vec::new(),
            rejected: None,
        }
    }

    fn not_ready(reason: &'static str, message: String, retry: Retry) -> Self {
        Self {
            ready: false,
            reason,
            message,
            token_secret_ref: None,
            retry,
            events: Vec::new(),
            rejected: None,
        }
    }
}

impl Access {
    /// What to report before this outcome when the attempt found the published token
    /// rejected: `OperatorAccessReady=False`, reason `TokenRejected`.
    pub fn rejection(&self) -> Option<Access> {
        let why = self.rejected.as_ref()?;
        Some(Access::not_ready(
            reason::TOKEN_REJECTED,
            why.clone(),
            Retry::Backoff,
        ))
    }
}

/// Predicate of the control plane watch: the value of [`OPERATOR_TOKEN_REJECTED_AT`], so that
/// a rejection the apiserver reports triggers a reconcile (annotations do not bump the
/// generation the other predicates follow).
pub fn rejection_reported(ccp: &CoderControlPlane) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let value = ccp
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OPERATOR_TOKEN_REJECTED_AT))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    Some(hasher.finish())
}

/// `spec.operatorAccess` of `ccp`, every field optional.
pub fn spec_of(ccp: &CoderControlPlane) -> OperatorAccessSpec {
    let access = &ccp.spec.operator_access;
    OperatorAccessSpec {
        disabled: access.disabled,
        token_secret_ref: access
            .token_secret_ref
            .as_ref()
            .map(|r| (r.name.clone(), Some(r.key.clone()))),
        generated_token_secret_name: access.generated_token_secret_name.clone(),
        url: access.url.clone(),
        token_lifetime: Some(access.token_lifetime.clone()),
    }
}

/// One attempt at operator access for `ccp`. `coderd_available`: a coderd replica is
/// available (the default, in-cluster URL answers only then). Err only when the Kubernetes
/// API fails (reading or applying a Secret).
pub async fn reconcile(
    ctx: &Context,
    ccp: &CoderControlPlane,
    target: &Target<'_>,
    coderd_available: bool,
) -> Result<Access> {
    let settings = match settings::resolve(target.name, &spec_of(ccp), &target.service_url()) {
        Ok(settings) => settings,
        Err(message) => {
            return Ok(Access::not_ready(
                reason::INVALID_SPEC,
                message,
                Retry::Resync,
            ));
        }
    };
    match &settings.mode {
        Mode::Disabled => Ok(Access::not_ready(
            reason::DISABLED,
            "spec.operatorAccess.disabled is true: the operator has no coderd token".into(),
            Retry::Resync,
        )),
        Mode::Provided { secret, key } => match connect(ctx, &settings, coderd_available) {
            Continue(coderd) => provided::check(&ctx.client, target, &coderd, secret, key).await,
            Break(access) => Ok(access),
        },
        Mode::Generated { token_secret } => match connect(ctx, &settings, coderd_available) {
            Continue(coderd) => {
                generated::Generated {
                    kube: &ctx.client,
                    target,
                    settings: &settings,
                    coderd: &coderd,
                    token_secret,
                }
                .run()
                .await
            }
            Break(access) => Ok(access),
        },
    }
}

/// A coderd client acting with the token `access` published, for the other coderd work of
/// the reconcile (license upload, entitlements). None when access is not ready or the token
/// Secret no longer holds a value. Err only when the Kubernetes API fails.
pub async fn authenticated_client(
    ctx: &Context,
    ccp: &CoderControlPlane,
    target: &Target<'_>,
    access: &Access,
) -> Result<Option<CoderClient>> {
    let Some((secret, key)) = access.token_secret_ref.as_ref().filter(|_| access.ready) else {
        return Ok(None);
    };
    let Ok(settings) = settings::resolve(target.name, &spec_of(ccp), &target.service_url()) else {
        return Ok(None);
    };
    let Some(stored) = secrets::read(&ctx.client, target.namespace, secret).await? else {
        return Ok(None);
    };
    let Some(token) = secrets::token(&stored, key) else {
        return Ok(None);
    };
    Ok(ctx
        .operator_access
        .client(&settings.url)
        .ok()
        .map(|client| client.with_token(token)))
}

/// The client for coderd, or why there is none to try yet.
fn connect(
    ctx: &Context,
    settings: &AccessSettings,
    coderd_available: bool,
) -> ControlFlow<Access, CoderClient> {
    if !settings.explicit_url && !coderd_available {
        // The Deployment's status change triggers the next attempt.
        return Break(Access::not_ready(
            reason::CODERD_UNREACHABLE,
            format!(
                "waiting for a coderd replica to become available at {}",
                settings.url
            ),
            Retry::Resync,
        ));
    }
    match ctx.operator_access.client(&settings.url) {
        Ok(client) => Continue(client),
        Err(error) => Break(Access::not_ready(
            reason::INVALID_SPEC,
            error.to_string(),
            Retry::Resync,
        )),
    }
}

/// A Warning Event for `access` when it newly fails (the condition's reason changes to a
/// failure), so `kubectl get events` tells why the Coder backend refuses the namespace.
/// Waiting for a first coderd replica and `disabled` are states, not failures.
pub fn warning(ccp: &CoderControlPlane, access: &Access) -> Option<(&'static str, String)> {
    let failed = access.retry == Retry::Backoff || access.reason == reason::INVALID_SPEC;
    if access.ready || !failed {
        return None;
    }
    let previous = ccp
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION));
    let changed = previous.is_none_or(|c| c.reason != access.reason);
    changed.then(|| (access.reason, access.message.clone()))
}

/// Writes `access` into `status`: the condition (its transition time kept while its status
/// stays), `operatorAccessReady`, `operatorTokenSecretRef`, and `url` when the spec sets it.
pub fn report(
    ccp: &CoderControlPlane,
    status: &mut CoderControlPlaneStatus,
    access: &Access,
    now: Timestamp,
) {
    let explicit_url = spec_of(ccp).url.filter(|u| !u.is_empty());
    let mut conditions = status.conditions.take().unwrap_or_default();
    super::status::set_condition(
        &mut conditions,
        CONDITION,
        access.ready,
        access.reason,
        access.message.clone(),
        ccp.metadata.generation,
        now,
    );
    status.conditions = Some(conditions);
    if let Some(url) = explicit_url {
        status.url = Some(url);
    }
    status.operator_access_ready = Some(access.ready);
    // Only a working token is published: consumers take the reference as "use this".
    status.operator_token_secret_ref = access.token_secret_ref.as_ref().map(|(name, key)| {
        CoderControlPlaneStatusOperatorTokenSecretRef {
            name: Some(name.clone()),
            key: Some(key.clone()),
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::state::MAX_BACKOFF;
    use super::*;
    use crate::controller::control_plane::builders::test_support::ccp;
    use serde_json::json;

    fn condition(
        status: &CoderControlPlaneStatus,
    ) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION))
            .expect("condition")
    }

    #[test]
    fn report_publishes_only_a_working_token() {
        let obj = ccp(
            "c",
            "ns",
            json!({"operatorAccess": {"url": "http://127.0.0.1:3000"}}),
        );
        let t0: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-11-30T01:00:00Z".parse().unwrap();
        let mut status = CoderControlPlaneStatus::default();
        let ready = Access::ready(
            reason::BOOTSTRAPPED,
            "minted".into(),
            ("c-operator-token", "token"),
            Retry::Resync,
        );
        report(&obj, &mut status, &ready, t0);
        assert_eq!(status.operator_access_ready, Some(true));
        assert_eq!(
            status.operator_token_secret_ref,
            Some(CoderControlPlaneStatusOperatorTokenSecretRef {
                name: Some("c-operator-token".into()),
                key: Some("token".into()),
            })
        );
        assert_eq!(status.url.as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(condition(&status).status, "True");
        assert_eq!(condition(&status).observed_generation, Some(1));

        // Still ready with another message: the transition time stays.
        let mut again = ready.clone();
        again.message = "valid".into();
        report(&obj, &mut status, &again, t1);
        assert_eq!(condition(&status).last_transition_time.0, t0);

        let down = Access::not_ready(reason::CODERD_UNREACHABLE, "down".into(), Retry::Backoff);
        report(&obj, &mut status, &down, t1);
        assert_eq!(status.operator_access_ready, Some(false));
        assert_eq!(status.operator_token_secret_ref, None);
        assert_eq!(condition(&status).status, "False");
        assert_eq!(condition(&status).reason, "CoderdUnreachable");
        assert_eq!(condition(&status).last_transition_time.0, t1);
    }

    #[test]
    fn a_warning_only_when_the_failure_is_new() {
        let mut obj = ccp("c", "ns", json!({}));
        let down = Access::not_ready(reason::CODERD_UNREACHABLE, "down".into(), Retry::Backoff);
        assert_eq!(
            warning(&obj, &down),
            Some((reason::CODERD_UNREACHABLE, "down".to_string()))
        );
        let mut status = CoderControlPlaneStatus::default();
        report(&obj, &mut status, &down, Timestamp::now());
        obj.status = Some(status);
        assert_eq!(warning(&obj, &down), None);
        let ready = Access::ready(
            reason::BOOTSTRAPPED,
            String::new(),
            ("s", "k"),
            Retry::Resync,
        );
        assert_eq!(warning(&obj, &ready), None);
        let off = Access::not_ready(reason::DISABLED, String::new(), Retry::Resync);
        assert_eq!(warning(&obj, &off), None);
        let waiting = Access::not_ready(reason::CODERD_UNREACHABLE, String::new(), Retry::Resync);
        assert_eq!(warning(&ccp("c", "ns", json!({})), &waiting), None);
    }

    #[test]
    fn a_rejected_token_is_reported_before_the_outcome() {
        let mut minted = Access::ready(
            reason::BOOTSTRAPPED,
            "minted".into(),
            ("s", "k"),
            Retry::Resync,
        );
        assert_eq!(minted.rejection(), None);
        minted.rejected = Some("coderd answered 401".into());
        let interim = minted.rejection().expect("interim");
        assert!(!interim.ready);
        assert_eq!(interim.reason, reason::TOKEN_REJECTED);
        assert_eq!(interim.message, "coderd answered 401");
        assert_eq!(interim.token_secret_ref, None);
    }

    #[test]
    fn the_watch_follows_the_rejection_annotation() {
        let mut obj = ccp("c", "ns", json!({}));
        assert_eq!(rejection_reported(&obj), None);
        let mut at = |value: &str| {
            obj.metadata.annotations = Some(
                [(OPERATOR_TOKEN_REJECTED_AT.to_string(), value.to_string())]
                    .into_iter()
                    .collect(),
            );
            rejection_reported(&obj)
        };
        let first = at("2026-12-07T16:00:00Z");
        assert!(first.is_some());
        assert_eq!(at("2026-12-07T16:00:00Z"), first);
        assert_ne!(at("2026-12-07T16:00:05Z"), first);
    }

    #[test]
    fn requeue_backs_off_until_ready_and_follows_rotation() {
        let state = State::new(Duration::from_secs(300));
        let resync = Duration::from_secs(300);
        let down = Access::not_ready(reason::CODERD_UNREACHABLE, String::new(), Retry::Backoff);
        let waits: Vec<Duration> = (0..8)
            .map(|_| state.requeue_after("ns/c", &down, resync))
            .collect();
        assert!(waits[0] <= Duration::from_secs(1), "{waits:?}");
        assert!(waits[7] >= Duration::from_secs(30), "{waits:?}");
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF), "{waits:?}");

        let soon = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(20))
            .unwrap();
        let ready = Access::ready(
            reason::BOOTSTRAPPED,
            String::new(),
            ("s", "k"),
            Retry::At(soon),
        );
        let wait = state.requeue_after("ns/c", &ready, resync);
        assert!(
            wait <= Duration::from_secs(20) && wait >= Duration::from_secs(18),
            "{wait:?}"
        );
        // Success reset the backoff.
        assert!(state.requeue_after("ns/c", &down, resync) <= Duration::from_secs(1));
    }
}
