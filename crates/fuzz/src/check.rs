//! Runs one input through the parser's entry points and checks what a user relies on.
//!
//! Each [`Case`] goes four ways, each on its own [`Parser`] (see [`Checker`]):
//! 1. `read_stream` over the whole input in memory (a file);
//! 2. `read_stream` over a reader that returns it in small pieces of random size (a pipe, a
//!    socket): the result must be the same as 1, for every input (a corrupt gzip stream and a
//!    bomb too: the parser feeds its decoder whole buffers and keeps every byte decoded
//!    before an error, so where a stream stops does not depend on the read sizes);
//! 3. `parse_document` of the whole input (a Kafka message);
//! 4. `parse_in_place` with random bytes as the padding after it (how NDJSON lines are parsed
//!    inside the read buffer): the result must be the same as 3 and the padding untouched;
//! 5. for gzip, `read::gunzip` (a Kafka message): never more out than its limits allow.
//!
//! And in every run: `records == events + dead` in [`ParseStats`]; the batches hold exactly
//! `events` rows and have the event schema of [`trailhound_model::event::schema`] (names,
//! types, no null in a non-null column); exactly `dead` dead letters arrive, each with a kind,
//! a reason and a JSON form naming that kind, none larger than the largest document allowed,
//! and a cut one (`bytes` > `raw.len()`) no longer than `DEAD_LETTER_PREFIX_BYTES`; and for
//! plain (not gzip) input read whole, every input byte is counted.

use std::collections::BTreeMap;
use std::io::{self, Read};

use arrow_array::{Array, RecordBatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trailhound_parse::{read, DeadLetter, ParseSink, ParseStats, Parser, DEAD_LETTER_PREFIX_BYTES, PADDING};

use crate::gen::Case;

/// What one input produced over all its runs.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Events emitted.
    pub events: u64,
    /// Dead letters by kind.
    pub dead: BTreeMap<&'static str, u64>,
    /// Runs where `read_stream` returned an error (a source that could not be read).
    pub read_errors: u64,
}

/// A broken invariant: which, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// Short stable name (`stats`, `schema`, `chunking`, ...).
    pub invariant: &'static str,
    /// What tells this breach from others of its invariant (empty: the detail does, with its
    /// numbers blanked).
    pub class: String,
    /// What was seen.
    pub detail: String,
}

impl Breach {
    fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Self { invariant, class: String::new(), detail: detail.into() }
    }
}

/// A sink that checks each batch and dead letter as it arrives and keeps them for comparison.
#[derive(Default)]
pub struct CheckingSink {
    /// Batches received.
    pub batches: Vec<RecordBatch>,
    /// Dead letters received.
    pub dead: Vec<DeadLetter>,
    /// The first breach seen, if any.
    pub breach: Option<Breach>,
    max_dead_bytes: usize,
}

impl CheckingSink {
    /// A sink that accepts dead letters of at most `max_dead_bytes` raw bytes.
    pub fn new(max_dead_bytes: usize) -> Self {
        Self { max_dead_bytes, ..Self::default() }
    }

    fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }

    fn flag(&mut self, b: Breach) {
        if self.breach.is_none() {
            self.breach = Some(b);
        }
    }
}

/// Why `batch` does not have the event schema, if it does not.
pub fn schema_problem(batch: &RecordBatch) -> Option<String> {
    let want = trailhound_model::event::schema();
    if batch.num_columns() != want.fields().len() {
        return Some(format!("{} columns, the event schema has {}", batch.num_columns(), want.fields().len()));
    }
    let got = batch.schema();
    for (i, field) in want.fields().iter().enumerate() {
        let have = got.field(i);
        if have.name() != field.name() || have.data_type() != field.data_type() {
            return Some(format!(
                "column {i} is {} {}, want {} {}",
                have.name(),
                have.data_type(),
                field.name(),
                field.data_type()
            ));
        }
        let column = batch.column(i);
        if column.data_type() != field.data_type() {
            return Some(format!("column {} holds {}, want {}", field.name(), column.data_type(), field.data_type()));
        }
        if !field.is_nullable() && column.null_count() > 0 {
            return Some(format!("non-null column {} has {} nulls", field.name(), column.null_count()));
        }
    }
    None
}

