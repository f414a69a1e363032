//! Framing: files, directories, gzip and stdin into documents for the [`Parser`].
//!
//! A stream is either **one document** (a CloudTrail delivery file `{"Records":[...]}`, a JSON
//! array, or a pretty-printed object) or **NDJSON** (one event per line). The first bytes
//! decide; gzip is recognised by its magic number whatever the file is called.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::{DeadReason, ParseSink, Parser, PADDING};

/// A source that could not be read at all (as opposed to a bad record inside it).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed (missing file, permissions, corrupt gzip stream).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path (or `-`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
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

/// Lists the files under `path` (itself if it is a file), sorted, skipping hidden names.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let meta = std::fs::metadata(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.map_err(|e| ReadError::Io { path: path.to_path_buf(), source: e.into() })?;
        let hidden = entry.file_name().to_str().is_some_and(|n| n.starts_with('.'));
        if entry.file_type().is_file() && !hidden {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Reads one file (plain or gzip) through the parser.
pub fn read_file(parser: &mut Parser, path: &Path, sink: &mut dyn ParseSink) -> Result<(), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    let name = path.display().to_string();
    read_stream(parser, file, &name, sink).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })
}

/// Reads a file or a directory tree (files in name order).
pub fn read_path(parser: &mut Parser, path: &Path, sink: &mut dyn ParseSink) -> Result<(), ReadError> {
    for f in list_files(path)? {
        read_file(parser, &f, sink)?;
    }
    Ok(())
}

/// Reads any stream: gzip or plain, one document or NDJSON. `name` labels its records.
pub fn read_stream(parser: &mut Parser, reader: impl Read, name: &str, sink: &mut dyn ParseSink) -> io::Result<()> {
    let mut buffered = BufReader::with_capacity(1 << 16, reader);
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    if gzip {
        let mut dec = BufReader::with_capacity(1 << 16, MultiGzDecoder::new(buffered));
        read_plain(parser, &mut dec, name, sink)
    } else {
        read_plain(parser, &mut buffered, name, sink)
    }
}

fn read_plain(parser: &mut Parser, reader: &mut dyn BufRead, name: &str, sink: &mut dyn ParseSink) -> io::Result<()> {
    let head = reader.fill_buf()?;
    if looks_like_container(head) {
        // The parser's document buffer is reused from one stream to the next: a delivery file
        // is read into memory the kernel has already mapped.
        let mut doc = std::mem::take(&mut parser.padded);
        doc.clear();
        let limit = parser.config().max_document_bytes as u64;
        reader.take(limit + 1).read_to_end(&mut doc)?;
        if doc.len() as u64 > limit {
            let max_bytes = parser.config().max_document_bytes;
            let bytes = doc.len();
            parser.stats.bytes += bytes as u64;
            parser.dead(sink, name, 1, DeadReason::TooLarge { bytes, max_bytes }, doc);
            // Drain what is left so the caller's stream position is consistent.
            io::copy(reader, &mut io::sink())?;
            return Ok(());
        }
        // Parse in place in the buffer just read (padded), rather than in a padded copy.
        let len = doc.len();
        doc.resize(len + PADDING, 0);
        parser.parse_in_place(&mut doc, len, name, 1, None, sink);
        parser.padded = doc;
        return Ok(());
    }
    read_lines(parser, reader, name, sink)
}

/// NDJSON: reads big chunks and parses every complete line in place, with the rest of the
/// buffer (and a zeroed tail) as simd-json's padding.
fn read_lines(parser: &mut Parser, reader: &mut dyn BufRead, name: &str, sink: &mut dyn ParseSink) -> io::Result<()> {
    const CHUNK: usize = 4 << 20;
    // Reuse the parser's buffer (and its mapped pages) from one stream to the next.
    let mut buf: Vec<u8> = std::mem::take(&mut parser.padded);
    buf.clear();
    buf.reserve(CHUNK + PADDING);
    let mut filled = 0usize; // bytes of data at the front of buf
    let mut line_no = 0u64;
    let mut eof = false;
    loop {
        // Fill: make room for a chunk plus padding and read into it.
        if !eof {
            let want = filled + CHUNK.max(filled / 2);
            buf.resize(want + PADDING, 0);
            let mut got = 0;
            while filled + got < want {
                let n = reader.read(&mut buf[filled + got..want])?;
                if n == 0 {
                    eof = true;
                    break;
                }
                got += n;
                if got >= CHUNK / 2 {
                    break;
                }
            }
            filled += got;
        }
        // Zero the padding after the data so the last line has its required tail.
        buf.truncate(filled);
        buf.resize(filled + PADDING, 0);
        let mut start = 0usize;
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..filled]) {
            let end = start + nl;
            line_no += 1;
            parser.stats.bytes += 1; // the newline
            parse_line(parser, &mut buf, start, end, name, line_no, sink);
            start = end + 1;
        }
        if eof {
            if start < filled {
                line_no += 1;
                parse_line(parser, &mut buf, start, filled, name, line_no, sink);
            }
            parser.padded = buf;
            return Ok(());
        }
        // Keep the partial last line for the next round.
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

fn parse_line(
    parser: &mut Parser,
    buf: &mut [u8],
    start: usize,
    end: usize,
    name: &str,
    line_no: u64,
    sink: &mut dyn ParseSink,
) {
    let mut end = end;
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
        parser.stats.bytes += 1;
    }
    let line = &buf[start..end];
    if line.iter().all(u8::is_ascii_whitespace) {
        parser.stats.bytes += (end - start) as u64;
        return;
    }
    parser.parse_in_place(&mut buf[start..], end - start, name, line_no, None, sink);
}
