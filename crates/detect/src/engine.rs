//! The engine: watermark, sharding of actors over workers, rule dispatch, housekeeping.

use std::any::Any;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};
use trailhound_model::time::EventTime;
use trailhound_model::{stable_hash, Finding, Severity};

use crate::context::{ContextState, IdentityContext};
use crate::gate::{Gate, GateState, Rejected};
use crate::revisions::Revisions;
use crate::rules::{self, Rule, RuleCtx};
use crate::state::{self, StateError};
use crate::view::EventView;
use crate::{DetectConfig, DetectError, Suppress};

/// Counters since the engine was made (or since the stream it was restored from began).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Events processed.
    pub events: u64,
    /// Events older than the watermark when they arrived (given to stateless rules only).
    pub late_events: u64,
    /// Findings published (creates and updates).
    pub findings: u64,
    /// Batches processed.
    pub batches: u64,
    /// Findings not published because their severity was below `engine.min_severity`.
    #[serde(default)]
    pub quieted: u64,
    /// Events dead-lettered as too far ahead of the stream, their receive time or the clock.
    #[serde(default)]
    pub time_out_of_range: u64,
    /// Events held because they were far ahead of the stream, released once corroborated.
    #[serde(default)]
    pub held_released: u64,
    /// Approximate bytes of detection state after the last batch (a gauge; see
    /// `engine.max_state_bytes`).
    #[serde(default)]
    pub state_bytes: u64,
    /// The largest [`EngineStats::state_bytes`] after any batch.
    #[serde(default)]
    pub state_bytes_peak: u64,
    /// Keyed entries (one per rule and key) whose long-term memory (baselines, histories,
    /// homes) was evicted to keep within `engine.max_state_bytes`.
    #[serde(default)]
    pub evicted_long_term: u64,
    /// Keyed entries whose dormant windows (no longer able to fire by themselves) were closed
    /// early to keep within the budget.
    #[serde(default)]
    pub evicted_dormant: u64,
    /// Keyed entries whose live windows or sequences were evicted to keep within the budget:
    /// a detection may have been lost.
    #[serde(default)]
    pub evicted_active: u64,
    /// Keyed entries whose sequences armed by a sensitive write (a created user or access key
    /// waiting for its next step) were evicted, last of all: a detection may have been lost.
    #[serde(default)]
    pub evicted_armed: u64,
}

/// Event-time period of the memory budget's checks: the state is judged before the first
/// event of every minute (of the newest event time), as it stands after every earlier event,
/// whatever the batches were. See [`Engine::process`].
pub const BUDGET_PERIOD_MS: i64 = state::ACTIVITY_BUCKET_MS;

/// Share (percent) of `engine.max_state_bytes` past which the state is judged at once after a
/// batch, without waiting for the next minute (a flood of new keys within one minute).
pub const BUDGET_CEILING_PERCENT: usize = 150;

/// Event time between two warnings about evictions (the counts add up in between).
const EVICTION_WARNING_EVERY_MS: i64 = 3_600_000;

/// A context line on the versions published because their state was evicted.
pub const CLOSED_EARLY: &str = "closed early: the detection state holding this finding was evicted to keep within engine.max_state_bytes (later events of the same key are reported in later revisions)";

/// Evictions since the last warning (they are logged at most once an hour of event time).
#[derive(Debug, Default, Clone, Copy)]
struct Evictions {
    /// Watermark of the last warning.
    warned_at: Option<EventTime>,
    /// Enforcements since then.
    rounds: u64,
    /// Entries evicted since then, per tier.
    entries: [u64; 4],
    /// Enforcements since then that a batch's growth past the ceiling forced between checks.
    ceiling: u64,
}

/// Runs every rule over event batches in event time.
pub struct Engine {
    rules: Vec<Box<dyn Rule>>,
    /// Per rule (same index): its allowlist, lower-cased user agents.
    suppress: Vec<Option<Suppress>>,
    /// The rules whose `rules.<id>.severity` is set, and that severity (see [`Engine::publish`]).
    severity: Vec<(&'static str, Severity)>,
    workers: usize,
    lateness: i64,
    tick: i64,
    max_time: Option<EventTime>,
    last_housekeeping: Option<EventTime>,
    stats: EngineStats,
    min_severity: Severity,
    context: IdentityContext,
    gate: Gate,
    /// `engine.max_state_bytes`.
    max_state_bytes: usize,
    /// Evictions not yet reported in a warning.
    evictions: Evictions,
    /// Revisions of the uids published (see [`crate::revisions`]).
    revisions: Revisions,
    /// Whose code runs outside `on_batch` (a rule's id, [`ENGINE`] or [`BUDGET`]): what a
    /// panic there is reported as.
    running: Cell<&'static str>,
}

/// [`DetectError::RulePanicked`]'s rule for a panic in the engine's own code.
const ENGINE: &str = "engine";
/// [`DetectError::RulePanicked`]'s rule for a panic while weighing or evicting state.
const BUDGET: &str = "engine (memory budget)";

/// Format version of [`Engine::snapshot`]; bump it when any state layout changes
/// incompatibly (2: the identity context, enumeration_burst's recon history).
const SNAPSHOT_VERSION: u32 = 2;

/// What [`Engine::snapshot`] writes.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    max_time: Option<EventTime>,
    last_housekeeping: Option<EventTime>,
    stats: EngineStats,
    rules: Vec<RuleState>,
    #[serde(default)]
    context: ContextState,
    #[serde(default)]
    gate: GateState,
    #[serde(default)]
    revisions: Revisions,
}

