//! `identity_baseline`: a machine identity acting outside what it has always done.
//!
//! A stolen CI role, deploy key or instance credential keeps its permissions but loses its
//! habits: the thief calls from his own network, with his own tools, often in a region the
//! workload never touched, and soon makes the IAM change that gives him persistence. This rule
//! keeps, per **principal** ([`EventView::principal`]: the role behind an assumed-role session,
//! else the user ARN — session keys change every hour, so they are the wrong baseline key), a
//! compact baseline over weeks of event time, and reports the first time a principal steps out
//! of it:
//!
//! | dimension | kept per principal (cap) | novelty reported |
//! |---|---|---|
//! | sensitive writes | `service:Action` of IAM / Organizations / CloudTrail writes and `sts:GetFederationToken` (`max_sensitive_writes` 64) | first call of one (even denied: it shows intent) |
//! | key type | `AKIA` / `ASIA` | first long-lived `AKIA` key of a principal that only ever used STS `ASIA` keys |
//! | regions | `max_regions` 32 | first call in a region |
//! | source networks | /24 (IPv4) or /64 (IPv6) (`max_networks` 64) | first call from a network, unless the principal already roams over more than `max_baseline_networks` (16) networks (GitHub-hosted runners come from a new /24 every run); AWS service hostnames are not networks; not learned for Lambda runtimes (rotating AWS addresses) nor for EC2 instance and ECS task sessions (a new address per instance or task; `workload_credential_misuse` judges those per session) |
//! | user-agent families | first product token, lower-cased: `aws-cli`, `boto3`, `aws-sdk-go-v2`, `terraform`, `console/browser`; a Lambda/ECS runtime adds ` (lambda)`/` (ecs)` (`max_agents` 16) | first call with a family |
//! | APIs, services | hashed `service:Action` (`max_apis` 256), services (64) | none: context only ("usually calls 7 APIs of s3, ecr") |
//!
//! **Learning.** A principal is judged only once it has been seen for `learning` (default 7
//! days, long enough to see weekly jobs) of its own event time since its first event, and has
//! made at least `min_events` (default 50) calls: a week-old principal that called twice has
//! no baseline worth the name.
//!
//! **Who is judged.** Machine identities (`workload`, `ci_cd`, `programmatic_user`, and an
//! `unknown` event of a principal already seen as a machine): any novelty. Humans roam (new
//! laptops, travel, new tools), so a human principal (console, SSO) produces a finding only
//! for a sensitive-write novelty *and* a network novelty in the same episode, at low. Root and
//! AWS services are left to other rules.
//!
//! Findings are keyed (uid) by principal and episode; their `actor_key` is the access key of
//! the earliest novel call, the credential to revoke.
//!
//! **Severity** rises with the number of distinct kinds of novelty in the episode: one → low,
//! two → medium, three or more, or any sensitive-write novelty → high. Each finding's
//! `context` states the baseline ("seen in regions us-east-1, eu-west-1 over 9 days; first
//! time in ap-south-1").
//!
//! **Determinism.** A novelty belongs to the episode bucket (`episode`, default 1 h) that holds
//! the *first event ever seen* with that value, and is confirmed when that bucket closes behind
//! the watermark (every event older than the watermark has been seen by then, so first-seen
//! times before the bucket's end are final). Late arrivals can only make first-seen times
//! earlier, which is why the early version is published only once the watermark has reached
//! the bucket's start: from then on no event before the bucket can still arrive, so whatever is
//! new in it stays new and an early finding is never withdrawn (a finding published and not
//! confirmed at close would get a final informational "not new after all" version; only a
//! baseline at its cap could cause that). Capped sets keep the values first seen earliest (ties
//! by value), so what they hold does not depend on arrival order; a dimension whose cap is
//! reached by its baseline stops reporting novelties (the identity is too diverse for it).
//!
//! A baseline learns whatever happens while it learns: a credential already misused during the
//! learning period has the thief's habits in its baseline.
//!
//! **Stays quiet:** everything during learning; a second address in a known /24 (NAT change);
//! a Lambda runtime calling from AWS's rotating addresses; an auto-scaling fleet's new
//! instances and tasks calling from new public addresses; a principal not seen for
//! `retention` (default 30 days of watermark time) is forgotten and learns again.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::{DEFENSE_EVASION, INITIAL_ACCESS};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{stable_hash, Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::arn::is_fleet_session;
use crate::episode::{emit_with, remediation_for, Draft, Publication, Support};
use crate::state::{self, Evictable, FirstSeen, Name, SmallMap, StateError, Tier, Weigh, Weighed};
use crate::text::list;
use crate::touched::Touched;
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "identity_baseline",
    title: "Machine identity outside its baseline",
    severity: Severity::Low,
    tactics: &[INITIAL_ACCESS, DEFENSE_EVASION],
    techniques: &["T1078.004"],
    summary: "After a learning period, a machine identity makes a sensitive write it never made, or calls from a region, network, user agent or key type it never used",
    stateful: true,
};

