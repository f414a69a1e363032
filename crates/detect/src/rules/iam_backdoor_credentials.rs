//! `iam_backdoor_credentials`: credentials minted for someone else's existing IAM user.
//!
//! A thief who can write IAM but expects the stolen credential to be revoked gives himself a
//! second way in through a user that already exists (and so draws less attention than a new
//! one): a second access key (`CreateAccessKey` with `userName` another user), a console
//! password for a user that had none (`CreateLoginProfile`), or a new password for one that
//! had one (`UpdateLoginProfile`: the owner is locked out of the console and the thief is in,
//! with that user's rights: privilege escalation as much as persistence). Any of these, when
//! successful and aimed at a user other than the caller (`userName` present and not the
//! caller's own user name), is a finding: high, or medium when the caller is a person
//! (help-desk password resets and key hand-outs from the console happen) or an IaC agent in a
//! CI/CD identity (`iac_user_agents`: Terraform managing the key of a user it manages).
//!
//! Quiet when the same actor created that user within `window` (default 30 min) before:
//! creating a user and its key is `iam_user_persistence`'s sequence, reported there once.
//! Knowing that no such `CreateUser` exists needs the watermark: it may arrive out of order,
//! up to the allowed lateness after the key. So, with `wait_for_create` (the default), a
//! candidate is held until the watermark passes its event time and published then; the
//! finding is at most the allowed lateness (15 min) late, and whether it exists does not
//! depend on arrival order. With `wait_for_create = false` it is published at once, and a
//! `CreateUser` arriving after its key no longer silences it.
//!
//! `GetFederationToken` by an IAM user with a long-lived key (`federation_tokens`, default
//! on) is reported too, as medium (ATT&CK T1098.001 names it; T1550.001 for the token): the
//! federated session it returns lives up to 36 h and survives the deactivation of the key that
//! asked for it, which makes it the cheapest persistence a stolen key has. Few workloads call
//! it (token brokers do; allowlist them in `[suppress.iam_backdoor_credentials]`).
//!
//! Findings group per actor per `episode` bucket of event time (default 1 h; uid =
//! `hash(rule, actor, bucket)`, and `actor/federation` for federation tokens): one finding
//! lists every user backdoored in the hour. Failed attempts are listed in the context of a
//! finding but do not make one. Calls by AWS services are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::{PERSISTENCE, PRIVILEGE_ESCALATION};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::agents::{default_iac_user_agents, iac_agent};
use crate::arn::own_user;
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::iam_policy::{grants_admin, policy_document};
use crate::state::{Evictable, Order, Tier, Weighed};
use crate::text::lowercase_all;
use crate::view::EventView;
use crate::window::positive_millis;

static META: RuleMeta = RuleMeta {
    id: "iam_backdoor_credentials",
    title: "Credentials created for another IAM user",
    severity: Severity::High,
    tactics: &[PERSISTENCE, PRIVILEGE_ESCALATION],
    techniques: &["T1098.001", "T1550.001"],
    summary: "CreateAccessKey, CreateLoginProfile or UpdateLoginProfile for an existing user other than the caller; GetFederationToken by a programmatic user",
    stateful: true,
};

