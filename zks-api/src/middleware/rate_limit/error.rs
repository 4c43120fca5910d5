/// Which budget a message draws from (besides the all-message and byte budgets): the
/// frame's [`Frame::class`](crate::wire::Frame::class).
pub use zks_wire::MessageClass;

/// The peer exceeded one of its budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("peer exceeded its {budget} budget ({class} message)")]
pub struct RateLimited {
    /// The message that broke the budget.
    pub class: MessageClass,
    /// Which budget: "control messages/s", "results/s", "messages/s" or "bytes/s".
    pub budget: &'static str,
}
