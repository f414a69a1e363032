//! Precision and recall of the findings against labelled attack behaviours
//! (`trailhound eval --labels FILE FINDINGS_DIR`).
//!
//! **Labels** are NDJSON, one object per labelled attack behaviour, as `trailhound gen
//! --labels` writes them (unknown fields are ignored):
//!
//! ```json
//! {"scenario": "enum_regions", "rule_id": "enumeration_burst", "actor_key": "ASIA…", "account": "…",
//!  "start_ms": 1793577600000, "end_ms": 1793577620000, "events": 17, "event_ids": ["…", "…"]}
//! ```
//!
//! A hand-written label needs `rule_id` (or `scenario`) and `event_ids` only. A label without
//! `event_ids` is matched by its `actor_key` and the overlap of `[start_ms, end_ms]` with a
//! finding's `[first_event_time, last_event_time]` instead (and `account` when both have one);
//! the report counts the labels matched each way.
//!
//! **Definitions** (the computation is [`evaluate`], a pure function):
//!
//! - A finding's *events* are its `evidence_event_ids`. An evidence id that is the uid of
//!   another finding (a correlator such as `attack_chain` lists its parts that way) stands for
//!   that finding's events, recursively.
//! - A finding is **true** when its events hold at least one labelled attack event (of any
//!   label), or, for labels without event ids, when it matches such a label by actor and time
//!   span; otherwise **false**. Precision = true / findings.
//! - A label is **found** when a finding of its `rule_id` matches it (holds one of its event
//!   ids, or matches by actor and span); **found by another rule** when only findings of other
//!   rules do; **missed** otherwise. A label with a `scenario` but no `rule_id` is found by a
//!   finding of any rule. Recall = found / labels.
//! - The behaviour of a label is its `scenario` (else its `rule_id`).
//! - *False findings above low*: false findings of severity `medium`, `high` or `critical`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use serde::{Deserialize, Serialize};
use trailhound_model::time::to_rfc3339;

use crate::schema::col;
use crate::LakeError;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The labels file could not be read.
    #[error("cannot read labels file {}: {source}", path.display())]
    LabelsIo {
        /// The labels file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the labels file is not a usable label.
    #[error("labels file {}, line {line}: {reason}", path.display())]
    BadLabel {
        /// The labels file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The findings directory does not exist or is not a directory.
    #[error("findings directory {}: {reason}", path.display())]
    FindingsDir {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the findings failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// One labelled attack behaviour (one line of the labels file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Scenario (behaviour) name, e.g. `enum_regions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Rule expected to find it, e.g. `enumeration_burst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// The actor (access key id or principal) the attacker acted as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_key: Option<String>,
    /// Account attacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Event time of its first event, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// Event time of its last event, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// Provider event ids (CloudTrail `eventID`) of its events; empty when not known.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub event_ids: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl Label {
    /// The behaviour the label belongs to: its `scenario`, else its `rule_id`.
    pub fn behaviour(&self) -> &str {
        self.scenario.as_deref().or(self.rule_id.as_deref()).unwrap_or("")
    }

    /// Whether it is matched by event ids (else by actor and time span).
    pub fn by_event_ids(&self) -> bool {
        !self.event_ids.is_empty()
    }

    /// Whether `f` (with its expanded event set `events`) matches this label.
    fn matches(&self, f: &FindingRow, events: &HashSet<&str>) -> bool {
        if self.by_event_ids() {
            return self.event_ids.iter().any(|id| events.contains(id.as_str()));
        }
        let Some(actor) = &self.actor_key else { return false };
        if *actor != f.actor_key {
            return false;
        }
        if let (Some(a), Some(b)) = (&self.account, &f.account) {
            if a != b {
                return false;
            }
        }
        self.start_ms.is_none_or(|s| f.last_event_ms >= s) && self.end_ms.is_none_or(|e| f.first_event_ms <= e)
    }
}

/// The columns of one finding (newest version) that the evaluation needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    /// Finding uid.
    pub uid: String,
    /// Rule that fired.
    pub rule_id: String,
    /// Lower-case severity name.
    pub severity: String,
    /// Actor key.
    pub actor_key: String,
    /// Account, when known.
    pub account: Option<String>,
    /// First supporting event, ms since the epoch.
    pub first_event_ms: i64,
    /// Last supporting event, ms since the epoch.
    pub last_event_ms: i64,
    /// Evidence event ids (or, for correlators, uids of other findings).
    pub evidence_event_ids: Vec<String>,
    /// One-line summaries of the evidence, in the order of `evidence_event_ids`.
    pub evidence: Vec<String>,
}

/// Whether a severity name is above `low` (medium, high, critical).
pub fn above_low(severity: &str) -> bool {
    matches!(severity, "medium" | "high" | "critical")
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// Precision and recall of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStats {
    /// Rule id.
    pub rule_id: String,
    /// Findings of the rule.
    pub findings: usize,
    /// Of which true.
    pub true_findings: usize,
    /// Of which false.
    pub false_findings: usize,
    /// true / findings (`None` without findings).
    pub precision: Option<f64>,
    /// Labels of the rule.
    pub labels: usize,
    /// Of which found by the rule.
    pub found: usize,
    /// Of which not found by the rule but by another rule.
    pub found_by_other_rule: usize,
    /// found / labels (`None` without labels).
    pub recall: Option<f64>,
}

/// Recall of one labelled behaviour (scenario).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviourStats {
    /// Scenario name (or rule id for labels without one).
    pub behaviour: String,
    /// Labels of the behaviour.
    pub labels: usize,
    /// Of which found by their rule.
    pub found: usize,
    /// Of which found only by another rule.
    pub found_by_other_rule: usize,
    /// found / labels.
    pub recall: Option<f64>,
}

