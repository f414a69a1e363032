//! Unit tests of the `workload_credential_misuse` rule, kept apart from the rule's file.

use serde_json::{json, Value};

use super::*;
use crate::testing::{event, finals, iam_user, role_session, run, stratus};

fn rule() -> Box<dyn Rule> {
    Box::new(WorkloadCredentialMisuse::new(Config::default()))
}

/// Every finding version of `rule` over `lines`, with `workers` worker threads.
fn run_with(rule: Box<dyn Rule>, lines: &[String], batch_rows: usize, workers: usize) -> Vec<Finding> {
    crate::testing::run_workers(vec![rule], lines, batch_rows, workers)
}

fn instance() -> Value {
    role_session("web-app", "i-0123456789abcdef0", "ASIAWEBAPP000000001")
}

fn from(ip: &str, ua: &str) -> Value {
    json!({"sourceIPAddress": ip, "userAgent": ua})
}

const SDK: &str = "aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/17";
const CLI: &str = "aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0";

/// The instance's own calls: private (VPC endpoint) and its public address.
fn home_calls() -> Vec<String> {
    vec![
        event(0, &instance(), "s3", "GetObject", from("10.0.1.25", SDK)),
        event(30, &instance(), "sqs", "ReceiveMessage", from("54.210.7.12", SDK)),
        event(60, &instance(), "dynamodb", "PutItem", from("10.0.1.25", SDK)),
        event(600, &instance(), "sqs", "ReceiveMessage", from("54.210.7.12", SDK)),
    ]
}

/// The section of `config/trailhound.toml`.
const TOML: &str = r#"
# Run this rule.
enabled = true
# Earliest calls (by event time) whose networks are the session's home.
home_events = 3
# An SSM command or session, or EC2 Instance Connect key, on the session's instance by a person or IAM user from the same public address within this time makes it an operator's machine.
share_window = "30m"
# Distinct APIs called from foreign networks that make the finding critical.
many_apis = 10
# One finding per session per bucket of this length.
episode = "1h"
# A session not seen for this long (watermark time) is forgotten.
session_idle = "12h"
# Evidence events kept per finding (earliest first).
max_evidence = 10
"#;

#[test]
fn the_documented_configuration_is_the_default() {
    crate::testing::assert_documented_default::<RuleConfig<Config>>(TOML);
}

#[test]
fn stratus_ec2_steal_instance_credentials_fires_high_on_the_operators_address() {
    let f = run(rule(), &stratus("aws.credential-access.ec2-steal-instance-credentials"));
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.actor_key, "ASIAP5CT9NN8EYVU1FXV");
    assert_eq!(f.identity_class, IdentityClass::Workload);
    assert_eq!(f.technique_ids, vec!["T1552.005", "T1078.004"]);
    assert_eq!(f.tactic_ids, vec!["TA0001", "TA0006"]);
    assert_eq!(f.event_count, 2);
    let ctx = f.context.join("\n");
    assert!(
            ctx.contains("2 calls from 18.236.253.47 (18.236.253.0/24), the address from which arn:aws:iam::017622104382:user/christophe ran ssm:SendCommand within 30m"),
            "{ctx}"
        );
    assert!(f.remediation.contains("revoke the active sessions"), "{}", f.remediation);
}

#[test]
fn the_stolen_session_is_published_once_the_watermark_passes_its_first_call() {
    let mut lines = stratus("aws.credential-access.ec2-steal-instance-credentials");
    // Any later event moves the watermark (15 min behind) past the session's calls.
    let later = lines[0]
        .replace("2024-08-02T08:22:39Z", "2024-08-02T08:40:00Z")
        .replace("\"eventName\":\"DescribeInstanceInformation\"", "\"eventName\":\"ListCommands\"");
    assert_ne!(later, lines[0]);
    lines.push(later);
    let first = lines.len() - 1;
    let mut engine = crate::Engine::with_rules(&crate::DetectConfig::default(), vec![rule()]);
    let mut published = Vec::new();
    for (i, b) in crate::testing::batches(&lines, 1).iter().enumerate() {
        for f in engine.process(b).expect("process") {
            published.push((i, f.activity, f.severity));
        }
    }
    assert_eq!(published.first(), Some(&(first, Activity::Create, Severity::High)), "{published:?}");
}

