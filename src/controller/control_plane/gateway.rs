//! Gateway API exposure: the HTTPRoute of `expose.gateway`, applied when the Gateway API CRDs
//! are installed and reported (condition `HTTPRoute`) when they are not, without failing the
//! reconcile: the rest of the control plane works without a route.
//!
//! HTTPRoutes are not watched (a watch on a resource the cluster may not serve would fail, and
//! hold up readiness, in every cluster without Gateway API): the route is compared with what
//! the spec wants on every reconcile, so a hand edit is put back at the latest at the resync.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::Serialize;

use super::builders::{HTTPRoute, MANAGER, Target};
use super::context::Context;
use super::license::ConditionUpdate;
use super::status::set_condition;
use crate::api::coder::v1alpha1::{CoderControlPlane, CoderControlPlaneStatus};
use crate::controller::error::{Error, Result};

pub const CONDITION: &str = "HTTPRoute";

pub mod reason {
    pub const APPLIED: &str = "Applied";
    /// gateway.networking.k8s.io/v1 HTTPRoute is not served by this cluster.
    pub const GATEWAY_API_NOT_INSTALLED: &str = "GatewayAPINotInstalled";
}

/// How soon to look again for the Gateway API CRDs after finding them missing.
pub const CRD_RETRY: Duration = Duration::from_secs(120);

/// What one reconcile did about the route.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The condition to set; None with `remove` when `expose.gateway` is unset.
    pub condition: Option<ConditionUpdate>,
    pub remove: bool,
    /// "Created"/"Updated"/"Deleted" and a note, for the Event.
    pub change: Option<(&'static str, String)>,
    /// (reason, note) of a Warning Event, published when the condition newly fails.
    pub warning: Option<(&'static str, String)>,
    pub requeue: Option<Duration>,
}

/// Applies `wanted` (or removes the route this control plane made when nothing is wanted).
/// Err when the API server refuses the route for another reason than its kind not existing.
pub async fn reconcile(
    ctx: &Context,
    ccp: &CoderControlPlane,
    target: &Target<'_>,
    wanted: Option<&HTTPRoute>,
) -> Result<Outcome> {
    let api: Api<HTTPRoute> = Api::namespaced(ctx.client.clone(), target.namespace);
    let Some(wanted) = wanted else {
        return remove(ccp, &api, target).await;
    };
    let existing = match api.get_opt(target.name).await {
        Ok(existing) => existing,
        Err(error) if is_not_served(&error) => return Ok(not_installed(ccp)),
        Err(source) => return Err(child_error("read", target, source)),
    };
    let where_ = format!("HTTPRoute {}/{}", target.namespace, target.name);
    let applied = |change| Outcome {
        condition: Some(ConditionUpdate {
            type_: CONDITION,
            status: true,
            reason: reason::APPLIED,
            message: format!(
                "{where_} routes {} to Service {} (see its status.parents for each Gateway's answer)",
                wanted.spec.hostnames.join(", "),
                target.name
            ),
        }),
        change,
        ..Outcome::default()
    };
    if let Some(existing) = &existing
        && in_sync(existing, wanted)
    {
        return Ok(applied(None));
    }
    let params = PatchParams::apply(MANAGER).force();
    match api.patch(target.name, &params, &Patch::Apply(wanted)).await {
        Ok(_) => {
            let verb = if existing.is_some() {
                "Updated"
            } else {
                "Created"
            };
            Ok(applied(Some((verb, format!("{verb} {where_}")))))
        }
        Err(error) if is_not_served(&error) => Ok(not_installed(ccp)),
        Err(source) => Err(child_error("apply", target, source)),
    }
}

/// `expose.gateway` unset: delete the route if this control plane made one (its condition is
/// in status), and drop the condition. Nothing is asked of the API server otherwise.
async fn remove(
    ccp: &CoderControlPlane,
    api: &Api<HTTPRoute>,
    target: &Target<'_>,
) -> Result<Outcome> {
    let had_route = previous(ccp).is_some_and(|c| c.reason == reason::APPLIED);
    let mut outcome = Outcome {
        remove: true,
        ..Outcome::default()
    };
    if !had_route {
        return Ok(outcome);
    }
    let existing = match api.get_opt(target.name).await {
        Ok(existing) => existing,
        Err(error) if is_not_served(&error) => return Ok(outcome),
        Err(source) => return Err(child_error("read", target, source)),
    };
    let Some(existing) = existing else {
        return Ok(outcome);
    };
    let ours = existing
        .owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && Some(&r.uid) == ccp.metadata.uid.as_ref());
    if !ours {
        return Ok(outcome);
    }
    match api.delete(target.name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(error) if is_not_served(&error) => return Ok(outcome),
        Err(source) => return Err(child_error("delete", target, source)),
    }
    outcome.change = Some((
        "Deleted",
        format!(
            "Deleted HTTPRoute {}/{} (no longer in the spec)",
            target.namespace, target.name
        ),
    ));
    Ok(outcome)
}

