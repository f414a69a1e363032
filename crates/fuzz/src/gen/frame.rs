//! Stage 2: framing the events (NDJSON, `Records`, arrays, pretty printing, broken first
//! documents, BOMs).

use rand::seq::IndexedRandom as _;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::json::{self, Layout, J};

fn pretty(rng: &mut ChaCha8Rng) -> Layout {
    Layout {
        indent: Some(["  ", "\t", "    ", ""].choose(rng).copied().unwrap_or("  ")),
        newline: ["\n", "\n", "\r\n"].choose(rng).copied().unwrap_or("\n"),
        spaced: true,
    }
}

pub(super) fn frame(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, events: Vec<J>) -> Vec<u8> {
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
