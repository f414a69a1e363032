//! The fuzz loop: inputs `start..start + iterations` of a seed over worker threads, each input
//! under `catch_unwind`, failures written to a crash folder, peak RSS and stalls watched.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::{Breach, Outcome};
use crate::gen::{Case, GenOptions, Generator};

/// What runs inputs, one after the other: made fresh at the start of each block of
/// [`BLOCK`] inputs and after a panic ([`crate::check::target`], or a stand-in in tests).
pub type Target = Box<dyn FnMut(&Case) -> Result<Outcome, Breach>>;

/// Makes a [`Target`].
pub type MakeTarget = fn() -> Target;

/// Inputs run by one target (one set of parsers) in a row. Input `i` runs after inputs
/// `i / BLOCK * BLOCK .. i` of its block on the same parsers, whatever the thread count;
/// `--start i` replays those first, so a failure that depends on what came before still
/// reproduces.
pub const BLOCK: u64 = 64;

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of the run: with an input's index it fixes the input.
    pub seed: u64,
    /// First input index.
    pub start: u64,
    /// Number of inputs.
    pub iterations: u64,
    /// Worker threads (blocks of [`BLOCK`] inputs go to them in turn).
    pub threads: usize,
    /// Peak resident memory allowed for the whole process, MiB.
    pub max_rss_mib: u64,
    /// Where failing inputs are written (`None`: not written).
    pub crash_dir: Option<PathBuf>,
    /// Bomb settings of the generator.
    pub gen: GenOptions,
    /// An input running longer than this is reported as a hang and the run stops.
    pub hang_after: Duration,
    /// How often the progress callback is called.
    pub progress_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 0,
            start: 0,
            iterations: 10_000,
            threads: 1,
            max_rss_mib: 512,
            crash_dir: None,
            gen: GenOptions::default(),
            hang_after: Duration::from_secs(120),
            progress_every: Duration::from_secs(10),
        }
    }
}

/// One distinct failure (the first input that showed it).
#[derive(Debug, Clone)]
pub struct Failure {
    /// `panic` or the broken invariant's name.
    pub invariant: &'static str,
    /// Index of the first input that showed it (reproduce with `--seed S --start I`).
    pub index: u64,
    /// What tells it from other failures of its invariant (see [`Breach::class`]).
    pub class: String,
    /// Panic message and location, or what the invariant saw.
    pub detail: String,
    /// The generator steps that made the input.
    pub recipe: Vec<&'static str>,
    /// The input's bytes, as written to the crash folder.
    pub file: Option<PathBuf>,
    /// Inputs that showed this failure.
    pub count: u64,
}

