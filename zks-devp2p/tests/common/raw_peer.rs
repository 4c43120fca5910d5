//! A peer that speaks raw RLPx through the crate's sans-IO pieces, for tests that need to send
//! what our transport never would (or read exactly what it sends): it dials a listener
//! ([`RawPeer::connect`] and friends) or takes a transport's dial ([`RawPeer::accept`]), and
//! may claim another node id in its Hello than the key it authenticated with
//! ([`RawPeer::claim_id`]).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use zks_api::wire::VersionSet;
use zks_devp2p::caps::{self, Capability, LocalCapability};
use zks_devp2p::eth::{ChainIdentity, EthVersion, Status};
use zks_devp2p::p2p::{self, Hello, P2pEvent, P2pSession};
use zks_devp2p::rlpx::{FrameCodec, MAX_FRAME_DATA, Recipient};
use zks_devp2p::{NodeId, NodeKey};

/// How long a read may take before the test fails.
const READ_LIMIT: Duration = Duration::from_secs(20);

/// A raw RLPx peer after its ECIES handshake, its Hello not yet sent.
pub struct RawPeer {
    pub tcp: TcpStream,
    pub codec: FrameCodec,
    pub buf: BytesMut,
    pub session: P2pSession,
    /// The key this peer authenticated with in the ECIES handshake.
    pub key: NodeKey,
    /// The other side's id as the ECIES handshake authenticated it: the id dialed, or the key
    /// that signed the auth packet accepted.
    pub remote_id: NodeId,
    /// What this peer advertises.
    pub local_caps: Vec<LocalCapability>,
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
        Self::dial_with(addr, remote, NodeKey::generate(), local_caps).await
    }

    /// Dials `addr`, expecting `remote` there, authenticating with `key` and offering
    /// `local_caps`.
    pub async fn dial_with(
        addr: SocketAddr,
        remote: NodeId,
        key: NodeKey,
        local_caps: Vec<LocalCapability>,
    ) -> Self {
        let (tcp, codec, buf) = super::raw_handshake(addr, remote, &key).await;
        Self::ready(tcp, codec, buf, key, remote, local_caps)
    }

    /// Takes the next connection on `listener` as the ECIES recipient with `key` (answering
    /// its auth packet with an ack), offering `local_caps`.
    pub async fn accept(
        listener: &TcpListener,
        key: NodeKey,
        local_caps: Vec<LocalCapability>,
    ) -> Self {
        let (mut tcp, _) = timeout(READ_LIMIT, listener.accept())
            .await
            .expect("no dial in time")
            .unwrap();
        let mut recipient = Recipient::new(&key);
        let mut buf = BytesMut::new();
        let accepted = loop {
            if let Some(accepted) = recipient.read_auth(&mut buf).unwrap() {
                break accepted;
            }
            let n = timeout(READ_LIMIT, tcp.read_buf(&mut buf))
                .await
                .expect("read timed out")
                .unwrap();
            assert_ne!(n, 0, "eof during handshake");
        };
        tcp.write_all(&accepted.ack_packet).await.unwrap();
        let codec = FrameCodec::new(&accepted.secrets, MAX_FRAME_DATA);
        let remote = accepted.secrets.remote_id;
        Self::ready(tcp, codec, buf, key, remote, local_caps)
    }

    fn ready(
        tcp: TcpStream,
        codec: FrameCodec,
        buf: BytesMut,
        key: NodeKey,
        remote_id: NodeId,
        local_caps: Vec<LocalCapability>,
    ) -> Self {
        let hello = P2pSession::hello_for(key.id(), "raw", &local_caps, 0);
        Self {
            tcp,
            codec,
            buf,
            session: P2pSession::new(hello, local_caps.clone(), remote_id),
            key,
            remote_id,
            local_caps,
        }
    }

    /// From now on our Hello claims to be `id`, whatever key the handshake authenticated.
    pub fn claim_id(&mut self, id: NodeId) {
        let hello = P2pSession::hello_for(id, "raw", &self.local_caps, 0);
        self.session = P2pSession::new(hello, self.local_caps.clone(), self.remote_id);
    }

    /// Reads the other side's Hello as it is on the wire: the next frame must be one. It is
    /// decoded without any check and returned; the session does not see it (hand the
    /// returned frame-data to `session.handle` to negotiate).
    pub async fn read_hello(&mut self) -> (Hello, BytesMut) {
        let data = self.next_data().await.expect("closed before its Hello");
        let (id, payload) = p2p::split_message_id(&data, true).unwrap();
        assert_eq!(
            id,
            p2p::HELLO,
            "the first frame is not a Hello: {data:02x?}"
        );
        (Hello::decode(payload).unwrap(), data)
    }

    /// The next event from the other side, through our session; `None` at EOF.
    pub async fn next_event(&mut self) -> Option<P2pEvent> {
        let data = self.next_data().await?;
        Some(self.session.handle(&data).unwrap())
    }

    /// Writes a message our session encodes with `write`.
    pub async fn send_with(&mut self, write: impl FnOnce(&mut P2pSession, &mut BytesMut)) {
        let mut data = BytesMut::new();
        write(&mut self.session, &mut data);
        self.send_data(&data).await;
    }

    /// The Hello exchange and, on `eth` at `version`, the Status exchange with a node of
    /// `chain`'s chain (the other side's Status comes first, and must be that chain's, byte
    /// for byte).
    pub async fn establish_eth(&mut self, chain: &ChainIdentity, version: EthVersion) {
        self.send_hello().await;
        assert_eq!(self.next_event().await, Some(P2pEvent::Hello));
        self.exchange_status(chain, version).await;
    }

    /// The Status exchange once Hellos are exchanged (see [`establish_eth`](Self::establish_eth)).
    pub async fn exchange_status(&mut self, chain: &ChainIdentity, version: EthVersion) {
        let ours = Status::ours(chain, version).to_vec();
        match self.next_event().await {
            Some(P2pEvent::Eth { id: 0, payload }) => assert_eq!(payload[..], ours[..]),
            other => panic!("expected the eth Status, got {other:?}"),
        }
        self.send_with(|s, b| s.write_eth(0, &ours, b).unwrap())
            .await;
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

    /// The next frame-data from the other side; `None` at EOF.
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

    /// Reads until the other side's Disconnect and returns its frame-data, checking that the
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
