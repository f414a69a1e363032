//! `enumeration_burst`: a burst of reconnaissance calls by one actor.
//!
//! A stolen key's first minutes look alike whatever the tool (Pacu, ScoutSuite,
//! enumerate-iam, a hand-run `aws` loop): `GetCallerIdentity`, then many different
//! `List*`/`Describe*`/`Get*` control-plane calls across services and regions, many of them
//! denied. Per actor, in sliding event-time windows, any of these fires:
//!
//! | condition | default | why |
//! |---|---|---|
//! | distinct recon APIs in `distinct_apis_window` | ≥ 6 in 10 s | a person or a poller rarely calls more than a handful of different read APIs in seconds; enumeration tools call dozens |
//! | distinct regions with recon calls in `regions_window` | ≥ 10 in 30 s | region sweeps (`DescribeInstances` everywhere) are how tools map an account; workloads live in one or two regions |
//! | denied recon calls in `denied_window` | ≥ 10 in 10 min | permission brute force (enumerate-iam) is mostly `AccessDenied` / `UnauthorizedOperation` |
//!
//! Infrastructure-as-code refreshes (`terraform plan`, Pulumi, CDK) read every resource type
//! they manage within seconds, by design. Recon calls whose user agent names one of
//! `iac_user_agents` therefore do not count toward the distinct-API and region conditions
//! (they still count toward denials and appear in the episode's evidence). A thief using a
//! stolen CI credential from his own tools (aws-cli, boto3, Pacu) is unaffected; one who
//! also forges a Terraform user agent is left to the denial condition and the identity
//! baseline rules.
//!
//! Not recon: data-plane reads (`eventCategory` `Data`: S3 `GetObject`, `ListObjects`, ...),
//! the reads listed in `excluded_actions` (KMS `Decrypt`, `GetSecretValue` — credential
//! access is another rule's business — STS session calls, ECR image pulls, CloudWatch
//! metric reads), and calls by AWS services.
//!
//! Findings are grouped in **episodes**: one finding per actor per `episode` bucket of event
//! time (default 1 h), uid = `hash(rule, actor, bucket start)`. The finding is published the
//! moment a condition first holds (early firing), re-published when its severity rises, and
//! published a last time when the bucket closes behind the watermark with everything the
//! actor did in it: every recon call, distinct APIs, services, regions, denials, and the
//! earliest evidence. That last version does not depend on arrival order or batch size.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::DISCOVERY;
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{stable_hash, Activity, Finding, IdentityClass, Severity};