/// One rule's state in a [`Snapshot`].
#[derive(Serialize, Deserialize)]
struct RuleState {
    id: String,
    #[serde(with = "crate::state::bytes")]
    state: Vec<u8>,
}

/// The first field of a [`Snapshot`], read before the rest.
#[derive(Deserialize)]
struct Header {
    version: u32,
}

fn ms(d: Duration) -> i64 {
    crate::window::millis(d)
}

impl Engine {
    /// Builds the engine and its enabled rules; rejects an invalid configuration.
    pub fn new(cfg: &DetectConfig) -> Result<Self, DetectError> {
        cfg.validate().map_err(DetectError::Config)?;
        Ok(Self::with_rules(cfg, rules::build(&cfg.rules)))
    }

    /// Builds the engine with the given rules (tests, custom builds).
    pub fn with_rules(cfg: &DetectConfig, rules: Vec<Box<dyn Rule>>) -> Self {
        let suppress = rules
            .iter()
            .map(|r| {
                cfg.suppress.get(r.meta().id).filter(|s| !s.is_empty()).map(|s| Suppress {
                    user_agents: s.user_agents.iter().map(|u| u.to_ascii_lowercase()).collect(),
                    ..s.clone()
                })
            })
            .collect();
        let severity =
            rules.iter().filter_map(|r| Some((r.meta().id, cfg.rules.common(r.meta().id)?.severity?))).collect();
        Self {
            rules,
            suppress,
            severity,
            workers: cfg.engine.workers.max(1),
            lateness: ms(cfg.engine.allowed_lateness),
            tick: ms(cfg.engine.watermark_tick).max(1),
            max_time: None,
            last_housekeeping: None,
            stats: EngineStats::default(),
            min_severity: cfg.engine.min_severity,
            context: IdentityContext::new(&cfg.engine.context),
            gate: Gate::new(ms(cfg.engine.max_future_skew), cfg.engine.future_hold_events),
            max_state_bytes: usize::try_from(cfg.engine.max_state_bytes).unwrap_or(usize::MAX),
            evictions: Evictions::default(),
            revisions: Revisions::default(),
            running: Cell::new(ENGINE),
        }
    }

    /// The rules in use.
    pub fn rules(&self) -> &[Box<dyn Rule>] {
        &self.rules
    }

    /// Current watermark: newest event time seen minus the allowed lateness.
    pub fn watermark(&self) -> EventTime {
        self.max_time.map_or(i64::MIN, |t| t.saturating_sub(self.lateness))
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Keyed state entries over all rules and the identity context.
    pub fn state_size(&self) -> usize {
        self.rules.iter().map(|r| r.state_size()).sum::<usize>() + self.context.len()
    }

    /// Approximate bytes of detection state now: every rule's keyed state, the identity
    /// context and the ledger of published revisions (what `engine.max_state_bytes` bounds).
    pub fn state_bytes(&self) -> usize {
        self.rules.iter().map(|r| r.state_bytes()).sum::<usize>() + self.context.bytes() + self.revisions.bytes()
    }

    /// Checkpoint: the engine's clock (newest event time, last housekeeping), its counters and
    /// every rule's keyed state, versioned, as MessagePack. Take it between batches and store
    /// it with the input offsets of the last batch processed; [`Engine::restore`] reads it.
    pub fn snapshot(&self) -> Result<Vec<u8>, DetectError> {
        let rules = self
            .rules
            .iter()
            .map(|r| Ok(RuleState { id: r.meta().id.to_string(), state: r.snapshot()? }))
            .collect::<Result<Vec<_>, StateError>>()?;
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            max_time: self.max_time,
            last_housekeeping: self.last_housekeeping,
            stats: self.stats,
            rules,
            context: self.context.state(),
            gate: self.gate.state()?,
            revisions: self.revisions.clone(),
        };
        Ok(state::save("engine", &snap)?)
    }

