//! `iam_role_backdoor`: a role opened to principals outside the account.
//!
//! A role whose trust policy lets the thief's own account (or anyone, or a web identity
//! provider) assume it is a door that survives every key rotation in the victim account.
//! Two ways to build one:
//! - **`CreateRole`** with an outside trust policy, **then** `AttachRolePolicy` /
//!   `PutRolePolicy` on it by the same actor within `window` (default 30 min). A cross-account
//!   role without permissions opens nothing, so the creation alone is not reported; the
//!   sequence is anchored at the `CreateRole` event time.
//! - **`UpdateAssumeRolePolicy`** on an existing role with an outside trust policy: reported
//!   on its own (the role already has its rights).
//!
//! Outside means a statement with `Effect` `Allow` whose `Principal` is `*` (or `{"AWS": "*"}`,
//! or any `NotPrincipal`), an AWS principal in another account than the event's (an ARN or a
//! bare account id) that is not in `trusted_accounts`, or a `Federated` provider (OIDC, SAML,
//! Cognito). The trust policy is `requestParameters.assumeRolePolicyDocument` (`CreateRole`)
//! or `policyDocument` (`UpdateAssumeRolePolicy`): JSON text, URL-decoded when needed.
//! Service principals and principals of the event's own account are not outsiders.
//!
//! | finding | severity |
//! |---|---|
//! | role opened to `*`, another account, or a federated provider without conditions | high |
//! | role opened only to `*` or a federated provider under a `Condition` (org id, `sub` claim) | medium |
//! | ... and the same actor grants the role admin rights (`admin_policies`, or a policy allowing `*`/`iam:*` on `*`) within the window | critical |
//! | `CreateServiceLinkedRole` by a caller that is not an AWS service | low (informational for a person) |
//!
//! For `UpdateAssumeRolePolicy`, grants within the window before the update count too
//! (admin first, door second is the same backdoor). Cross-account roles for your own
//! organisation's accounts are routine: list those accounts in `trusted_accounts` (empty by
//! default; an `sts:ExternalId` condition, the mark of a third-party integration, is shown in
//! the context but does not lower severity: a thief can add one too).
//!
//! `CreateServiceLinkedRole` is almost always made by a service on a caller's behalf (then the
//! source address is `<service>.amazonaws.com` and it stays quiet); a stolen credential
//! calling it directly prepares a service the account never used. Roles Anywhere trust
//! anchors are `identity_provider_backdoor`'s business.
//!
//! uid = `hash(rule, actor/role/kind, anchor)`, anchor = the opening event's time; the
//! finding is published when its condition holds, updated when a grant raises it, and
//! published a last time when the watermark passes anchor + window. Grants are kept for the
//! window whether or not the opening has arrived yet, so the final version does not depend on
//! arrival order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::{PERSISTENCE, PRIVILEGE_ESCALATION};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::iam_policy::{admin_grant, allows, default_admin_policies, policy_document, statements, strs};
use crate::state::{Evictable, Order, Tier, Weigh, Weighed};
use crate::view::EventView;
use crate::window::positive_millis;

static META: RuleMeta = RuleMeta {
    id: "iam_role_backdoor",
    title: "IAM role opened to outside principals",
    severity: Severity::High,
    tactics: &[PERSISTENCE, PRIVILEGE_ESCALATION],
    techniques: &["T1098.003", "T1098"],
    summary: "A role created and granted rights, or its trust policy updated, so that another account, anyone or a federated provider can assume it",
    stateful: true,
};

/// Thresholds of `iam_role_backdoor` (`[rules.iam_role_backdoor]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Grants on the role by the same actor within this long after `CreateRole` (or around
    /// `UpdateAssumeRolePolicy`) join the finding. Default 30m.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Account ids whose principals are not outsiders (your organisation's). Default empty.
    pub trusted_accounts: Vec<String>,
    /// Managed policy names that amount to admin rights. Default AdministratorAccess,
    /// IAMFullAccess.
    pub admin_policies: Vec<String>,
    /// Report `CreateServiceLinkedRole` by callers that are not AWS services (low). Default true.
    pub service_linked_roles: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30 * 60),
            trusted_accounts: Vec::new(),
            admin_policies: default_admin_policies(),
            service_linked_roles: true,
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10).
pub const COMMON: CommonDefaults = CommonDefaults { max_evidence: Some(10), episode: None, episode_alias: None };

