//! What a store holds ([`StoreSummary`]), and stores opened for inspection only
//! ([`open_existing`], for `zks store dump`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use redb::{Durability, ReadableDatabase};
use tokio::sync::watch;
use zks_api::{BlockNumber, Role};

use super::file::{Found, inspect};
use super::{DB_FILE, Inner, META, RECORDS, RecordFormat, StoreError, next_of, recorded_meta};

/// What a store holds; see [`RedbReplayStore::summary`](super::RedbReplayStore::summary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSummary {
    /// The role the data dir belongs to.
    pub role: &'static str,
    /// The records it holds.
    pub format: RecordFormat,
    /// Records stored.
    pub count: u64,
    /// Lowest block.
    pub first: Option<BlockNumber>,
    /// Highest block.
    pub last: Option<BlockNumber>,
    /// Whether every block between the lowest and the highest is stored exactly once.
    pub contiguous: bool,
    /// Blocks whose stored record fails its checksum (never served), lowest first.
    pub damaged: Vec<BlockNumber>,
}

impl fmt::Display for StoreSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "role: {}", self.role)?;
        writeln!(f, "format: {}", self.format)?;
        match (self.first, self.last) {
            (Some(first), Some(last)) => {
                writeln!(f, "blocks: {first}..={last}")?;
            }
            _ => writeln!(f, "blocks: none")?,
        }
        writeln!(f, "records: {}", self.count)?;
        write!(
            f,
            "contiguous: {}",
            if self.contiguous { "yes" } else { "no" }
        )?;
        if let Some(first) = self.damaged.first() {
            write!(
                f,
                "\ndamaged: {} record(s) fail their checksum, the first of block {first}",
                self.damaged.len()
            )?;
        }
        Ok(())
    }
}

/// A store opened for inspection, whatever its role and records ([`open_existing`]).
#[derive(Clone)]
pub struct ExistingStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for ExistingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExistingStore")
            .field("dir", &self.inner.dir)
            .field("role", &self.inner.role)
            .field("format", &self.inner.format)
            .finish_non_exhaustive()
    }
}

impl ExistingStore {
    /// The role the data dir belongs to.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// The records it holds.
    pub fn format(&self) -> RecordFormat {
        self.inner.format
    }

    /// One past the highest stored block.
    pub fn next_block(&self) -> BlockNumber {
        *self.inner.next_block.borrow()
    }

    /// What is stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`].
    pub fn summary(&self) -> Result<StoreSummary, StoreError> {
        self.inner.summary()
    }
}

/// Opens an existing store whatever its role and records (for inspection); never creates or
/// changes the file.
///
/// # Errors
///
/// [`StoreError::Missing`] when `dir` has no store, [`StoreError::Uninitialised`] when its
/// store file was never initialised, [`StoreError::Corrupt`] when it cannot be read as a store,
/// [`StoreError::InUse`] when a node has it open.
pub fn open_existing(dir: impl AsRef<Path>) -> Result<ExistingStore, StoreError> {
    let dir = dir.as_ref();
    let db = match inspect(dir)? {
        Found::Store(db) => db,
        Found::Nothing => {
            return Err(StoreError::Missing {
                dir: dir.to_owned(),
            });
        }
        Found::Uninitialised(why) => {
            return Err(StoreError::Uninitialised {
                dir: dir.to_owned(),
                why,
            });
        }
    };
    let (role, format, next, checksummed) = {
        let txn = db
            .begin_read()
            .map_err(|e| StoreError::storage("cannot begin a read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| StoreError::storage("cannot open the meta table", e))?;
        let recorded = recorded_meta(&meta, dir)?;
        let role = match recorded.role.as_deref() {
            Some("main-node") => Role::MainNode,
            Some("external-node") => Role::ExternalNode,
            Some("relay") => Role::Relay,
            other => {
                return Err(StoreError::Corrupt {
                    path: dir.join(DB_FILE),
                    reason: match other {
                        Some(role) => format!("unknown role {role:?}"),
                        None => "the role marker is missing".to_owned(),
                    },
                });
            }
        };
        let next = match txn.open_table(RECORDS) {
            Ok(records) => next_of(&records, recorded.format)?,
            Err(redb::TableError::TableDoesNotExist(_)) => recorded.format.first_block(),
            Err(e) => return Err(StoreError::storage("cannot open the records table", e)),
        };
        (role, recorded.format, next, recorded.checksummed)
    };
    Ok(ExistingStore {
        inner: Arc::new(Inner {
            db,
            dir: dir.to_owned(),
            role,
            format,
            durability: Durability::Immediate,
            next_block: watch::Sender::new(next),
            fault: watch::Sender::new(None),
            checksummed,
        }),
    })
}
