//! The runtime's metrics in Prometheus (OpenMetrics) text, with stable names
//! (`trailhound_*`, see [`trailhound_pipeline::metrics`]), plus exact latency samples for the
//! end-of-run summary the benchmark reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Samples kept for the run summary's exact quantiles (the histograms carry the rest).
const MAX_SAMPLES: usize = 1 << 20;

/// Every metric of `trailhound run`.
pub struct Metrics {
    registry: Registry,
    /// Messages consumed.
    pub messages: Counter,
    /// Events parsed into the model.
    pub events: Counter,
    /// Message bytes consumed (before decompression).
    pub bytes: Counter,
    /// Records the parser rejected, by `kind`.
    pub parse_errors: Family<Labels, Counter>,
    /// Dead letters acknowledged by the dead-letter topic, by `kind`.
    pub dead_letters: Family<Labels, Counter>,
    /// Finding versions acknowledged by the findings topic, by `rule` and `severity`.
    pub findings: Family<Labels, Counter>,
    /// Events behind their partition's watermark on arrival.
    pub late_events: Counter,
    /// Consumer lag per `topic` and `partition` (librdkafka statistics).
    pub consumer_lag: Family<Labels, Gauge>,
    /// Keyed state entries per `topic` and `partition`.
    pub state_entries: Family<Labels, Gauge>,
    /// Approximate bytes of detection state per `topic` and `partition` (each partition's
    /// engine has its own `engine.max_state_bytes`).
    pub state_bytes: Family<Labels, Gauge>,
    /// Keyed state entries evicted to keep within `engine.max_state_bytes`, by `tier`
    /// (`long_term`, `dormant`, `active`, `armed`: see [`Metrics::evicted`]).
    pub state_evictions: Family<Labels, Counter>,
    /// Partitions assigned to this member.
    pub assigned_partitions: Gauge,
    /// Checkpoints written.
    pub checkpoints: Counter,
    /// Seconds per checkpoint (acks, Parquet, state, commit).
    pub checkpoint_seconds: Histogram,
    /// Seconds from a batch's earliest message arriving at the consumer to the engine being done.
    pub batch_latency: Histogram,
    /// Seconds from the arrival of the message whose batch raised a finding to the broker's ack.
    pub finding_latency: Histogram,
    /// Findings and dead letters handed to the producer and not yet acknowledged by the broker.
    pub undelivered: Gauge,
    /// Findings and dead letters sent again after a retriable delivery error, by `output`
    /// (`findings`, `dead_letters`) and `error`.
    pub delivery_retries: Family<Labels, Counter>,
    /// Input partitions whose consumption is paused because their worker cannot keep up
    /// (its queue stayed full, e.g. while findings cannot be delivered).
    pub paused_partitions: Gauge,
    /// Errors the Kafka clients reported (broker connections lost, all brokers down, ...), by
    /// `client` (`consumer`, `producer`) and `error`.
    pub kafka_errors: Family<Labels, Counter>,
    /// Offset commits the group coordinator did not accept (retried at the next checkpoint).
    pub commit_errors: Counter,
    ready: AtomicBool,
    healthy: AtomicBool,
    samples: Mutex<Samples>,
    first_arrival: Mutex<Option<Instant>>,
    last_processed: Mutex<Option<Instant>>,
    events_seen: AtomicU64,
}

