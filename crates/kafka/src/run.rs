//! The consumer task, rebalances, shutdown and the operations endpoint.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use trailhound_detect::Engine;
use trailhound_pipeline::{Config, KafkaConfig};

use crate::checkpoint::Store;
use crate::faults::{Client, Faults, ProducerCtx};
use crate::metrics::{LatencySummary, Metrics};
use crate::worker::{Command, Message, Worker};
use crate::{RunError, Shared};

/// Asks a running [`run`] to drain, flush, commit and return.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<tokio::sync::Notify>, Arc<std::sync::atomic::AtomicBool>);

impl Shutdown {
    /// Requests the shutdown (idempotent).
    pub fn trigger(&self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.notify_waiters();
        self.0.notify_one();
    }

    async fn wait(&self) {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.0.notified().await;
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// Messages consumed.
    pub messages: u64,
    /// Throughput and latencies.
    pub latency: LatencySummary,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// A consumer waits this long for a partition's full queue before pausing the partition
/// (a pause drops what librdkafka prefetched for it, so ordinary backpressure only waits).
const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// An input partition.
type Key = (String, i32);

struct WorkerHandle {
    tx: flume::Sender<Command>,
    thread: std::thread::JoinHandle<Result<(), RunError>>,
    /// Tells this assignment's worker from an earlier one of the same partition.
    generation: u64,
}

/// The consumer's context: rebalance handling and statistics.
pub struct Ctx {
    shared: OnceLock<Arc<Shared>>,
    workers: Mutex<HashMap<Key, WorkerHandle>>,
    failed: flume::Sender<String>,
    metrics: Arc<Metrics>,
    faults: Arc<Faults>,
    generation: AtomicU64,
    /// Partitions the consumer paused (by worker generation); a revoke resumes them.
    paused: Mutex<HashMap<Key, u64>>,
}

impl ClientContext for Ctx {
    fn error(&self, error: KafkaError, reason: &str) {
        self.faults.error(Client::Consumer, &error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        self.faults.stats(Client::Consumer, &statistics);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    let labels = vec![("topic", topic.clone()), ("partition", partition.to_string())];
                    self.metrics.consumer_lag.get_or_create(&labels).set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                if let Some(shared) = self.shared.get() {
                    if let Ok(mut c) = shared.committed.lock() {
                        for e in offsets.elements() {
                            if let (Offset::Offset(o), None) = (e.offset(), e.error().err()) {
                                c.insert((e.topic().to_string(), e.partition()), o);
                            }
                        }
                    }
                }
            }
            Err(e) => {
                self.metrics.commit_errors.inc();
                tracing::warn!(error = %e, partitions = offsets.count(), "offset commit not accepted; made again at the next checkpoint");
            }
        }
    }

    fn rebalance(&self, base: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(base.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = self.assign(tpl) {
                    self.fail(format!("cannot take the assigned partitions: {e}"));
                }
                let r = if cooperative { base.incremental_assign(tpl) } else { base.assign(tpl) };
                if let Err(e) = r {
                    self.fail(format!("assign failed: {e}"));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = base.assignment_lost();
                self.unpause(base, tpl);
                match self.revoke(tpl) {
                    Ok(offsets) if !lost && offsets.count() > 0 => {
                        if let Err(e) = base.commit(&offsets, CommitMode::Sync) {
                            tracing::warn!(error = %e, "commit on revoke failed; the next owner re-reads from its checkpoint");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => self.fail(format!("revoke: {e}")),
                }
                let r = if cooperative { base.incremental_unassign(tpl) } else { base.unassign() };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                let _ = base.unassign();
            }
        }
        let n = self.workers.lock().map(|w| w.len()).unwrap_or(0);
        self.metrics.assigned_partitions.set(n as i64);
        self.metrics.set_ready(n > 0);
    }
}

impl Ctx {
    /// Resumes the revoked partitions this member paused, so a later assignment of them is
    /// not paused (librdkafka keeps an application's pause across reassignment).
    fn unpause(&self, base: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let mut resume = TopicPartitionList::new();
        if let Ok(mut p) = self.paused.lock() {
            for e in tpl.elements() {
                if p.remove(&(e.topic().to_string(), e.partition())).is_some() {
                    resume.add_partition(e.topic(), e.partition());
                }
            }
            self.metrics.paused_partitions.set(p.len() as i64);
        }
        if resume.count() > 0 {
            if let Err(e) = base.resume(&resume) {
                tracing::warn!(error = %e, "resuming revoked partitions failed");
            }
        }
    }

    fn fail(&self, why: String) {
        tracing::error!(error = %why, "stopping");
        self.metrics.set_unhealthy();
        let _ = self.failed.send(why);
    }

    fn shared(&self) -> Result<&Arc<Shared>, RunError> {
        self.shared.get().ok_or_else(|| RunError::Worker("runtime not initialised".into()))
    }

    /// Starts a worker per new partition, from its checkpoint when there is one, and sets the
    /// partition's start offset to the checkpoint's.
    fn assign(&self, tpl: &mut TopicPartitionList) -> Result<(), RunError> {
        let shared = self.shared()?.clone();
        let parts: Vec<(String, i32)> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
        for (topic, partition) in parts {
            let mut engine = Engine::new(&shared.cfg.detect())?;
            let start = match shared.store.load(&topic, partition) {
                Ok(Some(ck)) => {
                    engine.restore(&ck.engine)?;
                    tpl.set_partition_offset(&topic, partition, Offset::Offset(ck.next_offset))?;
                    tracing::info!(topic = %topic, partition, next_offset = ck.next_offset, state_entries = engine.state_size(), "partition assigned; resuming from its checkpoint");
                    Some(ck.next_offset)
                }
                Ok(None) => {
                    tracing::info!(topic = %topic, partition, "partition assigned; no checkpoint, starting from the committed offset with empty state");
                    None
                }
                Err(e) => {
                    // A damaged checkpoint must not stop the pipeline: start from the committed
                    // offset with empty windows, and say so.
                    tracing::error!(topic = %topic, partition, error = %e, "checkpoint unreadable; starting from the committed offset with empty state");
                    None
                }
            };
            let worker = Worker::new(shared.clone(), &topic, partition, engine, start)?;
            let (tx, rx) = flume::bounded(shared.cfg.run.partition_queue);
            let failed = self.failed.clone();
            let metrics = self.metrics.clone();
            let name = format!("th-{partition}");
            let log_topic = topic.clone();
            let thread = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let r = worker.run(rx);
                    if let Err(e) = &r {
                        tracing::error!(topic = %log_topic, partition, error = %e, "partition worker failed; stopping");
                        metrics.set_unhealthy();
                        let _ = failed.send(e.to_string());
                    }
                    r
                })
                .map_err(|e| RunError::Io(format!("cannot start a partition worker: {e}")))?;
            let generation = self.generation.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut w) = self.workers.lock() {
                w.insert((topic, partition), WorkerHandle { tx, thread, generation });
            }
        }
        Ok(())
    }

