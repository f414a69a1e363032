//! `attack_chain`: findings of different ATT&CK tactics on the same actor become one
//! critical chain finding.
//!
//! A stolen key is rarely used for one thing: the thief looks around (discovery), makes
//! himself at home (persistence, privilege escalation), blinds the defenders (defense
//! evasion) and cashes in (impact: crypto-mining sprawl). Each step alone may be ambiguous;
//! the sequence on one actor is not. This rule consumes the other rules' findings (it is a
//! correlator: it sees no events), groups them per actor key in aligned buckets of `window`
//! (default 2 h) by the time of their first event, and publishes a chain finding as soon as a
//! bucket holds findings of at least `min_tactics` (default 2) different tactics from at
//! least two rules. The chain is updated (same uid, OCSF activity Update) as it grows, and
//! published a last time when the bucket closes, `close_after` (default 2 h) after its end, so
//! that every part's own final version is in.
//!
//! uid = hash(`attack_chain`, actor, bucket start). Parts are listed in the evidence (one
//! line each: rule, severity, title) and their tactics in kill-chain order in the title.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::{self, KILL_CHAIN};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Evidence, Finding, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Publication};
use crate::state::{Evictable, Tier, Weighed};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "attack_chain",
    title: "Attack chain on one identity",
    severity: Severity::Critical,
    tactics: &[],
    techniques: &[],
    summary: "Findings of two or more ATT&CK tactics on the same actor within a window",
    stateful: true,
};

