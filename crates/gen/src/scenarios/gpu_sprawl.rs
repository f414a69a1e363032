//! `gpu_sprawl`: a stolen CI/CD session (`ASIA` key of a GitHub Actions role session) used
//! from the attacker's address to launch GPU instances for mining in as many regions as the
//! quotas allow, and to keep them from being terminated.
//!
//! 1. `enumeration_burst`: `GetCallerIdentity`, then 8–12 distinct EC2/IAM recon calls in
//!    5–8 s (one or two denied).
//! 2. `instance_sprawl`: 20–60 s later, in each of 4–6 regions, `ListServiceQuotas`
//!    (`serviceCode` `ec2`) and `GetServiceQuota` for `L-417A185B` (P instances) and
//!    `L-DB2E81BA` (G and VT instances); then, within ~5 minutes, 2–4 `RunInstances` per
//!    region (`instanceType` `p3.2xlarge`, `g5.12xlarge`, `p4d.24xlarge`, `g4dn.2xlarge`,
//!    `g5.xlarge`; `minCount` 1, `maxCount` 10–20; `userData` redacted), most failing with
//!    `Client.VcpuLimitExceeded` or `Client.InstanceLimitExceeded`; in one or two regions
//!    the last attempt succeeds (the response lists the instances launched).
//! 3. `termination_protection`: right after each success, `ModifyInstanceAttribute` per
//!    launched instance with `disableApiTermination` `{"value":true}`.
//!
//! Plus `attack_chain` spanning all of it; every stage's actor is the stolen session key.

use rand::Rng as _;

