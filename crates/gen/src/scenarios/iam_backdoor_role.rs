//! `iam_backdoor_role`: a stolen Lambda function's role session (its `ASIA` key, taken from
//! the function's environment) used from the attacker's address to open a role to the
//! attacker. Two variants, alternating by instance (which one comes first depends on the
//! seed):
//!
//! * **new role**: `GetCallerIdentity`, `CreateRole` whose `assumeRolePolicyDocument` trusts
//!   `{"AWS":"arn:aws:iam::<12 digits outside the estate>:root"}` (the response echoes the
//!   document URL-encoded), then `AttachRolePolicy` of
//!   `arn:aws:iam::aws:policy/AdministratorAccess` on it;
//! * **backdoored trust**: `GetCallerIdentity`, `GetRole` then `UpdateAssumeRolePolicy` on
//!   the existing `inventory-readonly` role, keeping its statement (the security account
//!   with an external id) and adding `{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`.
//!
//! One label, `iam_role_backdoor`.

use rand::Rng as _;

use super::{
    attacker_ip, foreign_account, json_str, live_sessions, pick_fresh, url_encode, Attacker, ScenarioDef, Victim,
    ADMIN_POLICY, RETRY, UA_BOTO_SCRIPT,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{unique_id, SECURITY};
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "iam_backdoor_role", rules: &["iam_role_backdoor"], plan };

/// Names given to the backdoor role.
const ROLE_NAMES: [&str; 4] =
    ["OrganizationAccountSupportRole", "aws-health-reader", "SecurityAuditAccess", "ops-breakglass"];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let live = live_sessions(cx, &est.functions, 12 * 60 * MINUTE, |_| true);
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 3 + 2, |i| est.functions[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.functions[pick];
    let acct = est.id(s.account);
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_BOTO_SCRIPT };
    let new_role = (cx.k & 1 == 0) != out.rng.random_bool(0.5);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", s.region));
    t += out.rng.random_range(5 * SECOND..30 * SECOND);
    let (mut req, mut resp) = (String::new(), String::new());
    if new_role {
        let name = ROLE_NAMES[out.rng.random_range(0..ROLE_NAMES.len())];
        let ext = foreign_account(out.rng, est);
        let doc = format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{ext}:root\"}},\"Action\":\"sts:AssumeRole\"}}]}}"
        );
        Obj::new(&mut req).str("roleName", name).str("assumeRolePolicyDocument", &doc).end();
        let role_id = unique_id(out.rng, "AROA");
        Obj::new(&mut resp)
            .obj("role", |r| {
                r.str("path", "/")
                    .str("roleName", name)
                    .str("roleId", &role_id)
                    .str("arn", &format!("arn:aws:iam::{acct}:role/{name}"))
                    .str("createDate", &iam_date_string(t))
                    .str("assumeRolePolicyDocument", &url_encode(&doc))
            })
            .end();
        out.emit(&a.call(t, "iam", "CreateRole", "us-east-1").req(&req).resp(&resp));
        t += out.rng.random_range(2 * SECOND..12 * SECOND);
        Obj::new(&mut req).str("roleName", name).str("policyArn", ADMIN_POLICY).end();
        out.emit(&a.call(t, "iam", "AttachRolePolicy", "us-east-1").req(&req));
    } else {
        let name = "inventory-readonly";
        Obj::new(&mut req).str("roleName", name).end();
        out.emit(&a.call(t, "iam", "GetRole", "us-east-1").req(&req));
        t += out.rng.random_range(5 * SECOND..40 * SECOND);
        let sec = est.id(SECURITY);
        let doc = format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{sec}:root\"}},\"Action\":\"sts:AssumeRole\",\"Condition\":{{\"StringEquals\":{{\"sts:ExternalId\":\"monitoring\"}}}}}},{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"sts:AssumeRole\"}}]}}"
        );
        req = format!("{{\"roleName\":\"{name}\",\"policyDocument\":{}}}", json_str(&doc));
        out.emit(&a.call(t, "iam", "UpdateAssumeRolePolicy", "us-east-1").req(&req));
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
