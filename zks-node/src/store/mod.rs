//! [`RedbReplayStore`]: an embedded, persistent replay store on redb, usable as the main node's
//! [`ReplaySource`] and the external node's [`ReplaySink`].
//!
//! Layout of the database file (`<data dir>/replay.redb`):
//!
//! | table | key | value |
//! |---|---|---|
//! | `records` | block number | the record, as its [`StoredRecord::value`] |
//! | `overrides` | (block number, `db_key`) | the override record, likewise |
//! | `meta` | `"role"` | `"main-node"`, `"external-node"` or `"relay"` |
//! | `meta` | `"records"` | `"stand-in"` or `"zksync-os-v3"` ([`RecordFormat`]; absent: stand-in) |
//! | `meta` | `"chain_id"` | the chain of v3 records, in decimal |
//!
//! # Records
//!
//! A store holds one [`RecordFormat`], fixed when it is created:
//! - **ZKsync OS v3 records** of one chain ([`V3RecordBytes`]), what a node with a chain id
//!   keeps. Each record is stored as the exact bytes it arrived in (or was produced as) and
//!   read back without decoding, so a relay serves a main node's bytes unchanged. A record is
//!   checked when it is applied: it must be of the store's chain and
//!   [follow](zks_api::ReplayRecord::follows) the block before it, the last stored one included (the
//!   engine checks this within one process; the store checks it across restarts too). Block 0 is
//!   the chain's genesis, not a replay record: an empty chain resumes at block 1.
//! - **Stand-in records** `[block_number, payload]` ([`RawRecord`]), for nodes without a chain
//!   id: the payload is stored; the chain starts at block 0.
//!
//! A store is opened for one format, and refuses to open for another
//! ([`StoreError::WrongRecords`]); stores made before the format was recorded hold stand-ins.
//!
//! External nodes and relays hold the same thing (a replica of the main node's chain), so a
//! data directory of one may be opened as the other (the marker then names the new role); a
//! main node's directory is never opened as a replica, nor the other way round.
//!
//! Every [`apply`](ReplaySink::apply) (and [`append`](RedbReplayStore::append)) is one write
//! transaction: all records or none become visible. `next_block` is derived from the committed
//! state when the store opens (one past the highest stored block), so a process killed at any
//! moment resumes at exactly the next block. Waiting streams are woken through a `watch`
//! channel, updated after each commit: no polling.
//!
//! # Creation is crash-safe
//!
//! A new store is created and initialised (tables made, role and format recorded, committed)
//! under a temporary name in the data directory, and only then renamed to `replay.redb` (see
//! [`crate::files`]). So a process killed during its first start leaves either no
//! `replay.redb` or an initialised one, never a half-made file. A leftover temporary file is
//! ignored and removed by the next open.
//!
//! Older versions created the file in place, and a kill within milliseconds of the first start
//! could leave a `replay.redb` that was never initialised: all zeros (redb writes its magic
//! number last), or a valid redb file without tables. [`RedbReplayStore::open`] recognises both
//! (nothing can be lost: no transaction was ever committed to them), logs a warning and
//! recreates the store; [`open_existing`] reports them as [`StoreError::Uninitialised`]. A file
//! that holds anything else it cannot read is [`StoreError::Corrupt`] and is never touched.
//!
//! Non-goals: pruning, and chains that start elsewhere than at their first block.

mod file;
mod format;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::watch;
use zks_api::{
    BlockNumber, Overrides, RawRecord, ReplaySink, ReplaySource, Role, SinkError, SourceError,
};
use zks_wire::zksync_os::V3RecordBytes;

pub use format::{RecordFormat, StoredRecord};

use file::{Found, inspect, open_or_create, remove_stale_temps};

const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");
const OVERRIDES: TableDefinition<'_, (u64, &[u8]), &[u8]> = TableDefinition::new("overrides");
const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
const ROLE_KEY: &str = "role";
const FORMAT_KEY: &str = "records";
const CHAIN_ID_KEY: &str = "chain_id";
/// The database file inside a data directory.
pub const DB_FILE: &str = "replay.redb";

/// Why a store could not be opened or written.
#[derive(Debug, thiserror::Error)]
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
    fn storage(context: impl fmt::Display, error: impl fmt::Display) -> Self {
        Self::Storage {
            context: context.to_string(),
            message: error.to_string(),
        }
    }
}

