//! Checkpoints of rule state: each rule serialises its keyed state to MessagePack
//! ([`rmp_serde`], structs as maps) with [`save`] and reads it back with [`load`]; the
//! [`Engine`](crate::Engine) wraps every rule's bytes with its own clock in one snapshot.
//!
//! Keyed maps (`DashMap`s) are written sorted by key ([`save_map`], [`Sorted`]), so that the
//! same state always gives the same bytes, and read back with a bounded pre-allocation
//! ([`load_map`], [`Map`]): a corrupt length in the input is an error, not an abort.
//!
//! **Memory budget.** Rules keep their keyed state in [`Weighed`] maps, which know about how
//! many bytes they hold: every value says what it owns on the heap ([`Weigh`], computed from
//! lengths with the [`cost`] model, so the same state weighs the same after a restore), and
//! the map keeps the sum up to date through its guards ([`WeighedMut`]) and
//! [`Weighed::retain`]. The engine judges the total before the first event of every minute of
//! event time (see [`Engine::process`](crate::Engine::process)); when it passes
//! `engine.max_state_bytes`, the engine first closes what the watermark closes
//! ([`Rule::on_settle`](crate::Rule::on_settle), so that the state judged does not depend on
//! when housekeeping last ran), then asks the rules how their state is spread over last
//! activity ([`Rule::activity`](crate::Rule::activity), an [`Activity`] histogram per
//! [`Tier`]) and evicts the least recently active keys' state, tier by tier
//! ([`Rule::evict`](crate::Rule::evict)): long-term memory first, then dormant windows, then
//! live ones, by a cutoff time (everything last active before it goes), so the choice
//! depends on the events and their order only, never on hash order or batch boundaries.
//!
//! A published finding whose state is evicted gets a last version at once (its
//! [`Publication::close_early`](crate::episode::Publication::close_early), with a context
//! line saying so); if its key acts again in the same window, the rule starts the uid afresh
//! and the engine numbers those versions after the earlier ones (see `revisions.rs`).
//!
//! Compact representations keep a key with a call or two cheap: [`SmallSet`] and [`SmallMap`]
//! (sorted vectors that allocate one slot for one entry) instead of `BTreeSet`/`BTreeMap`
//! (a node of eleven slots for one entry), in windows and per-key episodes.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::mapref::entry::Entry;
use dashmap::mapref::one::{Ref, RefMut};
use dashmap::DashMap;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailhound_model::time::EventTime;

mod collections;
mod weigh;

pub(crate) use collections::FirstSeen;
pub use collections::{SmallMap, SmallSet};
pub use weigh::{cost, Weigh};

/// The keyed state map of every rule: a `DashMap` hashed with foldhash, several times cheaper
/// than std's SipHash on the ARN, session and user-agent keys looked up for every event.
///
/// Keys come from the logs, so partly from attackers. foldhash is seeded randomly per process
/// (no list of colliding keys works against every instance, and iteration order is never
/// relied upon: snapshots sort, rules publish touched keys sorted) but, unlike SipHash, does
/// not resist an attacker who can watch hash outputs or table timings; the detector exposes
/// neither. This is hashbrown's default hasher, chosen with that trade-off in mind.
pub type StateMap<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

