//! Prometheus metrics of the Coder backend's sync, registered in the apiserver's `/metrics`
//! registry (prefix `coder_k8s_apiserver_`). Namespace labels are bounded by the namespaces
//! that hold a CoderControlPlane.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    pub namespace: String,
    pub resource: &'static str,
}

/// Cheap to clone: clones share the counters.
#[derive(Clone, Default)]
pub struct SyncMetrics {
    removals_refused: Family<SyncLabels, Counter>,
    removed: Family<SyncLabels, Counter>,
    syncer: Gauge,
    rounds: Family<NamespaceLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabel {
    pub namespace: String,
}

impl SyncMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "coder_sync_removals_refused",
            "Sync rounds that kept objects coderd confirmed gone, because more than half of a namespace's objects of that kind would have been removed at once",
            self.removals_refused.clone(),
        );
        registry.register(
            "coder_sync_objects_removed",
            "Objects the sync removed because coderd confirmed them deleted (not counting objects deleted through the API)",
            self.removed.clone(),
        );
        registry.register(
            "coder_sync_is_syncer",
            "1 while this replica polls coderd and writes the mirror (it holds the Coder sync Lease, or runs without one); 0 while it stands by",
            self.syncer.clone(),
        );
        registry.register(
            "coder_sync_rounds",
            "Sync rounds that asked a namespace's coderd for its templates and workspaces",
            self.rounds.clone(),
        );
    }

    /// A round of `namespace` that asked its coderd.
    pub fn round(&self, namespace: &str) {
        self.rounds
            .get_or_create(&NamespaceLabel {
                namespace: namespace.to_string(),
            })
            .inc();
    }

    pub fn set_syncer(&self, syncing: bool) {
        self.syncer.set(i64::from(syncing));
    }

    pub fn refused(&self, namespace: &str, resource: &'static str) {
        self.removals_refused
            .get_or_create(&SyncLabels {
                namespace: namespace.to_string(),
                resource,
            })
            .inc();
    }

    pub fn removed(&self, namespace: &str, resource: &'static str, count: usize) {
        self.removed
            .get_or_create(&SyncLabels {
                namespace: namespace.to_string(),
                resource,
            })
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_encoded_with_namespace_and_resource() {
        let metrics = SyncMetrics::default();
        let mut registry = Registry::with_prefix("coder_k8s_apiserver");
        metrics.register(&mut registry);
        metrics.refused("team", "coderworkspaces");
        metrics.refused("team", "coderworkspaces");
        metrics.removed("team", "codertemplates", 3);
        metrics.set_syncer(true);
        metrics.round("team");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("coder_k8s_apiserver_coder_sync_removals_refused_total{namespace=\"team\",resource=\"coderworkspaces\"} 2"), "{text}");
        assert!(text.contains("coder_k8s_apiserver_coder_sync_objects_removed_total{namespace=\"team\",resource=\"codertemplates\"} 3"), "{text}");
        assert!(
            text.contains("coder_k8s_apiserver_coder_sync_is_syncer 1"),
            "{text}"
        );
        assert!(
            text.contains("coder_k8s_apiserver_coder_sync_rounds_total{namespace=\"team\"} 1"),
            "{text}"
        );
        metrics.set_syncer(false);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("coder_k8s_apiserver_coder_sync_is_syncer 0"),
            "{text}"
        );
    }
}
