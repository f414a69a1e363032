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

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::seq::IndexedRandom as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trailhound_parse::ParseConfig;

use crate::json::{self, Layout, J};

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

// ---------------------------------------------------------------------------------------------
// Stage 1: tree mutations.

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e308",
    "-1e308",
    "1e309",
    "1e999",
    "-1e999",
    "1E400",
    "4.9e-324",
    "2.2250738585072014e-308",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "2147483648",
    "123456789012345678901234567890",
    "0.000000000000000000000000000001",
    "253402300799",
    "253402300800000",
    "-62135596800000",
    "1700000000",
    "1700000000000",
    "1700000000000000",
    "1700000000000000000",
    "1e",
    "00",
    "01",
    "-",
    "1.",
    ".5",
    "+1",
    "0x10",
    "NaN",
    "Infinity",
    "-Infinity",
];

const TIMES: &[&str] = &[
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2026-02-31T00:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-02-29T24:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-01T25:61:61Z",
    "2024-06-30T23:59:60Z",
    "2024-01-01T00:00:00.9999999999999999999999Z",
    "2024-01-01T00:00:00+99:99",
    "2024-01-01T00:00:00-23:59",
    "2024-01-01T00:00:00+0530",
    "2024-01-01T00:00:00+05",
    "-2024-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "",
    " ",
    "2024",
    "2024-01-01",
    "2022-09-30 15:11:25.000000000",
    "2024-01-01t00:00:00z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "2038-01-19T03:14:08Z",
    "2106-02-07T06:28:16Z",
    "２０２４-01-01T00:00:00Z",
    "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00ZZ",
    "2024-01-01T00:00:00Z ",
    " 2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00é",
    "2024-01-01T00:00:00+",
    "2024-01-01T00:00:00-",
    "...",
    "redacted",
];

/// Escaped-string fragments (written between quotes as is).
const HOSTILE: &[&[u8]] = &[
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\ud800\\udc00",
    b"\\ud83d\\ude00",
    b"\\udbff\\udfff",
    b"\\u001b[2J\\u001b]0;pwned\\u0007",
    b"\\n",
    b"\\r\\n",
    b"\\\\",
    b"\\\"",
    b"\\x41",
    b"\\u12",
    b"\\u",
    b"\\",
    b"\\uZZZZ",
    b"\x00",
    b"\x01",
    b"\x1b[31m",
    b"\x7f",
    b"\xff",
    b"\xfe",
    b"\xc0\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"=cmd|' /C calc'!A0",
    b"+SUM(1)",
    b"\xe2\x80\xa8",
    b"\xef\xbd\x85",
    b"\t",
    b"\n",
    b"\r",
    b"\"",
];

const KEYS: &[&str] = &[
    "eventTime",
    "eventName",
    "eventSource",
    "eventID",
    "awsRegion",
    "recipientAccountId",
    "errorCode",
    "sourceIPAddress",
    "userAgent",
    "readOnly",
    "eventType",
    "eventCategory",
    "managementEvent",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "p_event_time",
    "Records",
    "insertId",
    "sessionCredentialFromConsole",
];

const IDENTITY_KEYS: &[&str] = &[
    "type",
    "arn",
    "accessKeyId",
    "accountId",
    "principalId",
    "userName",
    "invokedBy",
    "sessionContext",
    "webIdFederationData",
    "sessionIssuer",
    "attributes",
];

const IDENTITY_TYPES: &[&str] = &[
    "IAMUser",
    "AssumedRole",
    "Root",
    "AWSService",
    "AWSAccount",
    "FederatedUser",
    "WebIdentityUser",
    "IdentityCenterUser",
    "SAMLUser",
    "Unknown",
    "",
    "iamuser",
    "Root\u{0}",
];

const REQUEST_KEYS: &[&str] = &[
    "userName",
    "roleName",
    "policyArn",
    "instanceType",
    "maxCount",
    "minCount",
    "disableApiTermination",
    "instancesSet",
    "targetCapacitySpecification",
    "spotFleetRequestConfig",
    "desiredCapacity",
    "maxSize",
    "instanceCount",
    "count",
    "totalTargetCapacity",
    "targetCapacity",
];

