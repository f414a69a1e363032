//! What a user of the stress profile relies on: the shape of the workload.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::{generate, GenConfig, GenError, Profile};

fn cfg(events: u64) -> GenConfig {
    GenConfig { seed: 42, events, profile: Profile::Stress, ..GenConfig::default() }
}

fn run(cfg: &GenConfig) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut labels) = (Vec::new(), Vec::new());
    let stats = generate(cfg, &mut out, Some(&mut labels)).expect("in-memory writes");
    assert_eq!(stats.events, cfg.events);
    assert_eq!(stats.bytes, out.len() as u64);
    (out, labels)
}

/// 100k events of seed 42, parsed.
fn hundred_k() -> &'static Vec<Value> {
    static RUN: OnceLock<Vec<Value>> = OnceLock::new();
    RUN.get_or_init(|| {
        let (out, labels) = run(&cfg(100_000));
        assert!(labels.is_empty(), "the stress profile writes no labels");
        std::str::from_utf8(&out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect()
    })
}

fn name(e: &Value) -> &str {
    e["eventName"].as_str().expect("eventName")
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = run(&cfg(20_000)).0;
    assert_eq!(a, run(&cfg(20_000)).0);
    assert_ne!(a, run(&GenConfig { seed: 43, ..cfg(20_000) }).0);
    // The estate profile is untouched by the option's existence.
    let mut estate = Vec::new();
    generate(&GenConfig { events: 2_000, ..GenConfig::default() }, &mut estate, None::<Vec<u8>>).expect("estate");
    assert_ne!(estate[..200], a[..200]);
}

#[test]
fn recon_heavy_with_errors_and_every_event_well_formed() {
    let evs = hundred_k();
    assert_eq!(evs.len(), 100_000);
    let ldg = evs.iter().filter(|e| ["List", "Describe", "Get"].iter().any(|p| name(e).starts_with(p))).count();
    let share = ldg as f64 / evs.len() as f64;
    assert!((0.5..=0.7).contains(&share), "List/Describe/Get share {share:.3}");
    let errors = evs.iter().filter(|e| e.get("errorCode").is_some()).count() as f64 / evs.len() as f64;
    assert!((0.02..=0.15).contains(&errors), "error share {errors:.3}");
    let denied = evs
        .iter()
        .filter(|e| {
            e.get("errorCode")
                .and_then(Value::as_str)
                .is_some_and(|c| c.contains("AccessDenied") || c.contains("Unauthorized"))
        })
        .count();
    assert!(denied > 1_000, "{denied} denied calls");
    for e in evs {
        assert_eq!(e["eventVersion"], "1.09");
        assert!(e["eventID"].as_str().is_some_and(|id| id.len() == 36));
        assert!(e["recipientAccountId"].as_str().is_some_and(|a| a.len() == 12));
    }
    let services: std::collections::HashSet<&str> = evs.iter().filter_map(|e| e["eventSource"].as_str()).collect();
    let regions: std::collections::HashSet<&str> = evs.iter().filter_map(|e| e["awsRegion"].as_str()).collect();
    assert!(services.len() >= 20 && regions.len() == 17, "{} services, {} regions", services.len(), regions.len());
}

