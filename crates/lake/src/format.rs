//! Rendering query results as a text table, CSV or JSON lines, safe to print.
//!
//! Query results hold strings from audit logs, that is from whoever wrote them. Each format
//! keeps them from acting on the reader's terminal or spreadsheet:
//!
//! - **table** escapes control characters (C0 with newline, carriage return and tab, DEL,
//!   C1), Unicode bidi overrides and isolates and zero-width characters in every cell and
//!   column name ([`trailhound_model::escape`]: `\x1b`, `\n`, `\u{9b}`, `\u{202e}`), so one
//!   cell is one line and no escape sequence reaches the terminal;
//! - **csv** neutralises spreadsheet formulas as OWASP recommends: a text cell starting with
//!   `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'` and is quoted; text cells
//!   holding `,` `;` tab `"` or a line break are quoted (`;` too, so a semicolon-separated
//!   reading cannot start a new cell). Numeric and boolean columns are written as they are (a
//!   negative number stays a number). Other values are exact, control characters included:
//!   CSV is for files and spreadsheets, not terminals;
//! - **json** is exact: JSON escapes C0 controls itself, and DEL, C1 controls and the
//!   invisible characters above are written as `\uXXXX` escapes, which decode to the same
//!   string.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use trailhound_model::escape::{escape, needs_escape};

use crate::LakeError;

/// How [`format_batches`] renders results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Arrow's pretty-printed ASCII table, every cell and column name with control, bidi and
    /// zero-width characters escaped (`\x1b`, `\n`, `\u{202e}`): one cell is one line.
    #[default]
    Table,
    /// CSV with a header row. Text cells starting with `=`, `+`, `-`, `@`, tab or carriage
    /// return are prefixed with `'` and quoted (OWASP's CSV-injection advice); numbers stay
    /// numbers. Nested columns (lists, structs) are rendered as text such as
    /// `[us-east-1, eu-west-1]`, since CSV has no nested values.
    Csv,
    /// Line-delimited JSON, one object per row, nulls written explicitly; lists are JSON
    /// arrays. Exact values; control and invisible characters are JSON `\u` escapes.
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
            _ => Err(LakeError::BadInput(format!(
                "unknown output format `{}`: expected one of table, csv, json",
                escape(s)
            ))),
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

/// Renders `batches` (which must share one schema) in `format` (see the module docs for
/// what each format escapes).
///
/// An empty slice renders as an empty string for CSV and JSON, and as an empty table frame
/// for [`OutputFormat::Table`].
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, LakeError> {
    match format {
        OutputFormat::Table => {
            let escaped = batches.iter().map(escaped_text).collect::<Result<Vec<_>, _>>()?;
            Ok(arrow::util::pretty::pretty_format_batches(&escaped)?.to_string())
        }
        OutputFormat::Csv => csv(batches),
        OutputFormat::Json => {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            let text = String::from_utf8(w.into_inner())
                .map_err(|e| LakeError::BadInput(format!("rendered output is not UTF-8: {e}")))?;
            Ok(json_escape_invisible(text))
        }
    }
}

