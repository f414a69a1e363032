//! Building blocks every rule uses to turn events into a finding: the supporting events'
//! aggregate ([`Support`]), the caller's identity ([`Ident`]), a bounded deterministic
//! evidence sample, publication bookkeeping ([`Publication`], and `emit_with` for findings
//! that depend on more than their support) and the finding itself ([`Draft`]).
//!
//! Everything here is order-independent: the earliest event (by time, then event id) wins,
//! sets are sorted, counts commute. A rule that only adds events to a [`Support`] and publishes
//! through a [`Publication`] gets final versions that do not depend on arrival order.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use trailhound_model::time::EventTime;
use trailhound_model::{stable_hash, Activity, Evidence, Finding, IdentityClass, Severity};

use crate::rules::{RuleCtx, RuleMeta};
use crate::state::{self, Evictable, Evicted, Order, SmallSet, StateError, Tier, Weigh, Weighed};
use crate::view::EventView;

/// Who the earliest supporting event says the actor is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ident {
    /// (time, event id) of that event: the smallest wins, whatever the arrival order.
    pub at: (EventTime, String),
    /// Principal ARN.
    pub arn: Option<String>,
    /// Account.
    pub account: Option<String>,
    /// Identity class.
    pub class: IdentityClass,
    /// Provider.
    pub provider: String,
}

/// The supporting events of a finding: count, span, regions, identity, earliest evidence.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Support {
    /// Events added.
    pub count: u64,
    /// Earliest (time, event id).
    pub first: Option<(EventTime, String)>,
    /// Latest event time.
    pub last: EventTime,
    /// Regions of the events.
    pub regions: SmallSet<state::Name>,
    /// Identity from the earliest event.
    pub ident: Option<Ident>,
    /// The earliest events (by time, then id), at most `max` of them.
    pub evidence: SmallSet<Evidence>,
    /// The decisive events: the ones that made the condition true (the threshold crossing,
    /// each step of a sequence, the first out-of-baseline call), at most `max` of them. They
    /// lead the finding's evidence, before the earliest context.
    #[serde(default)]
    pub decisive: SmallSet<Evidence>,
    /// What the fields above weigh, once computed and until a string among them changes: a
    /// busy episode's support is reweighed after every batch that touched it, and most of
    /// its events change only `count` and `last`. Its methods keep it right (debug builds check
    /// it against a recount at every weighing).
    #[serde(skip)]
    weight: state::WeightCache,
}

impl Weigh for Ident {
    fn heap(&self) -> usize {
        self.at.1.heap() + self.arn.heap() + self.account.heap() + self.provider.heap()
    }
}

impl Weigh for Support {
    fn heap(&self) -> usize {
        let count = || {
            self.first.heap() + self.regions.heap() + self.ident.heap() + self.evidence.heap() + self.decisive.heap()
        };
        let heap = self.weight.get_or(count);
        debug_assert_eq!(heap, count(), "a Support changed its strings without clearing its weight");
        heap
    }
}

impl Weigh for Publication {
    fn heap(&self) -> usize {
        0
    }
}

impl Support {
    /// The support of event `row` alone.
    pub fn one(ev: &EventView<'_>, row: usize) -> Self {
        let mut s = Support::default();
        s.add(ev, row, 1);
        s
    }

