//! Precision: the real [`Engine`](trailhound_detect::Engine) with the default configuration
//! (`engine.min_severity = low`: informational findings are not published) over CloudTrail
//! events shaped like real ones. For each class of benign look-alike (console browsing, IaC
//! lifecycles, IaC-managed users, owners' habitual scripts, named scanners, an instance's own
//! agent) the look-alike stays quiet and the attack it resembles still fires, with the
//! decisive events leading the evidence.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use trailhound_model::{Finding, IdentityClass, Severity};

use trailhound_detect::{DetectConfig, Engine};

use crate::{final_versions, parse, run, T0};

const ACCOUNT: &str = "111122223333";

const CHROME: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CLI_LINUX: &str =
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1017-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off command/";
const CLI_MAC: &str = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#sts.get-caller-identity";
const TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.5 ua/2.1 os/linux lang/go#1.22.6 md/GOOS#linux md/GOARCH#amd64 api/cloudtrail#1.42.6";
const BOTO3: &str =
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.15.0-1057-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69";
const SSM_AGENT: &str = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.987.0";

const REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
    "ap-northeast-3",
];

/// The reads of a console page, or of a hand-run enumeration of the same breadth.
const PAGE_READS: [(&str, &str); 12] = [
    ("iam", "GetAccountSummary"),
    ("iam", "ListUsers"),
    ("iam", "ListRoles"),
    ("iam", "ListPolicies"),
    ("iam", "GetAccountPasswordPolicy"),
    ("iam", "ListAccountAliases"),
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeVpcs"),
    ("ec2", "DescribeSecurityGroups"),
    ("s3", "ListBuckets"),
    ("cloudtrail", "DescribeTrails"),
    ("kms", "ListAliases"),
];

/// What an enumeration tool (or a CSPM scanner) walks through.
const SWEEP: [(&str, &str); 40] = [
    ("sts", "GetCallerIdentity"),
    ("iam", "ListUsers"),
    ("iam", "ListRoles"),
    ("iam", "ListPolicies"),
    ("iam", "ListGroups"),
    ("iam", "GetAccountAuthorizationDetails"),
    ("iam", "GetAccountSummary"),
    ("iam", "GetAccountPasswordPolicy"),
    ("iam", "ListAccessKeys"),
    ("iam", "ListMFADevices"),
    ("iam", "ListInstanceProfiles"),
    ("iam", "ListOpenIDConnectProviders"),
    ("iam", "ListSAMLProviders"),
    ("s3", "ListBuckets"),
    ("s3", "GetBucketPolicy"),
    ("s3", "GetBucketAcl"),
    ("s3", "GetBucketEncryption"),
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeVpcs"),
    ("ec2", "DescribeSubnets"),
    ("ec2", "DescribeSecurityGroups"),
    ("ec2", "DescribeSnapshots"),
    ("ec2", "DescribeVolumes"),
    ("ec2", "DescribeImages"),
    ("ec2", "DescribeFlowLogs"),
    ("lambda", "ListFunctions20150331"),
    ("rds", "DescribeDBInstances"),
    ("rds", "DescribeDBSnapshots"),
    ("kms", "ListKeys"),
    ("kms", "ListAliases"),
    ("secretsmanager", "ListSecrets"),
    ("cloudtrail", "DescribeTrails"),
    ("cloudtrail", "GetTrailStatus"),
    ("config", "DescribeConfigurationRecorders"),
    ("guardduty", "ListDetectors"),
    ("sns", "ListTopics"),
    ("sqs", "ListQueues"),
    ("dynamodb", "ListTables"),
    ("ecr", "DescribeRepositories"),
    ("eks", "ListClusters"),
];

// ---------------------------------------------------------------------------------------------
// Events and identities.

/// One CloudTrail record, built field by field.
struct Call {
    t_ms: i64,
    v: Value,
}

