//! The sans-IO [`QuorumCollector`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use zks_api::SignerAddress;
use zks_api::wire::{RequestId, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult};

use super::config::QuorumConfig;
use crate::error::{QuorumError, SchemeError, SignatureError};
use crate::scheme::BatchSignatureScheme;

/// Collects verifier signatures over one batch until a threshold of accepted signers approved
/// it, retrying on timeouts. It does no I/O and reads no clock.
///
/// # Lifecycle
///
/// 1. [`new`](Self::new) queues the first [`Action::Send`] (request id from the config's
///    [`RequestIds`](super::RequestIds)).
/// 2. Feed every `VerifyBatchResult` the node forwards to
///    [`handle_result`](Self::handle_result), with the signer the peer authenticated as.
/// 3. Call [`handle_timeout`](Self::handle_timeout) once [`poll_timeout`](Self::poll_timeout)
///    has passed.
/// 4. After each input, drain [`poll_action`](Self::poll_action): `Send` a new attempt (and
///    stop sending the previous one), or stop on `Finish`/`Fail`.
///
/// # Rules
///
/// - Results whose request id is not the current attempt's are ignored and counted as stale.
/// - Refusals are recorded with their reason and never counted.
/// - An approval counts only if the peer's signer is accepted, the signature is well formed,
///   and it recovers, over the scheme's digest of the batch, to that same signer; otherwise it
///   is recorded as rejected. If the scheme cannot digest the batch at all, every approval is
///   rejected as [`ApprovalRejection::Undigestable`] and the collection can only time out.
/// - Each signer counts once; later approvals from it are counted as duplicates.
/// - The collection completes as soon as `threshold` signers count. An attempt that has not
///   completed after the request timeout is followed, after the retry delay, by a new attempt
///   with a fresh id; signatures already counted are kept (the digest excludes the id). Once
///   the total timeout has passed, it fails with [`QuorumError::NotEnoughSigners`]; without
///   one ([`QuorumConfig::without_total_timeout`]) it retries until the quorum is reached.
pub struct QuorumCollector<'s> {
    scheme: &'s dyn BatchSignatureScheme,
    config: QuorumConfig,
    /// The batch as last sent: its request id is the current attempt's.
    batch: VerifyBatch,
    digest: Result<[u8; 32], SchemeError>,
    /// When the collection fails; `None`: never.
    deadline: Option<Instant>,
    state: State,
    attempts: u32,
    tally: Tally,
    actions: VecDeque<Action>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// The current attempt is open until `until` (`None`: it never times out).
    InFlight { until: Option<Instant> },
    /// The current attempt timed out; the next starts at `retry_at` (`None`: never).
    Waiting { retry_at: Option<Instant> },
    /// `Finish` or `Fail` has been queued.
    Finished,
}

/// What the caller must do next.
#[derive(Debug)]
#[must_use = "a collector's actions must be carried out"]
pub enum Action {
    /// The collection failed; nothing more will happen.
    Fail(QuorumError),
    /// The quorum is reached; nothing more will happen.
    Finish(Quorum),
    /// Send this batch (carrying the new attempt's request id) to every eligible verifier,
    /// replacing any previous attempt.
    Send(VerifyBatch),
}

/// A reached quorum.
#[derive(Clone, Debug)]
pub struct Quorum {
    /// The batch, with the request id of the attempt that completed it.
    pub batch: VerifyBatch,
    /// The scheme's digest of the batch; every signature is over it.
    pub digest: [u8; 32],
    /// Exactly `threshold` validated signatures, one per distinct accepted signer.
    pub signatures: BTreeMap<SignerAddress, Bytes>,
    /// How many attempts were sent.
    pub attempts: u32,
    /// Everything else that was received.
    pub tally: Tally,
}

/// What a collector has received so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Validated approvals, one per signer.
    pub approved: BTreeMap<SignerAddress, Bytes>,
    /// The last refusal reason of each signer that refused.
    pub refused: BTreeMap<SignerAddress, String>,
    /// The last rejected approval of each signer.
    pub rejected: BTreeMap<SignerAddress, ApprovalRejection>,
    /// Results for another request id.
    pub stale: u64,
    /// Approvals from signers that had already counted.
    pub duplicates: u64,
}

