//! Crash-safe file creation: every file a node creates appears complete or not at all.
//!
//! A file is written under a temporary name in its own directory
//! (`.<name>.tmp-<pid>-<random>`), flushed to disk (`fsync`), then given its real name and the
//! directory is flushed too. A process killed at any moment (`SIGKILL`, power loss) therefore
//! leaves either no file under the real name or the complete one; at worst a temporary file,
//! which [`remove_stale_temps`] clears on the next start and which nothing ever reads.
//!
//! [`create_new`] never replaces a file that exists (it links the temporary file into place,
//! which fails if the name is taken), so two processes racing to create the same file cannot
//! overwrite each other's. [`replace`] renames over the old file, for the rare files that are
//! rewritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The marker between a file's name and the unique suffix of its temporary files.
const TEMP_MARKER: &str = ".tmp-";

/// A fresh temporary path next to `path`: `.<name>.tmp-<pid>-<random>` in the same directory
/// (so a rename or link into place never crosses filesystems).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let unique: u64 = rand::random();
    path.with_file_name(format!(
        ".{name}{TEMP_MARKER}{}-{unique:016x}",
        std::process::id()
    ))
}

/// Whether `candidate` (a file name) is a temporary file of `name`, as [`temp_path`] makes.
pub fn is_temp_of(candidate: &str, name: &str) -> bool {
    candidate
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.starts_with(TEMP_MARKER))
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Flushes a directory's entries (new names, renames, removals) to disk. A no-op where
/// directories cannot be opened as files (not Unix).
///
/// # Errors
///
/// When the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` and its missing parents (owner-only, mode 0700 on Unix), and flushes the new entries to disk, so a data dir
/// made just before a crash does not vanish with the files in it.
///
/// # Errors
///
/// The filesystem's error.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    // The topmost missing ancestor: its parent gets the one new entry that must be flushed.
    let mut top = None;
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        top = Some(path);
        cursor = path.parent();
    }
    // New directories are the owner's only (the data dir holds the node key).
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let Some(top) = top else { return Ok(()) };
    // Every directory from `top` down to `dir` is new: flush each one's entry in its parent.
    let mut path = dir;
    loop {
        sync_dir(parent_of(path))?;
        if path == top {
            return Ok(());
        }
        match path.parent() {
            Some(parent) => path = parent,
            None => return Ok(()),
        }
    }
}

/// Writes `contents` to a new temporary file next to `path` (owner-only on Unix when `private`)
/// and flushes it; returns the temporary path.
fn write_temp(path: &Path, contents: &[u8], private: bool) -> io::Result<PathBuf> {
    let temp = temp_path(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Gives the complete, synced file `temp` the name `path` unless `path` exists, then removes
/// the temporary name and flushes the directory.
///
/// # Errors
///
/// [`io::ErrorKind::AlreadyExists`] when `path` exists (`temp` is removed then too), or the
/// filesystem's error.
pub fn install_new(temp: &Path, path: &Path) -> io::Result<()> {
    let linked = match fs::hard_link(temp, path) {
        // Filesystems without hard links: check, then rename (not atomic against a racing
        // creator, but still never leaves a partial file under `path`).
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ) =>
        {
            if path.exists() {
                Err(io::Error::from(io::ErrorKind::AlreadyExists))
            } else {
                fs::rename(temp, path)
            }
        }
        other => other,
    };
    let _ = fs::remove_file(temp);
    linked?;
    sync_dir(parent_of(path))
}

/// Creates `path` with `contents`, crash-safely; never replaces an existing file.
///
/// # Errors
///
/// [`io::ErrorKind::AlreadyExists`] when `path` exists, or the filesystem's error.
pub fn create_new(path: &Path, contents: &[u8], private: bool) -> io::Result<()> {
    let temp = write_temp(path, contents, private)?;
    install_new(&temp, path)
}

/// Writes `path` with `contents`, crash-safely, replacing it if it exists: a reader sees the
/// old file or the new one, never a mix.
///
/// # Errors
///
/// The filesystem's error.
pub fn replace(path: &Path, contents: &[u8], private: bool) -> io::Result<()> {
    let temp = write_temp(path, contents, private)?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(parent_of(path))
}

/// Removes the temporary files of `name` in `dir` that an interrupted process left behind;
/// returns the paths removed. Call it only while holding `dir` exclusively (the node holds its
/// store's lock), so no live process is still writing one of them.
///
/// # Errors
///
/// When `dir` cannot be listed or a leftover cannot be removed.
pub fn remove_stale_temps(dir: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        if file_name.to_str().is_some_and(|n| is_temp_of(n, name)) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The names in `dir`, sorted (the node's own tests share it).
    pub(crate) fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn temp_names_are_hidden_unique_and_recognised() {
        let a = temp_path(Path::new("/data/node.key"));
        let b = temp_path(Path::new("/data/node.key"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/data")));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!(".node.key.tmp-{}-", std::process::id())),
            "{name}"
        );
        assert!(is_temp_of(name, "node.key"));
        assert!(!is_temp_of(name, "node"));
        assert!(!is_temp_of("node.key", "node.key"));
        assert!(!is_temp_of(".node.key", "node.key"));
        assert!(!is_temp_of(".node.keytmp-1", "node.key"));
    }

    #[test]
    fn create_new_leaves_only_the_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        create_new(&path, b"secret\n", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"secret\n");
        assert_eq!(names(dir.path()), ["node.key"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn create_new_never_replaces_and_cleans_its_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        fs::write(&path, b"first").unwrap();
        let err = create_new(&path, b"second", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["node.key"]);
    }

    #[test]
    fn create_dir_all_makes_every_missing_level() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        assert!(deep.is_dir());
        // Existing: nothing to do.
        create_dir_all(&deep).unwrap();
        create_dir_all(dir.path()).unwrap();
    }

    #[test]
    fn replace_swaps_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        replace(&path, b"old", false).unwrap();
        replace(&path, b"new", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["out.json"]);
    }

    #[test]
    fn stale_temps_of_one_name_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".node.key.tmp-1-00",
            ".node.key.tmp-2-ff",
            ".replay.redb.tmp-3-aa",
            "node.key",
            "notes.tmp-1",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let mut removed = remove_stale_temps(dir.path(), "node.key").unwrap();
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.path().join(".node.key.tmp-1-00"),
                dir.path().join(".node.key.tmp-2-ff")
            ]
        );
        assert_eq!(
            names(dir.path()),
            [".replay.redb.tmp-3-aa", "node.key", "notes.tmp-1"]
        );
        // A missing directory has nothing to clean.
        assert!(
            remove_stale_temps(&dir.path().join("none"), "node.key")
                .unwrap()
                .is_empty()
        );
    }
}
