//! [`RecentCalls`]: an actor's latest calls in time order, bounded, for rules that must find
//! the calls of a window after the fact (the decisive evidence of a burst that crossed its
//! threshold). Built for a write on almost every event and a read on few:
//!
//! - a call is one allocation (event id and summary in one `Box<str>`), not two `String`s;
//! - calls arrive mostly in time order: adding one is a push at the back, dropping the oldest a
//!   pop at the front (a ring, not a sorted vector shifted on every event);
//! - the weight is kept as calls come and go, so weighing an actor does not walk its calls.
//!
//! Snapshots hold the calls as `(Evidence, flag)` pairs, as the sorted set of those it replaces
//! wrote them: either reads the other's.

use std::collections::VecDeque;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailhound_model::time::EventTime;
use trailhound_model::Evidence;

use super::weigh::{cost, Weigh};

/// One call: its time, event id, one-line summary and a flag the rule gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    time: EventTime,
    /// The event id, then the summary.
    text: Box<str>,
    /// Bytes of the event id at the start of `text` (a char boundary).
    id_len: u32,
    flag: bool,
}

impl Call {
    /// A call of event `id` at `time` whose summary [`crate::view::EventView::push_summary`]
    /// writes (`summary_len` bytes long), in one allocation.
    pub fn build(time: EventTime, id: &str, summary_len: usize, flag: bool, summary: impl FnOnce(&mut String)) -> Self {
        let mut text = String::with_capacity(id.len() + summary_len);
        text.push_str(id);
        summary(&mut text);
        // An event id is at most `parse.max_event_bytes` long; one past `u32` (never) keeps
        // the whole text as the id.
        let id_len = u32::try_from(id.len()).unwrap_or(u32::MAX);
        Self { time, text: text.into_boxed_str(), id_len, flag }
    }

    /// A call from its evidence.
    pub fn from_evidence(e: &Evidence, flag: bool) -> Self {
        Self::build(e.time, &e.event_id, e.summary.len(), flag, |s| s.push_str(&e.summary))
    }

    /// Event time.
    pub fn time(&self) -> EventTime {
        self.time
    }

    /// The flag the rule gave the call.
    pub fn flag(&self) -> bool {
        self.flag
    }

    /// The event id.
    pub fn event_id(&self) -> &str {
        self.text.get(..self.id_len as usize).unwrap_or(&self.text)
    }

    /// The one-line summary.
    pub fn summary(&self) -> &str {
        self.text.get(self.id_len as usize..).unwrap_or("")
    }

    /// The call as evidence of a finding.
    pub fn evidence(&self) -> Evidence {
        Evidence { time: self.time, event_id: self.event_id().to_string(), summary: self.summary().to_string() }
    }

    /// The order of calls: as `(Evidence, flag)` pairs order.
    fn key(&self) -> (EventTime, &str, &str, bool) {
        (self.time, self.event_id(), self.summary(), self.flag)
    }
}

/// An actor's latest calls by time (see the module doc); identical calls are kept once.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RecentCalls {
    calls: VecDeque<Call>,
    /// Heap bytes of the calls' texts.
    text: usize,
}

impl RecentCalls {
    /// Adds `call` in time order, then drops the oldest beyond `cap`; false when an identical
    /// call is already there.
    pub fn insert(&mut self, call: Call, cap: usize) -> bool {
        let key = call.key();
        // Calls arrive mostly in time order: most go at the back.
        let i = match self.calls.back() {
            Some(last) if last.key() < key => self.calls.len(),
            _ => {
                let i = self.calls.partition_point(|c| c.key() < key);
                if self.calls.get(i).is_some_and(|c| c.key() == key) {
                    return false;
                }
                i
            }
        };
        self.text += cost::str(&call.text);
        self.calls.insert(i, call);
        while self.calls.len() > cap {
            self.pop_front();
        }
        true
    }

    /// Drops the calls before `t`.
    pub fn drop_before(&mut self, t: EventTime) {
        while self.calls.front().is_some_and(|c| c.time < t) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(c) = self.calls.pop_front() {
            self.text -= cost::str(&c.text);
        }
    }

