//! `workload_credential_misuse`: a workload's session credentials used from somewhere else.
//!
//! An EC2 instance, ECS task or Lambda function gets temporary credentials for its role (from
//! the instance metadata service, the task metadata endpoint, or the environment). An attacker
//! with SSRF, a shell or `ssm:SendCommand` on the workload reads them and uses them from his own
//! machine: the same session key (`ASIA…`) then calls from a network the workload never used.
//! Per workload session (actor key; `identity_class` workload, e.g.
//! `assumed-role/<role>/i-0123…`), this rule fires on either of:
//!
//! - **Foreign network.** The session's *home* is the set of networks (/24, /64) of its earliest
//!   `home_events` calls by event time (default 3). A later call from a **public** network
//!   outside the home — including a public address where the home holds only private VPC
//!   addresses — is foreign: an instance calls from its private address (VPC endpoints), its
//!   public address or its NAT gateway, and none of these changes within a session. One
//!   exception keeps VPC endpoints from looking like theft: a session whose first calls went
//!   to S3 through a gateway endpoint (private) and whose later calls leave through the NAT
//!   gateway. So a public network is not foreign either when another workload session of the
//!   same account (Lambda runtimes aside) called from it before this session's first call
//!   from it: the NAT gateway is shared by the VPC's workloads, an attacker's address is not.
//!   AWS service hostnames (`ec2.amazonaws.com`) are not networks. Calls from private
//!   addresses are never foreign (another VPC's address cannot be told from this one's).
//! - **Operator's machine.** An instance session calling from the public address from which,
//!   within `share_window` (default 30 min), a person or an IAM user (identity class human,
//!   programmatic_user or root) reached into that very instance — `ssm:SendCommand`,
//!   `ssm:StartSession`, EC2 Instance Connect (the instance ids are in the request, kept for
//!   these mutating calls) — on a network the account's workloads do not use (an automation
//!   host behind the NAT gateway running commands on the fleet is not suspect). That is the
//!   exfiltration pattern of Stratus `ec2-steal-instance-credentials`: the operator's IAM user
//!   runs `ssm:SendCommand` to print the instance's credentials, reads the output, and uses
//!   them from the same address seconds later, before the instance itself made any call.
//!
//! Lambda sessions (home calls whose user agent names the Lambda runtime) legitimately call
//! from AWS's rotating addresses: for them a foreign network counts only when the user agent
//! family changes too (see `agents::agent_family`; the runtime is part of the
//! family). Sessions classified `unknown` are followed too, and judged once the session was
//! seen as a workload, since a thief's own tool often makes the event's class unknown.
//!
//! Severity high; critical when the foreign calls include an IAM write or at least
//! `many_apis` (default 10) distinct APIs.
//!
//! **Determinism.** One finding per session per `episode` bucket (default 1 h), uid
//! `hash(rule, session, bucket)`. The home is the earliest calls by (time, event id) and the
//! account's networks are first-seen times, so neither depends on arrival order once no
//! earlier call can arrive. A verdict is therefore published (right after the batch, from
//! `on_watermark`) once the watermark is past the session's first call from the network (and,
//! for a foreign network, past the home's last call): up to the allowed lateness after the
//! call, and never withdrawn. Operator calls only add up; the final version is decided when
//! the bucket closes, after the watermark passes its end plus `share_window`, from the final
//! home and every operator call of the window. An attack that goes on past the bucket is
//! reported in its first bucket: by then the address is one the account's workloads have
//! used.
//!
//! Stays quiet: an instance calling from its private address and then, after a NAT change,
//! from a second public address in the same /24; a Lambda function's calls from varying AWS
//! addresses with its own runtime user agent; CI runners (class ci_cd) and people; an
//! instance whose first calls went through the S3 endpoint and later ones through the NAT
//! gateway other workloads of the account use.
//! Known false positives: the first session of an account to call through a new NAT gateway
//! after only private calls (no other workload used it before); an instance on whose own
//! public address someone runs SSM commands on it with their own key, before any other
//! workload of the account called from there (allowlist the role in `[suppress]`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::{CREDENTIAL_ACCESS, INITIAL_ACCESS};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::arn::fleet_session;
use crate::episode::{emit_with, remediation_for, Draft, Publication, Support};
use crate::state::{self, Evicted, FirstSeen, Name, Order, SmallMap, SmallSet, StateError, Tier, Weighed};
use crate::text::list;
use crate::touched::Touched;
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "workload_credential_misuse",
    title: "Workload credentials used from another network",
    severity: Severity::High,
    tactics: &[INITIAL_ACCESS, CREDENTIAL_ACCESS],
    techniques: &["T1552.005", "T1078.004"],
    summary: "An instance, task or function session calls from a public network outside its own, or from the address of someone who just reached into the instance",
    stateful: true,
};

