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
use trailhound_model::{stable_hash, Activity, Finding, IdentityClass, Origin, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::fields::is_denied;
use crate::text::Fragments;
use crate::state::{self, Call, Evictable, Evicted, Name, Order, RecentCalls, SmallMap, SmallSet, StateError, Tier, Weighed};
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
    /// Distinct recon APIs in one episode that make a burst broad (a tool mapping the
    /// account, not a script's or a page's handful of reads): a broad burst is at least
    /// `medium`. Default 15.
    pub broad_apis: usize,
    /// How long a principal's recon history (the APIs and regions of its earlier bursts) is
    /// remembered since its last burst. Default 30 days.
    #[serde(with = "humantime_serde")]
    pub history: Duration,
    /// Share (percent) of an episode's distinct APIs that the principal's earlier bursts
    /// already used, for the burst to count as habitual (with at most one new region): an
    /// identity that always enumerates like this is not news. Default 80.
    pub habitual_percent: u8,
}

impl Default for Config {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            distinct_apis_window: Duration::from_secs(10),
            min_distinct_apis: 6,
            regions_window: Duration::from_secs(30),
            min_regions: 10,
            denied_window: Duration::from_secs(600),
            min_denied: 10,
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
            broad_apis: 15,
            history: Duration::from_secs(30 * 24 * 3600),
            habitual_percent: 80,
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10), `episode` (default 1h).
pub const COMMON: CommonDefaults = CommonDefaults {
    max_evidence: Some(10),
    episode: Some(Duration::from_secs(3600)),
    episode_alias: None,
};

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
    /// The distinct recon APIs (`stable_hash` of `service:Action`), the smallest 256.
    #[serde(deserialize_with = "api_keys")]
    apis: SmallSet<u64>,
    services: SmallSet<Name>,
    triggers: BTreeMap<Cond, Trigger>,
    publication: Publication,
    dirty: bool,
    /// The principal (role or user) behind the actor, for its recon history.
    #[serde(default)]
    principal: String,
    /// The scanner-name fragment the principal matched (see [`crate::context`]).
    #[serde(default)]
    scanner: Option<String>,
    /// How the episode compares with the principal's earlier bursts.
    #[serde(default)]
    history: Option<Judgement>,
}

/// An episode's APIs as snapshots hold them: hashes, or the names themselves (as trailhound
/// wrote them before it kept hashes), hashed on reading.
fn api_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SmallSet<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Key {
        Hash(u64),
        Name(String),
    }
    let keys = Vec::<Key>::deserialize(d)?;
    let mut set: SmallSet<u64> = keys
        .into_iter()
        .map(|k| match k {
            Key::Hash(h) => h,
            Key::Name(n) => stable_hash(&[n.as_bytes()]),
        })
        .collect();
    while set.len() > MAX_EPISODE_APIS {
        set.pop_last();
    }
    Ok(set)
}

/// Distinct APIs an episode keeps.
const MAX_EPISODE_APIS: usize = 256;

crate::state::weigh_fields! { Cond {}, Trigger {}, Episode { support, apis, services, triggers, principal, scanner } }

/// An episode judged against its principal's recon history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Judgement {
    /// Earlier bursts (episode buckets) of the principal.
    earlier: usize,
    /// Bucket of the first of them.
    since: EventTime,
    /// Distinct APIs of this episode the earlier bursts used.
    known: usize,
    /// Distinct APIs of this episode.
    total: usize,
    /// Regions of this episode no earlier burst touched.
    new_regions: usize,
    /// Within the habitual thresholds.
    habitual: bool,
}

/// A principal's recon history: what its bursts used, and since when.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Habit {
    /// API hash → bucket of the first burst that used it.
    apis: BTreeMap<u64, EventTime>,
    /// Region hash → bucket of the first burst that touched it.
    regions: BTreeMap<u64, EventTime>,
    /// Buckets of its bursts (the latest 64).
    bursts: BTreeSet<EventTime>,
}

/// APIs remembered per principal.
const HABIT_APIS: usize = 1024;

crate::state::weigh_fields! { Habit { apis, regions, bursts } }