/// A false finding, for the list of false findings above low.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FalseFinding {
    /// Finding uid.
    pub uid: String,
    /// Rule.
    pub rule_id: String,
    /// Severity.
    pub severity: String,
    /// Actor key.
    pub actor_key: String,
    /// First supporting event, ms since the epoch.
    pub first_event_ms: i64,
    /// The first evidence line, if any.
    pub first_evidence: Option<String>,
}

/// A label its rule did not find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedLabel {
    /// Position of the label in the input (0-based; the labels file's line order).
    pub index: usize,
    /// Its behaviour.
    pub behaviour: String,
    /// Its rule.
    pub rule_id: Option<String>,
    /// Its actor.
    pub actor_key: Option<String>,
    /// Its first event time.
    pub start_ms: Option<i64>,
    /// How many event ids it has (0: matched by actor and span).
    pub event_ids: usize,
    /// Rules whose findings hold its events instead (empty: nothing found it).
    pub found_by_rules: Vec<String>,
}

/// The result of [`evaluate`]. Serialises as the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Labels evaluated.
    pub labels: usize,
    /// Labels matched by their event ids.
    pub labels_by_event_ids: usize,
    /// Labels without event ids, matched by actor key and time span.
    pub labels_by_actor_and_span: usize,
    /// Findings evaluated (newest version of each).
    pub findings: usize,
    /// Findings holding a labelled attack event.
    pub true_findings: usize,
    /// Findings holding none.
    pub false_findings: usize,
    /// true / findings (`None` without findings).
    pub precision: Option<f64>,
    /// Labels found by their rule.
    pub found: usize,
    /// Labels found only by another rule.
    pub found_by_other_rule: usize,
    /// Labels not found by their rule (`found_by_other_rule` included).
    pub missed: usize,
    /// found / labels (`None` without labels).
    pub recall: Option<f64>,
    /// False findings of severity medium, high or critical.
    pub false_above_low: usize,
    /// False findings per severity.
    pub false_by_severity: BTreeMap<String, usize>,
    /// Per rule (every rule with a finding or a label), by rule id.
    pub rules: Vec<RuleStats>,
    /// Per behaviour, by name.
    pub behaviours: Vec<BehaviourStats>,
    /// The false findings above low, most severe first.
    pub false_findings_above_low: Vec<FalseFinding>,
    /// The labels not found by their rule, in input order.
    pub missed_behaviours: Vec<MissedLabel>,
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The event ids a finding stands for: its evidence ids, with ids that are uids of other
/// findings replaced by those findings' events (recursively).
fn expanded_events<'a>(start: usize, findings: &'a [FindingRow], by_uid: &HashMap<&'a str, usize>) -> HashSet<&'a str> {
    let mut events = HashSet::new();
    let mut seen = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        for id in &findings[i].evidence_event_ids {
            match by_uid.get(id.as_str()) {
                Some(&j) => {
                    if seen.insert(j) {
                        stack.push(j);
                    }
                }
                None => {
                    events.insert(id.as_str());
                }
            }
        }
    }
    events
}

