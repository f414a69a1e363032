//! Tests of the IaC actors: every destroy deletes only what the same principal created.

use super::*;
use crate::background::tests::run_sources;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn destroys_delete_only_what_the_same_principal_created() {
    let events = run_sources(
        |est, rng, start, out| {
            let ops = super::super::console::build(est, rng, start, &mut Vec::new());
            build(est, rng, start, &ops, out);
        },
        30 * HOUR,
    );
    assert!(events.len() > 2_000, "{} IaC events", events.len());
    // The principal (ARN) of each create and delete, keyed by the resource it names.
    let key = |e: &serde_json::Value| -> Option<String> {
        let p = &e["requestParameters"];
        let r = p["userName"]
            .as_str()
            .or(p["roleName"].as_str())
            .or(p["name"].as_str())
            .or(p["secretId"].as_str())
            .or(p["detectorId"].as_str())
            .or(p["configurationRecorderName"].as_str())
            .or(p["configurationRecorder"]["name"].as_str())
            .or(p["groupId"].as_str())
            .or(p["groupName"].as_str())
            .or(p["CreateFlowLogsRequest"]["LogGroupName"].as_str())
            .or(p["logGroupName"].as_str())?;
        Some(r.to_string())
    };
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for e in &events {
        let name = e["eventName"].as_str().unwrap_or("");
        names.insert(name.to_string());
        // The principal: the role of a role session (CloudFormation names each of its
        // sessions afresh), else the identity's ARN.
        let ui = &e["userIdentity"];
        let who =
            ui["sessionContext"]["sessionIssuer"]["arn"].as_str().or(ui["arn"].as_str()).unwrap_or("").to_string();
        let mut k = key(e).unwrap_or_default();
        // Created resources are named by their id in the response.
        if name == "CreateSecret" {
            k = e["responseElements"]["arn"].as_str().unwrap_or("").to_string();
        }
        if name == "CreateDetector" {
            k = e["responseElements"]["detectorId"].as_str().unwrap_or("").to_string();
        }
        if name == "CreateSecurityGroup" {
            k = e["responseElements"]["groupId"].as_str().unwrap_or("").to_string();
        }
        if name == "CreateTrail" {
            k = e["responseElements"]["trailARN"].as_str().unwrap_or("").to_string();
        }
        if k.is_empty() {
            continue;
        }
        if name.starts_with("Create") || name == "PutConfigurationRecorder" {
            created.entry(k).or_insert(who);
        } else if name.starts_with("Delete") && name != "DeleteAccessKey" && name != "DeleteLoginProfile" {
            if name == "DeleteFlowLogs"
                || name == "DeleteBucket"
                || name == "DeleteBucketPolicy"
                || name == "DeleteDeliveryChannel"
            {
                continue;
            }
            let creator = created.get(&k).unwrap_or_else(|| panic!("{name} of {k} that was never created"));
            assert_eq!(creator, &who, "{name} of {k}");
        }
    }
    for n in [
        "CreateTrail",
        "StartLogging",
        "PutEventSelectors",
        "DeleteTrail",
        "StopLogging",
        "CreateFlowLogs",
        "DeleteFlowLogs",
        "CreateUser",
        "CreateAccessKey",
        "CreateLoginProfile",
        "DeleteLoginProfile",
        "DeleteAccessKey",
        "DeleteUser",
        "CreateSecret",
        "PutSecretValue",
        "GetSecretValue",
        "DeleteSecret",
        "CreateDetector",
        "DeleteDetector",
        "PutConfigurationRecorder",
        "DeleteConfigurationRecorder",
        "CreateChangeSet",
        "ExecuteChangeSet",
        "DeleteStack",
        "AssumeRoleWithWebIdentity",
    ] {
        assert!(names.contains(n), "no {n}");
    }
    let uas: BTreeSet<&str> = events.iter().filter_map(|e| e["userAgent"].as_str()).collect();
    assert!(uas.iter().any(|u| u.contains("Terraform/1.9.5") && u.contains("GOOS#darwin")));
    assert!(uas.iter().any(|u| u.contains("Terraform/1.9.5") && u.contains("GOOS#linux")));
    assert!(uas.iter().any(|u| u.contains("pulumi")));
    assert!(uas.contains(UA_CDK));
    assert!(events.iter().any(|e| e["userIdentity"]["invokedBy"] == CFN && e["sourceIPAddress"] == CFN));
}
