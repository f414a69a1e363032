//! Rendering query results as a text table, CSV or JSON lines.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::LakeError;

/// How [`format_batches`] renders results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Arrow's pretty-printed ASCII table.
    #[default]
    Table,
    /// CSV with a header row. Nested columns (lists, structs) are rendered as text such as
    /// `[us-east-1, eu-west-1]`, since CSV has no nested values.
    Csv,
    /// Line-delimited JSON, one object per row, nulls written explicitly; lists are JSON
    /// arrays.
    Json,
}

impl FromStr for OutputFormat {
    type Err = LakeError;

    /// Parses `table`, `csv` or `json` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            _ => Err(LakeError::BadInput(format!("unknown output format `{s}`: expected one of table, csv, json"))),
        }
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
        })
    }
}

/// Renders `batches` (which must share one schema) in `format`.
///
/// An empty slice renders as an empty string for CSV and JSON, and as an empty table frame
/// for [`OutputFormat::Table`].
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, LakeError> {
    let bytes = match format {
        OutputFormat::Table => {
            return Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string());
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
            for b in batches {
                w.write(&flatten_nested(b)?)?;
            }
            w.into_inner()
        }
        OutputFormat::Json => {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            w.into_inner()
        }
    };
    String::from_utf8(bytes).map_err(|e| LakeError::BadInput(format!("rendered output is not UTF-8: {e}")))
}

/// Replaces every nested column with its text rendering, so the CSV writer accepts it.
fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch, LakeError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let mut b = StringBuilder::with_capacity(column.len(), column.len() * 16);
            for i in 0..column.len() {
                if column.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(formatter.value(i).to_string());
                }
            }
            fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
            columns.push(Arc::new(b.finish()));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, ListBuilder, StringArray};

    fn sample() -> RecordBatch {
        let mut regions = ListBuilder::new(StringBuilder::new());
        regions.values().append_value("us-east-1");
        regions.values().append_value("eu-west-1");
        regions.append(true);
        regions.append(true);
        let rule = StringArray::from(vec![Some("r1"), None]);
        let n = Int64Array::from(vec![3, 4]);
        RecordBatch::try_from_iter(vec![
            ("rule_id", Arc::new(rule) as ArrayRef),
            ("n", Arc::new(n) as ArrayRef),
            ("regions", Arc::new(regions.finish()) as ArrayRef),
        ])
        .expect("batch")
    }

    #[test]
    fn parses_formats_case_insensitively_and_rejects_others() {
        assert_eq!("table".parse::<OutputFormat>().expect("table"), OutputFormat::Table);
        assert_eq!("CSV".parse::<OutputFormat>().expect("csv"), OutputFormat::Csv);
        assert_eq!(" json ".parse::<OutputFormat>().expect("json"), OutputFormat::Json);
        let err = "xml".parse::<OutputFormat>().expect_err("xml");
        assert!(matches!(err, LakeError::BadInput(_)));
        assert!(err.to_string().contains("expected one of table, csv, json"), "{err}");
        for f in [OutputFormat::Table, OutputFormat::Csv, OutputFormat::Json] {
            assert_eq!(f.to_string().parse::<OutputFormat>().expect("round trip"), f);
        }
    }

    #[test]
    fn renders_table_csv_and_json() {
        let b = sample();
        let table = format_batches(std::slice::from_ref(&b), OutputFormat::Table).expect("table");
        assert!(table.contains("| rule_id |"), "{table}");
        assert!(table.contains("[us-east-1, eu-west-1]"), "{table}");

        let csv = format_batches(std::slice::from_ref(&b), OutputFormat::Csv).expect("csv");
        assert_eq!(csv, "rule_id,n,regions\nr1,3,\"[us-east-1, eu-west-1]\"\n,4,[]\n");

        let json = format_batches(&[b.clone(), b], OutputFormat::Json).expect("json");
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(lines.len(), 4);
        let first: serde_json::Value = serde_json::from_str(lines[0]).expect("json line");
        assert_eq!(first["regions"][1], "eu-west-1");
        let second: serde_json::Value = serde_json::from_str(lines[1]).expect("json line");
        assert!(second["rule_id"].is_null());
    }

    #[test]
    fn empty_results_render() {
        assert_eq!(format_batches(&[], OutputFormat::Csv).expect("csv"), "");
        assert_eq!(format_batches(&[], OutputFormat::Json).expect("json"), "");
        format_batches(&[], OutputFormat::Table).expect("table");
    }
}