/// Counters while running.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Inputs done.
    pub inputs: u64,
    /// Panics so far.
    pub panics: u64,
    /// Invariant breaches so far (panics not included).
    pub breaches: u64,
    /// Time since the start.
    pub elapsed: Duration,
    /// Peak RSS so far, MiB.
    pub peak_rss_mib: u64,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Seed of the run.
    pub seed: u64,
    /// Inputs run.
    pub inputs: u64,
    /// Their total size, bytes.
    pub input_bytes: u64,
    /// Inputs that panicked.
    pub panics: u64,
    /// Inputs that broke an invariant, by invariant.
    pub breaches: BTreeMap<&'static str, u64>,
    /// Distinct failures, in order of first appearance.
    pub failures: Vec<Failure>,
    /// Events emitted over all runs of all inputs.
    pub events: u64,
    /// Dead letters by kind over all runs of all inputs.
    pub dead: BTreeMap<&'static str, u64>,
    /// `read_stream` calls that returned an error.
    pub read_errors: u64,
    /// Peak RSS of the process, MiB.
    pub peak_rss_mib: u64,
    /// Set when the peak RSS went over the limit: (MiB, first and last input that may have
    /// caused it).
    pub rss_exceeded: Option<(u64, u64, u64)>,
    /// Set when an input ran longer than `hang_after`: its index.
    pub hang: Option<u64>,
    /// The slowest input: (index, time).
    pub slowest: Option<(u64, Duration)>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// True when nothing panicked, no invariant broke, memory stayed bounded and nothing hung.
    pub fn clean(&self) -> bool {
        self.panics == 0 && self.breaches.is_empty() && self.rss_exceeded.is_none() && self.hang.is_none()
    }

    fn merge(&mut self, other: Report) {
        self.inputs += other.inputs;
        self.input_bytes += other.input_bytes;
        self.panics += other.panics;
        for (k, v) in other.breaches {
            *self.breaches.entry(k).or_default() += v;
        }
        for f in other.failures {
            self.add_failure(f);
        }
        self.events += other.events;
        for (k, v) in other.dead {
            *self.dead.entry(k).or_default() += v;
        }
        self.read_errors += other.read_errors;
        if self.rss_exceeded.is_none() {
            self.rss_exceeded = other.rss_exceeded;
        }
        match (self.slowest, other.slowest) {
            (Some((_, mine)), Some((_, theirs))) if theirs > mine => self.slowest = other.slowest,
            (None, theirs) => self.slowest = theirs,
            _ => {}
        }
    }

    fn add_failure(&mut self, f: Failure) {
        let sig = signature(f.invariant, &f.class, &f.detail);
        match self.failures.iter_mut().find(|g| signature(g.invariant, &g.class, &g.detail) == sig) {
            Some(g) => {
                g.count += f.count;
                if f.index < g.index {
                    let count = g.count;
                    *g = Failure { count, ..f };
                }
            }
            None => self.failures.push(f),
        }
    }
}

/// What makes two failures the same: the invariant and its class, or the detail with numbers
/// blanked (a panic's detail ends with its location).
fn signature(invariant: &str, class: &str, detail: &str) -> String {
    if !class.is_empty() {
        return format!("{invariant}: {class}");
    }
    let mut s = String::new();
    for c in detail.chars().take(160) {
        // A run of digits becomes one `#`.
        if !c.is_ascii_digit() {
            s.push(c);
        } else if !s.ends_with('#') {
            s.push('#');
        }
    }
    if invariant == "panic" {
        // The location (`at file:line:col`) is the panic's identity.
        if let Some(at) = detail.rfind(" at ") {
            s = detail[at..].to_string();
        }
    }
    format!("{invariant}: {s}")
}

/// Errors of the harness itself (not findings).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The crash folder could not be written.
    #[error("cannot write crash file {path}: {source}")]
    CrashFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] io::Error),
}

/// Peak resident set size of this process (`VmHWM`), KiB; `None` where /proc is not there.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

thread_local! {
    /// Set while a fuzz worker runs an input: its panics are recorded, not printed.
    static CAUGHT: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records the message and location of panics on fuzz
/// workers and leaves every other thread's panics to the hook that was there.
fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let recorded = CAUGHT.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panic".to_string());
                        let at = info
                            .location()
                            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                            .unwrap_or_default();
                        *slot = Some(format!("{msg}{at}"));
                        true
                    }
                    None => false,
                }
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

struct Shared {
    gen: Generator,
    opts: Options,
    make: MakeTarget,
    stop: AtomicBool,
    done: AtomicU64,
    panics: AtomicU64,
    breaches: AtomicU64,
    /// Per worker: index of the input running and when it started (ms since the run began),
    /// `u64::MAX` when idle.
    running: Vec<(AtomicU64, AtomicU64)>,
    started: Instant,
    crash_files: Mutex<BTreeMap<String, u32>>,
    crash_error: Mutex<Option<RunError>>,
}