/// A rule's state could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Serialising the state failed.
    #[error("cannot encode the state of {rule}: {message}")]
    Encode {
        /// Rule id (`engine` for the engine's own envelope).
        rule: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The bytes are not a state of this rule (corrupt, or of another format).
    #[error("cannot decode the state of {rule}: {message}")]
    Decode {
        /// Rule id (`engine` for the engine's own envelope).
        rule: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The snapshot was written by a version of trailhound with another snapshot format.
    #[error("detection state snapshot has format version {found}, this build reads version {expected}")]
    Version {
        /// Format version in the snapshot.
        found: u32,
        /// Format version this build writes and reads.
        expected: u32,
    },
}

/// Serialises `t` as MessagePack with named fields.
pub fn save<T: Serialize + ?Sized>(rule: &'static str, t: &T) -> Result<Vec<u8>, StateError> {
    rmp_serde::to_vec_named(t).map_err(|e| StateError::Encode { rule, message: e.to_string() })
}

/// Reads a state written by [`save`]; an empty slice is the empty state (`T::default()`).
pub fn load<T: DeserializeOwned + Default>(rule: &'static str, bytes: &[u8]) -> Result<T, StateError> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    rmp_serde::from_slice(bytes).map_err(|e| StateError::Decode { rule, message: e.to_string() })
}

/// [`save`] of a [`StateMap`], sorted by key.
pub fn save_map<K, V>(rule: &'static str, map: &StateMap<K, V>) -> Result<Vec<u8>, StateError>
where
    K: Serialize + Ord + Hash,
    V: Serialize,
{
    save(rule, &Sorted(map))
}

/// [`load`] of a [`StateMap`] written by [`save_map`].
pub fn load_map<K, V>(rule: &'static str, bytes: &[u8]) -> Result<StateMap<K, V>, StateError>
where
    K: DeserializeOwned + Eq + Hash,
    V: DeserializeOwned,
{
    Ok(load::<Map<K, V>>(rule, bytes)?.0)
}

/// Serialises a [`StateMap`] as a map sorted by key (deterministic bytes). Reads back as a
/// [`StateMap`] ([`Map`]) or any other map. Holds read locks on the map while it serialises.
pub struct Sorted<'a, K, V>(pub &'a StateMap<K, V>);

impl<K: Serialize + Ord + Hash, V: Serialize> Serialize for Sorted<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.key().cmp(b.key()));
        let mut m = serializer.serialize_map(Some(entries.len()))?;
        for e in &entries {
            m.serialize_entry(e.key(), e.value())?;
        }
        m.end()
    }
}

/// A [`StateMap`] read from a serialised map, pre-allocating at most a few thousand entries
/// whatever length the input claims.
pub struct Map<K, V>(pub StateMap<K, V>);

impl<K: Eq + Hash, V> Default for Map<K, V> {
    fn default() -> Self {
        Self(StateMap::default())
    }
}

/// Largest pre-allocation trusted from a serialised length.
const MAX_PREALLOC: usize = 4096;

impl<'de, K, V> Deserialize<'de> for Map<K, V>
where
    K: Deserialize<'de> + Eq + Hash,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<fn() -> (K, V)>);
        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de> + Eq + Hash,
            V: Deserialize<'de>,
        {
            type Value = Map<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let map = StateMap::with_capacity_and_hasher(
                    access.size_hint().unwrap_or(0).min(MAX_PREALLOC),
                    Default::default(),
                );
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                }
                Ok(Map(map))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Which memory an eviction takes, in the order it is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// What a key's past says: baselines, recon histories, first-seen sets, a session's home.
    /// Evicting it makes the key new again (it learns from scratch); no window is cut short.
    LongTerm,
    /// Windows that can no longer make a detection by themselves (every window they hold has
    /// passed behind the watermark) but are kept so that a finding is complete: an episode's
    /// earlier events. Evicting closes them early: a finding already published gets its final
    /// version then; later events of the same episode make later revisions of the same uid,
    /// from those events only.
    Dormant,
    /// Windows and sequences that may still complete a detection (a first step waiting for the
    /// next one, calls inside a sliding window). Evicting them can lose a detection: taken
    /// last but one, least recently active first.
    Active,
    /// Sequences armed by a sensitive write (a user, an access key, a trust policy or a grant
    /// created) that wait for their next step: the state of the persistence and backdoor
    /// rules. Only writes arm one, and writes are few, loud and rate-limited by the provider
    /// (reads are not), so a flood of reads from many keys never pushes them out: taken last of
    /// all, least recently active first.
    Armed,
}

impl Tier {
    /// Every tier, in eviction order.
    pub const ALL: [Tier; 4] = [Tier::LongTerm, Tier::Dormant, Tier::Active, Tier::Armed];

    /// The tier's name in metrics (`trailhound_state_evictions_total{tier}`) and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Tier::LongTerm => "long_term",
            Tier::Dormant => "dormant",
            Tier::Active => "active",
            Tier::Armed => "armed",
        }
    }
}

