//! The console pages people open (the reads each makes, the regions a dashboard fans out
//! to) and [`page_load`], which emits one page load.

use rand::Rng as _;

use super::{AWS_INTERNAL, UA_CONSOLE, UA_CONSOLE_EC2, UA_CORAL, UA_S3_CONSOLE};
use crate::background::uni;
use crate::engine::Cx;
use crate::estate::REGIONS;
use crate::event::{Call, Host, Kind};
use crate::Rng;
use trailhound_model::time::SECOND;

/// How a console page's calls are made (which user agents, which source address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ui {
    /// The EC2 console (`console.ec2.amazonaws.com`).
    Ec2,
    /// The S3 console (`[S3Console/0.4, ...]`).
    S3,
    /// Classic consoles calling through the console's proxy (`console.amazonaws.com`).
    Proxy,
    /// Newer consoles calling the API from the browser.
    Browser,
    /// Back-end calls (`AWS Internal`): billing, health, account.
    Internal,
}

/// A console page: the reads it makes when it loads (in `us-east-1` when `global`, else the
/// person's region) and, for a dashboard, the reads it fans out to every region.
pub(super) struct Page {
    ui: Ui,
    global: bool,
    calls: &'static [(&'static str, &'static str)],
    pub(super) fanout: &'static [(&'static str, &'static str)],
}

pub(super) const EC2: Page = Page {
    ui: Ui::Ec2,
    global: false,
    calls: &[
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeInstanceStatus"),
        ("ec2", "DescribeTags"),
        ("ec2", "DescribeAddresses"),
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeVolumes"),
        ("ec2", "DescribeKeyPairs"),
        ("ec2", "DescribeImages"),
        ("ec2", "DescribeSubnets"),
        ("ec2", "DescribeVpcs"),
        ("ec2", "DescribeAvailabilityZones"),
        ("ec2", "DescribeAccountAttributes"),
        ("ec2", "DescribeInstanceTypes"),
        ("ec2", "DescribeLaunchTemplates"),
        ("ec2", "DescribeNetworkInterfaces"),
        ("ec2", "DescribePlacementGroups"),
        ("ec2", "DescribeHosts"),
        ("ec2", "DescribeCapacityReservations"),
        ("ec2", "DescribeInstanceTypeOfferings"),
        ("ec2", "DescribeSnapshots"),
        ("ec2", "GetEbsEncryptionByDefault"),
        ("elasticloadbalancing", "DescribeLoadBalancers"),
        ("elasticloadbalancing", "DescribeTargetGroups"),
        ("autoscaling", "DescribeAutoScalingGroups"),
        ("ssm", "DescribeInstanceInformation"),
        ("compute-optimizer", "GetEnrollmentStatus"),
        ("monitoring", "DescribeAlarms"),
        ("monitoring", "GetMetricData"),
    ],
    fanout: &[],
};

const IAM: Page = Page {
    ui: Ui::Proxy,
    global: true,
    calls: &[
        ("iam", "GetAccountSummary"),
        ("iam", "ListRoles"),
        ("iam", "ListUsers"),
        ("iam", "ListPolicies"),
        ("iam", "ListGroups"),
        ("iam", "GetAccountPasswordPolicy"),
        ("iam", "ListMFADevices"),
        ("iam", "ListAccessKeys"),
        ("iam", "ListAccountAliases"),
        ("iam", "ListSAMLProviders"),
        ("iam", "ListOpenIDConnectProviders"),
        ("iam", "ListAttachedRolePolicies"),
        ("iam", "ListRolePolicies"),
        ("iam", "GetRole"),
        ("iam", "ListRoleTags"),
        ("iam", "ListInstanceProfilesForRole"),
        ("iam", "GetServiceLastAccessedDetails"),
        ("iam", "ListAttachedUserPolicies"),
        ("iam", "ListGroupsForUser"),
        ("iam", "GetLoginProfile"),
        ("access-analyzer", "ListAnalyzers"),
        ("organizations", "DescribeOrganization"),
    ],
    fanout: &[],
};

