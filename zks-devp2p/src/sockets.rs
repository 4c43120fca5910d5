//! How our TCP sockets are set up: the listener's queue, and the options every link gets.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use crate::config::Devp2pConfig;

/// The kernel's queue of connections completed but not yet accepted. The usual default (128)
/// overflows under a flood of connections the admission policy evicts at once: the kernel then
/// drops SYNs, an honest dialer among them, which waits out TCP's 1 s retransmission. Linux caps
/// it at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as `TcpListener::bind`).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Whether the peer of a just-accepted socket has sent anything yet (a look at its receive
/// queue, consuming nothing). A dialer starts its handshake as soon as TCP connects, so by the
/// time a flooded listener accepts it its auth is usually waiting; an idle flood socket has sent
/// nothing. Any error reads as "nothing".
pub(crate) fn has_sent(tcp: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(socket2::SockRef::from(tcp).peek(&mut byte), Ok(n) if n > 0)
}

/// Socket options every link gets: no Nagle delay (a Pong or a one-block message goes out at
/// once) and the unsent-bytes cap. Failures only cost latency, so they are logged, not fatal.
pub(crate) fn tune(tcp: &TcpStream, config: &Devp2pConfig) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(lowat) = config.tcp_notsent_lowat
        && let Err(e) = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(lowat)
    {
        tracing::debug!(error = %e, lowat, "TCP_NOTSENT_LOWAT not set");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = config;
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn has_sent_sees_waiting_bytes_without_taking_them() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        assert!(!has_sent(&server), "nothing sent yet");
        client.write_all(b"auth").await.unwrap();
        server.readable().await.unwrap();
        assert!(has_sent(&server));
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"auth", "the look took nothing");
        assert!(!has_sent(&server), "all read");
    }

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (dialed.unwrap(), accepted.unwrap().0)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn link_sockets_cap_their_unsent_bytes_and_skip_nagle() {
        let config = |lowat| {
            Devp2pConfig::builder(crate::NodeKey::generate())
                .tcp_notsent_lowat(lowat)
                .build()
                .unwrap()
        };
        let (a, b) = pair().await;
        let untouched = socket2::SockRef::from(&b).tcp_notsent_lowat().unwrap();
        tune(&a, &config(Some(crate::DEFAULT_TCP_NOTSENT_LOWAT)));
        assert_eq!(
            socket2::SockRef::from(&a).tcp_notsent_lowat().unwrap(),
            131_072
        );
        assert!(a.nodelay().unwrap());
        tune(&b, &config(None));
        assert_eq!(
            socket2::SockRef::from(&b).tcp_notsent_lowat().unwrap(),
            untouched
        );
        assert!(b.nodelay().unwrap());
    }
}
