//! End-to-end: write findings with `FindingsWriter`, read them back through DataFusion and the
//! parquet crate.

use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, UInt32Type};
use trailhound_lake::{findings_schema, format_batches, query, FindingsWriter, LakeError, OutputFormat, WriterOptions};
use trailhound_model::time::{days_from_civil, DAY, HOUR, MINUTE};
use trailhound_model::{Activity, Evidence, Finding, IdentityClass, Severity};

fn at(y: i64, m: u32, d: u32, h: i64, min: i64) -> i64 {
    days_from_civil(y, m, d) * DAY + h * HOUR + min * MINUTE
}

fn finding(rule: &str, key: &str, t: i64, regions: &[&str]) -> Finding {
    Finding {
        uid: Finding::make_uid(rule, key, t),
        rule_id: rule.into(),
        title: format!("{rule} title"),
        severity: Severity::Medium,
        confidence: 60,
        tactic_ids: vec!["TA0007".into()],
        technique_ids: vec!["T1580".into(), "T1087.004".into()],
        provider: "aws".into(),
        actor_key: key.into(),
        actor_arn: Some(format!("arn:aws:iam::111122223333:user/{key}")),
        identity_class: IdentityClass::ProgrammaticUser,
        account: Some("111122223333".into()),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        first_event_time: t,
        last_event_time: t + 30_000,
        event_count: 5,
        evidence: vec![Evidence {
            time: t,
            event_id: format!("ev-{key}"),
            summary: format!("iam:ListUsers user={key}"),
        }],
        context: vec!["5 recon APIs in 30s".into()],
        summary: "enumeration".into(),
        remediation: "rotate the key".into(),
        activity: Activity::Create,
        revision: 0,
        related_actor_keys: Vec::new(),
    }
}

fn opts(run: &str) -> WriterOptions {
    WriterOptions { run_id: run.into(), ..WriterOptions::default() }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
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

/// Five findings over 2024-07-30 21h, 22h and 2024-07-31 03h; the first gets an update.
fn sample() -> Vec<Finding> {
    vec![
        finding("enumeration_burst", "AKIA1", at(2024, 7, 30, 21, 5), &["us-east-1"]),
        finding("enumeration_burst", "AKIA2", at(2024, 7, 30, 21, 40), &["us-east-1", "eu-west-1"]),
        finding("new_region", "AKIA1", at(2024, 7, 30, 22, 0), &["ap-south-1", "eu-west-1", "us-east-1"]),
        finding("enumeration_burst", "AKIA3", at(2024, 7, 31, 3, 15), &["eu-west-1"]),
        finding("key_from_new_asn", "AKIA4", at(2024, 7, 31, 3, 59), &[]),
    ]
}

fn write_lake(root: &Path) -> Vec<Finding> {
    let findings = sample();
    let mut w = FindingsWriter::new(root, opts("itest")).expect("writer");
    for f in &findings {
        w.write(f);
    }
    let stats = w.close().expect("close");
    assert_eq!(stats.rows, 5);
    findings
}

fn i64_at(batches: &[RecordBatch], col: usize, row: usize) -> i64 {
    batches[0].column(col).as_primitive::<Int64Type>().value(row)
}

async fn count(root: &Path, sql: &str) -> i64 {
    let b = query(root, sql).await.expect(sql);
    i64_at(&b, 0, 0)
}

async fn strings(root: &Path, sql: &str) -> Vec<String> {
    let batches = query(root, sql).await.expect(sql);
    let mut out = Vec::new();
    for b in &batches {
        let c = arrow::compute::cast(b.column(0), &DataType::Utf8).expect("cast");
        let s = c.as_string::<i32>();
        out.extend((0..s.len()).map(|i| s.value(i).to_string()));
    }
    out
}

#[test]
fn files_land_in_hive_partitions_without_temp_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_lake(dir.path());
    let files = files_under(dir.path());
    let expected: Vec<PathBuf> = [
        "dt=2024-07-30/hour=21/part-itest-000000.parquet",
        "dt=2024-07-30/hour=22/part-itest-000001.parquet",
        "dt=2024-07-31/hour=03/part-itest-000002.parquet",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(files, expected);
}

#[tokio::test]
async fn sql_over_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_lake(root);

    assert_eq!(count(root, "SELECT count(*) FROM findings_all").await, 5);
    assert_eq!(count(root, "SELECT count(*) FROM findings").await, 5);

    let b = query(root, "SELECT rule_id, count(*) AS n FROM findings GROUP BY rule_id ORDER BY n DESC, rule_id")
        .await
        .expect("group by");
    let table = format_batches(&b, OutputFormat::Csv).expect("csv");
    assert_eq!(table, "rule_id,n\nenumeration_burst,3\nkey_from_new_asn,1\nnew_region,1\n");

    // Partition columns.
    assert_eq!(count(root, "SELECT count(*) FROM findings WHERE dt = '2024-07-31'").await, 2);
    assert_eq!(count(root, "SELECT count(*) FROM findings WHERE dt = '2024-07-30' AND hour = '21'").await, 2);
    assert_eq!(
        strings(root, "SELECT DISTINCT dt || '/' || hour FROM findings_all ORDER BY 1").await,
        vec!["2024-07-30/21", "2024-07-30/22", "2024-07-31/03"]
    );

    // List columns.
    assert_eq!(count(root, "SELECT CAST(sum(array_length(regions)) AS BIGINT) FROM findings").await, 7);
    assert_eq!(
        count(root, "SELECT count(*) FROM findings WHERE array_length(regions) IS NULL OR array_length(regions) = 0")
            .await,
        1
    );
    assert_eq!(
        strings(root, "SELECT r FROM (SELECT unnest(regions) AS r FROM findings) GROUP BY r ORDER BY r").await,
        vec!["ap-south-1", "eu-west-1", "us-east-1"]
    );
    assert_eq!(
        count(root, "SELECT count(*) FROM findings WHERE array_has(attack_technique_ids, 'T1087.004')").await,
        5
    );
    assert_eq!(
        strings(root, "SELECT evidence_event_ids[1] FROM findings WHERE actor_key = 'AKIA3'").await,
        vec!["ev-AKIA3"]
    );

    // Timestamps.
    assert_eq!(
        count(
            root,
            "SELECT count(*) FROM findings WHERE first_event_time >= TIMESTAMP '2024-07-30T21:30:00Z' \
             AND first_event_time < TIMESTAMP '2024-07-31T03:30:00Z'"
        )
        .await,
        3
    );
    assert_eq!(
        strings(root, "SELECT first_event_time FROM findings ORDER BY first_event_time LIMIT 1").await,
        vec!["2024-07-30T21:05:00Z"]
    );

    // JSON column.
    assert_eq!(
        strings(root, "SELECT DISTINCT ocsf_json::text LIKE '%\"class_uid\":2004%' FROM findings").await,
        vec!["true"]
    );
}

