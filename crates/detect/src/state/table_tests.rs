//! Tests of [`Weighed`]: weights, due times, and every rule's due times against full sweeps.

use super::*;
use crate::testing::batches;
use crate::{DetectConfig, Engine};
use trailhound_gen::{generate, GenConfig, Profile};
use trailhound_model::Finding;

fn visits(t: &Weighed<String, Vec<u64>>, wm: EventTime, due: EventTime) -> usize {
    let mut n = 0;
    t.sweep(wm, |_, _| {
        n += 1;
        Some(due)
    });
    n
}

#[test]
fn a_sweep_visits_only_entries_changed_since_or_due() {
    let t: Weighed<String, Vec<u64>> = Weighed::default();
    for k in ["a", "b", "c"] {
        t.entry(k.to_string()).push(1);
    }
    assert_eq!(visits(&t, 0, 100), 3, "new entries are due at once");
    assert_eq!(visits(&t, 50, 100), 0, "nothing changed, nothing due");
    t.get_mut("b").expect("b").push(2);
    assert_eq!(visits(&t, 50, 100), 1, "a changed entry is due at once");
    assert_eq!(t.get_mut("c").expect("c").len(), 1);
    assert_eq!(visits(&t, 60, 100), 0, "reading through a guard changes nothing");
    assert_eq!(visits(&t, 100, EventTime::MAX), 3, "every entry due at 100");
    assert_eq!(visits(&t, i64::MAX - 1, EventTime::MAX), 0);
    let mut removed = 0;
    t.retain(|_, _| true);
    t.sweep(1, |_, _| {
        removed += 1;
        None
    });
    assert_eq!(removed, 3, "entries a retain kept are due at once");
    assert!(t.is_empty());
    assert_eq!(t.bytes(), 0);
}

#[test]
fn the_weight_follows_every_change_without_reweighing_untouched_entries() {
    let t: Weighed<String, Vec<u64>> = Weighed::default();
    for i in 0..50u64 {
        t.entry(format!("key-{i}")).extend(0..i);
    }
    assert_eq!(t.bytes(), t.recount());
    t.get_mut("key-7").expect("key").extend(0..100);
    t.sweep(0, |k, v| {
        v.truncate(3);
        (!k.ends_with('9')).then_some(EventTime::MAX)
    });
    assert_eq!(t.len(), 45);
    assert_eq!(t.bytes(), t.recount());
    t.insert("key-1".into(), vec![1; 40]);
    t.remove("key-2");
    assert_eq!(t.bytes(), t.recount());
    let back: Weighed<String, Vec<u64>> = Weighed::load("test", &t.save("test").expect("save")).expect("load");
    assert_eq!(back.bytes(), t.bytes(), "the same state weighs the same after a restore");
}

/// Every finding version with the batch that published it (`batches` for `finish`), and the
/// state's weight after each batch.
type Run = (Vec<(usize, Finding)>, Vec<usize>);

fn run(lines: &[String], batch_rows: usize, max_state_bytes: u64, visit_all: bool) -> Run {
    let mut cfg = DetectConfig::default();
    cfg.engine.workers = 1;
    cfg.engine.max_state_bytes = max_state_bytes;
    let mut engine = Engine::new(&cfg).expect("config");
    VISIT_ALL.with(|v| v.set(visit_all));
    let (mut out, mut weights) = (Vec::new(), Vec::new());
    let all = batches(lines, batch_rows);
    for (i, b) in all.iter().enumerate() {
        out.extend(engine.process(b).expect("process").into_iter().map(|f| (i, f)));
        weights.push(engine.state_bytes());
    }
    out.extend(engine.finish().expect("finish").into_iter().map(|f| (all.len(), f)));
    VISIT_ALL.with(|v| v.set(false));
    out.sort_by(|(_, a), (_, b)| (&a.uid, a.revision).cmp(&(&b.uid, b.revision)));
    (out, weights)
}

/// Every rule's due times are checked here: skipping entries until they are due must publish
/// exactly what visiting every entry at every sweep publishes, on both generator profiles and
/// on the public Stratus Red Team detonations (recorded, not generated here), in small batches
/// (many sweeps) and with a budget small enough to evict.
#[test]
fn sweeping_by_due_time_publishes_what_visiting_every_entry_publishes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stratus/events.ndjson");
    let stratus = std::fs::read_to_string(dir).expect("stratus fixture");
    let mut workloads = vec![("stratus".to_string(), stratus.lines().map(str::to_string).collect::<Vec<_>>())];
    for profile in [Profile::Estate, Profile::Stress] {
        let cfg = GenConfig { seed: 11, events: 40_000, profile, ..GenConfig::default() };
        let mut data = Vec::new();
        generate(&cfg, &mut data, None::<Vec<u8>>).expect("generate");
        workloads.push((format!("{profile:?}"), String::from_utf8_lossy(&data).lines().map(str::to_string).collect()));
    }
    for (name, data) in &workloads {
        // The 310 recorded events in batches down to 7; the generated 40k from 97 (a batch per
        // few seconds of event time) and with a budget that evicts.
        let cases: &[(usize, u64)] =
            if name == "stratus" { &[(7, 256 << 20), (97, 256 << 20)] } else { &[(97, 256 << 20), (1024, 2 << 20)] };
        for &(batch_rows, budget) in cases {
            let (by_due, due_weights) = run(data, batch_rows, budget, false);
            let (full, full_weights) = run(data, batch_rows, budget, true);
            let case = format!("{name}, {batch_rows} rows per batch, budget {budget}");
            assert!(!full.is_empty(), "{case}: the workload has findings");
            assert_eq!(by_due.len(), full.len(), "{case}");
            for (a, b) in by_due.iter().zip(&full) {
                assert_eq!(a, b, "{case}: the same version, published with the same batch");
            }
            let differs = due_weights.iter().zip(&full_weights).position(|(a, b)| a != b);
            assert_eq!(differs, None, "{case}: the state weighs the same after every batch");
        }
    }
}