/// Every column rendered as text with [`escape`] applied, names included; nulls stay null.
fn escaped_text(batch: &RecordBatch) -> Result<RecordBatch, LakeError> {
    let options = FormatOptions::default();
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut cell = String::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut b = StringBuilder::with_capacity(column.len(), column.len() * 16);
        for i in 0..column.len() {
            if column.is_null(i) {
                b.append_null();
            } else {
                cell.clear();
                let _ = write!(cell, "{}", formatter.value(i));
                b.append_value(escape(&cell));
            }
        }
        fields.push(Field::new(escape(field.name()), DataType::Utf8, true));
        columns.push(Arc::new(b.finish()));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// True for a column whose cells are numbers or booleans (written as they are in CSV).
fn is_number_like(t: &DataType) -> bool {
    t.is_numeric() || t.is_temporal() || matches!(t, DataType::Boolean | DataType::Null)
}

/// The CSV text of `batches`: a header row, then one row per record, `\n`-terminated.
fn csv(batches: &[RecordBatch]) -> Result<String, LakeError> {
    let Some(first) = batches.first() else {
        return Ok(String::new());
    };
    let options = FormatOptions::default();
    let mut out = String::new();
    for (i, field) in first.schema().fields().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_csv_text(&mut out, field.name());
    }
    out.push('\n');
    let mut cell = String::new();
    for batch in batches {
        let schema = batch.schema();
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            for (i, (column, formatter)) in batch.columns().iter().zip(&formatters).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if column.is_null(row) {
                    continue;
                }
                cell.clear();
                let _ = write!(cell, "{}", formatter.value(row));
                if is_number_like(schema.field(i).data_type()) {
                    push_csv_quoted_if_needed(&mut out, &cell, false);
                } else {
                    push_csv_text(&mut out, &cell);
                }
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// A text cell: neutralised when it could start a formula, quoted when needed.
fn push_csv_text(out: &mut String, cell: &str) {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push_str("\"'");
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        push_csv_quoted_if_needed(out, cell, true);
    }
}

fn push_csv_quoted_if_needed(out: &mut String, cell: &str, text: bool) {
    let special = |c: char| matches!(c, ',' | '"' | '\n' | '\r') || (text && matches!(c, ';' | '\t'));
    if cell.contains(special) {
        out.push('"');
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

/// Rewrites DEL, C1 controls and invisible format characters (everything [`needs_escape`]
/// names but the C0 controls, which JSON escapes already) as `\uXXXX` escapes. They can only
/// occur inside JSON strings, where the escape decodes to the same character; the newline
/// between records is kept.
fn json_escape_invisible(text: String) -> String {
    if !text.chars().any(|c| c != '\n' && needs_escape(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        if c != '\n' && needs_escape(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
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

    /// Strings an attacker controls in CloudTrail (user names, user agents, ARNs).
    const HOSTILE: [&str; 12] = [
        "\x1b]0;pwned\x07",
        "\x1b[2J",
        "a\nb",
        "bob\n| fake | row |",
        "=HYPERLINK(\"http://x\")",
        "+1",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "evil\u{202e}gnp.exe\u{2066}",
        "x\u{9b}31m\u{7f}",
        "zero\u{200b}width;=1+1",
    ];

    fn hostile() -> RecordBatch {
        let n = HOSTILE.len();
        let mut list = ListBuilder::new(StringBuilder::new());
        for s in HOSTILE {
            list.values().append_value(s);
            list.append(true);
        }
        RecordBatch::try_from_iter(vec![
            ("user", Arc::new(StringArray::from(HOSTILE.to_vec())) as ArrayRef),
            ("n", Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| -i - 1))) as ArrayRef),
            (
                "x",
                Arc::new(arrow::array::Float64Array::from_iter_values((0..n).map(|i| -(i as f64) - 0.5))) as ArrayRef,
            ),
            ("agents", Arc::new(list.finish()) as ArrayRef),
        ])
        .expect("batch")
    }

    #[test]
    fn table_cells_show_control_bidi_and_zero_width_characters_escaped_one_line_per_row() {
        let table = format_batches(&[hostile()], OutputFormat::Table).expect("table");
        assert!(
            !table.chars().any(|c| c != '\n' && needs_escape(c)),
            "a control, bidi or zero-width character reached the table:\n{table:?}"
        );
        let lines: Vec<&str> = table.lines().collect();
        // Top border, header, header separator, one line per row, bottom border.
        assert_eq!(lines.len(), HOSTILE.len() + 4, "{table}");
        assert!(lines.iter().all(|l| l.starts_with('+') || l.starts_with('|')), "{table}");
        for shown in [
            r"\x1b]0;pwned\x07",
            r"\x1b[2J",
            r"a\nb",
            r"bob\n| fake | row |",
            r"\u{202e}gnp.exe\u{2066}",
            r"x\u{9b}31m\x7f",
            r"zero\u{200b}width",
            "=HYPERLINK(\"http://x\")",
        ] {
            assert!(table.contains(shown), "{shown} not in\n{table}");
        }
        // Lists are rendered and escaped too, and so are column names.
        assert!(table.contains(r"[bob\n| fake | row |]"), "{table}");
        let named =
            RecordBatch::try_from_iter(vec![("col\x1b[2J", Arc::new(StringArray::from(vec!["v"])) as ArrayRef)])
                .expect("batch");
        let table = format_batches(&[named], OutputFormat::Table).expect("table");
        assert!(table.contains(r"col\x1b[2J") && !table.contains('\x1b'), "{table}");
    }

    #[test]
    fn csv_neutralises_formula_cells_in_text_columns_and_keeps_negative_numbers_numbers() {
        let csv = format_batches(&[hostile()], OutputFormat::Csv).expect("csv");
        assert!(csv.starts_with("user,n,x,agents\n"), "{csv}");
        // Each expected record, whole, between two record ends.
        let has = |row: &str| assert!(csv.contains(&format!("\n{row}\n")), "{row:?} not a record of\n{csv:?}");
        has("\"\x1b]0;pwned\x07\",-1,-0.5,\"[\x1b]0;pwned\x07]\""); // CSV keeps data exact
        has("\x1b[2J,-2,-1.5,[\x1b[2J]");
        has("\"'=HYPERLINK(\"\"http://x\"\")\",-5,-4.5,\"[=HYPERLINK(\"\"http://x\"\")]\"");
        has("\"'+1\",-6,-5.5,[+1]");
        has("\"'-2+3\",-7,-6.5,[-2+3]");
        has("\"'@SUM(A1)\",-8,-7.5,[@SUM(A1)]");
        has("\"'\tx\",-9,-8.5,\"[\tx]\"");
        // A semicolon would start a new cell for a spreadsheet reading `;`-separated CSV.
        has("\"zero\u{200b}width;=1+1\",-12,-11.5,\"[zero\u{200b}width;=1+1]\"");
        // A line break stays inside its quoted cell: rows 2 and 3 span two physical lines.
        assert!(csv.contains("\"a\nb\",-3,-2.5,\"[a\nb]\"\n"), "{csv}");
        assert!(csv.contains("\"bob\n| fake | row |\",-4,-3.5,"), "{csv}");
        let carriage = RecordBatch::try_from_iter(vec![
            ("s", Arc::new(StringArray::from(vec![Some("\rcmd"), None, Some("-")])) as ArrayRef),
            ("t", Arc::new(StringArray::from(vec!["=x", "ok", "a,b"])) as ArrayRef),
        ])
        .expect("batch");
        assert_eq!(
            format_batches(&[carriage], OutputFormat::Csv).expect("csv"),
            "s,t\n\"'\rcmd\",\"'=x\"\n,ok\n\"'-\",\"a,b\"\n"
        );
    }

    #[test]
    fn json_is_exact_and_escapes_control_and_invisible_characters() {
        let json = format_batches(&[hostile()], OutputFormat::Json).expect("json");
        assert!(
            !json.chars().any(|c| c != '\n' && needs_escape(c)),
            "a raw control or invisible character in JSON output: {json:?}"
        );
        assert!(json.contains(r"\u001b]0;pwned\u0007") && json.contains(r"\u009b") && json.contains(r"\u202e"));
        let rows: Vec<serde_json::Value> =
            json.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
        assert_eq!(rows.len(), HOSTILE.len());
        for (row, s) in rows.iter().zip(HOSTILE) {
            assert_eq!(row["user"], s, "JSON decodes to the exact value");
            assert_eq!(row["agents"][0], s);
        }
        assert_eq!(rows[2]["n"], -3);
        // Characters outside the basic plane are escaped as surrogate pairs.
        let tag = RecordBatch::try_from_iter(vec![("s", Arc::new(StringArray::from(vec!["a\u{e0041}"])) as ArrayRef)])
            .expect("batch");
        let json = format_batches(&[tag], OutputFormat::Json).expect("json");
        assert_eq!(json.trim_end(), r#"{"s":"a\udb40\udc41"}"#);
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["s"], "a\u{e0041}");
    }

    #[test]
    fn empty_results_render() {
        assert_eq!(format_batches(&[], OutputFormat::Csv).expect("csv"), "");
        assert_eq!(format_batches(&[], OutputFormat::Json).expect("json"), "");
        format_batches(&[], OutputFormat::Table).expect("table");
    }
}
