//! Peak memory of the parser on hostile input (the figures in the README's limits and in
//! `docs/BENCHMARKS.md`):
//!
//! ```sh
//! cargo run --release -p trailhound-parse --example bounded_memory
//! ```
//!
//! Every input is generated while it is read (a 600 MB line is never held by this program),
//! so the peak resident memory of each case (`VmHWM`, reset between cases through
//! `/proc/self/clear_refs`) is the parser's:
//! 1. 100,000 ordinary NDJSON events (the baseline);
//! 2. one line of 600 MB without a newline (`{"pad":"xxx…`), then an event;
//! 3. 600 MB of bytes that are not JSON on one line, then an event;
//! 4. a gzip bomb: 2 GiB of zeros, gzipped (about 2 MB, made first);
//! 5. a delivery file of 100 MB (about 220,000 events), read whole: the document and
//!    simd-json's tape of it;
//! 6. a delivery file `{"Records":[…` of 600 MB on one line, over `max_document_bytes`
//!    (512 MiB by default): held up to the limit, then skipped.
//!
//! Default limits throughout. Linux only (`/proc`).

use std::error::Error;
use std::io::{self, Cursor, Read, Write as _};
use std::time::Instant;

use arrow_array::RecordBatch;
use trailhound_parse::read::read_stream;
use trailhound_parse::{DeadLetter, ParseConfig, ParseSink, Parser};

/// `len` bytes of `fill` after `head`, then `tail`, made as they are read.
struct Lazy {
    head: Cursor<Vec<u8>>,
    left: u64,
    fill: u8,
    tail: Cursor<Vec<u8>>,
}

impl Read for Lazy {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if self.left == 0 {
            return self.tail.read(buf);
        }
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(self.fill);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A delivery file `{"Records":[…]}` of about `bytes` bytes of events, made as it is read.
struct Delivery {
    out: Cursor<Vec<u8>>,
    next: usize,
    left: i64,
    done: bool,
}

impl Read for Delivery {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.out.read(buf)?;
            if n > 0 || self.done {
                return Ok(n);
            }
            let mut chunk = Vec::with_capacity(1 << 16);
            if self.next == 0 {
                chunk.extend_from_slice(b"{\"Records\":[");
            }
            while chunk.len() < 1 << 16 && self.left > 0 {
                if self.next > 0 {
                    chunk.push(b',');
                }
                let e = event(self.next);
                self.left -= e.len() as i64 + 1;
                chunk.extend_from_slice(e.as_bytes());
                self.next += 1;
            }
            if self.left <= 0 {
                chunk.extend_from_slice(b"]}\n");
                self.done = true;
            }
            self.out = Cursor::new(chunk);
        }
    }
}

/// Counts rows and keeps the dead letters' kinds and lengths.
#[derive(Default)]
struct Tally {
    rows: usize,
    dead: Vec<(String, usize, usize)>,
}

impl ParseSink for Tally {
    fn batch(&mut self, batch: RecordBatch) {
        self.rows += batch.num_rows();
    }
    fn dead(&mut self, dead: DeadLetter) {
        self.dead.push((dead.reason.code().to_string(), dead.bytes, dead.raw.len()));
    }
}

/// Peak resident memory of this process since the last reset, in MiB.
fn peak_rss_mib() -> Result<f64, Box<dyn Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kb / 1024.0)
}

fn reset_peak() -> Result<(), Box<dyn Error>> {
    std::fs::write("/proc/self/clear_refs", "5")?;
    Ok(())
}

fn event(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"2024-05-01T10:00:00Z","eventID":"e{i}","eventName":"ListUsers","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15.0","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accessKeyId":"AKIA{i}","accountId":"111122223333"}}}}"#
    )
}

fn case(name: &str, input: impl Read) -> Result<(), Box<dyn Error>> {
    // A fresh parser each time: no buffer carried over from the case before.
    let mut parser = Parser::new(ParseConfig::default());
    let mut tally = Tally::default();
    reset_peak()?;
    let start = Instant::now();
    let result = read_stream(&mut parser, input, name, &mut tally);
    parser.flush(&mut tally);
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_mib()?;
    let stats = parser.stats();
    println!(
        "{name:<28} {:>8.1} MiB peak RSS {secs:>7.2} s  {} MB read  {} events  dead letters {:?}{}",
        peak,
        stats.bytes / 1_000_000,
        tally.rows,
        tally.dead,
        if result.is_err() { "  (read error)" } else { "" }
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    const MB600: u64 = 600_000_000;
    let after = || Cursor::new(format!("\n{}\n", event(1)).into_bytes());
    // Made before any case is measured.
    eprintln!("gzipping 2 GiB of zeros...");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2048 {
        gz.write_all(&zeros)?;
    }
    let bomb = gz.finish()?;
    eprintln!("bomb: {} bytes", bomb.len());
    {
        // (The 45 MB input itself is part of this peak.)
        let ndjson: String = (0..100_000).map(|i| event(i) + "\n").collect();
        case("ndjson 100k events", ndjson.as_bytes())?;
    }
    let open_line = Lazy { head: Cursor::new(b"{\"pad\":\"".to_vec()), left: MB600, fill: b'x', tail: after() };
    case("600 MB line, no newline", open_line)?;
    let junk = Lazy { head: Cursor::new(Vec::new()), left: MB600, fill: b'A', tail: after() };
    case("600 MB of non-JSON", junk)?;
    case("gzip bomb 2 GiB of zeros", bomb.as_slice())?;
    let delivery = Delivery { out: Cursor::new(Vec::new()), next: 0, left: 100_000_000, done: false };
    case("100 MB delivery file", delivery)?;
    let doc = Lazy { head: Cursor::new(b"{\"Records\":[{\"pad\":\"".to_vec()), left: MB600, fill: b'x', tail: after() };
    case("600 MB {\"Records\":[ line", doc)?;
    Ok(())
}
