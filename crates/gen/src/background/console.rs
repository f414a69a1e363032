//! People in the console: IAM Identity Center (SSO) permission-set sessions, IAM users with
//! console passwords, and the root user of some accounts.
//!
//! Every console page load is a burst of 8–27 distinct read APIs within ~10 s; dashboards
//! (console home, EC2 Global View, Billing and Cost Management, Trusted Advisor, Security
//! Hub, the region selector) fan the same few reads out over 10–17 regions within seconds.
//! The calls carry `sessionCredentialFromConsole` (all but a few) and a console user agent:
//! `console.amazonaws.com`, `console.ec2.amazonaws.com`, `AWS Internal` (with source address
//! `AWS Internal` and no `tlsDetails`), the S3 console's `[S3Console/0.4, aws-internal/3 ...]`,
//! `Coral/Netty4`, or the person's browser. A person without the rights for a page now and
//! then gets a handful of `AccessDenied` reads. People also use the AWS CLI from their laptop
//! (their SSO role through `aws sso login`, or an IAM user's own `AKIA` key), a few commands at
//! a time. Administrators now and then do IAM work (a role with a managed policy; an IAM user
//! for a contractor with a console password and non-admin policies; tidying an old user) or
//! add S3 data events to the account trail (`PutEventSelectors` keeping management events).
//!
//! [`build`] returns the [`Operator`]s (people who also run infrastructure-as-code from their
//! laptop) for [`super::iac`].

use rand::Rng as _;

use super::{exp, pick, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, session_key, unique_id, user_key, Estate, DEV, PROD, REGIONS, SECURITY, STAGING};
use crate::event::{Call, Host, Kind};
use crate::identity::{assumed_role, iam_user, Role, SessionOpts};
use crate::json::{hex, time_string, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// Browser user agents of the people.
pub(crate) const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
];

/// The console's own user agent.
pub(crate) const UA_CONSOLE: &str = "console.amazonaws.com";
/// The EC2 console's user agent.
pub(crate) const UA_CONSOLE_EC2: &str = "console.ec2.amazonaws.com";
/// User agent (and source address) of calls the console's back end makes.
pub(crate) const AWS_INTERNAL: &str = "AWS Internal";
/// The S3 console's user agent.
pub(crate) const UA_S3_CONSOLE: &str = "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.224-190.876.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.412-b08 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard]";
/// User agent of some console back ends.
pub(crate) const UA_CORAL: &str = "Coral/Netty4";

/// `userIdentity` of the root user's console session.
pub(crate) fn root_session(account: &str, key: &str, created: i64, mfa: bool) -> String {
    let mut s = String::with_capacity(320);
    let created = time_string(created);
    Obj::new(&mut s)
        .str("type", "Root")
        .str("principalId", account)
        .str("arn", &format!("arn:aws:iam::{account}:root"))
        .str("accountId", account)
        .str("accessKeyId", key)
        .obj("sessionContext", |c| {
            c.obj("sessionIssuer", |i| i).obj("webIdFederationData", |w| w).obj("attributes", |a| {
                a.str("creationDate", &created).str("mfaAuthenticated", if mfa { "true" } else { "false" })
            })
        })
        .end();
    s
}

/// `userIdentity` of the root user's `ConsoleLogin` (no key yet).
pub(crate) fn root_signin(account: &str) -> String {
    let mut s = String::with_capacity(160);
    Obj::new(&mut s)
        .str("type", "Root")
        .str("principalId", account)
        .str("arn", &format!("arn:aws:iam::{account}:root"))
        .str("accountId", account)
        .str("accessKeyId", "")
        .end();
    s
}

/// `userIdentity` of an IAM user's console session (an `ASIA` key and a `sessionContext`).
pub(crate) fn iam_user_session(account: &str, name: &str, pid: &str, key: &str, created: i64, mfa: bool) -> String {
    let mut s = String::with_capacity(360);
    let created = time_string(created);
    Obj::new(&mut s)
        .str("type", "IAMUser")
        .str("principalId", pid)
        .str("arn", &format!("arn:aws:iam::{account}:user/{name}"))
        .str("accountId", account)
        .str("accessKeyId", key)
        .str("userName", name)
        .obj("sessionContext", |c| {
            c.obj("sessionIssuer", |i| i).obj("webIdFederationData", |w| w).obj("attributes", |a| {
                a.str("creationDate", &created).str("mfaAuthenticated", if mfa { "true" } else { "false" })
            })
        })
        .end();
    s
}

