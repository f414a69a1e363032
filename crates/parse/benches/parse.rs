//! Parse throughput: generated CloudTrail → Arrow `RecordBatch`es, against simd-json baselines.
//!
//! `cargo bench -p trailhound-parse --bench parse -- --measurement-time 10`
//! (`TRAILHOUND_BENCH_CPU=1` measures the thread's CPU time instead of wall-clock time: see
//! `common/cpu_time.rs`).
//!
//! The input is generated once (fixed seed) into memory, so the numbers are CPU only:
//! - `parse_bytes/*`, `parse_events/*`: `read_stream` of the NDJSON through [`Parser`] into a
//!   sink that drops the batches (bytes/s and events/s of the same work);
//! - `parse_bytes/records_plain`, `parse_bytes/records_gzip`: the same events as one
//!   CloudTrail delivery file `{"Records":[...]}`, plain and gzipped (throughput counted in
//!   uncompressed bytes, as the parser counts them); `records_gzip_500`: as 100 gzipped
//!   delivery files of 500 records, each read with its own `read_stream`;
//! - `baseline/*`: simd-json alone over the same lines: `to_tape` (allocating its buffers per
//!   call), `fill_tape_padded` with reused buffers (what the parser calls), and serde
//!   deserialization into a small struct of six borrowed `&str` fields; `gunzip_100_files`
//!   is flate2 alone over the 100 gzipped files, and `memcpy_lines` the copy of each line.

#![allow(missing_docs)]

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::sync::OnceLock;

use arrow_array::RecordBatch;
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};
use trailhound_gen::{generate, GenConfig};
use trailhound_parse::{read::read_stream, DeadLetter, ParseConfig, ParseSink, Parser, PADDING};

/// Events generated for the bench (about 1.7 KB each).
const EVENTS: u64 = 50_000;

/// Records per delivery file in `records_gzip_500`.
const FILE_RECORDS: usize = 500;

/// Counts what it is given and drops it.
#[derive(Default)]
struct DropSink {
    rows: usize,
    dead: usize,
}

impl ParseSink for DropSink {
    fn batch(&mut self, batch: RecordBatch) {
        self.rows += batch.num_rows();
    }
    fn dead(&mut self, _dead: DeadLetter) {
        self.dead += 1;
    }
}

fn ndjson() -> Vec<u8> {
    let cfg = GenConfig { seed: 42, events: EVENTS, ..GenConfig::default() };
    let mut out = Vec::new();
    generate(&cfg, &mut out, None::<Vec<u8>>).expect("in-memory generation");
    out
}

fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect()
}

/// The same events as one delivery file `{"Records":[...]}`.
fn records_file(lines: &[&[u8]]) -> Vec<u8> {
    let mut doc = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 16);
    doc.extend_from_slice(b"{\"Records\":[");
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(l);
    }
    doc.extend_from_slice(b"]}");
    doc
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

fn run_parser(parser: &mut Parser, input: &[u8]) -> usize {
    let mut sink = DropSink::default();
    read_stream(parser, input, "bench", &mut sink).expect("in-memory read");
    parser.flush(&mut sink);
    assert_eq!(sink.dead, 0, "generated events all parse");
    sink.rows
}

/// The small struct of the "simd-json into a struct" reference.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Small<'a> {
    event_time: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    event_name: &'a str,
    event_source: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
}

#[path = "common/cpu_time.rs"]
mod cpu_time;