/// What a trust policy lets in from outside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outsiders {
    /// One line per outside principal (`account 193672423079`, `anyone (*)`, `federated ...`).
    pub principals: BTreeSet<String>,
    /// Unconditioned cross-account, `*` or federated trust.
    pub open: bool,
    /// An `sts:ExternalId` condition is present.
    pub external_id: bool,
}

fn account_of(principal: &str) -> Option<&str> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal);
    }
    let acct = principal.strip_prefix("arn:")?.split(':').nth(3)?;
    (!acct.is_empty()).then_some(acct)
}

/// The outside principals a trust policy allows (`account`: the event's account).
pub(crate) fn outsiders(doc: &Value, account: Option<&str>, trusted: &[String]) -> Outsiders {
    let mut out = Outsiders::default();
    for s in statements(doc) {
        if !allows(s) {
            continue;
        }
        let cond = s.get("Condition").is_some_and(|c| c.as_object().is_some_and(|o| !o.is_empty()));
        let cond_text = s.get("Condition").map(Value::to_string).unwrap_or_default();
        let external = cond_text.contains("sts:ExternalId");
        let mut found = false;
        let mut mark = |line: String, open: bool, out: &mut Outsiders| {
            out.principals.insert(line);
            out.open |= open;
            found = true;
        };
        if s.get("NotPrincipal").is_some() {
            mark("anyone (NotPrincipal)".to_string(), !cond, &mut out);
        }
        match s.get("Principal") {
            Some(Value::String(p)) if p == "*" => mark("anyone (*)".to_string(), !cond, &mut out),
            Some(Value::Object(p)) => {
                for a in strs(p.get("AWS")) {
                    if a == "*" {
                        mark("anyone (AWS *)".to_string(), !cond, &mut out);
                    } else if let Some(acct) = account_of(a) {
                        if Some(acct) != account && !trusted.iter().any(|t| t == acct) {
                            // Another account: open even under a condition (it is the thief's).
                            mark(format!("account {acct} ({a})"), true, &mut out);
                        }
                    }
                }
                for f in strs(p.get("Federated")) {
                    mark(format!("federated provider {f}"), !cond, &mut out);
                }
            }
            _ => {}
        }
        if found && external {
            out.external_id = true;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Opening {
    Create,
    Trust,
}

#[derive(Debug, Serialize, Deserialize)]
struct Door {
    outsiders: Outsiders,
    boundary: Option<String>,
    support: Support,
    publication: Publication,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grant {
    action: String,
    what: String,
    admin: Option<String>,
    support: Support,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActorState {
    /// (role, anchor, kind) → the opening.
    doors: BTreeMap<(String, EventTime, Opening), Door>,
    /// role → successful grants by (time, event id).
    grants: BTreeMap<String, BTreeMap<(EventTime, String), Grant>>,
}

crate::state::weigh_fields! { Opening {} }

impl Weigh for Door {
    fn heap(&self) -> usize {
        self.outsiders.principals.heap() + self.boundary.heap() + self.support.heap()
    }
}

crate::state::weigh_fields! { Grant { action, what, admin, support }, ActorState { doors, grants } }

impl Evictable for ActorState {
    /// Openings wait for grants within the window: armed, as recent as the latest call.
    fn class(&self) -> (Tier, EventTime) {
        let doors = self.doors.values().map(|d| d.support.last);
        let grants = self.grants.values().filter_map(|m| m.keys().next_back()).map(|k| k.0);
        (Tier::Armed, doors.chain(grants).max().unwrap_or(i64::MIN))
    }
}

#[derive(Debug, Default)]
struct Agg {
    support: Support,
    grants: BTreeSet<String>,
    admin: BTreeSet<String>,
}

/// The rule.
pub struct IamRoleBackdoor {
    cfg: RuleConfig<Config>,
    window: i64,
    state: Weighed<String, ActorState>,
}

impl IamRoleBackdoor {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self { window: positive_millis(cfg.window), state: Weighed::default(), cfg }
    }

    fn door(&self, ev: &EventView<'_>, row: usize, field: &str) -> Option<Door> {
        let req = ev.request_json(row)?;
        let doc = policy_document(req.get(field)?)?;
        let outsiders = outsiders(&doc, ev.account(row), &self.cfg.trusted_accounts);
        if outsiders.principals.is_empty() {
            return None;
        }
        let boundary = req.get("permissionsBoundary").and_then(Value::as_str).map(str::to_string);
        Some(Door { outsiders, boundary, support: Support::one(ev, row), publication: Publication::default() })
    }

    fn aggregate(
        &self,
        anchor: EventTime,
        kind: Opening,
        d: &Door,
        grants: Option<&BTreeMap<(EventTime, String), Grant>>,
    ) -> Agg {
        let mut agg = Agg { support: d.support.clone(), ..Agg::default() };
        let start = if kind == Opening::Create { anchor } else { anchor.saturating_sub(self.window) };
        let end = anchor.saturating_add(self.window);
        for ((t, _), g) in grants.into_iter().flat_map(|m| m.range((start, String::new())..)) {
            if *t > end {
                break;
            }
            agg.support.merge(&g.support, self.cfg.common.max_evidence);
            agg.grants.insert(format!("{} {}", g.action, g.what));
            agg.admin.extend(g.admin.iter().cloned());
        }
        agg
    }

    fn severity(kind: Opening, d: &Door, agg: &Agg) -> Option<Severity> {
        if kind == Opening::Create && agg.grants.is_empty() {
            return None;
        }
        Some(if !agg.admin.is_empty() {
            Severity::Critical
        } else if d.outsiders.open {
            Severity::High
        } else {
            Severity::Medium
        })
    }

    /// Evicted: every opening gets its final version now.
    fn close_early(&self, actor: &str, st: &mut ActorState, ctx: &mut RuleCtx<'_>) {
        for ((role, anchor, kind), mut d) in std::mem::take(&mut st.doors) {
            d.publication.close_early();
            self.publish(actor, &role, anchor, kind, &mut d, st.grants.get(&role), true, ctx);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        actor: &str,
        role: &str,
        anchor: EventTime,
        kind: Opening,
        d: &mut Door,
        grants: Option<&BTreeMap<(EventTime, String), Grant>>,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        let agg = self.aggregate(anchor, kind, d, grants);
        let Some(sev) = Self::severity(kind, d, &agg) else { return };
        if let Some((activity, revision)) = d.publication.next(sev, agg.support.count, closing) {
            ctx.emit(self.finding(actor, role, anchor, kind, d, &agg, sev, activity, revision));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        actor: &str,
        role: &str,
        anchor: EventTime,
        kind: Opening,
        d: &Door,
        agg: &Agg,
        severity: Severity,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let join = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(", ");
        let how = match kind {
            Opening::Create => "CreateRole",
            Opening::Trust => "UpdateAssumeRolePolicy",
        };
        let mut context = vec![format!(
            "{how} {role} at {}: trust policy lets in {}",
            to_rfc3339(anchor),
            join(&d.outsiders.principals)
        )];
        if !agg.grants.is_empty() {
            context.push(format!(
                "rights granted to {role} by the same actor within {}: {}",
                humantime::format_duration(self.cfg.window),
                join(&agg.grants)
            ));
        }
        if !agg.admin.is_empty() {
            context.push(format!("admin rights for {role}: {}", join(&agg.admin)));
        }
        if !d.outsiders.open {
            context.push("only under a Condition (medium)".to_string());
        }
        if d.outsiders.external_id {
            context.push("sts:ExternalId condition present (third-party integration pattern)".to_string());
        }
        if let Some(b) = &d.boundary {
            context.push(format!("permissions boundary {b} set (limits the role until removed)"));
        }
        if !self.cfg.trusted_accounts.is_empty() {
            context.push(format!("trusted accounts (not outsiders): {}", self.cfg.trusted_accounts.join(", ")));
        }
        let s = &agg.support;
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let summary = format!(
            "{} ({}) opened role {role} to {} ({how}){}.",
            arn.unwrap_or(actor),
            s.class(),
            join(&d.outsiders.principals),
            if agg.admin.is_empty() { String::new() } else { format!(" and gave it {}", join(&agg.admin)) }
        );
        let ask = format!(
            "Ask the owner of {} whether role {role} should trust {}; if not, restore its trust policy (or delete the role) and detach what was granted.",
            arn.unwrap_or(actor),
            join(&d.outsiders.principals)
        );
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor,
            support: s,
            severity,
            confidence: if agg.admin.is_empty() { 70 } else { 90 },
            techniques: vec!["T1098.003".to_string(), "T1098".to_string()],
            context,
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(activity, revision);
        let tag = match kind {
            Opening::Create => "create",
            Opening::Trust => "trust",
        };
        f.uid = Finding::make_uid(META.id, &format!("{actor}/{role}/{tag}"), anchor);
        f
    }

    /// `CreateServiceLinkedRole` by a caller that is not an AWS service: a single-event finding.
    fn service_linked(&self, ev: &EventView<'_>, row: usize) -> Finding {
        let actor = ev.actor_key(row);
        let t = ev.time(row);
        let service = ev
            .request_json(row)
            .and_then(|r| r.get("aWSServiceName").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "?".to_string());
        let mut s = Support::default();
        s.add(ev, row, self.cfg.common.max_evidence);
        let class = ev.identity_class(row);
        let severity = if class == IdentityClass::Human { Severity::Informational } else { Severity::Low };
        let arn = ev.actor_arn(row);
        let summary = format!(
            "{} ({class}) created the service-linked role of {service} itself, not through the service.",
            arn.unwrap_or(actor)
        );
        let ask = format!("Ask the owner of {} why it enabled {service} directly.", arn.unwrap_or(actor));
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor: t,
            support: &s,
            severity,
            confidence: 35,
            techniques: vec!["T1098".to_string()],
            context: vec![format!(
                "CreateServiceLinkedRole for {service} from {} by a {class} caller (services create these on their own)",
                ev.source_ip(row).unwrap_or("?")
            )],
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(Activity::Create, 0);
        f.uid = Finding::make_uid(META.id, &format!("{actor}/slr/{service}"), t);
        f
    }
}

fn aws_internal(ip: Option<&str>) -> bool {
    ip.is_some_and(|ip| ip.ends_with(".amazonaws.com") || ip.eq_ignore_ascii_case("AWS Internal"))
}

impl Rule for IamRoleBackdoor {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
        for &row in rows {
            if ev.service(row) != "iam" || ev.error_code(row).is_some() {
                continue;
            }
            if ev.identity_class(row) == IdentityClass::AwsService {
                continue;
            }
            let action = ev.action(row);
            if action == "CreateServiceLinkedRole" {
                if self.cfg.service_linked_roles && !aws_internal(ev.source_ip(row)) {
                    ctx.emit(self.service_linked(ev, row));
                }
                continue;
            }
            let Some(role) = ev.target_role(row) else { continue };
            let (t, actor) = (ev.time(row), ev.actor_key(row));
            match action {
                "CreateRole" | "UpdateAssumeRolePolicy" => {
                    let (kind, field) = if action == "CreateRole" {
                        (Opening::Create, "assumeRolePolicyDocument")
                    } else {
                        (Opening::Trust, "policyDocument")
                    };
                    let Some(door) = self.door(ev, row, field) else { continue };
                    let mut st = self.state.upsert(actor, || actor.to_string());
                    st.doors.entry((role.to_string(), t, kind)).or_insert(door);
                }
                "AttachRolePolicy" | "PutRolePolicy" => {
                    let what = ev
                        .policy_arn(row)
                        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
                        .or_else(|| {
                            ev.request_json(row).and_then(|r| {
                                r.get("policyName").and_then(Value::as_str).map(|n| format!("inline {n}"))
                            })
                        })
                        .unwrap_or_default();
                    let g = Grant {
                        action: action.to_string(),
                        what,
                        admin: admin_grant(ev, row, &self.cfg.admin_policies, "policyDocument"),
                        support: Support::one(ev, row),
                    };
                    let mut st = self.state.upsert(actor, || actor.to_string());
                    st.grants
                        .entry(role.to_string())
                        .or_default()
                        .entry((t, ev.event_id(row).to_string()))
                        .or_insert(g);
                }
                _ => continue,
            }
            touched.insert((actor.to_string(), role.to_string()));
        }
        for (actor, role) in touched {
            if let Some(mut st) = self.state.get_mut(&actor) {
                let ActorState { doors, grants } = &mut *st;
                let grants = grants.get(&role);
                let range = (role.clone(), i64::MIN, Opening::Create)..=(role.clone(), i64::MAX, Opening::Trust);
                for ((r, anchor, kind), d) in doors.range_mut(range) {
                    self.publish(&actor, r, *anchor, *kind, d, grants, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep_collect(ctx, Order::Uid, |actor, st, ctx| {
            let closable: Vec<(String, EventTime, Opening)> =
                st.doors.keys().filter(|(_, a, _)| a.saturating_add(self.window) < wm).cloned().collect();
            for key in closable {
                if let Some(mut d) = st.doors.remove(&key) {
                    self.publish(actor, &key.0, key.1, key.2, &mut d, st.grants.get(&key.0), true, ctx);
                }
            }
            // Open doors have anchors ≥ wm − window and look back one window for updates.
            let cutoff = wm.saturating_sub(self.window.saturating_mul(2));
            st.grants.retain(|_, m| {
                m.retain(|(t, _), _| *t >= cutoff);
                !m.is_empty()
            });
            // Next visit: when the earliest open door closes or the earliest grant leaves.
            let door = st.doors.keys().map(|(_, a, _)| a.saturating_add(self.window).saturating_add(1)).min();
            let grant = st
                .grants
                .values()
                .filter_map(|m| m.keys().next())
                .map(|(t, _)| t.saturating_add(self.window.saturating_mul(2)).saturating_add(1))
                .min();
            door.into_iter().chain(grant).min()
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
    use trailhound_model::{Activity, Finding, Severity};

    use super::*;
    use crate::testing::{event, finals, iam_user, role_session, run, run_all, run_workers, stratus};

    fn rule(cfg: Config) -> Box<dyn Rule> {
        Box::new(IamRoleBackdoor::new(cfg))
    }

    fn trust(principal: Value, condition: Option<Value>) -> String {
        let mut stmt = json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
        if let Some(c) = condition {
            stmt["Condition"] = c;
        }
        json!({"Version": "2012-10-17", "Statement": [stmt]}).to_string()
    }

    fn create_role(secs: i64, who: &Value, role: &str, doc: &str) -> String {
        event(
            secs,
            who,
            "iam",
            "CreateRole",
            json!({"requestParameters": {"roleName": role, "assumeRolePolicyDocument": doc}, "readOnly": false}),
        )
    }

    fn attach(secs: i64, who: &Value, role: &str, policy: &str) -> String {
        event(
            secs,
            who,
            "iam",
            "AttachRolePolicy",
            json!({"requestParameters": {"roleName": role, "policyArn": format!("arn:aws:iam::aws:policy/{policy}")}, "readOnly": false}),
        )
    }

    fn update_trust(secs: i64, who: &Value, role: &str, doc: &str) -> String {
        event(
            secs,
            who,
            "iam",
            "UpdateAssumeRolePolicy",
            json!({"requestParameters": {"roleName": role, "policyDocument": doc}, "readOnly": false}),
        )
    }

    fn run_with(lines: &[String], rows: usize, workers: usize) -> Vec<Finding> {
        finals(&run_workers(vec![rule(Config::default())], lines, rows, workers))
    }

    #[test]
    fn stratus_create_backdoor_role_is_critical() {
        // AttachRolePolicy arrives before CreateRole (same second); the boundary is noted.
        let f = run(rule(Config::default()), &stratus("aws.persistence.iam-create-backdoor-role"));
        assert_eq!(f.len(), 1, "{f:#?}");
        let f = &f[0];
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.actor_key, "AKIA0W5KI69TY8X86BGT");
        assert_eq!(f.event_count, 2);
        assert_eq!(f.technique_ids, ["T1098.003", "T1098"]);
        assert_eq!(f.tactic_ids, ["TA0003", "TA0004"]);
        assert!(f.context[0].contains("account 193672423079"), "{:?}", f.context);
        assert!(f
            .context
            .iter()
            .any(|c| c.contains("admin rights for stratus-red-team-malicious-iam-role: AdministratorAccess")));
        assert!(f.context.iter().any(|c| c.contains("permissions boundary arn:aws:iam::aws:policy/AWSDenyAll")));
    }

    #[test]
    fn stratus_backdoor_role_trust_update_is_high() {
        let f = run(rule(Config::default()), &stratus("aws.persistence.iam-backdoor-role"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].summary.contains("stratus-red-team-backdoor-r-role"));
        assert!(f[0].context[0].contains("UpdateAssumeRolePolicy"));
        assert!(!f[0].context[0].contains("ec2.amazonaws.com"), "service principals are not outsiders");
    }

    #[test]
    fn trusted_accounts_are_not_outsiders() {
        let cfg = Config { trusted_accounts: vec!["193672423079".to_string()], ..Config::default() };
        assert!(run(rule(cfg.clone()), &stratus("aws.persistence.iam-backdoor-role")).is_empty());
        assert!(run(rule(cfg), &stratus("aws.persistence.iam-create-backdoor-role")).is_empty());
    }

    #[test]
    fn a_created_cross_account_role_needs_a_grant_and_rises_to_critical_with_admin() {
        let who = iam_user("backup", "AKIATHIEF");
        let doc = trust(json!({"AWS": "999988887777"}), None);
        assert!(run(rule(Config::default()), &[create_role(0, &who, "r", &doc)]).is_empty(), "no rights, no door");
        let lines = vec![
            create_role(0, &who, "r", &doc),
            attach(30, &who, "r", "ReadOnlyAccess"),
            attach(600, &who, "r", "AdministratorAccess"),
        ];
        let all = run_all(vec![rule(Config::default())], &lines, 1);
        let sev: Vec<(Activity, Severity)> = all.iter().map(|f| (f.activity, f.severity)).collect();
        assert_eq!(sev[..2], [(Activity::Create, Severity::High), (Activity::Update, Severity::Critical)]);
        assert_eq!(finals(&all).len(), 1);
        // A grant after the window does not join.
        let late = vec![create_role(0, &who, "r", &doc), attach(31 * 60, &who, "r", "AdministratorAccess")];
        assert!(run(rule(Config::default()), &late).is_empty());
    }

    #[test]
    fn an_inline_star_grant_before_a_trust_update_makes_it_critical() {
        let who = iam_user("backup", "AKIATHIEF");
        let put = event(
            0,
            &who,
            "iam",
            "PutRolePolicy",
            json!({"requestParameters": {"roleName": "ops", "policyName": "x", "policyDocument": r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#}, "readOnly": false}),
        );
        let f = run(rule(Config::default()), &[put, update_trust(120, &who, "ops", &trust(json!("*"), None))]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].context[0].contains("anyone (*)"));
    }

    #[test]
    fn conditioned_federated_or_wildcard_trust_is_medium_and_url_encoded_documents_are_read() {
        let who = iam_user("backup", "AKIATHIEF");
        let gh = trust(
            json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
            Some(json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:corp/app:*"}})),
        );
        let f = run(rule(Config::default()), &[update_trust(0, &who, "gha", &gh)]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].context.iter().any(|c| c.contains("only under a Condition")));
        let open_gh = trust(
            json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
            None,
        );
        let encoded: String = open_gh.bytes().map(|b| format!("%{b:02X}")).collect();
        let f = run(rule(Config::default()), &[update_trust(0, &who, "gha", &encoded)]);
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn own_account_and_service_trust_is_quiet() {
        let who = role_session("gha-terraform", "1700000000000000000", "ASIATF");
        let own = trust(json!({"AWS": "arn:aws:iam::111122223333:root"}), None);
        let svc = trust(json!({"Service": "ecs-tasks.amazonaws.com"}), None);
        let lines = vec![
            create_role(0, &who, "a", &own),
            attach(1, &who, "a", "AdministratorAccess"),
            create_role(2, &who, "b", &svc),
            attach(3, &who, "b", "ReadOnlyAccess"),
            update_trust(4, &who, "c", &svc),
        ];
        assert!(run(rule(Config::default()), &lines).is_empty());
    }

    #[test]
    fn service_linked_roles_by_services_are_quiet_and_by_callers_low() {
        let svc = json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"});
        let slr = |who: &Value, ip: &str| {
            event(
                0,
                who,
                "iam",
                "CreateServiceLinkedRole",
                json!({"requestParameters": {"aWSServiceName": "autoscaling.amazonaws.com"}, "sourceIPAddress": ip, "readOnly": false}),
            )
        };
        assert!(run(rule(Config::default()), &[slr(&svc, "autoscaling.amazonaws.com")]).is_empty());
        let user = iam_user("backup", "AKIATHIEF");
        assert!(
            run(rule(Config::default()), &[slr(&user, "autoscaling.amazonaws.com")]).is_empty(),
            "on the caller's behalf"
        );
        let f = run(rule(Config::default()), &[slr(&user, "203.0.113.9")]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Low);
        assert_eq!(f[0].technique_ids, ["T1098"]);
        assert!(run(rule(Config { service_linked_roles: false, ..Config::default() }), &[slr(&user, "203.0.113.9")])
            .is_empty());
    }

    #[test]
    fn the_final_findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
        let who = iam_user("backup", "AKIATHIEF");
        let other = role_session("app", "i-0123456789abcdef0", "ASIAWL");
        let x = trust(json!({"AWS": ["arn:aws:iam::999988887777:root", "arn:aws:iam::111122223333:root"]}), None);
        let groups = [
            stratus("aws.persistence.iam-backdoor-role"),
            stratus("aws.persistence.iam-create-backdoor-role"),
            vec![
                create_role(0, &who, "r1", &x),
                attach(10, &who, "r1", "ReadOnlyAccess"),
                attach(100, &who, "r1", "AdministratorAccess"),
                update_trust(50, &other, "r2", &x),
                attach(40, &other, "r2", "IAMFullAccess"),
                update_trust(
                    60,
                    &who,
                    "r3",
                    &trust(json!("*"), Some(json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}))),
                ),
            ],
        ];
        let lines = groups.concat();
        let expected = run_with(&lines, 8192, 1);
        assert_eq!(expected.len(), 5, "{expected:#?}");
        let reversed: Vec<String> = groups.iter().flat_map(|g| g.iter().rev()).cloned().collect();
        assert_eq!(run_with(&reversed, 8192, 1), expected);
        assert_eq!(run_with(&reversed, 1, 2), expected);
        assert_eq!(run_with(&lines, 2, 2), expected);
    }
}