/// The name a role is recorded under in a data directory.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::MainNode => "main-node",
        Role::ExternalNode => "external-node",
        Role::Relay => "relay",
    }
}

/// Whether a data dir recorded for `found` may be opened for `wanted`: the same role, or a
/// replica for another replica role.
fn compatible(found: &str, wanted: &str) -> bool {
    let replica = |role: &str| role == "external-node" || role == "relay";
    found == wanted || (replica(found) && replica(wanted))
}

/// How a role is named in messages.
fn role_phrase(role: &str) -> String {
    match role {
        "main-node" => "a main node".to_owned(),
        "external-node" => "an external node".to_owned(),
        "relay" => "a relay".to_owned(),
        other => format!("role {other:?}"),
    }
}

/// A persistent chain of records (stand-ins by default, or ZKsync OS v3 records) with record
/// overrides and push notification.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use zks_api::{RawRecord, ReplaySource, Role};
/// use zks_node::store::RedbReplayStore;
///
/// let store = RedbReplayStore::open("/tmp/zks-mn", Role::MainNode)?;
/// store.append(vec![RawRecord::new(store.next_block(), "block")]).await?;
/// # Ok(()) }
/// ```
pub struct RedbReplayStore<R = RawRecord> {
    inner: Arc<Inner>,
    _record: PhantomData<fn() -> R>,
}

impl<R> Clone for RedbReplayStore<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _record: PhantomData,
        }
    }
}

struct Inner {
    db: Database,
    dir: PathBuf,
    role: Role,
    format: RecordFormat,
    durability: Durability,
    next_block: watch::Sender<BlockNumber>,
}

impl<R> fmt::Debug for RedbReplayStore<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbReplayStore")
            .field("dir", &self.inner.dir)
            .field("role", &self.inner.role)
            .field("format", &self.inner.format)
            .field("next_block", &*self.inner.next_block.borrow())
            .finish_non_exhaustive()
    }
}

impl RedbReplayStore<RawRecord> {
    /// Opens (creating if needed) the stand-in store in `dir` for `role`, with durable
    /// commits: each commit is on disk when it returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongRole`] when `dir` was created for the other role,
    /// [`StoreError::WrongRecords`] when it holds v3 records, [`StoreError::InUse`] when
    /// another process has it open, [`StoreError::Storage`] else.
    pub fn open(dir: impl AsRef<Path>, role: Role) -> Result<Self, StoreError> {
        Self::open_with(dir, role, true)
    }

    /// As [`open`](Self::open); with `durable == false` commits are not flushed to disk
    /// (for throwaway stores such as the demo's: a crash may lose them).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(dir: impl AsRef<Path>, role: Role, durable: bool) -> Result<Self, StoreError> {
        Self::open_format(dir, role, RecordFormat::StandIn, durable)
    }
}

impl RedbReplayStore<V3RecordBytes> {
    /// Opens (creating if needed) the store of ZKsync OS chain `chain_id`'s v3 records in
    /// `dir` for `role`; `durable` as for [`RedbReplayStore::open_with`].
    ///
    /// # Errors
    ///
    /// As [`RedbReplayStore::open`]; [`StoreError::WrongRecords`] when `dir` holds stand-ins
    /// or another chain.
    pub fn open_chain(
        dir: impl AsRef<Path>,
        role: Role,
        chain_id: u64,
        durable: bool,
    ) -> Result<Self, StoreError> {
        Self::open_format(dir, role, RecordFormat::ZksyncOsV3 { chain_id }, durable)
    }
}

