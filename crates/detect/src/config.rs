//! Engine configuration (`[detect]` and `[rules.*]` of `config/trailhound.toml`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use trailhound_model::Severity;

use crate::context::ContextConfig;
use crate::rules::RulesConfig;

/// How the engine runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How far behind the newest event time an event may arrive and still be windowed.
    /// CloudTrail delivers within about 15 minutes. Default 15m.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// Worker threads that run the rules, each over a disjoint set of actors. Default 1.
    pub workers: usize,
    /// Run watermark housekeeping (closing windows, evicting state) after the watermark moved
    /// at least this much. Default 1s.
    #[serde(with = "humantime_serde")]
    pub watermark_tick: Duration,
    /// Findings below this severity are not published (counted in the summary as quieted):
    /// `informational` is what rules give to context that pages no one (a person browsing the
    /// console, an identity doing what it always does). Default `low`.
    pub min_severity: Severity,
    /// What the engine knows about who is acting (`[engine.context]`).
    pub context: ContextConfig,
    /// How far ahead of the stream an event may be dated and still move the watermark. An
    /// event further ahead of the newest admitted event is held until a later event
    /// corroborates its time (the stream really moved on), else dead-lettered as
    /// `time_out_of_range`; one further ahead of the time it was received (the Kafka message
    /// timestamp) or of the driver's clock is dead-lettered at once. Default 1h.
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// A held event not corroborated within this many later events is dead-lettered; the
    /// held events are at most this many too (oldest out first). Default 10000.
    pub future_hold_events: usize,
    /// Memory budget of the detection state (approximate bytes, all rules, the identity
    /// context and the ledger of published revisions), per engine (a `trailhound run`
    /// process has one engine per assigned partition). Judged before the first event of every
    /// minute of event time, and after any batch that leaves the state past 150 % of it.
    /// Past it, the state of the least recently active keys is evicted down to 80 % of it:
    /// long-term memory (baselines, recon histories, sessions' homes) first, then windows
    /// that can no longer fire by themselves (closed early: a published finding gets a last
    /// version saying so), then live windows (counted in `evicted_active`: a detection may be
    /// lost), last of all sequences armed by a sensitive write such as a created user or
    /// access key waiting for its next step (`evicted_armed`). Default 256 MiB (268435456), at least 1 MiB.
    pub max_state_bytes: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            allowed_lateness: Duration::from_secs(15 * 60),
            workers: 1,
            watermark_tick: Duration::from_secs(1),
            min_severity: Severity::Low,
            context: ContextConfig::default(),
            max_future_skew: Duration::from_secs(3600),
            future_hold_events: 10_000,
            max_state_bytes: 256 << 20,
        }
    }
}

/// Known automation to keep quiet, for one rule (`[suppress.<rule_id>]`). An event matching
/// any list is not given to the rule; a finding on a listed actor or account is dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Suppress {
    /// Actor keys, principal ARNs or session-issuer role ARNs (exact).
    pub actors: Vec<String>,
    /// User-agent fragments (case-insensitive).
    pub user_agents: Vec<String>,
    /// Account ids.
    pub accounts: Vec<String>,
}

impl Suppress {
    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty() && self.user_agents.is_empty() && self.accounts.is_empty()
    }
}

/// Everything the detection engine needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Engine settings.
    pub engine: EngineConfig,
    /// Rule thresholds, one table per rule id.
    pub rules: RulesConfig,
    /// Allowlists per rule id.
    pub suppress: std::collections::BTreeMap<String, Suppress>,
}

impl DetectConfig {
    /// Checks values serde cannot, returning every problem at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if self.engine.max_future_skew < Duration::from_secs(60) {
            errs.push(format!(
                "detect.engine.max_future_skew must be at least 1m, got {}",
                humantime::format_duration(self.engine.max_future_skew)
            ));
        }
        if !(1..=1_000_000).contains(&self.engine.future_hold_events) {
            errs.push(format!(
                "detect.engine.future_hold_events must be between 1 and 1000000, got {}",
                self.engine.future_hold_events
            ));
        }
        if self.engine.max_state_bytes < 1 << 20 {
            errs.push(format!(
                "detect.engine.max_state_bytes must be at least 1048576 (1 MiB), got {}",
                self.engine.max_state_bytes
            ));
        }
        if self.engine.workers == 0 || self.engine.workers > 256 {
            errs.push(format!("detect.engine.workers must be between 1 and 256, got {}", self.engine.workers));
        }
        for id in self.suppress.keys() {
            if !crate::rules::RULE_IDS.contains(&id.as_str()) {
                errs.push(format!("suppress.{id}: no rule has this id (rules: {})", crate::rules::RULE_IDS.join(", ")));
            }
        }
        self.rules.check_common(&mut errs);
        let e = &self.rules.enumeration_burst;
        if e.min_distinct_apis < 2 {
            errs.push("rules.enumeration_burst.min_distinct_apis must be at least 2".to_string());
        }
        if e.min_regions < 2 {
            errs.push("rules.enumeration_burst.min_regions must be at least 2".to_string());
        }
        if e.min_denied < 1 {
            errs.push("rules.enumeration_burst.min_denied must be at least 1".to_string());
        }
        for (name, d) in [
            ("distinct_apis_window", e.distinct_apis_window),
            ("regions_window", e.regions_window),
            ("denied_window", e.denied_window),
        ] {
            if d < Duration::from_millis(10) || d > Duration::from_secs(24 * 3600) {
                errs.push(format!(
                    "rules.enumeration_burst.{name} must be between 10ms and 24h, got {}",
                    humantime::format_duration(d)
                ));
            }
        }
        if e.common.episode < e.denied_window.max(e.regions_window).max(e.distinct_apis_window) {
            errs.push("rules.enumeration_burst.episode must be at least as long as its longest window".to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}
