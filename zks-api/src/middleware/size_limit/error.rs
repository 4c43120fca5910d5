/// A message was larger than the link accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message of {size} bytes exceeds the limit of {max}")]
pub struct MessageTooLarge {
    /// The message size (id plus body).
    pub size: usize,
    /// The cap.
    pub max: usize,
}
