//! Node-level interop of the current generation (eth/68 + zks/5 + zks_2fa/1) with an
//! independent RLPx implementation: `@ethereumjs/devp2p` driven by `tests/interop/zks-peer.mjs`
//! (run `npm ci --prefix tests/interop` first), against a whole `zks_api::Node`.
//!
//! The verifier handshake with a real signature, both ways: the peer as a verifier EN signing
//! our MN's challenge (its signer reproduces the upstream auth vectors byte for byte), then
//! receiving our `VerifyBatch` and answering it; and the peer as an MN challenging our
//! verifier EN, replaying records into its store and sending it a batch to sign.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::node_peer::{LIMIT, NodePeer, free_port, is, message};
use serde_json::{Value, json};
use tokio::time::timeout;
use zks_api::wire::{
    BlockReplays, Capabilities, RequestId, TwoFaMessage, VerifyBatch, VerifyBatchOutcome,
    VerifyBatchResult, ZksMessage,
};
use zks_api::{MemoryReplayStore, Node, PeerAddr, ProtocolEvent, RawRecord, ReplayRecord};
use zks_devp2p::eth::{ChainIdentity, EthVersion, Status};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_verifier::{
    AcceptedSigners, BatchSignatureScheme, Secp256k1BatchScheme, SigningVerifier, VerifierKey,
    recover_auth_signer,
};

/// The upstream verifier-auth vectors (shared with `zks-verifier`'s own tests).
const AUTH_VECTORS: &str = include_str!("../../zks-verifier/tests/vectors/verifier-auth.json");

/// Three records in our `RawRecord` layout (`[block_number, payload]`, the same in every
/// version), written out by hand: `[0, "zks"]`, `[1, 0xaabb]`, `[2, ""]`.
const RECORD_0: &str = "c580837a6b73";
const RECORD_1: &str = "c40182aabb";
const RECORD_2: &str = "c20280";

/// `GetBlockReplays [0, [], 64]`: what an EN with an empty store asks first.
const GET_BLOCK_REPLAYS_FROM_0: &str = "c380c040";

/// The nonce the peer challenges our EN with.
const NONCE: [u8; 32] = [0x3c; 32];

fn records() -> Vec<RawRecord> {
    vec![
        RawRecord::new(0, &b"zks"[..]),
        RawRecord::new(1, vec![0xaa, 0xbb]),
        RawRecord::new(2, Vec::new()),
    ]
}

/// `BlockReplays [[record, ...]]` of [`records`], by hand; checked against our encoder.
fn block_replays() -> String {
    let hand = format!("cfce{RECORD_0}{RECORD_1}{RECORD_2}");
    let ours = ZksMessage::BlockReplays(BlockReplays {
        records: records()
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                r.encode(zks_api::wire::ZksVersion::V5, &mut out);
                out.into()
            })
            .collect(),
    })
    .to_frame();
    assert_eq!(hex::encode(&ours.body), hand);
    hand
}

/// The batch both tests verify: blocks 0–2, request 7, batch 9.
fn batch() -> VerifyBatch {
    VerifyBatch {
        request_id: RequestId(7),
        batch_number: 9,
        first_block_number: 0,
        last_block_number: 2,
        pubdata_mode: 0,
        commit_data: b"commit".to_vec().into(),
        prev_commit_data: b"prev".to_vec().into(),
        execution_protocol_version: 31,
    }
}

/// [`batch`]'s `VerifyBatch` body by hand (`[7, 9, 0, 2, 0, "commit", "prev", 31]`), checked
/// against our encoder.
fn verify_batch_body() -> String {
    let hand = "d2070980028086636f6d6d697484707265761f";
    let ours = TwoFaMessage::VerifyBatch(batch()).to_frame();
    assert_eq!(hex::encode(&ours.body), hand);
    hand.to_owned()
}

/// An approving `VerifyBatchResult` body for [`batch`] by hand: four RLP items, not a list
/// (`7`, `9`, tag `0` as `80`, the 65 signature bytes), checked against our encoder.
fn verify_batch_result_body(signature: &[u8]) -> String {
    assert_eq!(signature.len(), 65);
    let hand = format!("070980b841{}", hex::encode(signature));
    let ours = TwoFaMessage::VerifyBatchResult(VerifyBatchResult {
        request_id: RequestId(7),
        batch_number: 9,
        outcome: VerifyBatchOutcome::Approved {
            signature: signature.to_vec().into(),
        },
    })
    .to_frame();
    assert_eq!(hex::encode(&ours.body), hand);
    hand
}