/// Evaluates `findings` against `labels` (see the module documentation for the definitions).
pub fn evaluate(labels: &[Label], findings: &[FindingRow]) -> EvalReport {
    let by_uid: HashMap<&str, usize> = findings.iter().enumerate().map(|(i, f)| (f.uid.as_str(), i)).collect();
    let events: Vec<HashSet<&str>> = (0..findings.len()).map(|i| expanded_events(i, findings, &by_uid)).collect();
    let attack_events: HashSet<&str> = labels.iter().flat_map(|l| l.event_ids.iter().map(String::as_str)).collect();
    let span_labels: Vec<&Label> = labels.iter().filter(|l| !l.by_event_ids()).collect();

    let is_true: Vec<bool> = findings
        .iter()
        .zip(&events)
        .map(|(f, ev)| ev.iter().any(|e| attack_events.contains(e)) || span_labels.iter().any(|l| l.matches(f, ev)))
        .collect();

    #[derive(Default)]
    struct Acc {
        findings: usize,
        true_findings: usize,
        labels: usize,
        found: usize,
        other: usize,
    }
    let mut rules: BTreeMap<&str, Acc> = BTreeMap::new();
    let mut behaviours: BTreeMap<&str, Acc> = BTreeMap::new();
    let mut false_by_severity: BTreeMap<String, usize> = BTreeMap::new();
    let mut false_above: Vec<FalseFinding> = Vec::new();
    for (f, &t) in findings.iter().zip(&is_true) {
        let r = rules.entry(f.rule_id.as_str()).or_default();
        r.findings += 1;
        if t {
            r.true_findings += 1;
            continue;
        }
        *false_by_severity.entry(f.severity.clone()).or_default() += 1;
        if above_low(&f.severity) {
            false_above.push(FalseFinding {
                uid: f.uid.clone(),
                rule_id: f.rule_id.clone(),
                severity: f.severity.clone(),
                actor_key: f.actor_key.clone(),
                first_event_ms: f.first_event_ms,
                first_evidence: f.evidence.first().cloned(),
            });
        }
    }
    false_above.sort_by(|a, b| {
        severity_rank(&b.severity)
            .cmp(&severity_rank(&a.severity))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.first_event_ms.cmp(&b.first_event_ms))
            .then_with(|| a.uid.cmp(&b.uid))
    });

    let mut missed = Vec::new();
    let mut found_total = 0;
    let mut other_total = 0;
    for (index, l) in labels.iter().enumerate() {
        let matching: BTreeSet<&str> =
            findings.iter().zip(&events).filter(|(f, ev)| l.matches(f, ev)).map(|(f, _)| f.rule_id.as_str()).collect();
        let found = match &l.rule_id {
            Some(rule) => matching.contains(rule.as_str()),
            None => !matching.is_empty(),
        };
        let other = !found && !matching.is_empty();
        found_total += usize::from(found);
        other_total += usize::from(other);
        let count = |acc: &mut Acc| {
            acc.labels += 1;
            acc.found += usize::from(found);
            acc.other += usize::from(other);
        };
        if let Some(rule) = &l.rule_id {
            count(rules.entry(rule.as_str()).or_default());
        }
        count(behaviours.entry(l.behaviour()).or_default());
        if !found {
            missed.push(MissedLabel {
                index,
                behaviour: l.behaviour().to_string(),
                rule_id: l.rule_id.clone(),
                actor_key: l.actor_key.clone(),
                start_ms: l.start_ms,
                event_ids: l.event_ids.len(),
                found_by_rules: matching.iter().map(|s| s.to_string()).collect(),
            });
        }
    }

    let true_findings = is_true.iter().filter(|t| **t).count();
    EvalReport {
        labels: labels.len(),
        labels_by_event_ids: labels.len() - span_labels.len(),
        labels_by_actor_and_span: span_labels.len(),
        findings: findings.len(),
        true_findings,
        false_findings: findings.len() - true_findings,
        precision: ratio(true_findings, findings.len()),
        found: found_total,
        found_by_other_rule: other_total,
        missed: labels.len() - found_total,
        recall: ratio(found_total, labels.len()),
        false_above_low: false_above.len(),
        false_by_severity,
        rules: rules
            .into_iter()
            .map(|(rule, a)| RuleStats {
                rule_id: rule.to_string(),
                findings: a.findings,
                true_findings: a.true_findings,
                false_findings: a.findings - a.true_findings,
                precision: ratio(a.true_findings, a.findings),
                labels: a.labels,
                found: a.found,
                found_by_other_rule: a.other,
                recall: ratio(a.found, a.labels),
            })
            .collect(),
        behaviours: behaviours
            .into_iter()
            .map(|(b, a)| BehaviourStats {
                behaviour: b.to_string(),
                labels: a.labels,
                found: a.found,
                found_by_other_rule: a.other,
                recall: ratio(a.found, a.labels),
            })
            .collect(),
        false_findings_above_low: false_above,
        missed_behaviours: missed,
    }
}

