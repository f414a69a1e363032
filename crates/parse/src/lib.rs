//! Audit-log records in, Arrow [`RecordBatch`]es of the normalized event model out.
//!
//! This crate owns everything between bytes and events:
//! - **framing** ([`read`]): a stream is a sequence of JSON values, decided record by record:
//!   NDJSON (one event per line), CloudTrail delivery files (`{"Records":[...]}`), JSON arrays
//!   and pretty-printed values in any mix, gzip (detected by magic, as S3 delivers
//!   `.json.gz`), directory trees and stdin; with every limit of [`ParseConfig`] enforced
//!   while reading, so memory is bounded by the configuration whatever the input;
//! - **parsing** with simd-json's tape (no per-field maps; the buffers and the tape are
//!   reused between records, and lines are parsed in place inside the read buffer);
//! - **normalization** of CloudTrail records into the event schema of
//!   [`trailhound_model::event`], including `actor_key` and the [`IdentityClass`] of the
//!   caller ([`identity`]);
//! - **dead letters** ([`DeadLetter`]): a record that cannot become an event (bad JSON,
//!   truncated, not UTF-8, too deep, too large, wrong types, an impossible time, another
//!   format, a decompression bomb) is handed to the sink with the reason, its source position,
//!   its length and its original bytes (the first [`DEAD_LETTER_PREFIX_BYTES`] of one over
//!   `max_event_bytes`), and parsing goes on. Nothing is dropped without one: the events and
//!   dead letters of a stream account for all of it, and a stream cut short (or stopped by a
//!   decompression limit) ends with a dead letter that says so.
//!
//! ```
//! use trailhound_parse::{Parser, ParseConfig, Collect};
//! let mut parser = Parser::new(ParseConfig::default());
//! let mut out = Collect::default();
//! let line = br#"{"eventTime":"2024-07-30T21:31:10Z","eventName":"ListUsers","eventSource":"iam.amazonaws.com","userIdentity":{"type":"IAMUser","accessKeyId":"AKIAEXAMPLE","arn":"arn:aws:iam::1:user/bob"}}"#;
//! parser.parse_document(line, "doc", 1, None, &mut out);
//! parser.flush(&mut out);
//! assert_eq!(out.rows(), 1);
//! assert!(out.dead.is_empty());
//! ```
//!
//! [`IdentityClass`]: trailhound_model::IdentityClass

mod builder;
mod cloudtrail;
mod error;
mod gzip;
pub mod identity;
mod json;
pub mod read;
pub mod time;

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};
use simd_json::{Buffers, Node, Tape};

pub use builder::{EventBuilder, Row};
pub use error::{base64, DeadLetter, DeadReason};
pub use read::ReadError;

/// Parser limits. Defaults suit CloudTrail (whose events are at most 256 KiB). Every limit
/// holds while reading: no record, line or stream is held in memory past its limit, and what
/// goes over one is dead-lettered (see [`read`] for the bounds on memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParseConfig {
    /// Largest event that is a value of its own (an NDJSON line, a message), in bytes; larger
    /// ones are dead-lettered with kind `too_large` and their first
    /// [`DEAD_LETTER_PREFIX_BYTES`]. (The events inside a document are bounded by
    /// `max_document_bytes`, and by this limit when a damaged document is taken apart.)
    /// Default 1 MiB.
    pub max_event_bytes: usize,
    /// Largest document read whole: a delivery file (`{"Records":[...]}`), a JSON array, or a
    /// value spread over several lines (pretty-printed). Larger ones are dead-lettered like
    /// events. Default 512 MiB.
    pub max_document_bytes: usize,
    /// Deepest JSON nesting accepted. Default 64.
    pub max_depth: usize,
    /// Rows per emitted batch. Default 8192.
    pub batch_rows: usize,
    /// `requestParameters`/`responseElements` of mutating calls are kept as JSON text up to
    /// this size (bytes); larger ones are left out of the row. Default 64 KiB.
    pub keep_json_max_bytes: usize,
    /// Most bytes one compressed input (a gzip file, stdin, every member of a multi-member
    /// gzip together) may decompress to; beyond it the rest of that input is skipped with a
    /// dead letter of kind `decompression_limit`. Default 4 GiB.
    pub max_decompressed_bytes: u64,
    /// Largest ratio of decompressed to compressed bytes accepted once
    /// [`RATIO_CHECK_AFTER_BYTES`] have been decompressed from an input; above it (a
    /// decompression bomb) the rest of that input is skipped with a dead letter of kind
    /// `decompression_limit`. CloudTrail JSON compresses about 10–20:1. 0 turns the check
    /// off. Default 200.
    pub max_decompression_ratio: u64,
}

