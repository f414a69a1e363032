//! The rules: one file each, registered by one line in the `rules!` list below, which makes
//! the module, its id in [`RULE_IDS`], its `[rules.<id>]` field in [`RulesConfig`] and its
//! constructor in [`build`].
//!
//! To add a rule: write `rules/<rule_id>.rs` with its metadata (`id` = the file name), a
//! `Config` of its own thresholds (serde, `deny_unknown_fields`, `default`, documented
//! defaults), a `pub const COMMON: CommonDefaults` (which of the common keys it takes, and its
//! defaults for them, see [`Common`]) and a type implementing [`Rule`] with
//! `fn new(cfg: impl Into<RuleConfig<Config>>) -> Self`; add the line `<rule_id> => <RuleType>,`
//! to `rules!` where it should run; document its defaults in `config/trailhound.toml`. The
//! rule's table is one flat `[rules.<id>]` ([`RuleConfig`]): `enabled` decides whether
//! [`build`] makes it, `severity` is applied by the engine as findings are published, and the
//! rule reads `cfg.common.max_evidence`, `cfg.common.episode` and its own keys (`cfg.window`).
//! Shared helpers live in the crate's topic modules (`iam_policy`, `net`, [`crate::agents`],
//! ...): a rule imports no other rule. A test fails when a file is not listed or its id is not
//! its file name.

use serde::{Deserialize, Serialize};
use trailhound_model::attack::Tactic;
use trailhound_model::time::EventTime;
use trailhound_model::{Finding, Severity};

use crate::context::IdentityContext;
pub use crate::rule_config::{Common, CommonDefaults, RuleConfig, RuleSettings};
use crate::state::{Activity, Evicted, StateError, Tier};
use crate::view::EventView;

/// Inside `impl Rule for ...` of a rule whose keyed state is one [`crate::state::Keyed`] value
/// (a [`crate::state::Weighed`] table, [`crate::episode::Groups`]) in field `$table`: its
/// `snapshot`, `restore`, `state_size` and `state_bytes` (saved under the rule's id, read back,
/// counted and weighed).
///
/// `keyed_state!(table, close = method)`, for a [`crate::state::Weighed`] table of
/// [`crate::state::Evictable`] values, also makes `activity` and `evict`: an evicted entry is
/// handed to the rule's `fn method(&self, key, &mut value, &mut RuleCtx)` first, to publish
/// the final versions of its findings, which are emitted by uid (`order = FirstEvent`: by
/// first event time, then uid; see [`crate::state::Order`]).
///
/// `keyed_state!(evict table, close = method)` makes only those two (for a rule that saves
/// more than that table).
///
/// `keyed_state!(groups, groups)`, for [`crate::episode::Groups`] published with the rule's
/// `Self::severity` and `self.render`, also makes `on_watermark` (closes the groups behind
/// it), `activity` and `evict`.
macro_rules! keyed_state {
    ($table:ident, close = $close:ident $(, order = $order:ident)?) => {
        $crate::rules::keyed_state!($table);
        $crate::rules::keyed_state!(evict $table, close = $close $(, order = $order)?);
    };
    (evict $table:ident, close = $close:ident $(, order = $order:ident)?) => {
        $crate::rules::keyed_state!(@evict rule, activity(out) {
            rule.$table.activity_of(out)
        }, evict(tier, before, ctx) {
            let order = $crate::rules::keyed_state!(@order $($order)?);
            rule.$table.evict_closing(tier, before, ctx, order, |k, v, ctx| rule.$close(k, v, ctx))
        });
    };
    ($table:ident, groups) => {
        $crate::rules::keyed_state!($table);

        fn on_watermark(&self, ctx: &mut $crate::rules::RuleCtx<'_>) {
            let wm = ctx.watermark;
            self.$table.close(wm, Self::severity, |k, b, g, a, r| self.render(k, b, g, a, r), ctx);
        }

        $crate::rules::keyed_state!(@evict rule, activity(out) {
            rule.$table.activity(out)
        }, evict(tier, before, ctx) {
            rule.$table.evict(tier, before, Self::severity, |k, b, g, a, r| rule.render(k, b, g, a, r), ctx)
        });
    };
    // `activity` and `evict` with these bodies, `$rule` standing for `self`.
    (@evict $rule:ident, activity($out:ident) $activity:block, evict($tier:ident, $before:ident, $ctx:ident) $evict:block) => {
        fn activity(&self, _watermark: trailhound_model::time::EventTime, $out: &mut $crate::state::Activity) {
            let $rule = self;
            $activity
        }

        fn evict(
            &self,
            $tier: $crate::state::Tier,
            $before: trailhound_model::time::EventTime,
            $ctx: &mut $crate::rules::RuleCtx<'_>,
        ) -> $crate::state::Evicted {
            let $rule = self;
            $evict
        }
    };
    (@order) => {
        $crate::state::Order::Uid
    };
    (@order $order:ident) => {
        $crate::state::Order::$order
    };
    ($table:ident) => {
        fn snapshot(&self) -> Result<Vec<u8>, $crate::state::StateError> {
            $crate::state::Keyed::save(&self.$table, self.meta().id)
        }

        fn restore(&mut self, bytes: &[u8]) -> Result<(), $crate::state::StateError> {
            let rule = self.meta().id;
            $crate::state::Keyed::restore(&mut self.$table, rule, bytes)
        }

        fn state_size(&self) -> usize {
            $crate::state::Keyed::entries(&self.$table)
        }

        fn state_bytes(&self) -> usize {
            $crate::state::Keyed::bytes(&self.$table)
        }
    };
}
use keyed_state;