/// Runs the inputs; `progress` is called every `progress_every` from the calling thread.
pub fn run(opts: Options, make: MakeTarget, progress: &mut dyn FnMut(&Progress)) -> Result<Report, RunError> {
    install_hook();
    if let Some(dir) = &opts.crash_dir {
        std::fs::create_dir_all(dir).map_err(|source| RunError::CrashFile { path: dir.clone(), source })?;
    }
    let threads = opts.threads.max(1);
    let shared = Arc::new(Shared {
        gen: Generator::new(opts.gen),
        opts: opts.clone(),
        make,
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
        panics: AtomicU64::new(0),
        breaches: AtomicU64::new(0),
        running: (0..threads).map(|_| (AtomicU64::new(u64::MAX), AtomicU64::new(0))).collect(),
        started: Instant::now(),
        crash_files: Mutex::new(BTreeMap::new()),
        crash_error: Mutex::new(None),
    });
    let mut handles = Vec::with_capacity(threads);
    for w in 0..threads {
        let shared = Arc::clone(&shared);
        let h = std::thread::Builder::new()
            .name(format!("fuzz-{w}"))
            .stack_size(16 << 20)
            .spawn(move || worker(&shared, w, threads))
            .map_err(RunError::Thread)?;
        handles.push(h);
    }
    let mut report = Report { seed: opts.seed, ..Report::default() };
    let mut last_progress = Instant::now();
    let tick = Duration::from_millis(100).min(opts.progress_every);
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(tick);
        let now_ms = shared.started.elapsed().as_millis() as u64;
        for (index, since) in &shared.running {
            let i = index.load(Ordering::Relaxed);
            if i != u64::MAX
                && now_ms.saturating_sub(since.load(Ordering::Relaxed)) > opts.hang_after.as_millis() as u64
            {
                // A stuck worker cannot be stopped: report it and leave it to the caller to exit.
                shared.stop.store(true, Ordering::Relaxed);
                report.hang = Some(i);
                report.inputs = shared.done.load(Ordering::Relaxed);
                report.panics = shared.panics.load(Ordering::Relaxed);
                report.peak_rss_mib = peak_rss_kib().unwrap_or(0) / 1024;
                report.elapsed = shared.started.elapsed();
                return Ok(report);
            }
        }
        let peak = peak_rss_kib().unwrap_or(0) / 1024;
        if peak > opts.max_rss_mib {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if last_progress.elapsed() >= opts.progress_every {
            last_progress = Instant::now();
            progress(&snapshot(&shared, peak));
        }
    }
    for h in handles {
        match h.join() {
            Ok(r) => report.merge(r),
            Err(_) => report.panics += 1, // the worker itself died: counted, never expected
        }
    }
    if let Some(e) = shared.crash_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    report.peak_rss_mib = peak_rss_kib().unwrap_or(0) / 1024;
    if report.peak_rss_mib > opts.max_rss_mib && report.rss_exceeded.is_none() {
        report.rss_exceeded = Some((report.peak_rss_mib, opts.start, opts.start + report.inputs));
    }
    report.elapsed = shared.started.elapsed();
    Ok(report)
}

fn snapshot(shared: &Shared, peak_rss_mib: u64) -> Progress {
    Progress {
        inputs: shared.done.load(Ordering::Relaxed),
        panics: shared.panics.load(Ordering::Relaxed),
        breaches: shared.breaches.load(Ordering::Relaxed),
        elapsed: shared.started.elapsed(),
        peak_rss_mib,
    }
}

/// Runs one input under `catch_unwind`: its result, or the panic's message.
fn attempt(target: &mut Target, case: &Case) -> Result<Result<Outcome, Breach>, String> {
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target(case)));
    let message = CAUGHT.with(|c| c.borrow_mut().take().flatten());
    result.map_err(|_| message.unwrap_or_else(|| "panic (no message)".to_string()))
}

