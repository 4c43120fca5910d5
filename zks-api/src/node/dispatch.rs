//! MN batch dispatch: the join of "who is eligible?" (sessions) and "how do I send to them
//! now?" (registry), re-evaluated whenever a peer becomes eligible.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Shared, lock};
use crate::engine::ProtocolEvent;
use crate::wire::{Frame, RequestId, VerifyBatch, VerifyBatchResult, ZksMessage};
use crate::{BlockNumber, ConnectionId, PeerId, SignerAddress};

/// Results waiting for the app, per dispatch, before new ones are dropped.
const RESULT_QUEUE: usize = 256;

/// One open dispatch.
pub(crate) struct Dispatch {
    last_block: BlockNumber,
    frame: Frame,
    sent_to: HashSet<ConnectionId>,
    results: mpsc::Sender<VerifierResult>,
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
    shared: Arc<Shared>,
    request_id: RequestId,
    results: mpsc::Receiver<VerifierResult>,
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
        lock(&self.shared.dispatches).remove(&self.request_id);
    }
}

impl Shared {
    /// Opens a dispatch and sends it to every peer eligible now.
    pub(crate) fn open_dispatch(
        self: &Arc<Self>,
        batch: &VerifyBatch,
    ) -> Result<BatchDispatch, RequestId> {
        let (tx, rx) = mpsc::channel(RESULT_QUEUE);
        {
            let mut dispatches = lock(&self.dispatches);
            if dispatches.contains_key(&batch.request_id) {
                return Err(batch.request_id);
            }
            dispatches.insert(
                batch.request_id,
                Dispatch {
                    last_block: batch.last_block_number,
                    frame: ZksMessage::VerifyBatch(batch.clone()).to_frame(),
                    sent_to: HashSet::new(),
                    results: tx,
                },
            );
        }
        let conns: Vec<_> = lock(&self.sessions).iter().map(|s| s.conn).collect();
        for conn in conns {
            self.redispatch(conn);
        }
        Ok(BatchDispatch {
            shared: Arc::clone(self),
            request_id: batch.request_id,
            results: rx,
        })
    }

    /// Sends every open dispatch this link is now eligible for and has not had.
    pub(crate) fn redispatch(&self, conn: ConnectionId) {
        let mut dispatches = lock(&self.dispatches);
        if dispatches.is_empty() {
            return;
        }
        let Some(session) = lock(&self.sessions).get(conn).cloned() else {
            return;
        };
        let Some(control) = lock(&self.registry).get(conn).map(|h| h.control.clone()) else {
            return;
        };
        let mut sent = Vec::new();
        for (request_id, dispatch) in dispatches.iter_mut() {
            if dispatch.sent_to.contains(&conn) || session.can_verify(dispatch.last_block).is_none()
            {
                continue;
            }
            // Full: the link is swamped; the next event on it retries.
            if control.try_send(dispatch.frame.clone()).is_ok() {
                dispatch.sent_to.insert(conn);
                sent.push(*request_id);
            }
        }
        drop(dispatches);
        for request_id in sent {
            self.emit(ProtocolEvent::BatchDispatched {
                conn,
                peer: session.info.peer.clone(),
                request_id,
            });
        }
    }

    /// Hands a verifier's result to its dispatch; `false` when none is open for it.
    pub(crate) fn route_result(&self, result: VerifierResult) -> bool {
        let dispatches = lock(&self.dispatches);
        let Some(dispatch) = dispatches.get(&result.result.request_id) else {
            return false;
        };
        if dispatch.results.try_send(result).is_err() {
            tracing::warn!("result queue of a batch dispatch is full; dropping a result");
        }
        true
    }
}
