//! Cloud security posture scanners: vendors' read-only cross-account roles, assumed from the
//! vendor's own AWS account (`userIdentity.type` `AWSAccount` on the `AssumeRole`), that
//! enumerate every service in every region on a schedule.
//!
//! * `SecurityAuditScanner` in every account, sessions `wiz-scan-<hex>`, every 1–6 h: IAM
//!   (account authorization details, credential report, every user's keys and MFA), S3 (every
//!   bucket's configuration), Route 53, CloudFront, Organizations, then ~50 read APIs in each of
//!   the 17 regions, regions overlapping (a new one every 1.5–4 s), so the scan holds many
//!   distinct APIs per second and every region within a minute.
//! * `PrismaCloudReadOnlyRole` in the management, security and production accounts, sessions
//!   `prisma-cloud-<hex>`, every 1–3 h, a smaller set of APIs, Java SDK agent.
//!
//! Macie is not enabled, so each region's `GetMacieSession` is denied; Security Hub is not
//! enabled in every region; a few other calls are denied at random.

use rand::Rng as _;

use super::{one_resource, sts_credentials_resp, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, session_key, unique_id, Estate, ACCOUNT_NAMES, AWS_OCTETS, PROD, REGIONS, SECURITY};
use crate::event::Call;
use crate::identity::{assumed_role, Role, SessionOpts};
use crate::json::{hex, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// `userIdentity` of a principal in another, unrelated AWS account (a vendor's role session).
pub(crate) fn aws_account(principal_id: &str, account: &str) -> String {
    let mut s = String::with_capacity(120);
    Obj::new(&mut s).str("type", "AWSAccount").str("principalId", principal_id).str("accountId", account).end();
    s
}

/// Global reads at the start of a scan (IAM, S3, Route 53, CloudFront, Organizations).
const GLOBAL: [(&str, &str); 20] = [
    ("iam", "GetAccountAuthorizationDetails"),
    ("iam", "GetAccountSummary"),
    ("iam", "GetAccountPasswordPolicy"),
    ("iam", "ListUsers"),
    ("iam", "ListRoles"),
    ("iam", "ListPolicies"),
    ("iam", "ListGroups"),
    ("iam", "ListVirtualMFADevices"),
    ("iam", "GenerateCredentialReport"),
    ("iam", "GetCredentialReport"),
    ("iam", "ListSAMLProviders"),
    ("iam", "ListOpenIDConnectProviders"),
    ("iam", "ListServerCertificates"),
    ("iam", "ListAccountAliases"),
    ("organizations", "DescribeOrganization"),
    ("s3", "ListBuckets"),
    ("s3", "GetAccountPublicAccessBlock"),
    ("route53", "ListHostedZones"),
    ("cloudfront", "ListDistributions"),
    ("iam", "ListPolicyVersions"),
];

/// Per-user IAM reads.
const PER_USER: [&str; 5] =
    ["ListAccessKeys", "ListMFADevices", "ListAttachedUserPolicies", "ListUserPolicies", "ListGroupsForUser"];

/// Per-bucket S3 reads.
const PER_BUCKET: [&str; 8] = [
    "GetBucketAcl",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketEncryption",
    "GetBucketLogging",
    "GetBucketVersioning",
    "GetBucketPublicAccessBlock",
    "GetBucketLocation",
];

/// Reads in every region.
const REGIONAL: [(&str, &str); 52] = [
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeVolumes"),
    ("ec2", "DescribeSnapshots"),
    ("ec2", "DescribeSecurityGroups"),
    ("ec2", "DescribeVpcs"),
    ("ec2", "DescribeSubnets"),
    ("ec2", "DescribeRouteTables"),
    ("ec2", "DescribeNetworkAcls"),
    ("ec2", "DescribeInternetGateways"),
    ("ec2", "DescribeNatGateways"),
    ("ec2", "DescribeVpcEndpoints"),
    ("ec2", "DescribeFlowLogs"),
    ("ec2", "DescribeImages"),
    ("ec2", "DescribeKeyPairs"),
    ("ec2", "DescribeAddresses"),
    ("ec2", "DescribeNetworkInterfaces"),
    ("ec2", "DescribeLaunchTemplates"),
    ("ec2", "GetEbsEncryptionByDefault"),
    ("ec2", "DescribeVpcPeeringConnections"),
    ("ec2", "DescribeTransitGateways"),
    ("lambda", "ListFunctions20150331"),
    ("lambda", "GetAccountSettings20160819"),
    ("lambda", "ListLayers20181031"),
    ("rds", "DescribeDBInstances"),
    ("rds", "DescribeDBClusters"),
    ("rds", "DescribeDBSnapshots"),
    ("ecs", "ListClusters"),
    ("ecs", "ListTaskDefinitions"),
    ("eks", "ListClusters"),
    ("elasticloadbalancing", "DescribeLoadBalancers"),
    ("elasticloadbalancing", "DescribeTargetGroups"),
    ("kms", "ListKeys"),
    ("kms", "ListAliases"),
    ("sns", "ListTopics"),
    ("sqs", "ListQueues"),
    ("logs", "DescribeLogGroups"),
    ("logs", "DescribeMetricFilters"),
    ("cloudtrail", "DescribeTrails"),
    ("config", "DescribeConfigurationRecorders"),
    ("config", "DescribeDeliveryChannels"),
    ("guardduty", "ListDetectors"),
    ("securityhub", "DescribeHub"),
    ("secretsmanager", "ListSecrets"),
    ("ssm", "DescribeParameters"),
    ("ssm", "DescribeInstanceInformation"),
    ("dynamodb", "ListTables"),
    ("ecr", "DescribeRepositories"),
    ("elasticfilesystem", "DescribeFileSystems"),
    ("acm", "ListCertificates"),
    ("autoscaling", "DescribeAutoScalingGroups"),
    ("cloudformation", "DescribeStacks"),
    ("macie2", "GetMacieSession"),
];

/// Regions where Security Hub is enabled (the others answer `InvalidAccessException`).
const HUB_REGIONS: [&str; 4] = ["us-east-1", "us-east-2", "eu-west-1", "us-west-2"];

/// The service names of the agents' `api/` parts.
fn sdk_name(svc: &str) -> &str {
    match svc {
        "monitoring" => "cloudwatch",
        "logs" => "cloudwatchlogs",
        "elasticloadbalancing" => "elasticloadbalancingv2",
        "elasticfilesystem" => "efs",
        "config" => "configservice",
        s => s,
    }
}

/// A running scan.
struct Scan {
    ident: String,
    ip: String,
    region: usize,
    order: Vec<&'static str>,
}

/// One vendor's scanner in one account.
pub(crate) struct Scanner {
    account: usize,
    role: Role,
    session_prefix: &'static str,
    external: String,
    external_pid: String,
    ips: Vec<String>,
    /// Go SDK agents per service, or one Java agent.
    uas: Vec<(&'static str, String)>,
    java: Option<&'static str>,
    /// Share of [`REGIONAL`] it calls.
    apis: usize,
    interval: (i64, i64),
    users: Vec<String>,
    buckets: Vec<String>,
    scan: Option<Scan>,
    last_start: i64,
    s: Scratch,
}

impl Scanner {
    fn ua(&self, svc: &str) -> &str {
        match self.java {
            Some(u) => u,
            None => self.uas.iter().find(|(s, _)| *s == svc).map_or("", |(_, u)| u.as_str()),
        }
    }

    /// The vendor assumes the role; returns the session identity and the scanner's address.
    fn start(&mut self, now: i64, cx: &mut Cx<'_>) -> (String, String) {
        let acct = cx.est.id(self.account).to_string();
        let ip = self.ips[cx.rng.random_range(0..self.ips.len())].clone();
        let session = format!("{}-{}", self.session_prefix, hex(cx.rng, 12));
        let key = session_key(cx.rng);
        let role_arn = self.role.arn();
        Obj::new(&mut self.s.req)
            .str("roleArn", &role_arn)
            .str("roleSessionName", &session)
            .str("externalId", &format!("{}-{}", self.session_prefix, &self.external[..6]))
            .num("durationSeconds", 3600)
            .end();
        sts_credentials_resp(
            &mut self.s.resp,
            &key,
            now + HOUR,
            &self.role.session_arn(&session),
            &format!("{}:{session}", self.role.pid),
        );
        one_resource(&mut self.s.res, &acct, "AWS::IAM::Role", &role_arn);
        let caller = aws_account(&format!("{}:{}", self.external_pid, self.session_prefix), &self.external);
        let ua = self.ua("sts").to_string();
        cx.em.bg(
            &Call::new(now, &caller, "sts", "AssumeRole", "us-east-1", &ip, &ua, &acct)
                .req(&self.s.req)
                .resp(&self.s.resp)
                .resources(&self.s.res),
            cx.rng,
        );
        (assumed_role(&self.role, &session, &key, now + 300, SessionOpts::default()), ip)
    }

    #[allow(clippy::too_many_arguments)]
    fn call(&mut self, cx: &mut Cx<'_>, scan: &Scan, t: i64, svc: &str, name: &str, region: &str, req: &str) {
        let acct = cx.est.id(self.account);
        let mut c = Call::new(t, &scan.ident, svc, name, region, &scan.ip, self.ua(svc), acct).req(req).read_only(true);
        if svc == "macie2" {
            c = c.err("AccessDeniedException", "Macie is not enabled.");
        } else if svc == "securityhub" && !HUB_REGIONS.contains(&region) {
            c = c.err("InvalidAccessException", "Account is not subscribed to AWS Security Hub");
        } else if cx.rng.random_bool(0.004) {
            c = if svc == "ec2" {
                c.err("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")
            } else {
                c.err("AccessDenied", "User is not authorized to perform this operation with an explicit deny in a service control policy")
            };
        }
        cx.em.bg(&c, cx.rng);
    }

    /// The global part of a scan, from `now` over ~20 s. Returns its end.
    fn global(&mut self, now: i64, cx: &mut Cx<'_>, scan: &Scan) -> i64 {
        let mut t = now;
        let n = if self.java.is_some() { 12 } else { GLOBAL.len() };
        for &(svc, name) in &GLOBAL[..n] {
            let pages = if name == "GetAccountAuthorizationDetails" { cx.rng.random_range(2..=4) } else { 1 };
            for _ in 0..pages {
                self.call(cx, scan, t, svc, name, "us-east-1", "");
                t += uni(cx.rng, 40, 400);
            }
        }
        let users = self.users.clone();
        for u in &users {
            let req = format!("{{\"userName\":\"{u}\"}}");
            for name in PER_USER {
                self.call(cx, scan, t, "iam", name, "us-east-1", &req);
                t += uni(cx.rng, 20, 200);
            }
        }
        let buckets = self.buckets.clone();
        for b in &buckets {
            let req = format!("{{\"bucketName\":\"{b}\",\"Host\":\"{b}.s3.amazonaws.com\"}}");
            for name in PER_BUCKET {
                self.call(cx, scan, t, "s3", name, "us-east-1", &req);
                t += uni(cx.rng, 20, 200);
            }
        }
        t
    }
}

impl Source for Scanner {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let Some(mut scan) = self.scan.take() else {
            self.last_start = now;
            let (ident, ip) = self.start(now, cx);
            let mut order = REGIONS.to_vec();
            for i in 0..order.len() {
                let j = cx.rng.random_range(i..order.len());
                order.swap(i, j);
            }
            let scan = Scan { ident, ip, region: 0, order };
            let t = self.global(now + uni(cx.rng, 500, 2 * SECOND), cx, &scan);
            self.scan = Some(scan);
            return now + (t - now) / 3;
        };
        let region = scan.order[scan.region];
        let mut t = now;
        for &(svc, name) in &REGIONAL[..self.apis] {
            self.call(cx, &scan, t, svc, name, region, "");
            t += uni(cx.rng, 30, 250);
        }
        scan.region += 1;
        if scan.region < scan.order.len() {
            self.scan = Some(scan);
            now + uni(cx.rng, 1_500, 4 * SECOND)
        } else {
            (self.last_start + uni(cx.rng, self.interval.0, self.interval.1)).max(t + MINUTE)
        }
    }
}

fn go_ua(svc: &str) -> String {
    format!(
        "aws-sdk-go-v2/1.30.3 ua/2.1 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/{}#1.{}.0",
        sdk_name(svc),
        20 + svc.len()
    )
}

/// User agent of the second vendor's Java scanner.
pub(crate) const UA_PRISMA: &str = "aws-sdk-java/1.12.770 Linux/5.10.225-213.878.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.12+7-LTS java/17.0.12 vendor/Amazon.com_Inc. cfg/retry-mode/standard";

/// Creates the scanners.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let ext = |rng: &mut Rng| format!("{}{:011}", rng.random_range(1..=9u8), rng.random_range(0..100_000_000_000u64));
    let wiz_account = ext(rng);
    let wiz_pid = unique_id(rng, "AROA");
    let wiz_ips: Vec<String> = (0..4).map(|_| public_ip(rng, &AWS_OCTETS)).collect();
    let prisma_account = ext(rng);
    let prisma_pid = unique_id(rng, "AROA");
    let prisma_ips: Vec<String> = (0..3).map(|_| public_ip(rng, &AWS_OCTETS)).collect();
    let mut services: Vec<&'static str> = GLOBAL.iter().chain(REGIONAL.iter()).map(|(s, _)| *s).collect();
    services.push("sts");
    services.sort_unstable();
    services.dedup();
    let uas: Vec<(&'static str, String)> = services.iter().map(|s| (*s, go_ua(s))).collect();
    for account in 0..ACCOUNT_NAMES.len() {
        let acct = est.id(account).to_string();
        let env = est.accounts[account].name;
        let users = ["backup-job", "legacy-reporting", "jenkins-legacy", "s3-sync", "alice", "bob", "breakglass-admin"]
            [..rng.random_range(3..=7)]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let buckets: Vec<String> =
            ["payments", "orders-api", "reports", "build-artifacts", "datalake-raw", "cloudtrail-logs"]
                [..rng.random_range(3..=6)]
                .iter()
                .map(|b| format!("{b}-{env}-{acct}"))
                .collect();
        let role = |rng: &mut Rng, name: &str| Role {
            account: acct.clone(),
            name: name.to_string(),
            path: "/".to_string(),
            pid: unique_id(rng, "AROA"),
        };
        let s = Scanner {
            account,
            role: role(rng, "SecurityAuditScanner"),
            session_prefix: "wiz-scan",
            external: wiz_account.clone(),
            external_pid: wiz_pid.clone(),
            ips: wiz_ips.clone(),
            uas: uas.clone(),
            java: None,
            apis: REGIONAL.len(),
            interval: (HOUR, 6 * HOUR),
            users: Vec::clone(&users),
            buckets: buckets.clone(),
            scan: None,
            last_start: start,
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 3 * HOUR), Box::new(s)));
        if [0, SECURITY, PROD].contains(&account) {
            let s = Scanner {
                account,
                role: role(rng, "PrismaCloudReadOnlyRole"),
                session_prefix: "prisma-cloud",
                external: prisma_account.clone(),
                external_pid: prisma_pid.clone(),
                ips: prisma_ips.clone(),
                uas: Vec::new(),
                java: Some(UA_PRISMA),
                apis: 26,
                interval: (HOUR, 3 * HOUR),
                users,
                buckets,
                scan: None,
                last_start: start,
                s: Scratch::default(),
            };
            out.push((start + uni(rng, 0, 2 * HOUR), Box::new(s)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::tests::{max_window, run_sources};
    use std::collections::BTreeSet;

    #[test]
    fn the_scanner_covers_every_region_with_many_apis_per_second() {
        let events = run_sources(build, 7 * HOUR);
        let scans: BTreeSet<&str> = events
            .iter()
            .filter_map(|e| e["userIdentity"]["arn"].as_str())
            .filter(|a| a.contains("/wiz-scan-"))
            .collect();
        assert!(scans.len() >= 6, "{} wiz scans", scans.len());
        for arn in &scans {
            let evs: Vec<(i64, &serde_json::Value)> = events
                .iter()
                .filter(|e| e["userIdentity"]["arn"].as_str() == Some(arn))
                .map(|e| (crate::background::tests::time(e), e))
                .collect();
            let regions: BTreeSet<&str> = evs.iter().filter_map(|(_, e)| e["awsRegion"].as_str()).collect();
            assert_eq!(regions.len(), 17, "{arn}");
            let apis = max_window(&evs, 1_000, |w| {
                w.iter().map(|(_, e)| e["eventName"].as_str()).collect::<BTreeSet<_>>().len()
            });
            assert!(apis >= 4, "{arn}: {apis} distinct APIs per second");
            let r30 = max_window(&evs, 30_000, |w| {
                w.iter().map(|(_, e)| e["awsRegion"].as_str()).collect::<BTreeSet<_>>().len()
            });
            assert!(r30 >= 8, "{arn}: {r30} regions in 30 s");
            assert!(evs.iter().any(|(_, e)| e["errorCode"] == "AccessDeniedException"));
        }
        let assume: Vec<&serde_json::Value> = events.iter().filter(|e| e["eventName"] == "AssumeRole").collect();
        assert!(assume.iter().all(|e| e["userIdentity"]["type"] == "AWSAccount"));
        assert!(events.iter().any(|e| e["userIdentity"]["arn"].as_str().is_some_and(|a| a.contains("/prisma-cloud-"))));
    }
}