pub(super) const S3: Page = Page {
    ui: Ui::S3,
    global: true,
    calls: &[
        ("s3", "ListBuckets"),
        ("s3", "GetBucketLocation"),
        ("s3", "GetBucketPolicyStatus"),
        ("s3", "GetBucketAcl"),
        ("s3", "GetBucketPublicAccessBlock"),
        ("s3", "GetAccountPublicAccessBlock"),
        ("s3", "GetBucketVersioning"),
        ("s3", "GetBucketEncryption"),
        ("s3", "GetBucketTagging"),
        ("s3", "GetBucketPolicy"),
        ("s3", "GetBucketLogging"),
        ("s3", "GetBucketOwnershipControls"),
        ("s3", "GetBucketLifecycle"),
        ("s3", "GetBucketObjectLockConfiguration"),
        ("s3", "ListAccessPoints"),
        ("s3", "GetBucketReplication"),
    ],
    fanout: &[],
};

const LAMBDA: Page = Page {
    ui: Ui::Browser,
    global: false,
    calls: &[
        ("lambda", "ListFunctions20150331"),
        ("lambda", "GetAccountSettings20160819"),
        ("lambda", "GetFunction20150331v2"),
        ("lambda", "ListAliases20150331"),
        ("lambda", "ListVersionsByFunction20150331"),
        ("lambda", "GetPolicy20150331v2"),
        ("lambda", "ListEventSourceMappings20150331"),
        ("lambda", "GetFunctionConcurrency20171031"),
        ("lambda", "ListTags20170331"),
        ("lambda", "GetFunctionUrlConfig"),
        ("lambda", "ListLayers20181031"),
        ("lambda", "GetFunctionCodeSigningConfig"),
        ("lambda", "ListProvisionedConcurrencyConfigs"),
        ("logs", "DescribeLogGroups"),
        ("monitoring", "GetMetricData"),
        ("iam", "GetRole"),
    ],
    fanout: &[],
};

const CLOUDWATCH: Page = Page {
    ui: Ui::Browser,
    global: false,
    calls: &[
        ("monitoring", "DescribeAlarms"),
        ("monitoring", "GetMetricData"),
        ("monitoring", "ListDashboards"),
        ("monitoring", "DescribeAlarmHistory"),
        ("monitoring", "ListMetrics"),
        ("monitoring", "GetDashboard"),
        ("monitoring", "DescribeAnomalyDetectors"),
        ("monitoring", "DescribeInsightRules"),
        ("monitoring", "ListMetricStreams"),
        ("logs", "DescribeLogGroups"),
        ("logs", "DescribeQueryDefinitions"),
        ("logs", "DescribeMetricFilters"),
        ("synthetics", "DescribeCanaries"),
        ("application-insights", "ListApplications"),
    ],
    fanout: &[],
};

const LOGS: Page = Page {
    ui: Ui::Browser,
    global: false,
    calls: &[
        ("logs", "DescribeLogGroups"),
        ("logs", "DescribeLogStreams"),
        ("logs", "FilterLogEvents"),
        ("logs", "GetLogEvents"),
        ("logs", "DescribeQueryDefinitions"),
        ("logs", "DescribeSubscriptionFilters"),
        ("logs", "DescribeMetricFilters"),
        ("logs", "GetDataProtectionPolicy"),
        ("logs", "DescribeAccountPolicies"),
        ("logs", "GetLogGroupFields"),
        ("logs", "DescribeQueries"),
        ("logs", "ListTagsForResource"),
    ],
    fanout: &[],
};

