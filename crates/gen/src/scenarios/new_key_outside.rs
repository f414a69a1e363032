//! `new_key_outside`: an attacker with a foothold on the host of a programmatic user (the
//! backup job, whose user rotates its own key daily from there) creates a second access key
//! for that user, exactly as the job's own rotation does, and uses it from his own machine
//! minutes later.
//!
//! `CreateAccessKey` (`userName` = the user itself; the response's `accessKey.accessKeyId` is
//! the new `AKIA` id) with the user's current key, from the job's own address (the account's
//! NAT gateway) and user agent; no `DeleteAccessKey` follows, and the job keeps calling with
//! its old key. 2–10 minutes later the new key, as the same IAM user, from an attacker address
//! ([`super::attacker_source`]) with a laptop user agent ([`super::Laptop`]):
//! `GetCallerIdentity`, `ListBuckets`, then one or two of `DescribeInstances`,
//! `ListSecrets`, `GetAccountSummary`, 10–60 s apart.
//!
//! One label, `new_access_key_used`, actor the **new** key; its events are the
//! `CreateAccessKey` (made with the creator's key) and the new key's calls.

use rand::Rng as _;

use super::{attacker_source, laptop_first_uses, pick_fresh, Laptop, ScenarioDef, Victim, RETRY};
use crate::background::users::UA_BACKUP;
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::user_key;
use crate::event::Call;
use crate::identity::iam_user;
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "new_key_outside", rules: &["new_access_key_used"], plan };

/// The user whose host the attacker is on.
const CREATOR: &str = "backup-job";

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let cands: Vec<usize> = (0..est.users.len()).filter(|&i| est.users[i].name == CREATOR).collect();
    if cands.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &cands, cx.k as usize, |i| est.users[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let u = &est.users[pick];
    let account = &est.accounts[u.account];
    let acct = account.id.as_str();
    let new_key = user_key(out.rng);
    out.stage("new_access_key_used", &new_key);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", &u.name).end();
    Obj::new(&mut resp)
        .obj("accessKey", |k| {
            k.str("userName", &u.name)
                .str("accessKeyId", &new_key)
                .str("status", "Active")
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(
        &Call::new(t, &u.ident, "iam", "CreateAccessKey", "us-east-1", &account.nat_ip, UA_BACKUP, acct)
            .req(&req)
            .resp(&resp),
    );

    // The new key, from the attacker's machine.
    t += out.rng.random_range(2 * MINUTE..10 * MINUTE);
    let ident = iam_user(acct, &u.name, &u.pid, &new_key);
    let ip = attacker_source(out.rng, est);
    let laptop = Laptop::pick(out.rng);
    const MORE: [(&str, &str, bool); 3] = [
        ("ec2", "DescribeInstances", false),
        ("secretsmanager", "ListSecrets", false),
        ("iam", "GetAccountSummary", true),
    ];
    laptop_first_uses(out, laptop, &ident, acct, u.region, &ip, t, &MORE, 60 * SECOND);
    Planned::Done(Victim { actor_key: new_key, account: acct.to_string() })
}
