//! The tools of the kinds added after the upstream fourteen: CoderProvisioner and
//! CoderWorkspaceProxy, listed and read through kube-apiserver as the caller, shaped by
//! [`super::kind_shapes`]. A router of their own, merged into [`Tools`]' in `tools.rs`.
//!
//! They read the custom resources only. The Secrets those point to (a provisioner key, a proxy
//! token) are never fetched, so no caller can obtain them through MCP, whatever its RBAC.

use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};

use super::identity::Caller;
use super::kind_shapes::*;
use super::kube_error::ToolError;
use super::shape::{ListInput, ObjectInput};
use super::tools::{Tools, get, list_page};
use crate::api::coder::v1alpha1::{CoderProvisioner, CoderWorkspaceProxy};

#[tool_router(router = kind_tool_router, vis = "pub(super)")]
impl Tools {
    #[tool(
        description = "List CoderProvisioner resources (external provisioner daemons; one page, pass `continue` for the next). Never returns provisioner keys.",
        annotations(read_only_hint = true)
    )]
    async fn list_provisioners(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<Json<ListProvisionersOutput>, ToolError> {
        list_page(&caller.client, &input, provisioner_summary).await
    }

    #[tool(
        description = "Get status of a CoderProvisioner: control plane, organization, key name, tags, replicas, phase and conditions. Never returns the provisioner key.",
        annotations(read_only_hint = true)
    )]
    async fn get_provisioner_status(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<ProvisionerStatusOutput>, ToolError> {
        let provisioner: CoderProvisioner = get(&caller.client, &input, "CoderProvisioner").await?;
        Ok(Json(provisioner_status(&provisioner)))
    }

    #[tool(
        description = "List CoderWorkspaceProxy resources (one page; pass `continue` for the next). Never returns proxy tokens.",
        annotations(read_only_hint = true)
    )]
    async fn list_workspace_proxies(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<Json<ListWorkspaceProxiesOutput>, ToolError> {
        list_page(&caller.client, &input, workspace_proxy_summary).await
    }

    #[tool(
        description = "Get status of a CoderWorkspaceProxy: proxy and display name in coderd, registration, replicas, phase and conditions. Never returns the proxy token.",
        annotations(read_only_hint = true)
    )]
    async fn get_workspace_proxy_status(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<WorkspaceProxyStatusOutput>, ToolError> {
        let proxy: CoderWorkspaceProxy = get(&caller.client, &input, "CoderWorkspaceProxy").await?;
        Ok(Json(workspace_proxy_status(&proxy)))
    }
}
