//! [`RedbReplayStore`]: an embedded, persistent replay store on redb, usable as the main node's
//! [`ReplaySource`] and the external node's [`ReplaySink`].
//!
//! Layout of the database file (`<data dir>/replay.redb`):
//!
//! | table | key | value |
//! |---|---|---|
//! | `records` | block number | the record's payload |
//! | `overrides` | (block number, `db_key`) | the override record's payload |
//! | `meta` | `"role"` | `"main-node"`, `"external-node"` or `"relay"` |
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
//! A new store is created and initialised (tables made, role recorded, committed) under a
//! temporary name in the data directory, and only then renamed to `replay.redb` (see
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
//! Non-goals: pruning, and chains that do not start at block 0.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use tokio::sync::watch;
use zks_api::{
    BlockNumber, Overrides, RawRecord, ReplaySink, ReplaySource, Role, SinkError, SourceError,
};

const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");
const OVERRIDES: TableDefinition<'_, (u64, &[u8]), &[u8]> = TableDefinition::new("overrides");
const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
const ROLE_KEY: &str = "role";
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

/// A persistent chain of [`RawRecord`]s with record overrides and push notification.
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
#[derive(Clone)]
pub struct RedbReplayStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    dir: PathBuf,
    role: Role,
    durability: Durability,
    next_block: watch::Sender<BlockNumber>,
}

impl fmt::Debug for RedbReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbReplayStore")
            .field("dir", &self.inner.dir)
            .field("role", &self.inner.role)
            .field("next_block", &*self.inner.next_block.borrow())
            .finish_non_exhaustive()
    }
}

impl RedbReplayStore {
    /// Opens (creating if needed) the store in `dir` for `role`, with durable commits: each
    /// commit is on disk when it returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongRole`] when `dir` was created for the other role,
    /// [`StoreError::InUse`] when another process has it open, [`StoreError::Storage`] else.
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
        let dir = dir.as_ref().to_owned();
        crate::files::create_dir_all(&dir).map_err(|e| {
            StoreError::storage(format!("cannot create data dir {}", dir.display()), e)
        })?;
        let db = open_or_create(&dir, role)?;
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
            let found = meta
                .get(ROLE_KEY)
                .map_err(|e| StoreError::storage("cannot read the role", e))?
                .map(|v| v.value().to_owned());
            match found {
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
            txn.open_table(OVERRIDES)
                .map_err(|e| StoreError::storage("cannot open the overrides table", e))?;
            let records = txn
                .open_table(RECORDS)
                .map_err(|e| StoreError::storage("cannot open the records table", e))?;
            next_of(&records)?
        };
        txn.commit()
            .map_err(|e| StoreError::storage("cannot commit", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                dir,
                role,
                durability: if durable {
                    Durability::Immediate
                } else {
                    Durability::None
                },
                next_block: watch::Sender::new(next),
            }),
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

    /// One past the highest stored block (0 when empty).
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
    /// [`StoreError::NotContiguous`] (nothing is written) or [`StoreError::Storage`].
    pub async fn append(&self, records: Vec<RawRecord>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes = records.iter().map(|r| r.payload.len()).sum();
        let inner = Arc::clone(&self.inner);
        let next = tokio::task::spawn_blocking(move || inner.append_blocking(&records))
            .await
            .map_err(|e| StoreError::storage("append task failed", e))??;
        self.inner.next_block.send_replace(next);
        crate::metrics::record_store_bytes(true, bytes);
        Ok(())
    }

