//! Findings: what a rule emits, what the findings topic and the Parquet lake carry.
//!
//! A [`Finding`] is provider-neutral and compact; [`Finding::to_ocsf`] renders it as an OCSF
//! 1.3 Detection Finding (`class_uid` 2004). Its [`uid`](Finding::uid) is deterministic
//! (`hash(rule, key, anchor)`, see [`Finding::make_uid`]): a replay or a restart produces the
//! same uids, and a finding that grows is re-published with the same uid and
//! [`Activity::Update`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::time::{to_rfc3339, EventTime};
use crate::IdentityClass;

/// Severity, with OCSF's `severity_id` numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// OCSF 1.
    Informational,
    /// OCSF 2.
    Low,
    /// OCSF 3.
    Medium,
    /// OCSF 4.
    High,
    /// OCSF 5.
    Critical,
}

impl Severity {
    /// OCSF `severity_id`.
    pub fn ocsf_id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    /// Lower-case name used in columns, config and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// OCSF display name (`High`).
    pub fn ocsf_name(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// One step up, saturating at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Informational => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }

    /// One step down, saturating at informational.
    pub fn lowered(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium => Severity::Low,
            Severity::Low | Severity::Informational => Severity::Informational,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OCSF activity of a published finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// First publication of this uid (OCSF `activity_id` 1).
    Create,
    /// The finding grew: more evidence, higher severity (OCSF `activity_id` 2).
    Update,
}

impl Activity {
    /// OCSF `activity_id`.
    pub fn ocsf_id(self) -> u8 {
        match self {
            Activity::Create => 1,
            Activity::Update => 2,
        }
    }
}

/// One event that supports a finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    /// Event time.
    pub time: EventTime,
    /// Provider event id.
    pub event_id: String,
    /// One line: `iam:CreateAccessKey user=bob (AccessDenied) us-east-1`.
    pub summary: String,
}

/// A detection finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Deterministic id: [`Finding::make_uid`] of rule, key and anchor.
    pub uid: String,
    /// Id of the rule that produced it (= its file name and config key).
    pub rule_id: String,
    /// Short title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Confidence, 0–100.
    pub confidence: u8,
    /// ATT&CK tactic ids (`TA0007`).
    pub tactic_ids: Vec<String>,
    /// ATT&CK technique ids (`T1580`, `T1087.004`).
    pub technique_ids: Vec<String>,
    /// Cloud provider (`aws`).
    pub provider: String,
    /// The identity state was keyed by (access key id or principal).
    pub actor_key: String,
    /// Principal ARN, when known.
    pub actor_arn: Option<String>,
    /// Identity class of the actor.
    pub identity_class: IdentityClass,
    /// Account acted in.
    pub account: Option<String>,
    /// Regions touched, sorted.
    pub regions: Vec<String>,
    /// Event time of the first supporting event.
    pub first_event_time: EventTime,
    /// Event time of the last supporting event.
    pub last_event_time: EventTime,
    /// Number of supporting events.
    pub event_count: u64,
    /// A bounded, deterministic sample of the supporting events (earliest first).
    pub evidence: Vec<Evidence>,
    /// Baseline or threshold facts that made this unusual.
    pub context: Vec<String>,
    /// One paragraph saying what happened.
    pub summary: String,
    /// One line saying what to do.
    pub remediation: String,
    /// Create for the first publication of the uid, Update afterwards.
    pub activity: Activity,
    /// 0 for the first publication, then +1 for each update.
    pub revision: u32,
    /// Other credentials this finding ties to the actor (e.g. the key that created a backdoor
    /// key): attack chains group the finding under each of them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_actor_keys: Vec<String>,
}

impl Finding {
    /// `hash(rule, key, anchor)` as 16 hex digits: the same for a replay or a restart.
    pub fn make_uid(rule_id: &str, key: &str, anchor: EventTime) -> String {
        let h = crate::stable_hash(&[rule_id.as_bytes(), key.as_bytes(), &anchor.to_le_bytes()]);
        format!("{h:016x}")
    }

