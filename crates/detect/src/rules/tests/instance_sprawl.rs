//! Unit tests of the `instance_sprawl` rule, kept apart from the rule's file.

use serde_json::json;

use super::*;
use crate::testing::{event, finals, iam_user, role_session, run, run_all, stratus};

fn rule() -> Box<dyn Rule> {
    Box::new(InstanceSprawl::new(Config::default()))
}

fn run_instances(secs: i64, who: &Value, region: &str, ty: &str, n: u32, extra: Value) -> String {
    let mut req =
        json!({"instanceType": ty, "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": n}]}});
    if let (Some(r), Value::Object(more)) = (req.as_object_mut(), extra) {
        r.extend(more);
    }
    event(
        secs,
        who,
        "ec2",
        "RunInstances",
        json!({"eventID": format!("run-{secs}-{region}-{ty}"), "awsRegion": region, "requestParameters": req}),
    )
}

fn with_error(line: String, code: &str) -> String {
    let mut v: Value = serde_json::from_str(&line).expect("json");
    v["errorCode"] = json!(code);
    v.to_string()
}

#[test]
fn vcpu_table_matches_aws_for_common_families() {
    for (t, v) in [
        ("t3.micro", 2),
        ("t3.medium", 2),
        ("t2.micro", 1),
        ("t2.medium", 2),
        ("m5.large", 2),
        ("m5.xlarge", 4),
        ("c5.9xlarge", 36),
        ("r5.24xlarge", 96),
        ("m5.metal", 96),
        ("p2.xlarge", 4),
        ("p3.2xlarge", 8),
        ("p3.16xlarge", 64),
        ("p4d.24xlarge", 96),
        ("g4dn.xlarge", 4),
        ("g4dn.12xlarge", 48),
        ("g5.48xlarge", 192),
        ("m6g.medium", 1),
        ("c7i.metal-48xl", 192),
        ("ml.p3.8xlarge", 32),
    ] {
        assert_eq!(vcpus_of(t), Some(v), "{t}");
    }
    assert_eq!(vcpus_of("weird"), None);
    let r = InstanceSprawl::new(Config::default());
    for t in ["p2.xlarge", "g4dn.xlarge", "gr6.4xlarge", "inf2.xlarge", "trn1.32xlarge", "dl1.24xlarge"] {
        assert!(r.accelerated(t), "{t}");
    }
    for t in ["m6g.large", "c7g.xlarge", "t3.micro", "r5.large", "i3.large"] {
        assert!(!r.accelerated(t), "{t}");
    }
}

#[test]
fn the_stratus_unusual_gpu_launch_fires_on_the_gpu_condition() {
    let f = run(rule(), &stratus("aws.execution.ec2-launch-unusual-instances"));
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert!(f.context[0].starts_with("10 GPU/accelerated instances requested"), "{:?}", f.context);
    assert!(f.context.iter().any(|c| c.contains("p2.xlarge×10")));
    assert!(f.context.iter().any(|c| c.contains("Client.UnauthorizedOperation×1")));
    assert!(f.summary.contains("40 vCPUs"), "{}", f.summary);
    assert_eq!(f.technique_ids, vec!["T1496", "T1578.002"]);
    assert_eq!(f.tactic_ids, vec!["TA0040", "TA0002"]);
    assert_eq!(f.event_count, 1);
    // A role session from an unknown tool (not a machine class): one condition, medium.
    assert_eq!(f.identity_class, IdentityClass::Unknown);
    assert_eq!(f.severity, Severity::Medium);
}

#[test]
fn a_stolen_key_bursting_across_regions_and_limits_is_high() {
    let who = iam_user("ci-deployer", "AKIASTOLEN");
    let mut lines = Vec::new();
    for (i, region) in ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"].iter().enumerate() {
        let i = i as i64;
        lines.push(with_error(run_instances(i * 30, &who, region, "c5.4xlarge", 8, json!({})), "VcpuLimitExceeded"));
        lines.push(with_error(
            run_instances(i * 30 + 5, &who, region, "c5.2xlarge", 4, json!({})),
            "Client.InstanceLimitExceeded",
        ));
    }
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    let f = &f[0];
    // instances 48, vCPUs 4·(8·16 + 4·8) = 640, regions 4, limit errors 8: four conditions.
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.identity_class, IdentityClass::ProgrammaticUser);
    assert_eq!(f.regions.len(), 4);
    assert!(f.context.iter().any(|c| c.starts_with("48 instances requested")), "{:?}", f.context);
    assert!(f.context.iter().any(|c| c.starts_with("640 vCPUs")), "{:?}", f.context);
    assert!(f.context.iter().any(|c| c.starts_with("8 launch attempts failing")), "{:?}", f.context);
}

