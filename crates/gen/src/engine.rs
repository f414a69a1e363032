//! The discrete-event engine: sources are woken in event-time order and render their calls
//! into pooled buffers (`pending`, a min-heap on event time); each generated event gets an
//! arrival delay and waits in a second min-heap (`arrivals`) until the generation cursor
//! passes its arrival time, so the output is written in arrival order with bounded memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};

use rand::{Rng as _, SeedableRng};
use trailhound_model::time::{HOUR, MINUTE, SECOND};

use crate::estate::Estate;
use crate::event::{render, Call};
use crate::scenarios::{self, ScenarioDef, Victim};
use crate::{background, GenConfig, GenError, GenStats, Label, Rng};

/// Never wake again.
pub(crate) const NEVER: i64 = i64::MAX;

/// Rendered events waiting for their event time to come up.
#[derive(Debug, Default)]
pub(crate) struct Emitter {
    pool: Vec<Vec<u8>>,
    free: Vec<u32>,
    /// (event time, sequence, buffer, is scenario event)
    pending: BinaryHeap<Reverse<(i64, u64, u32, bool)>>,
    seq: u64,
    cursor: i64,
}

impl Emitter {
    fn alloc(&mut self) -> u32 {
        match self.free.pop() {
            Some(i) => i,
            None => {
                self.pool.push(Vec::with_capacity(2048));
                (self.pool.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, idx: u32) {
        self.free.push(idx);
    }

    /// Renders `c` and queues it for generation at `c.t` (which must not be in the past);
    /// returns the buffer it was rendered into.
    pub(crate) fn emit(&mut self, c: &Call<'_>, rng: &mut Rng, scenario: bool) -> u32 {
        debug_assert!(c.t >= self.cursor, "event at {} before cursor {}", c.t, self.cursor);
        let t = c.t.max(self.cursor);
        let idx = self.alloc();
        let buf = &mut self.pool[idx as usize];
        buf.clear();
        render(buf, &Call { t, ..*c }, rng);
        self.seq += 1;
        self.pending.push(Reverse((t, self.seq, idx, scenario)));
        idx
    }

    /// The `eventID` of the event rendered into buffer `idx` (the last `"eventID":"` of the
    /// line: only `resources` and fixed fields follow it).
    fn event_id(&self, idx: u32) -> String {
        const KEY: &[u8] = b"\"eventID\":\"";
        let line = &self.pool[idx as usize];
        let at = line.windows(KEY.len()).rposition(|w| w == KEY).map_or(line.len(), |p| p + KEY.len());
        let rest = &line[at..];
        let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
        debug_assert_eq!(end, 36, "an eventID is a UUID");
        String::from_utf8_lossy(&rest[..end]).into_owned()
    }

    /// Queues a background event.
    pub(crate) fn bg(&mut self, c: &Call<'_>, rng: &mut Rng) {
        let _ = self.emit(c, rng, false);
    }

    /// The queued events' lines, in event-time order (emptying the queue).
    #[cfg(test)]
    pub(crate) fn drain(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(Reverse((_, _, idx, _))) = self.pending.pop() {
            v.push(String::from_utf8_lossy(&self.pool[idx as usize]).into_owned());
            self.release(idx);
        }
        v
    }
}

/// What a background source gets when it wakes.
pub(crate) struct Cx<'a> {
    /// Where calls go.
    pub em: &'a mut Emitter,
    /// The background RNG.
    pub rng: &'a mut Rng,
    /// The estate (sources register the credentials they hold).
    pub est: &'a mut Estate,
}

/// A background actor: woken at its scheduled time, it emits calls at or after that time and
/// returns when it wants to be woken next ([`NEVER`] to stop).
pub(crate) trait Source {
    /// Emits what happens at `now` (and possibly a little later), returns the next wake time.
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64;
}

/// One labelled stage of a scenario: the events emitted while it was current.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    /// Rule expected to fire on the stage.
    pub rule_id: &'static str,
    /// The actor (access key id) of the stage's events.
    pub actor_key: String,
    first: i64,
    last: i64,
    count: u64,
    ids: Vec<String>,
}

/// Collects one scenario's events and their extent (overall and per labelled stage).
pub(crate) struct ScenarioOut<'a> {
    em: &'a mut Emitter,
    /// The scenario RNG.
    pub rng: &'a mut Rng,
    first: i64,
    last: i64,
    count: u64,
    /// `eventID`s of the attack events, in emission order.
    ids: Vec<String>,
    /// Unlabelled (legitimate) events the scenario queued.
    benign: u64,
    stages: Vec<Stage>,
    current: Option<usize>,
}

