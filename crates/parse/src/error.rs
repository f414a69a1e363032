//! Why a record could not become an event, and the dead letter that carries it.

use std::fmt;

/// Why a record was dead-lettered. Every variant is bad data: the caller routes the record to
/// the dead-letter sink, counts it, and carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadReason {
    /// Not valid JSON (simd-json's message).
    InvalidJson(String),
    /// The JSON ended early.
    Truncated,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// Nested deeper than the configured limit.
    TooDeep {
        /// The limit.
        max_depth: usize,
    },
    /// Larger than the configured limit.
    TooLarge {
        /// Size of the record.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A JSON value that is not an object where an event was expected.
    NotAnObject {
        /// What it was.
        found: &'static str,
    },
    /// A required field is absent.
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    WrongType {
        /// Field path.
        field: &'static str,
        /// Expected type.
        expected: &'static str,
        /// Found type.
        found: &'static str,
    },
    /// Valid JSON of a format this build does not read.
    UnsupportedFormat(&'static str),
    /// A message or file with no bytes at all.
    Empty,
    /// Compressed bytes that do not decompress (a corrupt or truncated gzip stream).
    Compression(String),
    /// An event dated too far ahead of the stream (or of the time it was received) to be let
    /// move the watermark: judged by the engine, see `engine.max_future_skew`.
    TimeOutOfRange {
        /// The event's time, ms since the epoch.
        event_time: i64,
        /// The reference it was judged against (stream clock, receive time or ceiling), ms.
        reference: i64,
        /// What the reference was: `stream`, `received` or `now`.
        against: &'static str,
    },
    /// A time field that looks like a timestamp but names no real instant (2026-02-31, hour
    /// 24) or lies outside the years 2000..=2199 (see [`crate::time`]).
    InvalidTime {
        /// The field (`eventTime`, `p_event_time`).
        field: &'static str,
        /// The value as found, control characters escaped, at most 64 characters.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A compressed input stream decompressed past `parse.max_decompressed_bytes`, or at a
    /// ratio above `parse.max_decompression_ratio` (a decompression bomb): reading the stream
    /// stopped, and the rest of it is skipped.
    DecompressionLimit {
        /// Bytes decompressed when reading stopped.
        decompressed: u64,
        /// Compressed bytes consumed for them.
        compressed: u64,
        /// The setting that stopped it.
        setting: &'static str,
        /// Its value.
        limit: u64,
    },
    /// The input stream ended early (a `.json.gz` cut short, a read error): the record was
    /// incomplete, and whatever followed it is lost. Kind `truncated`, as for [`Truncated`].
    ///
    /// [`Truncated`]: DeadReason::Truncated
    TruncatedStream(String),
}

impl DeadReason {
    /// A short stable code for metrics and the dead-letter `kind` field.
    pub fn code(&self) -> &'static str {
        match self {
            DeadReason::InvalidJson(_) => "invalid_json",
            DeadReason::Truncated => "truncated",
            DeadReason::InvalidUtf8 => "invalid_utf8",
            DeadReason::TooDeep { .. } => "too_deep",
            DeadReason::TooLarge { .. } => "too_large",
            DeadReason::NotAnObject { .. } => "not_an_object",
            DeadReason::MissingField(_) => "missing_field",
            DeadReason::WrongType { .. } => "wrong_type",
            DeadReason::UnsupportedFormat(_) => "unsupported_format",
            DeadReason::Empty => "empty",
            DeadReason::Compression(_) => "bad_compression",
            DeadReason::TimeOutOfRange { .. } => "time_out_of_range",
            DeadReason::InvalidTime { .. } => "invalid_time",
            DeadReason::DecompressionLimit { .. } => "decompression_limit",
            DeadReason::TruncatedStream(_) => "truncated",
        }
    }

    pub(crate) fn from_simd(e: &simd_json::Error, max_depth: usize) -> Self {
        use simd_json::ErrorType as E;
        match e.error() {
            E::InvalidUtf8 => DeadReason::InvalidUtf8,
            E::DepthLimitExceeded => DeadReason::TooDeep { max_depth },
            E::Eof | E::UnterminatedString => DeadReason::Truncated,
            _ => DeadReason::InvalidJson(e.to_string()),
        }
    }
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadReason::InvalidJson(m) => write!(f, "invalid JSON: {m}"),
            DeadReason::Truncated => f.write_str("truncated JSON: the record ends before its value does"),
            DeadReason::InvalidUtf8 => f.write_str("invalid UTF-8 in the record"),
            DeadReason::TooDeep { max_depth } => {
                write!(f, "JSON nested deeper than {max_depth} levels")
            }
            DeadReason::TooLarge { bytes, max_bytes } => {
                write!(f, "record of {bytes} bytes exceeds the limit of {max_bytes} bytes")
            }
            DeadReason::NotAnObject { found } => {
                write!(f, "expected a JSON object for an event, found {found}")
            }
            DeadReason::MissingField(k) => write!(f, "required field `{k}` is missing"),
            DeadReason::WrongType { field, expected, found } => {
                write!(f, "field `{field}` should be {expected} but is {found}")
            }
            DeadReason::UnsupportedFormat(what) => write!(f, "unsupported format: {what}"),
            DeadReason::Empty => f.write_str("empty record: no bytes at all"),
            DeadReason::Compression(m) => write!(f, "cannot decompress: {m}"),
            DeadReason::TimeOutOfRange { event_time, reference, against } => write!(
                f,
                "event time {} is {} ahead of the {against} time {}",
                trailhound_model::time::to_rfc3339(*event_time),
                humantime::format_duration(std::time::Duration::from_millis(
                    event_time.saturating_sub(*reference).max(0) as u64 / 1000 * 1000
                )),
                trailhound_model::time::to_rfc3339(*reference)
            ),
            DeadReason::InvalidTime { field, value, why } => {
                write!(f, "field `{field}` holds an impossible time \"{value}\": {why}")
            }
            DeadReason::DecompressionLimit { decompressed, compressed, setting, limit } => write!(
                f,
                "decompression stopped after {decompressed} bytes from {compressed} compressed bytes \
                 (over {setting} = {limit}); the rest of the stream is skipped"
            ),
            DeadReason::TruncatedStream(m) => {
                write!(f, "input cut short ({m}): the record is incomplete and what followed it is lost")
            }
        }
    }
}

