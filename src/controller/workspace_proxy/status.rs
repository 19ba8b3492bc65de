//! The status a reconcile reports, computed from what it observed (pure: unit-tested here).
//!
//! Conditions are rebuilt from the checks of this reconcile, in the order they ran; a condition
//! that no longer applies (no control plane reference, a step not reached) is dropped rather
//! than left showing an old verdict. `lastTransitionTime` moves only when a status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use super::builders::TokenRef;
use crate::api::coder::v1alpha1::{
    CoderWorkspaceProxy, CoderWorkspaceProxyStatus, CoderWorkspaceProxyStatusPhase,
    CoderWorkspaceProxyStatusProxyTokenSecretRef,
};
use crate::controller::conditions;

pub const CONTROL_PLANE_READY: &str = "ControlPlaneReady";
pub const CREDENTIALS_READY: &str = "CredentialsReady";
pub const ENTITLED: &str = "WorkspaceProxyEntitled";
pub const REGISTERED: &str = "ProxyRegistered";
pub const TOKEN_SECRET_READY: &str = "ProxyTokenSecretReady";
pub const DEPLOYMENT_READY: &str = "DeploymentReady";
pub const READY: &str = "Ready";

/// One verdict of a reconcile step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub reason: String,
    pub message: String,
}

impl Check {
    pub fn ok(reason: &str, message: impl Into<String>) -> Self {
        Self {
            ok: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn failed(reason: &str, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The proxy as coderd knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub name: String,
}

/// Everything one reconcile learnt.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Condition type and verdict, in the order the steps ran.
    pub checks: Vec<(&'static str, Check)>,
    /// Set once coderd answered with the proxy; `None` keeps what status had (coderd not
    /// asked this time), `Some(None)` clears it (the proxy is gone from coderd).
    pub registration: Option<Option<Registration>>,
    pub token: Option<TokenRef>,
    /// (wanted, ready) replicas of the Deployment, when one is applied.
    pub replicas: Option<(i32, i32)>,
}

impl Observed {
    pub fn check(&mut self, condition: &'static str, check: Check) {
        self.checks.push((condition, check));
    }

    /// A step failed in a way that needs someone to act (not just time to pass).
    fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|(condition, check)| !check.ok && *condition != DEPLOYMENT_READY)
    }
}

pub fn compute(
    obj: &CoderWorkspaceProxy,
    observed: &Observed,
    now: Timestamp,
) -> CoderWorkspaceProxyStatus {
    let previous = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let old = previous.conditions.clone().unwrap_or_default();
    let mut conditions: Vec<Condition> = observed
        .checks
        .iter()
        .map(|(type_, check)| condition(&old, type_, check, generation, now))
        .collect();
    let ready = !observed.checks.is_empty()
        && observed.checks.iter().all(|(_, c)| c.ok)
        && observed.replicas.is_some();
    let ready_check = if ready {
        Check::ok("Ready", "the proxy is registered and serving")
    } else {
        match observed.checks.iter().find(|(_, c)| !c.ok) {
            Some((type_, check)) => {
                Check::failed(&check.reason, format!("{type_}: {}", check.message))
            }
            None => Check::failed("Progressing", "the proxy is being set up"),
        }
    };
    conditions.push(condition(&old, READY, &ready_check, generation, now));

    let registration = match &observed.registration {
        Some(now_known) => now_known.clone(),
        None => previous
            .proxy_id
            .clone()
            .zip(previous.proxy_name.clone())
            .map(|(id, name)| Registration { id, name }),
    };
    let phase = if ready {
        CoderWorkspaceProxyStatusPhase::Ready
    } else if observed.failed() {
        CoderWorkspaceProxyStatusPhase::Failed
    } else {
        CoderWorkspaceProxyStatusPhase::Pending
    };
    CoderWorkspaceProxyStatus {
        observed_generation: generation,
        ready_replicas: Some(observed.replicas.map_or(0, |(_, ready)| ready)),
        registered: Some(registration.is_some()),
        proxy_id: registration.as_ref().map(|r| r.id.clone()),
        proxy_name: registration.map(|r| r.name),
        proxy_token_secret_ref: observed.token.as_ref().map(|t| {
            CoderWorkspaceProxyStatusProxyTokenSecretRef {
                name: Some(t.name.clone()),
                key: Some(t.key.clone()),
            }
        }),
        phase: Some(phase),
        conditions: Some(conditions),
    }
}

fn condition(
    old: &[Condition],
    type_: &str,
    check: &Check,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    conditions::condition(
        old,
        type_,
        check.ok,
        &check.reason,
        &check.message,
        generation,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(status: Option<serde_json::Value>) -> CoderWorkspaceProxy {
        let mut obj = serde_json::json!({
            "apiVersion": "coder.com/v1alpha1",
            "kind": "CoderWorkspaceProxy",
            "metadata": {"name": "eu", "namespace": "ns", "generation": 3},
            "spec": {"bootstrap": {"coderURL": "http://c", "credentialsSecretRef": {"name": "c"}}},
        });
        if let Some(status) = status {
            obj["status"] = status;
        }
        serde_json::from_value(obj).unwrap()
    }

    fn token() -> TokenRef {
        TokenRef {
            name: "eu-proxy-token".into(),
            key: "token".into(),
        }
    }

    fn converged() -> Observed {
        let mut observed = Observed::default();
        observed.check(CREDENTIALS_READY, Check::ok("Found", "ok"));
        observed.check(ENTITLED, Check::ok("Entitled", "ok"));
        observed.check(REGISTERED, Check::ok("Registered", "ok"));
        observed.check(TOKEN_SECRET_READY, Check::ok("Stored", "ok"));
        observed.check(DEPLOYMENT_READY, Check::ok("Available", "1/1"));
        observed.registration = Some(Some(Registration {
            id: "id-1".into(),
            name: "eu".into(),
        }));
        observed.token = Some(token());
        observed.replicas = Some((1, 1));
        observed
    }

    #[test]
    fn all_checks_passing_is_ready_and_recomputing_changes_nothing() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let status = compute(&proxy(None), &converged(), t0);
        assert_eq!(status.phase, Some(CoderWorkspaceProxyStatusPhase::Ready));
        assert_eq!(status.registered, Some(true));
        assert_eq!(status.proxy_id.as_deref(), Some("id-1"));
        assert_eq!(status.observed_generation, Some(3));
        let ready = status.conditions.as_ref().unwrap().last().unwrap().clone();
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            (READY, "True")
        );
        // A later reconcile observing the same keeps every timestamp: no status write.
        let later = t0 + std::time::Duration::from_secs(60);
        let obj = proxy(Some(serde_json::to_value(&status).unwrap()));
        assert_eq!(compute(&obj, &converged(), later), status);
    }