    /// Stops the workers of `tpl` (each checkpoints) and returns the offsets to commit.
    fn revoke(&self, tpl: &TopicPartitionList) -> Result<TopicPartitionList, RunError> {
        let keys: Vec<(String, i32)> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
        let handles: Vec<((String, i32), WorkerHandle)> = match self.workers.lock() {
            Ok(mut w) => keys.into_iter().filter_map(|k| w.remove(&k).map(|h| (k, h))).collect(),
            Err(_) => Vec::new(),
        };
        stop_workers(handles)
    }

    fn take_all(&self) -> Vec<((String, i32), WorkerHandle)> {
        match self.workers.lock() {
            Ok(mut w) => w.drain().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The queue of a partition's current worker, and the worker's generation.
    fn sender(&self, key: &Key) -> Option<(flume::Sender<Command>, u64)> {
        self.workers.lock().ok()?.get(key).map(|h| (h.tx.clone(), h.generation))
    }
}

/// A message waiting for room in a paused partition's queue; resolves to the partition, its
/// worker's generation, and whether the worker took it.
type Blocked = FuturesUnordered<BoxFuture<'static, (Key, u64, bool)>>;

/// The consumer side of backpressure: hands messages to the partitions' workers, and pauses a
/// partition whose queue stays full for [`PAUSE_AFTER`] (its worker is stuck: a slow sink,
/// findings that cannot be delivered) so the other partitions, the group heartbeat and
/// rebalances go on and nothing more is fetched for it; resumes it once its worker takes
/// messages again.
struct Dispatch {
    consumer: Arc<StreamConsumer<Ctx>>,
    blocked: Blocked,
    /// Per paused partition: the generation of the worker it waits for, and messages that
    /// arrived behind the blocked one (normally none: a pause drops prefetched messages).
    held: HashMap<Key, (u64, VecDeque<Message>)>,
    paused_at: HashMap<Key, Instant>,
}

impl Dispatch {
    fn new(consumer: Arc<StreamConsumer<Ctx>>) -> Self {
        Self { consumer, blocked: FuturesUnordered::new(), held: HashMap::new(), paused_at: HashMap::new() }
    }

    /// Hands a consumed message to its partition's worker, in offset order.
    async fn message(&mut self, key: Key, m: Message) {
        let Some((tx, generation)) = self.consumer.context().sender(&key) else {
            tracing::warn!(topic = %key.0, partition = key.1, "message for a partition not assigned here; skipped");
            return;
        };
        match self.held.get_mut(&key) {
            Some((g, queue)) if *g == generation => {
                queue.push_back(m);
                return;
            }
            // Left from an earlier assignment of the partition: its messages are re-read by
            // whoever resumes from the checkpoint.
            Some(_) => {
                self.held.remove(&key);
            }
            None => {}
        }
        let cmd = match tx.try_send(Command::Message(m)) {
            Ok(()) => return,
            Err(flume::TrySendError::Disconnected(_)) => {
                tracing::warn!(topic = %key.0, partition = key.1, "worker gone; message left for the next owner");
                return;
            }
            Err(flume::TrySendError::Full(cmd)) => cmd,
        };
        let mut fut = Box::pin(tx.into_send_async(cmd));
        tokio::select! {
            r = &mut fut => {
                if r.is_err() {
                    tracing::warn!(topic = %key.0, partition = key.1, "worker gone; message left for the next owner");
                }
            }
            _ = tokio::time::sleep(PAUSE_AFTER) => {
                self.pause(&key, generation);
                self.held.insert(key.clone(), (generation, VecDeque::new()));
                self.blocked.push(Box::pin(async move {
                    let ok = fut.await.is_ok();
                    (key, generation, ok)
                }));
            }
        }
    }

    /// The blocked message of `key` was taken (`ok`) or its worker is gone: hands over what
    /// arrived behind it and resumes the partition, or blocks again.
    fn unblocked(&mut self, key: Key, generation: u64, ok: bool) {
        let queue = match self.held.remove(&key) {
            Some((g, queue)) if g == generation => queue,
            Some(other) => {
                self.held.insert(key, other);
                return;
            }
            None => VecDeque::new(),
        };
        if ok {
            if let Some((tx, g)) = self.consumer.context().sender(&key).filter(|(_, g)| *g == generation) {
                let mut queue = queue;
                while let Some(m) = queue.pop_front() {
                    match tx.try_send(Command::Message(m)) {
                        Ok(()) => {}
                        Err(flume::TrySendError::Full(cmd)) => {
                            let fut = tx.clone().into_send_async(cmd);
                            let k = key.clone();
                            self.blocked.push(Box::pin(async move { (k, g, fut.await.is_ok()) }));
                            self.held.insert(key, (g, queue));
                            return;
                        }
                        Err(flume::TrySendError::Disconnected(_)) => break,
                    }
                }
            }
        }
        self.resume(&key, generation);
    }

    fn pause(&mut self, key: &Key, generation: u64) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&key.0, key.1);
        if let Err(e) = self.consumer.pause(&tpl) {
            tracing::warn!(topic = %key.0, partition = key.1, error = %e, "pausing the partition failed; the consumer waits for its worker");
        }
        let ctx = self.consumer.context();
        if let Ok(mut p) = ctx.paused.lock() {
            p.insert(key.clone(), generation);
            ctx.metrics.paused_partitions.set(p.len() as i64);
        }
        self.paused_at.insert(key.clone(), Instant::now());
        tracing::warn!(topic = %key.0, partition = key.1, waited_seconds = PAUSE_AFTER.as_secs_f64(), "partition paused: its worker's queue stayed full (slow sink or undelivered findings); nothing more is fetched for it until it catches up");
    }

