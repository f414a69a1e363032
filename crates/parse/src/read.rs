//! Framing: files, directories, gzip and stdin into records for the [`Parser`].
//!
//! A stream is read as a **sequence of top-level JSON values**, decided record by record
//! rather than once per file, so any mix of these is read:
//! - **NDJSON**, one event per line (the fast path: a line that starts with `{` and ends with
//!   `}` is parsed in place in the read buffer, with no other scan);
//! - **delivery files** `{"Records":[...]}` and **JSON arrays** of events, on one line or
//!   many, each read whole (at most `max_document_bytes`) and parsed in place;
//! - **pretty-printed** values (`jq .` output of one event, of a delivery file, or of many
//!   events one after another): a value that does not end on its first line is followed by a
//!   small JSON-aware scanner (strings, escapes, nesting) to its closing bracket.
//!
//! Bad input never takes good input with it. A value that does not parse is dead-lettered
//! alone and reading resumes right after it. A value that cannot be complete ends early: at a
//! newline inside a string (JSON strings hold none), or at a line that starts with `{` or `[`
//! in column 0 where the open value allows none (a broken `[1,2` or `{` line followed by
//! NDJSON). A delivery file or array that does not parse whole is taken apart element by
//! element (see [`Parser::parse_document`]). A UTF-8 byte-order mark at the start of a stream
//! (or of its decompressed bytes) is skipped.
//!
//! **Memory is bounded by the configuration, whatever the input.** A record is held in the
//! read buffer only up to its limit (`max_event_bytes` for an event, `max_document_bytes` for
//! a value that starts like a document: `[`, `{"Records"`, or `{` alone on its line); past it,
//! its first [`DEAD_LETTER_PREFIX_BYTES`] are kept, the rest is skipped to its end (the next
//! newline for a line, the closing bracket for a value), and it is dead-lettered with kind
//! `too_large` and its true length. The read buffer is at most about 1.5 × the larger limit
//! plus 4 MiB.
//!
//! **Gzip** is recognised by its magic number, whatever the name. A stream that decompresses
//! past `max_decompressed_bytes`, or at a ratio above `max_decompression_ratio` (checked
//! once [`RATIO_CHECK_AFTER_BYTES`] are out), stops there with a dead letter of kind
//! `decompression_limit`, and reading goes on with the next input. A gzip stream cut short
//! keeps every complete record before the cut (the complete elements of a delivery file too)
//! and dead-letters the cut record (kind `truncated`; with empty `raw` when the cut fell
//! between records); a corrupt one likewise with kind `bad_compression` (every byte decoded
//! before the damage is read). None of this depends on how the source hands its bytes over
//! (a file, a pipe, a socket, one byte at a time): the compressed bytes go to the decoder in
//! whole buffers, so the same input gives the same events and dead letters.
//!
//! **Inputs that cannot be read** (missing, permissions, a directory where a file is read, a
//! dangling link in a tree) are [`ReadError`]s naming the path: [`read_path`] reads every
//! other file first and then reports them all; [`list_inputs`] lists a tree without stopping
//! at the first bad entry.
//!
//! [`DEAD_LETTER_PREFIX_BYTES`]: crate::DEAD_LETTER_PREFIX_BYTES
//! [`RATIO_CHECK_AFTER_BYTES`]: crate::RATIO_CHECK_AFTER_BYTES

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::gzip::GzipDecoder;
use crate::{DeadLetter, DeadReason, ParseSink, Parser, DEAD_LETTER_PREFIX_BYTES, PADDING, RATIO_CHECK_AFTER_BYTES};

/// A source that could not be read at all (as opposed to a bad record inside it).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening, listing or reading failed (missing file, permissions, a directory where a
    /// file was expected, a dangling link).
    #[error("cannot read {}: {source}", Printable(path))]
    Io {
        /// The path (or `-`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Several inputs of one [`read_path`] could not be read (every other one was).
    #[error("{} inputs could not be read: {}", .0.len(), List(.0))]
    Several(Vec<ReadError>),
}

