//! `Admin` knobs and getters for the enterprise parts: entitlements, licenses, provisioner
//! keys, workspace proxies.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;
use uuid::Uuid;

use crate::admin::{Admin, AdminError};
use crate::auth::hash_secret;
use crate::entitlements::{self, FEATURE_NAMES};
use crate::model::Entitlement;
use crate::sdk_enterprise::{self, is_reserved_key};
use crate::{api, license, ops};

impl Admin {
    /// Sets a feature's entitlement regardless of the licenses, as if a license granted (or,
    /// with `NotEntitled`, withheld) exactly that feature: `Entitled` / `GracePeriod` make it
    /// enabled (for the features a default `coder server` enables, e.g.
    /// `external_provisioner_daemons`, `workspace_proxy`) and `has_license` true. The
    /// enterprise endpoints' feature gates follow at once.
    pub fn set_entitlement(
        &self,
        feature: &str,
        entitlement: Entitlement,
    ) -> Result<(), AdminError> {
        if !FEATURE_NAMES.contains(&feature) {
            return Err(AdminError::NotFound(format!("feature {feature:?}")));
        }
        let mut state = self.shared.state();
        state
            .entitlement_overrides
            .insert(feature.to_string(), entitlement);
        state.entitlements_refreshed_at = Some(Timestamp::now());
        Ok(())
    }

    /// Drops the override of one feature: the licenses decide again.
    pub fn clear_entitlement(&self, feature: &str) {
        let mut state = self.shared.state();
        state.entitlement_overrides.remove(feature);
        state.entitlements_refreshed_at = Some(Timestamp::now());
    }

    /// GET /entitlements' answer (codersdk.Entitlements JSON).
    pub fn entitlements(&self) -> Value {
        let state = self.shared.state();
        entitlements::compute(&state, Timestamp::now()).json()
    }

    /// The deployment id (what a license's `deployment_ids` claim must contain; the primary
    /// workspace proxy's id).
    pub fn deployment_id(&self) -> Uuid {
        self.shared.state().deployment_id
    }

    /// Uploads a license as `POST /licenses` would (same checks, no authorization); returns
    /// its id.
    pub fn add_license(&self, jwt: &str) -> Result<i32, AdminError> {
        let now = Timestamp::now();
        let parsed = license::parse_ignore_nbf(jwt, now).map_err(|e| AdminError::Refused {
            status: 400,
            message: format!("Invalid license: {e}"),
        })?;
        let mut state = self.shared.state();
        Ok(crate::ops::insert_license(&mut state, now, jwt, &parsed)?.id)
    }

    /// Stored licenses, codersdk.License JSON (claims, never the JWT).
    pub fn licenses(&self) -> Vec<Value> {
        self.shared
            .state()
            .licenses
            .iter()
            .map(sdk_enterprise::license)
            .collect()
    }

    /// Every organization's provisioner keys (the reserved ones left out), codersdk
    /// ProvisionerKey JSON: `id`, `created_at`, `organization`, `name`, `tags`.
    pub fn provisioner_keys(&self) -> Vec<Value> {
        self.shared
            .state()
            .provisioner_keys
            .iter()
            .filter(|k| !is_reserved_key(k.id))
            .map(sdk_enterprise::provisioner_key)
            .collect()
    }

    /// Whether `secret` is the key of an existing provisioner key (coderd stores only its
    /// hash): what a controller test checks the Secret against.
    pub fn provisioner_key_valid(&self, secret: &str) -> bool {
        secret.len() == ops::PROVISIONER_KEY_SECRET_LENGTH
            && self
                .shared
                .state()
                .provisioner_keys
                .iter()
                .any(|k| !is_reserved_key(k.id) && k.hashed_secret == hash_secret(secret))
    }

    /// Creates a provisioner key in `org` (name, id or `default`) as an owner would, with the
    /// same name checks; returns its secret.
    pub fn create_provisioner_key(
        &self,
        org: &str,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Result<String, AdminError> {
        ops::check_provisioner_key_name(name)?;
        let mut state = self.shared.state();
        let org = Admin::org_id(&state, org)?;
        let tags: BTreeMap<String, String> = tags
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Ok(ops::insert_provisioner_key(
            &mut state,
            Timestamp::now(),
            org,
            name,
            tags,
        )?)
    }

    /// Workspace proxies other than the primary, deleted ones included (`"deleted": true`),
    /// codersdk.WorkspaceProxy JSON.
    pub fn workspace_proxies(&self) -> Vec<Value> {
        let state = self.shared.state();
        let now = Timestamp::now();
        state
            .workspace_proxies
            .iter()
            .map(|p| sdk_enterprise::workspace_proxy(p, false, now))
            .collect()
    }

    /// What a `coder wsproxy server` does when it starts (POST /workspaceproxies/me/register):
    /// the proxy (name or id) records its access URL (http or https, no path, as coderd's
    /// validateProxyURL requires), and coderd's health check then finds it `reachable` or not.
    pub fn register_workspace_proxy(
        &self,
        proxy: &str,
        access_url: &str,
        reachable: bool,
    ) -> Result<(), AdminError> {
        let (scheme, rest) = access_url.split_once("://").unwrap_or(("", access_url));
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        if !matches!(scheme, "http" | "https")
            || !(path.is_empty() || path == "/")
            || rest.is_empty()
        {
            return Err(AdminError::Refused {
                status: 400,
                message: "URL is invalid.".to_string(),
            });
        }
        let mut state = self.shared.state();
        let stored = state
            .workspace_proxies
            .iter_mut()
            .find(|p| !p.deleted && (p.name == proxy || p.id.to_string() == proxy))
            .ok_or_else(|| AdminError::NotFound(format!("workspace proxy {proxy:?}")))?;
        stored.url = access_url.to_string();
        stored.reachable = reachable;
        stored.updated_at = Timestamp::now();
        Ok(())
    }

    /// Whether `token` (`<proxy id>:<secret>`) authenticates a live proxy, as coderd checks the
    /// `Coder-External-Proxy-Token` header.
    pub fn workspace_proxy_token_valid(&self, token: &str) -> bool {
        api::workspace_proxy_token_valid(&self.shared.state(), token)
    }
}
