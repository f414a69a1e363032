//! `replay`: files or stdin → parse (one thread) → detect (this thread) → sinks.
//!
//! The parse thread hands batches over a bounded channel, so a slow engine or sink slows the
//! reader instead of growing memory. Kafka input reuses [`Driver`] with another source.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use serde::Serialize;
use trailhound_detect::Engine;
use trailhound_model::Finding;
use trailhound_parse::{DeadLetter, ParseSink, ParseStats, Parser};

use crate::sinks::{DeadLetterFile, DeadLetterSink, FindingSink, OcsfJsonlSink, ParquetSink};
use crate::{metrics, Config, PipelineError};

/// One replay input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file or a directory tree.
    Path(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// `-` is stdin, anything else a path.
    pub fn parse(s: &str) -> Input {
        if s == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(s))
        }
    }
}

/// Counters shared with a progress display while the replay runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Input bytes read from disk or stdin so far (compressed size for gzip).
    pub bytes_read: AtomicU64,
    /// Total bytes of the input files, when known.
    pub bytes_total: AtomicU64,
    /// Events parsed so far.
    pub events: AtomicU64,
    /// Findings published so far.
    pub findings: AtomicU64,
}

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Events parsed into the model.
    pub events: u64,
    /// Input bytes (after decompression).
    pub bytes: u64,
    /// Records dead-lettered.
    pub dead_letters: u64,
    /// Events whose time was missing and inferred.
    pub time_inferred: u64,
    /// Events behind the watermark on arrival.
    pub late_events: u64,
    /// Finding versions not published because they were below `engine.min_severity`.
    pub quieted: u64,
    /// Finding versions published (creates and updates).
    pub findings_published: u64,
    /// Distinct findings (uids), by rule id and severity of their last version.
    pub findings: BTreeMap<String, BTreeMap<String, u64>>,
    /// Inputs that could not be read (path and error).
    pub source_errors: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Events per second.
    pub events_per_second: f64,
    /// Megabytes (10^6) per second.
    pub mb_per_second: f64,
}

enum Msg {
    Batch(RecordBatch),
    Dead(DeadLetter),
    SourceError(String),
    Done(ParseStats),
}

struct ChannelSink<'a> {
    tx: &'a SyncSender<Msg>,
    events: &'a AtomicU64,
}

impl ParseSink for ChannelSink<'_> {
    fn batch(&mut self, batch: RecordBatch) {
        self.events.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        // A closed channel means the consumer stopped on an error it reports itself.
        let _ = self.tx.send(Msg::Batch(batch));
    }
    fn dead(&mut self, dead: DeadLetter) {
        let _ = self.tx.send(Msg::Dead(dead));
    }
}

