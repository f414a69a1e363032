//! Stage 3: byte mutations of a framed input.

use rand::seq::IndexedRandom as _;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::tree::long_digits;
use super::MAX_EVENT_BYTES;

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

pub(super) fn mutate_bytes(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, b: &mut Vec<u8>) {
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
