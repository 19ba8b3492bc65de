//! Keeps a kube-runtime reflector stream running until shutdown: the cluster informers of the
//! apiserver (namespaces, CoderControlPlanes) drive their stores the same way.

use futures::{Stream, StreamExt};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

/// Polls `events` (a `watcher(..).default_backoff().reflect(writer)` stream, which fills the
/// store as a side effect) on a task until `stop` fires or the stream ends. Errors are logged
/// naming `what`; the backoff retries and the store keeps its last state meanwhile.
pub fn spawn<S, K>(events: S, what: &'static str, stop: CancellationToken)
where
    S: Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    K: Send,
{
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                event = events.next() => match event {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => tracing::warn!(%error, "{what} watch failed"),
                    None => return,
                },
            }
        }
    });
}
