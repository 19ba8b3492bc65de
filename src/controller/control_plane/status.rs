//! What the controller reports in `status`: pure functions from the observed Deployment (or the
//! last error) to phase, ready replicas, URL and the Available/Progressing/Degraded conditions.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;

use crate::api::coder::v1alpha1::{
    CoderControlPlane, CoderControlPlaneStatus, CoderControlPlaneStatusPhase as Phase,
};
pub(crate) use crate::controller::conditions::set_condition;
use crate::controller::conditions::truncate;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// The parts of a Deployment's status the controller reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rollout {
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    pub total: i32,
    /// The Deployment controller has seen the latest Deployment spec.
    pub observed: bool,
    /// The Deployment's own `Progressing` condition is False (`ProgressDeadlineExceeded`).
    pub stalled: bool,
}

impl Rollout {
    pub fn of(deployment: &Deployment) -> Self {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let generation = deployment.metadata.generation.unwrap_or(0);
        Rollout {
            desired,
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            total: status.replicas.unwrap_or(0),
            observed: status.observed_generation.unwrap_or(0) >= generation,
            stalled: status
                .conditions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == PROGRESSING && c.status == "False"),
        }
    }

    /// Every replica runs the current template and is available, and no old pod is left.
    pub fn complete(&self) -> bool {
        self.observed
            && self.updated >= self.desired
            && self.available >= self.desired
            && self.ready >= self.desired
            && self.total <= self.desired
    }

    /// At least one replica serves (or none is wanted).
    pub fn available(&self) -> bool {
        self.desired == 0 || self.available.max(self.ready) >= 1
    }
}

/// What the reconcile attempt found.
pub enum Outcome<'a> {
    /// Children applied; the Deployment is in this state.
    Applied { rollout: Rollout, url: String },
    /// The attempt failed; `reason` is PascalCase.
    Failed { reason: &'a str, message: &'a str },
}

/// The status to write. Conditions keep their `lastTransitionTime` while their status stays
/// the same, so `kubectl describe` shows when things really changed.
pub fn compute(
    ccp: &CoderControlPlane,
    outcome: &Outcome<'_>,
    now: Timestamp,
) -> CoderControlPlaneStatus {
    let previous = ccp.status.clone().unwrap_or_default();
    let generation = ccp.metadata.generation;
    let mut conditions = previous.conditions.clone().unwrap_or_default();
    let mut set = |type_: &str, status: bool, reason: &str, message: String| {
        set_condition(
            &mut conditions,
            type_,
            status,
            reason,
            message,
            generation,
            now,
        )
    };

    let mut status = CoderControlPlaneStatus {
        observed_generation: generation,
        ..previous.clone()
    };
    match outcome {
        Outcome::Applied { rollout, url } => {
            let summary = format!(
                "{} of {} coderd replicas ready, {} updated",
                rollout.ready, rollout.desired, rollout.updated
            );
            if rollout.available() {
                set(AVAILABLE, true, "MinimumReplicasAvailable", summary.clone());
            } else {
                set(AVAILABLE, false, "NoReplicasAvailable", summary.clone());
            }
            // As a Deployment reports it: True while rolling out and once the new ReplicaSet
            // is available; False only when the rollout is stuck past its deadline.
            if rollout.complete() {
                set(PROGRESSING, true, "NewReplicaSetAvailable", summary);
            } else if rollout.stalled {
                set(PROGRESSING, false, "ProgressDeadlineExceeded", summary);
            } else {
                set(PROGRESSING, true, "ReplicaSetUpdated", summary);
            }
            set(
                DEGRADED,
                false,
                "ReconcileSucceeded",
                "All children applied".to_string(),
            );
            status.phase = Some(if rollout.complete() && rollout.available() {
                Phase::Ready
            } else if rollout.ready == 0 && rollout.desired > 0 {
                Phase::Pending
            } else {
                Phase::Progressing
            });
            status.ready_replicas = Some(rollout.ready);
            status.url = Some(url.clone());
        }
        Outcome::Failed { reason, message } => {
            set(DEGRADED, true, reason, truncate(message, 1024));
            status.phase = Some(Phase::Failed);
        }
    }
    conditions.sort_by_key(|c| condition_rank(&c.type_));
    status.conditions = Some(conditions);
    status
}

