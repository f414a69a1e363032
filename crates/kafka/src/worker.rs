//! One input partition's worker: two threads joined by a bounded channel, so the busiest
//! partition uses two cores instead of one.
//!
//! - The **parse** thread receives the partition's messages in offset order, gunzips and
//!   parses them into Arrow batches, decides when pending rows are detected (a full batch,
//!   `run.idle_flush`, `run.max_batch_delay`) and when to checkpoint.
//! - The **detect** thread owns the engine, the Parquet writer and the deliveries: it detects
//!   each batch, publishes findings and dead letters, and runs checkpoints.
//!
//! Everything travels in one ordered channel ([`Stage`]), so when the detect thread reaches a
//! checkpoint for `next_offset`, every row before it has been detected. A checkpoint (every
//! `run.checkpoint_interval`, on revoke and on shutdown) then makes everything before
//! `next_offset` safe before anything is committed: every finding and dead letter produced so
//! far is acknowledged by the broker, the Parquet files are durable, and the engine state is
//! written with that offset.

use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use rdkafka::consumer::CommitMode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use trailhound_detect::state::Tier;
use trailhound_detect::Engine;
use trailhound_lake::{FindingsWriter, WriterOptions};
use trailhound_model::escape::Escaped;
use trailhound_model::Finding;
use trailhound_parse::{DeadLetter, DeadReason, ParseSink, Parser};

use crate::checkpoint::Checkpoint;
use crate::delivery::{Ack, Deliveries};
use crate::{RunError, Shared};

/// Batches in flight between a partition's parse and detect threads (each up to
/// `parse.batch_rows` rows).
const STAGE_QUEUE: usize = 4;

/// A message handed from the consumer to a partition worker.
pub struct Message {
    /// Offset in the partition.
    pub offset: i64,
    /// Bytes (`None` for a null value).
    pub payload: Option<Vec<u8>>,
    /// The message timestamp (ms), when it has one.
    pub timestamp: Option<i64>,
    /// When the consumer received it.
    pub arrival: Instant,
}

/// What the consumer tells a worker.
pub enum Command {
    /// Process a message.
    Message(Message),
    /// Checkpoint and stop; reply with the offset to commit (the caller commits it).
    Stop(flume::Sender<Result<i64, RunError>>),
}

/// What the parse thread hands the detect thread, in offset order.
enum Stage {
    /// Rows to detect; the oldest of their messages arrived at the instant.
    Batch(RecordBatch, Instant),
    /// A record that could not be parsed, from the message at `offset`.
    Dead { offset: i64, dead: DeadLetter, encoding: Option<&'static str> },
    /// Every row before `next` has been handed over: make it safe and checkpoint. Without
    /// `reply` the detect thread commits the offset asynchronously; with it, it replies with
    /// the offset and the one who asked commits it.
    Checkpoint { next: Option<i64>, reply: Option<flume::Sender<Result<i64, RunError>>> },
}

/// Batches and dead letters of one `parse_document` call.
#[derive(Default)]
struct Collected {
    batches: Vec<RecordBatch>,
    dead: Vec<DeadLetter>,
}

impl ParseSink for Collected {
    fn batch(&mut self, batch: RecordBatch) {
        self.batches.push(batch);
    }
    fn dead(&mut self, dead: DeadLetter) {
        self.dead.push(dead);
    }
}

/// The worker of one partition (its parse side; it starts the detect side).
pub struct Worker {
    shared: Arc<Shared>,
    source: String,
    parser: Parser,
    /// Offset after the last message handed to the parser.
    next_offset: Option<i64>,
    /// Earliest arrival among the rows the parser holds.
    batch_arrival: Option<Instant>,
    /// Since when the parser holds rows (bounded by `run.max_batch_delay`).
    holding_since: Option<Instant>,
    last_checkpoint: Instant,
    tx: flume::Sender<Stage>,
    detector: Option<ThreadHandle<Result<(), RunError>>>,
}

impl Worker {
    /// A worker starting from `engine` (restored or fresh); `start` is the checkpoint's offset.
    /// Starts the partition's detect thread.
    pub fn new(
        shared: Arc<Shared>,
        topic: &str,
        partition: i32,
        engine: Engine,
        start: Option<i64>,
    ) -> Result<Self, RunError> {
        let detector = Detector::new(shared.clone(), topic, partition, engine, start)?;
        let (tx, rx) = flume::bounded(STAGE_QUEUE);
        let handle = std::thread::Builder::new()
            .name(format!("th-d{partition}"))
            .spawn(move || detector.run(rx))
            .map_err(|e| RunError::Io(format!("cannot start a detect thread: {e}")))?;
        Ok(Self {
            parser: Parser::new(shared.cfg.parse.clone()),
            source: format!("{topic}/{partition}"),
            next_offset: start,
            batch_arrival: None,
            holding_since: None,
            last_checkpoint: Instant::now(),
            tx,
            detector: Some(handle),
            shared,
        })
    }

