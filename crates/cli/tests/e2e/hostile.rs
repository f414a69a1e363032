//! Hostile strings and unreadable inputs: what reaches the terminal, the logs and the exit code.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::{bin, fixtures, query, run_ok, summary};

/// A user name that retitles the terminal, clears it, fakes a table row and reverses text.
const HOSTILE_USER: &str = "christophe\n| fake | row |\x1b]0;pwned\x07\x1b[2J\u{202e}";
/// An access key id that is a spreadsheet formula (the actor key of a finding in the fixture).
const FORMULA_KEY: &str = "=HYPERLINK(\"http://x\")";
/// An access key id with a terminal title sequence (the actor key of another finding).
const ESCAPE_KEY: &str = "AKIA\x1b]0;pwned\x07";

/// The stratus fixture with hostile user names and access keys, as the JSON text of events.
fn hostile_events() -> String {
    let json = |s: &str| {
        let quoted = serde_json::to_string(s).expect("json");
        quoted[1..quoted.len() - 1].to_string()
    };
    std::fs::read_to_string(fixtures().join("stratus/events.ndjson"))
        .expect("fixture")
        .replace("user/christophe", &format!("user/{}", json(HOSTILE_USER)))
        .replace("\"AKIAOZUDECYXYM4ONAN4\"", &format!("\"{}\"", json(FORMULA_KEY)))
        .replace("\"AKIA0W5KI69TY8X86BGT\"", &format!("\"{}\"", json(ESCAPE_KEY)))
}

fn raw_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .filter(|c| *c != '\n' && trailhound_model::escape::needs_escape(*c))
        .map(|c| format!("U+{:04X}", c as u32))
        .collect()
}

fn stdout_of(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn query_output_escapes_terminal_sequences_in_tables_neutralises_formulas_in_csv_and_is_exact_in_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, hostile_events()).expect("write");
    let out = dir.path().join("out");
    run_ok(bin().args(["replay", "--out"]).arg(&out).arg(&events));
    let findings = out.join("findings");

    // JSON: exact values, control characters as JSON escapes.
    let rows = query(&findings, "SELECT actor_key, actor_arn FROM findings ORDER BY uid");
    let arns: Vec<&str> = rows.iter().filter_map(|r| r["actor_arn"].as_str()).collect();
    let hostile_arns = arns.iter().filter(|a| a.ends_with(HOSTILE_USER)).count();
    assert!(hostile_arns >= 3, "findings carry the hostile user name: {arns:?}");
    assert!(rows.iter().any(|r| r["actor_key"] == FORMULA_KEY) && rows.iter().any(|r| r["actor_key"] == ESCAPE_KEY));
    let json =
        stdout_of(bin().args(["query", "--format", "json", "--findings"]).arg(&findings).arg("SELECT * FROM findings"));
    assert!(raw_controls(&json).is_empty(), "raw control characters in JSON output: {:?}", raw_controls(&json));

    // Table: one line per row, every sequence visible and inert.
    let table = stdout_of(
        bin()
            .args(["query", "--findings"])
            .arg(&findings)
            .arg("SELECT actor_key, actor_arn FROM findings ORDER BY uid"),
    );
    assert!(raw_controls(&table).is_empty(), "raw control characters in the table: {:?}", raw_controls(&table));
    let table = String::from_utf8(table).expect("utf8");
    assert_eq!(table.lines().count(), rows.len() + 4, "one line per row plus the frame:\n{table}");
    assert!(table.lines().all(|l| l.starts_with('+') || l.starts_with("| ")), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("| fake")), "a faked row:\n{table}");
    assert!(table.contains(r"christophe\n| fake | row |\x1b]0;pwned\x07\x1b[2J\u{202e}"), "{table}");
    assert!(table.contains(r"AKIA\x1b]0;pwned\x07"), "{table}");

    // CSV: the formula is text, numbers stay numbers.
    let csv = stdout_of(
        bin()
            .args(["query", "--format", "csv", "--findings"])
            .arg(&findings)
            .arg("SELECT actor_key, event_count, -1 * CAST(event_count AS BIGINT) AS neg FROM findings WHERE actor_key LIKE '=%'"),
    );
    let csv = String::from_utf8(csv).expect("utf8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "actor_key,event_count,neg");
    assert!(lines.len() >= 2, "{csv}");
    for line in &lines[1..] {
        let (key, numbers) = line.split_once("\",").expect("a quoted first cell");
        assert_eq!(key, "\"'=HYPERLINK(\"\"http://x\"\")", "{csv}");
        let (n, neg) = numbers.split_once(',').expect("two numbers");
        assert_eq!(format!("-{n}"), neg, "a negative number is written as a number: {csv}");
    }
}

