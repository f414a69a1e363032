//! `iam_privilege_escalation`: an identity raising its own rights through IAM.
//!
//! The classic IAM escalation paths (Rhino Security's list, Pacu's `iam__privesc_scan`) that
//! leave a single, recognisable call:
//! - **self-grant on a user**: `AttachUserPolicy` / `PutUserPolicy` / `AddUserToGroup` whose
//!   `userName` is the caller's own user name (from its ARN `...:user/NAME`);
//! - **self-grant on a role**: `AttachRolePolicy` / `PutRolePolicy` whose `roleName` is the
//!   role behind the caller's session (its session issuer);
//! - **policy rewrite**: `CreatePolicyVersion` with `setAsDefault` true (any caller: the new
//!   default version applies to everyone the policy is attached to, the caller included), and
//!   `SetDefaultPolicyVersion` (rolling a policy back to an older, wider version).
//!
//! | escalation | severity |
//! |---|---|
//! | self-grant or policy rewrite | medium |
//! | ... granting admin rights (`admin_policies`, a document allowing `*`, `*:*` or `iam:*` on `*`, an admin group) | high |
//! | ... then a credential for itself (`CreateAccessKey` / `CreateLoginProfile` without `userName` or with its own) by the same actor within `window` (default 30 min) | one step higher (critical after admin) |
//!
//! A credential minted right after an escalation is the thief making the new rights last.
//! Quiet: a key rotation (`CreateAccessKey` then `DeleteAccessKey` of the old key, for
//! oneself) is not an escalation and raises nothing on its own; a non-admin policy change by
//! an IaC agent in a CI/CD identity (`iac_user_agents`; Terraform updates managed policies
//! with `CreatePolicyVersion setAsDefault`, and sometimes manages its own role) is suppressed
//! while `quiet_iac` is true (default), or low when false. Admin rights always report.
//! Failed calls and calls by AWS services are ignored.
//!
//! One finding per escalation call, uid = `hash(rule, actor/action/target, event time)`;
//! published at once, updated when a credential follows, published a last time when the
//! watermark passes event time + window. Credentials are kept for the window whether or not
//! the escalation has arrived yet, so the final version does not depend on arrival order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::PRIVILEGE_ESCALATION;
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::agents::{default_iac_user_agents, iac_agent};
use crate::arn::own_user;
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::iam_policy::{admin_grant, default_admin_policies};
use crate::state::{Evictable, Order, Tier, Weighed};
use crate::text::lowercase_all;
use crate::view::EventView;
use crate::window::positive_millis;

static META: RuleMeta = RuleMeta {
    id: "iam_privilege_escalation",
    title: "IAM privilege escalation",
    severity: Severity::Medium,
    tactics: &[PRIVILEGE_ESCALATION],
    techniques: &["T1098", "T1078.004"],
    summary: "A policy attached to the caller's own user or role, or a policy version made default, then possibly a credential for itself",
    stateful: true,
};

/// The caller's own role name (session issuer `arn:aws:iam::ACCOUNT:role/path/NAME`).
pub(crate) fn own_role<'a>(ev: &EventView<'a>, row: usize) -> Option<&'a str> {
    let arn = ev.session_issuer(row)?;
    let res = arn.splitn(6, ':').nth(5)?;
    res.starts_with("role/").then(|| res.rsplit('/').next()).flatten()
}

/// Thresholds of `iam_privilege_escalation` (`[rules.iam_privilege_escalation]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A credential for itself by the same actor within this long after an escalation raises
    /// it. Default 30m.
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
    /// Suppress non-admin escalations by IaC agents in CI/CD identities (when false they are
    /// low). Default true.
    pub quiet_iac: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30 * 60),
            admin_policies: default_admin_policies(),
            admin_groups: vec!["admin".to_string()],
            iac_user_agents: default_iac_user_agents(),
            quiet_iac: true,
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10).
pub const COMMON: CommonDefaults = CommonDefaults { max_evidence: Some(10), episode: None, episode_alias: None };

