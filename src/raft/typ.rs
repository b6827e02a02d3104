//! Re-export of the Raft type aliases (defined next to the storage that implements them), so the
//! rest of the binary writes `crate::raft::typ::X` and never `openraft::X<TypeConfig>`.

pub use dm_storage::typ::*;
