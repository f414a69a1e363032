//! Deliveries of one partition's findings and dead letters: each record is sent until the
//! broker acknowledges it, and the partition never runs too far ahead of its acks.
//!
//! - A record that fails with a retriable error (see [`crate::faults::retriable`]; librdkafka
//!   has already retried it for `message.timeout.ms`), or that the producer refuses at once
//!   with one (a topic it found missing: `topic.metadata.propagation.max.ms` after the first
//!   record for it), is sent again with a backoff, counted in
//!   `trailhound_delivery_retries_total`, until it is acknowledged. A re-sent finding
//!   version may land after a later version of the same finding: consumers keep the highest
//!   `unmapped.revision` per `finding_uid`.
//! - An error no retry fixes fails the partition's worker (the process stops loudly, nothing
//!   past the record is committed).
//! - At most [`MAX_UNDELIVERED`] records of a partition wait for their ack; a checkpoint waits
//!   for all of them. Either wait stops the partition's detection, its queues fill and the
//!   consumer pauses the partition (`trailhound_paused_partitions`): memory stays bounded
//!   while the broker or the topic is unavailable, and no offset is committed past a record
//!   not yet acknowledged.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use tokio::task::JoinHandle;

use crate::faults::{self, Client};
use crate::{RunError, Sent, Shared};

/// Records of one partition sent and not yet acknowledged, at most.
pub(crate) const MAX_UNDELIVERED: usize = 1000;

/// A wait for acks longer than this is logged as a warning (and its end as recovered).
const WARN_AFTER: Duration = Duration::from_secs(5);

/// What a record is, for the metrics counted on its ack.
pub(crate) enum Ack {
    /// A finding version raised by a batch whose oldest message arrived at `arrival`.
    Finding { arrival: Instant, rule: String, severity: String },
    /// A dead letter of `kind`.
    Dead { kind: &'static str },
}

impl Ack {
    fn output(&self) -> &'static str {
        match self {
            Ack::Finding { .. } => "findings",
            Ack::Dead { .. } => "dead_letters",
        }
    }
}

/// The deliveries of one partition, oldest first.
pub(crate) struct Deliveries {
    shared: Arc<Shared>,
    /// `topic/partition`, for logs.
    source: String,
    pending: VecDeque<JoinHandle<Result<(), String>>>,
}

impl Deliveries {
    pub(crate) fn new(shared: Arc<Shared>, source: String) -> Self {
        Self { shared, source, pending: VecDeque::new() }
    }

    /// Nothing waits for an ack.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Sends a record (to be retried until acknowledged); first waits while the partition
    /// has [`MAX_UNDELIVERED`] records unacknowledged.
    pub(crate) fn send(
        &mut self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        ack: Ack,
    ) -> Result<(), RunError> {
        self.prune()?;
        if self.pending.len() >= MAX_UNDELIVERED {
            self.wait_until(MAX_UNDELIVERED - 1)?;
        }
        let sent = self.shared.send(topic, key, payload, headers)?;
        self.shared.metrics.undelivered.inc();
        let shared = self.shared.clone();
        self.pending.push_back(self.shared.rt.spawn(deliver(shared, sent, ack)));
        Ok(())
    }

    /// Waits until every record sent so far is acknowledged (a checkpoint's first step).
    pub(crate) fn wait_all(&mut self) -> Result<(), RunError> {
        self.wait_until(0)
    }

    /// Drops the acknowledged records at the front; fails on a record that cannot be delivered.
    fn prune(&mut self) -> Result<(), RunError> {
        while self.pending.front().is_some_and(JoinHandle::is_finished) {
            if let Some(h) = self.pending.pop_front() {
                outcome(self.shared.rt.block_on(h))?;
            }
        }
        Ok(())
    }