/// Thresholds of `workload_credential_misuse` (`[rules.workload_credential_misuse]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Earliest calls (by event time) whose networks are the session's home. Default 3.
    pub home_events: usize,
    /// A person's or IAM user's SSM command or session, or EC2 Instance Connect key, on the
    /// session's instance from the same public address within this time of the session's call
    /// makes it an operator's machine. Default 30m.
    #[serde(with = "humantime_serde")]
    pub share_window: Duration,
    /// Distinct APIs called from foreign networks that make the finding critical. Default 10.
    pub many_apis: usize,
    /// A session not seen for this long (watermark time) is forgotten. Default 12h.
    #[serde(with = "humantime_serde")]
    pub session_idle: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            home_events: 3,
            share_window: Duration::from_secs(1800),
            many_apis: 10,
            session_idle: Duration::from_secs(12 * 3600),
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

const MINUTE: i64 = 60_000;
/// Closing and promotion scans run at most once per this much watermark time.
const SCAN_EVERY: i64 = MINUTE;
/// Distinct APIs, families and addresses kept per network per episode.
const MAX_APIS: usize = 64;
const MAX_FAMILIES: usize = 8;
const MAX_IPS: usize = 8;
/// Operators remembered per instance and minute, and per network of an episode.
const MAX_OPERATORS: usize = 3;
/// Calls by which a person or an IAM user reaches into an instance (`service:Action`, and the
/// request field naming the instance).
const INSTANCE_ACCESS: [(&str, &str); 4] = [
    ("ssm:SendCommand", "instanceIds"),
    ("ssm:StartSession", "target"),
    ("ec2-instance-connect:SendSSHPublicKey", "instanceId"),
    ("ec2-instance-connect:SendSerialConsoleSSHPublicKey", "instanceId"),
];
/// Public networks remembered per account.
const MAX_ACCOUNT_NETWORKS: usize = 256;

/// One of the earliest calls of a session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Home {
    time: EventTime,
    event_id: String,
    network: String,
    public: bool,
    family: String,
    lambda: bool,
}

/// A session's calls from one public network in one episode.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NetUse {
    support: Support,
    apis: SmallSet<Name>,
    iam_writes: SmallSet<Name>,
    families: SmallSet<Name>,
    /// Address → minutes (event time / 1 min) it called in.
    ips: SmallMap<Name, SmallSet<i64>>,
    /// Operators who accessed this session's instance from those addresses, as
    /// `who ran what`: so far, and all of them at close.
    operators: SmallSet<String>,
    /// The account's workloads used this network before this session did (final): neither
    /// foreign nor an operator's.
    cleared: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    nets: SmallMap<Name, NetUse>,
    publication: Publication,
    dirty: bool,
    /// Severity last published.
    severity: Option<Severity>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Session {
    account: String,
    /// The EC2 instance whose profile the session belongs to.
    instance: Option<String>,
    home: SmallSet<Home>,
    workload_first: Option<EventTime>,
    last: EventTime,
    episodes: SmallMap<EventTime, Episode>,
}

crate::state::weigh_fields! {
    Home { event_id, network, family },
    NetUse { support, apis, iam_writes, families, ips, operators },
    Episode { nets },
    Session { account, instance, home, episodes },
}

/// Operator calls into one instance: minute → (address, `who ran what`).
type Operators = BTreeMap<i64, SmallSet<(String, String)>>;

/// What the session and its account say about an episode, copied out of the maps.
#[derive(Debug, Default)]
struct HomeView {
    nets: BTreeSet<String>,
    families: BTreeSet<String>,
    lambda: bool,
    /// No call earlier than the home's last can still arrive: the home is final.
    settled: bool,
    workload: bool,
    /// The home's calls (time, network, public, family), written out only for a finding.
    calls: Vec<(EventTime, String, bool, String)>,
    /// Per network of the episode: the account's workloads used it before this session's
    /// first call from it in the episode (and that can no longer change).
    account_known: BTreeMap<String, bool>,
    /// Per network of the episode: the foreign verdict can be taken.
    decidable: BTreeMap<String, bool>,
    /// The session is an EC2 instance's.
    instance: bool,
}