#[tokio::test]
async fn findings_view_keeps_only_the_newest_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let findings = write_lake(root);

    // A later flush (another file in the same partition) carries revision 1 of the first one.
    let mut updated = findings[0].clone();
    updated.revision = 1;
    updated.activity = Activity::Update;
    updated.event_count = 50;
    updated.severity = Severity::High;
    updated.last_event_time += 60_000;
    let mut w = FindingsWriter::new(root, opts("itest2")).expect("writer");
    w.write(&updated);
    let stats = w.close().expect("close");
    assert_eq!(stats.files.len(), 1);
    assert_eq!(files_under(root).iter().filter(|p| p.starts_with("dt=2024-07-30/hour=21")).count(), 2);

    assert_eq!(count(root, "SELECT count(*) FROM findings_all").await, 6);
    assert_eq!(count(root, "SELECT count(*) FROM findings").await, 5);
    let uid = &findings[0].uid;
    let b = query(root, &format!("SELECT revision, activity, severity, event_count FROM findings WHERE uid = '{uid}'"))
        .await
        .expect("view");
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(b[0].column(0).as_primitive::<UInt32Type>().value(0), 1);
    assert_eq!(b[0].column(1).as_string::<i32>().value(0), "update");
    assert_eq!(b[0].column(2).as_string::<i32>().value(0), "high");

    // The view exposes the table's columns and no helper column.
    let view_cols = query(root, "SELECT * FROM findings LIMIT 1").await.expect("view");
    let all_cols = query(root, "SELECT * FROM findings_all LIMIT 1").await.expect("table");
    assert_eq!(view_cols[0].schema().fields().len(), findings_schema().fields().len() + 2);
    let names =
        |b: &[RecordBatch]| -> Vec<String> { b[0].schema().fields().iter().map(|f| f.name().clone()).collect() };
    assert_eq!(names(&view_cols), names(&all_cols));
}

