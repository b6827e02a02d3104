//! Snapshot format and the snapshot file.
//!
//! A snapshot is every key space's raw key/record pairs at one revision (MessagePack). The current
//! snapshot lives in `<data-dir>/snapshot.bin`, written to a temporary file, fsynced and renamed,
//! so a crash leaves either the old or the new one.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::StoreError;
use crate::keyspace::{decode, encode};
use crate::spaces::SpaceId;
use crate::typ::SnapshotMeta;

/// Snapshot data layout version; bump when the blob format changes.
const BLOB_FORMAT: u32 = 1;

/// One key space's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceDump {
    pub name: String,
    pub entries: Vec<(ByteBuf, ByteBuf)>,
}

impl SpaceDump {
    pub fn new(name: &str, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let entries = entries.into_iter().map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v))).collect();
        Self { name: name.to_string(), entries }
    }
}

/// The whole replicated state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotBlob {
    pub format: u32,
    pub spaces: Vec<SpaceDump>,
}

impl SnapshotBlob {
    pub fn new(spaces: Vec<SpaceDump>) -> Self {
        Self { format: BLOB_FORMAT, spaces }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let blob: SnapshotBlob = decode(bytes, "snapshot")?;
        if blob.format > BLOB_FORMAT {
            return Err(StoreError::Corrupt {
                what: "snapshot",
                reason: format!("format {} is newer than supported {BLOB_FORMAT}", blob.format),
            });
        }
        Ok(blob)
    }

    /// Entries by key space; an unknown key space name is an error (a newer peer's snapshot).
    #[allow(clippy::type_complexity)]
    pub fn by_space(&self) -> Result<HashMap<SpaceId, Vec<(Vec<u8>, Vec<u8>)>>, StoreError> {
        let mut out = HashMap::new();
        for dump in &self.spaces {
            let space = SpaceId::from_tree_name(&dump.name).ok_or_else(|| StoreError::Corrupt {
                what: "snapshot",
                reason: format!("unknown key space {}", dump.name),
            })?;
            let entries = dump.entries.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            out.insert(space, entries);
        }
        Ok(out)
    }
}

/// What the snapshot file holds.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// The current snapshot on disk. Clones share one lock: a build (in its own task) and an install
/// may save at the same time, and the file must only ever move forward.
#[derive(Clone)]
pub(crate) struct SnapshotFile {
    path: PathBuf,
    /// Serialises saves; counts them for unique temp file names.
    saves: Arc<Mutex<u64>>,
}

impl SnapshotFile {
    pub fn new(dir: &Path) -> Self {
        Self { path: dir.join("snapshot.bin"), saves: Arc::new(Mutex::new(0)) }
    }

    /// Stores `meta`/`data` unless the stored snapshot is at least as new; returns whether it did.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<bool, StoreError> {
        let mut saves = self.saves.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((current, _)) = self.load()?
            && current.last_log_id >= meta.last_log_id
        {
            return Ok(false);
        }
        *saves += 1;
        let bytes = encode(&StoredSnapshot { meta: meta.clone(), data: data.to_vec() });
        let tmp = self.path.with_extension(format!("tmp{}", *saves));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(true)
    }

    pub fn load(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let s: StoredSnapshot = decode(&bytes, "snapshot file")?;
                Ok(Some((s.meta, s.data)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
