//! The `eth` building blocks against `tests/vectors/upstream/eth-status.json` (normative: our
//! bytes must equal upstream's), plus every Status rejection and validation error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_rlp::{Encodable, Header};
use common::{arr, hx, vectors};
use serde_json::Value;
use zks_api::DisconnectReason;
use zks_devp2p::caps::{Capability, LocalCapability};
use zks_devp2p::eth::{
    self, ChainIdentity, EthVersion, ForkId, ForkRejection, GENESIS_HEADER_HASH, GenesisMismatch,
    MAX_STATUS_SIZE, OffsetsError, SharedCapabilities, Status, StatusError, TotalDifficulty,
};

fn cases() -> Vec<Value> {
    vectors("upstream/eth-status.json")
        .as_array()
        .unwrap()
        .clone()
}

fn case(name: &str) -> Value {
    cases()
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn version(n: u64) -> EthVersion {
    EthVersion::from_number(u32::try_from(n).unwrap()).unwrap()
}

/// `"eth/69"` → `eth`, 69.
fn cap(s: &Value) -> Capability {
    let (name, v) = s.as_str().unwrap().split_once('/').unwrap();
    Capability::new(name, v.parse().unwrap())
}

fn caps(list: &Value) -> Vec<Capability> {
    list.as_array().unwrap().iter().map(cap).collect()
}

fn local(list: &[Capability]) -> Vec<LocalCapability> {
    list.iter()
        .map(|c| eth::known_capability(&c.name, c.version).unwrap())
        .collect()
}

/// The capability list as a Hello carries it: `[[name, version], ...]`.
fn caps_rlp(list: &[Capability]) -> Vec<u8> {
    let items: Vec<Vec<u8>> = list
        .iter()
        .map(|c| rlp_list(&[&enc(&c.name.as_bytes()), &enc(&c.version)]))
        .collect();
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    rlp_list(&refs)
}

fn enc<T: Encodable>(v: &T) -> Vec<u8> {
    alloy_rlp::encode(v)
}

fn rlp_list(items: &[&[u8]]) -> Vec<u8> {
    let payload: Vec<u8> = items.concat();
    let mut out = Vec::new();
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend(payload);
    out
}

fn ours(chain: u64, v: EthVersion) -> (ChainIdentity, Status) {
    let id = ChainIdentity::zksync_os(chain);
    (id, Status::ours(&id, v))
}

fn legacy(status: Status) -> eth::StatusLegacy {
    match status {
        Status::Legacy(s) => s,
        Status::Eth69(_) => panic!("not legacy"),
    }
}

fn eth69(status: Status) -> eth::StatusEth69 {
    match status {
        Status::Eth69(s) => s,
        Status::Legacy(_) => panic!("not eth/69"),
    }
}

#[test]
fn constant_genesis_header() {
    let c = case("constant genesis header");
    assert_eq!(eth::genesis_header_rlp(), hx(&c["header_rlp"]));
    assert_eq!(GENESIS_HEADER_HASH, arr::<32>(&c["h0"]));
}

#[test]
fn every_status_vector_encodes_and_decodes_exactly() {
    let mut seen = 0;
    for c in cases().iter().filter(|c| c.get("payload").is_some()) {
        let name = c["name"].as_str().unwrap();
        let inputs = &c["inputs"];
        let chain = inputs["chain_id"].as_u64().unwrap();
        let v = version(inputs["version"].as_u64().unwrap());
        assert_eq!(c["capability"].as_str().unwrap(), v.to_string(), "{name}");
        assert_eq!(arr::<32>(&inputs["h0"]), GENESIS_HEADER_HASH, "{name}");

        let (id, status) = ours(chain, v);
        assert_eq!(id.network_id, chain, "{name}");
        assert_eq!(id.genesis, arr::<32>(&c["patched_genesis"]), "{name}");
        assert_eq!(
            id.fork_id,
            ForkId {
                hash: arr(&c["fork_hash"]),
                next: 0
            },
            "{name}"
        );
        assert_eq!(enc(&id.fork_id), hx(&c["forkid_rlp"]), "{name}");

        let payload = hx(&c["payload"]);
        assert_eq!(status.to_vec(), payload, "{name}");
        assert_eq!(status.length(), payload.len(), "{name}");
        let mut frame = vec![0x00];
        frame.extend(&payload);
        assert_eq!(frame, hx(&c["frame"]), "{name}");

        let decoded = Status::decode(v, &payload).unwrap();
        assert_eq!(decoded, status, "{name}");
        assert_eq!(decoded.version(), v.number(), "{name}");
        assert_eq!(decoded.blockhash(), &id.genesis, "{name}");
        assert_eq!(eth::validate(&id, v, &decoded), Ok(()), "{name}");
        seen += 1;
    }
    // 5 chain ids × 4 versions.
    assert_eq!(seen, 20);
}

#[test]
fn status_layouts_per_version() {
    let (id, s68) = ours(270, EthVersion::V68);
    let s68 = legacy(s68);
    assert_eq!(s68.total_difficulty, TotalDifficulty::ZERO);
    assert_eq!(s68.blockhash, id.genesis);
    let s69 = eth69(Status::ours(&id, EthVersion::V69));
    assert_eq!((s69.earliest, s69.latest), (0, 0));
    assert_eq!(s69.blockhash, id.genesis);
    // Decoding follows the negotiated layout, whatever the version field says. Read as eth/68,
    // an eth/69 Status has its genesis (0x6223…, 255 bits) where the total difficulty goes.
    let bytes = Status::Eth69(s69).to_vec();
    assert_eq!(
        Status::decode(EthVersion::V68, &bytes),
        Err(StatusError::TotalDifficultyTooLarge {
            bits: 255,
            max: 160
        })
    );
    // Read as eth/69, an eth/68 Status has its zero total difficulty where the genesis goes.
    assert_eq!(
        Status::decode(EthVersion::V69, &Status::Legacy(s68).to_vec()),
        Err(StatusError::Malformed {
            field: "genesis",
            reason: alloy_rlp::Error::UnexpectedLength
        })
    );
}

#[test]
fn upstream_hello_capability_lists() {
    let c = case("upstream Hello capability lists");
    let mn = caps(&c["main_node_or_verifier_en"]);
    let en = caps(&c["plain_external_node"]);
    assert_eq!(caps_rlp(&mn), hx(&c["main_node_or_verifier_en_rlp"]));
    assert_eq!(caps_rlp(&en), hx(&c["plain_external_node_rlp"]));
    for list in [&mn, &en] {
        assert!(
            list.iter()
                .all(|c| eth::known_message_count(&c.name, c.version).is_some())
        );
    }

    // Main node against itself: eth/69, zks/5, zks_2fa/1.
    let shared = SharedCapabilities::negotiate(&local(&mn), &mn).unwrap();
    let layout: Vec<_> = shared
        .as_slice()
        .iter()
        .map(|c| (c.name.as_str(), c.version, c.offset, c.message_count))
        .collect();
    assert_eq!(
        layout,
        [
            ("eth", 69, 0x10, 18),
            ("zks", 5, 0x22, 2),
            ("zks_2fa", 1, 0x24, 5)
        ]
    );
    assert_eq!(shared.eth_version(), Some(EthVersion::V69));
    assert_eq!(shared.end(), 0x29);

    // Main node and plain external node: no zks_2fa, from either side.
    for (a, b) in [(&mn, &en), (&en, &mn)] {
        let shared = SharedCapabilities::negotiate(&local(a), b).unwrap();
        let layout: Vec<_> = shared
            .as_slice()
            .iter()
            .map(|c| (c.name.as_str(), c.version, c.offset))
            .collect();
        assert_eq!(layout, [("eth", 69, 0x10), ("zks", 5, 0x22)]);
        assert_eq!(
            shared.resolve(0x24),
            Err(OffsetsError::UnknownMessageId { id: 0x24 })
        );
    }
}

/// Every capability a node of ours could advertise: eth/66–69, zks/1–5, zks_2fa/1.
fn superset() -> Vec<LocalCapability> {
    let mut list: Vec<Capability> = (66..=69).map(|v| Capability::new("eth", v)).collect();
    list.extend((1..=5).map(|v| Capability::new("zks", v)));
    list.push(Capability::new("zks_2fa", 1));
    local(&list)
}

fn hex_id(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn offsets_cases() {
    let mut seen = 0;
    for c in cases()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("offsets "))
    {
        let name = c["name"].as_str().unwrap();
        let peer = caps(&c["hello_capabilities"]);
        assert_eq!(caps_rlp(&peer), hx(&c["hello_capabilities_rlp"]), "{name}");
        let shared = SharedCapabilities::negotiate(&superset(), &peer).unwrap();
        let expected = c["offsets"].as_array().unwrap();
        assert_eq!(shared.as_slice().len(), expected.len(), "{name}");
        for (got, want) in shared.as_slice().iter().zip(expected) {
            let want_cap = cap(&want["capability"]);
            let (offset, last) = (hex_id(&want["offset"]), hex_id(&want["last"]));
            let messages = want["messages"].as_u64().unwrap();
            assert_eq!((&got.name, got.version), (&want_cap.name, want_cap.version));
            assert_eq!(u64::from(got.offset), offset, "{name}");
            assert_eq!(u64::from(got.message_count), messages, "{name}");
            assert_eq!(offset + messages - 1, last, "{name}");
            for abs in offset..=last {
                let rel = u8::try_from(abs - offset).unwrap();
                let (resolved, r) = shared.resolve(abs).unwrap();
                assert_eq!((resolved, r), (got, rel), "{name} {abs:#x}");
                assert_eq!(shared.absolute(&got.name, rel), Ok(abs), "{name}");
            }
            assert_eq!(
                shared.absolute(&got.name, got.message_count),
                Err(OffsetsError::RelativeIdOutOfRange {
                    id: got.message_count,
                    count: got.message_count
                })
            );
        }
        let last = hex_id(&expected.last().unwrap()["last"]);
        assert_eq!(shared.end(), last + 1, "{name}");
        assert_eq!(
            shared.resolve(last + 1),
            Err(OffsetsError::UnknownMessageId { id: last + 1 }),
            "{name}"
        );
        assert_eq!(
            shared.resolve(u64::MAX),
            Err(OffsetsError::UnknownMessageId { id: u64::MAX })
        );
        assert_eq!(
            shared.resolve(0x0f),
            Err(OffsetsError::BaseProtocolId { id: 0x0f })
        );
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn current_upstream_shares_no_zks_with_a_zks3_peer() {
    let mn = caps(&case("upstream Hello capability lists")["main_node_or_verifier_en"]);
    let peer = caps(&case("offsets eth/68 + zks/3")["hello_capabilities"]);
    let shared = SharedCapabilities::negotiate(&local(&mn), &peer).unwrap();
    assert_eq!(shared.as_slice().len(), 1);
    assert_eq!(shared.eth_version(), Some(EthVersion::V68));
    assert!(shared.get("zks").is_none());
    assert_eq!(shared.absolute("zks", 0), Err(OffsetsError::NotShared));
}

#[test]
fn offsets_errors_map_to_reasons() {
    assert_eq!(
        OffsetsError::NoSharedCapability.disconnect_reason(),
        DisconnectReason::UselessPeer
    );
    assert_eq!(
        OffsetsError::UnknownMessageId { id: 0x29 }.disconnect_reason(),
        DisconnectReason::ProtocolBreach
    );
    assert_eq!(
        OffsetsError::NotShared.disconnect_reason(),
        DisconnectReason::SubprotocolError
    );
}

// --- validation ---

#[test]
fn rejects_other_genesis_first() {
    let (id, _) = ours(270, EthVersion::V68);
    let (other, _) = ours(506, EthVersion::V67);
    // Wrong genesis and wrong version: genesis is checked first, as reth does.
    let theirs = Status::ours(&other, EthVersion::V67);
    let err = eth::validate(&id, EthVersion::V68, &theirs).unwrap_err();
    assert_eq!(
        err,
        StatusError::GenesisMismatch(Box::new(GenesisMismatch {
            got: other.genesis,
            expected: id.genesis,
            got_network_id: other.network_id,
            network_id: id.network_id,
        }))
    );
    assert_eq!(
        err.to_string(),
        format!(
            "genesis mismatch: the peer's chain has genesis 0x{} (network id {}), ours 0x{} \
             (network id {}): it is a node of another chain; check both nodes' chain id",
            hex::encode(other.genesis),
            other.network_id,
            hex::encode(id.genesis),
            id.network_id
        )
    );
    assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolBreach);
}

#[test]
fn rejects_version_other_than_negotiated() {
    let (id, s68) = ours(270, EthVersion::V68);
    // An eth/68 Status received on a session that negotiated eth/67 decodes (same layout) but
    // fails validation.
    let decoded = Status::decode(EthVersion::V67, &s68.to_vec()).unwrap();
    let err = eth::validate(&id, EthVersion::V67, &decoded).unwrap_err();
    assert_eq!(
        err,
        StatusError::VersionMismatch {
            expected: 67,
            got: 68
        }
    );
    assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolBreach);
    // eth/69 negotiated, eth/69 version field, but the eth/68 layout (hand-built).
    let mut s = legacy(s68);
    s.version = 69;
    assert_eq!(
        eth::validate(&id, EthVersion::V69, &Status::Legacy(s)),
        Err(StatusError::LayoutMismatch {
            negotiated: EthVersion::V69
        })
    );
}

#[test]
fn rejects_other_network_id() {
    for v in EthVersion::ALL {
        let (id, status) = ours(270, v);
        let theirs = match status {
            Status::Legacy(mut s) => {
                s.network_id = 271;
                Status::Legacy(s)
            }
            Status::Eth69(mut s) => {
                s.network_id = 271;
                Status::Eth69(s)
            }
        };
        let err = eth::validate(&id, v, &theirs).unwrap_err();
        assert_eq!(
            err,
            StatusError::NetworkIdMismatch {
                expected: 270,
                got: 271
            },
            "{v}"
        );
        assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolBreach);
    }
}