#[test]
fn an_instance_session_used_from_a_foreign_network_with_an_iam_write_is_critical() {
    let mut lines = home_calls();
    lines.push(event(900, &instance(), "sts", "GetCallerIdentity", from("203.0.113.66", CLI)));
    lines.push(event(905, &instance(), "iam", "ListUsers", from("203.0.113.66", CLI)));
    lines.push(event(910, &instance(), "iam", "CreateUser", from("203.0.113.66", CLI)));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.event_count, 3);
    let ctx = f.context.join("\n");
    assert!(ctx.contains("10.0.1.0/24 (private) with aws-sdk-java"), "{ctx}");
    assert!(ctx.contains("3 calls from 203.0.113.0/24 (203.0.113.66) with aws-cli"), "{ctx}");
    assert!(ctx.contains("IAM writes: iam:CreateUser"), "{ctx}");
}

#[test]
fn a_public_address_after_only_private_ones_is_foreign_and_high() {
    let vpc_only = vec![
        event(0, &instance(), "s3", "GetObject", from("10.0.1.25", SDK)),
        event(10, &instance(), "s3", "GetObject", from("10.0.1.25", SDK)),
        event(20, &instance(), "s3", "GetObject", from("10.0.1.25", SDK)),
        event(1200, &instance(), "ec2", "DescribeInstances", from("198.51.100.23", CLI)),
    ];
    let f = run(rule(), &vpc_only);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::High);
}