/// The verdict on one episode.
struct Verdict<'a> {
    foreign: Vec<(&'a str, &'a NetUse)>,
    operator: Vec<(&'a str, &'a NetUse)>,
    severity: Severity,
    apis: BTreeSet<&'a str>,
    iam_writes: BTreeSet<&'a str>,
}

/// The rule's state as checkpointed: the last scan's watermark and every map.
#[derive(Serialize)]
struct Saved<'a> {
    last_scan: i64,
    sessions: &'a Weighed<String, Session>,
    operators: &'a Weighed<String, Operators>,
    accounts: &'a Weighed<String, FirstSeen<Name>>,
    pending: &'a Weighed<(String, EventTime), ()>,
}

/// [`Saved`], read back.
#[derive(Deserialize)]
struct Loaded {
    last_scan: i64,
    sessions: state::Map<String, Session>,
    operators: state::Map<String, Operators>,
    accounts: state::Map<String, FirstSeen<Name>>,
    pending: state::Map<(String, EventTime), ()>,
}

impl Default for Loaded {
    fn default() -> Self {
        Self {
            last_scan: i64::MIN,
            sessions: state::Map::default(),
            operators: state::Map::default(),
            accounts: state::Map::default(),
            pending: state::Map::default(),
        }
    }
}

/// The rule.
pub struct WorkloadCredentialMisuse {
    cfg: RuleConfig<Config>,
    episode_ms: i64,
    share_ms: i64,
    idle_ms: i64,
    last_scan: AtomicI64,
    sessions: Weighed<String, Session>,
    /// Instance → minute → (address, `who ran what`): a person or an IAM user reaching into the
    /// instance (SSM command or session, EC2 Instance Connect) from a public address.
    operators: Weighed<String, Operators>,
    /// Account → public network → first call from it by one of the account's workload sessions
    /// (Lambda runtimes aside): the shared NAT gateways and the fleet's addresses.
    accounts: Weighed<String, FirstSeen<Name>>,
    /// Episodes with a possibly foreign network whose verdict is not settled yet.
    pending: Weighed<(String, EventTime), ()>,
}

/// The instance id of an instance-profile session ARN (`…/assumed-role/<role>/i-0123…`).
fn instance_of(arn: Option<&str>) -> Option<&str> {
    fleet_session(arn).filter(|s| s.starts_with("i-"))
}

fn ms(d: Duration) -> i64 {
    crate::window::millis(d)
}

/// Inserts into a set capped at `cap`, keeping the smallest values (order-independent).
fn insert_capped<T: Ord>(set: &mut BTreeSet<T>, v: T, cap: usize) {
    if set.len() < cap || set.last().is_some_and(|l| v < *l) {
        set.insert(v);
        while set.len() > cap {
            set.pop_last();
        }
    }
}

