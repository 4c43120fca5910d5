//! The network: one namespace per host, all attached by veth pairs to a bridge that lives in a
//! namespace of its own (the hub), so the testbed adds no interface, address or route to the
//! namespace it is started from. Everything is named with [`PREFIX`] and removed when the
//! [`Testbed`] is dropped; [`sweep`] removes what a killed run left behind.
//!
//! Addresses come from the benchmarking range 198.18.0.0/15 and exist only inside the
//! namespaces created here.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// The prefix of every namespace the testbed creates (and [`sweep`] removes).
pub const PREFIX: &str = "zksnt-";
/// The prefix length of every host address: all hosts share 198.18.0.0/15.
pub const PREFIX_LEN: u8 = 15;
/// The bridge's name inside the hub namespace.
const BRIDGE: &str = "br0";
/// The host side of each veth pair, inside the host's namespace.
const HOST_IF: &str = "eth0";
/// Longest host name: its hub-side interface `h-<name>` must stay within 15 characters.
const MAX_HOST_NAME: usize = 12;

/// One host: a network namespace with one interface (`eth0`) on the bridge.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its short name (`mn`, `en07`, ...).
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// Its first address (more can be added with [`Testbed::add_addresses`]).
    pub addr: Ipv4Addr,
    /// Its veth's other end, on the bridge in the hub namespace.
    hub_if: String,
}

/// Which way a shaper limits a host's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// Traffic to the host (shaped on the bridge side of its veth).
    Host,
    /// Traffic from the host (shaped on its own `eth0`).
    Bridge,
}

/// A bandwidth cap on one direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A token bucket filter at this many kbit/s.
    Tbf {
        /// Rate, kbit/s.
        kbit: u32,
    },
    /// One hierarchical token bucket class at this many kbit/s (rate = ceil).
    Htb {
        /// Rate, kbit/s.
        kbit: u32,
    },
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tbf { kbit } => write!(f, "tbf {kbit} kbit/s"),
            Self::Htb { kbit } => write!(f, "htb {kbit} kbit/s"),
        }
    }
}

/// The namespaces, bridge and veth pairs of one run; dropping it removes them all, after
/// killing every process still inside them.
#[derive(Debug)]
pub struct Testbed {
    /// The prefix of its namespaces' names.
    prefix: &'static str,
    hub: String,
    /// Every namespace created, the hub first.
    namespaces: Vec<String>,
}

impl Testbed {
    /// Creates the hub namespace and its bridge, every namespace named with [`PREFIX`].
    ///
    /// # Errors
    ///
    /// When `ip` fails (the error names the command).
    pub fn new() -> Result<Self> {
        Self::with_prefix(PREFIX)
    }

    /// As [`new`](Self::new), every namespace named with `prefix` instead (the soak uses its
    /// own, so it neither sweeps nor is swept by the scenarios' runs).
    ///
    /// # Errors
    ///
    /// When `ip` fails (the error names the command).
    pub fn with_prefix(prefix: &'static str) -> Result<Self> {
        let mut bed = Self {
            prefix,
            hub: format!("{prefix}hub"),
            namespaces: Vec::new(),
        };
        let hub = bed.hub.clone();
        bed.create_ns(&hub)?;
        ip(&["-n", &hub, "link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", BRIDGE, "up"])?;
        Ok(bed)
    }

    fn create_ns(&mut self, ns: &str) -> Result<()> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Adds host `name` (at most 12 characters) at `addr`: its namespace, and a veth pair from
    /// its `eth0` to the bridge.
    ///
    /// # Errors
    ///
    /// A name too long, or `ip` failing.
    pub fn add_host(&mut self, name: &str, addr: Ipv4Addr) -> Result<Host> {
        if name.is_empty() || name.len() > MAX_HOST_NAME {
            bail!("host name {name:?} must have 1 to {MAX_HOST_NAME} characters");
        }
        let ns = format!("{}{name}", self.prefix);
        let hub_if = format!("h-{name}");
        self.create_ns(&ns)?;
        let hub = self.hub.as_str();
        ip(&[
            "-n", hub, "link", "add", &hub_if, "type", "veth", "peer", "name", HOST_IF, "netns",
            &ns,
        ])?;
        ip(&["-n", hub, "link", "set", &hub_if, "master", BRIDGE, "up"])?;
        let cidr = format!("{addr}/{PREFIX_LEN}");
        ip(&["-n", &ns, "addr", "add", &cidr, "dev", HOST_IF])?;
        ip(&["-n", &ns, "link", "set", HOST_IF, "up"])?;
        Ok(Host {
            name: name.to_owned(),
            ns,
            addr,
            hub_if,
        })
    }

