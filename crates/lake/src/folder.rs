//! The findings directory as a whole: what a replay clears before it writes, the marker that
//! says a run is writing there, and what `query` checks before it reads.
//!
//! A replay into a directory replaces what an earlier replay left there: [`clear_findings`]
//! removes the writer's files (`dt=*/hour=*/part-*.parquet` and the hidden `.part-*.tmp`
//! files a killed run leaves) and nothing else. While it writes, the directory holds
//! [`RUNNING_MARKER`] ([`mark_running`]); it is removed when the run completes
//! ([`unmark_running`]), so a directory that still has it after the run is over holds the
//! findings of a run that was killed or failed: what it had flushed, readable, but partial.
//! The marker's name starts with `_`, which Spark, pyarrow and DataFusion listings skip.

use std::fs;
use std::path::{Path, PathBuf};

use crate::writer::sync_dir;
use crate::LakeError;

/// Name of the file in the findings directory that exists while a replay writes there.
pub const RUNNING_MARKER: &str = "_RUNNING";

/// What [`clear_findings`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Parquet files of earlier runs.
    pub parquet_files: usize,
    /// Temporary files of interrupted flushes.
    pub temp_files: usize,
}

/// A findings directory as [`inspect`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingsDir {
    /// The directory.
    pub path: PathBuf,
    /// Parquet files under `dt=*/hour=*/` (0: a run that found nothing, or none yet).
    pub parquet_files: usize,
    /// The contents of [`RUNNING_MARKER`] when present: the last run writing here has not
    /// completed (it is still running, was killed, or failed).
    pub running: Option<String>,
}

/// The `dt=*/hour=*` partition directories under `root`, in name order.
fn partitions(root: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let mut out = Vec::new();
    for dt in sorted_entries(root, "dt=")? {
        out.extend(sorted_entries(&dt, "hour=")?);
    }
    Ok(out)
}

