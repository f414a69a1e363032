//! `trailhound eval`: precision and recall of the findings against labelled behaviours,
//! checked against an independent computation from `trailhound query` rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailhound"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("runs")
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

struct Estate {
    _dir: tempfile::TempDir,
    root: PathBuf,
    events: PathBuf,
    labels: PathBuf,
    findings: PathBuf,
}

/// A small generated estate with labels, replayed.
fn estate() -> Estate {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_path_buf();
    let (events, labels, out) = (root.join("events.ndjson"), root.join("labels.ndjson"), root.join("out"));
    ok(bin().args(["gen", "--seed", "3", "--events", "60000", "--out"]).arg(&events).arg("--labels").arg(&labels));
    ok(bin().args(["replay", "--out"]).arg(&out).arg(&events));
    Estate { _dir: dir, root, events, labels, findings: out.join("findings") }
}

fn eval_json(labels: &Path, findings: &Path) -> Value {
    serde_json::from_str(&ok(bin().args(["eval", "--json", "--labels"]).arg(labels).arg(findings))).expect("report")
}

/// The findings as `trailhound query --format json` gives them.
fn findings(dir: &Path) -> Vec<Value> {
    ndjson(&ok(bin().args(["query", "--format", "json", "--findings"]).arg(dir).arg(
        "SELECT uid, rule_id, severity, actor_key, account, CAST(first_event_time AS BIGINT) AS f, \
         CAST(last_event_time AS BIGINT) AS l, evidence_event_ids, evidence FROM findings",
    )))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// The report's numbers computed from the rows, written independently of the lake's code.
fn expected(labels: &[Value], rows: &[Value]) -> Value {
    // Each finding's events: evidence ids, with ids of other findings (a chain's parts)
    // replaced by those findings' events.
    let by_uid: HashMap<&str, &Value> = rows.iter().map(|r| (r["uid"].as_str().expect("uid"), r)).collect();
    let events_of = |r: &Value| -> HashSet<String> {
        let mut out = HashSet::new();
        let mut todo: Vec<&Value> = vec![r];
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(f) = todo.pop() {
            if !seen.insert(f["uid"].as_str().expect("uid")) {
                continue;
            }
            for id in strs(&f["evidence_event_ids"]) {
                match by_uid.get(id) {
                    Some(part) => todo.push(part),
                    None => {
                        out.insert(id.to_string());
                    }
                }
            }
        }
        out
    };
    let events: Vec<HashSet<String>> = rows.iter().map(events_of).collect();
    let matches = |l: &Value, i: usize| -> bool {
        let ids = strs(&l["event_ids"]);
        if !ids.is_empty() {
            return ids.iter().any(|id| events[i].contains(*id));
        }
        let r = &rows[i];
        l["actor_key"] == r["actor_key"]
            && (l["account"].is_null() || r["account"].is_null() || l["account"] == r["account"])
            && l["start_ms"].as_i64().is_none_or(|s| r["l"].as_i64().expect("l") >= s)
            && l["end_ms"].as_i64().is_none_or(|e| r["f"].as_i64().expect("f") <= e)
    };
    let is_true: Vec<bool> = (0..rows.len()).map(|i| labels.iter().any(|l| matches(l, i))).collect();

    let mut per_rule: BTreeMap<String, [usize; 5]> = BTreeMap::new(); // findings, true, labels, found, other
    let mut per_behaviour: BTreeMap<String, [usize; 3]> = BTreeMap::new(); // labels, found, other
    for (r, t) in rows.iter().zip(&is_true) {
        let e = per_rule.entry(r["rule_id"].as_str().expect("rule").to_string()).or_default();
        e[0] += 1;
        e[1] += usize::from(*t);
    }
    let mut missed = Vec::new();
    for (idx, l) in labels.iter().enumerate() {
        let rules: BTreeSet<&str> =
            (0..rows.len()).filter(|&i| matches(l, i)).map(|i| rows[i]["rule_id"].as_str().expect("rule")).collect();
        let found = match l["rule_id"].as_str() {
            Some(rule) => rules.contains(rule),
            None => !rules.is_empty(),
        };
        let other = !found && !rules.is_empty();
        if let Some(rule) = l["rule_id"].as_str() {
            let e = per_rule.entry(rule.to_string()).or_default();
            e[2] += 1;
            e[3] += usize::from(found);
            e[4] += usize::from(other);
        }
        let name = l["scenario"].as_str().or(l["rule_id"].as_str()).expect("name");
        let b = per_behaviour.entry(name.to_string()).or_default();
        b[0] += 1;
        b[1] += usize::from(found);
        b[2] += usize::from(other);
        if !found {
            missed.push(json!({"index": idx, "found_by_rules": rules}));
        }
    }
    let false_rows: Vec<&Value> = rows.iter().zip(&is_true).filter(|(_, t)| !**t).map(|(r, _)| r).collect();
    let above: BTreeSet<&str> = false_rows
        .iter()
        .filter(|r| matches!(r["severity"].as_str(), Some("medium" | "high" | "critical")))
        .map(|r| r["uid"].as_str().expect("uid"))
        .collect();
    let mut by_sev: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &false_rows {
        *by_sev.entry(r["severity"].as_str().expect("sev")).or_default() += 1;
    }
    let found: usize = missed.len();
    json!({
        "labels": labels.len(),
        "findings": rows.len(),
        "true_findings": rows.len() - false_rows.len(),
        "false_findings": false_rows.len(),
        "found": labels.len() - found,
        "missed": found,
        "false_above_low": above.len(),
        "false_above_low_uids": above,
        "false_by_severity": by_sev,
        "rules": per_rule.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "behaviours": per_behaviour.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "missed_behaviours": missed,
    })
}

/// The same shape as [`expected`], read from `trailhound eval --json`.
fn reported(r: &Value) -> Value {
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    json!({
        "labels": r["labels"],
        "findings": r["findings"],
        "true_findings": r["true_findings"],
        "false_findings": r["false_findings"],
        "found": r["found"],
        "missed": r["missed"],
        "false_above_low": r["false_above_low"],
        "false_above_low_uids": r["false_findings_above_low"].as_array().expect("list").iter().filter_map(|f| f["uid"].as_str()).collect::<BTreeSet<_>>(),
        "false_by_severity": r["false_by_severity"],
        "rules": r["rules"].as_array().expect("rules").iter().map(|s| json!([s["rule_id"], [n(s, "findings"), n(s, "true_findings"), n(s, "labels"), n(s, "found"), n(s, "found_by_other_rule")]])).collect::<Vec<_>>(),
        "behaviours": r["behaviours"].as_array().expect("behaviours").iter().map(|s| json!([s["behaviour"], [n(s, "labels"), n(s, "found"), n(s, "found_by_other_rule")]])).collect::<Vec<_>>(),
        "missed_behaviours": r["missed_behaviours"].as_array().expect("missed").iter().map(|m| json!({"index": m["index"], "found_by_rules": m["found_by_rules"]})).collect::<Vec<_>>(),
    })
}

#[test]
fn eval_of_a_generated_estate_agrees_with_the_query_rows() {
    let e = estate();
    let labels = ndjson(&std::fs::read_to_string(&e.labels).expect("labels"));
    assert!(labels.len() >= 10, "{labels:?}");
    let report = eval_json(&e.labels, &e.findings);
    let rows = findings(&e.findings);
    assert_eq!(reported(&report), expected(&labels, &rows));

    // Sanity: the generator's attacks are found, and every rule line adds up.
    assert!(report["found"].as_u64() > Some(0) && report["true_findings"].as_u64() > Some(0), "{report:#}");
    for r in report["rules"].as_array().expect("rules") {
        assert_eq!(
            r["findings"].as_u64(),
            Some(r["true_findings"].as_u64().expect("t") + r["false_findings"].as_u64().expect("f"))
        );
    }
    let with_ids = labels.iter().filter(|l| !strs(&l["event_ids"]).is_empty()).count() as u64;
    assert_eq!(report["labels_by_event_ids"].as_u64(), Some(with_ids));
    assert_eq!(report["labels_by_actor_and_span"].as_u64(), Some(labels.len() as u64 - with_ids));

    // The table says the same, and the replay's output directory is accepted for its findings/.
    let text = ok(bin().args(["eval", "--labels"]).arg(&e.labels).arg(e.findings.parent().expect("out")));
    assert!(text.contains("by rule") && text.contains("by behaviour"), "{text}");
    assert!(text.contains(&format!("false findings above low: {}", report["false_above_low"])), "{text}");
    if with_ids < labels.len() as u64 {
        assert!(text.contains("matched by actor_key and time span"), "{text}");
    }

    // CI gates.
    let above = report["false_above_low"].as_u64().expect("n");
    let gate = |n: u64| {
        run(bin().args(["eval", "--max-false-above-low", &n.to_string(), "--labels"]).arg(&e.labels).arg(&e.findings))
    };
    assert!(gate(above).status.success());
    if above > 0 {
        let out = gate(above - 1);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--max-false-above-low"));
    }
    let miss = run(bin().args(["eval", "--fail-on-miss", "--labels"]).arg(&e.labels).arg(&e.findings));
    assert_eq!(miss.status.success(), report["missed"] == 0, "{}", String::from_utf8_lossy(&miss.stderr));
}

#[test]
fn a_hand_written_labels_file_with_event_ids_only() {
    let e = estate();
    let labels = ndjson(&std::fs::read_to_string(&e.labels).expect("labels"));
    // The ids of a labelled stage's events, looked up in the events file by actor and time.
    let text = std::fs::read_to_string(&e.events).expect("events");
    let events: Vec<Value> = ndjson(&text);
    let ids_of = |l: &Value| -> Vec<String> {
        let (start, end) = (l["start_ms"].as_i64().expect("start"), l["end_ms"].as_i64().expect("end"));
        let (start, end) = (trailhound_model::time::to_rfc3339(start), trailhound_model::time::to_rfc3339(end));
        events
            .iter()
            .filter(|ev| ev["userIdentity"]["accessKeyId"] == l["actor_key"])
            .filter(|ev| ev["eventTime"].as_str().is_some_and(|t| t[..19] >= start[..19] && t[..19] <= end[..19]))
            .filter_map(|ev| ev["eventID"].as_str().map(str::to_string))
            .collect()
    };
    // A stage whose rule holds one of its events in its evidence, by the test's own reckoning
    // (a finding's evidence is a sample of its earliest events, which can be the stolen
    // credential owner's own calls).
    let rows = findings(&e.findings);
    let (stage, ids) = labels
        .iter()
        .filter(|l| l["rule_id"] != "attack_chain")
        .map(|l| (l, ids_of(l)))
        .find(|(l, ids)| {
            let hand = json!({"rule_id": l["rule_id"], "event_ids": ids});
            !ids.is_empty() && expected(&[hand], &rows)["found"] == 1
        })
        .expect("a stage found by its rule through its event ids");
    let rule = stage["rule_id"].as_str().expect("rule");
    let hand = e.root.join("mine.ndjson");
    let lines = [
        "# my red-team exercise".to_string(),
        json!({"rule_id": rule, "event_ids": ids}).to_string(),
        json!({"scenario": "my_exercise", "event_ids": ids}).to_string(),
        json!({"rule_id": "enumeration_burst", "event_ids": ["00000000-0000-0000-0000-000000000000"]}).to_string(),
    ];
    std::fs::write(&hand, lines.join("\n") + "\n").expect("write");

    let report = eval_json(&hand, &e.findings);
    let hand_labels = ndjson(&std::fs::read_to_string(&hand).expect("read"));
    assert_eq!(reported(&report), expected(&hand_labels, &rows));
    assert_eq!(
        (report["labels"].as_u64(), report["found"].as_u64(), report["missed"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(report["labels_by_event_ids"].as_u64(), Some(3));
    assert_eq!(report["missed_behaviours"][0]["index"].as_u64(), Some(2));
    let behaviours: Vec<&str> =
        report["behaviours"].as_array().expect("b").iter().filter_map(|b| b["behaviour"].as_str()).collect();
    assert_eq!(
        behaviours,
        [rule, "enumeration_burst", "my_exercise"].into_iter().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()
    );

    let out = run(bin().args(["eval", "--fail-on-miss", "--labels"]).arg(&hand).arg(&e.findings));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("missed behaviours (1)") && stdout.contains("not found by any rule"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 labelled behaviours missed"));
    // Without the gate a miss is reported, not failed.
    ok(bin().args(["eval", "--labels"]).arg(&hand).arg(&e.findings));

    // Missing inputs and broken labels are clear errors.
    let fail = |labels: &Path, findings: &Path, needle: &str| {
        let out = run(bin().args(["eval", "--labels"]).arg(labels).arg(findings));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{needle}: {err}");
    };
    fail(&e.root.join("nope.ndjson"), &e.findings, "nope.ndjson");
    fail(&hand, &e.root.join("no-findings"), "does not exist");
    let broken = e.root.join("broken.ndjson");
    std::fs::write(&broken, "{\"rule_id\": \"x\", \"event_ids\": [\"a\"]}\n{\"event_ids\": [\"a\"]}\n").expect("write");
    fail(&broken, &e.findings, "line 2");
}
