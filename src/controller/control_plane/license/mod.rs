//! The Enterprise license of `spec.licenseSecretRef` and the entitlements coderd reports.
//!
//! With the operator's token (see `operator_access`), the controller uploads the license JWT
//! (`POST /api/v2/licenses`) when its SHA-256 differs from `status.licenseLastAppliedHash`,
//! and reads `GET /api/v2/entitlements` after an upload and every [`ENTITLEMENTS_REFRESH`]
//! (status `licenseTier`, `externalProvisionerDaemonsEntitlement`, `entitlementsLastChecked`,
//! condition `Entitlements`). A license coderd refuses is reported with coderd's own message
//! (condition `LicenseApplied=False`, reason `Rejected`) and is not sent again until the
//! Secret changes: retrying cannot make a bad JWT good. The JWT is only ever held as a
//! [`LicenseJwt`], whose `Debug`/`Display` are redacted.

pub(super) mod state;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::builders::Target;
use super::context::Context;
use super::operator_access::{self, Access};
use super::status::set_condition;
use crate::api::coder::v1alpha1::{CoderControlPlane, CoderControlPlaneStatus};
use crate::coder::{
    CoderClient, CoderError, Entitlements, FEATURE_EXTERNAL_PROVISIONER_DAEMONS, LicenseJwt,
};
use crate::controller::error::{Error, Result};

pub const LICENSE_CONDITION: &str = "LicenseApplied";
pub const ENTITLEMENTS_CONDITION: &str = "Entitlements";

/// How often entitlements are read while nothing changes (a license expiring, a seat limit
/// reached, an admin uploading another license by hand all show within this).
pub const ENTITLEMENTS_REFRESH: Duration = Duration::from_secs(300);
/// The next attempt after coderd could not be reached (it is restarting, or a proxy is).
const UNREACHABLE_RETRY: Duration = Duration::from_secs(30);

/// Features whose entitlement marks a Premium license (codersdk's tiers: Premium adds custom
/// roles and multiple organizations to Enterprise).
const PREMIUM_FEATURES: [&str; 2] = ["custom_roles", "multiple_organizations"];

pub mod reason {
    pub const APPLIED: &str = "Applied";
    pub const PENDING: &str = "Pending";
    pub const SECRET_MISSING: &str = "SecretMissing";
    /// coderd refused the license (400): malformed, expired, signed by someone else.
    pub const REJECTED: &str = "Rejected";
    pub const FORBIDDEN: &str = "Forbidden";
    /// This coderd has no licenses API (404).
    pub const NOT_SUPPORTED: &str = "NotSupported";
    pub const CODERD_UNREACHABLE: &str = "CoderdUnreachable";
    pub const CODERD_ERROR: &str = "CoderdError";
    /// Entitlements were read; coderd reported no license errors.
    pub const CHECKED: &str = "Checked";
    /// coderd reported errors about its licenses (expired, over the user limit, ...).
    pub const LICENSE_ERRORS: &str = "LicenseErrors";
}

/// A condition to set: (type, status, reason, message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The outcome of one reconcile's license and entitlement work, written into status by
/// [`report`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub license: Option<ConditionUpdate>,
    /// (hash, when) of a license uploaded (or found already installed) by this reconcile.
    pub applied: Option<(String, Timestamp)>,
    /// The hash of `status.licenseLastAppliedHash` is to be dropped (the license is no longer
    /// installed in coderd, or no longer configured).
    pub forget_applied: bool,
    pub entitlements: Option<EntitlementsSeen>,
    /// (warning?, reason, note) of Events to publish.
    pub events: Vec<(bool, &'static str, String)>,
    /// When to look again, if sooner than the controller's resync.
    pub requeue: Option<Duration>,
}

/// What one read of `/api/v2/entitlements` found.
#[derive(Clone, Debug, PartialEq)]
pub struct EntitlementsSeen {
    pub at: Timestamp,
    pub tier: String,
    pub external_provisioner_daemons: String,
    pub condition: ConditionUpdate,
}

