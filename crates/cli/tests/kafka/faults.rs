//! Kafka faults: the broker killed and restarted mid-stream, poison messages in every input
//! partition, the findings topic missing for a while. In each, no finding of an uninterrupted
//! replay of the same events is lost (duplicates are allowed: at-least-once) and the run
//! neither exits nor buffers without bound.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::{diff, produce, WAIT};
use crate::harness::*;

/// Writes the first and second half of the events (by line) next to them.
fn halves(events: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(events).expect("events");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let half = lines.len() / 2;
    let (first, second) = (dir.join("first.ndjson"), dir.join("second.ndjson"));
    std::fs::write(&first, lines[..half].join("\n") + "\n").expect("write");
    std::fs::write(&second, lines[half..].join("\n") + "\n").expect("write");
    (first, second)
}

/// The newest eventTime of the events file.
fn latest_time(events: &Path) -> String {
    let text = std::fs::read_to_string(events).expect("events");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["eventTime"].as_str().map(str::to_string))
        .max()
        .expect("event times")
}

/// Benign events in each of the 4 partitions stepping event time on by 50 minutes, 30 times,
/// after `latest` (each within `engine.max_future_skew` of the one before, so none is held):
/// a live stream's time moving on. It closes every window, so the run publishes the final
/// versions a replay publishes when its input ends. Returns the messages sent.
fn heartbeats(b: &Broker, latest: &str) -> u64 {
    let mut spec = Vec::new();
    for p in 0..4 {
        for k in 1..=30u32 {
            let event = json!({
                "eventVersion": "1.08", "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
                "awsRegion": "us-east-1", "sourceIPAddress": "10.9.9.9", "userAgent": "heartbeat",
                "eventID": format!("00000000-0000-0000-{p:04}-{k:012}"), "readOnly": true,
                "eventType": "AwsApiCall", "recipientAccountId": "000000000000",
                "userIdentity": {"type": "AssumedRole", "principalId": "AROAHEARTBEAT:hb",
                                 "arn": "arn:aws:sts::000000000000:assumed-role/heartbeat/hb",
                                 "accountId": "000000000000", "accessKeyId": format!("ASIAHEARTBEAT{p:04}")},
            });
            spec.push(json!({"partition": p, "event": event, "after": latest, "minutes_after": 50 * k}));
        }
    }
    b.send(INPUT, &spec)
}

/// The findings topic holds every finding of the replay and no other, with the same last
/// versions.
fn assert_findings_match_replay(b: &Broker, replay: &[Value]) -> Vec<Value> {
    let replayed: BTreeSet<String> = replay.iter().map(ocsf_uid).collect();
    assert!(!replayed.is_empty(), "the replay finds something");
    let found = b.consume(FINDINGS, replayed.len());
    let (missing, extra) = diff(&replayed, &uids_of_topic(&found));
    assert!(missing.is_empty(), "findings lost: {missing:?}");
    assert!(extra.is_empty(), "findings the replay does not have: {extra:?}");
    assert_same_final_versions(replay, &found);
    found
}

fn header<'a>(m: &'a Value, name: &str) -> &'a str {
    m["headers"][name].as_str().unwrap_or("")
}

/// The broker is SIGKILLed once the first findings are acknowledged and started again on the
/// same port and data a few seconds later. `trailhound run` logs the outage and the
/// recovery, counts the client errors in /metrics, does not exit, and the findings topic
/// ends up with every finding of the uninterrupted replay (final versions equal); the
/// dead-letter topic holds the stream's two bad messages and nothing else.
#[test]
fn a_broker_killed_and_restarted_mid_stream_loses_no_finding_and_the_run_keeps_going() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, _) = generate(dir.path(), 11, 100_000);
    let replay = replay_findings(&events, &dir.path().join("replay"));
    let (first, second) = halves(&events, dir.path());

    let mut b = Broker::start();
    topics(&b);
    let mut sent = produce(&b, &first, &[]);
    b.tool(&["raw", "--topic", INPUT, "--partition", "0", "--kind", "bad_json"]);
    sent += 1;
    let bad_first = ("0".to_string(), (b.offsets(INPUT, GROUP).1["0"] - 1).to_string());
    let mut run = Run::start(&b, &dir.path().join("run"), "a");
    wait_for(&mut run, "the first acknowledged findings", WAIT, |r| {
        r.metric("trailhound_findings_total").unwrap_or(0.0) > 0.0
    });

    b.kill();
    wait_for(&mut run, "the outage to be logged and counted", Duration::from_secs(120), |r| {
        r.metric("trailhound_kafka_errors_total").unwrap_or(0.0) > 0.0
            && r.log_text().contains("lost the connection to the brokers")
    });
    std::thread::sleep(Duration::from_secs(3));
    run.assert_alive();
    b.start_again();

    sent += produce(&b, &second, &[]);
    sent += heartbeats(&b, &latest_time(&events));
    b.tool(&["raw", "--topic", INPUT, "--partition", "1", "--kind", "bad_json"]);
    sent += 1;
    let bad_second = ("1".to_string(), (b.offsets(INPUT, GROUP).1["1"] - 1).to_string());
    wait_messages(&mut [&mut run], sent, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    wait_for(&mut run, "the recovery to be logged", Duration::from_secs(60), |r| {
        r.log_text().contains("brokers reachable again")
    });
    run.stop();

    assert_findings_match_replay(&b, &replay);
    let dead = b.consume(DEAD, 2);
    let got: BTreeSet<(String, String)> = dead
        .iter()
        .map(|d| (header(d, "source_partition").to_string(), header(d, "source_offset").to_string()))
        .collect();
    assert_eq!(got, BTreeSet::from([bad_first, bad_second]), "{dead:?}");
}