    /// Runs until told to stop or the channel closes (then the detect thread finishes what it
    /// was handed and stops too).
    pub fn run(mut self, rx: flume::Receiver<Command>) -> Result<(), RunError> {
        let idle = self.shared.cfg.run.idle_flush;
        let interval = self.shared.cfg.run.checkpoint_interval;
        loop {
            let wait = if self.parser.pending() { idle } else { interval.min(Duration::from_millis(200)) };
            match rx.recv_timeout(wait) {
                // A partition that is behind (more messages queued) fills whole batches to
                // catch up; one that keeps up has its rows detected within max_batch_delay.
                Ok(Command::Message(m)) => self.message(m, !rx.is_empty())?,
                Ok(Command::Stop(reply)) => {
                    self.checkpoint(Some(reply))?;
                    return self.join();
                }
                Err(flume::RecvTimeoutError::Timeout) => {
                    if self.detector.as_ref().is_some_and(|h| h.is_finished()) {
                        return self.join();
                    }
                    self.flush_parser()?;
                    if self.last_checkpoint.elapsed() >= interval {
                        self.checkpoint(None)?;
                    }
                }
                Err(flume::RecvTimeoutError::Disconnected) => return self.join(),
            }
        }
    }

    /// Closes the stage channel and waits for the detect thread; its error is the worker's.
    fn join(&mut self) -> Result<(), RunError> {
        let (tx, _) = flume::bounded(1);
        drop(std::mem::replace(&mut self.tx, tx));
        match self.detector.take().map(ThreadHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(RunError::Worker("the detect thread panicked".into())),
            None => Ok(()),
        }
    }

    /// Hands `stage` to the detect thread; if it has stopped, returns why.
    fn forward(&mut self, stage: Stage) -> Result<(), RunError> {
        if let Err(flume::SendError(stage)) = self.tx.send(stage) {
            let err = self.join().err().unwrap_or_else(|| RunError::Worker("the detect thread stopped".into()));
            if let Stage::Checkpoint { reply: Some(reply), .. } = stage {
                let _ = reply.send(Err(RunError::Worker(err.to_string())));
            }
            return Err(err);
        }
        Ok(())
    }

    /// Detects what the parser holds, then asks for a checkpoint at the next offset (see
    /// [`Stage::Checkpoint`] for `reply`).
    fn checkpoint(&mut self, reply: Option<flume::Sender<Result<i64, RunError>>>) -> Result<(), RunError> {
        self.last_checkpoint = Instant::now();
        self.flush_parser()?;
        let next = self.next_offset;
        self.forward(Stage::Checkpoint { next, reply })
    }