fn with_fork(status: Status, fork_id: ForkId) -> Status {
    match status {
        Status::Legacy(mut s) => {
            s.fork_id = fork_id;
            Status::Legacy(s)
        }
        Status::Eth69(mut s) => {
            s.fork_id = fork_id;
            Status::Eth69(s)
        }
    }
}

#[test]
fn fork_filter_accepts_our_hash_with_any_next_and_rejects_other_hashes() {
    for v in EthVersion::ALL {
        let (id, status) = ours(8_022_833, v);
        for next in [0, 1, 17_000_000, 1_700_000_000, u64::MAX] {
            let theirs = with_fork(status, ForkId { next, ..id.fork_id });
            assert_eq!(eth::validate(&id, v, &theirs), Ok(()), "{v} next {next}");
        }
        let mut hash = id.fork_id.hash;
        hash[3] ^= 1;
        let bad = ForkId { hash, next: 0 };
        let err = eth::validate(&id, v, &with_fork(status, bad)).unwrap_err();
        assert_eq!(
            err,
            StatusError::ForkIdRejected {
                got: bad,
                rejection: ForkRejection::UnknownHash
            },
            "{v}"
        );
        assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolBreach);
        // Another chain's fork hash with our genesis and network id.
        let other = ChainIdentity::zksync_os(270).fork_id;
        assert!(matches!(
            eth::validate(&id, v, &with_fork(status, other)),
            Err(StatusError::ForkIdRejected {
                rejection: ForkRejection::UnknownHash,
                ..
            })
        ));
    }
}