impl Call {
    /// A management call at `T0 + t_ms` with event id `id`, from 198.51.100.7 with the Linux
    /// AWS CLI in us-east-1 unless changed.
    fn new(id: impl Into<String>, t_ms: i64, who: &Value, service: &str, name: &str) -> Self {
        let read_only = ["List", "Describe", "Get", "Lookup"].iter().any(|p| name.starts_with(p));
        let id = id.into();
        let v = json!({
            "eventVersion": "1.10",
            "userIdentity": who,
            "eventTime": trailhound_model::time::to_rfc3339(T0 + t_ms),
            "eventSource": format!("{service}.amazonaws.com"),
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": CLI_LINUX,
            "requestParameters": null,
            "responseElements": null,
            "requestID": format!("req-{id}"),
            "eventID": id,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("{service}.us-east-1.amazonaws.com")
            },
        });
        Self { t_ms, v }
    }

    fn region(mut self, r: &str) -> Self {
        self.v["awsRegion"] = json!(r);
        self.v["tlsDetails"]["clientProvidedHostHeader"] = json!(format!(
            "{}.{r}.amazonaws.com",
            self.v["eventSource"].as_str().unwrap_or("").trim_end_matches(".amazonaws.com")
        ));
        self
    }

    fn from(mut self, ip: &str, ua: &str) -> Self {
        self.v["sourceIPAddress"] = json!(ip);
        self.v["userAgent"] = json!(ua);
        self
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        self.v[key] = value;
        self
    }

    fn req(self, r: Value) -> Self {
        self.set("requestParameters", r)
    }

    fn resp(self, r: Value) -> Self {
        self.set("responseElements", r)
    }

    /// A call made in the console: CloudTrail marks the session's credentials.
    fn console(self) -> Self {
        self.set("sessionCredentialFromConsole", json!("true"))
    }
}

/// The records in event-time order (then event id), one JSON line each.
fn lines(mut calls: Vec<Call>) -> Vec<String> {
    calls.sort_by(|a, b| {
        (a.t_ms, a.v["eventID"].as_str().unwrap_or("")).cmp(&(b.t_ms, b.v["eventID"].as_str().unwrap_or("")))
    });
    calls.into_iter().map(|c| c.v.to_string()).collect()
}

fn attributes(mfa: bool) -> Value {
    json!({"creationDate": "2025-12-31T23:30:00Z", "mfaAuthenticated": if mfa { "true" } else { "false" }})
}

fn issuer(role_path: &str, name: &str) -> Value {
    json!({
        "type": "Role",
        "principalId": "AROAYX7EXAMPLEROLE01",
        "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role_path}{name}"),
        "accountId": ACCOUNT,
        "userName": name
    })
}

/// An assumed-role session of `role` named `session`.
fn role_session(role: &str, session: &str, key: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROAYX7EXAMPLEROLE01:{session}"),
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {"sessionIssuer": issuer("", role), "webIdFederationData": {}, "attributes": attributes(false)}
    })
}

/// A person's IAM Identity Center (SSO) session.
fn sso_person() -> Value {
    let role = "AWSReservedSSO_PowerUserAccess_3f2a1b9c8d7e6f50";
    json!({
        "type": "AssumedRole",
        "principalId": "AROAYX7EXAMPLESSO001:ana@corp.example",
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/ana@corp.example"),
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAYX7ANACONSOLE001",
        "sessionContext": {
            "sessionIssuer": issuer("aws-reserved/sso.amazonaws.com/eu-west-1/", role),
            "attributes": attributes(false)
        }
    })
}

/// The root user signed in to the console.
fn root_console() -> Value {
    json!({
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": format!("arn:aws:iam::{ACCOUNT}:root"),
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAYX7ROOTCONSOLE01",
        "sessionContext": {"attributes": attributes(true)}
    })
}

/// An IAM user with a long-lived key.
fn iam_user(name: &str, key: &str) -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDAYX7EXAMPLEUSER01",
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": name
    })
}

