//! `termination_protection`: EC2 termination protection turned **on** by a caller that is not
//! an AWS service.
//!
//! A thief who launched miners on a stolen key protects them so that a responder's
//! `TerminateInstances` fails, and the mining runs while someone works out why (T1496
//! Resource Hijacking, with the instances kept as a foothold: T1578). The calls are
//! `ec2:ModifyInstanceAttribute` with `disableApiTermination {value: true}` (or the CLI form
//! `attribute=disableApiTermination, value=true`) and `ec2:RunInstances` with
//! `disableApiTermination: true` (column `disable_api_termination`).
//!
//! Protection is rare in practice outside a few long-lived hosts (bastions, databases on
//! EC2), and an administrator who sets it does so once per host. So every such change is a
//! finding of its own, grouped per actor and account in `episode` buckets of event time
//! (default 1 h; uid = `hash(rule, actor|account, bucket start)`):
//!
//! | severity | when |
//! |---|---|
//! | medium | protection turned on for an instance |
//! | high | on `min_instances_high` (default 5) or more instances in the episode, or by a machine identity (workload, CI/CD, long-lived user key) or the root user |
//! | one step lower | every attempt in the episode failed (`errorCode` present): nothing was protected, but the intent shows |
//!
//! The finding is published at the first protecting call (early firing), updated when its
//! severity rises, and published a last time when the bucket closes behind the watermark.
//! The same events also escalate an `instance_sprawl` finding of the same actor to critical;
//! both read them with `ec2::protection_on`, so neither rule calls the other.
//!
//! Quiet: turning protection **off** (deploys and teardown scripts do that before
//! `TerminateInstances`), `RunInstances` without the flag or with `false`, and calls by AWS
//! services (Auto Scaling, CloudFormation acting from its own endpoint). Not read: launch
//! templates that carry the flag (`CreateLaunchTemplate` `launchTemplateData`): the
//! `RunInstances` from such a template shows no flag in its request.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::{IMPACT, PERSISTENCE};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::ec2::protection_on;
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::state::{Evictable, Tier, Weighed};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "termination_protection",
    title: "EC2 termination protection turned on",
    severity: Severity::Medium,
    tactics: &[IMPACT, PERSISTENCE],
    techniques: &["T1496", "T1578"],
    summary: "EC2 termination protection turned on (ModifyInstanceAttribute or RunInstances) by a non-service actor",
    stateful: true,
};

/// Thresholds of `termination_protection` (`[rules.termination_protection]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Instances protected in one episode that make the finding high. Default 5.
    pub min_instances_high: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { min_instances_high: 5 }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10), `episode` (default 1h).
pub const COMMON: CommonDefaults = CommonDefaults {
    max_evidence: Some(10),
    episode: Some(Duration::from_secs(3600)),
    episode_alias: None,
};

/// Cap on instance ids remembered per episode (the count saturates there).
const MAX_IDS: usize = 1000;