/// Declares the rules, one line each (`module => RuleType,`), in the order they run: makes each
/// `pub mod`, [`RULE_IDS`], [`RulesConfig`] (one `[rules.<id>]` field per rule, a
/// [`RuleConfig`] of the rule's own `Config` and its `COMMON` keys) and [`build`] (each rule's
/// `RuleType::new(RuleConfig)`, when `enabled`).
macro_rules! rules {
    ($($id:ident => $rule:ident,)+) => {
        $(pub mod $id;)+

        $(
            impl RuleSettings for $id::Config {
                const ID: &'static str = stringify!($id);
                const COMMON: CommonDefaults = $id::COMMON;
            }
        )+

        /// Ids of every rule, in the order they run. Rule id = file name = config key =
        /// `finding.rule_id`.
        pub const RULE_IDS: &[&str] = &[$(stringify!($id)),+];

        /// Per-rule configuration, one field per rule id (`[rules.<id>]`): the common keys
        /// and the rule's own.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct RulesConfig {
            $(
                #[doc = concat!("See [`", stringify!($id), "`].")]
                pub $id: RuleConfig<$id::Config>,
            )+
        }

        impl RulesConfig {
            /// The common keys of rule `id` (`None` for an unknown id).
            pub fn common(&self, id: &str) -> Option<&Common> {
                $(
                    if id == stringify!($id) {
                        return Some(&self.$id.common);
                    }
                )+
                None
            }

            /// In the `[rules]` table of one configuration layer (a file, an environment
            /// variable), renames each rule's older names of common keys (`group`) to theirs
            /// (`episode`), so that merging the layer over the defaults replaces the value.
            pub fn canonical_names(rules: &mut toml::Table) {
                $(crate::rule_config::canonical_names::<$id::Config>(rules);)+
            }

            /// Range problems of every rule's common keys.
            pub(crate) fn check_common(&self, errs: &mut Vec<String>) {
                $(self.$id.check(errs);)+
            }
        }

        /// Builds the enabled rules, in the order they run.
        pub fn build(cfg: &RulesConfig) -> Vec<Box<dyn Rule>> {
            let mut rules: Vec<Box<dyn Rule>> = Vec::new();
            $(
                if cfg.$id.common.enabled {
                    rules.push(Box::new($id::$rule::new(cfg.$id.clone())));
                }
            )+
            rules
        }
    };
}

