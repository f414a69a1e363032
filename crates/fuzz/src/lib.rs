//! Fuzzing of the parser and the framing on the stable toolchain.
//!
//! cargo-fuzz needs nightly, and `bolero` on stable runs only as a random-input test inside
//! `cargo test`; neither gives a ten-million-input run with a memory bound and reproducible
//! inputs. So this crate is its own small harness:
//! - [`gen`] makes inputs from the seed events in `corpus/` with structure-aware mutations
//!   (tree, framing, bytes, gzip), input `i` of seed `s` always the same;
//! - [`check`] runs each through `read_stream` (whole and in random pieces), `parse_document`
//!   and `parse_in_place` and checks the invariants a user relies on;
//! - [`run`] spreads inputs over threads under `catch_unwind`, writes failing inputs to a
//!   crash folder and watches the process's peak RSS and stalled inputs.
//!
//! ```
//! use trailhound_fuzz::{check::check_case, gen::{GenOptions, Generator}};
//! let gen = Generator::new(GenOptions { bomb_mib: 0, bomb_one_in: 0 });
//! let case = gen.case(42, 7); // seed 42, input 7: the same bytes on every run
//! assert_eq!(case.bytes, gen.case(42, 7).bytes);
//! let outcome = check_case(&case).expect("no invariant broken");
//! println!("{} events, dead letters {:?}", outcome.events, outcome.dead);
//! ```
//!
//! The binary `trailhound-fuzz` runs it (`scripts/fuzz.sh` for the long run); the integration
//! test runs 20,000 inputs in CI.

pub mod check;
pub mod gen;
pub mod json;
pub mod run;