#[test]
fn csv_neutralises_each_formula_prefix_and_leaves_numeric_columns_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    // An existing folder with no findings: 0 rows from the tables, literals still work.
    let csv = stdout_of(bin().args(["query", "--format", "csv", "--findings"]).arg(dir.path()).arg(
        "SELECT '=HYPERLINK(\"http://x\")' AS a, '+1' AS b, '-2+3' AS c, '@SUM(A1)' AS d, \
         chr(9) || 'tab' AS e, chr(13) || 'cr' AS f, -5 AS n, -2.5 AS x, 'plain' AS p",
    ));
    assert_eq!(
        String::from_utf8(csv).expect("utf8"),
        "a,b,c,d,e,f,n,x,p\n\"'=HYPERLINK(\"\"http://x\"\")\",\"'+1\",\"'-2+3\",\"'@SUM(A1)\",\"'\ttab\",\"'\rcr\",-5,-2.5,plain\n"
    );
}

/// Makes `name` in `dir` (a file with `contents`, or a dangling link when `None`).
fn make(dir: &Path, name: &str, contents: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    match contents {
        Some(c) => std::fs::write(&path, c).expect("write"),
        None => std::os::unix::fs::symlink(dir.join("no-such-target"), &path).expect("symlink"),
    }
    path
}

#[test]
fn logs_show_hostile_file_names_and_actor_keys_escaped_and_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tmp");
    let tree = dir.path().join("logs");
    std::fs::create_dir(&tree).expect("mkdir");
    make(&tree, "a\x1b]0;pwned\x07\x1b[2J\nevents.ndjson", Some(&hostile_events()));
    make(&tree, "b\x1b[31mbad\u{202e}.ndjson", Some("{\"eventName\": nope}\n"));
    make(&tree, "c\x1b]0;gone\x07\n.ndjson", None);
    let out = dir.path().join("out");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let status = bin()
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .args(["replay", "--out"])
        .arg(&out)
        .arg(&tree)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .output()
        .expect("replay");
    let logged = std::fs::read(&stderr_path).expect("stderr");
    let text = String::from_utf8_lossy(&logged);
    assert!(!status.status.success(), "the dangling link is an unreadable input:\n{text}");
    assert!(!logged.contains(&0x1b) && !logged.contains(&0x07), "a raw ESC or BEL in the logs:\n{text:?}");
    assert!(raw_controls(&logged).is_empty(), "{:?}", raw_controls(&logged));
    assert!(!String::from_utf8_lossy(&status.stdout).contains('\x1b'), "a raw ESC in the summary");
    // The names were logged, visibly escaped: the dangling link's warning and a finding's actor.
    assert!(text.contains(r"c\x1b]0;gone\x07\n.ndjson"), "{text}");
    assert!(text.contains(r"AKIA\x1b]0;pwned\x07"), "{text}");
    let s = summary(&out);
    assert_eq!(s["events"], 310);
    assert_eq!(s["dead_letters"], 1);
}

#[test]
fn replay_processes_every_readable_input_then_exits_non_zero_listing_the_unreadable_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    make(&tree, "dangling.ndjson", None);
    let missing = dir.path().join("missing.ndjson");
    let out = dir.path().join("out");
    let res = bin()
        .args(["replay", "--out"])
        .arg(&out)
        .arg(&missing)
        .arg(fixtures().join("stratus/events.ndjson"))
        .arg(&tree)
        // A file whose read fails, even for root: offset 0 of a process's memory is unmapped.
        .arg("/proc/self/mem")
        .output()
        .expect("replay");
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("3 input(s) could not be read"), "{err}");
    for name in ["missing.ndjson", "dangling.ndjson", "/proc/self/mem"] {
        assert!(err.contains(name), "{name} not listed:\n{err}");
    }
    let s = summary(&out);
    assert_eq!(s["complete"], true, "the run itself completed");
    assert_eq!(s["events"], 310, "the readable input was processed");
    assert_eq!(s["source_errors"].as_array().map(Vec::len), Some(3), "{s}");
    assert!(!query(&out.join("findings"), "SELECT uid FROM findings").is_empty());

    // Nothing readable at all: an error before the output folder is touched.
    let res = bin().args(["replay", "--out"]).arg(&out).arg(&missing).output().expect("replay");
    assert_eq!(res.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&res.stderr).contains("no input could be read"));
    assert_eq!(summary(&out)["events"], 310, "the previous run's output is left as it was");
}

#[test]
fn query_on_a_missing_folder_is_an_error_and_on_an_empty_one_gives_no_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = bin()
        .args(["query", "--findings"])
        .arg(dir.path().join("nope"))
        .arg("SELECT count(*) AS n FROM findings")
        .output()
        .expect("query");
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("does not exist") && err.contains("nope"), "{err}");

    let empty = bin()
        .args(["query", "--format", "json", "--findings"])
        .arg(dir.path())
        .arg("SELECT count(*) AS n FROM findings")
        .output()
        .expect("query");
    assert!(empty.status.success());
    let row: Value = serde_json::from_slice(&empty.stdout).expect("json");
    assert_eq!(row["n"], 0);
    assert!(String::from_utf8_lossy(&empty.stderr).contains("holds no findings"), "the note tells the cases apart");
}
