//! The deployment's entitlements, derived from the uploaded licenses the way coderd derives
//! them (enterprise/coderd/license/license.go `LicensesEntitlements`; codersdk/deployment.go
//! `FeatureNames`, `FeatureSet`, `Feature`, `Entitlements`), plus the fake's per-feature
//! overrides (`Admin::set_entitlement`). Nothing here knows HTTP.
//!
//! Not modelled: add-ons (`addons` claims, AI governance seat counting), replica and external
//! auth counts (their warnings), managed-agent usage counting (`actual` stays unset), the
//! "AI Gateway" soft warning.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::license;
use crate::model::{Entitlement, State, UserStatus};
use crate::sdk::ts;

/// codersdk.FeatureNames, in codersdk's order.
pub const FEATURE_NAMES: &[&str] = &[
    "user_limit",
    "audit_log",
    "connection_log",
    "browser_only",
    "scim",
    "template_rbac",
    "user_role_management",
    "high_availability",
    "multiple_external_auth",
    "external_provisioner_daemons",
    "appearance",
    "advanced_template_scheduling",
    "workspace_proxy",
    "external_token_encryption",
    "workspace_batch_actions",
    "task_batch_actions",
    "access_control",
    "control_shared_ports",
    "custom_roles",
    "multiple_organizations",
    "workspace_prebuilds",
    "managed_agent_limit",
    "workspace_external_agent",
    "aibridge",
    "boundary",
    "ai_governance_user_limit",
];

pub const EXTERNAL_PROVISIONER_DAEMONS: &str = "external_provisioner_daemons";
pub const WORKSPACE_PROXY: &str = "workspace_proxy";

/// FeatureName.UsesLimit: features whose license value is a limit, not an on/off switch.
fn uses_limit(name: &str) -> bool {
    matches!(name, "user_limit" | "ai_governance_user_limit")
}

/// FeatureName.UsesUsagePeriod.
fn uses_usage_period(name: &str) -> bool {
    name == "managed_agent_limit"
}

/// FeatureName.AlwaysEnable: enabled whenever entitled, whatever the server's options.
fn always_enable(name: &str) -> bool {
    matches!(
        name,
        "multiple_external_auth"
            | "external_provisioner_daemons"
            | "appearance"
            | "workspace_batch_actions"
            | "task_batch_actions"
            | "high_availability"
            | "custom_roles"
            | "multiple_organizations"
            | "workspace_prebuilds"
    )
}

/// The enablements a default `coder server` passes to the computation (enterprise/coderd
/// updateEntitlements): the features switched on unless an option turns them off. Audit
/// logging, SCIM, browser-only, template RBAC and the like need server options the fake does
/// not have.
fn enabled_by_server(name: &str) -> bool {
    matches!(
        name,
        "external_provisioner_daemons"
            | "advanced_template_scheduling"
            | "workspace_proxy"
            | "user_role_management"
            | "access_control"
            | "control_shared_ports"
    )
}

/// FeatureName.Enterprise: the "enterprise" feature set is every feature but these.
fn in_enterprise_set(name: &str) -> bool {
    !matches!(name, "multiple_organizations" | "custom_roles")
}

/// FeatureSet.Features.
fn feature_set(set: &str) -> Vec<&'static str> {
    match set.to_ascii_lowercase().as_str() {
        "enterprise" => FEATURE_NAMES
            .iter()
            .copied()
            .filter(|n| in_enterprise_set(n))
            .collect(),
        "premium" => FEATURE_NAMES.to_vec(),
        _ => Vec::new(),
    }
}

/// FeatureName.Humanize (strings.Title of the words).
pub fn humanize(name: &str) -> String {
    match name {
        "template_rbac" => "Template RBAC".to_string(),
        "scim" => "SCIM".to_string(),
        _ => name
            .split('_')
            .map(|w| {
                let mut chars = w.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                }
            })
            .collect::<Vec<String>>()
            .join(" "),
    }
}

#[derive(Debug, Clone)]
struct Feature {
    entitlement: Entitlement,
    enabled: bool,
    limit: Option<i64>,
    actual: Option<i64>,
    /// (issued_at, start, end) of a usage-period feature.
    usage_period: Option<(Timestamp, Timestamp, Timestamp)>,
}

