//! Account owners' own scripts: a boto3 loop on an owner's laptop, with the owner's IAM
//! user `AKIA` key, that audits IAM and CloudTrail every few seconds for long stretches
//! (20 min–2 h, a few times a day): `ListUsers`, `ListAccessKeys` and `GetAccessKeyLastUsed`
//! of a few users, `LookupEvents` pages, `DescribeTrails`, `GetTrailStatus`, and every tenth
//! round `GetAccountAuthorizationDetails` (paged) with the credential report.

use rand::Rng as _;

use super::{exp, uni};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, unique_id, user_key, Estate, PROD};
use crate::event::Call;
use crate::identity::iam_user;
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// User agent of the owners' audit scripts.
pub(crate) const UA_OWNER: &str = "Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.54";

const USERS: [&str; 8] =
    ["backup-job", "legacy-reporting", "jenkins-legacy", "s3-sync", "alice", "bob", "breakglass-admin", "ops-oncall"];

/// One owner's audit loop.
pub(crate) struct OwnerScript {
    account: usize,
    ident: String,
    ip: String,
    active_until: i64,
    round: u32,
    gap_mean: f64,
}

impl Source for OwnerScript {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if now >= self.active_until {
            let start = now + 30 * MINUTE + exp(cx.rng, self.gap_mean);
            self.active_until = start + uni(cx.rng, 20 * MINUTE, 2 * HOUR);
            self.round = 0;
            return start;
        }
        let acct = cx.est.id(self.account).to_string();
        let region = cx.est.accounts[self.account].region;
        let (em, rng) = (&mut *cx.em, &mut *cx.rng);
        let (ident, ip) = (self.ident.as_str(), self.ip.as_str());
        let c = |t: i64, svc: &'static str, name: &'static str, region: &'static str| {
            Call::new(t, ident, svc, name, region, ip, UA_OWNER, &acct)
        };
        let mut t = now;
        let step = |t: &mut i64, rng: &mut Rng| *t += uni(rng, 80, 700);
        em.bg(&c(t, "iam", "ListUsers", "us-east-1").req("{\"maxItems\":100}"), rng);
        for _ in 0..rng.random_range(1..=3) {
            step(&mut t, rng);
            let req = format!("{{\"userName\":\"{}\"}}", USERS[rng.random_range(0..USERS.len())]);
            em.bg(&c(t, "iam", "ListAccessKeys", "us-east-1").req(&req), rng);
            if rng.random_bool(0.4) {
                step(&mut t, rng);
                let req = format!("{{\"accessKeyId\":\"{}\"}}", user_key(rng));
                em.bg(&c(t, "iam", "GetAccessKeyLastUsed", "us-east-1").req(&req), rng);
            }
        }
        for _ in 0..rng.random_range(1..=2) {
            step(&mut t, rng);
            let attr =
                ["ConsoleLogin", "CreateAccessKey", "CreateUser", "StopLogging", "AssumeRole"][rng.random_range(0..5)];
            let req = format!(
                "{{\"lookupAttributes\":[{{\"attributeKey\":\"EventName\",\"attributeValue\":\"{attr}\"}}],\"maxResults\":50}}"
            );
            em.bg(&c(t, "cloudtrail", "LookupEvents", region).req(&req), rng);
        }
        if self.round.is_multiple_of(3) {
            step(&mut t, rng);
            em.bg(&c(t, "cloudtrail", "DescribeTrails", region).req("{\"includeShadowTrails\":true}"), rng);
            step(&mut t, rng);
            em.bg(&c(t, "cloudtrail", "GetTrailStatus", region).req("{\"name\":\"org-trail\"}"), rng);
        }
        if self.round.is_multiple_of(10) {
            for _ in 0..rng.random_range(2..=4) {
                step(&mut t, rng);
                em.bg(
                    &c(t, "iam", "GetAccountAuthorizationDetails", "us-east-1")
                        .req("{\"filter\":[\"User\",\"Role\",\"Group\"]}"),
                    rng,
                );
            }
            step(&mut t, rng);
            em.bg(&c(t, "iam", "GetCredentialReport", "us-east-1"), rng);
        }
        self.round += 1;
        t + uni(rng, 2 * SECOND, 8 * SECOND)
    }
}

/// Creates the owners' scripts (management and production accounts).
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    for (account, name) in [(0usize, "owner-admin"), (PROD, "cloud-owner")] {
        let acct = est.id(account).to_string();
        let ident = iam_user(&acct, name, &unique_id(rng, "AIDA"), &user_key(rng));
        let first = start + uni(rng, 5 * MINUTE, 2 * HOUR);
        let src = OwnerScript {
            account,
            ident,
            ip: public_ip(rng, &[24, 73, 81, 86, 92, 174]),
            active_until: first + uni(rng, 20 * MINUTE, 2 * HOUR),
            round: 0,
            gap_mean: 8.0 * HOUR as f64,
        };
        out.push((first, Box::new(src)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::tests::{run_sources, time};

    #[test]
    fn an_owner_script_reads_iam_and_cloudtrail_every_few_seconds_for_long_stretches() {
        let events = run_sources(build, 30 * HOUR);
        let mine: Vec<(i64, &serde_json::Value)> =
            events.iter().filter(|e| e["userIdentity"]["userName"] == "owner-admin").map(|e| (time(e), e)).collect();
        assert!(mine
            .iter()
            .all(|(_, e)| e["userIdentity"]["accessKeyId"].as_str().is_some_and(|k| k.starts_with("AKIA"))));
        // Stretches: runs of calls with gaps under a minute.
        let mut stretches = Vec::new();
        let mut first = mine[0].0;
        for w in mine.windows(2) {
            if w[1].0 - w[0].0 > MINUTE {
                stretches.push(w[0].0 - first);
                first = w[1].0;
            }
        }
        assert!(stretches.len() >= 2, "{} stretches", stretches.len());
        assert!(stretches.iter().any(|d| *d >= 20 * MINUTE - 10 * SECOND), "{stretches:?}");
        for name in [
            "ListUsers",
            "ListAccessKeys",
            "LookupEvents",
            "DescribeTrails",
            "GetTrailStatus",
            "GetAccountAuthorizationDetails",
        ] {
            assert!(mine.iter().any(|(_, e)| e["eventName"] == name), "no {name}");
        }
    }
}
