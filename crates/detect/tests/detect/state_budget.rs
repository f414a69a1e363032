//! The memory budget of the detection state (`engine.max_state_bytes`): a small budget over
//! tens of thousands of distinct actors keeps the state near the budget, evicts long-term
//! memory first, still finds the attacks of actors active in their windows, evicts the same
//! whatever the batch size, and survives a snapshot and restore.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use trailhound_detect::{DetectConfig, Engine, EngineStats, BUDGET_CEILING_PERCENT, CLOSED_EARLY};
use trailhound_model::{Finding, Severity};

use crate::{ev, final_versions, parse, to_json, T0};

/// The budget of these tests: 1 MiB.
const BUDGET: u64 = 1 << 20;

/// An IAM user's long-lived key `key`, user named after it.
fn user(key: &str) -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": format!("arn:aws:iam::111122223333:user/{key}"),
        "accountId": "111122223333",
        "accessKeyId": key,
        "userName": key
    })
}

/// A management write at `T0 + t_ms` by `who`, as CloudTrail records it.
fn write(id: &str, t_ms: i64, who: &Value, service: &str, name: &str, req: Value, resp: Value) -> String {
    json!({
        "eventVersion": "1.10",
        "userIdentity": who,
        "eventTime": trailhound_model::time::to_rfc3339(T0 + t_ms),
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.66",
        "userAgent": "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8",
        "requestParameters": req,
        "responseElements": resp,
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    })
    .to_string()
}

/// The background: `actors` distinct access keys, `per_minute` of them starting every minute
/// of event time from `T0`, each making three reads 20 s apart (never a finding).
fn background(actors: usize, per_minute: usize) -> Vec<(i64, String)> {
    const READS: [(&str, &str); 3] = [("ec2", "DescribeInstances"), ("s3", "ListBuckets"), ("iam", "GetUser")];
    let mut out = Vec::with_capacity(actors * READS.len());
    for i in 0..actors {
        let key = format!("AKIABG{i:014}");
        let start = (i * 60_000 / per_minute) as i64;
        for (k, (svc, action)) in READS.iter().enumerate() {
            let t = start + k as i64 * 20_000;
            let region = ["us-east-1", "eu-west-1"][i % 2];
            out.push((t, to_json(&ev(t, &key, svc, action, region), out.len())));
        }
    }
    out
}

/// Key of the actor that enumerates in [`attacks`].
const ENUMERATOR: &str = "AKIASTOLENRECON00001";
/// Key of the actor that makes itself an administrator in [`attacks`].
const PERSISTER: &str = "AKIASTOLENADMIN00001";