    fn resume(&mut self, key: &Key, generation: u64) {
        let since = self.paused_at.remove(key);
        let ctx = self.consumer.context();
        // A revoke already resumed (and forgot) the partition of an earlier assignment.
        let ours = match ctx.paused.lock() {
            Ok(mut p) => {
                let ours = p.get(key) == Some(&generation);
                if ours {
                    p.remove(key);
                }
                ctx.metrics.paused_partitions.set(p.len() as i64);
                ours
            }
            Err(_) => false,
        };
        if !ours {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&key.0, key.1);
        match self.consumer.resume(&tpl) {
            Ok(()) => {
                tracing::info!(topic = %key.0, partition = key.1, paused_seconds = since.map(|s| s.elapsed().as_secs_f64()), "partition resumed")
            }
            Err(e) => tracing::warn!(topic = %key.0, partition = key.1, error = %e, "resuming the partition failed"),
        }
    }
}

/// Tells each worker to checkpoint and stop; returns the offsets they reached.
fn stop_workers(handles: Vec<((String, i32), WorkerHandle)>) -> Result<TopicPartitionList, RunError> {
    let mut replies = Vec::new();
    for ((topic, partition), h) in handles {
        let (tx, rx) = flume::bounded(1);
        // A worker that already stopped has reported its error through `failed`.
        let _ = h.tx.send(Command::Stop(tx));
        replies.push((topic, partition, rx, h.thread));
    }
    let mut offsets = TopicPartitionList::new();
    let mut first_err = None;
    for (topic, partition, rx, thread) in replies {
        match rx.recv() {
            Ok(Ok(next)) if next >= 0 => {
                offsets.add_partition_offset(&topic, partition, Offset::Offset(next))?;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(RunError::Worker(format!("worker of {topic}/{partition} stopped early")));
            }
        }
        let _ = thread.join();
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(offsets),
    }
}

