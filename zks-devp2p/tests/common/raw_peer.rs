//! A peer that speaks raw RLPx through the crate's sans-IO pieces, for tests that need to send
//! what our transport never would.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use zks_api::wire::VersionSet;
use zks_devp2p::caps::{self, Capability, LocalCapability};
use zks_devp2p::p2p::{self, P2pSession};
use zks_devp2p::rlpx::FrameCodec;
use zks_devp2p::{NodeId, NodeKey};

/// How long a read may take before the test fails.
const READ_LIMIT: Duration = Duration::from_secs(20);

/// A raw RLPx initiator after its ECIES handshake, its Hello not yet sent.
pub struct RawPeer {
    pub tcp: TcpStream,
    pub codec: FrameCodec,
    pub buf: BytesMut,
    pub session: P2pSession,
}

impl RawPeer {
    /// Dials `addr` offering the zks versions in `versions`.
    pub async fn connect(addr: SocketAddr, remote: NodeId, versions: VersionSet) -> Self {
        Self::with_caps(addr, remote, caps::zks_capabilities(versions)).await
    }

    /// Dials `addr` offering `list` (names and versions the crate knows).
    pub async fn offering(addr: SocketAddr, remote: NodeId, list: &[Capability]) -> Self {
        let local_caps = list
            .iter()
            .map(|c| zks_devp2p::eth::known_capability(&c.name, c.version).unwrap())
            .collect();
        Self::with_caps(addr, remote, local_caps).await
    }

    async fn with_caps(addr: SocketAddr, remote: NodeId, local_caps: Vec<LocalCapability>) -> Self {
        let key = NodeKey::generate();
        let (tcp, codec, buf) = super::raw_handshake(addr, remote, &key).await;
        let hello = P2pSession::hello_for(key.id(), "raw", &local_caps, 0);
        Self {
            tcp,
            codec,
            buf,
            session: P2pSession::new(hello, local_caps, remote),
        }
    }

    /// Seals `data` as one frame and writes it.
    pub async fn send_data(&mut self, data: &[u8]) {
        let mut out = BytesMut::new();
        self.codec.encoder.encode(data, &mut out).unwrap();
        self.tcp.write_all(&out).await.unwrap();
    }

    /// Writes `bytes` as they are (no frame).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// Sends our Hello.
    pub async fn send_hello(&mut self) {
        let mut data = BytesMut::new();
        self.session.write_hello(&mut data);
        self.send_data(&data).await;
    }

    /// The next frame-data from the listener; `None` at EOF.
    pub async fn next_data(&mut self) -> Option<BytesMut> {
        loop {
            if let Some(data) = self.codec.decoder.decode(&mut self.buf).unwrap() {
                return Some(data);
            }
            let n = timeout(READ_LIMIT, self.tcp.read_buf(&mut self.buf))
                .await
                .expect("read timed out");
            if n.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// Reads until the listener's Disconnect and returns its frame-data, checking that the
    /// connection then ends.
    pub async fn expect_disconnect(&mut self) -> Vec<u8> {
        loop {
            let data = self.next_data().await.expect("closed without Disconnect");
            if p2p::split_message_id(&data, true).unwrap().0 == p2p::DISCONNECT {
                assert_eq!(self.next_data().await, None, "connection stays open");
                return data.to_vec();
            }
        }
    }
}
