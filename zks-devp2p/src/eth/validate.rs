//! reth's checks on a peer's Status.

use super::error::GenesisMismatch;
use super::error::StatusError;
use super::identity::ChainIdentity;
use super::status::{Status, check_total_difficulty};
use super::version::EthVersion;

/// Checks a peer's Status as a reth node checks it, in reth's order: genesis, version (equal to
/// the negotiated one, and the matching layout), network id, total difficulty of at most 160
/// bits (eth/66–68), fork id accepted by our EIP-2124 filter ([`ChainIdentity::fork_filter`]),
/// and on eth/69 `earliest ≤ latest` and a non-zero block hash.
///
/// # Errors
///
/// The first failed check: [`StatusError::GenesisMismatch`], [`StatusError::VersionMismatch`],
/// [`StatusError::LayoutMismatch`], [`StatusError::NetworkIdMismatch`],
/// [`StatusError::TotalDifficultyTooLarge`], [`StatusError::ForkIdRejected`],
/// [`StatusError::EarliestAfterLatest`] or [`StatusError::ZeroBlockHash`].
pub fn validate(
    ours: &ChainIdentity,
    negotiated: EthVersion,
    theirs: &Status,
) -> Result<(), StatusError> {
    if *theirs.genesis() != ours.genesis {
        return Err(StatusError::GenesisMismatch(Box::new(GenesisMismatch {
            got: *theirs.genesis(),
            expected: ours.genesis,
            got_network_id: theirs.network_id(),
            network_id: ours.network_id,
        })));
    }
    if theirs.version() != negotiated.number() {
        return Err(StatusError::VersionMismatch {
            expected: negotiated.number(),
            got: theirs.version(),
        });
    }
    if matches!(theirs, Status::Eth69(_)) != negotiated.is_eth69() {
        return Err(StatusError::LayoutMismatch { negotiated });
    }
    if theirs.network_id() != ours.network_id {
        return Err(StatusError::NetworkIdMismatch {
            expected: ours.network_id,
            got: theirs.network_id(),
        });
    }
    if let Status::Legacy(s) = theirs {
        check_total_difficulty(&s.total_difficulty)?;
    }
    let fork_id = theirs.fork_id();
    ours.fork_filter()
        .validate(fork_id)
        .map_err(|rejection| StatusError::ForkIdRejected {
            got: fork_id,
            rejection,
        })?;
    if let Status::Eth69(s) = theirs {
        if s.earliest > s.latest {
            return Err(StatusError::EarliestAfterLatest {
                earliest: s.earliest,
                latest: s.latest,
            });
        }
        if s.blockhash == [0; 32] {
            return Err(StatusError::ZeroBlockHash);
        }
    }
    Ok(())
}
