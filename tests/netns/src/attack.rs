//! The attacker (`zks-netns attack ...`, run inside the attacker's namespace): opens `conns`
//! TCP connections to the target from many source addresses, sends nothing on them, and
//! reopens each one the target closes, at once. Every `report_every` it prints one
//! [`AttackStats`] line. It stops when its stdin closes (the harness went away) or after
//! `max_duration`, whichever comes first, so it never outlives its run.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;

/// What the attacker does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttackConfig {
    /// The listener to flood.
    pub target: SocketAddrV4,
    /// The first source address; the others follow it.
    pub first_source: Ipv4Addr,
    /// How many source addresses (connection `i` uses source `i % sources`).
    pub sources: u32,
    /// Connections to keep open.
    pub conns: usize,
    /// Stop after this long in any case.
    pub max_duration: Duration,
    /// How often to print the counters.
    pub report_every: Duration,
}

impl AttackConfig {
    /// The source addresses: `first_source` and the `sources - 1` after it.
    pub fn source_addrs(&self) -> Vec<Ipv4Addr> {
        let first = u32::from(self.first_source);
        (0..self.sources)
            .map(|i| Ipv4Addr::from(first.wrapping_add(i)))
            .collect()
    }

    /// The command line of `zks-netns attack` for this config.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "attack".to_owned(),
            format!("--target={}", self.target),
            format!("--first-source={}", self.first_source),
            format!("--sources={}", self.sources),
            format!("--conns={}", self.conns),
            format!("--max-secs={}", self.max_duration.as_secs()),
            format!("--report-ms={}", self.report_every.as_millis()),
        ]
    }

    /// Parses what [`to_args`](Self::to_args) wrote (without the leading `attack`).
    ///
    /// # Errors
    ///
    /// A missing, unknown or malformed option.
    pub fn from_args(args: &[String]) -> Result<Self> {
        let mut target = None;
        let mut first_source = None;
        let (mut sources, mut conns, mut max_secs, mut report_ms) = (None, None, None, None);
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                bail!("attack: expected --name=value, got {arg:?}");
            };
            let bad = || format!("attack: bad value in {arg:?}");
            match key {
                "--target" => target = Some(value.parse().with_context(bad)?),
                "--first-source" => first_source = Some(value.parse().with_context(bad)?),
                "--sources" => sources = Some(value.parse().with_context(bad)?),
                "--conns" => conns = Some(value.parse().with_context(bad)?),
                "--max-secs" => max_secs = Some(value.parse().with_context(bad)?),
                "--report-ms" => report_ms = Some(value.parse().with_context(bad)?),
                _ => bail!("attack: unknown option {key}"),
            }
        }
        let missing = |name: &str| format!("attack: {name} is required");
        let config = Self {
            target: target.with_context(|| missing("--target"))?,
            first_source: first_source.with_context(|| missing("--first-source"))?,
            sources: sources.with_context(|| missing("--sources"))?,
            conns: conns.with_context(|| missing("--conns"))?,
            max_duration: Duration::from_secs(max_secs.with_context(|| missing("--max-secs"))?),
            report_every: Duration::from_millis(report_ms.with_context(|| missing("--report-ms"))?),
        };
        if config.sources == 0 || config.conns == 0 || config.report_every.is_zero() {
            bail!("attack: --sources, --conns and --report-ms must be positive");
        }
        Ok(config)
    }
}

/// The attacker's counters, as printed on each report line. `held` and `connecting` are as
/// its tasks see them, which lags behind the kernel when the attacker is short of CPU (a
/// connection the target already closed may still count as connecting): the flood reports the
/// kernel's socket counts instead, and uses these totals for rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttackStats {
    /// Connections open now (connected, not yet closed by the target).
    pub held: u64,
    /// Connects in progress now.
    pub connecting: u64,
    /// Connects that succeeded, in total.
    pub opened: u64,
    /// Connections the target closed (or reset), in total.
    pub closed: u64,
    /// Connects that failed or timed out, in total.
    pub failed: u64,
}

impl AttackStats {
    const PREFIX: &'static str = "attack:";

    /// The report line.
    pub fn line(&self) -> String {
        format!(
            "{} held={} connecting={} opened={} closed={} failed={}",
            Self::PREFIX,
            self.held,
            self.connecting,
            self.opened,
            self.closed,
            self.failed
        )
    }

    /// Parses a report line; `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.strip_prefix(Self::PREFIX)?;
        let mut stats = Self::default();
        for word in rest.split_whitespace() {
            let (key, value) = word.split_once('=')?;
            let value = value.parse().ok()?;
            match key {
                "held" => stats.held = value,
                "connecting" => stats.connecting = value,
                "opened" => stats.opened = value,
                "closed" => stats.closed = value,
                "failed" => stats.failed = value,
                _ => return None,
            }
        }
        Some(stats)
    }
}

