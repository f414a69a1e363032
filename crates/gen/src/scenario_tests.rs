//! The exact shapes of every scenario's events, checked on the shared 50k-event run (and on
//! small scenario-only runs), plus the benign look-alikes of the background.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::estate::PEOPLE_USERS;
use crate::scenarios::ATTACKER_OCTETS;
use crate::tests::{cfg, instances, key_of, parse_time, run_with, s, shared, Run};
use crate::{GenConfig, Label};

/// The labels of the first instance of `scenario` in the shared run.
fn group<'a>(run: &'a Run, scenario: &str) -> &'a [Label] {
    instances(&run.labels).into_iter().find(|g| g[0].scenario == scenario).expect("scenario injected")
}

/// Every attack event of the instance, time-sorted.
fn events<'a>(run: &'a Run, g: &[Label]) -> Vec<&'a Value> {
    run.of_ids(&g[g.len() - 1].event_ids)
}

fn names(evs: &[&Value]) -> Vec<String> {
    evs.iter().map(|e| s(e, "eventName").to_string()).collect()
}

fn named<'a>(evs: &[&'a Value], name: &str) -> Vec<&'a Value> {
    evs.iter().copied().filter(|e| e["eventName"] == name).collect()
}

fn req<'a>(e: &'a Value, k: &str) -> &'a str {
    s(&e["requestParameters"], k)
}

fn time(e: &Value) -> i64 {
    parse_time(s(e, "eventTime"))
}

fn doc(e: &Value, k: &str) -> Value {
    serde_json::from_str(req(e, k)).expect("policy document is JSON")
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

fn rules(g: &[Label]) -> Vec<&str> {
    g.iter().map(|l| l.rule_id.as_str()).collect()
}

/// All events of a run that are not attacks, by key.
fn benign_use<'a>(run: &'a Run, key: &str) -> Vec<&'a Value> {
    run.events.iter().filter(|e| key_of(e) == key && !run.is_attack(e)).collect()
}

#[test]
fn iam_admin_user_creates_an_admin_and_uses_its_new_key() {
    let run = shared();
    let g = group(run, "iam_admin_user");
    assert_eq!(rules(g), ["iam_user_persistence", "new_access_key_used", "attack_chain"]);
    let (stolen, new_key) = (&g[0].actor_key, &g[1].actor_key);
    assert_eq!(&g[2].actor_key, stolen);
    assert!(stolen.starts_with("AKIA") && new_key.starts_with("AKIA") && stolen != new_key);
    let evs = events(run, g);
    let (mine, theirs): (Vec<&Value>, Vec<&Value>) = evs.iter().partition(|e| key_of(e) == *stolen);
    assert_eq!(
        names(&mine),
        ["GetCallerIdentity", "CreateUser", "AttachUserPolicy", "CreateAccessKey", "CreateLoginProfile"]
    );
    assert_eq!(mine.len() as u64, g[0].events);
    assert_eq!(theirs.len() as u64, g[1].events);
    assert!(time(mine[4]) - time(mine[1]) <= 60_000, "persistence within a minute");
    let x = req(mine[1], "userName");
    for e in &mine[1..] {
        assert_eq!(req(e, "userName"), x);
        assert_eq!(s(e, "eventSource"), "iam.amazonaws.com");
        assert_eq!(s(e, "awsRegion"), "us-east-1");
    }
    assert_eq!(req(mine[2], "policyArn"), "arn:aws:iam::aws:policy/AdministratorAccess");
    let key = &mine[3]["responseElements"]["accessKey"];
    assert_eq!(s(key, "accessKeyId"), new_key);
    assert_eq!(s(key, "status"), "Active");
    assert_eq!(s(key, "userName"), x);
    assert_eq!(mine[4]["responseElements"]["loginProfile"]["userName"], x);
    let user_id = s(&mine[1]["responseElements"]["user"], "userId");
    // The new key, 5-20 minutes later, from the same address, as IAM user X.
    let gap = time(theirs[0]) - time(mine[3]);
    assert!((5 * 60_000..=21 * 60_000).contains(&gap), "new key used {gap} ms after its creation");
    assert_eq!(names(&theirs)[..2], ["GetCallerIdentity", "ListBuckets"]);
    for e in &theirs {
        let ui = &e["userIdentity"];
        assert_eq!(s(ui, "type"), "IAMUser");
        assert_eq!(s(ui, "userName"), x);
        assert_eq!(s(ui, "principalId"), user_id);
        assert_eq!(s(ui, "accessKeyId"), new_key);
        assert_eq!(s(e, "sourceIPAddress"), s(mine[0], "sourceIPAddress"));
    }
    assert!(benign_use(run, new_key).is_empty());
}