/// The CI pipeline's Terraform role, assumed through GitHub Actions' OIDC provider.
fn ci_terraform() -> Value {
    let mut v = role_session("gha-terraform", "GitHubActions", "ASIAYX7CITERRAFORM01");
    v["sessionContext"]["webIdFederationData"] = json!({
        "federatedProvider": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"),
        "attributes": {}
    });
    v
}

/// A CloudFormation stack's calls made with the deploying role, on its behalf.
fn cloudformation() -> Value {
    let mut v = role_session("cfn-deploy", "AWSCloudFormation", "ASIAYX7CFNDEPLOY0001");
    v["invokedBy"] = json!("cloudformation.amazonaws.com");
    v
}

/// An EC2 instance's role session, delivered by the instance metadata service.
fn instance_session() -> Value {
    let mut v = role_session("web", "i-0123456789abcdef0", "ASIAYX7WEBINSTANCE01");
    v["sessionContext"]["ec2RoleDelivery"] = json!("2.0");
    v
}

// ---------------------------------------------------------------------------------------------
// Running.

/// Every finding version the engine published, and the final version of each uid.
struct Published {
    all: Vec<Finding>,
    finals: BTreeMap<String, Finding>,
}

impl Published {
    fn of(lines: &[String], batch_rows: usize) -> Self {
        let (_, all) = run(lines, batch_rows, 1);
        let finals = final_versions(&all);
        Self { all, finals }
    }

    /// Final versions of one rule.
    fn rule(&self, id: &str) -> Vec<&Finding> {
        self.finals.values().filter(|f| f.rule_id == id).collect()
    }

    /// Exactly one final finding of rule `id`.
    fn one(&self, id: &str) -> &Finding {
        let fs = self.rule(id);
        assert_eq!(fs.len(), 1, "one {id} finding expected, got {:#?}", self.brief());
        fs[0]
    }

    fn none(&self, id: &str) {
        assert!(self.all.iter().all(|f| f.rule_id != id), "no {id} finding expected, got {:#?}", self.brief());
    }

    fn quiet(&self) {
        assert!(self.all.is_empty(), "nothing expected, got {:#?}", self.brief());
    }

    /// (rule, severity, actor, summary) of every final finding, for assertion messages.
    fn brief(&self) -> Vec<(String, Severity, String, String)> {
        self.finals.values().map(|f| (f.rule_id.clone(), f.severity, f.actor_key.clone(), f.summary.clone())).collect()
    }
}