    /// Adds event `row`, keeping at most `max_evidence` evidence entries.
    pub fn add(&mut self, ev: &EventView<'_>, row: usize, max_evidence: usize) {
        let t = ev.time(row);
        let id = ev.event_id(row);
        self.count += 1;
        self.last = self.last.max(t);
        if let Some(r) = ev.region(row) {
            if !self.regions.contains(r) {
                self.regions.insert(r.into());
                self.weight.clear();
            }
        }
        let earlier = |at: &(EventTime, String)| (t, id) < (at.0, at.1.as_str());
        if self.first.as_ref().is_none_or(earlier) {
            self.first = Some((t, id.to_string()));
            self.weight.clear();
        }
        if self.ident.as_ref().is_none_or(|i| earlier(&i.at)) {
            self.weight.clear();
            self.ident = Some(Ident {
                at: (t, id.to_string()),
                arn: ev.actor_arn(row).map(str::to_string),
                account: ev.account(row).map(str::to_string),
                class: ev.identity_class(row),
                provider: ev.provider(row).to_string(),
            });
        }
        let worst = self.evidence.last().map(|e| (e.time, e.event_id.as_str()));
        if self.evidence.len() < max_evidence || worst.is_some_and(|w| (t, id) < w) {
            self.weight.clear();
            self.evidence.insert(Evidence { time: t, event_id: id.to_string(), summary: ev.summary(row) });
            while self.evidence.len() > max_evidence {
                self.evidence.pop_last();
            }
        }
    }

    /// Adds event `row` and marks it decisive (see [`Support::decisive`]).
    pub fn add_decisive(&mut self, ev: &EventView<'_>, row: usize, max_evidence: usize) {
        self.add(ev, row, max_evidence);
        self.mark_decisive(ev, row, max_evidence);
    }

    /// Marks event `row` (already added) decisive, keeping the earliest `max_evidence`.
    pub fn mark_decisive(&mut self, ev: &EventView<'_>, row: usize, max_evidence: usize) {
        let (time, id) = (ev.time(row), ev.event_id(row));
        if !self.keeps_decisive(time, id, max_evidence) {
            return;
        }
        self.push_decisive(Evidence { time, event_id: id.to_string(), summary: ev.summary(row) }, max_evidence);
    }

    /// Marks an evidence entry decisive, keeping the earliest `max_evidence`.
    pub fn push_decisive(&mut self, e: Evidence, max_evidence: usize) {
        self.weight.clear();
        self.decisive.insert(e);
        while self.decisive.len() > max_evidence.max(1) {
            self.decisive.pop_last();
        }
    }

    /// [`Support::push_decisive`] of call `c`'s evidence, built only when it would be kept.
    pub fn push_decisive_call(&mut self, c: &crate::state::Call, max_evidence: usize) {
        if self.keeps_decisive(c.time(), c.event_id(), max_evidence) {
            self.push_decisive(c.evidence(), max_evidence);
        }
    }

    /// Whether an entry of event `(time, id)` could be among the earliest `max_evidence`
    /// decisive ones (false only when it certainly would not: what it costs to build one is
    /// then saved).
    fn keeps_decisive(&self, time: EventTime, id: &str, max_evidence: usize) -> bool {
        self.decisive.len() < max_evidence.max(1)
            || self.decisive.last().is_none_or(|l| (time, id) <= (l.time, l.event_id.as_str()))
    }

    /// The finding's evidence: the decisive events first (in time order), then the earliest
    /// other supporting events, as many in all as the larger of the two samples holds.
    pub fn evidence_list(&self) -> Vec<Evidence> {
        let cap = self.evidence.len().max(self.decisive.len());
        let mut out: Vec<Evidence> = self.decisive.iter().cloned().collect();
        for e in &self.evidence {
            if out.len() >= cap {
                break;
            }
            if !self.decisive.contains(e) {
                out.push(e.clone());
            }
        }
        out
    }

    /// Merges another aggregate into this one.
    pub fn merge(&mut self, other: &Support, max_evidence: usize) {
        self.weight.clear();
        self.count += other.count;
        self.last = self.last.max(other.last);
        self.regions.extend(other.regions.iter().cloned());
        if let Some(f) = &other.first {
            if self.first.as_ref().is_none_or(|s| f < s) {
                self.first = Some(f.clone());
            }
        }
        if let Some(i) = &other.ident {
            if self.ident.as_ref().is_none_or(|s| i.at < s.at) {
                self.ident = Some(i.clone());
            }
        }
        self.evidence.extend(other.evidence.iter().cloned());
        while self.evidence.len() > max_evidence {
            self.evidence.pop_last();
        }
        for e in &other.decisive {
            self.push_decisive(e.clone(), max_evidence);
        }
    }

