//! The main node's driver for one link: answer the replay request, then stream.

use async_trait::async_trait;

use super::link::{LinkCx, RoleDriver};
use crate::ReplaySource;
use crate::engine::{CloseCause, MnInput, MnSession, ProtocolEvent, ReplayCursor};
use crate::transport::LinkReceiver;

pub(crate) struct MainNodeDriver<S> {
    pub(crate) source: S,
}

#[async_trait]
impl<S: ReplaySource> RoleDriver for MainNodeDriver<S> {
    async fn serve(&self, cx: &LinkCx, rx: &mut LinkReceiver) -> CloseCause {
        let mut session = MnSession::new(cx.info.version);
        let cursor = loop {
            let frame = match cx.recv(rx).await {
                Ok(frame) => frame,
                Err(cause) => return cause,
            };
            match session.handle_frame(&frame) {
                Ok(MnInput::StartReplay(cursor)) => break cursor,
                Ok(MnInput::None) => {}
                Err(e) => return e.into(),
            }
        };
        cx.emit(ProtocolEvent::ReplayRequested {
            conn: cx.conn,
            peer: cx.peer(),
            starting_block: cursor.next_block(),
            max_blocks_per_message: cursor.batch(),
            overrides: cursor.overrides().len(),
        });
        tracing::debug!(
            from = cursor.next_block(),
            batch = cursor.batch(),
            "replay requested"
        );

        let pump = self.pump(cursor, cx);
        tokio::pin!(pump);
        loop {
            tokio::select! {
                cause = &mut pump => return cause,
                frame = cx.recv(rx) => match frame {
                    Ok(frame) => {
                        if let Err(e) = session.handle_frame(&frame) {
                            return e.into();
                        }
                    }
                    Err(cause) => return cause,
                },
            }
        }
    }
}

impl<S: ReplaySource> MainNodeDriver<S> {
    /// Streams replay for as long as the link lives. Production is tied to the link's send
    /// capacity: a slot is reserved before anything is read, so a slow peer holds at most its
    /// queue's worth of encoded messages and never slows other peers.
    async fn pump(&self, mut cursor: ReplayCursor, cx: &LinkCx) -> CloseCause {
        loop {
            let Ok(permit) = cx.sender.reserve().await else {
                // The link is gone; the receiver reports why.
                return std::future::pending().await;
            };
            self.source.wait_for(cursor.next_block()).await;
            let first_block = cursor.next_block();
            let frame = match self
                .source
                .read(first_block, cursor.batch(), cursor.overrides())
                .await
                .and_then(|records| cursor.encode_next(&records))
            {
                Ok(frame) => frame,
                Err(e) => return CloseCause::Source(e),
            };
            permit.send(frame);
            cx.mark_progress();
            cx.emit(ProtocolEvent::ReplayBlockSent {
                conn: cx.conn,
                peer: cx.peer(),
                first_block,
                last_block: cursor.next_block() - 1,
            });
        }
    }
}