const RDS: Page = Page {
    ui: Ui::Proxy,
    global: false,
    calls: &[
        ("rds", "DescribeDBInstances"),
        ("rds", "DescribeDBClusters"),
        ("rds", "DescribePendingMaintenanceActions"),
        ("rds", "DescribeDBSnapshots"),
        ("rds", "DescribeDBClusterSnapshots"),
        ("rds", "DescribeEvents"),
        ("rds", "DescribeDBSubnetGroups"),
        ("rds", "DescribeDBParameterGroups"),
        ("rds", "DescribeOptionGroups"),
        ("rds", "DescribeAccountAttributes"),
        ("rds", "DescribeCertificates"),
        ("rds", "DescribeDBProxies"),
        ("rds", "ListTagsForResource"),
        ("monitoring", "GetMetricData"),
    ],
    fanout: &[],
};

const CLOUDTRAIL: Page = Page {
    ui: Ui::Proxy,
    global: false,
    calls: &[
        ("cloudtrail", "LookupEvents"),
        ("cloudtrail", "DescribeTrails"),
        ("cloudtrail", "GetTrailStatus"),
        ("cloudtrail", "GetEventSelectors"),
        ("cloudtrail", "ListTrails"),
        ("cloudtrail", "GetInsightSelectors"),
        ("cloudtrail", "ListEventDataStores"),
        ("cloudtrail", "ListChannels"),
        ("cloudtrail", "GetTrail"),
        ("cloudtrail", "ListTags"),
        ("s3", "GetBucketPolicy"),
    ],
    fanout: &[],
};

const ECS: Page = Page {
    ui: Ui::Browser,
    global: false,
    calls: &[
        ("ecs", "ListClusters"),
        ("ecs", "DescribeClusters"),
        ("ecs", "ListServices"),
        ("ecs", "DescribeServices"),
        ("ecs", "ListTasks"),
        ("ecs", "DescribeTasks"),
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "ListTaskDefinitions"),
        ("ecs", "ListContainerInstances"),
        ("ecs", "DescribeCapacityProviders"),
        ("ecs", "ListAccountSettings"),
        ("ecr", "DescribeRepositories"),
        ("application-autoscaling", "DescribeScalableTargets"),
        ("logs", "DescribeLogGroups"),
    ],
    fanout: &[],
};

const SECRETS: Page = Page {
    ui: Ui::Proxy,
    global: false,
    calls: &[
        ("secretsmanager", "ListSecrets"),
        ("secretsmanager", "DescribeSecret"),
        ("secretsmanager", "GetResourcePolicy"),
        ("secretsmanager", "ListSecretVersionIds"),
        ("kms", "DescribeKey"),
        ("kms", "ListAliases"),
        ("kms", "ListKeys"),
        ("lambda", "ListFunctions20150331"),
        ("ssm", "DescribeParameters"),
        ("ssm", "GetParameter"),
    ],
    fanout: &[],
};

const VPC: Page = Page {
    ui: Ui::Ec2,
    global: false,
    calls: &[
        ("ec2", "DescribeVpcs"),
        ("ec2", "DescribeSubnets"),
        ("ec2", "DescribeRouteTables"),
        ("ec2", "DescribeInternetGateways"),
        ("ec2", "DescribeNatGateways"),
        ("ec2", "DescribeVpcEndpoints"),
        ("ec2", "DescribeNetworkAcls"),
        ("ec2", "DescribeDhcpOptions"),
        ("ec2", "DescribeEgressOnlyInternetGateways"),
        ("ec2", "DescribeVpcPeeringConnections"),
        ("ec2", "DescribeCustomerGateways"),
        ("ec2", "DescribeVpnGateways"),
        ("ec2", "DescribeVpnConnections"),
        ("ec2", "DescribeTransitGateways"),
        ("ec2", "DescribeFlowLogs"),
        ("ec2", "DescribeManagedPrefixLists"),
        ("ec2", "DescribeAddresses"),
        ("ec2", "DescribeSecurityGroups"),
    ],
    fanout: &[],
};