    /// Identity class of the earliest event (unknown when empty).
    pub fn class(&self) -> IdentityClass {
        self.ident.as_ref().map_or(IdentityClass::Unknown, |i| i.class)
    }

    /// Time of the earliest event (`default` when empty).
    pub fn first_time(&self, default: EventTime) -> EventTime {
        self.first.as_ref().map_or(default, |f| f.0)
    }
}

/// The support of one event ([`Support::one`]) held in three allocations instead of eight
/// (two copies of the event id, the summary, ARN, account and provider each in a `String`):
/// for state that keeps many single events of which few ever join a finding (the uses of a key
/// before its creation is known). [`OneEvent::support`] is exactly what `Support::one` of the
/// event is; snapshots hold that `Support`, as before.
#[derive(Debug, Clone)]
pub struct OneEvent {
    /// Time, event id and summary.
    call: state::Call,
    region: Option<state::Name>,
    arn: Option<Box<str>>,
    account: Option<state::Name>,
    class: IdentityClass,
    provider: state::Name,
}

impl OneEvent {
    /// Event `row`.
    pub fn of(ev: &EventView<'_>, row: usize) -> Self {
        Self {
            call: state::Call::build(ev.time(row), ev.event_id(row), ev.summary_len(row), false, |s| {
                ev.push_summary(row, s)
            }),
            region: ev.region(row).map(state::Name::from),
            arn: ev.actor_arn(row).map(Box::from),
            account: ev.account(row).map(state::Name::from),
            class: ev.identity_class(row),
            provider: state::Name::from(ev.provider(row)),
        }
    }

    /// `Support::one` of the event.
    pub fn support(&self) -> Support {
        let (t, id) = (self.call.time(), self.call.event_id());
        let mut s = Support { count: 1, ..Support::default() };
        s.last = s.last.max(t);
        if let Some(r) = &self.region {
            s.regions.insert(r.clone());
        }
        s.first = Some((t, id.to_string()));
        s.ident = Some(Ident {
            at: (t, id.to_string()),
            arn: self.arn.as_deref().map(str::to_string),
            account: self.account.as_deref().map(str::to_string),
            class: self.class,
            provider: self.provider.to_string(),
        });
        s.evidence.insert(Evidence { time: t, event_id: id.to_string(), summary: self.call.summary().to_string() });
        s
    }

    /// The event as a snapshot held it (the support of one event, as `Support::one` built it).
    fn from_support(s: &Support) -> Self {
        let (t, id) = s
            .first
            .as_ref()
            .map(|(t, id)| (*t, id.as_str()))
            .or_else(|| s.evidence.first().map(|e| (e.time, e.event_id.as_str())))
            .unwrap_or((s.last, ""));
        let summary = s.evidence.first().map_or("", |e| e.summary.as_str());
        let ident = s.ident.as_ref();
        Self {
            call: state::Call::build(t, id, summary.len(), false, |out| out.push_str(summary)),
            region: s.regions.first().cloned(),
            arn: ident.and_then(|i| i.arn.as_deref()).map(Box::from),
            account: ident.and_then(|i| i.account.as_deref()).map(state::Name::from),
            class: ident.map_or(IdentityClass::Unknown, |i| i.class),
            provider: ident.map_or_else(state::Name::default, |i| state::Name::from(i.provider.as_str())),
        }
    }
}

impl Weigh for OneEvent {
    fn heap(&self) -> usize {
        self.call.heap() + self.region.heap() + self.arn.heap() + self.account.heap() + self.provider.heap()
    }
}

impl Serialize for OneEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.support().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OneEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Support::deserialize(deserializer).map(|s| Self::from_support(&s))
    }
}

/// What has been published for one uid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    last: Option<(u32, Severity, u64)>,
    /// Set by [`Publication::close_early`] (never in a snapshot: eviction publishes at once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    early: bool,
}

