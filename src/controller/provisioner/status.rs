//! The CoderProvisioner's status: conditions (the types and reasons of coder/coder-k8s), phase,
//! the key's record and the Deployment's ready replicas, computed from what one reconcile found.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use super::builders::KeyRecord;
use crate::api::coder::v1alpha1::{
    CoderProvisioner, CoderProvisionerStatus, CoderProvisionerStatusPhase as Phase,
    CoderProvisionerStatusSecretRef,
};
use crate::controller::conditions::set_condition;

pub const CONTROL_PLANE_READY: &str = "ControlPlaneReady";
pub const OPERATOR_ACCESS_READY: &str = "OperatorAccessReady";
pub const ENTITLED: &str = "ExternalProvisionersEntitled";
pub const KEY_READY: &str = "ProvisionerKeyReady";
pub const KEY_SECRET_READY: &str = "ProvisionerKeySecretReady";
pub const DEPLOYMENT_READY: &str = "DeploymentReady";

/// Conditions in the order a reconcile checks them (and `kubectl describe` lists them).
const ORDER: [&str; 6] = [
    CONTROL_PLANE_READY,
    OPERATOR_ACCESS_READY,
    ENTITLED,
    KEY_READY,
    KEY_SECRET_READY,
    DEPLOYMENT_READY,
];

/// One condition as a reconcile found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Found {
    pub fn ok(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: true,
            reason,
            message: message.into(),
        }
    }

    pub fn not(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: false,
            reason,
            message: message.into(),
        }
    }
}

/// Everything one reconcile learned. Conditions it did not get to keep their previous value
/// (a reconcile that stops at the control plane says nothing new about the Deployment).
#[derive(Clone, Debug, Default)]
pub struct Findings {
    pub conditions: Vec<Found>,
    /// The key the Secret holds, once it is known to be the wanted one.
    pub key: Option<KeyRecord>,
    /// (Secret name, data key) holding the key.
    pub secret_ref: Option<(String, String)>,
    /// Ready replicas of the Deployment, when it was applied.
    pub ready_replicas: Option<i32>,
}

impl Findings {
    pub fn push(&mut self, found: Found) {
        self.conditions.retain(|c| c.type_ != found.type_);
        self.conditions.push(found);
    }

    /// The first condition that is not True, if any.
    pub fn first_failure(&self) -> Option<&Found> {
        self.conditions.iter().find(|c| !c.status)
    }
}

pub fn compute(
    obj: &CoderProvisioner,
    findings: &Findings,
    now: Timestamp,
) -> CoderProvisionerStatus {
    let previous = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let mut conditions: Vec<Condition> = previous.conditions.clone().unwrap_or_default();
    for found in &findings.conditions {
        set_condition(
            &mut conditions,
            found.type_,
            found.status,
            found.reason,
            found.message.clone(),
            generation,
            now,
        );
    }
    conditions.sort_by_key(|c| {
        ORDER
            .iter()
            .position(|t| *t == c.type_)
            .unwrap_or(usize::MAX)
    });

    let mut status = CoderProvisionerStatus {
        observed_generation: generation,
        conditions: Some(conditions),
        ..previous
    };
    if let Some(key) = &findings.key {
        status.organization_id = Some(key.organization_id.clone());
        status.organization_name = Some(key.organization_name.clone());
        status.provisioner_key_id = Some(key.key_id.clone());
        status.provisioner_key_name = Some(key.key_name.clone());
        status.tags_hash = Some(key.tags_hash.clone());
        status.control_plane_ref_name = Some(key.control_plane.clone());
        status.control_plane_url = Some(key.control_plane_url.clone());
    }
    if let Some((name, key)) = &findings.secret_ref {
        status.secret_ref = Some(CoderProvisionerStatusSecretRef {
            name: Some(name.clone()),
            key: Some(key.clone()),
        });
    }
    if let Some(ready) = findings.ready_replicas {
        status.ready_replicas = Some(ready);
    }
    // As coder/coder-k8s: Ready once one daemon is ready and nothing upstream of it failed.
    let ready = status.ready_replicas.unwrap_or(0) > 0 && findings.first_failure().is_none();
    status.phase = Some(if ready { Phase::Ready } else { Phase::Pending });
    status
}