use super::{Rule, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::state::{self, StateError, StateMap};
use crate::touched::Touched;
use crate::view::EventView;
use crate::window::{slot_of, SlotCount, SlotDistinct};

static META: RuleMeta = RuleMeta {
    id: "enumeration_burst",
    title: "Cloud enumeration burst",
    severity: Severity::Medium,
    tactics: &[DISCOVERY],
    techniques: &["T1526", "T1580", "T1087.004", "T1619", "T1069.003"],
    summary: "Many distinct recon APIs, regions or denied recon calls by one actor within seconds to minutes",
    stateful: true,
};

/// Thresholds of `enumeration_burst` (`[rules.enumeration_burst]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Run this rule. Default true.
    pub enabled: bool,
    /// Window for distinct recon APIs. Default 10s.
    #[serde(with = "humantime_serde")]
    pub distinct_apis_window: Duration,
    /// Distinct recon APIs within that window that fire. Default 6 (more than 5).
    pub min_distinct_apis: usize,
    /// Window for distinct regions. Default 30s.
    #[serde(with = "humantime_serde")]
    pub regions_window: Duration,
    /// Distinct regions with recon calls within that window that fire. Default 10.
    pub min_regions: usize,
    /// Window for denied recon calls. Default 10m.
    #[serde(with = "humantime_serde")]
    pub denied_window: Duration,
    /// Denied recon calls within that window that fire. Default 10.
    pub min_denied: u64,
    /// One finding per actor per bucket of this length. Default 1h.
    #[serde(with = "humantime_serde")]
    pub episode: Duration,
    /// Evidence events kept per finding (earliest first). Default 10.
    pub max_evidence: usize,
    /// Action name prefixes that make a call recon. Default List, Describe, Get.
    pub recon_prefixes: Vec<String>,
    /// Further recon actions (`service:Action`). Default a few lookups and searches.
    pub extra_recon_actions: Vec<String>,
    /// Reads that are not recon (`service:Action`). Default: data-plane, credential and
    /// session reads.
    pub excluded_actions: Vec<String>,
    /// User-agent fragments (case-insensitive) of IaC tools whose reads do not count toward
    /// the distinct-API and region conditions. Default Terraform, Pulumi, CDK, CloudFormation,
    /// Crossplane, Ansible.
    pub iac_user_agents: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            enabled: true,
            distinct_apis_window: Duration::from_secs(10),
            min_distinct_apis: 6,
            regions_window: Duration::from_secs(30),
            min_regions: 10,
            denied_window: Duration::from_secs(600),
            min_denied: 10,
            episode: Duration::from_secs(3600),
            max_evidence: 10,
            recon_prefixes: s(&["List", "Describe", "Get"]),
            extra_recon_actions: s(&[
                "cloudtrail:LookupEvents",
                "resource-explorer-2:Search",
                "tagging:GetResources",
                "organizations:ListAccounts",
                "sso:ListAccountRoles",
            ]),
            excluded_actions: s(&[
                "s3:GetObject",
                "s3:HeadObject",
                "s3:ListObjects",
                "s3:ListObjectsV2",
                "s3:GetObjectAcl",
                "s3:GetObjectTagging",
                "s3:ListParts",
                "s3:ListMultipartUploads",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "secretsmanager:GetSecretValue",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:GetParametersByPath",
                "sts:GetSessionToken",
                "sts:GetFederationToken",
                "sts:AssumeRole",
                "ecr:GetAuthorizationToken",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
                "cloudwatch:GetMetricData",
                "cloudwatch:GetMetricStatistics",
                "logs:GetLogEvents",
                "logs:GetQueryResults",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "lambda:GetFunctionConfiguration",
                "ec2:GetConsoleOutput",
                "sso:GetRoleCredentials",
                "signin:GetSigninToken",
            ]),
            iac_user_agents: s(&["terraform/", "pulumi", "aws-cdk", "cloudformation", "crossplane", "ansible"]),
        }
    }
}

/// The conditions, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Cond {
    DistinctApis,
    Regions,
    Denied,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Trigger {
    /// Earliest start (first event slot time) of a window that met the condition.
    earliest: EventTime,
    /// Largest value seen in a window that met it.
    peak: u64,
}

/// Everything one actor's recon did in one episode bucket.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    support: Support,
    denied: u64,
    apis: BTreeSet<String>,
    services: BTreeSet<String>,
    triggers: BTreeMap<Cond, Trigger>,
    publication: Publication,
    dirty: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActorState {
    apis: SlotDistinct,
    regions: SlotDistinct,
    denied: SlotCount,
    episodes: BTreeMap<EventTime, Episode>,
}

/// The rule.
pub struct EnumerationBurst {
    cfg: Config,
    api_slot: i64,
    region_slot: i64,
    denied_slot: i64,
    episode_ms: i64,
    max_window: i64,
    prefixes: Vec<String>,
    iac: Vec<String>,
    extra: BTreeSet<String>,
    excluded: BTreeSet<String>,
    state: StateMap<String, ActorState>,
}

const SLOTS: i64 = 10;

fn ms(d: Duration) -> i64 {
    crate::window::millis(d).max(SLOTS)
}

/// True for error codes that mean "not allowed".
pub fn is_denied(code: &str) -> bool {
    code.contains("AccessDenied")
        || code.contains("Unauthorized")
        || code.contains("NotAuthorized")
        || code == "Forbidden"
        || code.contains("AuthorizationError")
}

impl EnumerationBurst {
    /// Builds the rule from its config.
    pub fn new(cfg: Config) -> Self {
        let (a, r, d) = (ms(cfg.distinct_apis_window), ms(cfg.regions_window), ms(cfg.denied_window));
        Self {
            api_slot: (a / SLOTS).max(1),
            region_slot: (r / SLOTS).max(1),
            denied_slot: (d / SLOTS).max(1),
            episode_ms: ms(cfg.episode),
            max_window: a.max(r).max(d),
            prefixes: cfg.recon_prefixes.clone(),
            iac: cfg.iac_user_agents.iter().map(|s| s.to_ascii_lowercase()).collect(),
            extra: cfg.extra_recon_actions.iter().cloned().collect(),
            excluded: cfg.excluded_actions.iter().cloned().collect(),
            state: StateMap::default(),
            cfg,
        }
    }