impl Publication {
    /// Decides whether to publish now: the first time (Create), when severity rose (Update),
    /// or at closing when anything changed since the last publication (or it closes early).
    /// Records it and returns the activity and revision to publish with.
    pub fn next(&mut self, severity: Severity, count: u64, closing: bool) -> Option<(Activity, u32)> {
        let out = match self.last {
            None => (Activity::Create, 0),
            Some((rev, s, c)) if severity > s || (closing && (self.early || severity != s || c != count)) => {
                (Activity::Update, rev + 1)
            }
            Some(_) => return None,
        };
        self.last = Some((out.1, severity, count));
        self.early = false;
        Some(out)
    }

    /// The state holding the finding is being evicted (see [`crate::state`]): its closing
    /// publication happens even when nothing changed since the last one, so that a published
    /// finding always gets a last version saying it closed early, whatever the batches were.
    pub fn close_early(&mut self) {
        self.early = self.last.is_some();
    }

    /// True once something was published.
    pub fn published(&self) -> bool {
        self.last.is_some()
    }
}

/// A fingerprint of a finding's content, activity and revision aside. Rules pass it to
/// [`Publication::next`] as the count, so that the closing version is re-published whenever
/// anything in it differs from the last version: for findings that also depend on state outside
/// their episode (baselines, homes, the operator index).
fn fingerprint(f: &Finding) -> u64 {
    let mut f = f.clone();
    f.activity = Activity::Create;
    f.revision = 0;
    stable_hash(&[&serde_json::to_vec(&f).unwrap_or_default()])
}

/// Publishes `f` through `publication` (see [`fingerprint`]); returns true when emitted.
pub(crate) fn emit_with(publication: &mut Publication, mut f: Finding, closing: bool, ctx: &mut RuleCtx<'_>) -> bool {
    match publication.next(f.severity, fingerprint(&f), closing) {
        Some((activity, revision)) => {
            f.activity = activity;
            f.revision = revision;
            ctx.emit(f);
            true
        }
        None => false,
    }
}

/// Everything a finding needs beyond its support.
pub struct Draft<'a> {
    /// The rule.
    pub meta: &'static RuleMeta,
    /// State key (actor key, usually).
    pub key: &'a str,
    /// Anchor of the uid: window start or sequence anchor.
    pub anchor: EventTime,
    /// Supporting events.
    pub support: &'a Support,
    /// Severity.
    pub severity: Severity,
    /// Confidence 0–100.
    pub confidence: u8,
    /// Techniques (defaults to the rule's first technique when empty).
    pub techniques: Vec<String>,
    /// Facts that made it unusual.
    pub context: Vec<String>,
    /// What happened.
    pub summary: String,
    /// What to do.
    pub remediation: String,
}

impl Draft<'_> {
    /// The finding, with uid `hash(rule, key, anchor)`.
    pub fn finding(self, activity: Activity, revision: u32) -> Finding {
        let s = self.support;
        let (arn, account, class, provider) = match &s.ident {
            Some(i) => (i.arn.clone(), i.account.clone(), i.class, i.provider.clone()),
            None => (None, None, IdentityClass::Unknown, "aws".to_string()),
        };
        let techniques = if self.techniques.is_empty() {
            self.meta.techniques.iter().take(1).map(|t| t.to_string()).collect()
        } else {
            self.techniques
        };
        Finding {
            uid: Finding::make_uid(self.meta.id, self.key, self.anchor),
            rule_id: self.meta.id.to_string(),
            title: self.meta.title.to_string(),
            severity: self.severity,
            confidence: self.confidence.min(100),
            tactic_ids: self.meta.tactics.iter().map(|t| t.id.to_string()).collect(),
            technique_ids: techniques,
            provider,
            actor_key: self.key.to_string(),
            actor_arn: arn,
            identity_class: class,
            account,
            regions: s.regions.iter().map(|r| r.to_string()).collect(),
            first_event_time: s.first_time(self.anchor),
            last_event_time: s.last.max(s.first_time(self.anchor)),
            event_count: s.count,
            evidence: s.evidence_list(),
            context: self.context,
            summary: self.summary,
            remediation: self.remediation,
            activity,
            revision,
            related_actor_keys: Vec::new(),
        }
    }
}

