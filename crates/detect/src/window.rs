//! Sliding event-time windows over fixed slots, per key.
//!
//! A window of `n` slots of width `g` covers `[s·g, (s+n)·g)`. The structures keep one small
//! aggregate per non-empty slot in a sorted vector ([`SmallMap`]: a key with a call or two
//! costs a few dozen bytes, where a `BTreeMap` allocates a node of eleven slots), answer questions about every window that
//! contains a given slot (the only windows an insert into that slot can change), and drop
//! slots behind the watermark. Because every window is re-examined whenever one of its slots
//! changes, the set of windows that ever satisfy a monotone condition does not depend on the
//! order events arrive in, which is what makes findings identical for shuffled input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trailhound_model::time::EventTime;

use crate::state::{Evictable, SmallMap, SmallSet, Tier, Weigh};

/// A duration in event-time milliseconds, saturating at `i64::MAX`.
pub fn millis(d: std::time::Duration) -> EventTime {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// [`millis`], at least 1 (a window or period of zero would divide by zero or never close).
pub fn positive_millis(d: std::time::Duration) -> EventTime {
    millis(d).max(1)
}

/// The slot index of a time for slot width `width` (ms).
#[inline]
pub fn slot_of(t: EventTime, width: i64) -> i64 {
    t.div_euclid(width)
}

/// The earliest watermark at which `evict_before(slot_of(wm - window, width))` drops `slot`
/// (a sweep's due time for a window whose oldest slot is `slot`).
pub fn slot_leaves(slot: i64, width: i64, window: EventTime) -> EventTime {
    slot.saturating_add(1).saturating_mul(width).saturating_add(window)
}

/// A key's sliding windows with the episodes they make findings of: the slots of its windows
/// (slot key → what the slot holds), its open episodes by bucket, and the time of its latest
/// call (what eviction orders keys by).
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(deserialize = "K: Deserialize<'de> + Ord, S: Deserialize<'de>, E: Deserialize<'de>"))]
pub struct Windowed<K, S, E> {
    /// Slot key → what the slot holds.
    pub slots: BTreeMap<K, S>,
    /// Open episodes, by bucket start.
    pub episodes: BTreeMap<EventTime, E>,
    /// Time of the latest call.
    #[serde(default)]
    pub last: EventTime,
}

impl<K, S, E> Default for Windowed<K, S, E> {
    fn default() -> Self {
        Self { slots: BTreeMap::new(), episodes: BTreeMap::new(), last: EventTime::default() }
    }
}

impl<K: Weigh, S: Weigh, E: Weigh> Weigh for Windowed<K, S, E> {
    fn heap(&self) -> usize {
        self.slots.heap() + self.episodes.heap()
    }
}

/// Live while it holds slots of a window that may still fire; otherwise its episodes only
/// complete their findings (dormant).
impl<K, S, E> Evictable for Windowed<K, S, E> {
    fn class(&self) -> (Tier, EventTime) {
        (if self.slots.is_empty() { Tier::Dormant } else { Tier::Active }, self.last)
    }
}

/// The slots of `span` (sorted by slot) in `[start, end)`.
fn window_of<V>(span: &[(i64, V)], start: i64, end: i64) -> &[(i64, V)] {
    let a = span.partition_point(|(s, _)| *s < start);
    let b = span.partition_point(|(s, _)| *s < end);
    &span[a..b.max(a)]
}

/// Distinct 64-bit keys per slot.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SlotDistinct {
    slots: SmallMap<i64, SmallSet<u64>>,
}

impl Weigh for SlotDistinct {
    fn heap(&self) -> usize {
        self.slots.heap()
    }
}

impl SlotDistinct {
    /// Adds `key` to `slot`; true when it was not yet in that slot (the only case in which a
    /// window's distinct count can change).
    pub fn insert(&mut self, slot: i64, key: u64) -> bool {
        self.slots.get_or_insert_with(slot, SmallSet::new).insert(key)
    }

