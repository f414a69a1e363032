//! Detection throughput: `Engine::process` over pre-parsed batches of generated CloudTrail.
//!
//! `cargo bench -p trailhound-detect --bench detect -- --measurement-time 10`
//! (`TRAILHOUND_BENCH_CPU=1` measures the bench thread's CPU time instead, with one worker:
//! see `crates/parse/benches/common/cpu_time.rs`).
//!
//! About 200k events (fixed seed, attacks injected) are generated and parsed into Arrow
//! batches once, outside the timing. Each iteration builds a fresh engine with the default
//! configuration (every rule on), processes every batch in arrival order and calls
//! `finish()`; the engine is dropped outside the timing. Throughput is events/s, with one
//! worker (the default) and with two.

#![allow(missing_docs)]

use std::hint::black_box;

use arrow_array::RecordBatch;
use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use trailhound_detect::{DetectConfig, Engine};
use trailhound_gen::{generate, GenConfig};
use trailhound_parse::{read::read_stream, Collect, ParseConfig, Parser};

/// Events generated for the bench.
const EVENTS: u64 = 200_000;

fn batches() -> Vec<RecordBatch> {
    let cfg = GenConfig { seed: 42, events: EVENTS, ..GenConfig::default() };
    let mut data = Vec::new();
    generate(&cfg, &mut data, None::<Vec<u8>>).expect("in-memory generation");
    let mut parser = Parser::new(ParseConfig::default());
    let mut out = Collect::default();
    read_stream(&mut parser, data.as_slice(), "bench", &mut out).expect("in-memory read");
    parser.flush(&mut out);
    assert!(out.dead.is_empty(), "generated events all parse");
    out.batches
}

/// Runs every batch through `engine` and closes it; returns the findings published.
fn run(engine: &mut Engine, batches: &[RecordBatch]) -> usize {
    let mut findings = 0;
    for b in batches {
        findings += engine.process(black_box(b)).expect("event schema").len();
    }
    findings + engine.finish().expect("finish").len()
}

#[path = "../../parse/benches/common/cpu_time.rs"]
mod cpu_time;

fn benches<M: Measurement>(c: &mut Criterion<M>, workers: &[usize]) {
    let batches = batches();
    let events: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut g = c.benchmark_group("detect");
    // An iteration is long (the whole stream): ten of them, not criterion's 1+2+...+10.
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(events as u64));
    for &workers in workers {
        let mut cfg = DetectConfig::default();
        cfg.engine.workers = workers;
        let mut probe = Engine::new(&cfg).expect("default config is valid");
        let findings = run(&mut probe, &batches);
        eprintln!(
            "detect: {events} events in {} batches, workers={workers}: {findings} findings published",
            batches.len()
        );
        g.bench_function(format!("engine_workers_{workers}"), |b| {
            b.iter_batched(
                || Engine::new(&cfg).expect("default config is valid"),
                |mut engine| {
                    run(&mut engine, &batches);
                    engine
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn main() {
    if cpu_time::requested() {
        // CPU time of the bench thread misses the worker threads: one worker only.
        eprintln!("{}: measuring CPU time, workers=1 only", cpu_time::ENV);
        let mut c = Criterion::default().with_measurement(cpu_time::ThreadCpuTime::new()).configure_from_args();
        benches(&mut c, &[1]);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c, &[1, 2]);
        c.final_summary();
    }
}