/// A replay flushes as it publishes: one run leaves several files per partition, revisions of
/// one finding spread over them. The view keeps the newest; a rerun that clears the directory
/// first leaves no duplicate in `findings_all`.
#[tokio::test]
async fn several_flushes_of_one_run_and_a_rerun_keep_one_row_per_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let base = sample();
    let write_run = |run: &str| {
        let mut w = FindingsWriter::new(root, opts(run)).expect("writer");
        for rev in 0..3u32 {
            for f in &base {
                let mut f = f.clone();
                f.revision = rev;
                f.event_count = 5 + u64::from(rev);
                f.last_event_time += i64::from(rev) * 60_000;
                w.write(&f);
            }
            w.flush().expect("flush");
        }
        // A flush interrupted by a kill.
        fs::write(root.join("dt=2024-07-30/hour=21").join(format!(".part-{run}-000099.parquet.tmp")), b"PAR1")
            .expect("tmp");
    };
    write_run("r1");
    assert_eq!(files_under(root).iter().filter(|p| p.starts_with("dt=2024-07-30/hour=21")).count(), 4);
    let check = || async {
        assert_eq!(count(root, "SELECT count(*) FROM findings_all").await, 15);
        assert_eq!(count(root, "SELECT count(*) FROM (SELECT DISTINCT uid, revision FROM findings_all)").await, 15);
        assert_eq!(count(root, "SELECT count(*) FROM findings").await, 5);
        assert_eq!(
            count(root, "SELECT CAST(min(event_count) AS BIGINT) FROM findings").await,
            7,
            "the newest revision of each"
        );
    };
    check().await;

    // The rerun clears what the first run left, temporary files included.
    let cleared = trailhound_lake::clear_findings(root).expect("clear");
    assert_eq!((cleared.parquet_files, cleared.temp_files), (9, 1));
    assert!(files_under(root).is_empty(), "{:?}", files_under(root));
    write_run("r2");
    trailhound_lake::remove_temp_files(root).expect("rm tmp");
    check().await;
    assert!(files_under(root).iter().all(|p| p.to_string_lossy().contains("part-r2-")), "{:?}", files_under(root));
}

#[tokio::test]
async fn stale_temp_files_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_lake(root);
    // What a crash between create and rename leaves behind: a partial, hidden file.
    let part = root.join("dt=2024-07-30/hour=21");
    fs::write(part.join(".part-crashed-000007.parquet.tmp"), b"PAR1 partial garbage").expect("write");
    assert_eq!(count(root, "SELECT count(*) FROM findings_all").await, 5);
    assert_eq!(count(root, "SELECT count(*) FROM findings WHERE hour = '21'").await, 2);
}

#[tokio::test]
async fn an_empty_directory_queries_fine() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(count(dir.path(), "SELECT count(*) FROM findings").await, 0);
    let b = query(dir.path(), "SELECT uid, dt FROM findings_all").await.expect("query");
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}

#[tokio::test]
async fn bad_sql_is_a_query_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_lake(dir.path());
    for sql in ["SELEC * FROM findings", "SELECT nope FROM findings", "SELECT * FROM no_such_table"] {
        let err = query(dir.path(), sql).await.expect_err(sql);
        assert!(matches!(err, LakeError::Query(_)), "{sql}: {err:?}");
        assert!(err.to_string().starts_with("query error: "), "{err}");
    }
}

#[test]
fn files_read_back_with_the_parquet_crate_have_the_declared_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_lake(dir.path());
    let path = dir.path().join("dt=2024-07-30/hour=21/part-itest-000000.parquet");
    let file = fs::File::open(&path).expect("open");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("reader")
        .build()
        .expect("build");
    let schema = reader.schema();
    assert_eq!(schema.fields(), findings_schema().fields());
    assert!(!schema.field_with_name("uid").expect("uid").is_nullable());
    assert!(schema.field_with_name("actor_arn").expect("arn").is_nullable());
    assert!(schema.field_with_name("account").expect("account").is_nullable());
    assert!(schema.field_with_name("dt").is_err(), "partition columns are not stored");
    match schema.field_with_name("regions").expect("regions").data_type() {
        DataType::List(item) => {
            assert_eq!(item.data_type(), &DataType::Utf8);
            assert_eq!(item.name(), "item");
        }
        other => panic!("regions is {other}"),
    }
    assert_eq!(
        schema.field_with_name("first_event_time").expect("t").data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(schema.field_with_name("severity_id").expect("sev").data_type(), &DataType::UInt8);
    assert_eq!(schema.field_with_name("event_count").expect("n").data_type(), &DataType::UInt64);
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, 2);

    let meta = parquet::file::reader::SerializedFileReader::new(fs::File::open(&path).expect("open")).expect("meta");
    use parquet::file::reader::FileReader;
    let compression = meta.metadata().row_group(0).column(0).compression();
    assert!(matches!(compression, parquet::basic::Compression::ZSTD(_)), "{compression:?}");
}