impl ReadError {
    /// Every failure this error stands for (itself, or each of [`ReadError::Several`]).
    pub fn failures(&self) -> Vec<&ReadError> {
        match self {
            ReadError::Several(all) => all.iter().flat_map(ReadError::failures).collect(),
            one => vec![one],
        }
    }

    fn io(path: &Path, source: io::Error) -> Self {
        ReadError::Io { path: path.to_path_buf(), source }
    }
}

/// A path for a message, control characters escaped (file names are untrusted too).
struct Printable<'a>(&'a Path);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.to_string_lossy().chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

struct List<'a>(&'a [ReadError]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// True when `doc` starts (after whitespace and a BOM) like one JSON document holding many
/// events: `[`, `{"Records"`, or a `{` alone on its first line (pretty-printed).
pub fn looks_like_container(doc: &[u8]) -> bool {
    let doc = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(doc);
    let start = doc.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(doc.len());
    match doc.get(start) {
        Some(b'[') => true,
        Some(b'{') => {
            // Within the 16 bytes after the brace: spaces and tabs, then `"Records"` or a newline.
            let rest = &doc[start + 1..doc.len().min(start + 17)];
            let trimmed = &rest[rest.iter().position(|c| *c != b' ' && *c != b'\t').unwrap_or(rest.len())..];
            trimmed.starts_with(b"\"Records\"") || trimmed.first().is_some_and(|c| *c == b'\n' || *c == b'\r')
        }
        _ => false,
    }
}

/// True when `doc` stops inside a string, object or array: it was cut off. (Used only on the
/// error path, to tell truncation from other syntax errors.)
pub fn ends_inside_a_value(doc: &[u8]) -> bool {
    let (mut depth, mut in_str, mut esc) = (0i64, false, false);
    for &c in doc {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    in_str || depth > 0
}

/// Where the value starting at `data[0]` ends inside an array: the index of the `,` (or of
/// the `]`/`}`) that follows it at its own level, or `None` when `data` ends first.
pub(crate) fn element_end(data: &[u8]) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, &c) in data.iter().enumerate() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return Some(i),
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Index just past the `[` that opens the events of `doc`: the document's own `[`, or the
/// value of a top-level `"Records"` key, when what follows it is an object (or nothing, or the
/// end of the array): an array of events. `None` when there is none.
pub(crate) fn events_array(doc: &[u8]) -> Option<usize> {
    let ws = |i: usize| i + doc.get(i..).map_or(0, |d| d.iter().take_while(|c| c.is_ascii_whitespace()).count());
    let of_events = |open: usize| matches!(doc.get(ws(open)), None | Some(b'{' | b']')).then_some(open);
    let start = ws(if doc.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 });
    match doc.get(start)? {
        b'[' => of_events(start + 1),
        b'{' => {
            let mut i = start + 1;
            loop {
                i = ws(i);
                if doc.get(i) != Some(&b'"') {
                    return None;
                }
                // The key: a string (its closing quote is the first one not escaped).
                let key_start = i + 1;
                let key_len = element_end_of_string(&doc[key_start..])?;
                let key = &doc[key_start..key_start + key_len];
                i = ws(key_start + key_len + 1);
                if doc.get(i) != Some(&b':') {
                    return None;
                }
                i = ws(i + 1);
                if key == b"Records" && doc.get(i) == Some(&b'[') {
                    return of_events(i + 1);
                }
                i += element_end(doc.get(i..)?)?;
                if doc.get(i) != Some(&b',') {
                    return None;
                }
                i += 1;
            }
        }
        _ => None,
    }
}