    /// Replaces the engine's state with a [`Engine::snapshot`], typically in a fresh engine
    /// built from the same configuration, before processing the batches that follow the
    /// snapshot's offsets. Rules are matched by id: state of a rule that is not enabled now
    /// is dropped (with a warning), and an enabled rule absent from the snapshot starts empty.
    /// A snapshot of another format version is refused. On error the engine is left empty,
    /// as new.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), DetectError> {
        let result = self.try_restore(bytes);
        if result.is_err() {
            for rule in &mut self.rules {
                // The empty state always loads.
                let _ = rule.restore(&[]);
            }
            self.max_time = None;
            self.last_housekeeping = None;
            self.stats = EngineStats::default();
            self.context.set_state(ContextState::default());
            // The empty state always loads.
            let _ = self.gate.set_state(GateState::default());
            self.gate.released_total = 0;
            self.gate.rejected_total = 0;
            self.revisions = Revisions::default();
        }
        result
    }

    fn try_restore(&mut self, bytes: &[u8]) -> Result<(), DetectError> {
        let decode = |e: rmp_serde::decode::Error| StateError::Decode { rule: "engine", message: e.to_string() };
        let header: Header = rmp_serde::from_slice(bytes).map_err(decode)?;
        if header.version != SNAPSHOT_VERSION {
            return Err(StateError::Version { found: header.version, expected: SNAPSHOT_VERSION }.into());
        }
        let snap: Snapshot = rmp_serde::from_slice(bytes).map_err(decode)?;
        let mut saved: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for r in &snap.rules {
            saved.insert(r.id.as_str(), r.state.as_slice());
        }
        for rule in &mut self.rules {
            let id = rule.meta().id;
            match saved.remove(id) {
                Some(state) => rule.restore(state)?,
                None => {
                    tracing::info!(rule = id, "rule not in the detection state snapshot: it starts empty");
                    rule.restore(&[])?;
                }
            }
        }
        for id in saved.keys() {
            tracing::warn!(rule = *id, "rule in the detection state snapshot is not enabled: its state is dropped");
        }
        self.max_time = snap.max_time;
        self.last_housekeeping = snap.last_housekeeping;
        self.stats = snap.stats;
        self.context.set_state(snap.context);
        self.gate.set_state(snap.gate)?;
        self.gate.seed_clock(snap.max_time);
        self.gate.released_total = self.stats.held_released;
        self.gate.rejected_total = self.stats.time_out_of_range;
        self.revisions = snap.revisions;
        Ok(())
    }

    /// Processes one batch of the event schema; returns the findings it published.
    ///
    /// A rule that panics while judging the batch is an error
    /// ([`DetectError::RulePanicked`]), not a panic of the caller and never a silent loss of a
    /// worker's findings: the batch's findings are dropped and the engine must not be used
    /// further (its state may be half-updated); start again from the last checkpoint.
    ///
    /// The future-time gate judges every row first (see `engine.max_future_skew`): events far
    /// ahead of the stream are held until corroborated or rejected ([`Engine::take_rejected`]),
    /// so no single event can move the watermark.
    ///
    /// **Memory budget.** Before the first event of every minute of event time
    /// ([`BUDGET_PERIOD_MS`], the newest event time entering a new minute), the state as it
    /// stands after every earlier event is judged: when it weighs more than
    /// `engine.max_state_bytes`, everything the watermark closes is closed first (whenever
    /// housekeeping last ran), then, if still over, the least recently active keys' state is
    /// evicted down to 80 % of the budget, tier by tier (see [`crate::state`]). The batch is
    /// processed in pieces at those points, so what is evicted depends on the events and their
    /// order only, not on how they were batched. Between two checks the state grows by what
    /// one minute of events adds; a batch that leaves it past [`BUDGET_CEILING_PERCENT`] of
    /// the budget is judged at once (a flood of new keys), and only then may the choice
    /// depend on batch boundaries.
    pub fn process(&mut self, batch: &RecordBatch) -> Result<Vec<Finding>, DetectError> {
        self.guarded(|e| e.process_unguarded(batch))
    }

    /// Runs `f`, turning a panic in a rule's housekeeping, correlation or eviction code into
    /// [`DetectError::RulePanicked`] naming the rule that was running (`on_batch` panics are
    /// caught per worker in `run_rows`).
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, DetectError>) -> Result<T, DetectError> {
        self.running.set(ENGINE);
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut *self)));
        ran.unwrap_or_else(|payload| {
            Err(DetectError::RulePanicked {
                rule: self.running.get(),
                worker: 0,
                message: panic_message(payload.as_ref()),
            })
        })
    }

    fn process_unguarded(&mut self, batch: &RecordBatch) -> Result<Vec<Finding>, DetectError> {
        let view = EventView::new(batch)?;
        self.stats.batches += 1;
        self.stats.events += view.len() as u64;
        let admission = self.gate.admit(&view, batch);
        self.sync_gate_stats();
        let mut out = Vec::new();
        if let Some(released) = admission.released {
            let rview = EventView::new(&released)?;
            let all: Vec<usize> = (0..rview.len()).collect();
            self.run_periods(&rview, &all, &mut out)?;
        }
        self.run_periods(&view, &admission.rows, &mut out)?;
        let ceiling = (self.max_state_bytes / 100).saturating_mul(BUDGET_CEILING_PERCENT);
        self.check_budget(ceiling, &mut out);
        Ok(self.publish(out))
    }

    /// The findings of a batch (or of the end of input), as they leave the engine: with the
    /// severity `rules.<id>.severity` sets for their rule (after `engine.min_severity`,
    /// suppressions and correlation rules judged them at the rule's own), their revisions
    /// numbered across incarnations, counted.
    fn publish(&mut self, mut out: Vec<Finding>) -> Vec<Finding> {
        crate::rule_config::set_severity(&self.severity, &mut out);
        self.revisions.apply(&mut out, self.watermark());
        self.measure();
        self.stats.findings += out.len() as u64;
        out
    }

    /// Runs `rows` in pieces, judging the memory budget before each row that takes the newest
    /// event time into a new [`BUDGET_PERIOD_MS`].
    fn run_periods(&mut self, view: &EventView<'_>, rows: &[usize], out: &mut Vec<Finding>) -> Result<(), DetectError> {
        let period = |t: EventTime| t.div_euclid(BUDGET_PERIOD_MS);
        let mut start = 0;
        let mut newest = self.max_time;
        for (i, &row) in rows.iter().enumerate() {
            let t = view.time(row);
            if newest.is_some_and(|m| period(t) > period(m)) {
                if i > start {
                    self.run_rows(view, &rows[start..i], out)?;
                    start = i;
                }
                self.check_budget(self.max_state_bytes, out);
            }
            newest = Some(newest.map_or(t, |m| m.max(t)));
        }
        if start < rows.len() {
            self.run_rows(view, &rows[start..], out)?;
        }
        Ok(())
    }

    /// Records the state's weight in the counters; returns it.
    fn measure(&mut self) -> usize {
        let used = self.state_bytes();
        self.stats.state_bytes = used as u64;
        self.stats.state_bytes_peak = self.stats.state_bytes_peak.max(used as u64);
        used
    }

    /// When the state weighs more than `limit`: closes what the watermark closes, and if it
    /// still weighs more than `engine.max_state_bytes`, evicts down to 80 % of it.
    fn check_budget(&mut self, limit: usize, out: &mut Vec<Finding>) {
        let wm = self.watermark();
        if wm == i64::MIN || self.measure() <= limit {
            return;
        }
        // What housekeeping would close at this watermark is closed, however long ago it last
        // ran: the state judged is the same whatever the batches were.
        let mut fresh = Vec::new();
        self.settle(&mut fresh);
        self.correlate(&mut fresh);
        self.close_correlations(&mut fresh);
        out.append(&mut fresh);
        let used = self.measure();
        if used <= self.max_state_bytes {
            return;
        }
        let target = self.max_state_bytes / 100 * state::EVICT_TO_PERCENT;
        let mut evicted = Vec::new();
        let mut ctx = RuleCtx { watermark: wm, context: &self.context, out: &mut evicted };
        self.running.set(BUDGET);
        let done = state::enforce_budget(&self.rules, used, target, &mut ctx);
        for f in &mut evicted {
            f.context.push(CLOSED_EARLY.to_string());
        }
        // Correlation rules see the final versions of what closed early.
        self.correlate(&mut evicted);
        self.close_correlations(&mut evicted);
        out.append(&mut evicted);
        let after = self.measure();
        let entries = done.evicted.map(|e| e.entries);
        let [long_term, dormant, active, armed] = entries;
        self.stats.evicted_long_term += long_term;
        self.stats.evicted_dormant += dormant;
        self.stats.evicted_active += active;
        self.stats.evicted_armed += armed;
        let ceiling = limit > self.max_state_bytes;
        let cutoff = |i: usize| done.cutoffs[i].map(trailhound_model::time::to_rfc3339);
        tracing::debug!(
            state_bytes = used,
            after,
            evicted_long_term = long_term,
            evicted_dormant = dormant,
            evicted_active = active,
            evicted_armed = armed,
            long_term_before = ?cutoff(0),
            dormant_before = ?cutoff(1),
            active_before = ?cutoff(2),
            armed_before = ?cutoff(3),
            ceiling,
            watermark = %trailhound_model::time::to_rfc3339(wm),
            "detection state evicted to keep within its memory budget"
        );
        let e = &mut self.evictions;
        e.rounds += 1;
        e.ceiling += u64::from(ceiling);
        for (sum, n) in e.entries.iter_mut().zip(entries) {
            *sum += n;
        }
        if e.warned_at.is_none_or(|t| wm.saturating_sub(t) >= EVICTION_WARNING_EVERY_MS) {
            let [long_term, dormant, active, armed] = e.entries;
            tracing::warn!(
                state_bytes = used,
                after,
                max_state_bytes = self.max_state_bytes,
                evictions = e.rounds,
                evicted_long_term = long_term,
                evicted_dormant = dormant,
                evicted_active = active,
                evicted_armed = armed,
                over_ceiling = e.ceiling,
                watermark = %trailhound_model::time::to_rfc3339(wm),
                "detection state over its memory budget: evicted the least recently active keys' state (long-term memory first; evicted_active or evicted_armed > 0 means live windows or armed sequences went and a detection may be lost); counts since the last warning, logged at most once an hour of event time; raise engine.max_state_bytes if this repeats"
            );
            *e = Evictions { warned_at: Some(wm), ..Evictions::default() };
        }
    }

    /// Sets the driver's clock (ms since the epoch): events dated more than
    /// `engine.max_future_skew` after it are rejected at once. Rules never see it.
    pub fn set_now(&mut self, now: Option<EventTime>) {
        self.gate.set_now(now);
    }

    /// Events rejected by the future-time gate since the last call (for the dead-letter sink).
    pub fn take_rejected(&mut self) -> Vec<Rejected> {
        self.gate.take_rejected()
    }

    /// Events held by the future-time gate, waiting for a later event to corroborate them.
    pub fn held_events(&self) -> usize {
        self.gate.held()
    }

    fn sync_gate_stats(&mut self) {
        self.stats.time_out_of_range = self.gate.rejected_total;
        self.stats.held_released = self.gate.released_total;
    }

    /// Runs the rules over `rows` of `view` (rows the gate admitted), then housekeeping and
    /// correlation over what they published; appends it all to `out`.
    ///
    /// A rule that panics in `on_batch`, or a worker thread that panics outside a rule, is an
    /// error ([`DetectError::RulePanicked`], [`DetectError::WorkerPanicked`]): the other
    /// workers' findings of the batch are dropped with it, and the engine must not be used
    /// further (its state may be half-updated).
    fn run_rows(&mut self, view: &EventView<'_>, rows: &[usize], all: &mut Vec<Finding>) -> Result<(), DetectError> {
        let mut fresh = Vec::new();
        let out = &mut fresh;
        let wm = self.watermark();
        let mut batch_max = self.max_time;
        // Shard rows by actor; late rows go to stateless rules only.
        let mut on_time: Vec<Vec<usize>> = vec![Vec::new(); self.workers];
        let mut late: Vec<usize> = Vec::new();
        for &row in rows {
            let t = view.time(row);
            batch_max = Some(batch_max.map_or(t, |m| m.max(t)));
            if t < wm {
                late.push(row);
                continue;
            }
            let shard = if self.workers == 1 {
                0
            } else {
                (stable_hash(&[view.actor_key(row).as_bytes()]) % self.workers as u64) as usize
            };
            on_time[shard].push(row);
        }
        self.stats.late_events += late.len() as u64;
        // The context learns the whole batch before any rule judges it (a create and its
        // teardown in one batch, in either order).
        self.context.observe(view, rows.iter().copied());
        if !late.is_empty() {
            tracing::debug!(late = late.len(), watermark = wm, "late events given to stateless rules only");
        }
        let (rules, suppress, context) = (&self.rules, &self.suppress, &self.context);
        let run = |worker: usize, rows: &[usize], late: &[usize], out: &mut Vec<Finding>| {
            let mut ctx = RuleCtx { watermark: wm, context, out };
            let mut kept = Vec::new();
            for (rule, sup) in rules.iter().zip(suppress) {
                if rule.correlates() {
                    continue;
                }
                let on_batch = || {
                    rule.on_batch(view, unsuppressed(rows, sup.as_ref(), view, &mut kept), &mut ctx);
                    if !rule.meta().stateful && !late.is_empty() {
                        rule.on_batch(view, unsuppressed(late, sup.as_ref(), view, &mut kept), &mut ctx);
                    }
                };
                // The engine is not used after an error, so what the panic left half-done in
                // the rule's state is never seen.
                std::panic::catch_unwind(AssertUnwindSafe(on_batch)).map_err(|payload| DetectError::RulePanicked {
                    rule: rule.meta().id,
                    worker,
                    message: panic_message(payload.as_ref()),
                })?;
            }
            Ok::<(), DetectError>(())
        };
        if self.workers == 1 {
            run(0, &on_time[0], &late, out)?;
        } else {
            let results: Vec<Result<Vec<Finding>, DetectError>> = std::thread::scope(|s| {
                let handles: Vec<_> = on_time
                    .iter()
                    .enumerate()
                    .map(|(i, rows)| {
                        let late: &[usize] = if i == 0 { &late } else { &[] };
                        let run = &run;
                        s.spawn(move || {
                            let mut out = Vec::new();
                            run(i, rows, late, &mut out).map(|()| out)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .enumerate()
                    .map(|(worker, h)| {
                        h.join().unwrap_or_else(|payload| {
                            Err(DetectError::WorkerPanicked { worker, message: panic_message(payload.as_ref()) })
                        })
                    })
                    .collect()
            });
            for found in results {
                out.extend(found?);
            }
        }
        self.max_time = batch_max;
        self.housekeeping(out);
        self.correlate(out);
        self.close_correlations(out);
        all.append(&mut fresh);
        Ok(())
    }

    /// The rules over `rows` at the current watermark, without moving it (end of input).
    fn run_rules(&mut self, view: &EventView<'_>, rows: &[usize], out: &mut Vec<Finding>) -> Result<(), DetectError> {
        let max_time = self.max_time;
        let last_housekeeping = self.last_housekeeping;
        // `run_rows` with the clock put back: housekeeping is not due at the old watermark.
        self.last_housekeeping = Some(i64::MAX);
        let ran = self.run_rows(view, rows, out);
        self.max_time = max_time;
        self.last_housekeeping = last_housekeeping;
        ran
    }

    /// Lets correlation rules close their windows behind the watermark, once they have seen
    /// every final version the other rules published up to it (a watermark that jumps far in
    /// one step closes a chain's parts and the chain in the same batch).
    fn close_correlations(&mut self, out: &mut Vec<Finding>) {
        let wm = self.watermark();
        if wm == i64::MIN || self.last_housekeeping != Some(wm) {
            return;
        }
        let mut tail = Vec::new();
        let mut ctx = RuleCtx { watermark: wm, context: &self.context, out: &mut tail };
        for rule in self.rules.iter().filter(|r| r.correlates()) {
            self.running.set(rule.meta().id);
            rule.on_watermark(&mut ctx);
        }
        let before = tail.len();
        tail.retain(|f| f.severity >= self.min_severity);
        self.stats.quieted += (before - tail.len()) as u64;
        out.extend(tail);
    }

    /// Drops findings on allowlisted actors or accounts, orders the batch's findings
    /// deterministically, then lets correlation rules see them.
    fn correlate(&mut self, out: &mut Vec<Finding>) {
        let suppress = &self.suppress;
        let rules = &self.rules;
        let before = out.len();
        out.retain(|f| f.severity >= self.min_severity);
        self.stats.quieted += (before - out.len()) as u64;
        out.retain(|f| {
            rules
                .iter()
                .zip(suppress)
                .all(|(r, s)| r.meta().id != f.rule_id || s.as_ref().is_none_or(|s| !suppressed_finding(s, f)))
        });
        out.sort_by(|a, b| (a.first_event_time, &a.uid, a.revision).cmp(&(b.first_event_time, &b.uid, b.revision)));
        if out.is_empty() {
            return;
        }
        let wm = self.watermark();
        let mut extra = Vec::new();
        let mut ctx = RuleCtx { watermark: wm, context: &self.context, out: &mut extra };
        for rule in self.rules.iter().filter(|r| r.correlates()) {
            self.running.set(rule.meta().id);
            rule.on_findings(out, &mut ctx);
        }
        out.extend(extra);
    }

    /// Closes what the watermark closes when it moved at least `engine.watermark_tick` since
    /// the last time.
    fn housekeeping(&mut self, out: &mut Vec<Finding>) {
        let wm = self.watermark();
        if wm == i64::MIN || self.last_housekeeping.is_some_and(|last| wm.saturating_sub(last) < self.tick) {
            return;
        }
        self.last_housekeeping = Some(wm);
        self.context.expire(wm);
        self.revisions.expire(wm);
        let mut ctx = RuleCtx { watermark: wm, context: &self.context, out };
        // Correlation rules close after they have seen the final versions these publish
        // (`close_correlations`, after `correlate`).
        for rule in self.rules.iter().filter(|r| !r.correlates()) {
            self.running.set(rule.meta().id);
            rule.on_watermark(&mut ctx);
        }
    }

    /// Housekeeping at the current watermark, due or not, and unthrottled
    /// ([`Rule::on_settle`]): what is left is what the events and the watermark say, whenever
    /// housekeeping last ran.
    fn settle(&mut self, out: &mut Vec<Finding>) {
        let wm = self.watermark();
        self.last_housekeeping = Some(wm);
        self.context.expire(wm);
        self.revisions.expire(wm);
        let mut ctx = RuleCtx { watermark: wm, context: &self.context, out };
        for rule in self.rules.iter().filter(|r| !r.correlates()) {
            self.running.set(rule.meta().id);
            rule.on_settle(&mut ctx);
        }
    }

    /// End of input: moves the watermark past everything, closing every window and
    /// publishing final versions. The engine can go on afterwards (for a new stream). Errors
    /// as [`Engine::process`] does when a rule panics on the events still held.
    pub fn finish(&mut self) -> Result<Vec<Finding>, DetectError> {
        self.guarded(Self::finish_unguarded)
    }

    fn finish_unguarded(&mut self) -> Result<Vec<Finding>, DetectError> {
        let mut out = Vec::new();
        // The events the future-time gate still holds were corroborated by nothing after them,
        // so there is nothing left that they could blind: the rules see them, but they do not
        // move the watermark on their own before everything closes (a far-future event must
        // not close the stream's windows early).
        if let Some(held) = self.gate.drain() {
            match EventView::new(&held) {
                Ok(v) => {
                    let all: Vec<usize> = (0..v.len()).collect();
                    self.run_rules(&v, &all, &mut out)?;
                }
                Err(e) => tracing::warn!(error = %e, "held events without the event schema"),
            }
        }
        self.sync_gate_stats();
        self.close_all(&mut out);
        Ok(self.publish(out))
    }

    /// Moves the watermark past everything: closes every window, correlation rules last.
    fn close_all(&mut self, out: &mut Vec<Finding>) {
        let mut closing = Vec::new();
        let mut ctx = RuleCtx { watermark: i64::MAX, context: &self.context, out: &mut closing };
        for rule in self.rules.iter().filter(|r| !r.correlates()) {
            self.running.set(rule.meta().id);
            rule.on_watermark(&mut ctx);
        }
        self.correlate(&mut closing);
        out.extend(closing);
        // Correlation rules close last, after seeing every other rule's final versions.
        let mut tail = Vec::new();
        let mut ctx = RuleCtx { watermark: i64::MAX, context: &self.context, out: &mut tail };
        for rule in self.rules.iter().filter(|r| r.correlates()) {
            self.running.set(rule.meta().id);
            rule.on_watermark(&mut ctx);
        }
        let before = tail.len();
        tail.retain(|f| f.severity >= self.min_severity);
        self.stats.quieted += (before - tail.len()) as u64;
        out.extend(tail);
    }
}

/// The message of a panic's payload when it is a `&str` or a `String` (what `panic!` makes).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    match payload.downcast_ref::<&str>() {
        Some(s) => (*s).to_string(),
        None => payload.downcast_ref::<String>().cloned().unwrap_or_else(|| "a panic without a message".to_string()),
    }
}

/// `rows` without the events `sup` suppresses for a rule (`rows` itself when the rule has no
/// suppressions: no copy per rule and batch).
fn unsuppressed<'r>(
    rows: &'r [usize],
    sup: Option<&Suppress>,
    view: &EventView<'_>,
    kept: &'r mut Vec<usize>,
) -> &'r [usize] {
    match sup {
        None => rows,
        Some(s) => {
            kept.clear();
            kept.extend(rows.iter().copied().filter(|&r| !suppressed_event(s, view, r)));
            kept
        }
    }
}

