//! The future-time gate: a single event dated far ahead of the stream, wherever it comes (the
//! first one included), changes no other finding; it is rejected as `time_out_of_range` unless
//! nothing comes after it.

use std::collections::BTreeMap;

use proptest::prelude::*;
use trailhound_detect::{DetectConfig, Engine};
use trailhound_gen::{generate, GenConfig};
use trailhound_model::time::to_rfc3339;
use trailhound_model::Finding;
use trailhound_parse::{read::read_stream, Collect, ParseConfig, Parser};

use crate::final_versions_any_order;

/// Generated events, every scenario injected.
const EVENTS: u64 = 12_000;
/// Later events within which a held event must be corroborated (small, so a poison in the
/// middle of this short stream is judged before the end).
const HOLD: usize = 400;
const POISON_ID: &str = "poisoned-event-0001";

fn stream() -> &'static [String] {
    static LINES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        let cfg = GenConfig { seed: 5, events: EVENTS, ..GenConfig::default() };
        let mut data = Vec::new();
        generate(&cfg, &mut data, None::<Vec<u8>>).expect("in-memory generation");
        String::from_utf8(data).expect("utf8").lines().map(str::to_string).collect()
    })
}

fn config() -> DetectConfig {
    let mut cfg = DetectConfig::default();
    cfg.engine.future_hold_events = HOLD;
    cfg
}

struct Run {
    finals: BTreeMap<String, Finding>,
    /// Uids of findings whose evidence holds the poisoned event.
    poisoned: Vec<String>,
    rejected: Vec<trailhound_detect::Rejected>,
    time_out_of_range: u64,
}

fn run(lines: &[String], batch_rows: usize, now: Option<i64>) -> Run {
    let mut parser = Parser::new(ParseConfig { batch_rows, ..ParseConfig::default() });
    let mut out = Collect::default();
    read_stream(&mut parser, lines.join("\n").as_bytes(), "gate", &mut out).expect("read");
    parser.flush(&mut out);
    assert!(out.dead.is_empty(), "{:?}", out.dead.first().map(|d| d.reason.to_string()));
    let mut engine = Engine::new(&config()).expect("engine");
    engine.set_now(now);
    let mut all = Vec::new();
    let mut rejected = Vec::new();
    for b in &out.batches {
        all.extend(engine.process(b).expect("process"));
        rejected.extend(engine.take_rejected());
    }
    all.extend(engine.finish().expect("finish"));
    rejected.extend(engine.take_rejected());
    let poisoned: Vec<String> =
        all.iter().filter(|f| f.evidence.iter().any(|e| e.event_id == POISON_ID)).map(|f| f.uid.clone()).collect();
    let mut finals = final_versions_any_order(&all);
    finals.retain(|uid, _| !poisoned.contains(uid));
    Run { finals, poisoned, rejected, time_out_of_range: engine.stats().time_out_of_range }
}

fn event_time(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    let t = v["eventTime"].as_str().expect("eventTime");
    trailhound_parse::time::parse_timestamp(t).expect("time")
}

/// A copy of the event at `of`, dated `at`, with its own id.
fn poison(lines: &[String], of: usize, at: i64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&lines[of]).expect("json");
    v["eventTime"] = serde_json::Value::String(to_rfc3339(at));
    v["eventID"] = serde_json::Value::String(POISON_ID.to_string());
    v.to_string()
}

fn baseline(batch_rows: usize) -> &'static Run {
    static RUNS: std::sync::OnceLock<std::sync::Mutex<BTreeMap<usize, &'static Run>>> = std::sync::OnceLock::new();
    let runs = RUNS.get_or_init(Default::default);
    let mut runs = runs.lock().expect("lock");
    runs.entry(batch_rows).or_insert_with(|| Box::leak(Box::new(run(stream(), batch_rows, None))))
}