fn ids(f: &Finding) -> Vec<&str> {
    f.evidence.iter().map(|e| e.event_id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Console browsing.

/// 12 distinct reads in 8 s by `who`, built with `style`.
fn page_burst(tag: &str, who: &Value, style: impl Fn(Call) -> Call) -> Vec<Call> {
    PAGE_READS
        .iter()
        .enumerate()
        .map(|(i, (s, a))| style(Call::new(format!("{tag}-{i:02}"), 60_000 + i as i64 * 700, who, s, a)))
        .collect()
}

#[test]
fn a_persons_console_page_burst_and_the_root_dashboard_across_regions_stay_quiet() {
    let sso = page_burst("sso", &sso_person(), |c| c.from("203.0.113.24", CHROME).console());
    Published::of(&lines(sso), 4).quiet();

    // The root user's console home: EC2 Global View and Service Quotas in every region.
    let root = root_console();
    let mut calls = Vec::new();
    for (i, r) in REGIONS.iter().take(14).enumerate() {
        let t = 120_000 + i as i64 * 700;
        for (j, (s, a)) in [("ec2", "DescribeInstances"), ("ec2", "DescribeVpcs"), ("servicequotas", "GetServiceQuota")]
            .iter()
            .enumerate()
        {
            let ua = if j == 2 { "console.amazonaws.com" } else { CHROME };
            calls.push(
                Call::new(format!("root-{i:02}-{j}"), t + j as i64 * 50, &root, s, a)
                    .region(r)
                    .from("203.0.113.24", ua)
                    .console(),
            );
        }
    }
    let spread = calls.iter().map(|c| c.t_ms).max().unwrap_or(0) - calls.iter().map(|c| c.t_ms).min().unwrap_or(0);
    assert!(spread <= 10_000, "14 regions within 10 s");
    Published::of(&lines(calls), 8).quiet();
}

#[test]
fn the_same_burst_from_a_long_lived_key_is_enumeration_even_with_a_console_user_agent() {
    let key = iam_user("reporting", "AKIAYX7REPORTING001");
    let cli = page_burst("cli", &key, |c| c.from("45.137.21.9", CLI_LINUX));
    let p = Published::of(&lines(cli), 4);
    let f = p.one("enumeration_burst");
    assert_eq!(f.actor_key, "AKIAYX7REPORTING001");
    assert_eq!(f.severity, Severity::Low, "12 distinct APIs: narrow, low");
    assert_eq!(f.identity_class, IdentityClass::ProgrammaticUser);
    assert!(f.context.iter().any(|c| c.contains("distinct recon APIs")), "{:?}", f.context);
    assert!(ids(f)[0].starts_with("cli-"), "{:?}", ids(f));

    // A forged console agent on the long-lived key: not a console session, still judged.
    let forged = page_burst("forged", &key, |c| c.from("45.137.21.9", "console.amazonaws.com"));
    let p = Published::of(&lines(forged), 4);
    let f = p.one("enumeration_burst");
    assert_eq!(f.actor_key, "AKIAYX7REPORTING001");
    assert!(f.severity >= Severity::Low);
    assert!(ids(f).iter().all(|id| id.starts_with("forged-")), "{:?}", ids(f));
}

// ---------------------------------------------------------------------------------------------
// 2. IaC lifecycles of logging and security tooling.

const TRAIL_ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/tf-it-audit-trail";

/// Terraform (CI role) creates a trail, a flow log and a GuardDuty detector.
fn terraform_builds() -> Vec<Call> {
    let tf = ci_terraform();
    vec![
        Call::new("tf-create-trail", 0, &tf, "cloudtrail", "CreateTrail")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"name": "tf-it-audit-trail", "s3BucketName": "tf-it-audit-logs-111122223333", "isMultiRegionTrail": true, "enableLogFileValidation": true}))
            .resp(json!({"name": "tf-it-audit-trail", "s3BucketName": "tf-it-audit-logs-111122223333", "trailARN": TRAIL_ARN, "isMultiRegionTrail": true, "logFileValidationEnabled": true})),
        Call::new("tf-start-logging", 2_000, &tf, "cloudtrail", "StartLogging")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"name": TRAIL_ARN})),
        Call::new("tf-create-flowlog", 4_000, &tf, "ec2", "CreateFlowLogs")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"CreateFlowLogsRequest": {"ResourceId": {"tag": 1, "content": "vpc-0a1b2c3d4e5f60718"}, "ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "s3", "LogDestination": "arn:aws:s3:::tf-it-flow-logs"}}))
            .resp(json!({"CreateFlowLogsResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/", "requestId": "8c7a1b2e-0000-4000-8000-000000000001", "flowLogIdSet": {"item": "fl-0f1e2d3c4b5a69788"}, "unsuccessful": ""}})),
        Call::new("tf-create-detector", 6_000, &tf, "guardduty", "CreateDetector")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"enable": true, "findingPublishingFrequency": "SIX_HOURS"}))
            .resp(json!({"detectorId": "12abc34d567e8fa901bc2d34eexample"})),
    ]
}