/// The usual remediation line for a credential.
pub fn remediation_for(actor_key: &str, arn: Option<&str>, what: &str) -> String {
    if actor_key.starts_with("AKIA") {
        format!("{what} If not expected: deactivate access key {actor_key} (iam update-access-key --status Inactive), then review and undo what it changed.")
    } else {
        format!("{what} If not expected: revoke the active sessions of {} (deny tokens issued before now), then review and undo what it changed.", arn.unwrap_or(actor_key))
    }
}

/// State for rules where one event is enough: events grouped per key in aligned buckets of
/// event time, each group one finding (uid = hash(rule, key, bucket start)), published when
/// it first matches, updated when its severity rises, and a last time when its bucket has
/// closed behind the watermark. `E` holds the rule's own per-group facts.
pub struct Groups<E> {
    bucket_ms: i64,
    state: Weighed<(String, EventTime), Group<E>>,
}

/// One group of [`Groups`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Group<E> {
    /// Supporting events.
    pub support: Support,
    /// The rule's own facts.
    pub facts: E,
    /// Publication bookkeeping.
    pub publication: Publication,
}

/// A group is live until its bucket closes (it can still be published), last active at its
/// latest event.
impl<E> Evictable for Group<E> {
    fn class(&self) -> (Tier, EventTime) {
        (Tier::Active, self.support.last)
    }
}

impl<E: Weigh> Weigh for Group<E> {
    fn heap(&self) -> usize {
        self.support.heap() + self.facts.heap()
    }
}

impl<E: Default + Weigh> Groups<E> {
    /// Groups of `bucket_ms` milliseconds of event time.
    pub fn new(bucket_ms: i64) -> Self {
        Self { bucket_ms: bucket_ms.max(1), state: Weighed::default() }
    }

    /// Bucket start of a time.
    pub fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.bucket_ms) * self.bucket_ms
    }

    #[allow(clippy::too_many_arguments)]
    /// Adds event `row` to its group (keyed by `key`), lets `update` record the rule's facts,
    /// then publishes through `render` if `severity` says it should.
    pub fn add(
        &self,
        key: &str,
        ev: &EventView<'_>,
        row: usize,
        max_evidence: usize,
        update: impl FnOnce(&mut E),
        severity: impl Fn(&Group<E>) -> Severity,
        render: impl Fn(&str, EventTime, &Group<E>, Activity, u32) -> Finding,
        ctx: &mut crate::rules::RuleCtx<'_>,
    ) {
        let bucket = self.bucket(ev.time(row));
        let mut g = self.state.entry((key.to_string(), bucket));
        g.support.add(ev, row, max_evidence);
        update(&mut g.facts);
        let sev = severity(&g);
        let count = g.support.count;
        if let Some((activity, revision)) = g.publication.next(sev, count, false) {
            // The event that made the group a finding, or raised its severity, is decisive.
            g.support.mark_decisive(ev, row, max_evidence);
            ctx.emit(render(key, bucket, &g, activity, revision));
        }
    }

    /// Closes the groups whose bucket ended at or before `watermark`, publishing final versions.
    pub fn close(
        &self,
        watermark: EventTime,
        severity: impl Fn(&Group<E>) -> Severity,
        render: impl Fn(&str, EventTime, &Group<E>, Activity, u32) -> Finding,
        ctx: &mut crate::rules::RuleCtx<'_>,
    ) {
        ctx.collect(Order::Uid, |ctx| {
            self.state.sweep(watermark, |(key, bucket), g| {
                let closes = bucket.saturating_add(self.bucket_ms);
                if closes > watermark {
                    return Some(closes);
                }
                let (sev, count) = (severity(g), g.support.count);
                if let Some((activity, revision)) = g.publication.next(sev, count, true) {
                    ctx.emit(render(key, *bucket, g, activity, revision));
                }
                None
            })
        });
    }

    /// Open groups.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.state.bytes()
    }

    /// Adds the open groups to `out`: a group is live until its bucket closes (it can still be
    /// published), last active at its latest event.
    pub fn activity(&self, out: &mut state::Activity) {
        self.state.activity_of(out);
    }

    /// Evicts the `tier` groups last active before `before`, publishing the final version of
    /// those already published (as their bucket's close would).
    pub fn evict(
        &self,
        tier: Tier,
        before: EventTime,
        severity: impl Fn(&Group<E>) -> Severity,
        render: impl Fn(&str, EventTime, &Group<E>, Activity, u32) -> Finding,
        ctx: &mut crate::rules::RuleCtx<'_>,
    ) -> Evicted {
        self.state.evict_closing(tier, before, ctx, Order::Uid, |(key, bucket), g, ctx| {
            let (sev, count) = (severity(g), g.support.count);
            if g.publication.published() {
                g.publication.close_early();
                if let Some((activity, revision)) = g.publication.next(sev, count, true) {
                    ctx.emit(render(key, *bucket, g, activity, revision));
                }
            }
        })
    }

    /// True when no group is open.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }
}

