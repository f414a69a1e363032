//! AWS services acting in the accounts: CloudTrail's KMS calls (`AWSService` identities),
//! EC2 Auto Scaling's service-linked role launching and terminating instances (including an
//! occasional 20-instance scale-out), and services reading the accounts through their
//! service-linked roles (`assumed-role/AWSServiceRoleFor.../SESSION`, `invokedBy`, source
//! address and user agent the service's principal, no `tlsDetails`; a fresh session every
//! hour, its `AssumeRole` by the service logged):
//!
//! | service | accounts | what |
//! |---|---|---|
//! | AWS Config (`AWSConfig-Describe`) | all | a burst of 4–10 reads in one or two regions every ~6 min (configuration changes), a sweep of all 17 regions every 3–8 h |
//! | IAM Access Analyzer | all | policy reads (IAM, S3, KMS, Secrets Manager, SQS, Lambda) over all regions every 2–6 h, small bursts between |
//! | Trusted Advisor (`AWSService` identity) | management, security, prod | checks over all regions every 3–8 h |
//! | Security Hub | all | CIS checks (trails, metric filters, alarms, password policy) over all regions every 6–14 h |
//! | Compute Optimizer | prod, staging, dev | utilisation reads over all regions every 8–16 h |
//! | Elastic Load Balancing | prod, staging | network-interface upkeep in the home region every ~20 min |
//! | Systems Manager | prod, staging, dev | inventory reads in the home region every ~30 min |

use rand::Rng as _;

