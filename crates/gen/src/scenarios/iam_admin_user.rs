//! `iam_admin_user`: a stolen `AKIA` key of a programmatic user creates an administrator for
//! the attacker, then the attacker comes back with the new user's key.
//!
//! Stage `iam_user_persistence` (actor: the stolen key), within a minute from the attacker's
//! address: `GetCallerIdentity`, `CreateUser` X, `AttachUserPolicy` X
//! `arn:aws:iam::aws:policy/AdministratorAccess`, `CreateAccessKey` X (the response's
//! `accessKey.accessKeyId` is a new `AKIA` id, `status` `Active`), `CreateLoginProfile` X.
//!
//! Stage `new_access_key_used` (actor: the new key id), 5–20 minutes later from the same
//! address and tool, as `IAMUser` X (principal id = the `userId` `CreateUser` returned):
//! `GetCallerIdentity`, `ListBuckets`, then one or two more reads, spread over a minute or
//! two. Plus an `attack_chain` label (actor: the stolen key) spanning both.

use rand::Rng as _;

use super::{attacker_ip, pick_fresh, Attacker, ScenarioDef, Victim, ADMIN_POLICY, RETRY, UA_KALI_CLI, UA_PACU};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{unique_id, user_key};
use crate::identity::iam_user;
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef {
    name: "iam_admin_user",
    rules: &["iam_user_persistence", "new_access_key_used", "attack_chain"],
    plan,
};

/// Names attackers give the user they create (blending in with service users).
const NAMES: [&str; 6] =
    ["svc-backup-admin", "aws-support-ops", "devops-automation", "cloud-sync-svc", "ops-monitoring", "terraform-admin"];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    if est.users.is_empty() {
        return Planned::NotYet;
    }
    let all: Vec<usize> = (0..est.users.len()).collect();
    let Some(pick) = pick_fresh(cx, &all, cx.k as usize * 4 + 2, |i| est.users[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let u = &est.users[pick];
    let acct = est.id(u.account);
    let arn = format!("arn:aws:iam::{acct}:user/{}", u.name);
    let ip = attacker_ip(out.rng);
    let ua = if out.rng.random_bool(0.5) { UA_KALI_CLI } else { UA_PACU };
    let a = Attacker { ident: &u.ident, arn: &arn, acct, ip: &ip, ua };
    let x = NAMES[out.rng.random_range(0..NAMES.len())];
    let x_id = unique_id(out.rng, "AIDA");
    let new_key = user_key(out.rng);

    out.stage("iam_user_persistence", &u.key);
    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    let step = |t: &mut i64, out: &mut ScenarioOut<'_>| *t += out.rng.random_range(1_500..9_000);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", u.region));
    step(&mut t, out);
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", x).end();
    Obj::new(&mut resp)
        .obj("user", |o| {
            o.str("path", "/")
                .str("userName", x)
                .str("userId", &x_id)
                .str("arn", &format!("arn:aws:iam::{acct}:user/{x}"))
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateUser", "us-east-1").req(&req).resp(&resp));
    step(&mut t, out);
    Obj::new(&mut req).str("userName", x).str("policyArn", ADMIN_POLICY).end();
    out.emit(&a.call(t, "iam", "AttachUserPolicy", "us-east-1").req(&req));
    step(&mut t, out);
    Obj::new(&mut req).str("userName", x).end();
    Obj::new(&mut resp)
        .obj("accessKey", |k| {
            k.str("userName", x)
                .str("accessKeyId", &new_key)
                .str("status", "Active")
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateAccessKey", "us-east-1").req(&req).resp(&resp));
    step(&mut t, out);
    Obj::new(&mut req).str("userName", x).bool("passwordResetRequired", false).end();
    Obj::new(&mut resp)
        .obj("loginProfile", |p| {
            p.str("userName", x).str("createDate", &iam_date_string(t)).bool("passwordResetRequired", false)
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateLoginProfile", "us-east-1").req(&req).resp(&resp));

    // The attacker returns with the new user's key.
    t += out.rng.random_range(5 * MINUTE..20 * MINUTE);
    let x_ident = iam_user(acct, x, &x_id, &new_key);
    let x_arn = format!("arn:aws:iam::{acct}:user/{x}");
    let b = Attacker { ident: &x_ident, arn: &x_arn, ..a };
    out.stage("new_access_key_used", &new_key);
    out.emit(&b.call(t, "sts", "GetCallerIdentity", "us-east-1"));
    t += out.rng.random_range(3 * SECOND..20 * SECOND);
    out.emit(&b.call(t, "s3", "ListBuckets", "us-east-1").req("{\"Host\":\"s3.amazonaws.com\"}"));
    const MORE: [(&str, &str, bool); 4] = [
        ("iam", "GetAccountSummary", true),
        ("ec2", "DescribeInstances", false),
        ("iam", "ListUsers", true),
        ("secretsmanager", "ListSecrets", false),
    ];
    let first = out.rng.random_range(0..MORE.len());
    for i in 0..out.rng.random_range(1..=2usize) {
        let (svc, name, global) = MORE[(first + i) % MORE.len()];
        t += out.rng.random_range(10 * SECOND..50 * SECOND);
        let c = b.call(t, svc, name, if global { "us-east-1" } else { u.region });
        out.emit(&if svc == "ec2" { c.req("{\"instancesSet\":{},\"filterSet\":{}}") } else { c });
    }
    Planned::Done(Victim { actor_key: u.key.clone(), account: acct.to_string() })
}
