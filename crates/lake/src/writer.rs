//! [`FindingsWriter`]: buffers findings and flushes them as atomic, hive-partitioned Parquet
//! files.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use trailhound_model::escape::Escaped;
use trailhound_model::{time, Finding};

use crate::{findings_schema, findings_to_batch, LakeError};

/// Options of a [`FindingsWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Most rows in one Parquet file; a partition with more buffered findings is split over
    /// several files. Must be at least 1. Default 100 000.
    pub max_rows_per_file: usize,
    /// Parquet compression codec. Default zstd (level 1).
    pub compression: Compression,
    /// Identifies this writer in file names (`part-<run_id>-<seq>.parquet`). ASCII letters,
    /// digits, `-`, `_` and `.` only, not starting with `.`. Two writers sharing a directory
    /// must use different run ids. The default is derived from the start time and process id.
    pub run_id: String,
}

impl Default for WriterOptions {
    fn default() -> Self {
        let millis =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        WriterOptions {
            max_rows_per_file: 100_000,
            compression: Compression::ZSTD(ZstdLevel::default()),
            run_id: format!("{millis}-{}", std::process::id()),
        }
    }
}

/// What one [`FindingsWriter::flush`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Final paths of the files written, in the order written.
    pub files: Vec<PathBuf>,
    /// Rows written (findings, after keeping only the newest revision per uid).
    pub rows: usize,
    /// Bytes written (sum of the file sizes).
    pub bytes: u64,
}

impl FlushStats {
    fn absorb(&mut self, other: FlushStats) {
        self.files.extend(other.files);
        self.rows += other.rows;
        self.bytes += other.bytes;
    }
}

/// Writes findings to `root/dt=YYYY-MM-DD/hour=HH/part-<run_id>-<seq:06>.parquet`.
///
/// [`write`](Self::write) only buffers (one entry per uid: a newer revision replaces an older
/// one); [`flush`](Self::flush) writes one file per partition (more if a partition exceeds
/// [`WriterOptions::max_rows_per_file`]). The partition is taken from
/// [`Finding::first_event_time`], which does not change across revisions, so every revision
/// of a finding lands in the same partition.
///
/// Each file is written under a hidden temporary name (`.part-...parquet.tmp`) in its final
/// directory, fsynced, renamed into place and the directory fsynced: readers never see a
/// partial file, and the temporary name does not end in `.parquet`, so listing readers skip
/// it. Dropping the writer flushes on a best-effort basis (errors are logged); call
/// [`close`](Self::close) to see them.
#[derive(Debug)]
pub struct FindingsWriter {
    root: PathBuf,
    opts: WriterOptions,
    props: WriterProperties,
    buffer: Vec<Finding>,
    index: HashMap<String, usize>,
    seq: u64,
}

