//! The async glue for one live link: moves messages between a `/zks/<version>` yamux stream and
//! the engine's bounded queues, then closes the stream telling the peer why.
//!
//! Backpressure is end to end: a received message is only read off the stream once the engine's
//! receive queue has room (unread bytes stay in yamux's bounded per-stream receive window, which
//! stops the sender), and engine messages are only taken while fewer than
//! [`WRITE_HIGH_WATER`] encoded bytes wait for the stream's send window.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use libp2p::Stream;
use tokio::time::timeout;
use zks_api::transport::{InboundQueue, LinkEnd, Outbound, OutboundQueue};
use zks_api::{DisconnectReason, LinkClosed};

use crate::codec::{self, Decoder, Message};
use crate::config::{CLOSE_GRACE, Libp2pConfig};

/// Stop taking engine messages while this many encoded bytes wait for the stream.
pub const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Bytes read from the stream per read.
const READ_CHUNK: usize = 64 * 1024;

/// How a live link ended.
enum Ending {
    /// The peer sent a close message.
    ByPeer(DisconnectReason),
    /// The engine asked to close, or let go of the link: tell the peer.
    Local {
        reason: DisconnectReason,
        detail: &'static str,
    },
    /// Something failed; `tell` says whether the peer can still be told.
    Failed {
        reason: DisconnectReason,
        detail: String,
        tell: bool,
    },
}

impl Ending {
    fn io(error: &std::io::Error) -> Self {
        Self::Failed {
            reason: DisconnectReason::TcpSubsystemError,
            detail: format!("stream error: {error}"),
            tell: false,
        }
    }

    fn eof() -> Self {
        Self::Failed {
            reason: DisconnectReason::TcpSubsystemError,
            detail: "stream closed by the peer without a close message".to_owned(),
            tell: false,
        }
    }

    fn breach(detail: String) -> Self {
        Self::Failed {
            reason: DisconnectReason::ProtocolBreach,
            detail,
            tell: true,
        }
    }
}

/// Runs a live link until it ends, reports how to the engine, and closes the stream.
/// `rbuf` holds bytes already read from the stream.
pub(crate) async fn run(stream: Stream, end: LinkEnd, config: Arc<Libp2pConfig>, rbuf: BytesMut) {
    let (mut rd, mut wr) = stream.split();
    let (mut outbound, inbound) = end.split();
    let mut io = Io {
        rbuf,
        wbuf: BytesMut::new(),
        decoder: Decoder::new(config.max_message_size),
        max_message_size: config.max_message_size,
    };
    let ending = io.drive(&mut rd, &mut wr, &mut outbound, &inbound).await;
    let (closed, send) = match ending {
        Ending::ByPeer(reason) => {
            tracing::debug!(%reason, "peer closed the link");
            (LinkClosed::ByPeer(reason), None)
        }
        Ending::Local { reason, detail } => {
            tracing::debug!(%reason, detail, "closing link");
            let closed = LinkClosed::ByTransport {
                reason,
                detail: detail.into(),
            };
            (closed, Some(reason))
        }
        Ending::Failed {
            reason,
            detail,
            tell,
        } => {
            tracing::info!(%reason, %detail, "link failed");
            let closed = LinkClosed::ByTransport {
                reason,
                detail: detail.into(),
            };
            (closed, tell.then_some(reason))
        }
    };
    inbound.close(closed);
    let Some(reason) = send else {
        let _ = timeout(CLOSE_GRACE, wr.close()).await;
        return;
    };
    // What is already encoded still goes out (a message may be half written), then the close.
    codec::encode_close(reason, &mut io.wbuf);
    let flushed = timeout(CLOSE_GRACE, async {
        wr.write_all(&io.wbuf).await?;
        wr.close().await
    })
    .await;
    if matches!(flushed, Ok(Ok(()))) {
        linger(&mut rd).await;
    }
}