    /// Stores `payload` as the override record of `block` under `db_key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`].
    pub fn set_override(
        &self,
        block: BlockNumber,
        db_key: &[u8],
        payload: &[u8],
    ) -> Result<(), StoreError> {
        let mut txn = self.inner.begin_write()?;
        {
            let mut table = txn
                .open_table(OVERRIDES)
                .map_err(|e| StoreError::storage("cannot open the overrides table", e))?;
            table
                .insert((block, db_key), payload)
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
    /// [`StoreError::Storage`].
    pub fn read_blocking(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<RawRecord>, StoreError> {
        self.inner.read_blocking(from, max, overrides)
    }

    /// A summary of what is stored, for `zks store dump`: the role, how many records, the
    /// lowest and highest block, and whether the blocks are exactly `first..=last`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`].
    pub fn summary(&self) -> Result<StoreSummary, StoreError> {
        let txn = self
            .inner
            .db
            .begin_read()
            .map_err(|e| StoreError::storage("cannot begin a read", e))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| StoreError::storage("cannot open the records table", e))?;
        let mut summary = StoreSummary {
            role: role_name(self.inner.role),
            count: 0,
            first: None,
            last: None,
            contiguous: true,
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

/// What a store holds; see [`RedbReplayStore::summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSummary {
    /// The role the data dir belongs to.
    pub role: &'static str,
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

/// What [`inspect`] found in a data directory.
enum Found {
    /// No store file.
    Nothing,
    /// An initialised store, open (and locked by us).
    Store(Database),
    /// A store file that was never initialised (why, for the log).
    Uninitialised(String),
}

/// Maps a redb open error: `InUse` when another process holds the file.
fn open_error(dir: &Path, path: &Path, error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            dir: dir.to_owned(),
        },
        e => StoreError::storage(format!("cannot open {}", path.display()), e),
    }
}

/// Whether every byte of the file at `path` is zero (true for an empty file).
fn all_zero(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
    }
}

/// Opens the store file of `dir` without ever creating or changing it, and tells an
/// initialised store from a never-initialised file and from a corrupt one.
fn inspect(dir: &Path) -> Result<Found, StoreError> {
    let path = dir.join(DB_FILE);
    let len = match std::fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => {
            return Err(StoreError::storage(
                format!("cannot read {}", path.display()),
                e,
            ));
        }
    };
    let db = match Database::open(&path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(StoreError::InUse {
                dir: dir.to_owned(),
            });
        }
        Err(error) => {
            // redb writes its magic number last: a file of zeros never held a database.
            let zero = all_zero(&path)
                .map_err(|e| StoreError::storage(format!("cannot read {}", path.display()), e))?;
            if zero {
                return Ok(Found::Uninitialised(if len == 0 {
                    "the file is empty".to_owned()
                } else {
                    format!("{len} bytes, all zero")
                }));
            }
            return Err(StoreError::Corrupt {
                path,
                reason: error.to_string(),
            });
        }
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.clone(),
        reason,
    };
    let txn = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
    let tables: Vec<String> = txn
        .list_tables()
        .map_err(|e| corrupt(e.to_string()))?
        .map(|t| t.name().to_owned())
        .collect();
    let multimap = txn
        .list_multimap_tables()
        .map_err(|e| corrupt(e.to_string()))?
        .count();
    if tables.is_empty() && multimap == 0 {
        // A redb file no transaction was ever committed to.
        return Ok(Found::Uninitialised(
            "a redb file without tables".to_owned(),
        ));
    }
    if !tables.iter().any(|t| t == META.name()) {
        return Err(corrupt(format!(
            "it has tables ({}) but no meta table",
            tables.join(", ")
        )));
    }
    drop(txn);
    Ok(Found::Store(db))
}