impl Default for ParseConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1 << 20,
            max_document_bytes: 512 << 20,
            max_depth: 64,
            batch_rows: 8192,
            keep_json_max_bytes: 64 << 10,
            max_decompressed_bytes: 4 << 30,
            max_decompression_ratio: 200,
        }
    }
}

/// A dead letter of a record larger than `max_event_bytes` carries only this many of its first
/// bytes (and its true length): 4 KiB.
pub const DEAD_LETTER_PREFIX_BYTES: usize = 4 << 10;

/// The decompression ratio is judged once this many bytes have been decompressed from an
/// input (1 MiB), so a small, very repetitive file is not mistaken for a bomb.
pub const RATIO_CHECK_AFTER_BYTES: u64 = 1 << 20;

/// Where parsed output goes.
pub trait ParseSink {
    /// A full (or final) batch of events.
    fn batch(&mut self, batch: RecordBatch);
    /// A record that could not be parsed.
    fn dead(&mut self, dead: DeadLetter);
}

/// A [`ParseSink`] that keeps everything in memory (tests, small inputs).
#[derive(Default)]
pub struct Collect {
    /// Batches received.
    pub batches: Vec<RecordBatch>,
    /// Dead letters received.
    pub dead: Vec<DeadLetter>,
}

impl Collect {
    /// Total rows over all batches.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

impl ParseSink for Collect {
    fn batch(&mut self, batch: RecordBatch) {
        self.batches.push(batch);
    }
    fn dead(&mut self, dead: DeadLetter) {
        self.dead.push(dead);
    }
}

/// Counters since the parser was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParseStats {
    /// Records seen (events plus dead letters).
    pub records: u64,
    /// Events emitted.
    pub events: u64,
    /// Records dead-lettered.
    pub dead: u64,
    /// Input bytes consumed (after decompression).
    pub bytes: u64,
    /// Events whose time was missing or unreadable and was inferred.
    pub time_inferred: u64,
}

/// Bytes a document must be followed by for in-place parsing.
pub const PADDING: usize = simd_json::INPUT_PADDING;

/// The reusable parser: simd-json buffers, a tape, Arrow builders and scratch text.
pub struct Parser {
    cfg: ParseConfig,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    builder: EventBuilder,
    scratch: cloudtrail::Scratch,
    source_text: String,
    orig: Vec<u8>,
    padded: Vec<u8>,
    /// The framing buffer of [`read`], reused from one stream to the next.
    read_buf: Vec<u8>,
    last_time: Option<i64>,
    stats: ParseStats,
}