impl Habit {
    fn judge(&self, bucket: EventTime, apis: &[u64], regions: &[u64], percent: u8) -> Option<Judgement> {
        let earlier = self.bursts.range(..bucket).count();
        let since = *self.bursts.first()?;
        if earlier == 0 {
            return None;
        }
        let before = |m: &BTreeMap<u64, EventTime>, k: &u64| m.get(k).is_some_and(|b| *b < bucket);
        let known = apis.iter().filter(|a| before(&self.apis, a)).count();
        let new_regions = regions.iter().filter(|r| !before(&self.regions, r)).count();
        let habitual = !apis.is_empty() && known * 100 >= apis.len() * usize::from(percent) && new_regions <= 1;
        Some(Judgement { earlier, since, known, total: apis.len(), new_regions, habitual })
    }

    fn record(&mut self, bucket: EventTime, apis: &[u64], regions: &[u64]) {
        for a in apis {
            if let Some(b) = self.apis.get_mut(a) {
                *b = (*b).min(bucket);
            } else if self.apis.len() < HABIT_APIS {
                self.apis.insert(*a, bucket);
            }
        }
        for r in regions {
            let b = self.regions.entry(*r).or_insert(bucket);
            *b = (*b).min(bucket);
        }
        self.bursts.insert(bucket);
        while self.bursts.len() > 64 {
            self.bursts.pop_first();
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActorState {
    apis: SlotDistinct,
    regions: SlotDistinct,
    denied: SlotCount,
    episodes: SmallMap<EventTime, Episode>,
    /// The counted recon calls a window that may still cross could hold (time at or after
    /// the watermark minus the longest window; at most [`RECENT_CAP`], the latest kept), by
    /// time: where a crossing window's decisive events come from, whatever the arrival order.
    #[serde(default)]
    recent: RecentCalls,
    /// Time of the latest recon call (what eviction orders actors by).
    #[serde(default)]
    last: EventTime,
}

crate::state::weigh_fields! { ActorState { apis, regions, denied, episodes, recent } }

impl Evictable for ActorState {
    /// An actor's state is live while one of its windows may still fire: while it holds slots
    /// (housekeeping drops those that no window reaching the watermark contains: the engine
    /// runs it before it weighs the state). Otherwise it only completes its episodes' findings
    /// (dormant): an actor that comes back starts its windows afresh, which loses nothing,
    /// since its old calls could no longer share a window with the new ones.
    fn class(&self) -> (Tier, EventTime) {
        let live = !(self.apis.is_empty() && self.regions.is_empty() && self.denied.is_empty());
        (if live { Tier::Active } else { Tier::Dormant }, self.last)
    }
}

/// An episode to judge against its principal's history: bucket, principal, API and region
/// hashes, and whether it may become habit (it pages no one).
type ToJudge = (EventTime, String, Vec<u64>, Vec<u64>, bool);

/// Counted recon calls kept per actor for decisive evidence.
const RECENT_CAP: usize = 64;

/// What [`EnumerationBurst`] checkpoints.
#[derive(Default, Serialize, Deserialize)]
struct Saved {
    #[serde(with = "crate::state::bytes")]
    actors: Vec<u8>,
    #[serde(with = "crate::state::bytes")]
    habits: Vec<u8>,
}

/// The rule.
pub struct EnumerationBurst {
    cfg: RuleConfig<Config>,
    api_slot: i64,
    region_slot: i64,
    denied_slot: i64,
    episode_ms: i64,
    max_window: i64,
    prefixes: Vec<String>,
    iac: Fragments,
    extra: foldhash::HashSet<String>,
    excluded: foldhash::HashSet<String>,
    state: Weighed<String, ActorState>,
    /// Recon history per principal (role or user ARN).
    habits: Weighed<String, Habit>,
}

const SLOTS: i64 = 10;

fn ms(d: Duration) -> i64 {
    crate::window::millis(d).max(SLOTS)
}

impl EnumerationBurst {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        let (a, r, d) = (ms(cfg.distinct_apis_window), ms(cfg.regions_window), ms(cfg.denied_window));
        Self {
            api_slot: (a / SLOTS).max(1),
            region_slot: (r / SLOTS).max(1),
            denied_slot: (d / SLOTS).max(1),
            episode_ms: ms(cfg.common.episode),
            max_window: a.max(r).max(d),
            prefixes: cfg.recon_prefixes.clone(),
            iac: Fragments::new(&cfg.iac_user_agents),
            extra: cfg.extra_recon_actions.iter().cloned().collect(),
            excluded: cfg.excluded_actions.iter().cloned().collect(),
            state: Weighed::default(),
            habits: Weighed::default(),
            cfg,
        }
    }

    /// Whether `row`'s user agent names an IaC tool of `iac_user_agents`: decided once per
    /// distinct agent of the batch (`memo`, indexed by [`EventView::agent_id`]).
    fn iac_agent(&self, ev: &EventView<'_>, row: usize, memo: &mut Vec<Option<bool>>) -> bool {
        if memo.is_empty() {
            memo.resize(ev.distinct_agents(), None);
        }
        match memo.get_mut(ev.agent_id(row)) {
            Some(known) => *known.get_or_insert_with(|| ev.user_agent(row).is_some_and(|ua| self.iac.matches(ua))),
            None => ev.user_agent(row).is_some_and(|ua| self.iac.matches(ua)),
        }
    }

    fn is_recon(&self, ev: &EventView<'_>, row: usize, name: &mut String) -> bool {
        // A person browsing the console issues bursts of reads by design; AWS services read
        // on the account's behalf. Neither is a stolen identity's enumeration.
        if ev.data_event(row)
            || ev.identity_class(row) == IdentityClass::AwsService
            || matches!(ev.origin(row), Origin::Console | Origin::AwsService)
        {
            return false;
        }
        let action = ev.action(row);
        let prefixed = self.prefixes.iter().any(|p| action.starts_with(p.as_str()));
        if !prefixed && self.extra.is_empty() {
            return false;
        }
        name.clear();
        name.push_str(ev.service(row));
        name.push(':');
        name.push_str(action);
        // Excluded wins over both; a call without a recon prefix is recon only when listed.
        let listed = |set: &foldhash::HashSet<String>| set.contains(name.as_str());
        if prefixed {
            !listed(&self.excluded)
        } else {
            listed(&self.extra) && !listed(&self.excluded)
        }
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.episode_ms) * self.episode_ms
    }

    /// A recon history is as recent as its latest burst.
    fn habit_last(h: &Habit) -> EventTime {
        h.bursts.last().copied().unwrap_or(i64::MIN)
    }

    /// Severity, calibrated so that `high` means act now: a narrow burst (a script's or a
    /// page's handful of distinct reads) is `low`; a broad one (`broad_apis`), a region sweep or
    /// a denial burst is `medium`, and `high` with two conditions or on a machine identity or
    /// the root user. A known scanner's bursts are `informational`, and so is a burst like the
    /// principal's earlier ones (habitual).
    fn severity(&self, ep: &Episode) -> Severity {
        if ep.history.as_ref().is_some_and(|h| h.habitual) {
            return Severity::Informational;
        }
        self.unhabitual_severity(ep)
    }

    /// [`Self::severity`] before the recon history is taken into account.
    fn unhabitual_severity(&self, ep: &Episode) -> Severity {
        let class = ep.support.class();
        let strong = ep.apis.len() >= self.cfg.broad_apis
            || ep.triggers.contains_key(&Cond::Regions)
            || ep.triggers.contains_key(&Cond::Denied);
        let mut s = if strong { Severity::Medium } else { Severity::Low };
        if strong && (ep.triggers.len() >= 2 || class.is_machine() || class == IdentityClass::Root) {
            s = Severity::High;
        }
        if ep.scanner.is_some() {
            // Enumerating is what a named scanner role is for: context, not a page.
            s = Severity::Informational;
        }
        s
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
            .collect::<Vec<String>>();
        let mut context = context;
        let who = if ep.principal.is_empty() { actor } else { ep.principal.as_str() };
        context.push(match &ep.history {
            Some(h) => format!(
                "judged against the recon history of {who}: {} earlier burst(s) since {}; {} of {} APIs and all but {} region(s) seen before{}",
                h.earlier,
                to_rfc3339(h.since),
                h.known,
                h.total,
                h.new_regions,
                if h.habitual { " (habitual: informational)" } else { "" }
            ),
            None => format!("no earlier recon burst of {who}"),
        });
        if let Some(f) = &ep.scanner {
            context.push(format!("known scanner identity (name matches '{f}'): informational"));
        }
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
            severity: self.severity(ep),
            confidence: (45 + 15 * ep.triggers.len() as u8 + if ep.denied > 0 { 5 } else { 0 }).min(95),
            techniques,
            context,
            summary,
            remediation: remediation_for(actor, arn, &ask),
        }
        .finding(activity, revision)
    }