/// Creates and initialises (tables, role, committed) a store under a temporary name in `dir`;
/// returns the temporary path, the file closed and synced.
fn create_initialised(dir: &Path, role: Role) -> Result<PathBuf, StoreError> {
    let temp = crate::files::temp_path(&dir.join(DB_FILE));
    let made = (|| {
        let db = Database::create(&temp)
            .map_err(|e| StoreError::storage(format!("cannot create {}", temp.display()), e))?;
        let txn = db
            .begin_write()
            .map_err(|e| StoreError::storage("cannot begin a transaction", e))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| StoreError::storage("cannot create the meta table", e))?;
            meta.insert(ROLE_KEY, role_name(role))
                .map_err(|e| StoreError::storage("cannot record the role", e))?;
            txn.open_table(OVERRIDES)
                .map_err(|e| StoreError::storage("cannot create the overrides table", e))?;
            txn.open_table(RECORDS)
                .map_err(|e| StoreError::storage("cannot create the records table", e))?;
        }
        // Durable: the commit is on disk when it returns.
        txn.commit()
            .map_err(|e| StoreError::storage("cannot commit", e))?;
        drop(db);
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::storage(format!("cannot sync {}", temp.display()), e))
    })();
    match made {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// The initialised store of `dir` for `role`, opened and locked: the existing one, or a new
/// one made crash-safely (created and initialised under a temporary name, then renamed into
/// place). A store file that was never initialised is recreated, with a warning.
fn open_or_create(dir: &Path, role: Role) -> Result<Database, StoreError> {
    let path = dir.join(DB_FILE);
    // Twice at most: a concurrent first start may install its store between our look and our
    // install; then we open that one (which it holds, so: in use).
    for _ in 0..2 {
        match inspect(dir)? {
            Found::Store(db) => return Ok(db),
            Found::Nothing => {
                let temp = create_initialised(dir, role)?;
                match crate::files::install_new(&temp, &path) {
                    Ok(()) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => {
                        return Err(StoreError::storage(
                            format!("cannot create {}", path.display()),
                            e,
                        ));
                    }
                }
            }
            Found::Uninitialised(why) => {
                tracing::warn!(
                    file = %path.display(),
                    found = %why,
                    "the store file was never initialised (an interrupted first start left it); \
                     recreating it"
                );
                let temp = create_initialised(dir, role)?;
                if let Err(e) =
                    std::fs::rename(&temp, &path).and_then(|()| crate::files::sync_dir(dir))
                {
                    let _ = std::fs::remove_file(&temp);
                    return Err(StoreError::storage(
                        format!("cannot recreate {}", path.display()),
                        e,
                    ));
                }
            }
        }
        return Database::open(&path).map_err(|e| open_error(dir, &path, e));
    }
    Database::open(&path).map_err(|e| open_error(dir, &path, e))
}

/// Removes the temporary store files an interrupted creation left in `dir` (best effort: they
/// are never read, so one that cannot be removed is only logged).
fn remove_stale_temps(dir: &Path) {
    match crate::files::remove_stale_temps(dir, DB_FILE) {
        Ok(removed) => {
            for path in removed {
                tracing::info!(file = %path.display(), "removed a temporary file left by an interrupted start");
            }
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove leftover temporary store files")
        }
    }
}

/// Opens an existing store whatever its role (for inspection); never creates or changes the
/// file.
///
/// # Errors
///
/// [`StoreError::Missing`] when `dir` has no store, [`StoreError::Uninitialised`] when its
/// store file was never initialised, [`StoreError::Corrupt`] when it cannot be read as a store,
/// else as [`RedbReplayStore::open`].
pub fn open_existing(dir: impl AsRef<Path>) -> Result<RedbReplayStore, StoreError> {
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
    let role = {
        let txn = db
            .begin_read()
            .map_err(|e| StoreError::storage("cannot begin a read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| StoreError::storage("cannot open the meta table", e))?;
        let found = meta
            .get(ROLE_KEY)
            .map_err(|e| StoreError::storage("cannot read the role", e))?
            .map(|v| v.value().to_owned());
        match found.as_deref() {
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
        }
    };
    drop(db);
    RedbReplayStore::open(dir, role)
}

fn next_of(table: &impl ReadableTable<u64, &'static [u8]>) -> Result<BlockNumber, StoreError> {
    let last = table
        .last()
        .map_err(|e| StoreError::storage("cannot read the last record", e))?;
    Ok(last.map_or(0, |(k, _)| k.value().saturating_add(1)))
}

impl Inner {
    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.db
            .begin_write()
            .map_err(|e| StoreError::storage("cannot begin a transaction", e))
    }

    /// One write transaction: checks contiguity against the committed chain, inserts, commits.
    fn append_blocking(&self, records: &[RawRecord]) -> Result<BlockNumber, StoreError> {
        let mut txn = self.begin_write()?;
        let next = {
            let mut table = txn
                .open_table(RECORDS)
                .map_err(|e| StoreError::storage("cannot open the records table", e))?;
            let mut expected = next_of(&table)?;
            for record in records {
                if record.block_number != expected {
                    // Dropping the transaction aborts it: nothing is written.
                    return Err(StoreError::NotContiguous {
                        expected,
                        got: record.block_number,
                    });
                }
                table
                    .insert(record.block_number, record.payload.as_ref())
                    .map_err(|e| StoreError::storage("cannot write a record", e))?;
                expected += 1;
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

    fn read_blocking(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<RawRecord>, StoreError> {
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
                    .map(|v| Bytes::copy_from_slice(v.value())),
                _ => None,
            };
            let payload = replaced.unwrap_or_else(|| Bytes::copy_from_slice(value.value()));
            out.push(RawRecord::new(block, payload));
        }
        Ok(out)
    }
}

#[async_trait]
impl ReplaySource for RedbReplayStore {
    type Record = RawRecord;

    fn next_block(&self) -> BlockNumber {
        Self::next_block(self)
    }

    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<RawRecord>, SourceError> {
        let inner = Arc::clone(&self.inner);
        let overrides = overrides.clone();
        let records =
            tokio::task::spawn_blocking(move || inner.read_blocking(from, max, &overrides))
                .await
                .map_err(SourceError::new)?
                .map_err(SourceError::new)?;
        crate::metrics::record_store_bytes(false, records.iter().map(|r| r.payload.len()).sum());
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
impl ReplaySink for RedbReplayStore {
    type Record = RawRecord;

    fn next_block(&self) -> BlockNumber {
        Self::next_block(self)
    }

    async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
        self.append(records).await.map_err(SinkError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::names;
    use zks_api::wire::RecordOverride;

    fn records(range: std::ops::Range<u64>) -> Vec<RawRecord> {
        range
            .map(|b| RawRecord::new(b, format!("block-{b}")))
            .collect()
    }

    #[tokio::test]
    async fn apply_is_atomic_and_contiguous() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        store.apply(records(0..3)).await.unwrap();
        // A gap in the middle of a batch: nothing of it is stored.
        let mut bad = records(3..5);
        bad.push(RawRecord::new(9, "gap"));
        assert!(store.apply(bad).await.is_err());
        assert_eq!(ReplaySink::next_block(&store), 3);
        // A repeat is refused too.
        assert!(store.apply(records(2..4)).await.is_err());
        let summary = store.summary().unwrap();
        assert_eq!(
            (summary.count, summary.first, summary.last),
            (3, Some(0), Some(2))
        );
        assert!(summary.contiguous);
    }

    #[tokio::test]
    async fn reads_contiguous_with_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
        store.append(records(0..10)).await.unwrap();
        store.set_override(4, b"alt", b"overridden").unwrap();
        let overrides: Overrides = [
            RecordOverride {
                block_number: 4,
                db_key: Bytes::from_static(b"alt"),
            },
            RecordOverride {
                block_number: 5,
                db_key: Bytes::from_static(b"missing"),
            },
        ]
        .into_iter()
        .collect();
        let got = store.read(3, 4, &overrides).await.unwrap();
        let payloads: Vec<_> = got.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(
            payloads,
            [
                Bytes::from("block-3"),
                Bytes::from("overridden"),
                Bytes::from("block-5"),
                Bytes::from("block-6")
            ]
        );
        assert_eq!(
            store
                .read(8, 64, &Overrides::default())
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(
            store
                .read(10, 64, &Overrides::default())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn resumes_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
            store.apply(records(0..100)).await.unwrap();
        }
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        assert_eq!(ReplaySink::next_block(&store), 100);
        store.apply(records(100..101)).await.unwrap();
        assert_eq!(store.summary().unwrap().last, Some(100));
        drop(store);
        let any = open_existing(dir.path()).unwrap();
        assert_eq!(any.role(), Role::ExternalNode);
    }

    #[tokio::test]
    async fn a_replica_dir_serves_either_replica_role_never_a_main_node() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
            store.apply(records(0..10)).await.unwrap();
        }
        let relay = RedbReplayStore::open(dir.path(), Role::Relay).unwrap();
        assert_eq!(ReplaySink::next_block(&relay), 10);
        drop(relay);
        assert_eq!(recorded_role(dir.path()).as_deref(), Some("relay"));
        let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
        assert!(
            matches!(&err, StoreError::WrongRole { found, wanted, .. }
                if found == "a relay" && wanted == "a main node"),
            "{err:?}"
        );
        let mn = tempfile::tempdir().unwrap();
        drop(RedbReplayStore::open(mn.path(), Role::MainNode).unwrap());
        assert!(matches!(
            RedbReplayStore::open(mn.path(), Role::Relay),
            Err(StoreError::WrongRole { .. })
        ));
    }

    #[tokio::test]
    async fn overrides_are_held_only_when_every_one_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::Relay).unwrap();
        store.apply(records(0..10)).await.unwrap();
        store.set_override(3, b"alt", b"other").unwrap();
        let ask = |keys: &[(u64, &'static [u8])]| -> Overrides {
            keys.iter()
                .map(|(b, k)| RecordOverride {
                    block_number: *b,
                    db_key: Bytes::from_static(k),
                })
                .collect()
        };
        assert!(store.holds_overrides(&Overrides::default()));
        assert!(store.holds_overrides(&ask(&[(3, b"alt")])));
        assert!(!store.holds_overrides(&ask(&[(3, b"alt"), (4, b"alt")])));
        assert!(!store.holds_overrides(&ask(&[(3, b"other-key")])));
    }

    #[tokio::test]
    async fn refuses_the_other_role() {
        let dir = tempfile::tempdir().unwrap();
        drop(RedbReplayStore::open(dir.path(), Role::MainNode).unwrap());
        let err = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap_err();
        assert!(matches!(err, StoreError::WrongRole { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("belongs to a main node; refusing to open it for an external node")
        );
    }

    #[tokio::test]
    async fn second_open_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
        let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    }

    #[tokio::test]
    async fn wait_for_is_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move { store.wait_for(1).await })
        };
        store.append(records(0..1)).await.unwrap();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        store.append(records(1..2)).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    /// What an older version's first start left when killed after redb sized the file but
    /// before it wrote the magic number: 73,728 zero bytes.
    const ZEROED_LEN: usize = 73_728;

    /// The role recorded in `dir`'s store, read with redb directly.
    fn recorded_role(dir: &Path) -> Option<String> {
        let db = Database::open(dir.join(DB_FILE)).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        meta.get(ROLE_KEY).unwrap().map(|v| v.value().to_owned())
    }

    #[tokio::test]
    async fn a_new_store_is_complete_when_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        drop(RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap());
        // No temporary file is left, and the file already carries the role.
        assert_eq!(names(dir.path()), [DB_FILE]);
        assert_eq!(recorded_role(dir.path()).as_deref(), Some("external-node"));
    }

    #[tokio::test]
    async fn a_zeroed_store_file_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        std::fs::write(&path, vec![0u8; ZEROED_LEN]).unwrap();
        // Read-only inspection reports it as never initialised, and leaves it alone.
        let err = open_existing(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "data dir {} holds no zks store: replay.redb was never initialised \
                 (73728 bytes, all zero); a node started on this data dir recreates it",
                dir.path().display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; ZEROED_LEN]);
        // A node recreates it.
        let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
        assert_eq!(store.next_block(), 0);
        store.append(records(0..3)).await.unwrap();
        drop(store);
        assert_eq!(names(dir.path()), [DB_FILE]);
        let again = open_existing(dir.path()).unwrap();
        assert_eq!(again.role(), Role::MainNode);
        assert_eq!(again.summary().unwrap().last, Some(2));
    }

    #[tokio::test]
    async fn an_empty_store_file_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
        let err = open_existing(dir.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Uninitialised { why, .. } if why == "the file is empty"),
            "{err}"
        );
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        assert_eq!(store.role(), Role::ExternalNode);
        drop(store);
        assert_eq!(recorded_role(dir.path()).as_deref(), Some("external-node"));
    }

    #[tokio::test]
    async fn a_store_without_tables_is_recreated() {
        // Killed after redb initialised the file, before the first commit: no meta table.
        let dir = tempfile::tempdir().unwrap();
        drop(Database::create(dir.path().join(DB_FILE)).unwrap());
        let err = open_existing(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "data dir {} holds no zks store: replay.redb was never initialised \
                 (a redb file without tables); a node started on this data dir recreates it",
                dir.path().display()
            )
        );
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        store.apply(records(0..2)).await.unwrap();
        drop(store);
        assert_eq!(recorded_role(dir.path()).as_deref(), Some("external-node"));
        assert_eq!(names(dir.path()), [DB_FILE]);
    }

    #[tokio::test]
    async fn a_store_with_data_but_no_role_is_corrupt_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(RECORDS)
                .unwrap()
                .insert(0, &b"r"[..])
                .unwrap();
            txn.commit().unwrap();
        }
        let want = format!(
            "{} is damaged or not a zks store: it has tables (records) but no meta table; \
             refusing to use it (move it away to start from an empty store)",
            path.display()
        );
        let err = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(err.to_string(), want);
        assert_eq!(open_existing(dir.path()).unwrap_err().to_string(), want);
        // The record is still there.
        let db = Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        assert!(txn.open_table(RECORDS).unwrap().get(0).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_store_file_that_is_not_redb_is_corrupt_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let mut bytes = vec![0u8; ZEROED_LEN];
        bytes[4096] = 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is damaged or not a zks store: I/O error: Not a redb database: magic number mismatch; \
                 refusing to use it (move it away to start from an empty store)",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[tokio::test]
    async fn a_store_with_an_unknown_role_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(ROLE_KEY, "archive")
                .unwrap();
            txn.commit().unwrap();
        }
        let err = open_existing(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("is damaged or not a zks store: unknown role \"archive\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_creation_killed_before_the_rename_leaves_no_store_and_its_temp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A killed creation: initialised under the temporary name, never renamed; and an older
        // leftover with garbage in it.
        let temp = create_initialised(dir.path(), Role::MainNode).unwrap();
        std::fs::write(
            dir.path().join(".replay.redb.tmp-1-0000000000000000"),
            b"junk",
        )
        .unwrap();
        assert!(matches!(
            open_existing(dir.path()).unwrap_err(),
            StoreError::Missing { .. }
        ));
        // The next start ignores both (it makes its own store, of its own role) and removes them.
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        assert_eq!(store.role(), Role::ExternalNode);
        assert!(!temp.exists());
        drop(store);
        assert_eq!(names(dir.path()), [DB_FILE]);
    }
}