/// Width of the [`Activity`] histogram's buckets: keys last active within the same minute are
/// evicted together.
pub const ACTIVITY_BUCKET_MS: i64 = 60_000;

/// Bytes of evictable state by [`Tier`] and minute of last activity: what the engine reads to
/// choose a cutoff (see [`Activity::cutoff`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Activity {
    tiers: BTreeMap<Tier, BTreeMap<EventTime, usize>>,
}

impl Activity {
    /// Counts `bytes` of `tier` state last active at `last`.
    pub fn add(&mut self, tier: Tier, last: EventTime, bytes: usize) {
        *self.tiers.entry(tier).or_default().entry(last.div_euclid(ACTIVITY_BUCKET_MS)).or_default() += bytes;
    }

    /// Bytes of `tier` state.
    pub fn total(&self, tier: Tier) -> usize {
        self.tiers.get(&tier).map_or(0, |m| m.values().sum())
    }

    /// The earliest cutoff (a bucket boundary) such that the `tier` state last active before
    /// it holds at least `need` bytes, with those bytes; `i64::MAX` and the tier's total when
    /// all of it is not enough.
    pub fn cutoff(&self, tier: Tier, need: usize) -> (EventTime, usize) {
        let mut freed = 0usize;
        if let Some(m) = self.tiers.get(&tier) {
            for (bucket, bytes) in m {
                freed += bytes;
                if freed >= need {
                    return (bucket.saturating_add(1).saturating_mul(ACTIVITY_BUCKET_MS), freed);
                }
            }
        }
        (i64::MAX, freed)
    }
}

/// What an eviction removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    /// Keyed entries (or parts of entries) evicted.
    pub entries: u64,
    /// Their approximate bytes.
    pub bytes: usize,
}

impl std::ops::AddAssign for Evicted {
    fn add_assign(&mut self, o: Self) {
        self.entries += o.entries;
        self.bytes += o.bytes;
    }
}

/// A [`StateMap`] that knows about how many bytes it holds (see the module doc): every
/// mutation goes through [`Weighed::upsert`], [`Weighed::get_mut`] (guards that reweigh the
/// value when dropped), [`Weighed::insert`], [`Weighed::remove`] or [`Weighed::retain`].
/// Reads go through [`Weighed::get`] and [`Weighed::iter`].
pub struct Weighed<K, V> {
    map: StateMap<K, V>,
    /// Heap bytes of every key and value.
    heap: AtomicUsize,
}

impl<K: Eq + Hash, V> Default for Weighed<K, V> {
    fn default() -> Self {
        Self { map: StateMap::default(), heap: AtomicUsize::new(0) }
    }
}

impl<K: Eq + Hash + Weigh, V: Weigh> Weighed<K, V> {
    /// Bytes of one entry held inline in the table (key, value, control byte), with the
    /// table's average slack.
    pub const ENTRY: usize = (std::mem::size_of::<(K, V)>() + 1) * 3 / 2;

    /// A map holding `map`'s entries.
    pub fn from_map(map: StateMap<K, V>) -> Self {
        let heap = map.iter().map(|e| e.key().heap() + e.value().heap()).sum();
        Self { map, heap: AtomicUsize::new(heap) }
    }

    /// Approximate bytes held: inline entries plus what keys and values own.
    pub fn bytes(&self) -> usize {
        self.heap.load(Ordering::Relaxed) + self.map.len() * Self::ENTRY
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The map itself, read-only (for [`Sorted`] snapshots and iteration).
    pub fn map(&self) -> &StateMap<K, V> {
        &self.map
    }

    /// Reads an entry.
    pub fn get<Q>(&self, k: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(k)
    }

    /// Read-only iteration.
    pub fn iter(&self) -> dashmap::iter::Iter<'_, K, V, foldhash::fast::RandomState> {
        self.map.iter()
    }

