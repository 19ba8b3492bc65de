//! `--app=mcp-http` and `coder-k8s mcp`: a Model Context Protocol server that lets AI agents and
//! IDEs inspect control planes, provisioners and workspace proxies and start or stop workspaces
//! and templates.
//!
//! Built on the official Rust SDK (`rmcp`): its Streamable HTTP transport serves `/mcp`, its
//! stdio transport serves the laptop mode. Each tool is an ordinary Kubernetes client call
//! (CoderControlPlanes and core objects through kube-apiserver, CoderWorkspaces and
//! CoderTemplates through the aggregated API), never an import of the controller or the
//! apiserver.
//!
//! Over HTTP every caller presents a bearer token; [`identity`] reviews it with TokenReview and
//! the tools then run *as that user* (impersonation), so the cluster's RBAC decides what an agent
//! may do, as it does for kubectl. `--mcp-insecure-server-identity` restores the upstream Go
//! project's behaviour (every caller acts as the server) for a trusted local setup.
//!
//! Modules: [`args`] (flags), [`identity`] (tokens to impersonating clients), [`tools`] (the MCP
//! tools), [`shape`] (tool inputs and outputs, and how API objects become outputs),
//! `kind_tools` and [`kind_shapes`] (the same for CoderProvisioners and CoderWorkspaceProxies),
//! [`metrics`], [`http`] (the listener, TLS, probes, auth middleware), [`stdio`].

pub mod args;
pub mod http;
pub mod identity;
pub mod kind_shapes;
mod kind_tools;
pub mod kube_error;
pub mod metrics;
pub mod shape;
pub mod stdio;
pub mod tools;

pub use args::{McpArgs, McpStdioArgs};

use std::path::PathBuf;

/// Why the MCP server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}; pass --kubeconfig or run in a cluster")]
    Kubeconfig(#[from] crate::client_config::LoadError),
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("binding the MCP listener on {address}: {source}")]
    Bind {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("MCP TLS: {0}")]
    Tls(#[from] crate::tls::Error),
    #[error("serving MCP over stdio: {0}")]
    Stdio(String),
}

/// Runs `--app=mcp-http` until `shutdown`. `kubeconfig` is the process's `--kubeconfig` (shared
/// with the controller's flag, so `--app=all` reads one cluster).
pub async fn run(
    args: McpArgs,
    kubeconfig: Option<PathBuf>,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(), Error> {
    let config = crate::client_config::load(kubeconfig.as_deref()).await?;
    let server = http::McpServer::start(args, config, shutdown.clone()).await?;
    tracing::info!(address = %server.local_addr(), tls = server.is_tls(), "MCP server listening on /mcp");
    server.serve().await
}
