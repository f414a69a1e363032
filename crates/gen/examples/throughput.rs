//! Measures generation throughput:
//! `cargo run --release -p trailhound-gen --example throughput -- [EVENTS] [OUT] [estate|stress]`.

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use trailhound_gen::{generate, GenConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let out = args.next().unwrap_or_else(|| "/tmp/trailhound-gen-throughput.ndjson".to_string());
    let profile = args.next().map(|s| s.parse()).transpose()?.unwrap_or_default();
    let labels = format!("{out}.labels");
    let cfg = GenConfig { seed: 42, events, profile, ..GenConfig::default() };
    let started = Instant::now();
    let stats = generate(&cfg, BufWriter::new(File::create(&out)?), Some(File::create(&labels)?))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} events, {} scenarios, {:.1} MB in {:.2} s: {:.0} events/s, {:.1} MB/s ({out})",
        stats.events,
        stats.scenarios,
        stats.bytes as f64 / 1e6,
        secs,
        stats.events as f64 / secs,
        stats.bytes as f64 / 1e6 / secs
    );
    Ok(())
}