impl Parser {
    /// A parser with the given limits.
    pub fn new(cfg: ParseConfig) -> Self {
        let rows = cfg.batch_rows.max(1);
        Self {
            buffers: Buffers::with_max_depth(64 << 10, cfg.max_depth),
            tape: Some(Tape::null().reset()),
            builder: EventBuilder::new(rows),
            scratch: Default::default(),
            source_text: String::new(),
            orig: Vec::new(),
            padded: Vec::new(),
            read_buf: Vec::new(),
            last_time: None,
            stats: ParseStats::default(),
            cfg: ParseConfig { batch_rows: rows, ..cfg },
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &ParseConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> ParseStats {
        self.stats
    }

    /// Parses one document (an event, a delivery file or an array of events) held in `doc`.
    /// `source` and `position` name it in dead letters and the `source` column.
    ///
    /// A delivery file or array that does not parse as a whole (cut short, one bad element)
    /// is taken apart element by element: every complete element is still read, and the bad
    /// ones and an incomplete tail are dead-lettered one by one (`source#index`).
    pub fn parse_document(
        &mut self,
        doc: &[u8],
        source: &str,
        position: u64,
        received_time: Option<i64>,
        sink: &mut dyn ParseSink,
    ) {
        self.stats.bytes += doc.len() as u64;
        self.padded_document(doc, source, position, received_time, sink);
    }

    /// [`Parser::parse_document`] without counting the bytes.
    fn padded_document(
        &mut self,
        doc: &[u8],
        source: &str,
        position: u64,
        received_time: Option<i64>,
        sink: &mut dyn ParseSink,
    ) {
        let mut padded = std::mem::take(&mut self.padded);
        padded.clear();
        padded.extend_from_slice(doc);
        padded.resize(doc.len() + PADDING, 0);
        self.document(&mut padded, doc.len(), source, position, received_time, sink);
        self.padded = padded;
    }

    /// Parses `buf[..len]` in place; `buf` must extend at least [`PADDING`] bytes past `len`
    /// (any content: the next line of a read buffer will do). The bytes of the document may be
    /// rewritten (string unescaping); the padding is left as it was.
    pub fn parse_in_place(
        &mut self,
        buf: &mut [u8],
        len: usize,
        source: &str,
        position: u64,
        received_time: Option<i64>,
        sink: &mut dyn ParseSink,
    ) {
        self.stats.bytes += len as u64;
        if buf.len() < len + PADDING {
            let copy = buf[..len.min(buf.len())].to_vec();
            self.padded_document(&copy, source, position, received_time, sink);
            return;
        }
        self.document(buf, len, source, position, received_time, sink);
    }

    /// The work of [`Parser::parse_in_place`] (bytes not counted; `buf` is padded).
    pub(crate) fn document(
        &mut self,
        buf: &mut [u8],
        len: usize,
        source: &str,
        position: u64,
        received_time: Option<i64>,
        sink: &mut dyn ParseSink,
    ) {
        let doc = &buf[..len];
        let container = read::looks_like_container(doc);
        let limit = if container { self.cfg.max_document_bytes } else { self.cfg.max_event_bytes };
        if len > limit {
            self.dead_capped(sink, source, position, DeadReason::TooLarge { bytes: len, max_bytes: limit }, doc);
            return;
        }
        // Unescaping rewrites strings in place; keep the original bytes for a dead letter.
        let escaped = memchr::memchr(b'\\', doc).is_some();
        if escaped {
            self.orig.clear();
            self.orig.extend_from_slice(doc);
        }
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        if let Err(e) = simd_json::fill_tape_padded(buf, len, &mut self.buffers, &mut tape) {
            self.tape = Some(tape.reset());
            let orig = if escaped { std::mem::take(&mut self.orig) } else { Vec::new() };
            let raw: &[u8] = if escaped { &orig } else { &buf[..len] };
            let reason = if read::ends_inside_a_value(raw) {
                DeadReason::Truncated
            } else {
                DeadReason::from_simd(&e, self.cfg.max_depth)
            };
            if !self.recover(raw, source, position, received_time, reason.clone(), sink) {
                self.dead_capped(sink, source, position, reason, raw);
            }
            if escaped {
                self.orig = orig;
            }
            return;
        }
        let nodes: &[Node<'_>] = &tape.0;
        let records = match nodes.first() {
            Some(Node::Object { .. }) => {
                json::get(nodes, "Records").filter(|r| matches!(r.first(), Some(Node::Array { .. })))
            }
            Some(Node::Array { .. }) => Some(nodes),
            _ => None,
        };
        match records {
            Some(arr) => {
                for (i, rec) in json::elements(arr).enumerate() {
                    self.event(rec, source, position, Some(i), received_time, sink);
                }
            }
            None => self.event(nodes, source, position, None, received_time, sink),
        }
        self.tape = Some(tape.reset());
    }

    /// Takes apart a delivery file or array `doc` that did not parse whole: parses each
    /// complete element on its own, dead-letters the bad ones and an incomplete tail, and what
    /// is around the array when that is the problem (with `reason`). False when `doc` holds
    /// no events array (nothing was done).
    fn recover(
        &mut self,
        doc: &[u8],
        source: &str,
        position: u64,
        received_time: Option<i64>,
        reason: DeadReason,
        sink: &mut dyn ParseSink,
    ) -> bool {
        let Some(open) = read::events_array(doc) else {
            return false;
        };
        let at = |index: usize| format!("{source}#{index}");
        let mut i = open;
        let mut index = 0usize;
        loop {
            i += doc[i..].iter().take_while(|c| c.is_ascii_whitespace()).count();
            let Some(&c) = doc.get(i) else {
                // The array never closed: cut after its last complete element.
                self.dead(sink, &at(index), position, DeadReason::Truncated, Vec::new(), 0);
                return true;
            };
            if c == b']' || c == b'}' {
                // The array is whole: the fault, if any, is around it.
                let mut skeleton = Vec::with_capacity(open + doc.len() - i + PADDING);
                skeleton.extend_from_slice(&doc[..open]);
                skeleton.extend_from_slice(&doc[i..]);
                if simd_json::to_tape(&mut skeleton).is_err() {
                    let mut around = doc[..open].to_vec();
                    around.extend_from_slice(&doc[i..]);
                    self.dead_capped(sink, &at(index), position, reason, &around);
                }
                return true;
            }
            match read::element_end(&doc[i..]) {
                None => {
                    // The last element may be complete (cut right after it) or not.
                    let tail = doc[i..].trim_ascii_end();
                    if !self.element(tail, source, position, index, received_time, sink) {
                        // Complete (or bad for another reason): the cut still needs saying.
                        self.dead(sink, &at(index + 1), position, DeadReason::Truncated, Vec::new(), 0);
                    }
                    return true;
                }
                Some(k) => {
                    let elem = doc[i..i + k].trim_ascii_end();
                    self.element(elem, source, position, index, received_time, sink);
                    index += 1;
                    i += k;
                    if doc[i] == b',' {
                        i += 1;
                    }
                }
            }
        }
    }

    /// Parses one element of a delivery file or array on its own, as event `source#index`.
    /// True when it was dead-lettered as truncated.
    fn element(
        &mut self,
        bytes: &[u8],
        source: &str,
        position: u64,
        index: usize,
        received_time: Option<i64>,
        sink: &mut dyn ParseSink,
    ) -> bool {
        let at = || format!("{source}#{index}");
        if bytes.len() > self.cfg.max_event_bytes {
            let reason = DeadReason::TooLarge { bytes: bytes.len(), max_bytes: self.cfg.max_event_bytes };
            self.dead_capped(sink, &at(), position, reason, bytes);
            return false;
        }
        let mut padded = std::mem::take(&mut self.padded);
        padded.clear();
        padded.extend_from_slice(bytes);
        padded.resize(bytes.len() + PADDING, 0);
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let truncated = match simd_json::fill_tape_padded(&mut padded, bytes.len(), &mut self.buffers, &mut tape) {
            Ok(()) => {
                self.event(&tape.0, source, position, Some(index), received_time, sink);
                false
            }
            Err(e) => {
                let reason = if read::ends_inside_a_value(bytes) {
                    DeadReason::Truncated
                } else {
                    DeadReason::from_simd(&e, self.cfg.max_depth)
                };
                let truncated = reason == DeadReason::Truncated;
                self.dead(sink, &at(), position, reason, bytes.to_vec(), bytes.len());
                truncated
            }
        };
        self.tape = Some(tape.reset());
        self.padded = padded;
        truncated
    }

    fn event(
        &mut self,
        rec: &[Node<'_>],
        source: &str,
        position: u64,
        index: Option<usize>,
        received_time: Option<i64>,
        sink: &mut dyn ParseSink,
    ) {
        self.stats.records += 1;
        // `{source}:{position}` or `{source}:{position}#{index}`, without the formatting machinery.
        self.source_text.clear();
        self.source_text.push_str(source);
        self.source_text.push(':');
        push_decimal(&mut self.source_text, position);
        if let Some(i) = index {
            self.source_text.push('#');
            push_decimal(&mut self.source_text, i as u64);
        }
        let mut ctx = cloudtrail::Context {
            source: &self.source_text,
            received_time,
            last_time: self.last_time,
            keep_json_max: self.cfg.keep_json_max_bytes,
        };
        let builder = &mut self.builder;
        let result = cloudtrail::normalize(rec, &mut ctx, &mut self.scratch, |row| {
            if row.time_inferred {
                self.stats.time_inferred += 1;
            }
            builder.append(row);
        });
        self.last_time = ctx.last_time;
        match result {
            Ok(()) => {
                self.stats.events += 1;
                if self.builder.len() >= self.cfg.batch_rows {
                    sink.batch(self.builder.finish());
                }
            }
            Err(reason) => {
                self.stats.records -= 1; // counted again by dead()
                let mut raw = String::new();
                json::write_json(rec, &mut raw);
                let pos_source = match index {
                    Some(i) => format!("{source}#{i}"),
                    None => source.to_string(),
                };
                self.dead_capped(sink, &pos_source, position, reason, raw.as_bytes());
            }
        }
    }

    pub(crate) fn dead(
        &mut self,
        sink: &mut dyn ParseSink,
        source: &str,
        position: u64,
        reason: DeadReason,
        raw: Vec<u8>,
        bytes: usize,
    ) {
        self.stats.records += 1;
        self.stats.dead += 1;
        tracing::debug!(source, position, kind = reason.code(), %reason, bytes, "record dead-lettered");
        sink.dead(DeadLetter { source: source.to_string(), position, reason, raw, bytes });
    }

    /// Dead-letters `record`: whole when it is at most `max_event_bytes`, else its first
    /// [`DEAD_LETTER_PREFIX_BYTES`] and its length.
    pub(crate) fn dead_capped(
        &mut self,
        sink: &mut dyn ParseSink,
        source: &str,
        position: u64,
        reason: DeadReason,
        record: &[u8],
    ) {
        let keep = if record.len() > self.cfg.max_event_bytes { DEAD_LETTER_PREFIX_BYTES } else { record.len() };
        self.dead(sink, source, position, reason, record[..keep.min(record.len())].to_vec(), record.len());
    }

    /// Dead-letters a record the caller found unusable before parsing (an empty message, a
    /// corrupt gzip stream), counted like the parser's own.
    pub fn reject(&mut self, sink: &mut dyn ParseSink, source: &str, position: u64, reason: DeadReason, raw: Vec<u8>) {
        self.stats.bytes += raw.len() as u64;
        let bytes = raw.len();
        self.dead(sink, source, position, reason, raw, bytes);
    }

    /// True when rows are waiting for [`Parser::flush`] or a full batch.
    pub fn pending(&self) -> bool {
        !self.builder.is_empty()
    }

    /// Emits the rows still pending as a (short) batch.
    pub fn flush(&mut self, sink: &mut dyn ParseSink) {
        if !self.builder.is_empty() {
            sink.batch(self.builder.finish());
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests;
