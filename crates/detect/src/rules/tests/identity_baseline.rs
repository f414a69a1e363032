//! Unit tests of the `identity_baseline` rule, kept apart from the rule's file.

use serde_json::{json, Value};

use super::*;
use crate::testing::{event, finals, role_session, run};

const HOUR: i64 = 3600;
const DAY_S: i64 = 86_400;

fn rule() -> Box<dyn Rule> {
    Box::new(IdentityBaseline::new(Config::default()))
}

/// Reverses the order of the (time-ordered) events within each 10-minute bucket.
pub(crate) fn reverse_within_10_minutes(lines: &[String]) -> Vec<String> {
    // `2026-01-08T05:0`: the event time up to the tens of minutes.
    let bucket = |l: &String| {
        let v: Value = serde_json::from_str(l).expect("json");
        v["eventTime"].as_str().expect("time").chars().take(15).collect::<String>()
    };
    let mut out: Vec<String> = Vec::new();
    let mut group: Vec<String> = Vec::new();
    let mut current = None;
    for l in lines {
        let b = bucket(l);
        if current.as_ref() != Some(&b) {
            out.extend(group.drain(..).rev());
            current = Some(b);
        }
        group.push(l.clone());
    }
    out.extend(group.drain(..).rev());
    out
}

fn ci() -> Value {
    ci_key("ASIACIDEPLOY9999999")
}

/// A session of the CI role with access key `key` (a new one every run, as with STS).
fn ci_key(key: &str) -> Value {
    role_session("ci-deploy", "GitHubActions-4711", key)
}

/// Every finding version of `rule` over `lines`, with `workers` worker threads.
fn run_with(rule: Box<dyn Rule>, lines: &[String], batch_rows: usize, workers: usize) -> Vec<Finding> {
    crate::testing::run_workers(vec![rule], lines, batch_rows, workers)
}

/// A CI role calling the same 5 APIs from one network, 12 times a day for `days` days.
fn history(days: i64) -> Vec<String> {
    let apis = [
        ("s3", "PutObject"),
        ("ecr", "GetAuthorizationToken"),
        ("ecs", "UpdateService"),
        ("ecs", "DescribeServices"),
        ("cloudformation", "DescribeStacks"),
    ];
    let mut out = Vec::new();
    for d in 0..days {
        for run in 0..12 {
            let secs = d * DAY_S + run * 2 * HOUR;
            for (i, (svc, api)) in apis.iter().enumerate() {
                out.push(event(
                        secs + i as i64,
                        &ci_key(&format!("ASIACIDEPLOY{:07}", d * 12 + run)),
                        svc,
                        api,
                        json!({"sourceIPAddress": format!("198.51.100.{}", 10 + run), "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1"}),
                    ));
            }
        }
    }
    out
}

/// The stolen CI credential: a new region, a new network, boto3, and an IAM write.
fn attack(at: i64) -> Vec<String> {
    let extra = |region: &str| json!({"awsRegion": region, "sourceIPAddress": "203.0.113.50", "userAgent": "Boto3/1.34.0 md/Botocore#1.34.0 Python/3.12"});
    vec![
        event(at, &ci(), "ec2", "DescribeInstances", extra("ap-south-1")),
        event(at + 20, &ci(), "ec2", "DescribeInstances", extra("ap-south-1")),
        event(at + 40, &ci(), "iam", "CreateUser", extra("us-east-1")),
        event(at + 60, &ci(), "iam", "AttachUserPolicy", extra("us-east-1")),
    ]
}

#[test]
fn a_ci_role_with_a_new_region_network_agent_and_iam_write_after_eight_days_is_high() {
    let mut lines = history(8);
    lines.extend(attack(8 * DAY_S + 5 * HOUR));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.actor_key, "ASIACIDEPLOY9999999", "the credential that stepped out");
    assert_eq!(
        f.uid,
        Finding::make_uid(
            "identity_baseline",
            "arn:aws:iam::111122223333:role/ci-deploy",
            f.first_event_time - f.first_event_time.rem_euclid(3_600_000)
        )
    );
    assert_eq!(f.identity_class, IdentityClass::CiCd);
    assert_eq!(f.technique_ids, vec!["T1078.004"]);
    assert_eq!(f.tactic_ids, vec!["TA0001", "TA0005"]);
    let ctx = f.context.join("\n");
    assert!(ctx.contains("seen in regions us-east-1 over 8 days; first time in ap-south-1"), "{ctx}");
    assert!(ctx.contains("seen from networks 198.51.100.0/24 over 8 days; first call from 203.0.113.0/24"), "{ctx}");
    assert!(ctx.contains("first iam:CreateUser ever"), "{ctx}");
    assert!(ctx.contains("first iam:AttachUserPolicy ever"), "{ctx}");
    assert!(ctx.contains("seen with user-agent families aws-cli over 8 days; first call with boto3"), "{ctx}");
    assert!(ctx.contains("5 distinct APIs"), "{ctx}");
    assert_eq!(f.event_count, 4, "every attack event is a new network");
    assert!(f.summary.contains("new region ap-south-1"), "{}", f.summary);
    assert!(f.remediation.contains("revoke the active sessions"), "{}", f.remediation);
}