fn interesting_value(rng: &mut ChaCha8Rng) -> J {
    match rng.random_range(0..12) {
        0 => J::Null,
        1 => J::Bool(rng.random()),
        2..=3 => J::Num((*NUMBERS.choose(rng).unwrap_or(&"0")).to_string()),
        4 => J::Arr(Vec::new()),
        5 => J::Obj(Vec::new()),
        6 => J::Arr(vec![J::Null, J::Num("1".into()), J::str("x")]),
        7 => J::Obj(vec![(Vec::new(), J::str("")), (b"value".to_vec(), J::Bool(true))]),
        8 => J::Str(hostile_string(rng)),
        9 => J::str(TIMES.choose(rng).unwrap_or(&"")),
        10 => J::Num(long_digits(rng)),
        _ => J::str(""),
    }
}

fn hostile_string(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut s = Vec::new();
    for _ in 0..rng.random_range(1..=4) {
        s.extend_from_slice(HOSTILE.choose(rng).unwrap_or(&&b""[..]));
        if rng.random_bool(0.5) {
            s.extend_from_slice(b"abc");
        }
    }
    s
}

fn long_digits(rng: &mut ChaCha8Rng) -> String {
    let n = *[20usize, 20, 310, 310, 400, 400, 5000, 70_000].choose(rng).unwrap_or(&20);
    let mut s = String::with_capacity(n + 8);
    if rng.random_bool(0.3) {
        s.push('-');
    }
    s.push('9');
    for _ in 1..n {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    match rng.random_range(0..4) {
        0 => s.push_str(".5"),
        1 => s.push_str("e5"),
        _ => {}
    }
    s
}

/// A random (mostly impossible) calendar time, or one of the known hard ones, or a number.
fn interesting_time(rng: &mut ChaCha8Rng) -> J {
    match rng.random_range(0..6) {
        0..=1 => J::str(TIMES.choose(rng).unwrap_or(&"")),
        2..=3 => {
            let y = match rng.random_range(0..4) {
                0 => rng.random_range(0..=99_999u32),
                _ => rng.random_range(1960..=2100),
            };
            let width = if y > 9999 { 5 } else { 4 };
            let sep = *['T', ' ', 't', 'x'].choose(rng).unwrap_or(&'T');
            let mut s = format!(
                "{y:0width$}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
                rng.random_range(0..=13u32),
                rng.random_range(0..=32u32),
                rng.random_range(0..=25u32),
                rng.random_range(0..=61u32),
                rng.random_range(0..=61u32),
            );
            if rng.random_bool(0.4) {
                s.push('.');
                for _ in 0..rng.random_range(0..=12) {
                    s.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
            }
            let zones = ["Z", "Z", "z", "", "+00:00", "-23:59", "+24:00", "+99:99", "+0530", "+05", "-", " Z", "+1:0"];
            s.push_str(zones.choose(rng).unwrap_or(&"Z"));
            J::str(&s)
        }
        4 => J::Num((*NUMBERS.choose(rng).unwrap_or(&"0")).to_string()),
        _ => interesting_value(rng),
    }
}

/// Applies one structure-aware mutation to an event.
fn mutate_tree(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, ev: &mut J) {
    match rng.random_range(0..16) {
        0..=2 => {
            recipe.push("event-time");
            let key = if rng.random_ratio(1, 8) { "p_event_time" } else { "eventTime" };
            ev.set(key, interesting_time(rng));
        }
        3 => {
            recipe.push("remove-key");
            if let Some(J::Obj(fields)) = random_node(rng, ev, |j| matches!(j, J::Obj(f) if !f.is_empty())) {
                let i = rng.random_range(0..fields.len());
                fields.remove(i);
            }
        }
        4 => {
            recipe.push("replace-value");
            if let Some(node) = random_node(rng, ev, |_| true) {
                *node = interesting_value(rng);
            }
        }
        5 => {
            recipe.push("duplicate-key");
            if let Some(J::Obj(fields)) = random_node(rng, ev, |j| matches!(j, J::Obj(f) if !f.is_empty())) {
                let i = rng.random_range(0..fields.len());
                let key = fields[i].0.clone();
                let value = if rng.random_bool(0.5) { fields[i].1.clone() } else { interesting_value(rng) };
                fields.push((key, value));
            }
        }
        6 => {
            recipe.push("huge-string");
            let n = if rng.random_ratio(1, 4) {
                *[MAX_EVENT_BYTES - 600, MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1, 200_000].choose(rng).unwrap_or(&1000)
            } else {
                *[300usize, 1000, 4000].choose(rng).unwrap_or(&1000)
            };
            let unit: &[u8] = [&b"A"[..], "é".as_bytes(), b"\\u00e9", b"\\\\"].choose(rng).copied().unwrap_or(b"A");
            let s = unit.repeat(n / unit.len());
            let key = KEYS.choose(rng).unwrap_or(&"eventName");
            ev.set(key, J::Str(s));
        }
        7 => {
            recipe.push("deep-nesting");
            let n = *[10usize, 63, 64, 65, 200, 5000, 10, 63, 64, 65, 200].choose(rng).unwrap_or(&10);
            let arrays = rng.random_bool(0.5);
            if let Some(node) = random_node(rng, ev, |_| true) {
                let inner = std::mem::replace(node, J::Null);
                let mut open = Vec::new();
                let mut close = Vec::new();
                for _ in 0..n {
                    open.extend_from_slice(if arrays { b"[" } else { b"{\"a\":" });
                    close.push(if arrays { b']' } else { b'}' });
                }
                let mut raw = open;
                json::write(&inner, Layout::COMPACT, &mut raw);
                raw.extend_from_slice(&close);
                *node = J::Raw(raw);
            }
        }
        8 => {
            recipe.push("hostile-string");
            if let Some(J::Str(s)) = random_node(rng, ev, |j| matches!(j, J::Str(_))) {
                let at = rng.random_range(0..=s.len());
                let frag = hostile_string(rng);
                s.splice(at..at, frag);
            }
        }
        9 => {
            recipe.push("identity");
            let value = match rng.random_range(0..6) {
                0 => J::str(IDENTITY_TYPES.choose(rng).unwrap_or(&"")),
                1 => J::str(
                    [
                        "arn:aws:iam::",
                        "arn:",
                        ":::::",
                        "arn:aws:sts::1:assumed-role/",
                        "arn:aws:iam::123456789012:user/é\u{202e}",
                    ]
                    .choose(rng)
                    .unwrap_or(&""),
                ),
                2 => J::str(["", "AKIA", "ASIA0000000000000000", "AKIAIOSFODNN7EXAMPLE"].choose(rng).unwrap_or(&"")),
                _ => interesting_value(rng),
            };
            match rng.random_range(0..8) {
                0 => ev.set("userIdentity", interesting_value(rng)),
                _ => {
                    if !matches!(ev.get_mut("userIdentity"), Some(J::Obj(_))) {
                        ev.set("userIdentity", J::Obj(Vec::new()));
                    }
                    if let Some(ui) = ev.get_mut("userIdentity") {
                        ui.set(IDENTITY_KEYS.choose(rng).unwrap_or(&"type"), value);
                    }
                }
            }
        }
        10 => {
            recipe.push("request-parameters");
            if !matches!(ev.get_mut("requestParameters"), Some(J::Obj(_))) {
                ev.set("requestParameters", J::Obj(Vec::new()));
            }
            let key = REQUEST_KEYS.choose(rng).unwrap_or(&"userName");
            let value = match rng.random_range(0..3) {
                0 => J::Obj(vec![(
                    b"items".to_vec(),
                    J::Arr(vec![J::Obj(vec![(b"maxCount".to_vec(), interesting_value(rng))])]),
                )]),
                _ => interesting_value(rng),
            };
            if let Some(req) = ev.get_mut("requestParameters") {
                req.set(key, value);
            }
            if rng.random_bool(0.5) {
                let name = ["RunInstances", "CreateFleet", "RequestSpotFleet", "CreateUser", "AttachRolePolicy"]
                    .choose(rng)
                    .unwrap_or(&"RunInstances");
                ev.set("eventName", J::str(name));
            }
        }
        11 => {
            recipe.push("escaped-key");
            if let J::Obj(fields) = ev {
                if !fields.is_empty() {
                    let i = rng.random_range(0..fields.len());
                    let key = &mut fields[i].0;
                    match rng.random_range(0..4) {
                        0 if !key.is_empty() => {
                            // `eventTime` -> `\u0065ventTime`: the same key once unescaped.
                            let first = key.remove(0);
                            let esc = format!("\\u{:04x}", first);
                            key.splice(0..0, esc.bytes());
                        }
                        1 => key.make_ascii_uppercase(),
                        2 => key.clear(),
                        _ => key.extend_from_slice(HOSTILE.choose(rng).unwrap_or(&&b""[..])),
                    }
                }
            }
        }
        12 => {
            recipe.push("not-an-object");
            *ev = match rng.random_range(0..3) {
                0 => J::Arr(vec![ev.clone()]),
                _ => interesting_value(rng),
            };
        }
        13 => {
            recipe.push("number");
            if let Some(node) = random_node(rng, ev, |j| matches!(j, J::Num(_) | J::Bool(_) | J::Null)) {
                *node = J::Num(if rng.random_bool(0.5) {
                    long_digits(rng)
                } else {
                    (*NUMBERS.choose(rng).unwrap_or(&"0")).to_string()
                });
            }
        }
        14 => {
            recipe.push("field-value");
            let key = KEYS.choose(rng).unwrap_or(&"eventName");
            let value = if rng.random_bool(0.5) { J::Str(hostile_string(rng)) } else { interesting_value(rng) };
            ev.set(key, value);
        }
        _ => {
            recipe.push("remove-field");
            if let J::Obj(fields) = ev {
                let key = KEYS.choose(rng).unwrap_or(&"eventTime");
                fields.retain(|(k, _)| k != key.as_bytes());
            }
        }
    }
}

/// A random node satisfying `want` (tries a few picks, then gives up).
fn random_node<'a>(rng: &mut ChaCha8Rng, ev: &'a mut J, want: impl Fn(&J) -> bool) -> Option<&'a mut J> {
    let size = ev.size();
    let mut found = None;
    for _ in 0..8 {
        let n = rng.random_range(0..size);
        if ev.nth_mut(n).is_some_and(|j| want(j)) {
            found = Some(n);
            break;
        }
    }
    ev.nth_mut(found?)
}