    #[test]
    fn a_missing_entitlement_fails_with_its_reason_and_keeps_the_registration() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let before = compute(&proxy(None), &converged(), t0);
        let mut observed = Observed::default();
        observed.check(CREDENTIALS_READY, Check::ok("Found", "ok"));
        observed.check(ENTITLED, Check::failed("NotEntitled", "no license"));
        let obj = proxy(Some(serde_json::to_value(&before).unwrap()));
        let status = compute(&obj, &observed, t0 + std::time::Duration::from_secs(5));
        assert_eq!(status.phase, Some(CoderWorkspaceProxyStatusPhase::Failed));
        let conditions = status.conditions.unwrap();
        let types: Vec<_> = conditions.iter().map(|c| c.type_.as_str()).collect();
        // The Deployment condition is gone with the Deployment, not left True.
        assert_eq!(types, [CREDENTIALS_READY, ENTITLED, READY]);
        assert_eq!(conditions[1].reason, "NotEntitled");
        assert_eq!(conditions[2].reason, "NotEntitled");
        // coderd still has the proxy: status keeps its id for deregistration.
        assert_eq!(status.proxy_id.as_deref(), Some("id-1"));
    }

    #[test]
    fn a_deployment_without_ready_pods_is_pending_not_failed() {
        let mut observed = converged();
        observed.checks.pop();
        observed.check(DEPLOYMENT_READY, Check::failed("Unavailable", "0/1"));
        observed.replicas = Some((1, 0));
        let status = compute(&proxy(None), &observed, Timestamp::UNIX_EPOCH);
        assert_eq!(status.phase, Some(CoderWorkspaceProxyStatusPhase::Pending));
        assert_eq!(status.ready_replicas, Some(0));
    }
}
