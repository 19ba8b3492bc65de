//! A typed client for the part of coderd's REST API (`/api/v2`) the operator uses.
//!
//! Shared by the controller (operator access: first user, login, API tokens) and the aggregated
//! apiserver's Coder backend (organizations, templates, versions, workspaces, builds); it
//! depends on neither. The wire format is codersdk's JSON: field names follow codersdk's json
//! tags, enums keep an `Unknown` variant because coderd adds values over time, and every error
//! names the endpoint (method and path template) it came from.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coder_k8s::coder::CoderError> {
//! use coder_k8s::coder::{ClientOptions, CoderClient, SessionToken};
//! let coderd = CoderClient::new("http://127.0.0.1:3000", ClientOptions::default())?
//!     .with_token(SessionToken::new("abcdefghij-0123456789abcdef01"));
//! let me = coderd.me().await?;
//! println!("{} is owner: {}", me.username, me.is_owner());
//! # Ok(()) }
//! ```

mod client;
mod entitlements;
mod error;
mod files;
mod organizations;
mod provisioner_keys;
mod secret;
mod templates;
mod users;
mod workspace_proxies;
mod workspaces;

pub use client::{ClientOptions, CoderClient};
pub use entitlements::{
    Entitlement, Entitlements, FEATURE_EXTERNAL_PROVISIONER_DAEMONS, FEATURE_WORKSPACE_PROXY,
    Feature,
};
pub use error::{CoderError, Endpoint, ValidationError};
pub use files::pack_template_files;
pub use organizations::Organization;
pub use provisioner_keys::ProvisionerKey;
pub use secret::{Password, ProvisionerDaemonKey, ProxyToken, SessionToken};
pub use templates::{
    AutostartRequirement, AutostopRequirement, CreateTemplate, CreateTemplateVersion,
    ProvisionerJob, ProvisionerJobStatus, ProvisionerType, Template, TemplateVersion,
    UpdateTemplateMeta,
};
pub use users::{
    ApiKey, CreateFirstUser, CreateFirstUserResponse, GenerateApiKeyResponse, SlimRole, User,
};
pub use workspace_proxies::{
    CreateWorkspaceProxy, PatchWorkspaceProxy, ProxyStatus, UpdatedWorkspaceProxy, WorkspaceProxy,
};
pub use workspaces::{
    CreateWorkspace, CreateWorkspaceBuild, Workspace, WorkspaceBuild, WorkspaceFilter,
    WorkspaceStatus, WorkspaceTransition,
};

/// The user path segment coderd resolves to the caller (`/api/v2/users/me`).
pub const ME: &str = "me";

#[cfg(test)]
mod tests;