    /// For every window of `n` slots that contains `slot` and holds at least `min` distinct
    /// keys, calls `f(first_non_empty_slot, distinct)`, windows in order. `scratch` is reused
    /// between calls.
    ///
    /// One sort for all `n` windows: the keys of the slots any of them sees are sorted with
    /// their slots, and each key adds one to the windows that hold it (the union of the
    /// windows of its slots, through a difference array). When no window's slots hold `min`
    /// keys in all, nothing is sorted.
    pub fn windows_at_least(
        &self,
        slot: i64,
        n: i64,
        min: usize,
        scratch: &mut Vec<(u64, i64)>,
        mut f: impl FnMut(i64, usize),
    ) {
        let Ok(width) = usize::try_from(n) else {
            return;
        };
        if width == 0 {
            return;
        }
        let lo = slot - n + 1;
        // Slots that any candidate window can see, in order.
        let span = self.slots.range_slice(lo..slot + n);
        // No window holds more keys than all the slots it can see (most keys see few).
        if span.iter().map(|(_, k)| k.len()).sum::<usize>() < min {
            return;
        }
        let upper = |start: i64| window_of(span, start, start + n).iter().map(|(_, k)| k.len()).sum::<usize>();
        if (lo..=slot).all(|start| upper(start) < min) {
            return;
        }
        scratch.clear();
        for (s, keys) in span {
            scratch.extend(keys.iter().map(|k| (*k, *s)));
        }
        scratch.sort_unstable();
        // counts[i]: distinct keys of the window starting at lo + i (a difference array first).
        let mut counts = vec![0i64; width + 1];
        let mut add = |a: i64, b: i64| {
            // Window starts a..=b, within lo..=slot by construction.
            if let (Ok(a), Ok(b)) = (usize::try_from(a - lo), usize::try_from(b - lo + 1)) {
                if let Some(c) = counts.get_mut(a) {
                    *c += 1;
                }
                if let Some(c) = counts.get_mut(b) {
                    *c -= 1;
                }
            }
        };
        let mut i = 0;
        while i < scratch.len() {
            let key = scratch[i].0;
            // The starts of windows holding the key: for each of its slots s (ascending),
            // max(s - n + 1, lo)..=min(s, slot); overlapping runs merged.
            let mut run: Option<(i64, i64)> = None;
            while let Some(&(k, s)) = scratch.get(i) {
                if k != key {
                    break;
                }
                i += 1;
                let (a, b) = ((s - n + 1).max(lo), s.min(slot));
                run = match run {
                    Some((ra, rb)) if a <= rb + 1 => Some((ra, rb.max(b))),
                    Some((ra, rb)) => {
                        add(ra, rb);
                        Some((a, b))
                    }
                    None => Some((a, b)),
                };
            }
            if let Some((a, b)) = run {
                add(a, b);
            }
        }
        let mut distinct = 0i64;
        for (start, delta) in (lo..=slot).zip(counts.iter()) {
            distinct += delta;
            let d = usize::try_from(distinct).unwrap_or(0);
            if d >= min {
                if let Some((first, _)) = window_of(span, start, start + n).first() {
                    f(*first, d);
                }
            }
        }
    }

    /// Drops slots before `slot`.
    pub fn evict_before(&mut self, slot: i64) {
        self.slots.remove_before(&slot);
    }

    /// The oldest slot held.
    pub fn first_slot(&self) -> Option<i64> {
        self.slots.first_key_value().map(|(s, _)| *s)
    }

    /// When `evict_before(slot_of(wm - window, width))` next drops a slot ([`slot_leaves`] of
    /// the oldest); `EventTime::MAX` when empty.
    pub fn due(&self, width: i64, window: EventTime) -> EventTime {
        self.first_slot().map_or(EventTime::MAX, |s| slot_leaves(s, width, window))
    }

    /// Non-empty slots held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A count per slot.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SlotCount {
    slots: SmallMap<i64, u64>,
}

impl Weigh for SlotCount {
    fn heap(&self) -> usize {
        self.slots.heap()
    }
}

impl SlotCount {
    /// Adds one to `slot`.
    pub fn add(&mut self, slot: i64) {
        *self.slots.get_or_insert_with(slot, || 0) += 1;
    }

    /// For every window of `n` slots containing `slot` whose total is at least `min`, calls
    /// `f(first_non_empty_slot, total)`.
    pub fn windows_at_least(&self, slot: i64, n: i64, min: u64, mut f: impl FnMut(i64, u64)) {
        let lo = slot - n + 1;
        let span = self.slots.range_slice(lo..slot + n);
        for start in lo..=slot {
            let in_window = window_of(span, start, start + n);
            let total: u64 = in_window.iter().map(|(_, c)| c).sum();
            if total >= min {
                if let Some((first, _)) = in_window.first() {
                    f(*first, total);
                }
            }
        }
    }

    /// Drops slots before `slot`.
    pub fn evict_before(&mut self, slot: i64) {
        self.slots.remove_before(&slot);
    }

    /// The oldest slot held.
    pub fn first_slot(&self) -> Option<i64> {
        self.slots.first_key_value().map(|(s, _)| *s)
    }