impl ParseSink for CheckingSink {
    fn batch(&mut self, batch: RecordBatch) {
        if let Some(problem) = schema_problem(&batch) {
            self.flag(Breach::new("schema", problem));
        }
        self.batches.push(batch);
    }

    fn dead(&mut self, dead: DeadLetter) {
        let kind = dead.reason.code();
        if kind.is_empty() || dead.reason.to_string().is_empty() {
            self.flag(Breach::new("dead_letter", format!("empty kind or reason: {:?}", dead.reason)));
        }
        let json = dead.to_json();
        if json.get("kind").and_then(|k| k.as_str()) != Some(kind) {
            self.flag(Breach::new("dead_letter", format!("JSON form lacks kind {kind}: {json}")));
        }
        if dead.bytes < dead.raw.len() || (dead.bytes > dead.raw.len() && dead.raw.len() > DEAD_LETTER_PREFIX_BYTES) {
            self.flag(Breach::new(
                "dead_letter_size",
                format!("{kind} dead letter of a {}-byte record holds {} bytes", dead.bytes, dead.raw.len()),
            ));
        }
        if dead.raw.len() > self.max_dead_bytes {
            self.flag(Breach::new(
                "dead_letter_size",
                format!("{kind} dead letter holds {} bytes (limit {})", dead.raw.len(), self.max_dead_bytes),
            ));
        }
        self.dead.push(dead);
    }
}

/// One run's result, for comparing two ways of reading the same input.
#[derive(Debug, PartialEq)]
struct RunResult {
    stats: ParseStats,
    error: Option<String>,
    batches: Vec<RecordBatch>,
    dead: Vec<(String, u64, &'static str, Vec<u8>)>,
}

/// A reader returning `data` in pieces of 1..=`max` bytes.
struct Chunked<'a> {
    data: &'a [u8],
    rng: ChaCha8Rng,
    max: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rng.random_range(1..=self.max).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Checks the counters (since `before`) and the sink of one finished run.
fn finish(
    parser: &mut Parser,
    before: ParseStats,
    mut sink: CheckingSink,
    error: Option<String>,
    out: &mut Outcome,
) -> Result<RunResult, Breach> {
    parser.flush(&mut sink);
    let now = parser.stats();
    let stats = ParseStats {
        records: now.records.wrapping_sub(before.records),
        events: now.events.wrapping_sub(before.events),
        dead: now.dead.wrapping_sub(before.dead),
        bytes: now.bytes.wrapping_sub(before.bytes),
        time_inferred: now.time_inferred.wrapping_sub(before.time_inferred),
    };
    if let Some(b) = sink.breach.take() {
        return Err(b);
    }
    if stats.records != stats.events + stats.dead {
        return Err(Breach::new(
            "stats",
            format!("records {} != events {} + dead {}", stats.records, stats.events, stats.dead),
        ));
    }
    if sink.rows() != stats.events {
        return Err(Breach::new(
            "stats",
            format!("{} rows in batches, stats say {} events", sink.rows(), stats.events),
        ));
    }
    if sink.dead.len() as u64 != stats.dead {
        return Err(Breach::new(
            "stats",
            format!("{} dead letters arrived, stats say {}", sink.dead.len(), stats.dead),
        ));
    }
    out.events += stats.events;
    for d in &sink.dead {
        *out.dead.entry(d.reason.code()).or_default() += 1;
    }
    if error.is_some() {
        out.read_errors += 1;
    }
    let dead = sink.dead.into_iter().map(|d| (d.source, d.position, d.reason.code(), d.raw)).collect();
    Ok(RunResult { stats, error, batches: sink.batches, dead })
}

fn describe(r: &RunResult) -> String {
    let kinds: Vec<_> = r.dead.iter().map(|d| format!("{}@{}:{}", d.2, d.0, d.1)).collect();
    format!("stats {:?}, error {:?}, dead [{}]", r.stats, r.error, kinds.join(", "))
}

/// The four parsers an input runs through, kept from one input to the next (as a replay
/// keeps its parser from file to file) so buffers are reused and state carries over.
///
/// The two parsers of a compared pair see the same inputs, so they stay in step; after a
/// breach in a pair both are made anew (a panic drops the whole checker).
pub struct Checker {
    config: trailhound_parse::ParseConfig,
    whole: Parser,
    chunked: Parser,
    doc: Parser,
    in_place: Parser,
    buf: Vec<u8>,
}

impl Checker {
    /// Fresh parsers with `config`'s limits.
    pub fn new(config: trailhound_parse::ParseConfig) -> Self {
        Self {
            whole: Parser::new(config.clone()),
            chunked: Parser::new(config.clone()),
            doc: Parser::new(config.clone()),
            in_place: Parser::new(config.clone()),
            config,
            buf: Vec::new(),
        }
    }

