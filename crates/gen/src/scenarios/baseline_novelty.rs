//! `baseline_novelty`: a live session of a `gha-terraform` CI/CD role, a role that has run
//! Terraform (from GitHub runner addresses, with Terraform's Go SDK user agent, in its
//! account's home region and `us-east-1`) for the whole run, is used from a new network
//! (an attacker's address), with a new user-agent family (boto3) and in a region the role
//! never used: `GetCallerIdentity` and `DescribeVpcs` in that region, then one IAM write it
//! also makes legitimately, `PutRolePolicy` (an S3 read/write policy, no wildcard action) on
//! an existing workload role. One label, `identity_baseline`.
//!
//! `identity_baseline` needs at least 7 days of history, so this scenario is only injected
//! when the run spans 8 days or more (judged from the time taken by the events so far; at
//! the default estate's ~44k events per simulated hour, about 8.5M events): each instance is
//! postponed to between 7 days 1 hour after the start and 12 hours before the expected end,
//! at most four instances per run. Shorter runs write no event and no label for it.

use super::{attacker_ip, live_sessions, pick_fresh, Attacker, ScenarioDef, Victim, RETRY, UA_BOTO_SCRIPT};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{REGIONS, SHARED};
use crate::json::Obj;
use rand::Rng as _;
use trailhound_model::time::{DAY, HOUR, MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "baseline_novelty", rules: &["identity_baseline"], plan };

/// History the baseline needs before the novelty.
pub(crate) const LEARNING: i64 = 7 * DAY + HOUR;
/// Shortest run (simulated time) the scenario is injected in.
pub(crate) const MIN_SPAN: i64 = 8 * DAY;
/// Most instances per run.
const MAX_INSTANCES: u32 = 4;

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let elapsed = cx.now - cx.run.start_ms;
    if cx.k >= MAX_INSTANCES {
        return Planned::Skip;
    }
    if elapsed < LEARNING {
        if cx.force {
            return Planned::Skip;
        }
        let span = cx.run.span_estimate(cx.now);
        if span < MIN_SPAN {
            return Planned::Skip;
        }
        let (lo, hi) = (cx.run.start_ms + LEARNING, cx.run.start_ms + span - 12 * HOUR);
        if hi <= lo {
            return Planned::Skip;
        }
        let slots = cx.run.per.min(u64::from(MAX_INSTANCES)) as i64;
        return Planned::Retry(lo + (hi - lo) * (2 * i64::from(cx.k) + 1) / (2 * slots));
    }
    let est = cx.est;
    let live = live_sessions(cx, &est.ci, 40 * MINUTE, |s| s.arn.contains(":assumed-role/gha-terraform/"));
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize, |i| est.ci[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.ci[pick];
    let acct = est.id(s.account);
    let home = est.accounts[s.account].region;
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_BOTO_SCRIPT };
    // A region no pipeline of the estate works in.
    let fresh: Vec<&str> =
        REGIONS.iter().copied().filter(|r| !["us-east-1", "us-east-2", "eu-west-1", home].contains(r)).collect();
    let region = fresh[out.rng.random_range(0..fresh.len())];
    let role = if s.account == SHARED { "tooling-role" } else { "orders-ingest-role" };

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", region));
    t += out.rng.random_range(3 * SECOND..20 * SECOND);
    out.emit(&a.call(t, "ec2", "DescribeVpcs", region).req("{\"vpcSet\":{},\"filterSet\":{}}"));
    t += out.rng.random_range(10 * SECOND..60 * SECOND);
    let mut req = String::new();
    Obj::new(&mut req)
        .str("roleName", role)
        .str("policyName", "s3-export")
        .str("policyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:PutObject\",\"s3:ListBucket\"],\"Resource\":\"*\"}]}")
        .end();
    out.emit(&a.call(t, "iam", "PutRolePolicy", "us-east-1").req(&req));
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use serde_json::Value;
    use trailhound_model::time::days_from_civil;

    use super::*;
    use crate::engine::{Emitter, History, RunInfo};
    use crate::estate::Estate;
    use crate::scenarios::ATTACKER_OCTETS;
    use crate::Rng;

    #[test]
    fn waits_for_a_week_of_history_then_uses_a_terraform_session_from_new_places() {
        let start = days_from_civil(2026, 11, 2) * DAY;
        let mut rng = Rng::seed_from_u64(3);
        let mut est = Estate::new(&mut rng);
        let _sources = crate::background::build(&mut est, &mut rng, start);
        let now = start + 8 * DAY;
        for s in &mut est.ci {
            s.created = now - 10 * MINUTE;
        }
        let history = History::default();
        let (mut em, mut rng) = (Emitter::default(), Rng::seed_from_u64(4));
        let long = RunInfo { start_ms: start, events: 10_000_000, done: 1_000_000, per: 33 };
        let mut go = |now: i64, k: u32, force: bool, run: RunInfo| {
            let mut out = ScenarioOut::new(&mut em, &mut rng);
            plan(&PlanCx { est: &est, now, k, force, run, history: &history }, &mut out)
        };
        // A day into a 10-day run: postponed to between day 7 and the last 12 hours.
        match go(start + DAY, 0, false, long) {
            Planned::Retry(t) => assert!((start + LEARNING..=start + 10 * DAY - 12 * HOUR).contains(&t), "{t}"),
            other => panic!("{other:?}"),
        }
        // Runs shorter than 8 days, forced early plans and a fifth instance: never.
        let short = RunInfo { start_ms: start, events: 1_000_000, done: 500_000, per: 3 };
        assert!(matches!(go(start + 12 * HOUR, 0, false, short), Planned::Skip));
        assert!(matches!(go(start + DAY, 0, true, long), Planned::Skip));
        assert!(matches!(go(now, MAX_INSTANCES, false, long), Planned::Skip));
        // Due.
        let Planned::Done(victim) = go(now, 1, false, long) else { panic!("not injected") };
        let lines = em.drain();
        let evs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).expect("json")).collect();
        let names: Vec<&str> = evs.iter().map(|e| e["eventName"].as_str().unwrap_or("")).collect();
        assert_eq!(names, ["GetCallerIdentity", "DescribeVpcs", "PutRolePolicy"]);
        let region = evs[0]["awsRegion"].as_str().unwrap_or("");
        assert!(!["us-east-1", "us-east-2", "eu-west-1"].contains(&region));
        assert_eq!(evs[1]["awsRegion"], region);
        assert_eq!(evs[2]["awsRegion"], "us-east-1");
        for e in &evs {
            let ui = &e["userIdentity"];
            assert!(ui["arn"].as_str().is_some_and(|a| a.contains(":assumed-role/gha-terraform/")));
            assert_eq!(ui["accessKeyId"], victim.actor_key.as_str());
            assert!(e["userAgent"].as_str().is_some_and(|u| u.starts_with("Boto3/")));
            let ip = e["sourceIPAddress"].as_str().unwrap_or("");
            let first: u8 = ip.split('.').next().and_then(|o| o.parse().ok()).unwrap_or(0);
            assert!(ATTACKER_OCTETS.contains(&first));
        }
        let doc: Value =
            serde_json::from_str(evs[2]["requestParameters"]["policyDocument"].as_str().unwrap_or("")).expect("doc");
        assert_ne!(doc["Statement"][0]["Action"], "*");
    }
}
