//! The MCP tools: each one Kubernetes call (two for the `set_*_running` tools) made with the
//! caller's client, its answer shaped by [`super::shape`].
//!
//! Which client: over HTTP, the impersonating [`Caller`] the auth middleware put into the
//! request; in stdio mode or with `--mcp-insecure-server-identity`, the server's own. A call that
//! has neither never reaches a tool.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{ListParams, LogParams, Patch, PatchParams};
use kube::{Api, Resource};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{IntoCallToolResult, ToolCallContext};
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::de::DeserializeOwned;

use super::identity::Caller;
use super::kube_error::ToolError;
use super::metrics::{Metrics, Outcome};
use super::shape::{self, *};
use crate::api::aggregation::v1alpha1::{CoderTemplate, CoderWorkspace};
use crate::api::coder::v1alpha1::CoderControlPlane;

/// Every tool, by name: the upstream project's fourteen, then those of the kinds added since
/// (`kind_tools.rs`).
pub const TOOL_NAMES: [&str; 18] = [
    "list_control_planes",
    "get_control_plane_status",
    "list_control_plane_pods",
    "get_control_plane_deployment_status",
    "get_service_status",
    "list_workspaces",
    "get_workspace",
    "set_workspace_running",
    "list_templates",
    "get_template",
    "set_template_running",
    "get_events",
    "get_pod_logs",
    "check_health",
    "list_provisioners",
    "get_provisioner_status",
    "list_workspace_proxies",
    "get_workspace_proxy_status",
];

/// Field manager of the `set_*_running` patches, as audit logs and managedFields show it.
const FIELD_MANAGER: &str = "coder-k8s-mcp";

const INSTRUCTIONS: &str = "Tools for Coder on Kubernetes: inspect CoderControlPlanes (status, \
    pods, Deployment, Service, events, logs), CoderProvisioners and CoderWorkspaceProxies, and \
    list, start or stop CoderWorkspaces and CoderTemplates. Calls run with the caller's Kubernetes identity, so RBAC decides what \
    succeeds; a refused call returns the API's message naming the missing permission. List \
    tools return a `continue` token when more items remain.";

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        Ok(rmcp::model::CallToolResult::from(self).into())
    }
}

/// The MCP server handler: the tools, and the identity they fall back to.
#[derive(Clone)]
pub struct Tools {
    /// The server's own identity, used when a request carries no [`Caller`]: stdio mode and
    /// `--mcp-insecure-server-identity`. `None` makes such requests fail.
    own: Option<Caller>,
    metrics: Arc<Metrics>,
    tool_router: ToolRouter<Tools>,
}

impl Tools {
    /// Tools that require each request to carry an authenticated [`Caller`].
    pub fn per_caller(metrics: Arc<Metrics>) -> Self {
        Tools {
            own: None,
            metrics,
            tool_router: Self::all_tools(),
        }
    }

    /// Tools that run every call as `own` (stdio, or the insecure upstream mode).
    pub fn with_own_identity(own: Caller, metrics: Arc<Metrics>) -> Self {
        Tools {
            own: Some(own),
            metrics,
            tool_router: Self::all_tools(),
        }
    }

    /// The upstream tools and those of the kinds added since.
    fn all_tools() -> ToolRouter<Tools> {
        Self::tool_router() + Self::kind_tool_router()
    }

    /// The caller of a request: the one the HTTP middleware authenticated, else our own.
    fn caller_of(&self, extensions: &rmcp::model::Extensions) -> Option<Caller> {
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .or(self.own.as_ref())
            .cloned()
    }
}

/// The namespaced or cluster-wide Api of `K`.
pub(super) fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// One page of `K` (in the namespace `input` names, else in all), each object shaped by
/// `summary`: what every kind's list tool answers.
pub(super) async fn list_page<K, T>(
    client: &kube::Client,
    input: &ListInput,
    summary: fn(&K) -> T,
) -> Result<Json<ListOutput<T>>, ToolError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let params = ListParams {
        limit: Some(clamp_limit(input.limit, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)),
        continue_token: input.continue_token.clone().filter(|t| !t.is_empty()),
        ..Default::default()
    };
    let list = api::<K>(client, input.namespace.as_deref())
        .list(&params)
        .await
        .map_err(|e| ToolError::kube(&format!("list {} resources", K::kind(&())), e))?;
    Ok(Json(ListOutput::of(list, summary)))
}