use super::workload::emit_service_assume;
use super::{exp, one_resource, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{session_key, unique_id, Estate, ACCOUNT_NAMES, DEV, PROD, REGIONS, SECURITY, STAGING};
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

/// What one service reads through its service-linked role.
pub(crate) struct SweepSpec {
    /// The service principal (`config.amazonaws.com`).
    service: &'static str,
    /// Service-linked role name; empty for calls with an `AWSService` identity.
    role: &'static str,
    /// Session name of the role.
    session: &'static str,
    /// Reads in `us-east-1` at the start of a sweep.
    global: &'static [(&'static str, &'static str)],
    /// Reads in each region.
    regional: &'static [(&'static str, &'static str)],
    /// Reads per region (lo, hi).
    per_region: (usize, usize),
    /// Interval of full sweeps over all regions (lo, hi); `(0, 0)` for none.
    full: (i64, i64),
    /// Mean gap between small bursts in one or two regions (ms); 0 for none.
    burst_mean: f64,
}

const CONFIG: SweepSpec = SweepSpec {
    service: "config.amazonaws.com",
    role: "AWSServiceRoleForConfig",
    session: "AWSConfig-Describe",
    global: &[
        ("iam", "GetRole"),
        ("iam", "ListRolePolicies"),
        ("iam", "ListAttachedRolePolicies"),
        ("iam", "GetPolicy"),
        ("iam", "GetPolicyVersion"),
        ("iam", "GetUser"),
        ("iam", "ListAttachedUserPolicies"),
        ("s3", "GetBucketAcl"),
        ("s3", "GetBucketPolicy"),
        ("s3", "GetBucketVersioning"),
        ("s3", "GetBucketEncryption"),
        ("s3", "GetBucketLogging"),
    ],
    regional: &[
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeVpcs"),
        ("ec2", "DescribeSubnets"),
        ("ec2", "DescribeNetworkInterfaces"),
        ("ec2", "DescribeVolumes"),
        ("ec2", "DescribeRouteTables"),
        ("ec2", "DescribeInternetGateways"),
        ("ec2", "DescribeNetworkAcls"),
        ("lambda", "GetFunction"),
        ("lambda", "GetPolicy"),
        ("rds", "DescribeDBInstances"),
        ("kms", "DescribeKey"),
        ("kms", "GetKeyRotationStatus"),
        ("cloudtrail", "DescribeTrails"),
        ("logs", "DescribeLogGroups"),
    ],
    per_region: (4, 10),
    full: (3 * HOUR, 8 * HOUR),
    burst_mean: 6.0 * MINUTE as f64,
};

const ACCESS_ANALYZER: SweepSpec = SweepSpec {
    service: "access-analyzer.amazonaws.com",
    role: "AWSServiceRoleForAccessAnalyzer",
    session: "access-analyzer",
    global: &[
        ("iam", "ListRoles"),
        ("iam", "GetRole"),
        ("iam", "ListUsers"),
        ("iam", "GetAccountAuthorizationDetails"),
        ("s3", "ListBuckets"),
        ("s3", "GetBucketPolicy"),
        ("s3", "GetBucketPolicyStatus"),
        ("s3", "GetBucketAcl"),
        ("s3", "GetBucketPublicAccessBlock"),
        ("s3", "GetAccountPublicAccessBlock"),
    ],
    regional: &[
        ("kms", "ListKeys"),
        ("kms", "GetKeyPolicy"),
        ("kms", "ListGrants"),
        ("secretsmanager", "ListSecrets"),
        ("secretsmanager", "GetResourcePolicy"),
        ("sqs", "ListQueues"),
        ("sqs", "GetQueueAttributes"),
        ("lambda", "ListFunctions20150331"),
        ("lambda", "GetPolicy20150331v2"),
        ("ecr", "DescribeRepositories"),
        ("ecr", "GetRepositoryPolicy"),
    ],
    per_region: (3, 7),
    full: (2 * HOUR, 6 * HOUR),
    burst_mean: 50.0 * MINUTE as f64,
};

const TRUSTED_ADVISOR: SweepSpec = SweepSpec {
    service: "trustedadvisor.amazonaws.com",
    role: "",
    session: "",
    global: &[
        ("iam", "GetAccountPasswordPolicy"),
        ("iam", "GetAccountSummary"),
        ("iam", "ListUsers"),
        ("iam", "GenerateCredentialReport"),
        ("s3", "ListBuckets"),
        ("s3", "GetBucketAcl"),
        ("s3", "GetBucketPolicy"),
        ("route53", "ListHostedZones"),
    ],
    regional: &[
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeVolumes"),
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeAddresses"),
        ("ec2", "DescribeReservedInstances"),
        ("ec2", "DescribeSnapshots"),
        ("elasticloadbalancing", "DescribeLoadBalancers"),
        ("rds", "DescribeDBInstances"),
        ("cloudtrail", "DescribeTrails"),
        ("autoscaling", "DescribeAutoScalingGroups"),
    ],
    per_region: (4, 8),
    full: (3 * HOUR, 8 * HOUR),
    burst_mean: 0.0,
};

const SECURITY_HUB: SweepSpec = SweepSpec {
    service: "securityhub.amazonaws.com",
    role: "AWSServiceRoleForSecurityHub",
    session: "securityhub",
    global: &[
        ("iam", "GetAccountPasswordPolicy"),
        ("iam", "GetAccountSummary"),
        ("iam", "ListVirtualMFADevices"),
        ("iam", "GenerateCredentialReport"),
        ("iam", "GetCredentialReport"),
        ("iam", "ListPolicies"),
    ],
    regional: &[
        ("cloudtrail", "DescribeTrails"),
        ("cloudtrail", "GetTrailStatus"),
        ("cloudtrail", "GetEventSelectors"),
        ("logs", "DescribeMetricFilters"),
        ("monitoring", "DescribeAlarms"),
        ("config", "DescribeConfigurationRecorders"),
        ("config", "DescribeConfigurationRecorderStatus"),
        ("ec2", "DescribeFlowLogs"),
        ("ec2", "GetEbsEncryptionByDefault"),
        ("kms", "ListKeys"),
    ],
    per_region: (4, 8),
    full: (6 * HOUR, 14 * HOUR),
    burst_mean: 0.0,
};

const COMPUTE_OPTIMIZER: SweepSpec = SweepSpec {
    service: "compute-optimizer.amazonaws.com",
    role: "AWSServiceRoleForComputeOptimizer",
    session: "ComputeOptimizer",
    global: &[("organizations", "DescribeOrganization")],
    regional: &[
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeVolumes"),
        ("autoscaling", "DescribeAutoScalingGroups"),
        ("lambda", "ListFunctions20150331"),
        ("ecs", "ListClusters"),
        ("monitoring", "GetMetricData"),
    ],
    per_region: (3, 6),
    full: (8 * HOUR, 16 * HOUR),
    burst_mean: 0.0,
};

const ELB: SweepSpec = SweepSpec {
    service: "elasticloadbalancing.amazonaws.com",
    role: "AWSServiceRoleForElasticLoadBalancing",
    session: "ElasticLoadBalancing",
    global: &[],
    regional: &[
        ("ec2", "DescribeNetworkInterfaces"),
        ("ec2", "DescribeSubnets"),
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeVpcs"),
        ("ec2", "DescribeAddresses"),
        ("ec2", "DescribeInternetGateways"),
    ],
    per_region: (2, 5),
    full: (0, 0),
    burst_mean: 20.0 * MINUTE as f64,
};

const SSM: SweepSpec = SweepSpec {
    service: "ssm.amazonaws.com",
    role: "AWSServiceRoleForAmazonSSM",
    session: "SSM",
    global: &[],
    regional: &[
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeInstanceStatus"),
        ("ec2", "DescribeTags"),
        ("ec2", "DescribeImages"),
    ],
    per_region: (2, 4),
    full: (0, 0),
    burst_mean: 30.0 * MINUTE as f64,
};

/// One service reading one account (see [`SweepSpec`]).
pub(crate) struct Sweeper {
    spec: &'static SweepSpec,
    account: usize,
    role: Option<Role>,
    home: &'static str,
    ident: String,
    created: i64,
    next_full: i64,
    next_burst: i64,
    s: Scratch,
}

impl Sweeper {
    fn reads(
        &mut self,
        cx: &mut Cx<'_>,
        t: i64,
        region: &'static str,
        list: &'static [(&'static str, &'static str)],
        k: usize,
    ) -> i64 {
        let acct = &cx.est.accounts[self.account].id;
        let svc_principal = self.spec.service;
        let mut idx: Vec<usize> = (0..list.len()).collect();
        let k = k.min(list.len());
        for i in 0..k {
            let j = cx.rng.random_range(i..idx.len());
            idx.swap(i, j);
        }
        let mut at = t;
        for &i in &idx[..k] {
            let (svc, name) = list[i];
            let region = if matches!(svc, "iam" | "organizations" | "route53") { "us-east-1" } else { region };
            cx.em.bg(
                &Call::new(at, &self.ident, svc, name, region, svc_principal, svc_principal, acct)
                    .host(Host::None)
                    .read_only(true),
                cx.rng,
            );
            at += uni(cx.rng, 30, 600);
        }
        at
    }
}

impl Source for Sweeper {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if let Some(role) = &self.role {
            if self.ident.is_empty() || now - self.created > 55 * MINUTE {
                let key = session_key(cx.rng);
                emit_service_assume(
                    cx.em,
                    cx.rng,
                    &mut self.s,
                    now,
                    self.spec.service,
                    role,
                    self.spec.session,
                    &key,
                    self.home,
                );
                self.created = now + 200;
                self.ident = assumed_role(
                    role,
                    self.spec.session,
                    &key,
                    self.created,
                    SessionOpts { invoked_by: Some(self.spec.service), ..Default::default() },
                );
            }
        }
        let t = now + SECOND;
        let (lo, hi) = self.spec.per_region;
        if self.spec.full.1 > 0 && now >= self.next_full {
            // A sweep over every region, regions overlapping, within about a minute.
            let mut end = self.reads(cx, t, "us-east-1", self.spec.global, self.spec.global.len());
            for r in REGIONS {
                let at = t + uni(cx.rng, 0, 45 * SECOND);
                let k = cx.rng.random_range(lo..=hi);
                end = end.max(self.reads(cx, at, r, self.spec.regional, k));
            }
            self.next_full = now + uni(cx.rng, self.spec.full.0, self.spec.full.1);
            let _ = end;
        } else if self.spec.burst_mean > 0.0 && now >= self.next_burst {
            let n = if self.spec.full.1 > 0 && cx.rng.random_bool(0.3) { 2 } else { 1 };
            for i in 0..n {
                let region = if i == 0 && cx.rng.random_bool(0.6) {
                    self.home
                } else {
                    REGIONS[cx.rng.random_range(0..REGIONS.len())]
                };
                let k = cx.rng.random_range(lo..=hi);
                let at = t + uni(cx.rng, 0, 5 * SECOND);
                self.reads(cx, at, region, self.spec.regional, k);
            }
            if !self.spec.global.is_empty() && cx.rng.random_bool(0.3) {
                let k = cx.rng.random_range(1..=3);
                self.reads(cx, t, "us-east-1", self.spec.global, k);
            }
            self.next_burst = now + 20 * SECOND + exp(cx.rng, self.spec.burst_mean);
        }
        let next = if self.spec.full.1 > 0 { self.next_full } else { i64::MAX };
        let next = if self.spec.burst_mean > 0.0 { next.min(self.next_burst) } else { next };
        next.max(now + SECOND)
    }
}

