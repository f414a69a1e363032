//! `trailhound run` against a real Kafka-protocol broker (tansu, sqlite storage, one per test),
//! with Python's confluent-kafka as the independent producer and consumer.

mod faults;
mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(600);

fn produce(b: &Broker, events: &std::path::Path, extra: &[&str]) -> u64 {
    let out = b.tool(
        &[
            &[
                "produce",
                "--topic",
                INPUT,
                "--events",
                events.to_str().expect("utf8 path"),
                "--per-message",
                "50",
                "--gzip-every",
                "3",
            ],
            extra,
        ]
        .concat(),
    );
    let v: Value = serde_json::from_str(out.trim()).expect("produce summary");
    v["messages"].as_u64().expect("messages")
}

fn lines(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path).expect("events").lines().filter(|l| !l.trim().is_empty()).count() as u64
}

fn diff(a: &BTreeSet<String>, b: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (a.difference(b).cloned().collect(), b.difference(a).cloned().collect())
}

/// Generated events with every scenario, produced to 4 partitions keyed by account by an
/// independent client: `trailhound run` finds every scenario, with the same finding uids as
/// `trailhound replay` of the same events. SIGTERM drains and commits: a restart reads nothing.
#[test]
fn generated_stream_finds_every_scenario_with_the_replay_uids_and_sigterm_commits_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, labels) = generate(dir.path(), 5, 150_000);
    let replayed: BTreeSet<String> =
        replay_findings(&events, &dir.path().join("replay")).iter().map(ocsf_uid).collect();
    assert!(!replayed.is_empty());

    let b = Broker::start();
    topics(&b);
    let sent = produce(&b, &events, &["--heartbeat-partitions", "4"]);
    let out = dir.path().join("run");
    let mut run = Run::start(&b, &out, "a");
    run.wait_ready(Duration::from_secs(60));
    wait_messages(&mut [&mut run], sent + 4, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    let summary = run.stop();
    assert_eq!(summary["latency"]["events"].as_u64(), Some(lines(&events) + 4), "{summary}");

    let found = b.consume(FINDINGS, 1);
    let uids = uids_of_topic(&found);
    let (only_replay, only_run) = diff(&replayed, &uids);
    assert!(
        only_replay.is_empty() && only_run.is_empty(),
        "uids only in replay: {only_replay:?}\nuids only in run: {only_run:?}"
    );
    let missed = missed_labels(&labels, &found);
    assert!(missed.is_empty(), "{} of {} injected stages missed:\n{}", missed.len(), labels.len(), missed.join("\n"));
    for m in &found {
        assert_eq!(m["value"]["class_uid"], 2004, "OCSF Detection Finding");
        assert_eq!(m["headers"]["finding_uid"].as_str(), m["value"]["finding_info"]["uid"].as_str());
        assert!(m["headers"]["severity"].is_string() && !m["key"].as_str().unwrap_or("").is_empty());
    }
    // The Parquet findings hold the same uids (read back by DataFusion through `query`).
    let rows = run_ok(
        bin()
            .args(["query", "--format", "json", "--findings"])
            .arg(out.join("findings"))
            .arg("SELECT uid FROM findings"),
    );
    let parquet: BTreeSet<String> = rows
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("row")["uid"].as_str().expect("uid").to_string())
        .collect();
    assert_eq!(parquet, uids, "Parquet and topic hold the same findings");

    // Everything was committed on SIGTERM: a restart re-reads nothing.
    let (committed, end) = b.offsets(INPUT, GROUP);
    assert_eq!(committed, end);
    let mut again = Run::start(&b, &out, "again");
    again.wait_ready(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(again.metric("trailhound_messages_total"), Some(0.0), "a restart after SIGTERM re-read messages");
    again.stop();
}

