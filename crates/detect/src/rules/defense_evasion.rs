//! `defense_evasion`: a call that blinds the account's logging or security tooling.
//!
//! The calls every incident report of a stolen cloud key lists after the first foothold
//! (T1562.008 Disable or Modify Cloud Logs, T1562.001 Disable or Modify Tools, T1070 Indicator
//! Removal, T1666 Modify Cloud Resource Hierarchy):
//!
//! | call | base severity |
//! |---|---|
//! | CloudTrail `StopLogging`, `DeleteTrail`; GuardDuty `DeleteDetector`; Organizations `LeaveOrganization` (`high_actions`) | high |
//! | EC2 `DeleteFlowLogs`; Route 53 Resolver `DeleteResolverQueryLogConfig` / `DisassociateResolverQueryLogConfig`; GuardDuty `CreateIPSet` / `UpdateIPSet` (trusted IPs raise no findings), `DeleteMembers`, `DisassociateMembers`, `DisassociateFrom{Master,Administrator}Account`, `StopMonitoringMembers`; Config `StopConfigurationRecorder`, `DeleteConfigurationRecorder`, `DeleteDeliveryChannel`; CloudTrail Lake `DeleteEventDataStore`, `StopEventDataStoreIngestion`; `DisableSecurityHub`, Macie `DisableMacie`, Inspector `Disable`, Access Analyzer `DeleteAnalyzer`, Detective `DeleteGraph` (`medium_actions`) | medium |
//! | CloudTrail `UpdateTrail` that turns multi-region, log file validation, global service events, KMS encryption or CloudWatch Logs delivery off, or whose only change is the destination bucket | medium |
//! | CloudTrail `PutEventSelectors` that stops logging management events (`includeManagementEvents` false on every selector, no advanced selector for `eventCategory = Management`, empty selectors) or limits them to read-only calls | medium |
//! | S3 `PutBucketLifecycle(Configuration)` with an enabled rule expiring objects within `max_lifecycle_days` (7): logs deleted as they land. The trail's bucket is not known to a streaming rule, so any bucket fires; **high** when the bucket name contains one of `trail_name_hints` (`cloudtrail`, `trail`) | medium |
//! | GuardDuty `UpdateDetector` with `enable: false` or a protection plan disabled; `CreateFilter` / `UpdateFilter` with action `ARCHIVE` (auto-archives findings) | medium |
//! | CloudWatch Logs `DeleteLogGroup` of a group whose name contains a trail hint | medium |
//!
//! Then: a machine identity (workload, CI/CD, long-lived user key) or the root user raises the
//! severity one step (a stolen key turning logging off is the case trailhound exists for);
//! a failed attempt (`errorCode` present, e.g. `AccessDenied`) lowers it one step — still a
//! finding, since the intent shows; at most critical.
//!
//! **Infrastructure as code.** A call whose user agent names one of `iac_user_agents`
//! (Terraform, Pulumi, CDK, CloudFormation, ...) is one step lower, and for the log sinks IaC
//! routinely *replaces* (`iac_replace_actions`: flow logs, resolver query logging, log groups)
//! it is **low**: Terraform destroys and re-creates a flow log whenever one of its immutable
//! arguments changes, and a single-event rule cannot see the re-creation in the same apply.
//! Low keeps the trace (a stolen pipeline credential driving Terraform still shows) without
//! paging anyone. A thief using a CI key from his own tools carries no IaC user agent.
//!
//! **IaC lifecycles** (see [`crate::context`]): an IaC call that deletes or weakens what the
//! same principal created through IaC within `engine.context.iac_lifecycle_window` (a test
//! environment's teardown) is informational, not published by default. Such an IaC call is
//! held until the watermark passes it, so that its create, which may arrive later within the
//! lateness, is known whatever the arrival order; its finding then comes up to the allowed
//! lateness after the call. Calls outside IaC are judged at once.
//!
//! **Quiet:** calls by AWS services; `PutEventSelectors` that still logs read and write
//! management events (an administrator adding data events), or logs only write management
//! events (`WriteOnly`, a common cost-saving setting), or excludes some event sources (KMS,
//! RDS Data API: AWS's documented cost options); `UpdateTrail` that only strengthens the trail;
//! lifecycle rules longer than `max_lifecycle_days` or disabled.
//!
//! **Single event** (`stateful: false`; its only state is the IaC calls held): late events — CloudTrail delivery can lag
//! beyond the allowed lateness, and a trail being stopped is exactly when it does — are still
//! checked. Each call is its own finding, uid = `hash(rule, actor|event id, event time)`, so a
//! replay or a late duplicate republishes the same finding; grouping several evasion calls of
//! one actor is left to `attack_chain`, which correlates findings.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::DEFENSE_EVASION;
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Origin, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Draft, Support};
use crate::state::{self, Evicted, Tier, Weighed};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "defense_evasion",
    title: "Logging or security tooling disabled",
    severity: Severity::Medium,
    tactics: &[DEFENSE_EVASION],
    techniques: &["T1562.008", "T1562.001", "T1070", "T1666"],
    summary: "CloudTrail, flow logs, DNS query logs, GuardDuty, Config or Security Hub stopped, deleted or weakened, or the account taken out of its organization",
    stateful: false,
};

