//! Events dated in the future cannot blind detection: a replay with poisoned copies of an event
//! (first, in the middle, far in the future, at the end of time) finds exactly what the clean
//! replay finds, and the poisoned copies are dead letters of kind `time_out_of_range` (or
//! `invalid_time`, for a date no parser should accept).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::{bin, run_ok, summary};

/// The newest version of each finding: uid → (rule, severity, event count).
fn final_findings(out: &Path) -> BTreeMap<String, (String, String, u64)> {
    let mut latest = BTreeMap::new();
    for line in std::fs::read_to_string(out.join("findings.ocsf.jsonl")).expect("ocsf").lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        let uid = v["finding_info"]["uid"].as_str().expect("uid").to_string();
        let rule = v["finding_info"]["analytic"]["uid"].as_str().expect("rule").to_string();
        let severity = v["severity"].as_str().unwrap_or_default().to_string();
        latest.insert(uid, (rule, severity, v["count"].as_u64().unwrap_or_default()));
    }
    latest
}

/// `line` with its `eventTime` replaced by `time` and a new `eventID`.
fn redated(line: &str, time: &str, id: &str) -> String {
    let mut v: Value = serde_json::from_str(line).expect("event");
    v["eventTime"] = Value::from(time);
    v["eventID"] = Value::from(id);
    v.to_string()
}

/// `2026-11-02T00:00:08Z` moved by `days`, as the parser reads it.
fn plus_days(time: &str, days: i64) -> String {
    let t = time.parse::<humantime::Timestamp>().expect("event time");
    let t = std::time::SystemTime::from(t) + std::time::Duration::from_secs(days as u64 * 86_400);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[test]
fn future_dated_events_anywhere_in_a_replay_change_no_finding_and_are_dead_lettered() {
    let dir = tempfile::tempdir().expect("tmp");
    let clean = dir.path().join("clean.ndjson");
    run_ok(bin().args(["gen", "--seed", "7", "--events", "50000", "--out"]).arg(&clean));
    let text = std::fs::read_to_string(&clean).expect("events");
    let lines: Vec<&str> = text.lines().collect();
    let first: Value = serde_json::from_str(lines[0]).expect("event");
    let t0 = first["eventTime"].as_str().expect("time");

    // A month ahead of the stream (first event, and in the middle), a date far ahead of the
    // host clock, and the end of time (not a date the parser accepts at all).
    let ahead = plus_days(t0, 30);
    let mut poisoned: Vec<String> = Vec::with_capacity(lines.len() + 4);
    poisoned.push(redated(lines[0], &ahead, "poison-first"));
    for (i, l) in lines.iter().enumerate() {
        poisoned.push((*l).to_string());
        if i == lines.len() / 2 {
            poisoned.push(redated(l, &ahead, "poison-middle"));
            poisoned.push(redated(l, "2190-01-01T00:00:00Z", "poison-2190"));
            poisoned.push(redated(l, "9999-12-31T23:59:59Z", "poison-9999"));
        }
    }
    let bad = dir.path().join("poisoned.ndjson");
    std::fs::write(&bad, poisoned.join("\n") + "\n").expect("write");

    let (out_clean, out_bad) = (dir.path().join("out-clean"), dir.path().join("out-poisoned"));
    run_ok(bin().args(["replay", "--out"]).arg(&out_clean).arg(&clean));
    let log = {
        let out = bin().args(["replay", "--out"]).arg(&out_bad).arg(&bad).output().expect("replay");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).to_string()
    };

    let expected = final_findings(&out_clean);
    assert!(expected.len() > 20, "the clean replay finds the generator's attacks: {expected:?}");
    assert_eq!(final_findings(&out_bad), expected, "the poisoned events changed the findings");

    let s = summary(&out_bad);
    assert_eq!(s["events"], lines.len() as u64 + 3, "the three parsable copies are events");
    assert_eq!(s["time_out_of_range"], 3, "{s}");
    assert_eq!(s["dead_letters"], 4, "three out of range, one invalid time: {s}");
    let dead: Vec<Value> = std::fs::read_to_string(out_bad.join("dead-letters.ndjson"))
        .expect("dead letters")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let mut kinds: Vec<(String, String)> = dead
        .iter()
        .map(|d| {
            let raw = d["raw"].as_str().unwrap_or_default();
            let id = ["poison-first", "poison-middle", "poison-2190", "poison-9999"]
                .into_iter()
                .find(|id| raw.contains(id))
                .unwrap_or("?");
            (id.to_string(), d["kind"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("poison-2190".to_string(), "time_out_of_range".to_string()),
            ("poison-9999".to_string(), "invalid_time".to_string()),
            ("poison-first".to_string(), "time_out_of_range".to_string()),
            ("poison-middle".to_string(), "time_out_of_range".to_string()),
        ]
    );
    for d in dead.iter().filter(|d| d["kind"] == "time_out_of_range") {
        assert!(d["source"].as_str().is_some_and(|s| s.ends_with("poisoned.ndjson")), "{d}");
        assert!(d["position"].as_u64().is_some_and(|p| p >= 1), "{d}");
    }
    assert!(log.contains("time_out_of_range"), "a warning names the rejected events: {log}");
}
