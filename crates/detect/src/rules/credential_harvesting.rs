//! `credential_harvesting`: one actor reading many secrets, or Windows passwords, in minutes.
//!
//! Once in, an attacker harvests the credentials the account stores for its workloads: every
//! Secrets Manager secret (`ListSecrets`, then `GetSecretValue` on each, or
//! `BatchGetSecretValue` with a filter), every SSM SecureString parameter (`DescribeParameters`
//! then `GetParameters` with decryption), or EC2 Windows administrator passwords
//! (`GetPasswordData`). Per actor key and source network (/24 or /64: a thief using an
//! application's session from his own machine is counted apart from the application's own
//! calls, and only the triggering network's calls are the finding's evidence), in a sliding
//! event-time window (`window`, default 10 min), any of these fires:
//!
//! | condition | default | why |
//! |---|---|---|
//! | a secret listing (`ListSecrets`, `DescribeParameters`) and reads in the window | listing + ≥ 5 reads | applications know their secret names; listing what exists and then reading it is how harvesting tools (Pacu, Stratus) and people browsing for loot work |
//! | denied secret reads in the window | ≥ 5 | probing secrets one may not read; applications are granted theirs |
//! | secret reads in the window by a non-workload identity | ≥ 20 | a CI role, an IAM user's key or a person has no reason to read twenty secrets in ten minutes; workloads do not count here (see below) |
//! | `ec2:GetPasswordData` by a non-human identity | ≥ 1 (medium), ≥ 3 (high) | a machine identity has no business decrypting Windows administrator passwords; people do it from the console, which stays quiet |
//!
//! Applications that do not cache their secrets read them on every request: hundreds of
//! `GetSecretValue`/`GetParameter` an hour by one instance or task session are normal, and
//! cannot be told from a dump without the secret names. Workload sessions (identity class
//! workload) therefore fire only with a listing or denials: a thief holding an application's
//! credentials does not know the account's other secret names and has to list them.
//!
//! Reads are counted in calls: `GetSecretValue` and `GetParameter` count 1, batch calls
//! (`BatchGetSecretValue`, `GetParameters`, `GetParametersByPath`) count `batch_read_weight`
//! (default 5: a batch returns up to 10 or 20 values). Denied attempts count too (they show
//! intent) and are reported. *Distinct* secrets cannot be counted: the parser keeps request
//! parameters (secret ids, parameter names, `WithDecryption`) only for mutating calls, and
//! these reads are read-only; if it ever keeps them for these calls, a distinct-secret
//! condition belongs here. For the same reason `GetParameter(s)` without decryption (plain
//! configuration) counts like a SecureString read, which is why the volume threshold is high.
//!
//! Severity: a secrets condition is medium, one step higher when two or more secrets
//! conditions hold and one step higher for a machine identity (low base for a human);
//! `GetPasswordData` is medium, high from `min_password_data` calls; capped at high.
//!
//! Stays quiet: a Lambda reading its one secret on every cold start (hundreds a day, but a
//! handful per ten minutes); an application instance reading its secrets on every request;
//! an ECS service starting ten tasks that each read two secrets (ten task sessions, ten actor
//! keys, two reads each); a person fetching a Windows password in the console.
//!
//! Episodes, early firing and closing work as in `enumeration_burst`: one finding per actor
//! per `episode` bucket (default 1 h), published when a condition first holds, updated when
//! its severity rises, and published a last time when the bucket closes behind the watermark.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::CREDENTIAL_ACCESS;
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::{stable_hash, Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{emit_with, remediation_for, Draft, Publication, Support};
use crate::fields::is_denied;
use crate::net::Network;
use crate::state::{SmallMap, SmallSet, Weighed};
use crate::touched::Touched;
use crate::view::EventView;
use crate::window::{slot_leaves, slot_of, Windowed};

static META: RuleMeta = RuleMeta {
    id: "credential_harvesting",
    title: "Secrets harvesting",
    severity: Severity::Medium,
    tactics: &[CREDENTIAL_ACCESS],
    techniques: &["T1555.006", "T1552"],
    summary: "One actor reads many Secrets Manager secrets or SSM parameters, lists then reads them, or a machine identity fetches EC2 Windows passwords, within minutes",
    stateful: true,
};

/// Thresholds of `credential_harvesting` (`[rules.credential_harvesting]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Sliding window of every condition. Default 10m.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Secret reads (weighted) by a non-workload identity within the window that fire.
    /// Default 20.
    pub min_reads: u64,
    /// Secret reads (weighted) within the window that fire when the window also holds a
    /// secret listing. Default 5.
    pub min_reads_after_listing: u64,
    /// Reads one batch call counts for. Default 5.
    pub batch_read_weight: u64,
    /// Denied secret reads within the window that fire. Default 5.
    pub min_denied: u64,
    /// `GetPasswordData` calls by a non-human identity within the window that make the finding
    /// high (one is medium). Default 3.
    pub min_password_data: u64,
    /// Single secret reads (`service:Action`). Default secretsmanager:GetSecretValue,
    /// ssm:GetParameter.
    pub secret_reads: Vec<String>,
    /// Batch secret reads (`service:Action`). Default secretsmanager:BatchGetSecretValue,
    /// ssm:GetParameters, ssm:GetParametersByPath.
    pub batch_reads: Vec<String>,
    /// Secret listings (`service:Action`). Default secretsmanager:ListSecrets,
    /// ssm:DescribeParameters.
    pub listings: Vec<String>,
    /// Password retrievals (`service:Action`). Default ec2:GetPasswordData.
    pub password_data: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            window: Duration::from_secs(600),
            min_reads: 20,
            min_reads_after_listing: 5,
            batch_read_weight: 5,
            min_denied: 5,
            min_password_data: 3,
            secret_reads: s(&["secretsmanager:GetSecretValue", "ssm:GetParameter"]),
            batch_reads: s(&["secretsmanager:BatchGetSecretValue", "ssm:GetParameters", "ssm:GetParametersByPath"]),
            listings: s(&["secretsmanager:ListSecrets", "ssm:DescribeParameters"]),
            password_data: s(&["ec2:GetPasswordData"]),
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
    ListThenRead,
    Denied,
    Volume,
    PasswordData,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Trigger {
    /// Earliest first event of a window that met the condition.
    earliest: EventTime,
    /// Largest value seen in a window that met it.
    peak: u64,
}

/// What one slot of the window holds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Slot {
    reads: u64,
    /// Reads by non-workload identities.
    volume: u64,
    denied: u64,
    listings: u64,
    password_data: u64,
    /// Earliest event time in the slot.
    first: Option<EventTime>,
}

