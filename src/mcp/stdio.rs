//! `coder-k8s mcp`: MCP over stdin/stdout, for an IDE or agent on a laptop that starts the
//! server as a child process. Tools run as the kubeconfig's user, as kubectl would; logs go to
//! stderr (stdout carries the protocol).

use std::sync::Arc;

use rmcp::ServiceExt;

use super::Error;
use super::args::McpStdioArgs;
use super::identity::Caller;
use super::metrics::Metrics;
use super::tools::Tools;

/// Serves MCP on stdio until the client closes stdin or `shutdown`.
pub async fn run(args: McpStdioArgs, shutdown: crate::shutdown::Shutdown) -> Result<(), Error> {
    let config = crate::client_config::load(args.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(config).map_err(Error::Client)?;
    let own = Caller {
        client,
        user: "(the kubeconfig's user)".into(),
    };
    let tools = Tools::with_own_identity(own, Arc::new(Metrics::default()));
    let service = tools
        .serve_with_ct(rmcp::transport::stdio(), shutdown.child_token())
        .await
        .map_err(|e| Error::Stdio(e.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|e| Error::Stdio(e.to_string()))?;
    Ok(())
}