// ---------------------------------------------------------------------------------------------
// Stage 2: framing.

fn pretty(rng: &mut ChaCha8Rng) -> Layout {
    Layout {
        indent: Some(["  ", "\t", "    ", ""].choose(rng).copied().unwrap_or("  ")),
        newline: ["\n", "\n", "\r\n"].choose(rng).copied().unwrap_or("\n"),
        spaced: true,
    }
}

fn frame(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, events: Vec<J>) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.random_ratio(1, 20) {
        recipe.push("bom");
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    if rng.random_ratio(1, 20) {
        out.extend_from_slice([&b"  "[..], b"\n", b"\r\n\t ", b"\n\n\n"].choose(rng).copied().unwrap_or(b" "));
    }
    let compact = if rng.random_ratio(1, 10) { Layout { spaced: true, ..Layout::COMPACT } } else { Layout::COMPACT };
    match rng.random_range(0..20) {
        0..=7 => {
            recipe.push("ndjson");
            let bom_lines = rng.random_ratio(1, 30);
            for (i, ev) in events.iter().enumerate() {
                if i > 0 {
                    let seps: [&[u8]; 8] = [b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\n\n", b"\n \t\n", b""];
                    out.extend_from_slice(seps.choose(rng).copied().unwrap_or(b"\n"));
                    if bom_lines {
                        out.extend_from_slice(b"\xEF\xBB\xBF");
                    }
                }
                json::write(ev, compact, &mut out);
            }
            if rng.random_bool(0.6) {
                out.extend_from_slice(if rng.random_bool(0.8) { b"\n" } else { b"\r\n" });
            }
        }
        8..=12 => {
            recipe.push("records");
            let mut fields = vec![(b"Records".to_vec(), J::Arr(events))];
            if rng.random_ratio(1, 5) {
                fields.insert(0, (b"digestS3Object".to_vec(), J::str("x")));
            }
            if rng.random_ratio(1, 10) {
                fields.push((b"Records".to_vec(), J::Arr(Vec::new())));
            }
            let layout = if rng.random_ratio(1, 3) { pretty(rng) } else { compact };
            json::write(&J::Obj(fields), layout, &mut out);
            if rng.random_bool(0.5) {
                out.push(b'\n');
            }
        }
        13..=14 => {
            recipe.push("array");
            let layout = if rng.random_ratio(1, 3) { pretty(rng) } else { compact };
            json::write(&J::Arr(events), layout, &mut out);
        }
        15..=17 => {
            recipe.push("pretty");
            let layout = pretty(rng);
            for ev in &events {
                json::write(ev, layout, &mut out);
                out.extend_from_slice(layout.newline.as_bytes());
            }
        }
        _ => {
            recipe.push("broken-first-document");
            let heads: [&[u8]; 7] =
                [b"[1,2", b"{", b"[", b"{\"Records\":[]}", b"{\"Records\":[", b"[]", b"{\"Records\":null}"];
            out.extend_from_slice(heads.choose(rng).copied().unwrap_or(b"{"));
            out.push(b'\n');
            for ev in &events {
                json::write(ev, compact, &mut out);
                out.push(b'\n');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Stage 3: byte mutations.

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\n",
    b"\r",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\x1f\x8b",
    b"{\"Records\":[",
    b"]}",
    b"null",
    b"true",
    b"1e999",
    b"\"eventTime\":",
    b"\\u0000",
    b"\xc3",
    b"\xe2\x82",
    b" ",
    b"\t",
    b"\"Records\"",
    b"{}",
    b"[]",
    b"\"\"",
];

fn mutate_bytes(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, b: &mut Vec<u8>) {
    let len = b.len();
    let pos = rng.random_range(0..=len);
    match rng.random_range(0..17) {
        0 if len > 0 => {
            recipe.push("flip-bit");
            let i = rng.random_range(0..len);
            b[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            recipe.push("set-byte");
            let i = rng.random_range(0..len);
            b[i] = rng.random();
        }
        2..=3 => {
            recipe.push("insert-token");
            let t = TOKENS.choose(rng).copied().unwrap_or(b"");
            b.splice(pos..pos, t.iter().copied());
        }
        4 if len > 0 => {
            recipe.push("delete-range");
            let end = (pos + rng.random_range(1..=64)).min(len);
            b.drain(pos.min(end)..end);
        }
        5 if len > 0 => {
            recipe.push("duplicate-range");
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=256)).min(len);
            let piece = b[start..end].to_vec();
            b.splice(pos..pos, piece);
        }
        6..=7 => {
            recipe.push("truncate");
            b.truncate(pos);
        }
        8 => {
            recipe.push("duplicate-line");
            let lines = split_lines(b);
            if let Some(l) = lines.choose(rng) {
                let piece = b[l.clone()].to_vec();
                let at = *[l.start, l.end].choose(rng).unwrap_or(&l.start);
                b.splice(at..at, piece);
            }
        }
        9 => {
            recipe.push("remove-line");
            let lines = split_lines(b);
            if let Some(l) = lines.choose(rng) {
                b.drain(l.clone());
            }
        }
        10 => {
            recipe.push("swap-lines");
            let mut lines = split_lines(b);
            lines.shuffle_in_place(rng);
            let mut out = Vec::with_capacity(b.len());
            for l in &lines {
                out.extend_from_slice(&b[l.clone()]);
            }
            *b = out;
        }
        11 => {
            recipe.push("nesting");
            let n = *[64usize, 65, 1000, 64, 65, 1000, 100_000].choose(rng).unwrap_or(&64);
            let c = *[b'[', b'{'].choose(rng).unwrap_or(&b'[');
            b.splice(pos..pos, std::iter::repeat_n(c, n));
        }
        12 => {
            recipe.push("digits");
            let digits = long_digits(rng);
            b.splice(pos..pos, digits.into_bytes());
        }
        13 => {
            recipe.push("long-line");
            let n = if rng.random_ratio(1, 3) {
                *[MAX_EVENT_BYTES - 1, MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES * 3]
                    .choose(rng)
                    .unwrap_or(&MAX_EVENT_BYTES)
            } else {
                *[100usize, 4096, 4097].choose(rng).unwrap_or(&100)
            };
            let c = *[b'A', b' ', b'\0', b'"'].choose(rng).unwrap_or(&b'A');
            b.splice(pos..pos, std::iter::repeat_n(c, n));
        }
        14 => {
            recipe.push("line-ends");
            let (from, to): (&[u8], &[u8]) = *[(&b"\n"[..], &b"\r\n"[..]), (b"\r\n", b"\n"), (b"\n", b"\r")]
                .choose(rng)
                .unwrap_or(&(b"\n", b"\r\n"));
            *b = replace_some(rng, b, from, to);
        }
        15 => {
            recipe.push("invalid-utf8");
            let bad: [&[u8]; 6] = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"];
            b.splice(pos..pos, bad.choose(rng).copied().unwrap_or(b"\xff").iter().copied());
        }
        _ => {
            recipe.push("nul");
            b.splice(pos..pos, std::iter::repeat_n(0u8, rng.random_range(1..=8)));
        }
    }
}

/// Line ranges, each with its line end.
fn split_lines(b: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < b.len() {
        out.push(start..b.len());
    }
    out
}

fn replace_some(rng: &mut ChaCha8Rng, b: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 16);
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(from) && rng.random_bool(0.5) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

trait ShuffleInPlace {
    fn shuffle_in_place(&mut self, rng: &mut ChaCha8Rng);
}

impl<T> ShuffleInPlace for Vec<T> {
    fn shuffle_in_place(&mut self, rng: &mut ChaCha8Rng) {
        rand::seq::SliceRandom::shuffle(self.as_mut_slice(), rng);
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 4: compression.

/// Gzip of `data` (a `Vec` sink cannot fail; on the impossible error the data comes back plain).
pub fn gzip(data: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
    if enc.write_all(data).is_err() {
        return data.to_vec();
    }
    enc.finish().unwrap_or_else(|_| data.to_vec())
}

fn compress(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, plain: &[u8]) -> Vec<u8> {
    let level = if rng.random_ratio(1, 5) { Compression::none() } else { Compression::fast() };
    match rng.random_range(0..10) {
        0..=3 => {
            recipe.push("gzip");
            gzip(plain, level)
        }
        4..=5 => {
            recipe.push("gzip-truncated");
            let mut z = gzip(plain, level);
            let cut = rng.random_range(0..=z.len());
            z.truncate(cut);
            z
        }
        6 => {
            recipe.push("gzip-members");
            let mut out = Vec::new();
            let mut rest = plain;
            while !rest.is_empty() {
                let n = rng.random_range(1..=rest.len());
                out.extend_from_slice(&gzip(&rest[..n], level));
                rest = &rest[n..];
            }
            if rng.random_bool(0.3) {
                out.extend_from_slice(&gzip(b"", level));
            }
            out
        }
        7 => {
            recipe.push("gzip-trailing-garbage");
            let mut z = gzip(plain, level);
            let tails: [&[u8]; 4] = [b"\n", b"garbage", b"\x1f\x8b", b"\x1f\x8b\x08\x00\x00"];
            z.extend_from_slice(tails.choose(rng).copied().unwrap_or(b"\n"));
            z
        }
        8 => {
            recipe.push("gzip-corrupt");
            let mut z = gzip(plain, level);
            for _ in 0..rng.random_range(1..=4) {
                if !z.is_empty() {
                    let i = rng.random_range(0..z.len());
                    z[i] = rng.random();
                }
            }
            z
        }
        _ => {
            recipe.push("gzip-nested");
            gzip(&gzip(plain, level), level)
        }
    }
}

/// Bombs of `mib` MiB decompressed, as concatenated gzip members of one compressed MiB each.
fn bombs(mib: usize) -> Vec<(&'static str, Vec<u8>)> {
    let one = |fill: &[u8]| gzip(&fill.repeat((1 << 20) / fill.len()), Compression::best());
    let long_line = one(b"A").repeat(mib);
    // Newlines are a million records a MiB: fewer of them keep a bomb's run time near the others'.
    let newlines = one(b"\n").repeat(mib.div_ceil(16));
    let mut records = gzip(b"{\"Records\":[", Compression::fast());
    records.extend_from_slice(&one(b"{},").repeat(mib));
    vec![("bomb-long-line", long_line), ("bomb-newlines", newlines), ("bomb-records", records)]
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
