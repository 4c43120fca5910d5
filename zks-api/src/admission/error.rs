/// The node is at its active-link cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at the limit of {limit} active links")]
pub struct TooManyPeers {
    /// The cap.
    pub limit: usize,
}
