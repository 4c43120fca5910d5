//! A multi-host testbed for the `zks` binary on Linux network namespaces: one namespace per
//! host on a bridge, links shaped with `tbf`/`htb` and taken down and up, real `zks` processes
//! in each namespace, and the scenarios run on it ([`flood`], [`fleet`]). See `README.md`.
//!
//! Needs root (or `CAP_NET_ADMIN` and `CAP_SYS_ADMIN`), `ip` and `tc` from iproute2, and the
//! release `zks` binary of this workspace.

pub mod attack;
pub mod bed;
pub mod cmd;
pub mod fleet;
pub mod flood;
pub mod node;
pub mod proc;
pub mod soak;
pub mod stats;
pub mod tree;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// What every scenario needs: the binaries and a directory for data dirs and logs.
#[derive(Clone, Debug)]
pub struct Run {
    /// The `zks` binary.
    pub zks: PathBuf,
    /// This harness's own executable (run as the attacker).
    pub exe: PathBuf,
    /// Data dirs and logs of this run.
    pub dir: PathBuf,
}

impl Run {
    /// A path inside the run directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Finds the `zks` binary: `$ZKS_BIN`, else `zks` beside this executable (both in
/// `<target>/release/` after `cargo build --release`), else `release/zks` under
/// `$CARGO_TARGET_DIR`, else under the workspace's `target/`.
///
/// # Errors
///
/// When none exists, saying how to build it.
pub fn find_zks() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ZKS_BIN") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("ZKS_BIN={} is not a file", path.display());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
    {
        candidates.push(dir.join("zks"));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_relative() {
            workspace.join(dir)
        } else {
            dir
        };
        candidates.push(dir.join("release/zks"));
    }
    candidates.push(workspace.join("target/release/zks"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "no zks binary at {}; build it with `cargo build --release -p zks-node` \
                 (or set ZKS_BIN)",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        })
}

/// What `zks store dump` says about a stopped node's data dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreDump {
    /// `main-node` or `external-node`.
    pub role: String,
    /// Lowest and highest block, if any.
    pub range: Option<(u64, u64)>,
    /// Records stored.
    pub records: u64,
    /// Every block between the lowest and the highest stored exactly once.
    pub contiguous: bool,
}

impl StoreDump {
    /// Runs `zks store dump --data DIR`.
    ///
    /// # Errors
    ///
    /// When the command fails or prints something else.
    pub fn of(zks: &Path, data: &Path) -> Result<Self> {
        let data_arg = data.to_string_lossy();
        let zks_arg = zks.to_string_lossy();
        let out = cmd::run(&zks_arg, &["store", "dump", "--data", &data_arg])?;
        Self::parse(&out).with_context(|| format!("unexpected `zks store dump` output: {out:?}"))
    }

    /// Parses `zks store dump` output.
    pub fn parse(text: &str) -> Option<Self> {
        let mut role = None;
        let mut range = None;
        let mut records = None;
        let mut contiguous = None;
        for line in text.lines() {
            let (key, value) = line.split_once(": ")?;
            match key {
                "role" => role = Some(value.to_owned()),
                "blocks" if value == "none" => range = Some(None),
                "blocks" => {
                    let (first, last) = value.split_once("..=")?;
                    range = Some(Some((first.parse().ok()?, last.parse().ok()?)));
                }
                "records" => records = Some(value.parse().ok()?),
                "contiguous" => contiguous = Some(value == "yes"),
                _ => {}
            }
        }
        Some(Self {
            role: role?,
            range: range?,
            records: records?,
            contiguous: contiguous?,
        })
    }

    /// Whether it holds exactly blocks `0..=head`, each once.
    pub fn is_exactly(&self, head: u64) -> bool {
        self.is_exactly_range(0, head)
    }

    /// Whether it holds exactly blocks `first..=last`, each once.
    pub fn is_exactly_range(&self, first: u64, last: u64) -> bool {
        self.range == Some((first, last))
            && last.checked_sub(first).map(|n| n + 1) == Some(self.records)
            && self.contiguous
    }
}

impl std::fmt::Display for StoreDump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.range {
            Some((first, last)) => write!(f, "blocks {first}..={last}")?,
            None => write!(f, "no blocks")?,
        }
        write!(
            f,
            ", {} records, {}",
            self.records,
            if self.contiguous {
                "contiguous"
            } else {
                "NOT contiguous"
            }
        )
    }
}

/// How long a `zks` node gets to start and print its first line.
pub const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a `zks` node gets to stop after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_dumps_parse() {
        let dump = StoreDump::parse(
            "role: external-node\nblocks: 0..=3999\nrecords: 4000\ncontiguous: yes\n",
        )
        .unwrap();
        assert!(dump.is_exactly(3999));
        assert!(!dump.is_exactly(4000));
        assert_eq!(
            dump.to_string(),
            "blocks 0..=3999, 4000 records, contiguous"
        );
        let empty =
            StoreDump::parse("role: main-node\nblocks: none\nrecords: 0\ncontiguous: yes").unwrap();
        assert_eq!(empty.range, None);
        let gap = StoreDump::parse("role: x\nblocks: 0..=9\nrecords: 9\ncontiguous: no").unwrap();
        assert!(!gap.is_exactly(9));
        assert_eq!(StoreDump::parse("role: x\n"), None);
    }
}
