//! Kafka faults: which delivery errors are worth sending again, and the tracker that turns the
//! clients' error callbacks into one warning when the brokers go away and one line when they
//! are back (with a counter per error in `/metrics`).
//!
//! librdkafka reconnects by itself and keeps produced records queued (and retried, in order,
//! by the idempotent producer) for `message.timeout.ms`. A record that fails after that with
//! a retriable error (timed out, unknown topic, no leader, transport) is sent again by the
//! runtime with a backoff; only errors that no retry can fix (a record the broker will never
//! take, authorisation, a fatal producer state) stop the worker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use trailhound_model::escape::Escaped;

use crate::metrics::Metrics;

/// Which Kafka client reported something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// The group's consumer.
    Consumer,
    /// The findings and dead-letter producer.
    Producer,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Consumer => "consumer",
            Client::Producer => "producer",
        }
    }

    fn index(self) -> usize {
        match self {
            Client::Consumer => 0,
            Client::Producer => 1,
        }
    }
}

/// The librdkafka error code of `e`, when it has one.
pub(crate) fn code(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    e.rdkafka_error_code()
}

/// A short, stable name for an error (a metric label).
pub(crate) fn error_name(e: &KafkaError) -> String {
    match code(e) {
        Some(c) => format!("{c:?}"),
        None => "other".to_string(),
    }
}

/// True when sending the record again may succeed: the broker or topic was unreachable or
/// unavailable, or the record timed out waiting for it. False for what no retry fixes.
pub(crate) fn retriable(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    let Some(c) = code(e) else {
        return false;
    };
    !matches!(
        c,
        C::InvalidArgument
            | C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::MessageBatchTooLarge
            | C::InvalidTopic
            | C::InvalidRecord
            | C::InvalidRequiredAcks
            | C::InvalidConfig
            | C::PolicyViolation
            | C::UnsupportedVersion
            | C::UnsupportedForMessageFormat
            | C::UnsupportedCompressionType
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::UnsupportedSASLMechanism
            | C::IllegalSASLState
            | C::Authentication
            | C::SSL
            | C::Fatal
            | C::Fenced
            | C::ProducerFenced
            | C::InvalidProducerEpoch
            | C::InvalidProducerIdMapping
            | C::OutOfOrderSequenceNumber
            | C::KeySerialization
            | C::ValueSerialization
            | C::PurgeQueue
            | C::PurgeInflight
    )
}

/// Errors that mean the client cannot reach the brokers.
fn connectivity(c: RDKafkaErrorCode) -> bool {
    matches!(
        c,
        RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::BrokerNotAvailable
    )
}

/// Backoff before the `attempt`-th re-send (1-based): 200 ms doubling to 10 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ms = 200u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(10_000))
}

/// Turns client errors into a counter, one warning per outage and one line on recovery.
pub(crate) struct Faults {
    metrics: Arc<Metrics>,
    /// Since when each client (consumer, producer) has been unable to reach the brokers.
    down_since: Mutex<[Option<Instant>; 2]>,
    /// Some client is in an outage (the per-message check is one atomic load).
    any_down: AtomicBool,
    /// Delivery retries are logged at most every 10 s (each is counted).
    pub(crate) retry_logged: Every,
    /// Deliveries that succeeded after retries, likewise.
    pub(crate) recovery_logged: Every,
}

/// A rate limit for log lines that many records would repeat at once: [`Every::due`] is true
/// at most once per period, across threads.
pub(crate) struct Every {
    started: Instant,
    period_ms: u64,
    /// Milliseconds after `started` of the last time it was due, plus one (0: never).
    last: AtomicU64,
}

impl Every {
    pub(crate) fn new(period: Duration) -> Self {
        Self { started: Instant::now(), period_ms: period.as_millis() as u64, last: AtomicU64::new(0) }
    }