/// The poison of one partition: what each message is, its spec for `send.py`, and the dead
/// letter kinds that may report it.
fn poison(partition: usize, at: &str, sample: &Value, latest: &str) -> Vec<(String, Value, &'static [&'static str])> {
    let event = |id: &str| {
        let mut e = sample.clone();
        e["eventID"] = json!(id);
        e
    };
    let p = partition;
    vec![
        (
            format!("not JSON ({at}, {p})"),
            json!({"partition": p, "text": "{\"eventVersion\": \"1.08\", \"eventTime\": nope"}),
            &["invalid_json", "truncated"][..],
        ),
        (
            format!("larger than parse.max_event_bytes ({at}, {p})"),
            json!({"partition": p, "pad_event": {"bytes": 150_000}}),
            &["too_large"][..],
        ),
        (
            format!("gzip bomb ({at}, {p})"),
            json!({"partition": p, "gzip_zeros": 64u64 << 20}),
            &["decompression_limit", "too_large"][..],
        ),
        (
            format!("corrupt gzip ({at}, {p})"),
            json!({"partition": p, "corrupt_gzip": sample.to_string().repeat(20)}),
            &["bad_compression"][..],
        ),
        (
            format!("poison-{at}-{p}-year-9999"),
            json!({"partition": p, "event": event(&format!("poison-{at}-{p}-year-9999")), "event_time": "9999-12-31T23:59:59Z"}),
            &["time_out_of_range", "invalid_time"][..],
        ),
        (
            format!("poison-{at}-{p}-month-ahead"),
            json!({"partition": p, "event": event(&format!("poison-{at}-{p}-month-ahead")), "days_after": 30, "after": latest}),
            &["time_out_of_range"][..],
        ),
    ]
}

/// Every partition of the input topic gets, as its first messages and again in the middle of
/// the stream: a message that is not JSON, an event over `parse.max_event_bytes`, a gzip
/// bomb, a corrupt gzip, a valid event dated 9999-12-31 and one dated 30 days after the
/// stream. Each goes to the dead-letter topic with its error kind; the findings are those of
/// the stream without poison (uids and final versions); the consumer reads everything and
/// commits the end.
///
/// The event 30 days ahead is held until `engine.future_hold_events` later events of its
/// partition have not corroborated it; one still held when the run stops stays held (in the
/// checkpoint), it is not dead-lettered: a live stream has no end at which to judge it.
/// Partition 1 of this stream gets only 907 events after its middle, so the hold is 20
/// events: the 30 heartbeats that end every partition are enough.
#[test]
fn poison_messages_in_every_partition_are_dead_lettered_and_change_no_finding() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, _) = generate(dir.path(), 13, 60_000);
    let replay = replay_findings(&events, &dir.path().join("replay"));
    let (first, second) = halves(&events, dir.path());
    let text = std::fs::read_to_string(&events).expect("events");
    let parsed: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("event")).collect();
    let latest = parsed.iter().filter_map(|e| e["eventTime"].as_str()).max().expect("times").to_string();
    let sample = parsed.iter().find(|e| e["readOnly"] == true).expect("a read-only event").clone();

    let b = Broker::start();
    topics(&b);
    let mut expected: Vec<(String, String, Option<i64>, &'static [&'static str])> = Vec::new();
    let mut sent = 0;
    for at in ["start", "middle"] {
        if at == "middle" {
            sent += produce(&b, &first, &[]);
        }
        let mut spec = Vec::new();
        let mut per_partition = Vec::new();
        for p in 0..4 {
            let items = poison(p, at, &sample, &latest);
            per_partition.push(items.len() as i64);
            for (what, s, kinds) in items {
                spec.push(s);
                expected.push((what, p.to_string(), None, kinds));
            }
        }
        sent += b.send(INPUT, &spec);
        // The poison of each partition is its last messages, in spec order.
        let end = b.offsets(INPUT, GROUP).1;
        let batch = expected.len() - spec.len();
        let mut seen = [0i64; 4];
        for e in &mut expected[batch..] {
            let p: usize = e.1.parse().expect("partition");
            e.2 = Some(end[&e.1] - per_partition[p] + seen[p]);
            seen[p] += 1;
        }
    }
    sent += produce(&b, &second, &[]);
    sent += heartbeats(&b, &latest_time(&events));

    let mut run = Run::start_with(
        &b,
        &dir.path().join("run"),
        "a",
        "",
        "[parse]\nmax_event_bytes = 100000\n[engine]\nfuture_hold_events = 20\n",
    );
    wait_messages(&mut [&mut run], sent, WAIT);
    b.wait_committed(INPUT, GROUP, WAIT);
    run.stop();

    assert_findings_match_replay(&b, &replay);
    let dead = b.read(DEAD, expected.len());
    let mut problems = Vec::new();
    for (what, partition, offset, kinds) in &expected {
        let by_offset = |d: &&Value| {
            header(d, "source_partition") == partition
                && Some(header(d, "source_offset")) == offset.map(|o| o.to_string()).as_deref()
        };
        // An event the engine rejects is found by its eventID (its bytes are the dead letter).
        let by_id = |d: &&Value| what.starts_with("poison-") && d["value"]["eventID"].as_str() == Some(what.as_str());
        match dead.iter().find(|d| by_offset(d) || by_id(d)) {
            None => problems.push(format!("{what}: no dead letter")),
            Some(d) if !kinds.contains(&header(d, "error_kind")) => {
                problems.push(format!("{what}: kind {:?}, expected one of {kinds:?}", header(d, "error_kind")))
            }
            // A gzip message that does not decompress is dead-lettered as it came, and says so.
            Some(d) if what.contains("gzip") && header(d, "content_encoding") != "gzip" => {
                problems.push(format!("{what}: content_encoding {:?}, expected gzip", header(d, "content_encoding")))
            }
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{}\ndead letters: {:?}",
        problems.join("\n"),
        dead.iter().map(|d| &d["headers"]).collect::<Vec<_>>()
    );
}