impl<'a> ScenarioOut<'a> {
    /// Collects into `em`, drawing from `rng`.
    pub(crate) fn new(em: &'a mut Emitter, rng: &'a mut Rng) -> Self {
        ScenarioOut {
            em,
            rng,
            first: i64::MAX,
            last: i64::MIN,
            count: 0,
            ids: Vec::new(),
            benign: 0,
            stages: Vec::new(),
            current: None,
        }
    }

    /// Makes `(rule_id, actor_key)` the current stage (creating it on first use): the events
    /// emitted from now on are counted in its label. A scenario that never calls this gets
    /// one label with its definition's rule id; one with two or more stages also gets an
    /// `attack_chain` label spanning all its events.
    pub(crate) fn stage(&mut self, rule_id: &'static str, actor_key: &str) {
        let i = match self.stages.iter().position(|s| s.rule_id == rule_id && s.actor_key == actor_key) {
            Some(i) => i,
            None => {
                self.stages.push(Stage {
                    rule_id,
                    actor_key: actor_key.to_string(),
                    first: i64::MAX,
                    last: i64::MIN,
                    count: 0,
                    ids: Vec::new(),
                });
                self.stages.len() - 1
            }
        };
        self.current = Some(i);
    }

    /// Queues one attack event (labelled: its `eventID` goes into the current stage's label
    /// and the scenario's).
    pub(crate) fn emit(&mut self, c: &Call<'_>) {
        let t = c.t - c.t.rem_euclid(1000);
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        self.count += 1;
        let idx = self.em.emit(c, self.rng, true);
        let id = self.em.event_id(idx);
        if let Some(s) = self.current.and_then(|i| self.stages.get_mut(i)) {
            s.first = s.first.min(t);
            s.last = s.last.max(t);
            s.count += 1;
            s.ids.push(id.clone());
        }
        self.ids.push(id);
    }

    /// Queues one legitimate event that belongs to the scenario's setting (e.g. the victim
    /// workload's own call right before the attacker's): in no label.
    pub(crate) fn emit_benign(&mut self, c: &Call<'_>) {
        self.benign += 1;
        let _ = self.em.emit(c, self.rng, true);
    }
}

/// Access keys already attacked, with the time of the attack's last event, so that planners
/// can avoid re-using a credential of an earlier scenario instance (which would blend two
/// scenarios into one chain no label describes).
#[derive(Debug, Default)]
pub(crate) struct History {
    hits: Vec<(String, i64)>,
}

impl History {
    /// Recent: attacked within 6 hours of `now`.
    pub(crate) fn recent(&self, key: &str, now: i64) -> bool {
        self.hits.iter().any(|(k, t)| k == key && now - *t < 6 * HOUR)
    }

    /// Attacked at any time before.
    pub(crate) fn ever(&self, key: &str) -> bool {
        self.hits.iter().any(|(k, _)| k == key)
    }

    fn record(&mut self, key: &str, t: i64) {
        match self.hits.iter_mut().find(|(k, _)| k == key) {
            Some(h) => h.1 = h.1.max(t),
            None => self.hits.push((key.to_string(), t)),
        }
    }
}

/// What a planner knows about the run as a whole.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunInfo {
    /// Start of the simulated window (ms).
    pub start_ms: i64,
    /// Events requested.
    pub events: u64,
    /// Events generated so far.
    pub done: u64,
    /// Instances of each scenario in this run.
    pub per: u64,
}

impl RunInfo {
    /// The run's likely time span, extrapolated from the time taken by the events so far
    /// (the background's rate is steady); 0 before any event.
    pub(crate) fn span_estimate(&self, now: i64) -> i64 {
        if self.done == 0 {
            return 0;
        }
        ((now - self.start_ms) as f64 * self.events as f64 / self.done as f64) as i64
    }
}

