//! `iam_user_persistence`: a new IAM user created and at once given a way in or rights.
//!
//! The oldest persistence move in AWS: with a stolen credential that can write IAM, create a
//! user (`CreateUser X`), then give it what the thief needs to come back after the stolen
//! credential is revoked: an access key (`CreateAccessKey X`), a console password
//! (`CreateLoginProfile X`), policies (`AttachUserPolicy X`, `PutUserPolicy X`) or a group
//! (`AddUserToGroup X`). Per actor and created user, a **sequence** is anchored at the
//! `CreateUser` event time and takes in every follow-up on the same user by the same actor
//! within `window` (default 30 min: Pacu, Stratus and hand-run attacks do it within seconds;
//! half an hour leaves room for a thief who looks around in between, and stays short enough
//! that a user created by an administrator today and given a key next week is not joined).
//!
//! | sequence | severity |
//! |---|---|
//! | `CreateUser` + any successful follow-up | medium |
//! | ... + a credential (access key or login profile), or admin rights | high |
//! | ... + a credential **and** admin rights | critical |
//!
//! Admin rights: a managed policy named in `admin_policies` (default `AdministratorAccess`,
//! `IAMFullAccess`), an inline policy allowing `Action` `*`, `*:*` or `iam:*` on `Resource`
//! `*`, or a group whose name contains one of `admin_groups` (default `admin`). Only
//! successful calls are steps; failed attempts are listed in the context.
//!
//! Stays quiet or low:
//! - **Infrastructure as code.** A Terraform apply from a CI role creates a user, its key and
//!   its policy within seconds: exactly this sequence. When the `CreateUser` caller is a
//!   CI/CD identity *and* its user agent names one of `iac_user_agents`, the sequence is
//!   suppressed while `quiet_iac` is true (the default: the product owner wants applies
//!   quiet), or reported as low with the context "IaC agent (Terraform) in CI role" when it is
//!   false. Either way, granting admin rights lifts the exemption: a pipeline handing out
//!   `AdministratorAccess` is worth a look whoever runs it. A thief who stole the CI role
//!   and forges a Terraform user agent is also exempt; `new_access_key_used` and the baseline
//!   rules still see what the new key does.
//! - **A person in the console** (or an SSO session) creating a colleague with a password and
//!   ordinary policies is an administrator at work, and trailhound hunts stolen machine
//!   identities: a human caller's sequence is low (kept for the record and for attack chains,
//!   not paged) unless admin rights are granted, when the table above applies.
//! - Calls by AWS services, and anything an actor does to users it did not create within the
//!   window (that is `iam_backdoor_credentials`' business).
//!
//! The finding (one per actor and created user, uid = `hash(rule, actor/user, CreateUser
//! time)`) is published when the first follow-up lands, updated when severity rises, and
//! published a last time when the watermark passes anchor + window. Follow-ups that arrive
//! before their `CreateUser` (same-second events often do) are kept for the window and joined
//! when it arrives, so the final version does not depend on arrival order.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::PERSISTENCE;
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::Origin;
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::agents::{default_iac_user_agents, iac_agent};
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::iam_policy::{admin_grant, default_admin_policies};
use crate::state::{Evictable, Order, Tier, Weigh, Weighed};
use crate::text::lowercase_all;
use crate::view::EventView;
use crate::window::positive_millis;

static META: RuleMeta = RuleMeta {
    id: "iam_user_persistence",
    title: "New IAM user given credentials or rights",
    severity: Severity::Medium,
    tactics: &[PERSISTENCE],
    techniques: &["T1136.003", "T1098.001", "T1098.003"],
    summary: "CreateUser followed by an access key, password, policy or group for that user by the same actor",
    stateful: true,
};