impl<R: StoredRecord> RedbReplayStore<R> {
    /// Opens (creating if needed) the store in `dir` for `role`, holding `format` (which must
    /// be one `R` is kept in).
    ///
    /// # Errors
    ///
    /// As [`RedbReplayStore::open`]; [`StoreError::WrongRecords`] when `dir` holds another
    /// format; [`StoreError::Storage`] when `R` is not the record type of `format`.
    pub fn open_format(
        dir: impl AsRef<Path>,
        role: Role,
        format: RecordFormat,
        durable: bool,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_owned();
        if !R::kept_in(format) {
            return Err(StoreError::storage(
                format!("cannot open a store of {format}"),
                "the node's record type is not kept in such a store",
            ));
        }
        crate::files::create_dir_all(&dir).map_err(|e| {
            StoreError::storage(format!("cannot create data dir {}", dir.display()), e)
        })?;
        let db = open_or_create(&dir, role, format)?;
        // We hold the store's lock: no other process is creating a store here.
        remove_stale_temps(&dir);
        let wanted = role_name(role);
        let txn = db
            .begin_write()
            .map_err(|e| StoreError::storage("cannot begin a transaction", e))?;
        let next = {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| StoreError::storage("cannot open the meta table", e))?;
            let recorded = recorded_meta(&meta, &dir)?;
            match recorded.role {
                Some(found) if !compatible(&found, wanted) => {
                    return Err(StoreError::WrongRole {
                        dir,
                        found: role_phrase(&found),
                        wanted: role_phrase(wanted),
                    });
                }
                Some(found) if found != wanted => {
                    tracing::info!(
                        dir = %dir.display(),
                        was = %found,
                        now = %wanted,
                        "reusing a replica's data dir for another replica role"
                    );
                    meta.insert(ROLE_KEY, wanted)
                        .map_err(|e| StoreError::storage("cannot record the role", e))?;
                }
                Some(_) => {}
                // `open_or_create` hands out initialised stores only.
                None => {
                    return Err(StoreError::Corrupt {
                        path: dir.join(DB_FILE),
                        reason: "the role marker is missing".to_owned(),
                    });
                }
            }
            if recorded.format != format {
                return Err(StoreError::WrongRecords {
                    dir,
                    found: recorded.format,
                    wanted: format,
                });
            }
            txn.open_table(OVERRIDES)
                .map_err(|e| StoreError::storage("cannot open the overrides table", e))?;
            let records = txn
                .open_table(RECORDS)
                .map_err(|e| StoreError::storage("cannot open the records table", e))?;
            next_of(&records, format)?
        };
        txn.commit()
            .map_err(|e| StoreError::storage("cannot commit", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                dir,
                role,
                format,
                durability: if durable {
                    Durability::Immediate
                } else {
                    Durability::None
                },
                next_block: watch::Sender::new(next),
            }),
            _record: PhantomData,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The role this store was opened for.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// The records it holds.
    pub fn format(&self) -> RecordFormat {
        self.inner.format
    }

    /// One past the highest stored block (the format's first block when empty).
    pub fn next_block(&self) -> BlockNumber {
        *self.inner.next_block.borrow()
    }

    /// A receiver that sees `next_block` change after each commit.
    pub fn subscribe(&self) -> watch::Receiver<BlockNumber> {
        self.inner.next_block.subscribe()
    }

    /// Appends records that continue the chain, atomically (one write transaction), then wakes
    /// waiting streams.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotContiguous`] or [`StoreError::NotOurChain`] (nothing is written), or
    /// [`StoreError::Storage`].
    pub async fn append(&self, records: Vec<R>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes = records.iter().map(|r| r.value().len()).sum();
        let inner = Arc::clone(&self.inner);
        let next = tokio::task::spawn_blocking(move || inner.append_blocking(&records))
            .await
            .map_err(|e| StoreError::storage("append task failed", e))??;
        self.inner.next_block.send_replace(next);
        crate::metrics::record_store_bytes(true, bytes);
        Ok(())
    }

    /// Stores `record` as the override record of `block` under `db_key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`].
    pub fn set_override(
        &self,
        block: BlockNumber,
        db_key: &[u8],
        record: &R,
    ) -> Result<(), StoreError> {
        let mut txn = self.inner.begin_write()?;
        {
            let mut table = txn
                .open_table(OVERRIDES)
                .map_err(|e| StoreError::storage("cannot open the overrides table", e))?;
            table
                .insert((block, db_key), record.value())
                .map_err(|e| StoreError::storage("cannot write an override", e))?;
        }
        txn.set_durability(self.inner.durability)
            .map_err(|e| StoreError::storage("cannot set durability", e))?;
        txn.commit()
            .map_err(|e| StoreError::storage("cannot commit", e))
    }