/// Everything a planner gets besides the output.
pub(crate) struct PlanCx<'a> {
    /// The estate as it is now.
    pub est: &'a Estate,
    /// The generation cursor: every event must be at or after it.
    pub now: i64,
    /// Instance number of this scenario (0, 1, ...).
    pub k: u32,
    /// The background has stopped: plan now or never (returning [`Planned::NotYet`] skips).
    pub force: bool,
    /// The run.
    pub run: RunInfo,
    /// Credentials attacked before.
    pub history: &'a History,
}

/// What a planner did.
#[derive(Debug)]
pub(crate) enum Planned {
    /// Emitted its events; attacked this victim.
    Done(Victim),
    /// Nothing emitted, no victim yet: ask again at the next event.
    NotYet,
    /// Nothing emitted: ask again at this time (ms).
    Retry(i64),
    /// Nothing emitted and nothing will be (the run cannot hold it).
    Skip,
}

/// Samples an arrival delay: mostly 1/15..1/3 of `max` (1–5 min of 15), a tenth faster, a
/// tail up to `max`.
pub(crate) fn delay(rng: &mut Rng, max: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    let frac = if u < 0.10 {
        v / 15.0
    } else if u < 0.92 {
        // triangular-ish between 1/15 and 1/3, peaking near 2–3 minutes
        let w: f64 = rng.random();
        1.0 / 15.0 + (4.0 / 15.0) * ((v + w) / 2.0)
    } else {
        1.0 / 3.0 + (2.0 / 3.0) * v * v
    };
    ((frac * max as f64) as i64).clamp(0, max)
}