/// The same principal tears it down 20 minutes later, with `ua`.
fn teardown(ua: &str, tag: &str) -> Vec<Call> {
    let tf = ci_terraform();
    let t = 20 * 60_000;
    vec![
        Call::new(format!("{tag}-stop-logging"), t, &tf, "cloudtrail", "StopLogging")
            .from("20.42.7.19", ua)
            .req(json!({"name": TRAIL_ARN})),
        Call::new(format!("{tag}-delete-trail"), t + 1_000, &tf, "cloudtrail", "DeleteTrail")
            .from("20.42.7.19", ua)
            .req(json!({"name": TRAIL_ARN})),
        Call::new(format!("{tag}-delete-flowlog"), t + 2_000, &tf, "ec2", "DeleteFlowLogs")
            .from("20.42.7.19", ua)
            .req(json!({"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0f1e2d3c4b5a69788"}}}))
            .resp(json!({"DeleteFlowLogsResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/", "requestId": "8c7a1b2e-0000-4000-8000-000000000002", "unsuccessful": ""}})),
        Call::new(format!("{tag}-delete-detector"), t + 3_000, &tf, "guardduty", "DeleteDetector")
            .from("20.42.7.19", ua)
            .req(json!({"detectorId": "12abc34d567e8fa901bc2d34eexample"})),
    ]
}

#[test]
fn terraform_tearing_down_the_logging_it_built_is_not_published() {
    let mut calls = terraform_builds();
    calls.extend(teardown(TERRAFORM, "tf"));
    let p = Published::of(&lines(calls), 3);
    p.none("defense_evasion");
}

#[test]
fn terraform_stopping_a_trail_it_did_not_build_is_judged() {
    let mut calls = terraform_builds();
    calls.extend(teardown(TERRAFORM, "tf"));
    calls.push(
        Call::new("tf-stop-org-trail", 21 * 60_000, &ci_terraform(), "cloudtrail", "StopLogging")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"name": "arn:aws:cloudtrail:us-east-1:999988887777:trail/org-trail"})),
    );
    let p = Published::of(&lines(calls), 3);
    let f = p.one("defense_evasion");
    assert_eq!(ids(f), ["tf-stop-org-trail"]);
    assert_eq!(f.identity_class, IdentityClass::CiCd);
    // High, raised for a machine identity, one step lower for the IaC agent: high.
    assert_eq!(f.severity, Severity::High, "{:?}", f.context);
    assert!(!f.context.iter().any(|c| c.contains("IaC lifecycle")), "{:?}", f.context);
}