#[test]
fn one_condition_by_a_long_lived_key_is_high() {
    let who = iam_user("app", "AKIAAPP");
    let lines = vec![run_instances(0, &who, "us-east-1", "m5.large", 25, json!({}))];
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    // 25 instances (50 vCPUs): one condition, raised for the long-lived key.
    assert_eq!(f[0].severity, Severity::High);
    assert_eq!(f[0].context.len(), 3, "{:?}", f[0].context);
}

#[test]
fn termination_protection_in_the_same_window_makes_it_critical() {
    let who = role_session("ci-runner", "gha-1234", "ASIACI");
    let lines = vec![
        run_instances(0, &who, "us-east-1", "g4dn.xlarge", 6, json!({})),
        event(
            120,
            &who,
            "ec2",
            "ModifyInstanceAttribute",
            json!({"requestParameters": {"instanceId": "i-0abc", "disableApiTermination": {"value": true}}}),
        ),
    ];
    let all = run_all(vec![rule()], &lines, 1);
    let fin = finals(&all);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].severity, Severity::Critical);
    assert!(fin[0].context.iter().any(|c| c.contains("termination protection")));
    // Early firing before the protection arrived, then an update.
    assert!(all[0].severity < Severity::Critical);
    assert!(all.iter().any(|f| f.activity == Activity::Update && f.severity == Severity::Critical));
}

#[test]
fn large_ecs_tasks_in_a_burst_fire() {
    let who = iam_user("svc", "AKIAECS");
    let mut lines = vec![event(
        0,
        &who,
        "ecs",
        "RegisterTaskDefinition",
        json!({"requestParameters": {"family": "xmr", "cpu": "4096", "memory": "8192",
                "containerDefinitions": [{"name": "x", "image": "x/xmrig"}]}}),
    )];
    for i in 0..2 {
        lines.push(event(
            10 + i,
            &who,
            "ecs",
            "RunTask",
            json!({"requestParameters": {"taskDefinition": "xmr", "count": 10, "launchType": "FARGATE"}}),
        ));
    }
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    assert!(f[0].context[0].starts_with("20 ECS tasks"), "{:?}", f[0].context);
    assert!(f[0].technique_ids.contains(&"T1610".to_string()));
}

#[test]
fn an_auto_scaling_group_sized_for_a_burst_counts_once_and_resizes_without_sizes_do_not() {
    let mut human = role_session("AWSReservedSSO_Admin_abc", "bob@example.com", "ASIAHUMAN");
    human["sessionContext"]["attributes"]["mfaAuthenticated"] = json!("true");
    let mut lines = vec![event(
        0,
        &human,
        "autoscaling",
        "CreateAutoScalingGroup",
        json!({"requestParameters": {"autoScalingGroupName": "x", "minSize": 30, "maxSize": 30, "desiredCapacity": 30,
                "mixedInstancesPolicy": {"launchTemplate": {"overrides": [{"instanceType": "c5.xlarge"}]}}}}),
    )];
    // The group's own launches are the service-linked role's: not counted again.
    let svc = json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"});
    lines.push(run_instances(30, &svc, "us-east-1", "c5.xlarge", 30, json!({})));
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::High, "{:?}", f[0].context); // 30 instances and 120 vCPUs
    assert_eq!(f[0].event_count, 1);
    let quiet: Vec<String> = ["us-east-1", "us-west-2", "eu-west-1"]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                event(
                    i as i64,
                    &human,
                    "autoscaling",
                    "UpdateAutoScalingGroup",
                    json!({"eventID": format!("u{i}"), "awsRegion": r, "requestParameters": {"autoScalingGroupName": "x", "launchTemplate": {"version": "$Latest"}}}),
                )
            })
            .collect();
    assert!(run(rule(), &quiet).is_empty());
}

