//! Errors at the storage boundary: opening a data dir, and reading or writing the state.

use std::path::PathBuf;

use thiserror::Error;

/// A failure reading or writing the store after it is open.
#[derive(Debug, Error)]
pub enum StoreError {
    /// sled reported an I/O or internal error.
    #[error("storage I/O error: {0}")]
    Sled(#[from] sled::Error),
    /// Stored bytes do not decode as the type they should hold: the data dir is damaged or was
    /// written by incompatible code.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// A file next to the database (the snapshot) could not be read or written.
    #[error("storage file error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a data dir could not be opened. Each variant tells the operator what to do.
#[derive(Debug, Error)]
pub enum OpenError {
    /// Another process (usually another `dm master`) holds the data dir.
    #[error("data dir {dir} is in use by another process; stop that process or choose another --data-dir")]
    Locked { dir: PathBuf },
    /// The data dir was written by a newer dm whose storage format this binary does not know.
    #[error(
        "data dir {dir} has storage version {found}, newer than this binary supports ({supported}); \
         run the newer dm binary, or start with an empty --data-dir"
    )]
    NewerVersion { dir: PathBuf, found: u32, supported: u32 },
    /// The directory holds a database without dm's version header: not a dm data dir.
    #[error("{dir} holds data that is not a dm data dir (no storage version header); choose an empty --data-dir")]
    NotDmDataDir { dir: PathBuf },
    #[error("cannot create or open data dir {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
    #[error("cannot open the database in {dir}: {source}")]
    Store { dir: PathBuf, source: StoreError },
}