/// One round of license and entitlement work for `ccp`, given this reconcile's operator access.
/// Err only when the Kubernetes API fails (reading a Secret).
pub async fn reconcile(
    ctx: &Context,
    ccp: &CoderControlPlane,
    target: &Target<'_>,
    access: &Access,
    key: &str,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let status = ccp.status.clone().unwrap_or_default();
    let license_ref = ccp.spec.license_secret_ref.as_ref();
    if license_ref.is_none() && status.license_last_applied_hash.is_some() {
        // Unset: coderd keeps the license (removing one is an admin's decision), but status
        // no longer claims the operator manages it.
        outcome.forget_applied = true;
    }
    let pending = || {
        license_ref.map(|_| {
            condition(
                LICENSE_CONDITION,
                false,
                reason::PENDING,
                "waiting for operator access to coderd (condition OperatorAccessReady) before \
                 uploading the license"
                    .into(),
            )
        })
    };
    if !access.ready {
        outcome.license = pending();
        return Ok(outcome);
    }

    let license = match license_ref {
        Some(reference) => match read_license(ctx, target.namespace, reference).await? {
            Ok(jwt) => Some(jwt),
            Err(missing) => {
                outcome.license = Some(condition(
                    LICENSE_CONDITION,
                    false,
                    reason::SECRET_MISSING,
                    missing,
                ));
                None
            }
        },
        None => None,
    };
    let hash = license.as_ref().map(LicenseJwt::sha256_hex);
    let applied_hash = status.license_last_applied_hash.as_deref();
    let refused = ctx.license.rejected(key);
    let mut upload = hash.is_some() && hash.as_deref() != applied_hash;
    if upload && hash.is_some() && hash == refused {
        upload = false;
        outcome.license = previous_condition(ccp, LICENSE_CONDITION);
    }
    let now = Timestamp::now();
    let due = entitlements_due(&status, now);
    if !upload && !due {
        // Nothing to ask coderd: no token read, no request.
        keep_applied(ccp, hash.as_deref(), applied_hash, &mut outcome);
        outcome.requeue = Some(next_check(&status, None, now));
        return Ok(outcome);
    }
    let Some(coderd) = operator_access::authenticated_client(ctx, ccp, target, access).await?
    else {
        outcome.license = pending();
        return Ok(outcome);
    };

    let mut entitlements = None;
    if !upload && due {
        let read = coderd.entitlements().await;
        // The license we installed is gone (coderd's database was reset or an admin deleted
        // it): install it again.
        if let (Ok(found), Some(current)) = (&read, &hash)
            && !found.has_license
            && applied_hash == Some(current.as_str())
        {
            upload = true;
            outcome.forget_applied = true;
        }
        entitlements = Some(read);
    }
    if let (true, Some(jwt), Some(hash)) = (upload, &license, &hash) {
        let uploaded = upload_license(&coderd, jwt, hash, ctx, key, &mut outcome).await;
        if uploaded {
            outcome.applied = Some((hash.clone(), now));
            outcome.forget_applied = false;
            // What the new license allows, at once.
            entitlements = Some(coderd.entitlements().await);
        }
    } else {
        keep_applied(ccp, hash.as_deref(), applied_hash, &mut outcome);
    }
    if let Some(read) = entitlements {
        outcome.entitlements = Some(match read {
            Ok(found) => seen(&found, now),
            Err(error) => {
                if error.is_unavailable() {
                    outcome.requeue = Some(UNREACHABLE_RETRY);
                }
                EntitlementsSeen {
                    at: now,
                    tier: "unknown".into(),
                    external_provisioner_daemons: "unknown".into(),
                    condition: condition(
                        ENTITLEMENTS_CONDITION,
                        false,
                        coderd_reason(&error),
                        format!("cannot read entitlements: {error}"),
                    ),
                }
            }
        });
    }
    let next = next_check(&status, outcome.entitlements.as_ref().map(|e| e.at), now);
    outcome.requeue = Some(outcome.requeue.map_or(next, |r| r.min(next)));
    Ok(outcome)
}

