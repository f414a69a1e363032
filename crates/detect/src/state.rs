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

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use dashmap::DashMap;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailhound_model::time::EventTime;

mod closing;
mod collections;
mod recent;
mod table;
mod weigh;

pub use closing::{Evictable, Order};
pub(crate) use collections::FirstSeen;
pub use collections::{SmallMap, SmallSet};
pub use recent::{Call, RecentCalls};
pub use table::{Keyed, Weighed, WeighedMut};
pub(crate) use weigh::weigh_fields;
pub use weigh::{cost, Weigh, WeightCache};

/// A short string of state (a region, a service, an agent family, a network): held inline up
/// to 24 bytes, so that most need no allocation and comparing them reads no other memory.
/// Snapshots hold it as a string.
pub type Name = compact_str::CompactString;

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
