//! Licensed features (`GET /api/v2/entitlements`, codersdk `Entitlements`).
//!
//! The controllers read it before they ask coderd for an enterprise-only object (external
//! provisioner keys, workspace proxies) so a missing license becomes a condition that says so,
//! not a 403 retried forever; the CoderControlPlane reports it in status after a license upload.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::client::CoderClient;
use super::error::{CoderError, Endpoint};

const GET: Endpoint = Endpoint::new("GET", "/api/v2/entitlements");

/// codersdk's `FeatureName` for external provisioner daemons.
pub const FEATURE_EXTERNAL_PROVISIONER_DAEMONS: &str = "external_provisioner_daemons";
/// codersdk's `FeatureName` for workspace proxies.
pub const FEATURE_WORKSPACE_PROXY: &str = "workspace_proxy";

/// How a feature is licensed (codersdk `Entitlement`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entitlement {
    Entitled,
    /// The license expired but coderd still honours it for a while.
    GracePeriod,
    NotEntitled,
    /// A value newer than this client.
    #[default]
    #[serde(other)]
    Unknown,
}

impl Entitlement {
    /// coderd's spelling; `unknown` for values newer than this client.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entitled => "entitled",
            Self::GracePeriod => "grace_period",
            Self::NotEntitled => "not_entitled",
            Self::Unknown => "unknown",
        }
    }
}

/// One feature's licence state (codersdk `Feature`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Feature {
    #[serde(default)]
    pub entitlement: Entitlement,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub actual: Option<i64>,
}

/// What the deployment's licenses allow (codersdk `Entitlements`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Entitlements {
    #[serde(default)]
    pub features: BTreeMap<String, Feature>,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub has_license: bool,
    #[serde(default)]
    pub trial: bool,
    #[serde(default)]
    pub require_telemetry: bool,
    #[serde(default)]
    pub refreshed_at: Option<Timestamp>,
}

impl Entitlements {
    /// Whether `feature` may be used now: licensed (or in its grace period) and enabled.
    /// A feature coderd does not list is not usable.
    pub fn allows(&self, feature: &str) -> bool {
        self.features.get(feature).is_some_and(|f| {
            f.enabled
                && matches!(
                    f.entitlement,
                    Entitlement::Entitled | Entitlement::GracePeriod
                )
        })
    }

    /// The feature's entitlement; `NotEntitled` when coderd does not list it.
    pub fn entitlement(&self, feature: &str) -> Entitlement {
        self.features
            .get(feature)
            .map_or(Entitlement::NotEntitled, |f| f.entitlement)
    }
}

impl CoderClient {
    /// The deployment's entitlements. coderd serves them without authentication.
    pub async fn entitlements(&self) -> Result<Entitlements, CoderError> {
        self.get(GET, GET.path).await
    }
}
