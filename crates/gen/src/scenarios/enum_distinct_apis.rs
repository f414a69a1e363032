//! `enum_distinct_apis`: a stolen `AKIA` key of an existing programmatic user, used from a
//! new address with a different user agent: `GetCallerIdentity`, then 25–40 distinct
//! `List*`/`Describe*`/`Get*` calls across many services within ~20 s, some denied.

use rand::Rng as _;

use super::{attacker_ip, denied, pick_fresh, shuffled, ScenarioDef, Victim, RECON, RETRY};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::event::Call;
use trailhound_model::time::SECOND;

/// Attacker user agents (Kali's AWS CLI, Pacu's boto3).
pub(crate) const UAS: [&str; 2] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off",
    "Boto3/1.34.2 md/Botocore#1.34.2 ua/2.0 os/linux#6.6.9-amd64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.2",
];

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "enum_distinct_apis", rules: &["enumeration_burst"], plan };

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let (est, now, k) = (cx.est, cx.now, cx.k);
    if est.users.is_empty() {
        return Planned::NotYet;
    }
    let all: Vec<usize> = (0..est.users.len()).collect();
    let Some(pick) = pick_fresh(cx, &all, k as usize * 4 + 1, |i| est.users[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let u = &est.users[pick];
    let acct = est.id(u.account);
    let arn = format!("arn:aws:iam::{acct}:user/{}", u.name);
    let ip = attacker_ip(out.rng);
    let ua = UAS[out.rng.random_range(0..UAS.len())];
    let mut t = now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&Call::new(t, &u.ident, "sts", "GetCallerIdentity", u.region, &ip, ua, acct));
    let n = out.rng.random_range(25..=40usize);
    let apis = shuffled(out.rng, &RECON);
    let span = out.rng.random_range(12 * SECOND..19 * SECOND);
    let gap = span / n as i64;
    t += out.rng.random_range(300..1000);
    for (i, &(svc, name, global)) in apis[..n].iter().enumerate() {
        let region = if global { "us-east-1" } else { u.region };
        // About a third denied, and always a few.
        let deny = i % 9 == 4 || out.rng.random_bool(0.25);
        let c = Call::new(t, &u.ident, svc, name, region, &ip, ua, acct);
        if deny {
            let (code, msg) = denied(out.rng, svc, name, &arn);
            out.emit(&c.err(code, &msg));
        } else {
            out.emit(&c);
        }
        t += out.rng.random_range(gap / 2..gap * 3 / 2);
    }
    Planned::Done(Victim { actor_key: u.key.clone(), account: acct.to_string() })
}