impl FindingsWriter {
    /// A writer under `root`, which is created if missing.
    ///
    /// Fails with [`LakeError::BadInput`] for an invalid `run_id` or a zero
    /// `max_rows_per_file`, and with [`LakeError::Io`] if `root` cannot be created.
    pub fn new(root: impl Into<PathBuf>, opts: WriterOptions) -> Result<Self, LakeError> {
        let root = root.into();
        validate_run_id(&opts.run_id)?;
        if opts.max_rows_per_file == 0 {
            return Err(LakeError::BadInput("max_rows_per_file must be at least 1".into()));
        }
        create_dirs_durably(&root)?;
        let props = WriterProperties::builder()
            .set_compression(opts.compression)
            .set_max_row_group_row_count(Some(opts.max_rows_per_file.min(1 << 20)))
            .set_created_by(concat!("trailhound-lake ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        Ok(FindingsWriter { root, opts, props, buffer: Vec::new(), index: HashMap::new(), seq: 0 })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of buffered findings (distinct uids) not yet flushed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Buffers a finding. If a finding with the same uid is buffered, the one with the higher
    /// revision is kept (on a tie, the later write).
    pub fn write(&mut self, f: &Finding) {
        if let Some(&i) = self.index.get(&f.uid) {
            if f.revision >= self.buffer[i].revision {
                self.buffer[i] = f.clone();
            }
        } else {
            self.insert(f.clone());
        }
    }

    /// [`write`](Self::write) for an owned finding.
    fn insert(&mut self, f: Finding) {
        match self.index.get(&f.uid) {
            Some(&i) => {
                if f.revision >= self.buffer[i].revision {
                    self.buffer[i] = f;
                }
            }
            None => {
                self.index.insert(f.uid.clone(), self.buffer.len());
                self.buffer.push(f);
            }
        }
    }

    /// Writes every buffered finding, one file per `dt=/hour=` partition (split at
    /// `max_rows_per_file` rows), rows sorted by `first_event_time` then `uid`.
    ///
    /// On error the findings whose file was not renamed into place stay buffered, so a later
    /// flush retries them; files already renamed are kept.
    pub fn flush(&mut self) -> Result<FlushStats, LakeError> {
        let mut stats = FlushStats::default();
        if self.buffer.is_empty() {
            return Ok(stats);
        }
        self.index.clear();
        let mut partitions: BTreeMap<(String, String), Vec<Finding>> = BTreeMap::new();
        for f in self.buffer.drain(..) {
            partitions.entry(time::partition(f.first_event_time)).or_default().push(f);
        }
        let mut jobs: Vec<((String, String), Vec<Finding>)> = Vec::new();
        for (key, mut rows) in partitions {
            rows.sort_by(|a, b| (a.first_event_time, &a.uid).cmp(&(b.first_event_time, &b.uid)));
            while rows.len() > self.opts.max_rows_per_file {
                let rest = rows.split_off(self.opts.max_rows_per_file);
                jobs.push((key.clone(), rows));
                rows = rest;
            }
            jobs.push((key, rows));
        }

        let mut jobs = jobs.into_iter();
        while let Some(((dt, hour), rows)) = jobs.next() {
            match self.write_file(&dt, &hour, &rows) {
                Ok(s) => stats.absorb(s),
                Err(e) => {
                    for f in rows.into_iter().chain(jobs.flat_map(|(_, r)| r)) {
                        self.insert(f);
                    }
                    tracing::warn!(
                        error = %e,
                        files_written = stats.files.len(),
                        still_buffered = self.buffer.len(),
                        "findings flush failed"
                    );
                    return Err(e);
                }
            }
        }
        tracing::debug!(files = stats.files.len(), rows = stats.rows, bytes = stats.bytes, "flushed findings");
        Ok(stats)
    }

    /// Flushes and consumes the writer.
    pub fn close(mut self) -> Result<FlushStats, LakeError> {
        self.flush()
    }

    fn write_file(&mut self, dt: &str, hour: &str, rows: &[Finding]) -> Result<FlushStats, LakeError> {
        let dir = self.root.join(format!("dt={dt}")).join(format!("hour={hour}"));
        create_dirs_durably(&dir)?;
        let (name, path) = loop {
            let name = format!("part-{}-{:06}.parquet", self.opts.run_id, self.seq);
            self.seq += 1;
            let path = dir.join(&name);
            // A restarted writer reusing a run id must not replace an earlier file.
            if !path.try_exists().map_err(LakeError::io("stat", &path))? {
                break (name, path);
            }
        };
        let tmp = dir.join(format!(".{name}.tmp"));
        let result = self.write_tmp(&tmp, rows).and_then(|bytes| {
            fs::rename(&tmp, &path).map_err(LakeError::io("rename", &tmp))?;
            sync_dir(&dir)?;
            Ok(bytes)
        });
        match result {
            Ok(bytes) => Ok(FlushStats { files: vec![path], rows: rows.len(), bytes }),
            Err(e) => {
                if let Err(rm) = fs::remove_file(&tmp) {
                    if rm.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(path = %Escaped(tmp.display()), error = %rm, "could not remove temporary file");
                    }
                }
                Err(e)
            }
        }
    }

    /// Writes `rows` to `tmp` and fsyncs it; returns the file size.
    fn write_tmp(&self, tmp: &Path, rows: &[Finding]) -> Result<u64, LakeError> {
        let batch = findings_to_batch(rows)?;
        let file = File::create(tmp).map_err(LakeError::io("create", tmp))?;
        let mut writer = ArrowWriter::try_new(file, findings_schema(), Some(self.props.clone()))?;
        writer.write(&batch)?;
        let file = writer.into_inner()?;
        file.sync_all().map_err(LakeError::io("fsync", tmp))?;
        let len = file.metadata().map_err(LakeError::io("stat", tmp))?.len();
        Ok(len)
    }
}

impl Drop for FindingsWriter {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let pending = self.buffer.len();
            if let Err(e) = self.flush() {
                tracing::error!(error = %e, pending, "findings lost: flush on drop failed");
            }
        }
    }
}