#[derive(Default)]
struct Samples {
    batch: Vec<f64>,
    finding: Vec<f64>,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~6.5 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let m = Self {
            messages: Counter::default(),
            events: Counter::default(),
            bytes: Counter::default(),
            parse_errors: Family::default(),
            dead_letters: Family::default(),
            findings: Family::default(),
            late_events: Counter::default(),
            consumer_lag: Family::default(),
            state_entries: Family::default(),
            state_bytes: Family::default(),
            state_evictions: Family::default(),
            assigned_partitions: Gauge::default(),
            checkpoints: Counter::default(),
            checkpoint_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            batch_latency: latency_histogram(),
            finding_latency: latency_histogram(),
            undelivered: Gauge::default(),
            delivery_retries: Family::default(),
            paused_partitions: Gauge::default(),
            kafka_errors: Family::default(),
            commit_errors: Counter::default(),
            registry: Registry::default(),
            ready: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            samples: Mutex::default(),
            first_arrival: Mutex::default(),
            last_processed: Mutex::default(),
            events_seen: AtomicU64::new(0),
        };
        // prometheus-client appends `_total` to counters.
        r.register("trailhound_messages", "Kafka messages consumed", m.messages.clone());
        r.register("trailhound_events", "Events parsed into the model", m.events.clone());
        r.register("trailhound_input_bytes", "Message bytes consumed, before decompression", m.bytes.clone());
        r.register("trailhound_parse_errors", "Records the parser rejected, by kind", m.parse_errors.clone());
        r.register(
            "trailhound_dead_letters",
            "Dead letters acknowledged by the dead-letter topic, by kind",
            m.dead_letters.clone(),
        );
        r.register(
            "trailhound_findings",
            "Finding versions acknowledged by the findings topic, by rule and severity",
            m.findings.clone(),
        );
        r.register("trailhound_late_events", "Events behind their partition's watermark", m.late_events.clone());
        r.register("trailhound_consumer_lag", "Messages behind the partition's end", m.consumer_lag.clone());
        r.register("trailhound_state_entries", "Keyed detection state entries", m.state_entries.clone());
        r.register(
            "trailhound_state_bytes",
            "Approximate bytes of detection state, per partition's engine",
            m.state_bytes.clone(),
        );
        r.register(
            "trailhound_state_evictions",
            "Keyed detection state entries evicted to keep within engine.max_state_bytes, by tier (long_term, dormant, active, armed: a detection may have been lost)",
            m.state_evictions.clone(),
        );
        r.register("trailhound_assigned_partitions", "Input partitions assigned", m.assigned_partitions.clone());
        r.register("trailhound_checkpoints", "Checkpoints written", m.checkpoints.clone());
        r.register("trailhound_checkpoint_seconds", "Seconds per checkpoint", m.checkpoint_seconds.clone());
        r.register(
            "trailhound_batch_latency_seconds",
            "Arrival of a batch's earliest message to detection done",
            m.batch_latency.clone(),
        );
        r.register(
            "trailhound_finding_latency_seconds",
            "Arrival of the message that raised a finding to the findings topic's ack",
            m.finding_latency.clone(),
        );
        r.register(
            "trailhound_undelivered_records",
            "Findings and dead letters sent and not yet acknowledged by the broker",
            m.undelivered.clone(),
        );
        r.register(
            "trailhound_delivery_retries",
            "Findings and dead letters sent again after a retriable delivery error, by output and error",
            m.delivery_retries.clone(),
        );
        r.register(
            "trailhound_paused_partitions",
            "Input partitions paused because their worker's queue stayed full",
            m.paused_partitions.clone(),
        );
        r.register(
            "trailhound_kafka_errors",
            "Errors reported by the Kafka clients, by client and error",
            m.kafka_errors.clone(),
        );
        r.register(
            "trailhound_commit_errors",
            "Offset commits the group coordinator did not accept",
            m.commit_errors.clone(),
        );
        Self { registry: r, ..m }
    }

    /// Counts evictions of one tier (`long_term`, `dormant`, `active`, `armed`).
    pub fn evicted(&self, tier: &'static str, entries: u64) {
        if entries > 0 {
            self.state_evictions.get_or_create(&vec![("tier", tier.to_string())]).inc_by(entries);
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }

    /// Marks the member ready (assigned and consuming) or not.
    pub fn set_ready(&self, v: bool) {
        self.ready.store(v, Ordering::Relaxed);
    }

    /// Ready to serve traffic.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Marks the process unhealthy (a worker failed).
    pub fn set_unhealthy(&self) {
        self.healthy.store(false, Ordering::Relaxed);
    }

    /// Healthy.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// A message arrived.
    pub fn arrived(&self, at: Instant, bytes: usize) {
        self.messages.inc();
        self.bytes.inc_by(bytes as u64);
        if let Ok(mut f) = self.first_arrival.lock() {
            f.get_or_insert(at);
        }
    }

    /// A batch of `events` events was processed; its earliest message arrived at `arrival`.
    pub fn processed(&self, arrival: Instant, events: usize) {
        let now = Instant::now();
        let secs = now.duration_since(arrival).as_secs_f64();
        self.batch_latency.observe(secs);
        self.events.inc_by(events as u64);
        self.events_seen.fetch_add(events as u64, Ordering::Relaxed);
        if let Ok(mut s) = self.samples.lock() {
            if s.batch.len() < MAX_SAMPLES {
                s.batch.push(secs);
            }
        }
        if let Ok(mut l) = self.last_processed.lock() {
            *l = Some(now);
        }
    }

    /// A finding version was acknowledged; its batch's earliest message arrived at `arrival`.
    pub fn finding_acked(&self, arrival: Instant, rule: &str, severity: &str) {
        let secs = arrival.elapsed().as_secs_f64();
        self.finding_latency.observe(secs);
        self.findings.get_or_create(&vec![("rule", rule.to_string()), ("severity", severity.to_string())]).inc();
        if let Ok(mut s) = self.samples.lock() {
            if s.finding.len() < MAX_SAMPLES {
                s.finding.push(secs);
            }
        }
    }

    /// Throughput and latency quantiles since the first message.
    pub fn summary(&self) -> LatencySummary {
        let (mut batch, mut finding) = match self.samples.lock() {
            Ok(s) => (s.batch.clone(), s.finding.clone()),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let first = self.first_arrival.lock().ok().and_then(|f| *f);
        let last = self.last_processed.lock().ok().and_then(|l| *l);
        let busy = match (first, last) {
            (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        let events = self.events_seen.load(Ordering::Relaxed);
        LatencySummary {
            events,
            busy_seconds: busy,
            events_per_second: if busy > 0.0 { events as f64 / busy } else { 0.0 },
            batch_latency_p50_ms: quantile(&mut batch, 0.5) * 1e3,
            batch_latency_p99_ms: quantile(&mut batch, 0.99) * 1e3,
            finding_latency_p50_ms: quantile(&mut finding, 0.5) * 1e3,
            finding_latency_p99_ms: quantile(&mut finding, 0.99) * 1e3,
            findings_acked: finding.len() as u64,
        }
    }
}

/// Throughput and latency of a run (exact quantiles over the samples).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LatencySummary {
    /// Events processed.
    pub events: u64,
    /// Seconds from the first message's arrival to the last batch processed.
    pub busy_seconds: f64,
    /// `events / busy_seconds`.
    pub events_per_second: f64,
    /// Median arrival → detection done, per batch.
    pub batch_latency_p50_ms: f64,
    /// 99th percentile arrival → detection done, per batch.
    pub batch_latency_p99_ms: f64,
    /// Median arrival → broker ack, per finding version.
    pub finding_latency_p50_ms: f64,
    /// 99th percentile arrival → broker ack, per finding version.
    pub finding_latency_p99_ms: f64,
    /// Finding versions acknowledged.
    pub findings_acked: u64,
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let idx = ((v.len() - 1) as f64 * q).round() as usize;
    v[idx.min(v.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_stable_names_and_labels() {
        let m = Metrics::new();
        m.arrived(Instant::now(), 10);
        m.parse_errors.get_or_create(&vec![("kind", "invalid_json".to_string())]).inc();
        m.finding_acked(Instant::now(), "enumeration_burst", "high");
        m.consumer_lag.get_or_create(&vec![("topic", "t".to_string()), ("partition", "3".to_string())]).set(7);
        m.undelivered.set(5);
        m.paused_partitions.set(2);
        m.delivery_retries
            .get_or_create(&vec![("output", "findings".to_string()), ("error", "MessageTimedOut".to_string())])
            .inc();
        m.commit_errors.inc();
        let text = m.render();
        for needle in [
            "trailhound_messages_total 1",
            "trailhound_input_bytes_total 10",
            "trailhound_parse_errors_total{kind=\"invalid_json\"} 1",
            "trailhound_findings_total{rule=\"enumeration_burst\",severity=\"high\"} 1",
            "trailhound_consumer_lag{topic=\"t\",partition=\"3\"} 7",
            "trailhound_finding_latency_seconds_bucket",
            "trailhound_undelivered_records 5",
            "trailhound_paused_partitions 2",
            "trailhound_delivery_retries_total{output=\"findings\",error=\"MessageTimedOut\"} 1",
            "trailhound_commit_errors_total 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }

    #[test]
    fn quantiles_are_exact_over_the_samples() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 51.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }
}