    /// True at most once per period: a thousand records failing together make one warning.
    pub(crate) fn due(&self) -> bool {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= self.period_ms)
            && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

impl Faults {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            down_since: Mutex::new([None, None]),
            any_down: AtomicBool::new(false),
            retry_logged: Every::new(Duration::from_secs(10)),
            recovery_logged: Every::new(Duration::from_secs(10)),
        }
    }

    /// A global error from a client's error callback.
    pub(crate) fn error(&self, client: Client, e: &KafkaError, reason: &str) {
        let name = error_name(e);
        self.metrics
            .kafka_errors
            .get_or_create(&vec![("client", client.name().to_string()), ("error", name.clone())])
            .inc();
        let lost = code(e).is_some_and(connectivity);
        if lost {
            let first = match self.down_since.lock() {
                Ok(mut d) => {
                    let slot = &mut d[client.index()];
                    let first = slot.is_none();
                    slot.get_or_insert_with(Instant::now);
                    self.any_down.store(true, Ordering::Relaxed);
                    first
                }
                Err(_) => true,
            };
            if first {
                tracing::warn!(client = client.name(), error = %name, reason = %Escaped(reason), "kafka: lost the connection to the brokers; reconnecting (deliveries wait and are retried, nothing is committed past them)");
            } else {
                tracing::debug!(client = client.name(), error = %name, reason = %Escaped(reason), "kafka: still reconnecting");
            }
        } else {
            tracing::warn!(client = client.name(), error = %name, reason = %Escaped(reason), "kafka client error");
        }
    }

    /// The client reached a broker (a message consumed, a record acknowledged, statistics
    /// showing a connection up): ends an outage if there was one.
    pub(crate) fn up(&self, client: Client) {
        if !self.any_down.load(Ordering::Relaxed) {
            return;
        }
        let since = match self.down_since.lock() {
            Ok(mut d) => {
                let since = d[client.index()].take();
                self.any_down.store(d.iter().any(Option::is_some), Ordering::Relaxed);
                since
            }
            Err(_) => None,
        };
        if let Some(since) = since {
            tracing::info!(
                client = client.name(),
                down_seconds = since.elapsed().as_secs_f64(),
                "kafka: brokers reachable again"
            );
        }
    }

    /// Statistics: a connection to a (non-bootstrap) broker is up.
    pub(crate) fn stats(&self, client: Client, s: &Statistics) {
        if s.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP") {
            self.up(client);
        }
    }
}

/// The producer's context: its errors and statistics go to [`Faults`].
pub struct ProducerCtx {
    pub(crate) faults: Arc<Faults>,
}

impl ClientContext for ProducerCtx {
    fn stats(&self, statistics: Statistics) {
        self.faults.stats(Client::Producer, &statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.faults.error(Client::Producer, &error, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_and_missing_topics_are_retried_and_records_the_broker_refuses_are_not() {
        let p = |c| KafkaError::MessageProduction(c);
        for c in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::UnknownTopic,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert!(retriable(&p(c)), "{c:?} is retriable");
        }
        for c in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::InvalidRecord,
            RDKafkaErrorCode::Fatal,
            RDKafkaErrorCode::OutOfOrderSequenceNumber,
        ] {
            assert!(!retriable(&p(c)), "{c:?} is not retriable");
        }
        assert!(!retriable(&KafkaError::Canceled), "no code: not retried blindly");
    }

    #[test]
    fn a_rate_limited_line_is_due_once_per_period() {
        let e = Every::new(Duration::from_secs(3600));
        assert!(e.due(), "the first is logged");
        assert!(!e.due() && !e.due(), "the next ones within the period are not");
        let zero = Every::new(Duration::ZERO);
        assert!(zero.due() && zero.due());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }

    #[test]
    fn an_outage_is_counted_per_error_and_ends_when_the_client_is_up() {
        let m = Arc::new(Metrics::new());
        let f = Faults::new(m.clone());
        let down = KafkaError::Global(RDKafkaErrorCode::AllBrokersDown);
        f.error(Client::Consumer, &down, "1/1 brokers are down");
        f.error(Client::Consumer, &down, "1/1 brokers are down");
        let text = m.render();
        assert!(
            text.contains("trailhound_kafka_errors_total{client=\"consumer\",error=\"AllBrokersDown\"} 2"),
            "{text}"
        );
        assert!(f.down_since.lock().expect("lock")[0].is_some());
        f.up(Client::Consumer);
        assert!(f.down_since.lock().expect("lock")[0].is_none());
    }
}