/// Thresholds of `attack_chain` (`[rules.attack_chain]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Findings are grouped per actor in aligned buckets of this length. Default 2h.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Distinct tactics that make a chain. Default 2.
    pub min_tactics: usize,
    /// A bucket's chain is final this long after the bucket ends (parts' own windows close
    /// first). Default 2h.
    #[serde(with = "humantime_serde")]
    pub close_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(7200),
            min_tactics: 2,
            close_after: Duration::from_secs(7200),
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`.
pub const COMMON: CommonDefaults = CommonDefaults::BASIC;

/// The newest version of one part.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Part {
    rule_id: String,
    severity: Severity,
    title: String,
    tactics: Vec<String>,
    techniques: Vec<String>,
    first: EventTime,
    last: EventTime,
    count: u64,
    regions: Vec<String>,
    arn: Option<String>,
    account: Option<String>,
    class: trailhound_model::IdentityClass,
    provider: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Bucket {
    /// Newest version of each part, by part uid.
    parts: BTreeMap<String, Part>,
    publication: Publication,
    /// Tactics and parts at the last publication.
    structure: u64,
}

crate::state::weigh_fields! {
    Part { rule_id, title, tactics, techniques, regions, arn, account, provider },
    Bucket { parts },
}

/// An actor's chains are live until they close; as recent as their latest part's last event.
impl Evictable for BTreeMap<EventTime, Bucket> {
    fn class(&self) -> (Tier, EventTime) {
        let last = self.values().flat_map(|b| b.parts.values()).map(|p| p.last).max().unwrap_or(i64::MIN);
        (Tier::Active, last)
    }
}

/// The rule.
pub struct AttackChain {
    cfg: RuleConfig<Config>,
    window_ms: i64,
    close_ms: i64,
    /// actor → bucket start → parts.
    state: Weighed<String, BTreeMap<EventTime, Bucket>>,
}

fn ms(d: Duration) -> i64 {
    crate::window::millis(d).max(1)
}

fn tactic_rank(id: &str) -> usize {
    KILL_CHAIN.iter().position(|t| t.id == id).unwrap_or(usize::MAX)
}

impl AttackChain {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self { window_ms: ms(cfg.window), close_ms: ms(cfg.close_after), cfg, state: Weighed::default() }
    }

    fn tactics(b: &Bucket) -> BTreeSet<String> {
        b.parts.values().flat_map(|p| p.tactics.iter().cloned()).collect()
    }

    fn is_chain(&self, b: &Bucket) -> bool {
        let rules: BTreeSet<&str> = b.parts.values().map(|p| p.rule_id.as_str()).collect();
        rules.len() >= 2
            && Self::tactics(b).len() >= self.cfg.min_tactics
            && b.parts.values().any(|p| p.severity >= Severity::Medium)
    }

    fn finding(&self, actor: &str, bucket: EventTime, b: &Bucket, activity: Activity, revision: u32) -> Finding {
        let mut tactics: Vec<String> = Self::tactics(b).into_iter().collect();
        tactics.sort_by_key(|t| (tactic_rank(t), t.clone()));
        let names: Vec<&str> = tactics.iter().map(|t| attack::tactic(t).map_or(t.as_str(), |t| t.name)).collect();
        let techniques: BTreeSet<String> = b.parts.values().flat_map(|p| p.techniques.iter().cloned()).collect();
        let regions: BTreeSet<String> = b.parts.values().flat_map(|p| p.regions.iter().cloned()).collect();
        // Parts ordered by their first event (then uid): the earliest part names the actor.
        let mut parts: Vec<(&String, &Part)> = b.parts.iter().collect();
        parts.sort_by_key(|(uid, p)| (p.first, (*uid).clone()));
        let first = parts.first().map(|(_, p)| (*p).clone());
        let evidence: Vec<Evidence> = parts
            .iter()
            .map(|(uid, p)| Evidence {
                time: p.first,
                event_id: (*uid).clone(),
                summary: format!("{} ({}): {}", p.rule_id, p.severity, p.title),
            })
            .collect();
        let rules: Vec<String> = parts.iter().map(|(_, p)| p.rule_id.clone()).collect();
        let arn = first.as_ref().and_then(|p| p.arn.clone());
        let summary = format!(
            "{actor} shows {} stages of an attack ({}) between {} and {}: {}.",
            tactics.len(),
            names.join(" → "),
            to_rfc3339(parts.iter().map(|(_, p)| p.first).min().unwrap_or(bucket)),
            to_rfc3339(parts.iter().map(|(_, p)| p.last).max().unwrap_or(bucket)),
            rules.join(", ")
        );
        Finding {
            uid: Finding::make_uid(META.id, actor, bucket),
            rule_id: META.id.to_string(),
            title: format!("Attack chain: {}", names.join(" → ")),
            severity: Severity::Critical,
            confidence: (70 + 10 * tactics.len() as u8).min(98),
            tactic_ids: tactics.clone(),
            technique_ids: techniques.into_iter().collect(),
            provider: first.as_ref().map_or_else(|| "aws".to_string(), |p| p.provider.clone()),
            actor_key: actor.to_string(),
            actor_arn: arn.clone(),
            identity_class: first.as_ref().map_or(trailhound_model::IdentityClass::Unknown, |p| p.class),
            account: first.as_ref().and_then(|p| p.account.clone()),
            regions: regions.into_iter().collect(),
            first_event_time: parts.iter().map(|(_, p)| p.first).min().unwrap_or(bucket),
            last_event_time: parts.iter().map(|(_, p)| p.last).max().unwrap_or(bucket),
            event_count: parts.iter().map(|(_, p)| p.count).sum(),
            evidence,
            context: vec![format!(
                "{} findings from {} rules on one actor within {}: tactics {}",
                parts.len(),
                rules.iter().collect::<BTreeSet<_>>().len(),
                humantime::format_duration(self.cfg.window),
                tactics.join(", ")
            )],
            summary,
            remediation: remediation_for(actor, arn.as_deref(), "Treat this identity as compromised."),
            activity,
            revision,
            related_actor_keys: Vec::new(),
        }
    }

    /// Evicted: a published chain gets its final version now.
    fn close_early(&self, actor: &str, buckets: &mut BTreeMap<EventTime, Bucket>, ctx: &mut RuleCtx<'_>) {
        for (b, mut bk) in std::mem::take(buckets) {
            bk.publication.close_early();
            self.publish(actor, b, &mut bk, true, ctx);
        }
    }

    fn publish(&self, actor: &str, bucket: EventTime, b: &mut Bucket, closing: bool, ctx: &mut RuleCtx<'_>) {
        if !self.is_chain(b) {
            return;
        }
        // Severity is always critical. While the bucket is open, re-publish only when the chain
        // gained a tactic or a part; at closing, whenever anything in it changed (a part's
        // count or span grows after the chain formed).
        let structure = (Self::tactics(b).len() * 1000 + b.parts.len()) as u64;
        let total: u64 = b.parts.values().map(|p| p.count).sum();
        let span = b.parts.values().map(|p| p.last).max().unwrap_or(bucket)
            - b.parts.values().map(|p| p.first).min().unwrap_or(bucket);
        let signature =
            structure.wrapping_mul(1_000_003).wrapping_add(total).wrapping_mul(1_000_003).wrapping_add(span as u64);
        if b.publication.published() && !closing && structure == b.structure {
            return;
        }
        b.structure = structure;
        if let Some((activity, revision)) = b.publication.next(Severity::Critical, signature, b.publication.published())
        {
            ctx.emit(self.finding(actor, bucket, b, activity, revision));
        }
    }
}

impl Rule for AttackChain {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, _ev: &EventView<'_>, _rows: &[usize], _ctx: &mut RuleCtx<'_>) {}

    fn correlates(&self) -> bool {
        true
    }

    fn on_findings(&self, findings: &[Finding], ctx: &mut RuleCtx<'_>) {
        let mut touched: BTreeSet<(String, EventTime)> = BTreeSet::new();
        for f in findings.iter().filter(|f| f.rule_id != META.id) {
            let bucket = f.first_event_time.div_euclid(self.window_ms) * self.window_ms;
            let part = Part {
                rule_id: f.rule_id.clone(),
                severity: f.severity,
                title: f.title.clone(),
                tactics: f.tactic_ids.clone(),
                techniques: f.technique_ids.clone(),
                first: f.first_event_time,
                last: f.last_event_time,
                count: f.event_count,
                regions: f.regions.clone(),
                arn: f.actor_arn.clone(),
                account: f.account.clone(),
                class: f.identity_class,
                provider: f.provider.clone(),
            };
            // A finding counts for its actor and for every credential it ties to it (a backdoor
            // key used from elsewhere is part of the chain of the key that created it).
            let keys: BTreeSet<&String> = std::iter::once(&f.actor_key).chain(&f.related_actor_keys).collect();
            for key in keys {
                let mut actor = self.state.entry(key.clone());
                // A part whose first event moved to another bucket leaves the old one.
                // So does one that fell to informational (console context, IaC lifecycles,
                // habits, scanners). Low parts join a chain but cannot make one: a chain needs a
                // part of medium or above (see `is_chain`).
                let weighty = f.severity >= Severity::Low;
                for (b, bk) in actor.iter_mut() {
                    if *b != bucket || !weighty {
                        bk.parts.remove(&f.uid);
                    }
                }
                if weighty {
                    actor.entry(bucket).or_default().parts.insert(f.uid.clone(), part.clone());
                }
                drop(actor);
                touched.insert((key.clone(), bucket));
            }
        }
        for (actor, bucket) in touched {
            if let Some(mut st) = self.state.get_mut(&actor) {
                if let Some(b) = st.get_mut(&bucket) {
                    self.publish(&actor, bucket, b, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep(wm, |actor, buckets| {
            let close_at = |b: EventTime| b.saturating_add(self.window_ms).saturating_add(self.close_ms);
            let closable: Vec<EventTime> = buckets.keys().copied().take_while(|b| close_at(*b) <= wm).collect();
            for b in closable {
                if let Some(mut bk) = buckets.remove(&b) {
                    self.publish(actor, b, &mut bk, true, ctx);
                }
            }
            buckets.keys().next().map(|b| close_at(*b))
        });
    }

    super::keyed_state!(state, close = close_early);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_model::IdentityClass;

    fn part(uid: &str, rule: &str, tactic: &str, first_min: i64) -> Finding {
        let t = crate::testing::T0 + first_min * 60_000;
        Finding {
            uid: uid.into(),
            rule_id: rule.into(),
            title: rule.into(),
            severity: Severity::High,
            confidence: 80,
            tactic_ids: vec![tactic.into()],
            technique_ids: vec!["T1".into()],
            provider: "aws".into(),
            actor_key: "AKIASTOLEN".into(),
            actor_arn: Some("arn:aws:iam::1:user/u".into()),
            identity_class: IdentityClass::ProgrammaticUser,
            account: Some("1".into()),
            regions: vec!["us-east-1".into()],
            first_event_time: t,
            last_event_time: t + 60_000,
            event_count: 5,
            evidence: vec![],
            context: vec![],
            summary: String::new(),
            remediation: String::new(),
            activity: Activity::Create,
            revision: 0,
            related_actor_keys: Vec::new(),
        }
    }

    fn feed(rule: &AttackChain, batches: &[Vec<Finding>]) -> Vec<Finding> {
        let cx = crate::IdentityContext::default();
        let mut out = Vec::new();
        for b in batches {
            let mut ctx = RuleCtx { watermark: 0, context: &cx, out: &mut out };
            rule.on_findings(b, &mut ctx);
        }
        let mut ctx = RuleCtx { watermark: i64::MAX, context: &cx, out: &mut out };
        rule.on_watermark(&mut ctx);
        out
    }

    #[test]
    fn two_tactics_on_one_actor_make_a_critical_chain_that_grows_with_the_same_uid() {
        let rule = AttackChain::new(Config::default());
        let out = feed(
            &rule,
            &[
                vec![part("a", "enumeration_burst", "TA0007", 1)],
                vec![part("b", "iam_user_persistence", "TA0003", 5)],
                vec![part("c", "defense_evasion", "TA0005", 9)],
            ],
        );
        assert!(out.len() >= 2, "created when the second tactic arrived, updated with the third");
        assert!(out.iter().all(|f| f.uid == out[0].uid && f.severity == Severity::Critical));
        assert_eq!(out[0].activity, Activity::Create);
        let last = out.last().expect("final");
        assert_eq!(last.tactic_ids, ["TA0003", "TA0005", "TA0007"]);
        assert_eq!(last.title, "Attack chain: Persistence → Defense Evasion → Discovery");
        assert_eq!(last.evidence.len(), 3);
        assert_eq!(last.event_count, 15);
    }

    #[test]
    fn low_parts_alone_make_no_chain_and_an_informational_part_leaves_it() {
        let low = |mut f: Finding| {
            f.severity = Severity::Low;
            f
        };
        let rule = AttackChain::new(Config::default());
        // Console context and an IaC teardown, both low: no chain.
        let out = feed(
            &rule,
            &[
                vec![low(part("a", "enumeration_burst", "TA0007", 1))],
                vec![low(part("b", "defense_evasion", "TA0005", 5))],
            ],
        );
        assert!(out.is_empty(), "{out:?}");
        // A narrow (low) enumeration before a real evasion: the low part joins the chain.
        let rule = AttackChain::new(Config::default());
        let out = feed(
            &rule,
            &[vec![low(part("a", "enumeration_burst", "TA0007", 1))], vec![part("b", "defense_evasion", "TA0005", 5)]],
        );
        assert_eq!(out.last().map(|f| f.tactic_ids.len()), Some(2), "{out:?}");
        // Two real parts chain; when one is re-published as informational, the chain no longer
        // holds it.
        let rule = AttackChain::new(Config::default());
        let out = feed(
            &rule,
            &[
                vec![part("a", "enumeration_burst", "TA0007", 1)],
                vec![part("b", "iam_user_persistence", "TA0003", 5)],
                vec![part("c", "defense_evasion", "TA0005", 9)],
                vec![Finding { severity: Severity::Informational, ..part("c", "defense_evasion", "TA0005", 9) }],
            ],
        );
        let last = out.last().expect("a chain");
        assert_eq!(last.tactic_ids, ["TA0003", "TA0007"]);
    }

    #[test]
    fn a_finding_on_a_backdoor_key_joins_the_chain_of_the_key_that_created_it() {
        let rule = AttackChain::new(Config::default());
        let mut used = part("k", "new_access_key_used", "TA0005", 12);
        used.actor_key = "AKIANEWKEY".into();
        used.related_actor_keys = vec!["AKIASTOLEN".into()];
        let out = feed(&rule, &[vec![part("p", "iam_user_persistence", "TA0003", 1)], vec![used]]);
        let last = out.last().expect("a chain on the creator");
        assert_eq!(last.actor_key, "AKIASTOLEN");
        assert_eq!(last.evidence.len(), 2);
    }

    #[test]
    fn the_closing_version_carries_parts_that_grew_after_the_chain_formed() {
        let rule = AttackChain::new(Config::default());
        let mut grown = part("a", "enumeration_burst", "TA0007", 1);
        grown.event_count = 50;
        grown.revision = 1;
        let out = feed(
            &rule,
            &[
                vec![part("a", "enumeration_burst", "TA0007", 1), part("b", "iam_user_persistence", "TA0003", 5)],
                vec![grown],
            ],
        );
        assert_eq!(out.last().map(|f| f.event_count), Some(55));
    }

    #[test]
    fn one_tactic_or_one_rule_is_not_a_chain_and_other_actors_do_not_mix() {
        let rule = AttackChain::new(Config::default());
        let mut other = part("x", "iam_user_persistence", "TA0003", 2);
        other.actor_key = "AKIAOTHER".into();
        let out = feed(
            &rule,
            &[vec![part("a", "enumeration_burst", "TA0007", 1), part("a2", "enumeration_burst", "TA0007", 30), other]],
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn the_final_chain_does_not_depend_on_the_order_parts_arrive_in() {
        let parts = vec![
            part("a", "enumeration_burst", "TA0007", 1),
            part("b", "iam_user_persistence", "TA0003", 5),
            part("c", "instance_sprawl", "TA0040", 9),
        ];
        let forward = feed(&AttackChain::new(Config::default()), std::slice::from_ref(&parts));
        let mut rev = parts.clone();
        rev.reverse();
        let backward =
            feed(&AttackChain::new(Config::default()), &rev.into_iter().map(|p| vec![p]).collect::<Vec<_>>());
        let strip = |f: &Finding| Finding { activity: Activity::Create, revision: 0, ..f.clone() };
        assert_eq!(forward.last().map(strip), backward.last().map(strip));
    }
}