struct Counting<R> {
    inner: R,
    counter: Arc<Progress>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Lists the files of every input, failing on the first that does not exist.
pub fn expand_inputs(inputs: &[Input]) -> Result<Vec<Option<PathBuf>>, PipelineError> {
    let mut out = Vec::new();
    for i in inputs {
        match i {
            Input::Stdin => out.push(None),
            Input::Path(p) => {
                let files = trailhound_parse::read::list_files(p).map_err(|e| PipelineError::Input(e.to_string()))?;
                out.extend(files.into_iter().map(Some));
            }
        }
    }
    Ok(out)
}

fn parse_thread(
    cfg: trailhound_parse::ParseConfig,
    files: Vec<Option<PathBuf>>,
    tx: SyncSender<Msg>,
    progress: Arc<Progress>,
) {
    let mut parser = Parser::new(cfg);
    let mut sink = ChannelSink { tx: &tx, events: &progress.events };
    for f in files {
        let (name, result) = match &f {
            None => (
                "-".to_string(),
                trailhound_parse::read::read_stream(
                    &mut parser,
                    Counting { inner: std::io::stdin().lock(), counter: progress.clone() },
                    "-",
                    &mut sink,
                ),
            ),
            Some(path) => {
                let name = path.display().to_string();
                match std::fs::File::open(path) {
                    Ok(file) => {
                        let r = trailhound_parse::read::read_stream(
                            &mut parser,
                            Counting { inner: file, counter: progress.clone() },
                            &name,
                            &mut sink,
                        );
                        (name, r)
                    }
                    Err(e) => (name, Err(e)),
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(source = %name, error = %e, "input could not be read; continuing with the next");
            let _ = tx.send(Msg::SourceError(format!("{name}: {e}")));
        }
    }
    parser.flush(&mut sink);
    let _ = tx.send(Msg::Done(parser.stats()));
}

/// The detection half of a pipeline: engine plus sinks, fed batches and dead letters.
pub struct Driver {
    engine: Engine,
    sinks: Vec<Box<dyn FindingSink>>,
    dead: Option<Box<dyn DeadLetterSink>>,
    finals: BTreeMap<String, Finding>,
    published: u64,
    dead_count: u64,
}

impl Driver {
    /// An engine from `cfg` and the given sinks.
    pub fn new(
        cfg: &Config,
        sinks: Vec<Box<dyn FindingSink>>,
        dead: Option<Box<dyn DeadLetterSink>>,
    ) -> Result<Self, PipelineError> {
        let engine = Engine::new(&cfg.detect())?;
        Ok(Self { engine, sinks, dead, finals: BTreeMap::new(), published: 0, dead_count: 0 })
    }

    /// Runs one batch through the engine and publishes what it finds.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<usize, PipelineError> {
        let found = self.engine.process(batch)?;
        self.publish(&found)?;
        Ok(found.len())
    }

    /// Stores a dead letter.
    pub fn dead(&mut self, d: &DeadLetter) -> Result<(), PipelineError> {
        self.dead_count += 1;
        if let Some(s) = self.dead.as_mut() {
            s.dead(d)?;
        }
        Ok(())
    }

    fn publish(&mut self, found: &[Finding]) -> Result<(), PipelineError> {
        if found.is_empty() {
            return Ok(());
        }
        for f in found {
            tracing::info!(metric = metrics::FINDINGS, uid = %f.uid, rule = %f.rule_id, severity = %f.severity, actor = %f.actor_key, revision = f.revision, "finding");
            self.finals.insert(f.uid.clone(), f.clone());
        }
        self.published += found.len() as u64;
        for s in &mut self.sinks {
            s.publish(found)?;
        }
        Ok(())
    }

    /// End of input: closes every window, publishes final versions, flushes every sink.
    pub fn finish(&mut self) -> Result<(), PipelineError> {
        let found = self.engine.finish();
        self.publish(&found)?;
        for s in &mut self.sinks {
            s.flush()?;
        }
        if let Some(d) = self.dead.as_mut() {
            d.flush()?;
        }
        Ok(())
    }

    /// The engine (stats, watermark).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The last version of every finding published so far, by uid.
    pub fn finals(&self) -> &BTreeMap<String, Finding> {
        &self.finals
    }
}

/// Replays `inputs` with outputs under `out_dir` as the config's `[output]` names them.
pub fn replay(
    cfg: &Config,
    inputs: &[Input],
    out_dir: &Path,
    progress: Arc<Progress>,
) -> Result<Summary, PipelineError> {
    let files = expand_inputs(inputs)?;
    let total: u64 = files.iter().flatten().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    progress.bytes_total.store(total, Ordering::Relaxed);
    std::fs::create_dir_all(out_dir)
        .map_err(|e| PipelineError::Input(format!("cannot create {}: {e}", out_dir.display())))?;
    let o = &cfg.output;
    let mut sinks: Vec<Box<dyn FindingSink>> =
        vec![Box::new(ParquetSink::new(&out_dir.join(&o.findings_dir), o.max_rows_per_file)?)];
    if !o.ocsf_jsonl.as_os_str().is_empty() {
        sinks.push(Box::new(OcsfJsonlSink::create(&out_dir.join(&o.ocsf_jsonl))?));
    }
    let dead: Box<dyn DeadLetterSink> = Box::new(DeadLetterFile::create(&out_dir.join(&o.dead_letters))?);
    let mut driver = Driver::new(cfg, sinks, Some(dead))?;
    replay_into(cfg, files, &mut driver, progress)
}

/// Replays already-expanded inputs into a driver (tests use an in-memory sink).
pub fn replay_into(
    cfg: &Config,
    files: Vec<Option<PathBuf>>,
    driver: &mut Driver,
    progress: Arc<Progress>,
) -> Result<Summary, PipelineError> {
    let started = Instant::now();
    let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = sync_channel(8);
    let parse_cfg = cfg.parse.clone();
    let p2 = progress.clone();
    let handle = std::thread::Builder::new()
        .name("trailhound-parse".into())
        .spawn(move || parse_thread(parse_cfg, files, tx, p2))
        .map_err(|e| PipelineError::Input(format!("cannot start the parse thread: {e}")))?;
    let mut summary = Summary::default();
    let mut stats = None;
    for msg in rx {
        match msg {
            Msg::Batch(b) => {
                let n = driver.batch(&b)?;
                progress.findings.fetch_add(n as u64, Ordering::Relaxed);
            }
            Msg::Dead(d) => driver.dead(&d)?,
            Msg::SourceError(e) => summary.source_errors.push(e),
            Msg::Done(s) => stats = Some(s),
        }
    }
    let _ = handle.join();
    driver.finish()?;
    let stats = stats.unwrap_or_default();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    summary.events = stats.events;
    summary.bytes = stats.bytes;
    summary.dead_letters = stats.dead;
    summary.time_inferred = stats.time_inferred;
    summary.late_events = driver.engine().stats().late_events;
    summary.quieted = driver.engine().stats().quieted;
    summary.findings_published = driver.published;
    for f in driver.finals.values() {
        *summary.findings.entry(f.rule_id.clone()).or_default().entry(f.severity.as_str().to_string()).or_default() +=
            1;
    }
    summary.seconds = secs;
    summary.events_per_second = stats.events as f64 / secs;
    summary.mb_per_second = stats.bytes as f64 / 1e6 / secs;
    tracing::info!(
        events = summary.events,
        bytes = summary.bytes,
        dead_letters = summary.dead_letters,
        late_events = summary.late_events,
        findings = driver.finals.len(),
        seconds = secs,
        "replay finished"
    );
    Ok(summary)
}
