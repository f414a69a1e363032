//! `trailhound-fuzz`: runs generated inputs through the parser and the framing and reports
//! panics, broken invariants and the peak memory. Exit status 0 only for a clean run.
//!
//! ```sh
//! cargo run --release -p trailhound-fuzz -- --iterations 10000000 --seed 1 --threads 2
//! cargo run --release -p trailhound-fuzz -- --seed 1 --start 123456 --iterations 1   # one input again
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use trailhound_fuzz::check;
use trailhound_fuzz::gen::{GenOptions, Generator};
use trailhound_fuzz::run::{self, Options, Report};

#[derive(clap::Parser, Debug)]
#[command(
    name = "trailhound-fuzz",
    about = "Fuzz the trailhound parser and framing (stable toolchain)",
    args_override_self = true
)]
struct Args {
    /// Number of inputs.
    #[arg(long, default_value_t = 100_000)]
    iterations: u64,
    /// Seed: with an input's index it fixes the input.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First input index (reproduce one input with `--start I --iterations 1`).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Peak RSS allowed for the whole process, MiB.
    #[arg(long, default_value_t = 512)]
    max_rss_mb: u64,
    /// Folder for failing inputs (`.bin`) and what they broke (`.txt`).
    #[arg(long, default_value = "target/fuzz-crashes")]
    crash_dir: PathBuf,
    /// Decompressed size of a gzip bomb, MiB (0: no bombs).
    #[arg(long, default_value_t = 1024)]
    bomb_mb: usize,
    /// One input in this many is a bomb (0: never).
    #[arg(long, default_value_t = 200_000)]
    bomb_one_in: u32,
    /// An input running longer than this many seconds is a hang.
    #[arg(long, default_value_t = 120)]
    hang_secs: u64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
    /// Write input `--start` of `--seed` to this file and exit (to look at it or keep it).
    #[arg(long)]
    dump: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let gen = GenOptions { bomb_mib: args.bomb_mb, bomb_one_in: args.bomb_one_in };
    if let Some(path) = &args.dump {
        let case = Generator::new(gen).case(args.seed, args.start);
        std::fs::write(path, &case.bytes).with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "input {} of seed {}: {} bytes, recipe {}",
            args.start,
            args.seed,
            case.bytes.len(),
            case.recipe.join(" ")
        );
        eprintln!(
            "config {:?}, received_time {:?}, reads of at most {} bytes",
            case.config, case.received_time, case.max_chunk
        );
        return Ok(());
    }
    let opts = Options {
        seed: args.seed,
        start: args.start,
        iterations: args.iterations,
        threads: args.threads,
        max_rss_mib: args.max_rss_mb,
        crash_dir: Some(args.crash_dir.clone()),
        gen,
        hang_after: Duration::from_secs(args.hang_secs),
        progress_every: Duration::from_secs(args.progress_secs.max(1)),
    };
    eprintln!(
        "fuzz: seed {}, inputs {}..{}, {} thread(s), max RSS {} MiB, crash folder {}",
        args.seed,
        args.start,
        args.start.saturating_add(args.iterations),
        args.threads,
        args.max_rss_mb,
        args.crash_dir.display()
    );
    let report = run::run(opts, check::target, &mut |p| {
        let secs = p.elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "fuzz: {} inputs ({:.0}/s), {} panics, {} breaches, peak RSS {} MiB",
            p.inputs,
            p.inputs as f64 / secs,
            p.panics,
            p.breaches,
            p.peak_rss_mib
        );
    })?;
    print_report(&report, &args);
    if report.clean() {
        Ok(())
    } else {
        std::process::exit(1)
    }
}

fn print_report(r: &Report, args: &Args) {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!(
        "inputs: {} in {:.1} s ({:.0}/s, {:.1} MB/s of input)",
        r.inputs,
        secs,
        r.inputs as f64 / secs,
        r.input_bytes as f64 / secs / 1e6
    );
    println!("events: {} (over the 4 runs of each input)", r.events);
    let dead: u64 = r.dead.values().sum();
    println!("dead letters: {dead}");
    for (kind, n) in &r.dead {
        println!("  {kind:<20} {n}");
    }
    println!("read_stream errors: {}", r.read_errors);
    if let Some((i, t)) = r.slowest {
        println!("slowest input: {i} ({:.1} ms)", t.as_secs_f64() * 1000.0);
    }
    for (inv, n) in &r.breaches {
        println!("breaches of {inv}: {n}");
    }
    for f in &r.failures {
        println!(
            "FAIL {} {} ({} inputs), first input {}: {}\n  recipe: {}\n  file: {}\n  reproduce: cargo run --release -p trailhound-fuzz -- --seed {} --start {} --iterations 1",
            f.invariant,
            f.class,
            f.count,
            f.index,
            clip(&f.detail, 600),
            f.recipe.join(" "),
            f.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into()),
            args.seed,
            f.index
        );
    }
    if let Some((mib, from, to)) = r.rss_exceeded {
        println!(
            "FAIL memory: peak RSS {mib} MiB over the limit of {} MiB, within inputs {from}..={to}",
            args.max_rss_mb
        );
    }
    if let Some(i) = r.hang {
        println!("FAIL hang: input {i} ran longer than {} s (stopped)", args.hang_secs);
    }
    println!("fuzz: {} inputs, {} panics, peak RSS {} MiB", r.inputs, r.panics, r.peak_rss_mib);
}

/// The first `max` bytes of `s` (at a character boundary), marked when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}