pub(super) const HOME: Page = Page {
    ui: Ui::Internal,
    global: true,
    calls: &[
        ("ce", "GetCostAndUsage"),
        ("ce", "GetCostForecast"),
        ("health", "DescribeEventAggregates"),
        ("health", "DescribeEvents"),
        ("account", "ListRegions"),
        ("account", "GetContactInformation"),
        ("securityhub", "GetFindings"),
        ("trustedadvisor", "ListRecommendations"),
        ("resource-explorer-2", "GetIndex"),
        ("resource-explorer-2", "ListViews"),
        ("cost-optimization-hub", "ListRecommendationSummaries"),
        ("notifications", "ListNotificationEvents"),
    ],
    fanout: &[("resource-explorer-2", "ListIndexes"), ("ec2", "DescribeRegions")],
};

pub(super) const GLOBAL_VIEW: Page = Page {
    ui: Ui::Ec2,
    global: false,
    calls: &[
        ("ec2", "DescribeRegions"),
        ("ec2", "DescribeAccountAttributes"),
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeVpcs"),
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeVolumes"),
        ("ec2", "DescribeSubnets"),
        ("ec2", "DescribeVpcEndpoints"),
        ("ec2", "DescribeNetworkAcls"),
        ("autoscaling", "DescribeAutoScalingGroups"),
    ],
    fanout: &[
        ("ec2", "DescribeInstances"),
        ("ec2", "DescribeVpcs"),
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeVolumes"),
        ("ec2", "DescribeSubnets"),
    ],
};

pub(super) const BILLING: Page = Page {
    ui: Ui::Internal,
    global: true,
    calls: &[
        ("ce", "GetCostAndUsage"),
        ("ce", "GetCostForecast"),
        ("ce", "GetDimensionValues"),
        ("ce", "GetReservationUtilization"),
        ("ce", "GetSavingsPlansUtilization"),
        ("ce", "GetAnomalies"),
        ("ce", "GetTags"),
        ("budgets", "DescribeBudgets"),
        ("freetier", "GetFreeTierUsage"),
        ("cost-optimization-hub", "ListRecommendationSummaries"),
        ("billingconductor", "ListBillingGroups"),
        ("account", "GetAlternateContact"),
        ("invoicing", "ListInvoiceUnits"),
    ],
    fanout: &[("ec2", "DescribeReservedInstances"), ("compute-optimizer", "GetEnrollmentStatus")],
};

pub(super) const TRUSTED_ADVISOR: Page = Page {
    ui: Ui::Internal,
    global: true,
    calls: &[
        ("trustedadvisor", "ListChecks"),
        ("trustedadvisor", "ListRecommendations"),
        ("trustedadvisor", "GetRecommendation"),
        ("trustedadvisor", "ListRecommendationResources"),
        ("support", "DescribeTrustedAdvisorChecks"),
        ("support", "DescribeTrustedAdvisorCheckSummaries"),
        ("support", "DescribeTrustedAdvisorCheckResult"),
        ("support", "DescribeSeverityLevels"),
        ("servicequotas", "ListServiceQuotas"),
        ("health", "DescribeEventAggregates"),
    ],
    fanout: &[("servicequotas", "ListServiceQuotas"), ("ec2", "DescribeAccountAttributes")],
};

pub(super) const SECURITY_HUB: Page = Page {
    ui: Ui::Browser,
    global: false,
    calls: &[
        ("securityhub", "DescribeHub"),
        ("securityhub", "GetFindings"),
        ("securityhub", "GetEnabledStandards"),
        ("securityhub", "DescribeStandards"),
        ("securityhub", "GetInsights"),
        ("securityhub", "GetInsightResults"),
        ("securityhub", "ListMembers"),
        ("securityhub", "DescribeProducts"),
        ("securityhub", "GetFindingAggregator"),
        ("securityhub", "ListSecurityControlDefinitions"),
        ("guardduty", "ListDetectors"),
        ("config", "DescribeConfigurationRecorderStatus"),
    ],
    fanout: &[("securityhub", "DescribeHub"), ("securityhub", "GetEnabledStandards")],
};