/// Thresholds of `identity_baseline` (`[rules.identity_baseline]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Event time a principal is only learned, from its first event, before it is judged.
    /// Default 7d.
    #[serde(with = "humantime_serde")]
    pub learning: Duration,
    /// Calls a principal must have made before it is judged. Default 50.
    pub min_events: usize,
    /// A principal not seen for this long (watermark time) is forgotten. Default 30d.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Distinct APIs remembered per principal (context only). Default 256.
    pub max_apis: usize,
    /// Distinct source networks remembered per principal. Default 64.
    pub max_networks: usize,
    /// A principal seen from more networks than this before an episode roams (hosted CI
    /// runners, fleets with public addresses, people): a new network is not news. Default 16.
    pub max_baseline_networks: usize,
    /// Distinct regions remembered per principal. Default 32.
    pub max_regions: usize,
    /// Distinct user-agent families remembered per principal. Default 16.
    pub max_agents: usize,
    /// Distinct sensitive write APIs remembered per principal. Default 64.
    pub max_sensitive_writes: usize,
    /// Services whose write (non read-only) calls are sensitive. Default iam, organizations,
    /// cloudtrail.
    pub sensitive_services: Vec<String>,
    /// Further sensitive calls (`service:Action`), whatever their read-only flag. Default
    /// sts:GetFederationToken.
    pub sensitive_actions: Vec<String>,
    /// Judge human principals too (a sensitive-write novelty together with a network novelty,
    /// at low). Default true.
    pub judge_humans: bool,
}

impl Default for Config {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            learning: Duration::from_secs(7 * 86_400),
            min_events: 50,
            retention: Duration::from_secs(30 * 86_400),
            max_apis: 256,
            max_networks: 64,
            max_baseline_networks: 16,
            max_regions: 32,
            max_agents: 16,
            max_sensitive_writes: 64,
            sensitive_services: s(&["iam", "organizations", "cloudtrail"]),
            sensitive_actions: s(&["sts:GetFederationToken"]),
            judge_humans: true,
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

/// Services remembered per principal (context only).
const MAX_SERVICES: usize = 64;
/// Closing and promotion scans run at most once per this much watermark time.
const SCAN_EVERY: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// A kind of novelty, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Kind {
    SensitiveWrite = 0,
    KeyType = 1,
    Region = 2,
    Network = 3,
    Agent = 4,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::SensitiveWrite => "first sensitive write",
            Kind::KeyType => "first long-lived key",
            Kind::Region => "new region",
            Kind::Network => "new network",
            Kind::Agent => "new user agent family",
        }
    }
}