use super::{
    attacker_ip, live_sessions, pick_fresh, recon_burst, sample, Attacker, Recon, ScenarioDef, Victim, RETRY,
    UA_BOTO_SCRIPT,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::REGIONS;
use crate::json::{hex, uuid, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef {
    name: "gpu_sprawl",
    rules: &["enumeration_burst", "instance_sprawl", "termination_protection", "attack_chain"],
    plan,
};

/// What the attacker looks at first.
const RECON_POOL: [Recon; 10] = [
    ("ec2", "DescribeRegions", false),
    ("ec2", "DescribeInstanceTypeOfferings", false),
    ("ec2", "DescribeImages", false),
    ("ec2", "DescribeSubnets", false),
    ("ec2", "DescribeSecurityGroups", false),
    ("ec2", "DescribeKeyPairs", false),
    ("ec2", "DescribeAccountAttributes", false),
    ("ec2", "DescribeInstances", false),
    ("ec2", "DescribeVpcs", false),
    ("iam", "GetAccountSummary", true),
];

/// GPU instance types tried, largest first; the last two are the ones that may fit a quota.
const TYPES: [&str; 5] = ["p4d.24xlarge", "g5.12xlarge", "p3.2xlarge", "g4dn.2xlarge", "g5.xlarge"];

/// The `errorMessage` of a `RunInstances` refused for quota (`Client.VcpuLimitExceeded` or
/// `Client.InstanceLimitExceeded`).
pub(crate) fn quota_error(vcpu: bool, requested: u32, limit: u32) -> (&'static str, String) {
    if vcpu {
        ("Client.VcpuLimitExceeded", format!("You have requested more vCPU capacity than your current vCPU limit of {limit} allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."))
    } else {
        ("Client.InstanceLimitExceeded", format!("You have requested more instances ({requested}) than your current instance limit of {limit} allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."))
    }
}

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let live = live_sessions(cx, &est.ci, 40 * MINUTE, |_| true);
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 3 + 2, |i| est.ci[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.ci[pick];
    let acct = est.id(s.account);
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_BOTO_SCRIPT };

    out.stage("enumeration_burst", &s.key);
    let t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    let n = out.rng.random_range(8..=12usize);
    let mut t = recon_burst(out, &a, s.region, t, &RECON_POOL, n);

    out.stage("instance_sprawl", &s.key);
    let n_regions = out.rng.random_range(4..=6usize);
    let regions = sample(out.rng, &REGIONS, n_regions);
    t += out.rng.random_range(20 * SECOND..60 * SECOND);
    for region in &regions {
        out.emit(
            &a.call(t, "servicequotas", "ListServiceQuotas", region)
                .req("{\"serviceCode\":\"ec2\",\"maxResults\":100}"),
        );
        for code in ["L-417A185B", "L-DB2E81BA"] {
            t += out.rng.random_range(300..1_800);
            let req = format!("{{\"serviceCode\":\"ec2\",\"quotaCode\":\"{code}\"}}");
            out.emit(&a.call(t, "servicequotas", "GetServiceQuota", region).req(&req));
        }
        t += out.rng.random_range(2 * SECOND..6 * SECOND);
    }

    // Launch attempts, region by region, within about five minutes.
    let attempts: Vec<usize> = regions.iter().map(|_| out.rng.random_range(2..=4usize)).collect();
    let total: usize = attempts.iter().sum();
    let gap = out.rng.random_range(4 * MINUTE..5 * MINUTE) / total as i64;
    let n_winners = out.rng.random_range(1..=2usize);
    let winners = sample(out.rng, &(0..regions.len()).collect::<Vec<_>>(), n_winners);
    t += out.rng.random_range(10 * SECOND..40 * SECOND);
    for (ri, region) in regions.iter().enumerate() {
        let ami = format!("ami-{}", hex(out.rng, 17));
        let limit = [0u32, 8, 32, 64][out.rng.random_range(0..4)];
        for i in 0..attempts[ri] {
            let success = winners.contains(&ri) && i + 1 == attempts[ri];
            let itype = if success {
                TYPES[3 + out.rng.random_range(0..2)]
            } else {
                TYPES[(i + out.rng.random_range(0..2)) % 3]
            };
            let max = out.rng.random_range(10..=20u32);
            let mut req = String::new();
            Obj::new(&mut req)
                .raw(
                    "instancesSet",
                    &format!("{{\"items\":[{{\"imageId\":\"{ami}\",\"minCount\":1,\"maxCount\":{max}}}]}}"),
                )
                .str("userData", "<sensitiveDataRemoved>")
                .str("instanceType", itype)
                .raw("blockDeviceMapping", "{}")
                .raw("monitoring", "{\"enabled\":false}")
                .bool("disableApiTermination", false)
                .bool("disableApiStop", false)
                .str("clientToken", &uuid(out.rng))
                .end();
            let c = a.call(t, "ec2", "RunInstances", region).req(&req);
            if !success {
                let (code, msg) = quota_error(out.rng.random_bool(0.7), max, limit);
                out.emit(&c.err(code, &msg));
                t += out.rng.random_range(gap * 3 / 4..gap * 5 / 4);
                continue;
            }
            let launched = out.rng.random_range(max / 2..=max);
            let az = format!("{region}{}", ["a", "b", "c"][out.rng.random_range(0..3)]);
            let ids: Vec<String> = (0..launched).map(|_| format!("i-{}", hex(out.rng, 17))).collect();
            let mut items = String::new();
            for (j, id) in ids.iter().enumerate() {
                if j > 0 {
                    items.push(',');
                }
                items.push_str(&format!(
                    "{{\"instanceId\":\"{id}\",\"imageId\":\"{ami}\",\"instanceState\":{{\"code\":0,\"name\":\"pending\"}},\"instanceType\":\"{itype}\",\"placement\":{{\"availabilityZone\":\"{az}\"}},\"amiLaunchIndex\":{j}}}"
                ));
            }
            let mut resp = String::new();
            Obj::new(&mut resp)
                .str("requestId", &uuid(out.rng))
                .str("reservationId", &format!("r-{}", hex(out.rng, 17)))
                .str("ownerId", acct)
                .raw("groupSet", "{}")
                .raw("instancesSet", &format!("{{\"items\":[{items}]}}"))
                .end();
            out.emit(&c.resp(&resp));

            out.stage("termination_protection", &s.key);
            t += out.rng.random_range(SECOND..4 * SECOND);
            for id in &ids {
                Obj::new(&mut req).str("instanceId", id).obj("disableApiTermination", |o| o.bool("value", true)).end();
                Obj::new(&mut resp).str("requestId", &uuid(out.rng)).bool("_return", true).end();
                out.emit(&a.call(t, "ec2", "ModifyInstanceAttribute", region).req(&req).resp(&resp));
                t += out.rng.random_range(150..700);
            }
            out.stage("instance_sprawl", &s.key);
            t += out.rng.random_range(gap / 2..gap);
        }
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
