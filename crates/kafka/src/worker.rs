//! One input partition's worker: its own parser, detection engine and Parquet writer, fed
//! messages in offset order over a bounded channel, on a thread of its own.
//!
//! A checkpoint (every `run.checkpoint_interval`, on revoke and on shutdown) makes everything
//! before `next_offset` safe before anything is committed: the parser's pending rows are
//! detected, every finding and dead letter produced so far is acknowledged by the broker,
//! the Parquet files are durable, and the engine state is written with that offset.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use rdkafka::consumer::CommitMode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use trailhound_detect::Engine;
use trailhound_lake::{FindingsWriter, WriterOptions};
use trailhound_model::Finding;
use trailhound_parse::{DeadLetter, DeadReason, ParseSink, Parser};

use crate::checkpoint::Checkpoint;
use crate::{RunError, Shared};

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

/// The worker of one partition.
pub struct Worker {
    shared: Arc<Shared>,
    topic: String,
    partition: i32,
    source: String,
    engine: Engine,
    parser: Parser,
    parquet: FindingsWriter,
    /// Deliveries not yet known to be acknowledged.
    pending: Vec<JoinHandle<Result<(), String>>>,
    /// Offset after the last message handed to the parser.
    next_offset: Option<i64>,
    /// Offset of the last checkpoint.
    checkpointed: Option<i64>,
    /// Earliest arrival among the rows the parser holds.
    batch_arrival: Option<Instant>,
    late_seen: u64,
    last_checkpoint: Instant,
}

impl Worker {
    /// A worker starting from `engine` (restored or fresh); `start` is the checkpoint's offset.
    pub fn new(
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
        Ok(Self {
            parser: Parser::new(shared.cfg.parse.clone()),
            source: format!("{topic}/{partition}"),
            topic: topic.to_string(),
            partition,
            engine,
            parquet,
            pending: Vec::new(),
            next_offset: start,
            checkpointed: start,
            batch_arrival: None,
            late_seen,
            last_checkpoint: Instant::now(),
            shared,
        })
    }

