//! The store file itself: telling an initialised store from a never-initialised or damaged
//! file, and creating a new one crash-safely (see the parent module's docs).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableHandle};
use zks_api::Role;

use super::checksum::{CHECKSUM_CRC32, CHECKSUM_KEY};
use super::format::RecordFormat;
use super::{
    CHAIN_ID_KEY, DB_FILE, FORMAT_KEY, META, OVERRIDES, RECORDS, ROLE_KEY, StoreError, fault,
    role_name,
};

/// What [`inspect`] found in a data directory.
pub(super) enum Found {
    /// No store file.
    Nothing,
    /// An initialised store, open (and locked by us).
    Store(Database),
    /// A store file that was never initialised (why, for the log).
    Uninitialised(String),
}

/// Maps a redb open error: `InUse` when another process holds the file.
pub(super) fn open_error(dir: &Path, path: &Path, error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            dir: dir.to_owned(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Io(e)) if e.raw_os_error().is_some() => {
            fault::io(path, "open the store", &e)
        }
        e => StoreError::storage(format!("cannot open {}", path.display()), e),
    }
}

/// redb's settings for a store: its page cache capped at [`CACHE_BYTES`](super::CACHE_BYTES).
fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(super::CACHE_BYTES);
    builder
}

/// Opens the redb file at `path`. redb panics on some damage (a garbled branch page of its
/// allocator state, say) instead of returning an error: that is [`StoreError::Corrupt`] too.
fn open_db(path: &Path) -> Result<Result<Database, redb::DatabaseError>, StoreError> {
    std::panic::catch_unwind(|| builder().open(path)).map_err(|panic| StoreError::Corrupt {
        path: path.to_owned(),
        reason: format!(
            "redb failed reading it ({})",
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned())
        ),
    })
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
pub(super) fn inspect(dir: &Path) -> Result<Found, StoreError> {
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
    let db = match open_db(&path)? {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(StoreError::InUse {
                dir: dir.to_owned(),
            });
        }
        // The filesystem failed (a repair after an unclean shutdown needs room to write): not
        // damage.
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
            if e.raw_os_error().is_some() =>
        {
            return Err(fault::io(&path, "open the store", &e));
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
pub(super) fn create_initialised(
    dir: &Path,
    role: Role,
    format: RecordFormat,
) -> Result<PathBuf, StoreError> {
    let temp = crate::files::temp_path(&dir.join(DB_FILE));
    let made = (|| {
        let db = builder()
            .create(&temp)
            .map_err(fault::on(&temp, "create the store"))?;
        let txn = db
            .begin_write()
            .map_err(fault::on(&temp, "begin a transaction"))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(fault::on(&temp, "create the meta table"))?;
            meta.insert(ROLE_KEY, role_name(role))
                .map_err(fault::on(&temp, "record the role"))?;
            let (records, chain_id) = format.meta();
            meta.insert(FORMAT_KEY, records)
                .map_err(fault::on(&temp, "record the record format"))?;
            if let Some(chain_id) = chain_id {
                meta.insert(CHAIN_ID_KEY, chain_id.as_str())
                    .map_err(fault::on(&temp, "record the chain id"))?;
            }
            meta.insert(CHECKSUM_KEY, CHECKSUM_CRC32)
                .map_err(fault::on(&temp, "record the checksum kind"))?;
            txn.open_table(OVERRIDES)
                .map_err(fault::on(&temp, "create the overrides table"))?;
            txn.open_table(RECORDS)
                .map_err(fault::on(&temp, "create the records table"))?;
        }
        // Durable: the commit is on disk when it returns.
        txn.commit().map_err(fault::on(&temp, "commit"))?;
        drop(db);
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| fault::io(&temp, "sync", &e))
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
pub(super) fn open_or_create(
    dir: &Path,
    role: Role,
    format: RecordFormat,
) -> Result<Database, StoreError> {
    let path = dir.join(DB_FILE);
    // Twice at most: a concurrent first start may install its store between our look and our
    // install; then we open that one (which it holds, so: in use).
    for _ in 0..2 {
        match inspect(dir)? {
            Found::Store(db) => return Ok(db),
            Found::Nothing => {
                let temp = create_initialised(dir, role, format)?;
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
                    Err(e) => return Err(fault::io(&path, "create the store", &e)),
                }
            }
            Found::Uninitialised(why) => {
                tracing::warn!(
                    file = %path.display(),
                    found = %why,
                    "the store file was never initialised (an interrupted first start left it); \
                     recreating it"
                );
                let temp = create_initialised(dir, role, format)?;
                if let Err(e) =
                    std::fs::rename(&temp, &path).and_then(|()| crate::files::sync_dir(dir))
                {
                    let _ = std::fs::remove_file(&temp);
                    return Err(fault::io(&path, "recreate the store", &e));
                }
            }
        }
        return open_db(&path)?.map_err(|e| open_error(dir, &path, e));
    }
    open_db(&path)?.map_err(|e| open_error(dir, &path, e))
}

/// Removes the temporary store files an interrupted creation left in `dir` (best effort: they
/// are never read, so one that cannot be removed is only logged).
pub(super) fn remove_stale_temps(dir: &Path) {
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