    fn message(&mut self, m: Message, behind: bool) -> Result<(), RunError> {
        let bytes = m.payload.as_ref().map_or(0, Vec::len);
        self.shared.metrics.arrived(m.arrival, bytes);
        let mut out = Collected::default();
        let offset = m.offset;
        let position = u64::try_from(offset).unwrap_or(0);
        // The compressed message, kept so a document rejected whole is dead-lettered as it came.
        let mut gzipped = None;
        // A gzip message that could not be decompressed (corrupt, a bomb): its dead letter is
        // the message as it came, compressed.
        let mut undecompressed = false;
        match m.payload {
            None => self.parser.reject(&mut out, &self.source, position, DeadReason::Empty, Vec::new()),
            Some(p) if p.is_empty() => self.parser.reject(&mut out, &self.source, position, DeadReason::Empty, p),
            Some(p) if p.starts_with(&[0x1f, 0x8b]) => match trailhound_parse::read::gunzip(&p, &self.shared.cfg.parse)
            {
                Ok(doc) => {
                    self.parser.parse_document(&doc, &self.source, position, m.timestamp, &mut out);
                    gzipped = Some(p);
                }
                Err(reason) => {
                    undecompressed = true;
                    self.parser.reject(&mut out, &self.source, position, reason, p)
                }
            },
            Some(p) => self.parser.parse_document(&p, &self.source, position, m.timestamp, &mut out),
        }
        self.next_offset = Some(offset + 1);
        for mut dead in out.dead {
            // A whole gzip document that failed (too large, invalid JSON) goes out as the
            // original compressed message; a bad record inside a delivery file as its own bytes.
            let whole = !dead.source.contains('#');
            let encoding = match (&gzipped, whole) {
                (Some(orig), true) => {
                    dead.raw = orig.clone();
                    Some("gzip")
                }
                (None, true) if undecompressed => Some("gzip"),
                _ => None,
            };
            self.forward(Stage::Dead { offset, dead, encoding })?;
        }
        // The first batch out holds the oldest rows the parser had; later ones, and the rows it
        // still holds, came with this message.
        let mut arrival = self.batch_arrival.take().unwrap_or(m.arrival);
        for b in out.batches {
            self.forward(Stage::Batch(b, arrival))?;
            arrival = m.arrival;
        }
        if self.parser.pending() {
            self.batch_arrival = Some(arrival);
            // Bounds the delay batching adds (not the time the message queued before it came
            // here) while the partition keeps up; a partition that is behind fills whole
            // batches, which drains its queue faster than small ones would.
            let since = *self.holding_since.get_or_insert_with(Instant::now);
            if !behind && since.elapsed() >= self.shared.cfg.run.max_batch_delay {
                self.flush_parser()?;
            }
        } else {
            self.holding_since = None;
        }
        if self.last_checkpoint.elapsed() >= self.shared.cfg.run.checkpoint_interval {
            self.checkpoint(None)?;
        }
        Ok(())
    }

    fn flush_parser(&mut self) -> Result<(), RunError> {
        if !self.parser.pending() {
            return Ok(());
        }
        let mut out = Collected::default();
        self.parser.flush(&mut out);
        self.holding_since = None;
        let arrival = self.batch_arrival.take().unwrap_or_else(Instant::now);
        for b in out.batches {
            self.forward(Stage::Batch(b, arrival))?;
        }
        Ok(())
    }
}

/// The engine's eviction counters, in [`Tier::ALL`] order.
fn evicted(engine: &Engine) -> [u64; 4] {
    let s = engine.stats();
    [s.evicted_long_term, s.evicted_dormant, s.evicted_active, s.evicted_armed]
}

/// A partition's detect side: engine, Parquet writer, deliveries, checkpoints.
struct Detector {
    shared: Arc<Shared>,
    topic: String,
    partition: i32,
    engine: Engine,
    parquet: FindingsWriter,
    /// Findings and dead letters sent and not yet acknowledged.
    pending: Deliveries,
    /// Offset of the last checkpoint.
    checkpointed: Option<i64>,
    late_seen: u64,
    /// The engine's eviction counters already counted in the metrics ([`Tier::ALL`] order).
    evicted_seen: [u64; 4],
}

impl Detector {
    fn new(
        shared: Arc<Shared>,
        topic: &str,
        partition: i32,
        engine: Engine,
        start: Option<i64>,
    ) -> Result<Self, RunError> {
        let millis =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let safe_topic: String =
            topic.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') { c } else { '_' }).collect();
        let opts = WriterOptions {
            max_rows_per_file: shared.cfg.output.max_rows_per_file,
            run_id: format!("{millis}-{}-{safe_topic}-{partition}", std::process::id()),
            ..Default::default()
        };
        let parquet = FindingsWriter::new(shared.findings_dir.clone(), opts)?;
        let late_seen = engine.stats().late_events;
        let evicted_seen = evicted(&engine);
        Ok(Self {
            topic: topic.to_string(),
            partition,
            engine,
            parquet,
            pending: Deliveries::new(shared.clone(), format!("{topic}/{partition}")),
            checkpointed: start,
            late_seen,
            evicted_seen,
            shared,
        })
    }

