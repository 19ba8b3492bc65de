//! `--app=all`: the controller, the aggregated apiserver and the MCP server in one process, for
//! small installs.
//!
//! The apps run on one child of the process's shutdown token. Whichever stops first (an error,
//! or the signal) stops the others, so the process never keeps running part of itself: the
//! orchestrator sees the exit and restarts the whole pod. Each app keeps its own probes
//! (controller: /healthz and /readyz on --health-probe-bind-address; apiserver: /livez and
//! /readyz on its HTTPS port; MCP: /healthz and /readyz on --mcp-bind-address). The apps still
//! never import each other; this module only joins the futures the [`Runners`] seam hands out.

use std::time::Duration;

use crate::apiserver::ApiserverArgs;
use crate::controller::ControllerArgs;
use crate::mcp::McpArgs;
use crate::runners::{Error, Runners};
use crate::shutdown::Shutdown;

/// How long the other apps may take to stop once the first has: past it the process exits
/// anyway (their remaining tasks end with the runtime), so a failure never leaves part of the
/// process running. Longer than any app's own drain.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(45);

/// Runs the apps until `shutdown`, or until one of them stops. Returns the first error (the
/// app that failed first), else the first of the others'.
pub async fn run(
    controller: ControllerArgs,
    apiserver: ApiserverArgs,
    mcp: McpArgs,
    runners: &dyn Runners,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let stop = shutdown.child_token();
    // The MCP server reads the cluster the controller's --kubeconfig names.
    let kubeconfig = controller.kubeconfig.clone();
    let apps = vec![
        runners.controller(controller, stop.clone()),
        runners.apiserver(apiserver, stop.clone()),
        runners.mcp(mcp, kubeconfig, stop.clone()),
    ];
    let (first, _, others) = futures::future::select_all(apps).await;
    let rest = async move {
        futures::future::join_all(others)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, Error>>()
            .map(|_| ())
    };
    if !stop.is_cancelled() {
        match &first {
            Ok(()) => {
                tracing::warn!("one app of --app=all stopped on its own; stopping the others")
            }
            Err(error) => {
                tracing::error!(%error, "one app of --app=all failed; stopping the others")
            }
        }
    }
    stop.cancel();
    match tokio::time::timeout(DRAIN_DEADLINE, rest).await {
        Ok(second) => first.and(second),
        Err(_) => {
            tracing::error!(deadline = ?DRAIN_DEADLINE, "the other apps of --app=all did not stop in time; exiting");
            first
        }
    }
}
