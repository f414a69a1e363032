//! Benign background traffic: one [`Source`] per actor of the estate.
//!
//! | source | who | what |
//! |---|---|---|
//! | [`console`] | people (SSO permission sets, IAM users with passwords, root users) | `ConsoleLogin`, page loads of 8–27 distinct reads, dashboards fanning out over 10–17 regions, a few denied reads, laptop AWS CLI use, some IAM admin work |
//! | [`cicd`] | GitHub Actions via OIDC | `AssumeRoleWithWebIdentity`, Terraform plans/applies that create and delete IAM entities, deploys |
//! | [`iac`] | Terratest, PR environments, CDK (CI); Terraform, Pulumi, CDK, CloudFormation (laptops) | environments (trails, flow logs, IAM users with keys, roles, secrets, GuardDuty detectors, Config recorders, security groups) created, refreshed and destroyed minutes to hours later |
//! | [`scanner`] | CSPM vendors' cross-account roles | every 1–6 h, every service in all 17 regions within minutes, some denials |
//! | [`owner_script`] | account owners' boto3 loops with `AKIA` keys | IAM and CloudTrail reads every few seconds for long stretches |
//! | [`workload`] | EC2 instance roles, Lambda, ECS tasks | secrets/KMS/SSM reads, S3 data events, hourly session rotation |
//! | [`poller`] | inventory poller, CloudWatch exporter | slow region-by-region sweeps of a few read APIs |
//! | [`s3sync`] | sync jobs (IAM user and workload role) | bursts of S3 data events |
//! | [`users`] | programmatic IAM users with `AKIA` keys | backup job, legacy app, old Jenkins |
//! | [`services`] | AWS services | CloudTrail's KMS calls, EC2 Auto Scaling (incl. a 20-instance scale-out), service-linked roles of Config, Access Analyzer, Security Hub, Compute Optimizer, ELB, SSM and Trusted Advisor reading across regions |
//!
//! Rates (per simulated hour, of ~57k): workloads ~42k, console ~6–8k, scanners ~2.5k
//! (bursty), S3 sync and pollers ~5k, IaC ~1–2k, services ~1.5k, owners' scripts a few
//! hundred on average (thousands while one runs).

use rand::Rng as _;

use crate::engine::Source;
use crate::estate::Estate;
use crate::json::Obj;
use crate::Rng;

pub(crate) mod cicd;
pub(crate) mod console;
pub(crate) mod iac;
pub(crate) mod owner_script;
pub(crate) mod poller;
pub(crate) mod s3sync;
pub(crate) mod scanner;
pub(crate) mod services;
pub(crate) mod users;
pub(crate) mod workload;

/// Builds every background source with its first wake time, registering credentials in `est`.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64) -> Vec<(i64, Box<dyn Source>)> {
    let mut v: Vec<(i64, Box<dyn Source>)> = Vec::new();
    users::build(est, rng, start, &mut v);
    workload::build(est, rng, start, &mut v);
    s3sync::build(est, rng, start, &mut v);
    let operators = console::build(est, rng, start, &mut v);
    cicd::build(est, rng, start, &mut v);
    poller::build(est, rng, start, &mut v);
    services::build(est, rng, start, &mut v);
    iac::build(est, rng, start, &operators, &mut v);
    scanner::build(est, rng, start, &mut v);
    owner_script::build(est, rng, start, &mut v);
    v
}

/// An exponentially distributed gap with the given mean (ms).
pub(crate) fn exp(rng: &mut Rng, mean_ms: f64) -> i64 {
    let u: f64 = rng.random();
    (-(1.0 - u).ln() * mean_ms) as i64
}

/// A uniform gap in `[lo, hi)` ms.
pub(crate) fn uni(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// Picks from `(weight, item)` pairs.
pub(crate) fn pick<'a, T>(rng: &mut Rng, items: &'a [(u32, T)]) -> &'a T {
    let total: u32 = items.iter().map(|(w, _)| *w).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (w, it) in items {
        if r < *w {
            return it;
        }
        r -= w;
    }
    &items[items.len() - 1].1
}

/// Reused strings for one event's JSON fragments.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// `requestParameters`.
    pub req: String,
    /// `responseElements`.
    pub resp: String,
    /// `additionalEventData`.
    pub extra: String,
    /// `resources`.
    pub res: String,
    /// TLS host or other text.
    pub host: String,
}

