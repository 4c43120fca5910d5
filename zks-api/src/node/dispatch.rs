//! MN batch dispatch: the join of "who is eligible?" (sessions) and "how do I send to them
//! now?" (registry), re-evaluated whenever a peer becomes eligible.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::shared::{Shared, lock};
use crate::engine::VerifierChannel;
use crate::wire::{Frame, RequestId, TwoFaMessage, VerifyBatch, VerifyBatchResult};
use crate::{ConnectionId, PeerId, SignerAddress};

/// Results waiting for the app, per dispatch, before new ones are dropped.
pub(super) const RESULT_QUEUE: usize = 256;

/// One open dispatch.
pub(crate) struct Dispatch {
    pub(super) batch: VerifyBatch,
    /// The request's frame per verifier channel, encoded once for every link on it.
    pub(super) frames: HashMap<VerifierChannel, Frame>,
    pub(super) sent_to: HashSet<ConnectionId>,
    pub(super) results: mpsc::Sender<VerifierResult>,
}

impl Dispatch {
    /// The request's frame on `channel`.
    pub(super) fn frame(&mut self, channel: VerifierChannel) -> Frame {
        let batch = &self.batch;
        self.frames
            .entry(channel)
            .or_insert_with(|| channel.frame(TwoFaMessage::VerifyBatch(batch.clone())))
            .clone()
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

/// An open `VerifyBatch` request: sent to every eligible verifier now, and to each peer that
/// becomes eligible (authenticates, or is sent replay through the batch's last block) while
/// this handle lives. Dropping it stops the dispatch; later results for its id are dropped.
#[derive(Debug)]
#[must_use = "dropping a BatchDispatch withdraws the request"]
pub struct BatchDispatch {
    pub(super) shared: Arc<Shared>,
    pub(super) request_id: RequestId,
    pub(super) results: mpsc::Receiver<VerifierResult>,
}

impl BatchDispatch {
    /// The request id every verifier answers with.
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    /// The next result from an authorized verifier; `None` once the node shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<VerifierResult> {
        self.results.recv().await
    }
}

impl Drop for BatchDispatch {
    fn drop(&mut self) {
        let mut dispatches = lock(&self.shared.dispatches);
        if dispatches.remove(&self.request_id).is_some() {
            self.shared
                .dispatches_open
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