/// Every event of one candidate value in one episode (complete for any value that can be
/// confirmed: see [`IdentityBaseline::on_batch`]).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Tracked {
    support: Support,
    machine: bool,
    human: bool,
    unknown: bool,
    /// Earliest (time, event id, actor key).
    key: Option<(EventTime, String, String)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    values: SmallMap<(Kind, String), Tracked>,
    publication: Publication,
    dirty: bool,
    /// Candidates seen before the watermark reached the bucket: publish once it has.
    pending: bool,
    /// Severity last published.
    severity: Option<Severity>,
}

crate::state::weigh_fields! { Kind {}, Tracked { support, key }, Episode { values } }

impl Weigh for Principal {
    fn heap(&self) -> usize {
        self.earliest.heap()
            + self.apis.heap()
            + self.services.heap()
            + self.dims.iter().map(Weigh::heap).sum::<usize>()
            + self.episodes.heap()
    }
}

impl Evictable for Principal {
    /// A principal with open episodes (novelties waiting to be confirmed) is live; otherwise
    /// it is only its baseline (long-term memory). Either is as recent as its latest event.
    fn class(&self) -> (Tier, EventTime) {
        (if self.episodes.is_empty() { Tier::LongTerm } else { Tier::Active }, self.last)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Principal {
    first: Option<EventTime>,
    last: EventTime,
    /// The earliest `min_events` event times, ascending.
    earliest: Vec<EventTime>,
    /// Time of the earliest machine-class event.
    machine_first: Option<EventTime>,
    apis: FirstSeen<u64>,
    services: FirstSeen<Name>,
    dims: [FirstSeen<Name>; 5],
    episodes: SmallMap<EventTime, Episode>,
}

/// A confirmed (or, early, certain) novelty.
struct Novelty<'a> {
    kind: Kind,
    value: &'a str,
    first: EventTime,
    tracked: &'a Tracked,
}

/// The rule's state as checkpointed: the last scan's watermark and the principals.
#[derive(Serialize)]
struct Saved<'a> {
    last_scan: i64,
    principals: &'a Weighed<String, Principal>,
}

/// [`Saved`], read back.
#[derive(Deserialize)]
struct Loaded {
    last_scan: i64,
    principals: state::Map<String, Principal>,
}

impl Default for Loaded {
    fn default() -> Self {
        Self { last_scan: i64::MIN, principals: state::Map::default() }
    }
}

/// The rule.
pub struct IdentityBaseline {
    cfg: RuleConfig<Config>,
    episode_ms: i64,
    learning_ms: i64,
    retention_ms: i64,
    sensitive_services: BTreeSet<String>,
    sensitive_actions: BTreeSet<String>,
    last_scan: AtomicI64,
    state: Weighed<String, Principal>,
}

fn ms(d: Duration) -> i64 {
    crate::window::millis(d)
}

