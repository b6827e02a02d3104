//! Typed key spaces: each is one sled tree with a key type, a value type and records that carry
//! their revisions, so callers never handle raw bytes.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::keys::KeyCodec;
use crate::spaces::SpaceId;

/// One key space of the state machine.
pub trait KeySpace: 'static {
    /// Which tree holds it.
    const ID: SpaceId;
    type Key: KeyCodec + Clone + Debug + Send + Sync;
    type Value: Serialize + DeserializeOwned + Clone + Debug + Send + Sync;
}

/// A stored value with its revisions. Revision = Raft log index of the entry that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record<V> {
    pub value: V,
    /// Revision of the write that created the key (kept across updates, reset by delete).
    pub create_revision: u64,
    /// Revision of the last write of the key; the compare half of conditional commands.
    pub mod_revision: u64,
    /// Number of writes since creation (1 after the first put).
    pub version: u64,
}

/// Serializes a record (or any stored struct) in the storage encoding: MessagePack with field names,
/// so adding a field with `#[serde(default)]` stays readable by old data.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("storage types always serialize")
}

/// Decodes bytes written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

/// Decodes one stored record of key space `S`.
pub fn decode_record<S: KeySpace>(bytes: &[u8]) -> Result<Record<S::Value>, StoreError> {
    decode(bytes, S::ID.tree_name())
}

/// Decodes one stored key of key space `S`.
pub fn decode_key<S: KeySpace>(bytes: &[u8]) -> Result<S::Key, StoreError> {
    S::Key::decode(bytes).map_err(|e| StoreError::Corrupt { what: S::ID.tree_name(), reason: e.to_string() })
}
