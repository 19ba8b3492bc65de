//! Prometheus metrics of the controller, served in OpenMetrics text format on /metrics.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::error::Error;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub verb: &'static str,
    pub resource: String,
}

/// The controller's metrics and the registry that exposes them.
pub struct Metrics {
    pub reconciles: Counter,
    pub api_requests: Family<ApiLabels, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Histogram,
    pub leader: Gauge,
    /// Time each request waited for a token of the client-side rate limit.
    pub rate_limiter_wait: Histogram,
    /// 429 answers (API Priority and Fairness rejected a request before it ran).
    pub too_many_requests: Counter,
    pub retries: Family<RetryLabels, Counter>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coder_k8s_controller");
        let reconciles = Counter::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        // 5 ms .. ~20 s: an apply round trip up to a slow, throttled API server.
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        let leader = Gauge::default();
        let api_requests = Family::<ApiLabels, Counter>::default();
        // 1 ms .. ~65 s: from a token at hand to a long queue behind a low --kube-api-qps.
        let rate_limiter_wait = Histogram::new(exponential_buckets(0.001, 4.0, 9));
        let too_many_requests = Counter::default();
        let retries = Family::<RetryLabels, Counter>::default();
        registry.register("reconciles", "Reconciliations started", reconciles.clone());
        registry.register(
            "api_requests",
            "Requests to the Kubernetes API by verb and resource",
            api_requests.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciliations",
            duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance holds the leader-election lease (or runs without one)",
            leader.clone(),
        );
        registry.register(
            "api_rate_limiter_wait_seconds",
            "Time requests waited for the client-side rate limit (--kube-api-qps, --kube-api-burst)",
            rate_limiter_wait.clone(),
        );
        registry.register(
            "api_too_many_requests",
            "429 answers from the API server (API Priority and Fairness)",
            too_many_requests.clone(),
        );
        registry.register(
            "api_retries",
            "Requests sent again after a 429 or a retryable server error, by status code",
            retries.clone(),
        );
        Self {
            reconciles,
            api_requests,
            failures,
            duration,
            leader,
            rate_limiter_wait,
            too_many_requests,
            retries,
            registry,
        }
    }
}

impl Metrics {
    /// Counts a reconcile and returns a timer that records its duration when dropped, so every
    /// exit path (including `?`) is measured.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            start: Instant::now(),
            histogram: &self.duration,
        }
    }

    pub fn reconcile_failed(&self, error: &Error) {
        self.failures
            .get_or_create(&ErrorLabels {
                reason: error.metric_label().to_string(),
            })
            .inc();
    }

    pub fn api_request(&self, verb: &'static str, resource: String) {
        self.api_requests
            .get_or_create(&ApiLabels { verb, resource })
            .inc();
    }

    pub fn rate_limiter_waited(&self, waited: std::time::Duration) {
        self.rate_limiter_wait.observe(waited.as_secs_f64());
    }

    pub fn too_many_requests(&self) {
        self.too_many_requests.inc();
    }

    pub fn retried(&self, code: u16) {
        self.retries.get_or_create(&RetryLabels { code }).inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

pub struct ReconcileTimer<'a> {
    start: Instant,
    histogram: &'a Histogram,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_metric_with_prefix() {
        let metrics = Metrics::default();
        {
            let _timer = metrics.reconcile_started();
        }
        metrics.reconcile_failed(&Error::InvalidSpec("x".into()));
        metrics.set_leader(true);
        let text = metrics.encode();
        assert!(
            text.contains("coder_k8s_controller_reconciles_total 1"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"coder_k8s_controller_reconcile_errors_total{reason="invalid_spec"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("coder_k8s_controller_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("coder_k8s_controller_leader 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
