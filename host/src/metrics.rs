//! Prometheus metrics, served at `GET /metrics`. Every label is bounded: a
//! fixed list of reasons, the source name, or a configured plugin name.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label: the event source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// "wave", "twilio", "qad".
    pub source: &'static str,
}

/// Label: why a webhook was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabel {
    /// The event source.
    pub source: &'static str,
    /// One of the fixed reasons (`bad_signature`, `stale`, `invalid_body`, …).
    pub reason: &'static str,
}

/// Label: a plugin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    /// The plugin's name.
    pub plugin: String,
}

/// Labels: a poller and how its cycle ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabel {
    /// The poller's name, e.g. `qad:acme`.
    pub poller: String,
    /// `ok`, `error`, `broken` or `skipped` (another replica polled).
    pub outcome: &'static str,
}

/// All metrics of the process.
pub struct Metrics {
    registry: Registry,
    /// Webhooks accepted and stored (duplicates included).
    pub events_received: Family<SourceLabel, Counter>,
    /// Webhooks answered 2xx that were already stored.
    pub events_duplicate: Family<SourceLabel, Counter>,
    /// Webhooks refused, by reason.
    pub events_rejected: Family<RejectLabel, Counter>,
    /// Seconds from receipt to dispatch completion.
    pub dispatch_latency: Histogram,
    /// Plugin calls.
    pub plugin_invocations: Family<PluginLabel, Counter>,
    /// Plugin calls that failed (trap, deadline, memory, error, bad output).
    pub plugin_failures: Family<PluginLabel, Counter>,
    /// Poll cycles, by poller and outcome.
    pub polls: Family<PollLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ml_connector");
        let events_received = Family::<SourceLabel, Counter>::default();
        let events_duplicate = Family::<SourceLabel, Counter>::default();
        let events_rejected = Family::<RejectLabel, Counter>::default();
        // 1 ms … ~65 s.
        let dispatch_latency = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let plugin_invocations = Family::<PluginLabel, Counter>::default();
        let plugin_failures = Family::<PluginLabel, Counter>::default();
        let polls = Family::<PollLabel, Counter>::default();
        registry.register("events_received", "Webhooks accepted and stored", events_received.clone());
        registry.register("events_duplicate", "Webhooks for events already stored", events_duplicate.clone());
        registry.register("events_rejected", "Webhooks refused, by reason", events_rejected.clone());
        registry.register("dispatch_latency_seconds", "Receipt to dispatch completion", dispatch_latency.clone());
        registry.register("plugin_invocations", "Plugin calls", plugin_invocations.clone());
        registry.register("plugin_failures", "Plugin calls that failed", plugin_failures.clone());
        registry.register("polls", "Poll cycles, by poller and outcome", polls.clone());
        Metrics {
            registry,
            events_received,
            events_duplicate,
            events_rejected,
            dispatch_latency,
            plugin_invocations,
            plugin_failures,
            polls,
        }
    }
}

impl Metrics {
    /// Counts a refused webhook.
    pub fn reject(&self, source: &'static str, reason: &'static str) {
        self.events_rejected.get_or_create(&RejectLabel { source, reason }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
