//! Compact collections for keyed state: [`SmallSet`] and [`SmallMap`], sorted vectors that
//! allocate one slot for one entry (a `BTreeSet`/`BTreeMap` allocates a node of eleven), and
//! [`FirstSeen`], a capped first-seen map built on them.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailhound_model::time::EventTime;

use super::{cost, Weigh};

/// A set kept as a sorted `Vec`: a handful of entries costs their own size, where a
/// `BTreeSet` allocates a node of eleven slots for one. Serialised as a sequence, like a
/// `BTreeSet` (the two read each other's snapshots); read back sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SmallSet<T>(Vec<T>);

impl<T> Default for SmallSet<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Ord> SmallSet<T> {
    /// An empty set.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds `v`; true when it was not there.
    pub fn insert(&mut self, v: T) -> bool {
        match self.0.binary_search(&v) {
            Ok(_) => false,
            Err(i) => {
                // Most sets hold one value: no room for four.
                if self.0.capacity() == 0 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, v);
                true
            }
        }
    }

    /// True when `v` is in the set.
    pub fn contains<Q>(&self, v: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.binary_search_by(|x| x.borrow().cmp(v)).is_ok()
    }

    /// Removes `v`; true when it was there.
    pub fn remove<Q>(&mut self, v: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.0.binary_search_by(|x| x.borrow().cmp(v)) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Adds `v` keeping at most `cap` entries, the smallest (what it holds then does not
    /// depend on the order values came in).
    pub fn insert_capped(&mut self, v: T, cap: usize) {
        if self.len() < cap || self.last().is_some_and(|l| v < *l) {
            self.insert(v);
            while self.len() > cap {
                self.pop_last();
            }
        }
    }

    /// The smallest entry.
    pub fn first(&self) -> Option<&T> {
        self.0.first()
    }

    /// The largest entry.
    pub fn last(&self) -> Option<&T> {
        self.0.last()
    }

    /// Removes the smallest entry.
    pub fn pop_first(&mut self) -> Option<T> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }

    /// Removes the largest entry.
    pub fn pop_last(&mut self) -> Option<T> {
        self.0.pop()
    }

    /// Keeps the entries for which `f` is true.
    pub fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        self.0.retain(f);
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ascending iteration.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The entries, ascending.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

impl<T: Ord> Extend<T> for SmallSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for v in iter {
            self.insert(v);
        }
    }
}

impl<T: Ord> FromIterator<T> for SmallSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v: Vec<T> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }
}

impl<'a, T> IntoIterator for &'a SmallSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> IntoIterator for SmallSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T: Serialize> Serialize for SmallSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for SmallSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<T>::deserialize(deserializer)?.into_iter().collect())
    }
}

impl<T: Weigh> Weigh for SmallSet<T> {
    fn heap(&self) -> usize {
        self.0.heap()
    }
}