    /// Changes an entry; it is reweighed when the guard drops.
    pub fn get_mut<Q>(&self, k: &Q) -> Option<WeighedMut<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(k).map(|inner| WeighedMut::new(inner, &self.heap))
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
                let r = v.insert(V::default());
                self.heap.fetch_add(r.key().heap() + r.value().heap(), Ordering::Relaxed);
                r
            }
        };
        WeighedMut::new(inner, &self.heap)
    }

    /// Inserts or replaces an entry.
    pub fn insert(&self, k: K, v: V) {
        let key = k.heap();
        self.heap.fetch_add(key + v.heap(), Ordering::Relaxed);
        if let Some(old) = self.map.insert(k, v) {
            // One of the two equal keys is dropped: count one.
            self.sub(key + old.heap());
        }
    }

    /// Removes an entry.
    pub fn remove<Q>(&self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let out = self.map.remove(k);
        if let Some((k, v)) = &out {
            self.sub(k.heap() + v.heap());
        }
        out
    }

    /// Keeps the entries for which `f` is true (it may change them), reweighing each.
    pub fn retain(&self, mut f: impl FnMut(&K, &mut V) -> bool) {
        let (mut add, mut sub) = (0usize, 0usize);
        self.map.retain(|k, v| {
            let before = v.heap();
            if f(k, v) {
                let after = v.heap();
                add += after.saturating_sub(before);
                sub += before.saturating_sub(after);
                true
            } else {
                sub += before + k.heap();
                false
            }
        });
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
        for e in self.map.iter() {
            if let Some((tier, last)) = class(e.key(), e.value()) {
                out.add(tier, last, e.key().heap() + e.value().heap() + Self::ENTRY);
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
        let mut out = Evicted::default();
        self.retain(|k, v| match class(k, v) {
            Some((t, last)) if t == tier && last < before => {
                out.entries += 1;
                out.bytes += k.heap() + v.heap() + Self::ENTRY;
                closing(k, v);
                false
            }
            _ => true,
        });
        out
    }

    /// Like [`Weighed::evict`], handing the evicted entries back (for a rule that publishes
    /// what they hold).
    pub fn evict_take(
        &self,
        tier: Tier,
        before: EventTime,
        class: impl Fn(&K, &V) -> Option<(Tier, EventTime)>,
    ) -> (Evicted, Vec<(K, V)>)
    where
        K: Clone,
    {
        let keys: Vec<K> = self
            .map
            .iter()
            .filter(|e| class(e.key(), e.value()).is_some_and(|(t, last)| t == tier && last < before))
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
    /// [`Weighed::bytes`] when every mutation went through the map).
    pub fn recount(&self) -> usize {
        self.map.iter().map(|e| e.key().heap() + e.value().heap()).sum::<usize>() + self.map.len() * Self::ENTRY
    }
}

impl<K, V> Weighed<K, V>
where
    K: Serialize + Ord + Hash + Weigh,
    V: Serialize + Weigh,
{
    /// [`save_map`] of the map.
    pub fn save(&self, rule: &'static str) -> Result<Vec<u8>, StateError> {
        save_map(rule, &self.map)
    }
}

impl<K, V> Weighed<K, V>
where
    K: DeserializeOwned + Eq + Hash + Weigh,
    V: DeserializeOwned + Weigh,
{
    /// [`load_map`] into a map (an empty slice: empty).
    pub fn load(rule: &'static str, bytes: &[u8]) -> Result<Self, StateError> {
        Ok(Self::from_map(load_map(rule, bytes)?))
    }
}

impl<K: Serialize + Ord + Hash, V: Serialize> Serialize for Weighed<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Sorted(&self.map).serialize(serializer)
    }
}

impl<'de, K, V> Deserialize<'de> for Weighed<K, V>
where
    K: Deserialize<'de> + Eq + Hash + Weigh,
    V: Deserialize<'de> + Weigh,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_map(Map::deserialize(deserializer)?.0))
    }
}

/// A changed entry of a [`Weighed`] map: dereferences to the value and reweighs it when
/// dropped. Holds the shard's lock like any `DashMap` guard: never across another map call.
pub struct WeighedMut<'a, K: Eq + Hash + Weigh, V: Weigh> {
    inner: RefMut<'a, K, V>,
    before: usize,
    heap: &'a AtomicUsize,
}

