//! Escaping untrusted strings for a terminal or a log line.
//!
//! User names, ARNs, user agents, file names and record contents come from audit logs, that is
//! from whoever wrote them. Printed raw they can retitle or clear a terminal (`ESC ] 0 ; … BEL`,
//! `ESC [ 2 J`), fake a table row or a log line (`\n`), or reorder what a reader sees (Unicode
//! bidi overrides). [`Escaped`] renders a value with every such character made visible:
//!
//! - `\n`, `\r`, `\t` as themselves; other C0 controls and DEL as `\xNN` (`\x1b`, `\x07`, `\x7f`);
//! - C1 controls (U+0080–U+009F, e.g. the one-byte CSI U+009B) and the invisible or
//!   direction-changing format characters listed in [`needs_escape`] as `\u{NN}` (`\u{9b}`,
//!   `\u{202e}`, `\u{200b}`).
//!
//! Everything else (printable ASCII, backslashes, other Unicode) is written unchanged, so the
//! escaped text is for reading, not for parsing back: use JSON where exact values matter.
//!
//! ```
//! use trailhound_model::escape::{escape, Escaped};
//! assert_eq!(escape("bob\x1b]0;pwned\x07"), r"bob\x1b]0;pwned\x07");
//! assert_eq!(Escaped("a\nb").to_string(), r"a\nb");
//! assert_eq!(escape("plain"), "plain"); // borrowed, no allocation
//! // Anything Display: file names, errors.
//! let name = std::path::Path::new("logs/\u{202e}gnp.json");
//! assert_eq!(Escaped(name.display()).to_string(), r"logs/\u{202e}gnp.json");
//! ```

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// True for a character that [`Escaped`] escapes: C0 controls (newline, tab and carriage
/// return included), DEL, C1 controls, and invisible or direction-changing format characters:
/// soft hyphen U+00AD, combining grapheme joiner U+034F, Arabic letter mark U+061C, Mongolian
/// vowel separator U+180E, zero-width space/joiners and LRM/RLM U+200B–U+200F, line and
/// paragraph separators and bidi embeddings/overrides U+2028–U+202E, word joiner, invisible
/// operators and bidi isolates U+2060–U+206F, the byte-order mark U+FEFF, interlinear
/// annotations U+FFF9–U+FFFB, and tag characters U+E0000–U+E007F.
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// Writes `s` to `out` with every character of [`needs_escape`] escaped.
pub fn write_escaped(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some((i, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
        out.write_str(&rest[..i])?;
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32)?,
            c => write!(out, "\\u{{{:x}}}", c as u32)?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `s` with every character of [`needs_escape`] escaped; borrowed when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    // Writing into a String cannot fail.
    let _ = write_escaped(&mut out, s);
    Cow::Owned(out)
}

/// Displays the wrapped value (anything [`fmt::Display`]: a `&str`, a path's `display()`, an
/// error) with every character of [`needs_escape`] escaped, without allocating. For log
/// fields: `tracing::warn!(file = %Escaped(path.display()), "...")`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_newlines_and_controls_become_visible_text() {
        assert_eq!(escape("\x1b]0;pwned\x07"), r"\x1b]0;pwned\x07");
        assert_eq!(escape("\x1b[2J"), r"\x1b[2J");
        assert_eq!(escape("a\nb\r\tc"), r"a\nb\r\tc");
        assert_eq!(escape("\0\x7f"), r"\x00\x7f");
        assert_eq!(escape("x\u{9b}31m"), r"x\u{9b}31m");
        assert_eq!(escape("bob\n| fake | row |"), r"bob\n| fake | row |");
    }

    #[test]
    fn bidi_overrides_and_zero_width_characters_become_visible_text() {
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}').chain(['\u{200b}', '\u{200d}', '\u{feff}']) {
            let s = format!("a{c}b");
            let e = escape(&s);
            assert_eq!(e, format!("a\\u{{{:x}}}b", c as u32), "{:x}", c as u32);
            assert!(e.chars().all(|c| !needs_escape(c)));
        }
    }

    #[test]
    fn clean_text_is_borrowed_and_unchanged() {
        for s in ["", "arn:aws:iam::1:user/ci", r"C:\path\x1b", "Zoë 東京 🙂"] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(escape(s), s);
        }
    }

    #[test]
    fn escaped_wraps_any_display_value() {
        let err = std::io::Error::other("bad \x1b[2J name");
        assert_eq!(Escaped(&err).to_string(), r"bad \x1b[2J name");
        assert_eq!(format!("[{}]", Escaped("\u{2067}x")), r"[\u{2067}x]");
        let every: String = (0u32..0x11_0000).filter_map(char::from_u32).filter(|c| needs_escape(*c)).collect();
        let shown = Escaped(every.as_str()).to_string();
        assert!(shown.chars().all(|c| c.is_ascii_graphic()), "only printable ASCII remains");
    }
}