impl Feature {
    fn off(enabled: bool) -> Feature {
        Feature {
            entitlement: Entitlement::NotEntitled,
            enabled,
            limit: None,
            actual: None,
            usage_period: None,
        }
    }

    /// codersdk Feature.Capable.
    fn capable(&self) -> bool {
        match (self.limit, self.actual) {
            (Some(limit), Some(actual)) => limit >= actual,
            _ => true,
        }
    }

    /// codersdk Feature.Compare: positive when `self` grants more than `other`.
    fn compare(&self, other: &Feature) -> i64 {
        if (!self.capable() || !other.capable())
            && self.entitlement.weight() >= 0
            && other.entitlement.weight() >= 0
        {
            if self.capable() && !other.capable() {
                return 1;
            }
            if other.capable() && !self.capable() {
                return -1;
            }
        }
        let by_entitlement = i64::from(self.entitlement.weight() - other.entitlement.weight());
        if by_entitlement != 0 {
            return by_entitlement;
        }
        match (self.limit, other.limit) {
            (None, Some(_)) => return -1,
            (Some(_), None) => return 1,
            (Some(a), Some(b)) if a != b => return a.saturating_sub(b),
            _ => {}
        }
        match (self.enabled, other.enabled) {
            (true, false) => return 1,
            (false, true) => return -1,
            _ => {}
        }
        match (self.actual, other.actual) {
            (None, Some(_)) => -1,
            (Some(_), None) => 1,
            (Some(a), Some(b)) => a.saturating_sub(b),
            _ => 0,
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "entitlement": self.entitlement.as_str(),
            "enabled": self.enabled,
        });
        if let Some(limit) = self.limit {
            v["limit"] = json!(limit);
        }
        if let Some(actual) = self.actual {
            v["actual"] = json!(actual);
        }
        if let Some((issued_at, start, end)) = self.usage_period {
            v["usage_period"] = json!({
                "issued_at": ts(issued_at),
                "start": ts(start),
                "end": ts(end),
            });
        }
        v
    }
}

/// codersdk Entitlements.AddFeature: keeps whichever grants more.
fn add_feature(features: &mut BTreeMap<&'static str, Feature>, name: &'static str, add: Feature) {
    match features.get(name) {
        Some(existing) if add.compare(existing) <= 0 => {}
        _ => {
            features.insert(name, add);
        }
    }
}

/// The computed entitlements: what GET /entitlements answers and what the feature gates check.
#[derive(Debug, Clone)]
pub struct Computed {
    features: BTreeMap<&'static str, Feature>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub has_license: bool,
    pub trial: bool,
    pub require_telemetry: bool,
    pub refreshed_at: Timestamp,
}

impl Computed {
    /// entitlements.Set.Enabled: what RequireFeatureMW checks.
    pub fn enabled(&self, name: &str) -> bool {
        self.features.get(name).is_some_and(|f| f.enabled)
    }

    #[cfg(test)]
    pub fn entitlement(&self, name: &str) -> Entitlement {
        self.features
            .get(name)
            .map_or(Entitlement::NotEntitled, |f| f.entitlement)
    }

    /// codersdk.Entitlements JSON.
    pub fn json(&self) -> Value {
        let features: Map<String, Value> = self
            .features
            .iter()
            .map(|(name, f)| ((*name).to_string(), f.json()))
            .collect();
        json!({
            "features": features,
            "warnings": self.warnings,
            "errors": self.errors,
            "has_license": self.has_license,
            "trial": self.trial,
            "require_telemetry": self.require_telemetry,
            "refreshed_at": ts(self.refreshed_at),
        })
    }
}

fn static_name(name: &str) -> Option<&'static str> {
    FEATURE_NAMES.iter().copied().find(|n| *n == name)
}

/// The license validity periods merged into contiguous blocks (licenseValidityPeriod).
fn expiry_warning(
    mut periods: Vec<(Timestamp, Timestamp)>,
    now: Timestamp,
    trial: bool,
) -> Option<String> {
    if periods.is_empty() {
        return None;
    }
    periods.sort_by_key(|p| p.0);
    let mut end = periods[0].1;
    for next in &periods[1..] {
        if next.0 > end {
            break;
        }
        end = end.max(next.1);
    }
    let hours = end.duration_since(now).as_secs_f64() / 3600.0;
    let days = (hours / 24.0).ceil() as i64;
    let window = if trial { 7 } else { 30 };
    (days > 0 && days < window).then(|| {
        format!(
            "Your license expires in {days} {}.",
            if days > 1 { "days" } else { "day" }
        )
    })
}