impl<'a, K: Eq + Hash + Weigh, V: Weigh> WeighedMut<'a, K, V> {
    fn new(inner: RefMut<'a, K, V>, heap: &'a AtomicUsize) -> Self {
        let before = inner.value().heap();
        Self { inner, before, heap }
    }

    /// The entry's key.
    pub fn key(&self) -> &K {
        self.inner.key()
    }
}

impl<K: Eq + Hash + Weigh, V: Weigh> Deref for WeighedMut<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.inner.value()
    }
}

impl<K: Eq + Hash + Weigh, V: Weigh> DerefMut for WeighedMut<'_, K, V> {
    fn deref_mut(&mut self) -> &mut V {
        self.inner.value_mut()
    }
}

impl<K: Eq + Hash + Weigh, V: Weigh> Drop for WeighedMut<'_, K, V> {
    fn drop(&mut self) {
        let after = self.inner.value().heap();
        if after >= self.before {
            self.heap.fetch_add(after - self.before, Ordering::Relaxed);
        } else {
            let n = self.before - after;
            let _ = self.heap.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| Some(h.saturating_sub(n)));
        }
    }
}

/// The engine evicts down to this share (percent) of `engine.max_state_bytes` once over it, so
/// that it walks the state for a cutoff only after a fifth of the budget has grown back.
pub const EVICT_TO_PERCENT: usize = 80;

/// What one enforcement of the memory budget did (`enforce_budget`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Enforced {
    /// What was evicted, per [`Tier`] (in [`Tier::ALL`] order).
    pub evicted: [Evicted; 4],
    /// The cutoff of each tier that was evicted (keys last active before it went).
    pub cutoffs: [Option<EventTime>; 4],
}

/// Brings the rules' state from `used` bytes down to `target`: asks every rule for its
/// [`Activity`], then evicts tier by tier ([`Tier::ALL`]) the state last active before the
/// earliest cutoff that frees what is still needed.
pub(crate) fn enforce_budget(
    rules: &[Box<dyn crate::Rule>],
    used: usize,
    target: usize,
    ctx: &mut crate::RuleCtx<'_>,
) -> Enforced {
    let mut activity = Activity::default();
    for r in rules {
        r.activity(ctx.watermark, &mut activity);
    }
    let mut need = used.saturating_sub(target);
    let mut done = Enforced::default();
    for (i, tier) in Tier::ALL.into_iter().enumerate() {
        if need == 0 {
            break;
        }
        let (cutoff, freed) = activity.cutoff(tier, need);
        if freed == 0 {
            continue;
        }
        for r in rules {
            done.evicted[i] += r.evict(tier, cutoff, ctx);
        }
        done.cutoffs[i] = Some(cutoff);
        need = need.saturating_sub(freed);
    }
    done
}

/// `#[serde(with = "crate::state::bytes")]` for a `Vec<u8>`: MessagePack `bin` instead of an
/// array of integers.
pub(crate) mod bytes {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(v.to_vec())
            }

            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(v)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(BytesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_sorted_and_empty_is_default() {
        let m: StateMap<(String, i64), u64> = StateMap::default();
        for i in (0..100).rev() {
            m.insert((format!("k{}", i % 7), i), i as u64);
        }
        let bytes = save_map("test", &m).expect("encode");
        let back: StateMap<(String, i64), u64> = load_map("test", &bytes).expect("decode");
        assert_eq!(back.len(), 100);
        assert_eq!(back.get(&("k3".to_string(), 3)).map(|v| *v), Some(3));
        assert_eq!(save_map("test", &back).expect("encode"), bytes, "same state, same bytes");
        let empty: StateMap<String, u64> = load_map("test", &[]).expect("empty");
        assert!(empty.is_empty());
    }

    #[test]
    fn a_map_claiming_four_billion_entries_is_an_error() {
        // map32 with length u32::MAX, then nothing.
        let err = load_map::<String, u64>("test", &[0xdf, 0xff, 0xff, 0xff, 0xff]).expect_err("truncated");
        assert!(matches!(err, StateError::Decode { rule: "test", .. }), "{err}");
        assert!(load_map::<String, u64>("test", b"garbage").is_err());
    }
}
