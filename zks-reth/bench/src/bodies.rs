//! The bodies file (`[u32 little-endian length][length bytes]`, repeated) and the send plan.

use std::{fs::File, io::Read, path::Path};

/// Largest bodies file read (1 GiB).
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 30;

/// Largest body: its snappy worst case plus the id byte must fit the 24-bit size of an RLPx
/// frame header (reth's `ECIES::write_header` would truncate a larger size), which also keeps
/// id byte + body under P2PStream's 16 MiB payload limit.
pub(crate) const MAX_BODY_BYTES: usize = {
    // snappy's max_compress_len(n) = 32 + n + n / 6; the largest n with 1 + that <= 0xff_ffff
    let budget = 0xff_ffff - 1 - 32;
    let mut n = budget * 6 / 7;
    while (n + 1) + (n + 1) / 6 <= budget {
        n += 1;
    }
    n
};

/// Reads a bodies file whole (not over [`MAX_FILE_BYTES`]); [`split`] it next.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let len = file.metadata().map_err(|e| format!("{shown}: {e}"))?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{shown}: {len} bytes, over the 1 GiB limit"));
    }
    let mut data = Vec::new();
    // At most one byte past the limit, whatever the metadata said (a file growing meanwhile).
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{shown}: {e}"))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{shown}: over the 1 GiB limit"));
    }
    Ok(data)
}

/// Splits `[u32 LE length][body]...` into bodies: at least one, not all empty, none over
/// [`MAX_BODY_BYTES`], no truncated entry.
pub(crate) fn split(mut data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut bodies = Vec::new();
    let mut offset = 0usize;
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            return Err(format!(
                "truncated entry {} at byte {offset}: {} bytes left, a length takes 4",
                bodies.len(),
                data.len()
            ));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_BODY_BYTES {
            return Err(format!(
                "entry {} at byte {offset}: body of {len} bytes, over the {MAX_BODY_BYTES}-byte \
                 limit of one RLPx frame",
                bodies.len()
            ));
        }
        let Some((body, rest)) = rest.split_at_checked(len) else {
            return Err(format!(
                "truncated entry {} at byte {offset}: length {len}, {} bytes left",
                bodies.len(),
                rest.len()
            ));
        };
        bodies.push(body);
        offset += 4 + len;
        data = rest;
    }
    if bodies.is_empty() {
        return Err("no entries".to_owned());
    }
    if bodies.iter().all(|body| body.is_empty()) {
        return Err("every body is empty: no amount of them reaches --mib".to_owned());
    }
    Ok(bodies)
}

/// How many messages a run sends, and their total body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The smallest number of messages (bodies in order, cycling) whose bodies reach the target.
    pub(crate) messages: u64,
    /// Sum of those bodies' lengths (>= the target).
    pub(crate) payload_bytes: u64,
}

/// The plan for sending at least `target` body bytes (> 0) from `lengths` (some > 0), cycling.
pub(crate) fn plan(lengths: &[usize], target: u64) -> Plan {
    let cycle: u64 = lengths.iter().map(|&l| l as u64).sum();
    if cycle == 0 || target == 0 {
        return Plan {
            messages: 0,
            payload_bytes: 0,
        };
    }
    // Whole cycles that stay below the target, then the start of one more up to it.
    let cycles = (target - 1) / cycle;
    let mut messages = cycles * lengths.len() as u64;
    let mut payload_bytes = cycles * cycle;
    for &len in lengths {
        messages += 1;
        payload_bytes += len as u64;
        if payload_bytes >= target {
            break;
        }
    }
    Plan {
        messages,
        payload_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn splits() {
        let mut file = entry(b"abc");
        file.extend(entry(b""));
        file.extend(entry(&[7; 300]));
        let bodies = split(&file).unwrap();
        assert_eq!(bodies, vec![&b"abc"[..], &[], &[7; 300]]);
    }

    #[test]
    fn refuses() {
        assert!(split(&[]).is_err());
        assert!(split(&entry(b"")).is_err());
        let mut file = entry(b"abc");
        file.extend([1, 0]);
        assert!(split(&file).unwrap_err().contains("truncated entry 1"));
        let mut file = entry(b"abc");
        file.pop();
        assert!(split(&file).unwrap_err().contains("truncated entry 0"));
        let too_big = (MAX_BODY_BYTES as u32 + 1).to_le_bytes();
        assert!(split(&too_big).unwrap_err().contains("limit"));
    }

    #[test]
    fn body_limit_fits_a_frame() {
        let worst = 1 + 32 + MAX_BODY_BYTES + MAX_BODY_BYTES / 6;
        assert!(worst <= 0xff_ffff);
        let next = MAX_BODY_BYTES + 1;
        assert!(1 + 32 + next + next / 6 > 0xff_ffff);
    }

    #[test]
    fn plans_the_smallest_count() {
        assert_eq!(
            plan(&[10], 25),
            Plan {
                messages: 3,
                payload_bytes: 30
            }
        );
        assert_eq!(
            plan(&[10], 30),
            Plan {
                messages: 3,
                payload_bytes: 30
            }
        );
        assert_eq!(
            plan(&[10, 20], 30),
            Plan {
                messages: 2,
                payload_bytes: 30
            }
        );
        assert_eq!(
            plan(&[10, 20], 31),
            Plan {
                messages: 3,
                payload_bytes: 40
            }
        );
        // A trailing empty body is not sent once the target is met.
        assert_eq!(
            plan(&[5, 0], 5),
            Plan {
                messages: 1,
                payload_bytes: 5
            }
        );
        assert_eq!(
            plan(&[5, 0], 10),
            Plan {
                messages: 3,
                payload_bytes: 10
            }
        );
        assert_eq!(
            plan(&[0, 5], 5),
            Plan {
                messages: 2,
                payload_bytes: 5
            }
        );
        let p = plan(&[256; 4096], 128 << 20);
        assert_eq!(
            p,
            Plan {
                messages: 524_288,
                payload_bytes: 128 << 20
            }
        );
    }
}