/// Parses a labels file's text (NDJSON; blank lines and lines starting with `#` are skipped).
///
/// Every label needs `rule_id` or `scenario`, and either `event_ids` or an `actor_key` (with
/// optional `start_ms`/`end_ms`) to be matched by. `path` only names the file in errors.
pub fn parse_labels(text: &str, path: &Path) -> Result<Vec<Label>, EvalError> {
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| EvalError::BadLabel { path: path.to_path_buf(), line: i + 1, reason };
        let label: Label = serde_json::from_str(line).map_err(|e| bad(format!("not a label object: {e}")))?;
        if label.rule_id.is_none() && label.scenario.is_none() {
            return Err(bad("a label needs `rule_id` (or `scenario`)".into()));
        }
        if label.event_ids.is_empty() && label.actor_key.is_none() {
            return Err(bad("a label needs `event_ids` (or `actor_key` with `start_ms`/`end_ms`)".into()));
        }
        labels.push(label);
    }
    Ok(labels)
}

/// Reads and parses a labels file (see [`parse_labels`]).
pub fn read_labels(path: &Path) -> Result<Vec<Label>, EvalError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| EvalError::LabelsIo { path: path.to_path_buf(), source })?;
    parse_labels(&text, path)
}

/// The findings directory to read for `dir`: `dir` itself, or `dir/findings` when `dir` is a
/// replay output directory (it has a `findings` directory and no `dt=` partition of its own).
/// A missing path or a file is an error.
pub fn resolve_findings_dir(dir: &Path) -> Result<PathBuf, EvalError> {
    let err = |reason: &str| EvalError::FindingsDir { path: dir.to_path_buf(), reason: reason.into() };
    let meta = std::fs::metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => err("does not exist"),
        _ => err(&e.to_string()),
    })?;
    if !meta.is_dir() {
        return Err(err("is not a directory"));
    }
    let nested = dir.join("findings");
    let has_partitions = std::fs::read_dir(dir)
        .map_err(|e| err(&e.to_string()))?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("dt="));
    Ok(if !has_partitions && nested.is_dir() { nested } else { dir.to_path_buf() })
}

/// The SQL [`read_findings`] runs over the `findings` view.
const FINDINGS_SQL: &str = "SELECT uid, rule_id, severity, actor_key, account, \
     CAST(first_event_time AS BIGINT) AS first_ms, CAST(last_event_time AS BIGINT) AS last_ms, \
     evidence_event_ids, evidence FROM findings ORDER BY uid";

/// Reads the newest version of every finding under `dir` (see [`resolve_findings_dir`])
/// through the DataFusion query layer.
pub async fn read_findings(dir: &Path) -> Result<Vec<FindingRow>, EvalError> {
    let dir = resolve_findings_dir(dir)?;
    let batches = crate::query(&dir, FINDINGS_SQL).await?;
    let mut rows = Vec::new();
    for b in &batches {
        rows_of(b, &mut rows)?;
    }
    Ok(rows)
}

