//! The short fuzz run CI does: 20,000 generated inputs (a few of them gzip bombs) through the
//! parser and the framing, with every invariant of `trailhound_fuzz::check` checked. The long
//! run is `scripts/fuzz.sh`.

use std::time::Duration;

use trailhound_fuzz::check;
use trailhound_fuzz::gen::GenOptions;
use trailhound_fuzz::run::{run, Options};

#[test]
fn twenty_thousand_generated_inputs_cause_no_panic_no_broken_invariant_and_bounded_memory() {
    let crash_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    let opts = Options {
        seed: 20_240_601,
        start: 0,
        iterations: 20_000,
        threads: 2,
        max_rss_mib: 512,
        crash_dir: Some(crash_dir),
        // Bombs of 64 MiB, about five in the run: bigger than any limit, small enough for a
        // debug build.
        gen: GenOptions { bomb_mib: 64, bomb_one_in: 4_000 },
        hang_after: Duration::from_secs(60),
        progress_every: Duration::from_secs(3600),
    };
    let report = run(opts, check::target, &mut |_| {}).expect("harness runs");
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|f| {
            format!(
                "{} x{} first at input {}: {} (recipe: {}; file: {:?})",
                f.invariant,
                f.count,
                f.index,
                f.detail,
                f.recipe.join(" "),
                f.file
            )
        })
        .collect();
    assert!(
        report.clean(),
        "panics {}, breaches {:?}, memory {:?}, hang {:?}\n{}",
        report.panics,
        report.breaches,
        report.rss_exceeded,
        report.hang,
        failures.join("\n")
    );
    assert_eq!(report.inputs, 20_000);
    // The inputs reach both sides: real events out, and dead letters of the main kinds.
    assert!(report.events > 20_000, "only {} events", report.events);
    for kind in ["invalid_json", "truncated", "too_large", "too_deep", "invalid_utf8"] {
        assert!(report.dead.get(kind).copied().unwrap_or(0) > 0, "no {kind} dead letter: {:?}", report.dead);
    }
}