impl WorkloadCredentialMisuse {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        Self {
            episode_ms: ms(cfg.common.episode).max(1),
            share_ms: ms(cfg.share_window),
            idle_ms: ms(cfg.session_idle),
            last_scan: AtomicI64::new(i64::MIN),
            sessions: Weighed::default(),
            operators: Weighed::default(),
            accounts: Weighed::default(),
            pending: Weighed::default(),
            cfg,
        }
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.episode_ms) * self.episode_ms
    }

    /// A session with an episode holding a network that may still be foreign or an
    /// operator's is live; one whose episodes hold only its home networks is dormant (they
    /// are context); one with no episode is only its home (long-term). All as recent as its
    /// latest call.
    fn class(&self, s: &Session) -> (Tier, EventTime) {
        let at_home = |net: &Name| s.home.iter().any(|h| h.network.as_str() == net.as_str());
        let open = |(net, nu): (&Name, &NetUse)| !nu.cleared && (!at_home(net) || !nu.operators.is_empty());
        let tier = if s.episodes.values().any(|ep| ep.nets.iter().any(open)) {
            Tier::Active
        } else if s.episodes.is_empty() {
            Tier::LongTerm
        } else {
            Tier::Dormant
        };
        (tier, s.last)
    }

    /// Operator calls are kept for the share window: live, as recent as the latest.
    fn operators_class(o: &Operators) -> (Tier, EventTime) {
        (Tier::Active, o.keys().next_back().map_or(i64::MIN, |m| m.saturating_mul(MINUTE)))
    }

    /// Verdicts that may be promoted (every housekeeping: only episodes with a possibly
    /// foreign network).
    fn promote(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        let mut promote: Vec<(String, EventTime)> = self.pending.iter().map(|e| e.key().clone()).collect();
        promote.sort();
        for (session, b) in promote {
            // Nothing is decidable before the watermark reaches the bucket.
            if b > wm {
                continue;
            }
            if self.settle(&session, b, wm, false, ctx) {
                self.pending.remove(&(session, b));
            }
        }
    }

    /// Closes the episodes whose operator index is complete and forgets idle sessions and
    /// operator minutes no open bucket needs: every session, once.
    fn scan(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.last_scan.store(wm, Ordering::Relaxed);
        // Episodes to close: the operator index is complete once the watermark passes the
        // bucket's end plus the share window. Only the sessions due at this watermark (an
        // episode closing, or changed since the last scan) are read; they stay due for the
        // sweep below, which runs after closing (closing reads other maps, never under a
        // session's guard).
        let close_at = |b: EventTime| b.saturating_add(self.episode_ms).saturating_add(self.share_ms);
        let mut due: Vec<(String, EventTime)> = Vec::new();
        self.sessions.sweep(wm, |k, s| {
            due.extend(s.episodes.keys().take_while(|b| close_at(**b) <= wm).map(|b| (k.clone(), *b)));
            Some(EventTime::MIN)
        });
        due.sort();
        for (session, b) in due {
            self.settle(&session, b, wm, true, ctx);
            self.pending.remove(&(session, b));
        }
        self.sessions.sweep(wm, |_, s| match s.episodes.keys().next() {
            // Visited again when its first episode is due (closed by the loop above).
            Some(b) => Some(close_at(*b)),
            // Forgotten once idle.
            None => {
                let forget = s.last.saturating_add(self.idle_ms);
                (forget >= wm).then(|| forget.saturating_add(1))
            }
        });
        // Operator minutes still needed: those within the share window of an open bucket.
        let lag = self.episode_ms.saturating_add(2 * self.share_ms);
        let keep = wm.saturating_sub(lag).div_euclid(MINUTE) - 1;
        self.operators.sweep(wm, |_, slots| {
            if slots.keys().next().is_some_and(|m| *m < keep) {
                *slots = slots.split_off(&keep);
            }
            // Next visit: when `keep` passes the oldest minute.
            let oldest = *slots.keys().next()?;
            Some(oldest.saturating_add(2).saturating_mul(MINUTE).saturating_add(lag))
        });
    }

    fn home_full(&self, s: &Session) -> bool {
        s.home.len() >= self.cfg.home_events.max(1)
    }

    /// Operators who accessed `instance` from `ip` within `share_window` of any of `minutes`.
    fn operators_of(
        &self,
        instance: &str,
        ip: &str,
        minutes: impl IntoIterator<Item = i64>,
        out: &mut BTreeSet<String>,
    ) {
        let Some(slots) = self.operators.get(instance) else {
            return;
        };
        let w = self.share_ms.div_euclid(MINUTE);
        for m in minutes {
            for ops in slots.range(m - w..=m + w).map(|(_, o)| o) {
                for (from, who) in ops {
                    if from == ip {
                        insert_capped(out, who.clone(), MAX_OPERATORS);
                    }
                }
            }
        }
    }

    /// The session's side of the verdict (the account's side is filled by [`Self::settle`]).
    fn home_view(&self, s: &Session, b: EventTime, wm: EventTime, closing: bool) -> HomeView {
        let end = b.saturating_add(self.episode_ms);
        let last = s.home.last().map_or(i64::MIN, |h| h.time);
        HomeView {
            nets: s.home.iter().map(|h| h.network.clone()).collect(),
            families: s.home.iter().map(|h| h.family.clone()).collect(),
            lambda: s.home.iter().any(|h| h.lambda),
            instance: s.instance.is_some(),
            settled: closing || (self.home_full(s) && last < wm),
            workload: s.workload_first.is_some_and(|w| w < end),
            calls: s.home.iter().map(|h| (h.time, h.network.clone(), h.public, h.family.clone())).collect(),
            account_known: BTreeMap::new(),
            decidable: BTreeMap::new(),
        }
    }

    fn verdict<'a>(&self, home: &HomeView, ep: &'a Episode) -> Verdict<'a> {
        let mut v = Verdict {
            foreign: Vec::new(),
            operator: Vec::new(),
            severity: Severity::Informational,
            apis: BTreeSet::new(),
            iam_writes: BTreeSet::new(),
        };
        if !home.workload {
            return v;
        }
        for (net, nu) in &ep.nets {
            let foreign = home.settled
                && home.decidable.get(net.as_str()).copied().unwrap_or(false)
                && !home.account_known.get(net.as_str()).copied().unwrap_or(true)
                && !home.nets.contains(net.as_str())
                && (!home.lambda || nu.families.iter().any(|f| !home.families.contains(f.as_str())));
            // Where addresses say nothing (the shared NAT gateway, the instance's own address),
            // a laptop's agent on the instance's credentials does: an instance session whose own
            // calls name no desktop OS, called with an agent naming one.
            let flip = home.settled
                && home.instance
                && !home.families.iter().any(|f| f.ends_with(']'))
                && nu.families.iter().any(|f| f.ends_with(']') && !home.families.contains(f.as_str()));
            let foreign = foreign || flip;
            if foreign {
                v.foreign.push((net.as_str(), nu));
            }
            // A network the account's workloads use (its NAT gateway) is no operator's machine,
            // even when a legacy job there calls with an IAM user's key.
            let operator = home.decidable.get(net.as_str()).copied().unwrap_or(false)
                && !home.account_known.get(net.as_str()).copied().unwrap_or(true)
                && !nu.operators.is_empty();
            if operator {
                v.operator.push((net.as_str(), nu));
            }
            if foreign || operator {
                v.apis.extend(nu.apis.iter().map(Name::as_str));
                v.iam_writes.extend(nu.iam_writes.iter().map(Name::as_str));
            }
        }
        if !v.foreign.is_empty() || !v.operator.is_empty() {
            v.severity = if !v.iam_writes.is_empty() || v.apis.len() >= self.cfg.many_apis {
                Severity::Critical
            } else {
                Severity::High
            };
        }
        v
    }

    fn finding(
        &self,
        session: &str,
        b: EventTime,
        home: &HomeView,
        v: &Verdict<'_>,
        activity: Activity,
        revision: u32,
    ) -> Finding {
        let mut support = Support::default();
        let nets: BTreeSet<&str> = v.foreign.iter().chain(&v.operator).map(|(n, _)| *n).collect();
        for net in &nets {
            if let Some((_, nu)) = v.foreign.iter().chain(&v.operator).find(|(n, _)| n == net) {
                support.merge(&nu.support, self.cfg.common.max_evidence);
            }
        }
        let mut context = vec![format!(
            "home of this session (its earliest {} calls): {}{}",
            self.cfg.home_events,
            home.calls
                .iter()
                .map(|(time, network, public, family)| {
                    format!("{} {network}{} with {family}", to_rfc3339(*time), if *public { "" } else { " (private)" })
                })
                .collect::<Vec<String>>()
                .join("; "),
            if home.lambda { " (a Lambda runtime: foreign only with another user-agent family)" } else { "" }
        )];
        for (net, nu) in &v.foreign {
            context.push(format!(
                "{} calls from {net} ({}) with {}: a public network outside the session's home, that no other workload of the account called from before",
                nu.support.count,
                list(nu.ips.keys().map(Name::as_str), 4),
                list(nu.families.iter().map(Name::as_str), 4)
            ));
        }
        for (net, nu) in &v.operator {
            context.push(format!(
                "{} calls from {} ({net}), the address from which {} within {}: the instance's credentials used on the machine of someone who reached into it",
                nu.support.count,
                list(nu.ips.keys().map(Name::as_str), 4),
                list(nu.operators.iter().map(String::as_str), 3),
                humantime::format_duration(self.cfg.share_window)
            ));
        }
        context.push(format!(
            "{} distinct APIs from there (critical from {}): {}; IAM writes: {}",
            v.apis.len(),
            self.cfg.many_apis,
            list(v.apis.iter().copied(), 8),
            list(v.iam_writes.iter().copied(), 8)
        ));
        let arn = support.ident.as_ref().and_then(|i| i.arn.clone());
        let summary = format!(
            "Workload session {session} ({}) called from {} between {} and {}, outside its home {}.",
            arn.as_deref().unwrap_or("unknown role"),
            nets.iter().copied().collect::<Vec<_>>().join(", "),
            to_rfc3339(support.first_time(b)),
            to_rfc3339(support.last),
            list(home.nets.iter().map(String::as_str), 4)
        );
        let ask = "Check who can read this workload's credentials (SSRF, IMDSv1, shell or ssm:SendCommand on it); require IMDSv2 and add an aws:SourceVpc / aws:EC2InstanceSourceVPC condition to the role.";
        Draft {
            meta: &META,
            key: session,
            anchor: b,
            support: &support,
            severity: v.severity,
            confidence: if !v.foreign.is_empty() && !v.operator.is_empty() { 95 } else { 80 },
            techniques: vec!["T1552.005".to_string(), "T1078.004".to_string()],
            context,
            summary,
            remediation: remediation_for(session, arn.as_deref(), ask),
        }
        .finding(activity, revision)
    }

    /// Evicted: a published episode gets its final version now, judged with what is known (the
    /// account's networks are not read under this guard).
    fn close_early(&self, session: &str, s: &mut Session, ctx: &mut RuleCtx<'_>) {
        for (b, mut ep) in std::mem::take(&mut s.episodes) {
            if ep.publication.published() {
                ep.publication.close_early();
                let mut home = self.home_view(s, b, ctx.watermark, true);
                for net in ep.nets.keys() {
                    home.decidable.insert(net.to_string(), true);
                    home.account_known.insert(net.to_string(), ep.nets.get(net).is_some_and(|n| n.cleared));
                }
                self.publish(session, b, &home, &mut ep, true, ctx);
            }
        }
    }

    fn publish(
        &self,
        session: &str,
        b: EventTime,
        home: &HomeView,
        ep: &mut Episode,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        let mut publication = std::mem::take(&mut ep.publication);
        let v = self.verdict(home, ep);
        let mut published = None;
        if v.severity > Severity::Informational {
            // Early, only a rise in severity is published: skip building the finding otherwise.
            if closing || ep.severity.is_none_or(|s| v.severity > s) {
                let f = self.finding(session, b, home, &v, Activity::Create, 0);
                if emit_with(&mut publication, f, closing, ctx) {
                    published = Some(v.severity);
                }
            }
        } else if closing && publication.published() {
            // Cannot happen with the publication rules above; kept as a safety net.
            let mut f = self.finding(session, b, home, &v, Activity::Update, 0);
            f.context.insert(0, "not foreign after all once every event had arrived".to_string());
            emit_with(&mut publication, f, true, ctx);
        }
        if published.is_some() {
            ep.severity = published;
        }
        ep.publication = publication;
    }

    /// Decides episode `b` of `session` with the account's networks (and, closing, every
    /// operator call of the window). Called from `on_watermark` only, so no batch runs
    /// meanwhile; no map guard is held while another map is read. Returns true when every
    /// network's verdict was final.
    fn settle(&self, session: &str, b: EventTime, wm: EventTime, closing: bool, ctx: &mut RuleCtx<'_>) -> bool {
        let taken = self.sessions.get_mut(session).and_then(|mut s| {
            let ep = s.episodes.remove(&b)?;
            Some((ep, self.home_view(&s, b, wm, closing), s.account.clone(), s.instance.clone()))
        });
        let Some((mut ep, mut home, account, instance)) = taken else {
            return true;
        };
        let known = self.accounts.get(&account);
        for (net, nu) in ep.nets.iter_mut() {
            let first = nu.support.first_time(i64::MAX);
            // Earlier calls (this session's, or the account's) can no longer arrive once the
            // watermark has passed this session's first call from the network.
            let decidable = closing || first <= wm;
            let by_account = known.as_ref().and_then(|k| k.first(net.as_str())).is_some_and(|f| f < first);
            nu.cleared |= decidable && by_account;
            home.decidable.insert(net.to_string(), decidable);
            home.account_known.insert(net.to_string(), by_account);
        }
        drop(known);
        let all_decided = home.settled && home.decidable.values().all(|d| *d);
        if let (true, Some(instance)) = (closing, instance.as_deref()) {
            for nu in ep.nets.values_mut() {
                let mut ops = BTreeSet::new();
                for (ip, minutes) in &nu.ips {
                    self.operators_of(instance, ip, minutes.iter().copied(), &mut ops);
                }
                nu.operators = ops.into_iter().collect();
            }
        }
        self.publish(session, b, &home, &mut ep, closing, ctx);
        if !closing {
            if let Some(mut s) = self.sessions.get_mut(session) {
                s.episodes.insert(b, ep);
            }
        }
        all_decided
    }
}