fn rows_of(b: &RecordBatch, out: &mut Vec<FindingRow>) -> Result<(), LakeError> {
    let column = |name: &str| {
        b.column_by_name(name).ok_or_else(|| LakeError::BadInput(format!("findings query has no column {name}")))
    };
    let string = |name: &str| -> Result<_, LakeError> {
        column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| LakeError::BadInput(format!("findings column {name} is not a string")))
    };
    let int = |name: &str| -> Result<_, LakeError> {
        column(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| LakeError::BadInput(format!("findings column {name} is not an int64")))
    };
    let list = |name: &str| -> Result<_, LakeError> {
        column(name)?
            .as_list_opt::<i32>()
            .ok_or_else(|| LakeError::BadInput(format!("findings column {name} is not a list")))
    };
    let (uid, rule, sev, actor, account) = (
        string(col::UID)?,
        string(col::RULE_ID)?,
        string(col::SEVERITY)?,
        string(col::ACTOR_KEY)?,
        string(col::ACCOUNT)?,
    );
    let (first, last) = (int("first_ms")?, int("last_ms")?);
    let (ids, evidence) = (list(col::EVIDENCE_EVENT_IDS)?, list(col::EVIDENCE)?);
    let strings = |l: &arrow::array::ListArray, i: usize| -> Result<Vec<String>, LakeError> {
        if l.is_null(i) {
            return Ok(Vec::new());
        }
        let v = l.value(i);
        let s = v.as_string_opt::<i32>().ok_or_else(|| LakeError::BadInput("list element is not a string".into()))?;
        Ok(s.iter().flatten().map(str::to_string).collect())
    };
    for i in 0..b.num_rows() {
        out.push(FindingRow {
            uid: uid.value(i).to_string(),
            rule_id: rule.value(i).to_string(),
            severity: sev.value(i).to_string(),
            actor_key: actor.value(i).to_string(),
            account: (!account.is_null(i)).then(|| account.value(i).to_string()),
            first_event_ms: first.value(i),
            last_event_ms: last.value(i),
            evidence_event_ids: strings(ids, i)?,
            evidence: strings(evidence, i)?,
        });
    }
    Ok(())
}

/// Reads `labels` and the findings under `findings_dir` and evaluates them.
pub async fn evaluate_files(labels: &Path, findings_dir: &Path) -> Result<EvalReport, EvalError> {
    let labels = read_labels(labels)?;
    let findings = read_findings(findings_dir).await?;
    Ok(evaluate(&labels, &findings))
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), to_rfc3339)
}

