//! Seeded, structure-aware input generation.
//!
//! Input `i` of seed `s` comes from a ChaCha8 stream `(s, i)` of its own, so any input is
//! regenerated alone (`--seed s --start i --iterations 1`) whatever ran before it or on which
//! thread. An input is built in four stages, each drawn from that stream:
//! 1. **events**: one to a dozen seed events from `corpus/`, each with zero or more tree
//!    mutations (impossible and extreme `eventTime`s, wrong types, huge strings and numbers,
//!    deep nesting, hostile escapes, removed, duplicated and escaped keys, odd identities and
//!    request parameters);
//! 2. **framing**: NDJSON with mixed line ends, `{"Records":[...]}`, a JSON array, `jq .`
//!    pretty printing, a broken or empty first document followed by NDJSON, BOMs;
//! 3. **byte mutations**: bit flips, inserted tokens, deleted or duplicated ranges, truncation,
//!    splices with another input, duplicated, removed and swapped lines, `[[[[…`, long digit
//!    runs, NUL bytes, invalid UTF-8, long lines around `max_event_bytes`;
//! 4. **compression**: gzip whole or in several members, truncated, with trailing garbage,
//!    corrupted, nested; rarely a decompression bomb (a gigabyte of one byte with no newline,
//!    of newlines, or of `{},` inside a delivery file).

use rand::seq::IndexedRandom as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trailhound_parse::ParseConfig;

use crate::json::J;

mod bytes;
mod compress;
mod frame;
mod tree;

use bytes::mutate_bytes;
pub use compress::gzip;
use compress::{bombs, compress};
use frame::frame;
use tree::mutate_tree;

/// The seed events (`corpus/*.json`), embedded so the binary runs from anywhere.
pub const CORPUS: &[(&str, &str)] = &[
    (
        "panther-aws-035-root-console-login-no-time.json",
        include_str!("../corpus/panther-aws-035-root-console-login-no-time.json"),
    ),
    ("panther-aws-093-space-separated-time.json", include_str!("../corpus/panther-aws-093-space-separated-time.json")),
    ("panther-aws-125-nanosecond-time.json", include_str!("../corpus/panther-aws-125-nanosecond-time.json")),
    ("panther-aws-391-no-identity-no-time.json", include_str!("../corpus/panther-aws-391-no-identity-no-time.json")),
    (
        "panther-aws-453-unknown-identity-odd-time.json",
        include_str!("../corpus/panther-aws-453-unknown-identity-odd-time.json"),
    ),
    ("stratus-001-assume-role.json", include_str!("../corpus/stratus-001-assume-role.json")),
    ("stratus-035-create-access-key.json", include_str!("../corpus/stratus-035-create-access-key.json")),
    ("stratus-065-stop-logging.json", include_str!("../corpus/stratus-065-stop-logging.json")),
    ("stratus-089-run-instances.json", include_str!("../corpus/stratus-089-run-instances.json")),
    ("stratus-163-create-user.json", include_str!("../corpus/stratus-163-create-user.json")),
    ("stratus-168-get-caller-identity.json", include_str!("../corpus/stratus-168-get-caller-identity.json")),
    ("stratus-227-assumed-role-identity.json", include_str!("../corpus/stratus-227-assumed-role-identity.json")),
    ("stratus-310-federated-user.json", include_str!("../corpus/stratus-310-federated-user.json")),
];

/// Limits of the parsers an input runs through: small, so the limits themselves are hit.
pub const MAX_EVENT_BYTES: usize = 64 << 10;
/// Largest document (delivery file or array) the fuzzed parsers accept.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// What the generator makes besides ordinary inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    /// Decompressed size of a bomb, MiB (0: no bombs).
    pub bomb_mib: usize,
    /// One input in this many is a bomb (0: never).
    pub bomb_one_in: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self { bomb_mib: 1024, bomb_one_in: 200_000 }
    }
}

/// One generated input and how to run it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The bytes, as a file or a message would hold them.
    pub bytes: Vec<u8>,
    /// Parser limits for this input.
    pub config: ParseConfig,
    /// Receive time handed to `parse_document` (Kafka timestamp).
    pub received_time: Option<i64>,
    /// Seed of the chunked reader's read sizes.
    pub chunk_seed: u64,
    /// Largest read the chunked reader returns.
    pub max_chunk: usize,
    /// Filler byte of the padding after the document for `parse_in_place` (plus noise).
    pub padding_seed: u64,
    /// True when the bytes are gzip (by construction; mutations may have broken it).
    pub gzip: bool,
    /// The steps that made it, for crash reports.
    pub recipe: Vec<&'static str>,
}

