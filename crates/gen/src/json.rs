//! Low-level, allocation-free JSON and time writers used on the hot path.

use rand::RngCore;
use trailhound_model::time::{civil_from_days, DAY, HOUR, MINUTE, SECOND};

use crate::Rng;

const HEX: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const ALNUM_UPPER: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Appends `s` as the inside of a JSON string (escaping only when needed).
pub(crate) fn push_esc(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
        buf.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b if b < 0x20 => {
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 15)]);
            }
            b => buf.push(b),
        }
    }
}

fn push2(buf: &mut Vec<u8>, v: i64) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// Appends `t` as CloudTrail renders `eventTime`: `2026-11-02T00:00:07Z` (whole seconds).
pub(crate) fn push_time(buf: &mut Vec<u8>, t: i64) {
    let (y, mo, d) = civil_from_days(t.div_euclid(DAY));
    let ms = t.rem_euclid(DAY);
    let y = y.clamp(0, 9999);
    push2(buf, y / 100);
    push2(buf, y % 100);
    buf.push(b'-');
    push2(buf, i64::from(mo));
    buf.push(b'-');
    push2(buf, i64::from(d));
    buf.push(b'T');
    push2(buf, ms / HOUR);
    buf.push(b':');
    push2(buf, (ms / MINUTE) % 60);
    buf.push(b':');
    push2(buf, (ms / SECOND) % 60);
    buf.push(b'Z');
}

/// `t` rendered like `eventTime`, as a `String`.
pub(crate) fn time_string(t: i64) -> String {
    let mut v = Vec::with_capacity(20);
    push_time(&mut v, t);
    String::from_utf8(v).unwrap_or_default()
}

/// `t` rendered like an STS credential `expiration`: `Nov 2, 2026, 6:07:00 AM`.
pub(crate) fn expiration_string(t: i64) -> String {
    us_date(t, ", ")
}

/// `t` rendered like an IAM `createDate` in `responseElements`: `Nov 2, 2026 6:07:00 AM`.
pub(crate) fn iam_date_string(t: i64) -> String {
    us_date(t, " ")
}

fn us_date(t: i64, after_year: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d) = civil_from_days(t.div_euclid(DAY));
    let ms = t.rem_euclid(DAY);
    let (h, mi, s) = (ms / HOUR, (ms / MINUTE) % 60, (ms / SECOND) % 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{month} {d}, {y}{after_year}{h12}:{mi:02}:{s:02} {ampm}")
}

/// Appends a random version-4-shaped UUID.
pub(crate) fn push_uuid(buf: &mut Vec<u8>, rng: &mut Rng) {
    let a = rng.next_u64();
    let b = rng.next_u64();
    let mut hex = [0u8; 32];
    for i in 0..16 {
        hex[i] = HEX[((a >> (60 - 4 * i)) & 15) as usize];
        hex[16 + i] = HEX[((b >> (60 - 4 * i)) & 15) as usize];
    }
    hex[12] = b'4';
    hex[16] = b"89ab"[(b >> 62) as usize & 3];
    buf.extend_from_slice(&hex[0..8]);
    buf.push(b'-');
    buf.extend_from_slice(&hex[8..12]);
    buf.push(b'-');
    buf.extend_from_slice(&hex[12..16]);
    buf.push(b'-');
    buf.extend_from_slice(&hex[16..20]);
    buf.push(b'-');
    buf.extend_from_slice(&hex[20..32]);
}

/// Appends 16 random uppercase hex digits (the shape of an S3 request id).
pub(crate) fn push_hex16_upper(buf: &mut Vec<u8>, rng: &mut Rng) {
    let a = rng.next_u64();
    for i in 0..16 {
        buf.push(HEX_UPPER[((a >> (60 - 4 * i)) & 15) as usize]);
    }
}

/// A random UUID as a `String`.
pub(crate) fn uuid(rng: &mut Rng) -> String {
    let mut v = Vec::with_capacity(36);
    push_uuid(&mut v, rng);
    String::from_utf8(v).unwrap_or_default()
}

