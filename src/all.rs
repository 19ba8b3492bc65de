//! `--app=all`: the controller and the aggregated apiserver in one process, for small installs.
//!
//! Both apps run on one child of the process's shutdown token. Whichever stops first (an error,
//! or the signal) stops the other, so the process never keeps running half of itself: the
//! orchestrator sees the exit and restarts the whole pod. Each app keeps its own probes
//! (controller: /healthz and /readyz on --health-probe-bind-address; apiserver: /livez and
//! /readyz on its HTTPS port). The apps still never import each other; this module only joins
//! the two futures the [`Runners`] seam hands out.

use std::time::Duration;

use crate::apiserver::ApiserverArgs;
use crate::cli::{Error, Runners};
use crate::controller::ControllerArgs;
use crate::shutdown::Shutdown;

/// How long the second app may take to stop once the first has: past it the process exits
/// anyway (its remaining tasks end with the runtime), so a failure never leaves half the
/// process running. Longer than either app's own drain.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(45);

/// Runs both apps until `shutdown`, or until either of them stops. Returns the first error (the
/// app that failed first), else the other's.
pub async fn run(
    controller: ControllerArgs,
    apiserver: ApiserverArgs,
    runners: &dyn Runners,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let stop = shutdown.child_token();
    let mut controller = runners.controller(controller, stop.clone());
    let mut apiserver = runners.apiserver(apiserver, stop.clone());
    let (first, rest) = tokio::select! {
        result = &mut controller => (result, apiserver),
        result = &mut apiserver => (result, controller),
    };
    if !stop.is_cancelled() {
        match &first {
            Ok(()) => tracing::warn!("one app of --app=all stopped on its own; stopping the other"),
            Err(error) => {
                tracing::error!(%error, "one app of --app=all failed; stopping the other")
            }
        }
    }
    stop.cancel();
    match tokio::time::timeout(DRAIN_DEADLINE, rest).await {
        Ok(second) => first.and(second),
        Err(_) => {
            tracing::error!(deadline = ?DRAIN_DEADLINE, "the other app of --app=all did not stop in time; exiting");
            first
        }
    }
}