    /// Time of the oldest call.
    pub fn first_time(&self) -> Option<EventTime> {
        self.calls.front().map(|c| c.time)
    }

    /// The calls, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter()
    }

    /// Calls held.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// A call on its own owns its text.
impl Weigh for Call {
    fn heap(&self) -> usize {
        cost::str(&self.text)
    }
}

impl Weigh for RecentCalls {
    fn heap(&self) -> usize {
        self.text + cost::vec(self.calls.len(), std::mem::size_of::<Call>())
    }
}

/// [`Evidence`] borrowed from a call, written as `Evidence` is.
#[derive(Serialize)]
#[serde(rename = "Evidence")]
struct EvidenceRef<'a> {
    time: EventTime,
    event_id: &'a str,
    summary: &'a str,
}

impl Serialize for RecentCalls {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.calls
                .iter()
                .map(|c| (EvidenceRef { time: c.time, event_id: c.event_id(), summary: c.summary() }, c.flag)),
        )
    }
}

impl<'de> Deserialize<'de> for RecentCalls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(Evidence, bool)>::deserialize(d)?;
        let mut out = Self::default();
        for (e, flag) in &pairs {
            out.insert(Call::from_evidence(e, *flag), usize::MAX);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SmallSet;

    fn ev(time: EventTime, id: &str, summary: &str) -> Evidence {
        Evidence { time, event_id: id.to_string(), summary: summary.to_string() }
    }

    /// The sorted set of `(Evidence, flag)` it replaces, fed the same calls in any order with
    /// the same cap, holds the same calls in the same order and writes the same snapshot.
    #[test]
    fn holds_what_the_sorted_set_held_whatever_the_order() {
        let calls: Vec<(Evidence, bool)> = (0..40i64)
            .map(|i| (ev((i * 7919) % 23, &format!("id-{}", i % 9), &format!("ec2:Describe{} ü", i % 5)), i % 3 == 0))
            .collect();
        for order in [0usize, 1, 2] {
            let mut seq = calls.clone();
            match order {
                1 => seq.reverse(),
                2 => seq.sort_by_key(|(e, _)| (e.summary.clone(), e.event_id.clone())),
                _ => {}
            }
            let (mut set, mut ring) = (SmallSet::<(Evidence, bool)>::new(), RecentCalls::default());
            for (e, f) in &seq {
                let fresh = set.insert((e.clone(), *f));
                while set.len() > 8 {
                    set.pop_first();
                }
                assert_eq!(ring.insert(Call::from_evidence(e, *f), 8), fresh);
                let got: Vec<(Evidence, bool)> = ring.iter().map(|c| (c.evidence(), c.flag())).collect();
                assert_eq!(got, set.iter().cloned().collect::<Vec<_>>());
                assert_eq!(ring.heap(), recount(&ring));
            }
            let bytes = rmp_serde::to_vec_named(&ring).expect("encodes");
            assert_eq!(bytes, rmp_serde::to_vec_named(&set).expect("encodes"));
            let back: RecentCalls = rmp_serde::from_slice(&bytes).expect("decodes");
            assert_eq!(back, ring);
            ring.drop_before(10);
            assert!(ring.first_time().is_none_or(|t| t >= 10));
            assert_eq!(ring.heap(), recount(&ring));
        }
    }

    /// What the weight would be if counted from scratch.
    fn recount(r: &RecentCalls) -> usize {
        r.iter().map(|c| cost::str(&c.text)).sum::<usize>() + cost::vec(r.len(), std::mem::size_of::<Call>())
    }

    #[test]
    fn an_event_id_with_any_characters_splits_back_from_its_summary() {
        let c = Call::from_evidence(&ev(1, "é\u{0}x", "iam:ListUsers"), true);
        assert_eq!((c.event_id(), c.summary(), c.flag()), ("é\u{0}x", "iam:ListUsers", true));
    }
}