/// Why an approval was not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalRejection {
    /// The result names another batch than the one requested under its id.
    BatchMismatch {
        /// The batch number in the result.
        got: u64,
    },
    /// The signature is malformed for the scheme.
    Malformed(SignatureError),
    /// The signature is not the peer's signer's over this batch: it was made with another key
    /// or over another digest, and recovers to `recovered`.
    NotFromSigner {
        /// The address the signature recovers to.
        recovered: SignerAddress,
    },
    /// The peer authenticated as a signer this collection does not accept.
    SignerNotAccepted,
    /// The scheme cannot digest the batch, so no approval of it can be checked.
    Undigestable(SchemeError),
}

impl fmt::Display for ApprovalRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BatchMismatch { got } => {
                write!(f, "the approval names batch {got}, not the one asked for")
            }
            Self::Malformed(error) => write!(f, "malformed signature: {error}"),
            Self::NotFromSigner { recovered } => write!(
                f,
                "the signature recovers to {recovered}, not to the verifier's signer: signed \
                 with another key, or under another signature scheme or EIP-712 domain"
            ),
            Self::SignerNotAccepted => f.write_str("the verifier's signer is not accepted"),
            Self::Undigestable(error) => write!(f, "the batch cannot be digested: {error}"),
        }
    }
}

