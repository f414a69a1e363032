//! AWS services acting in the accounts: CloudTrail's KMS calls (`AWSService` identities) and
//! EC2 Auto Scaling's service-linked role launching and terminating instances, including an
//! occasional 20-instance scale-out.

use rand::Rng as _;

use super::{exp, one_resource, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{session_key, unique_id, Estate, ACCOUNT_NAMES, PROD, STAGING};
use crate::event::{Call, Host};
use crate::identity::{assumed_role, aws_service, Role, SessionOpts};
use crate::json::{hex, uuid, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// CloudTrail asking KMS for a data key per log file it delivers.
pub(crate) struct TrailKms {
    account: usize,
    ident: String,
    key_arn: String,
    trail_arn: String,
    s: Scratch,
}

impl Source for TrailKms {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let acct = &cx.est.accounts[self.account].id;
        Obj::new(&mut self.s.req)
            .str("keyId", &self.key_arn)
            .obj("encryptionContext", |e| {
                e.str("aws:cloudtrail:arn", &self.trail_arn).str(
                    "aws:s3:arn",
                    &format!(
                        "arn:aws:s3:::org-cloudtrail-logs/AWSLogs/{acct}/CloudTrail/us-east-1/{}.json.gz",
                        now / MINUTE
                    ),
                )
            })
            .str("keySpec", "AES_256")
            .end();
        one_resource(&mut self.s.res, acct, "AWS::KMS::Key", &self.key_arn);
        cx.em.bg(
            &Call::new(
                now,
                &self.ident,
                "kms",
                "GenerateDataKey",
                "us-east-1",
                "cloudtrail.amazonaws.com",
                "cloudtrail.amazonaws.com",
                acct,
            )
            .req(&self.s.req)
            .resources(&self.s.res)
            .host(Host::None),
            cx.rng,
        );
        now + uni(cx.rng, 4 * MINUTE, 6 * MINUTE)
    }
}

/// EC2 Auto Scaling in one account.
pub(crate) struct AutoScaling {
    account: usize,
    role: Role,
    region: &'static str,
    ami: String,
    lt: String,
    big_at: i64,
    running: Vec<String>,
    s: Scratch,
}

impl AutoScaling {
    fn run_instances(&mut self, now: i64, cx: &mut Cx<'_>, n: u32, ident: &str) -> i64 {
        let acct = &cx.est.accounts[self.account].id;
        let ids: Vec<String> = (0..n).map(|_| format!("i-{}", hex(cx.rng, 17))).collect();
        let az = format!("{}{}", self.region, ["a", "b", "c"][cx.rng.random_range(0..3)]);
        Obj::new(&mut self.s.req)
            .raw(
                "instancesSet",
                &format!("{{\"items\":[{{\"imageId\":\"{}\",\"minCount\":{n},\"maxCount\":{n}}}]}}", self.ami),
            )
            .str("instanceType", "m7i.large")
            .raw("blockDeviceMapping", "{}")
            .raw("launchTemplate", &format!("{{\"launchTemplateId\":\"{}\",\"version\":\"7\"}}", self.lt))
            .raw("availabilityZone", &format!("\"{az}\""))
            .raw("monitoring", "{\"enabled\":false}")
            .bool("disableApiTermination", false)
            .bool("disableApiStop", false)
            .str("clientToken", &uuid(cx.rng))
            .end();
        let mut items = String::with_capacity(120 * ids.len());
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                items.push(',');
            }
            items.push_str(&format!(
                "{{\"instanceId\":\"{id}\",\"imageId\":\"{}\",\"instanceState\":{{\"code\":0,\"name\":\"pending\"}},\"instanceType\":\"m7i.large\",\"placement\":{{\"availabilityZone\":\"{az}\"}},\"amiLaunchIndex\":{i}}}",
                self.ami
            ));
        }
        Obj::new(&mut self.s.resp)
            .str("requestId", &uuid(cx.rng))
            .str("reservationId", &format!("r-{}", hex(cx.rng, 17)))
            .str("ownerId", acct)
            .raw("groupSet", "{}")
            .raw("instancesSet", &format!("{{\"items\":[{items}]}}"))
            .end();
        cx.em.bg(
            &Call::new(
                now,
                ident,
                "ec2",
                "RunInstances",
                self.region,
                "autoscaling.amazonaws.com",
                "autoscaling.amazonaws.com",
                acct,
            )
            .req(&self.s.req)
            .resp(&self.s.resp)
            .host(Host::None),
            cx.rng,
        );
        self.running.extend(ids);
        now
    }
}

impl Source for AutoScaling {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let key = session_key(cx.rng);
        let ident = assumed_role(
            &self.role,
            "AutoScaling",
            &key,
            now - uni(cx.rng, 0, 30 * MINUTE),
            SessionOpts { invoked_by: Some("autoscaling.amazonaws.com"), ..Default::default() },
        );
        if now >= self.big_at {
            self.run_instances(now, cx, 20, &ident);
            self.big_at = now + HOUR + exp(cx.rng, 3.0 * HOUR as f64);
        } else if self.running.len() < 4 || cx.rng.random_bool(0.6) {
            let n = cx.rng.random_range(1..=2);
            self.run_instances(now, cx, n, &ident);
        } else {
            let n = cx.rng.random_range(1..=self.running.len().min(3));
            let acct = &cx.est.accounts[self.account].id;
            let mut req = String::from("{\"instancesSet\":{\"items\":[");
            for i in 0..n {
                let id = self.running.swap_remove(cx.rng.random_range(0..self.running.len()));
                if i > 0 {
                    req.push(',');
                }
                req.push_str(&format!("{{\"instanceId\":\"{id}\"}}"));
            }
            req.push_str("]}}");
            cx.em.bg(
                &Call::new(
                    now,
                    &ident,
                    "ec2",
                    "TerminateInstances",
                    self.region,
                    "autoscaling.amazonaws.com",
                    "autoscaling.amazonaws.com",
                    acct,
                )
                .req(&req)
                .host(Host::None),
                cx.rng,
            );
        }
        now + 2 * MINUTE + exp(cx.rng, 30.0 * MINUTE as f64)
    }
}

/// Creates CloudTrail's KMS activity in every account and Auto Scaling in prod and staging.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let mgmt = est.id(0).to_string();
    let trail_arn = format!("arn:aws:cloudtrail:us-east-1:{mgmt}:trail/org-trail");
    for account in 0..ACCOUNT_NAMES.len() {
        let src = TrailKms {
            account,
            ident: aws_service("cloudtrail.amazonaws.com"),
            key_arn: format!("arn:aws:kms:us-east-1:{mgmt}:key/{}", uuid(rng)),
            trail_arn: trail_arn.clone(),
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 5 * MINUTE), Box::new(src)));
    }
    for account in [PROD, STAGING] {
        let role = Role {
            account: est.id(account).to_string(),
            name: "AWSServiceRoleForAutoScaling".into(),
            path: "/aws-service-role/autoscaling.amazonaws.com/".into(),
            pid: unique_id(rng, "AROA"),
        };
        let src = AutoScaling {
            account,
            role,
            region: est.accounts[account].region,
            ami: format!("ami-{}", hex(rng, 17)),
            lt: format!("lt-{}", hex(rng, 17)),
            big_at: start + if account == PROD { uni(rng, 20 * MINUTE, 50 * MINUTE) } else { uni(rng, HOUR, 8 * HOUR) },
            running: Vec::new(),
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 20 * MINUTE) + SECOND, Box::new(src)));
    }
}
