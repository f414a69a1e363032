//! `new_access_key_used`: a freshly minted access key used from somewhere else.
//!
//! `CreateAccessKey` returns the new key id in `responseElements.accessKey.accessKeyId`. A
//! key created by a thief (for a user he created, a user he backdoored, or himself) is soon
//! used from the thief's own infrastructure, which is seldom the network the creating call
//! came from when that call was made with a stolen CI or workload credential (the creation
//! runs where the stolen credential is used, the new key where the thief lives). This rule
//! follows each new key for `window` (default 1 h: a key meant for a deployment is usually
//! stored, not used, in its first hour) and fires when an event whose actor is that key comes
//! from a different network than the creation: another /24 (`ipv4_prefix`) for IPv4, another
//! /64 (`ipv6_prefix`) for IPv6. AWS-internal source addresses (`*.amazonaws.com`,
//! `AWS Internal`) are not a network: such uses, and uses by AWS services, neither fire nor
//! count as foreign; a creation from such an address has no network to compare with and the
//! key is not followed.
//!
//! | creator | used from another network | used only from the creator's network |
//! |---|---|---|
//! | a person (console, SSO): an administrator handing a key to a colleague or a server, or trying it out | medium | quiet |
//! | an IaC agent in a CI/CD identity (`iac_user_agents`: Terraform writing a key to a secret that an application then uses) | low | quiet |
//! | any other identity (a programmatic user, a workload, a CI job running a script) | high | medium, for a key of *another* user (`same_network_handoff`) |
//!
//! The last column is the thief who works from one host: the stolen machine credential mints
//! a key for another user (often one it just created) and the same host goes on as that user
//! within the hour. A machine identity has no reason to hand itself a second identity; a key
//! it creates for its own user (a rotation: `CreateAccessKey` without `userName`, the new key
//! then used from the same address) stays quiet.
//!
//! State is a map new key id → creation and uses, shared by every worker thread: the use
//! arrives with the *new* key as its actor, so it may be sharded to another worker than the
//! creation, in either order within a batch. Uses of keys not (yet) known are remembered for
//! as long as a creation could still arrive on time (until the watermark passes them; at most
//! 64 per key, earliest kept), and whichever of creation and use comes second completes the
//! match: the result does not depend on the order.
//!
//! One finding per new key, keyed by the key id (the finding's ARN and identity class are the
//! key's own user's, from its uses), uid = `hash(rule, key id, creation time)`; published at
//! the first use that makes it, updated as severity rises, and published a last time when the
//! watermark passes creation + window with every use.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::{DEFENSE_EVASION, PERSISTENCE};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::agents::{default_iac_user_agents, iac_agent};
use crate::arn::own_user;
use crate::episode::{remediation_for, Draft, OneEvent, Publication, Support};
use crate::net::masked_network;
use crate::state::{Evictable, Order, SmallMap, Tier, Weighed};
use crate::text::lowercase_all;
use crate::view::EventView;
use crate::window::positive_millis;

static META: RuleMeta = RuleMeta {
    id: "new_access_key_used",
    title: "New access key used from another network",
    severity: Severity::High,
    tactics: &[PERSISTENCE, DEFENSE_EVASION],
    techniques: &["T1098.001", "T1078.004"],
    summary: "An access key created by CreateAccessKey is used within the hour from a network its creator did not use",
    stateful: true,
};

/// Uses of a not-yet-known key remembered per key (earliest kept).
const MAX_EARLY_USES: usize = 64;

