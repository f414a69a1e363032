//! Benign background traffic: one [`Source`] per actor of the estate.
//!
//! | source | who | what |
//! |---|---|---|
//! | [`console`] | people via SSO permission sets | `ConsoleLogin`, page loads of a few reads, some IAM admin work |
//! | [`cicd`] | GitHub Actions via OIDC | `AssumeRoleWithWebIdentity`, Terraform plans/applies that create and delete IAM entities, deploys |
//! | [`workload`] | EC2 instance roles, Lambda, ECS tasks | secrets/KMS/SSM reads, S3 data events, hourly session rotation |
//! | [`poller`] | inventory poller, CloudWatch exporter | slow region-by-region sweeps of a few read APIs |
//! | [`s3sync`] | sync jobs (IAM user and workload role) | bursts of S3 data events |
//! | [`users`] | programmatic IAM users with `AKIA` keys | backup job, legacy app, old Jenkins |
//! | [`services`] | AWS services | CloudTrail's KMS calls, EC2 Auto Scaling (incl. a 20-instance scale-out) |

use rand::Rng as _;

use crate::engine::Source;
use crate::estate::Estate;
use crate::json::Obj;
use crate::Rng;

pub(crate) mod cicd;
pub(crate) mod console;
pub(crate) mod poller;
pub(crate) mod s3sync;
pub(crate) mod services;
pub(crate) mod users;
pub(crate) mod workload;

/// Builds every background source with its first wake time, registering credentials in `est`.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64) -> Vec<(i64, Box<dyn Source>)> {
    let mut v: Vec<(i64, Box<dyn Source>)> = Vec::new();
    users::build(est, rng, start, &mut v);
    workload::build(est, rng, start, &mut v);
    s3sync::build(est, rng, start, &mut v);
    console::build(est, rng, start, &mut v);
    cicd::build(est, rng, start, &mut v);
    poller::build(est, rng, start, &mut v);
    services::build(est, rng, start, &mut v);
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