/// One actor's secret calls from one source network in one episode bucket.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Part {
    support: Support,
    denied: u64,
    calls: SmallMap<String, u64>,
}

/// Everything one actor's secret calls did in one episode bucket, by source network.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    parts: SmallMap<String, Part>,
    /// Networks with a window that met a condition.
    triggered: SmallSet<String>,
    triggers: BTreeMap<Cond, Trigger>,
    publication: Publication,
    dirty: bool,
    /// Severity last published.
    severity: Option<Severity>,
}

/// An actor's windows, slots keyed by (source network hash, slot).
type ActorState = Windowed<(u64, i64), Slot, Episode>;

crate::state::weigh_fields! {
    Part { support, calls },
    Cond {},
    Trigger {},
    Slot {},
    Episode { parts, triggered, triggers },
}

/// What a call is to this rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Read(u64),
    Listing,
    PasswordData,
}

/// The rule.
pub struct CredentialHarvesting {
    cfg: RuleConfig<Config>,
    slot_ms: i64,
    window_ms: i64,
    episode_ms: i64,
    calls: BTreeMap<String, Call>,
    state: Weighed<String, ActorState>,
}

const SLOTS: i64 = 10;

fn ms(d: Duration) -> i64 {
    crate::window::millis(d).max(SLOTS)
}