    /// Reads up to `max` contiguous records from `from` (blocking; see [`ReplaySource::read`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`], or [`StoreError::Corrupt`] for a stored record that is not one.
    pub fn read_blocking(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<R>, StoreError> {
        self.inner.read_blocking(from, max, overrides)
    }

    /// A summary of what is stored, for `zks store dump`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`].
    pub fn summary(&self) -> Result<StoreSummary, StoreError> {
        self.inner.summary()
    }
}

/// What a store holds; see [`RedbReplayStore::summary`].
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
        )
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

/// What a store's meta table records.
struct Recorded {
    role: Option<String>,
    format: RecordFormat,
}

fn recorded_meta(
    meta: &impl ReadableTable<&'static str, &'static str>,
    dir: &Path,
) -> Result<Recorded, StoreError> {
    let get = |key: &str| {
        meta.get(key)
            .map(|v| v.map(|v| v.value().to_owned()))
            .map_err(|e| StoreError::storage(format!("cannot read the store's {key}"), e))
    };
    let role = get(ROLE_KEY)?;
    let format =
        RecordFormat::from_meta(get(FORMAT_KEY)?.as_deref(), get(CHAIN_ID_KEY)?.as_deref())
            .map_err(|reason| StoreError::Corrupt {
                path: dir.join(DB_FILE),
                reason,
            })?;
    Ok(Recorded { role, format })
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
    let (role, format, next) = {
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
        (role, recorded.format, next)
    };
    Ok(ExistingStore {
        inner: Arc::new(Inner {
            db,
            dir: dir.to_owned(),
            role,
            format,
            durability: Durability::Immediate,
            next_block: watch::Sender::new(next),
        }),
    })
}

fn next_of(
    table: &impl ReadableTable<u64, &'static [u8]>,
    format: RecordFormat,
) -> Result<BlockNumber, StoreError> {
    let last = table
        .last()
        .map_err(|e| StoreError::storage("cannot read the last record", e))?;
    Ok(last.map_or(format.first_block(), |(k, _)| k.value().saturating_add(1)))
}