/// Fills `s` with the fragments of an S3 data event on `bucket`/`key` (`key` empty for a
/// bucket-level call such as `ListObjects`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn s3_fragments(
    s: &mut Scratch,
    account: &str,
    region: &str,
    bucket: &str,
    key: &str,
    prefix: &str,
    bytes_in: i64,
    bytes_out: i64,
) {
    s.host.clear();
    s.host.push_str(bucket);
    s.host.push_str(".s3.");
    s.host.push_str(region);
    s.host.push_str(".amazonaws.com");
    let host = s.host.as_str();
    let o = Obj::new(&mut s.req).str("bucketName", bucket).str("Host", host);
    if key.is_empty() {
        o.str("list-type", "2").str("prefix", prefix).str("max-keys", "1000").end();
    } else {
        o.str("key", key).end();
    }
    Obj::new(&mut s.extra)
        .str("SignatureVersion", "SigV4")
        .str("CipherSuite", "TLS_AES_128_GCM_SHA256")
        .num("bytesTransferredIn", bytes_in)
        .str("AuthenticationMethod", "AuthHeader")
        .num("bytesTransferredOut", bytes_out)
        .end();
    s.res.clear();
    s.res.push('[');
    if !key.is_empty() {
        s.res.push_str("{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::");
        s.res.push_str(bucket);
        s.res.push('/');
        s.res.push_str(key);
        s.res.push_str("\"},");
    }
    s.res.push_str("{\"accountId\":\"");
    s.res.push_str(account);
    s.res.push_str("\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::");
    s.res.push_str(bucket);
    s.res.push_str("\"}]");
    s.resp.clear();
}

/// A `resources` array naming one resource.
pub(crate) fn one_resource(out: &mut String, account: &str, typ: &str, arn: &str) {
    out.clear();
    out.push_str("[{\"accountId\":\"");
    out.push_str(account);
    out.push_str("\",\"type\":\"");
    out.push_str(typ);
    out.push_str("\",\"ARN\":\"");
    out.push_str(arn);
    out.push_str("\"}]");
}

/// `responseElements` of an STS call that issued `key`.
pub(crate) fn sts_credentials_resp(out: &mut String, key: &str, expires: i64, assumed_arn: &str, assumed_id: &str) {
    let exp = crate::json::expiration_string(expires);
    Obj::new(out)
        .obj("credentials", |c| {
            c.str("accessKeyId", key)
                .str("sessionToken", "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQD")
                .str("expiration", &exp)
        })
        .obj("assumedRoleUser", |a| a.str("assumedRoleId", assumed_id).str("arn", assumed_arn))
        .end();
}

#[cfg(test)]
pub(crate) mod tests {
    //! Helpers for the sources' own tests: run some sources alone and parse what they wrote.

    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use rand::SeedableRng;
    use serde_json::Value;
    use trailhound_model::time::{days_from_civil, DAY};

    use super::*;
    use crate::engine::{Cx, Emitter};

    /// Builds sources with `build` in a fresh estate and runs them alone for `span` ms;
    /// returns their events, parsed, in event-time order.
    pub(crate) fn run_sources(
        build: impl FnOnce(&mut Estate, &mut Rng, i64, &mut Vec<(i64, Box<dyn Source>)>),
        span: i64,
    ) -> Vec<Value> {
        let mut rng = Rng::seed_from_u64(11);
        let start = days_from_civil(2026, 11, 2) * DAY;
        let mut est = Estate::new(&mut rng);
        let mut sources = Vec::new();
        build(&mut est, &mut rng, start, &mut sources);
        let mut em = Emitter::default();
        let mut heap: BinaryHeap<Reverse<(i64, usize)>> =
            sources.iter().enumerate().map(|(i, (t, _))| Reverse((*t, i))).collect();
        while let Some(Reverse((t, i))) = heap.pop() {
            if t > start + span {
                break;
            }
            let mut cx = Cx { em: &mut em, rng: &mut rng, est: &mut est };
            let next = sources[i].1.wake(t, &mut cx);
            if next != crate::engine::NEVER {
                heap.push(Reverse((next.max(t), i)));
            }
        }
        em.drain().iter().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect()
    }

    /// An event's time (ms).
    pub(crate) fn time(e: &Value) -> i64 {
        crate::tests::parse_time(e["eventTime"].as_str().unwrap_or(""))
    }

    /// Largest value of `f` over windows `[t, t + width)` of time-sorted `(time, item)` pairs.
    pub(crate) fn max_window<T>(evs: &[(i64, T)], width: i64, f: impl Fn(&[(i64, T)]) -> usize) -> usize {
        crate::tests::max_window(evs, width, f)
    }
}