    /// Works through the stages until the parse side closes the channel or something fails.
    fn run(mut self, rx: flume::Receiver<Stage>) -> Result<(), RunError> {
        while let Ok(stage) = rx.recv() {
            match stage {
                Stage::Batch(b, arrival) => self.detect(&b, arrival)?,
                Stage::Dead { offset, dead, encoding } => self.dead_letter(offset, dead, encoding)?,
                Stage::Checkpoint { next, reply: None } => {
                    self.checkpoint(next, true)?;
                }
                Stage::Checkpoint { next, reply: Some(reply) } => {
                    let r = self.checkpoint(next, false);
                    let failed = r.as_ref().err().map(|e| RunError::Worker(e.to_string()));
                    let _ = reply.send(r);
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Detects over `batch`, whose oldest message arrived at `arrival`.
    fn detect(&mut self, batch: &RecordBatch, arrival: Instant) -> Result<(), RunError> {
        // The host's clock bounds how far ahead an event may be dated; each row's message
        // timestamp (received_time) bounds it too. Rules never see either.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok();
        self.engine.set_now(now.and_then(|d| i64::try_from(d.as_millis()).ok()));
        let found = self.engine.process(batch)?;
        for r in self.engine.take_rejected() {
            trailhound_pipeline::rejected::warn(&r);
            let d = trailhound_pipeline::rejected::dead_letter(&r);
            let offset = i64::try_from(d.position).unwrap_or(-1);
            self.dead_letter(offset, d, None)?;
        }
        let m = &self.shared.metrics;
        m.processed(arrival, batch.num_rows());
        let late = self.engine.stats().late_events;
        m.late_events.inc_by(late.saturating_sub(self.late_seen));
        self.late_seen = late;
        let labels = vec![("topic", self.topic.clone()), ("partition", self.partition.to_string())];
        m.state_bytes.get_or_create(&labels).set(i64::try_from(self.engine.stats().state_bytes).unwrap_or(i64::MAX));
        let evicted = evicted(&self.engine);
        for ((tier, now), seen) in Tier::ALL.into_iter().zip(evicted).zip(self.evicted_seen) {
            m.evicted(tier.name(), now.saturating_sub(seen));
        }
        self.evicted_seen = evicted;
        for f in &found {
            self.publish(f, arrival)?;
        }
        Ok(())
    }

    fn publish(&mut self, f: &Finding, arrival: Instant) -> Result<(), RunError> {
        // Uids, rule ids and actor keys derive from the events: escaped.
        tracing::info!(uid = %Escaped(&f.uid), rule = %Escaped(&f.rule_id), severity = %f.severity, actor = %Escaped(&f.actor_key), revision = f.revision, partition = self.partition, "finding");
        self.parquet.write(f);
        let payload = serde_json::to_vec(&f.to_ocsf()).map_err(|e| RunError::Worker(format!("OCSF encoding: {e}")))?;
        let headers = OwnedHeaders::new()
            .insert(Header { key: "rule_id", value: Some(f.rule_id.as_str()) })
            .insert(Header { key: "severity", value: Some(f.severity.as_str()) })
            .insert(Header { key: "finding_uid", value: Some(f.uid.as_str()) });
        let ack = Ack::Finding { arrival, rule: f.rule_id.clone(), severity: f.severity.as_str().to_string() };
        self.pending.send(&self.shared.cfg.kafka.findings_topic, f.actor_key.as_bytes(), &payload, headers, ack)
    }

    fn dead_letter(&mut self, offset: i64, d: DeadLetter, encoding: Option<&str>) -> Result<(), RunError> {
        let kind = d.reason.code();
        self.shared.metrics.parse_errors.get_or_create(&vec![("kind", kind.to_string())]).inc();
        tracing::warn!(topic = %self.topic, partition = self.partition, offset, record = %Escaped(&d.source), kind, reason = %Escaped(&d.reason), bytes = d.raw.len(), "dead letter");
        let (partition, off, reason) = (self.partition.to_string(), offset.to_string(), d.reason.to_string());
        let headers = OwnedHeaders::new()
            .insert(Header { key: "source_topic", value: Some(self.topic.as_str()) })
            .insert(Header { key: "source_partition", value: Some(partition.as_str()) })
            .insert(Header { key: "source_offset", value: Some(off.as_str()) })
            .insert(Header { key: "record", value: Some(d.source.as_str()) })
            .insert(Header { key: "error_kind", value: Some(kind) })
            .insert(Header { key: "error", value: Some(reason.as_str()) })
            .insert(Header { key: "content_encoding", value: Some(encoding.unwrap_or("identity")) });
        let key = format!("{}/{}/{}", self.topic, self.partition, offset);
        self.pending.send(&self.shared.cfg.kafka.dead_letter_topic, key.as_bytes(), &d.raw, headers, Ack::Dead { kind })
    }

    /// Makes everything before `next` safe (every row before it was detected: the stages come
    /// in order), writes the state, and commits asynchronously when `commit`. Returns the
    /// offset to commit (-1: nothing consumed yet).
    fn checkpoint(&mut self, next: Option<i64>, commit: bool) -> Result<i64, RunError> {
        let Some(next) = next else {
            return Ok(-1);
        };
        if self.checkpointed == Some(next) && self.pending.is_empty() {
            // Nothing new; an asynchronous commit the coordinator did not take (it was
            // unreachable) is made again.
            if commit && self.shared.committed(&self.topic, self.partition) != Some(next) {
                self.commit(next)?;
            }
            return Ok(next);
        }
        let started = Instant::now();
        // Nothing is made durable or committed past a record not yet acknowledged: this waits
        // (retrying) while the broker or the output topic is unavailable.
        self.pending.wait_all()?;
        let acked = started.elapsed();
        self.parquet.flush()?;
        let flushed = started.elapsed();
        let engine = self.engine.snapshot()?;
        let encoded = started.elapsed();
        let state_bytes = engine.len();
        self.shared.store.save(&Checkpoint {
            topic: self.topic.clone(),
            partition: self.partition,
            next_offset: next,
            engine,
        })?;
        let written = started.elapsed();
        self.checkpointed = Some(next);
        if commit {
            self.commit(next)?;
        }
        let m = &self.shared.metrics;
        m.checkpoints.inc();
        m.checkpoint_seconds.observe(started.elapsed().as_secs_f64());
        let labels = vec![("topic", self.topic.clone()), ("partition", self.partition.to_string())];
        m.state_entries.get_or_create(&labels).set(self.engine.state_size() as i64);
        // Where a checkpoint's time goes, in phases: waiting for the broker's acks, making the
        // Parquet files durable, encoding the state, writing it durably.
        tracing::debug!(
            topic = %self.topic,
            partition = self.partition,
            next_offset = next,
            state_bytes,
            seconds = started.elapsed().as_secs_f64(),
            acks_seconds = acked.as_secs_f64(),
            parquet_seconds = (flushed - acked).as_secs_f64(),
            encode_seconds = (encoded - flushed).as_secs_f64(),
            write_seconds = (written - encoded).as_secs_f64(),
            "checkpoint"
        );
        Ok(next)
    }

    /// Commits `next` asynchronously (the commit callback records whether it was accepted).
    fn commit(&self, next: i64) -> Result<(), RunError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(next))?;
        self.shared.commit(&tpl, CommitMode::Async)
    }
}