impl<'s> QuorumCollector<'s> {
    /// Starts collecting signatures over `batch` (its request id is replaced) at `now`, and
    /// queues the first [`Action::Send`].
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidThreshold`] if the threshold is 0 or above the number of accepted
    /// signers.
    pub fn new(
        now: Instant,
        mut batch: VerifyBatch,
        config: QuorumConfig,
        scheme: &'s dyn BatchSignatureScheme,
    ) -> Result<Self, QuorumError> {
        let signers = config.signers.len();
        if config.threshold == 0 || config.threshold > signers {
            return Err(QuorumError::InvalidThreshold {
                threshold: config.threshold,
                signers,
            });
        }
        let digest = scheme.digest(&batch);
        if let Err(error) = &digest {
            tracing::warn!(batch = batch.batch_number, %error, "the batch signature scheme cannot digest this batch; no approval can count");
        }
        batch.request_id = RequestId::default();
        let deadline = config.total_timeout.and_then(|total| later(now, total));
        let mut collector = Self {
            scheme,
            config,
            batch,
            digest,
            deadline,
            state: State::Finished,
            attempts: 0,
            tally: Tally::default(),
            actions: VecDeque::new(),
        };
        collector.start_attempt(now);
        Ok(collector)
    }

    /// The current attempt's request id.
    pub fn request_id(&self) -> RequestId {
        self.batch.request_id
    }

    /// Signatures needed.
    pub fn threshold(&self) -> usize {
        self.config.threshold
    }

    /// How many attempts have been sent.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The scheme's digest of the batch.
    ///
    /// # Errors
    ///
    /// The [`SchemeError`] if the scheme cannot digest the batch.
    pub fn digest(&self) -> Result<[u8; 32], SchemeError> {
        self.digest
    }

    /// What has been received so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Whether `Finish` or `Fail` has been queued.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Handles a result from a verifier that authenticated as `signer`.
    ///
    /// Timeouts due by `now` are handled first, so nothing counts after the total timeout.
    pub fn handle_result(
        &mut self,
        now: Instant,
        signer: SignerAddress,
        result: VerifyBatchResult,
    ) {
        self.handle_timeout(now);
        if self.is_finished() {
            return;
        }
        if result.request_id != self.batch.request_id {
            self.tally.stale += 1;
            tracing::debug!(%signer, got = %result.request_id, current = %self.batch.request_id, "stale verifier result");
            return;
        }
        match result.outcome {
            VerifyBatchOutcome::Refused { reason } => {
                tracing::debug!(%signer, %reason, "verifier refused batch");
                self.tally.refused.insert(signer, reason);
            }
            VerifyBatchOutcome::Approved { signature } => {
                if self.tally.approved.contains_key(&signer) {
                    self.tally.duplicates += 1;
                    return;
                }
                match self.validate(signer, result.batch_number, &signature) {
                    Ok(()) => {
                        self.tally.approved.insert(signer, signature);
                        self.finish_if_reached();
                    }
                    Err(rejection) => {
                        tracing::debug!(%signer, ?rejection, "verifier approval rejected");
                        self.tally.rejected.insert(signer, rejection);
                    }
                }
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` once
    /// finished, and while no timer runs (an attempt whose request timeout is too long for an
    /// `Instant` to express, without a total timeout): then only results move it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = match self.state {
            State::InFlight { until } => until,
            State::Waiting { retry_at } => retry_at,
            State::Finished => return None,
        };
        [next, self.deadline].into_iter().flatten().min()
    }

    /// The failure to report now: what was collected, and which accepted signers said nothing.
    pub(crate) fn shortfall(&self) -> QuorumError {
        let answered = |signer: &SignerAddress| {
            self.tally.approved.contains_key(signer)
                || self.tally.refused.contains_key(signer)
                || self.tally.rejected.contains_key(signer)
        };
        QuorumError::NotEnoughSigners {
            got: self.tally.approved.len(),
            needed: self.config.threshold,
            tally: Box::new(self.tally.clone()),
            silent: self
                .config
                .signers()
                .iter()
                .filter(|s| !answered(s))
                .copied()
                .collect(),
        }
    }

    /// Handles the passing of time: fails at the total timeout, ends timed-out attempts, and
    /// starts the next attempt once the retry delay has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_finished() {
            return;
        }
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            self.state = State::Finished;
            let error = self.shortfall();
            self.actions.push_back(Action::Fail(error));
            return;
        }
        if let State::InFlight { until: Some(until) } = self.state
            && now >= until
        {
            tracing::debug!(request = %self.batch.request_id, got = self.tally.approved.len(), "verify request timed out");
            self.state = State::Waiting {
                retry_at: later(now, self.config.retry_delay),
            };
        }
        if let State::Waiting {
            retry_at: Some(retry_at),
        } = self.state
            && now >= retry_at
        {
            self.start_attempt(now);
        }
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn start_attempt(&mut self, now: Instant) {
        self.batch.request_id = self.config.request_ids.next_id();
        self.attempts = self.attempts.saturating_add(1);
        self.state = State::InFlight {
            until: later(now, self.config.request_timeout),
        };
        self.actions.push_back(Action::Send(self.batch.clone()));
    }

    fn validate(
        &self,
        signer: SignerAddress,
        batch_number: u64,
        signature: &[u8],
    ) -> Result<(), ApprovalRejection> {
        if batch_number != self.batch.batch_number {
            return Err(ApprovalRejection::BatchMismatch { got: batch_number });
        }
        if !self.config.signers.contains(&signer) {
            return Err(ApprovalRejection::SignerNotAccepted);
        }
        if let Err(error) = self.digest {
            return Err(ApprovalRejection::Undigestable(error));
        }
        let recovered = self
            .scheme
            .recover(&self.batch, signature)
            .map_err(ApprovalRejection::Malformed)?;
        if recovered != signer {
            return Err(ApprovalRejection::NotFromSigner { recovered });
        }
        Ok(())
    }

    fn finish_if_reached(&mut self) {
        if self.tally.approved.len() < self.config.threshold {
            return;
        }
        // Approvals count only with a digest (see `validate`), so this always holds here.
        let Ok(digest) = self.digest else {
            return;
        };
        self.state = State::Finished;
        self.actions.push_back(Action::Finish(Quorum {
            batch: self.batch.clone(),
            digest,
            signatures: self.tally.approved.clone(),
            attempts: self.attempts,
            tally: self.tally.clone(),
        }));
    }
}

/// `now + after`; `None` (never) when no `Instant` is that far.
fn later(now: Instant, after: std::time::Duration) -> Option<Instant> {
    now.checked_add(after)
}