    fn is_recon(&self, ev: &EventView<'_>, row: usize, name: &mut String) -> bool {
        if ev.data_event(row) || ev.identity_class(row) == IdentityClass::AwsService {
            return false;
        }
        let action = ev.action(row);
        name.clear();
        name.push_str(ev.service(row));
        name.push(':');
        name.push_str(action);
        if self.excluded.contains(name.as_str()) {
            return false;
        }
        self.extra.contains(name.as_str()) || self.prefixes.iter().any(|p| action.starts_with(p.as_str()))
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.episode_ms) * self.episode_ms
    }

    fn severity(ep: &Episode) -> Severity {
        let class = ep.support.class();
        let mut s = META.severity;
        for _ in 1..ep.triggers.len() {
            s = s.raised();
        }
        if class.is_machine() || class == IdentityClass::Root {
            s = s.raised();
        }
        s.min(Severity::High)
    }

    fn finding(&self, actor: &str, bucket: EventTime, ep: &Episode, activity: Activity, revision: u32) -> Finding {
        let mut techniques = vec!["T1526".to_string()];
        for (svc, t) in [("ec2", "T1580"), ("iam", "T1087.004"), ("s3", "T1619")] {
            if ep.services.contains(svc) {
                techniques.push(t.to_string());
            }
        }
        let window = |d: Duration| humantime::format_duration(d).to_string();
        let context = ep
            .triggers
            .iter()
            .map(|(c, t)| {
                let (what, d, min) = match c {
                    Cond::DistinctApis => {
                        ("distinct recon APIs", self.cfg.distinct_apis_window, self.cfg.min_distinct_apis as u64)
                    }
                    Cond::Regions => ("regions with recon calls", self.cfg.regions_window, self.cfg.min_regions as u64),
                    Cond::Denied => ("denied recon calls", self.cfg.denied_window, self.cfg.min_denied),
                };
                format!(
                    "{} {what} within {} (threshold {min}), window from {}",
                    t.peak,
                    window(d),
                    to_rfc3339(t.earliest)
                )
            })
            .collect();
        let s = &ep.support;
        let summary = format!(
            "{actor} ({}) made {} recon calls to {} distinct APIs across {} services in {} regions between {} and {}; {} denied.",
            s.class(),
            s.count,
            ep.apis.len(),
            ep.services.len(),
            s.regions.len(),
            to_rfc3339(s.first_time(bucket)),
            to_rfc3339(s.last),
            ep.denied
        );
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let ask = format!("Ask the owner of {} whether this enumeration was expected.", arn.unwrap_or(actor));
        Draft {
            meta: &META,
            key: actor,
            anchor: bucket,
            support: s,
            severity: Self::severity(ep),
            confidence: (45 + 15 * ep.triggers.len() as u8 + if ep.denied > 0 { 5 } else { 0 }).min(95),
            techniques,
            context,
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(activity, revision)
    }

    /// Publishes a first version, or an update when severity rose (`closing`: whenever
    /// anything changed since the last publication).
    fn publish(&self, actor: &str, bucket: EventTime, ep: &mut Episode, closing: bool, ctx: &mut RuleCtx<'_>) {
        if ep.triggers.is_empty() {
            return;
        }
        if let Some((activity, revision)) = ep.publication.next(Self::severity(ep), ep.support.count, closing) {
            ctx.emit(self.finding(actor, bucket, ep, activity, revision));
        }
    }
}

fn trigger(episodes: &mut BTreeMap<EventTime, Episode>, bucket: EventTime, cond: Cond, start: EventTime, value: u64) {
    // The window's first event is in `bucket`, so its episode exists; stay defensive anyway.
    let ep = episodes.entry(bucket).or_default();
    let t = ep.triggers.entry(cond).or_insert(Trigger { earliest: start, peak: value });
    t.earliest = t.earliest.min(start);
    t.peak = t.peak.max(value);
    ep.dirty = true;
}

