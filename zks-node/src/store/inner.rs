//! The shared state behind every handle of one open store, and its blocking operations (run on
//! tokio's blocking pool by the async callers in the parent module).

use std::path::PathBuf;

use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use tokio::sync::watch;
use zks_api::{BlockNumber, Overrides, ReplayRecord, Role};

use super::{
    DB_FILE, OVERRIDES, RECORDS, RecordFormat, StoreError, StoreSummary, StoredRecord, checksum,
    fault, next_of, role_name,
};

pub(super) struct Inner {
    pub(super) db: Database,
    pub(super) dir: PathBuf,
    pub(super) role: Role,
    pub(super) format: RecordFormat,
    pub(super) durability: Durability,
    pub(super) next_block: watch::Sender<BlockNumber>,
    /// The write failure that stopped the store ([`StoreError::Io`]), once there is one.
    pub(super) fault: watch::Sender<Option<StoreError>>,
    /// Whether values carry checksums ([`checksum`]).
    pub(super) checksummed: bool,
}

impl Inner {
    pub(super) fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.db
            .begin_write()
            .map_err(fault::on(&self.path(), "begin a transaction"))
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// The record stored as `block`'s `value`, its checksum verified.
    pub(super) fn unseal<R: StoredRecord>(
        &self,
        block: BlockNumber,
        value: &[u8],
    ) -> Result<R, String> {
        let record = if self.checksummed {
            checksum::unseal(block, value)?
        } else {
            value
        };
        R::from_value(block, record)
    }

    /// The value stored for `record` as block `block`.
    pub(super) fn seal<'r>(
        &self,
        block: BlockNumber,
        record: &'r [u8],
    ) -> std::borrow::Cow<'r, [u8]> {
        if self.checksummed {
            std::borrow::Cow::Owned(checksum::seal(block, record))
        } else {
            std::borrow::Cow::Borrowed(record)
        }
    }

    /// Records `error` as the store's fault if it is the first filesystem failure, with the
    /// one ERROR line that says so.
    pub(super) fn record_fault(&self, error: &StoreError) {
        if !matches!(error, StoreError::Io { .. }) {
            return;
        }
        self.fault.send_if_modified(|fault| {
            if fault.is_some() {
                return false;
            }
            let next_block = *self.next_block.borrow();
            tracing::error!(
                file = %self.path().display(),
                %error,
                next_block,
                "the store cannot be written: stopped applying blocks (those before next_block \
                 are stored); the node must restart to write again"
            );
            *fault = Some(error.clone());
            true
        });
    }

    pub(super) fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            path: self.dir.join(DB_FILE),
            reason,
        }
    }

    /// One write transaction: checks contiguity and continuity against the committed chain
    /// (its last record included), inserts, commits.
    pub(super) fn append_blocking<R: StoredRecord>(
        &self,
        records: &[R],
    ) -> Result<BlockNumber, StoreError> {
        let mut txn = self.begin_write()?;
        let path = self.path();
        let next = {
            let mut table = txn
                .open_table(RECORDS)
                .map_err(fault::on(&path, "open the records table"))?;
            let mut expected = next_of(&table, self.format)?;
            let mut previous: Option<R> = match expected.checked_sub(1) {
                Some(last) => table
                    .get(last)
                    .map_err(|e| StoreError::storage("cannot read the last record", e))?
                    .map(|v| self.unseal::<R>(last, v.value()))
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
                    .insert(block, &*self.seal(block, record.value()))
                    .map_err(|e| fault::classify(&path, &format!("write block {block}"), e))?;
                expected += 1;
                previous = Some(record.clone());
            }
            expected
        };
        txn.set_durability(self.durability)
            .map_err(|e| StoreError::storage("cannot set durability", e))?;
        let first = records.first().map_or(next, ReplayRecord::block_number);
        txn.commit().map_err(fault::on(
            &path,
            &format!("commit blocks {first}..={}", next.saturating_sub(1)),
        ))?;
        Ok(next)
    }

    /// Whether every override is stored.
    pub(super) fn holds_overrides(&self, overrides: &Overrides) -> Result<bool, StoreError> {
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

    pub(super) fn read_blocking<R: StoredRecord>(
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
                    .map(|v| self.unseal::<R>(block, v.value())),
                _ => None,
            };
            match replaced.unwrap_or_else(|| self.unseal::<R>(block, value.value())) {
                Ok(record) => out.push(record),
                // Serve what verifies: the records before the damaged one now, the error on
                // the next read (which starts at it).
                Err(_) if !out.is_empty() => break,
                Err(reason) => return Err(self.corrupt(reason)),
            }
        }
        Ok(out)
    }

    pub(super) fn summary(&self) -> Result<StoreSummary, StoreError> {
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
            damaged: Vec::new(),
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
            let (key, value) = entry.map_err(|e| StoreError::storage("cannot read a record", e))?;
            let block = key.value();
            if self.checksummed && checksum::unseal(block, value.value()).is_err() {
                summary.damaged.push(block);
            }
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