/// Resolves `${NAME}` values from the environment.
fn resolve(v: &str) -> Result<String, RunError> {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(name) => std::env::var(name).map_err(|_| {
            RunError::Config(format!("environment variable {name} (named by a kafka property) is not set"))
        }),
        None => Ok(v.to_string()),
    }
}

/// A librdkafka config: trailhound's settings, then `[kafka.client]`, then `extra`.
pub fn client_config(
    k: &KafkaConfig,
    own: &[(&str, &str)],
    extra: &BTreeMap<String, String>,
) -> Result<ClientConfig, RunError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    for (key, v) in own {
        c.set(*key, *v);
    }
    for (key, v) in k.client.iter().chain(extra) {
        c.set(key, resolve(v)?);
    }
    Ok(c)
}

/// Property names that look like secrets (never logged).
pub(crate) fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "jaas", "key.pem", "private", "credential"].iter().any(|s| k.contains(s))
}

fn redacted(k: &KafkaConfig) -> String {
    let show = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(key, v)| format!("{key}={}", if is_secret(key) { "<redacted>" } else { v.as_str() }))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("client[{}] consumer[{}] producer[{}]", show(&k.client), show(&k.consumer), show(&k.producer))
}

fn serve_http(listen: &str, metrics: Arc<Metrics>) -> Result<(), RunError> {
    let server =
        tiny_http::Server::http(listen).map_err(|e| RunError::Io(format!("cannot listen on {listen}: {e}")))?;
    std::thread::Builder::new()
        .name("th-http".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                let (code, body, ctype) = match req.url() {
                    "/metrics" => (200, metrics.render(), "application/openmetrics-text; version=1.0.0; charset=utf-8"),
                    "/healthz" if metrics.healthy() => (200, "ok\n".to_string(), "text/plain"),
                    "/healthz" => (503, "a partition worker failed\n".to_string(), "text/plain"),
                    "/readyz" if metrics.ready() => (200, "ready\n".to_string(), "text/plain"),
                    "/readyz" => (503, "no partitions assigned\n".to_string(), "text/plain"),
                    _ => (404, "not found\n".to_string(), "text/plain"),
                };
                let mut resp = tiny_http::Response::from_string(body).with_status_code(code);
                if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes()) {
                    resp.add_header(h);
                }
                let _ = req.respond(resp);
            }
        })
        .map_err(|e| RunError::Io(format!("cannot start the metrics thread: {e}")))?;
    Ok(())
}

