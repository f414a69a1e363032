//! The findings lake: where trailhound's findings are stored and how analysts query them.
//!
//! This crate owns
//!
//! - the **Parquet layout** of findings: one row per finding revision buffered at a flush
//!   (the newest revision of each uid since the previous flush), with the
//!   columns of [`findings_schema`] (see [`col`]), in hive partitions
//!   `root/dt=YYYY-MM-DD/hour=HH/part-<run_id>-<seq>.parquet` keyed by the UTC date and hour
//!   of `first_event_time`;
//! - the **writer**, [`FindingsWriter`]: synchronous, buffered, one uid per buffer entry, and
//!   atomic (hidden temp file, fsync, rename, directory fsync), so a reader never sees a
//!   partial file;
//! - the **directory protocol** of a replay ([`clear_findings`], [`mark_running`],
//!   [`inspect`]): a rerun replaces the previous run's files, and a `_RUNNING` marker stays
//!   behind a run that did not complete, so `query` can say its findings are partial;
//! - the **query layer** on DataFusion: [`session`] registers the table `findings_all` (every
//!   revision, plus the `dt` and `hour` partition columns) and the view `findings` (the newest
//!   revision of each uid, see [`findings_view_sql`]); [`query`] runs one read-only SQL
//!   statement and [`format_batches`] renders the result as a table, CSV or JSON lines, safe
//!   to print (control characters escaped, spreadsheet formulas neutralised);
//! - the **evaluation** of findings against labelled attack behaviours, [`eval`]
//!   (`trailhound eval`): precision and recall per rule and per behaviour.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trailhound_lake::LakeError> {
//! use std::path::Path;
//! use trailhound_lake::{format_batches, query, FindingsWriter, OutputFormat, WriterOptions};
//! # let finding: trailhound_model::Finding = unimplemented!();
//!
//! // Pipeline side (sync).
//! let opts = WriterOptions { run_id: "run-42".into(), ..WriterOptions::default() };
//! let mut writer = FindingsWriter::new("/var/lib/trailhound/findings", opts)?;
//! writer.write(&finding);
//! let stats = writer.flush()?;
//! println!("{} rows in {} files", stats.rows, stats.files.len());
//!
//! // Analyst side (async).
//! let batches = query(
//!     Path::new("/var/lib/trailhound/findings"),
//!     "SELECT rule_id, count(*) AS n FROM findings WHERE dt >= '2024-07-30' GROUP BY rule_id",
//! )
//! .await?;
//! print!("{}", format_batches(&batches, "table".parse::<OutputFormat>()?)?);
//! # Ok(())
//! # }
//! ```

mod error;
pub mod eval;
mod folder;
mod format;
mod query;
mod schema;
mod writer;

pub use error::LakeError;
pub use folder::{
    clear_findings, inspect, mark_running, remove_temp_files, unmark_running, write_atomically, Cleared, FindingsDir,
    RUNNING_MARKER,
};
pub use format::{format_batches, OutputFormat};
pub use query::{findings_view_sql, query, register_findings, session, FINDINGS, FINDINGS_ALL};
pub use schema::{col, findings_schema, findings_to_batch, table_schema};
pub use writer::{FindingsWriter, FlushStats, WriterOptions};

#[cfg(test)]
pub(crate) mod test_support {
    use trailhound_model::{Activity, Finding, IdentityClass, Severity};

    /// A finding of `rule` for `key` whose first event is at `t` (ms).
    pub fn finding(rule: &str, key: &str, t: i64) -> Finding {
        Finding {
            uid: Finding::make_uid(rule, key, t),
            rule_id: rule.into(),
            title: format!("{rule} title"),
            severity: Severity::High,
            confidence: 80,
            tactic_ids: vec!["TA0007".into()],
            technique_ids: vec!["T1580".into()],
            provider: "aws".into(),
            actor_key: key.into(),
            actor_arn: Some(format!("arn:aws:iam::111122223333:user/{key}")),
            identity_class: IdentityClass::ProgrammaticUser,
            account: Some("111122223333".into()),
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            first_event_time: t,
            last_event_time: t + 10_000,
            event_count: 12,
            evidence: vec![],
            context: vec!["12 distinct recon APIs in 10s".into()],
            summary: "summary".into(),
            remediation: "rotate the key".into(),
            activity: Activity::Create,
            revision: 0,
            related_actor_keys: Vec::new(),
        }
    }
}