#[derive(Debug, Default)]
struct Counters {
    held: AtomicU64,
    connecting: AtomicU64,
    opened: AtomicU64,
    closed: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> AttackStats {
        AttackStats {
            held: self.held.load(Ordering::Relaxed),
            connecting: self.connecting.load(Ordering::Relaxed),
            opened: self.opened.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// A connect that gets no answer (a full accept queue drops SYNs) is retried after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After a connect fails at once (refused: the target is not listening yet), the pause before
/// the next try of that connection, so a dead target does not make us spin.
const REFUSED_PAUSE: Duration = Duration::from_millis(50);

/// Runs the attack until stdin closes or `max_duration` passes.
///
/// # Errors
///
/// When the file descriptor limit cannot be raised to hold `conns` sockets.
pub async fn run(config: AttackConfig) -> Result<()> {
    raise_fd_limit(config.conns as u64 + 256)?;
    let counters = Arc::new(Counters::default());
    let sources = config.source_addrs();
    if sources.is_empty() {
        bail!("attack: no source address");
    }
    for (i, &source) in sources.iter().cycle().take(config.conns).enumerate() {
        tokio::spawn(hold(
            source,
            config.target,
            Arc::clone(&counters),
            // Spread the first connects over the first half second.
            Duration::from_micros((i as u64 * 500_000) / config.conns as u64),
        ));
    }
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let mut stdout = tokio::io::stdout();
    let report = async {
        let mut tick = tokio::time::interval(config.report_every);
        loop {
            tick.tick().await;
            let line = counters.snapshot().line() + "\n";
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                // Nobody reads us any more.
                return;
            }
        }
    };
    tokio::select! {
        () = stdin_closed => {}
        () = report => {}
        () = tokio::time::sleep(config.max_duration) => {}
    }
    // Every connection task is dropped with the runtime, closing its socket.
    Ok(())
}

/// Keeps one connection from `source` open, reopening it whenever the target closes it.
async fn hold(source: Ipv4Addr, target: SocketAddrV4, counters: Arc<Counters>, delay: Duration) {
    tokio::time::sleep(delay).await;
    let mut buf = [0u8; 1024];
    loop {
        counters.connecting.fetch_add(1, Ordering::Relaxed);
        let connected = connect(source, target).await;
        counters.connecting.fetch_sub(1, Ordering::Relaxed);
        let mut stream = match connected {
            Ok(stream) => stream,
            Err(Failure::Refused) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(REFUSED_PAUSE).await;
                continue;
            }
            Err(Failure::TimedOut) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        counters.opened.fetch_add(1, Ordering::Relaxed);
        counters.held.fetch_add(1, Ordering::Relaxed);
        // Hold it, sending nothing, until the target closes it (anything it sends is dropped).
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        counters.held.fetch_sub(1, Ordering::Relaxed);
        counters.closed.fetch_add(1, Ordering::Relaxed);
    }
}

enum Failure {
    Refused,
    TimedOut,
}

async fn connect(source: Ipv4Addr, target: SocketAddrV4) -> Result<tokio::net::TcpStream, Failure> {
    let socket = TcpSocket::new_v4().map_err(|_| Failure::Refused)?;
    socket
        .bind(SocketAddr::from((source, 0)))
        .map_err(|_| Failure::Refused)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target.into())).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(_)) => Err(Failure::Refused),
        Err(_) => Err(Failure::TimedOut),
    }
}

/// Raises the soft open-file limit to at least `needed` (within the hard limit).
fn raise_fd_limit(needed: u64) -> Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|c| c >= needed) {
        return Ok(());
    }
    if limit.maximum.is_some_and(|m| m < needed) {
        bail!(
            "attack: the hard open-file limit {:?} is below the {needed} sockets needed",
            limit.maximum
        );
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(needed),
            maximum: limit.maximum,
        },
    )
    .context("attack: cannot raise the open-file limit")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_round_trips() {
        let config = AttackConfig {
            target: "198.18.0.1:30303".parse().unwrap(),
            first_source: Ipv4Addr::new(198, 19, 0, 255),
            sources: 3,
            conns: 2000,
            max_duration: Duration::from_secs(120),
            report_every: Duration::from_millis(200),
        };
        let args = config.to_args();
        assert_eq!(args[0], "attack");
        assert_eq!(AttackConfig::from_args(&args[1..]).unwrap(), config);
        assert_eq!(
            config.source_addrs(),
            [
                Ipv4Addr::new(198, 19, 0, 255),
                Ipv4Addr::new(198, 19, 1, 0),
                Ipv4Addr::new(198, 19, 1, 1)
            ]
        );
        assert!(AttackConfig::from_args(&["--conns=1".to_owned()]).is_err());
        assert!(AttackConfig::from_args(&["--bogus=1".to_owned()]).is_err());
    }

    #[test]
    fn report_lines_round_trip() {
        let stats = AttackStats {
            held: 1900,
            connecting: 100,
            opened: 50_000,
            closed: 48_000,
            failed: 3,
        };
        assert_eq!(AttackStats::parse(&stats.line()), Some(stats));
        assert_eq!(AttackStats::parse("something else"), None);
    }
}