/// Inserts `v`, keeping the `cap` smallest values: the kept set does not depend on arrival
/// order.
fn keep_smallest(set: &mut BTreeSet<String>, v: String, cap: usize) {
    set.insert(v);
    while set.len() > cap {
        set.pop_last();
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    support: Support,
    /// Instances requested with protection by `RunInstances`.
    launched: u64,
    /// Distinct instances modified (ids), and modifications without an id.
    modified: BTreeSet<String>,
    modified_unknown: u64,
    /// Attempts that failed (errorCode present), and the codes.
    failed: u64,
    errors: BTreeSet<String>,
    publication: Publication,
}

crate::state::weigh_fields! { Episode { support, modified, errors } }

/// A key's open episodes: live until their bucket closes, as recent as their latest event.
impl Evictable for BTreeMap<EventTime, Episode> {
    fn class(&self) -> (Tier, EventTime) {
        (Tier::Active, self.values().map(|ep| ep.support.last).max().unwrap_or(i64::MIN))
    }
}

impl Episode {
    fn instances(&self) -> u64 {
        self.launched.saturating_add(self.modified.len() as u64).saturating_add(self.modified_unknown)
    }
}

/// The rule.
pub struct TerminationProtection {
    cfg: RuleConfig<Config>,
    episode_ms: i64,
    /// (actor key, account) → episodes by bucket start.
    state: Weighed<(String, String), std::collections::BTreeMap<EventTime, Episode>>,
}

impl TerminationProtection {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        let episode_ms = i64::try_from(cfg.common.episode.as_millis()).unwrap_or(i64::MAX).max(1);
        Self { cfg, episode_ms, state: Weighed::default() }
    }

    fn severity(&self, ep: &Episode) -> Severity {
        let class = ep.support.class();
        let mut s = META.severity;
        if ep.instances() >= self.cfg.min_instances_high || class.is_machine() || class == IdentityClass::Root {
            s = Severity::High;
        }
        if ep.failed >= ep.support.count {
            s = s.lowered();
        }
        s
    }

    fn finding(&self, key: &(String, String), bucket: EventTime, ep: &Episode, act: Activity, rev: u32) -> Finding {
        let (actor, account) = key;
        let s = &ep.support;
        let n = ep.instances();
        let mut context = vec![format!(
            "termination protection turned on for {n} instance(s) in the episode (high from {}); {} launched with protection, {} modified",
            self.cfg.min_instances_high,
            ep.launched,
            ep.modified.len() as u64 + ep.modified_unknown
        )];
        if !ep.modified.is_empty() {
            let ids: Vec<&str> = ep.modified.iter().take(10).map(String::as_str).collect();
            context.push(format!("instances modified: {}", ids.join(", ")));
        }
        if ep.failed > 0 {
            let codes: Vec<&str> = ep.errors.iter().map(String::as_str).collect();
            context.push(format!("{} of {} attempts failed ({})", ep.failed, s.count, codes.join(", ")));
        }
        context.push(format!("identity class {}", s.class()));
        let summary = format!(
            "{actor} ({}) turned EC2 termination protection on for {n} instance(s) in {} between {} and {}{}.",
            s.class(),
            s.regions.iter().cloned().collect::<Vec<_>>().join(", "),
            to_rfc3339(s.first_time(bucket)),
            to_rfc3339(s.last),
            if ep.failed >= s.count { " (every attempt failed)" } else { "" }
        );
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let what = format!(
            "Check who owns the protected instances and whether they run anything expected (miners, proxies); \
             turn protection off (ec2 modify-instance-attribute --no-disable-api-termination) before terminating unknown ones. Ask the owner of {}.",
            arn.unwrap_or(actor)
        );
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor: bucket,
            support: s,
            severity: self.severity(ep),
            confidence: if ep.failed >= s.count { 50 } else { 70 },
            techniques: META.techniques.iter().map(|t| t.to_string()).collect(),
            context,
            summary,
            remediation: remediation_for(actor, arn, &what),
        }
        .finding(act, rev);
        f.uid = Finding::make_uid(META.id, &format!("{actor}|{account}"), bucket);
        f
    }

    /// Evicted: each episode gets its final version now.
    fn close_early(&self, key: &(String, String), eps: &mut BTreeMap<EventTime, Episode>, ctx: &mut RuleCtx<'_>) {
        for (b, mut ep) in std::mem::take(eps) {
            ep.publication.close_early();
            self.publish(key, b, &mut ep, true, ctx);
        }
    }

    fn publish(
        &self,
        key: &(String, String),
        bucket: EventTime,
        ep: &mut Episode,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        if let Some((act, rev)) = ep.publication.next(self.severity(ep), ep.support.count, closing) {
            ctx.emit(self.finding(key, bucket, ep, act, rev));
        }
    }
}

