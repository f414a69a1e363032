//! `replay`: files or stdin → parse (one thread) → detect (this thread) → sinks.
//!
//! The parse thread hands batches over a bounded channel, so a slow engine or sink slows the
//! reader instead of growing memory. Kafka input reuses [`Driver`] with another source.
//!
//! [`replay`] owns its output directory for the run:
//!
//! 1. inputs are listed first; when none can be read, the directory is not touched;
//! 2. `summary.json` says `"complete": false` and the findings directory gets the `_RUNNING`
//!    marker, so from here on a killed run is visibly incomplete;
//! 3. the previous run's Parquet files (and temporary files a killed run left) are removed,
//!    and the OCSF and dead-letter files truncated: a rerun replaces, it never adds;
//! 4. findings are flushed as they are published (`output.flush_rows` versions,
//!    `output.flush_interval`): each flush is one atomically renamed Parquet file per
//!    partition touched, the OCSF and dead-letter files fsynced;
//! 5. at the end `summary.json` is rewritten (atomically) with `"complete": true` and the
//!    summary, and the marker removed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde::Serialize;
use trailhound_detect::Engine;
use trailhound_model::escape::Escaped;
use trailhound_model::Finding;
use trailhound_parse::{DeadLetter, ParseSink, ParseStats, Parser};

use crate::sinks::{DeadLetterFile, DeadLetterSink, FindingSink, OcsfJsonlSink, ParquetSink, SinkError};
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
    /// Events dated too far ahead of the stream, their receive time or the host clock
    /// (`engine.max_future_skew`); dead-lettered, and counted in `dead_letters` too.
    pub time_out_of_range: u64,
    /// Finding versions not published because they were below `engine.min_severity`.
    pub quieted: u64,
    /// Finding versions published (creates and updates).
    pub findings_published: u64,
    /// Approximate bytes of detection state after the last batch, before the end of input
    /// closed every window (see `engine.max_state_bytes`).
    pub state_bytes: u64,
    /// The largest approximate bytes of detection state after any batch (or when judged
    /// against the budget).
    pub state_bytes_peak: u64,
    /// Keyed state entries whose long-term memory (baselines, histories) was evicted to keep
    /// within `engine.max_state_bytes`.
    pub evicted_long_term: u64,
    /// Keyed state entries whose dormant windows were closed early to keep within the budget.
    pub evicted_dormant: u64,
    /// Keyed state entries whose live windows were evicted to keep within the budget (a
    /// detection may have been lost).
    pub evicted_active: u64,
    /// Keyed state entries whose sequences armed by a sensitive write (a created user or key
    /// waiting for its next step) were evicted, last of all (a detection may have been lost).
    pub evicted_armed: u64,
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

/// The inputs as files to read, in order (`None` is stdin), and the inputs or entries under
/// them that cannot be read (`path: error`): a missing path, an unreadable directory, a
/// dangling link, something that is not a file. Listing never stops at a bad entry.
pub fn expand_inputs(inputs: &[Input]) -> (Vec<Option<PathBuf>>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for i in inputs {
        match i {
            Input::Stdin => files.push(None),
            Input::Path(p) => {
                let listing = trailhound_parse::read::list_inputs(p);
                for e in &listing.errors {
                    tracing::warn!(error = %Escaped(e), "input could not be listed; continuing with the others");
                }
                errors.extend(listing.errors.iter().map(ToString::to_string));
                files.extend(listing.files.into_iter().map(Some));
            }
        }
    }
    (files, errors)
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
            tracing::warn!(source = %Escaped(&name), error = %Escaped(&e), "input could not be read; continuing with the next");
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
    flush: Flush,
}

/// When the driver flushes its sinks between batches.
struct Flush {
    rows: u64,
    interval: Duration,
    last: Instant,
    /// Finding versions published since the last flush.
    versions: u64,
    /// Dead letters stored since the last flush.
    dead: u64,
}

