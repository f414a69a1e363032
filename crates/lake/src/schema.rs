//! The Arrow schema of the findings files and the conversion of [`Finding`]s into a batch.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder, TimestampMillisecondArray, UInt32Array,
    UInt64Array, UInt8Array,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use trailhound_model::Finding;

use crate::LakeError;

/// Column names of the findings files, in schema order.
///
/// The hive partition columns [`DT`](col::DT) and [`HOUR`](col::HOUR) are not stored in the
/// files; the query layer derives them from the directory names.
pub mod col {
    /// Deterministic finding id (Utf8).
    pub const UID: &str = "uid";
    /// Rule id (Utf8).
    pub const RULE_ID: &str = "rule_id";
    /// Short title (Utf8).
    pub const TITLE: &str = "title";
    /// Lower-case severity name (Utf8).
    pub const SEVERITY: &str = "severity";
    /// OCSF severity id 1–5 (UInt8).
    pub const SEVERITY_ID: &str = "severity_id";
    /// Confidence 0–100 (UInt8).
    pub const CONFIDENCE: &str = "confidence";
    /// `create` or `update` (Utf8).
    pub const ACTIVITY: &str = "activity";
    /// 0 for the first publication, +1 per update (UInt32).
    pub const REVISION: &str = "revision";
    /// Cloud provider (Utf8).
    pub const PROVIDER: &str = "provider";
    /// Identity key state was kept under (Utf8).
    pub const ACTOR_KEY: &str = "actor_key";
    /// Principal ARN (Utf8, nullable).
    pub const ACTOR_ARN: &str = "actor_arn";
    /// Identity class (Utf8).
    pub const IDENTITY_CLASS: &str = "identity_class";
    /// Account (Utf8, nullable).
    pub const ACCOUNT: &str = "account";
    /// Regions touched (`List<Utf8>`).
    pub const REGIONS: &str = "regions";
    /// Time of the first supporting event (Timestamp ms UTC).
    pub const FIRST_EVENT_TIME: &str = "first_event_time";
    /// Time of the last supporting event (Timestamp ms UTC).
    pub const LAST_EVENT_TIME: &str = "last_event_time";
    /// Number of supporting events (UInt64).
    pub const EVENT_COUNT: &str = "event_count";
    /// ATT&CK tactic ids (`List<Utf8>`).
    pub const ATTACK_TACTIC_IDS: &str = "attack_tactic_ids";
    /// ATT&CK technique ids (`List<Utf8>`).
    pub const ATTACK_TECHNIQUE_IDS: &str = "attack_technique_ids";
    /// Provider event ids of the evidence sample (`List<Utf8>`).
    pub const EVIDENCE_EVENT_IDS: &str = "evidence_event_ids";
    /// One-line summaries of the evidence sample (`List<Utf8>`).
    pub const EVIDENCE: &str = "evidence";
    /// Baseline / threshold facts (`List<Utf8>`).
    pub const CONTEXT: &str = "context";
    /// One paragraph saying what happened (Utf8).
    pub const SUMMARY: &str = "summary";
    /// One line saying what to do (Utf8).
    pub const REMEDIATION: &str = "remediation";
    /// The OCSF Detection Finding as a JSON string (Utf8).
    pub const OCSF_JSON: &str = "ocsf_json";
    /// Hive partition column: UTC date `YYYY-MM-DD` of `first_event_time` (query layer only).
    pub const DT: &str = "dt";
    /// Hive partition column: UTC hour `HH` of `first_event_time` (query layer only).
    pub const HOUR: &str = "hour";
}

/// The element field of every list column: Arrow's conventional `item`, nullable (the writer
/// never stores a null element).
fn item_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Utf8, true))
}

fn list_of_utf8() -> DataType {
    DataType::List(item_field())
}

fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The schema of the findings Parquet files (without the `dt`/`hour` partition columns).
///
/// Only `actor_arn` and `account` are nullable; list columns are non-null lists of
/// `Utf8` with Arrow's default `item` element field.
pub fn findings_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            use col::*;
            let utf8 = |name: &str| Field::new(name, DataType::Utf8, false);
            let list = |name: &str| Field::new(name, list_of_utf8(), false);
            Arc::new(Schema::new(vec![
                utf8(UID),
                utf8(RULE_ID),
                utf8(TITLE),
                utf8(SEVERITY),
                Field::new(SEVERITY_ID, DataType::UInt8, false),
                Field::new(CONFIDENCE, DataType::UInt8, false),
                utf8(ACTIVITY),
                Field::new(REVISION, DataType::UInt32, false),
                utf8(PROVIDER),
                utf8(ACTOR_KEY),
                Field::new(ACTOR_ARN, DataType::Utf8, true),
                utf8(IDENTITY_CLASS),
                Field::new(ACCOUNT, DataType::Utf8, true),
                list(REGIONS),
                Field::new(FIRST_EVENT_TIME, timestamp_utc(), false),
                Field::new(LAST_EVENT_TIME, timestamp_utc(), false),
                Field::new(EVENT_COUNT, DataType::UInt64, false),
                list(ATTACK_TACTIC_IDS),
                list(ATTACK_TECHNIQUE_IDS),
                list(EVIDENCE_EVENT_IDS),
                list(EVIDENCE),
                list(CONTEXT),
                utf8(SUMMARY),
                utf8(REMEDIATION),
                utf8(OCSF_JSON),
            ]))
        })
        .clone()
}

