//! [`Weighed`]: the keyed table every rule keeps its state in. It knows what it weighs and
//! which of its entries the watermark can change, so that neither the memory budget nor
//! housekeeping costs more than the events that changed the state.
//!
//! **Weight.** Each entry carries the heap bytes of its value as last weighed ([`Weigh`]). A
//! change through a guard ([`WeighedMut`], when the value was borrowed mutably) marks the
//! entry stale; stale entries are reweighed once each when the weight is next read
//! ([`Weighed::bytes`]) or when a sweep visits them, however many events changed them in
//! between. So the weight the engine reads is exact at every point it reads it.
//!
//! **Due times.** Housekeeping goes through [`Weighed::sweep`]: the rule's closure says, for
//! each entry it visits, whether to keep it and the earliest watermark at which a later sweep
//! could change it (its *due* time: a window's oldest slot leaving, an episode closing). An
//! entry changed since (any mutable borrow) is due at once. A sweep skips every other entry
//! with one comparison, so what it costs beyond a pass over the table is proportional to the
//! entries that events or the watermark actually touched, not to every key ever seen.

use std::borrow::Borrow;
use std::hash::Hash;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dashmap::mapref::entry::Entry;
use dashmap::mapref::multiple::RefMulti;
use dashmap::mapref::one::{MappedRef, RefMut};
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailhound_model::time::EventTime;

use super::{load_map, save, Activity, Evicted, Map, StateError, StateMap, Tier, Weigh};

#[cfg(test)]
thread_local! {
    /// Tests: makes every sweep on this thread visit every entry (the reference the due
    /// times are checked against).
    pub(crate) static VISIT_ALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// An entry's value with what the table knows of it: its heap weight when last weighed and
/// the watermark from which the next sweep must visit it.
pub struct Slot<V> {
    value: V,
    heap: usize,
    due: EventTime,
    /// Changed since `heap` was computed (its key is in the table's stale list).
    stale: bool,
}

impl<V: Weigh> Slot<V> {
    fn new(value: V) -> Self {
        Self { heap: value.heap(), value, due: EventTime::MIN, stale: false }
    }

    /// Reweighs the value; returns (bytes added, bytes removed).
    fn reweigh(&mut self) -> (usize, usize) {
        self.stale = false;
        let (before, after) = (self.heap, self.value.heap());
        self.heap = after;
        (after.saturating_sub(before), before.saturating_sub(after))
    }
}

/// A read-only entry of a [`Weighed`] table (dereferences to the value).
pub type Read<'a, K, V> = MappedRef<'a, K, Slot<V>, V>;

/// One entry while iterating a [`Weighed`] table.
pub struct Item<'a, K, V>(RefMulti<'a, K, Slot<V>>);

impl<K: Eq + Hash, V> Item<'_, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        self.0.key()
    }
    /// The value.
    pub fn value(&self) -> &V {
        &self.0.value().value
    }
}

/// A keyed state table (a `DashMap` of [`StateMap`]'s hasher) that knows about how many bytes
/// it holds and which entries a sweep must visit (see the module doc). Every mutation goes
/// through [`Weighed::upsert`], [`Weighed::entry`], [`Weighed::get_mut`] (guards that reweigh
/// the value when dropped), [`Weighed::insert`], [`Weighed::remove`], [`Weighed::retain`] or
/// [`Weighed::sweep`]. Reads go through [`Weighed::get`] and [`Weighed::iter`].
pub struct Weighed<K, V> {
    map: StateMap<K, Slot<V>>,
    /// Heap bytes of every key and value, as last weighed.
    heap: AtomicUsize,
    /// Keys of the entries changed since they were last weighed.
    stale: Mutex<Vec<K>>,
}

impl<K: Eq + Hash, V> Default for Weighed<K, V> {
    fn default() -> Self {
        Self { map: StateMap::default(), heap: AtomicUsize::new(0), stale: Mutex::new(Vec::new()) }
    }
}

impl<K: Eq + Hash + Weigh + Clone, V: Weigh> Weighed<K, V> {
    /// Bytes of one entry held inline in the table (key, value and the table's bookkeeping,
    /// control byte), with the table's average slack.
    pub const ENTRY: usize = (std::mem::size_of::<(K, Slot<V>)>() + 1) * 3 / 2;