/// Bad JSON, binary, an empty message and a 5 MB event land in the dead-letter topic with
/// their source offsets, and the events after them are still processed. The 5 MB event is
/// padding gzipped at a ratio far above `parse.max_decompression_ratio` (200): it is stopped
/// as a decompression bomb before its size is known, or as too large; either way the dead
/// letter is the original message, whole.
#[test]
fn malformed_messages_go_to_the_dead_letter_topic_with_their_source_offsets() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, _) = generate(dir.path(), 3, 5_000);
    let b = Broker::start();
    topics(&b);
    let mut sent = produce(&b, &events, &["--limit", "40"]);
    let kinds = [("bad_json", 0), ("binary", 1), ("empty", 2), ("huge", 3)];
    for (kind, partition) in kinds {
        b.tool(&["raw", "--topic", INPUT, "--partition", &partition.to_string(), "--kind", kind]);
        sent += 1;
    }
    let offsets_before_rest = b.offsets(INPUT, GROUP).1;
    sent += produce(&b, &events, &["--skip", "40"]);
    let mut run = Run::start(&b, &dir.path().join("run"), "a");
    wait_messages(&mut [&mut run], sent, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    let summary = run.stop();
    assert_eq!(summary["latency"]["events"].as_u64(), Some(lines(&events)), "every good event processed: {summary}");

    let dead = b.consume(DEAD, 4);
    assert_eq!(dead.len(), 4, "{dead:?}");
    for (kind, partition) in kinds {
        let d = dead
            .iter()
            .find(|d| d["headers"]["source_partition"].as_str() == Some(partition.to_string().as_str()))
            .unwrap_or_else(|| panic!("no dead letter for {kind}: {dead:?}"));
        // The bad message was the last one on its partition before the rest was produced.
        let expected_offset = offsets_before_rest[&partition.to_string()] - 1;
        assert_eq!(d["headers"]["source_offset"], expected_offset.to_string(), "{kind}: {d}");
        assert_eq!(d["headers"]["source_topic"], INPUT);
        let error_kind = d["headers"]["error_kind"].as_str().expect("kind");
        let want: &[&str] = match kind {
            "bad_json" => &["truncated", "invalid_json"],
            "binary" => &["invalid_utf8", "invalid_json"],
            "empty" => &["empty"],
            _ => &["too_large", "decompression_limit"],
        };
        assert!(want.contains(&error_kind), "{kind} reported as {error_kind}");
        assert!(!d["headers"]["error"].as_str().unwrap_or("").is_empty());
        if kind == "huge" {
            // The original message: the gzip-compressed 5 MB event, whole.
            assert_eq!(d["headers"]["content_encoding"], "gzip");
            assert!(d["unzipped_size"].as_u64().expect("size") > 5 * 1024 * 1024, "the original bytes, not a cut");
        } else {
            assert_eq!(d["headers"]["content_encoding"], "identity");
        }
        if kind == "empty" {
            assert_eq!(d["size"], 0);
        }
    }
}

