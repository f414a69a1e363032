//! `enum_regions`: a stolen CI/CD session (`ASIA` key of a GitHub Actions role session, still
//! valid) used from outside to call `DescribeInstances` (and a few `DescribeVpcs`) in 12–17
//! regions within 20 s.

use rand::Rng as _;

use super::{attacker_ip, live_sessions, pick_fresh, shuffled, ScenarioDef, Victim, RETRY};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::REGIONS;
use crate::event::Call;
use trailhound_model::time::{MINUTE, SECOND};

/// The attacker's user agent.
pub(crate) const UA: &str =
    "aws-cli/2.13.0 Python/3.11.4 Darwin/23.0.0 exe/x86_64 prompt/off command/ec2.describe-instances";

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "enum_regions", rules: &["enumeration_burst"], plan };

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let (est, now, k) = (cx.est, cx.now, cx.k);
    // Sessions issued at least a minute ago and still well within their hour.
    let live = live_sessions(cx, &est.ci, 50 * MINUTE, |_| true);
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, k as usize, |i| est.ci[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.ci[pick];
    let acct = est.id(s.account);
    let ip = attacker_ip(out.rng);
    let n = out.rng.random_range(12..=17usize);
    let regions = shuffled(out.rng, &REGIONS);
    let span = out.rng.random_range(10 * SECOND..19 * SECOND);
    let gap = span / n as i64;
    let mut vpcs = out.rng.random_range(2..=4usize);
    let mut t = now + out.rng.random_range(5 * SECOND..60 * SECOND);
    for (i, region) in regions[..n].iter().enumerate() {
        out.emit(
            &Call::new(t, &s.ident, "ec2", "DescribeInstances", region, &ip, UA, acct)
                .req("{\"instancesSet\":{},\"filterSet\":{}}"),
        );
        if vpcs > 0 && (i % 4 == 1 || n - i <= vpcs) {
            vpcs -= 1;
            let tv = t + out.rng.random_range(100..400);
            out.emit(
                &Call::new(tv, &s.ident, "ec2", "DescribeVpcs", region, &ip, UA, acct)
                    .req("{\"vpcSet\":{},\"filterSet\":{}}"),
            );
        }
        t += out.rng.random_range(gap * 3 / 4..gap * 5 / 4);
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