/// Thresholds of `defense_evasion` (`[rules.defense_evasion]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Calls that are always a finding with base severity high (`service:Action`). Default
    /// cloudtrail:StopLogging, cloudtrail:DeleteTrail, guardduty:DeleteDetector,
    /// organizations:LeaveOrganization.
    pub high_actions: Vec<String>,
    /// Calls that are always a finding with base severity medium (`service:Action`). Default:
    /// flow log and resolver query log deletion, GuardDuty IP sets and member removal, Config
    /// recorder and delivery channel, CloudTrail Lake, Security Hub, Macie, Inspector, Access
    /// Analyzer and Detective shutdown (see the module doc).
    pub medium_actions: Vec<String>,
    /// S3 lifecycle rules expiring objects within this many days fire. Default 7.
    pub max_lifecycle_days: u64,
    /// Name fragments (case-insensitive) that mark a bucket or log group as CloudTrail's.
    /// Default cloudtrail, trail.
    pub trail_name_hints: Vec<String>,
    /// User-agent fragments (case-insensitive) of infrastructure-as-code tools: one step lower.
    /// Default terraform/, pulumi, aws-cdk, cloudformation, crossplane, ansible.
    pub iac_user_agents: Vec<String>,
    /// Calls that IaC tools make when replacing a log sink: low when made by one. Default
    /// ec2:DeleteFlowLogs, route53resolver:DeleteResolverQueryLogConfig,
    /// route53resolver:DisassociateResolverQueryLogConfig, logs:DeleteLogGroup.
    pub iac_replace_actions: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            high_actions: s(&[
                "cloudtrail:StopLogging",
                "cloudtrail:DeleteTrail",
                "guardduty:DeleteDetector",
                "organizations:LeaveOrganization",
            ]),
            medium_actions: s(&[
                "ec2:DeleteFlowLogs",
                "route53resolver:DeleteResolverQueryLogConfig",
                "route53resolver:DisassociateResolverQueryLogConfig",
                "guardduty:CreateIPSet",
                "guardduty:UpdateIPSet",
                "guardduty:DeleteMembers",
                "guardduty:DisassociateMembers",
                "guardduty:DisassociateFromMasterAccount",
                "guardduty:DisassociateFromAdministratorAccount",
                "guardduty:StopMonitoringMembers",
                "config:StopConfigurationRecorder",
                "config:DeleteConfigurationRecorder",
                "config:DeleteDeliveryChannel",
                "cloudtrail:DeleteEventDataStore",
                "cloudtrail:StopEventDataStoreIngestion",
                "securityhub:DisableSecurityHub",
                "macie2:DisableMacie",
                "inspector2:Disable",
                "access-analyzer:DeleteAnalyzer",
                "detective:DeleteGraph",
            ]),
            max_lifecycle_days: 7,
            trail_name_hints: s(&["cloudtrail", "trail"]),
            iac_user_agents: s(&["terraform/", "pulumi", "aws-cdk", "cloudformation", "crossplane", "ansible"]),
            iac_replace_actions: s(&[
                "ec2:DeleteFlowLogs",
                "route53resolver:DeleteResolverQueryLogConfig",
                "route53resolver:DisassociateResolverQueryLogConfig",
                "logs:DeleteLogGroup",
            ]),
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`.
pub const COMMON: CommonDefaults = CommonDefaults::BASIC;

/// What one evasion call did.
#[derive(Debug)]
struct Hit {
    base: Severity,
    /// What happened, for the summary ("stopped CloudTrail logging").
    what: String,
    /// Why it counts (the weakening found in the request).
    facts: Vec<String>,
    /// Heuristic (from request parameters) rather than a call that is evasion by itself.
    heuristic: bool,
}

impl Hit {
    fn new(base: Severity, what: impl Into<String>) -> Self {
        Self { base, what: what.into(), facts: Vec::new(), heuristic: false }
    }
}

/// `key` of an object, ignoring ASCII case.
fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, x)| x)
}

fn as_bool(v: &Value) -> Option<bool> {
    v.as_bool().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// An array, or a single object as a one-element list (S3's XML-shaped JSON).
fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// The resource a call acted on, for context: the first of the usual name/id keys, searched
/// depth-first (EC2 wraps its requests: `DeleteFlowLogsRequest.FlowLogId.content`).
fn target(v: &Value, depth: usize) -> Option<String> {
    const KEYS: &[&str] = &[
        "name",
        "trailName",
        "detectorId",
        "bucketName",
        "FlowLogId",
        "flowLogIds",
        "resolverQueryLogConfigId",
        "logGroupName",
        "configurationRecorderName",
        "deliveryChannelName",
        "eventDataStore",
        "analyzerName",
        "graphArn",
    ];
    if depth > 4 {
        return None;
    }
    let m = v.as_object()?;
    for key in KEYS {
        if let Some(x) = get(v, key) {
            let found = match x {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => {
                    let v: Vec<String> = a.iter().take(5).filter_map(target_value).collect();
                    (!v.is_empty()).then(|| v.join(", "))
                }
                other => target_value(other),
            };
            if found.is_some() {
                return found;
            }
        }
    }
    m.values().find_map(|x| target(x, depth + 1))
}

fn target_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => get(v, "content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Why a `PutEventSelectors` request stops logging management events, if it does.
fn selectors_weaken(req: &Value) -> Option<String> {
    if let Some(adv) = get(req, "advancedEventSelectors").and_then(Value::as_array) {
        let field = |sel: &Value, name: &str| -> Option<Vec<String>> {
            let fs = items(get(sel, "fieldSelectors"));
            fs.into_iter()
                .find(|f| get(f, "field").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .map(|f| strings(get(f, "equals")).into_iter().map(str::to_string).collect())
        };
        let mgmt: Vec<&Value> = adv
            .iter()
            .filter(|s| field(s, "eventCategory").is_some_and(|eq| eq.iter().any(|e| e == "Management")))
            .collect();
        if mgmt.is_empty() {
            return Some("no advanced event selector logs management events (eventCategory = Management)".into());
        }
        if mgmt.iter().all(|s| field(s, "readOnly").is_some_and(|eq| eq == ["true"])) {
            return Some("management events limited to read-only calls: write calls are no longer logged".into());
        }
        return None;
    }
    let sels = get(req, "eventSelectors").and_then(Value::as_array)?;
    if sels.is_empty() {
        return Some("event selectors emptied: the trail logs nothing".into());
    }
    let mgmt: Vec<&Value> =
        sels.iter().filter(|s| get(s, "includeManagementEvents").and_then(as_bool).unwrap_or(true)).collect();
    if mgmt.is_empty() {
        return Some(
            "includeManagementEvents false on every event selector: management events are no longer logged".into(),
        );
    }
    let rw = |s: &Value| get(s, "readWriteType").and_then(Value::as_str).unwrap_or("All").to_string();
    if mgmt.iter().all(|s| rw(s).eq_ignore_ascii_case("ReadOnly")) {
        return Some("management events limited to ReadOnly: write calls are no longer logged".into());
    }
    None
}

/// What an `UpdateTrail` request turns off, if anything.
fn trail_weakening(req: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let off = |k: &str| get(req, k).and_then(as_bool) == Some(false);
    let cleared = |k: &str| get(req, k).and_then(Value::as_str).is_some_and(|s| s.is_empty());
    if off("isMultiRegionTrail") {
        out.push("multi-region logging turned off (isMultiRegionTrail false)".to_string());
    }
    if off("enableLogFileValidation") {
        out.push("log file validation turned off (enableLogFileValidation false)".to_string());
    }
    if off("includeGlobalServiceEvents") {
        out.push("global service events (IAM, STS, CloudFront) excluded".to_string());
    }
    if cleared("kmsKeyId") {
        out.push("KMS encryption of log files removed".to_string());
    }
    if cleared("cloudWatchLogsLogGroupArn") {
        out.push("CloudWatch Logs delivery removed (alarms on the trail stop)".to_string());
    }
    // A redirect: the destination bucket is the only thing the update sets.
    if let (Some(bucket), Some(m)) = (get(req, "s3BucketName").and_then(Value::as_str), req.as_object()) {
        let only_destination = m.keys().all(|k| {
            ["name", "s3bucketname", "s3keyprefix", "snstopicname"].contains(&k.to_ascii_lowercase().as_str())
        });
        if only_destination {
            out.push(format!("log destination changed to bucket {bucket}"));
        }
    }
    out
}

/// Shortest enabled expiration (days) of an S3 lifecycle configuration.
fn shortest_expiration(req: &Value) -> Option<u64> {
    let cfg = get(req, "LifecycleConfiguration")?;
    let rules = items(get(cfg, "Rule").or_else(|| get(cfg, "Rules")));
    rules
        .into_iter()
        .filter(|r| !get(r, "Status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("Disabled")))
        .filter_map(|r| get(r, "Expiration").and_then(|e| get(e, "Days")).and_then(as_u64))
        .min()
}

/// GuardDuty protections an `UpdateDetector` turns off: `enable: false` anywhere, or a
/// feature with `status: DISABLED` (named by its `name`, else its key).
fn guardduty_disabled(v: &Value, key: &str, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 6 {
        return;
    }
    match v {
        Value::Object(m) => {
            if get(v, "enable").and_then(as_bool) == Some(false)
                || get(v, "status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("DISABLED"))
            {
                let name = get(v, "name").and_then(Value::as_str).unwrap_or(key);
                out.insert(if name.is_empty() { "detector".to_string() } else { name.to_string() });
            }
            for (k, x) in m {
                guardduty_disabled(x, k, depth + 1, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| guardduty_disabled(x, key, depth + 1, out)),
        _ => {}
    }
}

/// ATT&CK techniques of a call.
fn techniques(service: &str, action: &str) -> Vec<String> {
    let t: &[&str] = match (service, action) {
        ("organizations", _) => &["T1666"],
        ("s3", _) | ("logs", "DeleteLogGroup") => &["T1562.008", "T1070"],
        ("cloudtrail" | "config" | "ec2" | "route53resolver" | "logs", _) => &["T1562.008"],
        _ => &["T1562.001"],
    };
    t.iter().map(|s| s.to_string()).collect()
}

/// The first step of a fix, per call.
fn fix(service: &str, action: &str, target: Option<&str>) -> String {
    let t = target.unwrap_or("it");
    match (service, action) {
        ("cloudtrail", "StopLogging") => format!("Restart logging (aws cloudtrail start-logging --name {t})."),
        ("cloudtrail", "DeleteTrail") => "Re-create the trail from its IaC definition.".to_string(),
        ("cloudtrail", "PutEventSelectors" | "UpdateTrail") => {
            format!("Restore the trail's settings ({t}) from its IaC definition.")
        }
        ("organizations", _) => {
            "Re-invite the account into the organization and review what it did outside the organization's SCPs."
                .to_string()
        }
        ("s3", _) => format!("Remove or lengthen the lifecycle rule on bucket {t}."),
        ("guardduty", _) => format!("Re-enable GuardDuty and undo the change ({t})."),
        _ => format!("Restore {t}."),
    }
}

/// An IaC call's finding waiting for the watermark.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    principal: String,
    names: Vec<String>,
    finding: Finding,
}

crate::state::weigh_fields! { Pending { principal, names, finding } }

/// The rule.
pub struct DefenseEvasion {
    cfg: RuleConfig<Config>,
    /// IaC calls held until the watermark passes them (by time and event id): by then every
    /// create they could undo has arrived, so the lifecycle verdict does not depend on
    /// arrival order.
    pending: Weighed<(EventTime, String), Pending>,
    high: BTreeSet<String>,
    medium: BTreeSet<String>,
    iac_replace: BTreeSet<String>,
    iac: Vec<String>,
    hints: Vec<String>,
}

impl DefenseEvasion {
    /// Publishes held IaC calls (in time order), informational when the same principal's IaC
    /// built what they undo.
    fn judge(mut due: Vec<((EventTime, String), Pending)>, ctx: &mut RuleCtx<'_>) {
        due.sort_by(|a, b| a.0.cmp(&b.0));
        for ((t, _), p) in due {
            let mut f = p.finding;
            if let Some(line) = ctx.context.lifecycle_of(&p.principal, &p.names, t) {
                f.severity = Severity::Informational;
                f.context.push(line);
                f.context
                    .push("severity informational: the same principal's IaC tearing down what it built".to_string());
            }
            ctx.emit(f);
        }
    }

    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self {
            high: cfg.high_actions.iter().cloned().collect(),
            medium: cfg.medium_actions.iter().cloned().collect(),
            iac_replace: cfg.iac_replace_actions.iter().cloned().collect(),
            iac: cfg.iac_user_agents.iter().map(|s| s.to_ascii_lowercase()).collect(),
            hints: cfg.trail_name_hints.iter().map(|s| s.to_ascii_lowercase()).collect(),
            pending: Weighed::default(),
            cfg,
        }
    }

    fn trail_named(&self, name: &str) -> bool {
        self.hints.iter().any(|h| EventView::contains_ignore_case(name, h))
    }

    /// The evasion event `row` is, if any (`name` = `service:Action`).
    fn classify(&self, ev: &EventView<'_>, row: usize, name: &str) -> Option<Hit> {
        let (service, action) = (ev.service(row), ev.action(row));
        if self.high.contains(name) {
            let what = match (service, action) {
                ("cloudtrail", "StopLogging") => "stopped CloudTrail logging",
                ("cloudtrail", "DeleteTrail") => "deleted a CloudTrail trail",
                ("guardduty", "DeleteDetector") => "deleted the GuardDuty detector",
                ("organizations", "LeaveOrganization") => "took the account out of its AWS organization",
                _ => "disabled a logging or security control",
            };
            return Some(Hit::new(Severity::High, what));
        }
        if self.medium.contains(name) {
            let what = match (service, action) {
                ("ec2", "DeleteFlowLogs") => "deleted VPC flow logs",
                ("route53resolver", _) => "removed Route 53 Resolver DNS query logging",
                ("guardduty", "CreateIPSet" | "UpdateIPSet") => {
                    "set a GuardDuty trusted IP list (no findings for those addresses)"
                }
                ("guardduty", _) => "removed GuardDuty member monitoring",
                ("config", _) => "stopped or removed AWS Config recording",
                ("cloudtrail", _) => "stopped or deleted a CloudTrail Lake event data store",
                _ => "disabled a security service",
            };
            return Some(Hit::new(Severity::Medium, what));
        }
        let req = || ev.request_json(row);
        let mut hit = match (service, action) {
            ("cloudtrail", "PutEventSelectors") => {
                let why = selectors_weaken(&req()?)?;
                let mut h = Hit::new(Severity::Medium, "stopped CloudTrail from logging management events");
                h.facts.push(why);
                h
            }
            ("cloudtrail", "UpdateTrail") => {
                let facts = trail_weakening(&req()?);
                if facts.is_empty() {
                    return None;
                }
                let mut h = Hit::new(Severity::Medium, "weakened a CloudTrail trail");
                h.facts = facts;
                h
            }
            ("s3", "PutBucketLifecycle" | "PutBucketLifecycleConfiguration") => {
                let r = req()?;
                let days = shortest_expiration(&r).filter(|d| *d <= self.cfg.max_lifecycle_days)?;
                let bucket = get(&r, "bucketName").and_then(Value::as_str).unwrap_or("");
                let trail = self.trail_named(bucket);
                let mut h = Hit::new(
                    if trail { Severity::High } else { Severity::Medium },
                    "set a lifecycle rule that deletes a bucket's objects within days",
                );
                h.facts.push(format!(
                    "objects expire after {days} day(s) (threshold {} days){}",
                    self.cfg.max_lifecycle_days,
                    if trail { "; the bucket name suggests CloudTrail logs: high" } else { "" }
                ));
                h
            }
            ("guardduty", "UpdateDetector") => {
                let mut off = BTreeSet::new();
                guardduty_disabled(&req()?, "", 0, &mut off);
                if off.is_empty() {
                    return None;
                }
                let mut h = Hit::new(Severity::Medium, "disabled GuardDuty protections");
                let list: Vec<&str> = off.iter().map(String::as_str).collect();
                h.facts.push(format!("disabled: {}", list.join(", ")));
                h
            }
            ("guardduty", "CreateFilter" | "UpdateFilter") => {
                let r = req()?;
                if !get(&r, "action").and_then(Value::as_str).is_some_and(|a| a.eq_ignore_ascii_case("ARCHIVE")) {
                    return None;
                }
                let mut h = Hit::new(Severity::Medium, "added a GuardDuty filter that auto-archives findings");
                h.facts.push("filter action ARCHIVE: matching findings are hidden as they arrive".into());
                h
            }
            ("logs", "DeleteLogGroup") => {
                let r = req()?;
                let group = get(&r, "logGroupName").and_then(Value::as_str)?;
                if !self.trail_named(group) {
                    return None;
                }
                Hit::new(Severity::Medium, "deleted the CloudWatch Logs group a trail delivers to")
            }
            _ => return None,
        };
        hit.heuristic = true;
        Some(hit)
    }

    fn finding(&self, ev: &EventView<'_>, row: usize, name: &str, hit: Hit, lifecycle: Option<String>) -> Finding {
        let (service, action) = (ev.service(row), ev.action(row));
        let actor = ev.actor_key(row);
        let class = ev.identity_class(row);
        let error = ev.error_code(row);
        let iac = ev.user_agent_matches(row, &self.iac);
        let mut context = hit.facts;
        let mut severity = hit.base;
        let mut steps = vec![format!("base {}", hit.base)];
        if class.is_machine() || class == IdentityClass::Root {
            severity = severity.raised();
            steps.push(format!("+1 {class} identity"));
        }
        if let Some(e) = error {
            severity = severity.lowered();
            steps.push(format!("-1 failed ({e})"));
        }
        if iac && self.iac_replace.contains(name) {
            severity = Severity::Low;
            steps.push("low: an IaC tool replacing a log sink".to_string());
        } else if iac {
            severity = severity.lowered();
            steps.push("-1 IaC user agent".to_string());
        }
        if let Some(l) = lifecycle {
            severity = Severity::Informational;
            steps.push("informational: the same principal's IaC tearing down what it built".to_string());
            context.push(l);
        }
        context.push(format!("severity {severity}: {}", steps.join(", ")));
        let req = ev.request_json(row);
        let tgt = req.as_ref().and_then(|r| target(r, 0));
        if let Some(t) = &tgt {
            context.push(format!("target: {t}"));
        }
        if let Some(ua) = ev.user_agent(row) {
            context.push(format!("user agent: {}", ua.chars().take(120).collect::<String>()));
        }
        let mut support = Support::default();
        support.add(ev, row, 1);
        let t = ev.time(row);
        let summary = format!(
            "{actor} ({class}) {}{} with {name} in {} at {}{}.",
            if error.is_some() { "tried and failed: " } else { "" },
            hit.what,
            ev.region(row).unwrap_or("an unknown region"),
            to_rfc3339(t),
            tgt.as_deref().map(|t| format!(" (target {t})")).unwrap_or_default()
        );
        let arn = ev.actor_arn(row);
        let what = format!(
            "{} Ask the owner of {} whether it was a sanctioned change.",
            fix(service, action, tgt.as_deref()),
            arn.unwrap_or(actor)
        );
        let confidence = if hit.heuristic { 75u8 } else { 90 };
        let confidence = confidence - if error.is_some() { 20 } else { 0 } - if iac { 30 } else { 0 };
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor: t,
            support: &support,
            severity,
            confidence,
            techniques: techniques(service, action),
            context,
            summary,
            remediation: remediation_for(actor, arn, &what),
        }
        .finding(Activity::Create, 0);
        f.uid = Finding::make_uid(META.id, &format!("{actor}|{}", ev.event_id(row)), t);
        f
    }
}

impl Rule for DefenseEvasion {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut name = String::new();
        for &row in rows {
            if ev.data_event(row) || ev.identity_class(row) == IdentityClass::AwsService {
                continue;
            }
            name.clear();
            name.push_str(ev.service(row));
            name.push(':');
            name.push_str(ev.action(row));
            if let Some(hit) = self.classify(ev, row, &name) {
                let lifecycle = ctx.context.lifecycle(ev, row);
                let t = ev.time(row);
                if lifecycle.is_none() && ev.origin(row) == Origin::Iac && t >= ctx.watermark {
                    // Its create may still arrive (within the lateness): judge it later.
                    let finding = self.finding(ev, row, &name, hit, None);
                    let names = crate::context::resource_names(ev, row, false);
                    let pending = Pending { principal: ev.principal(row).to_string(), names, finding };
                    self.pending.insert((t, ev.event_id(row).to_string()), pending);
                    continue;
                }
                ctx.emit(self.finding(ev, row, &name, hit, lifecycle));
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        let mut due: Vec<((EventTime, String), Pending)> = Vec::new();
        let keys: Vec<(EventTime, String)> =
            self.pending.iter().filter(|e| e.key().0 <= wm).map(|e| e.key().clone()).collect();
        for k in keys {
            if let Some(p) = self.pending.remove(&k) {
                due.push(p);
            }
        }
        Self::judge(due, ctx);
    }

    super::keyed_state!(pending);

    fn activity(&self, _watermark: EventTime, out: &mut state::Activity) {
        self.pending.activity(out, |k, _| Some((Tier::Active, k.0)));
    }

    fn evict(&self, tier: Tier, before: EventTime, ctx: &mut RuleCtx<'_>) -> Evicted {
        // A held call is judged now, with what is known of its lifecycle, rather than lost.
        let (done, due) = self.pending.evict_take(tier, before, |k, _| Some((Tier::Active, k.0)));
        Self::judge(due, ctx);
        done
    }

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{event, finals, iam_user, role_session, run, run_all, stratus};

    fn rule() -> Box<dyn Rule> {
        Box::new(DefenseEvasion::new(Config::default()))
    }

    fn one(lines: &[String]) -> Finding {
        let f = run(rule(), lines);
        assert_eq!(f.len(), 1, "{f:#?}");
        f.into_iter().next().expect("one finding")
    }

    fn console_admin() -> Value {
        let mut v = role_session("AWSReservedSSO_Admin_abc", "alice@example.com", "ASIACONSOLE");
        v["sessionContext"]["attributes"]["mfaAuthenticated"] = json!("true");
        v
    }

    #[test]
    fn stratus_cloudtrail_stop_and_delete_are_critical_for_a_long_lived_key() {
        for technique in ["aws.defense-evasion.cloudtrail-stop", "aws.defense-evasion.cloudtrail-delete"] {
            let f = one(&stratus(technique));
            assert_eq!(f.identity_class, IdentityClass::ProgrammaticUser, "{technique}");
            assert_eq!(f.severity, Severity::Critical, "{technique}");
            assert_eq!(f.technique_ids, vec!["T1562.008"]);
            assert_eq!(f.tactic_ids, vec!["TA0005"]);
            assert!(f.context.iter().any(|c| c.starts_with("target: stratus-red-team-")), "{:?}", f.context);
        }
    }

    #[test]
    fn stratus_event_selectors_without_management_events_fire() {
        let f = one(&stratus("aws.defense-evasion.cloudtrail-event-selectors"));
        assert_eq!(f.severity, Severity::High);
        assert!(f.context[0].contains("includeManagementEvents false"), "{:?}", f.context);
        assert!(f.summary.contains("cloudtrail:PutEventSelectors"));
    }

    #[test]
    fn stratus_dns_and_flow_log_deletion_fire() {
        let dns = one(&stratus("aws.defense-evasion.dns-delete-logs"));
        assert_eq!(dns.severity, Severity::High);
        assert!(dns.context.iter().any(|c| c == "target: rqlc-4473f20ca554c07"), "{:?}", dns.context);
        let flow = one(&stratus("aws.defense-evasion.vpc-remove-flow-logs"));
        assert_eq!(flow.severity, Severity::High);
        assert!(flow.context.iter().any(|c| c == "target: fl-0e17aa62a21d4bbfe"), "{:?}", flow.context);
    }

    #[test]
    fn stratus_denied_leave_organization_is_one_step_lower() {
        let f = one(&stratus("aws.defense-evasion.organizations-leave"));
        assert_eq!(f.technique_ids, vec!["T1666"]);
        // High base, denied: one step lower (the role session is not a known machine class).
        assert_eq!(f.identity_class, IdentityClass::Unknown);
        assert_eq!(f.severity, Severity::Medium);
        assert!(f.summary.contains("tried and failed"), "{}", f.summary);
    }

    #[test]
    fn a_human_adding_data_events_stays_quiet() {
        let lines = vec![
            event(
                0,
                &console_admin(),
                "cloudtrail",
                "PutEventSelectors",
                json!({"userAgent": "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/120", "requestParameters": {
                    "trailName": "org-trail",
                    "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true,
                        "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::payroll/"]}]}]}}),
            ),
            event(
                10,
                &console_admin(),
                "cloudtrail",
                "PutEventSelectors",
                json!({"requestParameters": {"trailName": "org-trail", "advancedEventSelectors": [
                    {"name": "mgmt", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]},
                    {"name": "s3", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]}}),
            ),
            event(
                20,
                &console_admin(),
                "cloudtrail",
                "UpdateTrail",
                json!({"requestParameters": {"name": "org-trail", "s3BucketName": "org-logs", "enableLogFileValidation": true, "isMultiRegionTrail": true}}),
            ),
        ];
        assert!(run(rule(), &lines).is_empty());
    }

    #[test]
    fn advanced_selectors_without_management_events_fire() {
        let f = one(&[event(
            0,
            &console_admin(),
            "cloudtrail",
            "PutEventSelectors",
            json!({"requestParameters": {"trailName": "org-trail", "advancedEventSelectors": [
                {"name": "s3", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]}}),
        )]);
        assert_eq!(f.severity, Severity::Medium);
        assert!(f.context[0].contains("no advanced event selector logs management events"));
    }

    #[test]
    fn update_trail_weakening_fires_and_names_what_changed() {
        let f = one(&[event(
            0,
            &iam_user("ops", "AKIAOPS"),
            "cloudtrail",
            "UpdateTrail",
            json!({"requestParameters": {"name": "org-trail", "isMultiRegionTrail": false, "enableLogFileValidation": false}}),
        )]);
        assert_eq!(f.severity, Severity::High);
        assert!(f.context.iter().any(|c| c.contains("multi-region logging turned off")));
        assert!(f.context.iter().any(|c| c.contains("log file validation turned off")));
        let redirect = one(&[event(
            0,
            &console_admin(),
            "cloudtrail",
            "UpdateTrail",
            json!({"requestParameters": {"name": "org-trail", "s3BucketName": "attacker-bucket-123"}}),
        )]);
        assert_eq!(redirect.severity, Severity::Medium);
        assert!(redirect.context[0].contains("attacker-bucket-123"));
    }

    #[test]
    fn short_lifecycle_on_a_trail_bucket_is_high_and_elsewhere_medium() {
        let lifecycle = |bucket: &str, days: Value, status: &str| {
            event(
                0,
                &console_admin(),
                "s3",
                "PutBucketLifecycle",
                json!({"eventID": format!("lc-{bucket}-{days}-{status}"), "requestParameters": {"bucketName": bucket, "lifecycle": "",
                    "LifecycleConfiguration": {"Rule": {"ID": "nuke", "Status": status, "Filter": {"Prefix": ""}, "Expiration": {"Days": days}}}}}),
            )
        };
        let f = one(&[lifecycle("aws-cloudtrail-logs-111122223333-abcd", json!(1), "Enabled")]);
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.technique_ids, vec!["T1562.008", "T1070"]);
        let f = one(&[lifecycle("scratch-data", json!("3"), "Enabled")]);
        assert_eq!(f.severity, Severity::Medium);
        assert!(run(rule(), &[lifecycle("cloudtrail-logs", json!(30), "Enabled")]).is_empty());
        assert!(run(rule(), &[lifecycle("cloudtrail-logs", json!(1), "Disabled")]).is_empty());
    }

    #[test]
    fn guardduty_disabling_and_trusted_ip_lists_fire() {
        let who = role_session("app", "i-0123456789abcdef0", "ASIAAPP");
        let lines = vec![
            event(
                0,
                &who,
                "guardduty",
                "UpdateDetector",
                json!({"requestParameters": {"detectorId": "d1", "enable": false}}),
            ),
            event(
                1,
                &who,
                "guardduty",
                "UpdateDetector",
                json!({"requestParameters": {"detectorId": "d1", "features": [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}]}}),
            ),
            event(
                2,
                &who,
                "guardduty",
                "CreateIPSet",
                json!({"requestParameters": {"detectorId": "d1", "activate": true, "format": "TXT", "location": "s3://x/ips.txt", "name": "ok"}}),
            ),
            event(3, &who, "guardduty", "DeleteDetector", json!({"requestParameters": {"detectorId": "d1"}})),
            event(
                4,
                &who,
                "guardduty",
                "UpdateDetector",
                json!({"requestParameters": {"detectorId": "d1", "findingPublishingFrequency": "SIX_HOURS"}}),
            ),
        ];
        let f = run(rule(), &lines);
        assert_eq!(f.len(), 4, "{f:#?}");
        assert_eq!(f.iter().filter(|f| f.severity == Severity::High).count(), 3);
        assert_eq!(f.iter().filter(|f| f.severity == Severity::Critical).count(), 1);
        assert!(f.iter().any(|f| f.context[0] == "disabled: S3_DATA_EVENTS"));
        assert!(f.iter().all(|f| f.technique_ids == vec!["T1562.001"]));
    }

    #[test]
    fn terraform_replacing_a_flow_log_is_low() {
        let mut ci = role_session("tf-apply", "GitHubActions", "ASIATF");
        ci["sessionContext"]["webIdFederationData"] =
            json!({"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"});
        let tf = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0";
        let lines = vec![
            event(
                0,
                &ci,
                "ec2",
                "DeleteFlowLogs",
                json!({"userAgent": tf, "requestParameters": {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-1", "tag": 1}}}}),
            ),
            event(1, &ci, "ec2", "CreateFlowLogs", json!({"userAgent": tf})),
        ];
        let f = one(&lines);
        assert_eq!(f.severity, Severity::Low);
        assert!(f.context.iter().any(|c| c.contains("IaC tool replacing a log sink")));
    }

    #[test]
    fn aws_services_and_unrelated_calls_stay_quiet() {
        let svc = json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"});
        let lines = vec![
            event(0, &svc, "cloudtrail", "StopLogging", json!({"requestParameters": {"name": "t"}})),
            event(1, &console_admin(), "cloudtrail", "StartLogging", json!({"requestParameters": {"name": "t"}})),
            event(
                2,
                &console_admin(),
                "logs",
                "DeleteLogGroup",
                json!({"requestParameters": {"logGroupName": "/aws/lambda/app"}}),
            ),
        ];
        assert!(run(rule(), &lines).is_empty());
    }

    #[test]
    fn late_events_still_fire_and_order_does_not_matter() {
        let key = iam_user("ci", "AKIACI");
        let mut lines = vec![
            event(0, &key, "cloudtrail", "StopLogging", json!({"requestParameters": {"name": "t"}})),
            event(
                5,
                &key,
                "config",
                "StopConfigurationRecorder",
                json!({"requestParameters": {"configurationRecorderName": "default"}}),
            ),
            event(
                9,
                &key,
                "ec2",
                "DeleteFlowLogs",
                json!({"requestParameters": {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-2"}}}}),
            ),
        ];
        // An hour later, then the evasion calls arrive late (beyond the allowed lateness).
        lines.insert(0, event(3600, &key, "sts", "GetCallerIdentity", json!({"eventID": "late-anchor"})));
        let forward = finals(&run_all(vec![rule()], &lines, 1));
        assert_eq!(forward.len(), 3);
        lines.reverse();
        let backward = finals(&run_all(vec![rule()], &lines, 2));
        assert_eq!(forward, backward);
    }
}