/// The schema the query layer exposes for `findings_all` and `findings`: the file schema plus
/// the non-null `dt` and `hour` Utf8 partition columns, as DataFusion's listing table adds them.
pub fn table_schema() -> SchemaRef {
    let file = findings_schema();
    let mut fields: Vec<FieldRef> = file.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(col::DT, DataType::Utf8, false)));
    fields.push(Arc::new(Field::new(col::HOUR, DataType::Utf8, false)));
    Arc::new(Schema::new(fields))
}

fn string_col<'a>(findings: &'a [Finding], f: impl Fn(&'a Finding) -> &'a str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(findings.iter().map(f)))
}

fn list_col<'a, I, S>(findings: &'a [Finding], f: impl Fn(&'a Finding) -> I) -> ArrayRef
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let values = StringBuilder::new();
    let mut b = ListBuilder::with_capacity(values, findings.len()).with_field(item_field());
    for finding in findings {
        for s in f(finding) {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Converts findings to one [`RecordBatch`] with [`findings_schema`], in the given order.
///
/// `ocsf_json` is `serde_json`'s compact rendering of [`Finding::to_ocsf`].
pub fn findings_to_batch(findings: &[Finding]) -> Result<RecordBatch, LakeError> {
    let fs = findings;
    let columns: Vec<ArrayRef> = vec![
        string_col(fs, |f| &f.uid),
        string_col(fs, |f| &f.rule_id),
        string_col(fs, |f| &f.title),
        string_col(fs, |f| f.severity.as_str()),
        Arc::new(UInt8Array::from_iter_values(fs.iter().map(|f| f.severity.ocsf_id()))),
        Arc::new(UInt8Array::from_iter_values(fs.iter().map(|f| f.confidence))),
        string_col(fs, |f| match f.activity {
            trailhound_model::Activity::Create => "create",
            trailhound_model::Activity::Update => "update",
        }),
        Arc::new(UInt32Array::from_iter_values(fs.iter().map(|f| f.revision))),
        string_col(fs, |f| &f.provider),
        string_col(fs, |f| &f.actor_key),
        Arc::new(StringArray::from_iter(fs.iter().map(|f| f.actor_arn.as_deref()))),
        string_col(fs, |f| f.identity_class.as_str()),
        Arc::new(StringArray::from_iter(fs.iter().map(|f| f.account.as_deref()))),
        list_col(fs, |f| &f.regions),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(fs.iter().map(|f| f.first_event_time)).with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(fs.iter().map(|f| f.last_event_time)).with_timezone("UTC"),
        ),
        Arc::new(UInt64Array::from_iter_values(fs.iter().map(|f| f.event_count))),
        list_col(fs, |f| &f.tactic_ids),
        list_col(fs, |f| &f.technique_ids),
        list_col(fs, |f| f.evidence.iter().map(|e| e.event_id.as_str())),
        list_col(fs, |f| f.evidence.iter().map(|e| e.summary.as_str())),
        list_col(fs, |f| &f.context),
        string_col(fs, |f| &f.summary),
        string_col(fs, |f| &f.remediation),
        Arc::new(StringArray::from_iter_values(fs.iter().map(|f| f.to_ocsf().to_string()))),
    ];
    Ok(RecordBatch::try_new(findings_schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;
    use arrow::array::{Array, AsArray};

    #[test]
    fn batch_matches_the_schema_and_carries_every_field() {
        let mut a = finding("r1", "AKIA1", 1_000);
        a.evidence.push(trailhound_model::Evidence {
            time: 1_000,
            event_id: "ev-1".into(),
            summary: "iam:ListUsers".into(),
        });
        let mut b = finding("r2", "AKIA2", 2_000);
        b.actor_arn = None;
        b.account = None;
        b.regions = vec![];
        let batch = findings_to_batch(&[a.clone(), b]).expect("batch");
        assert_eq!(batch.schema(), findings_schema());
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), 25);

        let s = |name: &str| batch.column_by_name(name).expect(name).as_string::<i32>().clone();
        assert_eq!(s(col::UID).value(0), a.uid);
        assert_eq!(s(col::SEVERITY).value(0), "high");
        assert_eq!(s(col::ACTIVITY).value(0), "create");
        assert!(s(col::ACTOR_ARN).is_null(1));
        assert!(s(col::ACCOUNT).is_null(1));
        let ocsf: serde_json::Value = serde_json::from_str(s(col::OCSF_JSON).value(0)).expect("json");
        assert_eq!(ocsf, a.to_ocsf());

        let regions = batch.column_by_name(col::REGIONS).expect("regions").as_list::<i32>();
        assert_eq!(regions.value(0).len(), 2);
        assert_eq!(regions.value(1).len(), 0);
        assert!(!regions.is_null(1));
        let ev = batch.column_by_name(col::EVIDENCE_EVENT_IDS).expect("ev").as_list::<i32>();
        assert_eq!(ev.value(0).as_string::<i32>().value(0), "ev-1");
        let sev_id = batch.column_by_name(col::SEVERITY_ID).expect("sev").as_primitive::<arrow::datatypes::UInt8Type>();
        assert_eq!(sev_id.value(0), 4);
    }

    #[test]
    fn empty_input_gives_an_empty_batch() {
        let batch = findings_to_batch(&[]).expect("batch");
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(batch.schema(), findings_schema());
    }

    #[test]
    fn table_schema_appends_partition_columns() {
        let t = table_schema();
        assert_eq!(t.fields().len(), findings_schema().fields().len() + 2);
        assert_eq!(t.field(t.fields().len() - 2).name(), col::DT);
        assert_eq!(t.field(t.fields().len() - 1).name(), col::HOUR);
    }
}
