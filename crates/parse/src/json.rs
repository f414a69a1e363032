//! Navigation over a simd-json tape without building maps, and re-serialization of a subtree.

use simd_json::{Node, StaticNode};

/// Number of tape nodes the value starting at `n` spans (1 for scalars).
#[inline]
pub fn span(n: &Node<'_>) -> usize {
    match n {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Iterates the `(key, value)` pairs of the object at `v[0]` (nothing if it is not an object).
pub fn entries<'t, 'i>(v: &'t [Node<'i>]) -> impl Iterator<Item = (&'i str, &'t [Node<'i>])> + 't {
    let (mut left, mut idx) = match v.first() {
        Some(Node::Object { len, .. }) => (*len, 1usize),
        _ => (0, 1),
    };
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        left -= 1;
        let key = match v.get(idx)? {
            Node::String(s) => *s,
            _ => return None,
        };
        let val_start = idx + 1;
        let n = span(v.get(val_start)?);
        idx = val_start + n;
        Some((key, v.get(val_start..val_start + n)?))
    })
}

/// Iterates the elements of the array at `v[0]` (nothing if it is not an array).
pub fn elements<'t, 'i>(v: &'t [Node<'i>]) -> impl Iterator<Item = &'t [Node<'i>]> + 't {
    let (mut left, mut idx) = match v.first() {
        Some(Node::Array { len, .. }) => (*len, 1usize),
        _ => (0, 1),
    };
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        left -= 1;
        let n = span(v.get(idx)?);
        let out = v.get(idx..idx + n)?;
        idx += n;
        Some(out)
    })
}

/// The value of `key` in the object at `v[0]`.
pub fn get<'t, 'i>(v: &'t [Node<'i>], key: &str) -> Option<&'t [Node<'i>]> {
    entries(v).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Follows a path of object keys.
#[cfg(test)]
pub fn path<'t, 'i>(v: &'t [Node<'i>], keys: &[&str]) -> Option<&'t [Node<'i>]> {
    keys.iter().try_fold(v, |cur, k| get(cur, k))
}

/// The string at `v[0]`.
#[inline]
pub fn as_str<'i>(v: &[Node<'i>]) -> Option<&'i str> {
    match v.first() {
        Some(Node::String(s)) => Some(s),
        _ => None,
    }
}

