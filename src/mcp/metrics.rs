//! Prometheus metrics of the MCP server, served in OpenMetrics text on its `/metrics`: tool calls
//! by tool and outcome, their latency, and refused authentications.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a tool call ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// The tool ran and returned its output.
    Ok,
    /// The tool ran and failed (API error, forbidden, bad argument value): `isError: true`.
    ToolError,
    /// The call never reached a tool (unknown tool, arguments not matching the schema): a
    /// JSON-RPC error.
    ProtocolError,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::ProtocolError => "protocol_error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    reason: &'static str,
}

pub struct Metrics {
    calls: Family<CallLabels, Counter>,
    duration: Family<ToolLabels, Histogram>,
    auth_failures: Family<AuthLabels, Counter>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coder_k8s_mcp");
        let calls = Family::<CallLabels, Counter>::default();
        // 1 ms .. ~16 s: a cached GET to a slow LIST through the aggregator.
        let duration = Family::<ToolLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 15))) as fn() -> Histogram,
        );
        let auth_failures = Family::<AuthLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "MCP tool calls by tool and outcome (ok, tool_error, protocol_error)",
            calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Duration of MCP tool calls by tool",
            duration.clone(),
        );
        registry.register(
            "authentication_failures",
            "Requests to /mcp refused before reaching a tool, by reason",
            auth_failures.clone(),
        );
        Metrics {
            calls,
            duration,
            auth_failures,
            registry,
        }
    }
}

impl Metrics {
    /// Records one call of `tool` (a name from the tool list, else "unknown": the label set
    /// stays bounded whatever clients send).
    pub fn tool_call(&self, tool: &'static str, outcome: Outcome, took: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                tool,
                outcome: outcome.as_str(),
            })
            .inc();
        self.duration
            .get_or_create(&ToolLabels { tool })
            .observe(took.as_secs_f64());
    }

    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&AuthLabels { reason })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_tool_and_outcome() {
        let metrics = Metrics::default();
        metrics.tool_call("get_workspace", Outcome::Ok, Duration::from_millis(3));
        metrics.tool_call(
            "get_workspace",
            Outcome::ToolError,
            Duration::from_millis(3),
        );
        metrics.tool_call("unknown", Outcome::ProtocolError, Duration::ZERO);
        metrics.auth_failure("rejected");
        let text = metrics.encode();
        assert!(
            text.contains(
                "coder_k8s_mcp_tool_calls_total{tool=\"get_workspace\",outcome=\"ok\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "coder_k8s_mcp_tool_calls_total{tool=\"get_workspace\",outcome=\"tool_error\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "coder_k8s_mcp_tool_call_duration_seconds_count{tool=\"get_workspace\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("coder_k8s_mcp_authentication_failures_total{reason=\"rejected\"} 1"),
            "{text}"
        );
    }
}
