//! Replay streaming end to end, written once for every transport.

use std::sync::Arc;

use bytes::Bytes;
use zks_api::ProtocolEvent;
use zks_api::transport::TransportError;
use zks_api::wire::{RecordOverride, VersionSet, ZksVersion};
use zks_api::{MemoryReplayStore, Node, RawRecord};
use zks_tests::{TestNet, append, blocks, chain, external_node, main_node, next_matching, within};

/// EN starting at 0 applies exactly 0..=9,999 of an MN holding 10,000 blocks, in order, with
/// the MN's payloads.
pub(crate) async fn replays_everything_from_genesis(net: &dyn TestNet) {
    let source = chain(10_000);
    let _mn = main_node(net, "mn", VersionSet::ALL, source.clone()).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = external_node(net, "en", VersionSet::ALL, sink.clone(), "mn").await;
    within("10,000 blocks", sink.wait_until(10_000)).await;
    assert_eq!(sink.records(), source.records());
}

/// EN whose sink starts at 5,000 applies exactly 5,000..=9,999.
pub(crate) async fn resumes_from_the_sinks_resume_block(net: &dyn TestNet) {
    let _mn = main_node(net, "mn", VersionSet::ALL, chain(10_000)).await;
    let sink = Arc::new(MemoryReplayStore::starting_at(5_000));
    let en = external_node(net, "en", VersionSet::ALL, sink.clone(), "mn").await;
    let mut events = en.events();
    let first = next_matching(&mut events, "first apply", |e| match e {
        ProtocolEvent::ReplayApplied { first_block, .. } => Some(*first_block),
        _ => None,
    })
    .await;
    assert_eq!(first, 5_000);
    within("blocks 5,000..10,000", sink.wait_until(10_000)).await;
    assert_eq!(sink.block_numbers(), blocks(5_000, 10_000));
}

/// Blocks appended after the stream started arrive too.
pub(crate) async fn streams_blocks_appended_later(net: &dyn TestNet) {
    let source = chain(100);
    let _mn = main_node(net, "mn", VersionSet::ALL, source.clone()).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = external_node(net, "en", VersionSet::ALL, sink.clone(), "mn").await;
    within("first 100", sink.wait_until(100)).await;
    append(&source, 100, 250);
    within("appended blocks", sink.wait_until(250)).await;
    append(&source, 250, 251);
    within("one more", sink.wait_until(251)).await;
    assert_eq!(sink.records(), source.records());
}

/// An EN asking for `(block, db_key)` overrides receives the overridden records.
pub(crate) async fn honours_record_overrides(net: &dyn TestNet) {
    let source = chain(20);
    source.set_override(7, "alt", RawRecord::new(7, "overridden-7"));
    source.set_override(9, "alt", RawRecord::new(9, "overridden-9"));
    source.set_override(11, "other", RawRecord::new(11, "not asked for"));
    let _mn = main_node(net, "mn", VersionSet::ALL, source.clone()).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let overrides = [7, 9, 11].map(|b| RecordOverride {
        block_number: b,
        db_key: Bytes::from_static(b"alt"),
    });
    let _en = Node::builder(net.transport("en").await)
        .external_node(sink.clone())
        .trusted_main_node(net.addr("mn"))
        .record_overrides(overrides)
        .start()
        .await
        .unwrap();
    within("20 blocks", sink.wait_until(20)).await;
    let payloads: Vec<_> = sink.records().into_iter().map(|r| r.payload).collect();
    for (b, payload) in payloads.iter().enumerate() {
        let expected = match b {
            7 => "overridden-7".to_owned(),
            9 => "overridden-9".to_owned(),
            _ => format!("block-{b}"),
        };
        assert_eq!(payload, &expected, "block {b}");
    }
}