/// Reads and discards until the peer closes its side or the grace period ends, so the peer can
/// read our close message before the stream goes away.
async fn linger(rd: &mut ReadHalf<Stream>) {
    let drain = async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = rd.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = timeout(CLOSE_GRACE, drain).await;
}

struct Io {
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: Decoder,
    max_message_size: usize,
}

impl Io {
    async fn drive(
        &mut self,
        rd: &mut ReadHalf<Stream>,
        wr: &mut WriteHalf<Stream>,
        outbound: &mut OutboundQueue,
        inbound: &InboundQueue,
    ) -> Ending {
        let mut scratch = vec![0u8; READ_CHUNK];
        let mut pending = None;
        let mut unflushed = false;
        loop {
            // Handle whatever complete messages are buffered, up to the first one for the engine.
            while pending.is_none() {
                match self.decoder.decode(&mut self.rbuf) {
                    Ok(Some(Message::Zks(frame))) => pending = Some(frame),
                    Ok(Some(Message::Close(reason))) => return Ending::ByPeer(reason),
                    Ok(Some(Message::Ready)) => {
                        return Ending::breach("unexpected Ready message".to_owned());
                    }
                    Ok(None) => break,
                    Err(e) => return Ending::breach(e.to_string()),
                }
            }
            let wbuf = &self.wbuf;
            tokio::select! {
                biased;
                permit = inbound.reserve(), if pending.is_some() => match permit {
                    Ok(permit) => {
                        if let Some(frame) = pending.take() {
                            permit.deliver(frame);
                        }
                    }
                    Err(_) => {
                        return Ending::Local {
                            reason: outbound.close_reason().unwrap_or(DisconnectReason::Requested),
                            detail: "engine dropped the link",
                        };
                    }
                },
                () = inbound.engine_gone(), if pending.is_none() => {
                    return Ending::Local {
                        reason: outbound.close_reason().unwrap_or(DisconnectReason::Requested),
                        detail: "engine dropped the link",
                    };
                }
                written = write_or_flush(wr, wbuf), if !wbuf.is_empty() || unflushed => {
                    match written {
                        Ok(Some(0)) => return Ending::eof(),
                        Ok(Some(n)) => {
                            self.wbuf.advance(n);
                            unflushed = true;
                        }
                        Ok(None) => unflushed = false,
                        Err(e) => return Ending::io(&e),
                    }
                }
                read = rd.read(&mut scratch), if pending.is_none() => match read {
                    Ok(0) => return Ending::eof(),
                    Ok(n) => self.rbuf.extend_from_slice(scratch.get(..n).unwrap_or_default()),
                    Err(e) => return Ending::io(&e),
                },
                next = outbound.next_outbound(), if self.wbuf.len() < WRITE_HIGH_WATER => {
                    match next {
                        Some(Outbound::Frame(frame)) => {
                            let encoded =
                                codec::encode_frame(&frame, self.max_message_size, &mut self.wbuf);
                            if let Err(e) = encoded {
                                tracing::warn!(error = %e, id = frame.id, "cannot send zks message");
                                return Ending::Local {
                                    reason: DisconnectReason::SubprotocolError,
                                    detail: "outgoing message does not fit the framing",
                                };
                            }
                        }
                        Some(Outbound::Close(reason)) => {
                            return Ending::Local { reason, detail: "closed by this side" };
                        }
                        None => {
                            return Ending::Local {
                                reason: DisconnectReason::Requested,
                                detail: "engine dropped its sender",
                            };
                        }
                    }
                }
            }
        }
    }
}

/// Writes some of `wbuf` (`Some(n)`), or flushes when it is empty (`None`). Cancel safe.
async fn write_or_flush(
    wr: &mut WriteHalf<Stream>,
    wbuf: &BytesMut,
) -> std::io::Result<Option<usize>> {
    if wbuf.is_empty() {
        wr.flush().await.map(|()| None)
    } else {
        wr.write(wbuf).await.map(Some)
    }
}