fn suppressed_event(s: &Suppress, ev: &EventView<'_>, row: usize) -> bool {
    let actor = |a: &String| {
        a == ev.actor_key(row) || Some(a.as_str()) == ev.actor_arn(row) || Some(a.as_str()) == ev.session_issuer(row)
    };
    s.actors.iter().any(actor)
        || ev.account(row).is_some_and(|acct| s.accounts.iter().any(|a| a == acct))
        || ev.user_agent_matches(row, &s.user_agents)
}

fn suppressed_finding(s: &Suppress, f: &Finding) -> bool {
    s.actors.iter().any(|a| *a == f.actor_key || Some(a) == f.actor_arn.as_ref())
        || f.account.as_ref().is_some_and(|acct| s.accounts.contains(acct))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;
    use trailhound_model::Finding;

    use super::*;
    use crate::testing::{batches, finals};

    fn sorted(mut fs: Vec<Finding>) -> Vec<Finding> {
        fs.sort_by(|a, b| (&a.uid, a.revision).cmp(&(&b.uid, b.revision)));
        fs
    }

    /// Splits `lines` after every batch: each snapshot, restored into a fresh engine, gives
    /// the same findings as the uninterrupted run, batch by batch. Returns the rules that held
    /// state at some split.
    fn every_split(lines: &[String], batch_rows: usize) -> BTreeSet<&'static str> {
        let cfg = DetectConfig::default();
        let batches = batches(lines, batch_rows);
        let mut a = Engine::new(&cfg).expect("engine");
        let mut per_batch = Vec::new();
        let mut snaps = Vec::new();
        let mut stateful = BTreeSet::new();
        for b in &batches {
            snaps.push(a.snapshot().expect("snapshot"));
            stateful.extend(a.rules().iter().filter(|r| r.state_size() > 0).map(|r| r.meta().id));
            per_batch.push(a.process(b).expect("process"));
        }
        per_batch.push(a.finish().expect("finish"));
        let expected = finals(&per_batch.concat());
        for (split, snap) in snaps.iter().enumerate() {
            let mut b = Engine::new(&cfg).expect("engine");
            b.restore(snap).expect("restore");
            assert!(b.snapshot().expect("snapshot") == *snap, "split {split}: same bytes after restore");
            let mut all = per_batch[..split].concat();
            for (i, batch) in batches.iter().enumerate().skip(split) {
                let got = b.process(batch).expect("process");
                assert_eq!(sorted(got.clone()), sorted(per_batch[i].clone()), "split {split}, batch {i}");
                all.extend(got);
            }
            all.extend(b.finish().expect("finish"));
            assert_eq!(finals(&all), expected, "split {split}: final versions");
        }
        stateful
    }

    #[test]
    fn stratus_detonations_split_after_any_event_give_the_uninterrupted_findings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stratus");
        let events = std::fs::read_to_string(dir.join("events.ndjson")).expect("stratus events");
        let labels = std::fs::read_to_string(dir.join("labels.ndjson")).expect("stratus labels");
        let mut by_technique: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (e, l) in events.lines().zip(labels.lines()) {
            let l: Value = serde_json::from_str(l).expect("label");
            let t = l["technique"].as_str().expect("technique").to_string();
            by_technique.entry(t).or_default().push(e.to_string());
        }
        let mut stateful = BTreeSet::new();
        for lines in by_technique.values() {
            stateful.extend(every_split(lines, 1));
        }
        let all: Vec<String> = events.lines().map(str::to_string).collect();
        stateful.extend(every_split(&all, 3));
        // Every rule that keeps state had some at a split, but two no detonation leaves state
        // in (the generated stream of tests/detect/checkpoint.rs covers them), and the
        // stateless one.
        let uncovered = ["iam_privilege_escalation", "termination_protection", "defense_evasion"];
        let expected: BTreeSet<&str> = rules::RULE_IDS.iter().copied().filter(|id| !uncovered.contains(id)).collect();
        assert_eq!(stateful, expected);
    }

    /// A broken rule: panics in `on_batch` whenever it is given rows.
    struct Panics;

    static PANICS: crate::RuleMeta = crate::RuleMeta {
        id: "panics",
        title: "A broken rule",
        severity: Severity::Low,
        tactics: &[],
        techniques: &[],
        summary: "panics in on_batch",
        stateful: true,
    };

    impl Rule for Panics {
        fn meta(&self) -> &'static crate::RuleMeta {
            &PANICS
        }

        fn on_batch(&self, _: &EventView<'_>, rows: &[usize], _: &mut RuleCtx<'_>) {
            if !rows.is_empty() {
                panic!("broken rule given {} rows", rows.len());
            }
        }
    }

    #[test]
    fn a_rule_panicking_in_on_batch_is_an_error_whatever_the_workers() {
        let who: Vec<Value> =
            (0..8).map(|i| crate::testing::iam_user(&format!("u{i}"), &format!("AKIAU{i}"))).collect();
        let lines: Vec<String> = who
            .iter()
            .enumerate()
            .map(|(i, w)| crate::testing::event(i as i64, w, "iam", "ListUsers", serde_json::json!({})))
            .collect();
        for workers in [1, 4] {
            let mut cfg = DetectConfig::default();
            cfg.engine.workers = workers;
            let mut engine = Engine::with_rules(&cfg, vec![Box::new(Panics)]);
            let err = engine.process(&batches(&lines, 8192)[0]).expect_err("a panicking rule is an error");
            match &err {
                DetectError::RulePanicked { rule: "panics", worker, message } => {
                    assert!(*worker < workers, "{err}");
                    assert!(message.starts_with("broken rule given "), "{err}");
                }
                other => panic!("expected RulePanicked, got {other}"),
            }
            assert!(err.to_string().starts_with("detection rule panics panicked (worker "), "{err}");
        }
    }

    /// A rule broken in housekeeping: panics in `on_watermark` once the watermark is past
    /// `at` (ms).
    struct PanicsOnWatermark {
        at: i64,
    }

    static PANICS_ON_WATERMARK: crate::RuleMeta = crate::RuleMeta {
        id: "panics_on_watermark",
        title: "A rule broken in housekeeping",
        severity: Severity::Low,
        tactics: &[],
        techniques: &[],
        summary: "panics in on_watermark",
        stateful: true,
    };

    impl Rule for PanicsOnWatermark {
        fn meta(&self) -> &'static crate::RuleMeta {
            &PANICS_ON_WATERMARK
        }

        fn on_batch(&self, _: &EventView<'_>, _: &[usize], _: &mut RuleCtx<'_>) {}

        fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
            if ctx.watermark > self.at {
                panic!("housekeeping broke at watermark {}", ctx.watermark);
            }
        }
    }

    #[test]
    fn a_rule_panicking_in_housekeeping_or_at_the_end_is_an_error_naming_it() {
        let who = crate::testing::iam_user("u", "AKIAU");
        let event = |secs: i64| crate::testing::event(secs, &who, "iam", "ListUsers", serde_json::json!({}));
        let cfg = DetectConfig::default();
        // During a batch: the watermark passes `at` once events are an hour later.
        let mut engine = Engine::with_rules(&cfg, vec![Box::new(PanicsOnWatermark { at: crate::testing::T0 })]);
        engine.process(&batches(&[event(0)], 8192)[0]).expect("watermark not yet past");
        let err = engine.process(&batches(&[event(3600)], 8192)[0]).expect_err("a panic in on_watermark is an error");
        assert!(
            matches!(&err, DetectError::RulePanicked { rule: "panics_on_watermark", worker: 0, message } if message.starts_with("housekeeping broke")),
            "{err}"
        );
        // At the end of input (the watermark moves past everything).
        let mut engine = Engine::with_rules(&cfg, vec![Box::new(PanicsOnWatermark { at: i64::MAX - 1 })]);
        engine.process(&batches(&[event(0)], 8192)[0]).expect("no panic before the end");
        let err = engine.finish().expect_err("a panic while closing everything is an error");
        assert!(matches!(err, DetectError::RulePanicked { rule: "panics_on_watermark", .. }), "{err}");
    }

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        assert_eq!(panic_message(&"boom"), "boom");
        assert_eq!(panic_message(&"boom".to_string()), "boom");
        assert_eq!(panic_message(&42_u8), "a panic without a message");
    }

    #[test]
    fn restoring_an_empty_engine_snapshot_gives_an_empty_engine() {
        let cfg = DetectConfig::default();
        let snap = Engine::new(&cfg).expect("engine").snapshot().expect("snapshot");
        let mut e = Engine::new(&cfg).expect("engine");
        e.restore(&snap).expect("restore");
        assert_eq!((e.state_size(), e.watermark(), e.stats()), (0, i64::MIN, EngineStats::default()));
        assert!(matches!(e.restore(&[]), Err(DetectError::State(StateError::Decode { rule: "engine", .. }))));
    }
}
