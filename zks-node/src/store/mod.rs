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
//! | `meta` | `"checksum"` | `"crc32"`: every value ends with its [`checksum`] (absent: an older store, values bare) |
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
//! # A full disk, a damaged file
//!
//! A write that the filesystem fails ([`StoreError::Io`]: the disk is full, an I/O error)
//! aborts its transaction, so the store keeps every block up to its last commit. It is logged
//! once, at ERROR, and recorded as the store's [`fault`](RedbReplayStore::fault): redb refuses
//! every later transaction until the file is reopened, so later appends fail at once with the
//! same error, and the sink reports it as a [local fault](SinkError::local_fault) (the runtime
//! then blames no upstream and stops dialing). The binary exits with status 75 when it sees the
//! fault; the next process reopens the file and resumes at exactly the next block.
//!
//! Every record carries a CRC-32 ([`checksum`]) checked whenever it is read, and the last
//! record is checked at open: a record whose bytes changed on disk is never handed out (a read
//! returns the records before it, then [`StoreError::Corrupt`] naming the block), and a damaged
//! last record refuses the open. redb's own page checksums are checked only when it repairs a
//! file after an unclean shutdown.
//!
//! Non-goals: pruning, and chains that start elsewhere than at their first block.

pub mod checksum;
#[cfg(test)]
mod damage;
mod error;
mod existing;
mod fault;
mod file;
mod format;
mod inner;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Durability, ReadableTable, TableDefinition};
use tokio::sync::watch;
use zks_api::{
    BlockNumber, Overrides, RawRecord, ReplaySink, ReplaySource, Role, SinkError, SourceError,
};
use zks_wire::zksync_os::V3RecordBytes;

pub use error::StoreError;
pub use existing::{ExistingStore, StoreSummary, open_existing};
pub(crate) use fault::is_disk_full;
pub use format::{RecordFormat, StoredRecord};
use inner::Inner;

use file::{open_or_create, remove_stale_temps};

const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");
const OVERRIDES: TableDefinition<'_, (u64, &[u8]), &[u8]> = TableDefinition::new("overrides");
const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
const ROLE_KEY: &str = "role";
const FORMAT_KEY: &str = "records";
const CHAIN_ID_KEY: &str = "chain_id";
/// The database file inside a data directory.
pub const DB_FILE: &str = "replay.redb";

/// redb's page cache for one open store. redb's own default is 1 GiB, and a node's resident
/// memory grew toward it as its chain grew (the hour-long soak: +250 % RSS in 45 minutes on
/// every node, about 1.3 × the store's size). Replay reads the newest blocks and appends
/// once, so a small cache serves it: 64 MiB holds about 7,000 v3 records.
pub const CACHE_BYTES: usize = 64 << 20;

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
        crate::files::create_dir_all(&dir)
            .map_err(|e| fault::io(&dir, "create the data dir", &e))?;
        let db = open_or_create(&dir, role, format)?;
        // We hold the store's lock: no other process is creating a store here.
        remove_stale_temps(&dir);
        let wanted = role_name(role);
        let path = dir.join(DB_FILE);
        let checksummed;
        let txn = db
            .begin_write()
            .map_err(fault::on(&path, "begin a transaction"))?;
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
            checksummed = recorded.checksummed;
            if !checksummed {
                tracing::info!(
                    file = %path.display(),
                    "this store was made before record checksums: its records are not checked \
                     when read"
                );
            }
            txn.open_table(OVERRIDES)
                .map_err(|e| StoreError::storage("cannot open the overrides table", e))?;
            let records = txn
                .open_table(RECORDS)
                .map_err(|e| StoreError::storage("cannot open the records table", e))?;
            let next = next_of(&records, format)?;
            // The record every append checks the next against: damaged, the store is refused
            // now rather than at the first block that arrives.
            if let Some(last) = next.checked_sub(1)
                && next > format.first_block()
            {
                let value = records
                    .get(last)
                    .map_err(|e| StoreError::storage("cannot read the last record", e))?;
                if let Some(value) = value {
                    let bytes = value.value();
                    let record = if checksummed {
                        checksum::unseal(last, bytes)
                    } else {
                        Ok(bytes)
                    };
                    record
                        .and_then(|r| R::from_value(last, r).map(drop))
                        .map_err(|reason| StoreError::Corrupt {
                            path: path.clone(),
                            reason,
                        })?;
                }
            }
            next
        };
        txn.commit().map_err(fault::on(&path, "commit"))?;
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
                fault: watch::Sender::new(None),
                checksummed,
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
        if let Some(fault) = self.fault() {
            return Err(fault);
        }
        let bytes = records.iter().map(|r| r.value().len()).sum();
        let inner = Arc::clone(&self.inner);
        let next = tokio::task::spawn_blocking(move || inner.append_blocking(&records))
            .await
            .map_err(|e| StoreError::storage("append task failed", e))?
            .inspect_err(|e| self.inner.record_fault(e))?;
        self.inner.next_block.send_replace(next);
        crate::metrics::record_store_bytes(true, bytes);
        Ok(())
    }

    /// The write failure that stopped this store, if one did: the filesystem failed under it
    /// (the disk is full, say), and every later [`append`](Self::append) returns this error
    /// without trying. What was committed before stays readable; the store must be reopened
    /// (the node restarted) to write again.
    pub fn fault(&self) -> Option<StoreError> {
        self.inner.fault.borrow().clone()
    }

    /// Waits until the store has a [`fault`](Self::fault), and returns it.
    pub async fn failed(&self) -> StoreError {
        let mut rx = self.inner.fault.subscribe();
        // The sender lives as long as `self`, so the channel cannot close while we wait.
        match rx.wait_for(Option::is_some).await {
            Ok(fault) => fault
                .clone()
                .unwrap_or_else(|| StoreError::storage("store", "failed")),
            Err(_) => std::future::pending().await,
        }
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
                .insert((block, db_key), &*self.inner.seal(block, record.value()))
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

/// What a store's meta table records.
struct Recorded {
    role: Option<String>,
    format: RecordFormat,
    /// Whether its values carry checksums ([`checksum`]); stores made before them do not.
    checksummed: bool,
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
    let checksummed = match get(checksum::CHECKSUM_KEY)?.as_deref() {
        None => false,
        Some(checksum::CHECKSUM_CRC32) => true,
        Some(other) => {
            return Err(StoreError::Corrupt {
                path: dir.join(DB_FILE),
                reason: format!("unknown record checksum {other:?}"),
            });
        }
    };
    Ok(Recorded {
        role,
        format,
        checksummed,
    })
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

    fn resume_block(&self) -> BlockNumber {
        Self::next_block(self)
    }

    async fn apply(&self, records: Vec<R>) -> Result<(), SinkError> {
        self.append(records).await.map_err(|e| match e {
            // Our disk, not the peer: the runtime stops dialing, the binary exits 75.
            StoreError::Io { .. } => SinkError::local_fault(e),
            e => SinkError::new(e),
        })
    }
}

/// One past the highest stored block (the format's first block when empty).
fn next_of(
    table: &impl ReadableTable<u64, &'static [u8]>,
    format: RecordFormat,
) -> Result<BlockNumber, StoreError> {
    let last = table
        .last()
        .map_err(|e| StoreError::storage("cannot read the last record", e))?;
    Ok(last.map_or(format.first_block(), |(k, _)| k.value().saturating_add(1)))
}
