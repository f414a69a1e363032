//! `iam_self_escalation`: a stolen `AKIA` key of programmatic user U escalates U itself, from
//! the attacker's address within two minutes: `GetCallerIdentity`,
//! `ListAttachedUserPolicies` U, `PutUserPolicy` on U (`userName` U, a `policyDocument`
//! allowing `"Action":"*"` on `"Resource":"*"`), `CreatePolicyVersion` of U's customer
//! managed policy `arn:aws:iam::ACCT:policy/U-policy` with the same document and
//! `setAsDefault` true, then `CreateAccessKey` with `userName` U (a second key for itself,
//! never used afterwards). One label, `iam_privilege_escalation`.

use rand::Rng as _;

use super::{attacker_ip, pick_fresh, Attacker, ScenarioDef, Victim, ALLOW_ALL, RETRY, UA_KALI_CLI, UA_PACU};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::user_key;
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::SECOND;

/// Registration.
pub(crate) const DEF: ScenarioDef =
    ScenarioDef { name: "iam_self_escalation", rules: &["iam_privilege_escalation"], plan };

/// Inline policy names attackers use.
const POLICY_NAMES: [&str; 3] = ["AdminAccess", "ops-full", "default-policy"];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    if est.users.is_empty() {
        return Planned::NotYet;
    }
    let all: Vec<usize> = (0..est.users.len()).collect();
    let Some(pick) = pick_fresh(cx, &all, cx.k as usize * 4 + 4, |i| est.users[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let u = &est.users[pick];
    let acct = est.id(u.account);
    let arn = format!("arn:aws:iam::{acct}:user/{}", u.name);
    let ip = attacker_ip(out.rng);
    let ua = if out.rng.random_bool(0.5) { UA_KALI_CLI } else { UA_PACU };
    let a = Attacker { ident: &u.ident, arn: &arn, acct, ip: &ip, ua };
    let step = |t: &mut i64, out: &mut ScenarioOut<'_>| *t += out.rng.random_range(3 * SECOND..25 * SECOND);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", u.region));
    step(&mut t, out);
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", &u.name).end();
    out.emit(&a.call(t, "iam", "ListAttachedUserPolicies", "us-east-1").req(&req));
    step(&mut t, out);
    let policy_name = POLICY_NAMES[out.rng.random_range(0..POLICY_NAMES.len())];
    Obj::new(&mut req).str("userName", &u.name).str("policyName", policy_name).str("policyDocument", ALLOW_ALL).end();
    out.emit(&a.call(t, "iam", "PutUserPolicy", "us-east-1").req(&req));
    step(&mut t, out);
    let version = format!("v{}", out.rng.random_range(2..6));
    Obj::new(&mut req)
        .str("policyArn", &format!("arn:aws:iam::{acct}:policy/{}-policy", u.name))
        .str("policyDocument", ALLOW_ALL)
        .bool("setAsDefault", true)
        .end();
    Obj::new(&mut resp)
        .obj("policyVersion", |v| {
            v.str("versionId", &version).bool("isDefaultVersion", true).str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreatePolicyVersion", "us-east-1").req(&req).resp(&resp));
    step(&mut t, out);
    let new_key = user_key(out.rng);
    Obj::new(&mut req).str("userName", &u.name).end();
    Obj::new(&mut resp)
        .obj("accessKey", |k| {
            k.str("userName", &u.name)
                .str("accessKeyId", &new_key)
                .str("status", "Active")
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateAccessKey", "us-east-1").req(&req).resp(&resp));
    Planned::Done(Victim { actor_key: u.key.clone(), account: acct.to_string() })
}