#[test]
fn an_s3_endpoint_first_then_the_accounts_nat_gateway_stays_quiet() {
    let other = role_session("worker", "i-0fedcba9876543210", "ASIAWORKER000000001");
    let mut lines = vec![event(0, &other, "sqs", "ReceiveMessage", from("54.210.7.12", SDK))];
    for i in 0..3 {
        lines.push(event(5 + i, &instance(), "s3", "GetObject", from("10.0.1.25", SDK)));
    }
    lines.push(event(100, &instance(), "kms", "Decrypt", from("54.210.7.12", SDK)));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_foreign_network_is_published_once_its_verdict_is_final_before_the_bucket_closes() {
    let mut lines = home_calls();
    lines.push(event(900, &instance(), "sts", "GetCallerIdentity", from("203.0.113.66", CLI)));
    lines.push(event(2000, &instance(), "sqs", "ReceiveMessage", from("54.210.7.12", SDK)));
    let mut engine = crate::Engine::with_rules(&crate::DetectConfig::default(), vec![rule()]);
    let mut published = Vec::new();
    for (i, b) in crate::testing::batches(&lines, 1).iter().enumerate() {
        for f in engine.process(b).expect("process") {
            published.push((i, f.activity, f.severity));
        }
    }
    // The watermark passes the foreign call (900 s) with the call at 2000 s.
    assert_eq!(published.first(), Some(&(5, Activity::Create, Severity::High)), "{published:?}");
}

#[test]
fn an_automation_host_behind_the_nat_running_commands_on_the_fleet_stays_quiet() {
    let other = role_session("worker", "i-0fedcba9876543210", "ASIAWORKER000000001");
    let ops = iam_user("ops-automation", "AKIAOPSAUTO00000001");
    let send = json!({"sourceIPAddress": "54.210.7.12", "readOnly": false, "requestParameters": {"documentName": "AWS-RunShellScript", "instanceIds": ["i-0123456789abcdef0"]}});
    let mut lines = vec![
        event(0, &other, "sqs", "ReceiveMessage", from("54.210.7.12", SDK)),
        event(20, &ops, "ssm", "SendCommand", send),
    ];
    lines.extend(home_calls());
    lines.sort_by_key(|l| l[l.find("eventTime").unwrap_or(0)..].chars().take(40).collect::<String>());
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_nat_change_within_the_same_slash_24_stays_quiet() {
    let mut lines = home_calls();
    lines.push(event(1800, &instance(), "sqs", "ReceiveMessage", from("54.210.7.99", SDK)));
    lines.push(event(7200, &instance(), "sqs", "DeleteMessage", from("54.210.7.99", SDK)));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_lambda_calling_from_rotating_aws_addresses_stays_quiet_unless_its_agent_changes() {
    let fn_ua = "Boto3/1.34.0 md/Botocore#1.34.0 exec-env/AWS_Lambda_python3.12";
    let me = role_session("orders-fn-role", "orders-fn", "ASIAORDERS000000001");
    let mut lines: Vec<String> = (0..20)
        .map(|i| event(i * 60, &me, "dynamodb", "PutItem", from(&format!("3.{}.{}.9", 80 + i, i), fn_ua)))
        .collect();
    assert!(run(rule(), &lines).is_empty());
    // The same session's keys, lifted from the environment and used with boto3 elsewhere.
    lines.push(event(1300, &me, "s3", "ListBuckets", from("203.0.113.5", "Boto3/1.34.0 md/Botocore#1.34.0")));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::High);
    assert!(f[0].context[0].contains("a Lambda runtime"), "{:?}", f[0].context);
}

#[test]
fn people_and_ci_sessions_are_not_judged() {
    let ci = role_session("deploy", "GitHubActions", "ASIADEPLOY000000001");
    let user = iam_user("alice", "AKIAALICE0000000001");
    let mut lines = Vec::new();
    for (i, ip) in ["192.0.2.1", "198.51.100.2", "203.0.113.3", "192.0.2.4"].iter().enumerate() {
        lines.push(event(i as i64 * 600, &ci, "s3", "PutObject", from(ip, CLI)));
        lines.push(event(i as i64 * 600 + 1, &user, "s3", "ListBuckets", from(ip, CLI)));
    }
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
    let mut lines = stratus("aws.credential-access.ec2-steal-instance-credentials");
    // Another instance behind the same NAT gateway, first through the S3 endpoint: its
    // verdict depends on the other session's calls (another worker's actor).
    let other = role_session("worker", "i-0fedcba9876543210", "ASIAWORKER000000001");
    let mut mine = vec![event(0, &other, "s3", "GetObject", from("10.0.9.9", SDK))];
    mine.extend(home_calls());
    mine.push(event(65, &other, "s3", "GetObject", from("10.0.9.9", SDK)));
    mine.push(event(70, &other, "s3", "GetObject", from("10.0.9.9", SDK)));
    mine.push(event(75, &other, "sqs", "ReceiveMessage", from("54.210.7.12", SDK)));
    mine.push(event(900, &instance(), "sts", "GetCallerIdentity", from("203.0.113.66", CLI)));
    mine.push(event(905, &instance(), "iam", "CreateUser", from("203.0.113.66", CLI)));
    lines.extend(mine.iter().cloned());
    let expected = run(rule(), &lines);
    assert_eq!(expected.len(), 2, "{expected:#?}");
    // The Stratus detonation spans 80 s: reverse it. The hand-built one spans 15 min (the
    // lateness): reverse its home calls and its foreign calls separately.
    let mut shuffled: Vec<String> =
        stratus("aws.credential-access.ec2-steal-instance-credentials").into_iter().rev().collect();
    let order = [3, 2, 1, 0, 7, 6, 5, 4, 9, 8];
    assert_eq!(order.len(), mine.len());
    shuffled.extend(order.iter().map(|i| mine[*i].clone()));
    for (batch, workers) in [(1, 1), (3, 2), (64, 4), (500, 3)] {
        let all = run_with(rule(), &shuffled, batch, workers);
        assert_eq!(finals(&all), expected, "batch size {batch}, {workers} workers");
    }
}