/// LicensesEntitlements over the stored licenses that have not passed their `exp`
/// (GetUnexpiredLicenses), then the fake's overrides.
pub fn compute(state: &State, now: Timestamp) -> Computed {
    let active_users = state
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .count() as i64;
    let mut features: BTreeMap<&'static str, Feature> = BTreeMap::new();
    for name in FEATURE_NAMES {
        add_feature(&mut features, name, Feature::off(enabled_by_server(name)));
    }
    // The user limit always shows the active user count, licensed or not.
    if let Some(user_limit) = features.get_mut("user_limit") {
        user_limit.actual = Some(active_users);
    }
    let mut out = Computed {
        features: BTreeMap::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
        has_license: false,
        trial: false,
        require_telemetry: false,
        refreshed_at: state.entitlements_refreshed_at.unwrap_or(now),
    };
    let mut periods = Vec::new();
    for stored in state.licenses.iter().filter(|l| l.exp > now) {
        let parsed = match license::parse(&stored.jwt, now) {
            Ok(parsed) => parsed,
            Err(license::LicenseError::NotValidYet) => {
                // A term that has not started: no features, but it closes gaps for the
                // expiry warning.
                if let Ok(p) = license::parse_ignore_nbf(&stored.jwt, now)
                    && let (Some(start), Some(end)) =
                        (p.claims.not_before_time(), p.claims.license_expires_at())
                {
                    periods.push((start, end));
                }
                continue;
            }
            Err(e) => {
                out.errors.push(format!(
                    "Invalid license ({}) parsing claims: {e}",
                    stored.uuid
                ));
                continue;
            }
        };
        let c = parsed.claims;
        let (Some(start), Some(term_end), Some(exp), Some(issued)) = (
            c.not_before_time(),
            c.license_expires_at(),
            c.expires_at_time(),
            c.issued_at_time(),
        ) else {
            continue;
        };
        periods.push((start, term_end));
        out.has_license = true;
        out.require_telemetry |= c.require_telemetry;
        out.trial = c.trial;
        let entitlement = if now > term_end {
            Entitlement::GracePeriod
        } else {
            Entitlement::Entitled
        };
        let mut set = c.feature_set.clone();
        if c.all_features && set.is_empty() {
            set = "enterprise".to_string();
        }
        if set.eq_ignore_ascii_case("premium") {
            // coderd's default managed-agent allowance for premium licenses issued before the
            // limit was part of licenses: 1000 agents over a 100-year period from 2025-07-01.
            let issued_at = Timestamp::from_second(1_751_328_000).unwrap_or(Timestamp::UNIX_EPOCH);
            let end =
                Timestamp::from_second(1_751_328_000 + 100 * 31_556_952).unwrap_or(Timestamp::MAX);
            add_feature(
                &mut features,
                "managed_agent_limit",
                Feature {
                    entitlement,
                    enabled: true,
                    limit: Some(1000),
                    actual: None,
                    usage_period: Some((issued_at, issued_at, end)),
                },
            );
        }
        for name in feature_set(&set) {
            if uses_limit(name) || uses_usage_period(name) {
                continue;
            }
            add_feature(
                &mut features,
                name,
                Feature {
                    entitlement,
                    enabled: enabled_by_server(name) || always_enable(name),
                    limit: None,
                    actual: None,
                    usage_period: None,
                },
            );
        }
        for (raw_name, value) in c.features.clone().unwrap_or_default() {
            let raw_name = match raw_name.as_str() {
                "managed_agent_limit_soft" => "managed_agent_limit".to_string(),
                "managed_agent_limit_hard" => continue,
                _ => raw_name,
            };
            let Some(name) = static_name(&raw_name) else {
                // Features this coderd does not know are ignored silently.
                continue;
            };
            if value < 0 {
                continue;
            }
            if uses_usage_period(name) {
                add_feature(
                    &mut features,
                    name,
                    Feature {
                        entitlement,
                        enabled: value > 0,
                        limit: Some(value),
                        actual: None,
                        usage_period: Some((issued, start, exp)),
                    },
                );
            } else if uses_limit(name) {
                if value == 0 {
                    continue;
                }
                add_feature(
                    &mut features,
                    name,
                    Feature {
                        entitlement,
                        enabled: true,
                        limit: Some(value),
                        actual: (name == "user_limit").then_some(active_users),
                        usage_period: None,
                    },
                );
            } else if value > 0 {
                // A plain feature listed in the license replaces whatever was there.
                features.insert(
                    name,
                    Feature::off(enabled_by_server(name) || always_enable(name)),
                );
                if let Some(f) = features.get_mut(name) {
                    f.entitlement = entitlement;
                }
            }
        }
    }
    // The fake's overrides act as a license claim for exactly that feature.
    for (name, entitlement) in &state.entitlement_overrides {
        let Some(name) = static_name(name) else {
            continue;
        };
        if *entitlement != Entitlement::NotEntitled {
            out.has_license = true;
        }
        if let Some(f) = features.get_mut(name) {
            f.entitlement = *entitlement;
            f.enabled = enabled_by_server(name) || always_enable(name) || uses_limit(name);
        }
    }
    if let Some(w) = expiry_warning(periods, now, out.trial) {
        out.warnings.push(w);
    }
    if out.has_license {
        if let Some(user_limit) = features.get("user_limit")
            && let Some(limit) = user_limit.limit
        {
            if active_users > limit {
                out.warnings.push(format!(
                    "Your deployment has {active_users} active users but is only licensed for {limit}."
                ));
            } else if user_limit.entitlement == Entitlement::GracePeriod {
                out.warnings.push(format!(
                    "Your deployment has {active_users} active users but the license with the limit {limit} is expired."
                ));
            }
        }
        for name in FEATURE_NAMES {
            // These have warnings of their own (counts the fake does not model).
            if matches!(
                *name,
                "user_limit"
                    | "ai_governance_user_limit"
                    | "high_availability"
                    | "multiple_external_auth"
                    | "managed_agent_limit"
            ) {
                continue;
            }
            let Some(f) = features.get(name).filter(|f| f.enabled) else {
                continue;
            };
            match f.entitlement {
                Entitlement::NotEntitled => out.warnings.push(format!(
                    "{} is enabled but your license is not entitled to this feature.",
                    humanize(name)
                )),
                Entitlement::GracePeriod => out.warnings.push(format!(
                    "{} is enabled but your license for this feature is expired.",
                    humanize(name)
                )),
                Entitlement::Entitled => {}
            }
        }
    }
    // Finally, nothing that is not entitled is enabled.
    for f in features.values_mut() {
        if f.entitlement == Entitlement::NotEntitled {
            f.enabled = false;
        }
    }
    out.features = features;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_follows_codersdk() {
        assert_eq!(
            humanize("external_provisioner_daemons"),
            "External Provisioner Daemons"
        );
        assert_eq!(humanize("workspace_proxy"), "Workspace Proxy");
        assert_eq!(humanize("template_rbac"), "Template RBAC");
    }

    #[test]
    fn unlicensed_deployment_is_entitled_to_nothing() {
        let state = State::default();
        let e = compute(&state, Timestamp::now());
        assert!(!e.has_license);
        assert!(!e.enabled(WORKSPACE_PROXY));
        assert_eq!(
            e.entitlement(EXTERNAL_PROVISIONER_DAEMONS),
            Entitlement::NotEntitled
        );
        assert!(e.warnings.is_empty());
        assert_eq!(
            e.json()["features"].as_object().map(|m| m.len()),
            Some(FEATURE_NAMES.len())
        );
    }

    #[test]
    fn expiry_warning_counts_days_up() {
        let now = Timestamp::now();
        let in_36h = now
            .checked_add(jiff::SignedDuration::from_hours(36))
            .unwrap();
        assert_eq!(
            expiry_warning(vec![(now, in_36h)], now, false).as_deref(),
            Some("Your license expires in 2 days.")
        );
        let in_60d = now
            .checked_add(jiff::SignedDuration::from_hours(60 * 24))
            .unwrap();
        assert_eq!(expiry_warning(vec![(now, in_60d)], now, false), None);
    }
}
