//! The detection engine: event-time windows, a watermark, keyed state, and the rules.
//!
//! This crate owns *when* and *why* a finding is raised, and nothing about I/O: it takes Arrow
//! batches of the event model ([`trailhound_model::event`]) and returns
//! [`Finding`](trailhound_model::Finding)s. No Kafka, no DataFusion, no wall clock:
//! `cargo test -p trailhound-detect` builds in seconds.
//!
//! Semantics (see `DESIGN.md`):
//! - **Event time.** The watermark is the newest event time seen minus `allowed_lateness`.
//!   Events older than the watermark are counted as late and given to stateless rules only.
//! - **Keyed state** per actor in a `DashMap` inside each rule; the [`Engine`] shards actors
//!   over `workers` threads, so an actor's events are always handled by one thread, in order.
//! - **Early firing.** A rule publishes a finding in the batch where its condition first holds,
//!   re-publishes it (same uid, [`Activity::Update`](trailhound_model::Activity)) when it grows,
//!   and publishes a final version when its window closes behind the watermark.
//! - **Deterministic uids** `hash(rule, key, window/anchor)`; the final version of each finding
//!   is the same whatever the arrival order (within the lateness) or the batch size.
//!
//! Rules live in [`rules`], one file each. What more than one rule needs lives in a module of
//! its own topic, never in a rule: `iam_policy` (policy documents, admin rights), `net` (source
//! networks), [`agents`] (user agents, IaC tools), `arn` (the caller's own user, fleet
//! sessions), `ec2` (termination protection requests), `fields` (error codes), `text`,
//! [`episode`] (support, publication, findings), [`state`] and [`window`]; severity arithmetic
//! is [`Severity`](trailhound_model::Severity)'s own.
//!
//! Checkpoints: [`Engine::snapshot`] serialises the engine's clock (newest event time,
//! last housekeeping), its counters and every rule's keyed state ([`Rule::snapshot`],
//! MessagePack, see [`state`]) into one versioned blob, and [`Engine::restore`] loads it into
//! a fresh engine built from the same configuration. A runtime stores the blob with its input
//! offsets and, after a crash or when a partition moves to another process, restores it and
//! resumes from those offsets: open windows and sequences continue, findings keep their uids,
//! and the final versions are the same as without the interruption. Rules are matched by id: a
//! rule disabled since the snapshot is skipped, a rule enabled since starts empty.
//!
//! ```
//! use trailhound_detect::{DetectConfig, Engine};
//! let engine = Engine::new(&DetectConfig::default()).expect("default config is valid");
//! assert!(engine.rules().iter().any(|r| r.meta().id == "enumeration_burst"));
//! ```

pub mod agents;
mod arn;
mod config;
pub mod context;
mod derived;
mod ec2;
mod engine;
pub mod episode;
mod fields;
mod gate;
mod iam_policy;
mod net;
mod revisions;
mod rule_config;
pub mod rules;
pub mod state;
#[cfg(test)]
#[allow(dead_code)] // helpers for whichever rule tests need them
pub(crate) mod testing;
mod text;
mod touched;
mod view;
pub mod window;

pub use config::{DetectConfig, EngineConfig, Suppress};
pub use context::{ContextConfig, IdentityContext};
pub use engine::{Engine, EngineStats, BUDGET_CEILING_PERCENT, BUDGET_PERIOD_MS, CLOSED_EARLY};
pub use gate::Rejected;
pub use rules::{Common, CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta, RuleSettings, RulesConfig};
pub use state::StateError;
pub use view::EventView;

/// Errors of the detection engine.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A batch that does not have the event schema (a programming error upstream).
    #[error("batch does not match the event schema: {0}")]
    Schema(String),
    /// Invalid configuration: every problem found.
    #[error("invalid detection configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// A state snapshot could not be written or restored.
    #[error(transparent)]
    State(#[from] StateError),
    /// A rule panicked in `on_batch` on detection worker `worker`: the batch's findings are
    /// incomplete and the engine's state may be half-updated, so the engine must not be used
    /// further (start again from the last checkpoint).
    #[error("detection rule {rule} panicked (worker {worker}): {message}")]
    RulePanicked {
        /// The rule's id.
        rule: &'static str,
        /// The worker thread (0 when `engine.workers` is 1).
        worker: usize,
        /// The panic's message (when it was a string).
        message: String,
    },
    /// A detection worker thread panicked outside any rule's code (same consequences as
    /// [`DetectError::RulePanicked`]).
    #[error("detection worker {worker} panicked: {message}")]
    WorkerPanicked {
        /// The worker thread.
        worker: usize,
        /// The panic's message (when it was a string).
        message: String,
    },
}
