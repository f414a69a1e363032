//! `backdoor_key_used`: a stolen machine credential creates an access key for another,
//! existing IAM user, and the attacker comes back with that key minutes later.
//!
//! The stolen credential is a CI/CD pipeline session (`ASIA`, any pipeline role), or, when no
//! pipeline session is live, a programmatic user's `AKIA` key. The target is a person's IAM
//! user (`alice`, `breakglass-admin`, ...) or, a third of the time when the account has one,
//! a service user (a programmatic user other than the stolen one, e.g. `legacy-reporting`).
//!
//! Stage `iam_backdoor_credentials` (actor: the stolen key), from an attacker address
//! ([`super::attacker_source`]) within a minute or two: `GetCallerIdentity`, `ListUsers`,
//! `ListAccessKeys` of the target, `CreateAccessKey` for the target (the response's
//! `accessKey.accessKeyId` is the new `AKIA` id).
//!
//! Stage `new_access_key_used` (actor: the new key), 3–15 minutes later, as `IAMUser` target
//! with the new key, from the same address or (40 %) another attacker address, with a laptop
//! user agent ([`super::Laptop`]): `GetCallerIdentity`, `ListBuckets`, then one or two of
//! `GetAccountAuthorizationDetails`, `DescribeInstances`, `ListSecrets`, 10–50 s apart.
//! Plus an `attack_chain` label (actor: the stolen key) spanning both.

use rand::Rng as _;

use super::{
    attacker_source, laptop_first_uses, live_sessions, pick_fresh, Attacker, Laptop, ScenarioDef, Victim, RETRY,
    UA_VPS_CLI,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{unique_id, user_key, PEOPLE_USERS};
use crate::identity::iam_user;
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef {
    name: "backdoor_key_used",
    rules: &["iam_backdoor_credentials", "new_access_key_used", "attack_chain"],
    plan,
};

/// The stolen credential: (account index, key, identity, principal ARN, home region).
struct Stolen<'a> {
    account: usize,
    key: &'a str,
    ident: &'a str,
    arn: String,
    region: &'static str,
}

fn stolen<'a>(cx: &'a PlanCx<'_>) -> Option<Option<Stolen<'a>>> {
    let est = cx.est;
    let live = live_sessions(cx, &est.ci, 40 * MINUTE, |_| true);
    if !live.is_empty() {
        return Some(pick_fresh(cx, &live, cx.k as usize * 3 + 2, |i| est.ci[i].key.clone()).map(|i| {
            let s = &est.ci[i];
            Stolen { account: s.account, key: &s.key, ident: &s.ident, arn: s.arn.clone(), region: s.region }
        }));
    }
    if est.users.is_empty() {
        return None;
    }
    let all: Vec<usize> = (0..est.users.len()).collect();
    Some(pick_fresh(cx, &all, cx.k as usize * 4 + 5, |i| est.users[i].key.clone()).map(|i| {
        let u = &est.users[i];
        let arn = format!("arn:aws:iam::{}:user/{}", est.id(u.account), u.name);
        Stolen { account: u.account, key: &u.key, ident: &u.ident, arn, region: u.region }
    }))
}

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let Some(pick) = stolen(cx) else {
        return Planned::NotYet;
    };
    let Some(s) = pick else {
        return Planned::Retry(cx.now + RETRY);
    };
    let acct = est.id(s.account);
    let ip = attacker_source(out.rng, est);
    let a = Attacker { ident: s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_VPS_CLI };

    // The target: a service user of the account, or a person.
    let services: Vec<usize> =
        (0..est.users.len()).filter(|&i| est.users[i].account == s.account && est.users[i].key != s.key).collect();
    let (target, target_id) = if !services.is_empty() && out.rng.random_bool(1.0 / 3.0) {
        let u = &est.users[services[out.rng.random_range(0..services.len())]];
        (u.name.clone(), u.pid.clone())
    } else {
        (PEOPLE_USERS[out.rng.random_range(0..PEOPLE_USERS.len())].to_string(), unique_id(out.rng, "AIDA"))
    };
    let new_key = user_key(out.rng);

    out.stage("iam_backdoor_credentials", s.key);
    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", s.region));
    t += out.rng.random_range(2 * SECOND..10 * SECOND);
    out.emit(&a.call(t, "iam", "ListUsers", "us-east-1").req("{\"maxItems\":100}"));
    t += out.rng.random_range(5 * SECOND..30 * SECOND);
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", &target).end();
    out.emit(&a.call(t, "iam", "ListAccessKeys", "us-east-1").req(&req));
    t += out.rng.random_range(3 * SECOND..20 * SECOND);
    Obj::new(&mut resp)
        .obj("accessKey", |k| {
            k.str("userName", &target)
                .str("accessKeyId", &new_key)
                .str("status", "Active")
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateAccessKey", "us-east-1").req(&req).resp(&resp));

    // The attacker returns with the new key.
    t += out.rng.random_range(3 * MINUTE..15 * MINUTE);
    let ip2 = if out.rng.random_bool(0.4) { attacker_source(out.rng, est) } else { ip.clone() };
    let ident = iam_user(acct, &target, &target_id, &new_key);
    let laptop = Laptop::pick(out.rng);
    out.stage("new_access_key_used", &new_key);
    const MORE: [(&str, &str, bool); 3] = [
        ("iam", "GetAccountAuthorizationDetails", true),
        ("ec2", "DescribeInstances", false),
        ("secretsmanager", "ListSecrets", false),
    ];
    laptop_first_uses(out, laptop, &ident, acct, s.region, &ip2, t, &MORE, 50 * SECOND);
    Planned::Done(Victim { actor_key: s.key.to_string(), account: acct.to_string() })
}
