//! The node key file: loaded when named, created crash-safely in the data dir when not.

use std::path::Path;

use zks_devp2p::{NodeKey, NodeKeyError};

use crate::CliError;
use crate::exit::{EX_TEMPFAIL, Failure};

/// The node key's file name inside a data directory (when no `--key` is given).
pub const NODE_KEY_FILE: &str = "node.key";

/// Loads the node key file the user named (`--key`); never creates it.
///
/// # Errors
///
/// One line naming the file.
pub fn load_key_file(path: &Path) -> Result<NodeKey, CliError> {
    if !path.exists() {
        return Err(format!("node key file {} does not exist", path.display()));
    }
    require_private(path, "node key")?;
    NodeKey::load(path).map_err(|e| match e {
        NodeKeyError::Io { .. } => format!("cannot load node key: {e}"),
        e => format!("cannot load node key {}: {e}", path.display()),
    })
}

/// Loads `<data>/node.key`, or creates it crash-safely (complete or absent after any kill).
///
/// An empty file — what an older version's interrupted first start could leave — held no key
/// yet (no node ever ran with it), so it is replaced by a new key, with a warning. A file with
/// any other content that is not a key is an error: it might be a damaged identity, and is left
/// as it is. Temporary files of an interrupted creation are removed first; call this only while
/// holding the data dir's store, so no other process is creating the key.
///
/// # Errors
///
/// One line naming the file.
pub fn data_dir_node_key(data: &Path) -> Result<NodeKey, Failure> {
    let path = data.join(NODE_KEY_FILE);
    match crate::files::remove_stale_temps(data, NODE_KEY_FILE) {
        Ok(removed) => {
            for temp in removed {
                tracing::info!(file = %temp.display(), "removed a temporary file left by an interrupted start");
            }
        }
        Err(e) => {
            tracing::warn!(dir = %data.display(), error = %e, "cannot remove leftover temporary key files")
        }
    }
    // A full disk is no configuration error: exit status 75, for a restart once there is room.
    let write_error = |e: std::io::Error| {
        let message = format!("cannot write node key {}: {e}", path.display());
        if crate::store::is_disk_full(&e) {
            Failure::temporary(format!(
                "{message} (the disk is full); exiting with status {EX_TEMPFAIL} \
                 (EX_TEMPFAIL): restart once the disk has room"
            ))
        } else {
            Failure::from(message)
        }
    };
    // Twice at most: another creator may win the race to create the file.
    for _ in 0..2 {
        match std::fs::read(&path) {
            Ok(bytes) if bytes.is_empty() => {
                tracing::warn!(
                    file = %path.display(),
                    "the node key file is empty (an interrupted first start left it); \
                     generating a new node key"
                );
                let key = NodeKey::generate();
                crate::files::replace(&path, key_text(&key).as_bytes(), true)
                    .map_err(write_error)?;
                return Ok(key);
            }
            Ok(bytes) => {
                require_private(&path, "node key").map_err(Failure::from)?;
                let parsed = match std::str::from_utf8(&bytes) {
                    Ok(text) => NodeKey::from_hex(text),
                    Err(_) => Err(NodeKeyError::NotHex),
                };
                return parsed.map_err(|e| {
                    Failure::from(format!("cannot load node key {}: {e}", path.display()))
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = NodeKey::generate();
                match crate::files::create_new(&path, key_text(&key).as_bytes(), true) {
                    Ok(()) => {
                        tracing::info!(file = %path.display(), id = %key.id(), "generated a new node key");
                        return Ok(key);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(write_error(e)),
                }
            }
            Err(e) => {
                return Err(Failure::from(format!(
                    "cannot read node key {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(Failure::from(format!(
        "cannot load node key {}: it keeps changing under us",
        path.display()
    )))
}

/// Refuses a key file that the owner's group or others may read or write, as ssh does with
/// private keys: `WHAT file PATH is accessible by group or others (mode 0644); run
/// \`chmod 600 PATH\``. A file that cannot be inspected is left to the read that follows.
///
/// # Errors
///
/// That line.
pub fn require_private(path: &Path, what: &str) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{what} file {} is accessible by group or others (mode {mode:04o}); \
                     run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
    Ok(())
}

/// A key file's content: the hex secret and a newline.
fn key_text(key: &NodeKey) -> String {
    format!("{}\n", key.to_hex())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs;

    use super::*;
    use crate::files::tests::names;

    /// Writes a file readable by its owner only, as key files must be.
    fn write_private(path: &Path, contents: &[u8]) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, contents).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    #[test]
    fn a_missing_node_key_is_created_complete_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", key.to_hex())
        );
        assert_eq!(names(dir.path()), [NODE_KEY_FILE]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(data_dir_node_key(dir.path()).unwrap().id(), key.id());
    }

    #[test]
    fn an_empty_node_key_left_by_a_kill_is_replaced_by_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        fs::write(&path, b"").unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", key.to_hex())
        );
        assert_eq!(names(dir.path()), [NODE_KEY_FILE]);
        assert_eq!(data_dir_node_key(dir.path()).unwrap().id(), key.id());
    }

    #[test]
    fn a_damaged_node_key_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        write_private(&path, b"abc\n");
        assert_eq!(
            data_dir_node_key(dir.path()).unwrap_err(),
            format!(
                "cannot load node key {}: secret key must be 64 hex characters, got 3",
                path.display()
            )
        );
        assert_eq!(fs::read(&path).unwrap(), b"abc\n");
        // Not even text.
        write_private(&path, &[0xff; 64]);
        assert_eq!(
            data_dir_node_key(dir.path()).unwrap_err(),
            format!(
                "cannot load node key {}: secret key is not hex",
                path.display()
            )
        );
        assert_eq!(fs::read(&path).unwrap(), [0xff; 64]);
    }

    #[test]
    fn leftover_temporary_key_files_are_removed_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(".node.key.tmp-77-00000000000000aa");
        fs::write(&leftover, b"half a ke").unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        assert!(!leftover.exists());
        assert_eq!(names(dir.path()), [NODE_KEY_FILE]);
        assert_eq!(
            NodeKey::load(dir.path().join(NODE_KEY_FILE)).unwrap().id(),
            key.id()
        );
    }

    #[test]
    fn a_named_key_file_must_exist_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mn.key");
        assert_eq!(
            load_key_file(&path).unwrap_err(),
            format!("node key file {} does not exist", path.display())
        );
        write_private(&path, b"");
        assert_eq!(
            load_key_file(&path).unwrap_err(),
            format!(
                "cannot load node key {}: secret key must be 64 hex characters, got 0",
                path.display()
            )
        );
        // Never replaced: the user's file is the user's.
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn key_files_others_may_read_are_refused_with_the_chmod_that_fixes_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        for (mode, shown) in [
            (0o644, "0644"),
            (0o640, "0640"),
            (0o604, "0604"),
            (0o620, "0620"),
        ] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let want = format!(
                "node key file {p} is accessible by group or others (mode {shown}); \
                 run `chmod 600 {p}`",
                p = path.display()
            );
            assert_eq!(data_dir_node_key(dir.path()).unwrap_err(), want);
            assert_eq!(load_key_file(&path).unwrap_err(), want);
        }
        // Left as it was, and accepted once fixed (0400 too).
        assert_eq!(fs::read_to_string(&path).unwrap(), key_text(&key));
        for mode in [0o600, 0o400] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(load_key_file(&path).unwrap().id(), key.id());
        }
    }

    #[test]
    fn keys_show_no_secret_in_debug_output() {
        let key = NodeKey::generate();
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains(&key.to_hex()), "{shown}");
        assert!(shown.contains(&key.id().to_string()), "{shown}");
        let secret = [7u8; 32];
        let verifier = zks_verifier::VerifierKey::from_bytes(&secret).unwrap();
        let shown = format!("{verifier:?} {verifier:#?}");
        assert!(!shown.contains(&hex::encode(secret)), "{shown}");
        assert!(!shown.contains("0707070707"), "{shown}");
    }
}