impl CredentialHarvesting {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        let window_ms = ms(cfg.window);
        let mut calls = BTreeMap::new();
        for a in &cfg.secret_reads {
            calls.insert(a.clone(), Call::Read(1));
        }
        for a in &cfg.batch_reads {
            calls.insert(a.clone(), Call::Read(cfg.batch_read_weight));
        }
        for a in &cfg.listings {
            calls.insert(a.clone(), Call::Listing);
        }
        for a in &cfg.password_data {
            calls.insert(a.clone(), Call::PasswordData);
        }
        Self {
            slot_ms: (window_ms / SLOTS).max(1),
            window_ms,
            episode_ms: ms(cfg.common.episode),
            calls,
            state: Weighed::default(),
            cfg,
        }
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.episode_ms) * self.episode_ms
    }

    /// The calls of the networks that met a condition.
    fn merged(&self, ep: &Episode) -> Part {
        let mut out = Part::default();
        for part in ep.triggered.iter().filter_map(|n| ep.parts.get(n)) {
            out.support.merge(&part.support, self.cfg.common.max_evidence);
            out.denied += part.denied;
            for (a, n) in &part.calls {
                *out.calls.get_or_insert_with(a.clone(), || 0) += n;
            }
        }
        out
    }

    fn severity(&self, ep: &Episode) -> Severity {
        let class = self.merged(ep).support.class();
        let mut out = Severity::Informational;
        let secrets = ep.triggers.keys().filter(|c| **c != Cond::PasswordData).count();
        if secrets > 0 {
            let mut s = if class == IdentityClass::Human { Severity::Low } else { Severity::Medium };
            if secrets >= 2 {
                s = s.raised();
            }
            if class.is_machine() {
                s = s.raised();
            }
            out = out.max(s);
        }
        if let Some(t) = ep.triggers.get(&Cond::PasswordData) {
            out = out.max(if t.peak >= self.cfg.min_password_data { Severity::High } else { Severity::Medium });
        }
        out.min(Severity::High)
    }

    fn finding(&self, actor: &str, bucket: EventTime, ep: &Episode, activity: Activity, revision: u32) -> Finding {
        let window = humantime::format_duration(self.cfg.window).to_string();
        let mut context: Vec<String> = ep
            .triggers
            .iter()
            .map(|(c, t)| {
                let from = to_rfc3339(t.earliest);
                match c {
                    Cond::Volume => format!(
                        "{} secret reads by a non-workload identity within {window} (threshold {}; batch calls count {}), window from {from}",
                        t.peak, self.cfg.min_reads, self.cfg.batch_read_weight
                    ),
                    Cond::Denied => format!(
                        "{} denied secret reads within {window} (threshold {}), window from {from}",
                        t.peak, self.cfg.min_denied
                    ),
                    Cond::ListThenRead => format!(
                        "secret listing followed by {} secret reads within {window} (threshold {}), window from {from}",
                        t.peak, self.cfg.min_reads_after_listing
                    ),
                    Cond::PasswordData => format!(
                        "{} ec2:GetPasswordData calls by a non-human identity within {window} (high from {}), window from {from}",
                        t.peak, self.cfg.min_password_data
                    ),
                }
            })
            .collect();
        let part = self.merged(ep);
        let calls: Vec<String> = part.calls.iter().map(|(a, n)| format!("{a}×{n}")).collect();
        let nets: Vec<&str> = ep.triggered.iter().map(String::as_str).collect();
        context.push(format!(
            "calls in this episode from {}: {}; {} denied",
            nets.join(", "),
            calls.join(", "),
            part.denied
        ));
        let mut techniques = Vec::new();
        if ep.triggers.keys().any(|c| *c != Cond::PasswordData) {
            techniques.push("T1555.006".to_string());
        }
        if ep.triggers.contains_key(&Cond::PasswordData) {
            techniques.push("T1552".to_string());
        }
        let s = &part.support;
        let summary = format!(
            "{actor} ({}) made {} secret and password calls ({}) from {} between {} and {}; {} denied.",
            s.class(),
            s.count,
            calls.join(", "),
            nets.join(", "),
            to_rfc3339(s.first_time(bucket)),
            to_rfc3339(s.last),
            part.denied
        );
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let ask = format!(
            "Ask the owner of {} whether these reads were expected; if not, rotate every secret, parameter and password it could read.",
            arn.unwrap_or(actor)
        );
        Draft {
            meta: &META,
            key: actor,
            anchor: bucket,
            support: s,
            severity: self.severity(ep),
            confidence: (50 + 15 * ep.triggers.len() as u8 + if part.denied > 0 { 5 } else { 0 }).min(95),
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
            if ep.publication.published() {
                ep.publication.close_early();
                self.publish(actor, b, &mut ep, true, ctx);
            }
        }
    }

    fn publish(&self, actor: &str, bucket: EventTime, ep: &mut Episode, closing: bool, ctx: &mut RuleCtx<'_>) {
        if ep.triggers.is_empty() {
            return;
        }
        let severity = self.severity(ep);
        // Early, only a rise in severity is published: skip building the finding otherwise.
        if !closing && ep.severity.is_some_and(|s| severity <= s) {
            return;
        }
        // A window that starts in this bucket can be completed by an event of the next one, so
        // the content can change without this episode's count changing: publish by content.
        let f = self.finding(actor, bucket, ep, Activity::Create, 0);
        if emit_with(&mut ep.publication, f, closing, ctx) {
            ep.severity = Some(severity);
        }
    }

    /// Re-examines every window of network `net` containing `slot` (the only ones its change
    /// can affect).
    fn check_windows(&self, st: &mut ActorState, net: &str, net_key: u64, slot: i64) {
        let lo = slot - SLOTS + 1;
        let span: Vec<(i64, Slot)> =
            st.slots.range((net_key, lo)..(net_key, slot + SLOTS)).map(|((_, s), v)| (*s, *v)).collect();
        for start in lo..=slot {
            let mut total = Slot::default();
            let mut first = None;
            for (_, v) in span.iter().filter(|(s, _)| *s >= start && *s < start + SLOTS) {
                first = first.or(v.first);
                total.reads += v.reads;
                total.volume += v.volume;
                total.denied += v.denied;
                total.listings += v.listings;
                total.password_data += v.password_data;
            }
            let Some(first) = first else {
                continue;
            };
            let hits = [
                (
                    Cond::ListThenRead,
                    total.listings > 0 && total.reads >= self.cfg.min_reads_after_listing,
                    total.reads,
                ),
                (Cond::Denied, total.denied >= self.cfg.min_denied, total.denied),
                (Cond::Volume, total.volume >= self.cfg.min_reads, total.volume),
                (Cond::PasswordData, total.password_data > 0, total.password_data),
            ];
            if !hits.iter().any(|h| h.1) {
                continue;
            }
            // The window's first event is in this bucket, so its episode (and support) exists.
            let at = first;
            let Some(ep) = st.episodes.get_mut(&self.bucket(at)) else {
                continue;
            };
            if !ep.triggered.contains(net) {
                ep.triggered.insert(net.to_string());
            }
            for (cond, _, value) in hits.into_iter().filter(|h| h.1) {
                let t = ep.triggers.entry(cond).or_insert(Trigger { earliest: at, peak: value });
                t.earliest = t.earliest.min(at);
                t.peak = t.peak.max(value);
                ep.dirty = true;
            }
        }
    }
}