#[test]
fn rejects_total_difficulty_over_160_bits() {
    let (id, status) = ours(270, EthVersion::V66);
    let mut s = legacy(status);
    let mut td = [0u8; 32];
    td[11] = 1; // bit 160 set: 161 bits
    s.total_difficulty = TotalDifficulty(td);
    let err = eth::validate(&id, EthVersion::V66, &Status::Legacy(s)).unwrap_err();
    assert_eq!(
        err,
        StatusError::TotalDifficultyTooLarge {
            bits: 161,
            max: 160
        }
    );
    assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolBreach);
    // The same on decoding.
    let bytes = Status::Legacy(s).to_vec();
    assert_eq!(Status::decode(EthVersion::V66, &bytes), Err(err));
    // 160 bits is fine, both ways.
    let mut td = [0u8; 32];
    td[12] = 0x80;
    s.total_difficulty = TotalDifficulty(td);
    let status = Status::Legacy(s);
    assert_eq!(eth::validate(&id, EthVersion::V66, &status), Ok(()));
    assert_eq!(
        Status::decode(EthVersion::V66, &status.to_vec()),
        Ok(status)
    );
}

#[test]
fn eth69_block_range_and_hash() {
    let (id, status) = ours(6565, EthVersion::V69);
    let base = eth69(status);
    let check = |s: eth::StatusEth69| eth::validate(&id, EthVersion::V69, &Status::Eth69(s));
    assert_eq!(
        check(eth::StatusEth69 {
            earliest: 5,
            latest: 4,
            ..base
        }),
        Err(StatusError::EarliestAfterLatest {
            earliest: 5,
            latest: 4
        })
    );
    assert_eq!(
        check(eth::StatusEth69 {
            blockhash: [0; 32],
            ..base
        }),
        Err(StatusError::ZeroBlockHash)
    );
    assert_eq!(
        StatusError::ZeroBlockHash.disconnect_reason(),
        DisconnectReason::ProtocolBreach
    );
    assert_eq!(
        check(eth::StatusEth69 {
            earliest: 7,
            latest: 7,
            blockhash: [1; 32],
            ..base
        }),
        Ok(())
    );
    assert_eq!(
        check(eth::StatusEth69 {
            earliest: 0,
            latest: u64::MAX,
            ..base
        }),
        Ok(())
    );
}

