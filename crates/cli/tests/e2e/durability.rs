//! A replay killed with SIGKILL keeps what it had flushed, says it is incomplete, and a rerun
//! into the same folder gives exactly what an uninterrupted run gives.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{bin, query, run_ok, summary};

/// Every file under `root` (relative paths), sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).expect("prefix").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn parquet_files(root: &Path) -> usize {
    files(root).iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).count()
}

/// Flush every 5 finding versions, never by time: the flush points, and so `findings_all`,
/// depend on the input only.
fn replay(out: &Path, input: &Path) -> Command {
    let mut cmd = bin();
    cmd.env("TRAILHOUND__OUTPUT__FLUSH_ROWS", "5")
        .env("TRAILHOUND__OUTPUT__FLUSH_INTERVAL", "1h")
        .args(["replay", "--out"])
        .arg(out)
        .arg(input);
    cmd
}

/// Rows pyarrow reads from the findings directory (its own Parquet reader, hive partitions).
fn pyarrow_rows(findings: &Path) -> u64 {
    let python = std::env::var("TRAILHOUND_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = "import sys, pyarrow.dataset as ds\n\
                  t = ds.dataset(sys.argv[1], format='parquet', partitioning='hive').to_table()\n\
                  assert 'dt' in t.schema.names and 'uid' in t.schema.names\n\
                  print(t.num_rows)";
    let res = Command::new(&python)
        .args(["-c", script])
        .arg(findings)
        .output()
        .expect("python runs (set TRAILHOUND_PYTHON, or run scripts/test.sh which installs pyarrow)");
    assert!(res.status.success(), "pyarrow could not read the findings: {}", String::from_utf8_lossy(&res.stderr));
    String::from_utf8_lossy(&res.stdout).trim().parse().expect("row count")
}

/// `findings_all` as (uid, revision, severity, event_count), sorted.
fn all_rows(findings: &Path) -> Vec<(String, u64, String, u64)> {
    query(findings, "SELECT uid, revision, severity, event_count FROM findings_all ORDER BY uid, revision")
        .iter()
        .map(|r| {
            (
                r["uid"].as_str().expect("uid").to_string(),
                r["revision"].as_u64().expect("revision"),
                r["severity"].as_str().expect("severity").to_string(),
                r["event_count"].as_u64().expect("count"),
            )
        })
        .collect()
}

#[test]
fn a_killed_replay_keeps_readable_findings_says_so_and_a_rerun_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().expect("tmp");
    let events = dir.path().join("events.ndjson");
    // Large enough that the replay runs for seconds after its first flush.
    run_ok(bin().args(["gen", "--seed", "9", "--events", "300000", "--out"]).arg(&events));
    let out = dir.path().join("out");
    let findings = out.join("findings");

    let mut child = replay(&out, &events).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("replay");
    let deadline = Instant::now() + Duration::from_secs(300);
    while parquet_files(&findings) == 0 {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("the replay ended ({status}) before its first flush was seen: make the input larger");
        }
        assert!(Instant::now() < deadline, "no Parquet file within 300 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // The folder says the run did not complete.
    let s = summary(&out);
    assert_eq!(s["complete"], false, "{s}");
    assert!(findings.join("_RUNNING").exists());
    // What was flushed is readable by pyarrow and by trailhound query, which warns.
    let kept = parquet_files(&findings);
    assert!(kept >= 1);
    let res = bin()
        .args(["query", "--format", "json", "--findings"])
        .arg(&findings)
        .arg("SELECT uid FROM findings_all")
        .output()
        .expect("query");
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert!(String::from_utf8_lossy(&res.stderr).contains("did not complete"), "query warns about the killed run");
    let uids: Vec<String> = String::from_utf8_lossy(&res.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("row")["uid"].as_str().expect("uid").to_string())
        .collect();
    assert!(!uids.is_empty());
    assert_eq!(pyarrow_rows(&findings), uids.len() as u64, "pyarrow and DataFusion read the same rows");
    // The OCSF file was flushed at the same points: it holds every flushed finding, in whole
    // lines but for at most a partial last one.
    let ocsf = std::fs::read_to_string(out.join("findings.ocsf.jsonl")).expect("ocsf");
    let complete_lines: Vec<&str> = if ocsf.ends_with('\n') {
        ocsf.lines().collect()
    } else {
        let mut l: Vec<&str> = ocsf.lines().collect();
        l.pop();
        l
    };
    let ocsf_uids: std::collections::BTreeSet<String> = complete_lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("whole line")["finding_info"]["uid"]
                .as_str()
                .expect("uid")
                .to_string()
        })
        .collect();
    assert!(uids.iter().all(|u| ocsf_uids.contains(u)), "a flushed Parquet finding missing from the OCSF file");

    // What a kill during a flush leaves: a hidden temporary file next to the parts.
    let part = files(&findings).into_iter().find(|p| p.extension().is_some_and(|e| e == "parquet")).expect("part");
    let tmp = findings.join(part.parent().expect("partition")).join(".part-killed-000042.parquet.tmp");
    std::fs::write(&tmp, b"PAR1 cut short").expect("tmp");

    // The rerun replaces the killed run; an uninterrupted run elsewhere is the reference.
    run_ok(&mut replay(&out, &events));
    let reference = dir.path().join("reference");
    run_ok(&mut replay(&reference, &events));
    assert_eq!(summary(&out)["complete"], true);
    assert!(!findings.join("_RUNNING").exists());
    let leftovers: Vec<PathBuf> = files(&out).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let rerun = all_rows(&findings);
    let expected = all_rows(&reference.join("findings"));
    assert!(rerun.len() > uids.len(), "the rerun found more than the killed run had flushed");
    assert_eq!(rerun, expected, "findings_all of the rerun is the uninterrupted run's, without duplicates");
    let mut distinct = rerun.iter().map(|(u, r, _, _)| (u, r)).collect::<Vec<_>>();
    distinct.dedup();
    assert_eq!(distinct.len(), rerun.len(), "one row per (uid, revision)");
    assert_eq!(pyarrow_rows(&findings), rerun.len() as u64);
    let clean = bin()
        .args(["query", "--findings"])
        .arg(&findings)
        .arg("SELECT count(*) FROM findings")
        .output()
        .expect("query");
    assert!(!String::from_utf8_lossy(&clean.stderr).contains("did not complete"));
}