/// Two attacks by actors active in their windows, at `at_ms`: a burst of 12 distinct recon
/// calls in 6 s, and CreateUser → AttachUserPolicy (AdministratorAccess) → CreateAccessKey.
fn attacks(at_ms: i64) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = crate::RECON
        .iter()
        .enumerate()
        .map(|(i, (svc, action))| {
            let t = at_ms + i as i64 * 500;
            let mut line: Value =
                serde_json::from_str(&to_json(&ev(t, ENUMERATOR, svc, action, "us-east-1"), 0)).expect("json");
            line["eventID"] = json!(format!("recon-{i:02}"));
            (t, line.to_string())
        })
        .collect();
    let who = user(PERSISTER);
    let t = at_ms + 30_000;
    out.push((
        t,
        write(
            "persist-1-create-user",
            t,
            &who,
            "iam",
            "CreateUser",
            json!({"userName": "backup-admin"}),
            json!({"user": {"path": "/", "userName": "backup-admin", "userId": "AIDABACKUPADMIN00001", "arn": "arn:aws:iam::111122223333:user/backup-admin", "createDate": "Jan 1, 2026, 12:00:00 AM"}}),
        ),
    ));
    out.push((
        t + 4_000,
        write(
            "persist-2-attach-policy",
            t + 4_000,
            &who,
            "iam",
            "AttachUserPolicy",
            json!({"userName": "backup-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            Value::Null,
        ),
    ));
    out.push((
        t + 9_000,
        write(
            "persist-3-create-key",
            t + 9_000,
            &who,
            "iam",
            "CreateAccessKey",
            json!({"userName": "backup-admin"}),
            json!({"accessKey": {"userName": "backup-admin", "accessKeyId": "AKIABACKUPADMINKEY01", "status": "Active", "createDate": "Jan 1, 2026, 12:00:09 AM"}}),
        ),
    ));
    out
}

/// The lines in event-time order (stable: ties keep their order).
fn in_order(mut events: Vec<(i64, String)>) -> Vec<String> {
    events.sort_by_key(|(t, _)| *t);
    events.into_iter().map(|(_, l)| l).collect()
}

fn config(max_state_bytes: u64, workers: usize) -> DetectConfig {
    let mut cfg = DetectConfig::default();
    cfg.engine.max_state_bytes = max_state_bytes;
    cfg.engine.workers = workers;
    cfg
}

/// A run: every finding version, the counters, and the state weight after each batch.
struct Run {
    all: Vec<Finding>,
    stats: EngineStats,
    after_batch: Vec<u64>,
}

impl Run {
    fn of(lines: &[String], batch_rows: usize, cfg: &DetectConfig) -> Self {
        let mut engine = Engine::new(cfg).expect("valid config");
        let mut all = Vec::new();
        let mut after_batch = Vec::new();
        for b in parse(lines, batch_rows) {
            all.extend(engine.process(&b).expect("process"));
            assert_eq!(engine.stats().state_bytes, engine.state_bytes() as u64, "the gauge is the state's weight");
            after_batch.push(engine.stats().state_bytes);
        }
        all.extend(engine.finish().expect("finish"));
        Self { all, stats: engine.stats(), after_batch }
    }

    fn finals(&self) -> BTreeMap<String, Finding> {
        final_versions(&self.all)
    }

    /// The final versions of rule `id` on `actor`.
    fn found(&self, id: &str, actor: &str) -> Vec<Finding> {
        self.finals().into_values().filter(|f| f.rule_id == id && f.actor_key == actor).collect()
    }

    /// Entries evicted per tier: long-term, dormant, active, armed.
    fn evicted(&self) -> [u64; 4] {
        let s = &self.stats;
        [s.evicted_long_term, s.evicted_dormant, s.evicted_active, s.evicted_armed]
    }
}

/// Weight of the unbounded state of a workload, for the assertions' messages and to check
/// that the budget is really binding.
fn unbounded_peak(lines: &[String]) -> u64 {
    Run::of(lines, 8192, &config(u64::MAX, 1)).stats.state_bytes_peak
}

#[test]
fn the_state_stays_within_a_small_budget_and_attacks_of_active_actors_are_still_found() {
    // 30,000 actors over 10 hours of event time (50 new ones a minute); the attacks at 6 h.
    let mut events = background(30_000, 50);
    events.extend(attacks(6 * 3_600_000));
    let lines = in_order(events);
    let unbounded = unbounded_peak(&lines);
    assert!(unbounded > 8 * BUDGET, "the workload needs more than the budget: {unbounded} bytes");

    let run = Run::of(&lines, 8192, &config(BUDGET, 1));
    // (a) Within the budget after every batch, but for what one minute of events adds between
    // two checks (the state is judged before every minute's first event), and never past the
    // ceiling (judged after every batch as well): 150 % of the budget.
    let ceiling = BUDGET * BUDGET_CEILING_PERCENT as u64 / 100;
    let worst = run.after_batch.iter().copied().max().unwrap_or(0);
    assert!(worst <= ceiling, "state after a batch: {worst} bytes, ceiling {ceiling}");
    assert!(run.stats.state_bytes_peak <= ceiling, "{:?}", run.stats);
    assert!(worst > BUDGET * 4 / 5, "the budget is used: {worst}");
    let [long_term, dormant, active, _] = run.evicted();
    assert!(long_term + dormant >= 10_000, "thousands of quiet actors evicted: {:?}", run.stats);

    // (b) The attacks, by actors active in their windows, are found as without a budget.
    let burst = run.found("enumeration_burst", ENUMERATOR);
    assert_eq!(burst.len(), 1, "the enumeration burst: {burst:#?}");
    assert_eq!(burst[0].event_count, 12);
    assert!(burst[0].context.iter().any(|c| c.contains("12 distinct recon APIs")), "{:?}", burst[0].context);
    let persistence = run.found("iam_user_persistence", PERSISTER);
    assert_eq!(persistence.len(), 1, "CreateUser → AttachUserPolicy → CreateAccessKey: {:#?}", run.finals());
    assert!(persistence[0].severity >= Severity::High, "{:?}", persistence[0].severity);
    let ids: Vec<&str> = persistence[0].evidence.iter().map(|e| e.event_id.as_str()).collect();
    for step in ["persist-1-create-user", "persist-2-attach-policy", "persist-3-create-key"] {
        assert!(ids.contains(&step), "{step} in the evidence: {ids:?}");
    }
    let unbounded_run = Run::of(&lines, 8192, &config(u64::MAX, 1));
    assert_eq!(unbounded_run.evicted(), [0; 4]);
    let without: Vec<(String, String)> =
        unbounded_run.finals().values().map(|f| (f.rule_id.clone(), f.actor_key.clone())).collect();
    let with: Vec<(String, String)> = run.finals().values().map(|f| (f.rule_id.clone(), f.actor_key.clone())).collect();
    assert_eq!(with, without, "the same findings with and without the budget (evicted_active {active})");
}

/// A first event half an hour before the others, alone in its minute: the first piece of
/// input is the same whatever the batch size (rules judge the very first rows before there is
/// a watermark).
fn warm_up() -> (i64, String) {
    let t = -30 * 60_000;
    (t, to_json(&ev(t, "AKIAWARMUP0000000001", "sts", "GetCallerIdentity", "us-east-1"), 999_999))
}

#[test]
fn long_term_memory_goes_before_any_live_window() {
    // Few new actors a minute: the live windows fit in the budget, everyone's baseline does not.
    let mut events = background(12_000, 6);
    events.push(warm_up());
    events.extend(attacks(20 * 3_600_000));
    let lines = in_order(events);
    let run = Run::of(&lines, 8192, &config(BUDGET, 1));
    let [long_term, _, active, _] = run.evicted();
    assert!(long_term >= 5_000, "baselines of quiet principals evicted: {:?}", run.stats);
    assert_eq!(active, 0, "no live window evicted: {:?}", run.stats);
    assert_eq!(run.found("enumeration_burst", ENUMERATOR).len(), 1);
    assert_eq!(run.found("iam_user_persistence", PERSISTER).len(), 1);
}

#[test]
fn a_created_key_waiting_for_its_first_use_outlives_a_flood_of_live_windows() {
    // A thousand new keys a minute, each with live windows: far more than the budget holds, so
    // live windows of the least recently active keys go. The administrator key the persister
    // creates at 10 min is first used 15 min later from another network: its creation, older
    // than every live window by then, is armed state and must still be there.
    let mut events = background(40_000, 1_000);
    events.push(warm_up());
    events.extend(attacks(10 * 60_000));
    let first_use = 10 * 60_000 + 39_000 + 15 * 60_000;
    let line = to_json(&ev(first_use, "AKIABACKUPADMINKEY01", "s3", "ListBuckets", "us-east-1"), 888_888);
    events.push((first_use, line));
    let lines = in_order(events);
    let run = Run::of(&lines, 8192, &config(BUDGET, 1));
    let [_, _, active, armed] = run.evicted();
    assert!(active >= 1_000, "live windows evicted: {:?}", run.stats);
    assert_eq!(armed, 0, "no armed sequence evicted: {:?}", run.stats);
    let used = run.found("new_access_key_used", "AKIABACKUPADMINKEY01");
    assert_eq!(used.len(), 1, "the created key used elsewhere: {:#?}", run.finals());
    assert!(used[0].severity >= Severity::Medium, "{:?}", used[0].severity);
    assert!(used[0].context.iter().all(|c| c != CLOSED_EARLY), "{:?}", used[0].context);
    assert_eq!(run.found("iam_user_persistence", PERSISTER).len(), 1);
}

/// What must not depend on the batch size: the final versions, and what was evicted.
fn outcome(run: &Run) -> (BTreeMap<String, Finding>, [u64; 4]) {
    (run.finals(), run.evicted())
}

#[test]
fn the_same_input_in_batches_of_1_7_and_8192_evicts_the_same_and_finds_the_same() {
    let mut events = background(8_000, 40);
    events.push(warm_up());
    events.extend(attacks(61 * 60_000));
    // The enumerator comes back in the same hour, after its first burst went quiet.
    events.extend(attacks(115 * 60_000).into_iter().take(12).map(|(t, l)| (t, l.replace("recon-", "again-"))));
    let lines = in_order(events);
    let cfg = config(BUDGET, 1);
    let reference = Run::of(&lines, 8192, &cfg);
    let (finals, evicted) = outcome(&reference);
    // Armed sequences are few here and all fit; the three other tiers are evicted.
    assert!(evicted[..3].iter().all(|&n| n > 0), "every unarmed tier evicted: {:?}", reference.stats);
    assert!(
        finals.values().any(|f| f.context.iter().any(|c| c == CLOSED_EARLY)),
        "a published finding closed early: {finals:#?}"
    );
    for (batch, workers) in [(1, 1), (7, 1), (8192, 4)] {
        let run = Run::of(&lines, batch, &config(BUDGET, workers));
        let (f, e) = outcome(&run);
        assert_eq!(e, evicted, "batch {batch}, workers {workers}: evictions");
        assert_eq!(f, finals, "batch {batch}, workers {workers}: findings");
    }
}

#[test]
fn a_finding_closed_early_is_continued_in_later_revisions_of_its_uid() {
    let mut events = background(8_000, 40);
    events.push(warm_up());
    events.extend(attacks(61 * 60_000));
    events.extend(attacks(115 * 60_000).into_iter().take(12).map(|(t, l)| (t, l.replace("recon-", "again-"))));
    let lines = in_order(events);
    let run = Run::of(&lines, 8192, &config(BUDGET, 1));
    let versions: Vec<&Finding> =
        run.all.iter().filter(|f| f.rule_id == "enumeration_burst" && f.actor_key == ENUMERATOR).collect();
    let uids: std::collections::BTreeSet<&str> = versions.iter().map(|f| f.uid.as_str()).collect();
    assert_eq!(uids.len(), 1, "one episode (one hour): {versions:#?}");
    let closed = versions.iter().position(|f| f.context.iter().any(|c| c == CLOSED_EARLY));
    let closed = closed.unwrap_or_else(|| panic!("the first burst closed early: {versions:#?}"));
    assert_eq!(versions[closed].event_count, 12, "the first burst's final version");
    let after = &versions[closed + 1..];
    assert!(!after.is_empty(), "the second burst is published");
    let revisions: Vec<u32> = versions.iter().map(|f| f.revision).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "revisions only grow: {revisions:?}");
    assert_eq!(versions.iter().filter(|f| f.activity == trailhound_model::Activity::Create).count(), 1);
    assert!(after[0].context.iter().any(|c| c.contains("continues a finding closed early")), "{:?}", after[0].context);
    // Without a budget the two bursts are one finding of 24 calls.
    let unbounded = Run::of(&lines, 8192, &config(u64::MAX, 1));
    let whole = unbounded.found("enumeration_burst", ENUMERATOR);
    assert_eq!(whole.iter().map(|f| f.event_count).collect::<Vec<_>>(), [24]);
}