impl Rule for EnumerationBurst {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut name = String::new();
        let mut scratch = Vec::new();
        let mut touched = Touched::new();
        for &row in rows {
            if !self.is_recon(ev, row, &mut name) {
                continue;
            }
            let t = ev.time(row);
            let actor = ev.actor_key(row);
            let bucket_of = |t: EventTime| self.bucket(t);
            let mut entry = self.state.entry(actor.to_string()).or_default();
            let st = entry.value_mut();

            // Episode aggregate: everything this actor's recon did in the bucket.
            let ep = st.episodes.entry(bucket_of(t)).or_default();
            ep.support.add(ev, row, self.cfg.max_evidence);
            let denied = ev.error_code(row).is_some_and(is_denied);
            if denied {
                ep.denied += 1;
            }
            // Keep the smallest 256 names: a cap that does not depend on arrival order.
            if !ep.apis.contains(name.as_str()) {
                ep.apis.insert(name.clone());
                if ep.apis.len() > 256 {
                    ep.apis.pop_last();
                }
            }
            if !ep.services.contains(ev.service(row)) {
                ep.services.insert(ev.service(row).to_string());
            }
            ep.dirty = true;

            // Windows. IaC refreshes only count toward denials (see the module doc).
            let iac = ev.user_agent_matches(row, &self.iac);
            let slot = slot_of(t, self.api_slot);
            if !iac && st.apis.insert(slot, stable_hash(&[name.as_bytes()])) {
                let (w, eps) = (&st.apis, &mut st.episodes);
                w.windows_at_least(slot, SLOTS, self.cfg.min_distinct_apis, &mut scratch, |first, n| {
                    let start = first * self.api_slot;
                    trigger(eps, bucket_of(start), Cond::DistinctApis, start, n as u64);
                });
            }
            if let Some(r) = ev.region(row).filter(|_| !iac) {
                let slot = slot_of(t, self.region_slot);
                if st.regions.insert(slot, stable_hash(&[r.as_bytes()])) {
                    let (w, eps) = (&st.regions, &mut st.episodes);
                    w.windows_at_least(slot, SLOTS, self.cfg.min_regions, &mut scratch, |first, n| {
                        let start = first * self.region_slot;
                        trigger(eps, bucket_of(start), Cond::Regions, start, n as u64);
                    });
                }
            }
            if denied {
                let slot = slot_of(t, self.denied_slot);
                st.denied.add(slot);
                let (w, eps) = (&st.denied, &mut st.episodes);
                w.windows_at_least(slot, SLOTS, self.cfg.min_denied, |first, n| {
                    let start = first * self.denied_slot;
                    trigger(eps, bucket_of(start), Cond::Denied, start, n);
                });
            }
            touched.add(actor);
        }
        // Early firing: publish every episode that became true or more severe in this batch.
        for actor in touched.sorted() {
            if let Some(mut st) = self.state.get_mut(actor) {
                for (bucket, ep) in st.episodes.iter_mut().filter(|(_, ep)| ep.dirty) {
                    ep.dirty = false;
                    self.publish(actor, *bucket, ep, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        let mut out = Vec::new();
        self.state.retain(|actor, st| {
            st.apis.evict_before(slot_of(wm.saturating_sub(ms(self.cfg.distinct_apis_window)), self.api_slot));
            st.regions.evict_before(slot_of(wm.saturating_sub(ms(self.cfg.regions_window)), self.region_slot));
            st.denied.evict_before(slot_of(wm.saturating_sub(ms(self.cfg.denied_window)), self.denied_slot));
            // An episode can still change until no window starting in it can: close it when
            // the watermark is past its end plus the longest window.
            let closable: Vec<EventTime> = st
                .episodes
                .keys()
                .copied()
                .take_while(|b| b.saturating_add(self.episode_ms).saturating_add(self.max_window) <= wm)
                .collect();
            for b in closable {
                if let Some(mut ep) = st.episodes.remove(&b) {
                    let mut sub = RuleCtx { watermark: wm, out: &mut out };
                    self.publish(actor, b, &mut ep, true, &mut sub);
                }
            }
            !(st.episodes.is_empty() && st.apis.is_empty() && st.regions.is_empty() && st.denied.is_empty())
        });
        for f in out {
            ctx.emit(f);
        }
    }

    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        state::save_map(META.id, &self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.state = state::load_map(META.id, bytes)?;
        Ok(())
    }

    fn state_size(&self) -> usize {
        self.state.len()
    }

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}
