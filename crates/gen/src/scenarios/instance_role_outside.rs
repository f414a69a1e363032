//! `instance_role_outside`: the instance-profile session of a running EC2 instance
//! (`assumed-role/<role>/i-...`, `sessionContext.ec2RoleDelivery` `"2.0"`), which the instance
//! keeps using from its NAT gateway with its own SDK and agent user agents, is used by an
//! attacker a few seconds after one of the instance's own calls, for one to four calls only:
//! the detector must judge the very first one.
//!
//! The instance's own call (unlabelled, written by the scenario so its place is known): its
//! SSM agent's `UpdateInstanceInformation` (`instanceId` = the session name) from the
//! account's NAT gateway address with the agent's user agent (`aws-sdk-go/... amazon-ssm-agent/...`).
//! 2–15 s later the attacker's first call, `GetCallerIdentity` with the same `ASIA` key, then
//! (5–40 s apart) `ListBuckets`, `DescribeInstances`, `ListRoles`, as far as the 1–4 calls go.
//! Variants (drawn per instance):
//!
//! * **outside**: from an attacker address ([`super::attacker_source`]: a VPS, or a quarter
//!   of the time an EC2 instance of another AWS account) with a laptop user agent
//!   ([`super::Laptop`]: the AWS CLI on macOS naming each command, or boto3 on Windows);
//! * **same address**: from the instance's own NAT gateway address (as logs show when the
//!   address is anonymised or the attacker's calls leave through the same egress), with a
//!   laptop user agent: only the user agent's flip from the instance's SDK/agent to a
//!   laptop's CLI tells;
//! * **forged agent**: from an attacker address with the instance's own agent user agent
//!   copied: only the address tells.
//!
//! One label, `workload_credential_misuse`, actor the session key; the instance's own call is
//! in no label.

use rand::Rng as _;

use super::{attacker_source, live_sessions, pick_fresh, Laptop, ScenarioDef, Victim, RETRY};
use crate::background::workload::UA_SSM;
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::event::Call;
use crate::json::Obj;
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef =
    ScenarioDef { name: "instance_role_outside", rules: &["workload_credential_misuse"], plan };

/// How the attacker's calls differ from the instance's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// Another address and a laptop user agent.
    Outside,
    /// The instance's own address, a laptop user agent.
    SameAddress,
    /// Another address, the instance's agent user agent.
    ForgedAgent,
}

/// The attacker's calls, in order: (service, name, global).
const CALLS: [(&str, &str, bool); 4] = [
    ("sts", "GetCallerIdentity", false),
    ("s3", "ListBuckets", true),
    ("ec2", "DescribeInstances", false),
    ("iam", "ListRoles", true),
];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    // Sessions at most 40 minutes old, so the instance keeps the key (it rotates hourly) for
    // the minutes the attack lasts; not the data-sync host, which calls seldom.
    let live = live_sessions(cx, &est.instances, 40 * MINUTE, |s| !s.arn.contains(":assumed-role/data-sync-role/"));
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 7 + 3, |i| est.instances[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.instances[pick];
    let account = &est.accounts[s.account];
    let acct = account.id.as_str();
    let instance = s.arn.rsplit('/').next().unwrap_or_default();
    let variant = [Variant::Outside, Variant::SameAddress, Variant::ForgedAgent][out.rng.random_range(0..3)];

    // The instance's own call.
    let mut t = cx.now + out.rng.random_range(5 * SECOND..30 * SECOND);
    let mut req = String::new();
    Obj::new(&mut req)
        .str("instanceId", instance)
        .str("agentVersion", "3.3.987.0")
        .str("agentStatus", "Active")
        .str("platformType", "Linux")
        .str("platformName", "Amazon Linux")
        .str("platformVersion", "2023")
        .str("agentName", "amazon-ssm-agent")
        .end();
    out.emit_benign(
        &Call::new(t, &s.ident, "ssm", "UpdateInstanceInformation", s.region, &account.nat_ip, UA_SSM, acct).req(&req),
    );

    // The attacker, seconds later.
    let ip = match variant {
        Variant::SameAddress => account.nat_ip.clone(),
        Variant::Outside | Variant::ForgedAgent => attacker_source(out.rng, est),
    };
    let laptop = Laptop::pick(out.rng);
    let n = out.rng.random_range(1..=CALLS.len());
    t += out.rng.random_range(2 * SECOND..15 * SECOND);
    for (i, &(svc, name, global)) in CALLS[..n].iter().enumerate() {
        if i > 0 {
            t += out.rng.random_range(5 * SECOND..40 * SECOND);
        }
        let ua = match variant {
            Variant::ForgedAgent => UA_SSM.to_string(),
            Variant::Outside | Variant::SameAddress => laptop.ua(svc, name),
        };
        let region = if global { "us-east-1" } else { s.region };
        let c = Call::new(t, &s.ident, svc, name, region, &ip, &ua, acct);
        out.emit(&match name {
            "ListBuckets" => c.req("{\"Host\":\"s3.amazonaws.com\"}"),
            "DescribeInstances" => c.req("{\"instancesSet\":{},\"filterSet\":{}}"),
            _ => c,
        });
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