fn auth_vectors() -> Vec<Value> {
    serde_json::from_str::<Value>(AUTH_VECTORS)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The upstream default verifier key (an accepted signer there by default).
fn verifier_key() -> (String, VerifierKey) {
    let keys = &auth_vectors()[0]["keys"];
    let secret = keys[0]["private_key"].as_str().unwrap().to_owned();
    let key = VerifierKey::from_hex(&secret).unwrap();
    assert_eq!(
        hex::encode(key.address().0),
        keys[0]["address"].as_str().unwrap()
    );
    (secret, key)
}

/// A devp2p transport of ZKsync OS chain 270 (so eth is on), pinging often.
fn eth_transport() -> Devp2pTransport {
    Devp2pTransport::new(
        Devp2pConfig::builder(NodeKey::generate())
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .client_id("zks-devp2p-interop")
            .chain_identity(ChainIdentity::zksync_os(270))
            .ping_interval(Duration::from_millis(100))
            .pong_timeout(Duration::from_millis(1500))
            .build()
            .unwrap(),
    )
}

/// The Status an upstream node of chain 270 sends on eth/68, as hex.
fn our_status_68() -> String {
    hex::encode(Status::ours(&ChainIdentity::zksync_os(270), EthVersion::V68).to_vec())
}

/// The layout the peer computes for eth/68 + zks/5 + zks_2fa/1.
fn current_layout() -> Value {
    json!([
        {"cap": "eth/68", "offset": 0x10, "length": 17},
        {"cap": "zks/5", "offset": 0x21, "length": 2},
        {"cap": "zks_2fa/1", "offset": 0x23, "length": 5},
    ])
}

fn hex_field(event: &Value, field: &str) -> Vec<u8> {
    hex::decode(event[field].as_str().unwrap_or_else(|| panic!("{event}"))).unwrap()
}

/// The peer's signer, run offline on every upstream vector with inputs, produces the
/// vector's prehash, signature (`v` = 27/28) and `VerifierAuth` body byte for byte.
#[tokio::test]
async fn the_ethereumjs_signer_reproduces_the_verifier_auth_vectors() {
    let cases: Vec<Value> = auth_vectors()
        .into_iter()
        .filter(|c| c.get("signature").is_some())
        .collect();
    assert_eq!(cases.len(), 4, "two keys times two nonces");
    let pairs: Vec<String> = cases
        .iter()
        .map(|c| {
            let inputs = &c["inputs"];
            format!(
                "{}:{}",
                inputs["private_key"].as_str().unwrap(),
                inputs["nonce"].as_str().unwrap()
            )
        })
        .collect();
    let mut args = vec!["sign-auth"];
    args.extend(pairs.iter().map(String::as_str));
    let mut node = NodePeer::spawn(&args, &[]);
    for case in &cases {
        let got = node.event("auth", is("auth")).await;
        assert_eq!(got["nonce"], case["inputs"]["nonce"], "{}", case["name"]);
        assert_eq!(got["prehash"], case["prehash"], "{}", case["name"]);
        assert_eq!(got["signature"], case["signature"], "{}", case["name"]);
        let signature = case["signature"].as_str().unwrap();
        assert_eq!(
            got["payload_hex"],
            format!("f843b841{signature}"),
            "{}",
            case["name"]
        );
        // And we recover the vector's address from what it signed.
        let nonce: [u8; 32] = hex_field(&got, "nonce").try_into().unwrap();
        let rsv: [u8; 65] = hex_field(&got, "signature").try_into().unwrap();
        assert_eq!(
            hex::encode(recover_auth_signer(&nonce, &rsv).unwrap().0),
            case["recovered_address"].as_str().unwrap()
        );
    }
}

/// The peer as a verifier EN dials our MN (a `Node` of chain 270 accepting the upstream
/// default key): it asks replay from 0 on zks/5 and the verifier role on zks_2fa, signs our
/// challenge with that key and is authorized; it gets our three records at wire id 0x22, then
/// our `VerifyBatch` at 0x26 (zks_2fa id 3), and its scripted approval reaches the dispatch
/// under the authorized address.
#[tokio::test]
async fn the_ethereumjs_verifier_is_authorized_by_our_main_node_and_answers_a_batch() {
    let (secret, key) = verifier_key();
    let store = Arc::new(MemoryReplayStore::new());
    store.extend(records()).unwrap();
    let mn = Node::builder(eth_transport())
        .main_node(Arc::clone(&store))
        .verifier_authenticator(AcceptedSigners::from_iter([key.address()]))
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let enode = mn.local_addr().unwrap().to_string();

    let batch_signature = Secp256k1BatchScheme.sign(&key, &batch());
    let reply = format!("3>4:{}", verify_batch_result_body(&batch_signature));
    let open = format!("0:{GET_BLOCK_REPLAYS_FROM_0}");
    let mut node = NodePeer::spawn(
        &["dial", &enode],
        &[
            ("ZKS_PEER_ETH", "1"),
            ("ZKS_PEER_ZKS", "5"),
            ("ZKS_PEER_2FA", "1"),
            ("ZKS_PEER_ZKS_OPEN", &open),
            ("ZKS_PEER_ZKS_REPLY", ""),
            ("ZKS_PEER_2FA_OPEN", "0:c0"),
            ("ZKS_PEER_2FA_SIGN", &secret),
            ("ZKS_PEER_2FA_REPLY", &reply),
        ],
    );

    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(
        hello["caps"],
        json!([
            "eth/69",
            "eth/68",
            "eth/67",
            "eth/66",
            "zks/1",
            "zks/2",
            "zks/3",
            "zks/4",
            "zks/5",
            "zks_2fa/1"
        ])
    );
    let seen = node
        .events_any_order(&[
            ("protocols", &is("protocols")),
            ("our Status", &message("eth", 0)),
            ("our BlockReplays", &message("zks", 1)),
            ("our VerifierChallenge", &message("zks_2fa", 1)),
            ("its VerifierAuth", &is("zks_2fa_auth")),
        ])
        .await;
    let [layout, status, replays, challenge, auth] = <[Value; 5]>::try_from(seen).unwrap();
    assert_eq!(layout["layout"], current_layout());
    assert_eq!(status["payload_hex"], our_status_68());
    assert_eq!(replays["wire_id"], 0x22);
    assert_eq!(replays["payload_hex"], block_replays());
    assert_eq!(challenge["wire_id"], 0x24);
    let challenge_body = hex_field(&challenge, "payload_hex");
    assert_eq!(&challenge_body[..2], [0xe1, 0xa0], "[nonce]");
    let nonce: [u8; 32] = challenge_body[2..].try_into().unwrap();
    assert_eq!(hex_field(&auth, "nonce"), nonce);
    // What it signed is what we sign (RFC 6979), and recovers to the key.
    let rsv: [u8; 65] = hex_field(&auth, "signature").try_into().unwrap();
    assert_eq!(rsv, key.sign_auth(&nonce));
    assert_eq!(recover_auth_signer(&nonce, &rsv), Ok(key.address()));

    let signer = timeout(
        LIMIT,
        events.find(|e| match e {
            ProtocolEvent::VerifierAuthorized { signer, .. } => Some(*signer),
            ProtocolEvent::VerifierUnauthorized { signer, .. } => {
                panic!("unauthorized, recovered {signer:?}")
            }
            _ => None,
        }),
    )
    .await
    .expect("no VerifierAuthorized in time")
    .unwrap();
    assert_eq!(signer, key.address());

    let mut dispatch = mn.dispatch(&batch()).unwrap();
    let got = node.event("our VerifyBatch", message("zks_2fa", 3)).await;
    assert_eq!(got["wire_id"], 0x26);
    assert_eq!(got["payload_hex"], verify_batch_body());

    let result = timeout(LIMIT, dispatch.next())
        .await
        .expect("no VerifyBatchResult in time")
        .unwrap();
    assert_eq!(result.signer, key.address());
    assert_eq!(
        result.result,
        VerifyBatchResult {
            request_id: RequestId(7),
            batch_number: 9,
            outcome: VerifyBatchOutcome::Approved {
                signature: batch_signature.clone(),
            },
        }
    );
    assert_eq!(
        Secp256k1BatchScheme.recover(&batch(), &batch_signature),
        Ok(key.address())
    );
    let session = mn.sessions();
    assert_eq!(session.len(), 1);
    assert_eq!(session[0].sent_through, Some(2));
}

/// The peer as an MN (listening) and our `Node` as a current-generation verifier EN trusting
/// it: we ask replay from 0 (zks/5, wire 0x21) and the verifier role (zks_2fa, 0x23); its
/// scripted challenge is answered with a `VerifierAuth` (0x25) that recovers to our key, its
/// three records land in our store exactly, and its `VerifyBatch` is approved (0x27) with a
/// batch signature by our key.
#[tokio::test]
async fn our_verifier_node_authenticates_to_the_ethereumjs_main_node_and_replays() {
    let (_, key) = verifier_key();
    let port = free_port();
    let zks_reply = format!("0>1:{}", block_replays());
    let twofa_reply = format!("0>1:e1a0{},2>3:{}", hex::encode(NONCE), verify_batch_body());
    let mut node = NodePeer::spawn(
        &["listen", &port.to_string()],
        &[
            ("ZKS_PEER_ETH", "1"),
            ("ZKS_PEER_ZKS", "5"),
            ("ZKS_PEER_2FA", "1"),
            ("ZKS_PEER_ZKS_OPEN", ""),
            ("ZKS_PEER_ZKS_REPLY", &zks_reply),
            ("ZKS_PEER_2FA_OPEN", ""),
            ("ZKS_PEER_2FA_REPLY", &twofa_reply),
        ],
    );
    let listening = node.event("listening", is("listening")).await;
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());

    let store = Arc::new(MemoryReplayStore::new());
    let en = Node::builder(eth_transport())
        .capabilities(Capabilities::CURRENT)
        .external_node(Arc::clone(&store))
        .trusted_main_node(enode)
        .verifier(
            key.clone(),
            SigningVerifier::new(key.clone(), |_: &VerifyBatch| Ok(())),
        )
        .start()
        .await
        .unwrap();

    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(
        hello["caps"],
        json!(["eth/69", "eth/68", "eth/67", "eth/66", "zks/5", "zks_2fa/1"])
    );
    let seen = node
        .events_any_order(&[
            ("protocols", &is("protocols")),
            ("our Status", &message("eth", 0)),
            ("our GetBlockReplays", &message("zks", 0)),
            ("our VerifierRoleRequest", &message("zks_2fa", 0)),
            ("our VerifierAuth", &message("zks_2fa", 2)),
            ("our VerifyBatchResult", &message("zks_2fa", 4)),
        ])
        .await;
    let [layout, status, get, role, auth, result] = <[Value; 6]>::try_from(seen).unwrap();
    assert_eq!(layout["layout"], current_layout());
    assert_eq!(status["payload_hex"], our_status_68());
    assert_eq!(get["wire_id"], 0x21);
    assert_eq!(get["payload_hex"], GET_BLOCK_REPLAYS_FROM_0);
    assert_eq!(role["wire_id"], 0x23);
    assert_eq!(role["payload_hex"], "c0");

    assert_eq!(auth["wire_id"], 0x25);
    let body = hex_field(&auth, "payload_hex");
    assert_eq!(&body[..4], [0xf8, 0x43, 0xb8, 0x41], "[65-byte signature]");
    let rsv: [u8; 65] = body[4..].try_into().unwrap();
    assert_eq!(recover_auth_signer(&NONCE, &rsv), Ok(key.address()));
    assert!(rsv[64] == 27 || rsv[64] == 28, "v = {}", rsv[64]);

    // Only after block 2 was applied does the EN answer; the approval is signed by our key.
    assert_eq!(result["wire_id"], 0x27);
    let expected = Secp256k1BatchScheme.sign(&key, &batch());
    assert_eq!(result["payload_hex"], verify_batch_result_body(&expected));

    timeout(LIMIT, store.wait_until(3))
        .await
        .expect("records not applied in time");
    assert_eq!(store.records(), records());
    let mut applied = en.applied().unwrap();
    timeout(LIMIT, applied.wait_for(|next| *next == 3))
        .await
        .expect("applied not reported in time")
        .unwrap();
}