/// "role" for a role session, else "identity" (for context lines).
pub(crate) fn ci_noun(ev: &EventView<'_>, row: usize) -> &'static str {
    if ev.session_issuer(row).is_some() {
        "role"
    } else {
        "identity"
    }
}

/// Thresholds of `iam_user_persistence` (`[rules.iam_user_persistence]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Follow-ups on the created user by the same actor within this long after `CreateUser`
    /// join its sequence. Default 30m.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Managed policy names that amount to admin rights. Default AdministratorAccess,
    /// IAMFullAccess.
    pub admin_policies: Vec<String>,
    /// Group name fragments (case-insensitive) that make a group an admin group. Default "admin".
    pub admin_groups: Vec<String>,
    /// User-agent fragments (case-insensitive) of IaC tools. Default Terraform, Pulumi, CDK,
    /// CloudFormation, Crossplane, Ansible.
    pub iac_user_agents: Vec<String>,
    /// Suppress sequences started by an IaC agent in a CI/CD identity unless admin rights are
    /// granted (when false they are reported as low). Default true.
    pub quiet_iac: bool,
    /// Suppress sequences by a person (console, SSO) that grant no admin rights: onboarding a
    /// user with a password and a group is an administrator's daily work (when false they are
    /// reported as low). Default true.
    pub quiet_humans: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30 * 60),
            admin_policies: default_admin_policies(),
            admin_groups: vec!["admin".to_string()],
            iac_user_agents: default_iac_user_agents(),
            quiet_iac: true,
            quiet_humans: true,
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10).
pub const COMMON: CommonDefaults = CommonDefaults { max_evidence: Some(10), episode: None, episode_alias: None };

/// A follow-up on the created user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Step {
    AccessKey,
    LoginProfile,
    AttachPolicy,
    PutPolicy,
    Group,
}

impl Step {
    fn of(action: &str) -> Option<Self> {
        Some(match action {
            "CreateAccessKey" => Step::AccessKey,
            "CreateLoginProfile" => Step::LoginProfile,
            "AttachUserPolicy" => Step::AttachPolicy,
            "PutUserPolicy" => Step::PutPolicy,
            "AddUserToGroup" => Step::Group,
            _ => return None,
        })
    }

