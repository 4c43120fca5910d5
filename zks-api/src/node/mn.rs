//! The main node's driver for one link: verifier auth, the replay request, then streaming
//! with batch requests sent ahead of replay.

use std::sync::Arc;

use async_trait::async_trait;
use rand::TryRngCore;
use rand::rngs::OsRng;
use tokio::sync::mpsc;

use super::dispatch::VerifierResult;
use super::link::LinkIo;
use super::link::{LinkCx, RoleDriver};
use crate::engine::{
    CloseCause, MnInput, MnSession, ProtocolEvent, ReplayCursor, TimeoutKind, VerifierStatus,
};
use crate::wire::{Frame, VerifyBatchOutcome};
use crate::{AuthOutcome, ReplaySource, SignerAuthenticator};

pub(crate) struct MainNodeDriver<S> {
    pub(crate) source: S,
    pub(crate) authenticator: Option<Arc<dyn SignerAuthenticator>>,
}

#[async_trait]
impl<S: ReplaySource> RoleDriver for MainNodeDriver<S> {
    async fn serve(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        control: &mut mpsc::Receiver<Frame>,
    ) -> CloseCause {
        let mut session = MnSession::new(cx.info.version);
        let limits = &cx.shared.limits;
        io.set_deadline(limits.first_message_timeout, TimeoutKind::FirstMessage);
        let cursor = loop {
            let frame = match io.recv(cx).await {
                Ok(frame) => frame,
                Err(cause) => return cause,
            };
            match self.on_frame(cx, io, &mut session, &frame).await {
                Ok(Some(cursor)) => break cursor,
                Ok(None) => {}
                Err(cause) => return cause,
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
                // Local work first: batch requests go out ahead of replay and inbound.
                biased;
                Some(frame) = control.recv() => {
                    if let Err(cause) = cx.send(io, frame).await {
                        return cause;
                    }
                }
                cause = &mut pump => return cause,
                frame = io.recv(cx) => {
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(cause) => return cause,
                    };
                    if let Err(cause) = self.on_frame(cx, io, &mut session, &frame).await {
                        return cause;
                    }
                }
            }
        }
    }
}

impl<S: ReplaySource> MainNodeDriver<S> {
    /// Handles one frame; returns the replay cursor when the peer asks for replay.
    async fn on_frame(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        session: &mut MnSession,
        frame: &Frame,
    ) -> Result<Option<ReplayCursor>, CloseCause> {
        let input = session.handle_frame(frame)?;
        let cursor = self.on_input(cx, io, session, input).await?;
        if session.verifier_status() != VerifierStatus::Challenged {
            // Any valid message ends the first-message wait; an open challenge keeps its own
            // deadline until the auth arrives.
            io.clear_deadline();
        }
        Ok(cursor)
    }

    /// Performs what one input asks for.
    async fn on_input(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        session: &mut MnSession,
        input: MnInput,
    ) -> Result<Option<ReplayCursor>, CloseCause> {
        match input {
            MnInput::None => {}
            MnInput::StartReplay(cursor) => return Ok(Some(cursor)),
            MnInput::RoleRequested => {
                cx.emit(ProtocolEvent::VerifierRoleRequested {
                    conn: cx.conn,
                    peer: cx.peer(),
                });
                let mut nonce = [0u8; 32];
                if let Err(e) = OsRng.try_fill_bytes(&mut nonce) {
                    return Err(CloseCause::Source(crate::SourceError::new(format!(
                        "OS random number generator failed: {e}"
                    ))));
                }
                cx.send(io, session.challenge(nonce)).await?;
                io.set_deadline(cx.shared.limits.handshake_timeout, TimeoutKind::Handshake);
                cx.emit(ProtocolEvent::VerifierChallengeSent {
                    conn: cx.conn,
                    peer: cx.peer(),
                });
            }
            MnInput::Authenticate { nonce, signature } => {
                let outcome = self
                    .authenticator
                    .as_ref()
                    .map_or(AuthOutcome::Unauthorized(None), |a| {
                        a.authenticate(&nonce, &signature)
                    });
                session.set_auth_outcome(outcome);
                let (conn, peer) = (cx.conn, cx.peer());
                cx.emit(match outcome {
                    AuthOutcome::Authorized(signer) => {
                        tracing::info!(%signer, "verifier authorized");
                        ProtocolEvent::VerifierAuthorized { conn, peer, signer }
                    }
                    AuthOutcome::Unauthorized(signer) => {
                        tracing::warn!(?signer, "verifier not authorized");
                        ProtocolEvent::VerifierUnauthorized { conn, peer, signer }
                    }
                });
            }
            MnInput::BatchResult(result) => {
                let VerifierStatus::Authorized(signer) = session.verifier_status() else {
                    return Ok(None); // the session only yields results from authorized peers
                };
                let request_id = result.request_id;
                let approved = matches!(result.outcome, VerifyBatchOutcome::Approved { .. });
                let routed = cx.shared.route_result(VerifierResult {
                    conn: cx.conn,
                    peer: cx.peer(),
                    signer,
                    result,
                });
                cx.emit(ProtocolEvent::BatchResultReceived {
                    conn: cx.conn,
                    peer: cx.peer(),
                    request_id,
                    approved,
                    routed,
                });
            }
        }
        Ok(None)
    }

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
            cx.mark_sent();
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