/// Thresholds of `iam_backdoor_credentials` (`[rules.iam_backdoor_credentials]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A user the same actor created within this long before the credential is left to
    /// `iam_user_persistence`. Default 30m.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Hold each candidate until the watermark passes it, so that a `CreateUser` arriving out
    /// of order still silences it (findings up to the allowed lateness late). Default true.
    pub wait_for_create: bool,
    /// Report `GetFederationToken` by IAM users with long-lived keys (medium). Default true.
    pub federation_tokens: bool,
    /// User-agent fragments (case-insensitive) of IaC tools; their calls from CI/CD identities
    /// are medium. Default Terraform, Pulumi, CDK, CloudFormation, Crossplane, Ansible.
    pub iac_user_agents: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30 * 60),
            wait_for_create: true,
            federation_tokens: true,
            iac_user_agents: default_iac_user_agents(),
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10), `episode` (default 1h; `group` is its older name here).
pub const COMMON: CommonDefaults = CommonDefaults {
    max_evidence: Some(10),
    episode: Some(Duration::from_secs(3600)),
    episode_alias: Some("group"),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Kind {
    Backdoor,
    Federation,
}

/// A credential call on another user, waiting for the decision "did the actor create it?".
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Candidate {
    user: String,
    action: String,
    error: Option<String>,
    /// Lowers severity: a person, or an IaC agent in a CI/CD identity (its name).
    mild: Option<String>,
    support: Support,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Facts {
    /// Successful calls ("CreateAccessKey bob").
    calls: BTreeSet<String>,
    users: BTreeSet<String>,
    failed: BTreeSet<String>,
    ok: u64,
    /// Successful calls neither by a person nor by an IaC agent.
    strong: u64,
    mild: BTreeSet<String>,
    password_reset: bool,
    /// Federation tokens: session names, and facts about the policies passed.
    names: BTreeSet<String>,
    notes: BTreeSet<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Group {
    support: Support,
    facts: Facts,
    publication: Publication,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActorState {
    /// Users this actor created (successful `CreateUser`) → creation times, kept for the window.
    created: BTreeMap<String, BTreeSet<EventTime>>,
    /// Candidates awaiting the watermark, by (time, event id).
    pending: BTreeMap<(EventTime, String), Candidate>,
    groups: BTreeMap<(Kind, EventTime), Group>,
}

crate::state::weigh_fields! {
    Kind {},
    Candidate { user, action, error, mild, support },
    Facts { calls, users, failed, mild, names, notes },
    Group { support, facts },
    ActorState { created, pending, groups },
}

impl Evictable for ActorState {
    /// Creations, candidates and groups wait within their windows: armed by writes, as recent as the
    /// latest of them.
    fn class(&self) -> (Tier, EventTime) {
        let created = self.created.values().filter_map(|ts| ts.last().copied());
        let pending = self.pending.keys().next_back().map(|k| k.0);
        let groups = self.groups.values().map(|g| g.support.last);
        (Tier::Armed, created.chain(pending).chain(groups).max().unwrap_or(i64::MIN))
    }
}

/// The rule.
pub struct IamBackdoorCredentials {
    cfg: RuleConfig<Config>,
    window: i64,
    group: i64,
    iac: Vec<String>,
    state: Weighed<String, ActorState>,
}

impl IamBackdoorCredentials {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self {
            window: positive_millis(cfg.window),
            group: positive_millis(cfg.common.episode),
            iac: lowercase_all(&cfg.iac_user_agents),
            state: Weighed::default(),
            cfg,
        }
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.group) * self.group
    }

    /// True when the actor created `user` within the window before `t`.
    fn created_by_actor(&self, created: &BTreeMap<String, BTreeSet<EventTime>>, user: &str, t: EventTime) -> bool {
        created.get(user).is_some_and(|ts| ts.range(t.saturating_sub(self.window)..=t).next().is_some())
    }

    /// Adds a decided candidate to its group.
    fn add(&self, groups: &mut BTreeMap<(Kind, EventTime), Group>, t: EventTime, c: &Candidate) -> (Kind, EventTime) {
        let key = (Kind::Backdoor, self.bucket(t));
        let g = groups.entry(key).or_default();
        g.support.merge(&c.support, self.cfg.common.max_evidence);
        let f = &mut g.facts;
        match &c.error {
            None => {
                f.ok += 1;
                f.calls.insert(format!("{} {}", c.action, c.user));
                f.users.insert(c.user.clone());
                match &c.mild {
                    Some(m) => {
                        f.mild.insert(m.clone());
                    }
                    None => f.strong += 1,
                }
                f.password_reset |= c.action == "UpdateLoginProfile";
            }
            Some(e) => {
                f.failed.insert(format!("{} {} ({e})", c.action, c.user));
            }
        }
        key
    }

    fn severity(kind: Kind, f: &Facts) -> Option<Severity> {
        if f.ok == 0 {
            return None;
        }
        Some(match kind {
            Kind::Federation => Severity::Medium,
            Kind::Backdoor if f.strong > 0 => Severity::High,
            Kind::Backdoor => Severity::Medium,
        })
    }

    /// Evicted: candidates are decided with the creations known now, and every group gets its
    /// final version.
    fn close_early(&self, actor: &str, st: &mut ActorState, ctx: &mut RuleCtx<'_>) {
        for (k, c) in std::mem::take(&mut st.pending) {
            if !self.created_by_actor(&st.created, &c.user, k.0) {
                self.add(&mut st.groups, k.0, &c);
            }
        }
        for (key, mut g) in std::mem::take(&mut st.groups) {
            g.publication.close_early();
            self.publish(actor, key, &mut g, true, ctx);
        }
    }

    fn publish(&self, actor: &str, key: (Kind, EventTime), g: &mut Group, closing: bool, ctx: &mut RuleCtx<'_>) {
        let Some(sev) = Self::severity(key.0, &g.facts) else { return };
        if let Some((activity, revision)) = g.publication.next(sev, g.support.count, closing) {
            ctx.emit(self.finding(actor, key, g, sev, activity, revision));
        }
    }

    fn finding(
        &self,
        actor: &str,
        (kind, bucket): (Kind, EventTime),
        g: &Group,
        severity: Severity,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let f = &g.facts;
        let s = &g.support;
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let who = arn.unwrap_or(actor);
        let join = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(", ");
        let mut context = Vec::new();
        let (techniques, summary, ask) = match kind {
            Kind::Backdoor => {
                context.push(format!(
                    "credentials for other existing users: {} (not created by this actor within {})",
                    join(&f.calls),
                    humantime::format_duration(self.cfg.window)
                ));
                if f.password_reset {
                    context.push(
                        "UpdateLoginProfile on another user: the caller chose that user's console password and can sign in with its rights (privilege escalation)"
                            .to_string(),
                    );
                }
                if f.strong == 0 {
                    context.push(format!("medium: caller is {}", join(&f.mild)));
                }
                if !f.failed.is_empty() {
                    context.push(format!("failed attempts: {}", join(&f.failed)));
                }
                let summary = format!(
                    "{who} ({}) created credentials for {} existing IAM user(s) other than itself between {} and {}: {}.",
                    s.class(),
                    f.users.len(),
                    to_rfc3339(s.first_time(bucket)),
                    to_rfc3339(s.last),
                    join(&f.calls)
                );
                let ask = format!(
                    "Ask the owners of {} whether these credentials were requested; if not, delete the new access keys and login profiles (or reset the passwords) of those users.",
                    join(&f.users)
                );
                (vec!["T1098.001".to_string()], summary, ask)
            }
            Kind::Federation => {
                context.push(format!(
                    "GetFederationToken by an IAM user with a long-lived key; federated sessions: {}",
                    join(&f.names)
                ));
                context.push(
                    "a federation token lives up to 36 h and outlives the deactivation of the key that requested it"
                        .to_string(),
                );
                context.extend(f.notes.iter().cloned());
                let summary = format!(
                    "{who} ({}) requested {} federation token(s) between {} and {}.",
                    s.class(),
                    f.ok,
                    to_rfc3339(s.first_time(bucket)),
                    to_rfc3339(s.last)
                );
                let ask = format!(
                    "Ask the owner of {who} whether it brokers federation tokens; if not, attach a policy denying everything to the user with condition aws:TokenIssueTime before now (federated sessions cannot be revoked otherwise)."
                );
                (vec!["T1098.001".to_string(), "T1550.001".to_string()], summary, ask)
            }
        };
        let confidence = match (kind, f.strong > 0) {
            (Kind::Federation, _) => 55,
            (Kind::Backdoor, true) => 80,
            (Kind::Backdoor, false) => 55,
        };
        let mut out = Draft {
            meta: &META,
            key: actor,
            anchor: bucket,
            support: s,
            severity,
            confidence,
            techniques,
            context,
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(activity, revision);
        if kind == Kind::Federation {
            out.uid = Finding::make_uid(META.id, &format!("{actor}/federation"), bucket);
        }
        out
    }

    fn federation(
        &self,
        ev: &EventView<'_>,
        row: usize,
        groups: &mut BTreeMap<(Kind, EventTime), Group>,
    ) -> (Kind, EventTime) {
        let key = (Kind::Federation, self.bucket(ev.time(row)));
        let g = groups.entry(key).or_default();
        g.support.add(ev, row, self.cfg.common.max_evidence);
        let f = &mut g.facts;
        if let Some(e) = ev.error_code(row) {
            f.failed.insert(format!("GetFederationToken ({e})"));
            return key;
        }
        f.ok += 1;
        f.strong += 1;
        let req = ev.request_json(row);
        let name = req.as_ref().and_then(|r| r.get("name")).and_then(Value::as_str).unwrap_or("?");
        f.names.insert(name.to_string());
        if let Some(r) = &req {
            if r.get("policy").and_then(policy_document).is_some_and(|d| grants_admin(&d)) {
                f.notes.insert("session policy allows * on *: the session keeps every right of the user".to_string());
            }
            if let Some(d) = r.get("durationSeconds").and_then(Value::as_u64).filter(|d| *d > 12 * 3600) {
                f.notes.insert(format!("session lifetime {} h", d / 3600));
            }
        }
        key
    }
}

impl Rule for IamBackdoorCredentials {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut dirty: BTreeSet<(String, (Kind, EventTime))> = BTreeSet::new();
        for &row in rows {
            let (service, action) = (ev.service(row), ev.action(row));
            let class = ev.identity_class(row);
            if class == IdentityClass::AwsService {
                continue;
            }
            let actor = ev.actor_key(row);
            if service == "sts" && action == "GetFederationToken" {
                if self.cfg.federation_tokens && class == IdentityClass::ProgrammaticUser {
                    let mut st = self.state.upsert(actor, || actor.to_string());
                    let key = self.federation(ev, row, &mut st.groups);
                    dirty.insert((actor.to_string(), key));
                }
                continue;
            }
            if service != "iam" {
                continue;
            }
            let t = ev.time(row);
            match action {
                "CreateUser" => {
                    if let (None, Some(user)) = (ev.error_code(row), ev.target_user(row)) {
                        self.state
                            .upsert(actor, || actor.to_string())
                            .created
                            .entry(user.to_string())
                            .or_default()
                            .insert(t);
                    }
                }
                "CreateAccessKey" | "CreateLoginProfile" | "UpdateLoginProfile" => {
                    let Some(user) = ev.target_user(row) else { continue };
                    if own_user(ev, row) == Some(user) {
                        continue;
                    }
                    let mild = if class == IdentityClass::Human {
                        Some("a person (console/SSO)".to_string())
                    } else {
                        iac_agent(ev, row, &self.iac).map(|a| format!("an IaC agent ({a}) in a CI/CD identity"))
                    };
                    let c = Candidate {
                        user: user.to_string(),
                        action: action.to_string(),
                        error: ev.error_code(row).map(str::to_string),
                        mild,
                        support: Support::one(ev, row),
                    };
                    let mut st = self.state.upsert(actor, || actor.to_string());
                    if self.cfg.wait_for_create {
                        st.pending.entry((t, ev.event_id(row).to_string())).or_insert(c);
                    } else if !self.created_by_actor(&st.created, user, t) {
                        let key = self.add(&mut st.groups, t, &c);
                        dirty.insert((actor.to_string(), key));
                    }
                }
                _ => {}
            }
        }
        for (actor, key) in dirty {
            if let Some(mut st) = self.state.get_mut(&actor) {
                if let Some(g) = st.groups.get_mut(&key) {
                    self.publish(&actor, key, g, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep_collect(ctx, Order::FirstEvent, |actor, st, ctx| {
            // Decide the candidates the watermark has passed: any CreateUser at or before
            // them has arrived by now (a later one would be late, and is not given to us).
            let decided: Vec<(EventTime, String)> =
                st.pending.range(..(wm, String::new())).map(|(k, _)| k.clone()).collect();
            let mut dirty = BTreeSet::new();
            for k in decided {
                if let Some(c) = st.pending.remove(&k) {
                    if !self.created_by_actor(&st.created, &c.user, k.0) {
                        dirty.insert(self.add(&mut st.groups, k.0, &c));
                    }
                }
            }
            for key in dirty {
                if let Some(g) = st.groups.get_mut(&key) {
                    self.publish(actor, key, g, false, ctx);
                }
            }
            // Close the buckets behind the watermark (their candidates were all decided above).
            let closable: Vec<(Kind, EventTime)> =
                st.groups.keys().filter(|(_, b)| b.saturating_add(self.group) <= wm).copied().collect();
            for key in closable {
                if let Some(mut g) = st.groups.remove(&key) {
                    self.publish(actor, key, &mut g, true, ctx);
                }
            }
            let cutoff = wm.saturating_sub(self.window);
            st.created.retain(|_, ts| {
                ts.retain(|t| *t >= cutoff);
                !ts.is_empty()
            });
            if st.created.is_empty() && st.pending.is_empty() && st.groups.is_empty() {
                return None;
            }
            // Next visit: a candidate to decide, a group to close or a creation leaving the window.
            let decide = st.pending.keys().next().map_or(EventTime::MAX, |(t, _)| t.saturating_add(1));
            let close = st.groups.keys().map(|(_, b)| b.saturating_add(self.group)).min().unwrap_or(EventTime::MAX);
            let forget = st.created.values().filter_map(|ts| ts.first()).min();
            let forget = forget.map_or(EventTime::MAX, |t| t.saturating_add(self.window).saturating_add(1));
            Some(decide.min(close).min(forget))
        });
    }

    super::keyed_state!(state, close = close_early, order = FirstEvent);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use trailhound_model::{Activity, Finding, IdentityClass, Severity};

    use super::*;
    use crate::testing::{batches, event, finals, iam_user, role_session, run, run_all, run_workers, stratus};
    use crate::{DetectConfig, Engine};

    fn rule(cfg: Config) -> Box<dyn Rule> {
        Box::new(IamBackdoorCredentials::new(cfg))
    }

    fn call(secs: i64, who: &Value, name: &str, user: &str) -> String {
        event(secs, who, "iam", name, json!({"requestParameters": {"userName": user}, "readOnly": false}))
    }

    fn run_with(lines: &[String], rows: usize, workers: usize) -> Vec<Finding> {
        finals(&run_workers(vec![rule(Config::default())], lines, rows, workers))
    }

    #[test]
    fn stratus_backdoor_user_is_high() {
        let f = run(rule(Config::default()), &stratus("aws.persistence.iam-backdoor-user"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].actor_key, "AKIA30BEZSJBVKOFKZW0");
        assert_eq!(f[0].technique_ids, ["T1098.001"]);
        assert_eq!(f[0].tactic_ids, ["TA0003", "TA0004"]);
        assert!(f[0].context[0].contains("CreateAccessKey stratus-red-team-backdoor-u-user"), "{:?}", f[0].context);
    }

    #[test]
    fn stratus_create_user_login_profile_is_a_backdoored_existing_user() {
        let f = run(rule(Config::default()), &stratus("aws.persistence.iam-create-user-login-profile"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].summary.contains("CreateLoginProfile stratus-red-team-login-profile-user"), "{}", f[0].summary);
    }

    #[test]
    fn stratus_update_login_profile_is_high_with_the_escalation_note() {
        let f = run(rule(Config::default()), &stratus("aws.privilege-escalation.iam-update-user-login-profile"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].context.iter().any(|c| c.contains("privilege escalation")), "{:?}", f[0].context);
    }

    #[test]
    fn stratus_federation_token_by_a_programmatic_user_is_medium() {
        let f = run(rule(Config::default()), &stratus("aws.persistence.sts-federation-token"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].identity_class, IdentityClass::ProgrammaticUser);
        assert_eq!(f[0].technique_ids, ["T1098.001", "T1550.001"]);
        assert!(f[0].context[0].contains("stratus_red_team"));
        assert!(f[0].context.iter().any(|c| c.contains("allows * on *")));
        let off = run(
            rule(Config { federation_tokens: false, ..Config::default() }),
            &stratus("aws.persistence.sts-federation-token"),
        );
        assert!(off.is_empty());
    }

    #[test]
    fn stratus_admin_user_creation_is_left_to_iam_user_persistence() {
        // CreateUser, AttachUserPolicy, CreateAccessKey in one second, AttachUserPolicy first.
        assert!(run(rule(Config::default()), &stratus("aws.persistence.iam-create-admin-user")).is_empty());
    }

    #[test]
    fn keys_for_several_users_group_into_one_finding_and_failures_are_noted() {
        let who = role_session("app", "i-0123456789abcdef0", "ASIAWORKLOAD");
        let denied = event(
            50,
            &who,
            "iam",
            "CreateAccessKey",
            json!({"requestParameters": {"userName": "root-ops"}, "errorCode": "AccessDenied", "readOnly": false}),
        );
        let lines =
            vec![call(0, &who, "CreateAccessKey", "alice"), call(30, &who, "UpdateLoginProfile", "bob"), denied];
        let f = run(rule(Config::default()), &lines);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].event_count, 3);
        assert!(f[0].summary.contains("2 existing IAM user(s)"));
        assert!(f[0].context.iter().any(|c| c.contains("failed attempts: CreateAccessKey root-ops (AccessDenied)")));
    }

    #[test]
    fn credentials_for_oneself_or_only_failed_attempts_are_quiet() {
        let me = iam_user("deploy", "AKIADEPLOY");
        let denied = event(
            5,
            &me,
            "iam",
            "CreateAccessKey",
            json!({"requestParameters": {"userName": "alice"}, "errorCode": "AccessDenied", "readOnly": false}),
        );
        let rotation = event(0, &me, "iam", "CreateAccessKey", json!({"requestParameters": {}, "readOnly": false}));
        let lines = vec![
            rotation,
            call(1, &me, "CreateAccessKey", "deploy"),
            call(2, &me, "DeleteAccessKey", "deploy"),
            denied,
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
    }

    #[test]
    fn a_user_the_actor_just_created_is_quiet_even_when_the_key_arrives_first() {
        let who = iam_user("backup", "AKIATHIEF");
        let create = call(0, &who, "CreateUser", "svc");
        let key = call(1, &who, "CreateAccessKey", "svc");
        assert!(run(rule(Config::default()), &[create.clone(), key.clone()]).is_empty());
        assert!(run(rule(Config::default()), &[key.clone(), create.clone()]).is_empty());
        // Without waiting, a key arriving before its CreateUser is published at once.
        let eager = Config { wait_for_create: false, ..Config::default() };
        assert!(run(rule(eager.clone()), &[create.clone(), key.clone()]).is_empty());
        assert_eq!(run(rule(eager), &[key, create]).len(), 1);
        // A user created longer than the window before is an existing user.
        let late = call(31 * 60, &who, "CreateLoginProfile", "svc");
        let f = run(rule(Config::default()), &[call(0, &who, "CreateUser", "svc"), late]);
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn a_person_in_the_console_or_terraform_in_ci_is_medium() {
        let alice = iam_user("alice", "ASIAALICE");
        let console = |line: String| {
            let mut v: Value = serde_json::from_str(&line).expect("json");
            v["userAgent"] = json!("Mozilla/5.0 (X11; Linux x86_64)");
            v.to_string()
        };
        let f = run(rule(Config::default()), &[console(call(0, &alice, "UpdateLoginProfile", "bob"))]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].identity_class, IdentityClass::Human);
        let tf = role_session("gha-terraform", "1700000000000000000", "ASIATF");
        let mut line: Value = serde_json::from_str(&call(0, &tf, "CreateAccessKey", "svc-legacy")).expect("json");
        line["userAgent"] = json!("APN/1.0 HashiCorp/1.0 Terraform/1.9.5 terraform-provider-aws/5.70.0");
        let f = run(rule(Config::default()), &[line.to_string()]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].context.iter().any(|c| c.contains("IaC agent (Terraform)")), "{:?}", f[0].context);
    }

    #[test]
    fn publication_waits_for_the_watermark_then_the_finding_is_final() {
        let who = iam_user("backup", "AKIATHIEF");
        let lines = vec![call(0, &who, "CreateAccessKey", "alice"), call(16 * 60, &who, "GetUser", "alice")];
        let mut engine = Engine::with_rules(&DetectConfig::default(), vec![rule(Config::default())]);
        let b = batches(&lines, 1);
        assert!(engine.process(&b[0]).expect("process").is_empty(), "held until the watermark passes it");
        let f = engine.process(&b[1]).expect("process");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].activity, Activity::Create);
        assert!(engine.finish().expect("finish").is_empty(), "nothing changed since");
        assert_eq!(run_all(vec![rule(Config::default())], &lines, 8192).len(), 1);
    }

    #[test]
    fn the_final_findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
        let thief = iam_user("backup", "AKIATHIEF");
        let wl = role_session("app", "i-0123456789abcdef0", "ASIAWORKLOAD");
        // Stratus detonations in time order, then the hand-built events: permuted within each
        // group only (groups are days apart, far beyond the allowed lateness).
        let groups = [
            stratus("aws.persistence.iam-backdoor-user"),
            stratus("aws.persistence.iam-create-admin-user"),
            stratus("aws.persistence.sts-federation-token"),
            vec![
                call(0, &thief, "CreateUser", "svc"),
                call(1, &thief, "CreateAccessKey", "svc"),
                call(2, &thief, "CreateAccessKey", "alice"),
                call(3, &wl, "CreateLoginProfile", "bob"),
                call(200, &wl, "UpdateLoginProfile", "carol"),
            ],
        ];
        let lines: Vec<String> = groups.concat();
        let expected = run_with(&lines, 8192, 1);
        assert_eq!(expected.len(), 4, "{expected:#?}");
        let reversed: Vec<String> = groups.iter().flat_map(|g| g.iter().rev()).cloned().collect();
        assert_eq!(run_with(&reversed, 8192, 1), expected);
        assert_eq!(run_with(&reversed, 1, 2), expected);
        assert_eq!(run_with(&lines, 2, 2), expected);
    }
}
