//! Capability negotiation and id dispatch on arbitrary capability lists and ids.
//!
//! Input layout: byte 0 = how many of our capabilities, byte 1 = how many of theirs, then each
//! capability as `name length (low 3 bits), name bytes (low 4 bits index `ALPHABET`), version
//! (one byte), message count` (theirs without
//! the count), then the rest as absolute ids, one byte each, and pairs of
//! `(capability index, relative id)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zks_devp2p::caps::{Capability, LocalCapability};
use zks_devp2p::eth::{
    BASE_PROTOCOL_LENGTH, EthMessageId, EthVersion, OffsetsError, SharedCapabilities,
};

const ALPHABET: &[u8; 16] = b"AZ_2aefhkstzxy-.";

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn cap(&mut self) -> Option<Capability> {
        let len = usize::from(self.byte()? & 7);
        let name = self.0.get(..len)?;
        self.0 = self.0.get(len..)?;
        // A small alphabet (with the letters of eth, zks and zks_2fa) so that names collide.
        let name: String = name
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 15)]))
            .collect();
        Some(Capability::new(name, u32::from(self.byte()?)))
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (Some(n_ours), Some(n_theirs)) = (input.byte(), input.byte()) else {
        return;
    };
    let mut ours = Vec::new();
    for _ in 0..n_ours % 32 {
        let (Some(cap), Some(message_count)) = (input.cap(), input.byte()) else {
            break;
        };
        ours.push(LocalCapability { cap, message_count });
    }
    let mut theirs = Vec::new();
    for _ in 0..n_theirs % 32 {
        let Some(cap) = input.cap() else { break };
        theirs.push(cap);
    }
    let ids = input.0;
    let shared = match SharedCapabilities::negotiate(&ours, &theirs) {
        Ok(shared) => shared,
        Err(OffsetsError::NoSharedCapability) => {
            assert!(!ours.iter().any(|l| theirs.contains(&l.cap)));
            return;
        }
        Err(e) => panic!("unexpected {e:?}"),
    };
    // Sorted by unique name, contiguous from 0x10, each the highest shared version.
    let caps = shared.as_slice();
    assert!(!caps.is_empty());
    let mut next = u64::from(BASE_PROTOCOL_LENGTH);
    for (i, c) in caps.iter().enumerate() {
        if let Some(prev) = i.checked_sub(1).and_then(|p| caps.get(p)) {
            assert!(prev.name.as_bytes() < c.name.as_bytes());
        }
        assert_eq!(u64::from(c.offset), next);
        next += u64::from(c.message_count);
        let best = ours
            .iter()
            .filter(|l| l.cap.name == c.name && theirs.contains(&l.cap))
            .map(|l| l.cap.version)
            .max();
        assert_eq!(best, Some(c.version));
    }
    assert_eq!(shared.end(), next);
    for &id in ids {
        let id = u64::from(id);
        match shared.resolve(id) {
            Ok((cap, rel)) => {
                assert!(rel < cap.message_count);
                assert_eq!(shared.absolute(&cap.name, rel), Ok(id));
                if let Some(version) =
                    EthVersion::from_number(cap.version).filter(|_| cap.name == "eth")
                {
                    let _ = EthMessageId::classify(version, rel);
                }
            }
            Err(OffsetsError::BaseProtocolId { .. }) => assert!(id < 0x10),
            Err(OffsetsError::UnknownMessageId { .. }) => assert!(id >= next),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    for pair in ids.chunks_exact(2) {
        let (Some(&i), Some(&rel)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let Some(cap) = caps.get(usize::from(i) % caps.len()) else {
            continue;
        };
        match shared.absolute(&cap.name, rel) {
            Ok(abs) => assert_eq!(shared.resolve(abs), Ok((cap, rel))),
            Err(OffsetsError::RelativeIdOutOfRange { .. }) => assert!(rel >= cap.message_count),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
});
