//! Our own filesystem failing under the store ([`StoreError::Io`]): telling it from other
//! failures, and what a store does after one (see the parent module's docs, *A full disk*).

use std::path::Path;

use super::StoreError;

/// Whether `error` says the filesystem is full (no space, or the user's quota is used up).
pub(crate) fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// An I/O error met while doing `doing` to `path`.
pub(super) fn io(path: &Path, doing: &str, error: &std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        doing: doing.to_owned(),
        message: error.to_string(),
        disk_full: is_disk_full(error),
    }
}

/// A redb error met while doing `doing` to the file at `path`: [`StoreError::Io`] when the
/// filesystem failed (an OS error) (or failed earlier: redb then refuses every transaction until the file is
/// reopened), [`StoreError::Storage`] else.
pub(super) fn classify(path: &Path, doing: &str, error: impl Into<redb::Error>) -> StoreError {
    match error.into() {
        // redb reports some damage (a wrong magic number) as I/O errors without an OS error.
        redb::Error::Io(e) if e.raw_os_error().is_some() => io(path, doing, &e),
        redb::Error::PreviousIo => StoreError::Io {
            path: path.to_owned(),
            doing: doing.to_owned(),
            message: "an earlier write to it failed; it must be reopened".to_owned(),
            disk_full: false,
        },
        other => StoreError::storage(format!("cannot {doing}"), other),
    }
}

/// `classify` for `map_err`.
pub(super) fn on<'a, E: Into<redb::Error>>(
    path: &'a Path,
    doing: &'a str,
) -> impl FnOnce(E) -> StoreError + 'a {
    move |e| classify(path, doing, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_and_quotas_are_told_from_other_io_errors() {
        let path = Path::new("/d/replay.redb");
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        let e = classify(path, "commit blocks 5..=9", redb::StorageError::Io(full));
        assert!(
            matches!(
                e,
                StoreError::Io {
                    disk_full: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "/d/replay.redb: cannot commit blocks 5..=9: No space left on device (os error 28) \
             (the disk is full)"
        );
        let quota = std::io::Error::from_raw_os_error(122); // EDQUOT
        assert!(is_disk_full(&quota));
        let eio = std::io::Error::from_raw_os_error(5);
        let e = classify(path, "commit", redb::StorageError::Io(eio));
        assert!(
            matches!(
                e,
                StoreError::Io {
                    disk_full: false,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = classify(path, "begin a transaction", redb::StorageError::PreviousIo);
        assert_eq!(
            e.to_string(),
            "/d/replay.redb: cannot begin a transaction: an earlier write to it failed; it \
             must be reopened"
        );
        let e = classify(path, "read", redb::StorageError::Corrupted("x".to_owned()));
        assert!(matches!(e, StoreError::Storage { .. }), "{e:?}");
    }
}