// --- decoding rejections ---

/// The eth/68 Status of chain 270 with its fields as separate RLP items.
fn fields68() -> Vec<Vec<u8>> {
    let (id, _) = ours(270, EthVersion::V68);
    vec![
        enc(&68u8),
        enc(&270u64),
        vec![0x80],
        enc(&id.genesis),
        enc(&id.genesis),
        enc(&id.fork_id),
    ]
}

fn list_of(fields: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    rlp_list(&refs)
}

fn decode68(bytes: &[u8]) -> Result<Status, StatusError> {
    Status::decode(EthVersion::V68, bytes)
}

#[test]
fn field_by_field_encoding_matches() {
    let (_, status) = ours(270, EthVersion::V68);
    assert_eq!(list_of(&fields68()), status.to_vec());
}

#[test]
fn rejects_oversized_before_reading_fields() {
    // A list header declaring 2 KiB, with only a few bytes behind it.
    let bytes = [0xf9, 0x08, 0x00, 0x42, 0x01];
    let err = decode68(&bytes).unwrap_err();
    assert_eq!(
        err,
        StatusError::TooLarge {
            got: 0x800 + 3,
            max: MAX_STATUS_SIZE
        }
    );
    assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolBreach);
    // A declared 2^64 - 1 bytes saturates instead of wrapping.
    let huge = [0xff; 9];
    assert!(matches!(
        Status::decode(EthVersion::V69, &huge),
        Err(StatusError::TooLarge {
            got: usize::MAX,
            ..
        })
    ));
    // A real list just over the limit (padding in an over-long extra field) is also refused
    // from its header.
    let mut fields = fields68();
    fields.push(enc(&vec![0u8; MAX_STATUS_SIZE].as_slice()));
    let bytes = list_of(&fields);
    assert!(matches!(
        decode68(&bytes),
        Err(StatusError::TooLarge {
            max: MAX_STATUS_SIZE,
            ..
        })
    ));
}