#[cfg(test)]
mod tests {
    use super::super::builders::test_support::provisioner;
    use super::*;
    use serde_json::json;

    fn record() -> KeyRecord {
        KeyRecord {
            key_name: "eu".into(),
            key_id: "kid".into(),
            organization_id: "oid".into(),
            organization_name: "default".into(),
            tags_hash: "811c9dc5".into(),
            control_plane: "coder".into(),
            control_plane_url: "http://coder".into(),
        }
    }

    fn condition<'a>(status: &'a CoderProvisionerStatus, type_: &str) -> &'a Condition {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("{type_} in {status:?}"))
    }

    fn all_ok(ready: i32) -> Findings {
        let mut findings = Findings {
            key: Some(record()),
            secret_ref: Some(("eu-provisioner-key".into(), "key".into())),
            ready_replicas: Some(ready),
            ..Findings::default()
        };
        for type_ in ORDER {
            findings.push(Found::ok(type_, "Ok", "fine"));
        }
        findings
    }

    #[test]
    fn ready_when_a_daemon_is_ready_and_every_condition_holds() {
        let obj = provisioner("eu", json!({"controlPlaneRef": {"name": "coder"}}));
        let now = Timestamp::now();
        let status = compute(&obj, &all_ok(1), now);
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.observed_generation, Some(2));
        assert_eq!(status.provisioner_key_id.as_deref(), Some("kid"));
        assert_eq!(status.tags_hash.as_deref(), Some("811c9dc5"));
        assert_eq!(status.control_plane_url.as_deref(), Some("http://coder"));
        let secret_ref = status.secret_ref.as_ref().unwrap();
        assert_eq!(secret_ref.name.as_deref(), Some("eu-provisioner-key"));
        let types: Vec<&str> = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ORDER);

        let status = compute(&obj, &all_ok(0), now);
        assert_eq!(status.phase, Some(Phase::Pending));
    }

    #[test]
    fn a_failed_condition_keeps_the_others_and_their_transition_times() {
        let mut obj = provisioner("eu", json!({"controlPlaneRef": {"name": "coder"}}));
        let earlier = Timestamp::from_second(1_700_000_000).unwrap();
        obj.status = Some(compute(&obj, &all_ok(1), earlier));
        let mut findings = Findings::default();
        findings.push(Found::ok(CONTROL_PLANE_READY, "Ok", "fine"));
        findings.push(Found::not(ENTITLED, "NotEntitled", "no license"));
        let status = compute(&obj, &findings, Timestamp::now());
        assert_eq!(status.phase, Some(Phase::Pending), "{status:?}");
        let entitled = condition(&status, ENTITLED);
        assert_eq!(
            (entitled.status.as_str(), entitled.reason.as_str()),
            ("False", "NotEntitled")
        );
        assert_ne!(entitled.last_transition_time.0, earlier);
        // Unchanged status: the transition time stays.
        assert_eq!(
            condition(&status, CONTROL_PLANE_READY)
                .last_transition_time
                .0,
            earlier
        );
        // Not looked at this time: left as it was.
        assert_eq!(condition(&status, DEPLOYMENT_READY).status, "True");
        assert_eq!(status.provisioner_key_id.as_deref(), Some("kid"));
    }

    #[test]
    fn same_findings_give_the_same_status() {
        let mut obj = provisioner("eu", json!({"controlPlaneRef": {"name": "coder"}}));
        obj.status = Some(compute(&obj, &all_ok(1), Timestamp::now()));
        let again = compute(&obj, &all_ok(1), Timestamp::now());
        assert_eq!(
            obj.status.as_ref(),
            Some(&again),
            "no write when nothing changed"
        );
    }
}
