//! The wire format of the enterprise records (codersdk/provisionerdaemons.go `ProvisionerKey`,
//! codersdk/workspaceproxy.go `WorkspaceProxy`, codersdk/licenses.go `License`), and the
//! primary proxy as coderd synthesizes it (coderd.go PrimaryWorkspaceProxy, convertProxy).

use jiff::Timestamp;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::license;
use crate::model::{License, ProvisionerKey, State, WorkspaceProxy};
use crate::sdk::ts;

/// coderd's default display name and icon of the primary proxy (site configs unset).
pub const PRIMARY_DEFAULT_DISPLAY_NAME: &str = "Default";
pub const PRIMARY_DEFAULT_ICON: &str = "/emojis/1f3e1.png";

/// codersdk.ProvisionerKey: the organization id is under `organization`; the secret never.
pub fn provisioner_key(k: &ProvisionerKey) -> Value {
    json!({
        "id": k.id,
        "created_at": ts(k.created_at),
        "organization": k.organization_id,
        "name": k.name,
        "tags": k.tags,
    })
}

/// The primary proxy (the deployment itself): named `primary`, id = deployment id, always
/// healthy, created/updated "now".
pub fn primary_proxy(state: &State, now: Timestamp) -> WorkspaceProxy {
    WorkspaceProxy {
        id: state.deployment_id,
        name: "primary".to_string(),
        display_name: state
            .primary_proxy_display_name
            .clone()
            .unwrap_or_else(|| PRIMARY_DEFAULT_DISPLAY_NAME.to_string()),
        icon: state
            .primary_proxy_icon
            .clone()
            .unwrap_or_else(|| PRIMARY_DEFAULT_ICON.to_string()),
        url: state.access_url.clone(),
        reachable: true,
        wildcard_hostname: String::new(),
        derp_enabled: true,
        derp_only: false,
        token_hashed_secret: [0; 32],
        version: String::new(),
        deleted: false,
        created_at: now,
        updated_at: now,
    }
}

/// codersdk.WorkspaceProxy (convertProxy). A proxy that never registered (nothing ran
/// `coder wsproxy server` against it; see `Admin::register_workspace_proxy`) reports
/// `unregistered`; a registered one `ok` or `unreachable` as coderd's health check finds it.
pub fn workspace_proxy(p: &WorkspaceProxy, primary: bool, now: Timestamp) -> Value {
    let status = if primary {
        "ok"
    } else if p.url.is_empty() {
        "unregistered"
    } else if p.reachable {
        "ok"
    } else {
        "unreachable"
    };
    json!({
        "id": p.id,
        "name": p.name,
        "display_name": p.display_name,
        "icon_url": p.icon,
        "healthy": status == "ok",
        "path_app_url": p.url,
        "wildcard_hostname": p.wildcard_hostname,
        "derp_enabled": p.derp_enabled,
        "derp_only": p.derp_only,
        "status": {
            "status": status,
            "report": { "errors": [], "warnings": [] },
            "checked_at": ts(now),
        },
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "deleted": p.deleted,
        "version": p.version,
    })
}

/// codersdk.UpdateWorkspaceProxyResponse: the proxy and, once, its token (empty otherwise).
pub fn proxy_response(p: &WorkspaceProxy, primary: bool, token: &str, now: Timestamp) -> Value {
    json!({
        "proxy": workspace_proxy(p, primary, now),
        "proxy_token": token,
    })
}

/// codersdk.License: the claims decoded from the stored JWT (never the JWT itself).
pub fn license(l: &License) -> Value {
    json!({
        "id": l.id,
        "uuid": l.uuid,
        "uploaded_at": ts(l.uploaded_at),
        "claims": license::decode_claims(&l.jwt).map(Value::Object).unwrap_or(Value::Null),
    })
}

/// The reserved keys coderd's migrations insert for the default organization (codersdk
/// ProvisionerKeyID{BuiltIn,UserAuth,PSK}); never listed, never deletable.
pub const RESERVED_KEYS: &[(&str, &str)] = &[
    ("00000000-0000-0000-0000-000000000001", "built-in"),
    ("00000000-0000-0000-0000-000000000002", "user-auth"),
    ("00000000-0000-0000-0000-000000000003", "psk"),
];

pub fn is_reserved_key(id: Uuid) -> bool {
    RESERVED_KEYS
        .iter()
        .any(|(rid, _)| Uuid::parse_str(rid).is_ok_and(|r| r == id))
}