    /// Gives `host` more addresses (an attacker's many sources), in one `ip -batch` call.
    ///
    /// # Errors
    ///
    /// When `ip` fails.
    pub fn add_addresses(&self, host: &Host, addrs: &[Ipv4Addr]) -> Result<()> {
        let script: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/{PREFIX_LEN} dev {HOST_IF}\n"))
            .collect();
        cmd::run_with_input("ip", &["-n", &host.ns, "-batch", "-"], &script)
            .with_context(|| format!("adding {} addresses to {}", addrs.len(), host.name))?;
        Ok(())
    }

    /// Caps one direction of `host`'s link.
    ///
    /// # Errors
    ///
    /// When `tc` fails (for instance when the kernel lacks the qdisc).
    pub fn shape(&self, host: &Host, toward: Toward, shape: Shape) -> Result<()> {
        let (ns, dev) = match toward {
            Toward::Host => (self.hub.as_str(), host.hub_if.as_str()),
            Toward::Bridge => (host.ns.as_str(), HOST_IF),
        };
        match shape {
            Shape::Tbf { kbit } => {
                let rate = format!("{kbit}kbit");
                // A burst of at least 32 KiB (or 50 ms of the rate) and a queue of at most
                // 300 ms: TCP sees the cap as loss and backs off, as on a real slow link.
                let burst = format!("{}b", (u64::from(kbit) * 1000 / 8 / 20).max(32 * 1024));
                tc(&[
                    "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate,
                    "burst", &burst, "latency", "300ms",
                ])
            }
            Shape::Htb { kbit } => {
                let rate = format!("{kbit}kbit");
                tc(&[
                    "-n", ns, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb",
                    "default", "10",
                ])?;
                tc(&[
                    "-n", ns, "class", "replace", "dev", dev, "parent", "1:", "classid", "1:10",
                    "htb", "rate", &rate, "ceil", &rate,
                ])
            }
        }
        .with_context(|| format!("shaping {} ({shape})", host.name))
    }

    /// Takes `host`'s link down (`up == false`) or up again, on the bridge side: the host's
    /// `eth0` loses its carrier, its TCP connections stall until it comes back.
    ///
    /// # Errors
    ///
    /// When `ip` fails.
    pub async fn set_link(&self, host: &Host, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        cmd::run_async("ip", &["-n", &self.hub, "link", "set", &host.hub_if, state])
            .await
            .with_context(|| format!("taking {}'s link {state}", host.name))?;
        Ok(())
    }

    /// Cuts (`cut == true`) or restores `host`'s path to `to` alone: a blackhole route to it in
    /// the host's namespace, so every packet the host sends there is dropped while its other
    /// links (a relay's downstream peers) stay up.
    ///
    /// # Errors
    ///
    /// When `ip` fails.
    pub async fn cut_path(&self, host: &Host, to: Ipv4Addr, cut: bool) -> Result<()> {
        let dest = format!("{to}/32");
        let op = if cut { "add" } else { "del" };
        cmd::run_async("ip", &["-n", &host.ns, "route", op, "blackhole", &dest])
            .await
            .with_context(|| format!("{op} a blackhole route to {to} on {}", host.name))?;
        Ok(())
    }

    /// Kills every process left in the testbed's namespaces and deletes them (the veths and
    /// the bridge go with them). Idempotent; returns what failed.
    pub fn teardown(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        // Hosts first, the hub last.
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = remove_namespace(&ns) {
                errors.push(format!("{e:#}"));
            }
        }
        errors
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for error in self.teardown() {
            eprintln!("zks-netns: teardown: {error}");
        }
    }
}

