//! [`collect_quorum`]: the async driver of a [`QuorumCollector`] over a main [`Node`].

use std::collections::HashMap;

use zks_api::wire::VerifyBatch;
use zks_api::wire::VerifyBatchOutcome;
use zks_api::{Node, SignerAddress};

use crate::error::QuorumError;
use crate::quorum::{Action, Quorum, QuorumCollector, QuorumConfig};
use crate::scheme::BatchSignatureScheme;

/// Sends `batch` to the node's eligible verifiers and waits for a quorum of signatures, with
/// the retries and timeouts of `config`.
///
/// Each attempt is a [`Node::dispatch`] under a fresh request id; the previous attempt's
/// dispatch is dropped when the next starts, and the last one when this returns. Time is
/// `tokio::time`, so it runs under paused time in tests.
///
/// ```no_run
/// # async fn run(mn: zks_api::Node, signers: Vec<zks_api::SignerAddress>) -> Result<(), zks_verifier::QuorumError> {
/// use std::time::Duration;
/// use zks_api::wire::VerifyBatch;
/// use zks_verifier::{QuorumConfig, Secp256k1BatchScheme, collect_quorum};
///
/// let batch = VerifyBatch { batch_number: 7, first_block_number: 100, last_block_number: 120, ..Default::default() };
/// let config = QuorumConfig::new(signers, 3).with_total_timeout(Duration::from_secs(30));
/// let quorum = collect_quorum(&mn, batch, config, &Secp256k1BatchScheme).await?;
/// for (signer, signature) in &quorum.signatures {
///     println!("{signer}: {} bytes", signature.len());
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`QuorumError::NotEnoughSigners`] after the total timeout (never without one:
/// [`QuorumConfig::without_total_timeout`] retries until the quorum is reached),
/// [`QuorumError::InvalidThreshold`] for an unreachable threshold, and
/// [`QuorumError::Dispatch`] if the node cannot dispatch (it is not a main node).
///
/// # Cancel safety
///
/// Dropping the future withdraws the request; the signatures collected so far are lost.
pub async fn collect_quorum(
    node: &Node,
    batch: VerifyBatch,
    config: QuorumConfig,
    scheme: &dyn BatchSignatureScheme,
) -> Result<Quorum, QuorumError> {
    let number = batch.batch_number;
    let mut collector = QuorumCollector::new(now(), batch, config, scheme)?;
    let mut dispatch = None;
    let mut reported = HashMap::new();
    loop {
        while let Some(action) = collector.poll_action() {
            match action {
                Action::Send(request) => {
                    // Withdraw the previous attempt before opening the next.
                    drop(dispatch.take());
                    dispatch = Some(node.dispatch(&request).map_err(QuorumError::Dispatch)?);
                }
                Action::Finish(quorum) => return Ok(quorum),
                Action::Fail(error) => return Err(error),
            }
        }
        let deadline = collector.poll_timeout();
        if collector.is_finished() || (deadline.is_none() && dispatch.is_none()) {
            // Unreachable by the collector's contract (it queues Finish/Fail as it finishes),
            // or nothing left that could move it (no timer, and no results can come): the end.
            return Err(collector.shortfall());
        }
        let sleep = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let event = match dispatch.as_mut() {
            Some(open) => tokio::select! {
                result = open.next() => Some(result),
                () = sleep => None,
            },
            None => {
                sleep.await;
                None
            }
        };
        match event {
            Some(Some(result)) => {
                let signer = result.signer;
                let current = result.result.request_id == collector.request_id();
                let refusal = match &result.result.outcome {
                    VerifyBatchOutcome::Refused { reason } => Some(format!("refused: {reason}")),
                    VerifyBatchOutcome::Approved { .. } => None,
                };
                collector.handle_result(now(), signer, result.result);
                if current {
                    report_answer(&collector, number, signer, refusal, &mut reported);
                }
            }
            // The node is shutting down: no more results will come; wait for the timers.
            Some(None) => dispatch = None,
            None => collector.handle_timeout(now()),
        }
    }
}

/// Says at WARN, once per verifier and answer, when a verifier refused the batch (with its
/// reason) or approved it with a signature that does not count (and why): the operator's only
/// view of a quorum that does not come. Repeats of the same answer (each retry gets one) are
/// not logged again.
fn report_answer(
    collector: &QuorumCollector<'_>,
    batch: u64,
    signer: SignerAddress,
    refusal: Option<String>,
    reported: &mut HashMap<SignerAddress, String>,
) {
    let tally = collector.tally();
    let answer = match refusal {
        Some(refusal) => refusal,
        None if tally.approved.contains_key(&signer) => return,
        None => match tally.rejected.get(&signer) {
            Some(rejection) => format!("approval not counted: {rejection}"),
            None => return,
        },
    };
    if reported.get(&signer) == Some(&answer) {
        return;
    }
    tracing::warn!(batch, %signer, answer = %answer, "a verifier did not approve the batch");
    reported.insert(signer, answer);
}

/// `tokio::time` now, as the collector's `std` instant (virtual under paused time).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
