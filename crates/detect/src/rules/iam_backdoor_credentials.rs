//! `iam_backdoor_credentials`: not written yet (a stub so the registry compiles).

use serde::{Deserialize, Serialize};
use trailhound_model::Severity;

use super::{Rule, RuleCtx, RuleMeta};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "iam_backdoor_credentials",
    title: "iam_backdoor_credentials",
    severity: Severity::Medium,
    tactics: &[],
    techniques: &[],
    summary: "not written yet",
    stateful: false,
};

/// Thresholds of `iam_backdoor_credentials` (`[rules.iam_backdoor_credentials]`).
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
pub struct IamBackdoorCredentials {
    _cfg: Config,
}

impl IamBackdoorCredentials {
    /// Builds the rule from its config.
    pub fn new(cfg: Config) -> Self {
        Self { _cfg: cfg }
    }
}

impl Rule for IamBackdoorCredentials {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, _ev: &EventView<'_>, _rows: &[usize], _ctx: &mut RuleCtx<'_>) {}
}