#[test]
fn iam_backdoor_existing_user_plants_a_key_and_a_password() {
    let run = shared();
    let g = group(run, "iam_backdoor_existing_user");
    assert_eq!(rules(g), ["iam_backdoor_credentials"]);
    let evs = events(run, g);
    assert_eq!(names(&evs), ["GetCallerIdentity", "ListUsers", "CreateAccessKey", "UpdateLoginProfile"]);
    assert!(s(&evs[0]["userIdentity"], "arn").contains(":assumed-role/gha-deploy/GitHubActions"));
    let (a, b) = (req(evs[2], "userName"), req(evs[3], "userName"));
    assert!(PEOPLE_USERS.contains(&a) && PEOPLE_USERS.contains(&b) && a != b);
    let key = &evs[2]["responseElements"]["accessKey"];
    assert_eq!(s(key, "userName"), a);
    assert!(s(key, "accessKeyId").starts_with("AKIA"));
    assert!(run.events.iter().all(|e| key_of(e) != s(key, "accessKeyId")), "the planted key is never used");
    // The deploy role never touches IAM in the background.
    let role_iam = run.events.iter().filter(|e| {
        !run.is_attack(e)
            && e["userIdentity"]["arn"].as_str().is_some_and(|a| a.contains(":assumed-role/gha-deploy/"))
            && e["eventSource"] == "iam.amazonaws.com"
    });
    assert_eq!(role_iam.count(), 0);
}