fn rng_stream(seed: u64, stream: u64) -> Rng {
    let mut r = Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// One scheduled scenario instance.
struct Trigger {
    at_event: u64,
    def: usize,
    instance: u32,
}

/// Receives generated events in output order (the file writer, or a test probe).
pub(crate) trait Sink {
    /// One event line; `arrival` and `time` are in ms, `time` floored to the second.
    fn event(&mut self, line: &[u8], time: i64, arrival: i64) -> std::io::Result<()>;
}

struct WriteSink<W: Write> {
    w: BufWriter<W>,
    bytes: u64,
}

impl<W: Write> Sink for WriteSink<W> {
    fn event(&mut self, line: &[u8], _time: i64, _arrival: i64) -> std::io::Result<()> {
        self.bytes += line.len() as u64;
        self.w.write_all(line)
    }
}

/// `generate` behind the public API.
pub(crate) fn generate<W: Write, L: Write>(cfg: &GenConfig, out: W, labels: Option<L>) -> Result<GenStats, GenError> {
    let mut sink = WriteSink { w: BufWriter::with_capacity(1 << 20, out), bytes: 0 };
    let mut labels = labels.map(|l| BufWriter::with_capacity(1 << 14, l));
    let mut on_label = |label: &Label| -> Result<(), GenError> {
        if let Some(l) = labels.as_mut() {
            serde_json::to_writer(&mut *l, label)?;
            l.write_all(b"\n")?;
        }
        Ok(())
    };
    let mut stats = run(cfg, &mut sink, &mut on_label)?;
    sink.w.flush()?;
    if let Some(l) = labels.as_mut() {
        l.flush()?;
    }
    stats.bytes = sink.bytes;
    Ok(stats)
}

/// Plans one scenario instance and writes its labels. Returns what the planner did, the
/// number of events it queued and the number of labels written.
#[allow(clippy::too_many_arguments)]
fn fire(
    def: &ScenarioDef,
    k: u32,
    force: bool,
    now: i64,
    run: RunInfo,
    est: &Estate,
    em: &mut Emitter,
    rng: &mut Rng,
    history: &mut History,
    on_label: &mut dyn FnMut(&Label) -> Result<(), GenError>,
) -> Result<(Planned, u64, u64), GenError> {
    let mut out = ScenarioOut::new(em, rng);
    let planned = (def.plan)(&PlanCx { est, now, k, force, run, history }, &mut out);
    let ScenarioOut { first, last, count, ids, benign, stages, .. } = out;
    let queued = count + benign;
    let Planned::Done(victim) = &planned else {
        debug_assert_eq!(queued, 0, "{} emitted events without a victim", def.name);
        return Ok((planned, queued, 0));
    };
    let mut labels = 0u64;
    let mut write = |rule_id: &str, actor_key: &str, start_ms: i64, end_ms: i64, events: u64, ids: &[String]| {
        labels += 1;
        on_label(&Label {
            scenario: def.name.to_string(),
            rule_id: rule_id.to_string(),
            actor_key: actor_key.to_string(),
            account: victim.account.clone(),
            start_ms,
            end_ms,
            events,
            event_ids: ids.to_vec(),
        })
    };
    let stages: Vec<&Stage> = stages.iter().filter(|s| s.count > 0).collect();
    match stages.as_slice() {
        [] => write(def.rules[0], &victim.actor_key, first, last, count, &ids)?,
        // One stage: its label covers every event of the scenario.
        [s] => write(s.rule_id, &s.actor_key, first, last, count, &ids)?,
        _ => {
            for s in &stages {
                write(s.rule_id, &s.actor_key, s.first, s.last, s.count, &s.ids)?;
            }
            write("attack_chain", &victim.actor_key, first, last, count, &ids)?;
        }
    }
    for s in &stages {
        history.record(&s.actor_key, s.last);
    }
    history.record(&victim.actor_key, last);
    Ok((planned, queued, labels))
}

/// Runs the simulation, handing events to `sink` and labels to `on_label`.
pub(crate) fn run(
    cfg: &GenConfig,
    sink: &mut dyn Sink,
    on_label: &mut dyn FnMut(&Label) -> Result<(), GenError>,
) -> Result<GenStats, GenError> {
    let defs = scenarios::ALL;
    let enabled: Vec<usize> = match &cfg.scenarios {
        None => (0..defs.len()).collect(),
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                match defs.iter().position(|d| d.name == n) {
                    Some(i) if !v.contains(&i) => v.push(i),
                    Some(_) => {}
                    None => return Err(GenError::UnknownScenario(n.clone())),
                }
            }
            v.sort_unstable();
            v
        }
    };
    if cfg.max_delay_ms < 0 {
        return Err(GenError::Config("max_delay_ms must be >= 0".into()));
    }

    // Independent streams: the background does not change when attacks are switched off.
    let mut bg_rng = rng_stream(cfg.seed, 1);
    let mut sc_rng = rng_stream(cfg.seed, 2);
    let mut delay_bg = rng_stream(cfg.seed, 3);
    let mut delay_sc = rng_stream(cfg.seed, 4);

    let mut est = Estate::new(&mut bg_rng);
    let mut em = Emitter { cursor: cfg.start_ms, ..Emitter::default() };
    let mut sources = background::build(&mut est, &mut bg_rng, cfg.start_ms);
    let mut sched: BinaryHeap<Reverse<(i64, u64, usize)>> = BinaryHeap::new();
    let mut sched_seq = 0u64;
    for (i, (first, _)) in sources.iter().enumerate() {
        sched_seq += 1;
        sched.push(Reverse((*first, sched_seq, i)));
    }

    let mut triggers = Vec::new();
    let per = (cfg.events.saturating_add(150_000) / 300_000).max(1);
    if cfg.attacks && cfg.events > 0 {
        for &d in &enabled {
            for k in 0..per {
                let lo = 0.10 + 0.65 * k as f64 / per as f64;
                let hi = 0.10 + 0.65 * (k + 1) as f64 / per as f64;
                let f = sc_rng.random_range(lo..hi);
                let at_event = ((f * cfg.events as f64) as u64).max(1);
                triggers.push(Trigger { at_event, def: d, instance: k as u32 });
            }
        }
        triggers.sort_by_key(|t| (t.at_event, t.def, t.instance));
    }
    let mut next_trigger = 0usize;
    let mut deferred: BinaryHeap<Reverse<(i64, usize, u32)>> = BinaryHeap::new();
    let mut history = History::default();

    let mut arrivals: BinaryHeap<Reverse<(i64, u64, u32, i64)>> = BinaryHeap::new();
    let mut arrival_seq = 0u64;
    let mut total = 0u64;
    let mut scenario_pending = 0u64;
    let mut bg_active = cfg.events > 0;
    let mut n_labels = 0u64;
    let mut n_instances = 0u64;
    let mut now = cfg.start_ms;

    loop {
        if bg_active {
            if let Some(&Reverse((w, _, sid))) = sched.peek() {
                let next_pending = em.pending.peek().map_or(NEVER, |r| r.0 .0);
                if w <= next_pending {
                    sched.pop();
                    let mut cx = Cx { em: &mut em, rng: &mut bg_rng, est: &mut est };
                    let next = sources[sid].1.wake(w, &mut cx);
                    if next != NEVER {
                        sched_seq += 1;
                        sched.push(Reverse((next.max(w), sched_seq, sid)));
                    }
                    continue;
                }
            }
        }

        // Deferred scenarios whose time has come (all of them, forced, once the background has
        // stopped).
        while deferred.peek().is_some_and(|r| !bg_active || r.0 .0 <= now) {
            let Some(Reverse((_, d, k))) = deferred.pop() else { break };
            let force = !bg_active;
            let run = RunInfo { start_ms: cfg.start_ms, events: cfg.events, done: total, per };
            let (planned, count, nl) =
                fire(&defs[d], k, force, now, run, &est, &mut em, &mut sc_rng, &mut history, on_label)?;
            scenario_pending += count;
            n_labels += nl;
            n_instances += u64::from(matches!(planned, Planned::Done(_)));
            match planned {
                _ if force => {}
                Planned::NotYet => deferred.push(Reverse((now + MINUTE, d, k))),
                Planned::Retry(t) => deferred.push(Reverse((t.max(now + SECOND), d, k))),
                Planned::Done(_) | Planned::Skip => {}
            }
        }

        // Scenarios due now (or all remaining ones once the background has stopped).
        while next_trigger < triggers.len() && (!bg_active || triggers[next_trigger].at_event <= total) {
            let tr = &triggers[next_trigger];
            let force = !bg_active;
            let run = RunInfo { start_ms: cfg.start_ms, events: cfg.events, done: total, per };
            let (planned, count, nl) =
                fire(&defs[tr.def], tr.instance, force, now, run, &est, &mut em, &mut sc_rng, &mut history, on_label)?;
            scenario_pending += count;
            n_labels += nl;
            n_instances += u64::from(matches!(planned, Planned::Done(_)));
            match planned {
                Planned::Done(_) | Planned::Skip => next_trigger += 1,
                Planned::Retry(t) => {
                    deferred.push(Reverse((t.max(now + SECOND), tr.def, tr.instance)));
                    next_trigger += 1;
                }
                Planned::NotYet if force => next_trigger += 1,
                Planned::NotYet => break,
            }
        }

        let Some(Reverse((t, _, buf, scenario))) = em.pending.pop() else {
            if bg_active || !deferred.is_empty() {
                bg_active = false;
                continue;
            }
            break;
        };
        if !scenario && !bg_active {
            em.release(buf);
            continue;
        }
        now = t;
        em.cursor = t;
        let sec = t - t.rem_euclid(1000);
        while let Some(&Reverse((a, _, b, et))) = arrivals.peek() {
            if a > sec {
                break;
            }
            arrivals.pop();
            sink.event(&em.pool[b as usize], et, a)?;
            em.release(b);
        }
        let d = delay(if scenario { &mut delay_sc } else { &mut delay_bg }, cfg.max_delay_ms);
        arrival_seq += 1;
        arrivals.push(Reverse((sec + d, arrival_seq, buf, sec)));
        total += 1;
        if scenario {
            scenario_pending -= 1;
        }
        if bg_active && total + scenario_pending >= cfg.events {
            bg_active = false;
        }
    }
    while let Some(Reverse((a, _, b, et))) = arrivals.pop() {
        sink.event(&em.pool[b as usize], et, a)?;
        em.release(b);
    }
    Ok(GenStats { events: total, bytes: 0, scenarios: n_instances, labels: n_labels })
}
