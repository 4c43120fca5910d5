//! The main node's driver for one link: verifier auth, the replay request, then streaming
//! with batch requests sent ahead of replay. The session owns every deadline.

use std::sync::Arc;

use async_trait::async_trait;
use rand::TryRngCore;
use rand::rngs::OsRng;
use tokio::sync::mpsc;

use super::dispatch::{Routing, VerifierResult};
use super::events::DroppedResult;
use super::link::{LinkCx, LinkIo, RoleDriver, now, sleep_until};
use super::replay_cache::ReplayCache;
use super::{CloseCause, NotServed, ProtocolEvent};
use crate::engine::{MnAction, MnSession, ReplayCursor, VerifierStatus};
use crate::transport::{LinkSender, OwnedSendPermit};
use crate::wire::{Frame, VerifyBatchOutcome};
use crate::{AuthOutcome, BlockNumber, ReplaySource, SignerAuthenticator, SourceError};

pub(crate) struct MainNodeDriver<S> {
    pub(crate) source: S,
    pub(crate) authenticator: Option<Arc<dyn SignerAuthenticator>>,
    /// Serving as a relay: the verifier role and record overrides the source does not hold
    /// are refused ([`NotServed`]).
    pub(crate) relay: bool,
    /// Messages encoded once for every link at the same place.
    pub(crate) encoded: ReplayCache,
}

/// One replay message, produced once the link had room for it.
struct Produced {
    cursor: ReplayCursor,
    next: Result<(OwnedSendPermit, Frame, BlockNumber), SourceError>,
}

