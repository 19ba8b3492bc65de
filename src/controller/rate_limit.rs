//! Client-side rate limit of the controller's API requests: a token bucket (`--kube-api-qps`
//! tokens a second, at most `--kube-api-burst` saved up) whose waiting requests are served
//! round-robin by flow (the namespace a request addresses), not first come first served.
//!
//! kube-runtime starts every due reconcile at once (unbounded concurrency; it never runs one
//! object twice at a time and keeps at most one pending request per object), so when many
//! objects change together the queue that forms is this one. Served in arrival order, one
//! namespace with a thousand new objects would hold every other namespace's requests behind
//! its own; served round-robin by namespace, a quiet namespace (and the leader-election Lease,
//! which lives in its own namespace) waits for at most one turn of the busy ones.
//!
//! The bucket follows client-go's `flowcontrol` token bucket (`golang.org/x/time/rate`):
//! tokens refill continuously at `qps`, a request takes one, and a full bucket lets `burst`
//! requests through at once. Time is tokio's, so tests can run it on a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// How fast the controller may send requests. Validated by the flags' parser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Sustained requests per second (> 0).
    pub qps: f64,
    /// Requests that may go out at once after a quiet period (>= 1).
    pub burst: u32,
}

/// A token bucket shared by every request of one client, with per-flow fair queueing.
pub struct FairLimiter {
    limits: Limits,
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    refilled_at: Instant,
    /// Waiting requests of each flow, oldest first.
    queues: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// Flows with waiting requests, in the order they are served next.
    turns: VecDeque<String>,
    /// A dispatcher task is handing out tokens to waiters.
    dispatching: bool,
}

impl State {
    fn refill(&mut self, limits: Limits, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * limits.qps).min(f64::from(limits.burst));
        self.refilled_at = now;
    }

    /// Hands the available tokens to waiters, one flow at a time. A waiter that gave up (its
    /// request was dropped) takes no token.
    fn grant(&mut self) {
        while self.tokens >= 1.0 {
            let Some(flow) = self.turns.pop_front() else {
                return;
            };
            let Some(queue) = self.queues.get_mut(&flow) else {
                continue;
            };
            while let Some(waiter) = queue.pop_front() {
                if waiter.send(()).is_ok() {
                    self.tokens -= 1.0;
                    break;
                }
            }
            if queue.is_empty() {
                self.queues.remove(&flow);
            } else {
                self.turns.push_back(flow);
            }
        }
    }
}

impl FairLimiter {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            state: Mutex::new(State {
                tokens: f64::from(limits.burst),
                refilled_at: Instant::now(),
                queues: HashMap::new(),
                turns: VecDeque::new(),
                dispatching: false,
            }),
        })
    }

    /// Waits for a token for a request of `flow`; returns how long it waited.
    pub async fn acquire(self: &Arc<Self>, flow: &str) -> Duration {
        let started = Instant::now();
        let granted = {
            let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
            // Through a plain reference, so that fields can be borrowed one by one.
            let state = &mut *guard;
            state.refill(self.limits, started);
            // Nobody queued and a token at hand: go. With waiters queued, a newcomer queues
            // too, or it would overtake flows that have been waiting.
            if state.turns.is_empty() && state.tokens >= 1.0 {
                state.tokens -= 1.0;
                return Duration::ZERO;
            }
            let (waiter, granted) = oneshot::channel();
            let queue = state.queues.entry(flow.to_string()).or_default();
            if queue.is_empty() {
                state.turns.push_back(flow.to_string());
            }
            queue.push_back(waiter);
            if !state.dispatching {
                state.dispatching = true;
                tokio::spawn(self.clone().dispatch());
            }
            granted
        };
        // An error means the dispatcher is gone (the runtime is shutting down): nothing left
        // to protect, so the request may go.
        let _ = granted.await;
        started.elapsed()
    }

    /// Runs while requests wait: grants tokens as they refill, then sleeps until the next one.
    async fn dispatch(self: Arc<Self>) {
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                state.refill(self.limits, Instant::now());
                state.grant();
                if state.turns.is_empty() {
                    state.dispatching = false;
                    return;
                }
                Duration::from_secs_f64(((1.0 - state.tokens) / self.limits.qps).max(0.0))
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The flow of a request: the namespace its path addresses, or "" for cluster-wide requests
/// (LIST and WATCH across namespaces, cluster-scoped kinds).
pub fn flow_of(path: &str) -> &str {
    let mut parts = path.trim_start_matches('/').split('/');
    let rest = match parts.next() {
        Some("api") => parts.nth(1),
        Some("apis") => parts.nth(2),
        _ => None,
    };
    match (rest, parts.next()) {
        (Some("namespaces"), Some(namespace)) => namespace,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(qps: f64, burst: u32) -> Arc<FairLimiter> {
        FairLimiter::new(Limits { qps, burst })
    }

    #[test]
    fn flows_are_the_namespace_a_path_addresses() {
        assert_eq!(flow_of("/api/v1/namespaces/a/services/s"), "a");
        assert_eq!(
            flow_of("/apis/apps/v1/namespaces/team-b/deployments/d/status"),
            "team-b"
        );
        assert_eq!(flow_of("/apis/events.k8s.io/v1/namespaces/c/events"), "c");
        assert_eq!(flow_of("/apis/apps/v1/deployments"), "");
        assert_eq!(flow_of("/api/v1/namespaces"), "");
        assert_eq!(flow_of("/version"), "");
    }

    #[tokio::test(start_paused = true)]
    async fn burst_goes_at_once_then_requests_are_spaced_by_qps() {
        let limiter = limiter(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.acquire("a").await, Duration::ZERO);
        }
        // Tokens refill at 2/s: the next three wait 0.5 s each after the previous one.
        let mut granted = Vec::new();
        for _ in 0..3 {
            limiter.acquire("a").await;
            granted.push(start.elapsed());
        }
        assert_eq!(
            granted,
            [
                Duration::from_millis(500),
                Duration::from_millis(1000),
                Duration::from_millis(1500)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_flow_is_served_between_a_busy_flows_requests() {
        let limiter = limiter(10.0, 1);
        // Take the only token so that everything below queues.
        limiter.acquire("busy").await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter.acquire("busy").await;
                order.lock().unwrap().push(format!("busy-{i}"));
            }));
            // Queue in a known order.
            tokio::task::yield_now().await;
        }
        let (quiet_limiter, quiet_order) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            quiet_limiter.acquire("quiet").await;
            quiet_order.lock().unwrap().push("quiet".to_string());
        }));
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // Arrival order would put "quiet" last; round-robin serves it second.
        assert_eq!(
            order,
            ["busy-0", "quiet", "busy-1", "busy-2", "busy-3", "busy-4"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_wait_takes_no_token() {
        let limiter = limiter(1.0, 1);
        limiter.acquire("a").await;
        // A request dropped while it waits (its reconcile was cancelled) ...
        let abandoned = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("a").await })
        };
        tokio::task::yield_now().await;
        abandoned.abort();
        let _ = abandoned.await;
        // ... leaves the next token to the next request: it waits one interval, not two.
        let start = Instant::now();
        limiter.acquire("a").await;
        assert!(
            start.elapsed() <= Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }
}