    /// Evicted: a published episode gets its final version now.
    fn close_early(&self, actor: &str, st: &mut ActorState, ctx: &mut RuleCtx<'_>) {
        for (b, mut ep) in std::mem::take(&mut st.episodes) {
            ep.publication.close_early();
            self.publish(actor, b, &mut ep, true, ctx);
        }
    }

    /// Publishes a first version, or an update when severity rose (`closing`: whenever
    /// anything changed since the last publication).
    fn publish(&self, actor: &str, bucket: EventTime, ep: &mut Episode, closing: bool, ctx: &mut RuleCtx<'_>) {
        if ep.triggers.is_empty() {
            return;
        }
        if let Some((activity, revision)) = ep.publication.next(self.severity(ep), ep.support.count, closing) {
            ctx.emit(self.finding(actor, bucket, ep, activity, revision));
        }
    }
}

fn trigger(episodes: &mut SmallMap<EventTime, Episode>, bucket: EventTime, cond: Cond, start: EventTime, value: u64) {
    // The window's first event is in `bucket`, so its episode exists; stay defensive anyway.
    let ep = episodes.get_or_insert_with(bucket, Episode::default);
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
        let mut iac_memo = Vec::new();
        for &row in rows {
            if !self.is_recon(ev, row, &mut name) {
                continue;
            }
            let t = ev.time(row);
            let actor = ev.actor_key(row);
            let bucket_of = |t: EventTime| self.bucket(t);
            let mut entry = self.state.upsert(actor, || actor.to_string());
            let st = &mut *entry;
            st.last = st.last.max(t);

            // Episode aggregate: everything this actor's recon did in the bucket.
            let ep = st.episodes.get_or_insert_with(bucket_of(t), Episode::default);
            if ep.principal.is_empty() {
                ep.principal = ev.principal(row).to_string();
            }
            if ep.support.count == 0 {
                // An actor is one identity: its first call in the episode says whether it is a
                // known scanner.
                ep.scanner = ctx.context.scanner(ev, row).map(str::to_string);
            }
            ep.support.add(ev, row, self.cfg.common.max_evidence);
            let denied = ev.error_code(row).is_some_and(is_denied);
            if denied {
                ep.denied += 1;
            }
            // Keep the smallest hashes: a cap that does not depend on arrival order.
            let api = stable_hash(&[name.as_bytes()]);
            ep.apis.insert_capped(api, MAX_EPISODE_APIS);
            if !ep.services.contains(ev.service(row)) {
                ep.services.insert(ev.service(row).into());
            }
            ep.dirty = true;

            // Windows. IaC refreshes only count toward denials (see the module doc).
            let iac = ev.origin(row) == Origin::Iac || self.iac_agent(ev, row, &mut iac_memo);
            let counted = !iac || denied;
            if counted {
                let call = Call::build(t, ev.event_id(row), ev.summary_len(row), denied, |s| ev.push_summary(row, s));
                st.recent.insert(call, RECENT_CAP);
            }
            let mut crossed = false;
            let slot = slot_of(t, self.api_slot);
            if !iac && st.apis.insert(slot, api) {
                let (w, eps) = (&st.apis, &mut st.episodes);
                w.windows_at_least(slot, SLOTS, self.cfg.min_distinct_apis, &mut scratch, |first, n| {
                    let start = first * self.api_slot;
                    trigger(eps, bucket_of(start), Cond::DistinctApis, start, n as u64);
                    crossed = true;
                });
            }
            if let Some(r) = ev.region(row).filter(|_| !iac) {
                let slot = slot_of(t, self.region_slot);
                if st.regions.insert(slot, stable_hash(&[r.as_bytes()])) {
                    let (w, eps) = (&st.regions, &mut st.episodes);
                    w.windows_at_least(slot, SLOTS, self.cfg.min_regions, &mut scratch, |first, n| {
                        let start = first * self.region_slot;
                        trigger(eps, bucket_of(start), Cond::Regions, start, n as u64);
                        crossed = true;
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
                    crossed = true;
                });
            }
            // Decisive evidence: the counted calls inside the earliest window that met each
            // condition (the earliest `max_evidence` of them, by time). A crossing takes them
            // from the calls kept so far; a later call is added on its own when it falls in
            // such a window.
            if let Some(ep) = st.episodes.get_mut(&bucket_of(t)) {
                for (cond, trig) in &ep.triggers {
                    let w = match cond {
                        Cond::DistinctApis => ms(self.cfg.distinct_apis_window),
                        Cond::Regions => ms(self.cfg.regions_window),
                        Cond::Denied => ms(self.cfg.denied_window),
                    };
                    let end = trig.earliest.saturating_add(w);
                    // A denial burst's decisive calls are its denials, not the owner's
                    // successful reads in the same minutes.
                    let wanted = |time: EventTime, denied: bool| {
                        time >= trig.earliest && time < end && (*cond != Cond::Denied || denied)
                    };
                    if crossed {
                        for c in st.recent.iter().filter(|c| wanted(c.time(), c.flag())) {
                            ep.support.push_decisive_call(c, self.cfg.common.max_evidence);
                        }
                    } else if counted && wanted(t, denied) {
                        ep.support.mark_decisive(ev, row, self.cfg.common.max_evidence);
                    }
                }
            }
            touched.add(actor);
        }
        // Early firing: publish every episode that became true or more severe in this batch,
        // judged against its principal's recon history first (one map at a time).
        for actor in touched.sorted() {
            let pending: Vec<ToJudge> = match self.state.get(actor) {
                Some(st) => st
                    .episodes
                    .iter()
                    .filter(|(_, ep)| ep.dirty && !ep.triggers.is_empty())
                    .map(|(b, ep)| {
                        let apis = ep.apis.as_slice().to_vec();
                        let regions = ep.support.regions.iter().map(|r| stable_hash(&[r.as_bytes()])).collect();
                        (*b, ep.principal.clone(), apis, regions, self.unhabitual_severity(ep) <= Severity::Low)
                    })
                    .collect(),
                None => continue,
            };
            let verdicts: Vec<(EventTime, Option<Judgement>)> = pending
                .into_iter()
                .map(|(bucket, principal, apis, regions, learnable)| {
                    let mut h = self.habits.entry(principal);
                    let verdict = h.judge(bucket, &apis, &regions, self.cfg.habitual_percent);
                    // Only bursts that page no one become habit: an attacker's alerted burst
                    // must not make the next one on the same identity look habitual.
                    if learnable || verdict.as_ref().is_some_and(|v| v.habitual) {
                        h.record(bucket, &apis, &regions);
                    }
                    (bucket, verdict)
                })
                .collect();
            if let Some(mut st) = self.state.get_mut(actor) {
                for (bucket, verdict) in verdicts {
                    if let Some(ep) = st.episodes.get_mut(&bucket) {
                        ep.history = verdict;
                    }
                }
                for (bucket, ep) in st.episodes.iter_mut().filter(|(_, ep)| ep.dirty) {
                    ep.dirty = false;
                    self.publish(actor, *bucket, ep, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        let (api_w, region_w, denied_w) =
            (ms(self.cfg.distinct_apis_window), ms(self.cfg.regions_window), ms(self.cfg.denied_window));
        self.state.sweep(wm, |actor, st| {
            st.apis.evict_before(slot_of(wm.saturating_sub(api_w), self.api_slot));
            st.regions.evict_before(slot_of(wm.saturating_sub(region_w), self.region_slot));
            st.denied.evict_before(slot_of(wm.saturating_sub(denied_w), self.denied_slot));
            // An episode can still change until no window starting in it can: close it when
            // the watermark is past its end plus the longest window.
            let close_at = |b: EventTime| b.saturating_add(self.episode_ms).saturating_add(self.max_window);
            let closable: Vec<EventTime> = st.episodes.keys().copied().take_while(|b| close_at(*b) <= wm).collect();
            for b in closable {
                if let Some(mut ep) = st.episodes.remove(&b) {
                    self.publish(actor, b, &mut ep, true, ctx);
                }
            }
            let keep_from = wm.saturating_sub(self.max_window);
            st.recent.drop_before(keep_from);
            if st.episodes.is_empty() && st.apis.is_empty() && st.regions.is_empty() && st.denied.is_empty() {
                return None;
            }
            // Next visit: when a window's oldest slot leaves, an episode closes or a recent
            // call falls behind the longest window, whichever comes first.
            let due = st
                .apis
                .due(self.api_slot, api_w)
                .min(st.regions.due(self.region_slot, region_w))
                .min(st.denied.due(self.denied_slot, denied_w))
                .min(st.episodes.keys().next().map_or(EventTime::MAX, |b| close_at(*b)))
                .min(st.recent.first_time().map_or(EventTime::MAX, |t| t.saturating_add(self.max_window).saturating_add(1)));
            Some(due)
        });
        let history = crate::window::millis(self.cfg.history);
        let forget = wm.saturating_sub(history);
        // Forgotten once the watermark is past the latest burst by the history.
        self.habits.sweep(wm, |_, h| {
            let last = *h.bursts.last().filter(|b| **b >= forget)?;
            Some(last.saturating_add(history).saturating_add(1))
        });
    }

    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        let saved = Saved { actors: self.state.save(META.id)?, habits: self.habits.save(META.id)? };
        state::save(META.id, &saved)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        if bytes.is_empty() {
            self.state = Weighed::default();
            self.habits = Weighed::default();
            return Ok(());
        }
        let saved: Saved = state::load(META.id, bytes)?;
        self.state = Weighed::load(META.id, &saved.actors)?;
        self.habits = Weighed::load(META.id, &saved.habits)?;
        Ok(())
    }

    fn state_size(&self) -> usize {
        self.state.len() + self.habits.len()
    }

    fn state_bytes(&self) -> usize {
        self.state.bytes() + self.habits.bytes()
    }

    fn activity(&self, _watermark: EventTime, out: &mut state::Activity) {
        self.state.activity_of(out);
        self.habits.activity(out, |_, h| Some((Tier::LongTerm, Self::habit_last(h))));
    }

    fn evict(&self, tier: Tier, before: EventTime, ctx: &mut RuleCtx<'_>) -> Evicted {
        let mut done = self.state.evict_closing(tier, before, ctx, Order::Uid, |k, st, ctx| self.close_early(k, st, ctx));
        done += self.habits.evict(tier, before, |_, h| Some((Tier::LongTerm, Self::habit_last(h))), |_, _| {});
        done
    }

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_with_api_names_read_back_as_hashes() {
        let names = ["ec2:DescribeInstances", "iam:ListUsers", "s3:ListBuckets"];
        // An episode as an earlier version wrote it: the API names themselves.
        let mut old = serde_json::to_value(Episode::default()).expect("episode");
        old["apis"] = serde_json::json!(names);
        let ep: Episode = rmp_serde::from_slice(&rmp_serde::to_vec_named(&old).expect("old")).expect("read old");
        let want: SmallSet<u64> = names.iter().map(|n| stable_hash(&[n.as_bytes()])).collect();
        assert_eq!(ep.apis, want);
        let again: Episode = rmp_serde::from_slice(&rmp_serde::to_vec_named(&ep).expect("new")).expect("read new");
        assert_eq!(again.apis, want);
    }
}
