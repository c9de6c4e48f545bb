//! The metrics of a service, in the Prometheus text format (served on `/metrics` by
//! [`crate::health`]): messages in, out, handled, dead-lettered, rejected, publish
//! retries, reconnects, lost sessions, re-sent files and messages, processing
//! latency, last success time.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The metrics of one service.
pub struct Metrics {
    registry: Registry,
    pub received: Counter,
    pub published: Counter,
    pub handled: Counter,
    pub deadlettered: Counter,
    pub rejected: Counter,
    pub retries: Counter,
    pub reconnects: Counter,
    pub sessions_lost: Counter,
    pub files_reannounced: Counter,
    pub messages_republished: Counter,
    pub connected: Gauge,
    pub ready: Gauge,
    pub latency: Histogram,
    pub last_success: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wis2");
        let m = Metrics {
            received: Counter::default(),
            published: Counter::default(),
            handled: Counter::default(),
            deadlettered: Counter::default(),
            rejected: Counter::default(),
            retries: Counter::default(),
            reconnects: Counter::default(),
            sessions_lost: Counter::default(),
            files_reannounced: Counter::default(),
            messages_republished: Counter::default(),
            connected: Gauge::default(),
            ready: Gauge::default(),
            // 100 µs .. ~13 s
            latency: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            last_success: Gauge::default(),
            registry: Registry::default(),
        };
        let counters = [
            (
                "messages_received",
                "Messages received from the broker",
                &m.received,
            ),
            (
                "messages_published",
                "Messages published and acknowledged by the broker",
                &m.published,
            ),
            (
                "messages_handled",
                "Inputs handled successfully",
                &m.handled,
            ),
            (
                "messages_deadlettered",
                "Inputs sent to the dead letters",
                &m.deadlettered,
            ),
            (
                "messages_rejected",
                "Messages rejected by validation",
                &m.rejected,
            ),
            (
                "publish_retries",
                "Outputs not acknowledged, left for redelivery",
                &m.retries,
            ),
            ("reconnects", "Reconnections to the broker", &m.reconnects),
            (
                "broker_sessions_lost",
                "Reconnections to a broker that no longer had this service's session",
                &m.sessions_lost,
            ),
            (
                "files_reannounced",
                "Pending files announced again (wis2-watch): after the broker may have lost them, or the confirmation timeout",
                &m.files_reannounced,
            ),
            (
                "messages_republished",
                "WIS2 messages published again with the same id (wis2-publish): acknowledged, then lost by the broker before they came back",
                &m.messages_republished,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        let gauges = [
            ("connected", "1 while connected to the broker", &m.connected),
            ("ready", "1 while connected and subscribed", &m.ready),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "processing_seconds",
            "Time from receiving an input to its outputs being acknowledged",
            m.latency.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the last input handled successfully",
            m.last_success.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records a successful input, handled in `seconds`.
    pub fn success(&self, seconds: f64) {
        self.handled.inc();
        self.latency.observe(seconds);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.last_success.set(now);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