/// When entitlements are next due, from the check just made or the one status records (at
/// least a second away, so that a clock step cannot make a busy loop).
fn next_check(
    status: &CoderControlPlaneStatus,
    checked: Option<Timestamp>,
    now: Timestamp,
) -> Duration {
    checked
        .or_else(|| last_checked(status))
        .map_or(Duration::ZERO, |at| until_due(at, now))
        .max(Duration::from_secs(1))
}

/// The license in the Secret is the one installed: `LicenseApplied` stays True, with the
/// message it has (a new message would be a status write for nothing).
fn keep_applied(
    ccp: &CoderControlPlane,
    hash: Option<&str>,
    applied_hash: Option<&str>,
    outcome: &mut Outcome,
) {
    if outcome.license.is_some() || hash.is_none() || hash != applied_hash {
        return;
    }
    outcome.license = previous_condition(ccp, LICENSE_CONDITION)
        .filter(|c| c.status && c.reason == reason::APPLIED)
        .or_else(|| {
            Some(condition(
                LICENSE_CONDITION,
                true,
                reason::APPLIED,
                applied_message(ccp),
            ))
        });
}

fn applied_message(ccp: &CoderControlPlane) -> String {
    let when = ccp
        .status
        .as_ref()
        .and_then(|s| s.license_last_applied.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    format!("the license of spec.licenseSecretRef is installed in coderd (uploaded {when})")
}

/// POSTs the license; true when coderd now holds it. Sets the condition and Events.
async fn upload_license(
    coderd: &CoderClient,
    jwt: &LicenseJwt,
    hash: &str,
    ctx: &Context,
    key: &str,
    outcome: &mut Outcome,
) -> bool {
    match coderd.add_license(jwt).await {
        Ok(license) => {
            ctx.license.set_rejected(key, None);
            let message = format!("uploaded the license to coderd (license id {})", license.id);
            outcome
                .events
                .push((false, "LicenseApplied", message.clone()));
            outcome.license = Some(condition(LICENSE_CONDITION, true, reason::APPLIED, message));
            true
        }
        Err(error) if is_duplicate(&error) => {
            ctx.license.set_rejected(key, None);
            outcome.license = Some(condition(
                LICENSE_CONDITION,
                true,
                reason::APPLIED,
                "coderd already holds this license".into(),
            ));
            true
        }
        Err(error) => {
            let reason = match error.status().map(|s| s.as_u16()) {
                Some(401 | 403) => reason::FORBIDDEN,
                Some(404) => reason::NOT_SUPPORTED,
                Some(400..=499) => reason::REJECTED,
                _ => coderd_reason(&error),
            };
            if error.is_unavailable() {
                outcome.requeue = Some(UNREACHABLE_RETRY);
            } else {
                // An answer about this license: not sent again until the Secret changes.
                ctx.license.set_rejected(key, Some(hash.to_string()));
            }
            let message = format!("coderd did not accept the license: {error}");
            outcome
                .events
                .push((true, "LicenseRejected", message.clone()));
            outcome.license = Some(condition(LICENSE_CONDITION, false, reason, message));
            false
        }
    }
}

/// coderd's unique index on the JWT answers a second upload of the same license with an
/// error naming it (an admin uploaded it by hand, or our status was lost).
fn is_duplicate(error: &CoderError) -> bool {
    let CoderError::Api {
        message, detail, ..
    } = error
    else {
        return false;
    };
    let text = format!("{message} {}", detail.as_deref().unwrap_or_default()).to_lowercase();
    ["licenses_jwt_key", "duplicate key", "already exists"]
        .iter()
        .any(|needle| text.contains(needle))
}

fn coderd_reason(error: &CoderError) -> &'static str {
    if error.is_unavailable() {
        reason::CODERD_UNREACHABLE
    } else if matches!(error.status().map(|s| s.as_u16()), Some(401 | 403)) {
        reason::FORBIDDEN
    } else if error.is_not_found() {
        reason::NOT_SUPPORTED
    } else {
        reason::CODERD_ERROR
    }
}

