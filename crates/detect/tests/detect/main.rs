//! Integration tests of the detection engine over parsed CloudTrail.

mod checkpoint;
mod gate;
mod precision;
mod state_budget;
mod stratus;

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use trailhound_detect::{DetectConfig, Engine};
use trailhound_model::{Activity, Finding};
use trailhound_parse::{Collect, ParseConfig, Parser};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

struct Ev<'a> {
    t_ms: i64,
    actor: &'a str,
    service: &'a str,
    action: &'a str,
    region: &'a str,
    error: Option<&'a str>,
    data: bool,
}

fn ev<'a>(t_ms: i64, actor: &'a str, service: &'a str, action: &'a str, region: &'a str) -> Ev<'a> {
    Ev { t_ms, actor, service, action, region, error: None, data: false }
}

fn to_json(e: &Ev<'_>, n: usize) -> String {
    let t = trailhound_model::time::to_rfc3339(T0 + e.t_ms);
    let err = e.error.map(|c| format!(r#","errorCode":"{c}","errorMessage":"denied""#)).unwrap_or_default();
    let cat = if e.data { "Data" } else { "Management" };
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"{t}","eventID":"ev-{n:06}","eventName":"{}","eventSource":"{}.amazonaws.com","awsRegion":"{}","eventCategory":"{cat}","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","readOnly":true{err},"userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{}","accessKeyId":"{}","accountId":"111122223333"}}}}"#,
        e.action, e.service, e.region, e.actor, e.actor
    )
}

fn parse(lines: &[String], batch_rows: usize) -> Vec<RecordBatch> {
    let mut p = Parser::new(ParseConfig { batch_rows, ..Default::default() });
    let mut out = Collect::default();
    let text = lines.join("\n");
    trailhound_parse::read::read_stream(&mut p, text.as_bytes(), "test", &mut out).expect("read");
    p.flush(&mut out);
    assert!(out.dead.is_empty(), "{:?}", out.dead);
    out.batches
}

/// Runs events through an engine; returns (findings published per process call, final ones).
fn run(lines: &[String], batch_rows: usize, workers: usize) -> (Vec<Vec<Finding>>, Vec<Finding>) {
    let mut cfg = DetectConfig::default();
    cfg.engine.workers = workers;
    let mut engine = Engine::new(&cfg).expect("engine");
    let mut per_batch = Vec::new();
    for b in parse(lines, batch_rows) {
        per_batch.push(engine.process(&b).expect("process"));
    }
    let mut all: Vec<Finding> = per_batch.iter().flatten().cloned().collect();
    all.extend(engine.finish().expect("finish"));
    (per_batch, all)
}

/// The last version of each uid, with delivery artefacts (activity, revision) cleared.
fn final_versions(all: &[Finding]) -> BTreeMap<String, Finding> {
    let mut m = BTreeMap::new();
    for f in all {
        let mut f = f.clone();
        f.activity = Activity::Create;
        f.revision = 0;
        m.insert(f.uid.clone(), f);
    }
    m
}

/// [`final_versions`] with the evidence sample cleared after checking it is there: which of a
/// long burst's calls lead the evidence (the decisive sample) may depend on arrival order when
/// an actor makes more calls within the lateness than the rule keeps for it; everything else
/// may not.
fn final_versions_any_order(all: &[Finding]) -> BTreeMap<String, Finding> {
    let mut m = final_versions(all);
    for f in m.values_mut() {
        assert!(!f.evidence.is_empty(), "{}: evidence", f.uid);
        f.evidence.clear();
    }
    m
}

