//! What every rule does with its keyed state when the watermark or the memory budget closes
//! part of it: findings published while a table is locked (in a sweep, an eviction) are
//! collected and emitted afterwards in a deterministic order ([`RuleCtx::collect`], [`Order`]),
//! and a table whose values say their own [`Tier`] and last activity ([`Evictable`]) reports
//! its activity and evicts with a close-early callback in one call each
//! ([`Weighed::activity_of`], [`Weighed::evict_closing`]; `keyed_state!` in
//! [`crate::rules`] makes a rule's `activity` and `evict` of them).

use std::hash::Hash;

use trailhound_model::time::EventTime;
use trailhound_model::Finding;

use super::{Activity, Evicted, Tier, Weigh, Weighed};
use crate::rules::RuleCtx;

/// A keyed state value the memory budget can evict: which memory it is and when it was last
/// active (see [`crate::Rule::activity`]).
pub trait Evictable {
    /// The value's tier and last activity (event time).
    fn class(&self) -> (Tier, EventTime);
}

/// The order in which [`RuleCtx::collect`] emits what it collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By uid.
    Uid,
    /// By first event time, then uid.
    FirstEvent,
}

impl RuleCtx<'_> {
    /// Runs `f` with a context that collects what it publishes (at the same watermark, with the
    /// same identity context), then emits that in `order`: for publishing from inside a table's
    /// closures, whose visiting order is the hash order.
    pub fn collect<R>(&mut self, order: Order, f: impl FnOnce(&mut RuleCtx<'_>) -> R) -> R {
        let mut out: Vec<Finding> = Vec::new();
        let r = f(&mut RuleCtx { watermark: self.watermark, context: self.context, out: &mut out });
        match order {
            Order::Uid => out.sort_by(|a, b| a.uid.cmp(&b.uid)),
            Order::FirstEvent => out.sort_by(|a, b| (a.first_event_time, &a.uid).cmp(&(b.first_event_time, &b.uid))),
        }
        for f in out {
            self.emit(f);
        }
        r
    }
}

impl<K: Eq + Hash + Weigh + Clone, V: Weigh + Evictable> Weighed<K, V> {
    /// Adds every entry to `out`, by its value's [`Evictable::class`].
    pub fn activity_of(&self, out: &mut Activity) {
        self.activity(out, |_, v| Some(v.class()));
    }

    /// Evicts the entries of `tier` last active before `before` (by [`Evictable::class`]),
    /// calling `close` on each first with a context that collects what it publishes (the
    /// final versions of the findings it had published), emitted in `order` once done.
    pub fn evict_closing(
        &self,
        tier: Tier,
        before: EventTime,
        ctx: &mut RuleCtx<'_>,
        order: Order,
        close: impl FnMut(&K, &mut V, &mut RuleCtx<'_>),
    ) -> Evicted {
        self.evict_closing_by(tier, before, ctx, order, |_, v| Some(v.class()), close)
    }
}

impl<K: Eq + Hash + Weigh + Clone, V: Weigh> Weighed<K, V> {
    /// [`Weighed::evict_closing`] of a table whose values' class depends on more than the value
    /// (`class`, as for [`Weighed::evict`]).
    pub fn evict_closing_by(
        &self,
        tier: Tier,
        before: EventTime,
        ctx: &mut RuleCtx<'_>,
        order: Order,
        class: impl Fn(&K, &V) -> Option<(Tier, EventTime)>,
        mut close: impl FnMut(&K, &mut V, &mut RuleCtx<'_>),
    ) -> Evicted {
        ctx.collect(order, |ctx| self.evict(tier, before, class, |k, v| close(k, v, ctx)))
    }

    /// [`Weighed::sweep`] at `ctx.watermark`, `f` publishing through a context that collects
    /// what it publishes, emitted in `order` once the sweep is done.
    pub fn sweep_collect(
        &self,
        ctx: &mut RuleCtx<'_>,
        order: Order,
        mut f: impl FnMut(&K, &mut V, &mut RuleCtx<'_>) -> Option<EventTime>,
    ) {
        let wm = ctx.watermark;
        ctx.collect(order, |ctx| self.sweep(wm, |k, v| f(k, v, ctx)));
    }
}