    /// The OCSF 1.3 Detection Finding (class 2004) for this finding.
    pub fn to_ocsf(&self) -> Value {
        let attacks: Vec<Value> = self
            .technique_ids
            .iter()
            .map(|t| {
                let tactic = self.tactic_ids.first().map(|id| {
                    let name = crate::attack::tactic(id).map(|t| t.name).unwrap_or("");
                    json!({ "uid": id, "name": name })
                });
                json!({ "technique": { "uid": t }, "tactic": tactic, "version": "v15" })
            })
            .collect();
        let related: Vec<Value> =
            self.evidence.iter().map(|e| json!({ "uid": e.event_id, "time": e.time, "message": e.summary })).collect();
        let activity_name = match self.activity {
            crate::Activity::Create => "Create",
            crate::Activity::Update => "Update",
        };
        let (confidence_id, confidence) = match self.confidence {
            0..=39 => (1, "Low"),
            40..=74 => (2, "Medium"),
            _ => (3, "High"),
        };
        json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "category_name": "Findings",
            "activity_id": self.activity.ocsf_id(),
            "activity_name": activity_name,
            "type_uid": 200400 + u32::from(self.activity.ocsf_id()),
            "severity_id": self.severity.ocsf_id(),
            "severity": self.severity.ocsf_name(),
            "confidence_id": confidence_id,
            "confidence": confidence,
            "confidence_score": self.confidence,
            "status_id": 1,
            "status": "New",
            "time": self.last_event_time,
            "start_time": self.first_event_time,
            "end_time": self.last_event_time,
            "count": self.event_count,
            "message": self.summary,
            "metadata": {
                "version": "1.3.0",
                "product": { "name": "trailhound", "vendor_name": "trailhound",
                             "version": env!("CARGO_PKG_VERSION") },
                "uid": self.uid,
                "log_name": "findings",
                "event_code": self.rule_id,
            },
            "finding_info": {
                "uid": self.uid,
                "title": self.title,
                "desc": self.summary,
                "types": [self.rule_id],
                "first_seen_time": self.first_event_time,
                "first_seen_time_dt": to_rfc3339(self.first_event_time),
                "last_seen_time": self.last_event_time,
                "last_seen_time_dt": to_rfc3339(self.last_event_time),
                "analytic": { "uid": self.rule_id, "name": self.title, "type_id": 1, "type": "Rule" },
                "attacks": attacks,
                "related_events": related,
            },
            "actor": {
                "user": {
                    "uid": self.actor_key,
                    "name": self.actor_arn,
                    "type": self.identity_class.as_str(),
                },
            },
            "cloud": {
                "provider": self.provider.to_uppercase(),
                "account": { "uid": self.account },
                "region": self.regions.first(),
            },
            "remediation": { "desc": self.remediation },
            "unmapped": {
                "identity_class": self.identity_class.as_str(),
                "regions": self.regions,
                "context": self.context,
                "revision": self.revision,
                "tactic_ids": self.tactic_ids,
                "related_actor_keys": self.related_actor_keys,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Finding {
        Finding {
            uid: Finding::make_uid("enumeration_burst", "AKIAEXAMPLE", 3_600_000),
            rule_id: "enumeration_burst".into(),
            title: "Enumeration burst".into(),
            severity: Severity::High,
            confidence: 80,
            tactic_ids: vec!["TA0007".into()],
            technique_ids: vec!["T1580".into()],
            provider: "aws".into(),
            actor_key: "AKIAEXAMPLE".into(),
            actor_arn: Some("arn:aws:iam::1:user/bob".into()),
            identity_class: IdentityClass::ProgrammaticUser,
            account: Some("111122223333".into()),
            regions: vec!["us-east-1".into()],
            first_event_time: 3_600_000,
            last_event_time: 3_610_000,
            event_count: 12,
            evidence: vec![],
            context: vec!["12 distinct recon APIs in 10s".into()],
            summary: "s".into(),
            remediation: "r".into(),
            activity: Activity::Create,
            revision: 0,
            related_actor_keys: Vec::new(),
        }
    }

    #[test]
    fn uid_is_deterministic_and_depends_on_every_part() {
        let a = Finding::make_uid("r", "k", 1);
        assert_eq!(a, Finding::make_uid("r", "k", 1));
        assert_ne!(a, Finding::make_uid("r", "k", 2));
        assert_ne!(a, Finding::make_uid("r", "k2", 1));
        assert_ne!(a, Finding::make_uid("r2", "k", 1));
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(Finding::make_uid("ab", "c", 1), Finding::make_uid("a", "bc", 1));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn ocsf_rendering_has_the_detection_finding_class_and_severity() {
        let f = sample();
        let v = f.to_ocsf();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["finding_info"]["uid"], f.uid.as_str());
        assert_eq!(v["finding_info"]["attacks"][0]["technique"]["uid"], "T1580");
        assert_eq!(v["finding_info"]["attacks"][0]["tactic"]["name"], "Discovery");
        assert_eq!(v["cloud"]["account"]["uid"], "111122223333");
        let mut u = f.clone();
        u.activity = Activity::Update;
        assert_eq!(u.to_ocsf()["activity_id"], 2);
    }

    #[test]
    fn severity_orders_and_raises() {
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::Medium.raised(), Severity::High);
        assert_eq!(Severity::Critical.raised(), Severity::Critical);
    }

    #[test]
    fn severity_lowers_down_to_informational() {
        assert_eq!(Severity::Critical.lowered(), Severity::High);
        assert_eq!(Severity::Medium.lowered(), Severity::Low);
        assert_eq!(Severity::Low.lowered(), Severity::Informational);
        assert_eq!(Severity::Informational.lowered(), Severity::Informational);
    }
}