/// The license JWT of `reference`, or why there is none (a message for the condition).
async fn read_license(
    ctx: &Context,
    namespace: &str,
    reference: &crate::api::coder::v1alpha1::CoderControlPlaneLicenseSecretRef,
) -> Result<std::result::Result<LicenseJwt, String>> {
    use k8s_openapi::api::core::v1::Secret;
    let api: kube::Api<Secret> = kube::Api::namespaced(ctx.client.clone(), namespace);
    let name = &reference.name;
    let where_ = format!("Secret {namespace}/{name} (spec.licenseSecretRef)");
    let secret = api.get_opt(name).await.map_err(|source| Error::Child {
        action: "read",
        child: format!("Secret {namespace}/{name}"),
        source,
    })?;
    let Some(secret) = secret else {
        return Ok(Err(format!("{where_} does not exist")));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&reference.key))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(value
        .map(LicenseJwt::new)
        .ok_or_else(|| format!("{where_} has no value under key {:?}", reference.key)))
}

fn last_checked(status: &CoderControlPlaneStatus) -> Option<Timestamp> {
    status.entitlements_last_checked.as_ref().map(|t| t.0)
}

fn entitlements_due(status: &CoderControlPlaneStatus, now: Timestamp) -> bool {
    last_checked(status).is_none_or(|at| until_due(at, now).is_zero())
}

/// Time left until entitlements checked at `at` are due again (zero when due; a check
/// stamped in the future, a clock step, counts as due).
fn until_due(at: Timestamp, now: Timestamp) -> Duration {
    let Ok(elapsed) = Duration::try_from(now.duration_since(at)) else {
        return Duration::ZERO;
    };
    ENTITLEMENTS_REFRESH.saturating_sub(elapsed)
}

/// What status reports of `found`.
fn seen(found: &Entitlements, at: Timestamp) -> EntitlementsSeen {
    let tier = tier(found);
    let external = found
        .features
        .get(FEATURE_EXTERNAL_PROVISIONER_DAEMONS)
        .map_or("unknown", |f| f.entitlement.as_str())
        .to_string();
    let condition = if found.errors.is_empty() {
        let mut message = format!(
            "license tier {tier}; external_provisioner_daemons {external}; {} of {} features entitled",
            found
                .features
                .values()
                .filter(|f| f.entitlement.as_str() == "entitled")
                .count(),
            found.features.len()
        );
        if !found.warnings.is_empty() {
            message.push_str("; warnings: ");
            message.push_str(&found.warnings.join("; "));
        }
        condition(ENTITLEMENTS_CONDITION, true, reason::CHECKED, message)
    } else {
        condition(
            ENTITLEMENTS_CONDITION,
            false,
            reason::LICENSE_ERRORS,
            found.errors.join("; "),
        )
    };
    EntitlementsSeen {
        at,
        tier: tier.to_string(),
        external_provisioner_daemons: external,
        condition,
    }
}

/// none, trial, enterprise or premium, as codersdk classifies a deployment's licenses.
fn tier(found: &Entitlements) -> &'static str {
    if !found.has_license {
        "none"
    } else if found.trial {
        "trial"
    } else if PREMIUM_FEATURES.iter().any(|f| {
        found
            .features
            .get(*f)
            .is_some_and(|f| f.entitlement.as_str() == "entitled")
    }) {
        "premium"
    } else {
        "enterprise"
    }
}

fn condition(
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: String,
) -> ConditionUpdate {
    ConditionUpdate {
        type_,
        status,
        reason,
        message,
    }
}