/// Length of the string body at `data` (just after its opening quote), up to its closing quote.
fn element_end_of_string(data: &[u8]) -> Option<usize> {
    let mut esc = false;
    for (i, &c) in data.iter().enumerate() {
        match (esc, c) {
            (true, _) => esc = false,
            (false, b'\\') => esc = true,
            (false, b'"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// What a path holds: its files, and the entries under it that could not be listed.
#[derive(Debug, Default)]
pub struct Listing {
    /// Files in name order (the path itself when it is not a directory).
    pub files: Vec<PathBuf>,
    /// Entries that could not be listed or are not files one can read (a missing path, an
    /// unreadable directory, a dangling link, a socket or device inside a tree).
    pub errors: Vec<ReadError>,
}

/// Lists the files under `path` (itself if it is not a directory: a file, a pipe), sorted,
/// skipping hidden names, following links, without stopping at an entry that cannot be read.
pub fn list_inputs(path: &Path) -> Listing {
    let mut out = Listing::default();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.errors.push(ReadError::io(path, e));
            return out;
        }
    };
    if !meta.is_dir() {
        out.files.push(path.to_path_buf());
        return out;
    }
    let walk = walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name();
    let mut it = walk.into_iter();
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let at = e.path().unwrap_or(path).to_path_buf();
                out.errors.push(ReadError::Io { path: at, source: e.into() });
                continue;
            }
        };
        let hidden = entry.depth() > 0 && entry.file_name().to_str().is_some_and(|n| n.starts_with('.'));
        if hidden {
            if entry.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        let kind = entry.file_type();
        if kind.is_file() {
            out.files.push(entry.into_path());
        } else if !kind.is_dir() {
            let what = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
            out.errors.push(ReadError::io(entry.path(), what));
        }
    }
    out
}

/// Lists the files under `path` like [`list_inputs`], failing when any entry cannot be listed.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let Listing { files, mut errors } = list_inputs(path);
    match errors.len() {
        0 => Ok(files),
        1 => Err(errors.remove(0)),
        _ => Err(ReadError::Several(errors)),
    }
}

/// Reads one file (plain or gzip) through the parser. A directory, or a file that cannot be
/// opened or read, is an error naming the path; what was read before a read error is kept.
pub fn read_file(parser: &mut Parser, path: &Path, sink: &mut dyn ParseSink) -> Result<(), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::io(path, source))?;
    let name = path.display().to_string();
    read_stream(parser, file, &name, sink).map_err(|source| ReadError::io(path, source))
}

/// Reads a file or a directory tree (files in name order). Every input that can be read is;
/// the ones that cannot are returned together afterwards.
pub fn read_path(parser: &mut Parser, path: &Path, sink: &mut dyn ParseSink) -> Result<(), ReadError> {
    let Listing { files, mut errors } = list_inputs(path);
    for f in files {
        if let Err(e) = read_file(parser, &f, sink) {
            errors.push(e);
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(ReadError::Several(errors)),
    }
}

/// Reads any stream: gzip or plain, any mix of NDJSON lines, delivery files, arrays and
/// pretty-printed values. `name` labels its records. An `Err` is a stream that could not be
/// read (the records before the error were delivered); bad or oversized records, a gzip
/// stream cut short or corrupt, and a decompression limit are dead letters, not errors.
pub fn read_stream(parser: &mut Parser, mut reader: impl Read, name: &str, sink: &mut dyn ParseSink) -> io::Result<()> {
    // The gzip magic is two bytes: read until both are in (a pipe may hand over one byte at a
    // time), then give them back in front of the rest.
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match reader.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let gzip = magic[..got] == [0x1f, 0x8b];
    // Compressed bytes go to the decoder in whole buffers, however the source hands them
    // over, so that what comes out of a corrupt stream or a bomb (where the decoder stops,
    // the ratio when it is checked) does not depend on the read sizes.
    let source = Counted { inner: (&magic[..got]).chain(reader), bytes: 0, failed: false, full: gzip, error: None };
    let raw = BufReader::with_capacity(1 << 16, source);
    let mut input = if gzip {
        let cfg = parser.config();
        Input::Gzip {
            dec: Box::new(GzipDecoder::new(raw)),
            out: 0,
            max_out: cfg.max_decompressed_bytes,
            max_ratio: cfg.max_decompression_ratio,
        }
    } else {
        Input::Plain(raw)
    };
    let mut buf = std::mem::take(&mut parser.read_buf);
    let mut framer = Framer::new(parser, sink, name, &mut buf);
    let result = framer.run(&mut input);
    // Keep the buffer (and its mapped pages) for the next stream, unless a document made it big.
    if buf.capacity() <= KEEP_BUFFER_BYTES {
        parser.read_buf = buf;
    }
    result
}

/// Decompresses a whole gzip message (one or more members) under the limits of `cfg`:
/// at most `min(max_document_bytes, max_decompressed_bytes)` out, and the ratio. For callers
/// that hold a message in memory (Kafka); on error, the reason to dead-letter it with.
pub fn gunzip(compressed: &[u8], cfg: &crate::ParseConfig) -> Result<Vec<u8>, DeadReason> {
    let by_document = (cfg.max_document_bytes as u64) < cfg.max_decompressed_bytes;
    let max_out = if by_document { cfg.max_document_bytes as u64 } else { cfg.max_decompressed_bytes };
    let source = BufReader::new(Counted { inner: compressed, bytes: 0, failed: false, full: true, error: None });
    let mut input = Input::Gzip {
        dec: Box::new(GzipDecoder::new(source)),
        out: 0,
        max_out,
        max_ratio: cfg.max_decompression_ratio,
    };
    let mut doc = Vec::with_capacity(compressed.len().saturating_mul(8).min(max_out as usize));
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match input.read(&mut chunk) {
            Ok(0) => return Ok(doc),
            Ok(n) => doc.extend_from_slice(&chunk[..n]),
            Err(Fault::Limit(DeadReason::DecompressionLimit { decompressed, setting, .. }))
                if by_document && setting == "parse.max_decompressed_bytes" =>
            {
                // Over the document limit (the smaller one): a document too large.
                let bytes = usize::try_from(decompressed).unwrap_or(usize::MAX);
                return Err(DeadReason::TooLarge { bytes, max_bytes: cfg.max_document_bytes });
            }
            Err(Fault::Limit(reason)) => return Err(reason),
            Err(Fault::Cut(e) | Fault::Corrupt(e) | Fault::Io(e)) => {
                return Err(DeadReason::Compression(format!("gzip: {e}")));
            }
        }
    }
}

