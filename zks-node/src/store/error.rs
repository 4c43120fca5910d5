//! [`StoreError`]: why a store could not be opened or written.

use std::fmt;
use std::path::PathBuf;

use zks_api::BlockNumber;

use super::{DB_FILE, RecordFormat};

/// Why a store could not be opened or written.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory was created for the other role.
    #[error("data dir {dir} belongs to {found}; refusing to open it for {wanted}")]
    WrongRole {
        /// The directory.
        dir: PathBuf,
        /// The role recorded in it.
        found: String,
        /// The role asked for.
        wanted: String,
    },
    /// The data directory holds other records than the node keeps (another chain, or v3
    /// records where stand-ins are wanted, or the other way round).
    #[error("data dir {dir} holds {found}; refusing to open it for {wanted}")]
    WrongRecords {
        /// The directory.
        dir: PathBuf,
        /// What it holds.
        found: RecordFormat,
        /// What the node keeps.
        wanted: RecordFormat,
    },
    /// Another process has the database open.
    #[error("data dir {dir} is in use by another process")]
    InUse {
        /// The directory.
        dir: PathBuf,
    },
    /// The data directory does not hold a store (for read-only commands).
    #[error("data dir {dir} holds no zks store ({DB_FILE} is missing)")]
    Missing {
        /// The directory.
        dir: PathBuf,
    },
    /// The data directory's store file was never initialised: an interrupted first start of an
    /// older version left it (for read-only commands; opening it for a node recreates it).
    #[error(
        "data dir {dir} holds no zks store: {DB_FILE} was never initialised ({why}); \
         a node started on this data dir recreates it"
    )]
    Uninitialised {
        /// The directory.
        dir: PathBuf,
        /// What was found.
        why: String,
    },
    /// The store file holds data that cannot be read as a zks store; it is left untouched.
    #[error(
        "{path} is damaged or not a zks store: {reason}; refusing to use it \
         (move it away to start from an empty store)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Records do not continue the stored chain.
    #[error("records do not continue the chain at block {expected} (got block {got})")]
    NotContiguous {
        /// The next block the store expects.
        expected: BlockNumber,
        /// The block offered.
        got: BlockNumber,
    },
    /// A record is of another chain than the store's, or does not follow the block before it
    /// (its history differs: another fork).
    #[error("refusing block {block}: {reason}")]
    NotOurChain {
        /// The block refused.
        block: BlockNumber,
        /// Why.
        reason: String,
    },
    /// The filesystem under the store failed (the disk is full, an I/O error): our own
    /// fault, not a peer's. After one while running, the store refuses every write until it is
    /// reopened ([`RedbReplayStore::fault`](super::RedbReplayStore::fault)).
    #[error("{}: cannot {doing}: {message}{}", path.display(), if *disk_full { " (the disk is full)" } else { "" })]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        doing: String,
        /// The filesystem's error.
        message: String,
        /// Whether the filesystem is full (`ENOSPC`, `EDQUOT`).
        disk_full: bool,
    },
    /// Filesystem or database failure.
    #[error("{context}: {message}")]
    Storage {
        /// What was being done.
        context: String,
        /// The underlying error.
        message: String,
    },
}

impl StoreError {
    pub(super) fn storage(context: impl fmt::Display, error: impl fmt::Display) -> Self {
        Self::Storage {
            context: context.to_string(),
            message: error.to_string(),
        }
    }
}