/// A map kept as a `Vec` sorted by key: a handful of entries costs their own size, where a
/// `BTreeMap` allocates a node of eleven slots for one. Serialised as a map, like a
/// `BTreeMap` (the two read each other's snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    fn find<Q>(&self, k: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.binary_search_by(|(x, _)| x.borrow().cmp(k))
    }

    /// The value of `k`.
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    /// The value of `k`, to change.
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.find(k) {
            Ok(i) => Some(&mut self.0[i].1),
            Err(_) => None,
        }
    }

    /// Sets `k` to `v`; the previous value.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.insert_at(i, k, v);
                None
            }
        }
    }

    fn insert_at(&mut self, i: usize, k: K, v: V) {
        // Most maps hold one entry: no room for four.
        if self.0.capacity() == 0 {
            self.0.reserve_exact(1);
        }
        self.0.insert(i, (k, v));
    }

    /// The value of `k`, made with `make` when absent.
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&k) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, k, make());
                i
            }
        };
        &mut self.0[i].1
    }

    /// Removes `k`; its value.
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(k).ok().map(|i| self.0.remove(i).1)
    }

    /// True when `k` is in the map.
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(k).is_ok()
    }

    /// Entries, by key.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Entries with keys in `range`, by key.
    pub fn range<R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.range_slice(range).iter().map(|(k, v)| (k, v))
    }

    /// Entries with keys in `range`, by key, as a slice.
    pub fn range_slice<R: std::ops::RangeBounds<K>>(&self, range: R) -> &[(K, V)] {
        use std::ops::Bound;
        let lo = match range.start_bound() {
            Bound::Included(k) => self.0.partition_point(|(x, _)| x < k),
            Bound::Excluded(k) => self.0.partition_point(|(x, _)| x <= k),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(k) => self.0.partition_point(|(x, _)| x <= k),
            Bound::Excluded(k) => self.0.partition_point(|(x, _)| x < k),
            Bound::Unbounded => self.0.len(),
        };
        &self.0[lo..hi.max(lo)]
    }

    /// Removes the entries with keys before `k` (the entries from `k` on stay).
    pub fn remove_before<Q>(&mut self, k: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let n = self.0.partition_point(|(x, _)| x.borrow() < k);
        self.0.drain(..n);
    }

    /// Entries, by key, values to change.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// Values, by key, to change.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// Keys, ascending.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    /// Values, by key.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// The entry with the smallest key.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.0.first().map(|(k, v)| (k, v))
    }

    /// The entry with the largest key.
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.0.last().map(|(k, v)| (k, v))
    }

    /// Removes the entry with the smallest key.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }

    /// Removes the entry with the largest key.
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        self.0.pop()
    }

    /// Keeps the entries for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Empties the map.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Self::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Serialize, V: Serialize> Serialize for SmallMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for SmallMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<K, V>::deserialize(deserializer)?.into_iter().collect())
    }
}

impl<K: Weigh, V: Weigh> Weigh for SmallMap<K, V> {
    fn heap(&self) -> usize {
        cost::vec(self.0.len(), std::mem::size_of::<(K, V)>())
            + self.0.iter().map(|(k, v)| k.heap() + v.heap()).sum::<usize>()
    }
}

/// A key made from what it is looked up by (`FirstSeen<Name>` from a `&str`).
pub(crate) trait KeyFrom<Q: ?Sized> {
    fn key_from(q: &Q) -> Self;
}

impl KeyFrom<str> for String {
    fn key_from(q: &str) -> Self {
        q.to_string()
    }
}

impl KeyFrom<str> for compact_str::CompactString {
    fn key_from(q: &str) -> Self {
        q.into()
    }
}

impl KeyFrom<u64> for u64 {
    fn key_from(q: &u64) -> Self {
        *q
    }
}

/// Values and the event time each was first seen, at most `cap` values (a baseline's
/// dimension: regions, networks, agents), keeping those first seen earliest (ties by value) so
/// that the kept set does not depend on arrival order. Serialised as a map with one field,
/// `seen`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(deserialize = "K: Ord + Deserialize<'de>"))]
pub(crate) struct FirstSeen<K> {
    seen: SmallMap<K, EventTime>,
    /// The latest first-seen time of `seen` when known (`None`: to be recomputed). A full
    /// dimension rejects a value first seen after it in O(1), without visiting its values.
    #[serde(skip)]
    latest: Option<EventTime>,
}

impl<K> Default for FirstSeen<K> {
    fn default() -> Self {
        Self { seen: SmallMap::default(), latest: None }
    }
}

impl<K: Weigh> Weigh for FirstSeen<K> {
    fn heap(&self) -> usize {
        self.seen.heap()
    }
}

impl<K: Ord + Clone> FirstSeen<K> {
    /// Records `k` seen at `t`. Returns its first-seen time before this call (`None` when new)
    /// and whether it is kept.
    pub(crate) fn observe<Q>(&mut self, k: &Q, t: EventTime, cap: usize) -> (Option<EventTime>, bool)
    where
        K: Borrow<Q> + KeyFrom<Q>,
        Q: Ord + ?Sized,
    {
        if let Some(f) = self.seen.get_mut(k) {
            let prev = *f;
            if t < prev {
                *f = t;
                if self.latest == Some(prev) {
                    self.latest = None;
                }
            }
            return (Some(prev), true);
        }
        if cap == 0 {
            return (None, false);
        }
        if self.seen.len() >= cap {
            // A value first seen after every kept one never displaces one: in time order,
            // that is most new values of a full dimension.
            let latest =
                *self.latest.get_or_insert_with(|| self.seen.values().copied().max().unwrap_or(EventTime::MIN));
            if t > latest {
                return (None, false);
            }
            // The value first seen latest goes if `k` was seen earlier; cloned only then.
            let worst = self.seen.iter().max_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
            let evict = match worst {
                Some((wk, wf)) if (t, k) < (*wf, wk.borrow()) => wk.clone(),
                _ => return (None, false),
            };
            self.seen.remove::<K>(&evict);
            self.latest = None;
        }
        self.seen.insert(K::key_from(k), t);
        self.latest = self.latest.map(|l| l.max(t));
        (None, true)
    }