/// `n` random lowercase hex digits.
pub(crate) fn hex(rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n);
    let mut bits = 0u64;
    for i in 0..n {
        if i % 16 == 0 {
            bits = rng.next_u64();
        }
        s.push(char::from(HEX[(bits & 15) as usize]));
        bits >>= 4;
    }
    s
}

/// `prefix` followed by `n` random characters from `[A-Z0-9]` (access key ids, principal ids).
pub(crate) fn alnum_id(rng: &mut Rng, prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    for _ in 0..n {
        let v = (rng.next_u32() % 36) as usize;
        s.push(char::from(ALNUM_UPPER[v]));
    }
    s
}

/// A small builder for JSON objects written into a reused `String`.
pub(crate) struct Obj<'a> {
    s: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Clears `s` and opens an object in it.
    pub(crate) fn new(s: &'a mut String) -> Self {
        s.clear();
        s.push('{');
        Obj { s, first: true }
    }

    /// Opens a nested object inside an existing `String` without clearing it.
    pub(crate) fn nested(s: &'a mut String) -> Self {
        s.push('{');
        Obj { s, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.s.push(',');
        }
        self.first = false;
        self.s.push('"');
        self.s.push_str(k);
        self.s.push_str("\":");
    }

    /// A string member.
    pub(crate) fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        self.s.push('"');
        if !v.bytes().any(|b| b == b'"' || b == b'\\') {
            self.s.push_str(v);
        } else {
            for c in v.chars() {
                match c {
                    '"' => self.s.push_str("\\\""),
                    '\\' => self.s.push_str("\\\\"),
                    c => self.s.push(c),
                }
            }
        }
        self.s.push('"');
        self
    }

    /// An integer member.
    pub(crate) fn num(mut self, k: &str, v: i64) -> Self {
        self.key(k);
        if v < 0 {
            self.s.push('-');
        }
        let mut tmp = [0u8; 20];
        self.s.push_str(digits(&mut tmp, v.unsigned_abs()));
        self
    }

    /// A boolean member.
    pub(crate) fn bool(mut self, k: &str, v: bool) -> Self {
        self.key(k);
        self.s.push_str(if v { "true" } else { "false" });
        self
    }

    /// A member whose value is already JSON.
    pub(crate) fn raw(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        self.s.push_str(v);
        self
    }

    /// A member whose value is an object built by `f`.
    pub(crate) fn obj(mut self, k: &str, f: impl FnOnce(Obj<'_>) -> Obj<'_>) -> Self {
        self.key(k);
        f(Obj::nested(self.s)).end();
        self
    }

    /// Closes the object.
    pub(crate) fn end(self) {
        self.s.push('}');
    }
}

fn digits(tmp: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&tmp[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use trailhound_model::time::days_from_civil;

    #[test]
    fn renders_times_and_expirations() {
        let t = days_from_civil(2026, 11, 2) * DAY + 6 * HOUR + 7 * MINUTE + 5 * SECOND + 999;
        assert_eq!(time_string(t), "2026-11-02T06:07:05Z");
        assert_eq!(expiration_string(t), "Nov 2, 2026, 6:07:05 AM");
        assert_eq!(expiration_string(t + 12 * HOUR), "Nov 2, 2026, 6:07:05 PM");
        assert_eq!(iam_date_string(t), "Nov 2, 2026 6:07:05 AM");
    }

    #[test]
    fn builds_objects_and_ids() {
        let mut s = String::new();
        Obj::new(&mut s).str("a", "x\"y").num("n", -12).bool("b", true).obj("o", |o| o.num("z", 0)).end();
        assert_eq!(s, r#"{"a":"x\"y","n":-12,"b":true,"o":{"z":0}}"#);
        let mut rng = Rng::seed_from_u64(1);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let k = alnum_id(&mut rng, "AKIA", 16);
        assert_eq!(k.len(), 20);
        let mut tmp = [0u8; 20];
        assert_eq!(digits(&mut tmp, 1234567890), "1234567890");
        let mut e = Vec::new();
        push_esc(&mut e, "a\"b\\c\n");
        assert_eq!(e, br#"a\"b\\c\n"#);
    }
}
