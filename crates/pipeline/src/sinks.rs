//! Where findings and dead letters go.
//!
//! Every sink makes what it was given durable on [`FindingSink::flush`]; the replay driver
//! flushes them all together every `output.flush_rows` finding versions and every
//! `output.flush_interval`, so a killed replay keeps what it had found up to its last flush.

use std::fs::File;
use std::io::Write;
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

/// Parquet findings through the lake writer (newest revision per uid per flush; each flush
/// writes one atomically renamed file per partition touched).
pub struct ParquetSink {
    writer: FindingsWriter,
}

impl ParquetSink {
    /// Writes under `dir` (hive partitions `dt=/hour=`), files named `part-<run_id>-<seq>`.
    pub fn new(dir: &Path, max_rows_per_file: usize, run_id: &str) -> Result<Self, SinkError> {
        let opts = WriterOptions { max_rows_per_file, run_id: run_id.to_string(), ..Default::default() };
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

/// Buffered output is written out once it holds this much, always at a line end.
const LINES_BUFFER: usize = 1 << 20;

/// A file of JSON lines, written only in whole lines: the file ends with a complete line
/// except when the process dies inside a write (then at most the last line is partial; a
/// reader skips a last line without its newline).
struct Lines {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
}

impl Lines {
    fn create(path: &Path) -> Result<Self, SinkError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| SinkError::Io { path: parent.to_path_buf(), source })?;
        }
        let file = File::create(path).map_err(|source| SinkError::Io { path: path.to_path_buf(), source })?;
        Ok(Self { path: path.to_path_buf(), file, buf: Vec::with_capacity(LINES_BUFFER + 4096) })
    }
    fn line(&mut self, v: &serde_json::Value) -> Result<(), SinkError> {
        let mark = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut self.buf, v) {
            self.buf.truncate(mark);
            return Err(SinkError::Io { path: self.path.clone(), source: e.into() });
        }
        self.buf.push(b'\n');
        if self.buf.len() >= LINES_BUFFER {
            self.write_out()?;
        }
        Ok(())
    }
    fn write_out(&mut self) -> Result<(), SinkError> {
        let result = self.file.write_all(&self.buf);
        self.buf.clear();
        result.map_err(|source| SinkError::Io { path: self.path.clone(), source })
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.write_out()?;
        self.file.sync_data().map_err(|source| SinkError::Io { path: self.path.clone(), source })
    }
}

/// OCSF Detection Finding JSON, one finding version per line (what a SOAR consumes). Written
/// in whole lines and fsynced at every flush: after a kill the file holds every version up to
/// the last flush and possibly more, and at most its last line is partial (no newline).
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

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_model::{Activity, IdentityClass, Severity};

    fn finding(i: usize) -> Finding {
        Finding {
            uid: Finding::make_uid("r", &format!("k{i}"), 0),
            rule_id: "enumeration_burst".into(),
            title: "Enumeration burst".into(),
            severity: Severity::High,
            confidence: 80,
            tactic_ids: vec!["TA0007".into()],
            technique_ids: vec!["T1580".into()],
            provider: "aws".into(),
            actor_key: format!("AKIA{i}"),
            actor_arn: Some(format!("arn:aws:iam::1:user/bob{i}\n\u{1b}[2J")),
            identity_class: IdentityClass::ProgrammaticUser,
            account: Some("111122223333".into()),
            regions: vec!["us-east-1".into()],
            first_event_time: 3_600_000,
            last_event_time: 3_610_000,
            event_count: 12,
            evidence: vec![],
            context: vec!["x".repeat(500)],
            summary: "s".into(),
            remediation: "r".into(),
            activity: Activity::Create,
            revision: 0,
            related_actor_keys: Vec::new(),
        }
    }

    fn lines_of(path: &Path) -> (Vec<u8>, usize) {
        let bytes = std::fs::read(path).expect("read");
        let n = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
        (bytes, n)
    }

    /// What a kill between flushes leaves: only whole lines, each one JSON.
    #[test]
    fn the_ocsf_file_holds_only_whole_lines_between_flushes_and_everything_after_a_flush() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f.ocsf.jsonl");
        let mut sink = OcsfJsonlSink::create(&path).expect("create");
        let findings: Vec<Finding> = (0..3000).map(finding).collect();
        sink.publish(&findings).expect("publish");
        let (bytes, n) = lines_of(&path);
        assert!(n > 0 && n < findings.len(), "more than the buffer was written out, not all: {n}");
        assert_eq!(bytes.last(), Some(&b'\n'), "the file ends with a complete line");
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).expect("every line is whole JSON");
            assert_eq!(v["class_uid"], 2004);
        }
        sink.flush().expect("flush");
        assert_eq!(lines_of(&path).1, findings.len());
    }
}
