//! `trailhound`: the command-line front of the detector.
//!
//! - `replay` runs audit-log files or stdin through parse → detect → findings (Parquet, OCSF
//!   JSON lines) and dead letters, with a progress bar and a summary;
//! - `query` runs SQL over the Parquet findings with DataFusion;
//! - `gen` writes a synthetic CloudTrail estate with injected attacks and their labels;
//! - `eval` measures precision and recall of the findings against labelled attacks;
//! - `demo` does gen + replay + example queries + eval in one folder;
//! - `run` consumes CloudTrail from Kafka as a consumer group (the production mode);
//! - `rules` lists every rule with its tactic, techniques, severity and thresholds.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use trailhound_model::escape::Escaped;
use trailhound_pipeline::replay::{self, Input, Progress, Summary};
use trailhound_pipeline::Config;

/// mimalloc instead of the system allocator: the rules' state is many small strings and
/// vectors, and glibc's malloc cost a fifth of the detection CPU on the stress workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`, the same index in its v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS after 10 s unused instead of mimalloc's 10 ms: the
/// detection state frees and reallocates pages all the time, and returning them at once made
/// the kernel zero fresh huge pages again and again (17,700 page faults instead of 3,100 and
/// about a tenth more CPU on the 1M-event stress replay; a 1 s delay still faulted as often).
/// A `MIMALLOC_PURGE_DELAY` in the environment still wins.
#[allow(unsafe_code)]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's documented runtime options; no memory is touched.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    }
}