fn validate_run_id(run_id: &str) -> Result<(), LakeError> {
    let ok = !run_id.is_empty()
        && !run_id.starts_with('.')
        && run_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LakeError::BadInput(format!(
            "run_id `{run_id}` must be non-empty ASCII letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// Creates `dir` and any missing parents, fsyncing the parent of every directory created so
/// the new entries survive a crash.
pub(crate) fn create_dirs_durably(dir: &Path) -> Result<(), LakeError> {
    if dir.is_dir() {
        return Ok(());
    }
    let missing: Vec<&Path> = dir.ancestors().take_while(|p| !p.as_os_str().is_empty() && !p.exists()).collect();
    fs::create_dir_all(dir).map_err(LakeError::io("create directory", dir))?;
    for created in missing.iter().rev() {
        match created.parent() {
            Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new("."))?,
            Some(parent) => sync_dir(parent)?,
            None => {}
        }
    }
    Ok(())
}

/// Fsyncs a directory so a rename or create inside it is durable (a no-op off Unix).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(LakeError::io("fsync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;
    use trailhound_model::time::HOUR;

    fn opts(run: &str) -> WriterOptions {
        WriterOptions { run_id: run.into(), ..WriterOptions::default() }
    }

    fn files_under(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn flush_writes_one_file_per_partition_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = FindingsWriter::new(dir.path().join("lake"), opts("t1")).expect("writer");
        // 2024-07-30 is day 19934.
        let day = 19_934 * 24 * HOUR;
        w.write(&finding("a", "k1", day + 21 * HOUR + 5));
        w.write(&finding("b", "k2", day + 21 * HOUR + 10));
        w.write(&finding("c", "k3", day + 22 * HOUR));
        w.write(&finding("d", "k4", day + 24 * HOUR + 3 * HOUR));
        let stats = w.flush().expect("flush");
        assert_eq!(stats.rows, 4);
        assert_eq!(stats.files.len(), 3);
        assert!(stats.bytes > 0);
        assert_eq!(
            files_under(&dir.path().join("lake")),
            vec![
                "dt=2024-07-30/hour=21/part-t1-000000.parquet",
                "dt=2024-07-30/hour=22/part-t1-000001.parquet",
                "dt=2024-07-31/hour=03/part-t1-000002.parquet",
            ]
        );
        assert_eq!(w.buffered(), 0);
        assert_eq!(w.flush().expect("empty flush"), FlushStats::default());
    }

    #[test]
    fn newer_revision_replaces_older_in_the_buffer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = FindingsWriter::new(dir.path(), opts("t2")).expect("writer");
        let f0 = finding("a", "k1", 0);
        let mut f1 = f0.clone();
        f1.revision = 1;
        f1.activity = trailhound_model::Activity::Update;
        w.write(&f0);
        w.write(&f1);
        w.write(&f0); // a late, older revision does not win
        assert_eq!(w.buffered(), 1);
        assert_eq!(w.buffer[0].revision, 1);
        assert_eq!(w.close().expect("close").rows, 1);
    }

    #[test]
    fn large_partitions_are_split_and_existing_names_are_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = WriterOptions { max_rows_per_file: 2, ..opts("t3") };
        let mut w = FindingsWriter::new(dir.path(), o.clone()).expect("writer");
        for i in 0..5 {
            w.write(&finding("a", &format!("k{i}"), i));
        }
        let stats = w.close().expect("close");
        assert_eq!(stats.files.len(), 3);
        // A restarted writer with the same run id continues after the existing files.
        let mut w = FindingsWriter::new(dir.path(), o).expect("writer");
        w.write(&finding("a", "k9", 9));
        let stats = w.close().expect("close");
        assert!(stats.files[0].ends_with("dt=1970-01-01/hour=00/part-t3-000003.parquet"));
        assert_eq!(files_under(dir.path()).len(), 4);
    }

    #[test]
    fn drop_flushes() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut w = FindingsWriter::new(dir.path(), opts("t4")).expect("writer");
            w.write(&finding("a", "k", 0));
        }
        assert_eq!(files_under(dir.path()), vec!["dt=1970-01-01/hour=00/part-t4-000000.parquet"]);
    }

    #[test]
    fn failed_flush_keeps_findings_buffered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = FindingsWriter::new(dir.path(), opts("t5")).expect("writer");
        // A file where the dt= directory must go makes the flush fail.
        fs::write(dir.path().join("dt=1970-01-01"), b"not a directory").expect("write");
        w.write(&finding("a", "k", 0));
        let err = w.flush().expect_err("flush must fail");
        assert!(matches!(err, LakeError::Io { .. }), "{err}");
        assert_eq!(w.buffered(), 1);
        fs::remove_file(dir.path().join("dt=1970-01-01")).expect("rm");
        assert_eq!(w.flush().expect("retry").rows, 1);
    }

    #[test]
    fn bad_options_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", ".hidden", "a/b", "a b"] {
            let err = FindingsWriter::new(dir.path(), opts(bad)).expect_err(bad);
            assert!(matches!(err, LakeError::BadInput(_)));
        }
        let o = WriterOptions { max_rows_per_file: 0, ..opts("ok") };
        assert!(matches!(FindingsWriter::new(dir.path(), o), Err(LakeError::BadInput(_))));
        assert!(!WriterOptions::default().run_id.is_empty());
        validate_run_id(&WriterOptions::default().run_id).expect("default run id is valid");
    }
}
