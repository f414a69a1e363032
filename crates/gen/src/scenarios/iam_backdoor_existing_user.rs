//! `iam_backdoor_existing_user`: a stolen CI/CD session of the `gha-deploy` role (which never
//! touches IAM otherwise) plants credentials on existing IAM users of people: from the
//! attacker's address within a minute or two, `GetCallerIdentity`, `ListUsers`,
//! `CreateAccessKey` for one existing user (e.g. `alice`; the response carries the new `AKIA`
//! id, which is never used afterwards) and `UpdateLoginProfile` (a new console password) for
//! another. One label, `iam_backdoor_credentials`.

use rand::Rng as _;

use super::{attacker_ip, live_sessions, pick_fresh, sample, Attacker, ScenarioDef, Victim, RETRY, UA_VPS_CLI};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{user_key, PEOPLE_USERS};
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef =
    ScenarioDef { name: "iam_backdoor_existing_user", rules: &["iam_backdoor_credentials"], plan };

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let live = live_sessions(cx, &est.ci, 40 * MINUTE, |s| s.arn.contains(":assumed-role/gha-deploy/"));
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 3 + 1, |i| est.ci[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.ci[pick];
    let acct = est.id(s.account);
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_VPS_CLI };
    let targets = sample(out.rng, &PEOPLE_USERS, 2);
    let (key_user, pw_user) = (targets[0], targets[1]);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", s.region));
    t += out.rng.random_range(2 * SECOND..10 * SECOND);
    out.emit(&a.call(t, "iam", "ListUsers", "us-east-1").req("{\"maxItems\":100}"));
    t += out.rng.random_range(10 * SECOND..40 * SECOND);
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", key_user).end();
    let new_key = user_key(out.rng);
    Obj::new(&mut resp)
        .obj("accessKey", |k| {
            k.str("userName", key_user)
                .str("accessKeyId", &new_key)
                .str("status", "Active")
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateAccessKey", "us-east-1").req(&req).resp(&resp));
    t += out.rng.random_range(5 * SECOND..30 * SECOND);
    Obj::new(&mut req).str("userName", pw_user).end();
    out.emit(&a.call(t, "iam", "UpdateLoginProfile", "us-east-1").req(&req));
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