#[test]
fn a_snapshot_taken_after_evictions_restores_and_goes_on_as_if_uninterrupted() {
    let mut events = background(10_000, 40);
    events.push(warm_up());
    events.extend(attacks(3 * 3_600_000));
    let lines = in_order(events);
    let cfg = config(BUDGET, 1);
    let batches = parse(&lines, 997);
    let mut a = Engine::new(&cfg).expect("engine");
    let mut per_batch = Vec::new();
    let mut split = None;
    for (i, b) in batches.iter().enumerate() {
        per_batch.push(a.process(b).expect("process"));
        let s = a.stats();
        if split.is_none() && s.evicted_long_term > 0 && s.evicted_dormant > 0 && s.evicted_active > 0 {
            split = Some((i + 1, a.snapshot().expect("snapshot"), a.state_bytes()));
        }
    }
    per_batch.push(a.finish().expect("finish"));
    let (split, snap, bytes) = split.expect("a split after evictions of every tier");
    assert!(split < batches.len() / 2, "split after batch {split} of {}", batches.len());

    let mut b = Engine::new(&cfg).expect("engine");
    b.restore(&snap).expect("restore");
    assert_eq!(b.state_bytes(), bytes, "the same weight after a restore");
    assert!(b.snapshot().expect("snapshot") == snap, "the same bytes after a restore");
    let mut resumed: Vec<Finding> = per_batch[..split].concat();
    for (i, batch) in batches.iter().enumerate().skip(split) {
        let mut got = b.process(batch).expect("process");
        let mut want = per_batch[i].clone();
        got.sort_by(|x, y| (&x.uid, x.revision).cmp(&(&y.uid, y.revision)));
        want.sort_by(|x, y| (&x.uid, x.revision).cmp(&(&y.uid, y.revision)));
        assert_eq!(got, want, "batch {i} after the restore");
        resumed.extend(got);
    }
    resumed.extend(b.finish().expect("finish"));
    assert_eq!(b.stats(), a.stats(), "counters, evictions included, carried over");
    assert_eq!(final_versions(&resumed), final_versions(&per_batch.concat()));
    let finals = final_versions(&resumed);
    assert!(finals.values().any(|f| f.rule_id == "enumeration_burst" && f.actor_key == ENUMERATOR));
    assert!(finals.values().any(|f| f.rule_id == "iam_user_persistence" && f.actor_key == PERSISTER));
}