/// Subdirectories of `dir` whose name starts with `prefix`; a missing `dir` has none.
fn sorted_entries(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, LakeError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LakeError::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(LakeError::io("list", dir))?;
        let is_dir = e.file_type().map_err(LakeError::io("stat", &e.path()))?.is_dir();
        if is_dir && e.file_name().to_string_lossy().starts_with(prefix) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

fn is_part(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
}

fn is_temp(name: &str) -> bool {
    name.starts_with(".part-") && name.ends_with(".tmp")
}

/// Removes the temporary files under `root/dt=*/hour=*` (and the Parquet parts when
/// `remove_parts`), then the partition directories left empty.
fn remove_files(root: &Path, remove_parts: bool) -> Result<Cleared, LakeError> {
    let mut cleared = Cleared::default();
    for dir in partitions(root)? {
        for e in fs::read_dir(&dir).map_err(LakeError::io("list", &dir))? {
            let e = e.map_err(LakeError::io("list", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let counter = if remove_parts && is_part(&name) {
                &mut cleared.parquet_files
            } else if is_temp(&name) {
                &mut cleared.temp_files
            } else {
                continue;
            };
            let path = e.path();
            match fs::remove_file(&path) {
                Ok(()) => *counter += 1,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(LakeError::io("remove", &path)(err)),
            }
        }
        sync_dir(&dir)?;
        // Only empty partitions go; anything else in them stays.
        if fs::remove_dir(&dir).is_ok() {
            if let Some(dt) = dir.parent() {
                let _ = fs::remove_dir(dt);
            }
        }
    }
    if root.is_dir() {
        sync_dir(root)?;
    }
    Ok(cleared)
}

/// Removes what earlier runs of the writer left under `root`: every
/// `dt=*/hour=*/part-*.parquet`, every hidden `.part-*.tmp`, and the partition directories
/// left empty. Other files are kept. A missing `root` is nothing to clear.
///
/// Only for a directory no other writer is using: a replay calls it before it writes.
pub fn clear_findings(root: &Path) -> Result<Cleared, LakeError> {
    let cleared = remove_files(root, true)?;
    if cleared != Cleared::default() {
        tracing::info!(
            parquet_files = cleared.parquet_files,
            temp_files = cleared.temp_files,
            "removed the previous run's findings files"
        );
    }
    Ok(cleared)
}

/// Removes only the hidden `.part-*.tmp` files that interrupted flushes left under `root`
/// (and partition directories left empty); returns how many. Only for a directory no other
/// writer is flushing into at the moment.
pub fn remove_temp_files(root: &Path) -> Result<usize, LakeError> {
    Ok(remove_files(root, false)?.temp_files)
}

/// Writes [`RUNNING_MARKER`] in `root` (created if missing) with `contents`, atomically
/// (temporary file, fsync, rename, directory fsync).
pub fn mark_running(root: &Path, contents: &str) -> Result<(), LakeError> {
    crate::writer::create_dirs_durably(root)?;
    write_atomically(&root.join(RUNNING_MARKER), contents.as_bytes())
}

/// Removes [`RUNNING_MARKER`] from `root` (durably); a missing marker is fine.
pub fn unmark_running(root: &Path) -> Result<(), LakeError> {
    let path = root.join(RUNNING_MARKER);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(root),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LakeError::io("remove", &path)(e)),
    }
}

/// Writes `bytes` to `path` through a hidden temporary file in the same directory, fsynced and
/// renamed into place, then fsyncs the directory: a reader sees the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| LakeError::BadInput(format!("{} has no file name", path.display())))?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(LakeError::io("write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(LakeError::io("rename", &tmp)))
        .and_then(|()| sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Checks a findings directory before a query: a missing path is
/// [`LakeError::MissingFindings`], a path that is not a directory [`LakeError::BadInput`];
/// otherwise the directory to read (`dir`, or `dir/findings` when `dir` is a replay's output
/// directory: it has a `findings` directory and no `dt=` partition of its own), how many
/// Parquet files it holds and whether its last run is incomplete.
pub fn inspect(dir: &Path) -> Result<FindingsDir, LakeError> {
    let found = inspect_exact(dir)?;
    let nested = dir.join("findings");
    if found.parquet_files == 0 && found.running.is_none() && sorted_entries(dir, "dt=")?.is_empty() && nested.is_dir()
    {
        return inspect_exact(&nested);
    }
    Ok(found)
}

fn inspect_exact(dir: &Path) -> Result<FindingsDir, LakeError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(LakeError::BadInput(format!(
                "findings path {} is not a directory",
                trailhound_model::escape::Escaped(dir.display())
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LakeError::MissingFindings { path: dir.to_path_buf() })
        }
        Err(e) => return Err(LakeError::io("stat", dir)(e)),
    }
    let mut parquet_files = 0;
    for part in partitions(dir)? {
        for e in fs::read_dir(&part).map_err(LakeError::io("list", &part))? {
            let e = e.map_err(LakeError::io("list", &part))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".parquet") && !name.starts_with('.') {
                parquet_files += 1;
            }
        }
    }
    let running = match fs::read(dir.join(RUNNING_MARKER)) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(LakeError::io("read", &dir.join(RUNNING_MARKER))(e)),
    };
    Ok(FindingsDir { path: dir.to_path_buf(), parquet_files, running })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;
    use crate::{FindingsWriter, WriterOptions};

    fn files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                out.push(p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn clearing_removes_the_writers_files_and_temp_files_and_keeps_everything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let opts = WriterOptions { run_id: "old".into(), ..WriterOptions::default() };
        let mut w = FindingsWriter::new(root, opts).expect("writer");
        w.write(&finding("a", "k1", 0));
        w.write(&finding("a", "k2", 5 * 3_600_000));
        w.close().expect("close");
        let hour0 = root.join("dt=1970-01-01/hour=00");
        fs::write(hour0.join(".part-old-000009.parquet.tmp"), b"partial").expect("tmp");
        fs::write(root.join("README.txt"), b"mine").expect("other");
        fs::write(hour0.join("notes.txt"), b"mine").expect("other");

        let cleared = clear_findings(root).expect("clear");
        assert_eq!(cleared, Cleared { parquet_files: 2, temp_files: 1 });
        assert_eq!(
            files(root),
            ["README.txt", "dt=1970-01-01", "dt=1970-01-01/hour=00", "dt=1970-01-01/hour=00/notes.txt"]
        );
        assert_eq!(clear_findings(&root.join("missing")).expect("missing"), Cleared::default());
    }

    #[test]
    fn removing_temp_files_keeps_the_parquet_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let opts = WriterOptions { run_id: "r".into(), ..WriterOptions::default() };
        let mut w = FindingsWriter::new(root, opts).expect("writer");
        w.write(&finding("a", "k1", 0));
        w.close().expect("close");
        let hour0 = root.join("dt=1970-01-01/hour=00");
        fs::write(hour0.join(".part-r-000001.parquet.tmp"), b"partial").expect("tmp");
        assert_eq!(remove_temp_files(root).expect("rm"), 1);
        assert_eq!(
            files(root),
            ["dt=1970-01-01", "dt=1970-01-01/hour=00", "dt=1970-01-01/hour=00/part-r-000000.parquet"]
        );
    }

    #[test]
    fn the_running_marker_is_seen_by_inspect_until_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("findings");
        assert!(matches!(inspect(&root), Err(LakeError::MissingFindings { .. })));
        mark_running(&root, "{\"run_id\":\"r1\"}").expect("mark");
        let seen = inspect(&root).expect("inspect");
        assert_eq!(seen.running.as_deref(), Some("{\"run_id\":\"r1\"}"));
        assert_eq!(seen.parquet_files, 0);
        assert_eq!(files(&root), [RUNNING_MARKER], "no temporary file left");
        let opts = WriterOptions { run_id: "r1".into(), ..WriterOptions::default() };
        let mut w = FindingsWriter::new(&root, opts).expect("writer");
        w.write(&finding("a", "k1", 0));
        w.close().expect("close");
        unmark_running(&root).expect("unmark");
        unmark_running(&root).expect("unmark twice");
        assert_eq!(
            inspect(&root).expect("inspect"),
            FindingsDir { path: root.clone(), parquet_files: 1, running: None }
        );
        let file = dir.path().join("f");
        fs::write(&file, b"x").expect("file");
        assert!(matches!(inspect(&file), Err(LakeError::BadInput(_))));
        // A replay's output directory is read through its findings directory.
        assert_eq!(inspect(dir.path()).expect("out dir").path, root);
    }
}
