//! Revisions across incarnations of one finding: the engine's ledger of the uids it published.
//!
//! A finding's uid is `hash(rule, key, anchor)`, and a rule numbers its versions from 0 (a
//! `Create`) in the state that holds the finding. When that state is dropped before the
//! finding's window closes — evicted to keep within `engine.max_state_bytes` — and the same
//! key acts again in the same window, the rule starts the same uid afresh: a second `Create`
//! with revision 0. Downstream keeps the highest revision of each uid (the lake's `findings`
//! view, the writer's buffer), so that later, perhaps more severe, incarnation would hide
//! behind the earlier one's final version, and two different rows would share one
//! `(uid, revision)`.
//!
//! The ledger remembers, for every uid the engine published in the last [`KEEP_MS`] of event
//! time (at most [`MAX_UIDS`] of them), the latest revision out and the offset of the current
//! incarnation. A `Create` for a uid it knows starts a new incarnation: its versions are
//! numbered after every earlier one and published as updates, with a context line saying that
//! the earlier revisions hold the events before it. Everything here depends on the sequence of
//! findings and on event time only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trailhound_model::time::EventTime;
use trailhound_model::{Activity, Finding};

use crate::state::{cost, Weigh};

/// How long (event time, behind the watermark) a published uid is remembered: longer than
/// any rule's window or episode.
pub const KEEP_MS: i64 = 7 * 24 * 3_600_000;

/// Uids remembered at most (the least recently published go first): about 100 bytes each.
pub const MAX_UIDS: usize = 100_000;

/// What the ledger knows of one uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    /// Added to the rule's revisions of the current incarnation.
    offset: u32,
    /// Latest revision published (after the offset).
    latest: u32,
    /// Watermark when it was last published.
    at: EventTime,
}

/// See the module doc.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Revisions {
    uids: BTreeMap<String, Seen>,
}

impl Revisions {
    /// Numbers `findings` (in the order they are published, at watermark `wm`) across
    /// incarnations, and remembers them.
    pub(crate) fn apply(&mut self, findings: &mut [Finding], wm: EventTime) {
        for f in findings.iter_mut() {
            match self.uids.get_mut(&f.uid) {
                Some(seen) => {
                    if f.activity == Activity::Create {
                        seen.offset = seen.latest.saturating_add(1);
                    }
                    if seen.offset > 0 {
                        f.revision = f.revision.saturating_add(seen.offset);
                        f.activity = Activity::Update;
                        f.context.push(format!(
                            "continues a finding closed early (its detection state was dropped, e.g. evicted under engine.max_state_bytes): revisions up to {} hold the events before these",
                            seen.offset - 1
                        ));
                    }
                    seen.latest = seen.latest.max(f.revision);
                    seen.at = wm;
                }
                None => {
                    self.uids.insert(f.uid.clone(), Seen { offset: 0, latest: f.revision, at: wm });
                }
            }
        }
        if self.uids.len() > MAX_UIDS {
            self.trim(MAX_UIDS);
        }
    }

    /// Forgets the uids last published more than [`KEEP_MS`] behind `wm`.
    pub(crate) fn expire(&mut self, wm: EventTime) {
        let horizon = wm.saturating_sub(KEEP_MS);
        self.uids.retain(|_, s| s.at >= horizon);
    }

    /// Keeps the `keep` most recently published uids (ties: the smaller uids go first).
    fn trim(&mut self, keep: usize) {
        let mut order: Vec<(EventTime, &String)> = self.uids.iter().map(|(u, s)| (s.at, u)).collect();
        order.sort_unstable();
        let drop: Vec<String> = order[..order.len().saturating_sub(keep)].iter().map(|(_, u)| (*u).clone()).collect();
        for u in drop {
            self.uids.remove(&u);
        }
    }

    /// Approximate bytes held (see [`crate::state::cost`]).
    pub(crate) fn bytes(&self) -> usize {
        cost::btree(self.uids.len(), std::mem::size_of::<(String, Seen)>())
            + self.uids.keys().map(Weigh::heap).sum::<usize>()
    }

    /// Uids remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.uids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(uid: &str, activity: Activity, revision: u32) -> Finding {
        Finding {
            uid: uid.to_string(),
            rule_id: "enumeration_burst".to_string(),
            title: String::new(),
            severity: trailhound_model::Severity::Medium,
            confidence: 50,
            tactic_ids: Vec::new(),
            technique_ids: Vec::new(),
            provider: "aws".to_string(),
            actor_key: "AKIAEXAMPLE".to_string(),
            actor_arn: None,
            identity_class: trailhound_model::IdentityClass::Unknown,
            account: None,
            regions: Vec::new(),
            first_event_time: 0,
            last_event_time: 0,
            event_count: 1,
            evidence: Vec::new(),
            context: Vec::new(),
            summary: String::new(),
            remediation: String::new(),
            activity,
            revision,
            related_actor_keys: Vec::new(),
        }
    }

    #[test]
    fn a_second_incarnation_is_numbered_after_the_first_and_published_as_updates() {
        let mut r = Revisions::default();
        let mut first = vec![finding("a", Activity::Create, 0), finding("a", Activity::Update, 1)];
        r.apply(&mut first, 10);
        assert_eq!(first.iter().map(|f| f.revision).collect::<Vec<_>>(), [0, 1], "first incarnation unchanged");
        assert!(first.iter().all(|f| f.context.is_empty()));
        let mut again = vec![finding("a", Activity::Create, 0), finding("b", Activity::Create, 0)];
        r.apply(&mut again, 20);
        assert_eq!((again[0].activity, again[0].revision), (Activity::Update, 2));
        assert!(again[0].context[0].contains("revisions up to 1"), "{:?}", again[0].context);
        assert_eq!((again[1].activity, again[1].revision), (Activity::Create, 0), "another uid untouched");
        let mut update = vec![finding("a", Activity::Update, 1)];
        r.apply(&mut update, 30);
        assert_eq!(update[0].revision, 3, "the same incarnation goes on");
        let mut third = vec![finding("a", Activity::Create, 0)];
        r.apply(&mut third, 40);
        assert_eq!(third[0].revision, 4);
    }

    #[test]
    fn uids_are_forgotten_after_a_week_of_event_time_and_beyond_the_cap() {
        let mut r = Revisions::default();
        r.apply(&mut [finding("old", Activity::Create, 0)], 0);
        r.apply(&mut [finding("new", Activity::Create, 0)], KEEP_MS);
        r.expire(KEEP_MS + 1);
        assert_eq!(r.len(), 1);
        let mut f = [finding("old", Activity::Create, 0)];
        r.apply(&mut f, KEEP_MS + 2);
        assert_eq!(f[0].revision, 0, "forgotten: a new finding");
        assert!(r.bytes() > 0);
        r.trim(1);
        assert_eq!(r.uids.keys().collect::<Vec<_>>(), ["old"], "the most recently published stays");
    }
}