fn check_backdoor_role(evs: &[&Value], accounts: &BTreeSet<String>) -> bool {
    assert!(s(&evs[0]["userIdentity"], "arn").contains("-role/"), "a Lambda function's session");
    assert_eq!(s(evs[0], "eventName"), "GetCallerIdentity");
    match s(evs[1], "eventName") {
        "CreateRole" => {
            assert_eq!(names(evs), ["GetCallerIdentity", "CreateRole", "AttachRolePolicy"]);
            let d = doc(evs[1], "assumeRolePolicyDocument");
            let principal = d["Statement"][0]["Principal"]["AWS"].as_str().expect("AWS principal");
            let ext = principal.strip_prefix("arn:aws:iam::").and_then(|p| p.strip_suffix(":root")).expect("root arn");
            assert!(ext.len() == 12 && ext.bytes().all(|b| b.is_ascii_digit()));
            assert!(!accounts.contains(ext), "a foreign account");
            let echoed = s(&evs[1]["responseElements"]["role"], "assumeRolePolicyDocument");
            assert_eq!(url_decode(echoed), req(evs[1], "assumeRolePolicyDocument"));
            assert_eq!(req(evs[2], "roleName"), req(evs[1], "roleName"));
            assert_eq!(req(evs[2], "policyArn"), "arn:aws:iam::aws:policy/AdministratorAccess");
            true
        }
        "GetRole" => {
            assert_eq!(names(evs), ["GetCallerIdentity", "GetRole", "UpdateAssumeRolePolicy"]);
            assert_eq!(req(evs[2], "roleName"), "inventory-readonly");
            let d = doc(evs[2], "policyDocument");
            let st = d["Statement"].as_array().expect("statements");
            assert_eq!(st.len(), 2, "the old statement is kept");
            assert!(st.iter().any(|x| x["Principal"] == "*" && x["Action"] == "sts:AssumeRole"));
            false
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn iam_backdoor_role_opens_a_role_to_outsiders_in_both_variants() {
    let run = shared();
    let g = group(run, "iam_backdoor_role");
    assert_eq!(rules(g), ["iam_role_backdoor"]);
    let accounts: BTreeSet<String> = run.events.iter().map(|e| s(e, "recipientAccountId").to_string()).collect();
    let mut seen = BTreeSet::new();
    seen.insert(check_backdoor_role(&events(run, g), &accounts));
    for seed in 1..=8 {
        if seen.len() == 2 {
            break;
        }
        let cfg = GenConfig { seed, events: 25_000, scenarios: Some(vec!["iam_backdoor_role".into()]), ..cfg() };
        let (bytes, labels) = run_with(&cfg);
        let small = Run::new(bytes, labels);
        let refs = small.of_ids(&small.labels[0].event_ids);
        assert_eq!(refs.len() as u64, small.labels[0].events);
        seen.insert(check_backdoor_role(&refs, &accounts));
    }
    assert_eq!(seen.len(), 2, "both variants within a few seeds");
}

#[test]
fn iam_self_escalation_grants_itself_everything() {
    let run = shared();
    let g = group(run, "iam_self_escalation");
    assert_eq!(rules(g), ["iam_privilege_escalation"]);
    let evs = events(run, g);
    assert_eq!(
        names(&evs),
        ["GetCallerIdentity", "ListAttachedUserPolicies", "PutUserPolicy", "CreatePolicyVersion", "CreateAccessKey"]
    );
    let me = s(&evs[0]["userIdentity"], "userName");
    assert!(g[0].actor_key.starts_with("AKIA"));
    for i in [1, 2, 4] {
        assert_eq!(req(evs[i], "userName"), me);
    }
    for (e, k) in [(evs[2], "policyDocument"), (evs[3], "policyDocument")] {
        let d = doc(e, k);
        assert_eq!(d["Statement"][0]["Action"], "*");
        assert_eq!(d["Statement"][0]["Resource"], "*");
        assert_eq!(d["Statement"][0]["Effect"], "Allow");
    }
    assert_eq!(evs[3]["requestParameters"]["setAsDefault"], true);
    assert!(req(evs[3], "policyArn").starts_with(&format!("arn:aws:iam::{}:policy/", g[0].account)));
    assert_eq!(evs[3]["responseElements"]["policyVersion"]["isDefaultVersion"], true);
    let key = &evs[4]["responseElements"]["accessKey"];
    assert_eq!(s(key, "userName"), me);
    assert_eq!(s(key, "status"), "Active");
    assert_ne!(s(key, "accessKeyId"), g[0].actor_key);
}

#[test]
fn gpu_sprawl_launches_gpus_everywhere_and_protects_them() {
    let run = shared();
    let g = group(run, "gpu_sprawl");
    assert_eq!(rules(g), ["enumeration_burst", "instance_sprawl", "termination_protection", "attack_chain"]);
    assert!(g.iter().all(|l| l.actor_key == g[0].actor_key && l.actor_key.starts_with("ASIA")));
    let evs = events(run, g);
    let recon: Vec<&Value> = evs.iter().copied().filter(|e| time(e) <= g[0].end_ms).collect();
    assert_eq!(recon.len() as u64, g[0].events, "the recon burst comes first, alone");
    assert!(recon.iter().any(|e| e["eventName"] == "GetCallerIdentity" && time(e) == g[0].start_ms));
    let quotas: Vec<&Value> =
        evs.iter().copied().filter(|e| e["eventSource"] == "servicequotas.amazonaws.com").collect();
    let quota_regions: BTreeSet<&str> = quotas.iter().map(|e| s(e, "awsRegion")).collect();
    assert!(quota_regions.len() >= 4);
    assert!(quotas.iter().any(|e| e["eventName"] == "GetServiceQuota" && req(e, "quotaCode") == "L-417A185B"));
    let runs = named(&evs, "RunInstances");
    let run_regions: BTreeSet<&str> = runs.iter().map(|e| s(e, "awsRegion")).collect();
    assert!((4..=6).contains(&run_regions.len()), "{} regions", run_regions.len());
    assert_eq!(run_regions, quota_regions);
    assert!(time(runs[runs.len() - 1]) - time(runs[0]) <= 6 * 60_000, "launches within about five minutes");
    assert_eq!((quotas.len() + runs.len()) as u64, g[1].events);
    let gpu = ["p3.2xlarge", "g5.12xlarge", "p4d.24xlarge", "g4dn.2xlarge", "g5.xlarge"];
    let mut launched = BTreeSet::new();
    let mut failed = 0;
    for e in &runs {
        let p = &e["requestParameters"];
        assert!(gpu.contains(&s(p, "instanceType")));
        let max = p["instancesSet"]["items"][0]["maxCount"].as_u64().expect("maxCount");
        assert!((10..=20).contains(&max));
        match e["errorCode"].as_str() {
            Some(code) => {
                assert!(["Client.VcpuLimitExceeded", "Client.InstanceLimitExceeded"].contains(&code));
                assert!(s(e, "errorMessage").contains("limit"));
                failed += 1;
            }
            None => {
                for it in e["responseElements"]["instancesSet"]["items"].as_array().expect("items") {
                    launched.insert(s(it, "instanceId").to_string());
                }
            }
        }
    }
    assert!(failed * 2 > runs.len(), "most launches fail: {failed} of {}", runs.len());
    assert!(!launched.is_empty());
    let protect = named(&evs, "ModifyInstanceAttribute");
    assert_eq!(protect.len() as u64, g[2].events);
    let protected: BTreeSet<String> = protect
        .iter()
        .map(|e| {
            assert_eq!(e["requestParameters"]["disableApiTermination"]["value"], true);
            req(e, "instanceId").to_string()
        })
        .collect();
    assert_eq!(protected, launched, "every launched instance, and only those");
}

#[test]
fn ecs_burst_runs_miners_in_three_regions() {
    let run = shared();
    let g = group(run, "ecs_burst");
    assert_eq!(rules(g), ["instance_sprawl"]);
    let evs = events(run, g);
    let regions: BTreeSet<&str> =
        evs.iter().filter(|e| e["eventSource"] == "ecs.amazonaws.com").map(|e| s(e, "awsRegion")).collect();
    assert_eq!(regions.len(), 3);
    assert!(time(evs[evs.len() - 1]) - time(evs[0]) <= 10 * 60_000);
    let defs = named(&evs, "RegisterTaskDefinition");
    assert_eq!(defs.len(), 3);
    for d in &defs {
        let p = &d["requestParameters"];
        assert_eq!(p["cpu"], "16384");
        assert!(s(p, "memory").parse::<u32>().expect("memory") >= 32_768);
        let image = s(&p["containerDefinitions"][0], "image");
        assert!(image.contains("xmrig") || image.contains("miner"), "{image}");
    }
    let tasks = named(&evs, "RunTask");
    assert!(tasks.len() >= 6);
    for t in &tasks {
        assert_eq!(t["requestParameters"]["count"], 10);
        assert_eq!(t["responseElements"]["tasks"].as_array().map(Vec::len), Some(10));
    }
    let services = named(&evs, "CreateService");
    assert_eq!(services.len(), 3);
    assert!(services.iter().all(|e| e["requestParameters"]["desiredCount"] == 50));
}

#[test]
fn defense_evasion_blinds_the_account_after_recon() {
    let run = shared();
    let g = group(run, "defense_evasion");
    assert_eq!(rules(g), ["enumeration_burst", "defense_evasion", "attack_chain"]);
    let evs = events(run, g);
    let (recon, evasion): (Vec<&Value>, Vec<&Value>) = evs.iter().partition(|e| time(e) <= g[0].end_ms);
    assert_eq!(recon.len() as u64, g[0].events);
    assert_eq!(evasion.len() as u64, g[1].events);
    assert_eq!(
        names(&evasion),
        [
            "StopLogging",
            "PutEventSelectors",
            "UpdateDetector",
            "DeleteDetector",
            "DeleteFlowLogs",
            "StopConfigurationRecorder",
            "PutBucketLifecycle",
            "PutBucketLifecycle"
        ]
    );
    assert!(req(evasion[0], "name").contains(":trail/"));
    assert_eq!(evasion[1]["requestParameters"]["eventSelectors"][0]["includeManagementEvents"], false);
    assert_eq!(evasion[2]["requestParameters"]["enable"], false);
    assert!(s(&evasion[4]["requestParameters"]["DeleteFlowLogsRequest"]["FlowLogId"], "content").starts_with("fl-"));
    assert_eq!(req(evasion[5], "configurationRecorderName"), "default");
    for e in &evasion[6..] {
        let p = &e["requestParameters"];
        assert!(s(p, "bucketName").contains("cloudtrail"));
        assert_eq!(p["LifecycleConfiguration"]["Rule"]["Expiration"]["Days"], 1);
    }
    let failed: Vec<&&Value> = evasion.iter().filter(|e| e.get("errorCode").is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(s(failed[0], "errorCode"), "AccessDenied");
    assert_eq!(s(failed[0], "eventName"), "PutBucketLifecycle");
}

#[test]
fn secrets_harvest_collects_every_secret_it_can() {
    let run = shared();
    let g = group(run, "secrets_harvest");
    assert_eq!(rules(g), ["credential_harvesting"]);
    let evs = events(run, g);
    assert!(s(&evs[0]["userIdentity"], "arn").contains("-task-role/"), "an ECS task session");
    assert!(time(evs[evs.len() - 1]) - time(evs[0]) <= 5 * 60_000);
    assert_eq!(named(&evs, "ListSecrets").len(), 1);
    let gets = named(&evs, "GetSecretValue");
    let ids: BTreeSet<&str> = gets.iter().map(|e| req(e, "secretId")).collect();
    assert!(ids.len() >= 10 && ids.len() == gets.len());
    let denied = gets.iter().filter(|e| e["errorCode"] == "AccessDeniedException").count();
    assert!((3..=6).contains(&denied), "{denied} denied");
    assert_eq!(named(&evs, "BatchGetSecretValue").len(), 1);
    let params = named(&evs, "GetParametersByPath");
    assert!(!params.is_empty() && params.iter().all(|e| e["requestParameters"]["withDecryption"] == true));
    assert_eq!(named(&evs, "GetPasswordData").len(), 3);
}

#[test]
fn stolen_instance_credentials_are_used_outside_the_instance() {
    let run = shared();
    let g = group(run, "stolen_instance_credentials");
    assert_eq!(rules(g), ["workload_credential_misuse"]);
    let evs = events(run, g);
    assert_eq!(names(&evs), ["GetCallerIdentity", "ListBuckets", "DescribeInstances", "CreateUser"]);
    let ui = &evs[0]["userIdentity"];
    assert!(s(ui, "arn").rsplit('/').next().is_some_and(|sess| sess.starts_with("i-")));
    assert_eq!(ui["sessionContext"]["ec2RoleDelivery"], "2.0");
    // The instance keeps using the same key from its own addresses.
    let own = benign_use(run, &g[0].actor_key);
    assert!(!own.is_empty());
    let ips: BTreeSet<&str> = own.iter().map(|e| s(e, "sourceIPAddress")).collect();
    assert!(ips.iter().all(|ip| {
        let first: u8 = ip.split('.').next().and_then(|o| o.parse().ok()).unwrap_or(0);
        !ATTACKER_OCTETS.contains(&first)
    }));
    assert!(
        run.events.iter().any(|e| e["userIdentity"]["sessionContext"]["ec2RoleDelivery"] == "2.0"
            && s(e, "sourceIPAddress").starts_with("10.")),
        "instance sessions are used from private addresses in the background"
    );
}

#[test]
fn baseline_novelty_is_not_injected_in_short_runs() {
    let (out, labels) =
        run_with(&GenConfig { events: 30_000, scenarios: Some(vec!["baseline_novelty".into()]), ..cfg() });
    assert!(labels.is_empty());
    assert_eq!(std::str::from_utf8(&out).expect("utf-8").lines().count(), 30_000);
}

/// Parsed background events of a run without attacks, kept only when `keep` accepts the raw line.
fn background_lines(events: u64, keep: impl Fn(&str) -> bool) -> Vec<Value> {
    struct Keep<F: Fn(&str) -> bool>(F, Vec<Value>);
    impl<F: Fn(&str) -> bool> crate::engine::Sink for Keep<F> {
        fn event(&mut self, line: &[u8], _time: i64, _arrival: i64) -> std::io::Result<()> {
            let line = std::str::from_utf8(line).expect("utf-8");
            if (self.0)(line) {
                self.1.push(serde_json::from_str(line).expect("json"));
            }
            Ok(())
        }
    }
    let cfg = GenConfig { events, attacks: false, ..cfg() };
    let mut sink = Keep(keep, Vec::new());
    crate::engine::run(&cfg, &mut sink, &mut |_: &Label| Ok(())).expect("run");
    let mut v = sink.1;
    v.sort_by_key(time);
    v
}

#[test]
fn the_background_holds_benign_look_alikes() {
    let evs = background_lines(300_000, |l| {
        (l.contains("\"type\":\"IAMUser\"") && !l.contains("\"eventSource\":\"s3.amazonaws.com\""))
            || l.contains("sessionCredentialFromConsole")
            || l.contains("checkout-api-task-role")
            || l.contains("gha-terraform")
    });
    // A programmatic user rotates its own key; the new key deletes the old one and carries on
    // from the same address.
    let rotations: Vec<&Value> = evs
        .iter()
        .filter(|e| {
            e["eventName"] == "CreateAccessKey"
                && e["userIdentity"]["type"] == "IAMUser"
                && e["requestParameters"]["userName"] == e["userIdentity"]["userName"]
        })
        .collect();
    assert!(!rotations.is_empty(), "no key rotation");
    for c in &rotations {
        let (old, ip) = (s(&c["userIdentity"], "accessKeyId"), s(c, "sourceIPAddress"));
        let new = s(&c["responseElements"]["accessKey"], "accessKeyId");
        let by_new: Vec<&Value> = evs.iter().filter(|e| e["userIdentity"]["accessKeyId"] == new).collect();
        assert_eq!(s(by_new[0], "eventName"), "DeleteAccessKey");
        assert_eq!(req(by_new[0], "accessKeyId"), old);
        assert!(time(by_new[0]) > time(c));
        assert!(by_new.len() > 1, "the new key is used afterwards");
        assert!(by_new.iter().all(|e| s(e, "sourceIPAddress") == ip), "from the same address");
    }
    // An administrator creates a person's user with a console password and non-admin policies.
    let console = |e: &&Value| e["sessionCredentialFromConsole"] == "true";
    let created: Vec<&Value> = evs.iter().filter(console).filter(|e| e["eventName"] == "CreateUser").collect();
    assert!(!created.is_empty(), "no console user creation");
    for c in &created {
        let user = req(c, "userName");
        let later: Vec<&Value> =
            evs.iter().filter(console).filter(|e| e["requestParameters"]["userName"] == user).collect();
        let names = names(&later);
        assert!(names.contains(&"CreateLoginProfile".to_string()) && names.contains(&"AttachUserPolicy".to_string()));
        assert!(later
            .iter()
            .filter(|e| e["eventName"] == "AttachUserPolicy")
            .all(|e| !req(e, "policyArn").ends_with("/AdministratorAccess")));
    }
    // A person adds data events to a trail, keeping management events.
    let selectors: Vec<&Value> = evs.iter().filter(console).filter(|e| e["eventName"] == "PutEventSelectors").collect();
    assert!(!selectors.is_empty(), "no trail update");
    for e in &selectors {
        let sel = &e["requestParameters"]["eventSelectors"][0];
        assert_eq!(sel["includeManagementEvents"], true);
        assert!(sel["dataResources"].as_array().is_some_and(|d| !d.is_empty()));
    }
    // The ECS service's ten new tasks read two secrets each within a minute of a deployment.
    let reads: Vec<&Value> = evs
        .iter()
        .filter(|e| {
            e["eventName"] == "GetSecretValue" && s(&e["userIdentity"], "arn").contains("checkout-api-task-role")
        })
        .collect();
    assert!(reads.len() >= 20);
    let burst: Vec<&Value> = reads.iter().copied().filter(|e| time(e) - time(reads[0]) <= 70_000).collect();
    assert_eq!(burst.len(), 20);
    let sessions: BTreeSet<&str> = burst.iter().map(|e| s(&e["userIdentity"], "accessKeyId")).collect();
    assert_eq!(sessions.len(), 10);
    let secrets: BTreeSet<&str> = burst.iter().map(|e| req(e, "secretId")).collect();
    assert_eq!(secrets.len(), 2);
    // Terraform creates a user, its key and a policy in one apply.
    let tf =
        |n: &str| evs.iter().any(|e| e["eventName"] == n && s(&e["userIdentity"], "arn").contains("gha-terraform"));
    assert!(tf("CreateUser") && tf("CreateAccessKey") && tf("CreatePolicy") && tf("AttachUserPolicy"));
}

/// Whether a user agent is one of the attackers' laptop tools.
fn laptop_ua(ua: &str) -> bool {
    ua.contains("os/macos#") || ua.contains("os/windows#")
}

/// Checks one `instance_role_outside` instance; returns its variant.
fn check_instance_outside(run: &Run, g: &[Label]) -> &'static str {
    assert_eq!(rules(g), ["workload_credential_misuse"]);
    let key = g[0].actor_key.as_str();
    let evs = events(run, g);
    assert!((1..=4).contains(&evs.len()), "{} outside calls", evs.len());
    assert_eq!(names(&evs), ["GetCallerIdentity", "ListBuckets", "DescribeInstances", "ListRoles"][..evs.len()]);
    for e in &evs {
        let ui = &e["userIdentity"];
        assert_eq!(s(ui, "accessKeyId"), key);
        assert!(s(ui, "arn").rsplit('/').next().is_some_and(|sess| sess.starts_with("i-")));
        assert_eq!(ui["sessionContext"]["ec2RoleDelivery"], "2.0");
    }
    // The instance's own call, with the same key, 2-15 s before the first outside call.
    let first = time(evs[0]);
    let own = benign_use(run, key);
    let agent = own
        .iter()
        .find(|e| e["eventName"] == "UpdateInstanceInformation" && (2_000..=15_000).contains(&(first - time(e))))
        .expect("the instance's own call seconds before");
    let instance = s(&agent["userIdentity"], "arn").rsplit('/').next().expect("session");
    assert_eq!(req(agent, "instanceId"), instance);
    let (own_ip, own_ua) = (s(agent, "sourceIPAddress"), s(agent, "userAgent"));
    assert!(own_ua.contains("amazon-ssm-agent"));
    assert!(own.iter().all(|e| !laptop_ua(s(e, "userAgent"))), "the instance never uses a laptop tool");
    let ips: BTreeSet<&str> = evs.iter().map(|e| s(e, "sourceIPAddress")).collect();
    assert_eq!(ips.len(), 1, "one attacker address");
    let ip = *ips.first().expect("an address");
    if ip == own_ip {
        assert!(evs.iter().all(|e| laptop_ua(s(e, "userAgent"))), "same address: the user agent flips");
        "same_address"
    } else {
        assert!(!ip.starts_with("10."));
        assert!(own.iter().all(|e| s(e, "sourceIPAddress") != ip), "the instance never used the attacker's address");
        if evs.iter().all(|e| s(e, "userAgent") == own_ua) {
            "forged_agent"
        } else {
            assert!(evs.iter().all(|e| laptop_ua(s(e, "userAgent"))));
            let ua = s(evs[0], "userAgent");
            assert!(!ua.contains("os/macos#") || ua.contains("md/command#sts.get-caller-identity"), "{ua}");
            "outside"
        }
    }
}

#[test]
fn instance_role_outside_follows_the_instance_by_seconds_in_every_variant() {
    let run = shared();
    let mut seen = BTreeSet::new();
    seen.insert(check_instance_outside(run, group(run, "instance_role_outside")));
    for seed in 1..=16 {
        if seen.len() == 3 {
            break;
        }
        let cfg = GenConfig { seed, events: 20_000, scenarios: Some(vec!["instance_role_outside".into()]), ..cfg() };
        let (bytes, labels) = run_with(&cfg);
        let small = Run::new(bytes, labels);
        let g = instances(&small.labels)[0];
        seen.insert(check_instance_outside(&small, g));
    }
    assert_eq!(seen.len(), 3, "every variant within a few seeds: {seen:?}");
}

#[test]
fn new_key_outside_is_made_on_the_creators_host_and_used_elsewhere() {
    let run = shared();
    let g = group(run, "new_key_outside");
    assert_eq!(rules(g), ["new_access_key_used"]);
    let new_key = g[0].actor_key.as_str();
    assert!(new_key.starts_with("AKIA"));
    let evs = events(run, g);
    let create = evs[0];
    assert_eq!(s(create, "eventName"), "CreateAccessKey");
    let ui = &create["userIdentity"];
    assert_eq!(s(ui, "type"), "IAMUser");
    assert_eq!(req(create, "userName"), s(ui, "userName"), "a key for itself");
    assert_eq!(s(&create["responseElements"]["accessKey"], "accessKeyId"), new_key);
    let creator = s(ui, "accessKeyId");
    assert_ne!(creator, new_key);
    // From the creator's own address and user agent, which it keeps using.
    let own = benign_use(run, creator);
    assert!(own.iter().any(|e| time(e) > time(create)), "the job carries on with its old key");
    assert!(own.iter().all(|e| s(e, "sourceIPAddress") == s(create, "sourceIPAddress")));
    assert!(own.iter().all(|e| s(e, "userAgent") == s(create, "userAgent")));
    // The new key, minutes later, from elsewhere.
    let uses = &evs[1..];
    assert!((3..=4).contains(&uses.len()));
    assert_eq!(names(uses)[..2], ["GetCallerIdentity", "ListBuckets"]);
    let gap = time(uses[0]) - time(create);
    assert!((2 * 60_000..=10 * 60_000).contains(&gap), "first use {gap} ms after the creation");
    for e in uses {
        assert_eq!(s(&e["userIdentity"], "accessKeyId"), new_key);
        assert_eq!(s(&e["userIdentity"], "userName"), s(ui, "userName"));
        assert_eq!(s(&e["userIdentity"], "principalId"), s(ui, "principalId"));
        assert_ne!(s(e, "sourceIPAddress"), s(create, "sourceIPAddress"));
        assert!(laptop_ua(s(e, "userAgent")));
    }
    assert!(benign_use(run, new_key).is_empty());
}

#[test]
fn federation_console_signs_in_as_a_federated_user() {
    let run = shared();
    let g = group(run, "federation_console");
    assert_eq!(rules(g), ["iam_backdoor_credentials"]);
    let stolen = g[0].actor_key.as_str();
    assert!(stolen.starts_with("AKIA"));
    let evs = events(run, g);
    assert_eq!(names(&evs)[..4], ["GetCallerIdentity", "GetFederationToken", "GetSigninToken", "ConsoleLogin"]);
    assert!((7..=9).contains(&evs.len()));
    let fed = evs[1];
    assert_eq!(s(&fed["userIdentity"], "accessKeyId"), stolen);
    assert_eq!(fed["readOnly"], false);
    let name = req(fed, "name");
    let p = &fed["requestParameters"];
    assert!(p["policy"].is_string() || p["policyArns"][0]["arn"] == "arn:aws:iam::aws:policy/AdministratorAccess");
    let fed_arn = format!("arn:aws:sts::{}:federated-user/{name}", g[0].account);
    assert_eq!(s(&fed["responseElements"]["federatedUser"], "arn"), fed_arn);
    let fed_key = s(&fed["responseElements"]["credentials"], "accessKeyId");
    assert!(fed_key.starts_with("ASIA"));
    let user = s(&fed["userIdentity"], "userName");
    for e in &evs[2..] {
        let ui = &e["userIdentity"];
        assert_eq!(s(ui, "type"), "FederatedUser");
        assert_eq!(s(ui, "arn"), fed_arn);
        assert_eq!(s(&ui["sessionContext"]["sessionIssuer"], "userName"), user);
        assert_eq!(s(e, "sourceIPAddress"), s(fed, "sourceIPAddress"));
    }
    let (token, login) = (evs[2], evs[3]);
    assert_eq!(s(&token["userIdentity"], "accessKeyId"), fed_key);
    for e in [token, login] {
        assert_eq!(s(e, "eventSource"), "signin.amazonaws.com");
        assert_eq!(s(e, "eventType"), "AwsConsoleSignIn");
    }
    assert_eq!(login["responseElements"]["ConsoleLogin"], "Success");
    let console_key = s(&login["userIdentity"], "accessKeyId");
    assert_ne!(console_key, fed_key);
    for e in &evs[4..] {
        assert_eq!(e["sessionCredentialFromConsole"], "true");
        assert_eq!(s(&e["userIdentity"], "accessKeyId"), console_key);
    }
    assert!(time(login) - time(fed) <= 60_000);
}

#[test]
fn backdoor_key_used_plants_a_key_on_another_user_and_uses_it() {
    let run = shared();
    let g = group(run, "backdoor_key_used");
    assert_eq!(rules(g), ["iam_backdoor_credentials", "new_access_key_used", "attack_chain"]);
    let (stolen, new_key) = (g[0].actor_key.as_str(), g[1].actor_key.as_str());
    assert_eq!(g[2].actor_key, stolen);
    assert!(new_key.starts_with("AKIA") && new_key != stolen);
    let plant = run.of_ids(&g[0].event_ids);
    assert_eq!(names(&plant), ["GetCallerIdentity", "ListUsers", "ListAccessKeys", "CreateAccessKey"]);
    let create = plant[3];
    let target = req(create, "userName");
    assert_eq!(req(plant[2], "userName"), target);
    assert_ne!(create["userIdentity"]["userName"].as_str(), Some(target), "another user");
    let existing = PEOPLE_USERS.contains(&target)
        || run.events.iter().any(|e| e["userIdentity"]["userName"] == target && !run.is_attack(e));
    assert!(existing, "{target} exists");
    assert_eq!(s(&create["responseElements"]["accessKey"], "accessKeyId"), new_key);
    let uses = run.of_ids(&g[1].event_ids);
    assert_eq!(names(&uses)[..2], ["GetCallerIdentity", "ListBuckets"]);
    let gap = time(uses[0]) - time(create);
    assert!((3 * 60_000..=15 * 60_000).contains(&gap), "{gap} ms");
    for e in &uses {
        let ui = &e["userIdentity"];
        assert_eq!((s(ui, "type"), s(ui, "userName"), s(ui, "accessKeyId")), ("IAMUser", target, new_key));
        assert!(laptop_ua(s(e, "userAgent")));
    }
    assert!(benign_use(run, new_key).is_empty());
}