/// `trailhound run` starts while the findings topic does not exist (tansu does not create
/// topics on produce). After 1 s (`topic.metadata.propagation.max.ms`) the producer fails the
/// queued findings and refuses new ones at once (unknown topic): each is sent again with a
/// backoff (counted) and the run keeps going; the partitions whose findings wait stop
/// detecting, their queues fill and they are paused (gauge, warning): the backlog stays in
/// Kafka instead of memory, and nothing is committed past an undelivered finding. Once the
/// topic exists everything is delivered, the partitions resume, and the findings equal the
/// replay's.
///
/// Not `message.timeout.ms` to make deliveries fail early: a short one also expires records
/// already sent (to the dead-letter topic, or to the findings topic once it exists) on a
/// loaded machine, after which librdkafka's idempotent producer bumps its epoch by itself,
/// and tansu 0.6 panics on the first record with an epoch it did not issue ("more or less
/// than one row" in its sqlite storage) and closes every connection from then on: no
/// delivery, no consumer heartbeat, no topic creation, a test that cannot pass.
#[test]
fn a_missing_findings_topic_pauses_consumption_and_everything_is_delivered_once_it_exists() {
    let dir = tempfile::tempdir().expect("tmp");
    let (events, _) = generate(dir.path(), 17, 100_000);
    let replay = replay_findings(&events, &dir.path().join("replay"));
    let (first, second) = halves(&events, dir.path());

    let b = Broker::start();
    b.create(INPUT, 4);
    b.create(DEAD, 1);
    let mut sent = produce(&b, &first, &[]);
    let mut run = Run::start_with(
        &b,
        &dir.path().join("run"),
        "a",
        "partition_queue = 8\n",
        "[parse]\nbatch_rows = 500\n[kafka.producer]\n\"topic.metadata.propagation.max.ms\" = \"1000\"\n",
    );
    wait_for(&mut run, "findings waiting and retried", WAIT, |r| {
        r.metric("trailhound_delivery_retries_total").unwrap_or(0.0) > 0.0
            && r.metric("trailhound_undelivered_records").unwrap_or(0.0) > 0.0
    });
    // Nothing is committed past an undelivered finding.
    let (committed, end) = b.offsets(INPUT, GROUP);
    assert_ne!(committed, end, "offsets committed while findings were undelivered");

    sent += produce(&b, &second, &[]);
    sent += heartbeats(&b, &latest_time(&events));
    wait_for(&mut run, "a paused partition", Duration::from_secs(120), |r| {
        r.metric("trailhound_paused_partitions").unwrap_or(0.0) >= 1.0
    });
    let consumed = run.metric("trailhound_messages_total").unwrap_or(0.0) as u64;
    assert!(consumed < sent, "a paused partition's backlog stays in Kafka: consumed {consumed} of {sent}");
    let log = run.log_text();
    for line in ["partition paused", "not acknowledged yet", "delivery failed; sending again"] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }

    b.create(FINDINGS, 2);
    wait_messages(&mut [&mut run], sent, Duration::from_secs(240));
    b.wait_committed(INPUT, GROUP, WAIT);
    wait_for(&mut run, "everything delivered and resumed", Duration::from_secs(60), |r| {
        r.metric("trailhound_paused_partitions") == Some(0.0) && r.metric("trailhound_undelivered_records") == Some(0.0)
    });
    let log = run.log_text();
    for line in ["partition resumed", "delivered after retrying", "acknowledged again"] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    run.stop();
    assert_findings_match_replay(&b, &replay);
}
