//! `stolen_instance_credentials`: the instance-profile session of a running EC2 instance
//! (`assumed-role/<role>/i-...`, `sessionContext.ec2RoleDelivery` `"2.0"`), which the
//! instance keeps using from its NAT gateway and (for S3, through the VPC endpoint) its
//! private address, is used with the same `ASIA` key from an attacker's public address (a
//! VPS, or a quarter of the time an EC2 instance in the attacker's own AWS account, see
//! [`super::attacker_source`]) over 1–3 minutes: `GetCallerIdentity`, `ListBuckets`,
//! `DescribeInstances`, and one IAM write, `CreateUser` (no access key or login profile
//! follows). One label, `workload_credential_misuse`.

use rand::Rng as _;

use super::{attacker_source, live_sessions, pick_fresh, Attacker, ScenarioDef, Victim, RETRY, UA_KALI_CLI};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::unique_id;
use crate::json::{iam_date_string, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef =
    ScenarioDef { name: "stolen_instance_credentials", rules: &["workload_credential_misuse"], plan };

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    // Not the data-sync host: the others also reach S3 from their private address.
    let live = live_sessions(cx, &est.instances, 50 * MINUTE, |s| !s.arn.contains(":assumed-role/data-sync-role/"));
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 5 + 11, |i| est.instances[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.instances[pick];
    let acct = est.id(s.account);
    let ip = attacker_source(out.rng, est);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_KALI_CLI };
    let step = |t: &mut i64, out: &mut ScenarioOut<'_>| *t += out.rng.random_range(5 * SECOND..40 * SECOND);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", s.region));
    step(&mut t, out);
    out.emit(&a.call(t, "s3", "ListBuckets", "us-east-1").req("{\"Host\":\"s3.amazonaws.com\"}"));
    step(&mut t, out);
    out.emit(&a.call(t, "ec2", "DescribeInstances", s.region).req("{\"instancesSet\":{},\"filterSet\":{}}"));
    step(&mut t, out);
    let name = ["support-user", "ec2-maintenance", "backup-operator"][out.rng.random_range(0..3)];
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", name).end();
    let user_id = unique_id(out.rng, "AIDA");
    Obj::new(&mut resp)
        .obj("user", |u| {
            u.str("path", "/")
                .str("userName", name)
                .str("userId", &user_id)
                .str("arn", &format!("arn:aws:iam::{acct}:user/{name}"))
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&a.call(t, "iam", "CreateUser", "us-east-1").req(&req).resp(&resp));
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