impl EvalReport {
    /// The readable report `trailhound eval` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "findings     {:>5}   true {}   false {}   precision {}",
            self.findings,
            self.true_findings,
            self.false_findings,
            pct(self.precision)
        );
        let _ = writeln!(
            s,
            "behaviours   {:>5}   found {}   missed {} ({} of them found by another rule)   recall {}",
            self.labels,
            self.found,
            self.missed,
            self.found_by_other_rule,
            pct(self.recall)
        );
        let _ = writeln!(s, "false findings above low: {}", self.false_above_low);
        if self.labels_by_actor_and_span > 0 {
            let _ = writeln!(
                s,
                "note: {} of {} labels have no event_ids; they are matched by actor_key and time span overlap",
                self.labels_by_actor_and_span, self.labels
            );
        }

        let _ = writeln!(s, "\nby rule");
        let _ = writeln!(
            s,
            "  {:<28} {:>8} {:>5} {:>5} {:>9}   {:>6} {:>5} {:>5} {:>7}",
            "rule", "findings", "true", "false", "precision", "labels", "found", "other", "recall"
        );
        for r in &self.rules {
            let _ = writeln!(
                s,
                "  {:<28} {:>8} {:>5} {:>5} {:>9}   {:>6} {:>5} {:>5} {:>7}",
                r.rule_id,
                r.findings,
                r.true_findings,
                r.false_findings,
                pct(r.precision),
                r.labels,
                r.found,
                r.found_by_other_rule,
                pct(r.recall)
            );
        }
        let _ = writeln!(s, "  (other: labels of the rule found only by another rule's findings)");

        let _ = writeln!(s, "\nby behaviour");
        let _ = writeln!(s, "  {:<28} {:>6} {:>5} {:>5} {:>7}", "behaviour", "labels", "found", "other", "recall");
        for b in &self.behaviours {
            let _ = writeln!(
                s,
                "  {:<28} {:>6} {:>5} {:>5} {:>7}",
                b.behaviour,
                b.labels,
                b.found,
                b.found_by_other_rule,
                pct(b.recall)
            );
        }

        if !self.false_by_severity.is_empty() {
            let mut sev: Vec<(&String, &usize)> = self.false_by_severity.iter().collect();
            sev.sort_by_key(|(s, _)| std::cmp::Reverse(severity_rank(s)));
            let parts: Vec<String> = sev.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let _ = writeln!(s, "\nfalse findings by severity: {}", parts.join(", "));
        }
        if !self.false_findings_above_low.is_empty() {
            let _ = writeln!(s, "\nfalse findings above low ({})", self.false_findings_above_low.len());
            for f in &self.false_findings_above_low {
                let _ = writeln!(
                    s,
                    "  {}  {:<24} {:<8} {:<22} {}  {}",
                    f.uid,
                    f.rule_id,
                    f.severity,
                    f.actor_key,
                    to_rfc3339(f.first_event_ms),
                    f.first_evidence.as_deref().unwrap_or("-")
                );
            }
        }
        if !self.missed_behaviours.is_empty() {
            let _ = writeln!(s, "\nmissed behaviours ({})", self.missed_behaviours.len());
            for m in &self.missed_behaviours {
                let by = if m.found_by_rules.is_empty() {
                    "not found by any rule".to_string()
                } else {
                    format!("found by {} instead", m.found_by_rules.join(", "))
                };
                let _ = writeln!(
                    s,
                    "  label {:>3}  {:<28} {:<24} {:<22} {}  {} event ids  {}",
                    m.index + 1,
                    m.behaviour,
                    m.rule_id.as_deref().unwrap_or("(any rule)"),
                    m.actor_key.as_deref().unwrap_or("-"),
                    time(m.start_ms),
                    m.event_ids,
                    by
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: &str, rule: &str, severity: &str, actor: &str, t: i64, ids: &[&str]) -> FindingRow {
        FindingRow {
            uid: uid.into(),
            rule_id: rule.into(),
            severity: severity.into(),
            actor_key: actor.into(),
            account: Some("111122223333".into()),
            first_event_ms: t,
            last_event_ms: t + 10_000,
            evidence_event_ids: ids.iter().map(|s| s.to_string()).collect(),
            evidence: ids.iter().map(|s| format!("summary of {s}")).collect(),
        }
    }

    fn label(scenario: &str, rule: &str, ids: &[&str]) -> Label {
        Label {
            scenario: Some(scenario.into()),
            rule_id: Some(rule.into()),
            event_ids: ids.iter().map(|s| s.to_string()).collect(),
            ..Label::default()
        }
    }

    fn rule<'a>(r: &'a EvalReport, id: &str) -> &'a RuleStats {
        r.rules.iter().find(|s| s.rule_id == id).expect(id)
    }

    #[test]
    fn true_and_false_findings_and_precision_per_rule() {
        let labels = [label("enum_regions", "enumeration_burst", &["e1", "e2"])];
        let findings = [
            row("f1", "enumeration_burst", "medium", "ASIA1", 0, &["x", "e2"]),
            row("f2", "enumeration_burst", "high", "AKIA2", 0, &["b1"]),
            row("f3", "credential_harvesting", "low", "AKIA3", 0, &["b2"]),
            row("f4", "defense_evasion", "critical", "AKIA4", 5, &[]),
        ];
        let r = evaluate(&labels, &findings);
        assert_eq!((r.findings, r.true_findings, r.false_findings), (4, 1, 3));
        assert_eq!(r.precision, Some(0.25));
        let e = rule(&r, "enumeration_burst");
        assert_eq!((e.findings, e.true_findings, e.false_findings, e.labels, e.found), (2, 1, 1, 1, 1));
        assert_eq!((e.precision, e.recall), (Some(0.5), Some(1.0)));
        let c = rule(&r, "credential_harvesting");
        assert_eq!((c.labels, c.recall), (0, None));
        // Above low: the high and the critical one, most severe first; the low one is not listed.
        assert_eq!(r.false_above_low, 2);
        let listed: Vec<&str> = r.false_findings_above_low.iter().map(|f| f.uid.as_str()).collect();
        assert_eq!(listed, ["f4", "f2"]);
        assert_eq!(r.false_findings_above_low[1].first_evidence.as_deref(), Some("summary of b1"));
        assert_eq!(r.false_findings_above_low[0].first_evidence, None);
        assert_eq!(
            r.false_by_severity,
            BTreeMap::from([("critical".into(), 1), ("high".into(), 1), ("low".into(), 1)])
        );
        assert_eq!((r.found, r.missed, r.recall), (1, 0, Some(1.0)));
        assert!(r.missed_behaviours.is_empty());
        let text = r.to_text();
        assert!(text.contains("false findings above low: 2"), "{text}");
        assert!(text.contains("summary of b1"), "{text}");
    }

    #[test]
    fn found_by_own_rule_versus_only_by_another_rule() {
        let labels = [
            label("gpu_sprawl", "enumeration_burst", &["r1", "r2"]),
            label("gpu_sprawl", "instance_sprawl", &["l1", "l2"]),
            label("gpu_sprawl", "termination_protection", &["t1"]),
        ];
        let findings = [
            row("f1", "enumeration_burst", "medium", "ASIA1", 0, &["r1"]),
            // The sprawl events only reached a finding of another rule.
            row("f2", "termination_protection", "high", "ASIA1", 0, &["t1", "l2"]),
        ];
        let r = evaluate(&labels, &findings);
        assert_eq!((r.found, r.found_by_other_rule, r.missed), (2, 1, 1));
        let s = rule(&r, "instance_sprawl");
        assert_eq!((s.findings, s.labels, s.found, s.found_by_other_rule, s.recall), (0, 1, 0, 1, Some(0.0)));
        assert_eq!(s.precision, None);
        assert_eq!(r.missed_behaviours.len(), 1);
        let m = &r.missed_behaviours[0];
        assert_eq!((m.index, m.rule_id.as_deref()), (1, Some("instance_sprawl")));
        assert_eq!(m.found_by_rules, ["termination_protection"]);
        let b = &r.behaviours[0];
        assert_eq!((b.behaviour.as_str(), b.labels, b.found, b.found_by_other_rule), ("gpu_sprawl", 3, 2, 1));
        assert!(r.to_text().contains("found by termination_protection instead"));
        assert_eq!(r.true_findings, 2);
    }

    #[test]
    fn a_correlator_stands_for_the_events_of_its_parts() {
        let labels = [label("defense_evasion", "attack_chain", &["a", "b", "c"])];
        let findings = [
            row("part1", "enumeration_burst", "medium", "ASIA1", 0, &["a"]),
            row("part2", "defense_evasion", "high", "ASIA1", 0, &["zz"]),
            row("chain", "attack_chain", "critical", "ASIA1", 0, &["part1", "part2"]),
            // A cycle must not hang.
            row("loop", "attack_chain", "critical", "ASIA9", 0, &["loop"]),
        ];
        let r = evaluate(&labels, &findings);
        assert_eq!(rule(&r, "attack_chain").found, 1);
        assert_eq!(rule(&r, "attack_chain").true_findings, 1);
        assert_eq!(rule(&r, "defense_evasion").false_findings, 1);
        assert_eq!(r.false_above_low, 2);
    }

    #[test]
    fn labels_without_event_ids_fall_back_to_actor_and_time_span() {
        let span = |rule: &str, actor: &str, start: i64, end: i64| Label {
            scenario: Some("enum_regions".into()),
            rule_id: Some(rule.into()),
            actor_key: Some(actor.into()),
            account: Some("111122223333".into()),
            start_ms: Some(start),
            end_ms: Some(end),
            ..Label::default()
        };
        let labels = [
            span("enumeration_burst", "ASIA1", 5_000, 8_000), // overlaps f1 [0, 10s]
            span("enumeration_burst", "ASIA1", 20_000, 30_000), // after f1
            span("enumeration_burst", "ASIA2", 0, 30_000),    // other actor
        ];
        let mut other_account = row("f3", "enumeration_burst", "high", "ASIA1", 20_000, &["b"]);
        other_account.account = Some("999999999999".into());
        let findings = [row("f1", "enumeration_burst", "high", "ASIA1", 0, &["a"]), other_account];
        let r = evaluate(&labels, &findings);
        assert_eq!((r.labels_by_event_ids, r.labels_by_actor_and_span), (0, 3));
        assert_eq!((r.found, r.missed), (1, 2));
        assert_eq!((r.true_findings, r.false_findings), (1, 1));
        assert!(r.to_text().contains("no event_ids"), "{}", r.to_text());
    }

    #[test]
    fn a_label_without_rule_is_found_by_any_rule() {
        let labels = [Label { scenario: Some("my_red_team".into()), event_ids: vec!["e1".into()], ..Label::default() }];
        let r = evaluate(&labels, &[row("f1", "defense_evasion", "high", "A", 0, &["e1"])]);
        assert_eq!((r.found, r.missed, r.found_by_other_rule), (1, 0, 0));
        assert_eq!(r.behaviours[0].behaviour, "my_red_team");
        assert_eq!(rule(&r, "defense_evasion").labels, 0);
    }

    #[test]
    fn empty_inputs() {
        let r = evaluate(&[], &[]);
        assert_eq!((r.labels, r.findings, r.precision, r.recall), (0, 0, None, None));
        assert!(r.rules.is_empty() && r.behaviours.is_empty());
        assert!(r.to_text().contains("precision -"));

        let r = evaluate(&[label("s", "r", &["e"])], &[]);
        assert_eq!((r.missed, r.recall), (1, Some(0.0)));
        assert!(r.to_text().contains("not found by any rule"));

        let r = evaluate(&[], &[row("f", "r", "medium", "A", 0, &["e"])]);
        assert_eq!((r.false_findings, r.false_above_low, r.precision), (1, 1, Some(0.0)));
    }

    #[test]
    fn labels_parse_with_unknown_fields_defaults_and_checks() {
        let p = Path::new("labels.ndjson");
        let text = r#"{"scenario":"enum_regions","rule_id":"enumeration_burst","actor_key":"ASIA1","account":"1","start_ms":1,"end_ms":2,"events":17,"future":true}

# a comment
{"rule_id":"defense_evasion","event_ids":["e1","e2"]}
{"scenario":"x","event_ids":null,"actor_key":"A"}
"#;
        let labels = parse_labels(text, p).expect("labels");
        assert_eq!(labels.len(), 3);
        assert!(labels[0].event_ids.is_empty() && !labels[0].by_event_ids());
        assert_eq!(labels[1].event_ids, ["e1", "e2"]);
        assert_eq!(labels[1].behaviour(), "defense_evasion");
        assert_eq!(labels[2].behaviour(), "x");

        let err = parse_labels("{\"event_ids\":[\"e\"]}\n", p).expect_err("no rule");
        assert!(err.to_string().contains("line 1") && err.to_string().contains("rule_id"), "{err}");
        let err = parse_labels("\n{\"rule_id\":\"r\"}", p).expect_err("nothing to match");
        assert!(err.to_string().contains("line 2") && err.to_string().contains("event_ids"), "{err}");
        let err = parse_labels("not json", p).expect_err("json");
        assert!(matches!(err, EvalError::BadLabel { line: 1, .. }), "{err}");
    }

    #[test]
    fn missing_paths_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = read_labels(&dir.path().join("nope.ndjson")).expect_err("missing labels");
        assert!(matches!(err, EvalError::LabelsIo { .. }), "{err}");
        let err = resolve_findings_dir(&dir.path().join("nope")).expect_err("missing dir");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        assert!(resolve_findings_dir(&file).is_err());
        // A replay output directory resolves to its findings/.
        std::fs::create_dir(dir.path().join("findings")).expect("mkdir");
        assert_eq!(resolve_findings_dir(dir.path()).expect("dir"), dir.path().join("findings"));
    }

    #[tokio::test]
    async fn reads_findings_written_by_the_writer() {
        use crate::test_support::finding;
        use crate::{FindingsWriter, WriterOptions};
        let dir = tempfile::tempdir().expect("tmp");
        let mut f = finding("enumeration_burst", "ASIA1", 1_000);
        f.evidence.push(trailhound_model::Evidence { time: 1_000, event_id: "e1".into(), summary: "ec2:X".into() });
        let g = finding("defense_evasion", "AKIA2", 2_000);
        let mut w = FindingsWriter::new(dir.path(), WriterOptions::default()).expect("writer");
        w.write(&f);
        w.write(&g);
        w.flush().expect("flush");
        let rows = read_findings(dir.path()).await.expect("read");
        assert_eq!(rows.len(), 2);
        let r = rows.iter().find(|r| r.uid == f.uid).expect("f");
        assert_eq!((r.rule_id.as_str(), r.severity.as_str(), r.first_event_ms), ("enumeration_burst", "high", 1_000));
        assert_eq!((r.evidence_event_ids.clone(), r.evidence.clone()), (vec!["e1".into()], vec!["ec2:X".into()]));
        let report = evaluate(&[label("s", "enumeration_burst", &["e1"])], &rows);
        assert_eq!((report.true_findings, report.false_findings, report.found), (1, 1, 1));
    }
}