fn lines(evs: &[Ev<'_>]) -> Vec<String> {
    evs.iter().enumerate().map(|(i, e)| to_json(e, i)).collect()
}

const RECON: [(&str, &str); 12] = [
    ("sts", "GetCallerIdentity"),
    ("iam", "ListUsers"),
    ("iam", "ListRoles"),
    ("iam", "GetAccountAuthorizationDetails"),
    ("s3", "ListBuckets"),
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeVpcs"),
    ("lambda", "ListFunctions20150331"),
    ("rds", "DescribeDBInstances"),
    ("secretsmanager", "ListSecrets"),
    ("kms", "ListKeys"),
    ("iam", "ListAttachedUserPolicies"),
];

#[test]
fn many_distinct_recon_apis_in_seconds_fire_in_the_batch_that_crosses_the_threshold() {
    let evs: Vec<Ev> = RECON
        .iter()
        .enumerate()
        .map(|(i, (s, a))| ev(i as i64 * 500, "AKIASTOLEN0000000001", s, a, "us-east-1"))
        .collect();
    let (per_batch, all) = run(&lines(&evs), 1, 1);
    // Threshold 6 distinct: the 6th event (index 5) is the crossing one.
    let first_non_empty = per_batch.iter().position(|b| !b.is_empty()).expect("a finding");
    assert_eq!(first_non_empty, 5, "early firing: published with the 6th distinct API");
    let created = &per_batch[5][0];
    assert_eq!(created.activity, Activity::Create);
    assert_eq!(created.rule_id, "enumeration_burst");
    assert_eq!(final_versions(&all).len(), 1);
    let f = all.iter().rev().find(|f| f.uid == created.uid).expect("the final version");
    assert_eq!(f.event_count, 12);
    assert_eq!(f.uid, created.uid, "updates keep the uid");
    assert_eq!(f.actor_key, "AKIASTOLEN0000000001");
    assert_eq!(f.identity_class.as_str(), "programmatic_user");
    assert!(f.context.iter().any(|c| c.contains("distinct recon APIs")), "{:?}", f.context);
    assert!(f.technique_ids.iter().any(|t| t == "T1087.004"));
    assert_eq!(f.evidence.len(), 10);
    assert_eq!(f.evidence[0].event_id, "ev-000000");
    assert!(all.last().is_some_and(|l| l.activity == Activity::Update && l.event_count == 12));
}

#[test]
fn a_poller_repeating_a_few_apis_all_day_and_s3_data_reads_stay_quiet() {
    let mut evs = Vec::new();
    for i in 0..3000i64 {
        let (s, a) = [
            ("ec2", "DescribeInstances"),
            ("ec2", "DescribeVolumes"),
            ("cloudwatch", "DescribeAlarms"),
            ("cloudwatch", "GetMetricData"),
        ][i as usize % 4];
        evs.push(ev(i * 2_000, "ASIAPOLLER0000000001", s, a, ["us-east-1", "eu-west-1"][(i / 4) as usize % 2]));
        let mut data = ev(
            i * 2_000 + 7,
            "AKIASYNC000000000001",
            "s3",
            ["GetObject", "ListObjects", "HeadObject", "ListObjectsV2"][i as usize % 4],
            "us-east-1",
        );
        data.data = true;
        evs.push(data);
    }
    let (_, all) = run(&lines(&evs), 8192, 1);
    assert!(all.is_empty(), "{:?}", all.iter().map(|f| &f.summary).collect::<Vec<_>>());
}

#[test]
fn a_region_sweep_fires_on_regions_alone() {
    let regions = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-south-1",
        "ap-northeast-1",
        "ap-southeast-2",
        "sa-east-1",
    ];
    let evs: Vec<Ev> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| ev(i as i64 * 1_500, "ASIACI00000000000001", "ec2", "DescribeInstances", r))
        .collect();
    let (_, all) = run(&lines(&evs), 8192, 1);
    let finals = final_versions(&all);
    assert_eq!(finals.len(), 1);
    let f = finals.values().next().expect("one");
    assert_eq!(f.regions.len(), 13);
    assert!(f.context.iter().any(|c| c.starts_with("13 regions with recon calls")), "{:?}", f.context);
    // Nine regions in the same time does not fire.
    let (_, quiet) = run(&lines(&evs[..9]), 8192, 1);
    assert!(quiet.is_empty());
}

#[test]
fn a_slow_permission_brute_force_fires_on_denials_alone() {
    let evs: Vec<Ev> = (0..12)
        .map(|i| {
            let (s, a) = [("iam", "ListUsers"), ("ec2", "DescribeInstances")][i % 2];
            Ev {
                error: Some(if s == "ec2" { "Client.UnauthorizedOperation" } else { "AccessDenied" }),
                ..ev(i as i64 * 25_000, "ASIAWORKLOAD00000001", s, a, "us-east-1")
            }
        })
        .collect();
    let (_, all) = run(&lines(&evs), 8192, 1);
    let finals = final_versions(&all);
    assert_eq!(finals.len(), 1, "12 denials in 5 minutes");
    assert!(finals.values().next().is_some_and(|f| f.context.iter().any(|c| c.contains("12 denied"))));
    // The same calls spread over 2 hours stay under 10 per 10 minutes.
    let slow: Vec<Ev> = evs.iter().enumerate().map(|(i, e)| Ev { t_ms: i as i64 * 600_000, ..*e }).collect();
    assert!(run(&lines(&slow), 8192, 1).1.is_empty());
}

