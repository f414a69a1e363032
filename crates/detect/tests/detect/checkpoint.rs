//! Checkpoints: an engine snapshotted mid-stream and restored into a fresh engine goes on as
//! if it had never stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use arrow_array::RecordBatch;
use trailhound_detect::{DetectConfig, DetectError, Engine, StateError};
use trailhound_gen::{generate, GenConfig};
use trailhound_model::Finding;
use trailhound_parse::{read::read_stream, Collect, ParseConfig, Parser};

use crate::final_versions;

/// Generated events (every scenario injected).
const EVENTS: u64 = 150_000;

/// Rows per batch: small enough that a split falls inside windows and sequences.
const BATCH_ROWS: usize = 2048;

fn generated_batches() -> Vec<RecordBatch> {
    let cfg = GenConfig { seed: 7, events: EVENTS, ..GenConfig::default() };
    let mut data = Vec::new();
    generate(&cfg, &mut data, None::<Vec<u8>>).expect("in-memory generation");
    let mut parser = Parser::new(ParseConfig { batch_rows: BATCH_ROWS, ..ParseConfig::default() });
    let mut out = Collect::default();
    read_stream(&mut parser, data.as_slice(), "checkpoint", &mut out).expect("in-memory read");
    parser.flush(&mut out);
    assert!(out.dead.is_empty(), "generated events all parse");
    out.batches
}

fn engine(workers: usize) -> Engine {
    let mut cfg = DetectConfig::default();
    cfg.engine.workers = workers;
    Engine::new(&cfg).expect("default config is valid")
}

/// A batch's findings in a canonical order (the order within a batch is not part of the
/// contract, their content is).
fn sorted(mut fs: Vec<Finding>) -> Vec<Finding> {
    fs.sort_by(|a, b| (&a.uid, a.revision).cmp(&(&b.uid, b.revision)));
    fs
}

/// Rules of the uids published both in batches `..split` and afterwards (`per_batch` ends
/// with `finish`): findings open across the split.
fn spanning(per_batch: &[Vec<Finding>], split: usize) -> Vec<&str> {
    let before: BTreeSet<&str> = per_batch[..split].iter().flatten().map(|f| f.uid.as_str()).collect();
    let after: BTreeMap<&str, &str> =
        per_batch[split..].iter().flatten().map(|f| (f.uid.as_str(), f.rule_id.as_str())).collect();
    after.iter().filter(|(uid, _)| before.contains(*uid)).map(|(_, rule)| *rule).collect()
}

