//! `defense_evasion`: a stolen CI/CD session used from the attacker's address to look at the
//! account's logging and then blind it.
//!
//! 1. `enumeration_burst`: `GetCallerIdentity`, then 8–11 distinct recon calls in 5–8 s
//!    (CloudTrail `DescribeTrails`/`GetTrailStatus`/`GetEventSelectors`, GuardDuty
//!    `ListDetectors`/`GetDetector`, Config `DescribeConfigurationRecorders`, EC2
//!    `DescribeFlowLogs`, `ListBuckets`, ...; one or two denied).
//! 2. `defense_evasion`, 20–90 s later over 1–3 minutes, in the account's home region unless
//!    noted: CloudTrail `StopLogging` (`name` = the account trail's ARN); `PutEventSelectors`
//!    on it with one selector whose `includeManagementEvents` is false; GuardDuty
//!    `UpdateDetector` with `enable` false, and `DeleteDetector` in another region; EC2
//!    `DeleteFlowLogs` (`DeleteFlowLogsRequest.FlowLogId.content`); Config
//!    `StopConfigurationRecorder` (`default`); S3 `PutBucketLifecycle` with a rule
//!    `Expiration.Days` 1 on the organisation trail's bucket `org-cloudtrail-logs`
//!    (us-east-1), which fails with `AccessDenied`, then on the account trail's bucket
//!    `<env>-cloudtrail-logs-<account>`, which succeeds.
//!
//! Plus `attack_chain` over both; all actors are the stolen session key.

use rand::Rng as _;

use super::{
    attacker_ip, live_sessions, pick_fresh, recon_burst, sample, Attacker, Recon, ScenarioDef, Victim, RETRY, UA_PACU,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{ORG_TRAIL, REGIONS};
use crate::event::Host;
use crate::json::{hex, uuid, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef =
    ScenarioDef { name: "defense_evasion", rules: &["enumeration_burst", "defense_evasion", "attack_chain"], plan };

/// What the attacker looks at first.
const RECON_POOL: [Recon; 11] = [
    ("cloudtrail", "DescribeTrails", false),
    ("cloudtrail", "GetTrailStatus", false),
    ("cloudtrail", "GetEventSelectors", false),
    ("guardduty", "ListDetectors", false),
    ("guardduty", "GetDetector", false),
    ("config", "DescribeConfigurationRecorders", false),
    ("config", "DescribeConfigurationRecorderStatus", false),
    ("ec2", "DescribeFlowLogs", false),
    ("s3", "ListBuckets", true),
    ("logs", "DescribeLogGroups", false),
    ("iam", "GetAccountSummary", true),
];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let live = live_sessions(cx, &est.ci, 40 * MINUTE, |_| true);
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 3 + 1, |i| est.ci[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.ci[pick];
    let acct = est.id(s.account);
    let home = est.accounts[s.account].region;
    let (trail, trail_arn, bucket) = est.account_trail(s.account);
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_PACU };

    out.stage("enumeration_burst", &s.key);
    let t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    let n = out.rng.random_range(8..=11usize);
    let mut t = recon_burst(out, &a, home, t, &RECON_POOL, n);

    out.stage("defense_evasion", &s.key);
    let step = |t: &mut i64, out: &mut ScenarioOut<'_>| *t += out.rng.random_range(4 * SECOND..25 * SECOND);
    t += out.rng.random_range(20 * SECOND..90 * SECOND);
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("name", &trail_arn).end();
    out.emit(&a.call(t, "cloudtrail", "StopLogging", home).req(&req));

    step(&mut t, out);
    let selectors =
        "[{\"readWriteType\":\"All\",\"includeManagementEvents\":false,\"dataResources\":[],\"excludeManagementEventSources\":[]}]";
    Obj::new(&mut req).str("trailName", &trail).raw("eventSelectors", selectors).end();
    Obj::new(&mut resp).str("trailARN", &trail_arn).raw("eventSelectors", selectors).end();
    out.emit(&a.call(t, "cloudtrail", "PutEventSelectors", home).req(&req).resp(&resp));

    step(&mut t, out);
    Obj::new(&mut req).str("detectorId", &hex(out.rng, 32)).bool("enable", false).end();
    out.emit(&a.call(t, "guardduty", "UpdateDetector", home).req(&req));
    step(&mut t, out);
    let others: Vec<&str> = REGIONS.iter().copied().filter(|r| *r != home).collect();
    let other = sample(out.rng, &others, 1)[0];
    Obj::new(&mut req).str("detectorId", &hex(out.rng, 32)).end();
    out.emit(&a.call(t, "guardduty", "DeleteDetector", other).req(&req));

    step(&mut t, out);
    let flow_log = format!("fl-{}", hex(out.rng, 17));
    req = format!("{{\"DeleteFlowLogsRequest\":{{\"FlowLogId\":{{\"content\":\"{flow_log}\",\"tag\":1}}}}}}");
    let request_id = uuid(out.rng);
    resp = format!(
        "{{\"DeleteFlowLogsResponse\":{{\"xmlns\":\"http://ec2.amazonaws.com/doc/2016-11-15/\",\"requestId\":\"{request_id}\",\"unsuccessful\":\"\"}}}}"
    );
    out.emit(&a.call(t, "ec2", "DeleteFlowLogs", home).req(&req).resp(&resp));

    step(&mut t, out);
    out.emit(
        &a.call(t, "config", "StopConfigurationRecorder", home).req("{\"configurationRecorderName\":\"default\"}"),
    );

    // Expire the logs: the organisation trail's bucket is out of reach, the account's is not.
    for (b, region, ok) in [(ORG_TRAIL.1, "us-east-1", false), (bucket.as_str(), home, true)] {
        step(&mut t, out);
        let host = format!("{b}.s3.{region}.amazonaws.com");
        let rule_id = format!("cleanup-{}", hex(out.rng, 4));
        req = format!(
            "{{\"bucketName\":\"{b}\",\"Host\":\"{host}\",\"lifecycle\":\"\",\"LifecycleConfiguration\":{{\"xmlns\":\"http://s3.amazonaws.com/doc/2006-03-01/\",\"Rule\":{{\"ID\":\"{rule_id}\",\"Status\":\"Enabled\",\"Filter\":{{\"Prefix\":\"\"}},\"Expiration\":{{\"Days\":1}}}}}}}}"
        );
        let extra = format!(
            "{{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":{},\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"{}\",\"bytesTransferredOut\":0}}",
            out.rng.random_range(180..260),
            hex(out.rng, 48)
        );
        let res = if ok {
            format!("[{{\"accountId\":\"{acct}\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::{b}\"}}]")
        } else {
            format!("[{{\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::{b}\"}}]")
        };
        let c = a
            .call(t, "s3", "PutBucketLifecycle", region)
            .req(&req)
            .extra(&extra)
            .resources(&res)
            .host(Host::Custom(&host));
        out.emit(&if ok { c } else { c.err("AccessDenied", "Access Denied") });
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
