//! The keys every `[rules.<id>]` table shares, and the table as a whole.
//!
//! A rule's table holds the common keys ([`Common`]: `enabled`, `max_evidence`, `episode`,
//! `severity`) next to the rule's own thresholds (its `Config`), flat, as they always were:
//!
//! ```toml
//! [rules.enumeration_burst]
//! enabled = true          # common
//! episode = "1h"          # common, this rule groups its findings into episodes
//! max_evidence = 10       # common, this rule keeps evidence events
//! severity = "high"       # common, optional: every published finding of the rule is high
//! min_regions = 10        # the rule's own
//! ```
//!
//! [`RuleConfig`] reads such a table: it takes the common keys out and gives the rest to the
//! rule's `Config` (`deny_unknown_fields`), so an unknown key is still an error naming the key
//! and the rule (serde's `flatten` cannot do that). A rule declares which common keys it uses
//! and its defaults for them ([`CommonDefaults`], its `COMMON`); a key it does not use
//! (`episode` on a rule that publishes one finding per event) is an error at load, not
//! silently ignored.

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailhound_model::{Finding, Severity};

/// `episode` at least (bounds checked by [`crate::DetectConfig::validate`]).
pub const MIN_EPISODE: Duration = Duration::from_secs(1);
/// `episode` at most: a finding's episode stays open (and its state held) this long.
pub const MAX_EPISODE: Duration = Duration::from_secs(24 * 3600);
/// `max_evidence` at most.
pub const MAX_EVIDENCE: usize = 1000;

/// Which common keys a rule uses, and its defaults for them (each rule's `COMMON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonDefaults {
    /// Default `max_evidence`; `None`: the rule keeps no list of evidence events to bound,
    /// and `max_evidence` in its table is an error.
    pub max_evidence: Option<usize>,
    /// Default `episode`; `None`: the rule does not group its findings into episodes, and
    /// `episode` in its table is an error.
    pub episode: Option<Duration>,
    /// The rule's own, older name of `episode`, still read (an error when both are set).
    pub episode_alias: Option<&'static str>,
}

impl CommonDefaults {
    /// Only `enabled` and `severity`: a rule without evidence list or episodes.
    pub const BASIC: CommonDefaults = CommonDefaults { max_evidence: None, episode: None, episode_alias: None };
}

/// The keys every `[rules.<id>]` table shares (documented once, at the top of the rules in
/// `config/trailhound.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Common {
    /// Run the rule. Default true.
    pub enabled: bool,
    /// Evidence events kept per finding (earliest first), for a rule that keeps them.
    /// Default: the rule's (10 for every rule today); between 1 and [`MAX_EVIDENCE`].
    pub max_evidence: usize,
    /// For a rule that groups its findings into episodes: one finding per key (actor,
    /// session, principal, ...) per aligned bucket of event time of this length (the uid
    /// hashes the bucket start). Default: the rule's (1h for every rule today); between
    /// [`MIN_EPISODE`] and [`MAX_EPISODE`].
    pub episode: Duration,
    /// The severity of every finding of the rule, replacing the one the rule judged, set by
    /// the engine as it publishes (after `engine.min_severity` and suppressions judged the
    /// finding at its own severity, and after correlation rules saw it; a context line
    /// records the change). Unset by default.
    pub severity: Option<Severity>,
}

impl Common {
    /// A rule's defaults (`max_evidence` 0 and `episode` zero when it does not use them).
    pub const fn defaults(d: &CommonDefaults) -> Common {
        Common {
            enabled: true,
            max_evidence: match d.max_evidence {
                Some(n) => n,
                None => 0,
            },
            episode: match d.episode {
                Some(e) => e,
                None => Duration::ZERO,
            },
            severity: None,
        }
    }