/// Counts the bytes read from the source and remembers whether it failed (so a gzip error is
/// told from an I/O error underneath it). With `full`, a read fills the whole buffer unless
/// the source ends (an error after some bytes is returned by the next read), so the reads
/// of a pipe, a socket or a file are the same.
struct Counted<R> {
    inner: R,
    bytes: u64,
    failed: bool,
    full: bool,
    /// An error met after some bytes of a `full` read: returned by the next read.
    error: Option<io::Error>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            self.failed = true;
            return Err(e);
        }
        let mut got = 0;
        loop {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.bytes += n as u64;
                    got += n;
                    if !self.full || got == buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got > 0 => {
                    self.error = Some(e);
                    break;
                }
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(got)
    }
}

/// Why reading a stream stopped early.
enum Fault {
    /// The source itself failed: the input could not be read.
    Io(io::Error),
    /// The compressed stream ends before its end (cut short).
    Cut(io::Error),
    /// The compressed bytes do not decompress.
    Corrupt(io::Error),
    /// A decompression limit: the reason to dead-letter with.
    Limit(DeadReason),
}

enum Input<R> {
    Plain(BufReader<Counted<R>>),
    Gzip {
        /// Boxed: the inflate state is large beside a plain reader.
        dec: Box<GzipDecoder<BufReader<Counted<R>>>>,
        /// Bytes decompressed so far.
        out: u64,
        max_out: u64,
        max_ratio: u64,
    },
}

impl<R: Read> Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Fault> {
        match self {
            Input::Plain(r) => loop {
                match r.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => return other.map_err(Fault::Io),
                }
            },
            Input::Gzip { dec, out, max_out, max_ratio } => {
                // Up to the limit exactly; at it, one byte more says whether the stream goes on.
                let mut probe = [0u8; 1];
                let room = usize::try_from(*max_out - (*out).min(*max_out)).unwrap_or(usize::MAX);
                let len = room.min(buf.len());
                let into = if room == 0 { &mut probe[..] } else { &mut buf[..len] };
                let n = loop {
                    match dec.read(into) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if dec.get_ref().get_ref().failed => return Err(Fault::Io(e)),
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(Fault::Cut(e)),
                        Err(e) => return Err(Fault::Corrupt(e)),
                    }
                };
                *out += n as u64;
                // Compressed bytes the decoder consumed: read from the source, less what is
                // still buffered.
                let src = dec.get_ref();
                let compressed = src.get_ref().bytes - src.buffer().len() as u64;
                let limit = |setting, limit| {
                    Fault::Limit(DeadReason::DecompressionLimit { decompressed: *out, compressed, setting, limit })
                };
                if *out > *max_out {
                    return Err(limit("parse.max_decompressed_bytes", *max_out));
                }
                if *max_ratio > 0
                    && *out >= RATIO_CHECK_AFTER_BYTES
                    && *out > max_ratio.saturating_mul(compressed.max(1))
                {
                    return Err(limit("parse.max_decompression_ratio", *max_ratio));
                }
                Ok(n)
            }
        }
    }
}

