//! The Stratus Red Team detonation logs replayed one technique at a time through every rule
//! (default configuration): each in-scope technique produces the expected finding.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use trailhound_detect::{DetectConfig, Engine};

/// Technique → rules that must fire on it alone.
const EXPECTED: &[(&str, &[&str])] = &[
    ("aws.credential-access.ec2-get-password-data", &["credential_harvesting"]),
    ("aws.credential-access.ec2-steal-instance-credentials", &["workload_credential_misuse"]),
    ("aws.credential-access.secretsmanager-batch-retrieve-secrets", &["credential_harvesting"]),
    ("aws.credential-access.secretsmanager-retrieve-secrets", &["credential_harvesting"]),
    ("aws.credential-access.ssm-retrieve-securestring-parameters", &["credential_harvesting"]),
    ("aws.defense-evasion.cloudtrail-delete", &["defense_evasion"]),
    ("aws.defense-evasion.cloudtrail-event-selectors", &["defense_evasion"]),
    ("aws.defense-evasion.cloudtrail-stop", &["defense_evasion"]),
    ("aws.defense-evasion.dns-delete-logs", &["defense_evasion"]),
    ("aws.defense-evasion.organizations-leave", &["defense_evasion"]),
    ("aws.defense-evasion.vpc-remove-flow-logs", &["defense_evasion"]),
    ("aws.discovery.ec2-download-user-data", &["enumeration_burst"]),
    ("aws.execution.ec2-launch-unusual-instances", &["instance_sprawl"]),
    ("aws.persistence.iam-backdoor-role", &["iam_role_backdoor"]),
    ("aws.persistence.iam-backdoor-user", &["iam_backdoor_credentials"]),
    ("aws.persistence.iam-create-admin-user", &["iam_user_persistence"]),
    ("aws.persistence.iam-create-backdoor-role", &["iam_role_backdoor"]),
    ("aws.persistence.iam-create-user-login-profile", &["iam_backdoor_credentials"]),
    ("aws.persistence.lambda-backdoor-function", &["lambda_backdoor"]),
    ("aws.persistence.lambda-layer-extension", &["lambda_backdoor"]),
    ("aws.persistence.rolesanywhere-create-trust-anchor", &["identity_provider_backdoor"]),
    ("aws.persistence.sts-federation-token", &["iam_backdoor_credentials"]),
    ("aws.privilege-escalation.iam-update-user-login-profile", &["iam_backdoor_credentials"]),
];

/// Techniques outside the families trailhound covers today, and why.
const OUT_OF_SCOPE: &[(&str, &str)] = &[
    ("aws.execution.ec2-user-data", "execution through instance user data: a future execution rule"),
    ("aws.execution.ssm-send-command", "SSM command execution on instances: a future execution rule"),
    ("aws.execution.ssm-start-session", "SSM sessions: a future execution / lateral-movement rule"),
    ("aws.exfiltration.ec2-security-group-open-port-22-ingress", "exfiltration and exposure: a future rule family"),
    ("aws.exfiltration.ec2-share-ami", "sharing with another account: a future exfiltration rule"),
    ("aws.exfiltration.ec2-share-ebs-snapshot", "sharing with another account: a future exfiltration rule"),
    ("aws.exfiltration.rds-share-snapshot", "sharing with another account: a future exfiltration rule"),
    ("aws.persistence.lambda-overwrite-code", "one UpdateFunctionCode is a deploy unless a per-function deployer history says otherwise (legacy CI deploys with IAM users and aws-cli)"),
    ("aws.impact.bedrock-invoke-model", "LLM-jacking (InvokeModel volume): a future impact rule"),
    ("aws.initial-access.console-login-without-mfa", "a human console login, not a non-human identity"),
    ("aws.lateral-movement.ec2-instance-connect", "lateral movement into instances: a future rule"),
    ("aws.lateral-movement.ec2-serial-console-send-ssh-public-key", "lateral movement into instances: a future rule"),
];

fn detonations() -> BTreeMap<String, Vec<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stratus");
    let events = std::fs::read_to_string(dir.join("events.ndjson")).expect("events");
    let labels = std::fs::read_to_string(dir.join("labels.ndjson")).expect("labels");
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (e, l) in events.lines().zip(labels.lines()) {
        let l: Value = serde_json::from_str(l).expect("label");
        by.entry(l["technique"].as_str().expect("technique").to_string()).or_default().push(e.to_string());
    }
    by
}

#[test]
fn every_in_scope_stratus_technique_fires_its_rule_when_replayed_alone() {
    let all = detonations();
    let listed: BTreeSet<&str> = EXPECTED.iter().map(|(t, _)| *t).chain(OUT_OF_SCOPE.iter().map(|(t, _)| *t)).collect();
    let present: BTreeSet<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(listed, present, "every technique in the fixture is either expected or explained as out of scope");
    let mut missing = Vec::new();
    for (technique, rules) in EXPECTED {
        let mut engine = Engine::new(&DetectConfig::default()).expect("engine");
        let mut fired = BTreeSet::new();
        for b in crate::parse(&all[*technique], 8192) {
            fired.extend(engine.process(&b).expect("process").into_iter().map(|f| f.rule_id));
        }
        fired.extend(engine.finish().expect("finish").into_iter().map(|f| f.rule_id));
        for r in *rules {
            if !fired.contains(*r) {
                missing.push(format!("{technique}: {r} did not fire (fired: {fired:?})"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
