//! Per-partition checkpoints: the detection state of one input partition together with the
//! offset it reflects, written atomically (temporary file, fsync, rename, directory fsync).
//!
//! Layout: `<state_dir>/<group>/<topic>/<partition>.ckpt`. A file starts with a magic line
//! and a format version, then a MessagePack body ([`Checkpoint`]).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"trailhound-checkpoint\n";
const VERSION: u32 = 1;

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Input topic.
    pub topic: String,
    /// Input partition.
    pub partition: i32,
    /// The next offset to read: everything before it is reflected in `engine`, and every
    /// finding derived from it was acknowledged and is in durable Parquet.
    pub next_offset: i64,
    /// `Engine::snapshot` bytes.
    #[serde(with = "serde_bytes_compat")]
    pub engine: Vec<u8>,
}

/// Checkpoints could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file system error.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not a checkpoint of this version.
    #[error("checkpoint {path} is unreadable: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Where the checkpoints of one consumer group live.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Checkpoints under `state_dir/group`.
    pub fn new(state_dir: &Path, group: &str) -> Self {
        Self { dir: state_dir.join(sanitize(group)) }
    }

    /// The file of one partition.
    pub fn path(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.join(sanitize(topic)).join(format!("{partition}.ckpt"))
    }

    /// The partition's checkpoint, if one was written.
    pub fn load(&self, topic: &str, partition: i32) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.path(topic, partition);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let corrupt = |message: String| CheckpointError::Corrupt { path: path.clone(), message };
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| corrupt("no checkpoint header".into()))?;
        let (ver, body) = rest.split_at_checked(4).ok_or_else(|| corrupt("truncated header".into()))?;
        let ver = u32::from_le_bytes([ver[0], ver[1], ver[2], ver[3]]);
        if ver != VERSION {
            return Err(corrupt(format!("format version {ver}, this build reads {VERSION}")));
        }
        let ck: Checkpoint = rmp_serde::from_slice(body).map_err(|e| corrupt(e.to_string()))?;
        if ck.topic != topic || ck.partition != partition {
            return Err(corrupt(format!("holds {}/{} instead", ck.topic, ck.partition)));
        }
        Ok(Some(ck))
    }

    /// Writes the checkpoint atomically and durably.
    pub fn save(&self, ck: &Checkpoint) -> Result<(), CheckpointError> {
        let path = self.path(&ck.topic, ck.partition);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.dir.clone());
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| CheckpointError::Io { path: p, source }
        };
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let body = rmp_serde::to_vec_named(ck)
            .map_err(|e| CheckpointError::Corrupt { path: path.clone(), message: e.to_string() })?;
        let tmp = dir.join(format!(".{}.{}.tmp", ck.partition, std::process::id()));
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(MAGIC).map_err(io(&tmp))?;
            f.write_all(&VERSION.to_le_bytes()).map_err(io(&tmp))?;
            f.write_all(&body).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io(&dir))?;
        Ok(())
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Bytes as a MessagePack binary rather than an array of integers.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_a_bad_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::new(dir.path(), "group/one");
        assert!(store.load("ct", 3).expect("absent is fine").is_none());
        let ck = Checkpoint { topic: "ct".into(), partition: 3, next_offset: 42, engine: vec![1, 2, 3, 255] };
        store.save(&ck).expect("save");
        assert_eq!(store.load("ct", 3).expect("load"), Some(ck.clone()));
        let newer = Checkpoint { next_offset: 50, ..ck };
        store.save(&newer).expect("overwrite");
        assert_eq!(store.load("ct", 3).expect("load").map(|c| c.next_offset), Some(50));
        std::fs::write(store.path("ct", 3), b"garbage").expect("write");
        assert!(matches!(store.load("ct", 3), Err(CheckpointError::Corrupt { .. })));
        let names: Vec<_> = std::fs::read_dir(store.path("ct", 3).parent().expect("dir"))
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["3.ckpt".to_string()], "no temporary files left behind");
    }
}