    /// A table holding `map`'s entries, each due at the next sweep.
    pub fn from_map(map: StateMap<K, V>) -> Self {
        let table = StateMap::with_capacity_and_hasher(map.len(), Default::default());
        let mut heap = 0;
        for (k, v) in map {
            let slot = Slot::new(v);
            heap += k.heap() + slot.heap;
            table.insert(k, slot);
        }
        Self { map: table, heap: AtomicUsize::new(heap), stale: Mutex::new(Vec::new()) }
    }

    /// Approximate bytes held: inline entries plus what keys and values own (the stale
    /// entries reweighed first).
    pub fn bytes(&self) -> usize {
        self.reweigh_stale();
        self.heap.load(Ordering::Relaxed) + self.map.len() * Self::ENTRY
    }

    /// Reweighs the entries changed since they were last weighed.
    fn reweigh_stale(&self) {
        let keys = std::mem::take(&mut *self.stale.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let (mut add, mut sub) = (0usize, 0usize);
        for k in keys {
            if let Some(mut slot) = self.map.get_mut(&k) {
                if slot.stale {
                    let (a, s) = slot.reweigh();
                    add += a;
                    sub += s;
                }
            }
        }
        self.adjust(add, sub);
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Reads an entry.
    pub fn get<Q>(&self, k: &Q) -> Option<Read<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(k).map(|r| r.map(|s| &s.value))
    }

    /// Read-only iteration, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Item<'_, K, V>> {
        self.map.iter().map(Item)
    }

