//! Where findings and dead letters go.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use trailhound_lake::{FindingsWriter, WriterOptions};
use trailhound_model::Finding;
use trailhound_parse::DeadLetter;

/// A sink failed: the run stops (findings must not be lost silently).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet lake failed.
    #[error(transparent)]
    Lake(#[from] trailhound_lake::LakeError),
}

/// Receives every published finding version.
pub trait FindingSink: Send {
    /// Publishes findings (creates and updates).
    fn publish(&mut self, findings: &[Finding]) -> Result<(), SinkError>;
    /// Makes everything published so far durable.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Receives records that could not be parsed.
pub trait DeadLetterSink: Send {
    /// Stores one dead letter.
    fn dead(&mut self, dead: &DeadLetter) -> Result<(), SinkError>;
    /// Makes everything stored so far durable.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Parquet findings through the lake writer (newest revision per uid per flush).
pub struct ParquetSink {
    writer: FindingsWriter,
}

impl ParquetSink {
    /// Writes under `dir` (hive partitions `dt=/hour=`).
    pub fn new(dir: &Path, max_rows_per_file: usize) -> Result<Self, SinkError> {
        let opts = WriterOptions { max_rows_per_file, ..Default::default() };
        Ok(Self { writer: FindingsWriter::new(dir, opts)? })
    }
}

impl FindingSink for ParquetSink {
    fn publish(&mut self, findings: &[Finding]) -> Result<(), SinkError> {
        for f in findings {
            self.writer.write(f);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush()?;
        Ok(())
    }
}

/// A buffered file of JSON lines.
struct Lines {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Lines {
    fn create(path: &Path) -> Result<Self, SinkError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| SinkError::Io { path: parent.to_path_buf(), source })?;
        }
        let file = File::create(path).map_err(|source| SinkError::Io { path: path.to_path_buf(), source })?;
        Ok(Self { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 20, file) })
    }
    fn line(&mut self, v: &serde_json::Value) -> Result<(), SinkError> {
        let io = |source| SinkError::Io { path: self.path.clone(), source };
        serde_json::to_writer(&mut self.out, v).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|source| SinkError::Io { path: self.path.clone(), source })
    }
}

/// OCSF Detection Finding JSON, one finding version per line (what a SOAR consumes).
pub struct OcsfJsonlSink(Lines);

impl OcsfJsonlSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        Ok(Self(Lines::create(path)?))
    }
}

impl FindingSink for OcsfJsonlSink {
    fn publish(&mut self, findings: &[Finding]) -> Result<(), SinkError> {
        findings.iter().try_for_each(|f| self.0.line(&f.to_ocsf()))
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.0.flush()
    }
}

/// Dead letters as NDJSON: source, position, kind, reason, original bytes.
pub struct DeadLetterFile(Lines);

impl DeadLetterFile {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        Ok(Self(Lines::create(path)?))
    }
}

impl DeadLetterSink for DeadLetterFile {
    fn dead(&mut self, dead: &DeadLetter) -> Result<(), SinkError> {
        self.0.line(&dead.to_json())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.0.flush()
    }
}

/// Keeps findings in memory (tests, the demo's summary).
#[derive(Default)]
pub struct MemorySink {
    /// Every version published, in order.
    pub findings: Vec<Finding>,
}

impl FindingSink for MemorySink {
    fn publish(&mut self, findings: &[Finding]) -> Result<(), SinkError> {
        self.findings.extend_from_slice(findings);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
