//! Hostile and messy input: every test checks that nothing is lost silently (events plus dead
//! letters account for every record) and that the limits hold while reading.

use std::io::{self, Read, Write as _};

use arrow_array::cast::AsArray;
use arrow_array::Array;
use trailhound_model::event::col;
use trailhound_parse::read::{self, read_stream};
use trailhound_parse::{Collect, DeadLetter, ParseConfig, ParseStats, Parser, DEAD_LETTER_PREFIX_BYTES};

/// A CloudTrail event with id `e{i}`.
fn event(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"2024-05-01T10:00:{:02}Z","eventID":"e{i}","eventName":"ListUsers","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15.0","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accessKeyId":"AKIA{i}","accountId":"111122223333"}}}}"#,
        i % 60
    )
}

fn ndjson(ids: std::ops::Range<usize>) -> String {
    ids.map(|i| event(i) + "\n").collect()
}

fn records(ids: std::ops::Range<usize>) -> String {
    let recs: Vec<String> = ids.map(event).collect();
    format!("{{\"Records\":[{}]}}", recs.join(","))
}

fn pretty(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    serde_json::to_string_pretty(&v).expect("pretty")
}

/// Best compression: a bomb must compress past the ratio limit whichever flate2 backend the
/// workspace unifies to (its `fast` level compresses zeros only ~100:1 with zlib-rs).
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// Reads `input` as one stream; checks the counters agree with what the sink got.
fn read_with(input: impl Read, cfg: ParseConfig) -> (Collect, ParseStats, io::Result<()>) {
    let mut p = Parser::new(cfg);
    let mut out = Collect::default();
    let r = read_stream(&mut p, input, "mem", &mut out);
    p.flush(&mut out);
    let stats = p.stats();
    assert_eq!(stats.events, out.rows() as u64, "every event counted is delivered");
    assert_eq!(stats.dead, out.dead.len() as u64, "every dead letter counted is delivered");
    assert_eq!(stats.events + stats.dead, stats.records, "records are events or dead letters");
    (out, stats, r)
}

fn read_ok(input: &[u8], cfg: ParseConfig) -> (Collect, ParseStats) {
    let (out, stats, r) = read_with(input, cfg);
    r.expect("an in-memory stream reads");
    (out, stats)
}

