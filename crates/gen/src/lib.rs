//! Deterministic generator of a realistic AWS CloudTrail estate with injected attacks.
//!
//! This crate owns **synthetic test data** for trailhound: a simulated organisation (six
//! accounts, seventeen regions) whose benign background — people in the console via SSO,
//! GitHub Actions pipelines running Terraform and deploys, EC2/Lambda/ECS workload roles,
//! monitoring pollers, S3 sync jobs, programmatic IAM users, AWS services and Auto Scaling —
//! is written as CloudTrail NDJSON (one record per line, in the shape CloudTrail delivers),
//! plus injected attack scenarios by stolen non-human identities with a ground-truth
//! [`Label`] per scenario instance.
//!
//! * **Deterministic**: the same [`GenConfig`] gives byte-identical output (ChaCha streams
//!   seeded from `seed`; no clock, no hash-map order). The background uses its own streams,
//!   so switching attacks off leaves it unchanged except where it is cut to make room.
//! * **Arrival order**: events are generated in event-time order, each gets a delivery delay
//!   in `[0, max_delay_ms]` (mostly 1–5 min of 15, a tail to the maximum) and is written in
//!   arrival order. Hence every event's time is `>=` the largest event time written before
//!   it minus `max_delay_ms` (times compared at CloudTrail's one-second resolution).
//! * **Bounded memory**: only events whose arrival is still ahead of the generation cursor
//!   are held.
//!
//! Scenarios (see [`scenario_names`]), all labelled with rule id `enumeration_burst`:
//! `enum_distinct_apis` (a stolen `AKIA` key making 25–40 distinct reads in ~20 s),
//! `enum_regions` (a stolen CI session calling `DescribeInstances` in 12–17 regions in 20 s)
//! and `enum_denied` (a stolen instance-role session brute-forcing permissions: 20–40 denied
//! calls over 3–6 min, few distinct APIs per 10 s). Each occurs about once per 300k events
//! (at least once), after the first 10 % of the run.
//!
//! ```
//! use trailhound_gen::{generate, GenConfig, Label};
//!
//! let cfg = GenConfig { seed: 7, events: 2_000, ..GenConfig::default() };
//! let (mut events, mut labels) = (Vec::new(), Vec::new());
//! let stats = generate(&cfg, &mut events, Some(&mut labels)).expect("in-memory writes");
//! assert_eq!(stats.events, 2_000);
//! assert_eq!(stats.scenarios, 3);
//!
//! let first = std::str::from_utf8(&events).expect("utf-8").lines().next().expect("a line");
//! let v: serde_json::Value = serde_json::from_str(first).expect("json");
//! assert_eq!(v["eventVersion"], "1.09");
//!
//! let label: Label = serde_json::from_slice(labels.split(|b| *b == b'\n').next().expect("a label"))
//!     .expect("label json");
//! assert_eq!(label.rule_id, "enumeration_burst");
//! ```

use std::io::Write;

use serde::{Deserialize, Serialize};
use trailhound_model::time::{days_from_civil, DAY, MINUTE};

mod background;
mod engine;
mod estate;
mod event;
mod identity;
mod json;
mod scenarios;

#[cfg(test)]
mod tests;

/// The RNG behind everything (ChaCha8, one stream per concern).
pub(crate) type Rng = rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of events to write (background plus attacks). Only when it is too small to
    /// hold the scenarios (a few hundred) is it exceeded, by the scenarios' events.
    pub events: u64,
    /// Start of the simulated window, ms since the epoch (default 2026-11-02T00:00:00Z).
    pub start_ms: i64,
    /// Largest delivery delay of an event after its event time, ms (default 15 min).
    pub max_delay_ms: i64,
    /// Inject attack scenarios (default true).
    pub attacks: bool,
    /// Which scenarios to inject, by name (see [`scenario_names`]); `None` for all.
    pub scenarios: Option<Vec<String>>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            events: 100_000,
            start_ms: days_from_civil(2026, 11, 2) * DAY,
            max_delay_ms: 15 * MINUTE,
            attacks: true,
            scenarios: None,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GenStats {
    /// Event lines written.
    pub events: u64,
    /// Bytes of event output written.
    pub bytes: u64,
    /// Scenario instances injected (= label lines).
    pub scenarios: u64,
}

/// Ground truth for one injected scenario instance (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Scenario name, e.g. `enum_regions`.
    pub scenario: String,
    /// Rule expected to fire, e.g. `enumeration_burst`.
    pub rule_id: String,
    /// The actor the attacker acted as: the access key id used (`AKIA…` or `ASIA…`).
    pub actor_key: String,
    /// Account id attacked.
    pub account: String,
    /// Event time of the scenario's first event (ms, whole seconds as rendered).
    pub start_ms: i64,
    /// Event time of its last event (ms, whole seconds as rendered).
    pub end_ms: i64,
    /// Number of events the scenario wrote.
    pub events: u64,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing events or labels failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising a label failed.
    #[error("label serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
    /// A requested scenario does not exist.
    #[error("unknown scenario {0:?} (known: {known})", known = scenario_names().join(", "))]
    UnknownScenario(String),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Writes `cfg.events` CloudTrail records as NDJSON to `out` (in arrival order) and, when
/// `labels` is given, one [`Label`] JSON line per injected scenario instance. Both writers
/// are buffered internally and flushed before returning.
pub fn generate<W: Write, L: Write>(cfg: &GenConfig, out: W, labels: Option<L>) -> Result<GenStats, GenError> {
    engine::generate(cfg, out, labels)
}

/// Names of the scenarios that can be injected, in a stable order.
pub fn scenario_names() -> &'static [&'static str] {
    scenarios::NAMES
}