impl fmt::Debug for QuorumCollector<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuorumCollector")
            .field("request_id", &self.batch.request_id)
            .field("batch_number", &self.batch.batch_number)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("approved", &self.tally.approved.len())
            .field("threshold", &self.config.threshold)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::quorum::RequestIds;
    use crate::{Secp256k1BatchScheme, VerifierKey};

    const SECOND: Duration = Duration::from_secs(1);

    struct Fixture {
        keys: Vec<VerifierKey>,
        start: Instant,
    }

    impl Fixture {
        fn new(n: usize) -> Self {
            Self {
                keys: (0..n).map(|_| VerifierKey::generate()).collect(),
                start: Instant::now(),
            }
        }

        /// Threshold 3; request timeout 10 s, retry delay 1 s, total 35 s; ids from 100.
        fn config(&self) -> QuorumConfig {
            QuorumConfig::new(self.keys.iter().map(VerifierKey::address), 3)
                .with_request_timeout(10 * SECOND)
                .with_retry_delay(SECOND)
                .with_total_timeout(35 * SECOND)
                .with_request_ids(RequestIds::starting_at(100))
        }

        fn collector(&self) -> QuorumCollector<'static> {
            QuorumCollector::new(self.start, batch(), self.config(), &Secp256k1BatchScheme).unwrap()
        }

        fn at(&self, secs: u64) -> Instant {
            self.start + Duration::from_secs(secs)
        }
    }

    fn batch() -> VerifyBatch {
        VerifyBatch {
            request_id: RequestId(7),
            batch_number: 5,
            first_block_number: 100,
            last_block_number: 120,
            commit_data: Bytes::from_static(b"commit"),
            ..Default::default()
        }
    }

    fn approval(key: &VerifierKey, request_id: RequestId) -> VerifyBatchResult {
        VerifyBatchResult {
            request_id,
            batch_number: 5,
            outcome: VerifyBatchOutcome::Approved {
                signature: Secp256k1BatchScheme.sign(key, &batch()),
            },
        }
    }

    fn refusal(request_id: RequestId, reason: &str) -> VerifyBatchResult {
        VerifyBatchResult {
            request_id,
            batch_number: 5,
            outcome: VerifyBatchOutcome::Refused {
                reason: reason.to_owned(),
            },
        }
    }

    fn sent(collector: &mut QuorumCollector<'_>) -> VerifyBatch {
        match collector.poll_action() {
            Some(Action::Send(batch)) => batch,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    fn finished(collector: &mut QuorumCollector<'_>) -> Quorum {
        match collector.poll_action() {
            Some(Action::Finish(quorum)) => quorum,
            other => panic!("expected Finish, got {other:?}"),
        }
    }

    #[test]
    fn first_attempt_is_sent_with_a_fresh_id_and_same_fields() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let request = sent(&mut c);
        assert_eq!(request.request_id, RequestId(100));
        assert_eq!(
            request,
            VerifyBatch {
                request_id: RequestId(100),
                ..batch()
            }
        );
        assert_eq!(c.request_id(), RequestId(100));
        assert_eq!(c.attempts(), 1);
        assert!(c.poll_action().is_none());
        assert_eq!(c.poll_timeout(), Some(f.at(10)));
    }

    #[test]
    fn completes_at_threshold_with_distinct_valid_signatures() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        for key in &f.keys[..2] {
            c.handle_result(f.at(1), key.address(), approval(key, id));
            assert!(c.poll_action().is_none());
        }
        c.handle_result(f.at(2), f.keys[2].address(), approval(&f.keys[2], id));
        let quorum = finished(&mut c);
        assert_eq!(quorum.signatures.len(), 3);
        assert_eq!(quorum.digest, Secp256k1BatchScheme.digest(&batch()));
        assert_eq!(quorum.batch.request_id, id);
        for (signer, signature) in &quorum.signatures {
            assert_eq!(
                Secp256k1BatchScheme.recover(&batch(), signature),
                Ok(*signer)
            );
        }
        assert!(c.is_finished());
        assert_eq!(c.poll_timeout(), None);
        // Nothing happens after the end.
        c.handle_result(f.at(3), f.keys[3].address(), approval(&f.keys[3], id));
        c.handle_timeout(f.at(100));
        assert!(c.poll_action().is_none());
    }

    #[test]
    fn each_signer_counts_once() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        for _ in 0..5 {
            c.handle_result(f.at(1), f.keys[0].address(), approval(&f.keys[0], id));
        }
        c.handle_result(f.at(1), f.keys[1].address(), approval(&f.keys[1], id));
        assert!(c.poll_action().is_none(), "two signers are not three");
        assert_eq!(c.tally().approved.len(), 2);
        assert_eq!(c.tally().duplicates, 4);
    }

    #[test]
    fn results_for_other_request_ids_are_stale() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        for (i, key) in f.keys.iter().enumerate() {
            let other = RequestId(id.0 + 1 + i as u64);
            c.handle_result(f.at(1), key.address(), approval(key, other));
        }
        c.handle_result(
            f.at(1),
            f.keys[0].address(),
            approval(&f.keys[0], RequestId(id.0 - 1)),
        );
        assert!(c.poll_action().is_none());
        assert!(c.tally().approved.is_empty());
        assert_eq!(c.tally().stale, 6);
    }

    #[test]
    fn refusals_are_recorded_but_never_count() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        for key in &f.keys {
            c.handle_result(f.at(1), key.address(), refusal(id, "not synced"));
        }
        assert!(c.poll_action().is_none());
        assert!(c.tally().approved.is_empty());
        assert_eq!(c.tally().refused.len(), 5);
        assert!(c.tally().refused.values().all(|r| r == "not synced"));
        // A signer that refused may still approve later.
        for key in &f.keys[..3] {
            c.handle_result(f.at(2), key.address(), approval(key, id));
        }
        let quorum = finished(&mut c);
        assert_eq!(quorum.tally.refused.len(), 5);
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        let signer = f.keys[0].address();
        let good = Secp256k1BatchScheme.sign(&f.keys[0], &batch()).to_vec();
        let mut bad_v = good.clone();
        bad_v[64] = 5;
        let mut zero = vec![0u8; 65];
        zero[64] = 27;
        let cases: Vec<(Vec<u8>, SignatureError)> = vec![
            (
                vec![],
                SignatureError::Length {
                    got: 0,
                    expected: 65,
                },
            ),
            (
                good[..64].to_vec(),
                SignatureError::Length {
                    got: 64,
                    expected: 65,
                },
            ),
            (bad_v, SignatureError::RecoveryByte(5)),
            (zero, SignatureError::Unrecoverable),
        ];
        for (raw, error) in cases {
            let result = VerifyBatchResult {
                request_id: id,
                batch_number: 5,
                outcome: VerifyBatchOutcome::Approved {
                    signature: Bytes::from(raw),
                },
            };
            c.handle_result(f.at(1), signer, result);
            assert_eq!(
                c.tally().rejected.get(&signer),
                Some(&ApprovalRejection::Malformed(error))
            );
        }
        assert!(c.tally().approved.is_empty());
        assert!(c.poll_action().is_none());
    }

    #[test]
    fn forged_signatures_from_another_key_are_rejected() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        let forger = VerifierKey::generate();
        // Peer authenticated as keys[0] but signs with another key.
        c.handle_result(f.at(1), f.keys[0].address(), approval(&forger, id));
        assert_eq!(
            c.tally().rejected.get(&f.keys[0].address()),
            Some(&ApprovalRejection::NotFromSigner {
                recovered: forger.address()
            })
        );
        // Peer authenticated as keys[0] relays keys[1]'s signature: not its own, rejected.
        c.handle_result(f.at(1), f.keys[0].address(), approval(&f.keys[1], id));
        assert_eq!(
            c.tally().rejected.get(&f.keys[0].address()),
            Some(&ApprovalRejection::NotFromSigner {
                recovered: f.keys[1].address()
            })
        );
        assert!(c.tally().approved.is_empty());
    }

    #[test]
    fn signatures_over_another_digest_are_rejected() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        let other = VerifyBatch {
            commit_data: Bytes::from_static(b"evil"),
            ..batch()
        };
        let result = VerifyBatchResult {
            request_id: id,
            batch_number: 5,
            outcome: VerifyBatchOutcome::Approved {
                signature: Secp256k1BatchScheme.sign(&f.keys[0], &other),
            },
        };
        c.handle_result(f.at(1), f.keys[0].address(), result);
        assert!(matches!(
            c.tally().rejected.get(&f.keys[0].address()),
            Some(ApprovalRejection::NotFromSigner { recovered }) if *recovered != f.keys[0].address()
        ));
        assert!(c.tally().approved.is_empty());
    }

    #[test]
    fn non_member_signers_are_rejected() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        let stranger = VerifierKey::generate();
        // Even a perfectly valid signature does not count for a signer we do not accept.
        c.handle_result(f.at(1), stranger.address(), approval(&stranger, id));
        assert_eq!(
            c.tally().rejected.get(&stranger.address()),
            Some(&ApprovalRejection::SignerNotAccepted)
        );
        assert!(c.tally().approved.is_empty());
    }

    #[test]
    fn results_for_another_batch_number_are_rejected() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        let mut result = approval(&f.keys[0], id);
        result.batch_number = 6;
        c.handle_result(f.at(1), f.keys[0].address(), result);
        assert_eq!(
            c.tally().rejected.get(&f.keys[0].address()),
            Some(&ApprovalRejection::BatchMismatch { got: 6 })
        );
    }

    #[test]
    fn retries_with_a_new_id_after_request_timeout_and_retry_delay() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let first = sent(&mut c).request_id;
        c.handle_result(f.at(1), f.keys[0].address(), approval(&f.keys[0], first));
        c.handle_timeout(f.at(9));
        assert!(c.poll_action().is_none(), "not due yet");
        c.handle_timeout(f.at(10));
        assert!(c.poll_action().is_none(), "waits for the retry delay");
        assert_eq!(c.poll_timeout(), Some(f.at(11)));
        // Late answers to the current attempt still count while waiting.
        c.handle_result(f.at(10), f.keys[1].address(), approval(&f.keys[1], first));
        c.handle_timeout(f.at(11));
        let second = sent(&mut c);
        assert!(second.request_id > first, "monotonic");
        assert_eq!(
            second,
            VerifyBatch {
                request_id: second.request_id,
                ..batch()
            }
        );
        assert_eq!(c.attempts(), 2);
        assert_eq!(c.poll_timeout(), Some(f.at(21)));
        // Results to the old attempt are now stale; the earlier signatures are kept.
        c.handle_result(f.at(12), f.keys[2].address(), approval(&f.keys[2], first));
        assert_eq!(c.tally().stale, 1);
        assert!(c.poll_action().is_none());
        c.handle_result(
            f.at(12),
            f.keys[2].address(),
            approval(&f.keys[2], second.request_id),
        );
        let quorum = finished(&mut c);
        assert_eq!(quorum.signatures.len(), 3);
        assert_eq!(quorum.attempts, 2);
        assert_eq!(quorum.batch.request_id, second.request_id);
    }

    #[test]
    fn fails_with_not_enough_signers_after_the_total_timeout() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let mut id = sent(&mut c).request_id;
        c.handle_result(f.at(1), f.keys[0].address(), approval(&f.keys[0], id));
        c.handle_result(f.at(1), f.keys[1].address(), approval(&f.keys[1], id));
        let mut ids = vec![id];
        // Drive by the collector's own timer, as a driver would.
        while let Some(at) = c.poll_timeout() {
            c.handle_timeout(at);
            match c.poll_action() {
                Some(Action::Send(b)) => {
                    assert!(b.request_id > id);
                    id = b.request_id;
                    ids.push(id);
                }
                Some(Action::Fail(QuorumError::NotEnoughSigners {
                    got,
                    needed,
                    tally,
                    silent,
                })) => {
                    assert_eq!((got, needed), (2, 3));
                    assert_eq!(tally.approved.len(), 2);
                    let mut quiet: Vec<_> = f.keys[2..].iter().map(VerifierKey::address).collect();
                    quiet.sort();
                    assert_eq!(silent, quiet, "in the accepted set's order");
                    assert_eq!(at, f.at(35));
                    break;
                }
                Some(other) => panic!("{other:?}"),
                None => {}
            }
        }
        // Attempts at 0, 11 and 22 s, each 10 s long, then 1 s; the 4th would start at 33 s.
        assert_eq!(ids.len(), 4);
        assert!(c.is_finished());
        assert_eq!(c.poll_timeout(), None);
    }

    /// Without a total timeout the collector never gives up: over an hour it sends an attempt
    /// every 11 s (10 s open, then 1 s of retry delay), each under the next fresh id, keeps the
    /// signatures it counted, and completes when the last one needed arrives an hour late.
    #[test]
    fn without_a_total_timeout_it_retries_with_fresh_ids_until_the_quorum() {
        let f = Fixture::new(5);
        let config = f.config().without_total_timeout();
        let mut c = QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap();
        let first = sent(&mut c);
        for key in &f.keys[..2] {
            c.handle_result(f.at(1), key.address(), approval(key, first.request_id));
        }
        let mut ids = vec![first.request_id];
        let mut starts = vec![f.start];
        let hour = f.at(3600);
        while let Some(at) = c.poll_timeout().filter(|at| *at <= hour) {
            c.handle_timeout(at);
            match c.poll_action() {
                Some(Action::Send(request)) => {
                    assert_eq!(
                        request,
                        VerifyBatch {
                            request_id: request.request_id,
                            ..batch()
                        }
                    );
                    ids.push(request.request_id);
                    starts.push(at);
                }
                None => {}
                Some(other) => panic!("at {:?}: {other:?}", at - f.start),
            }
            assert!(c.poll_action().is_none());
        }
        // Attempts at 0, 11, …, 3597 s: 328 of them, ids 100..=427, one per attempt.
        assert_eq!(ids, (100..428).map(RequestId).collect::<Vec<_>>());
        assert_eq!(starts, (0..328).map(|k| f.at(11 * k)).collect::<Vec<_>>());
        assert_eq!(c.attempts(), 328);
        assert!(!c.is_finished());
        assert_eq!(c.request_id(), RequestId(427));
        assert_eq!(c.poll_timeout(), Some(f.at(3607)));
        assert_eq!(c.tally().approved.len(), 2, "kept across 327 retries");

        // An answer to the previous attempt is stale; one to the current attempt completes it.
        let third = &f.keys[2];
        c.handle_result(hour, third.address(), approval(third, RequestId(426)));
        assert_eq!(c.tally().stale, 1);
        assert!(c.poll_action().is_none());
        c.handle_result(f.at(3601), third.address(), approval(third, RequestId(427)));
        let quorum = finished(&mut c);
        assert_eq!(quorum.attempts, 328);
        assert_eq!(quorum.batch.request_id, RequestId(427));
        let signers: BTreeSet<_> = quorum.signatures.keys().copied().collect();
        assert_eq!(
            signers,
            f.keys[..3].iter().map(VerifierKey::address).collect()
        );
        assert!(c.is_finished());
        assert_eq!(c.poll_timeout(), None);
    }

    /// Late answers to an attempt that timed out still count while the next one waits for its
    /// retry delay, also without a total timeout.
    #[test]
    fn without_a_total_timeout_late_answers_during_the_retry_delay_count() {
        let f = Fixture::new(5);
        let config = f.config().without_total_timeout();
        let mut c = QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap();
        let id = sent(&mut c).request_id;
        c.handle_timeout(f.at(10));
        assert!(c.poll_action().is_none());
        assert_eq!(c.poll_timeout(), Some(f.at(11)));
        for key in &f.keys[..3] {
            c.handle_result(f.at(10), key.address(), approval(key, id));
        }
        let quorum = finished(&mut c);
        assert_eq!((quorum.attempts, quorum.batch.request_id), (1, id));
    }

    #[test]
    fn nothing_counts_after_the_total_timeout() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        for key in &f.keys[..2] {
            c.handle_result(f.at(1), key.address(), approval(key, id));
        }
        // The third approval arrives after the deadline, before the driver saw the timer.
        c.handle_result(f.at(40), f.keys[2].address(), approval(&f.keys[2], id));
        assert!(matches!(
            c.poll_action(),
            Some(Action::Fail(QuorumError::NotEnoughSigners {
                got: 2,
                needed: 3,
                ..
            }))
        ));
    }

    /// Durations no `Instant` can be moved by are "never", not a panic: a total timeout of
    /// `Duration::MAX` never fails the collection, a request timeout of `Duration::MAX` never
    /// ends an attempt.
    #[test]
    fn durations_past_what_an_instant_holds_mean_never() {
        let f = Fixture::new(5);
        let config = f.config().with_total_timeout(Duration::MAX);
        let mut c = QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap();
        assert_eq!(sent(&mut c).request_id, RequestId(100));
        assert_eq!(c.poll_timeout(), Some(f.at(10)));
        c.handle_timeout(f.at(10));
        assert!(c.poll_action().is_none());
        c.handle_timeout(f.at(11));
        assert_eq!(sent(&mut c).request_id, RequestId(101));

        let config = f.config().with_request_timeout(Duration::MAX);
        let mut c = QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap();
        let id = sent(&mut c).request_id;
        // Only the total timeout is left to wake for; it still fails the collection.
        assert_eq!(c.poll_timeout(), Some(f.at(35)));
        c.handle_timeout(f.at(34));
        assert!(c.poll_action().is_none(), "the attempt never times out");
        assert_eq!(c.request_id(), id);
        c.handle_timeout(f.at(35));
        assert!(matches!(
            c.poll_action(),
            Some(Action::Fail(QuorumError::NotEnoughSigners {
                got: 0,
                needed: 3,
                ..
            }))
        ));
    }

    /// A failed collection's error names, for the operator, each refusal with its reason, each
    /// approval that did not count and why, and each accepted signer that never answered.
    #[test]
    fn a_failed_collection_says_who_refused_whose_approval_did_not_count_and_who_said_nothing() {
        let f = Fixture::new(5);
        let mut c = f.collector();
        let id = sent(&mut c).request_id;
        c.handle_result(f.at(1), f.keys[0].address(), approval(&f.keys[0], id));
        c.handle_result(
            f.at(1),
            f.keys[1].address(),
            VerifyBatchResult {
                request_id: id,
                batch_number: batch().batch_number,
                outcome: VerifyBatchOutcome::Refused {
                    reason: "Batch data mismatch".to_owned(),
                },
            },
        );
        // Signed by key 3 but sent by key 2's link: it recovers to key 3.
        c.handle_result(f.at(1), f.keys[2].address(), approval(&f.keys[3], id));
        c.handle_timeout(f.at(35));
        let error = loop {
            match c.poll_action() {
                Some(Action::Fail(error)) => break error,
                Some(_) => {}
                None => panic!("no failure"),
            }
        };
        let addresses: Vec<_> = f.keys.iter().map(VerifierKey::address).collect();
        let [k0, k1, k2, k3, k4] = addresses[..] else {
            panic!("five keys")
        };
        assert_eq!(
            error.to_string(),
            format!(
                "quorum not reached: 1 of 3 signatures; {k1} refused: Batch data mismatch; \
                 {k2}'s approval did not count: the signature recovers to {k3}, not to the \
                 verifier's signer: signed with another key, or under another signature scheme \
                 or EIP-712 domain; no answer from {}, {}",
                k3.min(k4),
                k3.max(k4)
            )
        );
        let QuorumError::NotEnoughSigners { tally, silent, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(tally.approved.keys().copied().collect::<Vec<_>>(), [k0]);
        assert_eq!(silent, [k3.min(k4), k3.max(k4)]);
    }

    #[test]
    fn zero_retry_delay_resends_at_once() {
        let f = Fixture::new(5);
        let config = f.config().with_retry_delay(Duration::ZERO);
        let mut c = QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap();
        let first = sent(&mut c).request_id;
        c.handle_timeout(f.at(10));
        assert!(sent(&mut c).request_id > first);
    }

    #[test]
    fn invalid_thresholds_are_refused() {
        let f = Fixture::new(2);
        for threshold in [0, 3] {
            let config = QuorumConfig::new(f.keys.iter().map(VerifierKey::address), threshold);
            let err =
                QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap_err();
            assert!(matches!(
                err,
                QuorumError::InvalidThreshold { threshold: t, signers: 2 } if t == threshold
            ));
        }
    }

    #[test]
    fn global_request_ids_are_monotonic_across_collectors() {
        let f = Fixture::new(3);
        let config = QuorumConfig::new(f.keys.iter().map(VerifierKey::address), 1);
        let mut a =
            QuorumCollector::new(f.start, batch(), config.clone(), &Secp256k1BatchScheme).unwrap();
        let mut b = QuorumCollector::new(f.start, batch(), config, &Secp256k1BatchScheme).unwrap();
        let (a, b) = (sent(&mut a).request_id, sent(&mut b).request_id);
        assert!(b > a);
        assert_ne!(a, RequestId(0));
    }
}