    /// Runs until told to stop or the channel closes.
    pub fn run(mut self, rx: flume::Receiver<Command>) -> Result<(), RunError> {
        let idle = self.shared.cfg.run.idle_flush;
        let interval = self.shared.cfg.run.checkpoint_interval;
        loop {
            let wait = if self.parser.pending() { idle } else { interval.min(Duration::from_millis(200)) };
            match rx.recv_timeout(wait) {
                Ok(Command::Message(m)) => self.message(m)?,
                Ok(Command::Stop(reply)) => {
                    let r = self.checkpoint(None);
                    let failed = r.as_ref().err().map(|e| e.to_string());
                    let _ = reply.send(r);
                    return match failed {
                        Some(e) => Err(RunError::Worker(e)),
                        None => Ok(()),
                    };
                }
                Err(flume::RecvTimeoutError::Timeout) => {
                    self.flush_parser()?;
                    if self.last_checkpoint.elapsed() >= interval {
                        self.checkpoint(Some(CommitMode::Async))?;
                    }
                }
                Err(flume::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    fn message(&mut self, m: Message) -> Result<(), RunError> {
        let bytes = m.payload.as_ref().map_or(0, Vec::len);
        self.shared.metrics.arrived(m.arrival, bytes);
        let mut out = Collected::default();
        let offset = m.offset;
        let position = u64::try_from(offset).unwrap_or(0);
        // The compressed message, kept so a document rejected whole is dead-lettered as it came.
        let mut gzipped = None;
        match m.payload {
            None => self.parser.reject(&mut out, &self.source, position, DeadReason::Empty, Vec::new()),
            Some(p) if p.is_empty() => self.parser.reject(&mut out, &self.source, position, DeadReason::Empty, p),
            Some(p) if p.starts_with(&[0x1f, 0x8b]) => match self.gunzip(&p) {
                Ok(doc) => {
                    self.parser.parse_document(&doc, &self.source, position, m.timestamp, &mut out);
                    gzipped = Some(p);
                }
                Err(reason) => self.parser.reject(&mut out, &self.source, position, reason, p),
            },
            Some(p) => self.parser.parse_document(&p, &self.source, position, m.timestamp, &mut out),
        }
        self.next_offset = Some(offset + 1);
        for mut d in out.dead {
            // A whole gzip document that failed (too large, invalid JSON) goes out as the
            // original compressed message; a bad record inside a delivery file as its own bytes.
            let whole = !d.source.contains('#');
            let encoding = match (&gzipped, whole) {
                (Some(orig), true) => {
                    d.raw = orig.clone();
                    Some("gzip")
                }
                _ => None,
            };
            self.dead_letter(offset, d, encoding)?;
        }
        // The first batch out holds the oldest rows the parser had; later ones, and the rows it
        // still holds, came with this message.
        let mut arrival = self.batch_arrival.take().unwrap_or(m.arrival);
        for b in out.batches {
            self.detect(&b, arrival)?;
            arrival = m.arrival;
        }
        if self.parser.pending() {
            self.batch_arrival = Some(arrival);
            if arrival.elapsed() >= self.shared.cfg.run.max_batch_delay {
                self.flush_parser()?;
            }
        }
        if self.last_checkpoint.elapsed() >= self.shared.cfg.run.checkpoint_interval {
            self.checkpoint(Some(CommitMode::Async))?;
        }
        Ok(())
    }

    fn gunzip(&self, p: &[u8]) -> Result<Vec<u8>, DeadReason> {
        let limit = self.shared.cfg.parse.max_document_bytes as u64;
        let mut doc = Vec::with_capacity(p.len() * 8);
        flate2::read::MultiGzDecoder::new(p)
            .take(limit + 1)
            .read_to_end(&mut doc)
            .map_err(|e| DeadReason::Compression(format!("gzip: {e}")))?;
        if doc.len() as u64 > limit {
            return Err(DeadReason::TooLarge { bytes: doc.len(), max_bytes: limit as usize });
        }
        Ok(doc)
    }

    fn flush_parser(&mut self) -> Result<(), RunError> {
        if !self.parser.pending() {
            return Ok(());
        }
        let mut out = Collected::default();
        self.parser.flush(&mut out);
        let arrival = self.batch_arrival.take().unwrap_or_else(Instant::now);
        for b in out.batches {
            self.detect(&b, arrival)?;
        }
        Ok(())
    }

    /// Detects over `batch`, whose oldest message arrived at `arrival`.
    fn detect(&mut self, batch: &RecordBatch, arrival: Instant) -> Result<(), RunError> {
        let found = self.engine.process(batch)?;
        let m = &self.shared.metrics;
        m.processed(arrival, batch.num_rows());
        let late = self.engine.stats().late_events;
        m.late_events.inc_by(late.saturating_sub(self.late_seen));
        self.late_seen = late;
        for f in &found {
            self.publish(f, arrival)?;
        }
        Ok(())
    }

    fn publish(&mut self, f: &Finding, arrival: Instant) -> Result<(), RunError> {
        tracing::info!(uid = %f.uid, rule = %f.rule_id, severity = %f.severity, actor = %f.actor_key, revision = f.revision, partition = self.partition, "finding");
        self.parquet.write(f);
        let payload = serde_json::to_vec(&f.to_ocsf()).map_err(|e| RunError::Worker(format!("OCSF encoding: {e}")))?;
        let headers = OwnedHeaders::new()
            .insert(Header { key: "rule_id", value: Some(f.rule_id.as_str()) })
            .insert(Header { key: "severity", value: Some(f.severity.as_str()) })
            .insert(Header { key: "finding_uid", value: Some(f.uid.as_str()) });
        let shared = self.shared.clone();
        let fut = self.shared.send(&self.shared.cfg.kafka.findings_topic, f.actor_key.as_bytes(), &payload, headers)?;
        let (rule, severity) = (f.rule_id.clone(), f.severity.as_str().to_string());
        self.pending.push(self.shared.rt.spawn(async move {
            match fut.await {
                Ok(Ok(_)) => {
                    shared.metrics.finding_acked(arrival, &rule, &severity);
                    Ok(())
                }
                Ok(Err((e, _))) => Err(format!("finding not delivered: {e}")),
                Err(_) => Err("finding not delivered: producer closed".to_string()),
            }
        }));
        Ok(())
    }

    fn dead_letter(&mut self, offset: i64, d: DeadLetter, encoding: Option<&str>) -> Result<(), RunError> {
        let kind = d.reason.code();
        self.shared.metrics.parse_errors.get_or_create(&vec![("kind", kind.to_string())]).inc();
        tracing::warn!(topic = %self.topic, partition = self.partition, offset, record = %d.source, kind, reason = %d.reason, bytes = d.raw.len(), "dead letter");
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
        let fut = self.shared.send(&self.shared.cfg.kafka.dead_letter_topic, key.as_bytes(), &d.raw, headers)?;
        let shared = self.shared.clone();
        self.pending.push(self.shared.rt.spawn(async move {
            match fut.await {
                Ok(Ok(_)) => {
                    shared.metrics.dead_letters.get_or_create(&vec![("kind", kind.to_string())]).inc();
                    Ok(())
                }
                Ok(Err((e, _))) => Err(format!("dead letter not delivered: {e}")),
                Err(_) => Err("dead letter not delivered: producer closed".to_string()),
            }
        }));
        Ok(())
    }

    /// Makes everything before `next_offset` safe, writes the state, and commits with `mode`
    /// (`None`: the caller commits the returned offset).
    fn checkpoint(&mut self, mode: Option<CommitMode>) -> Result<i64, RunError> {
        self.last_checkpoint = Instant::now();
        self.flush_parser()?;
        let Some(next) = self.next_offset else {
            return Ok(-1);
        };
        if self.checkpointed == Some(next) && self.pending.is_empty() {
            return Ok(next);
        }
        let started = Instant::now();
        for h in self.pending.drain(..) {
            match futures::executor::block_on(h) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(RunError::Worker(e)),
                Err(e) => return Err(RunError::Worker(format!("delivery task: {e}"))),
            }
        }
        self.parquet.flush()?;
        let engine = self.engine.snapshot()?;
        let state_bytes = engine.len();
        self.shared.store.save(&Checkpoint {
            topic: self.topic.clone(),
            partition: self.partition,
            next_offset: next,
            engine,
        })?;
        self.checkpointed = Some(next);
        if let Some(mode) = mode {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(next))?;
            self.shared.commit(&tpl, mode)?;
        }
        let m = &self.shared.metrics;
        m.checkpoints.inc();
        m.checkpoint_seconds.observe(started.elapsed().as_secs_f64());
        let labels = vec![("topic", self.topic.clone()), ("partition", self.partition.to_string())];
        m.state_entries.get_or_create(&labels).set(self.engine.state_size() as i64);
        tracing::debug!(topic = %self.topic, partition = self.partition, next_offset = next, state_bytes, seconds = started.elapsed().as_secs_f64(), "checkpoint");
        Ok(next)
    }
}