/// Makes inputs from the seed corpus.
pub struct Generator {
    seeds: Vec<J>,
    bombs: Vec<(&'static str, Vec<u8>)>,
    options: GenOptions,
}

impl Generator {
    /// Parses the embedded corpus and, when bombs are on, compresses them (once).
    pub fn new(options: GenOptions) -> Self {
        let seeds = CORPUS
            .iter()
            .filter_map(|(_, text)| serde_json::from_str::<serde_json::Value>(text).ok())
            .map(|v| J::from_value(&v))
            .collect();
        let bombs = if options.bomb_mib > 0 && options.bomb_one_in > 0 { bombs(options.bomb_mib) } else { Vec::new() };
        Self { seeds, bombs, options }
    }

    /// Number of seed events.
    pub fn seeds(&self) -> usize {
        self.seeds.len()
    }

    /// Input `index` of `seed`: the same bytes every time.
    pub fn case(&self, seed: u64, index: u64) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        let mut recipe = Vec::new();
        let config = block_config(seed, index / crate::run::BLOCK);
        let received_time = match rng.random_range(0..8) {
            0 => Some(i64::MIN),
            1 => Some(i64::MAX),
            2 => Some(rng.random()),
            3 => Some(rng.random_range(0..4_102_444_800_000)),
            _ => None,
        };
        let chunk_seed = rng.random();
        let max_chunk = *[1usize, 2, 7, 64, 4096, 1 << 20].choose(&mut rng).unwrap_or(&4096);
        let padding_seed = rng.random();

        let bomb =
            self.options.bomb_one_in > 0 && !self.bombs.is_empty() && rng.random_ratio(1, self.options.bomb_one_in);
        let (bytes, gzip) = if bomb {
            let (name, bytes) = &self.bombs[rng.random_range(0..self.bombs.len())];
            recipe.push(*name);
            let mut bytes = bytes.clone();
            if rng.random_bool(0.3) {
                let cut = rng.random_range(0..=bytes.len());
                bytes.truncate(cut);
                recipe.push("truncate-bomb");
            }
            (bytes, true)
        } else {
            // One input in 16 may be large; the others are drawn again (from the same stream)
            // until small, so most inputs stay a few KiB and a long run stays quick.
            let big = rng.random_ratio(1, 16);
            let mut bytes = self.plain(&mut rng, &mut recipe, true);
            for _ in 0..8 {
                if big || bytes.len() <= 16 << 10 {
                    break;
                }
                recipe.clear();
                bytes = self.plain(&mut rng, &mut recipe, true);
            }
            let mut gzip = false;
            if rng.random_ratio(3, 20) {
                bytes = compress(&mut rng, &mut recipe, &bytes);
                gzip = true;
            }
            (bytes, gzip)
        };
        // Byte-at-a-time reads of a large input cost much and find nothing more.
        let max_chunk = if bytes.len() > 16 << 10 { max_chunk.max(4096) } else { max_chunk };
        Case { bytes, config, received_time, chunk_seed, max_chunk, padding_seed, gzip, recipe }
    }

    /// Stages 1–3: events, framing, byte mutations. `splice` allows one nested input.
    fn plain(&self, rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, splice: bool) -> Vec<u8> {
        let n = match rng.random_range(0..10) {
            0..=3 => 1,
            4..=7 => rng.random_range(2..=4),
            _ => rng.random_range(5..=12),
        };
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let mut ev = self.seeds.choose(rng).cloned().unwrap_or(J::Null);
            let muts = match rng.random_range(0..20) {
                0..=9 => 0,
                10..=15 => 1,
                16..=18 => rng.random_range(2..=3),
                _ => rng.random_range(4..=8),
            };
            for _ in 0..muts {
                mutate_tree(rng, recipe, &mut ev);
            }
            events.push(ev);
        }
        let mut bytes = frame(rng, recipe, events);
        let muts = match rng.random_range(0..20) {
            0..=11 => 0,
            12..=14 => 1,
            15..=17 => rng.random_range(2..=4),
            _ => rng.random_range(5..=16),
        };
        for _ in 0..muts {
            if splice && rng.random_ratio(1, 12) {
                recipe.push("splice");
                let other = self.plain(rng, recipe, false);
                let a = rng.random_range(0..=bytes.len());
                let b = rng.random_range(0..=other.len());
                bytes.truncate(a);
                bytes.extend_from_slice(&other[b..]);
            } else {
                mutate_bytes(rng, recipe, &mut bytes);
            }
        }
        bytes
    }
}

