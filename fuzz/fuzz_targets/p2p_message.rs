//! The base protocol: Hello, Disconnect (every shape), Ping/Pong, Snappy and id routing, both
//! before and after the Hello exchange.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zks_api::wire::VersionSet;
use zks_devp2p::caps;
use zks_devp2p::p2p::{self, Hello, P2pEvent, P2pSession};
use zks_devp2p::{NodeId, P2pError};

const LOCAL: NodeId = NodeId([0x11; 64]);
const REMOTE: NodeId = NodeId([0x22; 64]);

fn session() -> P2pSession {
    let local_caps = caps::zks_capabilities(VersionSet::ALL);
    let hello = P2pSession::hello_for(LOCAL, "fuzz", &local_caps, 30303);
    P2pSession::new(hello, local_caps, REMOTE)
}

fn active() -> P2pSession {
    let mut s = session();
    let remote_caps = caps::zks_capabilities(VersionSet::ALL);
    let peer = P2pSession::new(
        P2pSession::hello_for(REMOTE, "peer", &remote_caps, 0),
        remote_caps,
        LOCAL,
    );
    let mut hello = BytesMut::new();
    peer.write_hello(&mut hello);
    assert_eq!(s.handle(&hello), Ok(P2pEvent::Hello));
    s
}

fuzz_target!(|data: &[u8]| {
    let _ = Hello::decode(data);
    let _ = p2p::decode_disconnect(data);
    let _ = p2p::decompress(data, p2p::MAX_CONTROL_PAYLOAD);
    let _ = p2p::split_message_id(data, true);
    // Before Hello: only Hello or Disconnect are accepted.
    let mut fresh = session();
    match fresh.handle(data) {
        Ok(P2pEvent::Hello | P2pEvent::Disconnect(_)) | Err(_) => {}
        Ok(other) => panic!("before Hello: {other:?}"),
    }
    // After Hello: zks ids map into zks/3's range, bodies stay under the cap.
    let mut s = active();
    match s.handle(data) {
        Ok(P2pEvent::Zks(frame)) => {
            assert!(frame.id < 7);
            assert!(frame.body.len() <= p2p::MAX_DECOMPRESSED);
        }
        Ok(P2pEvent::Hello) => panic!("second Hello accepted"),
        Err(P2pError::DuplicateHello) | Ok(_) | Err(_) => {}
    }
});