/// Thresholds of `new_access_key_used` (`[rules.new_access_key_used]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Follow each new key for this long after its creation. Default 1h.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// IPv4 prefix length that makes one network. Default 24.
    pub ipv4_prefix: u8,
    /// IPv6 prefix length that makes one network. Default 64.
    pub ipv6_prefix: u8,
    /// Also report (medium) a key that a machine identity (not a person, not an IaC agent)
    /// created for another user, used only from the creator's own network. Default true.
    pub same_network_handoff: bool,
    /// User-agent fragments (case-insensitive) of IaC tools; keys they create from CI/CD
    /// identities are low. Default Terraform, Pulumi, CDK, CloudFormation, Crossplane, Ansible.
    pub iac_user_agents: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            ipv4_prefix: 24,
            ipv6_prefix: 64,
            same_network_handoff: true,
            iac_user_agents: default_iac_user_agents(),
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10).
pub const COMMON: CommonDefaults = CommonDefaults { max_evidence: Some(10), episode: None, episode_alias: None };

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Creation {
    at: (EventTime, String),
    creator: String,
    creator_arn: Option<String>,
    creator_class: IdentityClass,
    network: String,
    owner: Option<String>,
    /// The key belongs to the creator's own user (a rotation).
    own: bool,
    iac: Option<String>,
    support: Support,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Use {
    network: Option<String>,
    service_call: bool,
    /// Most uses before a creation are of long-lived keys and never join a finding: kept
    /// compact, a `Support` only once a creation arrives.
    support: OneEvent,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyState {
    creation: Option<Creation>,
    /// Uses seen before the creation, by (time, event id), until the watermark passes them.
    early: SmallMap<(EventTime, String), Use>,
    /// Foreign network → its uses within the window.
    foreign: BTreeMap<String, Support>,
    /// Uses from the creator's network.
    same: Support,
    /// AWS-internal uses.
    internal: u64,
    publication: Publication,
}

crate::state::weigh_fields! {
    Creation { at, creator, creator_arn, network, owner, iac, support },
    Use { network, support },
    KeyState { creation, early, foreign, same },
}

impl Evictable for KeyState {
    /// A created key is followed for the window (armed by the creation), as recent as its
    /// creation or latest use; uses of a key whose creation was not seen only wait for one arriving late
    /// (dormant).
    fn class(&self) -> (Tier, EventTime) {
        match &self.creation {
            Some(c) => {
                let last = self.foreign.values().map(|s| s.last).fold(c.at.0.max(self.same.last), EventTime::max);
                (Tier::Armed, last)
            }
            None => (Tier::Dormant, self.early.keys().next_back().map_or(i64::MIN, |k| k.0)),
        }
    }
}

/// The rule.
pub struct NewAccessKeyUsed {
    cfg: RuleConfig<Config>,
    window: i64,
    iac: Vec<String>,
    keys: Weighed<String, KeyState>,
}

impl NewAccessKeyUsed {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self {
            window: positive_millis(cfg.window),
            iac: lowercase_all(&cfg.iac_user_agents),
            keys: Weighed::default(),
            cfg,
        }
    }

    fn network(&self, ev: &EventView<'_>, row: usize) -> Option<String> {
        masked_network(ev.source_ip(row)?, self.cfg.ipv4_prefix, self.cfg.ipv6_prefix)
    }

    /// Counts a use into a key whose creation is known.
    fn record(&self, k: &mut KeyState, t: EventTime, u: &Use) {
        let Some(c) = &k.creation else { return };
        if t < c.at.0 || t > c.at.0.saturating_add(self.window) {
            return;
        }
        match &u.network {
            _ if u.service_call => k.internal += 1,
            None => k.internal += 1,
            Some(n) if *n == c.network => k.same.merge(&u.support.support(), self.cfg.common.max_evidence),
            Some(n) => k.foreign.entry(n.clone()).or_default().merge(&u.support.support(), self.cfg.common.max_evidence),
        }
    }

    /// [`Self::record`] of event `row`, added to the key's support in place (most uses of a
    /// key arrive after its creation: no one-event support is built to be merged).
    fn record_row(&self, k: &mut KeyState, t: EventTime, ev: &EventView<'_>, row: usize) {
        let Some(c) = &k.creation else { return };
        if t < c.at.0 || t > c.at.0.saturating_add(self.window) {
            return;
        }
        if ev.identity_class(row) == IdentityClass::AwsService {
            k.internal += 1;
            return;
        }
        match self.network(ev, row) {
            None => k.internal += 1,
            Some(n) if n == c.network => k.same.add(ev, row, self.cfg.common.max_evidence),
            Some(n) => k.foreign.entry(n).or_default().add(ev, row, self.cfg.common.max_evidence),
        }
    }

    /// True when the creator is a machine identity that handed a key of another user to itself.
    fn handoff(&self, c: &Creation) -> bool {
        self.cfg.same_network_handoff && c.iac.is_none() && c.creator_class != IdentityClass::Human && !c.own
    }

    fn severity(&self, k: &KeyState) -> Option<Severity> {
        let c = k.creation.as_ref()?;
        if k.foreign.is_empty() {
            return (k.same.count > 0 && self.handoff(c)).then_some(Severity::Medium);
        }
        Some(if c.iac.is_some() {
            Severity::Low
        } else if c.creator_class == IdentityClass::Human {
            Severity::Medium
        } else {
            Severity::High
        })
    }

    /// Evicted: what was published gets its final version.
    fn close_early(&self, key: &str, k: &mut KeyState, ctx: &mut RuleCtx<'_>) {
        if k.publication.published() {
            k.publication.close_early();
            self.publish(key, k, true, ctx);
        }
    }

    fn publish(&self, key: &str, k: &mut KeyState, closing: bool, ctx: &mut RuleCtx<'_>) {
        let Some(sev) = self.severity(k) else { return };
        let Some(c) = &k.creation else { return };
        // Internal uses only show in the context: count them too, so that the last version is
        // republished when they changed. Decided before the support is assembled: most uses
        // change nothing that is published before the key's window closes.
        let count = k.same.count + k.foreign.values().map(|s| s.count).sum::<u64>() + c.support.count + k.internal;
        let Some((activity, revision)) = k.publication.next(sev, count, closing) else { return };
        let mut uses = k.same.clone();
        for s in k.foreign.values() {
            uses.merge(s, self.cfg.common.max_evidence);
        }
        let mut support = uses.clone();
        support.merge(&c.support, self.cfg.common.max_evidence);
        // Decisive: the earliest uses from other networks (or, for a hand-off, from the
        // creator's own); the creation follows as context.
        let decisive = if k.foreign.is_empty() { vec![&k.same] } else { k.foreign.values().collect() };
        for e in decisive.iter().flat_map(|s| s.evidence.iter().cloned()) {
            support.push_decisive(e, self.cfg.common.max_evidence);
        }
        debug_assert_eq!(count, support.count + k.internal);
        ctx.emit(self.finding(key, k, c, &uses, &support, sev, activity, revision));
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        key: &str,
        k: &KeyState,
        c: &Creation,
        uses: &Support,
        support: &Support,
        severity: Severity,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let nets: Vec<String> = k.foreign.keys().cloned().collect();
        let owner = c.owner.as_deref().unwrap_or("the creator itself");
        let creator = c.creator_arn.as_deref().unwrap_or(&c.creator);
        let use_count: u64 = k.foreign.values().map(|s| s.count).sum();
        let window = humantime::format_duration(self.cfg.window);
        let mut context = vec![format!(
            "key {key} created for {owner} at {} by {creator} ({}) from network {}",
            to_rfc3339(c.at.0),
            c.creator_class,
            c.network
        )];
        if !nets.is_empty() {
            context.push(format!("{use_count} use(s) within {window} from other networks: {}", nets.join(", ")));
        }
        if k.same.count > 0 || k.internal > 0 {
            context.push(format!(
                "{} use(s) within {window} from the creator's network, {} AWS-internal",
                k.same.count, k.internal
            ));
        }
        match (&c.iac, c.creator_class) {
            (Some(a), _) => context.push(format!("low: created by an IaC agent ({a}) in a CI/CD identity")),
            (None, IdentityClass::Human) => context.push("medium: created by a person (console/SSO)".to_string()),
            _ if nets.is_empty() => context.push(format!(
                "medium: a {} credential minted a key for another user and its own network went on as that user",
                c.creator_class
            )),
            _ => {}
        }
        let first_use = uses.first.as_ref().map_or(c.at.0, |f| f.0);
        let after =
            humantime::format_duration(Duration::from_secs(u64::try_from((first_use - c.at.0) / 1000).unwrap_or(0)));
        let summary = if nets.is_empty() {
            format!(
                "Access key {key} ({owner}) created by {creator} at {} was used {after} later from the creator's own network {}.",
                to_rfc3339(c.at.0),
                c.network
            )
        } else {
            format!(
                "Access key {key} ({owner}) created by {creator} at {} was used {after} later from {} other network(s) ({}).",
                to_rfc3339(c.at.0),
                nets.len(),
                nets.join(", ")
            )
        };
        let where_ = if nets.is_empty() { c.network.clone() } else { nets.join(", ") };
        let ask = format!("Ask the owner of {creator} whether key {key} was handed to a system on {where_}.");
        // The key's own identity (its user) from its earliest use.
        let user = uses.ident.as_ref();
        let mut f = Draft {
            meta: &META,
            key,
            anchor: c.at.0,
            support,
            severity,
            confidence: match severity {
                Severity::High | Severity::Critical => 75,
                Severity::Medium => 55,
                _ => 35,
            },
            techniques: vec!["T1098.001".to_string(), "T1078.004".to_string()],
            context,
            summary,
            remediation: remediation_for(key, user.and_then(|u| u.arn.as_deref()), &ask),
        }
        .finding(activity, revision);
        // The key that created this one is the compromised identity: chains group under it.
        if c.creator != key {
            f.related_actor_keys = vec![c.creator.clone()];
        }
        if let Some(u) = user {
            f.actor_arn = u.arn.clone();
            f.identity_class = u.class;
            f.account = u.account.clone().or(f.account);
        }
        f
    }

    fn creation(&self, ev: &EventView<'_>, row: usize) -> Option<(String, Creation)> {
        if ev.service(row) != "iam" || ev.action(row) != "CreateAccessKey" || ev.error_code(row).is_some() {
            return None;
        }
        let resp = ev.response_json(row)?;
        let key = resp.get("accessKey")?.get("accessKeyId")?.as_str()?.to_string();
        let network = self.network(ev, row)?;
        Some((
            key,
            Creation {
                at: (ev.time(row), ev.event_id(row).to_string()),
                creator: ev.actor_key(row).to_string(),
                creator_arn: ev.actor_arn(row).map(str::to_string),
                creator_class: ev.identity_class(row),
                network,
                owner: ev.target_user(row).map(str::to_string),
                own: ev.target_user(row).is_none_or(|u| own_user(ev, row) == Some(u)),
                iac: iac_agent(ev, row, &self.iac),
                support: Support::one(ev, row),
            },
        ))
    }
}

impl Rule for NewAccessKeyUsed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        for &row in rows {
            if let Some((key, c)) = self.creation(ev, row) {
                let mut k = self.keys.entry(key.clone());
                let k = &mut *k;
                // One creation per key id; keep the earliest if a duplicate shows up.
                if k.creation.as_ref().is_some_and(|old| old.at <= c.at) {
                    continue;
                }
                let replaced = k.creation.replace(c).is_some();
                if replaced {
                    k.foreign.clear();
                    k.same = Support::default();
                    k.internal = 0;
                }
                let early = std::mem::take(&mut k.early);
                for ((t, _), u) in &early {
                    self.record(k, *t, u);
                }
                self.publish(&key, k, false, ctx);
                continue;
            }
            let actor = ev.actor_key(row);
            if !actor.starts_with("AKIA") {
                continue;
            }
            let t = ev.time(row);
            let mut k = self.keys.upsert(actor, || actor.to_string());
            let k = &mut *k;
            if k.creation.is_some() {
                self.record_row(k, t, ev, row);
                self.publish(actor, k, false, ctx);
            } else {
                let id = (t, ev.event_id(row).to_string());
                let full = k.early.len() >= MAX_EARLY_USES;
                if full && k.early.last_key_value().is_some_and(|(last, _)| *last <= id) {
                    continue;
                }
                let u = Use {
                    network: self.network(ev, row),
                    service_call: ev.identity_class(row) == IdentityClass::AwsService,
                    support: OneEvent::of(ev, row),
                };
                k.early.insert(id, u);
                if full {
                    k.early.pop_last();
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.keys.sweep_collect(ctx, Order::Uid, |key, k, ctx| match &k.creation {
            Some(c) => {
                let closes = c.at.0.saturating_add(self.window);
                if closes >= wm {
                    return Some(closes.saturating_add(1));
                }
                self.publish(key, k, true, ctx);
                None
            }
            None => {
                // A creation arriving from now on is newer than the watermark, so newer than
                // these uses: they can no longer match.
                k.early.retain(|(t, _), _| *t >= wm);
                let ((oldest, _), _) = k.early.first_key_value()?;
                Some(oldest.saturating_add(1))
            }
        });
    }

    super::keyed_state!(keys, close = close_early);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use trailhound_model::{Activity, Finding, IdentityClass, Severity};

    use super::*;
    use crate::testing::{T0, event, finals, iam_user, role_session, run, run_all, run_workers, stratus};

    fn rule(cfg: Config) -> Box<dyn Rule> {
        Box::new(NewAccessKeyUsed::new(cfg))
    }

    fn from(line: String, ip: &str, ua: Option<&str>) -> String {
        let mut v: Value = serde_json::from_str(&line).expect("json");
        v["sourceIPAddress"] = json!(ip);
        if let Some(ua) = ua {
            v["userAgent"] = json!(ua);
        }
        v.to_string()
    }

    fn create_key(secs: i64, who: &Value, user: &str, key: &str, ip: &str) -> String {
        from(
            event(
                secs,
                who,
                "iam",
                "CreateAccessKey",
                json!({"requestParameters": {"userName": user}, "responseElements": {"accessKey": {"accessKeyId": key, "userName": user, "status": "Active"}}, "readOnly": false}),
            ),
            ip,
            None,
        )
    }

    fn use_key(secs: i64, user: &str, key: &str, ip: &str, name: &str) -> String {
        from(event(secs, &iam_user(user, key), "s3", name, json!({"readOnly": true})), ip, None)
    }

    fn run_with(lines: &[String], rows: usize, workers: usize) -> Vec<Finding> {
        finals(&run_workers(vec![rule(Config::default())], lines, rows, workers))
    }

    #[test]
    fn a_key_made_by_a_stolen_machine_credential_and_used_elsewhere_is_high() {
        let thief = role_session("ci-runner", "i-0123456789abcdef0", "ASIARUNNER");
        let lines = vec![
            create_key(0, &thief, "svc-backup", "AKIANEWKEY", "10.20.30.40"),
            use_key(90, "svc-backup", "AKIANEWKEY", "203.0.113.50", "ListBuckets"),
            use_key(95, "svc-backup", "AKIANEWKEY", "203.0.113.51", "ListObjects"),
            use_key(96, "svc-backup", "AKIANEWKEY", "10.20.30.99", "ListBuckets"),
            use_key(97, "svc-backup", "AKIANEWKEY", "s3.amazonaws.com", "GetObject"),
        ];
        let all = run_all(vec![rule(Config::default())], &lines, 1);
        assert_eq!(all[0].activity, Activity::Create);
        assert_eq!(all[0].event_count, 2, "published at the first foreign use");
        let f = finals(&all);
        assert_eq!(f.len(), 1, "{f:#?}");
        let f = &f[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.actor_key, "AKIANEWKEY");
        assert_eq!(f.actor_arn.as_deref(), Some("arn:aws:iam::111122223333:user/svc-backup"));
        assert_eq!(f.identity_class, IdentityClass::ProgrammaticUser);
        assert_eq!(f.first_event_time, T0);
        assert_eq!(f.event_count, 4);
        assert_eq!(f.uid, Finding::make_uid("new_access_key_used", "AKIANEWKEY", T0));
        assert_eq!(f.technique_ids, ["T1098.001", "T1078.004"]);
        assert_eq!(f.tactic_ids, ["TA0003", "TA0005"]);
        assert!(f.context[0].contains("from network 10.20.30.0/24"), "{:?}", f.context);
        assert!(f.context[1].contains("2 use(s) within 1h from other networks: 203.0.113.0/24"));
        assert!(f.context[2].contains("1 use(s) within 1h from the creator's network, 1 AWS-internal"));
        assert!(f.remediation.contains("deactivate access key AKIANEWKEY"));
    }

    #[test]
    fn aws_internal_uses_and_uses_after_the_window_are_quiet() {
        let thief = iam_user("backup", "AKIATHIEF");
        let lines = vec![
            create_key(0, &thief, "svc", "AKIANEW2", "198.51.100.7"),
            use_key(20, "svc", "AKIANEW2", "AWS Internal", "ListBuckets"),
            use_key(30, "svc", "AKIANEW2", "s3.amazonaws.com", "ListBuckets"),
            use_key(61 * 60, "svc", "AKIANEW2", "203.0.113.5", "ListBuckets"),
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
        // Stratus creates keys it never uses.
        assert!(run(rule(Config::default()), &stratus("aws.persistence.iam-create-admin-user")).is_empty());
        assert!(run(rule(Config::default()), &stratus("aws.persistence.iam-backdoor-user")).is_empty());
    }

    #[test]
    fn a_key_rotation_used_from_the_same_address_is_quiet() {
        let me = iam_user("deploy", "AKIADEPLOY");
        let rotate = |user: Option<&str>, key: &str| {
            let req = user.map_or(json!({}), |u| json!({"userName": u}));
            from(
                event(
                    0,
                    &me,
                    "iam",
                    "CreateAccessKey",
                    json!({"requestParameters": req, "responseElements": {"accessKey": {"accessKeyId": key, "userName": "deploy", "status": "Active"}}, "readOnly": false}),
                ),
                "198.51.100.7",
                None,
            )
        };
        let lines = vec![
            rotate(None, "AKIAROT1"),
            use_key(60, "deploy", "AKIAROT1", "198.51.100.7", "ListBuckets"),
            rotate(Some("deploy"), "AKIAROT2"),
            use_key(70, "deploy", "AKIAROT2", "198.51.100.8", "ListBuckets"),
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
    }

    #[test]
    fn a_machine_handing_itself_another_users_key_on_its_own_network_is_medium() {
        // The thief works from one host: the stolen key creates a key for another user, and
        // the same address goes on as that user (the generator's `iam_admin_user`).
        let thief = iam_user("legacy-reporting", "AKIATHIEF");
        let lines = vec![
            create_key(0, &thief, "terraform-admin", "AKIAHANDOFF", "185.220.101.4"),
            use_key(600, "terraform-admin", "AKIAHANDOFF", "185.220.101.4", "GetCallerIdentity"),
            use_key(620, "terraform-admin", "AKIAHANDOFF", "185.220.101.4", "ListBuckets"),
        ];
        let f = run(rule(Config::default()), &lines);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].actor_key, "AKIAHANDOFF");
        assert_eq!(f[0].actor_arn.as_deref(), Some("arn:aws:iam::111122223333:user/terraform-admin"));
        assert!(f[0].context.iter().any(|c| c.contains("minted a key for another user")), "{:?}", f[0].context);
        assert!(f[0].summary.contains("creator's own network 185.220.101.0/24"), "{}", f[0].summary);
        // A foreign use later raises it.
        let mut more = lines.clone();
        more.push(use_key(900, "terraform-admin", "AKIAHANDOFF", "203.0.113.9", "ListUsers"));
        assert_eq!(run(rule(Config::default()), &more)[0].severity, Severity::High);
        let off = Config { same_network_handoff: false, ..Config::default() };
        assert!(run(rule(off), &lines).is_empty());
        // A person trying out the key they just made for a colleague stays quiet.
        let alice = iam_user("alice", "ASIAALICE");
        let console =
            from(create_key(0, &alice, "bob", "AKIABOB", "198.51.100.7"), "198.51.100.7", Some("Mozilla/5.0"));
        assert!(run(rule(Config::default()), &[console, use_key(60, "bob", "AKIABOB", "198.51.100.7", "ListBuckets")])
            .is_empty());
    }

    #[test]
    fn a_person_creating_the_key_is_medium_and_terraform_in_ci_low() {
        let alice = iam_user("alice", "ASIAALICE");
        let console =
            from(create_key(0, &alice, "svc", "AKIAK1", "198.51.100.7"), "198.51.100.7", Some("Mozilla/5.0 (X11)"));
        let f = run(rule(Config::default()), &[console, use_key(60, "svc", "AKIAK1", "2001:db8::1", "ListBuckets")]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].context[1].contains("2001:db8::/64"));
        let tf = role_session("gha-terraform", "1700000000000000000", "ASIATF");
        let apply = from(
            create_key(0, &tf, "svc-etl", "AKIAK2", "4.5.6.7"),
            "4.5.6.7",
            Some("APN/1.0 HashiCorp/1.0 Terraform/1.9.5 terraform-provider-aws/5.70.0"),
        );
        let f = run(rule(Config::default()), &[apply, use_key(600, "svc-etl", "AKIAK2", "52.1.2.3", "PutObject")]);
        assert_eq!(f[0].severity, Severity::Low);
        assert!(f[0].context.iter().any(|c| c.contains("IaC agent (Terraform)")));
    }

    #[test]
    fn the_use_may_arrive_before_the_creation_on_another_worker() {
        let thief = iam_user("backup", "AKIATHIEF");
        let lines = vec![
            create_key(0, &thief, "svc", "AKIANEW3", "198.51.100.7"),
            use_key(5, "svc", "AKIANEW3", "203.0.113.5", "ListBuckets"),
            use_key(6, "svc", "AKIANEW3", "203.0.113.5", "GetCallerIdentity"),
            use_key(7, "svc", "AKIANEW3", "198.51.100.9", "ListBuckets"),
            create_key(30, &thief, "svc2", "AKIANEW5", "198.51.100.7"),
            use_key(400, "svc2", "AKIANEW5", "192.0.2.1", "ListBuckets"),
            use_key(800, "svc2", "AKIANEW5", "192.0.2.2", "ListBuckets"),
        ];
        let shard = |k: &str| trailhound_model::stable_hash(&[k.as_bytes()]) % 2;
        assert!(
            ["AKIANEW3", "AKIANEW5"].iter().any(|k| shard(k) != shard("AKIATHIEF")),
            "at least one creation and its use run on different workers"
        );
        let expected = run_with(&lines, 8192, 1);
        assert_eq!(expected.len(), 2, "{expected:#?}");
        let mut reversed = lines.clone();
        reversed.reverse();
        for (rows, workers) in [(8192, 1), (1, 1), (8192, 2), (2, 2), (3, 2)] {
            assert_eq!(run_with(&reversed, rows, workers), expected, "rows {rows} workers {workers}");
            assert_eq!(run_with(&lines, rows, workers), expected, "rows {rows} workers {workers}");
        }
    }
}