#[test]
fn the_finding_is_published_as_soon_as_the_watermark_reaches_its_bucket() {
    let history = history(8);
    let mut lines = history.clone();
    // 20 minutes into the bucket: the watermark (15 min behind) has reached the bucket.
    lines.extend(attack(8 * DAY_S + 5 * HOUR + 20 * 60));
    lines.push(event(8 * DAY_S + 7 * HOUR, &ci(), "s3", "PutObject", json!({})));
    // The history is sparser than the future-time gate's skew: without a wider skew every
    // event would wait for the next one to corroborate it (one event later).
    let mut cfg = crate::DetectConfig::default();
    cfg.engine.max_future_skew = std::time::Duration::from_secs(10 * 86_400);
    let mut engine = crate::Engine::with_rules(&cfg, vec![rule()]);
    let mut published = Vec::new();
    for (i, b) in crate::testing::batches(&lines, 1).iter().enumerate() {
        for f in engine.process(b).expect("process") {
            published.push((i, f.activity, f.severity));
        }
    }
    assert_eq!(published.first(), Some(&(history.len(), Activity::Create, Severity::High)), "{published:?}");
}

#[test]
fn the_same_calls_during_the_learning_period_stay_quiet() {
    let mut lines = history(8);
    lines.extend(attack(3 * DAY_S + 5 * HOUR));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn too_few_events_in_the_learning_period_stay_quiet() {
    // 16 events in 8 days: older than the learning period, but below 50 events.
    let mut lines: Vec<String> = history(8).into_iter().step_by(40).collect();
    assert!(lines.len() < 50);
    lines.extend(attack(8 * DAY_S + 5 * HOUR));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_new_address_in_a_known_slash_24_is_not_a_new_network() {
    let mut lines = history(8);
    let extra = json!({"sourceIPAddress": "198.51.100.200", "userAgent": "aws-cli/2.16.1 Python/3.12 Linux/6.5"});
    lines.push(event(8 * DAY_S + 5 * HOUR, &ci(), "ecs", "UpdateService", extra));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_new_instance_of_a_fleet_calling_from_a_new_address_stays_quiet() {
    let instance = |i: i64| role_session("web", &format!("i-{i:017x}"), &format!("ASIAWEB{i:012}"));
    let mut lines = Vec::new();
    for d in 0..8 {
        for i in 0..8 {
            let from = json!({"sourceIPAddress": format!("54.{}.{i}.7", 10 + d)});
            lines.push(event(d * DAY_S + i * 60, &instance(d), "sqs", "ReceiveMessage", from));
        }
    }
    let from = json!({"sourceIPAddress": "3.99.1.1"});
    lines.push(event(8 * DAY_S + HOUR, &instance(99), "sqs", "ReceiveMessage", from));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_role_already_roaming_over_many_networks_gets_no_network_novelty() {
    // A CI role on hosted runners: a new /24 for every run.
    let mut lines = Vec::new();
    for d in 0..8 {
        for run in 0..10 {
            let from = json!({"sourceIPAddress": format!("20.{}.{run}.9", 100 + d)});
            lines.push(event(d * DAY_S + run * HOUR, &ci(), "s3", "PutObject", from));
        }
    }
    let mut quiet = lines.clone();
    quiet.push(event(8 * DAY_S + HOUR, &ci(), "s3", "PutObject", json!({"sourceIPAddress": "203.0.113.9"})));
    assert!(run(rule(), &quiet).is_empty());
    // A new region still counts: low, one novelty.
    let extra = json!({"sourceIPAddress": "203.0.113.9", "awsRegion": "ap-south-1"});
    lines.push(event(8 * DAY_S + HOUR, &ci(), "s3", "PutObject", extra));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Low);
    assert!(f[0].summary.contains("new region ap-south-1") && !f[0].summary.contains("new network"));
}

#[test]
fn one_novelty_is_low_and_two_are_medium() {
    let mut lines = history(8);
    let extra = json!({"awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.20"});
    lines.push(event(8 * DAY_S + 5 * HOUR, &ci(), "ecs", "DescribeServices", extra));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Low);

    let mut lines = history(8);
    let extra = json!({"awsRegion": "eu-west-1", "sourceIPAddress": "192.0.2.20"});
    lines.push(event(8 * DAY_S + 5 * HOUR, &ci(), "ecs", "DescribeServices", extra));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Medium);
}

#[test]
fn a_human_only_fires_for_an_iam_write_from_a_new_network_and_then_at_low() {
    let admin = json!({
        "type": "AssumedRole",
        "principalId": "AROAADMIN:alice@example.com",
        "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com",
        "accountId": "111122223333",
        "accessKeyId": "ASIAALICE0000000001",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123", "userName": "AWSReservedSSO_Admin_0123"}}
    });
    let mut base = Vec::new();
    for d in 0..8 {
        for i in 0..8 {
            base.push(event(d * DAY_S + i * 60, &admin, "ec2", "DescribeInstances", json!({})));
        }
    }
    // A new region and a new network alone: quiet for a human.
    let mut lines = base.clone();
    let roam = json!({"awsRegion": "eu-west-1", "sourceIPAddress": "192.0.2.9"});
    lines.push(event(8 * DAY_S + HOUR, &admin, "ec2", "DescribeInstances", roam.clone()));
    assert!(run(rule(), &lines).is_empty());
    // The same plus a first IAM write: low.
    lines.push(event(8 * DAY_S + HOUR + 30, &admin, "iam", "CreateAccessKey", roam));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Low);
    assert_eq!(f[0].identity_class, IdentityClass::Human);
}