#[derive(Debug, Serialize, Deserialize)]
struct Escalation {
    action: String,
    /// What was changed ("user bob", "role deployer", "policy arn").
    target: String,
    /// What was granted (policy name, group, version), if known.
    what: Option<String>,
    admin: Option<String>,
    iac: Option<String>,
    support: Support,
    publication: Publication,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Credential {
    action: String,
    support: Support,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActorState {
    escalations: BTreeMap<(EventTime, String), Escalation>,
    credentials: BTreeMap<(EventTime, String), Credential>,
}

crate::state::weigh_fields! {
    Escalation { action, target, what, admin, iac, support },
    Credential { action, support },
    ActorState { escalations, credentials },
}

impl Evictable for ActorState {
    /// Escalations wait for a credential within the window: armed, as recent as the latest.
    fn class(&self) -> (Tier, EventTime) {
        let e = self.escalations.keys().next_back().map(|k| k.0);
        let c = self.credentials.keys().next_back().map(|k| k.0);
        (Tier::Armed, e.max(c).unwrap_or(i64::MIN))
    }
}

/// The rule.
pub struct IamPrivilegeEscalation {
    cfg: RuleConfig<Config>,
    window: i64,
    admin_groups: Vec<String>,
    iac: Vec<String>,
    state: Weighed<String, ActorState>,
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl IamPrivilegeEscalation {
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

    /// The escalation this row is, if any.
    fn escalation(&self, ev: &EventView<'_>, row: usize) -> Option<Escalation> {
        let action = ev.action(row);
        let req = || ev.request_json(row);
        let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let policy_name = || ev.policy_arn(row).map(|a| a.rsplit('/').next().unwrap_or(a).to_string());
        let (target, what, admin) = match action {
            "AttachUserPolicy" | "PutUserPolicy" | "AddUserToGroup" => {
                let user = ev.target_user(row).filter(|u| own_user(ev, row) == Some(*u))?;
                if action == "AddUserToGroup" {
                    let group = req().and_then(|r| str_of(&r, "groupName"));
                    let admin = group
                        .as_deref()
                        .filter(|g| self.admin_groups.iter().any(|f| EventView::contains_ignore_case(g, f)))
                        .map(|g| format!("group {g}"));
                    (format!("user {user}"), group.map(|g| format!("group {g}")), admin)
                } else {
                    let what = policy_name().or_else(|| req().and_then(|r| str_of(&r, "policyName")));
                    (format!("user {user}"), what, admin_grant(ev, row, &self.cfg.admin_policies, "policyDocument"))
                }
            }
            "AttachRolePolicy" | "PutRolePolicy" => {
                let role = ev.target_role(row).filter(|r| own_role(ev, row) == Some(*r))?;
                let what = policy_name().or_else(|| req().and_then(|r| str_of(&r, "policyName")));
                (format!("role {role}"), what, admin_grant(ev, row, &self.cfg.admin_policies, "policyDocument"))
            }
            "CreatePolicyVersion" => {
                let r = req()?;
                if !truthy(r.get("setAsDefault")) {
                    return None;
                }
                let policy = ev.policy_arn(row).map(str::to_string).unwrap_or_else(|| "?".to_string());
                (
                    format!("policy {policy}"),
                    Some("new default version".to_string()),
                    admin_grant(ev, row, &self.cfg.admin_policies, "policyDocument"),
                )
            }
            "SetDefaultPolicyVersion" => {
                let policy = ev.policy_arn(row).map(str::to_string).unwrap_or_else(|| "?".to_string());
                let version = req().and_then(|r| str_of(&r, "versionId")).unwrap_or_else(|| "?".to_string());
                (format!("policy {policy}"), Some(format!("default version set to {version}")), None)
            }
            _ => return None,
        };
        Some(Escalation {
            action: action.to_string(),
            target,
            what,
            admin,
            iac: iac_agent(ev, row, &self.iac),
            support: Support::one(ev, row),
            publication: Publication::default(),
        })
    }

    fn self_credential(ev: &EventView<'_>, row: usize) -> bool {
        matches!(ev.action(row), "CreateAccessKey" | "CreateLoginProfile")
            && ev.target_user(row).is_none_or(|u| own_user(ev, row) == Some(u))
    }

    fn credentials_after<'a>(
        &self,
        at: EventTime,
        creds: &'a BTreeMap<(EventTime, String), Credential>,
    ) -> impl Iterator<Item = (&'a (EventTime, String), &'a Credential)> {
        let end = at.saturating_add(self.window);
        creds.range((at, String::new())..).take_while(move |((t, _), _)| *t <= end)
    }

    fn severity(&self, e: &Escalation, credential: bool) -> Option<Severity> {
        let mut s = if e.admin.is_some() { Severity::High } else { Severity::Medium };
        if e.iac.is_some() && e.admin.is_none() {
            if self.cfg.quiet_iac {
                return None;
            }
            s = Severity::Low;
        }
        if credential {
            s = s.raised();
        }
        Some(s)
    }

    /// Evicted: every escalation gets its final version now.
    fn close_early(&self, actor: &str, st: &mut ActorState, ctx: &mut RuleCtx<'_>) {
        for ((at, _), mut e) in std::mem::take(&mut st.escalations) {
            e.publication.close_early();
            self.publish(actor, at, &mut e, &st.credentials, true, ctx);
        }
    }

    fn publish(
        &self,
        actor: &str,
        at: EventTime,
        e: &mut Escalation,
        creds: &BTreeMap<(EventTime, String), Credential>,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        let mut support = e.support.clone();
        let mut used = BTreeSet::new();
        for ((t, _), c) in self.credentials_after(at, creds) {
            support.merge(&c.support, self.cfg.common.max_evidence);
            used.insert(format!("{} at {}", c.action, to_rfc3339(*t)));
        }
        let Some(sev) = self.severity(e, !used.is_empty()) else { return };
        if let Some((activity, revision)) = e.publication.next(sev, support.count, closing) {
            ctx.emit(self.finding(actor, at, e, &support, &used, sev, activity, revision));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        actor: &str,
        at: EventTime,
        e: &Escalation,
        support: &Support,
        creds: &BTreeSet<String>,
        severity: Severity,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let arn = support.ident.as_ref().and_then(|i| i.arn.as_deref());
        let who = arn.unwrap_or(actor);
        let what = e.what.as_deref().unwrap_or("a policy");
        let self_grant = e.target.starts_with("user ") || e.target.starts_with("role ");
        let mut context = vec![if self_grant {
            format!("{} {what} on the caller's own {} at {}", e.action, e.target, to_rfc3339(at))
        } else {
            format!("{} on {} ({what}) at {}", e.action, e.target, to_rfc3339(at))
        }];
        if let Some(a) = &e.admin {
            context.push(format!("admin rights: {a}"));
        }
        if !creds.is_empty() {
            context.push(format!(
                "credential for itself within {} after: {}",
                humantime::format_duration(self.cfg.window),
                creds.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(agent) = &e.iac {
            context.push(if e.admin.is_some() {
                format!("IaC agent ({agent}) in a CI/CD identity: exemption lifted, admin rights granted")
            } else {
                format!("IaC agent ({agent}) in a CI/CD identity: low (quiet_iac = false)")
            });
        }
        let mut techniques = vec!["T1098".to_string()];
        if !creds.is_empty() {
            techniques.push("T1078.004".to_string());
        }
        let summary = format!(
            "{who} ({}) {} {} ({what}){}{}.",
            support.class(),
            if self_grant { "granted itself rights through" } else { "changed the default version of" },
            if self_grant { format!("{} on its own {}", e.action, e.target) } else { e.target.clone() },
            if e.admin.is_some() { ", amounting to admin rights" } else { "" },
            if creds.is_empty() { "" } else { ", then created a credential for itself" }
        );
        let ask = format!(
            "Ask the owner of {who} whether this change was planned; if not, undo it ({}) and delete any credential created since.",
            e.target
        );
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor: at,
            support,
            severity,
            confidence: 60 + if e.admin.is_some() { 20 } else { 0 } + if creds.is_empty() { 0 } else { 10 },
            techniques,
            context,
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(activity, revision);
        f.uid = Finding::make_uid(META.id, &format!("{actor}/{}/{}", e.action, e.target), at);
        f
    }
}

impl Rule for IamPrivilegeEscalation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for &row in rows {
            if ev.service(row) != "iam" || ev.error_code(row).is_some() {
                continue;
            }
            if ev.identity_class(row) == IdentityClass::AwsService {
                continue;
            }
            let (t, id, actor) = (ev.time(row), ev.event_id(row), ev.actor_key(row));
            if Self::self_credential(ev, row) {
                let c = Credential { action: ev.action(row).to_string(), support: Support::one(ev, row) };
                let mut st = self.state.upsert(actor, || actor.to_string());
                st.credentials.entry((t, id.to_string())).or_insert(c);
            } else if let Some(e) = self.escalation(ev, row) {
                let mut st = self.state.upsert(actor, || actor.to_string());
                st.escalations.entry((t, id.to_string())).or_insert(e);
            } else {
                continue;
            }
            if !touched.contains(actor) {
                touched.insert(actor.to_string());
            }
        }
        for actor in touched {
            if let Some(mut st) = self.state.get_mut(&actor) {
                let ActorState { escalations, credentials } = &mut *st;
                for ((at, _), e) in escalations.iter_mut() {
                    self.publish(&actor, *at, e, credentials, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep_collect(ctx, Order::Uid, |actor, st, ctx| {
            let closable: Vec<(EventTime, String)> =
                st.escalations.keys().filter(|(a, _)| a.saturating_add(self.window) < wm).cloned().collect();
            for key in closable {
                if let Some(mut e) = st.escalations.remove(&key) {
                    self.publish(actor, key.0, &mut e, &st.credentials, true, ctx);
                }
            }
            let cutoff = wm.saturating_sub(self.window);
            st.credentials.retain(|(t, _), _| *t >= cutoff);
            // Next visit: when the earliest escalation closes or the earliest credential
            // leaves the window (both keyed by time first).
            let earliest = [st.escalations.keys().next(), st.credentials.keys().next()]
                .into_iter()
                .flatten()
                .map(|(t, _)| *t)
                .min()?;
            Some(earliest.saturating_add(self.window).saturating_add(1))
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
        Box::new(IamPrivilegeEscalation::new(cfg))
    }

    fn iam(secs: i64, who: &Value, name: &str, req: Value) -> String {
        event(secs, who, "iam", name, json!({"requestParameters": req, "readOnly": false}))
    }

    fn admin_doc() -> &'static str {
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
    }

    fn with_ua(line: String, ua: &str) -> String {
        let mut v: Value = serde_json::from_str(&line).expect("json");
        v["userAgent"] = json!(ua);
        v.to_string()
    }

    fn run_with(lines: &[String], rows: usize, workers: usize) -> Vec<Finding> {
        finals(&run_workers(vec![rule(Config::default())], lines, rows, workers))
    }

    #[test]
    fn attaching_admin_to_oneself_then_a_key_for_oneself_goes_high_then_critical() {
        let me = iam_user("deploy", "AKIADEPLOY");
        let lines = vec![
            iam(
                0,
                &me,
                "AttachUserPolicy",
                json!({"userName": "deploy", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ),
            iam(120, &me, "CreateAccessKey", json!({})),
        ];
        let all = run_all(vec![rule(Config::default())], &lines, 1);
        let sev: Vec<(Activity, Severity)> = all.iter().map(|f| (f.activity, f.severity)).collect();
        assert_eq!(sev[..2], [(Activity::Create, Severity::High), (Activity::Update, Severity::Critical)]);
        let f = finals(&all);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].technique_ids, ["T1098", "T1078.004"]);
        assert_eq!(f[0].tactic_ids, ["TA0004"]);
        assert!(f[0].context[0].contains("on the caller's own user deploy"), "{:?}", f[0].context);
        assert!(f[0].context.iter().any(|c| c.contains("credential for itself")));
    }

    #[test]
    fn self_grants_on_ones_own_role_and_groups_count() {
        let s = role_session("app-role", "i-0123456789abcdef0", "ASIAAPP");
        let put = iam(
            0,
            &s,
            "PutRolePolicy",
            json!({"roleName": "app-role", "policyName": "x", "policyDocument": admin_doc()}),
        );
        let f = run(rule(Config::default()), &[put]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].identity_class, IdentityClass::Workload);
        let narrow = iam(
            0,
            &s,
            "AttachRolePolicy",
            json!({"roleName": "app-role", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"}),
        );
        assert_eq!(run(rule(Config::default()), &[narrow])[0].severity, Severity::Medium);
        let me = iam_user("deploy", "AKIADEPLOY");
        let group = iam(0, &me, "AddUserToGroup", json!({"userName": "deploy", "groupName": "Administrators"}));
        assert_eq!(run(rule(Config::default()), &[group])[0].severity, Severity::High);
    }

    #[test]
    fn grants_on_others_are_not_self_escalation() {
        let me = iam_user("deploy", "AKIADEPLOY");
        let s = role_session("app-role", "i-0123456789abcdef0", "ASIAAPP");
        let lines = vec![
            iam(
                0,
                &me,
                "AttachUserPolicy",
                json!({"userName": "alice", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ),
            iam(
                1,
                &s,
                "AttachRolePolicy",
                json!({"roleName": "other-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ),
            iam(
                2,
                &me,
                "CreatePolicyVersion",
                json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "policyDocument": admin_doc(), "setAsDefault": false}),
            ),
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
    }

    #[test]
    fn a_default_policy_version_is_escalation_by_anyone() {
        let s = role_session("app-role", "i-0123456789abcdef0", "ASIAAPP");
        let v = iam(
            0,
            &s,
            "CreatePolicyVersion",
            json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "policyDocument": admin_doc(), "setAsDefault": true}),
        );
        let f = run(rule(Config::default()), &[v]);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].context[0].contains("policy arn:aws:iam::111122223333:policy/p"));
        let d = iam(
            0,
            &s,
            "SetDefaultPolicyVersion",
            json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "versionId": "v1"}),
        );
        let f = run(rule(Config::default()), &[d]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].context[0].contains("default version set to v1"));
    }

    #[test]
    fn a_key_rotation_is_not_privilege_escalation() {
        let me = iam_user("deploy", "AKIADEPLOY");
        let lines = vec![
            iam(0, &me, "CreateAccessKey", json!({})),
            iam(30, &me, "UpdateAccessKey", json!({"accessKeyId": "AKIADEPLOY", "status": "Inactive"})),
            iam(60, &me, "DeleteAccessKey", json!({"accessKeyId": "AKIADEPLOY"})),
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
    }

    #[test]
    fn terraform_updating_a_managed_policy_is_quiet_or_low_unless_admin() {
        let tf = role_session("gha-terraform", "1700000000000000000", "ASIATF");
        let narrow = r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let v = |doc: &str| {
            with_ua(
                iam(
                    0,
                    &tf,
                    "CreatePolicyVersion",
                    json!({"policyArn": "arn:aws:iam::111122223333:policy/etl", "policyDocument": doc, "setAsDefault": true}),
                ),
                TF_UA,
            )
        };
        assert!(run(rule(Config::default()), &[v(narrow)]).is_empty());
        let f = run(rule(Config { quiet_iac: false, ..Config::default() }), &[v(narrow)]);
        assert_eq!(f[0].severity, Severity::Low);
        assert!(f[0].context.iter().any(|c| c.contains("IaC agent (Terraform)")));
        let f = run(rule(Config::default()), &[v(admin_doc())]);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].context.iter().any(|c| c.contains("exemption lifted")));
    }

    #[test]
    fn no_stratus_detonation_of_this_family_fires_it() {
        for t in [
            "aws.persistence.iam-create-admin-user",
            "aws.persistence.iam-backdoor-user",
            "aws.privilege-escalation.iam-update-user-login-profile",
        ] {
            assert!(run(rule(Config::default()), &stratus(t)).is_empty(), "{t}");
        }
    }

    #[test]
    fn the_final_findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
        let me = iam_user("deploy", "AKIADEPLOY");
        let s = role_session("app-role", "i-0123456789abcdef0", "ASIAAPP");
        let lines = vec![
            iam(
                0,
                &me,
                "AttachUserPolicy",
                json!({"userName": "deploy", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ),
            iam(0, &me, "CreateAccessKey", json!({"userName": "deploy"})),
            iam(
                5,
                &me,
                "PutUserPolicy",
                json!({"userName": "deploy", "policyName": "x", "policyDocument": admin_doc()}),
            ),
            iam(100, &me, "CreateLoginProfile", json!({"userName": "deploy"})),
            iam(
                3,
                &s,
                "AttachRolePolicy",
                json!({"roleName": "app-role", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
            ),
        ];
        let expected = run_with(&lines, 8192, 1);
        assert_eq!(expected.len(), 3, "{expected:#?}");
        let mut reversed = lines.clone();
        reversed.reverse();
        assert_eq!(run_with(&reversed, 8192, 1), expected);
        assert_eq!(run_with(&reversed, 1, 2), expected);
        assert_eq!(run_with(&lines, 2, 2), expected);
    }
}