/// Parser limits of a block of inputs (its parsers live through the block): the fuzzing
/// limits, with a depth, batch size and kept-JSON size drawn per block.
pub fn block_config(seed: u64, block: u64) -> ParseConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15);
    rng.set_stream(block);
    ParseConfig {
        max_event_bytes: MAX_EVENT_BYTES,
        max_document_bytes: MAX_DOCUMENT_BYTES,
        max_depth: *[64usize, 64, 64, 8, 2].choose(&mut rng).unwrap_or(&64),
        batch_rows: *[1usize, 2, 3, 100, 8192, 8192].choose(&mut rng).unwrap_or(&8192),
        keep_json_max_bytes: *[0usize, 16, 64 << 10, 64 << 10].choose(&mut rng).unwrap_or(&(64 << 10)),
        // The default (4 GiB) lets a bomb decompress whole; 8 MiB stops it early.
        max_decompressed_bytes: *[4u64 << 30, 8 << 20].choose(&mut rng).unwrap_or(&(4 << 30)),
        // 0 turns the ratio check off, so the other limits have to hold memory down alone.
        max_decompression_ratio: *[200u64, 200, 0].choose(&mut rng).unwrap_or(&200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_the_same_for_the_same_seed_and_index_and_differs_otherwise() {
        let g = Generator::new(GenOptions { bomb_mib: 0, bomb_one_in: 0 });
        for i in 0..200 {
            assert_eq!(g.case(7, i).bytes, g.case(7, i).bytes, "input {i}");
        }
        let same = (0..200).filter(|&i| g.case(7, i).bytes == g.case(8, i).bytes).count();
        assert!(same < 20, "{same} of 200 inputs equal across seeds");
        let distinct: std::collections::HashSet<_> = (0..200).map(|i| g.case(7, i).bytes).collect();
        assert!(distinct.len() > 150, "only {} distinct inputs of 200", distinct.len());
    }

    #[test]
    fn every_corpus_file_is_embedded_and_every_seed_is_a_valid_event() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("corpus dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = CORPUS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, embedded, "corpus/ and gen::CORPUS differ");
        let g = Generator::new(GenOptions { bomb_mib: 0, bomb_one_in: 0 });
        assert_eq!(g.seeds(), CORPUS.len(), "a corpus file is not JSON");
        for (name, text) in CORPUS {
            let mut p = trailhound_parse::Parser::new(ParseConfig::default());
            let mut out = trailhound_parse::Collect::default();
            p.parse_document(text.trim_end().as_bytes(), name, 1, None, &mut out);
            p.flush(&mut out);
            assert_eq!((out.rows(), out.dead.len()), (1, 0), "{name}: {:?}", out.dead);
        }
    }

    #[test]
    fn the_generator_reaches_every_framing_and_compression() {
        let g = Generator::new(GenOptions { bomb_mib: 0, bomb_one_in: 0 });
        let mut seen = std::collections::HashSet::new();
        for i in 0..3000 {
            seen.extend(g.case(1, i).recipe);
        }
        let mean = (0..3000).map(|i| g.case(1, i).bytes.len()).sum::<usize>() / 3000;
        // Small inputs keep ten million of them within an hour.
        assert!(mean < 12 << 10, "mean input of {mean} bytes");
        for step in [
            "ndjson",
            "records",
            "array",
            "pretty",
            "broken-first-document",
            "bom",
            "gzip",
            "gzip-truncated",
            "gzip-members",
            "gzip-corrupt",
            "event-time",
            "deep-nesting",
            "huge-string",
            "splice",
            "truncate",
            "long-line",
        ] {
            assert!(seen.contains(step), "{step} never generated");
        }
    }

    #[test]
    fn a_bomb_decompresses_to_its_stated_size() {
        let b = bombs(2);
        let (name, z) = &b[0];
        let mut n = 0u64;
        let mut dec = flate2::read::MultiGzDecoder::new(&z[..]);
        n += std::io::copy(&mut dec, &mut std::io::sink()).expect("valid gzip");
        assert_eq!((*name, n), ("bomb-long-line", 2 << 20));
        assert!(z.len() < 20_000, "bomb of {} compressed bytes", z.len());
    }
}
