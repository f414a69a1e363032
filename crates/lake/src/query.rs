//! The DataFusion query layer over the findings directory.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::TableProvider;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::schema::{col, table_schema};
use crate::{findings_schema, LakeError};

/// Name of the table with every stored row (every revision of every finding).
pub const FINDINGS_ALL: &str = "findings_all";
/// Name of the view with the newest revision of each finding.
pub const FINDINGS: &str = "findings";

/// The `CREATE VIEW` statement of the [`FINDINGS`] view: every column of [`FINDINGS_ALL`]
/// (including `dt` and `hour`), one row per `uid`, the one with the highest `revision`
/// (ties broken by the later `last_event_time`).
pub fn findings_view_sql() -> String {
    let mut cols = String::new();
    for (i, field) in table_schema().fields().iter().enumerate() {
        if i > 0 {
            cols.push_str(", ");
        }
        let _ = write!(cols, "\"{}\"", field.name());
    }
    format!(
        "CREATE VIEW {FINDINGS} AS SELECT {cols} FROM (\
         SELECT *, row_number() OVER (PARTITION BY \"{uid}\" \
         ORDER BY \"{rev}\" DESC, \"{last}\" DESC) AS __th_rank FROM {FINDINGS_ALL}\
         ) ranked WHERE __th_rank = 1",
        uid = col::UID,
        rev = col::REVISION,
        last = col::LAST_EVENT_TIME,
    )
}

/// A DataFusion session over `findings_dir` with the table [`FINDINGS_ALL`] and the view
/// [`FINDINGS`] registered (see [`register_findings`]). `information_schema` is enabled, so
/// `SHOW TABLES` and `SHOW COLUMNS FROM findings` work.
pub async fn session(findings_dir: &Path) -> Result<SessionContext, LakeError> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    register_findings(&ctx, findings_dir).await?;
    Ok(ctx)
}

/// Registers [`FINDINGS_ALL`] and [`FINDINGS`] in an existing session.
///
/// `findings_all` is a listing table over `findings_dir/dt=*/hour=*/*.parquet` with schema
/// [`findings_schema`] plus the Utf8 hive partition columns `dt` and `hour`; filters on them
/// prune directories. Files not ending in `.parquet` (such as the writer's hidden `.tmp`
/// files and the `_RUNNING` marker) are ignored. An existing directory without findings
/// gives an empty table; a missing directory is [`LakeError::MissingFindings`] and a path
/// that is not a directory [`LakeError::BadInput`].
pub async fn register_findings(ctx: &SessionContext, findings_dir: &Path) -> Result<(), LakeError> {
    let provider: Arc<dyn TableProvider> = match std::fs::metadata(findings_dir) {
        Ok(meta) if meta.is_dir() => listing_table(ctx, findings_dir)?,
        Ok(_) => {
            return Err(LakeError::BadInput(format!(
                "findings path {} is not a directory",
                trailhound_model::escape::Escaped(findings_dir.display())
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LakeError::MissingFindings { path: findings_dir.to_path_buf() })
        }
        Err(e) => return Err(LakeError::io("stat", findings_dir)(e)),
    };
    ctx.register_table(FINDINGS_ALL, provider)?;
    ctx.sql(&findings_view_sql()).await?;
    Ok(())
}

fn listing_table(ctx: &SessionContext, dir: &Path) -> Result<Arc<dyn TableProvider>, LakeError> {
    let abs = std::path::absolute(dir).map_err(LakeError::io("resolve", dir))?;
    // Build the URL ourselves: `ListingTableUrl::parse` would read `*`, `?` or `[` in the
    // path as a glob.
    let url = url::Url::from_directory_path(&abs)
        .map_err(|()| LakeError::BadInput(format!("cannot turn {} into a file URL", abs.display())))?;
    let table_url = ListingTableUrl::try_new(url, None)?;
    let format = ParquetFormat::new().with_options(ctx.copied_table_options().parquet);
    let options =
        ListingOptions::new(Arc::new(format)).with_file_extension(".parquet").with_table_partition_cols(vec![
            (col::DT.to_string(), DataType::Utf8),
            (col::HOUR.to_string(), DataType::Utf8),
        ]);
    let config = ListingTableConfig::new(table_url).with_listing_options(options).with_schema(findings_schema());
    let table = ListingTable::try_new(config)?.with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache());
    Ok(Arc::new(table))
}

/// Runs one read-only SQL statement against a fresh [`session`] over `findings_dir` and
/// collects the result.
///
/// DDL (`CREATE ...`) and DML (`INSERT`, `COPY ... TO`) are refused: this is the analysts'
/// query path and must not write. Any SQL problem is a [`LakeError::Query`].
pub async fn query(findings_dir: &Path, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let ctx = session(findings_dir).await?;
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false);
    let df = ctx.sql_with_options(sql, options).await?;
    Ok(df.collect().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_sql_lists_every_column_and_hides_the_rank() {
        let sql = findings_view_sql();
        for f in table_schema().fields() {
            assert!(sql.contains(&format!("\"{}\"", f.name())), "{}", f.name());
        }
        assert!(sql.starts_with("CREATE VIEW findings AS SELECT \"uid\""));
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_error_and_an_empty_one_has_no_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = query(&missing, "SELECT count(*) AS n FROM findings").await.expect_err("missing");
        assert!(matches!(err, LakeError::MissingFindings { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(!missing.exists(), "a query must not create the directory");
        let batches = query(dir.path(), "SELECT count(*) AS n FROM findings").await.expect("query");
        let n = batches[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().expect("i64").value(0);
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn a_file_is_not_a_findings_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        assert!(matches!(session(&file).await, Err(LakeError::BadInput(_))));
    }

    #[tokio::test]
    async fn writes_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for sql in [
            "CREATE TABLE t AS SELECT 1",
            "COPY (SELECT 1) TO '/tmp/should-not-exist.csv'",
            "INSERT INTO findings_all SELECT * FROM findings_all",
        ] {
            let err = query(dir.path(), sql).await.expect_err(sql);
            assert!(matches!(err, LakeError::Query(_)), "{sql}: {err}");
        }
    }
}