/// kill -9 in the middle of the stream, with a persistence sequence split across the crash:
/// after a restart no finding of the uninterrupted replay is missing, nothing else appears,
/// and the split sequence is found (the second half alone does not find it).
#[test]
fn kill_9_mid_stream_then_restart_misses_nothing_and_completes_a_split_sequence() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, labels) = generate(dir.path(), 5, 150_000);
    let full = replay_findings(&events, &dir.path().join("replay"));
    let replayed: BTreeSet<String> = full.iter().map(ocsf_uid).collect();

    // Split the input inside an IAM persistence sequence: its first step before, the rest after.
    let text = std::fs::read_to_string(&events).expect("events");
    let lines: Vec<&str> = text.lines().collect();
    let label = labels.iter().find(|l| l["rule_id"] == "iam_user_persistence").expect("a persistence scenario");
    let actor = label["actor_key"].as_str().expect("actor");
    let steps: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let v: Value = serde_json::from_str(l).expect("json");
            v["userIdentity"]["accessKeyId"] == actor
                && v["eventSource"] == "iam.amazonaws.com"
                && v["readOnly"] != true
        })
        .map(|(i, _)| i)
        .collect();
    assert!(steps.len() >= 2, "sequence steps of {actor}: {steps:?}");
    // Just after its CreateUser (the file is in arrival order, so other steps may come first).
    let create = steps
        .iter()
        .copied()
        .find(|&i| serde_json::from_str::<Value>(lines[i]).expect("json")["eventName"] == "CreateUser")
        .expect("CreateUser step");
    assert!(steps.iter().any(|&i| i > create), "a step after CreateUser: {steps:?}");
    let split = create + 1;
    let first = dir.path().join("first.ndjson");
    let second = dir.path().join("second.ndjson");
    std::fs::write(&first, lines[..split].join("\n") + "\n").expect("write");
    std::fs::write(&second, lines[split..].join("\n") + "\n").expect("write");
    // The sequence's finding in the uninterrupted replay, and the negative control: the second
    // half alone does not produce it.
    let is_seq =
        |f: &&Value| f["finding_info"]["types"][0] == "iam_user_persistence" && f["actor"]["user"]["uid"] == actor;
    let seq_uids: BTreeSet<String> = full.iter().filter(is_seq).map(ocsf_uid).collect();
    assert!(!seq_uids.is_empty(), "the replay finds the sequence of {actor}");
    let alone: BTreeSet<String> = replay_findings(&second, &dir.path().join("alone")).iter().map(ocsf_uid).collect();
    assert!(seq_uids.is_disjoint(&alone), "the second half alone finds the sequence; the split proves nothing");

    let b = Broker::start();
    topics(&b);
    let sent1 = produce(&b, &first, &[]);
    let out = dir.path().join("run");
    let mut run = Run::start(&b, &out, "a");
    wait_messages(&mut [&mut run], sent1, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    let killed = run.kill();
    let sent2 = produce(&b, &second, &["--heartbeat-partitions", "4"]);
    wait_session_expired(killed);
    let mut run = Run::start(&b, &out, "b");
    wait_messages(&mut [&mut run], sent2 + 4, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    run.stop();

    let found = b.consume(FINDINGS, 1);
    let uids = uids_of_topic(&found);
    let (missing, extra) = diff(&replayed, &uids);
    assert!(missing.is_empty(), "findings missing after the crash: {missing:?}");
    assert!(extra.is_empty(), "findings the uninterrupted replay does not have: {extra:?}");
    assert!(seq_uids.is_subset(&uids), "the sequence split across the crash was not found: {label}");
    let missed = missed_labels(&labels, &found);
    assert!(missed.is_empty(), "injected stages missed:\n{}", missed.join("\n"));
}

/// Two members of one group share the partitions; one leaves half way (its partitions move
/// with their checkpoints); together they find every scenario with the replay's uids.
#[test]
fn two_members_share_the_partitions_and_a_leaving_member_loses_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, labels) = generate(dir.path(), 5, 150_000);
    let replayed: BTreeSet<String> =
        replay_findings(&events, &dir.path().join("replay")).iter().map(ocsf_uid).collect();
    let text = std::fs::read_to_string(&events).expect("events");
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    let first = dir.path().join("first.ndjson");
    let second = dir.path().join("second.ndjson");
    std::fs::write(&first, lines[..half].join("\n") + "\n").expect("write");
    std::fs::write(&second, lines[half..].join("\n") + "\n").expect("write");

    let b = Broker::start();
    topics(&b);
    let out = dir.path().join("run");
    let mut a = Run::start(&b, &out, "a");
    a.wait_ready(Duration::from_secs(60));
    let mut m = Run::start(&b, &out, "b");
    // Both hold partitions once the group has rebalanced.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !(a.metric("trailhound_assigned_partitions").unwrap_or(0.0) > 0.0
        && m.metric("trailhound_assigned_partitions").unwrap_or(0.0) > 0.0)
    {
        a.assert_alive();
        m.assert_alive();
        assert!(std::time::Instant::now() < deadline, "the two members did not share the partitions");
        std::thread::sleep(Duration::from_millis(300));
    }
    let sent1 = produce(&b, &first, &[]);
    wait_messages(&mut [&mut a, &mut m], sent1, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    let sb = m.stop();
    assert!(sb["messages"].as_u64().unwrap_or(0) > 0, "member b consumed nothing: {sb}");
    let before = a.metric("trailhound_messages_total").unwrap_or(0.0) as u64;
    assert!(before > 0, "member a consumed nothing");
    let sent2 = produce(&b, &second, &["--heartbeat-partitions", "4"]);
    wait_messages(&mut [&mut a], before + sent2 + 4, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    a.stop();

    let found = b.consume(FINDINGS, 1);
    let uids = uids_of_topic(&found);
    let (missing, extra) = diff(&replayed, &uids);
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}\nextra {extra:?}");
    let missed = missed_labels(&labels, &found);
    assert!(missed.is_empty(), "injected stages missed:\n{}", missed.join("\n"));
}