impl Rule for WorkloadCredentialMisuse {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], _ctx: &mut RuleCtx<'_>) {
        let mut name = String::new();
        let mut touched = Touched::new();
        for &row in rows {
            let class = ev.identity_class(row);
            let Some(ip) = ev.source_ip(row) else {
                continue;
            };
            let t = ev.time(row);
            let minute = t.div_euclid(MINUTE);
            if matches!(class, IdentityClass::Human | IdentityClass::ProgrammaticUser | IdentityClass::Root) {
                // A person or an IAM user reaching into an instance from a public address.
                name.clear();
                name.push_str(ev.service(row));
                name.push(':');
                name.push_str(ev.action(row));
                let Some((_, field)) = INSTANCE_ACCESS.iter().find(|(a, _)| *a == name) else {
                    continue;
                };
                if !ev.network(row).is_some_and(|n| n.public) || ev.error_code(row).is_some() {
                    continue;
                }
                let Some(req) = ev.request_json(row) else {
                    continue;
                };
                let ids: Vec<&str> = match &req[*field] {
                    serde_json::Value::String(id) => vec![id.as_str()],
                    serde_json::Value::Array(ids) => ids.iter().filter_map(|v| v.as_str()).take(50).collect(),
                    _ => Vec::new(),
                };
                let who = format!("{} ran {name}", ev.principal(row));
                for id in ids.into_iter().filter(|id| id.starts_with("i-")) {
                    let mut slots = self.operators.upsert(id, || id.to_string());
                    slots.entry(minute).or_default().insert_capped((ip.to_string(), who.clone()), MAX_OPERATORS);
                }
                continue;
            }
            let session = ev.actor_key(row);
            if !matches!(class, IdentityClass::Workload | IdentityClass::Unknown)
                || !session.starts_with("ASIA")
                || ev.session_issuer(row).is_none()
            {
                continue;
            }
            let Some(net) = ev.network(row) else {
                // AWS service hostnames: not a network, but a sign of the workload.
                if class == IdentityClass::Workload {
                    if let Some(mut s) = self.sessions.get_mut(session) {
                        s.workload_first = Some(s.workload_first.map_or(t, |w| w.min(t)));
                    }
                }
                continue;
            };
            let agent = ev.agent(row);
            let (family, lambda) = (agent.family.as_str(), agent.lambda);
            // The platform is part of the family here: the same CLI on a laptop and on the
            // instance are different machines.
            let family_os;
            let family = match agent.desktop_os {
                Some(os) => {
                    family_os = format!("{family} [{os}]");
                    family_os.as_str()
                }
                None => family,
            };
            let account = ev.account(row).unwrap_or("");
            let instance = instance_of(ev.actor_arn(row));
            // Other maps first, never under the session's guard: the account's networks and
            // the operators seen reaching into this instance from this address so far.
            let mut ops = BTreeSet::new();
            if net.public {
                if class == IdentityClass::Workload && !lambda {
                    let mut known = self.accounts.upsert(account, || account.to_string());
                    known.observe(net.prefix.as_str(), t, MAX_ACCOUNT_NETWORKS);
                }
                if let Some(instance) = instance {
                    self.operators_of(instance, ip, [minute], &mut ops);
                }
            }
            let mut entry = self.sessions.upsert(session, || session.to_string());
            let s = &mut *entry;
            if s.account.is_empty() {
                s.account = account.to_string();
                s.instance = instance.map(str::to_string);
            }
            s.last = s.last.max(t);
            if class == IdentityClass::Workload {
                s.workload_first = Some(s.workload_first.map_or(t, |w| w.min(t)));
            }
            let id = ev.event_id(row);
            let cap = self.cfg.home_events.max(1);
            if s.home.len() < cap || s.home.last().is_some_and(|h| (t, id) < (h.time, h.event_id.as_str())) {
                let home = Home {
                    time: t,
                    event_id: id.to_string(),
                    network: net.prefix.clone(),
                    public: net.public,
                    family: family.to_string(),
                    lambda,
                };
                s.home.insert_capped(home, cap);
            }
            if net.public {
                let ep = s.episodes.get_or_insert_with(self.bucket(t), Episode::default);
                let nu = match ep.nets.get_mut(net.prefix.as_str()) {
                    Some(nu) => nu,
                    None => ep.nets.get_or_insert_with(Name::from(net.prefix.as_str()), NetUse::default),
                };
                nu.support.add(ev, row, self.cfg.common.max_evidence);
                if family.ends_with(']') {
                    // A laptop's agent: decisive if the verdict turns on it (see `verdict`).
                    nu.support.mark_decisive(ev, row, self.cfg.common.max_evidence);
                }
                name.clear();
                name.push_str(ev.service(row));
                name.push(':');
                name.push_str(ev.action(row));
                if !nu.apis.contains(name.as_str()) {
                    nu.apis.insert_capped(Name::from(name.as_str()), MAX_APIS);
                }
                if ev.service(row) == "iam" && !ev.read_only(row) && !nu.iam_writes.contains(name.as_str()) {
                    nu.iam_writes.insert_capped(Name::from(name.as_str()), MAX_APIS);
                }
                if !nu.families.contains(family) {
                    nu.families.insert_capped(Name::from(family), MAX_FAMILIES);
                }
                match nu.ips.get_mut(ip) {
                    Some(m) => {
                        m.insert(minute);
                    }
                    None => {
                        nu.ips.insert(Name::from(ip), SmallSet::from_iter([minute]));
                        while nu.ips.len() > MAX_IPS {
                            nu.ips.pop_last();
                        }
                    }
                }
                for o in ops {
                    nu.operators.insert_capped(o, MAX_OPERATORS);
                }
                ep.dirty = true;
            }
            drop(entry);
            touched.add(session);
        }
        let mut pending = Vec::new();
        for session in touched.sorted() {
            let Some(mut s) = self.sessions.get_mut(session) else {
                continue;
            };
            let dirty: Vec<EventTime> = s.episodes.iter_mut().filter(|(_, ep)| ep.dirty).map(|(b, _)| *b).collect();
            for b in dirty {
                // Decided with the account's networks once they are final, in `on_watermark`
                // right after the batch: only episodes with a network that may be foreign or
                // an operator's.
                let home = &s.home;
                let at_home = |net: &Name| home.iter().any(|h| h.network.as_str() == net.as_str());
                let open = |(net, nu): (&Name, &NetUse)| !nu.cleared && (!at_home(net) || !nu.operators.is_empty());
                let is_open = s.episodes.get(&b).is_some_and(|ep| ep.nets.iter().any(open));
                if let Some(ep) = s.episodes.get_mut(&b) {
                    ep.dirty = false;
                    if is_open {
                        pending.push((session.to_string(), b));
                    }
                }
            }
        }
        for key in pending {
            self.pending.insert(key, ());
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        self.promote(ctx);
        let (wm, last) = (ctx.watermark, self.last_scan.load(Ordering::Relaxed));
        if wm != i64::MAX && last != i64::MIN && wm < last.saturating_add(SCAN_EVERY) {
            return;
        }
        self.scan(ctx);
    }

    fn on_settle(&self, ctx: &mut RuleCtx<'_>) {
        self.promote(ctx);
        self.scan(ctx);
    }

    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        let saved = Saved {
            last_scan: self.last_scan.load(Ordering::Relaxed),
            sessions: &self.sessions,
            operators: &self.operators,
            accounts: &self.accounts,
            pending: &self.pending,
        };
        state::save(META.id, &saved)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let loaded: Loaded = state::load(META.id, bytes)?;
        self.last_scan = AtomicI64::new(loaded.last_scan);
        self.sessions = Weighed::from_map(loaded.sessions.0);
        self.operators = Weighed::from_map(loaded.operators.0);
        self.accounts = Weighed::from_map(loaded.accounts.0);
        self.pending = Weighed::from_map(loaded.pending.0);
        Ok(())
    }

    fn state_size(&self) -> usize {
        self.sessions.len() + self.operators.len() + self.accounts.len()
    }

    fn state_bytes(&self) -> usize {
        self.sessions.bytes() + self.operators.bytes() + self.accounts.bytes() + self.pending.bytes()
    }

    fn activity(&self, _watermark: EventTime, out: &mut state::Activity) {
        self.sessions.activity(out, |_, s| Some(self.class(s)));
        self.operators.activity(out, |_, o| Some(Self::operators_class(o)));
        self.accounts.activity(out, |_, d| Some((Tier::LongTerm, d.latest())));
    }

    fn evict(&self, tier: Tier, before: EventTime, ctx: &mut RuleCtx<'_>) -> Evicted {
        let class = |_: &String, s: &Session| Some(self.class(s));
        let close = |session: &String, s: &mut Session, ctx: &mut RuleCtx<'_>| self.close_early(session, s, ctx);
        let mut done = self.sessions.evict_closing_by(tier, before, ctx, Order::Uid, class, close);
        done += self.operators.evict(tier, before, |_, o| Some(Self::operators_class(o)), |_, _| {});
        done += self.accounts.evict(tier, before, |_, d| Some((Tier::LongTerm, d.latest())), |_, _| {});
        // Verdicts pending on evicted sessions have nothing left to decide (one map at a time).
        let pending: Vec<(String, EventTime)> = self.pending.iter().map(|e| e.key().clone()).collect();
        for key in pending {
            if self.sessions.get(&key.0).is_none() {
                self.pending.remove(&key);
            }
        }
        done
    }

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
#[path = "tests/workload_credential_misuse.rs"]
mod tests;
