//! Workspace proxies (`/api/v2/workspaceproxies`, an enterprise feature: `workspace_proxy`).
//!
//! coderd shows a proxy's token once, in the answer to the create (and to a PATCH with
//! `regenerate_token`); it keeps only a hash. [`ProxyToken`] carries it and never prints.

use http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::{Body, CoderClient, json, segment};
use super::error::{CoderError, Endpoint};
use super::secret::ProxyToken;

const LIST: Endpoint = Endpoint::new("GET", "/api/v2/workspaceproxies");
const GET: Endpoint = Endpoint::new("GET", "/api/v2/workspaceproxies/{workspaceproxy}");
const CREATE: Endpoint = Endpoint::new("POST", "/api/v2/workspaceproxies");
const PATCH: Endpoint = Endpoint::new("PATCH", "/api/v2/workspaceproxies/{workspaceproxy}");
const DELETE: Endpoint = Endpoint::new("DELETE", "/api/v2/workspaceproxies/{workspaceproxy}");

/// A workspace proxy (codersdk `WorkspaceProxy`: its `Region` fields inline, plus the proxy's
/// own). The list also holds coderd's built-in "primary" region.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WorkspaceProxy {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub icon_url: String,
    #[serde(default)]
    pub healthy: bool,
    #[serde(default)]
    pub path_app_url: String,
    #[serde(default)]
    pub wildcard_hostname: String,
    #[serde(default)]
    pub derp_enabled: bool,
    #[serde(default)]
    pub derp_only: bool,
    #[serde(default)]
    pub status: Option<ProxyStatus>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub version: String,
}

/// The health coderd last saw for a proxy (codersdk `WorkspaceProxyStatus`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProxyStatus {
    /// `ok`, `unreachable`, `unhealthy` or `unregistered` (kept as text: coderd adds values).
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub checked_at: Option<Timestamp>,
}

/// codersdk `CreateWorkspaceProxyRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CreateWorkspaceProxy {
    pub name: String,
    pub display_name: String,
    pub icon: String,
}

/// codersdk `PatchWorkspaceProxy`: coderd requires name, display name and icon on every patch
/// (it writes all three).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatchWorkspaceProxy {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub icon: String,
    pub regenerate_token: bool,
}

/// codersdk `UpdateWorkspaceProxyResponse`: the proxy and, after a create or a token
/// regeneration, its new token (empty otherwise).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct UpdatedWorkspaceProxy {
    pub proxy: WorkspaceProxy,
    #[serde(default, deserialize_with = "token_or_none")]
    pub proxy_token: Option<ProxyToken>,
}

fn token_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ProxyToken>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.filter(|v| !v.is_empty()).map(ProxyToken::new))
}

#[derive(Deserialize)]
struct Regions {
    #[serde(default)]
    regions: Vec<WorkspaceProxy>,
}

impl CoderClient {
    /// Every workspace proxy, coderd's primary region included.
    pub async fn workspace_proxies(&self) -> Result<Vec<WorkspaceProxy>, CoderError> {
        let regions: Regions = self.get(LIST, LIST.path).await?;
        Ok(regions.regions)
    }

    /// One proxy by name or id; `Ok(None)` when coderd has none.
    pub async fn workspace_proxy(
        &self,
        name_or_id: &str,
    ) -> Result<Option<WorkspaceProxy>, CoderError> {
        let path = format!("/api/v2/workspaceproxies/{}", segment(name_or_id));
        match self.get(GET, &path).await {
            Ok(proxy) => Ok(Some(proxy)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Registers a proxy; the answer holds its token, which coderd never shows again.
    pub async fn create_workspace_proxy(
        &self,
        request: &CreateWorkspaceProxy,
    ) -> Result<UpdatedWorkspaceProxy, CoderError> {
        let body = json("the workspace proxy", request)?;
        self.call_json(CREATE, CREATE.path, body).await
    }

    /// Renames a proxy, changes its display name or icon, or (with `regenerate_token`) replaces
    /// its token: the answer then holds the new one and the old one stops working.
    pub async fn patch_workspace_proxy(
        &self,
        request: &PatchWorkspaceProxy,
    ) -> Result<UpdatedWorkspaceProxy, CoderError> {
        let body = json("the workspace proxy patch", request)?;
        let path = format!("/api/v2/workspaceproxies/{}", request.id);
        self.call_json(PATCH, &path, body).await
    }

    /// Deregisters a proxy. One coderd no longer has counts as deleted (`Ok(false)`).
    pub async fn delete_workspace_proxy(&self, name_or_id: &str) -> Result<bool, CoderError> {
        let path = format!("/api/v2/workspaceproxies/{}", segment(name_or_id));
        let (status, bytes) = self.exchange(DELETE, &path, Body::Empty).await?;
        match status {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(CoderError::from_response(DELETE, status, &bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_prints_and_an_empty_one_is_none() {
        let answer: UpdatedWorkspaceProxy = serde_json::from_value(serde_json::json!({
            "proxy": {"id": "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c", "name": "eu"},
            "proxy_token": "abc:supersecret"
        }))
        .unwrap();
        let shown = format!("{answer:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert_eq!(
            answer.proxy_token.as_ref().map(ProxyToken::expose),
            Some("abc:supersecret")
        );
        let patched: UpdatedWorkspaceProxy = serde_json::from_value(serde_json::json!({
            "proxy": {"id": "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c", "name": "eu"},
            "proxy_token": ""
        }))
        .unwrap();
        assert_eq!(patched.proxy_token, None);
    }

    #[test]
    fn patch_carries_every_field_coderd_requires() {
        let wire = serde_json::to_value(PatchWorkspaceProxy {
            id: Uuid::nil(),
            name: "eu".into(),
            display_name: "Europe".into(),
            icon: "/emojis/1f1ea-1f1fa.png".into(),
            regenerate_token: false,
        })
        .unwrap();
        assert_eq!(
            wire,
            serde_json::json!({
                "id": "00000000-0000-0000-0000-000000000000",
                "name": "eu",
                "display_name": "Europe",
                "icon": "/emojis/1f1ea-1f1fa.png",
                "regenerate_token": false
            })
        );
    }
}
