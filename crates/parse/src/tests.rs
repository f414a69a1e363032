//! Unit tests for framing, normalization and dead letters.

use std::io::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, RecordBatch};
use trailhound_model::event::col;

use super::*;

fn event(name: &str, key: &str, t: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"{t}","eventID":"id-{name}-{key}","eventName":"{name}","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15.0","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accessKeyId":"{key}","accountId":"111122223333"}}}}"#
    )
}

fn parse_bytes(bytes: &[u8], cfg: ParseConfig) -> (Collect, ParseStats) {
    let mut p = Parser::new(cfg);
    let mut out = Collect::default();
    read::read_stream(&mut p, bytes, "mem", &mut out).expect("in-memory read");
    p.flush(&mut out);
    (out, p.stats())
}

fn strings(batches: &[RecordBatch], c: usize) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column(c).as_string::<i32>().clone();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i).to_string())).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn ndjson_with_blank_lines_crlf_and_no_final_newline() {
    let input = format!(
        "{}\r\n\n   \n{}\n{}",
        event("ListUsers", "AKIA1", "2024-01-01T00:00:00Z"),
        event("ListRoles", "AKIA1", "2024-01-01T00:00:01Z"),
        event("GetUser", "AKIA2", "2024-01-01T00:00:02Z")
    );
    let (out, stats) = parse_bytes(input.as_bytes(), ParseConfig::default());
    assert!(out.dead.is_empty(), "{:?}", out.dead);
    assert_eq!(out.rows(), 3);
    assert_eq!(stats.events, 3);
    assert_eq!(stats.bytes, input.len() as u64, "every byte is counted");
    let actions = strings(&out.batches, col::ACTION);
    assert_eq!(actions, vec![Some("ListUsers".into()), Some("ListRoles".into()), Some("GetUser".into())]);
    assert_eq!(strings(&out.batches, col::SOURCE)[2].as_deref(), Some("mem:5"));
}

fn records_file(n: usize) -> String {
    let recs: Vec<String> = (0..n).map(|i| event("ListUsers", &format!("AKIA{i}"), "2024-01-01T00:00:00Z")).collect();
    format!("{{\"Records\":[{}]}}", recs.join(","))
}

#[test]
fn delivery_files_plain_gzip_arrays_and_pretty_printed_objects() {
    let plain = records_file(5);
    let (out, _) = parse_bytes(plain.as_bytes(), ParseConfig::default());
    assert_eq!(out.rows(), 5);
    assert_eq!(strings(&out.batches, col::SOURCE)[4].as_deref(), Some("mem:1#4"));

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(plain.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let (out, stats) = parse_bytes(&gz, ParseConfig::default());
    assert_eq!(out.rows(), 5);
    assert_eq!(stats.bytes, plain.len() as u64, "bytes are counted after decompression");

    let array = format!("[{},{}]", event("A", "K1", "2024-01-01T00:00:00Z"), event("B", "K2", "2024-01-01T00:00:00Z"));
    assert_eq!(parse_bytes(array.as_bytes(), ParseConfig::default()).0.rows(), 2);

    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&event("C", "K", "2024-01-01T00:00:00Z")).expect("json"),
    )
    .expect("pretty");
    let (out, _) = parse_bytes(pretty.as_bytes(), ParseConfig::default());
    assert_eq!((out.rows(), out.dead.len()), (1, 0));

    // Gzipped NDJSON too.
    let nd = format!("{}\n{}\n", event("A", "K1", "2024-01-01T00:00:00Z"), event("B", "K2", "2024-01-01T00:00:00Z"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(nd.as_bytes()).expect("gzip");
    assert_eq!(parse_bytes(&gz.finish().expect("gzip"), ParseConfig::default()).0.rows(), 2);
}

#[test]
fn directory_trees_are_read_in_name_order_skipping_hidden_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::write(sub.join("b.json"), records_file(2)).expect("write");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(records_file(3).as_bytes()).expect("gzip");
    std::fs::write(sub.join("a.json.gz"), gz.finish().expect("gzip")).expect("write");
    std::fs::write(sub.join(".hidden.json"), "garbage").expect("write");
    let mut p = Parser::new(ParseConfig::default());
    let mut out = Collect::default();
    read::read_path(&mut p, dir.path(), &mut out).expect("read dir");
    p.flush(&mut out);
    assert_eq!(out.rows(), 5);
    assert!(out.dead.is_empty());
    let sources = strings(&out.batches, col::SOURCE);
    assert!(sources[0].as_deref().is_some_and(|s| s.contains("a.json.gz:1#0")), "{sources:?}");
}

