//! Helpers for rule tests: events from JSON, Stratus detonations from the fixtures, and a
//! run of rules through a real [`Engine`] returning the final version of each finding.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use serde_json::{json, Value};
use trailhound_model::{Activity, Finding};
use trailhound_parse::{Collect, ParseConfig, Parser};

use crate::rules::Rule;
use crate::{DetectConfig, Engine};

/// 2026-01-01T00:00:00Z in ms.
pub const T0: i64 = 1_767_225_600_000;

/// Parses CloudTrail JSON lines into batches of `batch_rows`; panics on dead letters.
pub fn batches(lines: &[String], batch_rows: usize) -> Vec<RecordBatch> {
    let mut p = Parser::new(ParseConfig { batch_rows, ..Default::default() });
    let mut out = Collect::default();
    let text = lines.join("\n");
    trailhound_parse::read::read_stream(&mut p, text.as_bytes(), "test", &mut out).expect("in-memory read");
    p.flush(&mut out);
    assert!(out.dead.is_empty(), "test events must parse: {:?}", out.dead);
    out.batches
}

/// Every finding version published when `rules` run over `lines` (then `finish`).
pub fn run_all(rules: Vec<Box<dyn Rule>>, lines: &[String], batch_rows: usize) -> Vec<Finding> {
    run_all_with(&DetectConfig::default(), rules, lines, batch_rows)
}

/// [`run_all`] on `workers` worker threads.
pub fn run_workers(rules: Vec<Box<dyn Rule>>, lines: &[String], batch_rows: usize, workers: usize) -> Vec<Finding> {
    let mut cfg = DetectConfig::default();
    cfg.engine.workers = workers;
    run_all_with(&cfg, rules, lines, batch_rows)
}

/// [`run_all`] with the engine configured by `cfg`.
pub fn run_all_with(
    cfg: &DetectConfig,
    rules: Vec<Box<dyn Rule>>,
    lines: &[String],
    batch_rows: usize,
) -> Vec<Finding> {
    let mut engine = Engine::with_rules(cfg, rules);
    let mut all = Vec::new();
    for b in batches(lines, batch_rows) {
        all.extend(engine.process(&b).expect("process"));
    }
    all.extend(engine.finish().expect("finish"));
    all
}

/// The final version of each uid, with activity/revision cleared.
pub fn finals(all: &[Finding]) -> Vec<Finding> {
    let mut m = BTreeMap::new();
    for f in all {
        let mut f = f.clone();
        f.activity = Activity::Create;
        f.revision = 0;
        m.insert(f.uid.clone(), f);
    }
    m.into_values().collect()
}

/// Final findings of one rule over `lines`.
pub fn run(rule: Box<dyn Rule>, lines: &[String]) -> Vec<Finding> {
    finals(&run_all(vec![rule], lines, 8192))
}

/// The Stratus Red Team detonation events of one technique (e.g.
/// `aws.persistence.iam-create-admin-user`), in event-time order.
pub fn stratus(technique: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stratus");
    let events = std::fs::read_to_string(dir.join("events.ndjson")).expect("stratus events");
    let labels = std::fs::read_to_string(dir.join("labels.ndjson")).expect("stratus labels");
    let out: Vec<String> = events
        .lines()
        .zip(labels.lines())
        .filter(|(_, l)| serde_json::from_str::<Value>(l).is_ok_and(|v| v["technique"] == technique))
        .map(|(e, _)| e.to_string())
        .collect();
    assert!(!out.is_empty(), "no stratus events for {technique}");
    out
}

/// A CloudTrail event at `T0 + secs` by an identity, with fields merged from `extra`
/// (e.g. `json!({"requestParameters": {...}, "errorCode": "AccessDenied"})`).
pub fn event(secs: i64, identity: &Value, source: &str, name: &str, extra: Value) -> String {
    let mut v = json!({
        "eventVersion": "1.09",
        "eventTime": trailhound_model::time::to_rfc3339(T0 + secs * 1000),
        "eventID": format!("{name}-{secs}-{}", identity["accessKeyId"].as_str().unwrap_or("x")),
        "eventName": name,
        "eventSource": format!("{source}.amazonaws.com"),
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
        "recipientAccountId": "111122223333",
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "eventCategory": "Management",
        "userIdentity": identity,
    });
    if let (Some(base), Value::Object(more)) = (v.as_object_mut(), extra) {
        for (k, val) in more {
            base.insert(k, val);
        }
    }
    v.to_string()
}

/// An IAM user with a long-lived key.
pub fn iam_user(name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::111122223333:user/{name}"), "accountId": "111122223333", "accessKeyId": key, "userName": name})
}

/// An assumed-role session of `role` named `session`.
pub fn role_session(role: &str, session: &str, key: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROAEXAMPLE:{session}"),
        "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{session}"),
        "accountId": "111122223333",
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": format!("arn:aws:iam::111122223333:role/{role}"), "accountId": "111122223333", "userName": role},
            "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}
        }
    })
}

/// Asserts that a rule's documented configuration (`toml`, as in `config/trailhound.toml`)
/// parses to its defaults and documents every key.
pub fn assert_documented_default<C>(toml_text: &str)
where
    C: serde::de::DeserializeOwned + serde::Serialize + Default + PartialEq + std::fmt::Debug,
{
    let cfg: C = toml::from_str(toml_text).expect("valid");
    assert_eq!(cfg, C::default());
    let keys = toml::Table::try_from(C::default()).expect("table").len();
    assert_eq!(toml_text.lines().filter(|l| l.contains(" = ")).count(), keys, "every key documented");
}