#[test]
fn events_later_than_the_allowed_lateness_are_counted_and_not_windowed() {
    let mut evs: Vec<Ev> = vec![ev(3_600_000, "AKIAOTHER00000000001", "iam", "ListUsers", "us-east-1")];
    // A burst 20 minutes older than the newest event: behind the 15-minute watermark.
    evs.extend(
        RECON
            .iter()
            .enumerate()
            .map(|(i, (s, a))| ev(2_400_000 + i as i64 * 100, "AKIALATE000000000001", s, a, "us-east-1")),
    );
    let mut engine = Engine::new(&DetectConfig::default()).expect("engine");
    let mut found = Vec::new();
    for b in parse(&lines(&evs), 1) {
        found.extend(engine.process(&b).expect("process"));
    }
    found.extend(engine.finish().expect("finish"));
    assert_eq!(engine.stats().late_events, 12);
    assert!(found.is_empty());
}

/// A stream mixing bursts and background for the order and shape sweeps.
fn mixed_stream() -> Vec<Ev<'static>> {
    let mut evs = Vec::new();
    let actors = ["AKIAAAAAAAAAAAAAAAA1", "AKIABBBBBBBBBBBBBBB2", "ASIACCCCCCCCCCCCCCC3", "ASIADDDDDDDDDDDDDDD4"];
    for i in 0..4000i64 {
        let actor = actors[(i % 4) as usize];
        let (s, a) = [("ec2", "DescribeInstances"), ("iam", "GetUser"), ("s3", "ListBuckets")][(i % 3) as usize];
        evs.push(ev(i * 1_000, actor, s, a, "us-east-1"));
    }
    for (k, base) in [(0usize, 600_000i64), (1, 1_800_000), (2, 3_000_000), (3, 2_000_000)] {
        for (j, (s, a)) in RECON.iter().enumerate() {
            evs.push(ev(base + j as i64 * 700, actors[k], s, a, ["us-east-1", "eu-west-1"][j % 2]));
        }
    }
    evs.sort_by_key(|e| e.t_ms);
    evs
}

/// Shuffles so that every event stays within `max_delay_ms` of the newest event before it.
fn shuffle_within(lines: &[String], times: &[i64], max_delay_ms: i64, seed: u64) -> Vec<String> {
    let mut x = seed | 1;
    let mut keyed: Vec<(i64, usize)> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (t + (x % max_delay_ms as u64) as i64, i)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| lines[i].clone()).collect()
}

#[test]
fn shuffled_input_within_the_lateness_batch_sizes_and_worker_counts_give_identical_findings() {
    let evs = mixed_stream();
    let times: Vec<i64> = evs.iter().map(|e| e.t_ms).collect();
    let sorted = lines(&evs);
    let (_, base) = run(&sorted, 8192, 1);
    let expected = final_versions_any_order(&base);
    assert_eq!(expected.len(), 4, "one burst per actor");
    let shuffled = shuffle_within(&sorted, &times, 14 * 60_000, 42);
    assert_ne!(shuffled, sorted);
    for (input, name) in [(&sorted, "sorted"), (&shuffled, "shuffled")] {
        for batch in [1, 7, 8192] {
            for workers in [1, 4] {
                let (_, all) = run(input, batch, workers);
                assert_eq!(final_versions_any_order(&all), expected, "{name}, batch {batch}, workers {workers}");
            }
        }
    }
}

#[test]
fn allowlisted_user_agents_actors_and_accounts_quiet_a_rule_without_code() {
    let evs: Vec<Ev> = RECON
        .iter()
        .enumerate()
        .map(|(i, (s, a))| ev(i as i64 * 500, "AKIASTOLEN0000000001", s, a, "us-east-1"))
        .collect();
    let lines = lines(&evs);
    let count = |sup: trailhound_detect::Suppress| {
        let mut cfg = DetectConfig::default();
        cfg.suppress.insert("enumeration_burst".into(), sup);
        let mut engine = Engine::new(&cfg).expect("engine");
        let mut n = 0;
        for b in parse(&lines, 8192) {
            n += engine.process(&b).expect("process").len();
        }
        n + engine.finish().expect("finish").len()
    };
    assert!(count(Default::default()) > 0);
    assert_eq!(count(trailhound_detect::Suppress { user_agents: vec!["AWS-CLI/2".into()], ..Default::default() }), 0);
    assert_eq!(
        count(trailhound_detect::Suppress {
            actors: vec!["arn:aws:iam::111122223333:user/AKIASTOLEN0000000001".into()],
            ..Default::default()
        }),
        0
    );
    assert_eq!(count(trailhound_detect::Suppress { accounts: vec!["111122223333".into()], ..Default::default() }), 0);
    assert!(count(trailhound_detect::Suppress { accounts: vec!["999999999999".into()], ..Default::default() }) > 0);
}