fn worker(shared: &Shared, w: usize, threads: usize) -> Report {
    let opts = &shared.opts;
    let mut report = Report::default();
    let end = opts.start.saturating_add(opts.iterations);
    if end <= opts.start {
        return report;
    }
    let mut block = opts.start / BLOCK + w as u64;
    let last_block = (end - 1) / BLOCK;
    let (running, since) = &shared.running[w];
    while block <= last_block && !shared.stop.load(Ordering::Relaxed) {
        let mut target = (shared.make)();
        let from = block * BLOCK;
        // Warm-up: the inputs of the block before `start`, so the parsers hold what they
        // would in a run from the block's start. Their results are not counted.
        for i in from..opts.start.max(from) {
            let case = shared.gen.case(opts.seed, i);
            if attempt(&mut target, &case).is_err() {
                target = (shared.make)();
            }
        }
        let mut checked_from = opts.start.max(from);
        for i in opts.start.max(from)..end.min(from + BLOCK) {
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let case = shared.gen.case(opts.seed, i);
            since.store(shared.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            running.store(i, Ordering::Relaxed);
            let t0 = Instant::now();
            let result = attempt(&mut target, &case);
            let took = t0.elapsed();
            running.store(u64::MAX, Ordering::Relaxed);
            if report.slowest.is_none_or(|(_, t)| took > t) {
                report.slowest = Some((i, took));
            }
            report.inputs += 1;
            report.input_bytes += case.bytes.len() as u64;
            match result {
                Ok(Ok(out)) => {
                    report.events += out.events;
                    for (k, v) in out.dead {
                        *report.dead.entry(k).or_default() += v;
                    }
                    report.read_errors += out.read_errors;
                }
                Ok(Err(breach)) => {
                    shared.breaches.fetch_add(1, Ordering::Relaxed);
                    *report.breaches.entry(breach.invariant).or_default() += 1;
                    fail(shared, &mut report, &case, i, breach);
                }
                Err(detail) => {
                    // The parsers may be half-way through anything: start again from fresh ones.
                    target = (shared.make)();
                    shared.panics.fetch_add(1, Ordering::Relaxed);
                    report.panics += 1;
                    fail(shared, &mut report, &case, i, Breach { invariant: "panic", class: String::new(), detail });
                }
            }
            shared.done.fetch_add(1, Ordering::Relaxed);
            // Memory: after every large or compressed input (bombs), and every 16 others.
            if case.gzip || case.bytes.len() > 64 << 10 || report.inputs % 16 == 0 {
                let peak = peak_rss_kib().unwrap_or(0) / 1024;
                if peak > opts.max_rss_mib {
                    report.rss_exceeded = Some((peak, checked_from, i));
                    shared.stop.store(true, Ordering::Relaxed);
                    break;
                }
                checked_from = i + 1;
            }
        }
        block += threads as u64;
    }
    report
}

/// Records a failure and writes its input (the first few of each kind) to the crash folder.
fn fail(shared: &Shared, report: &mut Report, case: &Case, index: u64, breach: Breach) {
    let Breach { invariant, class, detail } = breach;
    let seed = shared.opts.seed;
    let mut file = None;
    if let Some(dir) = &shared.opts.crash_dir {
        let sig = signature(invariant, &class, &detail);
        let n = shared
            .crash_files
            .lock()
            .map(|mut m| {
                let n = m.entry(sig).or_default();
                *n += 1;
                *n
            })
            .unwrap_or(u32::MAX);
        if n <= 3 {
            let path = dir.join(format!("{invariant}-seed{seed}-input{index}.bin"));
            let note = format!(
                "{invariant}: {class}\n{detail}\nrecipe: {}\nreproduce: cargo run --release -p trailhound-fuzz -- --seed {seed} --start {index} --iterations 1\n",
                case.recipe.join(" ")
            );
            match write_crash(&path, &case.bytes, &note) {
                Ok(()) => file = Some(path),
                Err(e) => {
                    if let Ok(mut slot) = shared.crash_error.lock() {
                        slot.get_or_insert(e);
                    }
                }
            }
        }
    }
    report.add_failure(Failure { invariant, index, class, detail, recipe: case.recipe.clone(), file, count: 1 });
}

fn write_crash(path: &Path, bytes: &[u8], note: &str) -> Result<(), RunError> {
    std::fs::write(path, bytes).map_err(|source| RunError::CrashFile { path: path.to_path_buf(), source })?;
    let txt = path.with_extension("txt");
    std::fs::write(&txt, note).map_err(|source| RunError::CrashFile { path: txt, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Options {
        Options { iterations: 300, gen: GenOptions { bomb_mib: 0, bomb_one_in: 0 }, ..Options::default() }
    }

    /// Panics on inputs holding a BOM, as a parser bug would.
    fn panics_on_bom() -> Target {
        Box::new(|case: &Case| {
            if case.bytes.windows(3).any(|w| w == b"\xEF\xBB\xBF") {
                panic!("injected: BOM seen");
            }
            Ok(Outcome::default())
        })
    }

    #[test]
    fn a_panicking_target_is_caught_counted_written_and_reproduced_by_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options { crash_dir: Some(dir.path().to_path_buf()), threads: 2, ..quiet() };
        let report = run(opts.clone(), panics_on_bom, &mut |_| {}).expect("run");
        assert_eq!(report.inputs, 300);
        assert!(report.panics > 0, "no input held a BOM");
        assert!(!report.clean());
        assert_eq!(report.failures.len(), 1, "one distinct panic: {:?}", report.failures);
        let f = &report.failures[0];
        assert!(f.detail.starts_with("injected: BOM seen at "), "{}", f.detail);
        assert_eq!(f.count, report.panics);
        let file = f.file.as_ref().expect("crash file");
        assert_eq!(std::fs::read(file).expect("read crash"), Generator::new(opts.gen).case(0, f.index).bytes);
        // The same input alone, by its index, panics again.
        let again = run(Options { start: f.index, iterations: 1, crash_dir: None, ..opts }, panics_on_bom, &mut |_| {})
            .expect("rerun");
        assert_eq!((again.inputs, again.panics), (1, 1));
    }

    #[test]
    fn a_failure_that_depends_on_earlier_inputs_of_its_block_reproduces_from_its_index() {
        // Panics on the eleventh input it sees, as a parser could on state left by others.
        fn eleventh() -> Target {
            let mut seen = 0;
            Box::new(move |_: &Case| {
                seen += 1;
                assert!(seen != 11, "injected: eleventh input");
                Ok(Outcome::default())
            })
        }
        let report = run(Options { iterations: 2 * BLOCK, threads: 2, ..quiet() }, eleventh, &mut |_| {}).expect("run");
        // Offsets 10, 21, 32, 43, 54 of each block (a fresh target after each panic).
        assert_eq!(report.panics, 10);
        let again = run(Options { start: BLOCK + 21, iterations: 1, ..quiet() }, eleventh, &mut |_| {}).expect("rerun");
        assert_eq!((again.inputs, again.panics), (1, 1));
        let clean = run(Options { start: BLOCK + 22, iterations: 1, ..quiet() }, eleventh, &mut |_| {}).expect("rerun");
        assert_eq!((clean.inputs, clean.panics), (1, 0));
    }

    #[test]
    fn a_breach_is_reported_by_invariant() {
        fn breaks() -> Target {
            Box::new(|case: &Case| {
                if case.gzip {
                    return Err(Breach {
                        invariant: "stats",
                        class: String::new(),
                        detail: format!("{} bytes", case.bytes.len()),
                    });
                }
                Ok(Outcome::default())
            })
        }
        let report = run(quiet(), breaks, &mut |_| {}).expect("run");
        assert_eq!(report.panics, 0);
        let n = report.breaches.get("stats").copied().unwrap_or(0);
        assert!(n > 0);
        assert_eq!(report.failures.len(), 1, "numbers in details do not split a failure");
        assert_eq!(report.failures[0].count, n);
    }

    #[test]
    fn memory_over_the_limit_stops_the_run() {
        fn grows() -> Target {
            Box::new(|_: &Case| Ok(Outcome::default()))
        }
        // Any process is above 0 MiB: the first check stops it.
        let report = run(Options { max_rss_mib: 0, ..quiet() }, grows, &mut |_| {}).expect("run");
        assert!(report.rss_exceeded.is_some());
        assert!(report.inputs < 300);
        assert!(!report.clean());
    }
}