/// Bytes read from the source per fill (and the least the buffer grows by).
const CHUNK: usize = 4 << 20;

/// The read buffer is kept for the next stream up to this capacity (64 MiB).
const KEEP_BUFFER_BYTES: usize = 64 << 20;

/// A record that is being skipped because it is over its limit.
struct Oversized {
    /// Its first bytes.
    prefix: Vec<u8>,
    /// Its length so far.
    bytes: usize,
    /// The limit it is over.
    limit: usize,
    /// Its line.
    position: u64,
}

/// The scanner of a value spread over lines (or being skipped): where it stands.
#[derive(Default)]
struct Scanner {
    depth: usize,
    /// Kinds of the open containers (true: array), up to [`Scanner::TRACKED`] levels.
    arrays: Vec<bool>,
    in_str: bool,
    esc: bool,
    /// Last byte outside strings that is not whitespace (`"` after a string).
    prev: u8,
    /// The next byte is the first of a line.
    line_start: bool,
}

/// Where a scanned value ends.
enum Stop {
    /// Its closing bracket is at `.0 - 1`.
    Closed(usize),
    /// A newline inside a string at `.0`: the value cannot be complete; it ends there.
    NewlineInString(usize),
    /// A line starting at `.0` opens a value where the open one allows none: the open one
    /// ends before that line.
    Resync(usize),
}

impl Scanner {
    const TRACKED: usize = 1024;

    /// True when an object or array may open here (only asked at the start of a line).
    fn may_open(&self) -> bool {
        if self.depth == 0 || self.depth > self.arrays.len() {
            return true;
        }
        match self.arrays.last() {
            Some(true) => matches!(self.prev, b'[' | b','),
            Some(false) => self.prev == b':',
            None => true,
        }
    }

    /// Scans `data`, the bytes after the last ones scanned (the first call starts at the
    /// value's opening bracket). `None`: the value goes on past `data`.
    fn feed(&mut self, data: &[u8]) -> Option<Stop> {
        let mut i = 0;
        while i < data.len() {
            if self.in_str {
                if self.esc {
                    self.esc = false;
                    if data[i] == b'\n' {
                        return Some(Stop::NewlineInString(i));
                    }
                    i += 1;
                    continue;
                }
                let k = memchr::memchr3(b'"', b'\\', b'\n', &data[i..])?;
                i += k;
                match data[i] {
                    b'"' => {
                        self.in_str = false;
                        self.prev = b'"';
                    }
                    b'\\' => self.esc = true,
                    _ => return Some(Stop::NewlineInString(i)),
                }
                i += 1;
                continue;
            }
            let c = data[i];
            let line_start = std::mem::replace(&mut self.line_start, false);
            match c {
                b'\n' => self.line_start = true,
                b' ' | b'\t' | b'\r' => {}
                b'"' => self.in_str = true,
                b'{' | b'[' => {
                    if line_start && !self.may_open() {
                        return Some(Stop::Resync(i));
                    }
                    self.depth += 1;
                    if self.arrays.len() < Self::TRACKED {
                        self.arrays.push(c == b'[');
                    }
                    self.prev = c;
                }
                b'}' | b']' => {
                    if self.depth <= self.arrays.len() {
                        self.arrays.pop();
                    }
                    self.depth = self.depth.saturating_sub(1);
                    self.prev = c;
                    if self.depth == 0 {
                        return Some(Stop::Closed(i + 1));
                    }
                }
                _ => self.prev = c,
            }
            i += 1;
        }
        None
    }
}