/// Runs the consumer group until `shutdown` is triggered or a worker fails.
pub async fn run(cfg: Config, out_dir: &Path, shutdown: Shutdown) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let k = cfg.kafka.clone();
    std::fs::create_dir_all(out_dir).map_err(|e| RunError::Io(format!("cannot create {}: {e}", out_dir.display())))?;
    let metrics = Arc::new(Metrics::new());
    if !cfg.run.listen.is_empty() {
        serve_http(&cfg.run.listen, metrics.clone())?;
    }
    tracing::info!(brokers = %k.brokers, group = %k.group_id, topics = ?k.input_topics, findings_topic = %k.findings_topic, dead_letter_topic = %k.dead_letter_topic, properties = %redacted(&k), listen = %cfg.run.listen, "starting");
    let faults = Arc::new(Faults::new(metrics.clone()));
    let producer: FutureProducer<ProducerCtx> = client_config(
        &k,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
            ("message.max.bytes", "67108864"),
            ("statistics.interval.ms", "5000"),
        ],
        &k.producer,
    )?
    .create_with_context(ProducerCtx { faults: faults.clone() })?;
    let (failed_tx, failed_rx) = flume::unbounded::<String>();
    let ctx = Ctx {
        shared: OnceLock::new(),
        workers: Mutex::new(HashMap::new()),
        failed: failed_tx,
        metrics: metrics.clone(),
        faults: faults.clone(),
        generation: AtomicU64::new(0),
        paused: Mutex::new(HashMap::new()),
    };
    let consumer: Arc<StreamConsumer<Ctx>> = Arc::new(
        client_config(
            &k,
            &[
                ("group.id", k.group_id.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("statistics.interval.ms", "5000"),
                ("max.partition.fetch.bytes", "16777216"),
                // How long the broker may hold a fetch that has nothing new. Apache Kafka
                // answers as soon as data is there, so this only paces idle polls; tansu holds
                // every fetch for the whole wait, which capped a backlog drain at ~150 MB/s with
                // librdkafka's 500 ms default (1.2-1.5 GB/s at 5 ms).
                ("fetch.wait.max.ms", "10"),
                // A partition whose worker is busy fills librdkafka's prefetch queue; with the
                // 1 s default the fetcher then idles a whole second after the worker catches up
                // (0.25-0.5 s stalls of every partition seen in a backlog drain).
                ("fetch.queue.backoff.ms", "10"),
            ],
            &k.consumer,
        )?
        .create_with_context(ctx)?,
    );
    let shared = Arc::new(Shared {
        store: Store::new(&out_dir.join(&cfg.run.state_dir), &k.group_id),
        findings_dir: out_dir.join(&cfg.output.findings_dir),
        producer,
        metrics: metrics.clone(),
        faults: faults.clone(),
        rt: tokio::runtime::Handle::current(),
        consumer: OnceLock::new(),
        committed: Mutex::new(HashMap::new()),
        cfg,
    });
    let _ = shared.consumer.set(Arc::downgrade(&consumer));
    let _ = consumer.context().shared.set(shared.clone());
    let topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;

    let mut failure: Option<String> = None;
    let mut dispatch = Dispatch::new(consumer.clone());
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            f = failed_rx.recv_async() => {
                failure = Some(f.unwrap_or_else(|_| "worker channel closed".into()));
                break;
            }
            Some((key, generation, ok)) = dispatch.blocked.next(), if !dispatch.blocked.is_empty() => {
                dispatch.unblocked(key, generation, ok);
            }
            m = consumer.recv() => match m {
                Ok(msg) => {
                    let arrival = Instant::now();
                    let key = (msg.topic().to_string(), msg.partition());
                    let m = Message {
                        offset: msg.offset(),
                        payload: msg.payload().map(<[u8]>::to_vec),
                        timestamp: msg.timestamp().to_millis(),
                        arrival,
                    };
                    drop(msg);
                    faults.up(Client::Consumer);
                    dispatch.message(key, m).await;
                }
                Err(e) => faults.error(Client::Consumer, &e, "consume"),
            }
        }
    }
    drop(dispatch);

    // Drain: every worker checkpoints (acks, Parquet, state) and the offsets are committed.
    metrics.set_ready(false);
    let deadline = shared.cfg.run.shutdown_timeout;
    let handles = consumer.context().take_all();
    let c2 = consumer.clone();
    let drained = tokio::time::timeout(
        deadline,
        tokio::task::spawn_blocking(move || -> Result<usize, RunError> {
            let offsets = stop_workers(handles)?;
            let n = offsets.count();
            if n > 0 {
                c2.commit(&offsets, CommitMode::Sync)?;
            }
            Ok(n)
        }),
    )
    .await;
    let drain_result = match drained {
        Ok(Ok(Ok(n))) => {
            tracing::info!(partitions = n, "drained and committed");
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(e)) => Err(RunError::Worker(format!("drain task: {e}"))),
        Err(_) => Err(RunError::ShutdownTimeout(deadline)),
    };
    consumer.unsubscribe();
    let _ = shared.producer.flush(Duration::from_secs(5));
    let summary = RunSummary {
        messages: metrics.messages.get(),
        latency: metrics.summary(),
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(
        messages = summary.messages,
        events = summary.latency.events,
        events_per_second = summary.latency.events_per_second,
        finding_latency_p99_ms = summary.latency.finding_latency_p99_ms,
        "stopped"
    );
    if let Some(f) = failure {
        // The failure is the cause; the drain may have failed because of it.
        if let Err(e) = drain_result {
            tracing::warn!(error = %e, "drain after the failure");
        }
        return Err(RunError::Worker(f));
    }
    drain_result?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_env_references_resolved() {
        let mut k = KafkaConfig::default();
        k.client.insert("sasl.password".into(), "hunter2".into());
        k.client.insert("sasl.username".into(), "th".into());
        k.consumer.insert("ssl.key.pem".into(), "-----BEGIN".into());
        let text = redacted(&k);
        assert!(!text.contains("hunter2") && !text.contains("BEGIN"), "{text}");
        assert!(text.contains("sasl.username=th") && text.contains("sasl.password=<redacted>"), "{text}");
        assert_eq!(resolve("plain").expect("plain"), "plain");
        assert!(resolve("${TRAILHOUND_SURELY_UNSET_VAR}").is_err());
        let path = std::env::var("PATH").expect("PATH is set");
        assert_eq!(resolve("${PATH}").expect("set"), path);
    }
}