/// The condition as status has it, to be written again unchanged.
fn previous_condition(ccp: &CoderControlPlane, type_: &'static str) -> Option<ConditionUpdate> {
    let found = ccp
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    // Reasons are one of ours; an unknown one (written by an older controller) is dropped.
    let reason = [
        reason::APPLIED,
        reason::PENDING,
        reason::SECRET_MISSING,
        reason::REJECTED,
        reason::FORBIDDEN,
        reason::NOT_SUPPORTED,
        reason::CODERD_UNREACHABLE,
        reason::CODERD_ERROR,
    ]
    .into_iter()
    .find(|r| *r == found.reason)?;
    Some(condition(
        type_,
        found.status == "True",
        reason,
        found.message.clone(),
    ))
}

/// Writes `outcome` into `status`.
pub fn report(
    ccp: &CoderControlPlane,
    status: &mut CoderControlPlaneStatus,
    outcome: &Outcome,
    now: Timestamp,
) {
    let mut conditions = status.conditions.take().unwrap_or_default();
    let mut set = |update: &ConditionUpdate| {
        set_condition(
            &mut conditions,
            update.type_,
            update.status,
            update.reason,
            update.message.clone(),
            ccp.metadata.generation,
            now,
        )
    };
    if let Some(update) = &outcome.license {
        set(update);
    }
    if let Some(seen) = &outcome.entitlements {
        set(&seen.condition);
    }
    if ccp.spec.license_secret_ref.is_none() {
        conditions.retain(|c| c.type_ != LICENSE_CONDITION);
    }
    status.conditions = Some(conditions);
    if outcome.forget_applied {
        status.license_last_applied = None;
        status.license_last_applied_hash = None;
    }
    if let Some((hash, at)) = &outcome.applied {
        status.license_last_applied = Some(Time(*at));
        status.license_last_applied_hash = Some(hash.clone());
    }
    if let Some(seen) = &outcome.entitlements {
        status.entitlements_last_checked = Some(Time(seen.at));
        status.license_tier = Some(seen.tier.clone());
        status.external_provisioner_daemons_entitlement =
            Some(seen.external_provisioner_daemons.clone());
    }
}