#[test]
fn a_snapshot_restored_into_a_fresh_engine_resumes_windows_and_sequences_with_identical_findings() {
    let batches = generated_batches();
    let n = batches.len();
    assert!(n >= 30, "{n} batches");
    let thirds = [n / 3, 2 * n / 3];

    // The uninterrupted run, snapshotting (without stopping) after a third and two thirds.
    let mut a = engine(1);
    let mut per_batch: Vec<Vec<Finding>> = Vec::with_capacity(n + 1);
    let mut snaps: Vec<(usize, Vec<u8>, usize)> = Vec::new();
    let mut stateful: BTreeSet<&str> = BTreeSet::new();
    for (i, b) in batches.iter().enumerate() {
        if thirds.contains(&i) {
            let t = Instant::now();
            let snap = a.snapshot().expect("snapshot");
            eprintln!(
                "checkpoint after batch {i}/{n}: {} bytes, {} state entries, snapshot in {:?}",
                snap.len(),
                a.state_size(),
                t.elapsed()
            );
            snaps.push((i, snap, a.state_size()));
            stateful.extend(a.rules().iter().filter(|r| r.state_size() > 0).map(|r| r.meta().id));
        }
        per_batch.push(a.process(b).expect("process"));
    }
    per_batch.push(a.finish().expect("finish"));
    assert_eq!(a.stats().late_events, 0, "the generator stays within the lateness");
    let all: Vec<Finding> = per_batch.iter().flatten().cloned().collect();
    let expected = final_versions(&all);
    let rules: BTreeSet<&str> = expected.values().map(|f| f.rule_id.as_str()).collect();
    assert!(rules.len() >= 10, "most rules fire on the generated stream: {rules:?}");

    // A split inside as many open findings as possible: a fresh engine run up to it.
    let widest = (1..n).max_by_key(|&s| (spanning(&per_batch, s).len(), usize::MAX - s)).expect("batches");
    if !thirds.contains(&widest) {
        let mut a2 = engine(1);
        for (i, b) in batches[..widest].iter().enumerate() {
            assert_eq!(sorted(a2.process(b).expect("process")), sorted(per_batch[i].clone()), "batch {i} replayed");
        }
        snaps.push((widest, a2.snapshot().expect("snapshot"), a2.state_size()));
        stateful.extend(a2.rules().iter().filter(|r| r.state_size() > 0).map(|r| r.meta().id));
    }

    // Where the generated scenarios fall moves with the generator: for a stateful rule no split
    // caught holding state yet, also split inside the first of its findings open across a
    // batch boundary.
    let uncovered = ["defense_evasion", "lambda_backdoor", "identity_provider_backdoor"];
    for rule in a.rules().iter().map(|r| r.meta().id).filter(|id| !uncovered.contains(id)) {
        if stateful.contains(rule) {
            continue;
        }
        if let Some(split) = (1..n).find(|&s| spanning(&per_batch, s).contains(&rule)) {
            let mut a3 = engine(1);
            for b in &batches[..split] {
                a3.process(b).expect("process");
            }
            snaps.push((split, a3.snapshot().expect("snapshot"), a3.state_size()));
            stateful.extend(a3.rules().iter().filter(|r| r.state_size() > 0).map(|r| r.meta().id));
        }
    }
    snaps.sort_by_key(|(split, _, _)| *split);

    // Every rule holds state at one of the splits, but the stateless defense_evasion and the
    // two whose short groups are all closed at these splits (the Stratus splits of the
    // engine's unit tests cover those).
    let covered: BTreeSet<&str> = a.rules().iter().map(|r| r.meta().id).filter(|id| !uncovered.contains(id)).collect();
    assert_eq!(stateful, covered, "rules holding state at the splits");

    for (k, (split, snap, state_size)) in snaps.iter().enumerate() {
        let split = *split;
        let open = spanning(&per_batch, split);
        assert!(!open.is_empty(), "the split after batch {split} is inside open findings");
        // The last split resumes with two workers: the state does not depend on sharding.
        let workers = if k + 1 == snaps.len() { 2 } else { 1 };
        let mut b = engine(workers);
        let t = Instant::now();
        b.restore(snap).expect("restore");
        eprintln!(
            "split after batch {split}/{n} (findings open across it: {open:?}): restored {} bytes in {:?}",
            snap.len(),
            t.elapsed()
        );
        let (restored_size, again) = (b.state_size(), b.snapshot().expect("snapshot again"));
        let mut resumed: Vec<Finding> = per_batch[..split].iter().flatten().cloned().collect();
        for (i, batch) in batches.iter().enumerate().skip(split) {
            let got = b.process(batch).expect("process");
            assert_eq!(sorted(got.clone()), sorted(per_batch[i].clone()), "split {split}: batch {i} after restore");
            resumed.extend(got);
        }
        let tail = b.finish().expect("finish");
        assert_eq!(sorted(tail.clone()), sorted(per_batch[n].clone()), "split {split}: finish after restore");
        resumed.extend(tail);
        let got = final_versions(&resumed);
        assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "split {split}: same uids");
        assert_eq!(got, expected, "split {split}: same final version of every finding");
        assert_eq!(b.stats(), a.stats(), "split {split}: counters carried over");
        assert_eq!(restored_size, *state_size, "split {split}: restored state size");
        assert!(again == *snap, "split {split}: snapshot → restore → snapshot gives the same bytes");
    }

    // Bad input is an error, never a panic, and leaves the engine empty.
    let (_, snap, _) = &snaps[0];
    let mut c = engine(1);
    c.restore(snap).expect("restore");
    assert!(c.state_size() > 0);
    for bad in [&b"garbage"[..], &[], &snap[..snap.len() / 2], &snap[1..]] {
        let err = c.restore(bad).expect_err("bad snapshot");
        assert!(matches!(err, DetectError::State(_)), "{err}");
        assert_eq!(c.state_size(), 0, "a failed restore leaves the engine empty");
        assert_eq!(c.watermark(), i64::MIN);
    }
    // Format version 2 is the first field: {"version": 2, ...} (eight fields).
    let head = [&[0x88, 0xa7][..], b"version", &[0x02]].concat();
    assert_eq!(&snap[..head.len()], head.as_slice(), "snapshot header");
    let mut other = snap.clone();
    other[head.len() - 1] = 0x03;
    let err = c.restore(&other).expect_err("another version");
    assert!(matches!(err, DetectError::State(StateError::Version { found: 3, expected: 2 })), "{err}");
    assert!(err.to_string().contains("format version 3"), "{err}");

    // Rules are matched by id: one disabled since is dropped, one missing starts empty.
    let mut cfg = DetectConfig::default();
    cfg.rules.identity_baseline.common.enabled = false;
    let mut fewer = Engine::new(&cfg).expect("config");
    fewer.restore(snap).expect("a disabled rule's state is skipped");
    let full = {
        let mut e = engine(1);
        e.restore(snap).expect("restore");
        e
    };
    let baseline_size =
        full.rules().iter().filter(|r| r.meta().id == "identity_baseline").map(|r| r.state_size()).sum::<usize>();
    assert!(baseline_size > 0, "identity_baseline holds state at the split");
    assert_eq!(fewer.state_size(), full.state_size() - baseline_size);
    let mut more = engine(1);
    more.restore(&fewer.snapshot().expect("snapshot")).expect("a rule missing from the snapshot starts empty");
    assert_eq!(more.state_size(), fewer.state_size());
}