    /// Names of the common keys rule `uses` accepts.
    fn keys(uses: &CommonDefaults) -> Vec<&'static str> {
        let mut keys = vec!["enabled", "severity"];
        keys.extend(uses.max_evidence.map(|_| "max_evidence"));
        keys.extend(uses.episode.map(|_| "episode"));
        keys.extend(uses.episode.and(uses.episode_alias));
        keys
    }

    /// Takes the common keys out of rule `id`'s table.
    fn take(t: &mut toml::Table, id: &str, uses: &CommonDefaults) -> Result<Common, String> {
        let mut c = Common::defaults(uses);
        let expected = |key: &str, what: &str, v: &toml::Value| format!("rules.{id}.{key}: expected {what}, got {v}");
        if let Some(v) = t.remove("enabled") {
            c.enabled = v.as_bool().ok_or_else(|| expected("enabled", "true or false", &v))?;
        }
        if let Some(v) = t.remove("max_evidence") {
            if uses.max_evidence.is_none() {
                return Err(format!(
                    "rules.{id}.max_evidence: {id} keeps no list of evidence events to bound; remove the key"
                ));
            }
            c.max_evidence = v
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| expected("max_evidence", "a non-negative integer", &v))?;
        }
        let alias = uses.episode_alias.and_then(|a| t.remove(a).map(|v| (a, v)));
        let episode = match (t.remove("episode"), alias) {
            (Some(_), Some((a, _))) => {
                return Err(format!("rules.{id}: `{a}` is the older name of `episode`; set one of them, not both"))
            }
            (Some(v), None) => Some(("episode", v)),
            (None, alias) => alias,
        };
        if let Some((key, v)) = episode {
            if uses.episode.is_none() {
                return Err(format!(
                    "rules.{id}.episode: {id} does not group its findings into episodes; remove the key"
                ));
            }
            let text = v.as_str().ok_or_else(|| expected(key, "a duration such as \"1h\"", &v))?;
            c.episode = humantime::parse_duration(text).map_err(|e| format!("rules.{id}.{key}: `{text}`: {e}"))?;
        }
        if let Some(v) = t.remove("severity") {
            let severity = v.clone().try_into::<Severity>().map_err(|_| {
                expected("severity", "one of \"informational\", \"low\", \"medium\", \"high\", \"critical\"", &v)
            })?;
            c.severity = Some(severity);
        }
        Ok(c)
    }

    /// Writes the keys rule `uses` accepts into `t`.
    fn put(&self, t: &mut toml::Table, uses: &CommonDefaults) {
        t.insert("enabled".into(), self.enabled.into());
        if uses.max_evidence.is_some() {
            t.insert("max_evidence".into(), i64::try_from(self.max_evidence).unwrap_or(i64::MAX).into());
        }
        if uses.episode.is_some() {
            t.insert("episode".into(), humantime::format_duration(self.episode).to_string().into());
        }
        if let Some(s) = self.severity {
            t.insert("severity".into(), s.as_str().into());
        }
    }

    /// Range problems of rule `id`'s common keys (those it uses).
    pub(crate) fn check(&self, id: &str, uses: &CommonDefaults, errs: &mut Vec<String>) {
        if uses.max_evidence.is_some() && !(1..=MAX_EVIDENCE).contains(&self.max_evidence) {
            errs.push(format!(
                "rules.{id}.max_evidence must be between 1 and {MAX_EVIDENCE}, got {}",
                self.max_evidence
            ));
        }
        if uses.episode.is_some() && !(MIN_EPISODE..=MAX_EPISODE).contains(&self.episode) {
            errs.push(format!(
                "rules.{id}.episode must be between 1s and 24h, got {}",
                humantime::format_duration(self.episode)
            ));
        }
    }
}

/// A rule's own configuration type: what [`RuleConfig`] needs of it. The `rules!` list
/// implements it for each rule's `Config`, from the rule's id and its `COMMON`.
pub trait RuleSettings: Default + Serialize + DeserializeOwned {
    /// The rule's id (its `[rules.<id>]` table).
    const ID: &'static str;
    /// Which common keys the rule uses, and its defaults for them.
    const COMMON: CommonDefaults;
}