fn sweepers(est: &Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let all: Vec<usize> = (0..ACCOUNT_NAMES.len()).collect();
    let plan: [(&'static SweepSpec, Vec<usize>); 7] = [
        (&CONFIG, all.clone()),
        (&ACCESS_ANALYZER, all.clone()),
        (&TRUSTED_ADVISOR, vec![0, SECURITY, PROD]),
        (&SECURITY_HUB, all),
        (&COMPUTE_OPTIMIZER, vec![PROD, STAGING, DEV]),
        (&ELB, vec![PROD, STAGING]),
        (&SSM, vec![PROD, STAGING, DEV]),
    ];
    for (spec, accounts) in plan {
        for account in accounts {
            let role = (!spec.role.is_empty()).then(|| Role {
                account: est.id(account).to_string(),
                name: spec.role.to_string(),
                path: format!("/aws-service-role/{}/", spec.service),
                pid: unique_id(rng, "AROA"),
            });
            let ident = if role.is_none() { aws_service(spec.service) } else { String::new() };
            let next_full = if spec.full.1 > 0 { start + uni(rng, 0, spec.full.1) } else { i64::MAX };
            let next_burst = if spec.burst_mean > 0.0 { start + exp(rng, spec.burst_mean) } else { i64::MAX };
            let src = Sweeper {
                spec,
                account,
                role,
                home: est.accounts[account].region,
                ident,
                created: 0,
                next_full,
                next_burst,
                s: Scratch::default(),
            };
            out.push((next_full.min(next_burst), Box::new(src)));
        }
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
    sweepers(est, rng, start, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::tests::{max_window, run_sources, time};
    use std::collections::BTreeSet;

    #[test]
    fn service_linked_roles_sweep_every_region_as_their_service() {
        let events = run_sources(|est, rng, start, out| sweepers(est, rng, start, out), 16 * HOUR);
        let mut services = BTreeSet::new();
        for e in &events {
            let ui = &e["userIdentity"];
            let by = ui["invokedBy"].as_str().expect("invokedBy");
            services.insert(by.to_string());
            assert_eq!(e["sourceIPAddress"], by);
            assert_eq!(e["userAgent"], by);
            assert!(e.get("tlsDetails").is_none());
            if ui["type"] == "AssumedRole" {
                let issuer = ui["sessionContext"]["sessionIssuer"]["arn"].as_str().unwrap_or("");
                assert!(issuer.contains(&format!(":role/aws-service-role/{by}/AWSServiceRoleFor")), "{issuer}");
            } else if e["eventName"] != "AssumeRole" {
                assert_eq!(by, "trustedadvisor.amazonaws.com");
            }
        }
        assert_eq!(services.len(), 7, "{services:?}");
        let config: Vec<(i64, &serde_json::Value)> = events
            .iter()
            .filter(|e| e["userIdentity"]["invokedBy"] == "config.amazonaws.com" && e["readOnly"] == true)
            .map(|e| (time(e), e))
            .collect();
        let regions = max_window(&config, 60_000, |w| {
            w.iter().filter_map(|(_, e)| e["awsRegion"].as_str()).collect::<BTreeSet<_>>().len()
        });
        assert!(regions >= 15, "a Config sweep covers {regions} regions in a minute");
        let per_hour = events.len() / 16;
        assert!((500..4_000).contains(&per_hour), "{per_hour} service events per hour");
    }
}
