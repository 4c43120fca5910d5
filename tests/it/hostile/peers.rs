//! Hostile peers, scripted by hand over memnet.

use std::sync::Arc;

use bytes::Bytes;
use zks_api::engine::ProtocolError;
use zks_api::transport::{LinkClosed, LinkReceiver, LinkSender, Transport};
use zks_api::wire::{
    BlockReplays, DecodeError, Frame, GetBlockReplays, VersionSet, ZksMessage, ZksVersion,
};
use zks_api::{CloseCause, ProtocolEvent};
use zks_api::{DisconnectReason, MemoryReplayStore, ReplayRecord};
use zks_memnet::MemNet;
use zks_tests::{blocks, external_node, next_close, next_matching, record, within};

fn replays(numbers: &[u64]) -> Frame {
    let records = numbers
        .iter()
        .map(|b| {
            let mut out = Vec::new();
            record(*b).encode(ZksVersion::V3, &mut out);
            Bytes::from(out)
        })
        .collect();
    ZksMessage::BlockReplays(BlockReplays { records }).to_frame()
}

/// Accepts the EN's next link to the scripted MN and reads its replay request.
async fn accept_request(
    incoming: &mut zks_api::transport::Incoming,
) -> (LinkSender, LinkReceiver, GetBlockReplays) {
    let link = within("EN dial", incoming.next()).await.unwrap().unwrap();
    let (_, tx, mut rx) = link.split();
    let frame = within("request", rx.recv()).await.unwrap();
    let ZksMessage::GetBlockReplays(request) = ZksMessage::decode(ZksVersion::V3, &frame).unwrap()
    else {
        panic!("expected GetBlockReplays");
    };
    (tx, rx, request)
}

/// A hostile MN sends a gap, a repeated block, an out-of-order record and an undecodable
/// message, one per link: each ends the link with a typed error, the sink holds exactly the
/// valid prefix, and the EN resumes from it on the next link.
#[tokio::test(start_paused = true)]
async fn hostile_main_node_cannot_corrupt_the_sink() {
    let net = MemNet::new();
    let mut incoming = net
        .node("evil")
        .listen(VersionSet::ALL.into())
        .await
        .unwrap();
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(&net, "en", VersionSet::ALL, sink.clone(), "evil").await;
    let mut events = en.events();

    let attacks: [(&[u64], Option<Frame>, ProtocolError); 4] = [
        (
            &[3, 5],
            None,
            ProtocolError::ReplayGap {
                expected: 4,
                got: 5,
            },
        ),
        (
            &[3, 3],
            None,
            ProtocolError::ReplayRepeat {
                expected: 4,
                got: 3,
            },
        ),
        (
            &[3, 4, 2],
            None,
            ProtocolError::ReplayOutOfOrder {
                expected: 5,
                got: 2,
            },
        ),
        (
            &[],
            Some(Frame::zks(1, Bytes::from_static(&[0xc3, 0xc2, 0x01]))),
            ProtocolError::Decode(DecodeError::Rlp(alloy_rlp::Error::InputTooShort)),
        ),
    ];
    // First link: a valid prefix 0..=2.
    let (tx, rx, request) = accept_request(&mut incoming).await;
    assert_eq!(request.starting_block, 0);
    tx.send(replays(&[0, 1, 2])).await.unwrap();
    within("prefix", sink.wait_until(3)).await;
    let mut link = (tx, rx);
    let mut first = true;
    for (numbers, raw, expected) in attacks {
        if !first {
            let (tx, rx, request) = accept_request(&mut incoming).await;
            assert_eq!(request.starting_block, 3, "resumes from the sink");
            link = (tx, rx);
        }
        first = false;
        let (tx, rx) = &mut link;
        tx.send(raw.unwrap_or_else(|| replays(numbers)))
            .await
            .unwrap();
        let cause = next_close(&mut events, None).await;
        let CloseCause::Protocol(error) = cause else {
            panic!("{cause:?}")
        };
        assert_eq!(error, expected);
        assert_eq!(
            within("disconnect", rx.recv()).await.unwrap_err(),
            LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
        );
        assert_eq!(sink.block_numbers(), blocks(0, 3), "only the valid prefix");
    }
}

/// An untrusted peer that pushes `BlockReplays` gets nothing applied and is disconnected.
#[tokio::test(start_paused = true)]
async fn replay_is_accepted_only_from_trusted_main_nodes() {
    let net = MemNet::new();
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(&net, "en", VersionSet::ALL, sink.clone(), "mn").await;
    let mut events = en.events();
    let stranger = net.node("stranger");
    let link = stranger
        .dial(&"en".into(), VersionSet::ALL.into())
        .await
        .unwrap();
    let (_, tx, mut rx) = link.split();
    let trusted = next_matching(&mut events, "established", |e| match e {
        ProtocolEvent::Established { info, trusted, .. } if info.peer.to_string() == "stranger" => {
            Some(*trusted)
        }
        _ => None,
    })
    .await;
    assert!(!trusted);
    tx.send(replays(&[0, 1])).await.unwrap();
    let cause = next_close(&mut events, Some("stranger")).await;
    assert!(
        matches!(
            cause,
            CloseCause::Protocol(ProtocolError::UnsolicitedReplay)
        ),
        "{cause:?}"
    );
    assert_eq!(
        rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
    assert!(sink.block_numbers().is_empty());
}

/// A peer that asks a main node for replay twice is disconnected.
#[tokio::test(start_paused = true)]
async fn a_second_replay_request_is_a_violation() {
    let net = MemNet::new();
    let mn = zks_tests::main_node(&net, "mn", VersionSet::ALL, zks_tests::chain(5)).await;
    let mut events = mn.events();
    let link = net
        .node("en")
        .dial(&"mn".into(), VersionSet::ALL.into())
        .await
        .unwrap();
    let (_, tx, mut rx) = link.split();
    let request = ZksMessage::GetBlockReplays(GetBlockReplays {
        starting_block: 0,
        record_overrides: vec![],
        max_blocks_per_message: Some(64),
    })
    .to_frame();
    tx.send(request.clone()).await.unwrap();
    let first = within("replay", rx.recv()).await.unwrap();
    assert_eq!(first, replays(&[0, 1, 2, 3, 4]));
    tx.send(request).await.unwrap();
    let cause = next_close(&mut events, None).await;
    assert!(
        matches!(
            cause,
            CloseCause::Protocol(ProtocolError::DuplicateReplayRequest)
        ),
        "{cause:?}"
    );
    assert_eq!(
        rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
}