    /// The latest first-seen time (when the dimension last learned something).
    pub(crate) fn latest(&self) -> EventTime {
        self.seen.values().copied().max().unwrap_or(i64::MIN)
    }

    pub(crate) fn first<Q>(&self, k: &Q) -> Option<EventTime>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.seen.get(k).copied()
    }

    /// Values first seen before `t`, in order.
    pub(crate) fn before(&self, t: EventTime) -> impl Iterator<Item = &K> {
        self.seen.iter().filter(move |(_, f)| **f < t).map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state field changed from `String` to [`crate::state::Name`] reads the snapshots
    /// written before, and weighs only what does not fit inline.
    #[test]
    fn names_write_and_read_what_strings_did() {
        use crate::state::{cost, Name, Weigh};
        let long = "arn:aws:iam::123456789012:role/a-long-role-name".to_string();
        let strings: SmallSet<String> = ["us-east-1".to_string(), long.clone()].into_iter().collect();
        let names: SmallSet<Name> = strings.iter().map(|s| Name::from(s.as_str())).collect();
        let bytes = rmp_serde::to_vec_named(&strings).expect("encodes");
        assert_eq!(rmp_serde::to_vec_named(&names).expect("encodes"), bytes);
        let back: SmallSet<Name> = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back, names);
        assert_eq!(Name::from("us-east-1").heap(), 0);
        assert_eq!(Name::from(long.as_str()).heap(), cost::str(&long));
    }

    #[test]
    fn a_baseline_at_its_cap_keeps_the_earliest_values_whatever_the_order() {
        let mut a: FirstSeen<String> = FirstSeen::default();
        let mut b: FirstSeen<String> = FirstSeen::default();
        let seen = [("x", 5), ("y", 1), ("z", 3), ("w", 2)];
        for (k, t) in seen {
            a.observe(k, t, 2);
        }
        for (k, t) in seen.iter().rev() {
            b.observe(*k, *t, 2);
        }
        assert_eq!(a.seen, b.seen);
        assert_eq!(a.seen.keys().cloned().collect::<Vec<_>>(), vec!["w".to_string(), "y".to_string()]);
    }

    #[test]
    fn a_full_baseline_keeps_the_earliest_values_through_any_sequence_of_observations() {
        // Against a reference that visits every value each time: random times (with ties and
        // repeats, earlier sightings of kept values), a small cap.
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for _ in 0..200 {
            let mut fast: FirstSeen<String> = FirstSeen::default();
            let mut reference: std::collections::BTreeMap<String, EventTime> = Default::default();
            let cap = 1 + next(5) as usize;
            for _ in 0..60 {
                let k = format!("v{}", next(12));
                let t = next(40) as EventTime;
                let (prev, kept) = fast.observe(k.as_str(), t, cap);
                let want_prev = reference.get(&k).copied();
                assert_eq!(prev, want_prev);
                let mut all = reference.clone();
                let e = all.entry(k.clone()).or_insert(t);
                *e = (*e).min(t);
                let mut order: Vec<(EventTime, String)> = all.iter().map(|(k, t)| (*t, k.clone())).collect();
                order.sort();
                order.truncate(cap);
                reference = order.into_iter().map(|(t, k)| (k, t)).collect();
                assert_eq!(kept, want_prev.is_some() || reference.contains_key(&k));
                let got: std::collections::BTreeMap<String, EventTime> =
                    fast.seen.iter().map(|(k, t)| (k.clone(), *t)).collect();
                assert_eq!(got, reference);
            }
        }
    }
}