#[async_trait]
impl<S: ReplaySource> RoleDriver for MainNodeDriver<S> {
    async fn serve(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        control: &mut mpsc::Receiver<Frame>,
    ) -> CloseCause {
        let settings = &cx.shared.settings;
        let mut session = MnSession::new(cx.info.caps, settings.session_timeouts(), now());
        session.set_keepalive(settings.replay_keepalive());
        let cursor = loop {
            let frame = tokio::select! {
                frame = io.recv(cx) => match frame {
                    Ok(frame) => frame,
                    Err(cause) => return cause,
                },
                () = sleep_until(session.poll_timeout()) => {
                    match session.handle_timeout(now()) {
                        Some(kind) => return CloseCause::Timeout(kind),
                        None => continue,
                    }
                }
            };
            match self.on_frame(cx, io, &mut session, &frame).await {
                Ok(Some(cursor)) => break cursor,
                Ok(None) => {}
                Err(cause) => return cause,
            }
        };
        cx.shared.replay_requested(
            cx.conn,
            cursor.next_block(),
            ProtocolEvent::ReplayRequested {
                conn: cx.conn,
                peer: cx.peer(),
                starting_block: cursor.next_block(),
                max_blocks_per_message: cursor.batch(),
                overrides: cursor.overrides().len(),
            },
        );
        tracing::debug!(
            from = cursor.next_block(),
            batch = cursor.batch(),
            "replay requested"
        );

        let mut next = Box::pin(self.produce(cx.sender.clone(), cursor));
        loop {
            tokio::select! {
                // Local work first: batch requests go out ahead of replay and inbound.
                biased;
                Some(frame) = control.recv() => {
                    if let Err(cause) = cx.send(io, frame).await {
                        return cause;
                    }
                    session.on_sent(now());
                }
                produced = &mut next => {
                    let Produced { cursor, next: result } = produced;
                    let (permit, frame, first_block) = match result {
                        Ok(sent) => sent,
                        Err(e) => return CloseCause::Source(e),
                    };
                    permit.send(frame);
                    session.on_replay_sent(now());
                    cx.mark_progress();
                    cx.emit(ProtocolEvent::ReplayBlockSent {
                        conn: cx.conn,
                        peer: cx.peer(),
                        first_block,
                        last_block: cursor.next_block() - 1,
                    });
                    next.set(self.produce(cx.sender.clone(), cursor));
                }
                frame = io.recv(cx) => {
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(cause) => return cause,
                    };
                    if let Err(cause) = self.on_frame(cx, io, &mut session, &frame).await {
                        return cause;
                    }
                }
                () = sleep_until(session.poll_timeout()) => {
                    if let Some(kind) = session.handle_timeout(now()) {
                        return CloseCause::Timeout(kind);
                    }
                }
                () = sleep_until(session.poll_keepalive()) => {
                    if let Some(frame) = session.handle_keepalive(now()) {
                        // Never waits: a link without room is busy, not idle (and the replay
                        // stream may hold the last slot while it waits for a block).
                        let _ = cx.sender.try_send(frame);
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
        let input = session.handle_frame(frame, now())?;
        self.on_input(cx, io, session, input).await
    }
    /// Performs what one input asks for.
    async fn on_input(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        session: &mut MnSession,
        input: MnAction,
    ) -> Result<Option<ReplayCursor>, CloseCause> {
        match input {
            MnAction::None => {}
            MnAction::StartReplay(cursor) => {
                let first = self.source.first_block();
                if cursor.next_block() < first {
                    let refusal = NotServed::BeforeFirstBlock {
                        asked: cursor.next_block(),
                        first,
                    };
                    tracing::info!(%refusal, "refusing a replay request");
                    return Err(CloseCause::NotServed(refusal));
                }
                if self.relay {
                    self.check_relayable(cx, &cursor)?;
                }
                return Ok(Some(cursor));
            }
            MnAction::RoleRequested if self.relay => {
                tracing::info!("refusing a verifier role request: verification is not relayed");
                return Err(CloseCause::NotServed(NotServed::VerifierRole));
            }
            MnAction::RoleRequested => {
                cx.shared.verifier_status(
                    cx.conn,
                    VerifierStatus::RoleRequested,
                    ProtocolEvent::VerifierRoleRequested {
                        conn: cx.conn,
                        peer: cx.peer(),
                    },
                );
                let mut nonce = [0u8; 32];
                if let Err(e) = OsRng.try_fill_bytes(&mut nonce) {
                    return Err(CloseCause::Source(SourceError::new(format!(
                        "OS random number generator failed: {e}"
                    ))));
                }
                let challenge = session.challenge(nonce, now());
                cx.send(io, challenge).await?;
                cx.shared.verifier_status(
                    cx.conn,
                    VerifierStatus::Challenged,
                    ProtocolEvent::VerifierChallengeSent {
                        conn: cx.conn,
                        peer: cx.peer(),
                    },
                );
            }
            MnAction::Authenticate { nonce, signature } => {
                let outcome = self
                    .authenticator
                    .as_ref()
                    .map_or(AuthOutcome::Unauthorized(None), |a| {
                        a.authenticate(&nonce, &signature)
                    });
                session.set_auth_outcome(outcome);
                let (conn, peer) = (cx.conn, cx.peer());
                let (status, event) = match outcome {
                    AuthOutcome::Authorized(signer) => {
                        tracing::info!(%signer, "verifier authorized");
                        (
                            VerifierStatus::Authorized(signer),
                            ProtocolEvent::VerifierAuthorized { conn, peer, signer },
                        )
                    }
                    AuthOutcome::Unauthorized(signer) => {
                        tracing::warn!(?signer, "verifier not authorized");
                        (
                            VerifierStatus::Unauthorized(signer),
                            ProtocolEvent::VerifierUnauthorized { conn, peer, signer },
                        )
                    }
                };
                cx.shared.verifier_status(conn, status, event);
            }
            MnAction::AuthMalformed => {
                tracing::warn!("verifier not authorized: its signature is not 65 bytes");
                cx.shared.verifier_status(
                    cx.conn,
                    VerifierStatus::Unauthorized(None),
                    ProtocolEvent::VerifierUnauthorized {
                        conn: cx.conn,
                        peer: cx.peer(),
                        signer: None,
                    },
                );
            }
            MnAction::BatchResult(result) => {
                let VerifierStatus::Authorized(signer) = session.verifier_status() else {
                    return Ok(None); // the session only yields results from authorized peers
                };
                let (request_id, batch_number) = (result.request_id, result.batch_number);
                let approved = matches!(result.outcome, VerifyBatchOutcome::Approved { .. });
                if let VerifyBatchOutcome::Refused { reason } = &result.outcome {
                    cx.emit(ProtocolEvent::BatchRefused {
                        conn: cx.conn,
                        peer: cx.peer(),
                        signer,
                        request_id,
                        batch_number,
                        reason: reason.clone(),
                    });
                }
                let routing = cx.shared.links.route_result(VerifierResult {
                    conn: cx.conn,
                    peer: cx.peer(),
                    signer,
                    result,
                });
                cx.emit(match routing {
                    Routing::WrongBatch { expected } => {
                        tracing::warn!(%request_id, batch_number, expected, "dropping a result for the wrong batch");
                        ProtocolEvent::BatchResultDropped {
                            conn: cx.conn,
                            peer: cx.peer(),
                            request_id,
                            batch_number,
                            reason: DroppedResult::WrongBatch { expected },
                        }
                    }
                    Routing::Routed | Routing::NoDispatch => ProtocolEvent::BatchResultReceived {
                        conn: cx.conn,
                        peer: cx.peer(),
                        request_id,
                        approved,
                        routed: routing == Routing::Routed,
                    },
                });
            }
            MnAction::UnauthorizedResult(result) => {
                tracing::debug!(request_id = %result.request_id, "dropping a result from a peer that is not an authorized verifier");
                cx.emit(ProtocolEvent::BatchResultDropped {
                    conn: cx.conn,
                    peer: cx.peer(),
                    request_id: result.request_id,
                    batch_number: result.batch_number,
                    reason: DroppedResult::NotAuthorized,
                });
            }
        }
        Ok(None)
    }

    /// Relay: refuses overrides the store does not hold, and says when the peer asking us for
    /// replay is the upstream we replay from (a loop: harmless — each side applies only blocks
    /// it lacks, and a link with nothing to send is idle — but never useful).
    fn check_relayable(&self, cx: &LinkCx, cursor: &ReplayCursor) -> Result<(), CloseCause> {
        let overrides = cursor.overrides();
        if !self.source.holds_overrides(overrides) {
            let refusal = NotServed::Overrides {
                first: overrides.iter().next().map_or(0, |(block, _)| block),
                count: overrides.len(),
            };
            tracing::info!(%refusal, "refusing a replay request");
            return Err(CloseCause::NotServed(refusal));
        }
        if cx.shared.links.replays_from(&cx.info.peer) {
            tracing::warn!(
                "replay loop: this peer asks us for replay and is also the upstream we replay \
                 from; check both nodes' trusted main nodes"
            );
            cx.emit(ProtocolEvent::ReplayLoop {
                conn: cx.conn,
                peer: cx.peer(),
            });
        }
        Ok(())
    }

    /// The next replay message. Production is tied to the link's send capacity: a slot is
    /// reserved before anything is read, so a slow peer holds at most its queue's worth of
    /// encoded messages and never slows other peers. The cursor travels with the future, so
    /// the driver's loop owns it between messages.
    async fn produce(&self, sender: LinkSender, mut cursor: ReplayCursor) -> Produced {
        let Ok(permit) = sender.reserve_owned().await else {
            // The link is gone; the receiver reports why.
            return std::future::pending().await;
        };
        self.source.wait_for(cursor.next_block()).await;
        let first_block = cursor.next_block();
        let key = cursor.share_key();
        if let Some(key) = key
            && let Some(shared) = self.encoded.get(key, self.source.next_block())
            && let Some(frame) = cursor.take_shared(key, &shared)
        {
            return Produced {
                cursor,
                next: Ok((permit, frame, first_block)),
            };
        }
        let next = self
            .source
            .read(first_block, cursor.batch(), cursor.overrides())
            .await
            .and_then(|records| cursor.encode_shared(&records))
            .map(|shared| {
                let frame = shared.frame.clone();
                if let Some(key) = key {
                    self.encoded.insert(key, shared);
                }
                (permit, frame, first_block)
            });
        Produced { cursor, next }
    }
}
