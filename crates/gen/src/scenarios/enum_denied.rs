//! `enum_denied`: a stolen EC2 instance-role session used from outside, brute-forcing its
//! permissions the way enumerate-iam does: `GetCallerIdentity`, then 20–40 recon calls that
//! all fail (`AccessDenied*`, `Client.UnauthorizedOperation` for EC2) over 3–6 minutes, at
//! least 3.4 s apart, so any 10 s holds at most 3 distinct APIs: only a denied-count
//! condition catches it.

use rand::Rng as _;

use super::{attacker_ip, denied, pick_fresh, shuffled, ScenarioDef, Victim, RECON, RETRY};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::event::Call;
use trailhound_model::time::{MINUTE, SECOND};

/// The attacker's user agent (enumerate-iam's boto3).
pub(crate) const UA: &str = "Boto3/1.26.137 Python/3.10.12 Linux/5.15.0-1040-aws Botocore/1.29.137";

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "enum_denied", rules: &["enumeration_burst"], plan };

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let (est, now, k) = (cx.est, cx.now, cx.k);
    let mut live: Vec<usize> = (0..est.instances.len()).filter(|&i| est.instances[i].created <= now - MINUTE).collect();
    if live.is_empty() {
        live = (0..est.instances.len()).collect();
        if live.is_empty() {
            return Planned::NotYet;
        }
    }
    let Some(pick) = pick_fresh(cx, &live, k as usize * 5 + 2, |i| est.instances[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.instances[pick];
    let acct = est.id(s.account);
    let ip = attacker_ip(out.rng);
    let n = out.rng.random_range(20..=40usize);
    let dur = out.rng.random_range(3 * MINUTE..6 * MINUTE) - 10 * SECOND;
    let gap = dur / n as i64;
    let apis = shuffled(out.rng, &RECON);
    let mut t = now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&Call::new(t, &s.ident, "sts", "GetCallerIdentity", s.region, &ip, UA, acct));
    for i in 0..n {
        t += out.rng.random_range(gap * 3 / 4..gap * 5 / 4).max(3_400);
        let (svc, name, global) = apis[i % apis.len()];
        let region = if global { "us-east-1" } else { s.region };
        let (code, msg) = denied(out.rng, svc, name, &s.arn);
        out.emit(&Call::new(t, &s.ident, svc, name, region, &ip, UA, acct).err(code, &msg));
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