    fn credential(self) -> bool {
        matches!(self, Step::AccessKey | Step::LoginProfile)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FollowUp {
    step: Step,
    action: String,
    error: Option<String>,
    /// What grants admin rights, if it does.
    admin: Option<String>,
    /// Policy or group named.
    what: Option<String>,
    support: Support,
    /// Made through infrastructure as code (`origin = iac`).
    #[serde(default)]
    iac: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Creation {
    event_id: String,
    support: Support,
    /// IaC agent name and "role"/"identity" when a CI/CD identity's IaC tool created the user.
    iac: Option<(String, Cow<'static, str>)>,
    publication: Publication,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActorState {
    /// (user, CreateUser time) → the creation.
    created: BTreeMap<(String, EventTime), Creation>,
    /// user → follow-ups by (time, event id), kept for the window whether or not the creation
    /// has been seen yet.
    steps: BTreeMap<String, BTreeMap<(EventTime, String), FollowUp>>,
}

crate::state::weigh_fields! { Step {}, FollowUp { action, error, admin, what, support } }

impl Weigh for Creation {
    fn heap(&self) -> usize {
        self.event_id.heap() + self.support.heap() + self.iac.as_ref().map_or(0, |(a, _)| a.heap())
    }
}

crate::state::weigh_fields! { ActorState { created, steps } }

impl Evictable for ActorState {
    /// Sequences wait for their next step within the window: armed, as recent as the latest
    /// creation or step.
    fn class(&self) -> (Tier, EventTime) {
        let created = self.created.values().map(|c| c.support.last);
        let steps = self.steps.values().filter_map(|m| m.keys().next_back()).map(|k| k.0);
        (Tier::Armed, created.chain(steps).max().unwrap_or(i64::MIN))
    }
}

/// A sequence's follow-ups, aggregated.
#[derive(Debug, Default)]
struct Agg {
    support: Support,
    steps: BTreeSet<Step>,
    actions: BTreeSet<String>,
    admin: BTreeSet<String>,
    what: BTreeSet<String>,
    failed: BTreeSet<String>,
    /// A successful step was made outside infrastructure as code.
    outside_iac: bool,
}

/// The rule.
pub struct IamUserPersistence {
    cfg: RuleConfig<Config>,
    window: i64,
    admin_groups: Vec<String>,
    iac: Vec<String>,
    state: Weighed<String, ActorState>,
}

impl IamUserPersistence {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self {
            window: positive_millis(cfg.window),
            admin_groups: lowercase_all(&cfg.admin_groups),
            iac: lowercase_all(&cfg.iac_user_agents),
            state: Weighed::default(),
            cfg,
        }
    }

    fn follow_up(&self, ev: &EventView<'_>, row: usize, step: Step) -> FollowUp {
        let (admin, what) = match step {
            Step::AttachPolicy | Step::PutPolicy => {
                let what = ev.policy_arn(row).map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).or_else(|| {
                    ev.request_json(row).and_then(|r| r.get("policyName").and_then(Value::as_str).map(str::to_string))
                });
                (admin_grant(ev, row, &self.cfg.admin_policies, "policyDocument"), what)
            }
            Step::Group => {
                let group =
                    ev.request_json(row).and_then(|r| r.get("groupName").and_then(Value::as_str).map(str::to_string));
                let admin = group
                    .as_deref()
                    .filter(|g| self.admin_groups.iter().any(|f| EventView::contains_ignore_case(g, f)))
                    .map(|g| format!("group {g}"));
                (admin, group.map(|g| format!("group {g}")))
            }
            Step::AccessKey | Step::LoginProfile => (None, None),
        };
        FollowUp {
            step,
            action: ev.action(row).to_string(),
            error: ev.error_code(row).map(str::to_string),
            admin,
            what,
            support: Support::one(ev, row),
            iac: ev.origin(row) == Origin::Iac,
        }
    }

    fn aggregate(
        &self,
        anchor: EventTime,
        c: &Creation,
        steps: Option<&BTreeMap<(EventTime, String), FollowUp>>,
    ) -> Agg {
        let mut agg = Agg { support: c.support.clone(), ..Agg::default() };
        let end = anchor.saturating_add(self.window);
        for ((t, _), f) in steps.into_iter().flat_map(|m| m.range((anchor, String::new())..)) {
            if *t > end {
                break;
            }
            agg.support.merge(&f.support, self.cfg.common.max_evidence);
            match &f.error {
                None => {
                    agg.outside_iac |= !f.iac;
                    agg.steps.insert(f.step);
                    agg.actions.insert(f.action.clone());
                    agg.admin.extend(f.admin.iter().cloned());
                    agg.what.extend(f.what.iter().cloned());
                }
                Some(e) => {
                    agg.failed.insert(format!("{} ({e})", f.action));
                }
            }
        }
        agg
    }

    /// None: nothing to report (no successful follow-up yet, or an exempt IaC apply).
    fn severity(&self, c: &Creation, agg: &Agg) -> Option<Severity> {
        if agg.steps.is_empty() {
            return None;
        }
        let cred = agg.steps.iter().any(|s| s.credential());
        let admin = !agg.admin.is_empty();
        if c.iac.is_some() && !agg.outside_iac {
            // An IaC apply: the user and every grant made by the same principal's IaC run.
            if !admin {
                return (!self.cfg.quiet_iac).then_some(Severity::Low);
            }
            return Some(Severity::Low);
        }
        let mut s = match (cred, admin) {
            (true, true) => Severity::Critical,
            (true, false) | (false, true) => Severity::High,
            (false, false) => Severity::Medium,
        };
        if !admin && c.support.class() == IdentityClass::Human {
            if self.cfg.quiet_humans {
                return None;
            }
            s = Severity::Low;
        }
        Some(s)
    }

    /// Evicted: a published sequence gets its final version now.
    fn close_early(&self, actor: &str, st: &mut ActorState, ctx: &mut RuleCtx<'_>) {
        for ((user, anchor), mut c) in std::mem::take(&mut st.created) {
            if c.publication.published() {
                c.publication.close_early();
                self.publish(actor, &user, anchor, &mut c, st.steps.get(&user), true, ctx);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        actor: &str,
        user: &str,
        anchor: EventTime,
        c: &mut Creation,
        steps: Option<&BTreeMap<(EventTime, String), FollowUp>>,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        let agg = self.aggregate(anchor, c, steps);
        let Some(sev) = self.severity(c, &agg) else { return };
        if let Some((activity, revision)) = c.publication.next(sev, agg.support.count, closing) {
            ctx.emit(self.finding(actor, user, anchor, c, &agg, sev, activity, revision));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        actor: &str,
        user: &str,
        anchor: EventTime,
        c: &Creation,
        agg: &Agg,
        severity: Severity,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let cred = agg.steps.iter().any(|s| s.credential());
        let admin = !agg.admin.is_empty();
        let window = humantime::format_duration(self.cfg.window).to_string();
        let mut techniques = vec!["T1136.003".to_string()];
        if cred {
            techniques.push("T1098.001".to_string());
        }
        if agg.steps.iter().any(|s| !s.credential()) {
            techniques.push("T1098.003".to_string());
        }
        let mut creds: Vec<&str> = Vec::new();
        if agg.steps.contains(&Step::AccessKey) {
            creds.push("an access key");
        }
        if agg.steps.contains(&Step::LoginProfile) {
            creds.push("a console password");
        }
        let gave: Vec<String> = creds.iter().map(|c| c.to_string()).chain(agg.what.iter().cloned()).collect();
        let mut context = vec![format!(
            "CreateUser {user} at {}; follow-ups on {user} by the same actor within {window}: {}",
            to_rfc3339(anchor),
            agg.actions.iter().cloned().collect::<Vec<_>>().join(", ")
        )];
        if admin {
            context
                .push(format!("admin rights for {user}: {}", agg.admin.iter().cloned().collect::<Vec<_>>().join(", ")));
        }
        if cred {
            context.push(format!("{user} can now sign in on its own: {}", creds.join(" and ")));
        }
        if !agg.failed.is_empty() {
            context.push(format!(
                "failed attempts (not counted): {}",
                agg.failed.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some((agent, noun)) = &c.iac {
            context.push(format!("IaC agent ({agent}) in CI {noun}"));
            if agg.outside_iac {
                context.push("IaC exemption lifted: a step was made outside IaC".to_string());
            } else if admin {
                context.push("low: admin rights granted by the same IaC apply that created the user".to_string());
            } else {
                context.push("low severity: IaC apply without admin rights (quiet_iac = false)".to_string());
            }
        } else if c.support.class() == IdentityClass::Human && !admin {
            context.push("low: caller is a person (console/SSO) and no admin rights were granted".to_string());
        }
        let s = &agg.support;
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let summary = format!(
            "{} ({}) created IAM user {user} and within {window} gave it {}.",
            arn.unwrap_or(actor),
            c.support.class(),
            gave.join(", ")
        );
        let ask = format!(
            "Ask the owner of {} whether user {user} was meant to exist; if not, delete its access keys and login profile, detach its policies, remove it from its groups and delete it.",
            arn.unwrap_or(actor)
        );
        let confidence = if (c.iac.is_some() || c.support.class() == IdentityClass::Human) && !admin {
            30
        } else {
            55 + if cred { 15 } else { 0 } + if admin { 20 } else { 0 }
        };
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor,
            support: s,
            severity,
            confidence,
            techniques,
            context,
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(activity, revision);
        f.uid = Finding::make_uid(META.id, &format!("{actor}/{user}"), anchor);
        f
    }
}

impl Rule for IamUserPersistence {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
        for &row in rows {
            if ev.service(row) != "iam" {
                continue;
            }
            let action = ev.action(row);
            let step = Step::of(action);
            let create = action == "CreateUser";
            if !create && step.is_none() {
                continue;
            }
            if ev.identity_class(row) == IdentityClass::AwsService {
                continue;
            }
            let Some(user) = ev.target_user(row) else { continue };
            if create && ev.error_code(row).is_some() {
                continue;
            }
            let (t, id, actor) = (ev.time(row), ev.event_id(row), ev.actor_key(row));
            let follow = step.map(|s| self.follow_up(ev, row, s));
            let mut st = self.state.upsert(actor, || actor.to_string());
            match follow {
                None => {
                    let key = (user.to_string(), t);
                    // Two creations of one user in one instant cannot both succeed; keep the
                    // smaller event id whatever the order.
                    if st.created.get(&key).is_none_or(|c| id < c.event_id.as_str()) {
                        let publication = st.created.remove(&key).map(|c| c.publication).unwrap_or_default();
                        let iac = iac_agent(ev, row, &self.iac).map(|a| (a, Cow::Borrowed(ci_noun(ev, row))));
                        st.created.insert(
                            key,
                            Creation { event_id: id.to_string(), support: Support::one(ev, row), iac, publication },
                        );
                    }
                }
                Some(f) => {
                    st.steps.entry(user.to_string()).or_default().entry((t, id.to_string())).or_insert(f);
                }
            }
            touched.insert((actor.to_string(), user.to_string()));
        }
        for (actor, user) in touched {
            if let Some(mut st) = self.state.get_mut(&actor) {
                let ActorState { created, steps } = &mut *st;
                let steps = steps.get(&user);
                for ((u, anchor), c) in created.range_mut((user.clone(), i64::MIN)..=(user.clone(), i64::MAX)) {
                    self.publish(&actor, u, *anchor, c, steps, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep_collect(ctx, Order::Uid, |actor, st, ctx| {
            let closable: Vec<(String, EventTime)> =
                st.created.keys().filter(|(_, a)| a.saturating_add(self.window) < wm).cloned().collect();
            for key in closable {
                if let Some(mut c) = st.created.remove(&key) {
                    self.publish(actor, &key.0, key.1, &mut c, st.steps.get(&key.0), true, ctx);
                }
            }
            // A follow-up older than wm - window can join no open sequence (their anchors are
            // at least that recent) and no future one (a later CreateUser is on time, so newer).
            let cutoff = wm.saturating_sub(self.window);
            st.steps.retain(|_, m| {
                m.retain(|(t, _), _| *t >= cutoff);
                !m.is_empty()
            });
            if st.created.is_empty() && st.steps.is_empty() {
                return None;
            }
            // Next visit: the watermark passing an anchor's or a follow-up's window.
            let oldest = st.created.keys().map(|(_, a)| *a).chain(st.steps.values().filter_map(|m| m.keys().next().map(|(t, _)| *t))).min();
            Some(oldest.map_or(EventTime::MAX, |t| t.saturating_add(self.window).saturating_add(1)))
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
    use trailhound_model::{Activity, Finding, IdentityClass, Severity};

    use super::*;
    use crate::testing::{event, finals, iam_user, role_session, run, run_all, run_workers, stratus};

    const TF_UA: &str =
        "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0";

    fn rule(cfg: Config) -> Box<dyn Rule> {
        Box::new(IamUserPersistence::new(cfg))
    }

    fn thief() -> Value {
        iam_user("backup", "AKIATHIEF")
    }

    fn iam(secs: i64, who: &Value, name: &str, req: Value) -> String {
        event(secs, who, "iam", name, json!({"requestParameters": req, "readOnly": false}))
    }

    fn create_user(secs: i64, who: &Value, user: &str) -> String {
        event(
            secs,
            who,
            "iam",
            "CreateUser",
            json!({"requestParameters": {"userName": user}, "responseElements": {"user": {"userName": user}}, "readOnly": false}),
        )
    }

    fn create_key(secs: i64, who: &Value, user: &str, key: &str) -> String {
        event(
            secs,
            who,
            "iam",
            "CreateAccessKey",
            json!({"requestParameters": {"userName": user}, "responseElements": {"accessKey": {"accessKeyId": key, "userName": user, "status": "Active"}}, "readOnly": false}),
        )
    }

    fn attach(secs: i64, who: &Value, user: &str, policy: &str) -> String {
        iam(
            secs,
            who,
            "AttachUserPolicy",
            json!({"userName": user, "policyArn": format!("arn:aws:iam::aws:policy/{policy}")}),
        )
    }

    /// Final findings through an engine with `workers` threads and batches of `rows`.
    fn run_with(cfg: Config, lines: &[String], rows: usize, workers: usize) -> Vec<Finding> {
        finals(&run_workers(vec![rule(cfg)], lines, rows, workers))
    }

    #[test]
    fn stratus_create_admin_user_is_critical() {
        let f = run(rule(Config::default()), &stratus("aws.persistence.iam-create-admin-user"));
        assert_eq!(f.len(), 1, "{f:#?}");
        let f = &f[0];
        assert_eq!(f.rule_id, "iam_user_persistence");
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.actor_key, "AKIAOZUDECYXYM4ONAN4");
        assert_eq!(f.actor_arn.as_deref(), Some("arn:aws:iam::229654561268:user/christophe"));
        assert_eq!(f.account.as_deref(), Some("229654561268"));
        assert_eq!(f.event_count, 3);
        assert_eq!(f.technique_ids, ["T1136.003", "T1098.001", "T1098.003"]);
        assert_eq!(f.tactic_ids, ["TA0003"]);
        assert!(f.context.iter().any(|c| c.contains("admin rights for malicious-iam-user: AdministratorAccess")));
        assert!(f.summary.contains("malicious-iam-user"), "{}", f.summary);
        assert!(f.remediation.contains("AKIAOZUDECYXYM4ONAN4"));
    }

    #[test]
    fn stratus_create_user_login_profile_is_not_a_new_user_sequence() {
        // The detonation backdoors a user created beforehand: iam_backdoor_credentials' case.
        assert!(run(rule(Config::default()), &stratus("aws.persistence.iam-create-user-login-profile")).is_empty());
    }

    #[test]
    fn severity_rises_with_each_step_and_is_published_early() {
        let who = thief();
        let lines = vec![
            create_user(0, &who, "svc-mon"),
            attach(20, &who, "svc-mon", "ReadOnlyAccess"),
            create_key(40, &who, "svc-mon", "AKIANEW1"),
            attach(600, &who, "svc-mon", "AdministratorAccess"),
        ];
        let all = run_all(vec![rule(Config::default())], &lines, 1);
        let sev: Vec<(Activity, Severity)> = all.iter().map(|f| (f.activity, f.severity)).collect();
        assert_eq!(
            sev[..3],
            [
                (Activity::Create, Severity::Medium),
                (Activity::Update, Severity::High),
                (Activity::Update, Severity::Critical)
            ]
        );
        let f = finals(&all);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].event_count, 4);
        assert_eq!(f[0].first_event_time, crate::testing::T0);
    }

    #[test]
    fn a_credential_alone_is_high_and_a_policy_alone_medium() {
        let who = thief();
        let f = run(rule(Config::default()), &[create_user(0, &who, "u1"), create_key(5, &who, "u1", "AKIANEW2")]);
        assert_eq!(f[0].severity, Severity::High);
        let f = run(rule(Config::default()), &[create_user(0, &who, "u1"), attach(5, &who, "u1", "ReadOnlyAccess")]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].technique_ids, ["T1136.003", "T1098.003"]);
    }

    #[test]
    fn inline_star_policies_and_admin_groups_are_admin_rights() {
        let who = thief();
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let put = iam(10, &who, "PutUserPolicy", json!({"userName": "u1", "policyName": "p", "policyDocument": doc}));
        let f = run(rule(Config::default()), &[create_user(0, &who, "u1"), put, create_key(20, &who, "u1", "AKIAN3")]);
        assert_eq!(f[0].severity, Severity::Critical);
        let group = iam(10, &who, "AddUserToGroup", json!({"userName": "u1", "groupName": "Admins"}));
        let login = iam(20, &who, "CreateLoginProfile", json!({"userName": "u1"}));
        let f = run(rule(Config::default()), &[create_user(0, &who, "u1"), group, login]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].context.iter().any(|c| c.contains("group Admins")));
    }

    #[test]
    fn follow_ups_after_the_window_by_others_or_failed_do_not_count() {
        let who = thief();
        let other = iam_user("ops", "AKIAOTHER");
        let denied = event(
            30,
            &who,
            "iam",
            "CreateAccessKey",
            json!({"requestParameters": {"userName": "u1"}, "errorCode": "AccessDenied", "readOnly": false}),
        );
        let lines = vec![
            create_user(0, &who, "u1"),
            denied.clone(),
            create_key(31 * 60, &who, "u1", "AKIALATE"),
            create_key(60, &other, "u1", "AKIAOTH"),
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
        // A failed attempt is noted once a successful follow-up makes a finding.
        let f = run(
            rule(Config::default()),
            &[create_user(0, &who, "u1"), denied, attach(90, &who, "u1", "ReadOnlyAccess")],
        );
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .context
            .iter()
            .any(|c| c.contains("failed attempts (not counted): CreateAccessKey (AccessDenied)")));
    }

    #[test]
    fn a_user_the_actor_did_not_create_is_left_to_the_backdoor_rule() {
        let who = thief();
        assert!(run(
            rule(Config::default()),
            &[create_key(0, &who, "alice", "AKIAX"), attach(5, &who, "alice", "AdministratorAccess")]
        )
        .is_empty());
    }

    fn terraform_apply(admin: bool) -> Vec<String> {
        let mut tf = role_session("gha-terraform", "1700000000000000000", "ASIATFAPPLY");
        tf["accessKeyId"] = json!("ASIATFAPPLY");
        let ua = json!({"userAgent": TF_UA});
        let with_ua = |line: String| {
            let mut v: Value = serde_json::from_str(&line).expect("json");
            v["userAgent"] = ua["userAgent"].clone();
            v.to_string()
        };
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::raw/*"}]}"#;
        let mut lines = vec![
            with_ua(create_user(0, &tf, "svc-etl")),
            with_ua(iam(
                2,
                &tf,
                "PutUserPolicy",
                json!({"userName": "svc-etl", "policyName": "etl", "policyDocument": doc}),
            )),
            with_ua(create_key(4, &tf, "svc-etl", "AKIAETL")),
        ];
        if admin {
            lines.push(with_ua(attach(6, &tf, "svc-etl", "AdministratorAccess")));
        }
        lines
    }

    #[test]
    fn terraform_apply_from_a_ci_role_is_quiet_by_default() {
        assert!(run(rule(Config::default()), &terraform_apply(false)).is_empty());
    }

    #[test]
    fn terraform_apply_is_low_with_its_context_when_quiet_iac_is_off() {
        let f = run(rule(Config { quiet_iac: false, ..Config::default() }), &terraform_apply(false));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Low);
        assert_eq!(f[0].identity_class, IdentityClass::CiCd);
        assert!(f[0].context.iter().any(|c| c == "IaC agent (Terraform) in CI role"), "{:?}", f[0].context);
    }

    #[test]
    fn terraform_granting_admin_is_reported_low_whatever_quiet_iac_says() {
        for quiet in [true, false] {
            let f = run(rule(Config { quiet_iac: quiet, ..Config::default() }), &terraform_apply(true));
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].severity, Severity::Low);
            assert!(f[0].context.iter().any(|c| c.contains("admin rights granted by the same IaC apply")));
        }
    }

    #[test]
    fn a_step_outside_iac_lifts_the_exemption() {
        // Terraform created the user; the same CI role then mints its key with the CLI.
        let mut lines = terraform_apply(true);
        let mut cli: Value = serde_json::from_str(&lines[2]).expect("json");
        cli["userAgent"] = json!("aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5 md/arch#x86_64");
        lines[2] = cli.to_string();
        let f = run(rule(Config::default()), &lines);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].context.iter().any(|c| c.contains("exemption lifted: a step was made outside IaC")));
    }

    #[test]
    fn a_console_admin_creating_a_colleague_is_low_unless_admin_is_granted() {
        let mut alice = iam_user("alice", "ASIAALICE");
        alice["sessionContext"] = json!({"attributes": {"mfaAuthenticated": "true"}});
        let console = |line: String| {
            let mut v: Value = serde_json::from_str(&line).expect("json");
            v["userAgent"] = json!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15");
            v.to_string()
        };
        let base = vec![
            console(create_user(0, &alice, "bob")),
            console(iam(30, &alice, "CreateLoginProfile", json!({"userName": "bob", "passwordResetRequired": true}))),
            console(iam(40, &alice, "AddUserToGroup", json!({"userName": "bob", "groupName": "developers"}))),
        ];
        assert!(run(rule(Config::default()), &base).is_empty(), "onboarding without admin rights is quiet");
        let f = run(rule(Config { quiet_humans: false, ..Config::default() }), &base);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].identity_class, IdentityClass::Human);
        assert_eq!(f[0].severity, Severity::Low);
        let mut admin = base.clone();
        admin.push(console(attach(50, &alice, "bob", "AdministratorAccess")));
        assert_eq!(run(rule(Config::default()), &admin)[0].severity, Severity::Critical);
    }

    #[test]
    fn the_final_findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
        let who = thief();
        let other = iam_user("ci", "AKIACI");
        // Stratus events (2024) first, then hand-built ones (2026): orders are permuted within
        // each, never by more than the allowed lateness.
        let stratus_lines = stratus("aws.persistence.iam-create-admin-user");
        let own = vec![
            create_user(0, &who, "u1"),
            attach(20, &who, "u1", "ReadOnlyAccess"),
            create_key(40, &who, "u1", "AKIAN1"),
            create_user(60, &other, "u2"),
            create_key(61, &other, "u2", "AKIAN2"),
            attach(300, &other, "u2", "AdministratorAccess"),
            create_user(100, &who, "u3"),
            iam(100, &who, "CreateLoginProfile", json!({"userName": "u3"})),
        ];
        let lines: Vec<String> = stratus_lines.iter().chain(&own).cloned().collect();
        let expected = run_with(Config::default(), &lines, 8192, 1);
        assert_eq!(expected.len(), 4);
        let reversed: Vec<String> = stratus_lines.iter().rev().chain(own.iter().rev()).cloned().collect();
        assert_eq!(run_with(Config::default(), &reversed, 8192, 1), expected);
        assert_eq!(run_with(Config::default(), &reversed, 1, 1), expected);
        assert_eq!(run_with(Config::default(), &reversed, 3, 2), expected);
        let mut rotated = own.clone();
        rotated.rotate_left(5);
        let rotated: Vec<String> = stratus_lines.iter().chain(&rotated).cloned().collect();
        assert_eq!(run_with(Config::default(), &rotated, 2, 2), expected);
    }
}