#[derive(Parser)]
#[command(
    name = "trailhound",
    version,
    about = "Streaming detector for attacks by stolen non-human identities in cloud audit logs"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay CloudTrail files (NDJSON, {"Records":[...]}, .json.gz, directories) or stdin (-).
    Replay {
        /// Configuration file (defaults: config/trailhound.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output directory: findings/ (Parquet), findings.ocsf.jsonl, dead-letters.ndjson, summary.json.
        #[arg(long)]
        out: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Inputs: files, directories, or - for stdin.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Run SQL over the findings (view `findings`: newest version of each finding;
    /// `findings_all`: every version stored at a flush).
    ///
    /// A missing findings directory is an error; an existing one without findings (a run
    /// that found nothing) gives 0 rows. A warning on stderr says when the last run writing
    /// there did not complete (killed or failed): its findings are what it had flushed.
    Query {
        /// Findings directory (the replay's OUT/findings; OUT itself is accepted).
        #[arg(long)]
        findings: PathBuf,
        /// Output format. `table` escapes control characters, newlines, bidi overrides and
        /// zero-width characters in cells (`\x1b`, `\n`, `\u{202e}`), so nothing from the
        /// logs acts on the terminal or fakes a row. `csv` neutralises spreadsheet formulas:
        /// a text cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
        /// `'` and is quoted (numbers stay numbers); values are otherwise exact. `json` (one
        /// object per line) is exact, every control character a JSON escape.
        #[arg(long, default_value = "table", value_name = "table|csv|json")]
        format: trailhound_lake::OutputFormat,
        /// The SQL.
        sql: String,
    },
    /// Precision and recall of the findings per rule and per labelled behaviour, against a
    /// labels file (NDJSON, as `gen --labels` writes it; see README "Evaluating on your own
    /// labelled data").
    Eval {
        /// Labels file: one JSON object per labelled attack behaviour, with `rule_id` (or
        /// `scenario`) and `event_ids` (or `actor_key`, `start_ms`, `end_ms`).
        #[arg(long)]
        labels: PathBuf,
        /// Findings directory (the replay's OUT/findings; OUT itself is accepted).
        findings: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 1 when a labelled behaviour is not found by its rule.
        #[arg(long)]
        fail_on_miss: bool,
        /// Exit 1 when more than N false findings are above low (medium, high, critical).
        #[arg(long, value_name = "N")]
        max_false_above_low: Option<usize>,
    },
    /// Generate a synthetic CloudTrail estate with injected attack scenarios.
    Gen {
        /// Random seed (same seed, same bytes).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of events.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Output NDJSON file (- for stdout).
        #[arg(long)]
        out: PathBuf,
        /// Ground-truth labels file (one JSON object per injected scenario).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Background only, no attacks.
        #[arg(long)]
        no_attacks: bool,
        /// Only these scenarios (comma-separated).
        #[arg(long, value_delimiter = ',')]
        scenarios: Option<Vec<String>>,
        /// Workload: `estate` (an organisation with labelled attacks) or `stress` (large busy
        /// accounts, a detection cost workload without labels; README "Benchmarks").
        #[arg(long, default_value = "estate", value_name = "estate|stress")]
        profile: trailhound_gen::Profile,
    },
    /// Generate, replay and query a demo estate in a folder.
    Demo {
        /// Folder for the demo's files.
        #[arg(long, default_value = "trailhound-demo")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 300_000)]
        events: u64,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Consume CloudTrail from Kafka (consumer group), publish findings and dead letters to
    /// topics and findings to Parquet, until SIGTERM/SIGINT (drains, flushes and commits).
    Run {
        /// Configuration file ([kafka] and [run] sections; defaults: config/trailhound.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output directory: findings/ (Parquet) and state/ (checkpoints).
        #[arg(long, default_value = "trailhound-run")]
        out: PathBuf,
        /// Write the run's summary (throughput, latency quantiles) as JSON here on exit.
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// List the rules with their ATT&CK ids, severity and thresholds.
    Rules {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Colour in text logs only for a terminal, and never with `NO_COLOR` set (no-color.org).
fn log_colour(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs go to stderr: text (coloured only on a terminal, see [`log_colour`]) or JSON lines.
/// Values from the data (file names, actor keys, uids) are logged through
/// [`trailhound_model::escape::Escaped`], so no control sequence reaches the terminal or file.
fn init_tracing(format: &str, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = log_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `text` with control characters escaped in each line (actor keys and evidence come from
/// the logs); its own line breaks kept.
fn escape_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match l.strip_suffix('\n') {
            Some(line) => format!("{}\n", Escaped(line)),
            None => Escaped(l).to_string(),
        })
        .collect()
}

/// Prints an error message on stderr with control characters escaped; the message's own line
/// breaks are kept.
fn print_error(prefix: &str, message: &str) {
    let mut lines = message.split('\n');
    eprintln!("{prefix}{}", Escaped(lines.next().unwrap_or_default()));
    for line in lines {
        eprintln!("{}", Escaped(line));
    }
}

fn main() {
    tune_allocator();
    let cli = Cli::parse();
    // `run` is a service: info-level logs, in the format its config asks for.
    let (format, level) = match &cli.command {
        Command::Run { config, .. } => {
            let from_cfg = Config::load(config.as_deref(), std::env::vars()).map(|c| c.run.log_format).ok();
            let json = cli.log_format == "json" || from_cfg.as_deref() == Some("json");
            (if json { "json" } else { "text" }, "info")
        }
        _ => (cli.log_format.as_str(), "warn"),
    };
    init_tracing(format, level);
    if let Err(e) = run(cli) {
        print_error("error: ", &format!("{e:#}"));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Replay { config, out, json, paths } => {
            let cfg = load_config(config.as_deref())?;
            let inputs: Vec<Input> = paths.iter().map(|p| Input::parse(p)).collect();
            let summary = replay_with_progress(&cfg, &inputs, &out)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print_summary(&summary, &out);
            }
            if !summary.source_errors.is_empty() {
                // Every readable input was processed; the run is complete but not whole.
                bail!(
                    "{} input(s) could not be read (every other input was processed):\n  {}",
                    summary.source_errors.len(),
                    summary.source_errors.join("\n  ")
                );
            }
            Ok(())
        }
        Command::Query { findings, format, sql } => {
            let dir = check_findings_dir(&findings)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let batches = rt.block_on(trailhound_lake::query(&dir, &sql))?;
            let text = trailhound_lake::format_batches(&batches, format)?;
            // The table has no final line break of its own; CSV and JSON lines end with one.
            if text.ends_with('\n') || text.is_empty() {
                print!("{text}");
            } else {
                println!("{text}");
            }
            Ok(())
        }
        Command::Eval { labels, findings, json, fail_on_miss, max_false_above_low } => {
            check_findings_dir(&findings)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let report = rt.block_on(trailhound_lake::eval::evaluate_files(&labels, &findings))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("trailhound eval: {} against {}\n", findings.display(), labels.display());
                print!("{}", escape_lines(&report.to_text()));
            }
            let mut failures = Vec::new();
            if fail_on_miss && report.missed > 0 {
                failures.push(format!("{} labelled behaviours missed (--fail-on-miss)", report.missed));
            }
            if let Some(max) = max_false_above_low.filter(|max| report.false_above_low > *max) {
                failures.push(format!(
                    "{} false findings above low, more than --max-false-above-low {max}",
                    report.false_above_low
                ));
            }
            if !failures.is_empty() {
                bail!("eval failed: {}", failures.join("; "));
            }
            Ok(())
        }
        Command::Gen { seed, events, out, labels, no_attacks, scenarios, profile } => {
            let cfg = trailhound_gen::GenConfig {
                seed,
                events,
                attacks: !no_attacks,
                scenarios,
                profile,
                ..Default::default()
            };
            let stats = gen(&cfg, &out, labels.as_deref())?;
            eprintln!(
                "generated {} events ({:.1} MB), {} attack scenarios",
                stats.events,
                stats.bytes as f64 / 1e6,
                stats.scenarios
            );
            Ok(())
        }
        Command::Demo { dir, events, seed } => demo(&dir, events, seed),
        Command::Run { config, out, summary } => {
            let cfg = load_config(config.as_deref())?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = rt.block_on(async {
                let shutdown = trailhound_kafka::Shutdown::default();
                let s2 = shutdown.clone();
                tokio::spawn(async move {
                    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot watch SIGTERM");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = term.recv() => tracing::info!(signal = "SIGTERM", "draining"),
                        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "draining"),
                    }
                    s2.trigger();
                });
                trailhound_kafka::run(cfg, &out, shutdown).await
            });
            let s = result?;
            if let Some(path) = summary {
                std::fs::write(&path, serde_json::to_vec_pretty(&s)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            eprintln!(
                "{} messages, {} events in {:.1} s busy ({:.0} events/s); finding ack latency p50 {:.1} ms, p99 {:.1} ms",
                s.messages,
                s.latency.events,
                s.latency.busy_seconds,
                s.latency.events_per_second,
                s.latency.finding_latency_p50_ms,
                s.latency.finding_latency_p99_ms
            );
            Ok(())
        }
        Command::Rules { config } => {
            let cfg = load_config(config.as_deref())?;
            let engine = trailhound_detect::Engine::new(&cfg.detect())?;
            for rule in engine.rules() {
                let m = rule.meta();
                let tactics: Vec<String> = m.tactics.iter().map(|t| format!("{} {}", t.id, t.name)).collect();
                println!("{}\n  title:      {}\n  severity:   {} (before escalation)\n  tactics:    {}\n  techniques: {}\n  detects:    {}", m.id, m.title, m.severity, tactics.join(", "), m.techniques.join(", "), m.summary);
                for (k, v) in rule.thresholds() {
                    println!("  {k} = {v}");
                }
                println!();
            }
            Ok(())
        }
    }
}

/// The findings directory to read for `dir` (it or `dir/findings`). Missing is an error;
/// stderr says when it holds no findings, and warns when the last run writing there did not
/// complete.
fn check_findings_dir(dir: &Path) -> Result<PathBuf> {
    let found = trailhound_lake::inspect(dir)?;
    let shown = Escaped(found.path.display());
    if let Some(marker) = &found.running {
        eprintln!(
            "warning: the last run writing {shown} did not complete (still running, killed, or failed: {} {}): \
             its findings are what it had flushed and may be partial; rerun the replay for complete results",
            trailhound_lake::RUNNING_MARKER,
            Escaped(marker.trim())
        );
    }
    if found.parquet_files == 0 {
        eprintln!("note: {shown} holds no findings files (a run that found nothing, or none flushed yet)");
    }
    Ok(found.path)
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(Config::load(path, std::env::vars())?)
}

fn gen(cfg: &trailhound_gen::GenConfig, out: &Path, labels: Option<&Path>) -> Result<trailhound_gen::GenStats> {
    let labels_file = labels
        .map(|p| std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display())))
        .transpose()?;
    let stats = if out.as_os_str() == "-" {
        trailhound_gen::generate(cfg, std::io::stdout().lock(), labels_file)?
    } else {
        let f = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
        trailhound_gen::generate(cfg, f, labels_file)?
    };
    Ok(stats)
}

fn replay_with_progress(cfg: &Config, inputs: &[Input], out: &Path) -> Result<Summary> {
    let progress = Arc::new(Progress::default());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let summary = std::thread::scope(|s| {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(bar) = &bar {
            let (p, d) = (progress.clone(), done.clone());
            s.spawn(move || {
                while !d.load(Ordering::Relaxed) {
                    bar.set_length(p.bytes_total.load(Ordering::Relaxed));
                    bar.set_position(p.bytes_read.load(Ordering::Relaxed));
                    bar.set_message(format!(
                        "{} events, {} findings",
                        p.events.load(Ordering::Relaxed),
                        p.findings.load(Ordering::Relaxed)
                    ));
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            });
        }
        let r = replay::replay(cfg, inputs, out, progress.clone());
        done.store(true, Ordering::Relaxed);
        r
    })?;
    Ok(summary)
}

fn print_summary(s: &Summary, out: &Path) {
    println!("events        {}", s.events);
    println!("bytes         {} ({:.1} MB)", s.bytes, s.bytes as f64 / 1e6);
    println!("time          {:.2} s", s.seconds);
    println!("throughput    {:.0} events/s, {:.1} MB/s", s.events_per_second, s.mb_per_second);
    println!(
        "dead letters  {}{}",
        s.dead_letters,
        if s.dead_letters > 0 {
            format!(" (see {})", Escaped(out.join("dead-letters.ndjson").display()))
        } else {
            String::new()
        }
    );
    println!("late events   {}", s.late_events);
    println!("quieted       {} (below engine.min_severity)", s.quieted);
    if s.time_inferred > 0 {
        println!("time inferred {}", s.time_inferred);
    }
    let total: u64 = s.findings.values().flat_map(|m| m.values()).sum();
    println!("findings      {total} ({} versions published)", s.findings_published);
    for (rule, by_sev) in &s.findings {
        let parts: Vec<String> = by_sev.iter().map(|(sev, n)| format!("{sev}={n}")).collect();
        println!("  {rule:<22} {}", parts.join(" "));
    }
    for e in &s.source_errors {
        println!("unreadable    {}", Escaped(e));
    }
    println!("output        {} ({} says whether the run completed)", Escaped(out.display()), replay::SUMMARY_FILE);
}

fn demo(dir: &Path, events: u64, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let events_path = dir.join("events.ndjson");
    let labels_path = dir.join("labels.ndjson");
    let out = dir.join("out");
    println!("== 1. generating {events} CloudTrail events (seed {seed}) into {}", events_path.display());
    let stats =
        gen(&trailhound_gen::GenConfig { seed, events, ..Default::default() }, &events_path, Some(&labels_path))?;
    println!(
        "   {} events, {:.1} MB, {} injected attack scenarios (ground truth: {})",
        stats.events,
        stats.bytes as f64 / 1e6,
        stats.scenarios,
        labels_path.display()
    );
    println!("\n== 2. trailhound replay --out {} {}", out.display(), events_path.display());
    let cfg = load_config(None)?;
    let summary = replay_with_progress(&cfg, &[Input::Path(events_path.clone())], &out)?;
    print_summary(&summary, &out);

    let findings = out.join(&cfg.output.findings_dir);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let queries = [
        ("findings by rule and severity", "SELECT rule_id, severity, count(*) AS findings FROM findings GROUP BY rule_id, severity ORDER BY rule_id, severity"),
        (
            "the findings, earliest first",
            "SELECT first_event_time, actor_key, identity_class, event_count, array_length(regions) AS regions, severity FROM findings ORDER BY first_event_time",
        ),
    ];
    for (title, sql) in queries {
        println!("\n== 3. {title}:\n   trailhound query --findings {} \"{sql}\"", findings.display());
        let batches = rt.block_on(trailhound_lake::query(&findings, sql))?;
        print!("{}", trailhound_lake::format_batches(&batches, trailhound_lake::OutputFormat::Table)?);
    }

    // Ground truth against what was found.
    println!("\n== 4. trailhound eval --labels {} {}", labels_path.display(), findings.display());
    let report = rt.block_on(trailhound_lake::eval::evaluate_files(&labels_path, &findings))?;
    print!("{}", escape_lines(&report.to_text()));
    println!("\n== injected behaviours found by their rule: {}/{}", report.found, report.labels);
    println!("Try your own SQL: cargo run -p trailhound-cli --bin trailhound -- query --findings {} \"SELECT * FROM findings LIMIT 5\"", findings.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colour(true, None));
        assert!(log_colour(true, Some("".into())), "an empty NO_COLOR does not count (no-color.org)");
        assert!(!log_colour(true, Some("1".into())));
        assert!(!log_colour(false, None), "a file or a pipe gets no colour codes");
    }

    #[test]
    fn report_lines_keep_their_breaks_and_lose_their_control_characters() {
        assert_eq!(escape_lines("a\x1b[2J b\nc\u{202e}\n"), "a\\x1b[2J b\nc\\u{202e}\n");
        assert_eq!(escape_lines("no break\r"), "no break\\r");
    }
}