    /// When `evict_before(slot_of(wm - window, width))` next drops a slot ([`slot_leaves`] of
    /// the oldest); `EventTime::MAX` when empty.
    pub fn due(&self, width: i64, window: EventTime) -> EventTime {
        self.first_slot().map_or(EventTime::MAX, |s| slot_leaves(s, width, window))
    }

    /// Non-empty slots held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    /// Oracle: all (slot, key) pairs ever inserted, windows computed by brute force.
    fn oracle_windows(events: &[(i64, u64)], n: i64, min: usize) -> BTreeSet<(i64, usize)> {
        let mut by_slot: BTreeMap<i64, BTreeSet<u64>> = BTreeMap::new();
        for (s, k) in events {
            by_slot.entry(*s).or_default().insert(*k);
        }
        let mut out = BTreeSet::new();
        let (Some(lo), Some(hi)) = (by_slot.keys().next().copied(), by_slot.keys().last().copied()) else {
            return out;
        };
        for start in lo - n..=hi {
            let keys: BTreeSet<u64> = by_slot.range(start..start + n).flat_map(|(_, k)| k.iter().copied()).collect();
            if keys.len() >= min {
                let first = by_slot.range(start..start + n).next().map(|(s, _)| *s);
                if let Some(first) = first {
                    out.insert((first, keys.len()));
                }
            }
        }
        out
    }

    proptest! {
        /// Whatever order the inserts come in, the windows reported over the whole run (taking
        /// each window's last report) are exactly the oracle's.
        #[test]
        fn distinct_windows_match_a_brute_force_oracle_in_any_order(
            events in prop::collection::vec((0i64..40, 0u64..8), 1..60),
            seed in any::<u64>(),
        ) {
            let (n, min) = (5, 3);
            let expected = oracle_windows(&events, n, min);
            let mut shuffled = events.clone();
            // Deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            for order in [events.clone(), shuffled] {
                let mut w = SlotDistinct::default();
                let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
                let mut scratch = Vec::new();
                for (s, k) in &order {
                    if w.insert(*s, *k) {
                        w.windows_at_least(*s, n, min, &mut scratch, |first, c| {
                            let e = seen.entry(first).or_default();
                            *e = (*e).max(c);
                        });
                    }
                }
                // The max count per first-slot over all reports equals the oracle's max.
                let mut oracle_max: BTreeMap<i64, usize> = BTreeMap::new();
                for (first, c) in &expected {
                    let e = oracle_max.entry(*first).or_default();
                    *e = (*e).max(*c);
                }
                prop_assert_eq!(seen, oracle_max);
            }
        }
    }

    /// The naive computation `windows_at_least` replaces: one sort per window.
    fn naive_windows(w: &SlotDistinct, slot: i64, n: i64, min: usize) -> Vec<(i64, usize)> {
        let mut out = Vec::new();
        let span = w.slots.range_slice(slot - n + 1..slot + n);
        for start in slot - n + 1..=slot {
            let in_window = window_of(span, start, start + n);
            let keys: BTreeSet<u64> = in_window.iter().flat_map(|(_, k)| k.iter().copied()).collect();
            if keys.len() >= min {
                if let Some((first, _)) = in_window.first() {
                    out.push((*first, keys.len()));
                }
            }
        }
        out
    }

    proptest! {
        /// Every call reports what one sort per window reports, in the same order.
        #[test]
        fn one_sort_for_all_windows_reports_what_a_sort_per_window_does(
            events in prop::collection::vec((0i64..60, 0u64..12), 1..120),
            n in 1i64..12,
            min in 1usize..8,
        ) {
            let mut w = SlotDistinct::default();
            let mut scratch = Vec::new();
            for (s, k) in &events {
                w.insert(*s, *k);
                let mut got = Vec::new();
                w.windows_at_least(*s, n, min, &mut scratch, |first, c| got.push((first, c)));
                prop_assert_eq!(got, naive_windows(&w, *s, n, min));
            }
        }
    }

    #[test]
    fn counts_windows_and_evicts() {
        let mut c = SlotCount::default();
        for s in [10, 11, 11, 14, 20] {
            c.add(s);
        }
        let mut hits = Vec::new();
        c.windows_at_least(14, 5, 4, |first, total| hits.push((first, total)));
        // Windows of 5 slots containing slot 14: only [10, 15) reaches 4 events.
        assert_eq!(hits, vec![(10, 4)]);
        c.evict_before(12);
        assert_eq!(c.len(), 2);
        let mut d = SlotDistinct::default();
        assert!(d.insert(1, 7));
        assert!(!d.insert(1, 7));
        d.evict_before(2);
        assert!(d.is_empty());
    }
}
