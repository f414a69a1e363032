//! The production runtime, `trailhound run`: a Kafka consumer group in, findings and dead
//! letters out, at-least-once, with detection state checkpointed alongside the offsets.
//!
//! This crate owns the Kafka side (consumer, rebalances, producer, topics), the partition
//! workers, checkpoints, graceful shutdown and the operations endpoint. Parsing, detection and
//! the Parquet lake are the same crates `trailhound replay` uses.
//!
//! # Data flow
//! ```text
//! consumer task (tokio) ──bounded──▶ partition: parse thread ──bounded──▶ detect thread
//!     rdkafka StreamConsumer           gunzip → parse → Arrow      Engine → findings
//!     rebalance callback                                           ├─▶ findings topic (OCSF JSON, acks=all, idempotent)
//!                                                                  ├─▶ Parquet (per-partition writer)
//!                                                                  └─▶ dead-letter topic (original bytes + source offset)
//! ```
//! A full channel stops the stage before it (backpressure), so a slow worker or broker slows
//! consumption instead of growing memory. Parse and detect of one partition run on two threads,
//! so a partition that carries most of the traffic (one big account) uses two cores.
//!
//! # Delivery and state
//! Each input partition has its own engine: detection state is **per partition**, and is
//! checkpointed with the partition's offset ([`checkpoint`]). A checkpoint first detects what
//! the parser holds, waits for the broker's acks of every finding and dead letter produced so
//! far, makes the Parquet files durable, writes the engine snapshot with the offset, and only
//! then commits the offset. A crash replays from the last checkpoint with the state as it was
//! there, so a sequence half seen before a crash completes after it; findings replayed keep
//! their deterministic uids (duplicates a consumer can drop).
//!
//! Because state follows the partition, events of one actor must reach one partition to be
//! judged together: key the input topic by account (or actor). An actor whose events are
//! spread over partitions is judged per partition (windows split, thresholds met later or not
//! at all). A re-keying stage is the scaling issue's job.

mod checkpoint;
mod delivery;
mod faults;
pub mod metrics;
mod run;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::TopicPartitionList;
use trailhound_pipeline::Config;

pub use checkpoint::{Checkpoint, CheckpointError, Store};
pub use faults::ProducerCtx;
pub use metrics::{LatencySummary, Metrics};
pub use run::{client_config, run, RunSummary, Shutdown};

/// Errors that stop `trailhound run`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Kafka client error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// The engine failed.
    #[error(transparent)]
    Detect(#[from] trailhound_detect::DetectError),
    /// The Parquet lake failed.
    #[error(transparent)]
    Lake(#[from] trailhound_lake::LakeError),
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A partition worker failed (delivery, encoding).
    #[error("partition worker: {0}")]
    Worker(String),
    /// Draining on shutdown took longer than `run.shutdown_timeout`.
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimeout(Duration),
    /// I/O (the metrics listener, directories).
    #[error("{0}")]
    Io(String),
}

/// What the workers share: configuration, producer, checkpoint store, metrics.
pub struct Shared {
    cfg: Config,
    producer: FutureProducer<ProducerCtx>,
    store: Store,
    metrics: Arc<Metrics>,
    faults: Arc<faults::Faults>,
    rt: tokio::runtime::Handle,
    findings_dir: PathBuf,
    consumer: OnceLock<Weak<StreamConsumer<run::Ctx>>>,
    /// The offset the group coordinator last accepted per (topic, partition).
    committed: Mutex<HashMap<(String, i32), i64>>,
}

/// A record handed to the producer.
pub(crate) enum Sent {
    /// Queued: its delivery report will tell.
    Queued(DeliveryFuture),
    /// Refused at once with an error a later attempt may not get (librdkafka refuses records
    /// for a topic it found missing, until its metadata shows the topic): sent again like a
    /// record whose delivery failed.
    Refused(KafkaError, OwnedMessage),
}

impl Shared {
    /// Enqueues a record, waiting while the producer's queue is full. Fails only on an error
    /// no retry fixes (see [`faults::retriable`]).
    fn send(&self, topic: &str, key: &[u8], payload: &[u8], headers: OwnedHeaders) -> Result<Sent, RunError> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload).headers(headers);
        loop {
            match self.producer.send_result(record) {
                Ok(f) => return Ok(Sent::Queued(f)),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, r)) if faults::retriable(&e) => {
                    let msg = OwnedMessage::new(
                        r.payload.map(<[u8]>::to_vec),
                        r.key.map(<[u8]>::to_vec),
                        r.topic.to_string(),
                        Timestamp::NotAvailable,
                        r.partition.unwrap_or(-1),
                        -1,
                        r.headers,
                    );
                    return Ok(Sent::Refused(e, msg));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// The offset the coordinator last accepted for a partition (from the commit callback).
    fn committed(&self, topic: &str, partition: i32) -> Option<i64> {
        self.committed.lock().ok()?.get(&(topic.to_string(), partition)).copied()
    }

    /// Commits offsets through the group's consumer.
    fn commit(&self, tpl: &TopicPartitionList, mode: CommitMode) -> Result<(), RunError> {
        match self.consumer.get().and_then(Weak::upgrade) {
            Some(c) => Ok(c.commit(tpl, mode)?),
            None => Err(RunError::Worker("the consumer is gone".into())),
        }
    }
}
