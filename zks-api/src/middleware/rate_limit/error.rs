use std::fmt;

/// Which budget a message draws from (besides the all-message and byte budgets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// Replay and verifier-role requests, auth and challenges: a handful per session.
    Control,
    /// Batch results: one per dispatched batch per verifier.
    Result,
    /// Replay records and batch requests.
    Data,
}

impl MessageClass {
    /// The class of a message id.
    pub const fn of(id: u8) -> Self {
        match id {
            0x01 | 0x05 => Self::Data,
            0x06 => Self::Result,
            _ => Self::Control,
        }
    }
}

impl fmt::Display for MessageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Control => "control",
            Self::Result => "result",
            Self::Data => "data",
        })
    }
}

/// The peer exceeded one of its budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("peer exceeded its {budget} budget ({class} message)")]
pub struct RateLimited {
    /// The message that broke the budget.
    pub class: MessageClass,
    /// Which budget: "control messages/s", "results/s", "messages/s" or "bytes/s".
    pub budget: &'static str,
}