/// Kills the processes inside `ns` (SIGKILL, by the pids `ip netns pids` names) and deletes it.
fn remove_namespace(ns: &str) -> Result<()> {
    if let Ok(pids) = cmd::run("ip", &["netns", "pids", ns]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                // Gone already is fine.
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
    ip(&["netns", "del", ns])?;
    Ok(())
}

/// The namespaces whose names start with [`PREFIX`], from `ip netns list` output.
pub fn ours(list: &str) -> Vec<String> {
    with_prefix(list, PREFIX)
}

/// The namespaces whose names start with `prefix`, from `ip netns list` output.
pub fn with_prefix(list: &str, prefix: &str) -> Vec<String> {
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Removes every namespace with [`PREFIX`] (left by a run that was killed before its guards
/// ran), killing the processes still inside. Call it holding the [`RunLock`].
///
/// # Errors
///
/// When the namespaces cannot be listed or one cannot be deleted.
pub fn sweep() -> Result<Vec<String>> {
    sweep_prefix(PREFIX)
}

/// As [`sweep`], for the namespaces named with `prefix`; call it holding the lock of the runs
/// that use that prefix.
///
/// # Errors
///
/// As [`sweep`].
pub fn sweep_prefix(prefix: &str) -> Result<Vec<String>> {
    let leftovers = with_prefix(&ip(&["netns", "list"])?, prefix);
    for ns in &leftovers {
        remove_namespace(ns).with_context(|| format!("removing leftover namespace {ns}"))?;
    }
    Ok(leftovers)
}

/// Whether this process runs as root, which the testbed needs (namespaces, the lock in `/run`).
///
/// # Errors
///
/// The reason, plainly.
pub fn check_root() -> Result<()> {
    let euid = rustix::process::geteuid();
    if !euid.is_root() {
        bail!("not running as root (euid {})", euid.as_raw());
    }
    Ok(())
}

/// Whether this process can build the testbed: `Err` says plainly why not. Call it holding the
/// [`RunLock`].
///
/// # Errors
///
/// The reason: no `ip` or `tc`, or a namespace, a veth pair or a `tbf` qdisc cannot be created.
pub fn probe() -> Result<()> {
    let ns = format!("{PREFIX}probe");
    // A probe left by a killed run would make the add fail.
    let _ = cmd::run("ip", &["netns", "del", &ns]);
    cmd::run("ip", &["netns", "add", &ns])?;
    let veth = cmd::run(
        "ip",
        &[
            "-n", &ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1",
        ],
    );
    let tc = cmd::run(
        "tc",
        &[
            "-n", &ns, "qdisc", "add", "dev", "p0", "root", "tbf", "rate", "1mbit", "burst",
            "32kb", "latency", "100ms",
        ],
    );
    let removed = cmd::run("ip", &["netns", "del", &ns]);
    veth.context("cannot create a veth pair")?;
    tc.context("cannot attach a tbf qdisc")?;
    removed?;
    Ok(())
}

/// An exclusive lock on the testbed's names, held for a whole run: two runs on one machine
/// (two checkouts) wait for each other instead of sweeping each other's namespaces.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Waits for the lock (`/run/zks-netns.lock`, or in the temp dir without `/run`).
    ///
    /// # Errors
    ///
    /// When the lock file cannot be opened or locked.
    pub fn acquire() -> Result<Self> {
        Self::acquire_named("zks-netns.lock")
    }

    /// Waits for the lock file `name` in `/run` (or the temp dir): a lock of its own for runs
    /// with namespaces of their own prefix (the soak's).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    pub fn acquire_named(name: &str) -> Result<Self> {
        let dir = Path::new("/run");
        let dir = if dir.is_dir() {
            dir.to_owned()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(name);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(Self { _file: file })
    }
}

fn ip(args: &[&str]) -> Result<String> {
    cmd::run("ip", args)
}

fn tc(args: &[&str]) -> Result<()> {
    cmd::run("tc", args).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_namespaces_are_ours() {
        let list = "zksnt-hub (id: 3)\nother\nzksnt-en01\nnot-zksnt-x (id: 1)\n";
        assert_eq!(ours(list), ["zksnt-hub", "zksnt-en01"]);
    }

    #[test]
    fn the_longest_hub_interface_name_fits() {
        let name = "h-".to_owned() + &"x".repeat(MAX_HOST_NAME);
        assert!(name.len() <= 15, "{name} is longer than IFNAMSIZ - 1");
    }
}
