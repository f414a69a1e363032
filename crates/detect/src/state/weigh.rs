//! What state weighs: the heap cost model ([`cost`]) and [`Weigh`], what each state value
//! owns on the heap, implemented for the std types rules keep.

use std::collections::BTreeMap;

use trailhound_model::time::EventTime;

/// The approximate heap cost model behind [`Weigh`] (64-bit, a glibc-like allocator): every
/// allocation is rounded up to 16 bytes with 8 of header. Approximate by design: it is
/// computed from lengths only (never capacities, which a restore does not reproduce), so
/// that the same state always weighs the same.
pub mod cost {
    /// Bytes of one heap allocation of `n` bytes (0 for none).
    #[inline]
    pub const fn alloc(n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (n + 8 + 15) & !15
        }
    }

    /// The heap part of a `String` or `Box<str>` holding `s`.
    #[inline]
    pub fn str(s: &str) -> usize {
        alloc(s.len())
    }

    /// The heap part of a `Vec` of `len` elements of `size` bytes: one slot for one element
    /// (the small sets and maps of [`crate::state::SmallSet`], [`crate::state::SmallMap`] start so), then
    /// capacity growing by doubling from 4, counted at the next power of two.
    #[inline]
    pub const fn vec(len: usize, size: usize) -> usize {
        if len == 0 {
            0
        } else if len == 1 {
            alloc(size)
        } else if len <= 4 {
            alloc(4 * size)
        } else {
            alloc(len.next_power_of_two() * size)
        }
    }

    /// The nodes of a `BTreeMap`/`BTreeSet` of `len` entries of `size` bytes (key and value):
    /// one leaf of 11 slots up to 11 entries, then nodes about two thirds full.
    #[inline]
    pub const fn btree(len: usize, size: usize) -> usize {
        if len == 0 {
            return 0;
        }
        let node = alloc(16 + 11 * size);
        if len <= 11 {
            node
        } else {
            // Leaves ~7 entries each, plus internal nodes (~one per 7 leaves, 12 edges more).
            let leaves = len.div_ceil(7);
            leaves * node + leaves.div_ceil(7) * (node + 12 * 8)
        }
    }
}

/// A value's weight remembered between changes (for values reweighed far more often than
/// their strings change). Empty by default, after a clone of an empty one and after a restore;
/// cloning keeps what it holds. Not part of the value: equal whatever it holds.
#[derive(Default)]
pub struct WeightCache(std::sync::atomic::AtomicUsize);

impl WeightCache {
    /// Held when nothing is remembered (a weight `w` is held as `w + 1`).
    const NONE: usize = 0;

    /// The weight remembered, or `count()` (then remembered).
    pub fn get_or(&self, count: impl FnOnce() -> usize) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        match self.0.load(Relaxed) {
            Self::NONE => {
                let w = count();
                // Stored plus one, so that a weight of zero is remembered too.
                self.0.store(w.saturating_add(1), Relaxed);
                w
            }
            held => held - 1,
        }
    }

    /// Forgets the weight (the value changed).
    pub fn clear(&mut self) {
        *self.0.get_mut() = Self::NONE;
    }
}

impl Clone for WeightCache {
    fn clone(&self) -> Self {
        Self(std::sync::atomic::AtomicUsize::new(self.0.load(std::sync::atomic::Ordering::Relaxed)))
    }
}

impl PartialEq for WeightCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for WeightCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeightCache")
    }
}

/// What a state value owns on the heap, approximately (see [`cost`]): not its inline size,
/// which the map counts per entry.
pub trait Weigh {
    /// Heap bytes, from lengths only: the same value weighs the same after a restore.
    fn heap(&self) -> usize;
}

impl Weigh for String {
    fn heap(&self) -> usize {
        cost::str(self)
    }
}

impl Weigh for Box<str> {
    fn heap(&self) -> usize {
        cost::str(self)
    }
}

/// Inline up to 24 bytes: only a longer one owns heap.
impl Weigh for compact_str::CompactString {
    fn heap(&self) -> usize {
        if self.is_heap_allocated() {
            cost::str(self)
        } else {
            0
        }
    }
}

impl Weigh for EventTime {
    fn heap(&self) -> usize {
        0
    }
}

impl Weigh for () {
    fn heap(&self) -> usize {
        0
    }
}

impl<A: Weigh, B: Weigh> Weigh for (A, B) {
    fn heap(&self) -> usize {
        self.0.heap() + self.1.heap()
    }
}

impl<T: Weigh> Weigh for Option<T> {
    fn heap(&self) -> usize {
        self.as_ref().map_or(0, Weigh::heap)
    }
}

impl Weigh for u64 {
    fn heap(&self) -> usize {
        0
    }
}

impl<A: Weigh, B: Weigh, C: Weigh> Weigh for (A, B, C) {
    fn heap(&self) -> usize {
        self.0.heap() + self.1.heap() + self.2.heap()
    }
}

impl Weigh for trailhound_model::Evidence {
    fn heap(&self) -> usize {
        cost::str(&self.event_id) + cost::str(&self.summary)
    }
}

impl Weigh for trailhound_model::Finding {
    fn heap(&self) -> usize {
        [&self.uid, &self.rule_id, &self.title, &self.provider, &self.actor_key, &self.summary, &self.remediation]
            .iter()
            .map(|s| s.heap())
            .sum::<usize>()
            + self.actor_arn.heap()
            + self.account.heap()
            + self.tactic_ids.heap()
            + self.technique_ids.heap()
            + self.regions.heap()
            + self.evidence.heap()
            + self.context.heap()
            + self.related_actor_keys.heap()
    }
}

impl Weigh for bool {
    fn heap(&self) -> usize {
        0
    }
}

impl<T: Weigh> Weigh for Vec<T> {
    fn heap(&self) -> usize {
        cost::vec(self.len(), std::mem::size_of::<T>()) + self.iter().map(Weigh::heap).sum::<usize>()
    }
}

impl<K: Weigh, V: Weigh> Weigh for BTreeMap<K, V> {
    fn heap(&self) -> usize {
        cost::btree(self.len(), std::mem::size_of::<(K, V)>())
            + self.iter().map(|(k, v)| k.heap() + v.heap()).sum::<usize>()
    }
}

impl<T: Weigh> Weigh for std::collections::BTreeSet<T> {
    fn heap(&self) -> usize {
        cost::btree(self.len(), std::mem::size_of::<T>()) + self.iter().map(Weigh::heap).sum::<usize>()
    }
}

/// `impl Weigh` for structs (and enums) that own on the heap what some of their fields own:
/// `weigh_fields! { Part { support, calls }, Cond {} }` weighs a `Part` as its `support` plus
/// its `calls`, and a `Cond` as nothing.
macro_rules! weigh_fields {
    ($($ty:ident { $($field:ident),* }),+ $(,)?) => {
        $(
            impl $crate::state::Weigh for $ty {
                fn heap(&self) -> usize {
                    $crate::state::weigh_fields!(@sum self $($field)*)
                }
            }
        )+
    };
    (@sum $s:ident) => {
        0
    };
    (@sum $s:ident $first:ident $($rest:ident)*) => {
        $crate::state::Weigh::heap(&$s.$first) $(+ $crate::state::Weigh::heap(&$s.$rest))*
    };
}
pub(crate) use weigh_fields;
