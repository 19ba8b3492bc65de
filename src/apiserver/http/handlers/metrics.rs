//! Prometheus metrics of the aggregated apiserver, served at `/metrics` in OpenMetrics text:
//! requests by verb/resource/code, request latency, open watches, objects stored.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: &'static str,
    pub resource: &'static str,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub verb: &'static str,
    pub resource: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

/// A label set's request counter and latency histogram (handles share the families' values).
type RequestHandles = (Counter, Histogram);

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    /// The handles of each label set seen, resolved once: a request then costs one lookup with
    /// a fast hash instead of one SipHash lookup per family. Keys are static labels and status
    /// codes this server sends, so the map stays small and needs no protection from chosen keys.
    handles: RwLock<HashMap<RequestLabels, RequestHandles, foldhash::fast::FixedState>>,
    watches: Family<ResourceLabels, Gauge>,
    objects: Gauge,
    history_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("coder_k8s_apiserver");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests served, by verb, resource and HTTP code",
            requests.clone(),
        );
        // 0.5 ms .. ~33 s: GETs are sub-millisecond, big LISTs take hundreds of ms.
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 17))
        });
        registry.register_with_unit(
            "request_duration",
            "Time to the response head, by verb and resource",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let watches = Family::<ResourceLabels, Gauge>::default();
        registry.register("watches_open", "Watches currently open", watches.clone());
        let objects = Gauge::default();
        registry.register("objects_stored", "Objects in storage", objects.clone());
        let history_bytes = Gauge::default();
        registry.register(
            "storage_history_bytes",
            "Bytes (JSON text and parsed values) of the change history held in memory for watches and paginated lists",
            history_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            handles: RwLock::default(),
            watches,
            objects,
            history_bytes,
        }
    }

    /// The registry, for metric families defined elsewhere (the Coder backend's sync).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Label values are static (verbs, registry plurals, fixed path roots): bounded
    /// cardinality, and no allocation on the request path.
    pub fn observe(
        &self,
        verb: &'static str,
        resource: &'static str,
        code: u16,
        elapsed: Duration,
    ) {
        let labels = RequestLabels {
            verb,
            resource,
            code,
        };
        let seconds = elapsed.as_secs_f64();
        let cached = self.handles.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((requests, latency)) = cached.get(&labels) {
            requests.inc();
            latency.observe(seconds);
            return;
        }
        drop(cached);
        let requests = self.requests.get_or_create_owned(&labels);
        let latency = self
            .latency
            .get_or_create_owned(&LatencyLabels { verb, resource });
        requests.inc();
        latency.observe(seconds);
        self.handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(labels, (requests, latency));
    }

    /// Counts a watch as open until the returned guard drops (stream end or client gone).
    pub fn watch_opened(&self, resource: &str) -> WatchGuard {
        let gauge = self
            .watches
            .get_or_create(&ResourceLabels {
                resource: resource.to_string(),
            })
            .clone();
        gauge.inc();
        WatchGuard { gauge }
    }

    /// OpenMetrics text; `objects` and `history_bytes` are sampled by the caller at scrape time.
    pub fn encode(&self, objects: u64, history_bytes: u64) -> Result<String, std::fmt::Error> {
        self.objects.set(i64::try_from(objects).unwrap_or(i64::MAX));
        self.history_bytes
            .set(i64::try_from(history_bytes).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

pub struct WatchGuard {
    gauge: Gauge,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_all_families() {
        let m = Metrics::new();
        m.observe("get", "coderworkspaces", 200, Duration::from_millis(1));
        // The second observation of a label set goes through its cached handles.
        m.observe("get", "coderworkspaces", 200, Duration::from_millis(1));
        m.observe("get", "coderworkspaces", 404, Duration::from_millis(1));
        let _w = m.watch_opened("coderworkspaces");
        let text = m.encode(6, 1234).unwrap();
        assert!(text.contains("coder_k8s_apiserver_requests_total{verb=\"get\",resource=\"coderworkspaces\",code=\"200\"} 2"));
        assert!(text.contains("coder_k8s_apiserver_requests_total{verb=\"get\",resource=\"coderworkspaces\",code=\"404\"} 1"));
        assert!(text.contains("coder_k8s_apiserver_request_duration_seconds_count{verb=\"get\",resource=\"coderworkspaces\"} 3"));
        assert!(text.contains("coder_k8s_apiserver_request_duration_seconds_bucket"));
        assert!(text.contains("coder_k8s_apiserver_watches_open{resource=\"coderworkspaces\"} 1"));
        assert!(text.contains("coder_k8s_apiserver_objects_stored 6"));
        assert!(text.contains("coder_k8s_apiserver_storage_history_bytes 1234"));
    }
}