/// `userIdentity` of an IAM user's `ConsoleLogin`.
pub(crate) fn iam_user_signin(account: &str, name: &str, pid: &str) -> String {
    let mut s = String::with_capacity(200);
    Obj::new(&mut s)
        .str("type", "IAMUser")
        .str("principalId", pid)
        .str("arn", &format!("arn:aws:iam::{account}:user/{name}"))
        .str("accountId", account)
        .str("userName", name)
        .end();
    s
}

/// A person's AWS CLI user agent on their laptop, for the command `cmd` (`ec2.describe-instances`).
pub(crate) fn cli_ua(os: &str, cmd: &str) -> String {
    format!(
        "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/{os} md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cmd/{cmd}"
    )
}

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
struct Page {
    ui: Ui,
    global: bool,
    calls: &'static [(&'static str, &'static str)],
    fanout: &'static [(&'static str, &'static str)],
}

const EC2: Page = Page {
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

const S3: Page = Page {
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

const HOME: Page = Page {
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

const GLOBAL_VIEW: Page = Page {
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

const BILLING: Page = Page {
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

const TRUSTED_ADVISOR: Page = Page {
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

const SECURITY_HUB: Page = Page {
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

const REGION_SELECTOR: Page = Page {
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
const PAGES: [(u32, &Page); 17] = [
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
const ROOT_PAGES: [(u32, &Page); 7] =
    [(20, &BILLING), (18, &HOME), (14, &ACCOUNT), (10, &IAM), (6, &TRUSTED_ADVISOR), (6, &REGION_SELECTOR), (4, &S3)];

/// AWS CLI commands people run from their laptops: (service, API, `cmd/` of the agent).
const CLI: [(&str, &str, &str); 16] = [
    ("sts", "GetCallerIdentity", "sts.get-caller-identity"),
    ("ec2", "DescribeInstances", "ec2.describe-instances"),
    ("s3", "ListBuckets", "s3.ls"),
    ("logs", "FilterLogEvents", "logs.tail"),
    ("ecs", "ListServices", "ecs.list-services"),
    ("ecs", "DescribeServices", "ecs.describe-services"),
    ("lambda", "ListFunctions20150331", "lambda.list-functions"),
    ("cloudformation", "DescribeStacks", "cloudformation.describe-stacks"),
    ("ssm", "GetParameter", "ssm.get-parameter"),
    ("iam", "ListRoles", "iam.list-roles"),
    ("eks", "DescribeCluster", "eks.update-kubeconfig"),
    ("ecr", "GetAuthorizationToken", "ecr.get-login-password"),
    ("rds", "DescribeDBInstances", "rds.describe-db-instances"),
    ("sqs", "ListQueues", "sqs.list-queues"),
    ("ec2", "DescribeSecurityGroups", "ec2.describe-security-groups"),
    ("logs", "DescribeLogGroups", "logs.describe-log-groups"),
];

/// Who a person signs in as.
enum Principal {
    /// SSO permission-set roles, one per account the person may enter.
    Sso { email: String, roles: Vec<(usize, Role)> },
    /// An IAM user with a console password (and, maybe, an `AKIA` key for the CLI).
    User { account: usize, name: String, pid: String, cli_ident: Option<String> },
    /// The account's root user.
    Root { account: usize },
}

/// A person's live console session.
struct Live {
    ident: String,
    /// The identity of the person's CLI calls in this session (empty: no CLI).
    cli_ident: String,
    account: usize,
    end: i64,
}

/// One person (or the root user of one account).
pub(crate) struct Human {
    who: Principal,
    admin: bool,
    ip: String,
    ua: &'static str,
    os: &'static str,
    region: &'static str,
    /// Mean session length and mean gap between sessions (ms).
    session_mean: f64,
    gap_mean: f64,
    /// Chance that a step of a live session is a CLI burst rather than a page.
    cli: f64,
    /// When the person last opened a page they lack the rights for.
    last_denied: i64,
    live: Option<Live>,
    s: Scratch,
}

/// A person who also runs infrastructure-as-code from a laptop (see [`super::iac`]).
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    /// Account they work in.
    pub account: usize,
    /// How they authenticate.
    pub cred: OperatorCred,
    /// Their laptop's public address.
    pub ip: String,
    /// Short name for resource names (`alice`).
    pub short: String,
}

/// An [`Operator`]'s credentials.
#[derive(Debug, Clone)]
pub(crate) enum OperatorCred {
    /// An SSO permission-set role, sessions named after `email`.
    Sso {
        /// The role.
        role: Role,
        /// Session name.
        email: String,
    },
    /// An IAM user's long-lived key (rendered identity).
    User {
        /// Rendered `userIdentity`.
        ident: String,
    },
}

fn con<'a>(t: i64, ident: &'a str, name: &'a str, req: &'a str, ip: &'a str, ua: &'a str, acct: &'a str) -> Call<'a> {
    Call::new(t, ident, "iam", name, "us-east-1", ip, ua, acct).req(req).kind(Kind::ConsoleApi)
}

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
fn page_load(
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

impl Human {
    fn principal_account(&self, rng: &mut Rng) -> usize {
        match &self.who {
            Principal::Sso { roles, .. } => roles[rng.random_range(0..roles.len())].0,
            Principal::User { account, .. } | Principal::Root { account } => *account,
        }
    }

    /// Signs in: `ConsoleLogin`, a console session (and a CLI session for SSO people).
    fn sign_in(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let account = self.principal_account(cx.rng);
        let acct = cx.est.id(account).to_string();
        let key = session_key(cx.rng);
        let mfa = !matches!(self.who, Principal::User { .. }) || cx.rng.random_bool(0.7);
        let (signin_ident, ident, cli_ident) = match &self.who {
            Principal::Sso { email, roles } => {
                let role = roles.iter().find(|(a, _)| *a == account).map(|(_, r)| r).unwrap_or(&roles[0].1);
                let ident = assumed_role(role, email, &key, now, SessionOpts { mfa: true, ..Default::default() });
                let cli = if self.cli > 0.0 {
                    let k = session_key(cx.rng);
                    assumed_role(role, email, &k, now + uni(cx.rng, MINUTE, 20 * MINUTE), SessionOpts::default())
                } else {
                    String::new()
                };
                (ident.clone(), ident, cli)
            }
            Principal::User { name, pid, cli_ident, .. } => (
                iam_user_signin(&acct, name, pid),
                iam_user_session(&acct, name, pid, &key, now, mfa),
                cli_ident.clone().unwrap_or_default(),
            ),
            Principal::Root { .. } => (root_signin(&acct), root_session(&acct, &key, now, true), String::new()),
        };
        let login_to = match self.who {
            Principal::Sso { .. } => {
                "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1"
            }
            _ => {
                "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&nc2=h_ct&src=header-signin&state=hashArgsFromTB_us-east-1_example"
            }
        };
        Obj::new(&mut self.s.extra)
            .str("LoginTo", login_to)
            .str("MobileVersion", "No")
            .str("MFAUsed", if mfa && !matches!(self.who, Principal::Sso { .. }) { "Yes" } else { "No" })
            .end();
        cx.em.bg(
            &Call::new(now, &signin_ident, "signin", "ConsoleLogin", "us-east-1", &self.ip, self.ua, &acct)
                .resp("{\"ConsoleLogin\":\"Success\"}")
                .extra(&self.s.extra)
                .kind(Kind::SignIn)
                .read_only(false)
                .host(Host::Custom("us-east-1.signin.aws.amazon.com")),
            cx.rng,
        );
        let end = now + MINUTE + exp(cx.rng, self.session_mean);
        self.live = Some(Live { ident, cli_ident, account, end });
        now + uni(cx.rng, 2 * SECOND, 10 * SECOND)
    }

    /// A few AWS CLI commands from the laptop.
    fn cli_burst(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        let mut t = now;
        for _ in 0..cx.rng.random_range(1..=5) {
            let (svc, name, cmd) = CLI[cx.rng.random_range(0..CLI.len())];
            let ua = cli_ua(self.os, cmd);
            let region = if svc == "iam" { "us-east-1" } else { self.region };
            for _ in 0..cx.rng.random_range(1..=2) {
                let c = Call::new(t, &live.cli_ident, svc, name, region, &self.ip, &ua, acct);
                let c = if svc == "ecr" { c.read_only(true) } else { c };
                cx.em.bg(&c, cx.rng);
                t += uni(cx.rng, 150, 900);
            }
            t += uni(cx.rng, 3 * SECOND, 45 * SECOND);
        }
        t
    }
}
impl Human {
    /// An administrator's occasional IAM and CloudTrail work in the console.
    fn admin_work(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        match cx.rng.random_range(0..100) {
            0..20 => self.create_person_user(now, cx, &live.ident, acct),
            20..35 => self.add_data_events(now, cx, live, acct),
            _ => self.iam_admin_work(now, cx, &live.ident, acct),
        }
    }

    /// Creates an IAM user for a contractor: `CreateUser`, `CreateLoginProfile` (password
    /// reset required), `AttachUserPolicy` of a non-admin managed policy.
    fn create_person_user(&mut self, now: i64, cx: &mut Cx<'_>, ident: &str, acct: &str) -> i64 {
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let first = ["jordan", "sam", "alex", "robin", "kim", "lee"][rng.random_range(0..6)];
        let user = format!("{first}.contractor-{}", hex(rng, 4));
        let mut t = now;
        Obj::new(&mut s.req).str("userName", &user).str("path", "/").end();
        Obj::new(&mut s.resp)
            .obj("user", |u| {
                u.str("path", "/")
                    .str("userName", &user)
                    .str("userId", &unique_id(rng, "AIDA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:user/{user}"))
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(&con(t, ident, "CreateUser", &s.req, ip, ua, acct).resp(&s.resp), rng);
        t += uni(rng, 5 * SECOND, 30 * SECOND);
        Obj::new(&mut s.req).str("userName", &user).bool("passwordResetRequired", true).end();
        Obj::new(&mut s.resp)
            .obj("loginProfile", |p| {
                p.str("userName", &user)
                    .str("createDate", &crate::json::iam_date_string(t))
                    .bool("passwordResetRequired", true)
            })
            .end();
        em.bg(&con(t, ident, "CreateLoginProfile", &s.req, ip, ua, acct).resp(&s.resp), rng);
        for policy in ["ReadOnlyAccess", "IAMUserChangePassword"] {
            t += uni(rng, 2 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req)
                .str("userName", &user)
                .str("policyArn", &format!("arn:aws:iam::aws:policy/{policy}"))
                .end();
            em.bg(&con(t, ident, "AttachUserPolicy", &s.req, ip, ua, acct), rng);
        }
        t
    }

    /// Adds S3 data events to the account trail, keeping management events.
    fn add_data_events(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        let (name, arn, _) = cx.est.account_trail(live.account);
        let region = cx.est.accounts[live.account].region;
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let c = |t, n| Call::new(t, &live.ident, "cloudtrail", n, region, ip, ua, acct).kind(Kind::ConsoleApi);
        let mut t = now;
        Obj::new(&mut s.req).str("trailName", &name).end();
        em.bg(&c(t, "GetEventSelectors").req(&s.req), rng);
        t += uni(rng, 20 * SECOND, 90 * SECOND);
        let bucket = ["payments", "orders-api", "reports"][rng.random_range(0..3)];
        let selectors = format!(
            "[{{\"readWriteType\":\"All\",\"includeManagementEvents\":true,\"dataResources\":[{{\"type\":\"AWS::S3::Object\",\"values\":[\"arn:aws:s3:::{bucket}-{}-{acct}/\"]}}],\"excludeManagementEventSources\":[]}}]",
            cx.est.accounts[live.account].name
        );
        Obj::new(&mut s.req).str("trailName", &name).raw("eventSelectors", &selectors).end();
        Obj::new(&mut s.resp).str("trailARN", &arn).raw("eventSelectors", &selectors).end();
        em.bg(&c(t, "PutEventSelectors").req(&s.req).resp(&s.resp), rng);
        t += uni(rng, 2 * SECOND, 10 * SECOND);
        Obj::new(&mut s.req).str("name", &arn).end();
        em.bg(&c(t, "GetTrailStatus").req(&s.req), rng);
        t
    }

    fn iam_admin_work(&mut self, now: i64, cx: &mut Cx<'_>, live_ident: &str, acct: &str) -> i64 {
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let mut t = now;
        let role = format!(
            "{}-{}",
            ["etl-runner", "support-readonly", "partner-access", "lambda-exec"][rng.random_range(0..4)],
            hex(rng, 4)
        );
        let trust = "{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"Service\\\":\\\"lambda.amazonaws.com\\\"},\\\"Action\\\":\\\"sts:AssumeRole\\\"}]}";
        Obj::new(&mut s.req)
            .str("path", "/")
            .str("roleName", &role)
            .raw("assumeRolePolicyDocument", &format!("\"{trust}\""))
            .str("description", "created in console")
            .end();
        Obj::new(&mut s.resp)
            .obj("role", |r| {
                r.str("path", "/")
                    .str("roleName", &role)
                    .str("roleId", &unique_id(rng, "AROA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:role/{role}"))
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(&con(t, live_ident, "CreateRole", &s.req, ip, ua, acct).resp(&s.resp), rng);
        t += uni(rng, 8 * SECOND, 40 * SECOND);
        let policy =
            ["ReadOnlyAccess", "AmazonS3ReadOnlyAccess", "AWSLambdaBasicExecutionRole"][rng.random_range(0..3)];
        let policy_arn = if policy == "AWSLambdaBasicExecutionRole" {
            format!("arn:aws:iam::aws:policy/service-role/{policy}")
        } else {
            format!("arn:aws:iam::aws:policy/{policy}")
        };
        Obj::new(&mut s.req).str("roleName", &role).str("policyArn", &policy_arn).end();
        em.bg(&con(t, live_ident, "AttachRolePolicy", &s.req, ip, ua, acct), rng);
        t += uni(rng, 2 * SECOND, 10 * SECOND);
        Obj::new(&mut s.req).str("roleName", &role).end();
        em.bg(&con(t, live_ident, "GetRole", &s.req, ip, ua, acct), rng);
        if rng.random_bool(0.4) {
            t += uni(rng, 10 * SECOND, 60 * SECOND);
            Obj::new(&mut s.req)
                .str("roleName", &role)
                .str("policyName", "inline-s3")
                .str("policyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}")
                .end();
            em.bg(&con(t, live_ident, "PutRolePolicy", &s.req, ip, ua, acct), rng);
        }
        if rng.random_bool(0.3) {
            // Tidy up an old user while here.
            let user = format!("contractor-{}", hex(rng, 4));
            t += uni(rng, 20 * SECOND, 90 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).end();
            em.bg(&con(t, live_ident, "ListAccessKeys", &s.req, ip, ua, acct), rng);
            t += uni(rng, 3 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).str("accessKeyId", &crate::estate::user_key(rng)).end();
            em.bg(&con(t, live_ident, "DeleteAccessKey", &s.req, ip, ua, acct), rng);
            t += uni(rng, 3 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).end();
            em.bg(&con(t, live_ident, "DeleteUser", &s.req, ip, ua, acct), rng);
        }
        t
    }
}

impl Source for Human {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let Some(live) = self.live.take() else {
            return self.sign_in(now, cx);
        };
        if now >= live.end {
            return now + 5 * MINUTE + exp(cx.rng, self.gap_mean);
        }
        let acct = cx.est.id(live.account).to_string();
        let is_root = matches!(self.who, Principal::Root { .. });
        let is_sso = matches!(self.who, Principal::Sso { .. });
        let next = if is_sso && self.admin && cx.rng.random_bool(0.04) {
            self.admin_work(now, cx, &live, &acct)
        } else if !live.cli_ident.is_empty() && cx.rng.random_bool(self.cli) {
            self.cli_burst(now, cx, &live, &acct)
        } else {
            let page = if is_root { *pick(cx.rng, &ROOT_PAGES) } else { *pick(cx.rng, &PAGES) };
            // Now and then a page the person lacks the rights for (not again for a while).
            let deny = if !self.admin && now - self.last_denied > 45 * MINUTE && cx.rng.random_bool(0.03) {
                self.last_denied = now;
                cx.rng.random_range(2..=5)
            } else {
                0
            };
            let t = page_load(cx, page, now, &live.ident, &acct, self.region, self.ua, &self.ip, deny);
            if !self.admin && std::ptr::eq(page, &EC2) && cx.rng.random_bool(0.01) {
                // A read-only person clicks "Stop instance".
                cx.em.bg(
                    &Call::new(t, &live.ident, "ec2", "StopInstances", self.region, &self.ip, UA_CONSOLE_EC2, &acct)
                        .req(
                            "{\"instancesSet\":{\"items\":[{\"instanceId\":\"i-0d1f6c2b3a4e5f607\"}]},\"force\":false}",
                        )
                        .err("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")
                        .kind(Kind::ConsoleApi),
                    cx.rng,
                );
            }
            t
        };
        self.live = Some(live);
        next + uni(cx.rng, 10 * SECOND, 120 * SECOND)
    }
}

/// The OS part of the people's laptop AWS CLI user agents.
const LAPTOP_OS: [&str; 3] = ["macos#23.4.0", "macos#24.1.0", "linux#6.8.0-45-generic"];

/// Creates the people (SSO permission sets, IAM users with console passwords, root users)
/// and returns the ones who also run infrastructure-as-code from their laptops.
pub(crate) fn build(
    est: &mut Estate,
    rng: &mut Rng,
    start: i64,
    out: &mut Vec<(i64, Box<dyn Source>)>,
) -> Vec<Operator> {
    // (name, admin, permission set, CLI use)
    let people: [(&str, bool, &str, f64); 14] = [
        ("alice", true, "AdministratorAccess", 0.10),
        ("bob", true, "AdministratorAccess", 0.05),
        ("carol", false, "ReadOnlyAccess", 0.0),
        ("dave", false, "PowerUserAccess", 0.15),
        ("erin", false, "ReadOnlyAccess", 0.0),
        ("frank", true, "AdministratorAccess", 0.05),
        ("grace", false, "PowerUserAccess", 0.10),
        ("heidi", false, "ReadOnlyAccess", 0.0),
        ("ivan", false, "PowerUserAccess", 0.08),
        ("judy", false, "ReadOnlyAccess", 0.0),
        ("mallory.ops", true, "AdministratorAccess", 0.06),
        ("nia", false, "PowerUserAccess", 0.12),
        ("oscar", false, "ReadOnlyAccess", 0.02),
        ("peggy", false, "PowerUserAccess", 0.10),
    ];
    let mut set_ids: Vec<(String, usize, Role)> = Vec::new();
    let mut operators = Vec::new();
    for (name, admin, set, cli) in people {
        let accounts: Vec<usize> = if admin { (0..est.accounts.len()).collect() } else { vec![PROD, STAGING, DEV] };
        let mut roles = Vec::new();
        for account in accounts {
            let role = match set_ids.iter().find(|(s, a, _)| s == set && *a == account) {
                Some((_, _, r)) => r.clone(),
                None => {
                    let r = Role {
                        account: est.id(account).to_string(),
                        name: format!("AWSReservedSSO_{set}_{}", hex(rng, 16)),
                        path: "/aws-reserved/sso.amazonaws.com/".to_string(),
                        pid: unique_id(rng, "AROA"),
                    };
                    set_ids.push((set.to_string(), account, r.clone()));
                    r
                }
            };
            roles.push((account, role));
        }
        let email = format!("{name}@corp.example");
        let ip = public_ip(rng, &[24, 73, 81, 86, 92, 174]);
        if matches!(name, "alice" | "dave" | "grace") {
            if let Some((_, role)) = roles.iter().find(|(a, _)| *a == DEV) {
                operators.push(Operator {
                    account: DEV,
                    cred: OperatorCred::Sso { role: role.clone(), email: email.clone() },
                    ip: ip.clone(),
                    short: name.to_string(),
                });
            }
        }
        let human = Human {
            who: Principal::Sso { email, roles },
            admin,
            ip,
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            os: LAPTOP_OS[rng.random_range(0..LAPTOP_OS.len())],
            region: if rng.random_bool(0.7) { "us-east-1" } else { "eu-west-1" },
            session_mean: 45.0 * MINUTE as f64,
            gap_mean: 45.0 * MINUTE as f64,
            cli,
            last_denied: i64::MIN / 2,
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, 30.0 * MINUTE as f64), Box::new(human)));
    }
    // IAM users with console passwords (from before SSO); some have a CLI key too.
    let users: [(usize, &str, bool, bool); 4] = [
        (DEV, "priya.nair", true, true),
        (STAGING, "tom.wright", false, true),
        (SECURITY, "secops-lead", true, false),
        (0, "finance-viewer", false, false),
    ];
    for (account, name, admin, cli) in users {
        let acct = est.id(account).to_string();
        let pid = unique_id(rng, "AIDA");
        let cli_ident = cli.then(|| iam_user(&acct, name, &pid, &user_key(rng)));
        let ip = public_ip(rng, &[24, 73, 81, 86, 92, 174]);
        if let (Some(ident), DEV) = (&cli_ident, account) {
            operators.push(Operator {
                account,
                cred: OperatorCred::User { ident: ident.clone() },
                ip: ip.clone(),
                short: name.split('.').next().unwrap_or(name).to_string(),
            });
        }
        let human = Human {
            who: Principal::User { account, name: name.to_string(), pid, cli_ident },
            admin,
            ip,
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            os: LAPTOP_OS[rng.random_range(0..LAPTOP_OS.len())],
            region: est.accounts[account].region,
            session_mean: 30.0 * MINUTE as f64,
            gap_mean: 80.0 * MINUTE as f64,
            cli: if cli { 0.12 } else { 0.0 },
            last_denied: i64::MIN / 2,
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, 40.0 * MINUTE as f64), Box::new(human)));
    }
    // Root users: billing and account settings in the management account several times a
    // day, now and then elsewhere.
    for (account, gap_h) in [(0usize, 2.5f64), (SECURITY, 10.0), (PROD, 16.0), (DEV, 8.0)] {
        let human = Human {
            who: Principal::Root { account },
            admin: true,
            ip: public_ip(rng, &[24, 73, 81, 86, 92, 174]),
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            os: LAPTOP_OS[0],
            region: "us-east-1",
            session_mean: 12.0 * MINUTE as f64,
            gap_mean: gap_h * HOUR as f64,
            cli: 0.0,
            last_denied: i64::MIN / 2,
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, gap_h * HOUR as f64 / 2.0), Box::new(human)));
    }
    operators
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::tests::{max_window, run_sources, time};
    use crate::engine::Emitter;
    use rand::SeedableRng;
    use serde_json::Value;
    use std::collections::{BTreeMap, BTreeSet};

    fn distinct(w: &[(i64, &Value)], k: &str) -> usize {
        w.iter().filter_map(|(_, e)| e[k].as_str()).collect::<BTreeSet<_>>().len()
    }

    #[test]
    fn a_dashboard_load_fans_out_over_regions_with_console_credentials() {
        let mut rng = Rng::seed_from_u64(5);
        let mut est = Estate::new(&mut rng);
        let mut em = Emitter::default();
        let acct = est.id(0).to_string();
        let ident = root_session(&acct, "ASIAEXAMPLEEXAMPLE00", 0, true);
        for (i, page) in [&HOME, &GLOBAL_VIEW, &BILLING, &TRUSTED_ADVISOR, &SECURITY_HUB, &REGION_SELECTOR, &EC2, &S3]
            .into_iter()
            .enumerate()
        {
            let t0 = 1_000_000 * (i as i64 + 1);
            let mut cx = Cx { em: &mut em, rng: &mut rng, est: &mut est };
            page_load(&mut cx, page, t0, &ident, &acct, "us-east-1", BROWSERS[0], "24.1.2.3", 0);
            let lines = em.drain();
            let evs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).expect("json")).collect();
            let tv: Vec<(i64, &Value)> = evs.iter().map(|e| (time(e), e)).collect();
            let apis = max_window(&tv, 10_000, |w| distinct(w, "eventName"));
            assert!((8..=27 + page.fanout.len()).contains(&apis), "{apis} distinct APIs in 10 s");
            assert!(evs.iter().all(|e| e["readOnly"] == true && e["userIdentity"]["type"] == "Root"));
            let flagged: Vec<(i64, &Value)> =
                tv.iter().filter(|(_, e)| e["sessionCredentialFromConsole"] == "true").copied().collect();
            assert!(flagged.len() * 10 >= tv.len() * 8, "most calls carry the console flag");
            if !page.fanout.is_empty() {
                let regions = max_window(&flagged, 30_000, |w| distinct(w, "awsRegion"));
                assert!(regions >= 10, "{regions} regions in 30 s");
            }
            for e in &evs {
                let ua = e["userAgent"].as_str().unwrap_or("");
                assert!(
                    [UA_CONSOLE, UA_CONSOLE_EC2, AWS_INTERNAL, UA_S3_CONSOLE, UA_CORAL, BROWSERS[0]].contains(&ua),
                    "{ua}"
                );
                if e["sourceIPAddress"] == AWS_INTERNAL {
                    assert_eq!(ua, AWS_INTERNAL);
                    assert!(e.get("tlsDetails").is_none());
                }
            }
        }
    }

    #[test]
    fn people_root_and_iam_users_work_in_the_console_and_the_cli() {
        let events = run_sources(
            |est, rng, start, out| {
                build(est, rng, start, out);
            },
            12 * HOUR,
        );
        let mut by: BTreeMap<String, Vec<(i64, &Value)>> = BTreeMap::new();
        let mut types = BTreeSet::new();
        let mut logins = BTreeSet::new();
        for e in &events {
            let ui = &e["userIdentity"];
            let typ = ui["type"].as_str().unwrap_or("");
            types.insert(typ.to_string());
            if e["eventName"] == "ConsoleLogin" {
                logins.insert(typ.to_string());
                continue;
            }
            let key = ui["accessKeyId"].as_str().unwrap_or("").to_string();
            assert!(key.starts_with("ASIA") || key.starts_with("AKIA"), "{e}");
            if typ == "Root" {
                assert_eq!(ui["arn"], format!("arn:aws:iam::{}:root", ui["accountId"].as_str().unwrap_or("")));
                assert!(key.starts_with("ASIA"));
                assert!(e["sessionCredentialFromConsole"] == "true" || e["userAgent"] == AWS_INTERNAL);
            }
            if typ == "IAMUser" && key.starts_with("ASIA") {
                assert!(ui["sessionContext"]["attributes"]["creationDate"].is_string());
            }
            by.entry(key).or_default().push((time(e), e));
        }
        assert!(
            ["Root", "IAMUser", "AssumedRole"].iter().all(|t| types.contains(*t) && logins.contains(*t)),
            "{logins:?}"
        );
        let mut bursts = 0;
        for (key, evs) in &mut by {
            evs.sort_by_key(|p| p.0);
            let console: Vec<(i64, &Value)> =
                evs.iter().filter(|(_, e)| e["sessionCredentialFromConsole"] == "true").copied().collect();
            if !console.is_empty() && max_window(&console, 10_000, |w| distinct(w, "eventName")) >= 8 {
                bursts += 1;
            }
            let denied: Vec<(i64, &Value)> =
                evs.iter().filter(|(_, e)| e.get("errorCode").is_some()).copied().collect();
            let d = max_window(&denied, 600_000, |w| w.len());
            assert!(d <= 6, "{key}: {d} denials in 10 min");
        }
        assert!(bursts >= 10, "{bursts} sessions with page-load bursts");
        let denied = events.iter().filter(|e| e["errorCode"] == "AccessDenied").count();
        assert!(denied > 0 && denied * 100 < events.len(), "{denied} denied of {}", events.len());
        let cli: Vec<&Value> = events
            .iter()
            .filter(|e| e["userAgent"].as_str().is_some_and(|u| u.starts_with("aws-cli/2.15.30")))
            .collect();
        assert!(!cli.is_empty());
        assert!(cli.iter().all(|e| e.get("sessionCredentialFromConsole").is_none()));
        assert!(cli.iter().any(|e| e["userIdentity"]["accessKeyId"].as_str().is_some_and(|k| k.starts_with("AKIA"))));
        let per_hour = events.len() as i64 / 12;
        assert!((3_000..15_000).contains(&per_hour), "{per_hour} console events per hour");
    }
}
