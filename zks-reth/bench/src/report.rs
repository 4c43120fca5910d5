//! The one JSON line on stdout, the versions it names, and process CPU time.

use std::{fmt::Write as _, time::Duration};

/// zks-reth's lock, which this binary was built against (`--locked` in the build commands).
const LOCK: &str = include_str!("../../Cargo.lock");

/// Bytes in a MiB.
const MIB: f64 = 1_048_576.0;

/// The versions `name` has in the lock, joined by `+` (normally exactly one).
pub(crate) fn locked(name: &str) -> String {
    let mut versions = Vec::new();
    let mut current = None;
    for line in LOCK.lines() {
        if line == "[[package]]" {
            current = None;
        } else if let Some(n) = field(line, "name") {
            current = Some(n);
        } else if let Some(v) = field(line, "version")
            && current == Some(name)
        {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        "?".to_owned()
    } else {
        versions.join("+")
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.strip_prefix(key)?
        .strip_prefix(" = \"")?
        .strip_suffix('"')
}

/// What computes the keccak of reth-ecies' MAC (`alloy_primitives::Keccak256`): with the
/// `asm-keccak` feature (the default) keccak-asm, else alloy-primitives' fallback (the sha3 crate,
/// or tiny-keccak where something in the graph turns that on).
pub(crate) fn keccak() -> String {
    if cfg!(feature = "asm-keccak") {
        format!(
            "keccak-asm {} ({}) via alloy-primitives {} asm-keccak",
            locked("keccak-asm"),
            keccak_backend(),
            locked("alloy-primitives")
        )
    } else {
        format!(
            "alloy-primitives {} without asm-keccak (sha3 or tiny-keccak)",
            locked("alloy-primitives")
        )
    }
}

/// The backend keccak-asm was built with (`keccak1600-x86_64`, CRYPTOGAMS' scalar assembly,
/// unless the target CPU was given AVX2 or AVX-512VL at build time).
#[cfg(feature = "asm-keccak")]
fn keccak_backend() -> &'static str {
    keccak_asm::IMPL
}

#[cfg(not(feature = "asm-keccak"))]
fn keccak_backend() -> &'static str {
    "none"
}

/// The snappy implementation P2PStream uses.
pub(crate) fn snappy() -> String {
    format!("snap {}", locked("snap"))
}

/// User plus system CPU time of this process so far (all threads: sender and receiver both).
pub(crate) fn cpu_time() -> Result<Duration, String> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_err(|e| format!("getrusage: {e}"))?;
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    Ok(tv(usage.user_time()) + tv(usage.system_time()))
}

/// One run's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub(crate) messages: u64,
    pub(crate) payload_bytes: u64,
    pub(crate) seconds: f64,
    pub(crate) cpu_seconds: f64,
    pub(crate) workers: usize,
}

impl Report {
    /// The JSON line (no newline), keys in the contract's order.
    pub(crate) fn json(&self) -> String {
        let mib = self.payload_bytes as f64 / MIB;
        let mut out = String::with_capacity(320);
        out.push('{');
        let mut first = true;
        let mut key = |out: &mut String, key: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            push_str(out, key);
            out.push(':');
        };
        key(&mut out, "impl");
        push_str(&mut out, "reth");
        key(&mut out, "version");
        push_str(&mut out, "v2.5.0");
        key(&mut out, "messages");
        let _ = write!(out, "{}", self.messages);
        key(&mut out, "payload_bytes");
        let _ = write!(out, "{}", self.payload_bytes);
        key(&mut out, "seconds");
        push_f64(&mut out, self.seconds);
        key(&mut out, "cpu_seconds");
        push_f64(&mut out, self.cpu_seconds);
        key(&mut out, "cpu_ms_per_mib");
        push_f64(&mut out, self.cpu_seconds * 1000.0 / mib);
        key(&mut out, "mib_per_s");
        push_f64(&mut out, mib / self.seconds);
        key(&mut out, "keccak");
        push_str(&mut out, &keccak());
        key(&mut out, "snappy");
        push_str(&mut out, &snappy());
        key(&mut out, "workers");
        let _ = write!(out, "{}", self.workers);
        out.push('}');
        out
    }
}

/// A JSON number; `null` for what JSON cannot say (a zero-length span gives infinities).
fn push_f64(out: &mut String, value: f64) {
    if value.is_finite() {
        // Display: the shortest digits that round-trip, never an exponent.
        let _ = write!(out, "{value}");
    } else {
        out.push_str("null");
    }
}

/// A JSON string.
fn push_str(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line() {
        let report = Report {
            messages: 524_288,
            payload_bytes: 128 << 20,
            seconds: 0.5,
            cpu_seconds: 0.75,
            workers: 2,
        };
        let line = report.json();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["impl"], "reth");
        assert_eq!(value["version"], "v2.5.0");
        assert_eq!(value["messages"], 524_288);
        assert_eq!(value["payload_bytes"], 128 << 20);
        assert_eq!(value["seconds"], 0.5);
        assert_eq!(value["cpu_seconds"], 0.75);
        assert_eq!(value["cpu_ms_per_mib"], 750.0 / 128.0);
        assert_eq!(value["mib_per_s"], 256.0);
        assert_eq!(value["workers"], 2);
        let keys: Vec<&str> = line
            .trim_matches(['{', '}'])
            .split(',')
            .filter_map(|kv| kv.split_once(':'))
            .map(|(k, _)| k.trim_matches('"'))
            .collect();
        assert_eq!(
            keys,
            [
                "impl",
                "version",
                "messages",
                "payload_bytes",
                "seconds",
                "cpu_seconds",
                "cpu_ms_per_mib",
                "mib_per_s",
                "keccak",
                "snappy",
                "workers"
            ]
        );
    }

    #[test]
    fn versions_from_the_lock() {
        let snappy = snappy();
        assert!(
            snappy.starts_with("snap 1.") && !snappy.contains('+'),
            "{snappy}"
        );
        let keccak = keccak();
        if cfg!(feature = "asm-keccak") {
            assert!(keccak.starts_with("keccak-asm 0.1."), "{keccak}");
        } else {
            assert!(keccak.contains("without asm-keccak"), "{keccak}");
        }
        assert!(!keccak.contains('?') && !keccak.contains('+'), "{keccak}");
        assert_eq!(locked("no-such-crate"), "?");
    }

    #[test]
    fn strings_and_numbers() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\n");
        assert_eq!(out, r#""a\"b\\c\u000a""#);
        let mut out = String::new();
        push_f64(&mut out, f64::INFINITY);
        push_f64(&mut out, 1e-7);
        assert_eq!(out, "null0.0000001");
    }
}