    /// An entry to change: reweighed, and due at the next sweep, when the guard drops after a
    /// mutable borrow.
    pub fn get_mut<Q>(&self, k: &Q) -> Option<WeighedMut<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(k).map(|inner| WeighedMut::new(inner, &self.stale))
    }

    /// The entry of `k` (made with `V::default()` and the key `key()` builds when absent):
    /// no key is built for an entry that exists.
    pub fn upsert<Q>(&self, k: &Q, key: impl FnOnce() -> K) -> WeighedMut<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Default,
    {
        if let Some(e) = self.get_mut(k) {
            return e;
        }
        self.entry(key())
    }

    /// The entry of `k`, made with `V::default()` when absent.
    pub fn entry(&self, k: K) -> WeighedMut<'_, K, V>
    where
        V: Default,
    {
        let inner = match self.map.entry(k) {
            Entry::Occupied(o) => o.into_ref(),
            Entry::Vacant(v) => {
                let r = v.insert(Slot::new(V::default()));
                self.heap.fetch_add(r.key().heap() + r.value().heap, Ordering::Relaxed);
                r
            }
        };
        WeighedMut::new(inner, &self.stale)
    }

    /// Inserts or replaces an entry (due at the next sweep).
    pub fn insert(&self, k: K, v: V) {
        let key = k.heap();
        let slot = Slot::new(v);
        self.heap.fetch_add(key + slot.heap, Ordering::Relaxed);
        if let Some(old) = self.map.insert(k, slot) {
            // One of the two equal keys is dropped: count one.
            self.sub(key + old.heap);
        }
    }

    /// Removes an entry.
    pub fn remove<Q>(&self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (k, slot) = self.map.remove(k)?;
        self.sub(k.heap() + slot.heap);
        Some((k, slot.value))
    }

    /// Keeps the entries for which `f` is true (it may change them), reweighing each kept
    /// one, which is then due at the next sweep. Visits every entry: housekeeping goes
    /// through [`Weighed::sweep`].
    pub fn retain(&self, mut f: impl FnMut(&K, &mut V) -> bool) {
        self.visit(|_| true, |k, v| f(k, v).then_some(EventTime::MIN));
    }

    /// Housekeeping at watermark `wm`: calls `f` on every entry due at `wm` (changed since it
    /// was last visited, or whose due time is at or before `wm`) and skips the others. `f`
    /// returns `None` to remove the entry, or `Some(due)`: the earliest watermark at which
    /// calling it again could change the entry or publish anything, were no event to touch it
    /// in between (`EventTime::MAX`: only events can). A due time too early costs a visit; one
    /// too late delays what the watermark should have done, so a rule computes it from the
    /// same bounds its closure tests.
    pub fn sweep(&self, wm: EventTime, f: impl FnMut(&K, &mut V) -> Option<EventTime>) {
        #[cfg(test)]
        let visit_all = VISIT_ALL.with(std::cell::Cell::get);
        #[cfg(not(test))]
        let visit_all = false;
        self.visit(|due| visit_all || due <= wm, f);
    }

    /// Calls `f` on the entries whose due time `now` accepts, removing those it returns `None`
    /// for and reweighing the others, due again at the time it returns. `now` accepts every
    /// changed entry (due at `EventTime::MIN`), so the pass reweighs every stale one.
    fn visit(&self, now: impl Fn(EventTime) -> bool, mut f: impl FnMut(&K, &mut V) -> Option<EventTime>) {
        let (mut add, mut sub) = (0usize, 0usize);
        debug_assert!(now(EventTime::MIN), "a sweep visits every changed entry");
        // The entries listed as stale so far are all visited (reweighed or removed) below: no
        // need to look each up again at the next weighing. One changed while the pass runs is
        // listed anew.
        drop(std::mem::take(&mut *self.stale.lock().unwrap_or_else(std::sync::PoisonError::into_inner)));
        self.map.retain(|k, slot| {
            if !now(slot.due) {
                return true;
            }
            match f(k, &mut slot.value) {
                Some(due) => {
                    let (a, s) = slot.reweigh();
                    add += a;
                    sub += s;
                    slot.due = due;
                    true
                }
                None => {
                    sub += slot.heap + k.heap();
                    false
                }
            }
        });
        self.adjust(add, sub);
    }

    /// Adds `add` and removes `sub` bytes from the total.
    fn adjust(&self, add: usize, sub: usize) {
        self.heap.fetch_add(add, Ordering::Relaxed);
        self.sub(sub);
    }

    fn sub(&self, n: usize) {
        // Never below zero, whatever a caller did.
        let _ = self.heap.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| Some(h.saturating_sub(n)));
    }

    /// Adds every entry that `class` says is evictable (its tier and last activity) to `out`,
    /// with its bytes.
    pub fn activity(&self, out: &mut Activity, class: impl Fn(&K, &V) -> Option<(Tier, EventTime)>) {
        self.reweigh_stale();
        for e in self.map.iter() {
            if let Some((tier, last)) = class(e.key(), &e.value().value) {
                out.add(tier, last, e.key().heap() + e.value().heap + Self::ENTRY);
            }
        }
    }

    /// Evicts the entries that `class` puts in `tier` with a last activity before `before`,
    /// calling `closing` on each first (to publish final versions).
    pub fn evict(
        &self,
        tier: Tier,
        before: EventTime,
        class: impl Fn(&K, &V) -> Option<(Tier, EventTime)>,
        mut closing: impl FnMut(&K, &mut V),
    ) -> Evicted {
        self.reweigh_stale();
        let mut out = Evicted::default();
        let mut sub = 0;
        self.map.retain(|k, slot| match class(k, &slot.value) {
            Some((t, last)) if t == tier && last < before => {
                out.entries += 1;
                out.bytes += k.heap() + slot.heap + Self::ENTRY;
                sub += k.heap() + slot.heap;
                closing(k, &mut slot.value);
                false
            }
            _ => true,
        });
        self.sub(sub);
        out
    }

    /// Like [`Weighed::evict`], handing the evicted entries back (for a rule that publishes
    /// what they hold).
    pub fn evict_take(
        &self,
        tier: Tier,
        before: EventTime,
        class: impl Fn(&K, &V) -> Option<(Tier, EventTime)>,
    ) -> (Evicted, Vec<(K, V)>) {
        self.reweigh_stale();
        let keys: Vec<K> = self
            .map
            .iter()
            .filter(|e| class(e.key(), &e.value().value).is_some_and(|(t, last)| t == tier && last < before))
            .map(|e| e.key().clone())
            .collect();
        let mut out = Evicted::default();
        let mut taken = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some((k, v)) = self.remove(&k) {
                out.entries += 1;
                out.bytes += k.heap() + v.heap() + Self::ENTRY;
                taken.push((k, v));
            }
        }
        (out, taken)
    }

    /// Recomputes the byte count from scratch (a check for tests: it equals
    /// [`Weighed::bytes`] when every mutation went through the table).
    pub fn recount(&self) -> usize {
        self.map.iter().map(|e| e.key().heap() + e.value().value.heap()).sum::<usize>() + self.map.len() * Self::ENTRY
    }
}

impl<K, V> Weighed<K, V>
where
    K: Serialize + Ord + Hash + Weigh + Clone,
    V: Serialize + Weigh,
{
    /// The table as MessagePack, sorted by key (see [`super::save_map`]).
    pub fn save(&self, rule: &'static str) -> Result<Vec<u8>, StateError> {
        save(rule, self)
    }
}

