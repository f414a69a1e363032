//! A JSON tree that can hold what real JSON cannot: raw number text (`1e999`, 30 digits),
//! string contents written verbatim (bad escapes, control bytes, invalid UTF-8), duplicate
//! keys and raw bytes in place of a value. Mutations work on it; [`write`] turns it into bytes.

/// One value. Strings and keys hold their *escaped* JSON text, written between quotes as is.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// Number text, written as is (may be invalid JSON on purpose).
    Num(String),
    /// Escaped string contents as bytes (may be invalid UTF-8 on purpose).
    Str(Vec<u8>),
    /// Bytes written in place of a value.
    Raw(Vec<u8>),
    /// An array.
    Arr(Vec<J>),
    /// An object; keys are escaped text, duplicates allowed.
    Obj(Vec<(Vec<u8>, J)>),
}

impl J {
    /// A string value from plain text (escaped as JSON would).
    pub fn str(s: &str) -> J {
        J::Str(escape(s))
    }

    /// Converts a parsed value (object key order as `serde_json` keeps it).
    pub fn from_value(v: &serde_json::Value) -> J {
        use serde_json::Value as V;
        match v {
            V::Null => J::Null,
            V::Bool(b) => J::Bool(*b),
            V::Number(n) => J::Num(n.to_string()),
            V::String(s) => J::str(s),
            V::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            V::Object(o) => J::Obj(o.iter().map(|(k, v)| (escape(k), J::from_value(v))).collect()),
        }
    }

    /// The value under `key` of an object (the first of duplicates).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut J> {
        match self {
            J::Obj(fields) => fields.iter_mut().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` (replacing the first occurrence, else appending).
    pub fn set(&mut self, key: &str, value: J) {
        if let J::Obj(fields) = self {
            match fields.iter_mut().find(|(k, _)| k == key.as_bytes()) {
                Some((_, v)) => *v = value,
                None => fields.push((key.as_bytes().to_vec(), value)),
            }
        }
    }

    /// Number of nodes in the tree (this one included).
    pub fn size(&self) -> usize {
        1 + match self {
            J::Arr(a) => a.iter().map(J::size).sum(),
            J::Obj(o) => o.iter().map(|(_, v)| v.size()).sum(),
            _ => 0,
        }
    }

    /// The `n`th node in pre-order (0 = this one); `None` past the end.
    pub fn nth_mut(&mut self, n: usize) -> Option<&mut J> {
        let mut left = n;
        self.nth_inner(&mut left)
    }

    fn nth_inner(&mut self, left: &mut usize) -> Option<&mut J> {
        if *left == 0 {
            return Some(self);
        }
        *left -= 1;
        match self {
            J::Arr(a) => a.iter_mut().find_map(|v| v.nth_inner(left)),
            J::Obj(o) => o.iter_mut().find_map(|(_, v)| v.nth_inner(left)),
            _ => None,
        }
    }
}

/// JSON string escaping of `s` (without the quotes).
pub fn escape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// How a tree is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Indentation per level; `None` writes compact JSON on one line.
    pub indent: Option<&'static str>,
    /// Line break of pretty output.
    pub newline: &'static str,
    /// Space after `:` and `,` in compact output.
    pub spaced: bool,
}

impl Layout {
    /// One line, no spaces (as CloudTrail writes).
    pub const COMPACT: Layout = Layout { indent: None, newline: "\n", spaced: false };
}

/// Appends `v` laid out as `layout` says.
pub fn write(v: &J, layout: Layout, out: &mut Vec<u8>) {
    write_at(v, layout, 0, out);
}

fn line(layout: Layout, depth: usize, out: &mut Vec<u8>) {
    if let Some(ind) = layout.indent {
        out.extend_from_slice(layout.newline.as_bytes());
        for _ in 0..depth {
            out.extend_from_slice(ind.as_bytes());
        }
    }
}

fn write_at(v: &J, layout: Layout, depth: usize, out: &mut Vec<u8>) {
    let sep: &[u8] = if layout.spaced && layout.indent.is_none() { b", " } else { b"," };
    match v {
        J::Null => out.extend_from_slice(b"null"),
        J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        J::Num(n) => out.extend_from_slice(n.as_bytes()),
        J::Str(s) => {
            out.push(b'"');
            out.extend_from_slice(s);
            out.push(b'"');
        }
        J::Raw(r) => out.extend_from_slice(r),
        J::Arr(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep);
                }
                line(layout, depth + 1, out);
                write_at(x, layout, depth + 1, out);
            }
            if !a.is_empty() {
                line(layout, depth, out);
            }
            out.push(b']');
        }
        J::Obj(o) => {
            out.push(b'{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep);
                }
                line(layout, depth + 1, out);
                out.push(b'"');
                out.extend_from_slice(k);
                out.extend_from_slice(if layout.spaced || layout.indent.is_some() { b"\": " } else { b"\":" });
                write_at(x, layout, depth + 1, out);
            }
            if !o.is_empty() {
                line(layout, depth, out);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_from_real_json_writes_back_the_same_value_compact_and_pretty() {
        let text = r#"{"a":[1,2.5,{"b":null}],"c":"x\"\n\u0001é","d":true}"#;
        let value: serde_json::Value = serde_json::from_str(text).expect("json");
        let tree = J::from_value(&value);
        for layout in [Layout::COMPACT, Layout { indent: Some("  "), newline: "\r\n", spaced: false }] {
            let mut out = Vec::new();
            write(&tree, layout, &mut out);
            let back: serde_json::Value = serde_json::from_slice(&out).expect("written json");
            assert_eq!(back, value, "{}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn nodes_are_numbered_in_pre_order() {
        let mut tree = J::Arr(vec![J::Null, J::Arr(vec![J::Bool(true)]), J::Num("7".into())]);
        assert_eq!(tree.size(), 5);
        assert_eq!(tree.nth_mut(3), Some(&mut J::Bool(true)));
        assert_eq!(tree.nth_mut(4), Some(&mut J::Num("7".into())));
        assert_eq!(tree.nth_mut(5), None);
    }
}