#[test]
fn rejects_trailing_bytes_inside_the_lists() {
    let mut fields = fields68();
    fields.push(vec![0x01]);
    let err = decode68(&list_of(&fields)).unwrap_err();
    assert_eq!(
        err,
        StatusError::TrailingBytes {
            list: "status",
            extra: 1
        }
    );
    assert_eq!(err.disconnect_reason(), DisconnectReason::Requested);

    let mut fields = fields68();
    let (id, _) = ours(270, EthVersion::V68);
    fields[5] = rlp_list(&[&enc(&id.fork_id.hash), &[0x80], &[0x80]]);
    assert_eq!(
        decode68(&list_of(&fields)),
        Err(StatusError::TrailingBytes {
            list: "forkid",
            extra: 1
        })
    );

    // eth/69 too.
    let (_, s69) = ours(270, EthVersion::V69);
    let mut bytes = s69.to_vec();
    bytes[1] += 1;
    bytes.push(0x80);
    assert_eq!(
        Status::decode(EthVersion::V69, &bytes),
        Err(StatusError::TrailingBytes {
            list: "status",
            extra: 1
        })
    );
}

#[test]
fn ignores_bytes_after_the_list() {
    let (_, status) = ours(270, EthVersion::V68);
    let mut bytes = status.to_vec();
    bytes.extend([0xde, 0xad]);
    assert_eq!(decode68(&bytes), Ok(status));
}