#[test]
fn a_first_long_lived_key_of_a_principal_that_always_used_sts_is_reported() {
    let user = |key: &str| json!({"type": "IAMUser", "principalId": "AIDADEPLOY", "arn": "arn:aws:iam::111122223333:user/deployer", "accountId": "111122223333", "accessKeyId": key, "userName": "deployer"});
    let mut lines = Vec::new();
    for d in 0..8 {
        for i in 0..8 {
            lines.push(event(d * DAY_S + i * 60, &user("ASIADEPLOY000000001"), "s3", "PutObject", json!({})));
        }
    }
    lines.push(event(8 * DAY_S + HOUR, &user("AKIADEPLOY000000001"), "s3", "PutObject", json!({})));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Low);
    assert!(f[0].context[0].contains("first use of a long-lived access key"), "{:?}", f[0].context);
    assert!(f[0].remediation.contains("deactivate access key AKIADEPLOY000000001"), "{}", f[0].remediation);
}

#[test]
fn findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
    let mut lines = history(8);
    lines.extend(attack(8 * DAY_S + 5 * HOUR));
    let expected = run(rule(), &lines);
    assert_eq!(expected.len(), 1);
    let shuffled = reverse_within_10_minutes(&lines);
    for (batch, workers) in [(1, 1), (7, 2), (64, 4), (500, 3)] {
        let all = run_with(rule(), &shuffled, batch, workers);
        assert_eq!(finals(&all), expected, "batch size {batch}, {workers} workers");
        // Early publications never claim more than the final version.
        assert!(all.iter().all(|f| f.severity <= expected[0].severity));
    }
}

/// The section of `config/trailhound.toml`.
const TOML: &str = r#"
# Run this rule.
enabled = true
# Event time a principal is only learned, from its first event, before it is judged.
learning = "7d"
# Calls a principal must have made before it is judged.
min_events = 50
# One finding per principal per bucket of this length.
episode = "1h"
# A principal not seen for this long (watermark time) is forgotten.
retention = "30d"
# Distinct APIs remembered per principal (context only).
max_apis = 256
# Distinct source networks (/24, /64) remembered per principal.
max_networks = 64
# A principal seen from more networks than this before an episode roams: new networks are not news.
max_baseline_networks = 16
# Distinct regions remembered per principal.
max_regions = 32
# Distinct user-agent families remembered per principal.
max_agents = 16
# Distinct sensitive write APIs remembered per principal.
max_sensitive_writes = 64
# Services whose write (non read-only) calls are sensitive.
sensitive_services = ["iam", "organizations", "cloudtrail"]
# Further sensitive calls (service:Action), whatever their read-only flag.
sensitive_actions = ["sts:GetFederationToken"]
# Judge human principals too (sensitive-write and network novelty together, low).
judge_humans = true
# Evidence events kept per finding (earliest first).
max_evidence = 10
"#;

#[test]
fn the_documented_configuration_is_the_default() {
    crate::testing::assert_documented_default::<RuleConfig<Config>>(TOML);
}