impl Rule for TerminationProtection {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut touched: Vec<((String, String), EventTime)> = Vec::new();
        for &row in rows {
            if ev.identity_class(row) == IdentityClass::AwsService {
                continue;
            }
            let Some(p) = protection_on(ev, row) else { continue };
            let t = ev.time(row);
            let bucket = t.div_euclid(self.episode_ms) * self.episode_ms;
            let key = (ev.actor_key(row).to_string(), ev.account(row).unwrap_or("").to_string());
            let mut entry = self.state.entry(key.clone());
            let ep = entry.entry(bucket).or_default();
            ep.support.add(ev, row, self.cfg.common.max_evidence);
            if ev.action(row) == "RunInstances" {
                ep.launched = ep.launched.saturating_add(p.instances);
            } else {
                match p.instance_id {
                    Some(id) => keep_smallest(&mut ep.modified, id, MAX_IDS),
                    None => ep.modified_unknown += 1,
                }
            }
            if let Some(code) = ev.error_code(row) {
                ep.failed += 1;
                keep_smallest(&mut ep.errors, code.to_string(), 16);
            }
            drop(entry);
            if !touched.contains(&(key.clone(), bucket)) {
                touched.push((key, bucket));
            }
        }
        for (key, bucket) in touched {
            if let Some(mut st) = self.state.get_mut(&key) {
                if let Some(ep) = st.get_mut(&bucket) {
                    self.publish(&key, bucket, ep, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep(wm, |key, eps| {
            let closable: Vec<EventTime> =
                eps.keys().copied().take_while(|b| b.saturating_add(self.episode_ms) <= wm).collect();
            for b in closable {
                if let Some(mut ep) = eps.remove(&b) {
                    self.publish(key, b, &mut ep, true, ctx);
                }
            }
            // Next visit: when the earliest open episode closes.
            eps.keys().next().map(|b| b.saturating_add(self.episode_ms))
        });
    }

    super::keyed_state!(state, close = close_early);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::testing::{event, finals, iam_user, role_session, run, run_all};

    fn rule() -> Box<dyn Rule> {
        Box::new(TerminationProtection::new(Config::default()))
    }

    fn modify(secs: i64, who: &Value, id: &str, on: bool) -> String {
        event(
            secs,
            who,
            "ec2",
            "ModifyInstanceAttribute",
            json!({"eventID": format!("mod-{secs}-{id}"), "requestParameters": {"instanceId": id, "disableApiTermination": {"value": on}}}),
        )
    }

    fn console_admin() -> Value {
        let mut v = role_session("AWSReservedSSO_Admin_abc", "alice@example.com", "ASIACONSOLE");
        v["sessionContext"]["attributes"]["mfaAuthenticated"] = json!("true");
        v
    }

    #[test]
    fn a_human_protecting_one_instance_is_a_medium_finding() {
        let lines = vec![modify(0, &console_admin(), "i-0aaa", true)];
        let f = run(rule(), &lines);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].identity_class, IdentityClass::Human);
        assert!(f[0].context.iter().any(|c| c.contains("i-0aaa")));
        assert_eq!(f[0].technique_ids, vec!["T1496", "T1578"]);
        assert_eq!(f[0].tactic_ids, vec!["TA0040", "TA0003"]);
    }

    #[test]
    fn a_stolen_key_protecting_instances_is_high() {
        let who = iam_user("ci-deployer", "AKIAEXAMPLE1");
        let lines = vec![modify(0, &who, "i-0aaa", true)];
        let f = run(rule(), &lines);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].identity_class, IdentityClass::ProgrammaticUser);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].account.as_deref(), Some("111122223333"));
    }

    #[test]
    fn many_instances_launched_with_protection_make_it_high_and_updates_early() {
        let admin = console_admin();
        let first = modify(0, &admin, "i-01", true);
        let launch = event(
            60,
            &admin,
            "ec2",
            "RunInstances",
            json!({"requestParameters": {"instanceType": "c5.large", "disableApiTermination": true,
                "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 6}]}}}),
        );
        let all = run_all(vec![rule()], &[first, launch], 1);
        // Published at the first call (medium), updated when it became high.
        assert_eq!(all[0].severity, Severity::Medium);
        assert_eq!(all[0].activity, Activity::Create);
        let fin = finals(&all);
        assert_eq!(fin.len(), 1);
        assert_eq!(fin[0].severity, Severity::High);
        assert!(fin[0].context[0].contains("7 instance(s)"), "{:?}", fin[0].context);
    }

    #[test]
    fn a_denied_attempt_is_one_step_lower() {
        let who = iam_user("ci-deployer", "AKIAEXAMPLE1");
        let mut v: Value = serde_json::from_str(&modify(0, &who, "i-0aaa", true)).expect("json");
        v["errorCode"] = json!("Client.UnauthorizedOperation");
        let f = run(rule(), &[v.to_string()]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
    }

    #[test]
    fn the_cli_attribute_form_counts() {
        let line = event(
            0,
            &console_admin(),
            "ec2",
            "ModifyInstanceAttribute",
            json!({"requestParameters": {"instanceId": "i-0bbb", "attribute": "disableApiTermination", "value": "true"}}),
        );
        assert_eq!(run(rule(), &[line]).len(), 1);
    }

    #[test]
    fn a_deploy_turning_protection_off_stays_quiet() {
        let ci = iam_user("deployer", "AKIADEPLOY");
        let mut lines: Vec<String> = (0..5).map(|i| modify(i, &ci, &format!("i-0{i}"), false)).collect();
        lines.push(event(
            10,
            &ci,
            "ec2",
            "RunInstances",
            json!({"requestParameters": {"instanceType": "t3.micro", "disableApiTermination": false,
                "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 4}]}}}),
        ));
        lines.push(event(20, &ci, "ec2", "TerminateInstances", json!({})));
        assert!(run(rule(), &lines).is_empty());
    }

    #[test]
    fn an_aws_service_protecting_instances_stays_quiet() {
        let svc = json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"});
        assert!(run(rule(), &[modify(0, &svc, "i-0aaa", true)]).is_empty());
    }

    #[test]
    fn the_stratus_unusual_instances_launch_does_not_turn_protection_on() {
        assert!(run(rule(), &crate::testing::stratus("aws.execution.ec2-launch-unusual-instances")).is_empty());
    }

    #[test]
    fn final_findings_do_not_depend_on_arrival_order() {
        let admin = console_admin();
        let ci = iam_user("ci-deployer", "AKIAEXAMPLE1");
        let mut lines: Vec<String> = (0..6).map(|i| modify(i * 20, &admin, &format!("i-0{i}"), true)).collect();
        lines.push(modify(30, &ci, "i-0ci", true));
        let forward = finals(&run_all(vec![rule()], &lines, 1));
        lines.reverse();
        let backward = finals(&run_all(vec![rule()], &lines, 3));
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), 2);
    }
}