impl Driver {
    /// An engine from `cfg` and the given sinks.
    pub fn new(
        cfg: &Config,
        sinks: Vec<Box<dyn FindingSink>>,
        dead: Option<Box<dyn DeadLetterSink>>,
    ) -> Result<Self, PipelineError> {
        let engine = Engine::new(&cfg.detect())?;
        let flush = Flush {
            rows: cfg.output.flush_rows.max(1) as u64,
            interval: cfg.output.flush_interval,
            last: Instant::now(),
            versions: 0,
            dead: 0,
        };
        Ok(Self { engine, sinks, dead, finals: BTreeMap::new(), published: 0, dead_count: 0, flush })
    }

    /// Runs one batch through the engine and publishes what it finds.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<usize, PipelineError> {
        // The host's clock bounds how far ahead an event may be dated (the engine's
        // future-time gate; rules never see it).
        self.engine.set_now(Some(wall_clock_ms()));
        let found = self.engine.process(batch)?;
        self.forward_rejected()?;
        self.publish(&found)?;
        Ok(found.len())
    }

    /// Dead-letters the events the engine's future-time gate rejected, with a warning each.
    fn forward_rejected(&mut self) -> Result<(), PipelineError> {
        for r in self.engine.take_rejected() {
            crate::rejected::warn(&r);
            self.dead(&crate::rejected::dead_letter(&r))?;
        }
        Ok(())
    }

    /// Stores a dead letter.
    pub fn dead(&mut self, d: &DeadLetter) -> Result<(), PipelineError> {
        self.dead_count += 1;
        self.flush.dead += 1;
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
            tracing::info!(metric = metrics::FINDINGS, uid = %Escaped(&f.uid), rule = %Escaped(&f.rule_id), severity = %f.severity, actor = %Escaped(&f.actor_key), revision = f.revision, "finding");
            self.finals.insert(f.uid.clone(), f.clone());
        }
        self.published += found.len() as u64;
        self.flush.versions += found.len() as u64;
        for s in &mut self.sinks {
            s.publish(found)?;
        }
        Ok(())
    }

    /// End of input: closes every window, publishes final versions, flushes every sink.
    pub fn finish(&mut self) -> Result<(), PipelineError> {
        let found = self.engine.finish()?;
        self.forward_rejected()?;
        self.publish(&found)?;
        for s in &mut self.sinks {
            s.flush()?;
        }
        if let Some(d) = self.dead.as_mut() {
            d.flush()?;
        }
        Ok(())
    }

    /// Flushes every sink when `output.flush_rows` finding versions were published since the
    /// last flush, or `output.flush_interval` has passed with findings or dead letters
    /// pending. Returns whether it flushed. Called between batches and while input is idle.
    pub fn tick(&mut self) -> Result<bool, PipelineError> {
        let f = &self.flush;
        let due = f.versions >= f.rows || (f.versions + f.dead > 0 && f.last.elapsed() >= f.interval);
        if due {
            self.flush_sinks()?;
        }
        Ok(due)
    }

    /// Makes everything published and dead-lettered so far durable, sink by sink in the order
    /// they were given.
    pub fn flush_sinks(&mut self) -> Result<(), PipelineError> {
        for s in &mut self.sinks {
            s.flush()?;
        }
        if let Some(d) = self.dead.as_mut() {
            d.flush()?;
        }
        tracing::debug!(versions = self.flush.versions, dead_letters = self.flush.dead, "flushed outputs");
        self.flush.versions = 0;
        self.flush.dead = 0;
        self.flush.last = Instant::now();
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

/// Name of the run record in the output directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// What `summary.json` holds: whether the run completed, and its summary when it did.
#[derive(Debug, Serialize)]
struct RunRecord<'a> {
    /// False from the start of a run until it has flushed everything.
    complete: bool,
    /// Names this run's Parquet files (`part-<run_id>-<seq>.parquet`).
    run_id: &'a str,
    /// Wall-clock start, RFC 3339.
    started: &'a str,
    /// Wall-clock end, RFC 3339, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    finished: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    summary: Option<&'a Summary>,
}