    /// Waits until at most `left` records are unacknowledged.
    fn wait_until(&mut self, left: usize) -> Result<(), RunError> {
        let started = Instant::now();
        let mut warned = false;
        while self.pending.len() > left {
            let Some(front) = self.pending.front_mut() else { break };
            // The timer is made inside the runtime (this is a worker thread, not one of its).
            match self.shared.rt.block_on(async { tokio::time::timeout(WARN_AFTER, front).await }) {
                Ok(r) => {
                    self.pending.pop_front();
                    outcome(r)?;
                }
                Err(_) if !warned => {
                    warned = true;
                    tracing::warn!(
                        source = %self.source,
                        undelivered = self.pending.len(),
                        waited_seconds = started.elapsed().as_secs_f64(),
                        "findings or dead letters not acknowledged yet: this partition waits (its consumption pauses, nothing is committed past them)"
                    );
                }
                Err(_) => {}
            }
        }
        if warned {
            tracing::info!(source = %self.source, waited_seconds = started.elapsed().as_secs_f64(), "acknowledged again: this partition goes on");
        }
        Ok(())
    }
}

/// A delivery task's result as the worker's.
fn outcome(r: Result<Result<(), String>, tokio::task::JoinError>) -> Result<(), RunError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RunError::Worker(e)),
        Err(e) => Err(RunError::Worker(format!("delivery task: {e}"))),
    }
}

/// Waits for the ack of a record, sending it again after retriable errors.
async fn deliver(shared: Arc<Shared>, first: Sent, ack: Ack) -> Result<(), String> {
    let output = ack.output();
    let mut result = match first {
        Sent::Queued(f) => match f.await {
            Ok(r) => r,
            Err(_) => {
                shared.metrics.undelivered.dec();
                return Err(format!("{output}: not delivered, the producer closed"));
            }
        },
        Sent::Refused(e, msg) => Err((e, msg)),
    };
    let mut attempt = 0u32;
    loop {
        match result {
            Ok(_) => {
                shared.metrics.undelivered.dec();
                shared.faults.up(Client::Producer);
                match &ack {
                    Ack::Finding { arrival, rule, severity } => shared.metrics.finding_acked(*arrival, rule, severity),
                    Ack::Dead { kind } => {
                        shared.metrics.dead_letters.get_or_create(&vec![("kind", kind.to_string())]).inc();
                    }
                }
                if attempt > 0 && shared.faults.recovery_logged.due() {
                    tracing::info!(
                        output,
                        attempts = attempt + 1,
                        "delivered after retrying (logged at most every 10 s)"
                    );
                }
                return Ok(());
            }
            Err((e, msg)) => {
                let fatal = shared.producer.client().fatal_error();
                if !faults::retriable(&e) || fatal.is_some() {
                    shared.metrics.undelivered.dec();
                    let why = match fatal {
                        Some((code, reason)) => format!("{e} (producer fatal error {code:?}: {reason})"),
                        None => e.to_string(),
                    };
                    tracing::error!(output, error = %why, topic = %msg.topic(), "not delivered and not retriable");
                    return Err(format!("{output}: not delivered: {why}"));
                }
                attempt += 1;
                let name = faults::error_name(&e);
                shared
                    .metrics
                    .delivery_retries
                    .get_or_create(&vec![("output", output.to_string()), ("error", name.clone())])
                    .inc();
                let wait = faults::backoff(attempt);
                if shared.faults.retry_logged.due() {
                    tracing::warn!(output, error = %name, topic = %msg.topic(), attempt, retry_in_ms = wait.as_millis() as u64, undelivered = shared.metrics.undelivered.get(), "delivery failed; sending again (logged at most every 10 s, see trailhound_delivery_retries_total)");
                } else {
                    tracing::debug!(output, error = %name, topic = %msg.topic(), attempt, "delivery failed; sending again");
                }
                tokio::time::sleep(wait).await;
                result = resend(&shared, &msg).await;
            }
        }
    }
}

/// Sends a record that came back with an error again, as it was.
async fn resend(shared: &Shared, msg: &OwnedMessage) -> rdkafka::producer::future_producer::OwnedDeliveryResult {
    let record: FutureRecord<'_, [u8], [u8]> = FutureRecord {
        topic: msg.topic(),
        partition: None,
        payload: msg.payload(),
        key: msg.key(),
        timestamp: None,
        headers: msg.headers().cloned(),
    };
    shared.producer.send(record, Timeout::Never).await
}
