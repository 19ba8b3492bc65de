//! Graceful shutdown: SIGTERM or SIGINT cancels one token that every long-running task watches.

use tokio_util::sync::CancellationToken;

/// Cancelled once, when the process should stop. Clones share the same state.
pub type Shutdown = CancellationToken;

/// A token cancelled by the first SIGTERM or SIGINT. A second signal is left to the default
/// handler only after the app returns, so a stuck shutdown can still be interrupted by the
/// orchestrator's SIGKILL.
pub fn on_signals() -> Shutdown {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            // Without signal handlers the process can only be killed; say so instead of
            // pretending a graceful path exists.
            tracing::warn!("cannot install signal handlers; graceful shutdown disabled");
            std::future::pending().await
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}