/// The event ids delivered, in order.
fn ids(out: &Collect) -> Vec<String> {
    out.batches
        .iter()
        .flat_map(|b| {
            let a = b.column(col::EVENT_ID).as_string::<i32>();
            (0..a.len()).map(|i| a.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect()
}

fn expected_ids(ids: impl IntoIterator<Item = usize>) -> Vec<String> {
    ids.into_iter().map(|i| format!("e{i}")).collect()
}

fn kinds(out: &Collect) -> Vec<&'static str> {
    out.dead.iter().map(|d| d.reason.code()).collect()
}

/// A capped dead letter: its first bytes, its true length, and the JSON says so.
fn assert_capped(d: &DeadLetter, record: &[u8]) {
    assert_eq!(d.bytes, record.len(), "true length");
    assert!(d.raw_truncated());
    assert!(d.raw == record[..DEAD_LETTER_PREFIX_BYTES], "the first {DEAD_LETTER_PREFIX_BYTES} bytes");
    let j = d.to_json();
    assert_eq!(j["bytes"].as_u64(), Some(record.len() as u64));
    assert_eq!(j["raw_truncated"], true);
}

#[test]
fn lines_over_max_event_bytes_are_skipped_to_their_end_and_dead_lettered_with_a_prefix_and_their_length() {
    let cfg = ParseConfig { max_event_bytes: 64 << 10, ..ParseConfig::default() };
    let big_event = format!(r#"{{"eventName":"X","pad":"{}"}}"#, "x".repeat(5 << 20));
    let no_json = "A".repeat(3 << 20);
    let open_string = format!(r#"{{"eventName":"X","pad":"{}"#, "y".repeat(3 << 20));
    // Pretty-printed with a huge first line: skipped to its closing brace, not to its newline.
    let big_pretty = format!("{{\"pad\":\"{}\",\n  \"eventName\": \"X\"\n}}", "p".repeat(2 << 20));
    let at_eof = format!(r#"{{"eventName":"X","pad":"{}"#, "z".repeat(4 << 20));
    let bigs = [&big_event, &no_json, &open_string, &big_pretty, &at_eof];
    let mut input = String::new();
    for (i, big) in bigs.iter().enumerate() {
        input.push_str(&(event(i) + "\n"));
        input.push_str(big);
        if i + 1 < bigs.len() {
            input.push('\n');
        }
    }
    let (out, stats) = read_ok(input.as_bytes(), cfg);
    assert_eq!(ids(&out), expected_ids(0..5), "the events around the big lines are read");
    assert_eq!(kinds(&out), ["too_large"; 5]);
    let positions: Vec<u64> = out.dead.iter().map(|d| d.position).collect();
    assert_eq!(positions, [2, 4, 6, 8, 12], "line numbers (the pretty value spans three lines)");
    for (d, big) in out.dead.iter().zip(bigs) {
        assert_capped(d, big.as_bytes());
        assert!(d.reason.to_string().contains(&format!("of {} bytes", big.len())), "{}", d.reason);
    }
    assert_eq!(stats.bytes, input.len() as u64, "every byte is read");
}

#[test]
fn documents_over_max_document_bytes_are_dead_lettered_with_a_prefix_and_what_follows_is_read() {
    let cfg = ParseConfig { max_event_bytes: 64 << 10, max_document_bytes: 256 << 10, ..ParseConfig::default() };
    let one_line = records(100..1100);
    let pretty_doc = pretty(&records(2000..3000));
    let array = format!("[\n{}\n]", (3000..4000).map(event).collect::<Vec<_>>().join(",\n"));
    assert!(one_line.len() > 256 << 10 && pretty_doc.len() > 256 << 10 && array.len() > 256 << 10);
    let input = format!("{one_line}\n{}{pretty_doc}\n{}{array}\n{}", event(1) + "\n", event(2) + "\n", event(3));
    let (out, _) = read_ok(input.as_bytes(), cfg);
    assert_eq!(ids(&out), expected_ids(1..4));
    assert_eq!(kinds(&out), ["too_large"; 3]);
    for (d, doc) in out.dead.iter().zip([&one_line, &pretty_doc, &array]) {
        assert_capped(d, doc.as_bytes());
        assert!(d.reason.to_string().contains(&format!("limit of {} bytes", 256 << 10)));
    }
    // Under the limit, the same documents are read whole.
    let (out, _) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!(out.rows(), 1000 + 1 + 1000 + 1 + 1000 + 1);
    assert!(out.dead.is_empty());
}

#[test]
fn a_gzip_bomb_stops_at_the_ratio_limit_and_reading_goes_on_with_the_next_input() {
    let zeros = vec![0u8; 32 << 20];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 200 << 10, "a bomb: {} bytes", bomb.len());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a-bomb.json.gz"), &bomb).expect("write");
    std::fs::write(dir.path().join("b-good.json"), records(0..3)).expect("write");
    let mut p = Parser::new(ParseConfig::default());
    let mut out = Collect::default();
    read::read_path(&mut p, dir.path(), &mut out).expect("both inputs readable");
    p.flush(&mut out);
    assert_eq!(ids(&out), expected_ids(0..3), "the next input is read");
    assert_eq!(kinds(&out), ["decompression_limit"]);
    let d = &out.dead[0];
    assert!(d.source.ends_with("a-bomb.json.gz"));
    assert!(d.reason.to_string().contains("parse.max_decompression_ratio = 200"), "{}", d.reason);
    assert!(d.raw.len() <= DEAD_LETTER_PREFIX_BYTES);
    // Stopped early: the bomb was not read out.
    assert!(p.stats().bytes < 8 << 20, "{} bytes decompressed", p.stats().bytes);
}

#[test]
fn an_input_is_read_up_to_max_decompressed_bytes_exactly_then_dead_lettered() {
    let plain = ndjson(0..100);
    let line_40 = plain.match_indices('\n').nth(39).expect("40 lines").0 + 1;
    // The limit falls inside event 40's line: events 0..40 are read, the rest is skipped.
    let max = (line_40 + 10) as u64;
    let cfg = ParseConfig { max_decompressed_bytes: max, max_decompression_ratio: 0, ..ParseConfig::default() };
    let (out, stats) = read_ok(&gzip(plain.as_bytes()), cfg);
    assert_eq!(ids(&out), expected_ids(0..40));
    assert_eq!(kinds(&out), ["decompression_limit"]);
    assert!(out.dead[0].reason.to_string().contains(&format!("parse.max_decompressed_bytes = {max}")));
    assert_eq!(out.dead[0].raw, plain.as_bytes()[line_40..max as usize], "the record the limit cut");
    assert_eq!(out.dead[0].position, 41);
    assert_eq!(stats.bytes, max);
    // At exactly the stream's size, nothing is over.
    let cfg = ParseConfig { max_decompressed_bytes: plain.len() as u64, ..ParseConfig::default() };
    let (out, _) = read_ok(&gzip(plain.as_bytes()), cfg);
    assert_eq!((out.rows(), out.dead.len()), (100, 0));
}

/// What flate2 yields of a cut gzip stream before its error: the bytes the parser can see.
fn decompressible_prefix(gz: &[u8]) -> Vec<u8> {
    let mut dec = flate2::read::MultiGzDecoder::new(gz);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match dec.read(&mut chunk) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn a_gzip_ndjson_cut_anywhere_keeps_every_complete_line_and_dead_letters_the_cut() {
    const N: usize = 30;
    let plain = ndjson(0..N);
    let gz = gzip(plain.as_bytes());
    let mut last = 0;
    for cut in (2..gz.len()).step_by(5) {
        let (out, _) = read_ok(&gz[..cut], ParseConfig::default());
        let seen = decompressible_prefix(&gz[..cut]);
        // Lines complete in what decompressed, and the last one when it is whole without its newline.
        let complete = memchr_count(&seen);
        let tail = &seen[seen.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1)..];
        let whole_tail = !tail.is_empty() && tail == event(complete).as_bytes();
        let events = complete + usize::from(whole_tail);
        assert_eq!(ids(&out), expected_ids(0..events), "cut at {cut} of {}", gz.len());
        assert_eq!(kinds(&out), ["truncated"], "one dead letter says where it was cut (cut at {cut})");
        let d = &out.dead[0];
        assert_eq!(d.position, events as u64 + 1);
        assert!(d.reason.to_string().contains("cut short"), "{}", d.reason);
        if whole_tail || tail.is_empty() {
            assert!(d.raw.is_empty(), "cut between records: nothing to keep");
        } else {
            assert_eq!(d.raw, tail, "the cut record's bytes (cut at {cut})");
            assert!(event(complete).as_bytes().starts_with(&d.raw));
        }
        assert!(events >= last, "a later cut never loses an earlier event");
        last = events;
    }
    assert!(last > N / 2);
    let (out, _) = read_ok(&gz, ParseConfig::default());
    assert_eq!((out.rows(), out.dead.len()), (N, 0));
}

fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

#[test]
fn a_gzip_delivery_file_cut_anywhere_keeps_every_complete_record_and_dead_letters_the_cut() {
    const N: usize = 30;
    let plain = records(0..N);
    // Where each record ends in the plain document.
    let ends: Vec<usize> = (0..N)
        .map(|i| {
            let at = plain.find(&format!("\"eventID\":\"e{i}\"")).expect("record");
            at + plain[at..].find("}}").expect("end of the record") + 2
        })
        .collect();
    let gz = gzip(plain.as_bytes());
    let mut last = 0;
    for cut in (2..gz.len()).step_by(5) {
        let (out, _) = read_ok(&gz[..cut], ParseConfig::default());
        let seen = decompressible_prefix(&gz[..cut]).len();
        let events = ends.iter().filter(|&&e| e <= seen).count();
        assert_eq!(ids(&out), expected_ids(0..events), "cut at {cut} of {} ({seen} bytes out)", gz.len());
        assert_eq!(kinds(&out), ["truncated"], "cut at {cut}: {:?}", out.dead);
        let d = &out.dead[0];
        assert!(d.reason.to_string().contains("cut short"), "{}", d.reason);
        if seen > "{\"Records\":[".len() && events < N {
            // The record the cut fell in, by its index in the file.
            assert_eq!(d.source, format!("mem#{events}"), "cut at {cut}");
            let start = if events == 0 { "{\"Records\":[".len() } else { ends[events - 1] + 1 };
            assert!(plain.as_bytes()[start.min(seen)..seen].starts_with(&d.raw));
        }
        assert!(events >= last);
        last = events;
    }
    assert_eq!(last, N, "a cut in the trailer keeps every record");
    let (out, _) = read_ok(&gz, ParseConfig::default());
    assert_eq!((out.rows(), out.dead.len()), (N, 0));
}

#[test]
fn a_corrupt_gzip_keeps_what_decompressed_and_dead_letters_the_rest_as_bad_compression() {
    let plain = ndjson(0..200);
    let mut gz = gzip(plain.as_bytes());
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let (out, _) = read_ok(&gz, ParseConfig::default());
    let got = ids(&out);
    // What decompressed before the damage is read; the damage decodes to garbage records
    // (dead letters) until the checksum gives the stream away: a last dead letter says so.
    assert!(got.len() >= 50, "{} events", got.len());
    assert_eq!(got[..50], expected_ids(0..50));
    assert_eq!(kinds(&out).last(), Some(&"bad_compression"), "{:?}", kinds(&out));
    assert!(out.dead.last().is_some_and(|d| d.reason.to_string().contains("gzip")));
}

#[test]
fn a_broken_first_line_does_not_swallow_the_ndjson_after_it() {
    for first in ["[1,2", "{", "[", "{\"eventName\":\"X\",", "{\"Records\":[", "{\"Records\":[]", "\"open", "[{\"a\""] {
        let input = format!("{first}\n{}", ndjson(0..5));
        let (out, _) = read_ok(input.as_bytes(), ParseConfig::default());
        assert_eq!(ids(&out), expected_ids(0..5), "after {first:?}");
        assert!(!out.dead.is_empty(), "{first:?} is dead-lettered");
        for d in &out.dead {
            assert_eq!(d.position, 1, "{first:?}: {d:?}");
            assert!(first.as_bytes().starts_with(&d.raw) || d.raw.is_empty() || first.contains('['), "{d:?}");
        }
    }
    // Nested brackets can take the first event along (it is an element of the broken value),
    // but into the dead letter, not into thin air.
    let input = format!("[[[\n{}", ndjson(0..5));
    let (out, _) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!(ids(&out), expected_ids(1..5));
    assert!(out.dead.iter().any(|d| d.raw.windows(event(0).len()).any(|w| w == event(0).as_bytes())));
    // An empty delivery file, then NDJSON.
    let input = format!("{{\"Records\":[]}}\n{}", ndjson(0..5));
    let (out, _) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!((ids(&out), out.dead.len()), (expected_ids(0..5), 0));
}

#[test]
fn pretty_printed_events_arrays_and_delivery_files_are_read_in_any_mix() {
    // `jq .` of NDJSON: pretty events one after another.
    let jq: String = (0..4).map(|i| pretty(&event(i)) + "\n").collect();
    // A JSON array with one event per line, `jq .` of a delivery file, then NDJSON again.
    let array = format!("[\n{}\n]\n", (4..7).map(event).collect::<Vec<_>>().join(",\n"));
    let doc = pretty(&records(7..10)) + "\n";
    let input = format!("{jq}{array}{doc}{}{}", ndjson(10..12), pretty(&event(12)));
    let (out, stats) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!(ids(&out), expected_ids(0..13));
    assert!(out.dead.is_empty(), "{:?}", out.dead);
    assert_eq!(stats.bytes, input.len() as u64);
    // Line numbers: each pretty event spans its own lines.
    let sources: Vec<String> = out
        .batches
        .iter()
        .flat_map(|b| {
            let a = b.column(col::SOURCE).as_string::<i32>();
            (0..a.len()).map(|i| a.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    let lines_per_event = pretty(&event(0)).lines().count();
    assert_eq!(sources[1], format!("mem:{}", lines_per_event + 1));
    assert_eq!(sources[4], format!("mem:{}#0", 4 * lines_per_event + 1));

    // A bad pretty event in the middle is dead-lettered alone.
    let bad = pretty(&event(1)).replace("\"ListUsers\"", "ListUsers");
    let input = format!("{}\n{bad}\n{}\n", pretty(&event(0)), pretty(&event(2)));
    let (out, _) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!(ids(&out), expected_ids([0, 2]));
    assert_eq!(kinds(&out), ["invalid_json"]);
    assert_eq!(out.dead[0].raw, bad.as_bytes());
}

#[test]
fn a_delivery_file_with_a_bad_record_keeps_the_others() {
    let good: Vec<String> = (0..5).map(event).collect();
    let doc = format!("{{\"Records\":[{},{},{{\"eventName\": nope}},{},{}]}}", good[0], good[1], good[3], good[4]);
    let (out, _) = read_ok(doc.as_bytes(), ParseConfig::default());
    assert_eq!(ids(&out), expected_ids([0, 1, 3, 4]));
    assert_eq!(kinds(&out), ["invalid_json"]);
    assert_eq!((out.dead[0].source.as_str(), &out.dead[0].raw[..]), ("mem#2", &b"{\"eventName\": nope}"[..]));
    // The same as a Kafka message (one document).
    let mut p = Parser::new(ParseConfig::default());
    let mut out = Collect::default();
    p.parse_document(doc.as_bytes(), "topic/0", 7, None, &mut out);
    p.flush(&mut out);
    assert_eq!(ids(&out), expected_ids([0, 1, 3, 4]));
    assert_eq!(out.dead[0].source, "topic/0#2");
    // Garbage after a whole delivery file: in a stream, a record of its own; in a message,
    // dead-lettered with what surrounds the array.
    let doc = format!("{} trailing", records(0..2));
    let (out, _) = read_ok(doc.as_bytes(), ParseConfig::default());
    assert_eq!(ids(&out), expected_ids(0..2));
    assert_eq!(kinds(&out), ["invalid_json"]);
    assert_eq!(out.dead[0].raw, b"trailing");
    let mut out = Collect::default();
    p.parse_document(doc.as_bytes(), "topic/0", 8, None, &mut out);
    p.flush(&mut out);
    assert_eq!(ids(&out), expected_ids(0..2));
    assert_eq!(kinds(&out), ["invalid_json"]);
    assert_eq!(out.dead[0].raw, b"{\"Records\":[]} trailing");
}

#[test]
fn a_byte_order_mark_is_skipped_at_the_start_of_a_stream_and_of_its_decompressed_bytes() {
    const BOM: &str = "\u{feff}";
    for body in [ndjson(0..3), records(0..3), pretty(&records(0..3))] {
        let input = format!("{BOM}{body}");
        let (out, stats) = read_ok(input.as_bytes(), ParseConfig::default());
        assert_eq!((ids(&out), out.dead.len()), (expected_ids(0..3), 0), "{}", &body[..20]);
        assert_eq!(stats.bytes, input.len() as u64);
        let (out, _) = read_ok(&gzip(input.as_bytes()), ParseConfig::default());
        assert_eq!((ids(&out), out.dead.len()), (expected_ids(0..3), 0), "gzip {}", &body[..20]);
    }
    // Only at the start: one later in the stream is bad data, dead-lettered with its line.
    let input = format!("{}{BOM}{}", event(0) + "\n", event(1));
    let (out, _) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!(ids(&out), expected_ids(0..1));
    assert_eq!(out.dead.iter().map(|d| d.position).collect::<Vec<_>>(), [2]);
}

#[test]
fn impossible_event_times_are_dead_letters_naming_the_field_and_the_value() {
    let with_time = |t: &str| event(0).replace("\"2024-05-01T10:00:00Z\"", t);
    let bad = [
        ("\"2026-02-31T00:00:00Z\"", "eventTime", "2026-02-31T00:00:00Z"),
        ("\"2026-04-31T12:00:00Z\"", "eventTime", "2026-04-31T12:00:00Z"),
        ("\"2025-02-29T00:00:00Z\"", "eventTime", "2025-02-29T00:00:00Z"),
        ("\"2026-01-01T24:00:00Z\"", "eventTime", "2026-01-01T24:00:00Z"),
        ("\"2026-01-01T00:00:61Z\"", "eventTime", "2026-01-01T00:00:61Z"),
        ("\"0000-01-01T00:00:00Z\"", "eventTime", "0000-01-01T00:00:00Z"),
        ("\"9999-12-31T23:59:59Z\"", "eventTime", "9999-12-31T23:59:59Z"),
        ("\"\\t2026-02-31 00:00:00\\n\"", "eventTime", "\\t2026-02-31 00:00:00\\n"),
        ("0", "eventTime", "0"),
        ("253402300799000", "eventTime", "253402300799000"),
    ];
    let mut input: String = bad.iter().map(|(t, _, _)| with_time(t) + "\n").collect();
    // p_event_time of an export is judged the same way when eventTime is missing.
    let export = event(1).replace("\"eventTime\":\"2024-05-01T10:00:01Z\"", "\"p_event_time\":\"2024-05-01 10:00:99\"");
    input.push_str(&(export + "\n"));
    // Missing or not a time at all: inferred from the stream, as before.
    input.push_str(&(event(2) + "\n"));
    input.push_str(&(with_time("\"redacted\"") + "\n"));
    input.push_str(&(event(3).replace("\"eventTime\":\"2024-05-01T10:00:03Z\",", "") + "\n"));
    let (out, stats) = read_ok(input.as_bytes(), ParseConfig::default());
    assert_eq!(out.rows(), 3, "{:?}", out.dead);
    assert_eq!(stats.time_inferred, 2);
    assert_eq!(kinds(&out), ["invalid_time"; 11]);
    for (d, (_, field, value)) in out.dead.iter().zip(bad) {
        let msg = d.reason.to_string();
        assert!(msg.contains(&format!("`{field}`")) && msg.contains(value), "{msg}");
        assert!(!msg.chars().any(char::is_control), "escaped: {msg:?}");
    }
    assert!(out.dead[10].reason.to_string().contains("`p_event_time`"));
}

#[test]
fn inputs_that_cannot_be_read_are_errors_naming_the_path_after_the_others_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("a.json"), records(0..2)).expect("write");
    std::os::unix::fs::symlink(root.join("gone.json"), root.join("b-dangling.json")).expect("symlink");
    std::fs::write(root.join("c.json"), records(2..4)).expect("write");
    let mut p = Parser::new(ParseConfig::default());
    let mut out = Collect::default();
    let err = read::read_path(&mut p, root, &mut out).expect_err("a dangling link cannot be read");
    p.flush(&mut out);
    assert_eq!(ids(&out), expected_ids(0..4), "every readable file is read");
    let failures = err.failures();
    assert_eq!(failures.len(), 1);
    assert!(err.to_string().contains("b-dangling.json"), "{err}");
    assert_eq!(read::list_inputs(root).files.len(), 2);
    assert!(read::list_files(root).is_err(), "list_files fails on the bad entry");

    // A directory where a file is read, and a missing path: errors naming the path (as root too).
    let mut out = Collect::default();
    let err = read::read_file(&mut p, root, &mut out).expect_err("a directory is not a file");
    assert!(err.to_string().contains(&root.display().to_string()), "{err}");
    let missing = root.join("missing\u{1b}[2J.json");
    let err = read::read_path(&mut p, &missing, &mut out).expect_err("missing");
    assert!(err.to_string().contains("missing\\u{1b}[2J.json"), "control characters escaped: {err}");
    assert!(out.dead.is_empty() && out.rows() == 0);
}

/// Yields `data`, then fails.
struct FailsAfter<'a>(&'a [u8]);

impl Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("device error"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_stream_keeps_the_records_before_it_and_is_an_error() {
    let plain = ndjson(0..10);
    let cut = plain.len() - 20;
    let (out, _, r) = read_with(FailsAfter(&plain.as_bytes()[..cut]), ParseConfig::default());
    assert!(r.is_err_and(|e| e.to_string().contains("device error")));
    assert_eq!(ids(&out), expected_ids(0..9));
    assert_eq!(kinds(&out), ["truncated"]);
    assert_eq!(out.dead[0].raw, plain.as_bytes()[plain.len() - event(9).len() - 1..cut]);
}

#[test]
fn a_gzip_message_is_decompressed_under_the_same_limits() {
    let doc = records(0..3);
    assert_eq!(read::gunzip(&gzip(doc.as_bytes()), &ParseConfig::default()).expect("gunzip"), doc.as_bytes());
    let bomb = gzip(&vec![b' '; 16 << 20]);
    let err = read::gunzip(&bomb, &ParseConfig::default()).expect_err("bomb");
    assert_eq!(err.code(), "decompression_limit");
    let small = ParseConfig { max_document_bytes: 100, max_decompression_ratio: 0, ..ParseConfig::default() };
    assert_eq!(read::gunzip(&gzip(doc.as_bytes()), &small).expect_err("too large").code(), "too_large");
    let err = read::gunzip(&gzip(doc.as_bytes())[..40], &ParseConfig::default()).expect_err("cut");
    assert_eq!(err.code(), "bad_compression");
}

/// Hands `data` over in reads of at most `size` bytes (a pipe, a socket).
struct Pieces<'a> {
    data: &'a [u8],
    size: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len()).min(self.size);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// What a user sees of a stream: event ids, and dead letters (kind, line, bytes kept, length).
type Seen = (Vec<String>, Vec<(&'static str, u64, Vec<u8>, usize)>, ParseStats);

fn seen(input: impl Read, cfg: ParseConfig) -> Seen {
    let (out, stats, r) = read_with(input, cfg);
    r.expect("an in-memory stream reads");
    let dead = out.dead.iter().map(|d| (d.reason.code(), d.position, d.raw.clone(), d.bytes)).collect();
    (ids(&out), dead, stats)
}

/// Reads `input` whole (a file) and in reads of each of `sizes` bytes: the same every time.
fn same_in_read_sizes(input: &[u8], sizes: &[usize], cfg: &ParseConfig) -> Seen {
    let whole = seen(input, cfg.clone());
    for &size in sizes {
        let piecewise = seen(Pieces { data: input, size }, cfg.clone());
        assert!(piecewise == whole, "reads of {size} bytes: {piecewise:?}\nwhole: {whole:?}");
    }
    whole
}

#[test]
fn a_gzip_stream_handed_over_one_byte_at_a_time_is_still_read_as_gzip() {
    // The first read of a pipe can bring a single byte: half of the gzip magic number. The
    // stream was then read as plain text (a dead letter of binary garbage per "line").
    let plain = format!("\u{feff}{}", ndjson(0..5));
    let gz = gzip(plain.as_bytes());
    let (events, dead, _) = same_in_read_sizes(&gz, &[1, 2, 7, 4096], &ParseConfig::default());
    assert_eq!((events, dead.len()), (expected_ids(0..5), 0));
    // Cut inside the fourth event: three events, the cut one dead-lettered `truncated`.
    let cut = decompressible_prefix(&gz[..gz.len() - 30]);
    assert!(cut.len() > 3 * (event(0).len() + 1) && cut.len() < plain.len(), "{} bytes decode", cut.len());
    let (events, dead, _) = same_in_read_sizes(&gz[..gz.len() - 30], &[1, 3], &ParseConfig::default());
    assert_eq!(events, expected_ids(0..memchr_count(&cut)));
    assert_eq!(dead.iter().map(|d| d.0).collect::<Vec<_>>(), ["truncated"]);
    // One byte that happens to open the magic, alone, is a (bad) plain stream.
    let (events, dead, _) = same_in_read_sizes(b"\x1f", &[1], &ParseConfig::default());
    assert_eq!((events.len(), dead.len()), (0, 1));
}

/// A gzip member by hand: a stored (uncompressed) deflate block holding `data`, then a block
/// of the reserved type 3, which no decoder accepts.
fn gzip_corrupt_after(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("one stored block");
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.push(0x00); // not the last block, stored
    gz.extend_from_slice(&len.to_le_bytes());
    gz.extend_from_slice(&(!len).to_le_bytes());
    gz.extend_from_slice(data);
    gz.push(0x07); // the last block, type 3 (reserved): corrupt
    gz.extend_from_slice(&[0; 8]);
    gz
}

#[test]
fn a_corrupt_gzip_keeps_every_record_decoded_before_the_damage_whatever_the_read_sizes() {
    // The decoder met the bad block in the same call that decoded the records before it, and
    // dropped them: read from a file, every record was lost; from a pipe, none.
    // (Reads of 2 bytes or more: one byte is the gzip magic's test above.)
    let plain = ndjson(0..20);
    let sizes = [2, 7, 4096];
    let (events, dead, stats) =
        same_in_read_sizes(&gzip_corrupt_after(plain.as_bytes()), &sizes, &ParseConfig::default());
    assert_eq!(events, expected_ids(0..20));
    assert_eq!(dead, [("bad_compression", 21, Vec::new(), 0)], "the damage after the last line");
    assert_eq!(stats.bytes, plain.len() as u64);
    // Damage inside a record: the records before it, and the cut one as `bad_compression`.
    let cut = plain.len() - 100;
    let (events, dead, _) =
        same_in_read_sizes(&gzip_corrupt_after(&plain.as_bytes()[..cut]), &sizes, &ParseConfig::default());
    assert_eq!(events, expected_ids(0..19));
    assert_eq!(
        dead,
        [("bad_compression", 20, plain.as_bytes()[cut - (event(19).len() - 99)..cut].to_vec(), event(19).len() - 99)]
    );
    // A Kafka message holding it is dead-lettered whole.
    let err = read::gunzip(&gzip_corrupt_after(plain.as_bytes()), &ParseConfig::default()).expect_err("corrupt");
    assert_eq!(err.code(), "bad_compression");
}

#[test]
fn a_gzip_bomb_is_judged_the_same_whatever_the_read_sizes() {
    // 1.5 MiB of spaces (a ratio of about 1000), then events (130 over the whole stream).
    // The ratio was checked after every read of the decoder, whose input was whatever the
    // source had handed over: from a pipe, a few bytes in gave the spaces alone, over the
    // limit of 200 (no event read); from a file, 64 KiB in gave the spaces and the events,
    // under it (2000 events).
    let mut plain = vec![b' '; 3 << 19];
    plain.push(b'\n');
    plain.extend_from_slice(ndjson(0..2000).as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let (events, dead, _) = same_in_read_sizes(&gz, &[2, 7, 4096], &ParseConfig::default());
    assert_eq!(
        events.len() + dead.len(),
        2000,
        "{} events, dead {:?}",
        events.len(),
        dead.iter().map(|d| d.0).collect::<Vec<_>>()
    );
}

#[test]
fn a_read_error_under_a_gzip_stream_keeps_the_records_before_it_and_is_an_error() {
    let plain = ndjson(0..50);
    let gz = gzip(plain.as_bytes());
    let cut = gz.len() * 2 / 3;
    let seen = decompressible_prefix(&gz[..cut]);
    let (out, _, r) = read_with(FailsAfter(&gz[..cut]), ParseConfig::default());
    assert!(r.is_err_and(|e| e.to_string().contains("device error")));
    assert_eq!(ids(&out), expected_ids(0..memchr_count(&seen)));
    assert_eq!(kinds(&out), ["truncated"]);
    assert!(out.dead[0].reason.to_string().contains("read error"), "{}", out.dead[0].reason);
}