/// A record that could not be parsed, with everything needed to find and replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where it came from: file path, `-` for stdin, or `topic/partition`.
    pub source: String,
    /// 1-based line number in a file, record index in a delivery file, or Kafka offset.
    pub position: u64,
    /// Why it was rejected.
    pub reason: DeadReason,
    /// The original bytes, unchanged; only the first [`DEAD_LETTER_PREFIX_BYTES`] of a record
    /// larger than `max_event_bytes` (see [`DeadLetter::raw_truncated`]).
    ///
    /// [`DEAD_LETTER_PREFIX_BYTES`]: crate::DEAD_LETTER_PREFIX_BYTES
    pub raw: Vec<u8>,
    /// Length of the whole record in bytes: `raw.len()`, or more when `raw` is a prefix.
    pub bytes: usize,
}

impl DeadLetter {
    /// A dead letter holding the whole record.
    pub fn new(source: impl Into<String>, position: u64, reason: DeadReason, raw: Vec<u8>) -> Self {
        Self { source: source.into(), position, reason, bytes: raw.len(), raw }
    }

    /// True when [`DeadLetter::raw`] holds only the first bytes of the record.
    pub fn raw_truncated(&self) -> bool {
        self.bytes > self.raw.len()
    }

    /// One NDJSON line for the dead-letter file: source, position, reason, the record's length
    /// (`bytes`), its original bytes (as `raw` when they are UTF-8, else as `raw_base64`) and
    /// `raw_truncated` (true when they are only its first bytes).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "source": self.source,
            "position": self.position,
            "kind": self.reason.code(),
            "reason": self.reason.to_string(),
            "bytes": self.bytes,
            "raw_truncated": self.raw_truncated(),
        });
        match std::str::from_utf8(&self.raw) {
            Ok(s) => v["raw"] = serde_json::Value::String(s.to_string()),
            // A prefix may end inside a character: the valid part as text, not base64.
            Err(e) if self.raw_truncated() && e.error_len().is_none() => {
                let valid = &self.raw[..e.valid_up_to()];
                v["raw"] = serde_json::Value::String(String::from_utf8_lossy(valid).into_owned());
            }
            Err(_) => v["raw_base64"] = serde_json::Value::String(base64(&self.raw)),
        }
        v
    }
}

/// Standard base64 with padding (small, so no dependency).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn dead_letter_json_keeps_original_bytes() {
        let d = DeadLetter::new("f", 3, DeadReason::InvalidUtf8, vec![0xff, 0x00]);
        let v = d.to_json();
        assert_eq!(v["raw_base64"], "/wA=");
        assert_eq!(v["kind"], "invalid_utf8");
        assert_eq!(v["bytes"], 2);
        assert_eq!(v["raw_truncated"], false);
        let d = DeadLetter::new("f", 3, DeadReason::Truncated, b"{oops".to_vec());
        assert_eq!(d.to_json()["raw"], "{oops");
    }

    #[test]
    fn a_capped_dead_letter_reports_the_true_length_and_says_its_raw_is_a_prefix() {
        // The prefix ends inside the two-byte `é`: still text, without the broken character.
        let raw = b"{\"a\":\"\xc3".to_vec();
        let d = DeadLetter { bytes: 600 << 20, ..DeadLetter::new("f", 1, DeadReason::Truncated, raw) };
        let v = d.to_json();
        assert_eq!(v["bytes"], 600u64 << 20);
        assert_eq!(v["raw_truncated"], true);
        assert_eq!(v["raw"], "{\"a\":\"");
        assert!(v.get("raw_base64").is_none());
    }
}