impl Rule for CredentialHarvesting {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut name = String::new();
        let mut touched = Touched::new();
        for &row in rows {
            let class = ev.identity_class(row);
            if class == IdentityClass::AwsService {
                continue;
            }
            name.clear();
            name.push_str(ev.service(row));
            name.push(':');
            name.push_str(ev.action(row));
            let Some(call) = self.calls.get(name.as_str()).copied() else {
                continue;
            };
            // People fetch Windows passwords from the console; machines should not.
            if call == Call::PasswordData && class == IdentityClass::Human {
                continue;
            }
            // An IaC plan or refresh reading the secrets the same principal built through IaC.
            if ctx.context.iac_managed(ev, row).is_some() {
                continue;
            }
            let t = ev.time(row);
            let actor = ev.actor_key(row);
            // Windows are kept per source network: a thief's listing from his machine does not
            // pair with the reads the application makes with the same session from its own.
            let net = ev
                .source_ip(row)
                .map_or_else(|| "-".to_string(), |ip| Network::of(ip).map_or_else(|| ip.to_string(), |n| n.prefix));
            let mut entry = self.state.upsert(actor, || actor.to_string());
            let st = &mut *entry;
            st.last = st.last.max(t);
            let ep = st.episodes.entry(self.bucket(t)).or_default();
            let part = match ep.parts.get_mut(net.as_str()) {
                Some(p) => p,
                None => ep.parts.get_or_insert_with(net.clone(), Part::default),
            };
            part.support.add(ev, row, self.cfg.common.max_evidence);
            let denied = ev.error_code(row).is_some_and(is_denied);
            if denied {
                part.denied += 1;
            }
            match part.calls.get_mut(name.as_str()) {
                Some(n) => *n += 1,
                None => {
                    part.calls.insert(name.clone(), 1);
                }
            }
            ep.dirty = true;
            let slot = slot_of(t, self.slot_ms);
            let net_key = stable_hash(&[net.as_bytes()]);
            let s = st.slots.entry((net_key, slot)).or_default();
            s.first = Some(s.first.map_or(t, |f| f.min(t)));
            match call {
                Call::Read(w) => {
                    s.reads += w;
                    if class != IdentityClass::Workload {
                        s.volume += w;
                    }
                    if denied {
                        s.denied += 1;
                    }
                }
                Call::Listing => s.listings += 1,
                Call::PasswordData => s.password_data += 1,
            }
            self.check_windows(st, &net, net_key, slot);
            drop(entry);
            touched.add(actor);
        }
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
        self.state.sweep(wm, |actor, st| {
            let keep_from = slot_of(wm.saturating_sub(self.window_ms), self.slot_ms);
            st.slots.retain(|(_, slot), _| *slot >= keep_from);
            // A window starting in the bucket can change until the watermark passes the
            // bucket's end plus one window.
            let close_at = |b: EventTime| b.saturating_add(self.episode_ms).saturating_add(self.window_ms);
            let closable: Vec<EventTime> = st.episodes.keys().copied().take_while(|b| close_at(*b) <= wm).collect();
            for b in closable {
                if let Some(mut ep) = st.episodes.remove(&b) {
                    self.publish(actor, b, &mut ep, true, ctx);
                }
            }
            if st.episodes.is_empty() && st.slots.is_empty() {
                return None;
            }
            // Next visit: the oldest slot leaving the window, or the first episode closing.
            let oldest = st.slots.keys().map(|(_, slot)| *slot).min();
            let leaves = oldest.map_or(EventTime::MAX, |s| slot_leaves(s, self.slot_ms, self.window_ms));
            Some(leaves.min(st.episodes.keys().next().map_or(EventTime::MAX, |b| close_at(*b))))
        });
    }

    super::keyed_state!(state, close = close_early);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{event, finals, iam_user, role_session, run, stratus};

    fn rule() -> Box<dyn Rule> {
        Box::new(CredentialHarvesting::new(Config::default()))
    }

    /// Every finding version of `rule` over `lines`, with `workers` worker threads.
    fn run_with(rule: Box<dyn Rule>, lines: &[String], batch_rows: usize, workers: usize) -> Vec<Finding> {
        crate::testing::run_workers(vec![rule], lines, batch_rows, workers)
    }

    /// The section of `config/trailhound.toml`.
    const TOML: &str = r#"
