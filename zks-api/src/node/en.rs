//! The external node's driver for one link: ask for replay (and the verifier role), validate,
//! apply, and answer batch requests once synced.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{Mutex, mpsc, watch};

use super::link::{LinkCx, LinkIo, RoleDriver, now, sleep_until};
use super::{CloseCause, NodeSettings, ProtocolEvent};
use crate::engine::{EnAction, EnSession, ProtocolError, ReplayRequest};
use crate::wire::{
    Frame, RecordOverride, RequestId, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult,
};
use crate::{BlockNumber, ChallengeSigner, ReplayRecord, ReplaySink, Verifier};

pub(crate) struct ExternalNodeDriver<K: ReplaySink> {
    pub(crate) sink: K,
    /// Serialises applies from links to several main nodes, and holds the last record this
    /// process applied, for the continuity check ([`ReplayRecord::follows`]).
    pub(crate) last_applied: Mutex<Option<K::Record>>,
    pub(crate) overrides: Vec<RecordOverride>,
    pub(crate) settings: NodeSettings,
    /// The sink's next block as of our last apply.
    pub(crate) applied: watch::Sender<BlockNumber>,
    pub(crate) verifier: Option<(Arc<dyn ChallengeSigner>, Arc<dyn Verifier>)>,
}

impl<K: ReplaySink> ExternalNodeDriver<K> {
    /// The driver of an external node (or a relay's upstream half) applying to `sink`.
    pub(crate) fn new(sink: K, settings: super::settings::DriverSettings) -> Self {
        settings.applied.send_replace(sink.resume_block());
        Self {
            sink,
            last_applied: Mutex::new(None),
            overrides: settings.record_overrides,
            settings: settings.node,
            applied: settings.applied,
            verifier: settings.verifier,
        }
    }
}

#[async_trait]
impl<K: ReplaySink> RoleDriver for ExternalNodeDriver<K> {
    async fn serve(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        _control: &mut mpsc::Receiver<Frame>,
    ) -> CloseCause {
        let request = cx.trusted.then(|| ReplayRequest {
            starting_block: self.sink.resume_block(),
            record_overrides: self.overrides.clone(),
            max_blocks_per_message: self.settings.max_blocks_per_message(),
        });
        let mut session = EnSession::<K::Record>::new(
            cx.info.caps,
            request,
            self.verifier.is_some(),
            self.settings.session_timeouts(),
            now(),
        );
        while let Some(frame) = session.poll_outbound() {
            if let Err(cause) = cx.send(io, frame).await {
                return cause;
            }
            session.on_sent(now());
        }
        let mut pending = Verifications::default();
        // An input met while gathering records that is not records: handled next.
        let mut carried = None;
        loop {
            let input = match carried.take() {
                Some(input) => input,
                None => {
                    // Biased: finished verifications are answered (and leave the pending set)
                    // before more requests are read, so a flood of requests the verifier can
                    // answer at once never counts against the pending limit.
                    let frame = tokio::select! {
                        biased;
                        Some((result, bytes)) = pending.futures.next() => {
                            pending.bytes = pending.bytes.saturating_sub(bytes);
                            if let Err(cause) = self.answer(cx, io, &session, result).await {
                                return cause;
                            }
                            session.on_sent(now());
                            continue;
                        }
                        () = sleep_until(session.poll_timeout()) => {
                            match session.handle_timeout(now()) {
                                Some(kind) => return CloseCause::Timeout(kind),
                                None => continue,
                            }
                        }
                        frame = io.recv(cx) => match frame {
                            Ok(frame) => frame,
                            Err(cause) => return cause,
                        },
                    };
                    session.handle_frame(&frame, now())
                }
            };
            match self
                .on_input(cx, io, &mut session, &mut pending, input)
                .await
            {
                Ok(next) => carried = next,
                Err(cause) => return cause,
            }
        }
    }