#[test]
fn bad_records_are_dead_lettered_with_reason_position_and_original_bytes_while_the_rest_is_read() {
    let good = event("ListUsers", "AKIA1", "2024-01-01T00:00:00Z");
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let deep_event =
        format!(r#"{{"eventName":"X","requestParameters":{}{}{}}}"#, r#"{"a":"#.repeat(100), "1", "}".repeat(100));
    let huge =
        format!(r#"{{"eventName":"ListUsers","eventTime":"2024-01-01T00:00:00Z","pad":"{}"}}"#, "x".repeat(5 << 20));
    let mut input: Vec<u8> = Vec::new();
    let lines: Vec<Vec<u8>> = vec![
        good.clone().into_bytes(),
        b"{\"eventName\": \"ListUsers\", oops}".to_vec(),
        good.as_bytes()[..good.len() / 2].to_vec(),
        b"{\"eventName\":\"ListUsers\",\"userAgent\":\"\xff\xfe\"}".to_vec(),
        deep.into_bytes(),
        deep_event.into_bytes(),
        huge.into_bytes(),
        b"[1,2,3]".to_vec(),
        b"42".to_vec(),
        br#"{"eventName":123,"eventTime":"2024-01-01T00:00:00Z"}"#.to_vec(),
        br#"{"eventName":"ListUsers","userIdentity":"bob"}"#.to_vec(),
        br#"{"protoPayload":{"methodName":"x"},"logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity"}"#
            .to_vec(),
        br#"{"eventName":"Esc\"aped","eventTime":"2024-01-01T00:00:00Z", "bad": tru}"#.to_vec(),
        good.clone().into_bytes(),
    ];
    for l in &lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let (out, stats) = parse_bytes(&input, ParseConfig::default());
    assert_eq!(out.rows(), 2, "the two good lines survive");
    let kinds: Vec<(u64, &str)> = out.dead.iter().map(|d| (d.position, d.reason.code())).collect();
    assert_eq!(
        kinds,
        vec![
            (2, "invalid_json"),
            (3, "truncated"),
            (4, "invalid_utf8"),
            (5, "too_deep"),
            (6, "too_deep"),
            (7, "too_large"),
            (8, "not_an_object"),
            (8, "not_an_object"),
            (8, "not_an_object"),
            (9, "not_an_object"),
            (10, "wrong_type"),
            (11, "wrong_type"),
            (12, "unsupported_format"),
            (13, "invalid_json"),
        ]
    );
    // 8 is an array of numbers: each element is not an object, so 3 dead letters for line 8.
    for d in &out.dead {
        if d.position == 8 {
            continue;
        }
        let line = &lines[d.position as usize - 1];
        assert_eq!(d.bytes, line.len(), "length of line {}", d.position);
        // The one over max_event_bytes keeps only its first bytes; the others all of theirs.
        let kept = if d.position == 7 { DEAD_LETTER_PREFIX_BYTES } else { line.len() };
        assert_eq!(d.raw_truncated(), d.position == 7);
        assert!(d.raw == line[..kept], "original bytes of line {}", d.position);
        assert!(!d.reason.to_string().is_empty());
    }
    assert_eq!(stats.dead, out.dead.len() as u64);
    assert_eq!(stats.events + stats.dead, stats.records);
    let wrong = out.dead.iter().find(|d| d.position == 11).expect("line 11");
    assert_eq!(wrong.reason.to_string(), "field `userIdentity` should be an object but is string");
}

#[test]
fn batches_hold_at_most_batch_rows() {
    let input: String = (0..20).map(|i| event("ListUsers", &format!("K{i}"), "2024-01-01T00:00:00Z") + "\n").collect();
    let (out, _) = parse_bytes(input.as_bytes(), ParseConfig { batch_rows: 7, ..Default::default() });
    let sizes: Vec<usize> = out.batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, vec![7, 7, 6]);
}

#[test]
fn missing_or_unreadable_times_are_inferred_from_the_stream_and_flagged() {
    let no_time = r#"{"eventName":"GetSecretValue","eventSource":"secretsmanager.amazonaws.com"}"#;
    let redacted = r#"{"eventName":"GetSecretValue","eventTime":"redacted"}"#;
    let input = format!("{}\n{no_time}\n{redacted}\n", event("ListUsers", "K", "2024-01-01T00:00:05Z"));
    let (out, stats) = parse_bytes(input.as_bytes(), ParseConfig::default());
    assert_eq!(out.rows(), 3);
    assert_eq!(stats.time_inferred, 2);
    let b = &out.batches[0];
    let times = b.column(col::EVENT_TIME).as_primitive::<TimestampMillisecondType>();
    assert_eq!(times.value(1), times.value(0));
    let inferred = b.column(col::TIME_INFERRED).as_boolean();
    assert!(!inferred.value(0) && inferred.value(1) && inferred.value(2));
    // No event id in the record: a stable one is derived.
    let ids = strings(&out.batches, col::EVENT_ID);
    assert!(ids[1].as_deref().is_some_and(|s| s.starts_with("th-")));
    let again = parse_bytes(input.as_bytes(), ParseConfig::default()).0;
    assert_eq!(strings(&again.batches, col::EVENT_ID), ids);
}

#[test]
fn request_fields_of_a_gpu_launch_are_extracted() {
    let run = r#"{"eventName":"RunInstances","eventSource":"ec2.amazonaws.com","eventTime":"2024-08-01T11:30:23Z","eventID":"e1","awsRegion":"us-east-1","readOnly":false,"errorCode":"Client.UnauthorizedOperation","requestParameters":{"disableApiTermination":true,"instanceType":"p2.xlarge","instancesSet":{"items":[{"imageId":"ami-1","maxCount":10,"minCount":1},{"imageId":"ami-2","maxCount":5,"minCount":1}]}},"responseElements":null,"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/i-0123456789abcdef0","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r","userName":"r"}}}}"#;
    let modify = r#"{"eventName":"ModifyInstanceAttribute","eventSource":"ec2.amazonaws.com","eventTime":"2024-08-01T11:30:24Z","eventID":"e2","requestParameters":{"instanceId":"i-1","disableApiTermination":{"value":false}},"userIdentity":{"type":"IAMUser","accessKeyId":"AKIA1"}}"#;
    let (out, _) = parse_bytes(format!("{run}\n{modify}\n").as_bytes(), ParseConfig::default());
    let b = &out.batches[0];
    let counts = b.column(col::INSTANCE_COUNT).as_primitive::<UInt32Type>();
    assert_eq!(counts.value(0), 15);
    assert!(counts.is_null(1));
    let term = b.column(col::DISABLE_API_TERMINATION).as_boolean();
    assert!(term.value(0) && !term.value(1));
    assert_eq!(strings(&out.batches, col::INSTANCE_TYPE)[0].as_deref(), Some("p2.xlarge"));
    assert_eq!(strings(&out.batches, col::SERVICE)[0].as_deref(), Some("ec2"));
    assert_eq!(strings(&out.batches, col::ERROR_CODE)[0].as_deref(), Some("Client.UnauthorizedOperation"));
    assert_eq!(strings(&out.batches, col::IDENTITY_CLASS)[0].as_deref(), Some("workload"));
    assert_eq!(strings(&out.batches, col::SESSION_ISSUER)[0].as_deref(), Some("arn:aws:iam::1:role/r"));
    let req = strings(&out.batches, col::REQUEST_PARAMETERS)[0].clone().expect("kept for a mutating call");
    let req: serde_json::Value = serde_json::from_str(&req).expect("valid JSON");
    assert_eq!(req["instancesSet"]["items"][1]["maxCount"], 5);
    // The modify call has no readOnly field: inferred from its verb as mutating.
    assert!(!b.column(col::READ_ONLY).as_boolean().value(1));
}

#[test]
fn read_only_calls_do_not_keep_request_json() {
    let (out, _) = parse_bytes(event("ListUsers", "K", "2024-01-01T00:00:00Z").as_bytes(), ParseConfig::default());
    assert!(out.batches[0].column(col::REQUEST_PARAMETERS).is_null(0));
    let times = out.batches[0].column(col::EVENT_TIME).as_primitive::<TimestampMillisecondType>();
    assert_eq!(times.timezone(), Some("UTC"));
}

/// `len` bytes of `fill`, then `tail`, produced as read (never held whole).
struct Lazy {
    left: usize,
    fill: u8,
    tail: std::io::Cursor<Vec<u8>>,
}

impl std::io::Read for Lazy {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return self.tail.read(buf);
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(self.fill);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn the_read_buffer_stays_within_the_limits_whatever_the_length_of_a_line() {
    let cfg = ParseConfig { max_event_bytes: 1 << 20, max_document_bytes: 2 << 20, ..ParseConfig::default() };
    let after = format!("\n{}\n", event("ListUsers", "K", "2024-01-01T00:00:00Z"));
    // A 64 MiB line of bytes that are not JSON, then one inside a string that never closes.
    let cases: [(&[u8], u8); 2] = [(b"", b'A'), (b"{\"Records\":[{\"pad\":\"", b'x')];
    for (head, fill) in cases {
        let mut p = Parser::new(cfg.clone());
        let mut out = Collect::default();
        let input = std::io::Read::chain(
            head,
            Lazy { left: 64 << 20, fill, tail: std::io::Cursor::new(after.clone().into_bytes()) },
        );
        read::read_stream(&mut p, input, "lazy", &mut out).expect("in-memory read");
        p.flush(&mut out);
        assert_eq!(out.rows(), 1, "the event after the line is read");
        assert_eq!(out.dead.len(), 1);
        assert_eq!(out.dead[0].bytes, head.len() + (64 << 20));
        assert_eq!(out.dead[0].raw.len(), DEAD_LETTER_PREFIX_BYTES);
        // Never more than the larger limit and a read chunk (4 MiB), grown by half at most.
        let bound = ((2 << 20) + (4 << 20) + PADDING) * 3 / 2;
        assert!(p.read_buf.capacity() <= bound, "read buffer of {} bytes", p.read_buf.capacity());
    }
}

#[test]
fn a_large_document_is_read_whole_into_a_buffer_grown_only_as_far_as_it_needs() {
    let cfg = ParseConfig { max_document_bytes: 60 << 20, ..ParseConfig::default() };
    let head = br#"{"Records":[{"eventName":"ListUsers","eventTime":"2024-01-01T00:00:00Z","pad":""#;
    let tail = format!("\"}}]}}\n{}\n", event("ListUsers", "K", "2024-01-01T00:00:01Z"));
    let mut p = Parser::new(cfg);
    let mut out = Collect::default();
    let input = std::io::Read::chain(
        &head[..],
        Lazy { left: 40 << 20, fill: b'x', tail: std::io::Cursor::new(tail.into_bytes()) },
    );
    read::read_stream(&mut p, input, "lazy", &mut out).expect("in-memory read");
    p.flush(&mut out);
    assert_eq!((out.rows(), out.dead.len()), (2, 0), "{:?}", out.dead.first().map(|d| &d.reason));
    // The buffer held the document: at least its size, and at most half as much again.
    let cap = p.read_buf.capacity();
    let bound = ((40 << 20) + (4 << 20) + PADDING) * 3 / 2;
    assert!((40 << 20..=bound).contains(&cap), "read buffer of {cap} bytes");
}
