//! `attack_chain`: not written yet (a stub so the registry compiles).

use serde::{Deserialize, Serialize};
use trailhound_model::Severity;

use super::{Rule, RuleCtx, RuleMeta};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "attack_chain",
    title: "attack_chain",
    severity: Severity::Medium,
    tactics: &[],
    techniques: &[],
    summary: "not written yet",
    stateful: false,
};

/// Thresholds of `attack_chain` (`[rules.attack_chain]`).
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
pub struct AttackChain {
    _cfg: Config,
}

impl AttackChain {
    /// Builds the rule from its config.
    pub fn new(cfg: Config) -> Self {
        Self { _cfg: cfg }
    }
}

impl Rule for AttackChain {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, _ev: &EventView<'_>, _rows: &[usize], _ctx: &mut RuleCtx<'_>) {}
}
