//! Batch dispatch, the data: an open `VerifyBatch` request ([`Dispatch`]), a verifier's answer
//! ([`VerifierResult`]) and where one went ([`Routing`]). The table that joins them with the
//! links is [`LinkTable`](super::links::LinkTable); the application's handle is
//! [`BatchDispatch`](super::BatchDispatch).

use std::collections::HashMap;

use tokio::sync::mpsc;

use crate::engine::VerifierChannel;
use crate::wire::{Frame, TwoFaMessage, VerifyBatch, VerifyBatchResult};
use crate::{ConnectionId, PeerId, SignerAddress};

/// Results waiting for the app, per dispatch, before new ones are dropped.
pub(super) const RESULT_QUEUE: usize = 256;

/// One open dispatch: the request and where its results go. Which links it was sent to is
/// each link's own record (`LinkTable`).
#[derive(Debug)]
pub(super) struct Dispatch {
    pub(super) batch: VerifyBatch,
    /// The request's frame per verifier channel, encoded once for every link on it.
    frames: HashMap<VerifierChannel, Frame>,
    results: mpsc::Sender<VerifierResult>,
}

impl Dispatch {
    pub(super) fn new(batch: VerifyBatch, results: mpsc::Sender<VerifierResult>) -> Self {
        Self {
            batch,
            frames: HashMap::new(),
            results,
        }
    }

    /// The request's frame on `channel`.
    pub(super) fn frame(&mut self, channel: VerifierChannel) -> Frame {
        let batch = &self.batch;
        self.frames
            .entry(channel)
            .or_insert_with(|| channel.frame(TwoFaMessage::VerifyBatch(batch.clone())))
            .clone()
    }

    /// Hands `result` to the app if it names this dispatch's batch (never waits: a full queue
    /// drops it, with a warning).
    pub(super) fn route(&self, result: VerifierResult) -> Routing {
        if result.result.batch_number != self.batch.batch_number {
            return Routing::WrongBatch {
                expected: self.batch.batch_number,
            };
        }
        if self.results.try_send(result).is_err() {
            tracing::warn!("result queue of a batch dispatch is full; dropping a result");
        }
        Routing::Routed
    }
}

/// Where a verifier's result went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Routing {
    /// To its open dispatch.
    Routed,
    /// Nowhere: no dispatch is open for its request id (stale, or never sent).
    NoDispatch,
    /// Nowhere: it names another batch than its request.
    WrongBatch {
        /// The request's batch.
        expected: u64,
    },
}

/// A verifier's answer, as the main node received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierResult {
    /// The link it came on.
    pub conn: ConnectionId,
    /// The verifier.
    pub peer: PeerId,
    /// The address the peer authenticated with on that link.
    pub signer: SignerAddress,
    /// The answer, unvalidated: checking the signature is the collector's job.
    pub result: VerifyBatchResult,
}