pub(super) const REGION_SELECTOR: Page = Page {
    ui: Ui::Proxy,
    global: true,
    calls: &[
        ("account", "ListRegions"),
        ("account", "GetRegionOptStatus"),
        ("ec2", "DescribeRegions"),
        ("health", "DescribeEventAggregates"),
        ("servicequotas", "ListServices"),
        ("resource-explorer-2", "GetIndex"),
        ("resource-explorer-2", "ListViews"),
        ("ssm", "GetServiceSetting"),
        ("ce", "GetCostAndUsage"),
    ],
    fanout: &[("ec2", "DescribeRegions"), ("resource-explorer-2", "ListIndexes"), ("ssm", "GetServiceSetting")],
};

const ACCOUNT: Page = Page {
    ui: Ui::Internal,
    global: true,
    calls: &[
        ("account", "GetContactInformation"),
        ("account", "GetAlternateContact"),
        ("account", "ListRegions"),
        ("account", "GetRegionOptStatus"),
        ("iam", "GetAccountSummary"),
        ("iam", "ListMFADevices"),
        ("iam", "ListAccessKeys"),
        ("iam", "GetAccountPasswordPolicy"),
        ("organizations", "DescribeOrganization"),
        ("organizations", "ListAccounts"),
        ("billing", "GetBillingPreferences"),
        ("ce", "GetCostAndUsage"),
    ],
    fanout: &[],
};

/// Pages people open, weighted.
pub(super) const PAGES: [(u32, &Page); 17] = [
    (26, &EC2),
    (10, &IAM),
    (10, &S3),
    (9, &LAMBDA),
    (8, &CLOUDWATCH),
    (9, &LOGS),
    (5, &RDS),
    (5, &CLOUDTRAIL),
    (7, &ECS),
    (4, &SECRETS),
    (5, &VPC),
    (8, &HOME),
    (4, &GLOBAL_VIEW),
    (2, &BILLING),
    (1, &TRUSTED_ADVISOR),
    (2, &SECURITY_HUB),
    (3, &REGION_SELECTOR),
];

/// Pages the root user opens, weighted.
pub(super) const ROOT_PAGES: [(u32, &Page); 7] =
    [(20, &BILLING), (18, &HOME), (14, &ACCOUNT), (10, &IAM), (6, &TRUSTED_ADVISOR), (6, &REGION_SELECTOR), (4, &S3)];

/// Chooses the user agent and source address of one console call of a page.
fn console_src<'a>(rng: &mut Rng, ui: Ui, browser: &'a str, ip: &'a str) -> (&'a str, &'a str) {
    let r = rng.random_range(0..100u32);
    match ui {
        Ui::Ec2 => match r {
            0..75 => (UA_CONSOLE_EC2, ip),
            75..88 => (UA_CONSOLE, ip),
            88..96 => (browser, ip),
            _ => (AWS_INTERNAL, AWS_INTERNAL),
        },
        Ui::S3 => match r {
            0..88 => (UA_S3_CONSOLE, ip),
            88..94 => (UA_CONSOLE, ip),
            _ => (AWS_INTERNAL, AWS_INTERNAL),
        },
        Ui::Proxy => match r {
            0..62 => (UA_CONSOLE, ip),
            62..80 => (browser, ip),
            80..90 => (AWS_INTERNAL, AWS_INTERNAL),
            _ => (UA_CORAL, ip),
        },
        Ui::Browser => match r {
            0..68 => (browser, ip),
            68..90 => (UA_CONSOLE, ip),
            _ => (AWS_INTERNAL, AWS_INTERNAL),
        },
        Ui::Internal => match r {
            0..55 => (AWS_INTERNAL, AWS_INTERNAL),
            55..85 => (UA_CONSOLE, ip),
            85..93 => (UA_CORAL, ip),
            _ => (browser, ip),
        },
    }
}

/// The `errorCode` and `errorMessage` of a denied console read.
fn denial(service: &str, name: &str, arn: &str) -> (&'static str, String) {
    if service == "ec2" {
        ("Client.UnauthorizedOperation", "You are not authorized to perform this operation. User: ".to_string() + arn)
    } else {
        let prefix = match service {
            "monitoring" => "cloudwatch",
            "elasticloadbalancing" => "elasticloadbalancing",
            s => s,
        };
        let action = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'v');
        (
            "AccessDenied",
            format!(
                "User: {arn} is not authorized to perform: {prefix}:{action} because no identity-based policy allows the {prefix}:{action} action"
            ),
        )
    }
}