/// A sink that re-labels the dead letters of the last record of a stream that stopped early:
/// `Truncated` becomes the stream's own reason (the JSON ended because the stream did).
struct CutSink<'a> {
    inner: &'a mut dyn ParseSink,
    reason: &'a DeadReason,
    relabelled: bool,
}

impl ParseSink for CutSink<'_> {
    fn batch(&mut self, batch: arrow_array::RecordBatch) {
        self.inner.batch(batch);
    }
    fn dead(&mut self, mut dead: DeadLetter) {
        if dead.reason == DeadReason::Truncated {
            dead.reason = self.reason.clone();
            self.relabelled = true;
        }
        self.inner.dead(dead);
    }
}

/// Splits a stream into records and hands them to the parser (see the module docs).
struct Framer<'a> {
    parser: &'a mut Parser,
    sink: &'a mut dyn ParseSink,
    name: &'a str,
    /// Data is `buf[..filled]`; `buf` is always at least [`PADDING`] longer.
    buf: &'a mut Vec<u8>,
    filled: usize,
    /// Start of the bytes not yet consumed.
    pos: usize,
    /// No newline in `buf[pos..nl_from]` (where the next search for one starts).
    nl_from: usize,
    /// Newlines before `pos`.
    line: u64,
    eof: bool,
    /// Why reading stopped before the end, once it has.
    fault: Option<Fault>,
    /// The dead letter for the fault was written (with the record it cut).
    fault_reported: bool,
}

impl<'a> Framer<'a> {
    /// `buf` may hold anything (a former stream's bytes): only its length (bytes already
    /// initialised, not zeroed again) is used.
    fn new(parser: &'a mut Parser, sink: &'a mut dyn ParseSink, name: &'a str, buf: &'a mut Vec<u8>) -> Self {
        Self {
            parser,
            sink,
            name,
            buf,
            filled: 0,
            pos: 0,
            nl_from: 0,
            line: 0,
            eof: false,
            fault: None,
            fault_reported: false,
        }
    }

    /// Reads at least some more bytes (or reaches the end), moving what is unconsumed to the
    /// front of the buffer first. Offsets into the buffer shift by the returned amount.
    fn fill<R: Read>(&mut self, input: &mut Input<R>) -> usize {
        let shift = self.pos;
        if shift > 0 {
            self.buf.copy_within(shift..self.filled, 0);
            self.filled -= shift;
            self.nl_from -= shift;
            self.pos = 0;
        }
        let want = self.filled + CHUNK;
        if self.buf.len() < want + PADDING {
            if self.buf.capacity() < want + PADDING {
                // Grow by half (a document's buffer is not doubled past need).
                let target = (want + PADDING).max(self.buf.capacity() + self.buf.capacity() / 2);
                self.buf.reserve_exact(target - self.buf.len());
            }
            self.buf.resize(want + PADDING, 0);
        }
        let mut got = 0;
        while got < CHUNK / 2 {
            match input.read(&mut self.buf[self.filled + got..want]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(f) => {
                    self.fault = Some(f);
                    self.eof = true;
                    break;
                }
            }
        }
        self.filled += got;
        self.parser.stats.bytes += got as u64;
        shift
    }

    fn run<R: Read>(&mut self, input: &mut Input<R>) -> io::Result<()> {
        // A byte-order mark at the very start is skipped.
        while self.filled < 3 && !self.eof {
            self.fill(input);
        }
        if self.buf[..self.filled].starts_with(b"\xEF\xBB\xBF") {
            self.pos = 3;
            self.nl_from = 3;
        }
        loop {
            // Whitespace between records.
            loop {
                let ws = self.buf[self.pos..self.filled].iter().take_while(|c| c.is_ascii_whitespace()).count();
                self.line += memchr::memchr_iter(b'\n', &self.buf[self.pos..self.pos + ws]).count() as u64;
                self.pos += ws;
                self.nl_from = self.nl_from.max(self.pos);
                if self.pos < self.filled {
                    break;
                }
                if self.eof {
                    return self.finish();
                }
                self.fill(input);
            }
            self.record(input);
        }
    }