#[test]
fn rejects_malformed_fields() {
    let malformed = |field, reason| Err(StatusError::Malformed { field, reason });
    let with = |i: usize, bytes: Vec<u8>| {
        let mut fields = fields68();
        fields[i] = bytes;
        decode68(&list_of(&fields))
    };
    use alloy_rlp::Error as E;
    assert_eq!(
        with(0, vec![0x82, 0x01, 0x00]),
        malformed("version", E::Overflow)
    );
    assert_eq!(
        with(1, vec![0x82, 0x00, 0x01]),
        malformed("networkid", E::LeadingZero)
    );
    assert_eq!(
        with(1, vec![0x81, 0x05]),
        malformed("networkid", E::NonCanonicalSingleByte)
    );
    assert_eq!(
        with(1, vec![0xc0]),
        malformed("networkid", E::UnexpectedList)
    );
    assert_eq!(with(2, vec![0x00]), malformed("td", E::LeadingZero));
    let mut wide = vec![0xa1, 0x01];
    wide.extend([0; 32]);
    assert_eq!(with(2, wide), malformed("td", E::Overflow));
    assert_eq!(
        with(3, enc(&[0u8; 31])),
        malformed("blockhash", E::UnexpectedLength)
    );
    assert_eq!(
        with(4, enc(&[0u8; 33])),
        malformed("genesis", E::UnexpectedLength)
    );
    assert_eq!(
        with(5, enc(&[0u8; 4])),
        malformed("forkid", E::UnexpectedString)
    );
    assert_eq!(
        with(5, rlp_list(&[&enc(&[0u8; 5]), &[0x80]])),
        malformed("forkhash", E::UnexpectedLength)
    );
    assert_eq!(
        with(5, rlp_list(&[&enc(&[0u8; 4])])),
        malformed("forknext", E::InputTooShort)
    );
    // Missing last field, truncated input, not a list, empty input.
    let mut fields = fields68();
    fields.pop();
    assert_eq!(
        decode68(&list_of(&fields)),
        malformed("forkid", E::InputTooShort)
    );
    let (_, status) = ours(270, EthVersion::V68);
    let bytes = status.to_vec();
    assert_eq!(
        decode68(&bytes[..bytes.len() - 1]),
        malformed("status", E::InputTooShort)
    );
    assert_eq!(decode68(&[0x80]), malformed("status", E::UnexpectedString));
    assert_eq!(decode68(&[]), malformed("status", E::InputTooShort));
    let err = decode68(&[]).unwrap_err();
    assert_eq!(err.disconnect_reason(), DisconnectReason::Requested);
}