/// The `arn` of a rendered `userIdentity` (for error messages).
fn ident_arn(ident: &str) -> &str {
    ident.split("\"arn\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("")
}

/// Emits one page load at `now` for the session `ident` in account `acct`: 8–27 distinct
/// reads of the page within ~10 s (a few repeated), and for a dashboard its reads in 10–17
/// regions within ~8 s. `deny` of the reads (a handful at most) are refused. Returns the
/// time of the last call.
#[allow(clippy::too_many_arguments)]
pub(super) fn page_load(
    cx: &mut Cx<'_>,
    page: &Page,
    now: i64,
    ident: &str,
    acct: &str,
    home: &'static str,
    browser: &str,
    ip: &str,
    deny: usize,
) -> i64 {
    let (em, rng) = (&mut *cx.em, &mut *cx.rng);
    let region = if page.global { "us-east-1" } else { home };
    let lo = 8.min(page.calls.len());
    let n = rng.random_range(lo..=page.calls.len().min(27));
    // A random selection of n distinct calls, the first ones of the page always included.
    let mut idx: Vec<usize> = (0..page.calls.len()).collect();
    for i in 3.min(n)..n {
        let j = rng.random_range(i..idx.len());
        idx.swap(i, j);
    }
    idx.truncate(n);
    let repeats = rng.random_range(0..=n / 4);
    let span = uni(rng, 2 * SECOND, 9 * SECOND);
    let step = span / (n + repeats).max(1) as i64;
    let arn = if deny > 0 { ident_arn(ident).to_string() } else { String::new() };
    let mut denied = 0;
    let mut t = now;
    let mut last = now;
    for k in 0..n + repeats {
        let (svc, name) = page.calls[idx[if k < n { k } else { rng.random_range(0..n) }]];
        let (ua, src) = console_src(rng, page.ui, browser, ip);
        let host = if src == AWS_INTERNAL { Host::None } else { Host::Default };
        // A few calls (back-end ones mostly) lack the console flag, as in real trails.
        let kind = if src == AWS_INTERNAL && rng.random_bool(0.3) { Kind::Api } else { Kind::ConsoleApi };
        let region = if svc == "iam" || svc == "organizations" || svc == "ce" { "us-east-1" } else { region };
        let mut c = Call::new(t, ident, svc, name, region, src, ua, acct).kind(kind).host(host).read_only(true);
        let msg;
        if denied < deny && k >= 2 && k < n {
            denied += 1;
            let (code, m) = denial(svc, name, &arn);
            msg = m;
            c = c.err(code, &msg);
        }
        em.bg(&c, rng);
        last = t;
        t += uni(rng, step / 3, step * 2).max(1);
    }
    if !page.fanout.is_empty() {
        let k = match rng.random_range(0..10u32) {
            0..2 => rng.random_range(10..=12),
            _ => rng.random_range(13..=17),
        };
        let mut regions = REGIONS;
        for i in 0..k {
            let j = rng.random_range(i..regions.len());
            regions.swap(i, j);
        }
        for r in &regions[..k] {
            let base = now + uni(rng, 200, 6 * SECOND);
            let m = rng.random_range(1..=page.fanout.len());
            for &(svc, name) in &page.fanout[..m] {
                let at = base + uni(rng, 0, 1_500);
                let (ua, src) = console_src(rng, page.ui, browser, ip);
                let host = if src == AWS_INTERNAL { Host::None } else { Host::Default };
                em.bg(
                    &Call::new(at, ident, svc, name, r, src, ua, acct)
                        .kind(Kind::ConsoleApi)
                        .host(host)
                        .read_only(true),
                    rng,
                );
                last = last.max(at);
            }
        }
    }
    last
}