    async fn probe(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        block: BlockNumber,
        timeout: std::time::Duration,
    ) -> bool {
        // The same overrides as a real request: an upstream that would refuse them is not a
        // place to move replay to.
        let request = ReplayRequest {
            starting_block: block,
            record_overrides: self.overrides.clone(),
            max_blocks_per_message: 1,
        };
        let mut session = EnSession::<K::Record>::new(
            cx.info.caps,
            Some(request),
            false,
            self.settings.session_timeouts(),
            now(),
        );
        let answer = async {
            while let Some(frame) = session.poll_outbound() {
                cx.send(io, frame).await.ok()?;
                session.on_sent(now());
            }
            loop {
                let frame = io.recv(cx).await.ok()?;
                // Validated: records start exactly at `block`.
                if let EnAction::Records(records) = session.handle_frame(&frame, now()).ok()? {
                    return Some(!records.is_empty());
                }
            }
        };
        tokio::time::timeout(timeout, answer)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }
}

/// Most records one apply gathers from messages that arrived together.
const GATHER_RECORDS: usize = 1024;
/// Most message bytes one apply gathers.
const GATHER_BYTES: usize = 16 * 1024 * 1024;

/// A session input: what the peer's message asks of us, or how it broke the protocol.
type Input<R> = Result<EnAction<R>, ProtocolError>;

/// Request ids a link remembers, so a repeated one is verified and answered once.
const SEEN_REQUEST_IDS: usize = 1024;

/// Batch verifications in flight on one link (bounded by [`NodeSettings::max_pending_verifications`]
/// and [`NodeSettings::max_pending_verification_bytes`]), and the request ids it was sent last.
#[derive(Default)]
struct Verifications<'a> {
    /// Each yields its result and the commit bytes it held.
    futures: FuturesUnordered<futures::future::BoxFuture<'a, (VerifyBatchResult, usize)>>,
    /// Commit bytes the pending requests hold.
    bytes: usize,
    /// The last [`SEEN_REQUEST_IDS`] request ids queued on this link, oldest first.
    seen: VecDeque<RequestId>,
}

impl Verifications<'_> {
    /// Remembers `id` as queued on this link (forgetting the oldest beyond
    /// [`SEEN_REQUEST_IDS`]).
    fn remember(&mut self, id: RequestId) {
        if self.seen.len() == SEEN_REQUEST_IDS {
            self.seen.pop_front();
        }
        self.seen.push_back(id);
    }
}

/// Adds to `records` the records of messages already waiting on the link (bounded), stopping
/// at the first message that carries anything else (returned, to be handled next) or at the
/// link's end (returned after the records are applied).
async fn gather<R: ReplayRecord>(
    io: &mut LinkIo,
    cx: &LinkCx,
    session: &mut EnSession<R>,
    mut records: Vec<R>,
) -> (Vec<R>, Option<Input<R>>, Option<CloseCause>) {
    let mut bytes = 0;
    while records.len() < GATHER_RECORDS && bytes < GATHER_BYTES {
        let frame = match io.try_recv(cx).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(cause) => return (records, None, Some(cause)),
        };
        bytes += frame.len();
        match session.handle_frame(&frame, now()) {
            Ok(EnAction::Records(more)) => records.extend(more),
            other => return (records, Some(other), None),
        }
    }
    (records, None, None)
}