fn condition_rank(type_: &str) -> (usize, String) {
    let rank = [AVAILABLE, PROGRESSING, DEGRADED]
        .iter()
        .position(|t| *t == type_)
        .unwrap_or(usize::MAX);
    (rank, type_.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::control_plane::builders::test_support::ccp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use serde_json::json;

    fn rollout(desired: i32, ready: i32) -> Rollout {
        Rollout {
            desired,
            ready,
            updated: ready,
            available: ready,
            total: ready,
            observed: true,
            stalled: false,
        }
    }

    fn cond<'a>(s: &'a CoderControlPlaneStatus, t: &str) -> &'a Condition {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    fn applied(r: Rollout) -> Outcome<'static> {
        Outcome::Applied {
            rollout: r,
            url: "http://u".into(),
        }
    }

    #[test]
    fn phase_table() {
        let cases = [
            (rollout(1, 0), Phase::Pending, "False", "True"),
            (rollout(3, 1), Phase::Progressing, "True", "True"),
            (rollout(3, 3), Phase::Ready, "True", "True"),
            (rollout(0, 0), Phase::Ready, "True", "True"),
            (
                Rollout {
                    stalled: true,
                    ..rollout(3, 1)
                },
                Phase::Progressing,
                "True",
                "False",
            ),
            (
                Rollout {
                    observed: false,
                    ..rollout(1, 1)
                },
                Phase::Progressing,
                "True",
                "True",
            ),
            (
                Rollout {
                    total: 2,
                    ..rollout(1, 1)
                },
                Phase::Progressing,
                "True",
                "True",
            ),
        ];
        let obj = ccp("c", "ns", json!({}));
        for (r, phase, available, progressing) in cases {
            let s = compute(&obj, &applied(r), Timestamp::UNIX_EPOCH);
            assert_eq!(s.phase, Some(phase), "{r:?}");
            assert_eq!(s.ready_replicas, Some(r.ready));
            assert_eq!(s.url.as_deref(), Some("http://u"));
            assert_eq!(s.observed_generation, Some(1));
            assert_eq!(cond(&s, AVAILABLE).status, available, "{r:?}");
            assert_eq!(cond(&s, PROGRESSING).status, progressing, "{r:?}");
            assert_eq!(cond(&s, DEGRADED).status, "False");
            for c in s.conditions.as_ref().unwrap() {
                assert_eq!(c.observed_generation, Some(1));
            }
            let order: Vec<&str> = s
                .conditions
                .as_ref()
                .unwrap()
                .iter()
                .map(|c| c.type_.as_str())
                .collect();
            assert_eq!(order, vec![AVAILABLE, PROGRESSING, DEGRADED]);
        }
    }

    #[test]
    fn failure_sets_degraded_and_keeps_the_rest() {
        let mut obj = ccp("c", "ns", json!({}));
        obj.status = Some(compute(
            &obj,
            &applied(rollout(1, 1)),
            Timestamp::UNIX_EPOCH,
        ));
        let later = Timestamp::from_second(100).unwrap();
        let s = compute(
            &obj,
            &Outcome::Failed {
                reason: "Forbidden",
                message: "no",
            },
            later,
        );
        assert_eq!(s.phase, Some(Phase::Failed));
        assert_eq!(s.ready_replicas, Some(1));
        let degraded = cond(&s, DEGRADED);
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "Forbidden");
        assert_eq!(degraded.message, "no");
        assert_eq!(degraded.last_transition_time, Time(later));
        let available = cond(&s, AVAILABLE);
        assert_eq!(available.status, "True");
        assert_eq!(available.last_transition_time, Time(Timestamp::UNIX_EPOCH));
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut obj = ccp("c", "ns", json!({}));
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(10).unwrap();
        let t2 = Timestamp::from_second(20).unwrap();
        obj.status = Some(compute(&obj, &applied(rollout(2, 1)), t0));
        obj.status = Some(compute(&obj, &applied(rollout(2, 1)), t1));
        assert_eq!(
            cond(obj.status.as_ref().unwrap(), PROGRESSING).last_transition_time,
            Time(t0)
        );
        let s = compute(&obj, &applied(rollout(2, 2)), t2);
        // Complete is still Progressing=True (NewReplicaSetAvailable): no transition.
        assert_eq!(cond(&s, PROGRESSING).last_transition_time, Time(t0));
        assert_eq!(cond(&s, PROGRESSING).reason, "NewReplicaSetAvailable");
        assert_eq!(cond(&s, AVAILABLE).last_transition_time, Time(t0));
        let stalled = Rollout {
            stalled: true,
            ..rollout(2, 1)
        };
        let s = compute(&obj, &applied(stalled), t2);
        assert_eq!(cond(&s, PROGRESSING).status, "False");
        assert_eq!(cond(&s, PROGRESSING).reason, "ProgressDeadlineExceeded");
        assert_eq!(cond(&s, PROGRESSING).last_transition_time, Time(t2));
    }

    #[test]
    fn rollout_reads_the_deployment_status() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"generation": 4},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 4, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        })).unwrap();
        let r = Rollout::of(&d);
        assert_eq!(
            r,
            Rollout {
                desired: 2,
                ready: 2,
                updated: 2,
                available: 2,
                total: 2,
                observed: true,
                stalled: false,
            }
        );
        assert!(r.complete());
        let fresh: Deployment = serde_json::from_value(json!({
            "metadata": {"generation": 1}, "spec": {"selector": {}, "template": {}}
        }))
        .unwrap();
        let r = Rollout::of(&fresh);
        assert!(!r.observed);
        assert!(!r.available());
        let stuck: Deployment = serde_json::from_value(json!({
            "metadata": {"generation": 1}, "spec": {"selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ]}
        }))
        .unwrap();
        assert!(Rollout::of(&stuck).stalled);
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(2000);
        let t = truncate(&long, 1025);
        assert!(t.len() <= 1025 + '…'.len_utf8());
        assert!(t.ends_with('…'));
    }
}