    /// Runs `case` four ways and checks every invariant.
    pub fn check(&mut self, case: &Case) -> Result<Outcome, Breach> {
        let result = self.streams(case);
        if result.is_err() {
            self.whole = Parser::new(self.config.clone());
            self.chunked = Parser::new(self.config.clone());
        }
        let mut out = result?;
        gunzip_within_limits(case, &self.config)?;
        let result = self.documents(case, &mut out);
        if result.is_err() {
            self.doc = Parser::new(self.config.clone());
            self.in_place = Parser::new(self.config.clone());
        }
        result.map(|()| out)
    }

    fn max_dead(&self) -> usize {
        self.config.max_document_bytes.max(self.config.max_event_bytes) + 1
    }

    /// 1. A file read whole, and 2. the same bytes from a pipe, in random pieces.
    fn streams(&mut self, case: &Case) -> Result<Outcome, Breach> {
        let mut out = Outcome::default();
        let bytes = &case.bytes[..];
        let before = self.whole.stats();
        let mut sink = CheckingSink::new(self.max_dead());
        let error = read::read_stream(&mut self.whole, bytes, "fuzz", &mut sink).err().map(|e| e.kind().to_string());
        let whole = finish(&mut self.whole, before, sink, error, &mut out)?;
        if !bytes.starts_with(&[0x1f, 0x8b]) && whole.stats.bytes != bytes.len() as u64 {
            return Err(Breach::new(
                "byte_count",
                format!("{} input bytes, stats count {}", bytes.len(), whole.stats.bytes),
            ));
        }

        let before = self.chunked.stats();
        let mut sink = CheckingSink::new(self.max_dead());
        let reader = Chunked { data: bytes, rng: ChaCha8Rng::seed_from_u64(case.chunk_seed), max: case.max_chunk };
        let error = read::read_stream(&mut self.chunked, reader, "fuzz", &mut sink).err().map(|e| e.kind().to_string());
        let chunked = finish(&mut self.chunked, before, sink, error, &mut out)?;
        if chunked != whole {
            let first = if chunked.error != whole.error {
                "read error"
            } else if chunked.stats.records != whole.stats.records || chunked.stats.events != whole.stats.events {
                "record count"
            } else if chunked.dead != whole.dead {
                "dead letters"
            } else if chunked.batches != whole.batches {
                "events"
            } else {
                "counters"
            };
            let input = if bytes.starts_with(&[0x1f, 0x8b]) { "gzip" } else { "plain" };
            let small = if case.max_chunk < 16 { "reads under 16 bytes" } else { "reads of 16 bytes or more" };
            return Err(Breach {
                invariant: "chunking",
                class: format!("{input} input, {small}: {first} differ"),
                detail: format!(
                    "reads of at most {} bytes: {}; whole: {}",
                    case.max_chunk,
                    describe(&chunked),
                    describe(&whole)
                ),
            });
        }
        Ok(out)
    }