    /// The limit of the record starting at `pos` (its first bytes tell an event from a document).
    fn limit(&self) -> usize {
        let head = &self.buf[self.pos..self.filled.min(self.pos + 32)];
        let cfg = self.parser.config();
        if looks_like_container(head) {
            cfg.max_document_bytes
        } else {
            cfg.max_event_bytes
        }
    }

    /// Reads the record that starts at `pos` (a byte that is not whitespace).
    fn record<R: Read>(&mut self, input: &mut Input<R>) {
        let first = self.buf[self.pos];
        loop {
            let line_end = match memchr::memchr(b'\n', &self.buf[self.nl_from..self.filled]) {
                Some(k) => Some(self.nl_from + k),
                None if self.eof => Some(self.filled),
                None => None,
            };
            let Some(end) = line_end else {
                self.nl_from = self.filled;
                if self.filled - self.pos > self.limit() {
                    return self.oversized(input, None);
                }
                self.fill(input);
                continue;
            };
            // The fast path: a line that is one value (an NDJSON event, a delivery file or
            // array on one line), or anything not opening with a bracket (bad data, one line).
            let trimmed = self.buf[self.pos..end].trim_ascii_end();
            let last = trimmed.last().copied().unwrap_or(first);
            let one_line = match first {
                b'{' => last == b'}',
                b'[' => last == b']',
                _ => true,
            };
            if one_line {
                let len = trimmed.len();
                let at_end = end == self.filled;
                self.emit(self.pos, len, self.line + 1, at_end);
                self.line += u64::from(end < self.filled);
                self.pos = (end + 1).min(self.filled);
                self.nl_from = self.pos;
                return;
            }
            return self.value(input);
        }
    }

    /// A value that opens with a bracket and does not close on its first line.
    fn value<R: Read>(&mut self, input: &mut Input<R>) {
        let limit = self.limit();
        let position = self.line + 1;
        let mut scan = Scanner::default();
        let mut at = self.pos; // next byte to scan
        loop {
            if let Some(stop) = scan.feed(&self.buf[at..self.filled]) {
                let (end, next) = match stop {
                    Stop::Closed(k) => (at + k, at + k),
                    Stop::NewlineInString(k) | Stop::Resync(k) => (at + k, at + k),
                };
                let len = self.buf[self.pos..end].trim_ascii_end().len();
                let newlines = memchr::memchr_iter(b'\n', &self.buf[self.pos..next]).count() as u64;
                self.emit(self.pos, len, position, false);
                self.line += newlines;
                self.pos = next;
                self.nl_from = next;
                return;
            }
            at = self.filled;
            if self.eof {
                // The stream ended inside the value.
                let len = self.filled - self.pos;
                let newlines = memchr::memchr_iter(b'\n', &self.buf[self.pos..self.filled]).count() as u64;
                self.emit(self.pos, len, position, true);
                self.line += newlines;
                self.pos = self.filled;
                self.nl_from = self.filled;
                return;
            }
            if self.filled - self.pos > limit {
                return self.oversized(input, Some(scan));
            }
            let shift = self.fill(input);
            at -= shift;
        }
    }