#[test]
fn many_principals_with_zipf_activity_sources_and_agents() {
    let evs = hundred_k();
    let mut per: HashMap<&str, u64> = HashMap::new();
    for e in evs {
        if let Some(arn) = e["userIdentity"]["arn"].as_str() {
            *per.entry(arn).or_default() += 1;
        }
    }
    assert!(per.len() > 5_000, "{} distinct principals", per.len());
    let mut counts: Vec<u64> = per.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = counts.iter().sum();
    let top: u64 = counts[..counts.len().div_ceil(100)].iter().sum();
    assert!(top as f64 > 0.3 * total as f64, "top 1 % of principals make {top} of {total} events");
    let few = counts.iter().filter(|&&c| c <= 3).count();
    assert!(
        few as f64 > 0.4 * counts.len() as f64,
        "a long tail: {few} of {} principals with ≤ 3 events",
        counts.len()
    );
    let keys: std::collections::HashSet<&str> =
        evs.iter().filter_map(|e| e["userIdentity"]["accessKeyId"].as_str()).collect();
    assert!(keys.len() > per.len(), "sessions rotate keys: {} keys, {} principals", keys.len(), per.len());
    assert!(keys.iter().any(|k| k.starts_with("AKIA")) && keys.iter().any(|k| k.starts_with("ASIA")));
    let ips: std::collections::HashSet<&str> = evs.iter().filter_map(|e| e["sourceIPAddress"].as_str()).collect();
    let uas: std::collections::HashSet<&str> = evs.iter().filter_map(|e| e["userAgent"].as_str()).collect();
    assert!(ips.len() > 3_000 && uas.len() > 300, "{} addresses, {} agents", ips.len(), uas.len());
    let types: std::collections::HashSet<&str> =
        evs.iter().filter_map(|e| e["userIdentity"]["type"].as_str()).collect();
    for t in ["IAMUser", "AssumedRole", "AWSService"] {
        assert!(types.contains(t), "{t} in {types:?}");
    }
}

#[test]
fn sensitive_writes_at_a_few_percent() {
    let evs = hundred_k();
    const SENSITIVE: [&str; 14] = [
        "CreateAccessKey",
        "AttachUserPolicy",
        "PutUserPolicy",
        "CreateUser",
        "UpdateAssumeRolePolicy",
        "RunInstances",
        "StopLogging",
        "DeleteTrail",
        "PutBucketPolicy",
        "CreateLoginProfile",
        "CreateRole",
        "PutRolePolicy",
        "AttachRolePolicy",
        "ModifyInstanceAttribute",
    ];
    let mut by: HashMap<&str, u64> = HashMap::new();
    for e in evs {
        if SENSITIVE.contains(&name(e)) {
            *by.entry(name(e)).or_default() += 1;
        }
    }
    let n: u64 = by.values().sum();
    let share = n as f64 / evs.len() as f64;
    assert!((0.01..=0.08).contains(&share), "sensitive writes {share:.3}: {by:?}");
    for s in SENSITIVE {
        assert!(by.contains_key(s), "{s} present: {by:?}");
    }
    // Some of them are the dangerous kind detection rules look for.
    let admin = evs
        .iter()
        .filter(|e| {
            name(e) == "AttachUserPolicy"
                && e["requestParameters"]["policyArn"].as_str().is_some_and(|p| p.ends_with("/AdministratorAccess"))
        })
        .count();
    assert!(admin > 0, "an administrator policy attached");
}

#[test]
fn delivery_disorder_is_bounded_like_the_estate() {
    let c = cfg(20_000);
    let (out, _) = run(&c);
    let mut newest = 0i64;
    let mut late = 0;
    for line in std::str::from_utf8(&out).expect("utf-8").lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        let t = crate::tests::parse_time(v["eventTime"].as_str().expect("time"));
        assert!(t >= newest - c.max_delay_ms, "{t} more than max_delay_ms behind {newest}");
        late += usize::from(t < newest);
        newest = newest.max(t);
    }
    assert!(late > 1_000, "events arrive out of order ({late})");
}

#[test]
fn scenarios_are_refused_and_profiles_parse() {
    let err =
        generate(&GenConfig { scenarios: Some(vec!["enum_regions".into()]), ..cfg(10) }, Vec::new(), None::<Vec<u8>>);
    assert!(matches!(err, Err(GenError::Config(_))));
    assert_eq!("stress".parse::<Profile>().ok(), Some(Profile::Stress));
    assert_eq!("estate".parse::<Profile>().ok(), Some(Profile::Estate));
    assert!("nope".parse::<Profile>().is_err());
    assert_eq!(GenConfig::default().profile, Profile::Estate);
}