fn not_installed(ccp: &CoderControlPlane) -> Outcome {
    let message = "expose.gateway needs the Gateway API CRDs (gateway.networking.k8s.io/v1 \
                   HTTPRoute), which this cluster does not serve; install them, the route is \
                   created within two minutes"
        .to_string();
    let newly = previous(ccp).is_none_or(|c| c.reason != reason::GATEWAY_API_NOT_INSTALLED);
    Outcome {
        condition: Some(ConditionUpdate {
            type_: CONDITION,
            status: false,
            reason: reason::GATEWAY_API_NOT_INSTALLED,
            message: message.clone(),
        }),
        warning: newly.then_some((reason::GATEWAY_API_NOT_INSTALLED, message)),
        requeue: Some(CRD_RETRY),
        ..Outcome::default()
    }
}

fn previous(
    ccp: &CoderControlPlane,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    ccp.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == CONDITION)
}

/// A 404 on a request by name that `get_opt` did not absorb, or on an apply (which creates):
/// the resource itself is not served. kube-apiserver answers an unknown resource with a 404
/// whose body is not a Status, and kube reports that as an error, not as `None`.
fn is_not_served(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 404,
        _ => false,
    }
}

fn child_error(action: &'static str, target: &Target<'_>, source: kube::Error) -> Error {
    Error::Child {
        action,
        child: format!("HTTPRoute {}/{}", target.namespace, target.name),
        source,
    }
}

fn in_sync<K: Serialize>(existing: &K, wanted: &K) -> bool {
    match (serde_json::to_value(existing), serde_json::to_value(wanted)) {
        (Ok(existing), Ok(wanted)) => crate::controller::drift::contains(&existing, &wanted),
        _ => false,
    }
}

/// Writes `outcome` into `status`.
pub fn report(
    ccp: &CoderControlPlane,
    status: &mut CoderControlPlaneStatus,
    outcome: &Outcome,
    now: jiff::Timestamp,
) {
    let mut conditions = status.conditions.take().unwrap_or_default();
    if outcome.remove {
        conditions.retain(|c| c.type_ != CONDITION);
    }
    if let Some(update) = &outcome.condition {
        set_condition(
            &mut conditions,
            update.type_,
            update.status,
            update.reason,
            update.message.clone(),
            ccp.metadata.generation,
            now,
        );
    }
    status.conditions = Some(conditions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::control_plane::builders::test_support::ccp;
    use serde_json::json;

    fn with_condition(reason: &str) -> CoderControlPlane {
        let mut obj = ccp("c", "ns", json!({}));
        let mut status = CoderControlPlaneStatus::default();
        let outcome = Outcome {
            condition: Some(ConditionUpdate {
                type_: CONDITION,
                status: reason == reason::APPLIED,
                reason: if reason == reason::APPLIED {
                    reason::APPLIED
                } else {
                    reason::GATEWAY_API_NOT_INSTALLED
                },
                message: String::new(),
            }),
            ..Outcome::default()
        };
        report(&obj, &mut status, &outcome, jiff::Timestamp::UNIX_EPOCH);
        obj.status = Some(status);
        obj
    }

    #[test]
    fn missing_crds_warn_once_and_retry_slowly() {
        let fresh = not_installed(&ccp("c", "ns", json!({})));
        assert_eq!(fresh.requeue, Some(CRD_RETRY));
        assert!(fresh.warning.is_some());
        let condition = fresh.condition.unwrap();
        assert!(!condition.status);
        assert_eq!(condition.reason, reason::GATEWAY_API_NOT_INSTALLED);
        assert!(condition.message.contains("gateway.networking.k8s.io/v1"));
        let again = not_installed(&with_condition(reason::GATEWAY_API_NOT_INSTALLED));
        assert!(again.warning.is_none(), "no Warning Event per retry");
    }

    #[test]
    fn report_removes_the_condition_when_the_gateway_is_unset() {
        let mut obj = with_condition(reason::APPLIED);
        let mut status = obj.status.take().unwrap();
        report(
            &obj,
            &mut status,
            &Outcome {
                remove: true,
                ..Outcome::default()
            },
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert!(status.conditions.unwrap().is_empty());
    }

    #[test]
    fn only_a_404_means_not_served() {
        let status = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure("x", "y")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(is_not_served(&status(404)));
        assert!(!is_not_served(&status(403)));
    }
}
