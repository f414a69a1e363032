//! Writes the many-actors workload of [`trailhound_gen::actors`] (for `scripts/bench-state.sh`):
//!
//! ```sh
//! cargo run --release -p trailhound-gen --example actors -- --actors 1000000 --events 4000000 \
//!     --labels /tmp/actors.labels.ndjson > /tmp/actors.ndjson
//! ```
//!
//! Options: `--actors N` (100000), `--events N` (4 per actor), `--seed N` (7), `--hours N` (6),
//! `--labels FILE`, `--no-attacks`, `--out FILE` (standard output).

use std::fs::File;
use std::io::Write;

use trailhound_gen::actors::{generate_actors, ActorsConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = ActorsConfig::default();
    let mut events = None;
    let (mut labels, mut out) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--actors" => cfg.actors = value()?.parse()?,
            "--events" => events = Some(value()?.parse()?),
            "--seed" => cfg.seed = value()?.parse()?,
            "--hours" => cfg.span_ms = value()?.parse::<i64>()? * 3_600_000,
            "--labels" => labels = Some(value()?),
            "--out" => out = Some(value()?),
            "--no-attacks" => cfg.attacks = false,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    cfg.events = events.unwrap_or(cfg.actors * 4);
    let labels = labels.map(File::create).transpose()?;
    let sink: Box<dyn Write> = match out {
        Some(p) => Box::new(File::create(p)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let stats = generate_actors(&cfg, sink, labels)?;
    eprintln!(
        "{} events from {} actors ({:.0} MB), {} labels",
        stats.events,
        cfg.actors,
        stats.bytes as f64 / 1e6,
        stats.labels
    );
    Ok(())
}
