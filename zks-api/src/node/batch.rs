//! [`BatchDispatch`]: the application's handle on an open batch request.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::dispatch::VerifierResult;
use super::shared::Shared;
use crate::wire::RequestId;

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
        self.shared.links.close_dispatch(self.request_id);
    }
}