/// The open groups (for [`Rule::snapshot`](crate::Rule::snapshot) and the rest of a rule's
/// state methods).
impl<E: Serialize + DeserializeOwned + Default + Weigh> crate::state::Keyed for Groups<E> {
    fn save(&self, rule: &'static str) -> Result<Vec<u8>, StateError> {
        self.state.save(rule)
    }

    fn restore(&mut self, rule: &'static str, bytes: &[u8]) -> Result<(), StateError> {
        self.state = Weighed::load(rule, bytes)?;
        Ok(())
    }

    fn entries(&self) -> usize {
        self.len()
    }

    fn bytes(&self) -> usize {
        Groups::bytes(self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{batches, event, iam_user};

    #[test]
    fn one_event_is_support_one_in_memory_and_in_snapshots() {
        let who = iam_user("alice", "AKIAEXAMPLE00000001");
        let lines = vec![
            event(0, &who, "s3", "ListBuckets", json!({})),
            event(
                1,
                &who,
                "iam",
                "AttachUserPolicy",
                json!({
                    "requestParameters": {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                    "errorCode": "AccessDenied",
                    "awsRegion": "eu-west-3",
                }),
            ),
            event(
                2,
                &json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
                "ec2",
                "DescribeInstances",
                json!({"awsRegion": null}),
            ),
            event(-5_000, &who, "sts", "GetCallerIdentity", json!({"eventID": "ü\u{0}é"})),
        ];
        let b = &batches(&lines, 10)[0];
        let ev = EventView::new(b).expect("view");
        for row in 0..lines.len() {
            let one = OneEvent::of(&ev, row);
            let want = rmp_serde::to_vec_named(&Support::one(&ev, row)).expect("encodes");
            assert_eq!(rmp_serde::to_vec_named(&one.support()).expect("encodes"), want, "row {row}");
            // Snapshots hold the support itself, and read back to the same event.
            let bytes = rmp_serde::to_vec_named(&one).expect("encodes");
            assert_eq!(bytes, want, "row {row}");
            let back: OneEvent = rmp_serde::from_slice(&bytes).expect("decodes");
            assert_eq!(rmp_serde::to_vec_named(&back.support()).expect("encodes"), want, "row {row}");
            assert_eq!(back.heap(), one.heap(), "row {row}");
            // Merged into a support, it adds what the event itself adds.
            let (mut merged, mut added) = (Support::one(&ev, 0), Support::one(&ev, 0));
            merged.merge(&one.support(), 10);
            added.add(&ev, row, 10);
            if row != 0 {
                assert_eq!(rmp_serde::to_vec_named(&merged).expect("m"), rmp_serde::to_vec_named(&added).expect("a"));
            }
        }
    }
}