/// GETs `namespace/name` of `K`, naming `kind` in the error.
pub(super) async fn get<K>(
    client: &kube::Client,
    input: &ObjectInput,
    kind: &str,
) -> Result<K, ToolError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned,
    K: std::fmt::Debug,
    K::DynamicType: Default,
{
    input.validate().map_err(ToolError::invalid)?;
    api::<K>(client, Some(&input.namespace))
        .get(&input.name)
        .await
        .map_err(|e| ToolError::kube(&format!("get {kind} {}/{}", input.namespace, input.name), e))
}

/// Sets spec.running of a workspace or template: reads it, and when the value differs writes
/// a merge patch carrying the read resourceVersion, so a concurrent change is a Conflict rather
/// than overwritten. Returns the object as stored and whether it was written.
async fn set_running<K>(
    client: &kube::Client,
    input: &SetRunningInput,
    kind: &str,
    running_of: fn(&K) -> Option<bool>,
) -> Result<(K, bool), ToolError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned,
    K: std::fmt::Debug + serde::Serialize,
    K::DynamicType: Default,
{
    let target = ObjectInput {
        namespace: input.namespace.clone(),
        name: input.name.clone(),
    };
    let current: K = get(client, &target, kind).await?;
    if running_of(&current) == Some(input.running) {
        return Ok((current, false));
    }
    let patch = serde_json::json!({
        "metadata": { "resourceVersion": current.meta().resource_version },
        "spec": { "running": input.running },
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let updated = api::<K>(client, Some(&input.namespace))
        .patch(&input.name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            ToolError::kube(
                &format!("update {kind} {}/{}", input.namespace, input.name),
                e,
            )
        })?;
    Ok((updated, true))
}

#[tool_router]
impl Tools {
    #[tool(
        description = "List CoderControlPlane resources (one page; pass `continue` for the next).",
        annotations(read_only_hint = true)
    )]
    async fn list_control_planes(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<Json<ListControlPlanesOutput>, ToolError> {
        list_page(&caller.client, &input, control_plane_summary).await
    }

    #[tool(
        description = "Get status for a CoderControlPlane resource.",
        annotations(read_only_hint = true)
    )]
    async fn get_control_plane_status(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<ControlPlaneStatusOutput>, ToolError> {
        let cp: CoderControlPlane = get(&caller.client, &input, "CoderControlPlane").await?;
        Ok(Json(control_plane_status(&cp)))
    }

    #[tool(
        description = "List pods for a CoderControlPlane by namespace and name.",
        annotations(read_only_hint = true)
    )]
    async fn list_control_plane_pods(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ListControlPlanePodsInput>,
    ) -> Result<Json<ListControlPlanePodsOutput>, ToolError> {
        shape::require(&input.namespace, &input.name).map_err(ToolError::invalid)?;
        let params = ListParams {
            label_selector: Some(control_plane_pod_selector(&input.name)),
            limit: Some(clamp_limit(input.limit, DEFAULT_POD_LIMIT, MAX_POD_LIMIT)),
            ..Default::default()
        };
        let list = api::<Pod>(&caller.client, Some(&input.namespace))
            .list(&params)
            .await
            .map_err(|e| {
                ToolError::kube(
                    &format!(
                        "list control plane pods for {}/{}",
                        input.namespace, input.name
                    ),
                    e,
                )
            })?;
        let more = continue_of(list.metadata.continue_).is_some();
        Ok(Json(pods_output(list.items, more)))
    }

    #[tool(
        description = "Get Deployment status for a CoderControlPlane by namespace and name.",
        annotations(read_only_hint = true)
    )]
    async fn get_control_plane_deployment_status(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<DeploymentStatusOutput>, ToolError> {
        let deployment: Deployment = get(&caller.client, &input, "Deployment").await?;
        Ok(Json(deployment_status(&deployment)))
    }

    #[tool(
        description = "Get Kubernetes Service status by namespace and name.",
        annotations(read_only_hint = true)
    )]
    async fn get_service_status(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<ServiceStatusOutput>, ToolError> {
        let service: Service = get(&caller.client, &input, "Service").await?;
        Ok(Json(service_status(&service)))
    }

    #[tool(
        description = "List CoderWorkspace resources (one page; pass `continue` for the next).",
        annotations(read_only_hint = true)
    )]
    async fn list_workspaces(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<Json<ListWorkspacesOutput>, ToolError> {
        list_page(&caller.client, &input, workspace_summary).await
    }

    #[tool(
        description = "Get a CoderWorkspace resource by namespace and name.",
        annotations(read_only_hint = true)
    )]
    async fn get_workspace(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<GetWorkspaceOutput>, ToolError> {
        let ws: CoderWorkspace = get(&caller.client, &input, "CoderWorkspace").await?;
        Ok(Json(GetWorkspaceOutput {
            workspace: workspace_summary(&ws),
        }))
    }

    #[tool(
        description = "Set spec.running for a CoderWorkspace resource (start or stop the workspace).",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn set_workspace_running(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<SetRunningInput>,
    ) -> Result<Json<SetWorkspaceRunningOutput>, ToolError> {
        let (ws, updated) =
            set_running::<CoderWorkspace>(&caller.client, &input, "CoderWorkspace", |ws| {
                ws.spec.running
            })
            .await?;
        Ok(Json(SetWorkspaceRunningOutput {
            workspace: workspace_summary(&ws),
            updated,
        }))
    }

    #[tool(
        description = "List CoderTemplate resources (one page; pass `continue` for the next).",
        annotations(read_only_hint = true)
    )]
    async fn list_templates(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<Json<ListTemplatesOutput>, ToolError> {
        list_page(&caller.client, &input, template_summary).await
    }

    #[tool(
        description = "Get a CoderTemplate resource by namespace and name.",
        annotations(read_only_hint = true)
    )]
    async fn get_template(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<ObjectInput>,
    ) -> Result<Json<GetTemplateOutput>, ToolError> {
        let template: CoderTemplate = get(&caller.client, &input, "CoderTemplate").await?;
        Ok(Json(GetTemplateOutput {
            template: template_summary(&template),
        }))
    }

    #[tool(
        description = "Set spec.running for a CoderTemplate resource.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn set_template_running(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<SetRunningInput>,
    ) -> Result<Json<SetTemplateRunningOutput>, ToolError> {
        let (template, updated) =
            set_running::<CoderTemplate>(&caller.client, &input, "CoderTemplate", |t| {
                t.spec.running
            })
            .await?;
        Ok(Json(SetTemplateRunningOutput {
            template: template_summary(&template),
            updated,
        }))
    }

    #[tool(
        description = "Get Kubernetes events of a namespace, optionally only those about one object (name, kind).",
        annotations(read_only_hint = true)
    )]
    async fn get_events(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<GetEventsInput>,
    ) -> Result<Json<GetEventsOutput>, ToolError> {
        if input.namespace.is_empty() {
            return Err(ToolError::invalid("namespace is required"));
        }
        let params = ListParams {
            field_selector: event_field_selector(input.name.as_deref(), input.kind.as_deref()),
            limit: Some(clamp_limit(
                input.limit,
                DEFAULT_EVENT_LIMIT,
                MAX_EVENT_LIMIT,
            )),
            continue_token: input.continue_token.clone().filter(|t| !t.is_empty()),
            ..Default::default()
        };
        let list = api::<Event>(&caller.client, Some(&input.namespace))
            .list(&params)
            .await
            .map_err(|e| {
                ToolError::kube(
                    &format!("list events in namespace {:?}", input.namespace),
                    e,
                )
            })?;
        Ok(Json(ListOutput::of(list, event_summary)))
    }

    #[tool(
        description = "Get the end of a pod's log (tailLines, default 2000; at most 1 MiB).",
        annotations(read_only_hint = true)
    )]
    async fn get_pod_logs(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(input): Parameters<GetPodLogsInput>,
    ) -> Result<Json<GetPodLogsOutput>, ToolError> {
        shape::require(&input.namespace, &input.name).map_err(ToolError::invalid)?;
        let limit = log_byte_limit(input.limit_bytes);
        let params = LogParams {
            container: input.container.clone().filter(|c| !c.is_empty()),
            tail_lines: Some(input.tail_lines.unwrap_or(DEFAULT_LOG_TAIL_LINES)),
            // One byte more than returned, to tell a log of exactly `limit` bytes from a cut one.
            limit_bytes: Some(limit + 1),
            ..Default::default()
        };
        let logs = api::<Pod>(&caller.client, Some(&input.namespace))
            .logs(&input.name, &params)
            .await
            .map_err(|e| {
                ToolError::kube(
                    &format!("read logs of pod {}/{}", input.namespace, input.name),
                    e,
                )
            })?;
        Ok(Json(logs_output(&logs, limit)))
    }

    #[tool(
        description = "Check MCP server health and Kubernetes API connectivity, and say which Kubernetes user the tools run as.",
        annotations(read_only_hint = true)
    )]
    async fn check_health(
        &self,
        Extension(caller): Extension<Caller>,
        Parameters(_): Parameters<NoInput>,
    ) -> Result<Json<CheckHealthOutput>, ToolError> {
        let version = caller
            .client
            .apiserver_version()
            .await
            .map_err(|e| ToolError::kube("reach the Kubernetes API (GET /version)", e))?;
        Ok(Json(CheckHealthOutput {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kubernetes_version: version.git_version,
            user: caller.user,
        }))
    }
}

