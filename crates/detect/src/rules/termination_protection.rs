//! `termination_protection`: not written yet (a stub so the registry compiles).

use serde::{Deserialize, Serialize};
use trailhound_model::Severity;

use super::{Rule, RuleCtx, RuleMeta};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "termination_protection",
    title: "termination_protection",
    severity: Severity::Medium,
    tactics: &[],
    techniques: &[],
    summary: "not written yet",
    stateful: false,
};

/// Thresholds of `termination_protection` (`[rules.termination_protection]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Run this rule. Default true.
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// The rule.
pub struct TerminationProtection {
    _cfg: Config,
}

impl TerminationProtection {
    /// Builds the rule from its config.
    pub fn new(cfg: Config) -> Self {
        Self { _cfg: cfg }
    }
}

impl Rule for TerminationProtection {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, _ev: &EventView<'_>, _rows: &[usize], _ctx: &mut RuleCtx<'_>) {}
}
