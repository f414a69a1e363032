//! The vocabulary every other trailhound crate speaks.
//!
//! This crate owns the normalized **event model** (one Arrow row per audit event, see
//! [`event`]), the **identity classes** a principal can belong to ([`IdentityClass`]), the
//! **finding** type that rules emit and sinks publish ([`Finding`], rendered as OCSF Detection
//! Finding JSON by [`Finding::to_ocsf`]), and ATT&CK tactic ids ([`attack`]).
//!
//! It has no I/O and no heavy dependencies, so every other crate can depend on it.
//!
//! ```
//! use trailhound_model::{event, IdentityClass};
//! let schema = event::schema();
//! assert_eq!(schema.field(event::col::ACTOR_KEY).name(), "actor_key");
//! assert_eq!(IdentityClass::parse("ci_cd"), Some(IdentityClass::CiCd));
//! ```

pub mod attack;
pub mod escape;
pub mod event;
pub mod finding;
mod identity;
mod origin;
pub mod time;

pub use finding::{Activity, Evidence, Finding, Severity};
pub use identity::IdentityClass;
pub use origin::Origin;

/// Stable 64-bit hash used for finding uids and sharding (xxh3, fixed seed): the same input
/// gives the same value on every machine, run and version of Rust.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.digest()
}