/// Inserts the poison at `at` and checks that every other finding is unchanged; returns the run.
fn poisoned_run(position: usize, time: i64, batch_rows: usize, now: Option<i64>) -> Run {
    let lines = stream();
    let mut with = lines.to_vec();
    let position = position.min(with.len());
    with.insert(position, poison(lines, position.min(lines.len() - 1), time));
    let clean = baseline(batch_rows);
    assert_eq!(clean.time_out_of_range, 0, "the generated stream has no event out of range");
    assert!(clean.finals.len() >= 10, "the stream has findings to lose: {}", clean.finals.len());
    let got = run(&with, batch_rows, now);
    let missing: Vec<&String> = clean.finals.keys().filter(|k| !got.finals.contains_key(*k)).collect();
    let extra: Vec<&String> = got.finals.keys().filter(|k| !clean.finals.contains_key(*k)).collect();
    let rules: Vec<(&str, &str, String, String)> = missing
        .iter()
        .map(|k| {
            (
                clean.finals[*k].rule_id.as_str(),
                clean.finals[*k].actor_key.as_str(),
                to_rfc3339(clean.finals[*k].first_event_time),
                to_rfc3339(clean.finals[*k].last_event_time),
            )
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "poison at {position} ({}) changed findings: missing {missing:?} {rules:?}, extra {extra:?}, poisoned {:?}",
        to_rfc3339(time),
        got.poisoned
    );
    for (uid, f) in &clean.finals {
        assert_eq!(Some(f), got.finals.get(uid), "poison at {position} changed {uid}");
    }
    got
}

fn newest() -> i64 {
    stream().iter().map(|l| event_time(l)).max().expect("events")
}

/// The last time the parser accepts (9999-12-31 is already an `invalid_time` dead letter).
const END_OF_TIME: i64 = 7_258_118_399_000; // 2199-12-31T23:59:59Z
const THIRTY_DAYS: i64 = 30 * 86_400_000;

#[test]
fn a_poisoned_first_event_is_rejected_and_changes_no_other_finding() {
    for time in [END_OF_TIME, newest() + THIRTY_DAYS] {
        let got = poisoned_run(0, time, 8192, None);
        assert_eq!(got.time_out_of_range, 1, "the poison is dead-lettered");
        assert_eq!(got.rejected.len(), 1);
        let r = &got.rejected[0];
        assert_eq!((r.event_id.as_str(), r.event_time, r.against), (POISON_ID, time, "stream"));
        assert!(r.source.starts_with("gate:"), "{}", r.source);
        assert!(got.poisoned.is_empty(), "a rejected event is in no finding");
    }
}

#[test]
fn a_poisoned_event_mid_stream_is_rejected_in_every_batch_size() {
    let n = stream().len();
    for batch_rows in [1, 7, 8192] {
        for position in [1, n / 3, n / 2] {
            let got = poisoned_run(position, END_OF_TIME, batch_rows, None);
            assert_eq!(got.time_out_of_range, 1, "batch {batch_rows}, position {position}");
        }
    }
}

#[test]
fn the_drivers_clock_rejects_a_far_future_event_at_once_even_at_the_very_end() {
    let now = newest() + 86_400_000;
    let got = poisoned_run(usize::MAX, END_OF_TIME, 8192, Some(now));
    assert_eq!(got.time_out_of_range, 1);
    assert_eq!(got.rejected[0].against, "now");
    assert_eq!(got.rejected[0].reference, now);
}

#[test]
fn a_poisoned_last_event_is_judged_after_the_stream_and_changes_no_other_finding() {
    // Nothing comes after it: it is judged once everything before it is closed and published.
    let got = poisoned_run(usize::MAX, newest() + THIRTY_DAYS, 8192, None);
    assert_eq!(got.time_out_of_range, 0);
}

#[test]
fn a_single_event_input_is_judged_like_any_event() {
    let one = &stream()[..1];
    let got = run(one, 8192, None);
    assert_eq!(got.time_out_of_range, 0, "nothing to judge it against: released at the end");
}

#[test]
fn a_gap_between_delivery_files_is_not_poison() {
    // The same stream twice, the second copy a week later (fresh ids): the first event after
    // the gap is held until the next one corroborates it, then the stream goes on.
    let lines = stream();
    let week = 7 * 86_400_000;
    let mut with = lines.to_vec();
    for (i, l) in lines.iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
        v["eventTime"] = serde_json::Value::String(to_rfc3339(event_time(l) + week));
        v["eventID"] = serde_json::Value::String(format!("week2-{i}"));
        with.push(v.to_string());
    }
    let once = baseline(8192);
    let twice = run(&with, 8192, None);
    assert_eq!(twice.time_out_of_range, 0, "no event of the second week is dead-lettered");
    for uid in once.finals.keys() {
        assert!(twice.finals.contains_key(uid), "first week's {uid} is still found");
    }
    let second = twice.finals.len() - once.finals.len();
    assert!(second * 2 >= once.finals.len(), "the second week is watched too: {second} vs {}", once.finals.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn a_single_poisoned_event_anywhere_changes_no_other_finding(
        frac in 0.0f64..1.0,
        far in prop::bool::ANY,
        batch in prop::sample::select(vec![7usize, 8192]),
    ) {
        let position = (frac * stream().len() as f64) as usize;
        let time = if far { END_OF_TIME } else { newest() + THIRTY_DAYS };
        let got = poisoned_run(position, time, batch, None);
        // Rejected, or (near the end, within the hold) judged after the stream closed.
        if position + HOLD < stream().len() {
            prop_assert_eq!(got.time_out_of_range, 1);
            prop_assert!(got.poisoned.is_empty());
        }
    }
}

#[test]
fn a_held_event_survives_a_snapshot_and_is_judged_by_the_restored_engine() {
    let lines = stream();
    let mut with = lines.to_vec();
    with.insert(100, poison(lines, 100, END_OF_TIME));
    let mut parser = Parser::new(ParseConfig { batch_rows: 7, ..ParseConfig::default() });
    let mut out = Collect::default();
    read_stream(&mut parser, with.join("\n").as_bytes(), "gate", &mut out).expect("read");
    parser.flush(&mut out);
    let mut engine = Engine::new(&config()).expect("engine");
    let mut all = Vec::new();
    let split = 20; // 140 rows in: the poison is held, not yet judged
    for b in &out.batches[..split] {
        all.extend(engine.process(b).expect("process"));
    }
    assert_eq!(engine.held_events(), 1, "the poison waits for corroboration");
    let snap = engine.snapshot().expect("snapshot");
    let mut restored = Engine::new(&config()).expect("engine");
    restored.restore(&snap).expect("restore");
    assert_eq!(restored.held_events(), 1, "held events are part of the snapshot");
    let mut rejected = Vec::new();
    for b in &out.batches[split..] {
        all.extend(restored.process(b).expect("process"));
        rejected.extend(restored.take_rejected());
    }
    all.extend(restored.finish().expect("finish"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event_id, POISON_ID);
    let clean = baseline(7);
    assert_eq!(final_versions_any_order(&all), clean.finals);
}