    /// 3. A message (one document), and 4. the same parsed in place with random padding.
    fn documents(&mut self, case: &Case, out: &mut Outcome) -> Result<(), Breach> {
        let bytes = &case.bytes[..];
        let before = self.doc.stats();
        let mut sink = CheckingSink::new(self.max_dead());
        self.doc.parse_document(bytes, "fuzz", 1, case.received_time, &mut sink);
        let doc = finish(&mut self.doc, before, sink, None, out)?;

        let before = self.in_place.stats();
        let mut sink = CheckingSink::new(self.max_dead());
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(bytes);
        let mut rng = ChaCha8Rng::seed_from_u64(case.padding_seed);
        let extra = rng.random_range(PADDING..PADDING + 16);
        buf.extend((0..extra).map(|_| if rng.random_bool(0.5) { b'"' } else { rng.random() }));
        let padding = buf[bytes.len()..].to_vec();
        self.in_place.parse_in_place(buf, bytes.len(), "fuzz", 1, case.received_time, &mut sink);
        if buf[bytes.len()..] != padding[..] {
            return Err(Breach::new("padding", "parse_in_place rewrote the bytes after the document"));
        }
        let in_place = finish(&mut self.in_place, before, sink, None, out)?;
        if in_place != doc {
            return Err(Breach::new(
                "in_place",
                format!(
                    "parse_in_place with random padding: {}; parse_document: {}",
                    describe(&in_place),
                    describe(&doc)
                ),
            ));
        }
        Ok(())
    }
}

/// A gzip Kafka message (the fifth way): `read::gunzip` gives at most the smaller of
/// `max_document_bytes` and `max_decompressed_bytes`, or a reason to dead-letter the message.
fn gunzip_within_limits(case: &Case, config: &trailhound_parse::ParseConfig) -> Result<(), Breach> {
    if !case.bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(());
    }
    let limit = (config.max_document_bytes as u64).min(config.max_decompressed_bytes);
    match read::gunzip(&case.bytes, config) {
        Ok(plain) if plain.len() as u64 > limit => {
            Err(Breach::new("gunzip", format!("{} bytes out of a gzip message, limit {limit}", plain.len())))
        }
        Ok(_) => Ok(()),
        Err(reason) if reason.code().is_empty() => Err(Breach::new("gunzip", format!("{reason:?} has no kind"))),
        Err(_) => Ok(()),
    }
}

/// The real target for [`crate::run::run`]: a [`Checker`] made at the first input (whose
/// parser limits hold for its block) and kept until the runner drops it.
pub fn target() -> crate::run::Target {
    let mut checker: Option<Checker> = None;
    Box::new(move |case: &Case| checker.get_or_insert_with(|| Checker::new(case.config.clone())).check(case))
}

/// Runs `case` alone on fresh parsers.
pub fn check_case(case: &Case) -> Result<Outcome, Breach> {
    Checker::new(case.config.clone()).check(case)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::gen::{GenOptions, Generator};

    #[test]
    fn a_batch_without_the_event_schema_is_a_breach() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1]))]).expect("batch");
        let mut sink = CheckingSink::new(100);
        sink.batch(batch);
        assert_eq!(sink.breach.map(|b| b.invariant), Some("schema"));
    }

    #[test]
    fn an_oversized_dead_letter_is_a_breach() {
        let mut sink = CheckingSink::new(4);
        let mut parser = Parser::new(trailhound_parse::ParseConfig::default());
        parser.parse_document(b"{\"eventTime\"", "f", 1, None, &mut sink);
        assert_eq!(sink.dead.len(), 1);
        assert_eq!(sink.breach.map(|b| b.invariant), Some("dead_letter_size"));
    }

    #[test]
    fn seed_events_in_every_framing_come_out_as_events() {
        let g = Generator::new(GenOptions { bomb_mib: 0, bomb_one_in: 0 });
        let mut events = 0;
        for i in 0..300 {
            let case = g.case(3, i);
            if let Ok(out) = check_case(&case) {
                events += out.events;
            }
        }
        // Most inputs are seed events with few mutations: a parser that dropped them all would
        // pass every other invariant, so require events to come out.
        assert!(events > 1000, "only {events} events from 300 inputs");
    }
}