/// The number at `v[0]` as f64.
pub fn as_f64(v: &[Node<'_>]) -> Option<f64> {
    match v.first() {
        Some(Node::Static(StaticNode::I64(i))) => Some(*i as f64),
        Some(Node::Static(StaticNode::U64(u))) => Some(*u as f64),
        Some(Node::Static(StaticNode::F64(f))) => Some(*f),
        Some(Node::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean at `v[0]`, accepting `"true"`/`"false"` strings as real exports write them.
pub fn as_bool(v: &[Node<'_>]) -> Option<bool> {
    match v.first() {
        Some(Node::Static(StaticNode::Bool(b))) => Some(*b),
        Some(Node::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Node::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// True when `v[0]` is JSON null (or the slice is empty).
pub fn is_null(v: &[Node<'_>]) -> bool {
    matches!(v.first(), None | Some(Node::Static(StaticNode::Null)))
}

/// JSON type name of `v[0]`, for error messages.
pub fn type_name(v: &[Node<'_>]) -> &'static str {
    match v.first() {
        Some(Node::String(_)) => "string",
        Some(Node::Object { .. }) => "object",
        Some(Node::Array { .. }) => "array",
        Some(Node::Static(StaticNode::Bool(_))) => "boolean",
        Some(Node::Static(StaticNode::Null)) | None => "null",
        Some(Node::Static(_)) => "number",
    }
}

/// Writes the value at `v` as compact JSON.
pub fn write_json(v: &[Node<'_>], out: &mut String) {
    write_at(v, 0, out);
}

fn write_at(v: &[Node<'_>], i: usize, out: &mut String) -> usize {
    use std::fmt::Write as _;
    match v.get(i) {
        None => {
            out.push_str("null");
            1
        }
        Some(Node::String(s)) => {
            write_str(s, out);
            1
        }
        Some(Node::Static(st)) => {
            match st {
                StaticNode::Null => out.push_str("null"),
                StaticNode::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                StaticNode::I64(n) => {
                    let _ = write!(out, "{n}");
                }
                StaticNode::U64(n) => {
                    let _ = write!(out, "{n}");
                }
                StaticNode::F64(f) if f.is_finite() => {
                    let _ = write!(out, "{f}");
                }
                StaticNode::F64(_) => out.push_str("null"),
                #[allow(unreachable_patterns)]
                _ => out.push_str("null"),
            }
            1
        }
        Some(Node::Object { len, count }) => {
            out.push('{');
            let mut j = i + 1;
            for k in 0..*len {
                if k > 0 {
                    out.push(',');
                }
                if let Some(Node::String(key)) = v.get(j) {
                    write_str(key, out);
                }
                out.push(':');
                j += 1;
                j += write_at(v, j, out);
            }
            out.push('}');
            count + 1
        }
        Some(Node::Array { len, count }) => {
            out.push('[');
            let mut j = i + 1;
            for k in 0..*len {
                if k > 0 {
                    out.push(',');
                }
                j += write_at(v, j, out);
            }
            out.push(']');
            count + 1
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    // Most strings need no escaping: a branch-free scan (vectorised by the compiler) finds
    // that, and the string is copied whole.
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    // Copy the runs between characters that need escaping whole; those are all ASCII, so the
    // run boundaries are character boundaries.
    let mut run = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            c if c < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c);
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// True when `b` holds a byte JSON strings must escape (`"`, `\\`, control characters).
fn needs_escape(b: &[u8]) -> bool {
    let flag = |c: u8| c < 0x20 || c == b'"' || c == b'\\';
    let mut chunks = b.chunks_exact(32);
    for chunk in &mut chunks {
        // No early exit inside a chunk, so the loop compiles to vector compares.
        if chunk.iter().fold(false, |any, &c| any | flag(c)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| flag(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_wherever_the_character_falls() {
        for len in [0usize, 1, 31, 32, 33, 64, 70] {
            let plain = "a".repeat(len);
            let mut out = String::new();
            write_str(&plain, &mut out);
            assert_eq!(out, format!("\"{plain}\""));
            for at in [0, len / 2, len.saturating_sub(1)] {
                if len == 0 {
                    break;
                }
                for c in ['"', '\\', '\n', '\u{1}'] {
                    let mut s: Vec<char> = plain.chars().collect();
                    s[at] = c;
                    let s: String = s.into_iter().collect();
                    let mut out = String::new();
                    write_str(&s, &mut out);
                    let back: String = serde_json::from_str(&out).expect("valid JSON string");
                    assert_eq!(back, s, "len {len} at {at}");
                    assert!(needs_escape(s.as_bytes()));
                }
            }
        }
    }

    #[test]
    fn navigates_and_re_serializes_a_tape() {
        let mut doc = br#"{"a":{"b":[1,2,{"c":"x\"y"}]},"d":true,"e":null,"f":-1.5,"g":"true"}"#.to_vec();
        let tape = simd_json::to_tape(&mut doc).expect("valid");
        let v = tape.0.as_slice();
        let keys: Vec<&str> = entries(v).map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["a", "b", "d", "e", "f", "g"][..1].iter().chain(["d", "e", "f", "g"].iter()).copied().collect::<Vec<_>>()
        );
        let arr = path(v, &["a", "b"]).expect("a.b");
        assert_eq!(elements(arr).count(), 3);
        let c = elements(arr).nth(2).and_then(|o| get(o, "c")).and_then(as_str);
        assert_eq!(c, Some("x\"y"));
        assert_eq!(get(v, "d").and_then(as_bool), Some(true));
        assert_eq!(get(v, "g").and_then(as_bool), Some(true));
        assert!(get(v, "e").is_some_and(is_null));
        assert_eq!(get(v, "f").and_then(as_f64), Some(-1.5));
        assert_eq!(type_name(get(v, "a").expect("a")), "object");
        let mut out = String::new();
        write_json(v, &mut out);
        let back: serde_json::Value = serde_json::from_str(&out).expect("valid json");
        assert_eq!(back["a"]["b"][2]["c"], "x\"y");
        assert_eq!(back["f"], -1.5);
    }
}
