//! The one error type of the crate.

use std::path::{Path, PathBuf};

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use parquet::errors::ParquetError;
use trailhound_model::escape::Escaped;

/// Everything that can go wrong writing or querying the findings lake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeError {
    /// A file-system operation failed (create, write, fsync, rename, list).
    #[error("I/O error: {op} {}: {source}", Escaped(path.display()))]
    Io {
        /// What was being done (`create`, `rename`, `fsync`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet encoder or decoder failed.
    #[error("parquet error: {0}")]
    Parquet(#[from] ParquetError),
    /// Building or converting Arrow data failed (batch assembly, CSV/JSON/table rendering).
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
    /// DataFusion rejected or failed to run a query (SQL syntax, unknown table or column,
    /// type errors, execution failures).
    #[error("query error: {0}")]
    Query(Box<DataFusionError>),
    /// The findings directory does not exist (no run has written there, or a wrong path).
    #[error(
        "findings directory {} does not exist (give the replay's OUT/findings, or OUT)",
        Escaped(path.display())
    )]
    MissingFindings {
        /// The path given.
        path: PathBuf,
    },
    /// The caller passed something unusable (a bad option, an unknown output format, a path
    /// that is not a directory).
    #[error("bad input: {0}")]
    BadInput(String),
}

impl From<DataFusionError> for LakeError {
    fn from(e: DataFusionError) -> Self {
        LakeError::Query(Box::new(e))
    }
}

impl LakeError {
    /// Wraps an I/O error with the operation and path it happened on.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LakeError {
        let path = path.to_path_buf();
        move |source| LakeError::Io { op, path, source }
    }
}