# Run this rule.
enabled = true
# Sliding window of every condition.
window = "10m"
# Secret reads (weighted) by a non-workload identity within the window that fire.
min_reads = 20
# Secret reads (weighted) within the window that fire when the window also holds a secret listing.
min_reads_after_listing = 5
# Reads one batch call (BatchGetSecretValue, GetParameters, GetParametersByPath) counts for.
batch_read_weight = 5
# Denied secret reads within the window that fire.
min_denied = 5
# GetPasswordData calls by a non-human identity within the window that make the finding high (one is medium).
min_password_data = 3
# One finding per actor per bucket of this length.
episode = "1h"
# Evidence events kept per finding (earliest first).
max_evidence = 10
# Single secret reads (service:Action).
secret_reads = ["secretsmanager:GetSecretValue", "ssm:GetParameter"]
# Batch secret reads (service:Action).
batch_reads = ["secretsmanager:BatchGetSecretValue", "ssm:GetParameters", "ssm:GetParametersByPath"]
# Secret listings (service:Action).
listings = ["secretsmanager:ListSecrets", "ssm:DescribeParameters"]
# Password retrievals (service:Action).
password_data = ["ec2:GetPasswordData"]
"#;

    #[test]
    fn the_documented_configuration_is_the_default() {
        crate::testing::assert_documented_default::<RuleConfig<Config>>(TOML);
    }

    #[test]
    fn stratus_secretsmanager_retrieve_secrets_fires_high() {
        let f = run(rule(), &stratus("aws.credential-access.secretsmanager-retrieve-secrets"));
        assert_eq!(f.len(), 1, "{f:#?}");
        let f = &f[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.identity_class, IdentityClass::ProgrammaticUser);
        assert_eq!(f.technique_ids, vec!["T1555.006"]);
        assert_eq!(f.tactic_ids, vec!["TA0006"]);
        assert_eq!(f.event_count, 21);
        let ctx = f.context.join("\n");
        assert!(ctx.contains("20 secret reads by a non-workload identity within 10m"), "{ctx}");
        assert!(ctx.contains("secret listing followed by 20 secret reads"), "{ctx}");
        assert!(ctx.contains("secretsmanager:GetSecretValue×20, secretsmanager:ListSecrets×1"), "{ctx}");
        assert!(f.remediation.contains("deactivate access key AKIA1JMTHE9ZMZMWG0MG"), "{}", f.remediation);
    }

    #[test]
    fn stratus_secretsmanager_batch_retrieve_secrets_fires_high() {
        let f = run(rule(), &stratus("aws.credential-access.secretsmanager-batch-retrieve-secrets"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert!(
            f[0].context[0].starts_with("25 secret reads by a non-workload identity within 10m"),
            "{:?}",
            f[0].context
        );
    }

    #[test]
    fn stratus_ssm_retrieve_securestring_parameters_fires_high() {
        let f = run(rule(), &stratus("aws.credential-access.ssm-retrieve-securestring-parameters"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        let ctx = f[0].context.join("\n");
        // Five GetParameters of ten names each, counted 5 reads each.
        assert!(ctx.contains("ssm:DescribeParameters×5, ssm:GetParameters×5"), "{ctx}");
        assert!(ctx.contains("secret listing followed by 25 secret reads"), "{ctx}");
    }

    #[test]
    fn stratus_ec2_get_password_data_fires_high_even_when_denied() {
        let f = run(rule(), &stratus("aws.credential-access.ec2-get-password-data"));
        assert_eq!(f.len(), 1, "{f:#?}");
        let f = &f[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.technique_ids, vec!["T1552"]);
        assert!(f.actor_arn.as_deref().is_some_and(|a| a.contains("ec2-get-password-data-role")));
        let ctx = f.context.join("\n");
        assert!(ctx.contains("30 ec2:GetPasswordData calls by a non-human identity within 10m"), "{ctx}");
        assert!(ctx.contains("30 denied"), "{ctx}");
    }

    #[test]
    fn one_get_password_data_by_a_workload_is_medium_and_by_a_person_is_quiet() {
        let w = role_session("app", "i-0123456789abcdef0", "ASIAAPP000000000001");
        let f = run(rule(), &[event(0, &w, "ec2", "GetPasswordData", json!({}))]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        let person = json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333", "accessKeyId": "ASIAALICE0000000001", "userName": "alice"});
        let console = json!({"userAgent": "Mozilla/5.0 (Windows NT 10.0)"});
        assert!(run(rule(), &[event(0, &person, "ec2", "GetPasswordData", console)]).is_empty());
    }

    #[test]
    fn a_hand_built_dump_by_a_stolen_key_fires_and_reports_denials() {
        let thief = iam_user("svc-backup", "AKIABACKUP000000001");
        let mut lines = vec![event(0, &thief, "secretsmanager", "ListSecrets", json!({}))];
        for i in 0..6 {
            let extra = if i % 2 == 0 { json!({"errorCode": "AccessDeniedException"}) } else { json!({}) };
            lines.push(event(5 + i, &thief, "secretsmanager", "GetSecretValue", extra));
        }
        let f = run(rule(), &lines);
        assert_eq!(f.len(), 1, "{f:#?}");
        // Listing then 6 reads (≥ 5): medium, raised for a machine identity.
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].context.iter().any(|c| c.ends_with("3 denied")), "{:?}", f[0].context);
    }

    #[test]
    fn a_stolen_task_role_listing_and_probing_secrets_fires_high() {
        let task = role_session("orders-task", "0123456789abcdef0123456789abcdef", "ASIATASK00000000001");
        let mut lines = vec![event(0, &task, "secretsmanager", "ListSecrets", json!({}))];
        for i in 0..12 {
            let extra = if i < 5 { json!({"errorCode": "AccessDeniedException"}) } else { json!({}) };
            lines.push(event(10 + i * 5, &task, "secretsmanager", "GetSecretValue", extra));
        }
        let f = run(rule(), &lines);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].identity_class, IdentityClass::Workload);
        assert_eq!(f[0].severity, Severity::High);
        let ctx = f[0].context.join("\n");
        assert!(ctx.contains("secret listing followed by 12 secret reads"), "{ctx}");
        assert!(ctx.contains("5 denied secret reads within 10m"), "{ctx}");
        assert!(!ctx.contains("non-workload"), "{ctx}");
    }

    #[test]
    fn a_listing_from_elsewhere_does_not_pair_with_the_applications_own_reads() {
        let app = role_session("payments-app", "i-0123456789abcdef0", "ASIAPAYAPP000000001");
        let mut lines = Vec::new();
        for i in 0..60 {
            lines.push(event(
                i * 5,
                &app,
                "secretsmanager",
                "GetSecretValue",
                json!({"sourceIPAddress": "54.210.7.12"}),
            ));
        }
        // The thief, with the same session from his own address, lists but reads nothing.
        lines.push(event(100, &app, "secretsmanager", "ListSecrets", json!({"sourceIPAddress": "203.0.113.66"})));
        lines.sort_by_key(|l| l[l.find("eventTime").unwrap_or(0)..].chars().take(40).collect::<String>());
        assert!(run(rule(), &lines).is_empty());
        // Reading from there too: fires, with only the thief's calls as evidence.
        for i in 0..5 {
            lines.push(event(
                110 + i,
                &app,
                "secretsmanager",
                "GetSecretValue",
                json!({"sourceIPAddress": "203.0.113.66"}),
            ));
        }
        lines.sort_by_key(|l| l[l.find("eventTime").unwrap_or(0)..].chars().take(40).collect::<String>());
        let f = run(rule(), &lines);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].event_count, 6);
        assert!(
            f[0].context.iter().any(|c| c.starts_with("calls in this episode from 203.0.113.0/24:")),
            "{:?}",
            f[0].context
        );
    }

    #[test]
    fn an_application_instance_reading_its_secrets_on_every_request_stays_quiet() {
        let app = role_session("payments-app", "i-0123456789abcdef0", "ASIAPAYAPP000000001");
        let mut lines = Vec::new();
        for i in 0..200 {
            let (svc, api) = if i % 2 == 0 { ("secretsmanager", "GetSecretValue") } else { ("ssm", "GetParameter") };
            lines.push(event(i * 3, &app, svc, api, json!({})));
        }
        assert!(run(rule(), &lines).is_empty());
    }

    #[test]
    fn a_lambda_reading_its_secret_on_every_cold_start_stays_quiet() {
        let lambda = json!({"userAgent": "Boto3/1.34.0 md/Botocore#1.34.0 exec-env/AWS_Lambda_python3.12"});
        let me = role_session("orders-fn-role", "orders-fn", "ASIAORDERS000000001");
        // 300 reads over 10 hours, one every two minutes.
        let lines: Vec<String> =
            (0..300).map(|i| event(i * 120, &me, "secretsmanager", "GetSecretValue", lambda.clone())).collect();
        assert!(run(rule(), &lines).is_empty());
    }

    #[test]
    fn an_ecs_service_starting_ten_tasks_that_each_read_two_secrets_stays_quiet() {
        let mut lines = Vec::new();
        for task in 0..10 {
            let me = role_session("orders-task", &format!("{task:032x}"), &format!("ASIATASK{task:011}"));
            for s in 0..2 {
                lines.push(event(task * 3 + s, &me, "secretsmanager", "GetSecretValue", json!({})));
            }
        }
        assert!(run(rule(), &lines).is_empty());
    }

    #[test]
    fn findings_do_not_depend_on_arrival_order_batch_size_or_workers() {
        // In time order: 2024-07-30, 07-31, 08-01.
        let techniques = [
            "aws.credential-access.ec2-get-password-data",
            "aws.credential-access.secretsmanager-retrieve-secrets",
            "aws.credential-access.ssm-retrieve-securestring-parameters",
        ];
        let lines: Vec<String> = techniques.iter().flat_map(|t| stratus(t)).collect();
        let expected = run(rule(), &lines);
        assert_eq!(expected.len(), 3);
        // Each detonation spans seconds: reverse each one's events.
        let shuffled: Vec<String> = techniques.iter().flat_map(|t| stratus(t).into_iter().rev()).collect();
        for (batch, workers) in [(1, 1), (5, 2), (64, 4)] {
            assert_eq!(
                finals(&run_with(rule(), &shuffled, batch, workers)),
                expected,
                "batch {batch}, {workers} workers"
            );
        }
    }
}