#[test]
fn the_teardown_made_with_the_cli_instead_of_terraform_is_judged() {
    let mut calls = terraform_builds();
    calls.extend(teardown(CLI_LINUX, "cli"));
    let p = Published::of(&lines(calls), 3);
    let fs = p.rule("defense_evasion");
    let got: BTreeMap<&str, Severity> = fs.iter().map(|f| (ids(f)[0], f.severity)).collect();
    let want: BTreeMap<&str, Severity> = [
        ("cli-stop-logging", Severity::Critical),
        ("cli-delete-trail", Severity::Critical),
        ("cli-delete-flowlog", Severity::High),
        ("cli-delete-detector", Severity::Critical),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{:#?}", p.brief());
}

#[test]
fn a_cloudformation_stack_created_and_deleted_stays_quiet() {
    let cfn = cloudformation();
    let via = |c: Call| c.from("cloudformation.amazonaws.com", "cloudformation.amazonaws.com");
    let calls = vec![
        via(Call::new("cfn-create-trail", 0, &cfn, "cloudtrail", "CreateTrail"))
            .req(json!({"name": "stack-trail", "s3BucketName": "stack-trail-logs"}))
            .resp(json!({"name": "stack-trail", "trailARN": "arn:aws:cloudtrail:us-east-1:111122223333:trail/stack-trail"})),
        via(Call::new("cfn-create-detector", 1_000, &cfn, "guardduty", "CreateDetector"))
            .req(json!({"enable": true}))
            .resp(json!({"detectorId": "98cba76d543e2fa109bc8d76eexample"})),
        via(Call::new("cfn-stop-logging", 15 * 60_000, &cfn, "cloudtrail", "StopLogging"))
            .req(json!({"name": "stack-trail"})),
        via(Call::new("cfn-delete-trail", 15 * 60_000 + 500, &cfn, "cloudtrail", "DeleteTrail"))
            .req(json!({"name": "stack-trail"})),
        via(Call::new("cfn-delete-detector", 15 * 60_000 + 900, &cfn, "guardduty", "DeleteDetector"))
            .req(json!({"detectorId": "98cba76d543e2fa109bc8d76eexample"})),
    ];
    Published::of(&lines(calls), 2).quiet();
}

// ---------------------------------------------------------------------------------------------
// 3. Users managed by IaC.

/// The CI role's Terraform creates `svc-etl`, its access key (made with `key_ua`) and a
/// non-admin policy.
fn terraform_user(key_ua: &str) -> Vec<Call> {
    let tf = ci_terraform();
    vec![
        Call::new("tf-create-user", 0, &tf, "iam", "CreateUser")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"userName": "svc-etl", "path": "/service/"}))
            .resp(json!({"user": {"path": "/service/", "userName": "svc-etl", "userId": "AIDAYX7SVCETL000001", "arn": "arn:aws:iam::111122223333:user/service/svc-etl", "createDate": "Jan 1, 2026, 12:00:00 AM"}})),
        Call::new("tf-attach-policy", 1_500, &tf, "iam", "AttachUserPolicy")
            .from("20.42.7.19", TERRAFORM)
            .req(json!({"userName": "svc-etl", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"})),
        Call::new("tf-create-key", 3_000, &tf, "iam", "CreateAccessKey")
            .from("20.42.7.19", key_ua)
            .req(json!({"userName": "svc-etl"}))
            .resp(json!({"accessKey": {"userName": "svc-etl", "accessKeyId": "AKIAYX7SVCETLKEY001", "status": "Active", "createDate": "Jan 1, 2026, 12:00:03 AM"}})),
    ]
}

#[test]
fn terraform_creating_a_user_with_a_key_and_a_policy_is_quiet() {
    let p = Published::of(&lines(terraform_user(TERRAFORM)), 2);
    p.none("iam_user_persistence");
    p.none("iam_backdoor_credentials");
}

#[test]
fn the_key_minted_with_the_cli_lifts_the_iac_exemption() {
    let p = Published::of(&lines(terraform_user(CLI_LINUX)), 2);
    let f = p.one("iam_user_persistence");
    assert!(f.severity >= Severity::High, "{:?}", f.severity);
    assert_eq!(f.actor_key, "ASIAYX7CITERRAFORM01");
    assert!(f.context.iter().any(|c| c.contains("exemption lifted")), "{:?}", f.context);
    assert!(ids(f).contains(&"tf-create-key"), "{:?}", ids(f));
    p.none("iam_backdoor_credentials");
}

#[test]
fn a_key_for_an_existing_user_made_with_the_cli_by_a_terraform_principal_is_a_backdoor() {
    let mut calls = terraform_user(TERRAFORM);
    calls.push(
        Call::new("cli-key-for-alice", 5 * 60_000, &ci_terraform(), "iam", "CreateAccessKey")
            .from("20.42.7.19", CLI_LINUX)
            .req(json!({"userName": "alice"}))
            .resp(json!({"accessKey": {"userName": "alice", "accessKeyId": "AKIAYX7ALICEKEY0002", "status": "Active", "createDate": "Jan 1, 2026, 12:05:00 AM"}})),
    );
    let p = Published::of(&lines(calls), 2);
    let f = p.one("iam_backdoor_credentials");
    assert_eq!(f.severity, Severity::High, "{:?}", f.context);
    assert_eq!(f.actor_key, "ASIAYX7CITERRAFORM01");
    assert_eq!(ids(f)[0], "cli-key-for-alice");
    p.none("iam_user_persistence");
}

// ---------------------------------------------------------------------------------------------
// 4. Owners' scripts and named scanners.

#[test]
fn an_owners_audit_loop_is_reported_once_at_low_then_known_as_habit() {
    const LOOP: [(&str, &str); 8] = [
        ("iam", "ListUsers"),
        ("iam", "ListRoles"),
        ("iam", "ListPolicies"),
        ("iam", "ListAccessKeys"),
        ("iam", "GetAccountSummary"),
        ("cloudtrail", "DescribeTrails"),
        ("cloudtrail", "GetTrailStatus"),
        ("cloudtrail", "LookupEvents"),
    ];
    let me = iam_user("audit-bot", "AKIAYX7AUDITBOT0001");
    let mut calls = Vec::new();
    for tick in 0..(3 * 3600 / 5) {
        for (i, (s, a)) in LOOP.iter().enumerate() {
            let t = tick * 5_000 + i as i64 * 120;
            calls.push(Call::new(format!("loop-{tick:04}-{i}"), t, &me, s, a).from("52.14.9.200", BOTO3));
        }
    }
    let lines = lines(calls);
    let p = Published::of(&lines, 512);
    let enumeration: Vec<&Finding> = p.all.iter().filter(|f| f.rule_id == "enumeration_burst").collect();
    assert!(!enumeration.is_empty(), "the first hour's burst is new: {:#?}", p.brief());
    for f in &enumeration {
        assert_eq!(f.severity, Severity::Low, "only at low: {:?}", f.context);
        assert!(f.first_event_time < T0 + 3_600_000, "only the first hour's episode: {}", f.summary);
    }
    assert!(
        enumeration[0]
            .context
            .iter()
            .any(|c| c.contains("no earlier recon burst of arn:aws:iam::111122223333:user/audit-bot")),
        "{:?}",
        enumeration[0].context
    );
    let finals = p.rule("enumeration_burst");
    assert_eq!(finals.len(), 1, "{:#?}", p.brief());
    assert!(finals[0].context.iter().any(|c| c.contains("no earlier recon burst")), "{:?}", finals[0].context);

    // The later hours do burst, and are judged habitual (informational, so not published).
    let mut cfg = DetectConfig::default();
    cfg.engine.min_severity = Severity::Informational;
    let mut engine = Engine::new(&cfg).expect("engine");
    let mut all = Vec::new();
    for b in parse(&lines, 512) {
        all.extend(engine.process(&b).expect("process"));
    }
    all.extend(engine.finish().expect("finish"));
    let hours: Vec<(Severity, bool)> = final_versions(&all)
        .values()
        .filter(|f| f.rule_id == "enumeration_burst")
        .map(|f| (f.severity, f.context.iter().any(|c| c.contains("(habitual: informational)"))))
        .collect();
    assert_eq!(hours.len(), 3, "one episode per hour");
    assert_eq!(hours.iter().filter(|h| **h == (Severity::Informational, true)).count(), 2, "{hours:?}");
}

/// `who` walks [`SWEEP`] over 17 regions within 20 s.
fn sweep(tag: &str, who: &Value) -> Vec<Call> {
    SWEEP
        .iter()
        .enumerate()
        .map(|(i, (s, a))| {
            Call::new(format!("{tag}-{i:02}"), 30_000 + i as i64 * 500, who, s, a)
                .region(REGIONS[i % REGIONS.len()])
                .from("34.201.17.4", BOTO3)
        })
        .collect()
}

#[test]
fn a_named_scanner_sweep_is_quiet_and_the_same_sweep_by_an_app_role_is_high() {
    let scanner = role_session("SecurityAuditScanner", "wiz-scan-1", "ASIAYX7WIZSCANNER01");
    Published::of(&lines(sweep("scan", &scanner)), 8).quiet();

    let app = role_session("app-backend", "botocore-session-1767225600", "ASIAYX7APPBACKEND01");
    let p = Published::of(&lines(sweep("app", &app)), 8);
    let f = p.one("enumeration_burst");
    assert_eq!(f.severity, Severity::High, "{:?}", f.context);
    assert_eq!(f.actor_key, "ASIAYX7APPBACKEND01");
    assert_eq!(f.regions.len(), 17);
    assert!(ids(f)[0].starts_with("app-"), "{:?}", ids(f));
}

// ---------------------------------------------------------------------------------------------
// 5. Workload credentials.

const NAT: &str = "54.210.7.12";

/// The instance's SSM agent checking in through the NAT gateway, every 20 s from `from_s`.
fn agent_calls(from_s: i64, n: i64) -> Vec<Call> {
    let me = instance_session();
    let apis =
        [("ssm", "UpdateInstanceInformation"), ("ec2messages", "GetMessages"), ("ssm", "ListInstanceAssociations")];
    (0..n)
        .map(|i| {
            let (s, a) = apis[(i % 3) as usize];
            Call::new(format!("agent-{i:03}"), (from_s + i * 20) * 1_000, &me, s, a).from(NAT, SSM_AGENT)
        })
        .collect()
}

#[test]
fn the_instances_own_agent_stays_quiet() {
    Published::of(&lines(agent_calls(0, 120)), 16).quiet();
}

#[test]
fn the_instance_credentials_on_a_laptop_behind_the_same_nat_are_misuse() {
    let mut calls = agent_calls(0, 3);
    calls.push(Call::new("laptop-gci", 45_000, &instance_session(), "sts", "GetCallerIdentity").from(NAT, CLI_MAC));
    calls.extend(agent_calls(60, 60));
    let p = Published::of(&lines(calls), 4);
    let f = p.one("workload_credential_misuse");
    assert_eq!(f.actor_key, "ASIAYX7WEBINSTANCE01");
    assert_eq!(f.identity_class, IdentityClass::Workload);
    assert!(f.severity >= Severity::High);
    assert_eq!(f.evidence[0].event_id, "laptop-gci", "{:?}", ids(f));
}

#[test]
fn the_first_use_from_an_outside_address_is_misuse() {
    let mut calls = agent_calls(0, 3);
    calls.push(
        Call::new("outside-gci", 90_000, &instance_session(), "sts", "GetCallerIdentity")
            .from("185.220.101.34", CLI_LINUX),
    );
    calls.extend(agent_calls(100, 60));
    let p = Published::of(&lines(calls), 4);
    let f = p.one("workload_credential_misuse");
    assert_eq!(f.severity, Severity::High, "{:?}", f.context);
    assert_eq!(ids(f), ["outside-gci"]);
}

// ---------------------------------------------------------------------------------------------
// 6. Decisive evidence.

#[test]
fn a_stolen_keys_enumeration_leads_with_the_attackers_calls_not_the_owners() {
    let key = iam_user("billing-export", "AKIAYX7BILLINGEXP01");
    let mut calls = Vec::new();
    let owner = [("s3", "ListBuckets"), ("ec2", "DescribeInstances"), ("sts", "GetCallerIdentity")];
    for i in 0..30i64 {
        let (s, a) = owner[(i % 3) as usize];
        calls.push(Call::new(format!("owner-{i:02}"), i * 120_000, &key, s, a).from("52.14.9.200", BOTO3));
    }
    let start = 59 * 60_000;
    let attacker: Vec<String> = (0..25).map(|i| format!("attacker-{i:02}")).collect();
    for (i, (s, a)) in SWEEP.iter().take(25).enumerate() {
        calls.push(Call::new(attacker[i].clone(), start + i as i64 * 600, &key, s, a).from("91.214.124.18", CLI_LINUX));
    }
    let p = Published::of(&lines(calls), 16);
    let f = p.one("enumeration_burst");
    assert!(f.severity >= Severity::Medium, "25 distinct APIs: broad");
    assert!(attacker.contains(&f.evidence[0].event_id), "evidence starts with the owner's calls: {:?}", ids(f));
    assert!(ids(f).iter().all(|id| id.starts_with("attacker-")), "{:?}", ids(f));
    assert_eq!(f.event_count, 30 + 25);
}