// `tools/list` lists the router the calls go through (the upstream tools and the kinds').
#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("coder-k8s", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    /// Dispatches to the tool with the caller's identity in place, and records the call.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let tool = TOOL_NAMES
            .iter()
            .copied()
            .find(|name| *name == request.name)
            .unwrap_or("unknown");
        if tool == "unknown" {
            self.metrics
                .tool_call(tool, Outcome::ProtocolError, started.elapsed());
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {:?}; tools/list names the available tools",
                    request.name
                ),
                None,
            ));
        }
        let Some(caller) = self.caller_of(&context.extensions) else {
            // Unreachable over HTTP (the middleware answers 401 first); kept as an error, not
            // a panic, should a transport ever hand over a request without identity.
            self.metrics
                .tool_call(tool, Outcome::ProtocolError, started.elapsed());
            return Err(ErrorData::internal_error(
                "no authenticated caller for this request",
                None,
            ));
        };
        context.extensions.insert(caller);
        let result = self
            .tool_router
            .call(ToolCallContext::new(self, request, context))
            .await;
        let outcome = match &result {
            Ok(CallToolResponse::Complete(done)) if done.is_error == Some(true) => {
                Outcome::ToolError
            }
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::ProtocolError,
        };
        self.metrics.tool_call(tool, outcome, started.elapsed());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_list_is_upstreams_with_schemas_for_input_and_output() {
        let tools = Tools::per_caller(Arc::new(Metrics::default()));
        let listed = tools.tool_router.list_all();
        let mut names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
        names.sort();
        let mut expected = TOOL_NAMES.to_vec();
        expected.sort();
        assert_eq!(names, expected);
        for tool in &listed {
            let output = tool
                .output_schema
                .as_ref()
                .unwrap_or_else(|| panic!("{} has no output schema", tool.name));
            assert_eq!(output.get("type"), Some(&serde_json::json!("object")));
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&serde_json::json!("object")),
                "{}",
                tool.name
            );
        }
        let set = listed
            .iter()
            .find(|t| t.name == "set_workspace_running")
            .unwrap();
        let required = set.input_schema.get("required").unwrap();
        assert!(
            required
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("running")),
            "{required}"
        );
    }
}