/// zks/1–2 links carry one record per message; zks/3 links batch at most 64.
pub(crate) async fn batches_per_version(net: &dyn TestNet) {
    for (en_versions, max_batch) in [
        (VersionSet::only(ZksVersion::V1), 1),
        (VersionSet::only(ZksVersion::V2), 1),
        (VersionSet::only(ZksVersion::V3), 64),
    ] {
        let name = format!("en-{en_versions}");
        let mn_name = format!("mn-{en_versions}");
        let mn = main_node(net, &mn_name, VersionSet::ALL, chain(1_000)).await;
        let mut events = mn.events();
        let sink = Arc::new(MemoryReplayStore::new());
        let _en = external_node(net, &name, en_versions, sink.clone(), &mn_name).await;
        within("1,000 blocks", sink.wait_until(1_000)).await;
        let mut sizes = Vec::new();
        while sizes.iter().sum::<u64>() < 1_000 {
            let size = next_matching(&mut events, "sent", |e| match e {
                ProtocolEvent::ReplayBlockSent {
                    first_block,
                    last_block,
                    ..
                } => Some(last_block - first_block + 1),
                _ => None,
            })
            .await;
            sizes.push(size);
        }
        assert_eq!(
            sizes.iter().copied().max(),
            Some(max_batch),
            "{en_versions}"
        );
        assert_eq!(sink.block_numbers(), blocks(0, 1_000));
    }
}

/// MN {1,2,3} with EN {1,2} negotiates zks/2; MN {3} with EN {1} fails on both sides.
pub(crate) async fn negotiates_versions(net: &dyn TestNet) {
    let mn = main_node(net, "mn", VersionSet::ALL, chain(10)).await;
    let mut mn_events = mn.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(
        net,
        "en",
        [ZksVersion::V1, ZksVersion::V2],
        sink.clone(),
        "mn",
    )
    .await;
    let mut en_events = en.events();
    for events in [&mut mn_events, &mut en_events] {
        let version = next_matching(events, "established", |e| match e {
            ProtocolEvent::Established { info, .. } => Some(info.caps.zks),
            _ => None,
        })
        .await;
        assert_eq!(version, ZksVersion::V2);
    }
    within("10 blocks", sink.wait_until(10)).await;

    let strict = main_node(net, "mn3", ZksVersion::V3, chain(10)).await;
    let mut strict_events = strict.events();
    let old = external_node(
        net,
        "en1",
        ZksVersion::V1,
        Arc::new(MemoryReplayStore::new()),
        "mn3",
    )
    .await;
    let mut old_events = old.events();
    let dial_error = next_matching(&mut old_events, "dial failure", |e| match e {
        ProtocolEvent::DialFailed { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(dial_error, TransportError::NoCommonVersion { local, remote, .. }
            if local == ZksVersion::V1.into() && remote == ZksVersion::V3.into()),
        "{dial_error:?}"
    );
    let accept_error = next_matching(&mut strict_events, "refused link", |e| match e {
        ProtocolEvent::IncomingFailed { error } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(accept_error, TransportError::NoCommonVersion { local, remote, .. }
            if local == ZksVersion::V3.into() && remote == ZksVersion::V1.into()),
        "{accept_error:?}"
    );
    assert_eq!(strict.link_count(), 0);
}

zks_tests::on_every_transport!(
    refuses_strangers_beyond_the_cap,
    replays_everything_from_genesis,
    resumes_from_the_sinks_resume_block,
    streams_blocks_appended_later,
    honours_record_overrides,
    batches_per_version,
    negotiates_versions,
);

/// A main node at its cap refuses the next stranger with Disconnect `TooManyPeers` before any
/// zks message, and admits it once a slot frees.
pub(crate) async fn refuses_strangers_beyond_the_cap(net: &dyn TestNet) {
    let mn = Node::builder(net.transport("mn").await)
        .main_node(chain(10))
        .settings(zks_api::NodeSettings::default().with_max_active_links(2))
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let mut links = Vec::new();
    for i in 0..2 {
        let transport = net.transport(&format!("s{i}")).await;
        links.push(
            transport
                .dial(&net.addr("mn"), VersionSet::ALL.into())
                .await
                .unwrap()
                .split(),
        );
        next_matching(&mut events, "admitted", |e| {
            matches!(e, ProtocolEvent::Established { .. }).then_some(())
        })
        .await;
    }
    let third = net.transport("s2").await;
    let (_, _tx, mut rx) = third
        .dial(&net.addr("mn"), VersionSet::ALL.into())
        .await
        .unwrap()
        .split();
    assert_eq!(
        within("refusal", rx.recv()).await,
        Err(zks_api::transport::LinkClosed::ByPeer(
            zks_api::DisconnectReason::TooManyPeers
        ))
    );
    let limit = next_matching(&mut events, "refusal event", |e| match e {
        ProtocolEvent::MaxActiveConnectionsExceeded { limit, .. } => Some(*limit),
        _ => None,
    })
    .await;
    assert_eq!(limit, 2);
    assert_eq!(mn.link_count(), 2);
}
