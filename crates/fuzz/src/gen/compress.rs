//! Stage 4: compression (gzip whole, in members, truncated, corrupted, nested) and
//! decompression bombs.

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::seq::IndexedRandom as _;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Gzip of `data` (a `Vec` sink cannot fail; on the impossible error the data comes back plain).
pub fn gzip(data: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
    if enc.write_all(data).is_err() {
        return data.to_vec();
    }
    enc.finish().unwrap_or_else(|_| data.to_vec())
}

pub(super) fn compress(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, plain: &[u8]) -> Vec<u8> {
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
pub(super) fn bombs(mib: usize) -> Vec<(&'static str, Vec<u8>)> {
    let one = |fill: &[u8]| gzip(&fill.repeat((1 << 20) / fill.len()), Compression::best());
    let long_line = one(b"A").repeat(mib);
    // Newlines are a million records a MiB: fewer of them keep a bomb's run time near the others'.
    let newlines = one(b"\n").repeat(mib.div_ceil(16));
    let mut records = gzip(b"{\"Records\":[", Compression::fast());
    records.extend_from_slice(&one(b"{},").repeat(mib));
    vec![("bomb-long-line", long_line), ("bomb-newlines", newlines), ("bomb-records", records)]
}