    /// Skips the record at `pos`, over its limit, to its end, keeping its first bytes. A
    /// value that does not close on its first line (`scan`: scanned up to `filled`) ends at
    /// its closing bracket, like any such value; a line ends at its newline (after its value
    /// when it opens with a bracket, so that a pretty-printed value whose first line is the
    /// big one is skipped whole).
    fn oversized<R: Read>(&mut self, input: &mut Input<R>, scan: Option<Scanner>) {
        let limit = self.limit();
        let keep = (self.filled - self.pos).min(DEAD_LETTER_PREFIX_BYTES);
        let mut big = Oversized {
            prefix: self.buf[self.pos..self.pos + keep].to_vec(),
            bytes: 0,
            limit,
            position: self.line + 1,
        };
        // What ends the record: the scanner's stop, else (`None`) a newline.
        let mut scan = match scan {
            Some(s) => Some((s, false)),
            None if matches!(self.buf[self.pos], b'{' | b'[') => {
                // A line: scan what is buffered (no newline is) for its value's end.
                let mut s = Scanner::default();
                match s.feed(&self.buf[self.pos..self.filled]) {
                    None => Some((s, true)),
                    Some(_) => None,
                }
            }
            None => None,
        };
        loop {
            // `buf[pos..filled]` is all part of the record: count it and drop it.
            big.bytes += self.filled - self.pos;
            self.line += memchr::memchr_iter(b'\n', &self.buf[self.pos..self.filled]).count() as u64;
            self.pos = self.filled;
            self.nl_from = self.filled;
            if self.eof {
                return self.skipped(big, true);
            }
            self.fill(input);
            let data = &self.buf[..self.filled];
            let mut end = None;
            if let Some((s, then_line)) = scan.as_mut() {
                match s.feed(data) {
                    None => {}
                    Some(Stop::Closed(k)) if *then_line => {
                        // The line's value closed: the line goes on to its newline.
                        end = memchr::memchr(b'\n', &data[k..]).map(|n| k + n);
                        scan = None;
                        if end.is_none() {
                            // Not in this chunk: drop it, look for the newline in the next.
                            continue;
                        }
                    }
                    Some(Stop::Closed(k) | Stop::NewlineInString(k) | Stop::Resync(k)) => end = Some(k),
                }
            } else {
                end = memchr::memchr(b'\n', data);
            }
            if let Some(end) = end {
                big.bytes += end;
                self.line += memchr::memchr_iter(b'\n', &data[..end]).count() as u64;
                self.pos = end;
                self.nl_from = end;
                return self.skipped(big, false);
            }
        }
    }

    /// Dead-letters a skipped record: over its limit, or the record a fault cut.
    fn skipped(&mut self, big: Oversized, at_end: bool) {
        let reason = match (&self.fault, at_end) {
            (Some(f), true) => {
                self.fault_reported = true;
                fault_reason(f)
            }
            _ => DeadReason::TooLarge { bytes: big.bytes, max_bytes: big.limit },
        };
        self.parser.dead(self.sink, self.name, big.position, reason, big.prefix, big.bytes);
    }

    /// Parses `buf[start..start + len]`. `at_end`: the record ends because the stream did.
    fn emit(&mut self, start: usize, len: usize, position: u64, at_end: bool) {
        let fault = if at_end { self.fault.as_ref() } else { None };
        match fault {
            None => self.parser.document(&mut self.buf[start..], len, self.name, position, None, self.sink),
            Some(Fault::Limit(reason)) => {
                // A decompression bomb: the record in progress is not parsed.
                let reason = reason.clone();
                self.fault_reported = true;
                let keep = len.min(DEAD_LETTER_PREFIX_BYTES);
                let prefix = self.buf[start..start + keep].to_vec();
                self.parser.dead(self.sink, self.name, position, reason, prefix, len);
            }
            Some(f) => {
                let reason = fault_reason(f);
                let mut cut = CutSink { inner: &mut *self.sink, reason: &reason, relabelled: false };
                self.parser.document(&mut self.buf[start..], len, self.name, position, None, &mut cut);
                self.fault_reported |= cut.relabelled;
            }
        }
    }

    /// End of the stream: a fault no record carried gets a dead letter of its own.
    fn finish(&mut self) -> io::Result<()> {
        let Some(fault) = self.fault.take() else {
            return Ok(());
        };
        if !self.fault_reported && !matches!(fault, Fault::Io(_)) {
            // Where the lost bytes begin: the next line (after the newline the last record,
            // complete, was cut before).
            let open_line = self.filled > 0 && self.buf[self.filled - 1] != b'\n';
            let position = self.line + 1 + u64::from(open_line);
            self.parser.dead(self.sink, self.name, position, fault_reason(&fault), Vec::new(), 0);
        }
        match fault {
            Fault::Io(e) => Err(e),
            _ => Ok(()),
        }
    }
}

/// The dead-letter reason for the record a fault cut.
fn fault_reason(f: &Fault) -> DeadReason {
    match f {
        Fault::Io(e) => DeadReason::TruncatedStream(format!("read error: {e}")),
        Fault::Cut(e) => DeadReason::TruncatedStream(format!("gzip: {e}")),
        Fault::Corrupt(e) => DeadReason::Compression(format!("gzip: {e}")),
        Fault::Limit(r) => r.clone(),
    }
}