impl<K, V> Weighed<K, V>
where
    K: DeserializeOwned + Eq + Hash + Weigh + Clone,
    V: DeserializeOwned + Weigh,
{
    /// A table written by [`Weighed::save`] (an empty slice: empty).
    pub fn load(rule: &'static str, bytes: &[u8]) -> Result<Self, StateError> {
        Ok(Self::from_map(load_map(rule, bytes)?))
    }
}

/// A rule's keyed state as the engine sees it: saved and restored for checkpoints, counted and
/// weighed (what [`crate::rules`]' `keyed_state!` implements a rule's methods with).
pub trait Keyed {
    /// The state as MessagePack, the same bytes for the same state.
    fn save(&self, rule: &'static str) -> Result<Vec<u8>, StateError>;
    /// Replaces the state with one [`Keyed::save`] wrote (an empty slice: empty).
    fn restore(&mut self, rule: &'static str, bytes: &[u8]) -> Result<(), StateError>;
    /// Keyed entries held.
    fn entries(&self) -> usize;
    /// Approximate bytes held.
    fn bytes(&self) -> usize;
}

impl<K, V> Keyed for Weighed<K, V>
where
    K: Serialize + DeserializeOwned + Ord + Hash + Weigh + Clone,
    V: Serialize + DeserializeOwned + Weigh,
{
    fn save(&self, rule: &'static str) -> Result<Vec<u8>, StateError> {
        Weighed::save(self, rule)
    }

    fn restore(&mut self, rule: &'static str, bytes: &[u8]) -> Result<(), StateError> {
        *self = Weighed::load(rule, bytes)?;
        Ok(())
    }

    fn entries(&self) -> usize {
        self.len()
    }

    fn bytes(&self) -> usize {
        Weighed::bytes(self)
    }
}

/// A map sorted by key, values only: the same bytes as [`super::Sorted`] of the values.
impl<K: Serialize + Ord + Hash, V: Serialize> Serialize for Weighed<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = self.map.iter().collect();
        entries.sort_unstable_by(|a, b| a.key().cmp(b.key()));
        let mut m = serializer.serialize_map(Some(entries.len()))?;
        for e in &entries {
            m.serialize_entry(e.key(), &e.value().value)?;
        }
        m.end()
    }
}

impl<'de, K, V> Deserialize<'de> for Weighed<K, V>
where
    K: Deserialize<'de> + Eq + Hash + Weigh + Clone,
    V: Deserialize<'de> + Weigh,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_map(Map::deserialize(deserializer)?.0))
    }
}

/// An entry of a [`Weighed`] table to change: dereferences to the value; when dropped after a
/// mutable borrow, marks it stale (reweighed when the weight is next read) and due at the next
/// sweep. Holds the shard's lock like any `DashMap` guard: never across another map call.
pub struct WeighedMut<'a, K: Eq + Hash + Weigh + Clone, V: Weigh> {
    inner: RefMut<'a, K, Slot<V>>,
    stale: &'a Mutex<Vec<K>>,
    changed: bool,
}

impl<'a, K: Eq + Hash + Weigh + Clone, V: Weigh> WeighedMut<'a, K, V> {
    fn new(inner: RefMut<'a, K, Slot<V>>, stale: &'a Mutex<Vec<K>>) -> Self {
        Self { inner, stale, changed: false }
    }

    /// The entry's key.
    pub fn key(&self) -> &K {
        self.inner.key()
    }
}

impl<K: Eq + Hash + Weigh + Clone, V: Weigh> Deref for WeighedMut<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.inner.value().value
    }
}

impl<K: Eq + Hash + Weigh + Clone, V: Weigh> DerefMut for WeighedMut<'_, K, V> {
    fn deref_mut(&mut self) -> &mut V {
        self.changed = true;
        &mut self.inner.value_mut().value
    }
}

impl<K: Eq + Hash + Weigh + Clone, V: Weigh> Drop for WeighedMut<'_, K, V> {
    fn drop(&mut self) {
        if !self.changed {
            return;
        }
        let slot = self.inner.value_mut();
        slot.due = EventTime::MIN;
        if !slot.stale {
            slot.stale = true;
            let key = self.inner.key().clone();
            // The list's lock is never held while taking a map lock (see `reweigh_stale`).
            self.stale.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(key);
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