fn benches<M: Measurement>(c: &mut Criterion<M>) {
    let data = ndjson();
    let lines = lines(&data);
    let events = lines.len() as u64;
    let bytes = data.len() as u64;
    eprintln!("input: {events} events, {bytes} bytes NDJSON ({:.0} B/event)", bytes as f64 / events as f64);
    // Built on first use only, so a filtered run (profiling) does not pay for them.
    let records_cell = OnceLock::new();
    let records = || records_cell.get_or_init(|| records_file(&lines));
    let gz_cell = OnceLock::new();
    let records_gz = || {
        gz_cell.get_or_init(|| {
            let gz = gzip(records());
            eprintln!("delivery file: {} bytes, gzipped {} bytes", records().len(), gz.len());
            gz
        })
    };

    // The same events as 100 gzipped delivery files of 500 records (~0.85 MB each before
    // compression), closer to what S3 delivers than one 84 MB file.
    let files_cell = OnceLock::new();
    let files_gz = || {
        files_cell.get_or_init(|| {
            let files: Vec<Vec<u8>> = lines.chunks(FILE_RECORDS).map(|chunk| gzip(&records_file(chunk))).collect();
            let plain: usize = lines.chunks(FILE_RECORDS).map(|c| records_file(c).len()).sum();
            eprintln!(
                "{} delivery files: {plain} bytes, gzipped {} bytes",
                files.len(),
                files.iter().map(Vec::len).sum::<usize>()
            );
            (files, plain as u64)
        })
    };
    let run_files = |parser: &mut Parser, files: &[Vec<u8>]| -> usize {
        files.iter().map(|f| run_parser(parser, black_box(f))).sum()
    };

    let mut parser = Parser::new(ParseConfig::default());
    assert_eq!(run_parser(&mut parser, &data) as u64, events);

    let mut g = c.benchmark_group("parse_bytes");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("ndjson", |b| b.iter(|| run_parser(&mut parser, black_box(&data))));
    // The delivery file is the same lines joined by commas plus 13 bytes of wrapper.
    g.throughput(Throughput::Bytes(bytes + 13));
    g.bench_function("records_plain", |b| {
        let input = records();
        b.iter(|| run_parser(&mut parser, black_box(input)))
    });
    g.bench_function("records_gzip", |b| {
        let input = records_gz();
        b.iter(|| run_parser(&mut parser, black_box(input)))
    });
    // Each file: its lines joined by commas, plus the 14 bytes of `{"Records":[` and `]}`.
    let files_bytes: usize =
        lines.chunks(FILE_RECORDS).map(|c| c.iter().map(|l| l.len() + 1).sum::<usize>() + 13).sum();
    g.throughput(Throughput::Bytes(files_bytes as u64));
    g.bench_function("records_gzip_500", |b| {
        let (files, plain) = files_gz();
        assert_eq!(*plain, files_bytes as u64);
        b.iter(|| run_files(&mut parser, files))
    });
    g.finish();

    let mut g = c.benchmark_group("parse_events");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events));
    g.bench_function("ndjson", |b| b.iter(|| run_parser(&mut parser, black_box(&data))));
    g.bench_function("records_gzip", |b| {
        let input = records_gz();
        b.iter(|| run_parser(&mut parser, black_box(input)))
    });
    g.bench_function("records_gzip_500", |b| b.iter(|| run_files(&mut parser, files_gz().0.as_slice())));
    g.finish();

    // Baselines over the same lines. Each line is copied into a padded scratch buffer first
    // (simd-json parses in place), as read_stream copies it into its read buffer.
    let mut g = c.benchmark_group("baseline");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    let mut scratch: Vec<u8> = Vec::with_capacity(1 << 20);
    g.bench_function("simd_json_to_tape", |b| {
        b.iter(|| {
            let mut nodes = 0usize;
            for l in &lines {
                scratch.clear();
                scratch.extend_from_slice(l);
                let tape = simd_json::to_tape(&mut scratch).expect("valid json");
                nodes += tape.0.len();
            }
            nodes
        })
    });
    let mut buffers = simd_json::Buffers::with_max_depth(64 << 10, 64);
    let mut tape_store = Some(simd_json::Tape::null());
    g.bench_function("simd_json_fill_tape_reused", |b| {
        b.iter(|| {
            let mut nodes = 0usize;
            for l in &lines {
                scratch.clear();
                scratch.extend_from_slice(l);
                scratch.resize(l.len() + PADDING, 0);
                let mut tape = tape_store.take().unwrap_or_else(simd_json::Tape::null).reset();
                simd_json::fill_tape_padded(&mut scratch, l.len(), &mut buffers, &mut tape).expect("valid json");
                nodes += tape.0.len();
                tape_store = Some(tape.reset());
            }
            nodes
        })
    });
    g.bench_function("simd_json_serde_small_struct", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for l in &lines {
                scratch.clear();
                scratch.extend_from_slice(l);
                let s: Small<'_> = simd_json::serde::from_slice(&mut scratch).expect("small struct");
                n += s.event_name.len();
            }
            n
        })
    });
    g.throughput(Throughput::Bytes(files_bytes as u64));
    g.bench_function("gunzip_100_files", |b| {
        let (files, _) = files_gz();
        b.iter(|| {
            let mut n = 0usize;
            for f in files {
                scratch.clear();
                flate2::read::MultiGzDecoder::new(f.as_slice()).read_to_end(&mut scratch).expect("gunzip");
                n += scratch.len();
            }
            n
        })
    });
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("memcpy_lines", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for l in &lines {
                scratch.clear();
                scratch.extend_from_slice(l);
                n += black_box(&scratch).len();
            }
            n
        })
    });
    g.finish();
}

fn main() {
    if cpu_time::requested() {
        let mut c = Criterion::default().with_measurement(cpu_time::ThreadCpuTime::new()).configure_from_args();
        benches(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
}