fn write_record(out_dir: &Path, record: &RunRecord<'_>) -> Result<(), PipelineError> {
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| PipelineError::Sink(SinkError::Io { path: out_dir.join(SUMMARY_FILE), source: e.into() }))?;
    trailhound_lake::write_atomically(&out_dir.join(SUMMARY_FILE), &bytes).map_err(SinkError::from)?;
    Ok(())
}

/// Replays `inputs` with outputs under `out_dir` as the config's `[output]` names them,
/// replacing what an earlier replay left there (see the module docs for the protocol).
///
/// Inputs that cannot be read are listed in [`Summary::source_errors`] after every other
/// input was processed; when none of them can be read, nothing is written and the result is
/// [`PipelineError::Input`].
pub fn replay(
    cfg: &Config,
    inputs: &[Input],
    out_dir: &Path,
    progress: Arc<Progress>,
) -> Result<Summary, PipelineError> {
    let (files, unreadable) = expand_inputs(inputs);
    if files.is_empty() && !unreadable.is_empty() {
        return Err(PipelineError::Input(format!(
            "no input could be read, {} left untouched: {}",
            out_dir.display(),
            unreadable.join("; ")
        )));
    }
    let total: u64 = files.iter().flatten().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    progress.bytes_total.store(total, Ordering::Relaxed);
    std::fs::create_dir_all(out_dir)
        .map_err(|e| PipelineError::Input(format!("cannot create {}: {e}", out_dir.display())))?;
    let o = &cfg.output;
    let findings_dir = out_dir.join(&o.findings_dir);
    let now = wall_clock_ms();
    let run_id = format!("{now}-{}", std::process::id());
    let started = trailhound_model::time::to_rfc3339(now);

    // From here on the directory says a run is in progress: a kill leaves it marked.
    let record = RunRecord { complete: false, run_id: &run_id, started: &started, finished: None, summary: None };
    write_record(out_dir, &record)?;
    let marker = serde_json::json!({"run_id": run_id, "started": started, "pid": std::process::id()}).to_string();
    trailhound_lake::mark_running(&findings_dir, &marker).map_err(SinkError::from)?;
    trailhound_lake::clear_findings(&findings_dir).map_err(SinkError::from)?;

    // Sinks are flushed in this order: the OCSF file before the Parquet table, so that a kill
    // between the two never leaves a finding in the table that the OCSF file lacks.
    let mut sinks: Vec<Box<dyn FindingSink>> = Vec::new();
    if !o.ocsf_jsonl.as_os_str().is_empty() {
        sinks.push(Box::new(OcsfJsonlSink::create(&out_dir.join(&o.ocsf_jsonl))?));
    }
    sinks.push(Box::new(ParquetSink::new(&findings_dir, o.max_rows_per_file, &run_id)?));
    let dead: Box<dyn DeadLetterSink> = Box::new(DeadLetterFile::create(&out_dir.join(&o.dead_letters))?);
    let mut driver = Driver::new(cfg, sinks, Some(dead))?;
    let mut summary = replay_into(cfg, files, &mut driver, progress)?;
    summary.source_errors.splice(0..0, unreadable);

    let finished = Some(trailhound_model::time::to_rfc3339(wall_clock_ms()));
    let record = RunRecord { complete: true, run_id: &run_id, started: &started, finished, summary: Some(&summary) };
    write_record(out_dir, &record)?;
    trailhound_lake::unmark_running(&findings_dir).map_err(SinkError::from)?;
    Ok(summary)
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
    // Idle input (a quiet pipe) still flushes what is pending on time.
    let idle = cfg.output.flush_interval.min(Duration::from_secs(1));
    loop {
        match rx.recv_timeout(idle) {
            Ok(Msg::Batch(b)) => {
                let n = driver.batch(&b)?;
                progress.findings.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(Msg::Dead(d)) => driver.dead(&d)?,
            Ok(Msg::SourceError(e)) => summary.source_errors.push(e),
            Ok(Msg::Done(s)) => stats = Some(s),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        driver.tick()?;
    }
    let _ = handle.join();
    // The state as the input left it, before the end of input closes every window.
    summary.state_bytes = driver.engine().stats().state_bytes;
    driver.finish()?;
    let stats = stats.unwrap_or_default();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    summary.events = stats.events;
    summary.bytes = stats.bytes;
    summary.dead_letters = stats.dead;
    summary.time_inferred = stats.time_inferred;
    summary.late_events = driver.engine().stats().late_events;
    summary.time_out_of_range = driver.engine().stats().time_out_of_range;
    summary.dead_letters += summary.time_out_of_range;
    let engine = driver.engine().stats();
    summary.quieted = engine.quieted;
    summary.state_bytes_peak = engine.state_bytes_peak;
    summary.evicted_long_term = engine.evicted_long_term;
    summary.evicted_dormant = engine.evicted_dormant;
    summary.evicted_active = engine.evicted_active;
    summary.evicted_armed = engine.evicted_armed;
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
        state_bytes_peak = summary.state_bytes_peak,
        evicted_long_term = summary.evicted_long_term,
        evicted_dormant = summary.evicted_dormant,
        evicted_active = summary.evicted_active,
        evicted_armed = summary.evicted_armed,
        seconds = secs,
        "replay finished"
    );
    Ok(summary)
}

/// The host's clock in ms since the epoch (only for the future-time gate's ceiling).
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(i64::MAX, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stratus/events.ndjson")
    }

    fn config(flush_rows: usize) -> Config {
        let mut cfg = Config::load(None, Vec::new()).expect("defaults");
        cfg.output.flush_rows = flush_rows;
        cfg
    }

    fn record(out: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(SUMMARY_FILE)).expect("summary.json")).expect("json")
    }

    /// Every file under `root`, relative, sorted.
    fn files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// Records, at each flush, how many versions arrived since the previous one.
    struct Recorder(Arc<Mutex<(u64, Vec<u64>)>>);

    impl FindingSink for Recorder {
        fn publish(&mut self, findings: &[Finding]) -> Result<(), SinkError> {
            self.0.lock().expect("lock").0 += findings.len() as u64;
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            let mut g = self.0.lock().expect("lock");
            let pending = std::mem::take(&mut g.0);
            g.1.push(pending);
            Ok(())
        }
    }

    #[test]
    fn findings_are_flushed_every_flush_rows_versions_while_the_replay_runs() {
        let mut cfg = config(2);
        cfg.parse.batch_rows = 8;
        let seen = Arc::new(Mutex::new((0, Vec::new())));
        let mut driver = Driver::new(&cfg, vec![Box::new(Recorder(seen.clone()))], None).expect("driver");
        let summary = replay_into(&cfg, vec![Some(fixture())], &mut driver, Arc::default()).expect("replay");
        let (_, flushes) = &*seen.lock().expect("lock");
        assert!(summary.findings_published >= 10, "the fixture has findings: {summary:?}");
        assert_eq!(flushes.iter().sum::<u64>(), summary.findings_published, "every version flushed once");
        let (last, during) = flushes.split_last().expect("flushes");
        assert!(during.len() >= 3, "flushed during the run, not only at the end: {flushes:?}");
        assert!(during.iter().all(|n| *n >= 2), "a flush by rows waits for flush_rows versions: {flushes:?}");
        assert!(*last < summary.findings_published);
    }

    #[test]
    fn the_summary_reports_the_weight_of_the_detection_state_and_its_evictions() {
        let cfg = config(1);
        let mut driver = Driver::new(&cfg, vec![], None).expect("driver");
        let summary = replay_into(&cfg, vec![Some(fixture())], &mut driver, Arc::default()).expect("replay");
        assert!(summary.state_bytes_peak > 0, "{summary:?}");
        assert!(summary.state_bytes <= summary.state_bytes_peak, "{summary:?}");
        let evicted =
            [summary.evicted_long_term, summary.evicted_dormant, summary.evicted_active, summary.evicted_armed];
        assert_eq!(evicted, [0; 4]);
        let json = serde_json::to_value(&summary).expect("json");
        let keys = [
            "state_bytes",
            "state_bytes_peak",
            "evicted_long_term",
            "evicted_dormant",
            "evicted_active",
            "evicted_armed",
        ];
        for key in keys {
            assert!(json[key].is_u64(), "{key} in the --json summary: {json}");
        }
    }

    #[test]
    fn a_rerun_replaces_the_previous_run_and_summary_json_says_complete() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        let cfg = config(1);
        let first = replay(&cfg, &[Input::Path(fixture())], &out, Arc::default()).expect("replay");
        let r = record(&out);
        assert_eq!(r["complete"], true);
        assert_eq!(r["events"], first.events);
        let run1 = r["run_id"].as_str().expect("run id").to_string();
        let parts1: Vec<String> = files(&out.join("findings"));
        assert!(parts1.len() > 1, "flushed per version: {parts1:?}");
        assert!(parts1.iter().all(|f| f.contains(&format!("part-{run1}-"))), "{parts1:?}");

        // What a killed run leaves: the marker and a temporary file.
        trailhound_lake::mark_running(&out.join("findings"), "{}").expect("mark");
        let (dt_hour, _) = parts1[0].rsplit_once('/').expect("partition");
        std::fs::write(out.join("findings").join(dt_hour).join(".part-killed-000003.parquet.tmp"), b"PAR1")
            .expect("tmp");

        std::thread::sleep(Duration::from_millis(5)); // a new run id (ms clock)
        let second = replay(&cfg, &[Input::Path(fixture())], &out, Arc::default()).expect("rerun");
        let r = record(&out);
        assert_eq!(r["complete"], true);
        let run2 = r["run_id"].as_str().expect("run id").to_string();
        assert_ne!(run1, run2);
        let parts2 = files(&out.join("findings"));
        assert!(parts2.iter().all(|f| f.contains(&format!("part-{run2}-"))), "only the rerun's files: {parts2:?}");
        assert_eq!(parts2.len(), parts1.len());
        assert_eq!(second.findings, first.findings);
        let ocsf = std::fs::read_to_string(out.join("findings.ocsf.jsonl")).expect("ocsf");
        assert_eq!(ocsf.lines().count() as u64, second.findings_published, "the OCSF file was replaced, not appended");
    }

    #[test]
    fn unreadable_inputs_are_listed_after_every_readable_one_is_processed() {
        let dir = tempfile::tempdir().expect("tmp");
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(&tree).expect("mkdir");
        std::fs::copy(fixture(), tree.join("a.ndjson")).expect("copy");
        std::os::unix::fs::symlink(dir.path().join("gone.ndjson"), tree.join("b.ndjson")).expect("symlink");
        let missing = dir.path().join("missing.ndjson");
        let out = dir.path().join("out");
        let inputs = [Input::Path(missing.clone()), Input::Path(tree.clone()), Input::Path(fixture())];
        let s = replay(&config(10_000), &inputs, &out, Arc::default()).expect("replay");
        assert_eq!(s.events, 2 * 310, "both readable copies of the fixture were read");
        assert_eq!(s.source_errors.len(), 2, "{:?}", s.source_errors);
        assert!(s.source_errors[0].contains("missing.ndjson"), "{:?}", s.source_errors);
        assert!(s.source_errors[1].contains("b.ndjson"), "{:?}", s.source_errors);
        assert_eq!(record(&out)["source_errors"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn when_no_input_can_be_read_the_output_directory_is_left_untouched() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        replay(&config(10_000), &[Input::Path(fixture())], &out, Arc::default()).expect("replay");
        let before = files(&out);
        let summary_before = std::fs::read(out.join(SUMMARY_FILE)).expect("summary");
        let err = replay(&config(10_000), &[Input::Path(dir.path().join("typo.ndjson"))], &out, Arc::default())
            .expect_err("nothing to read");
        assert!(matches!(err, PipelineError::Input(_)), "{err}");
        assert!(err.to_string().contains("typo.ndjson"), "{err}");
        assert_eq!(files(&out), before);
        assert_eq!(std::fs::read(out.join(SUMMARY_FILE)).expect("summary"), summary_before);
    }
}