impl IdentityBaseline {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self {
            episode_ms: ms(cfg.common.episode).max(1),
            learning_ms: ms(cfg.learning),
            retention_ms: ms(cfg.retention),
            sensitive_services: cfg.sensitive_services.iter().cloned().collect(),
            sensitive_actions: cfg.sensitive_actions.iter().cloned().collect(),
            last_scan: AtomicI64::new(i64::MIN),
            state: Weighed::default(),
            cfg,
        }
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.episode_ms) * self.episode_ms
    }

    /// Closes the episodes behind `ctx.watermark`, publishes what is ready and forgets the
    /// principals past their retention: every principal, once.
    fn scan(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.last_scan.store(wm, Ordering::Relaxed);
        let mut out = Vec::new();
        self.state.sweep(wm, |principal, st| {
            let mut sub = RuleCtx { watermark: wm, context: ctx.context, out: &mut out };
            let closable: Vec<EventTime> =
                st.episodes.keys().copied().take_while(|b| b.saturating_add(self.episode_ms) <= wm).collect();
            for b in closable {
                if let Some(mut ep) = st.episodes.remove(&b) {
                    self.publish(principal, b, st, &mut ep, true, &mut sub);
                }
            }
            self.publish_ready(principal, st, wm, &mut sub);
            if st.episodes.is_empty() {
                // Forgotten once idle for the retention.
                let forget = st.last.saturating_add(self.retention_ms);
                return (forget >= wm).then(|| forget.saturating_add(1));
            }
            // Next visit: an episode closing, or a pending one the watermark reaches.
            let close = st.episodes.keys().next().map_or(EventTime::MAX, |b| b.saturating_add(self.episode_ms));
            let ready = st.episodes.iter().filter(|(_, ep)| ep.pending || ep.dirty).map(|(b, _)| *b).min();
            Some(close.min(ready.unwrap_or(EventTime::MAX)))
        });
        for f in out {
            ctx.emit(f);
        }
    }

    fn cap(&self, kind: Kind) -> usize {
        match kind {
            Kind::SensitiveWrite => self.cfg.max_sensitive_writes,
            Kind::KeyType => 2,
            Kind::Region => self.cfg.max_regions,
            Kind::Network => self.cfg.max_networks,
            Kind::Agent => self.cfg.max_agents,
        }
    }

    /// True when the principal's baseline judges an event at `t`.
    fn mature(&self, st: &Principal, t: EventTime) -> bool {
        let Some(first) = st.first else {
            return false;
        };
        if t < first.saturating_add(self.learning_ms) {
            return false;
        }
        self.cfg.min_events == 0 || st.earliest.get(self.cfg.min_events - 1).is_some_and(|m| *m <= t)
    }

    /// The novelties of episode `b`, and whether they are a human's. Early (`closing` false):
    /// only what can no longer change (the caller checks that the watermark reached `b`), with
    /// maturity required at the bucket start; at close: the final decision.
    fn evaluate<'a>(
        &self,
        st: &'a Principal,
        b: EventTime,
        ep: &'a Episode,
        closing: bool,
    ) -> (Vec<Novelty<'a>>, bool) {
        let end = b.saturating_add(self.episode_ms);
        let roams = st.dims[Kind::Network as usize].before(b).count() > self.cfg.max_baseline_networks;
        let mut machine = Vec::new();
        let mut human = Vec::new();
        for ((kind, value), tr) in &ep.values {
            if *kind == Kind::Network && roams {
                continue;
            }
            let Some(first) = st.dims[*kind as usize].first(value.as_str()) else {
                continue;
            };
            if first < b || first >= end || !self.mature(st, if closing { first } else { b }) {
                continue;
            }
            if *kind == Kind::KeyType && st.dims[Kind::KeyType as usize].first("ASIA").is_none_or(|a| a >= b) {
                continue;
            }
            let n = Novelty { kind: *kind, value, first, tracked: tr };
            if tr.machine || (tr.unknown && st.machine_first.is_some_and(|m| m < b)) {
                machine.push(n);
            } else if tr.human && self.cfg.judge_humans && matches!(kind, Kind::SensitiveWrite | Kind::Network) {
                human.push(n);
            }
        }
        if !machine.is_empty() {
            return (machine, false);
        }
        let kinds: BTreeSet<Kind> = human.iter().map(|n| n.kind).collect();
        if kinds.contains(&Kind::SensitiveWrite) && kinds.contains(&Kind::Network) {
            return (human, true);
        }
        (Vec::new(), false)
    }

    fn severity(novelties: &[Novelty<'_>], human: bool) -> Severity {
        if human {
            return Severity::Low;
        }
        let kinds: BTreeSet<Kind> = novelties.iter().map(|n| n.kind).collect();
        if kinds.contains(&Kind::SensitiveWrite) || kinds.len() >= 3 {
            Severity::High
        } else if kinds.len() == 2 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    /// The baseline facts about one dimension, as of the bucket start.
    fn baseline_of(st: &Principal, kind: Kind, b: EventTime) -> String {
        list(st.dims[kind as usize].before(b).map(Name::as_str), 8)
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        principal: &str,
        b: EventTime,
        st: &Principal,
        novelties: &[Novelty<'_>],
        severity: Severity,
        downgraded: bool,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let mut support = Support::default();
        let mut max_count = 0;
        for n in novelties {
            support.merge(&n.tracked.support, self.cfg.common.max_evidence);
            max_count = max_count.max(n.tracked.support.count);
        }
        // An event often carries several novelties: count the events of the largest one.
        support.count = max_count;
        let first = st.first.unwrap_or(b);
        let days = (b - first).max(0) / DAY;
        let over = format!("over {days} days");
        let mut context: Vec<String> = Vec::new();
        if downgraded {
            context.push(
                "not new after all: the values reported early were seen before this episode once every event had arrived"
                    .to_string(),
            );
        }
        for n in novelties.iter().filter(|_| !downgraded) {
            let line = match n.kind {
                Kind::SensitiveWrite => format!(
                    "first {} ever by this principal at {}; sensitive writes in its baseline: {}",
                    n.value,
                    to_rfc3339(n.first),
                    Self::baseline_of(st, n.kind, b)
                ),
                Kind::KeyType => format!(
                    "first use of a long-lived access key (AKIA) at {}; it used only temporary STS (ASIA) keys {over}",
                    to_rfc3339(n.first)
                ),
                Kind::Region => format!(
                    "seen in regions {} {over}; first time in {} at {}",
                    Self::baseline_of(st, n.kind, b),
                    n.value,
                    to_rfc3339(n.first)
                ),
                Kind::Network => format!(
                    "seen from networks {} {over}; first call from {} at {}",
                    Self::baseline_of(st, n.kind, b),
                    n.value,
                    to_rfc3339(n.first)
                ),
                Kind::Agent => format!(
                    "seen with user-agent families {} {over}; first call with {} at {}",
                    Self::baseline_of(st, n.kind, b),
                    n.value,
                    to_rfc3339(n.first)
                ),
            };
            context.push(line);
        }
        let apis = st.apis.before(b).count();
        let services = list(st.services.before(b).map(Name::as_str), 8);
        context.push(format!(
            "baseline since {} ({days} days, learning {}, at least {} events): {apis} distinct APIs of services {services}",
            to_rfc3339(first),
            humantime::format_duration(self.cfg.learning),
            self.cfg.min_events
        ));
        let labels: Vec<String> = novelties.iter().map(|n| format!("{} {}", n.kind.label(), n.value)).collect();
        let class = support.class();
        let summary = if downgraded {
            format!("{principal} ({class}): the novelties reported early were not new after all.")
        } else {
            format!(
                "{principal} ({class}) acted outside its {days}-day baseline between {} and {}: {}.",
                to_rfc3339(support.first_time(b)),
                to_rfc3339(support.last),
                labels.join(", ")
            )
        };
        let key = novelties
            .iter()
            .filter_map(|n| n.tracked.key.as_ref())
            .min()
            .map(|k| k.2.clone())
            .unwrap_or_else(|| principal.to_string());
        let ask = format!(
            "Ask the owner of {principal} whether this was expected (new deployment region, network, tool or permission change)."
        );
        let kinds: BTreeSet<Kind> = novelties.iter().map(|n| n.kind).collect();
        let mut f = Draft {
            meta: &META,
            key: principal,
            anchor: b,
            support: &support,
            severity,
            confidence: if downgraded { 10 } else { (35 + 15 * kinds.len() as u8).min(90) },
            techniques: Vec::new(),
            context,
            summary,
            remediation: remediation_for(&key, Some(principal).filter(|_| !key.starts_with("AKIA")), &ask),
        }
        .finding(activity, revision);
        // The uid is the principal's (its baseline, its episode); the actor is the credential
        // that stepped out of it, as in every other rule.
        f.actor_key = key;
        f
    }

    /// Evicted: open episodes close early, a published one gets its final version now.
    fn close_early(&self, principal: &str, st: &mut Principal, ctx: &mut RuleCtx<'_>) {
        for b in st.episodes.keys().copied().collect::<Vec<_>>() {
            if let Some(mut ep) = st.episodes.remove(&b) {
                if ep.publication.published() {
                    ep.publication.close_early();
                    self.publish(principal, b, st, &mut ep, true, ctx);
                }
            }
        }
    }

    /// Publishes episode `b` of `principal` (taken out of `st` by the caller).
    fn publish(
        &self,
        principal: &str,
        b: EventTime,
        st: &Principal,
        ep: &mut Episode,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        let mut publication = std::mem::take(&mut ep.publication);
        self.publish_with(principal, b, st, ep, &mut publication, closing, ctx);
        ep.publication = publication;
    }

    #[allow(clippy::too_many_arguments)]
    fn publish_with(
        &self,
        principal: &str,
        b: EventTime,
        st: &Principal,
        ep: &mut Episode,
        publication: &mut Publication,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        let (novelties, human) = self.evaluate(st, b, ep, closing);
        if novelties.is_empty() {
            if closing && publication.published() {
                // Only a baseline at its cap can get here (see the module doc).
                let all: Vec<Novelty<'_>> = ep
                    .values
                    .iter()
                    .map(|((kind, value), tr)| Novelty {
                        kind: *kind,
                        value,
                        first: tr.support.first_time(b),
                        tracked: tr,
                    })
                    .collect();
                let f = self.finding(principal, b, st, &all, Severity::Informational, true, Activity::Update, 0);
                emit_with(publication, f, true, ctx);
            }
            return;
        }
        let severity = Self::severity(&novelties, human);
        // Early, only a rise in severity is published: skip building the finding otherwise.
        if !closing && ep.severity.is_some_and(|s| severity <= s) {
            return;
        }
        let f = self.finding(principal, b, st, &novelties, severity, false, Activity::Create, 0);
        if emit_with(publication, f, closing, ctx) {
            ep.severity = Some(severity);
        }
    }

    /// Publishes (early) every dirty or pending episode the watermark has reached.
    fn publish_ready(&self, principal: &str, st: &mut Principal, wm: EventTime, ctx: &mut RuleCtx<'_>) {
        let ready: Vec<EventTime> = st
            .episodes
            .iter_mut()
            .filter_map(|(b, ep)| {
                if ep.dirty {
                    ep.dirty = false;
                    ep.pending = true;
                }
                (ep.pending && *b <= wm).then_some(*b)
            })
            .collect();
        for b in ready {
            if let Some(mut ep) = st.episodes.remove(&b) {
                ep.pending = false;
                self.publish(principal, b, st, &mut ep, false, ctx);
                st.episodes.insert(b, ep);
            }
        }
    }
}

impl Rule for IdentityBaseline {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        let mut name = String::new();
        let mut touched = Touched::new();
        for &row in rows {
            let class = ev.identity_class(row);
            if matches!(class, IdentityClass::AwsService | IdentityClass::Root) {
                continue;
            }
            let principal = ev.principal(row);
            if principal.is_empty() {
                continue;
            }
            let t = ev.time(row);
            let service = ev.service(row);
            name.clear();
            name.push_str(service);
            name.push(':');
            name.push_str(ev.action(row));
            let agent = ev.agent(row);
            let (family, lambda) = (agent.family.as_str(), agent.lambda);
            // Lambda runtimes call from AWS's rotating addresses, instances and tasks from a new
            // address each: not a network baseline (workload_credential_misuse judges them per
            // session).
            let network = if !lambda && !is_fleet_session(ev.actor_arn(row)) {
                ev.network(row).map(|n| n.prefix.as_str())
            } else {
                None
            };
            let key_type = ev.access_key_id(row).and_then(|k| k.get(..4)).filter(|p| *p == "AKIA" || *p == "ASIA");
            let sensitive = (!ev.read_only(row) && self.sensitive_services.contains(service))
                || self.sensitive_actions.contains(name.as_str());
            let values: [(Kind, Option<&str>); 5] = [
                (Kind::SensitiveWrite, sensitive.then_some(name.as_str())),
                (Kind::KeyType, key_type),
                (Kind::Region, ev.region(row)),
                (Kind::Network, network),
                (Kind::Agent, Some(family)),
            ];

            let mut entry = self.state.upsert(principal, || principal.to_string());
            let st = &mut *entry;
            let first = st.first.map_or(t, |f| f.min(t));
            st.first = Some(first);
            st.last = st.last.max(t);
            if self.cfg.min_events > 0
                && (st.earliest.len() < self.cfg.min_events || st.earliest.last().is_some_and(|l| t < *l))
            {
                let i = st.earliest.partition_point(|x| *x <= t);
                st.earliest.insert(i, t);
                st.earliest.truncate(self.cfg.min_events);
            }
            if class.is_machine() {
                st.machine_first = Some(st.machine_first.map_or(t, |m| m.min(t)));
            }
            st.apis.observe(&stable_hash(&[name.as_bytes()]), t, self.cfg.max_apis);
            st.services.observe(service, t, MAX_SERVICES);

            // Track, per episode, every event of a value that may turn out new in it. A value
            // already seen before the bucket can never be new in it (first-seen times only
            // decrease), and an event the principal is certainly too young for cannot be
            // judged (late events are never older than the watermark, so the principal's
            // first event is at least min(first, watermark)); every other event of the value
            // is tracked, so the support of a value confirmed at close is complete whatever
            // the arrival order.
            let b = self.bucket(t);
            let possibly_mature = t >= first.min(wm).saturating_add(self.learning_ms);
            let human = class == IdentityClass::Human;
            for (kind, value) in values {
                let Some(value) = value else {
                    continue;
                };
                let (prev, kept) = st.dims[kind as usize].observe(value, t, self.cap(kind));
                if !possibly_mature || !kept || prev.is_some_and(|p| p < b) {
                    continue;
                }
                if human && !(self.cfg.judge_humans && matches!(kind, Kind::SensitiveWrite | Kind::Network)) {
                    continue;
                }
                if kind == Kind::KeyType && value != "AKIA" {
                    continue;
                }
                let ep = st.episodes.get_or_insert_with(b, Episode::default);
                let tr = ep.values.get_or_insert_with((kind, value.to_string()), Tracked::default);
                tr.support.add(ev, row, self.cfg.common.max_evidence);
                tr.machine |= class.is_machine();
                tr.human |= human;
                tr.unknown |= class == IdentityClass::Unknown;
                let id = ev.event_id(row);
                if tr.key.as_ref().is_none_or(|k| (t, id) < (k.0, k.1.as_str())) {
                    tr.key = Some((t, id.to_string(), ev.actor_key(row).to_string()));
                }
                ep.dirty = true;
            }
            drop(entry);
            touched.add(principal);
        }
        for principal in touched.sorted() {
            if let Some(mut st) = self.state.get_mut(principal) {
                self.publish_ready(principal, &mut st, wm, ctx);
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        let last = self.last_scan.load(Ordering::Relaxed);
        if wm != i64::MAX && last != i64::MIN && wm < last.saturating_add(SCAN_EVERY) {
            return;
        }
        self.scan(ctx);
    }

    fn on_settle(&self, ctx: &mut RuleCtx<'_>) {
        self.scan(ctx);
    }
    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        let saved =
            Saved { last_scan: self.last_scan.load(Ordering::Relaxed), principals: &self.state };
        state::save(META.id, &saved)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let loaded: Loaded = state::load(META.id, bytes)?;
        self.last_scan = AtomicI64::new(loaded.last_scan);
        self.state = Weighed::from_map(loaded.principals.0);
        Ok(())
    }

    fn state_size(&self) -> usize {
        self.state.len()
    }

    fn state_bytes(&self) -> usize {
        self.state.bytes()
    }

    super::keyed_state!(evict state, close = close_early);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
#[path = "tests/identity_baseline.rs"]
mod tests;