rules! {
    enumeration_burst => EnumerationBurst,
    iam_user_persistence => IamUserPersistence,
    iam_backdoor_credentials => IamBackdoorCredentials,
    iam_role_backdoor => IamRoleBackdoor,
    iam_privilege_escalation => IamPrivilegeEscalation,
    new_access_key_used => NewAccessKeyUsed,
    instance_sprawl => InstanceSprawl,
    termination_protection => TerminationProtection,
    defense_evasion => DefenseEvasion,
    identity_baseline => IdentityBaseline,
    credential_harvesting => CredentialHarvesting,
    workload_credential_misuse => WorkloadCredentialMisuse,
    lambda_backdoor => LambdaBackdoor,
    identity_provider_backdoor => IdentityProviderBackdoor,
    attack_chain => AttackChain,
}

/// What a rule is, for findings, `trailhound rules` and docs.
#[derive(Debug, Clone, Copy)]
pub struct RuleMeta {
    /// Rule id (= file name = config key).
    pub id: &'static str,
    /// Finding title.
    pub title: &'static str,
    /// Severity before escalation.
    pub severity: Severity,
    /// ATT&CK tactics.
    pub tactics: &'static [Tactic],
    /// ATT&CK techniques it can report.
    pub techniques: &'static [&'static str],
    /// One sentence on what it detects.
    pub summary: &'static str,
    /// True when its findings depend on windows or sequences over several events: late events
    /// (older than the watermark) are then not given to it. `false` for a rule that judges each
    /// event alone, so a late event still alerts; such a rule may still keep state, e.g. the
    /// groups that make repeats update one finding (`lambda_backdoor`).
    pub stateful: bool,
}

/// What a rule sees besides the events: the watermark, the identity context, and where
/// findings go.
pub struct RuleCtx<'a> {
    /// Current watermark (max event time seen − allowed lateness).
    pub watermark: EventTime,
    /// Who is acting: console, IaC lifecycles, scanners (see [`crate::context`]).
    pub context: &'a IdentityContext,
    pub(crate) out: &'a mut Vec<Finding>,
}

impl RuleCtx<'_> {
    /// Publishes a finding (a new uid, or an update of one already published).
    pub fn emit(&mut self, f: Finding) {
        self.out.push(f);
    }
}

/// A detection rule. Only [`Rule::on_batch`] is required.
///
/// The engine calls `on_batch` from several worker threads at once, each with the rows of a
/// disjoint set of actors, in arrival order; state lives in the rule (keyed by actor in a
/// `DashMap`), and must not depend on wall-clock time.
pub trait Rule: Send + Sync {
    /// Static description.
    fn meta(&self) -> &'static RuleMeta;

    /// Processes `rows` of `events` (all of one worker's actors, in arrival order). Stateful
    /// rules only get rows at or after the watermark.
    fn on_batch(&self, events: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>);