impl Inner {
    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.db
            .begin_write()
            .map_err(|e| StoreError::storage("cannot begin a transaction", e))
    }

    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            path: self.dir.join(DB_FILE),
            reason,
        }
    }

    /// One write transaction: checks contiguity and continuity against the committed chain
    /// (its last record included), inserts, commits.
    fn append_blocking<R: StoredRecord>(&self, records: &[R]) -> Result<BlockNumber, StoreError> {
        let mut txn = self.begin_write()?;
        let next = {
            let mut table = txn
                .open_table(RECORDS)
                .map_err(|e| StoreError::storage("cannot open the records table", e))?;
            let mut expected = next_of(&table, self.format)?;
            let mut previous: Option<R> = match expected.checked_sub(1) {
                Some(last) => table
                    .get(last)
                    .map_err(|e| StoreError::storage("cannot read the last record", e))?
                    .map(|v| R::from_value(last, v.value()))
                    .transpose()
                    .map_err(|reason| self.corrupt(reason))?,
                None => None,
            };
            for record in records {
                let block = record.block_number();
                // Dropping the transaction on any error aborts it: nothing is written.
                if block != expected {
                    return Err(StoreError::NotContiguous {
                        expected,
                        got: block,
                    });
                }
                if let Some(reason) = record.mismatch(self.format) {
                    return Err(StoreError::NotOurChain { block, reason });
                }
                if let Some(previous) = &previous
                    && !record.follows(previous)
                {
                    return Err(StoreError::NotOurChain {
                        block,
                        reason: format!(
                            "it does not follow block {} (its history of earlier blocks \
                             differs: another fork)",
                            previous.block_number()
                        ),
                    });
                }
                table
                    .insert(block, record.value())
                    .map_err(|e| StoreError::storage("cannot write a record", e))?;
                expected += 1;
                previous = Some(record.clone());
            }
            expected
        };
        txn.set_durability(self.durability)
            .map_err(|e| StoreError::storage("cannot set durability", e))?;
        txn.commit()
            .map_err(|e| StoreError::storage("cannot commit", e))?;
        Ok(next)
    }

    /// Whether every override is stored.
    fn holds_overrides(&self, overrides: &Overrides) -> Result<bool, StoreError> {
        if overrides.is_empty() {
            return Ok(true);
        }
        let txn = self
            .db
            .begin_read()
            .map_err(|e| StoreError::storage("cannot begin a read", e))?;
        let table = txn
            .open_table(OVERRIDES)
            .map_err(|e| StoreError::storage("cannot open the overrides table", e))?;
        for (block, db_key) in overrides.iter() {
            let held = table
                .get((block, db_key.as_ref()))
                .map_err(|e| StoreError::storage("cannot read an override", e))?;
            if held.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn read_blocking<R: StoredRecord>(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<R>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| StoreError::storage("cannot begin a read", e))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| StoreError::storage("cannot open the records table", e))?;
        let override_table = if overrides.is_empty() {
            None
        } else {
            Some(
                txn.open_table(OVERRIDES)
                    .map_err(|e| StoreError::storage("cannot open the overrides table", e))?,
            )
        };
        let mut out = Vec::with_capacity(max.min(64));
        let range = table
            .range(from..)
            .map_err(|e| StoreError::storage("cannot read records", e))?;
        for (expected, entry) in (from..).zip(range.take(max)) {
            let (key, value) = entry.map_err(|e| StoreError::storage("cannot read a record", e))?;
            let block = key.value();
            if block != expected {
                break;
            }
            let replaced = match (override_table.as_ref(), overrides.get(block)) {
                (Some(t), Some(db_key)) => t
                    .get((block, db_key.as_ref()))
                    .map_err(|e| StoreError::storage("cannot read an override", e))?
                    .map(|v| R::from_value(block, v.value())),
                _ => None,
            };
            let record = replaced
                .unwrap_or_else(|| R::from_value(block, value.value()))
                .map_err(|reason| self.corrupt(reason))?;
            out.push(record);
        }
        Ok(out)
    }

    fn summary(&self) -> Result<StoreSummary, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| StoreError::storage("cannot begin a read", e))?;
        let mut summary = StoreSummary {
            role: role_name(self.role),
            format: self.format,
            count: 0,
            first: None,
            last: None,
            contiguous: true,
        };
        let table = match txn.open_table(RECORDS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(summary),
            Err(e) => return Err(StoreError::storage("cannot open the records table", e)),
        };
        let iter = table
            .iter()
            .map_err(|e| StoreError::storage("cannot read records", e))?;
        for entry in iter {
            let (key, _) = entry.map_err(|e| StoreError::storage("cannot read a record", e))?;
            let block = key.value();
            if let Some(last) = summary.last
                && block != last + 1
            {
                summary.contiguous = false;
            }
            summary.first.get_or_insert(block);
            summary.last = Some(block);
            summary.count += 1;
        }
        Ok(summary)
    }
}

#[async_trait]
impl<R: StoredRecord> ReplaySource for RedbReplayStore<R> {
    type Record = R;

    fn next_block(&self) -> BlockNumber {
        Self::next_block(self)
    }

    fn first_block(&self) -> BlockNumber {
        self.inner.format.first_block()
    }

    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<R>, SourceError> {
        let inner = Arc::clone(&self.inner);
        let overrides = overrides.clone();
        let records =
            tokio::task::spawn_blocking(move || inner.read_blocking::<R>(from, max, &overrides))
                .await
                .map_err(SourceError::new)?
                .map_err(SourceError::new)?;
        crate::metrics::record_store_bytes(false, records.iter().map(|r| r.value().len()).sum());
        Ok(records)
    }

    async fn wait_for(&self, block: BlockNumber) {
        let mut rx = self.inner.next_block.subscribe();
        // The sender lives as long as `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|next| *next > block).await;
    }

    fn holds_overrides(&self, overrides: &Overrides) -> bool {
        // One short read transaction per replay request that carries overrides.
        self.inner
            .holds_overrides(overrides)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot check record overrides; treating them as not held");
                false
            })
    }
}

#[async_trait]
impl<R: StoredRecord> ReplaySink for RedbReplayStore<R> {
    type Record = R;

    fn next_block(&self) -> BlockNumber {
        Self::next_block(self)
    }

    async fn apply(&self, records: Vec<R>) -> Result<(), SinkError> {
        self.append(records).await.map_err(SinkError::new)
    }
}