#[test]
fn quota_probing_alone_is_low() {
    let who = iam_user("svc", "AKIAQ");
    let lines: Vec<String> = ["us-east-1", "us-west-2", "eu-central-1"]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            event(
                i as i64,
                &who,
                "servicequotas",
                "GetServiceQuota",
                json!({"awsRegion": r, "readOnly": true, "eventID": format!("q{i}")}),
            )
        })
        .collect();
    let f = run(rule(), &lines);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Low);
}

#[test]
fn an_autoscaler_launching_twenty_instances_stays_quiet() {
    let svc = json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"});
    let slr = {
        let mut v = role_session("AWSServiceRoleForAutoScaling", "AutoScaling", "ASIASLR");
        v["sessionContext"]["sessionIssuer"]["arn"] = json!(
            "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        );
        v
    };
    let mut lines = vec![run_instances(0, &svc, "us-east-1", "m5.xlarge", 20, json!({}))];
    lines.push(run_instances(1, &slr, "us-east-1", "m5.xlarge", 20, json!({})));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_ci_deploy_launching_four_instances_stays_quiet() {
    let mut ci = role_session("github-deploy", "GitHubActions", "ASIAGHA");
    ci["sessionContext"]["webIdFederationData"] =
        json!({"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"});
    let lines = vec![
        run_instances(0, &ci, "us-east-1", "m5.xlarge", 4, json!({})),
        event(60, &ci, "ec2", "CreateTags", json!({})),
    ];
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn a_deploy_turning_termination_protection_off_stays_quiet() {
    let ci = iam_user("deployer", "AKIADEPLOY");
    let mut lines: Vec<String> = (0..10)
            .map(|i| {
                event(
                    i,
                    &ci,
                    "ec2",
                    "ModifyInstanceAttribute",
                    json!({"eventID": format!("m{i}"), "requestParameters": {"instanceId": format!("i-{i}"), "disableApiTermination": {"value": false}}}),
                )
            })
            .collect();
    lines.push(run_instances(20, &ci, "us-east-1", "t3.small", 3, json!({"disableApiTermination": false})));
    assert!(run(rule(), &lines).is_empty());
}

#[test]
fn fleet_requests_count_target_capacity_and_the_smallest_override() {
    let who = iam_user("svc", "AKIAFLEET");
    let line = event(
        0,
        &who,
        "ec2",
        "CreateFleet",
        json!({"requestParameters": {"CreateFleetRequest": {
                "TargetCapacitySpecification": {"TotalTargetCapacity": 30},
                "LaunchTemplateConfigs": {"Overrides": [{"InstanceType": "c5.large"}, {"InstanceType": "p3.2xlarge"}]}}}}),
    );
    let f = run(rule(), &[line]);
    assert_eq!(f.len(), 1);
    assert!(f[0].context[0].starts_with("30 instances"), "{:?}", f[0].context);
    // Mixed overrides: the smallest (2 vCPUs) counts, and it is not all GPU.
    assert!(f[0].summary.contains("60 vCPUs, 0 GPU"), "{}", f[0].summary);
}

#[test]
fn final_findings_do_not_depend_on_arrival_order() {
    let a = iam_user("a", "AKIAA");
    let b = role_session("worker", "i-0123456789abcdef0", "ASIAB");
    let mut lines = Vec::new();
    for i in 0..6 {
        lines.push(run_instances(
            i * 50,
            &a,
            ["us-east-1", "eu-west-1", "us-west-2"][i as usize % 3],
            "g5.xlarge",
            3,
            json!({}),
        ));
        lines.push(with_error(
            run_instances(i * 50 + 7, &b, "us-east-1", "c5.large", 5, json!({})),
            "VcpuLimitExceeded",
        ));
    }
    lines.push(event(
        200,
        &a,
        "ec2",
        "ModifyInstanceAttribute",
        json!({"requestParameters": {"instanceId": "i-1", "disableApiTermination": {"value": true}}}),
    ));
    let forward = finals(&run_all(vec![rule()], &lines, 1));
    let mut shuffled = lines.clone();
    shuffled.reverse();
    shuffled.swap(0, 5);
    let backward = finals(&run_all(vec![rule()], &shuffled, 4));
    assert_eq!(forward, backward);
    assert_eq!(forward.len(), 2);
    assert!(forward.iter().any(|f| f.severity == Severity::Critical));
}