    /// The watermark moved to `ctx.watermark`: close windows, evict state, publish final
    /// updates. Called from one thread, after the batch.
    fn on_watermark(&self, _ctx: &mut RuleCtx<'_>) {}

    /// Like [`Rule::on_watermark`], never throttled: closes everything the watermark closes,
    /// so that what is left depends on the events and `ctx.watermark` only, not on when
    /// housekeeping last ran. The engine calls it before it weighs the state against
    /// `engine.max_state_bytes`. The default calls `on_watermark`; a rule that skips work in
    /// `on_watermark` (a full scan once a minute) does it here.
    fn on_settle(&self, ctx: &mut RuleCtx<'_>) {
        self.on_watermark(ctx);
    }

    /// Findings other rules published in this batch (for correlation rules such as attack
    /// chains). Called from one thread, after the batch; findings of correlation rules
    /// themselves are not passed back.
    fn on_findings(&self, _findings: &[Finding], _ctx: &mut RuleCtx<'_>) {}

    /// True for rules that consume findings rather than events.
    fn correlates(&self) -> bool {
        false
    }

    /// Number of keyed state entries held (a metric).
    fn state_size(&self) -> usize {
        0
    }

    /// Approximate bytes of keyed state held (see [`crate::state::Weighed`]): what
    /// `engine.max_state_bytes` bounds.
    fn state_bytes(&self) -> usize {
        0
    }

    /// Adds the rule's evictable state to `out`: its bytes by [`Tier`] and last activity (event
    /// time) of its keys, as of `watermark`. Called from one thread, between batches, when the
    /// engine is over its memory budget.
    fn activity(&self, _watermark: EventTime, _out: &mut Activity) {}

    /// Evicts the `tier` state of the keys last active before `before` (as [`Rule::activity`]
    /// classified them at `ctx.watermark`), publishing through `ctx` the final version of any
    /// finding it had published from that state. Called from one thread, between batches.
    fn evict(&self, _tier: Tier, _before: EventTime, _ctx: &mut RuleCtx<'_>) -> Evicted {
        Evicted::default()
    }

    /// The rule's keyed state, serialised (MessagePack via rmp-serde, structs as maps, see
    /// [`crate::state`]). Stateless rules return an empty vec (the default). Called from one
    /// thread, between batches.
    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        Ok(Vec::new())
    }

    /// Replaces the rule's state with a snapshot taken by [`Rule::snapshot`] (an empty slice
    /// = empty state). Configuration is not part of the state: it stays the rule's own.
    fn restore(&mut self, _bytes: &[u8]) -> Result<(), StateError> {
        Ok(())
    }

    /// The thresholds in force, as `key = value` lines (for `trailhound rules`).
    fn thresholds(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Renders a config struct's top-level scalar fields as `(key, value)` pairs.
pub(crate) fn config_pairs<T: Serialize>(cfg: &T) -> Vec<(String, String)> {
    match toml::Table::try_from(cfg) {
        Ok(t) => t
            .into_iter()
            .filter(|(_, v)| !matches!(v, toml::Value::Array(a) if a.len() > 6))
            .map(|(k, v)| (k, v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_file_is_listed_and_builds_with_its_id() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("rules dir")
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".rs") && n != "mod.rs")
            .map(|n| n.trim_end_matches(".rs").to_string())
            .collect();
        files.sort();
        let mut listed: Vec<String> = RULE_IDS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed, "every file in src/rules must be in RULE_IDS");
        let built: Vec<&str> = build(&RulesConfig::default()).iter().map(|r| r.meta().id).collect();
        assert_eq!(built, RULE_IDS, "every listed rule is built, in order, with its id");
        let cfg = toml::Table::try_from(RulesConfig::default()).expect("serializes");
        for id in RULE_IDS {
            assert!(cfg.contains_key(*id), "config key for {id}");
        }
    }

    /// Rules that keep no state between events (every other rule must checkpoint its state).
    const STATELESS: &[&str] = &[];

    #[test]
    fn every_rule_restores_its_own_snapshot_and_refuses_garbage() {
        let fresh = build(&RulesConfig::default());
        let mut into = build(&RulesConfig::default());
        for (rule, other) in fresh.iter().zip(into.iter_mut()) {
            let id = rule.meta().id;
            let snap = rule.snapshot().unwrap_or_else(|e| panic!("{id}: {e}"));
            other.restore(&snap).unwrap_or_else(|e| panic!("{id}: {e}"));
            other.restore(&[]).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(other.snapshot().ok().as_ref(), Some(&snap), "{id}: snapshot of the empty state");
            assert_eq!(other.state_size(), 0, "{id}");
            if STATELESS.contains(&id) {
                assert!(snap.is_empty(), "{id} is listed as stateless");
            } else {
                assert!(!snap.is_empty(), "{id} keeps state: it implements snapshot and restore");
                assert!(other.restore(b"\xc1 not msgpack").is_err(), "{id}: garbage is an error");
            }
        }
    }
}