/// A rule's `[rules.<id>]` table: the common keys and the rule's own (`C`, its `Config`),
/// read and written as one flat table. Derefs to `C`, so a rule reads its own thresholds as
/// `cfg.window` and the common keys as `cfg.common.max_evidence`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig<C> {
    /// The common keys.
    pub common: Common,
    /// The rule's own keys.
    pub own: C,
}

impl<C: RuleSettings> Default for RuleConfig<C> {
    fn default() -> Self {
        Self::from(C::default())
    }
}

impl<C: RuleSettings> From<C> for RuleConfig<C> {
    /// The rule's own keys `own`, with its default common keys.
    fn from(own: C) -> Self {
        Self { common: Common::defaults(&C::COMMON), own }
    }
}

impl<C> Deref for RuleConfig<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.own
    }
}

impl<C> DerefMut for RuleConfig<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.own
    }
}

impl<C: RuleSettings> RuleConfig<C> {
    /// Range problems of the common keys (the rule's own are checked by
    /// [`crate::DetectConfig::validate`]).
    pub(crate) fn check(&self, errs: &mut Vec<String>) {
        self.common.check(C::ID, &C::COMMON, errs);
    }
}

impl<C: RuleSettings> Serialize for RuleConfig<C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = toml::Table::try_from(&self.own).map_err(|e| S::Error::custom(format!("rules.{}: {e}", C::ID)))?;
        self.common.put(&mut t, &C::COMMON);
        t.serialize(s)
    }
}

impl<'de, C: RuleSettings> Deserialize<'de> for RuleConfig<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let common = Common::take(&mut table, C::ID, &C::COMMON).map_err(D::Error::custom)?;
        let own = own::<C>(table).map_err(D::Error::custom)?;
        Ok(Self { common, own })
    }
}

/// The rule's own keys from what is left of its table; an unknown key is named with the
/// rule's keys (common and own).
fn own<C: RuleSettings>(table: toml::Table) -> Result<C, String> {
    let keys: Vec<String> = table.keys().cloned().collect();
    toml::Value::Table(table).try_into::<C>().map_err(|e| {
        let own: BTreeSet<String> =
            toml::Table::try_from(C::default()).map(|t| t.into_iter().map(|(k, _)| k).collect()).unwrap_or_default();
        match keys.iter().find(|k| !own.contains(*k)) {
            Some(k) if !own.is_empty() => {
                let mut all: Vec<&str> = Common::keys(&C::COMMON);
                all.extend(own.iter().map(String::as_str));
                all.sort_unstable();
                format!("rules.{}: unknown key `{k}` (this rule's keys: {})", C::ID, all.join(", "))
            }
            _ => format!("rules.{}: {e}", C::ID),
        }
    })
}

/// In the `[rules]` table of one configuration layer, renames rule `C`'s older name of
/// `episode` (`group`) to `episode`, so that the layer's value replaces the `episode` of the
/// layer below when they are merged. A table holding both names is left as it is (an error
/// when read).
pub(crate) fn canonical_names<C: RuleSettings>(rules: &mut toml::Table) {
    let (Some(alias), Some(toml::Value::Table(t))) = (C::COMMON.episode_alias, rules.get_mut(C::ID)) else {
        return;
    };
    if !t.contains_key("episode") {
        if let Some(v) = t.remove(alias) {
            t.insert("episode".into(), v);
        }
    }
}

/// Sets on every finding of a rule listed in `overrides` (rule id, `rules.<id>.severity`) that
/// severity, with a context line saying what the rule had judged.
pub(crate) fn set_severity(overrides: &[(&str, Severity)], out: &mut [Finding]) {
    if overrides.is_empty() {
        return;
    }
    for f in out {
        let Some(&(_, severity)) = overrides.iter().find(|(id, _)| *id == f.rule_id) else { continue };
        if f.severity != severity {
            f.context.push(format!(
                "severity {severity} set by rules.{}.severity (the rule judged it {})",
                f.rule_id, f.severity
            ));
            f.severity = severity;
        }
    }
}

#[cfg(test)]
#[path = "rule_config_tests.rs"]
mod tests;