impl<K: ReplaySink> ExternalNodeDriver<K> {
    /// Performs what one input asks for. Records are applied together with those of the
    /// messages that arrived with them; the first other input met on the way is returned, to be
    /// handled next.
    async fn on_input<'a>(
        &'a self,
        cx: &LinkCx,
        io: &mut LinkIo,
        session: &mut EnSession<K::Record>,
        pending: &mut Verifications<'a>,
        input: Input<K::Record>,
    ) -> Result<Option<Input<K::Record>>, CloseCause> {
        match input {
            Ok(EnAction::Records(records)) => {
                // One sink call (one transaction) for many small messages.
                let (records, next, ended) = gather(io, cx, session, records).await;
                // Not raced against shutdown: an apply in flight is never cancelled.
                self.apply(cx, records).await?;
                match ended {
                    Some(cause) => Err(cause),
                    None => Ok(next),
                }
            }
            Ok(EnAction::Challenge(nonce)) => {
                let Some((signer, _)) = &self.verifier else {
                    return Err(ProtocolError::UnexpectedMessage {
                        id: crate::wire::MessageId::VerifierChallenge,
                    }
                    .into());
                };
                let frame = session.answer_challenge(signer.sign_challenge(&nonce));
                cx.send(io, frame).await?;
                session.on_sent(now());
                Ok(None)
            }
            Ok(EnAction::VerifyBatch(batch)) => {
                let max = self.settings.max_pending_verifications();
                let max_bytes = self.settings.max_pending_verification_bytes();
                let bytes = batch
                    .commit_data
                    .len()
                    .saturating_add(batch.prev_commit_data.len());
                if pending.seen.contains(&batch.request_id) {
                    // Verified (or being verified) and answered once on this link already.
                    tracing::debug!(
                        request_id = batch.request_id.0,
                        "repeated VerifyBatch ignored"
                    );
                    return Ok(None);
                }
                if pending.futures.len() >= max {
                    return Err(ProtocolError::TooManyPendingVerifications { max }.into());
                }
                if pending.bytes.saturating_add(bytes) > max_bytes {
                    return Err(ProtocolError::TooManyPendingVerificationBytes { max_bytes }.into());
                }
                pending.remember(batch.request_id);
                pending.bytes += bytes;
                pending.futures.push(Box::pin(async move {
                    (self.verify_when_synced(batch).await, bytes)
                }));
                Ok(None)
            }
            Ok(EnAction::None) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies validated records, skipping any another link already delivered.
    async fn apply(&self, cx: &LinkCx, mut records: Vec<K::Record>) -> Result<(), CloseCause> {
        let mut last_applied = self.last_applied.lock().await;
        let next = self.sink.resume_block();
        let Some(first) = records.first().map(ReplayRecord::block_number) else {
            return Ok(());
        };
        if first > next {
            return Err(CloseCause::SinkMoved {
                sink_next: next,
                got: first,
            });
        }
        let already = usize::try_from(next - first)
            .unwrap_or(usize::MAX)
            .min(records.len());
        records.drain(..already);
        let Some(last_record) = records.last().cloned() else {
            return Ok(());
        };
        let mut previous = last_applied.as_ref();
        for record in &records {
            if let Some(previous) = previous
                && !record.follows(previous)
            {
                let block = record.block_number();
                tracing::error!(
                    block,
                    "main node sent a record that does not follow our chain; not applying it"
                );
                return Err(CloseCause::Diverged { block });
            }
            previous = Some(record);
        }
        let last = last_record.block_number();
        self.sink.apply(records).await.map_err(CloseCause::Sink)?;
        *last_applied = Some(last_record);
        self.applied.send_replace(last + 1);
        cx.mark_progress();
        cx.emit(ProtocolEvent::ReplayApplied {
            conn: cx.conn,
            peer: cx.peer(),
            first_block: next,
            last_block: last,
        });
        Ok(())
    }

    /// Waits (bounded) until the sink has applied the batch's last block, then asks the
    /// verifier.
    async fn verify_when_synced(&self, batch: VerifyBatch) -> VerifyBatchResult {
        let mut applied = self.applied.subscribe();
        let last = batch.last_block_number;
        let synced = tokio::time::timeout(
            self.settings.verify_sync_timeout(),
            applied.wait_for(|next| *next > last),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        let outcome = match &self.verifier {
            Some((_, verifier)) if synced => verifier.verify(&batch).await,
            Some(_) => VerifyBatchOutcome::Refused {
                reason: "not synced".to_owned(),
            },
            None => VerifyBatchOutcome::Refused {
                reason: "not a verifier".to_owned(),
            },
        };
        VerifyBatchResult {
            request_id: batch.request_id,
            batch_number: batch.batch_number,
            outcome,
        }
    }

    async fn answer(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        session: &EnSession<K::Record>,
        result: VerifyBatchResult,
    ) -> Result<(), CloseCause> {
        let approved = matches!(result.outcome, VerifyBatchOutcome::Approved { .. });
        let request_id = result.request_id;
        cx.send(io, session.result_frame(result)).await?;
        cx.emit(ProtocolEvent::BatchAnswered {
            conn: cx.conn,
            peer: cx.peer(),
            request_id,
            approved,
        });
        Ok(())
    }
}