/// Control planes whose `spec.licenseSecretRef` names `secret` (namespace and name): a changed
/// license Secret reconciles them.
pub fn referencing(
    control_planes: &kube::runtime::reflector::Store<CoderControlPlane>,
    namespace: &str,
    secret: &str,
) -> Vec<kube::runtime::reflector::ObjectRef<CoderControlPlane>> {
    use kube::ResourceExt;
    control_planes
        .state()
        .iter()
        .filter(|ccp| ccp.namespace().as_deref() == Some(namespace))
        .filter(|ccp| {
            ccp.spec
                .license_secret_ref
                .as_ref()
                .is_some_and(|r| r.name == secret)
        })
        .map(|ccp| kube::runtime::reflector::ObjectRef::from_obj(ccp.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::{Entitlement, Feature};
    use crate::controller::control_plane::builders::test_support::ccp;
    use serde_json::json;

    fn entitlements(
        has_license: bool,
        trial: bool,
        features: &[(&str, Entitlement)],
    ) -> Entitlements {
        Entitlements {
            has_license,
            trial,
            features: features
                .iter()
                .map(|(name, e)| {
                    (
                        name.to_string(),
                        Feature {
                            entitlement: *e,
                            enabled: true,
                            ..Feature::default()
                        },
                    )
                })
                .collect(),
            ..Entitlements::default()
        }
    }

    #[test]
    fn tier_table() {
        use Entitlement::*;
        let cases = [
            (entitlements(false, false, &[]), "none"),
            (
                entitlements(true, true, &[("custom_roles", Entitled)]),
                "trial",
            ),
            (
                entitlements(true, false, &[("custom_roles", NotEntitled)]),
                "enterprise",
            ),
            (
                entitlements(true, false, &[("multiple_organizations", Entitled)]),
                "premium",
            ),
        ];
        for (found, want) in cases {
            assert_eq!(tier(&found), want, "{found:?}");
        }
    }

    #[test]
    fn seen_reports_the_provisioner_entitlement_and_license_errors() {
        let mut found = entitlements(
            true,
            false,
            &[(
                FEATURE_EXTERNAL_PROVISIONER_DAEMONS,
                Entitlement::GracePeriod,
            )],
        );
        let at = Timestamp::UNIX_EPOCH;
        let s = seen(&found, at);
        assert_eq!(s.external_provisioner_daemons, "grace_period");
        assert_eq!(s.tier, "enterprise");
        assert!(s.condition.status);
        assert_eq!(s.condition.reason, reason::CHECKED);
        found.errors = vec!["License expired".into()];
        let s = seen(&found, at);
        assert!(!s.condition.status);
        assert_eq!(s.condition.reason, reason::LICENSE_ERRORS);
        assert_eq!(s.condition.message, "License expired");
        let none = seen(&entitlements(false, false, &[]), at);
        assert_eq!(none.external_provisioner_daemons, "unknown");
    }

    #[test]
    fn entitlements_are_due_every_refresh_interval() {
        let t0: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        let mut status = CoderControlPlaneStatus::default();
        assert!(entitlements_due(&status, t0));
        status.entitlements_last_checked = Some(Time(t0));
        assert!(!entitlements_due(&status, t0));
        let later = t0
            .checked_add(jiff::SignedDuration::from_secs(299))
            .unwrap();
        assert!(!entitlements_due(&status, later));
        assert_eq!(until_due(t0, later), Duration::from_secs(1));
        let due = t0
            .checked_add(jiff::SignedDuration::from_secs(300))
            .unwrap();
        assert!(entitlements_due(&status, due));
        // A check stamped in the future (a clock step back) is due, not postponed.
        let earlier = t0.checked_sub(jiff::SignedDuration::from_secs(60)).unwrap();
        assert!(entitlements_due(&status, earlier));
    }

    #[test]
    fn duplicate_uploads_are_recognised_from_coderds_message() {
        let api = |message: &str, detail: Option<&str>| CoderError::Api {
            endpoint: crate::coder::Endpoint::new("POST", "/api/v2/licenses"),
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            detail: detail.map(Into::into),
            validations: Vec::new(),
        };
        assert!(is_duplicate(&api(
            "Internal error",
            Some("pq: duplicate key value violates unique constraint \"licenses_jwt_key\"")
        )));
        assert!(is_duplicate(&api("License already exists", None)));
        assert!(!is_duplicate(&api(
            "Invalid license",
            Some("token is malformed")
        )));
    }

    #[test]
    fn report_writes_hash_time_tier_and_conditions() {
        let obj = ccp("c", "ns", json!({"licenseSecretRef": {"name": "lic"}}));
        let t0: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        let outcome = Outcome {
            license: Some(condition(
                LICENSE_CONDITION,
                true,
                reason::APPLIED,
                "ok".into(),
            )),
            applied: Some(("abc".into(), t0)),
            entitlements: Some(seen(&entitlements(true, false, &[]), t0)),
            ..Outcome::default()
        };
        let mut status = CoderControlPlaneStatus::default();
        report(&obj, &mut status, &outcome, t0);
        assert_eq!(status.license_last_applied_hash.as_deref(), Some("abc"));
        assert_eq!(status.license_last_applied, Some(Time(t0)));
        assert_eq!(status.entitlements_last_checked, Some(Time(t0)));
        assert_eq!(status.license_tier.as_deref(), Some("enterprise"));
        let types: Vec<&str> = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, vec![LICENSE_CONDITION, ENTITLEMENTS_CONDITION]);

        // licenseSecretRef removed: the condition and the claim of managing it go.
        let unset = ccp("c", "ns", json!({}));
        let forget = Outcome {
            forget_applied: true,
            ..Outcome::default()
        };
        report(&unset, &mut status, &forget, t0);
        assert_eq!(status.license_last_applied_hash, None);
        assert!(
            status
                .conditions
                .as_ref()
                .unwrap()
                .iter()
                .all(|c| c.type_ != LICENSE_CONDITION)
        );
    }
}
